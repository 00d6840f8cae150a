/*
 * Docker's runtime defaults, so an image runs as it does in a container: the hostname and the
 * files that name it (/etc/hostname, an /etc/hosts line that resolves it to the guest), rlimits
 * (nofile 1048576 soft and hard, nproc and core unlimited, as dockerd's systemd unit gives every
 * container), /dev/shm as a 64 MiB tmpfs, a read-only cgroup2 tree at /sys/fs/cgroup whose limits
 * are the VM's, and /run as a tmpfs when the image has none (or an empty one).
 *
 * runtime_boot() runs once as PID 1, after the chroot; runtime_apply() when the workload starts,
 * with the host's settings (the optional trailing list of WORKLOAD_START: "hostname=NAME",
 * "shm_mib=N"). Files the agent writes for the running guest are remembered with their content;
 * EXPORT_CHANGES leaves them out while they still hold it, as Docker's bind-mounted ones never
 * reach a committed layer.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

const char default_hosts[] = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
/* host.supermachine.internal: where the agent listens for the host ports the host offers (network.c). */
static const char host_alias_line[] = HOST_ALIAS_ADDR "\thost.supermachine.internal\n";

/* What the agent wrote, by path relative to the root (as the export sees the upper). */
static struct { const char *rel, *path; char *text; } owned[] = {
    { "etc/hosts", "/etc/hosts", NULL },
    { "etc/hostname", "/etc/hostname", NULL },
    { "etc/resolv.conf", "/etc/resolv.conf", NULL },
};
enum { OWN_HOSTS, OWN_HOSTNAME, OWN_RESOLV, OWN_COUNT };

static char *image_hosts;       /* the image's own /etc/hosts, read before the agent first writes it */
static int image_hosts_read;

static char *read_small(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct buf b = { 0 };
    char chunk[4096];
    ssize_t r;
    while ((r = read(fd, chunk, sizeof chunk)) > 0 && buf_size(&b) < 1024 * 1024) buf_append(&b, chunk, (size_t)r);
    close(fd);
    buf_append(&b, "", 1);
    char *text = xstrdup((const char *)b.p + b.off);
    buf_free(&b);
    return text;
}

/* Replaces the file by rename (an image's symlinked /etc/hosts is replaced, not followed). */
static void write_owned(int which, const char *text)
{
    const char *path = owned[which].path;
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s.sm-agent.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) { logmsg("%s: %s", tmp, strerror(errno)); return; }
    size_t n = strlen(text);
    int ok = write(fd, text, n) == (ssize_t)n;
    ok = fchmod(fd, 0644) == 0 && ok;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) { logmsg("%s: %s", path, strerror(errno)); unlink(tmp); return; }
    free(owned[which].text);
    owned[which].text = xstrdup(text);
}

void note_agent_file(const char *name, const char *text)
{
    for (int i = 0; i < OWN_COUNT; i++) {
        if (strncmp(owned[i].rel, "etc/", 4) != 0 || strcmp(owned[i].rel + 4, name) != 0) continue;
        free(owned[i].text);
        owned[i].text = xstrdup(text);
        return;
    }
}

int runtime_owns(int dfd, const char *prefix, const char *name, const struct stat *st)
{
    size_t plen = strlen(prefix);
    for (int i = 0; i < OWN_COUNT; i++) {
        const char *rel = owned[i].rel, *text = owned[i].text;
        if (!text || strncmp(rel, prefix, plen) != 0 || strcmp(rel + plen, name) != 0) continue;
        size_t n = strlen(text);
        if (!S_ISREG(st->st_mode) || st->st_size != (off_t)n) return 0;
        int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) return 0;
        char *have = xrealloc(NULL, n + 1);
        ssize_t r = n ? read(fd, have, n + 1) : 0;
        close(fd);
        int same = r == (ssize_t)n && memcmp(have, text, n) == 0;
        free(have);
        return same;
    }
    return 0;
}

/* RFC 1123 labels, at most 64 bytes in all (the kernel's limit). */
static int valid_hostname(const char *name)
{
    size_t n = strlen(name), label = 0;
    if (n == 0 || n > 64 || name[0] == '-' || name[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c == '.') { if (label == 0 || name[i - 1] == '-') return 0; label = 0; continue; }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return 0;
        if (++label > 63) return 0;
    }
    return name[n - 1] != '-' && name[n - 1] != '.';
}

/*
 * The hostname, /etc/hostname, and /etc/hosts as the image has it (or the default) plus a line
 * that resolves the name to the guest's loopback address: the agent forwards ports to
 * 127.0.0.1, so a server that binds to its own name stays reachable.
 */
static const char *set_hostname(const char *name)
{
    if (!valid_hostname(name)) return "not a valid hostname (letters, digits, '-' and '.', at most 64 bytes)";
    if (!pid1) return NULL; /* host test mode: the host's name and files are not ours */
    if (sethostname(name, strlen(name)) < 0) return strerror(errno);
    if (!image_hosts_read) { image_hosts = read_small("/etc/hosts"); image_hosts_read = 1; }
    const char *base = image_hosts ? image_hosts : default_hosts;
    size_t n = strlen(base);
    char *hosts = xrealloc(NULL, n + strlen(name) + sizeof host_alias_line + 32);
    int k = sprintf(hosts, "%s%s", base, n && base[n - 1] != '\n' ? "\n" : "");
    if (!strstr(base, "host.supermachine.internal")) k += sprintf(hosts + k, "%s", host_alias_line);
    if (strcmp(name, "localhost") != 0) sprintf(hosts + k, "127.0.0.1\t%s\n", name);
    write_owned(OWN_HOSTS, hosts);
    free(hosts);
    char line[80];
    snprintf(line, sizeof line, "%s\n", name);
    write_owned(OWN_HOSTNAME, line);
    return NULL;
}

static void set_limit(int resource, rlim_t soft, rlim_t hard, const char *what)
{
    struct rlimit rl = { soft, hard };
    if (setrlimit(resource, &rl) < 0) logmsg("rlimit %s: %s", what, strerror(errno));
}

static void mount_shm(uint32_t mib, int remount)
{
    char data[48];
    snprintf(data, sizeof data, "mode=1777,size=%um", mib);
    if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | (remount ? MS_REMOUNT : 0), data) < 0)
        logmsg("/dev/shm (%s): %s", data, strerror(errno));
}

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, strlen(text));
    int err = n == (ssize_t)strlen(text) ? 0 : -1;
    close(fd);
    return err;
}

/*
 * cgroup2 as a Docker container sees it (cgroupns=private, read-only): the agent moves itself, and
 * so everything it starts, into a child group whose memory.max is the VM's memory and whose cpu.max
 * is its vCPUs, enters a cgroup namespace rooted there, and mounts that read-only. JVMs and .NET
 * then read the VM's size from memory.max and cpu.max as they would a container's limits. When a
 * step fails the tree is still mounted read-only, at the VM's root.
 */
static void mount_cgroup(void)
{
    const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    mkdir("/sys/fs/cgroup", 0755);
    if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
        logmsg("cgroup2 on /sys/fs/cgroup: %s", strerror(errno));
        return;
    }
    struct sysinfo si;
    char text[64];
    int ok = write_text("/sys/fs/cgroup/cgroup.subtree_control", "+memory +cpu +pids") == 0
             && (mkdir("/sys/fs/cgroup/guest", 0755) == 0 || errno == EEXIST) && sysinfo(&si) == 0;
    if (ok) {
        snprintf(text, sizeof text, "%llu", (unsigned long long)si.totalram * si.mem_unit);
        ok = write_text("/sys/fs/cgroup/guest/memory.max", text) == 0;
    }
    if (ok) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        snprintf(text, sizeof text, "%ld 100000", (cpus > 0 ? cpus : 1) * 100000);
        ok = write_text("/sys/fs/cgroup/guest/cpu.max", text) == 0;
    }
    if (ok) {
        snprintf(text, sizeof text, "%d", getpid());
        ok = write_text("/sys/fs/cgroup/guest/cgroup.procs", text) == 0 && unshare(CLONE_NEWCGROUP) == 0;
    }
    if (!ok) logmsg("cgroup for the guest: %s; the tree shows the VM's root", strerror(errno));
    /* Mounted again from inside the namespace, its root is the guest group. */
    if (umount2("/sys/fs/cgroup", MNT_DETACH) < 0 || mount("cgroup2", "/sys/fs/cgroup", "cgroup2", ro, NULL) < 0)
        logmsg("cgroup2 read-only on /sys/fs/cgroup: %s", strerror(errno));
}

static int empty_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = 0;
    closedir(d);
    return empty;
}

void runtime_boot(void)
{
    /* Inherited by the workload and every exec. The kernel's nr_open default is 1048576. */
    set_limit(RLIMIT_NOFILE, 1048576, 1048576, "nofile");
    set_limit(RLIMIT_NPROC, RLIM_INFINITY, RLIM_INFINITY, "nproc");
    set_limit(RLIMIT_CORE, RLIM_INFINITY, RLIM_INFINITY, "core");

    mkdir("/dev/shm", 01777);
    mount_shm(64, 0);

    /* The links Docker puts in a container's /dev and devtmpfs lacks: bash's process substitution
     * (the postgres entrypoint's initdb --pwfile=<(...)) opens /dev/fd/N. */
    static const char *const links[][2] = {
        { "/proc/self/fd", "/dev/fd" }, { "/proc/self/fd/0", "/dev/stdin" },
        { "/proc/self/fd/1", "/dev/stdout" }, { "/proc/self/fd/2", "/dev/stderr" },
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
        if (symlink(links[i][0], links[i][1]) < 0 && errno != EEXIST) logmsg("%s: %s", links[i][1], strerror(errno));

    mount_cgroup();

    struct stat st;
    if (lstat("/run", &st) < 0) mkdir("/run", 0755);
    if (lstat("/run", &st) == 0 && S_ISDIR(st.st_mode) && empty_dir("/run")
        && mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
        logmsg("tmpfs on /run: %s", strerror(errno));

    const char *why = set_hostname("supermachine");
    if (why) logmsg("hostname: %s", why);
}

const char *runtime_apply(char **settings)
{
    for (int i = 0; settings && settings[i]; i++) {
        const char *kv = settings[i], *eq = strchr(kv, '=');
        if (!eq) continue;
        size_t klen = (size_t)(eq - kv);
        const char *value = eq + 1;
        if (klen == 8 && strncmp(kv, "hostname", 8) == 0) {
            const char *why = set_hostname(value);
            if (why) { static char msg[160]; snprintf(msg, sizeof msg, "hostname '%.64s': %s", value, why); return msg; }
        } else if (klen == 7 && strncmp(kv, "shm_mib", 7) == 0) {
            char *end;
            unsigned long mib = strtoul(value, &end, 10);
            if (*end || mib == 0 || mib > 1048576) return "shm_mib: not a size from 1 to 1048576 MiB";
            if (pid1) mount_shm((uint32_t)mib, 1);
        }
        /* Other keys are settings of a newer host: ignored, so hosts and agents can differ. */
    }
    return NULL;
}
