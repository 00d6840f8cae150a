-- Put into /docker-entrypoint-initdb.d by the postgres fixture bake (DebianBakes.Postgres):
-- the entrypoint runs it against its temporary server on the first start.
CREATE TABLE seeded (name text NOT NULL);
INSERT INTO seeded (name) VALUES ('from init.sql');
CREATE TABLE warm (n integer NOT NULL);
