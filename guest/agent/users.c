/* Users and groups: the image's /etc/passwd and /etc/group, read after the chroot, as runc reads them. */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int numeric(const char *s, unsigned long *out)
{
    if (!*s) return 0;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || errno || v > 0xFFFFFFFEul) return 0;
    *out = v;
    return 1;
}

/* Looks up a passwd or group line by name or id; fields are split in place into f[]. */
static int lookup(const char *file, const char *name, long id, char *line, size_t cap, char **f, int nf)
{
    FILE *fp = fopen(file, "re");
    if (!fp) return 0;
    int found = 0;
    while (fgets(line, (int)cap, fp)) {
        line[strcspn(line, "\n")] = 0;
        int k = 0;
        char *p = line;
        f[k++] = p;
        while (k < nf && (p = strchr(p, ':'))) { *p++ = 0; f[k++] = p; }
        if (k < 3) continue;
        unsigned long v;
        if ((name && strcmp(f[0], name) == 0) || (!name && numeric(f[2], &v) && (long)v == id)) { found = 1; break; }
    }
    fclose(fp);
    return found;
}

/* Resolves "user", "uid", "user:group", "uid:gid" the way runc does (agent.h). */
int resolve_user(const char *spec, struct ids *ids)
{
    memset(ids, 0, sizeof *ids);
    strcpy(ids->home, "/");
    if (!spec || !*spec) spec = "0";
    char userpart[256], *grouppart = NULL;
    snprintf(userpart, sizeof userpart, "%s", spec);
    char *colon = strchr(userpart, ':');
    if (colon) { *colon = 0; grouppart = colon + 1; }
    char line[1024], *f[7] = { 0 };
    unsigned long v;
    const char *uname = NULL;
    if (numeric(userpart, &v)) {
        ids->uid = (uid_t)v;
        if (lookup("/etc/passwd", NULL, (long)v, line, sizeof line, f, 7)) {
            unsigned long g;
            if (f[3] && numeric(f[3], &g)) ids->gid = (gid_t)g;
            if (f[5] && *f[5]) snprintf(ids->home, sizeof ids->home, "%s", f[5]);
            uname = f[0];
        }
    } else {
        if (!lookup("/etc/passwd", userpart, 0, line, sizeof line, f, 7) || !f[2] || !numeric(f[2], &v)) return ENOENT;
        ids->uid = (uid_t)v;
        unsigned long g;
        if (f[3] && numeric(f[3], &g)) ids->gid = (gid_t)g;
        if (f[5] && *f[5]) snprintf(ids->home, sizeof ids->home, "%s", f[5]);
        uname = f[0];
    }
    char uname_copy[256] = "";
    if (uname) snprintf(uname_copy, sizeof uname_copy, "%s", uname);
    if (grouppart && *grouppart) {
        char gline[4096], *g[4] = { 0 };
        if (numeric(grouppart, &v)) ids->gid = (gid_t)v;
        else if (lookup("/etc/group", grouppart, 0, gline, sizeof gline, g, 4) && g[2] && numeric(g[2], &v)) ids->gid = (gid_t)v;
        else return ENOENT;
        ids->groups[ids->ngroups++] = ids->gid;
        return 0;
    }
    ids->groups[ids->ngroups++] = ids->gid;
    if (*uname_copy) {
        /* Supplementary groups: every group listing the user as a member. */
        FILE *fp = fopen("/etc/group", "re");
        char gl[4096];
        while (fp && fgets(gl, sizeof gl, fp) && ids->ngroups < 64) {
            gl[strcspn(gl, "\n")] = 0;
            char *parts[4] = { 0 }, *p = gl;
            int k = 0;
            parts[k++] = p;
            while (k < 4 && (p = strchr(p, ':'))) { *p++ = 0; parts[k++] = p; }
            if (k < 4 || !numeric(parts[2], &v)) continue;
            for (char *m = strtok(parts[3], ","); m; m = strtok(NULL, ","))
                if (strcmp(m, uname_copy) == 0 && (gid_t)v != ids->gid) { ids->groups[ids->ngroups++] = (gid_t)v; break; }
        }
        if (fp) fclose(fp);
    }
    return 0;
}
