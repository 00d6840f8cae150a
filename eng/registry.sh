# The local registry the samples and the SDK tests pull from, standing in for Docker Hub: the
# Debian distribution registry on 127.0.0.1, serving the fixture images as library/redis:7 and
# library/busybox:latest, and the Debian fixture images as library/postgres:15, library/mariadb:10,
# library/rabbitmq:3, library/nginx:1, library/debian:12 and library/jvm:17. Sourced by test.sh and
# quickstart.sh after setup.sh:
#   registry_start   starts it (or reuses the one this checkout started), exports
#                    SUPERMACHINE_REGISTRY_MIRRORS=docker.io=http://127.0.0.1:PORT
#   registry_stop    stops the one registry_start started, by its PID
REGISTRY_DIR="$SUPERMACHINE_SETUP_CACHE/registry"

registry_start() {
  mkdir -p "$REGISTRY_DIR"
  local pidfile="$REGISTRY_DIR/registry.pid" portfile="$REGISTRY_DIR/registry.port"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null \
     && curl -fsS "http://127.0.0.1:$(cat "$portfile")/v2/" >/dev/null 2>&1; then
    REGISTRY_PORT="$(cat "$portfile")"
  else
    REGISTRY_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    cat > "$REGISTRY_DIR/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
http:
  addr: 127.0.0.1:$REGISTRY_PORT
YAML
    docker-registry serve "$REGISTRY_DIR/config.yml" >"$REGISTRY_DIR/registry.log" 2>&1 &
    echo $! > "$pidfile"
    echo "$REGISTRY_PORT" > "$portfile"
    REGISTRY_STARTED_PID=$!
    for _ in $(seq 1 100); do
      curl -fsS "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null 2>&1 && break
      sleep 0.1
    done
  fi
  local fixtures="$SUPERMACHINE_SETUP_CACHE/fixtures" debian="$SUPERMACHINE_SETUP_CACHE/debian-fixtures"
  local marker="$REGISTRY_DIR/data/.pushed" pushed
  pushed="$(cat "$fixtures/.complete" "$debian/.complete" 2>/dev/null || true)"
  if [ ! -f "$marker" ] || [ "$(cat "$marker")" != "$pushed" ]; then
    log "pushing the fixture images to the local registry"
    local push src dest
    for push in "$fixtures/layout:redis library/redis:7" "$fixtures/layout:busybox library/busybox:latest" \
                "$debian/layout:postgres library/postgres:15" "$debian/layout:mariadb library/mariadb:10" \
                "$debian/layout:rabbitmq library/rabbitmq:3" "$debian/layout:nginx library/nginx:1" \
                "$debian/layout:debian library/debian:12" "$debian/layout:jvm library/jvm:17"; do
      read -r src dest <<< "$push"
      if [ -d "${src%:*}" ]; then
        skopeo copy -q --dest-tls-verify=false "oci:$src" "docker://127.0.0.1:$REGISTRY_PORT/$dest"
      fi
    done
    printf '%s' "$pushed" > "$marker"
  fi
  export SUPERMACHINE_REGISTRY_MIRRORS="docker.io=http://127.0.0.1:$REGISTRY_PORT"
  log "local registry at 127.0.0.1:$REGISTRY_PORT ($SUPERMACHINE_REGISTRY_MIRRORS)"
}

registry_stop() {
  local pidfile="$REGISTRY_DIR/registry.pid"
  if [ -n "${REGISTRY_STARTED_PID:-}" ]; then
    kill "$REGISTRY_STARTED_PID" 2>/dev/null || true
    wait "$REGISTRY_STARTED_PID" 2>/dev/null || true
    rm -f "$pidfile"
  fi
}
