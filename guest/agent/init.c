/*
 * PID 1: the mounts, the kernel modules, the overlay and the chroot; reaping every zombie and
 * forwarding signals to the workload; powering off. main() sets up either that or the host
 * test mode (--listen) and hands over to serve().
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int pid1;
int sig_fd = -1;

void reap(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (wl.running && pid == wl.pid) {
            drain_workload_output();
            wl.running = 0;
            wl.exited = 1;
            wl.code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
            wl.sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
            char note[96];
            int k = snprintf(note, sizeof note, "[sm-agent] workload exited: code %d, signal %d\n", wl.code, wl.sig);
            log_append((const uint8_t *)note, (size_t)k);
            logmsg("%.*s", k - 1, note);
            continue;
        }
        for (int i = 0; i < MAX_STREAMS; i++) {
            struct stream *s = &streams[i];
            if (s->used && s->pid == pid && !s->reaped) { s->reaped = 1; s->status = status; }
        }
    }
}

void on_signal(void)
{
    struct signalfd_siginfo si;
    while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD) { reap(); continue; }
        /* Forward everything else to the workload, as an init for containers does. */
        if (wl.running) kill(-wl.pid, (int)si.ssi_signo);
        else if (!pid1 && (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)) exit(0);
    }
}

void power_off(void)
{
    logmsg("powering off");
    sync();
    if (pid1) {
        reboot(RB_POWER_OFF);
        for (;;) pause();
    }
    exit(0);
}

void fatal(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    logmsg("fatal: %s", msg);
    power_off();
}

/* ---------- PID 1 duties ---------- */

static double uptime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void load_modules(void)
{
    FILE *fp = fopen("/modules.order", "re");
    if (!fp) { logmsg("no /modules.order; loading no modules"); return; }
    char name[256];
    while (fgets(name, sizeof name, fp)) {
        name[strcspn(name, "\r\n")] = 0;
        if (!*name || strchr(name, '/')) continue;
        char path[300];
        snprintf(path, sizeof path, "/modules/%s.ko", name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) { logmsg("module %s: %s", name, strerror(errno)); continue; }
        if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST) logmsg("module %s: %s", name, strerror(errno));
        close(fd);
        unlink(path); /* the initramfs stays in RAM (and in snapshots): free what is loaded */
    }
    fclose(fp);
}

static void wait_for(const char *path, int ms)
{
    for (int waited = 0; access(path, F_OK) < 0 && waited < ms; waited += 5) usleep(5000);
}

static void must_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
    mkdir(dst, 0755);
    if (mount(src, dst, type, flags, data) < 0) fatal("mount %s on %s (%s): %s", src, dst, type ? type : "", strerror(errno));
}

static void ensure_dir(const char *path, mode_t mode)
{
    struct stat st;
    if (lstat(path, &st) == 0) return;
    if (mkdir(path, mode) == 0) chmod(path, mode);
}

static void loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) { logmsg("lo: %s", strerror(errno)); if (s >= 0) close(s); return; }
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) logmsg("lo up: %s", strerror(errno));
    close(s);
}

static int open_agent_port(void)
{
    char path[300];
    for (int waited = 0; waited < 10000; waited += 10) {
        if (find_sysfs_device("/sys/class/virtio-ports", "", "name", "sm.agent", path, sizeof path)) {
            wait_for(path, 2000);
            int port = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
            if (port < 0) fatal("open %s: %s", path, strerror(errno));
            logmsg("agent channel %s ready at %.3f s", path, uptime());
            return port;
        }
        usleep(10000);
    }
    fatal("no virtio-serial port named sm.agent appeared in 10 s (is the virtserialport device there?)");
    return -1;
}

/*
 * The writable layer (overlay upper and work) at /mnt-rw: the VM's own disk when the engine
 * attached one as the second virtio disk, else a tmpfs in guest RAM. Both disks are probed while
 * virtio_blk loads, so vdb is in sysfs by the time vda is. noinit_itable: the host formatted the
 * disk with lazy inode tables; zeroing them would only turn holes of the sparse file into data.
 */
static void mount_writable_layer(void)
{
    if (access("/sys/block/vdb", F_OK) == 0) {
        wait_for("/dev/vdb", 10000);
        must_mount("/dev/vdb", "/mnt-rw", "ext4", MS_NOATIME, "noinit_itable");
        logmsg("writable layer on /dev/vdb (ext4) at %.3f s", uptime());
        return;
    }
    must_mount("tmpfs", "/mnt-rw", "tmpfs", 0, "mode=0755");
}

static void init_system(void)
{
    must_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    must_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    must_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    load_modules();
    logmsg("modules loaded at %.3f s", uptime());
    const char *root = "/dev/vda";
    wait_for(root, 10000);
    must_mount(root, "/mnt-lower", "squashfs", MS_RDONLY, NULL);
    mount_writable_layer();
    mkdir("/mnt-rw/upper", 0755);
    mkdir("/mnt-rw/work", 0755);
    /* The upper must stay convertible to an OCI layer (EXPORT_CHANGES): no redirect xattrs for
     * renamed lower directories (rename gives EXDEV, tools copy), no index, no metadata-only
     * copy-ups whose data would live in the lower. */
    must_mount("overlay", "/mnt-root", "overlay", 0,
               "lowerdir=/mnt-lower,upperdir=/mnt-rw/upper,workdir=/mnt-rw/work,redirect_dir=off,index=off,metacopy=off");
    upper_fd = open("/mnt-rw/upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* unreachable by path after the chroot */
    if (upper_fd < 0) logmsg("/mnt-rw/upper: %s; export of changes will fail", strerror(errno));
    ensure_dir("/mnt-root/proc", 0555);
    ensure_dir("/mnt-root/sys", 0555);
    ensure_dir("/mnt-root/dev", 0755);
    ensure_dir("/mnt-root/tmp", 01777);
    ensure_dir("/mnt-root/etc", 0755);
    static const char *moves[] = { "/dev", "/proc", "/sys" };
    for (int i = 0; i < 3; i++) {
        char dst[64];
        snprintf(dst, sizeof dst, "/mnt-root%s", moves[i]);
        if (mount(moves[i], dst, NULL, MS_MOVE, NULL) < 0) fatal("move %s: %s", moves[i], strerror(errno));
    }
    if (chdir("/mnt-root") < 0 || chroot(".") < 0 || chdir("/") < 0) fatal("chroot: %s", strerror(errno));
    ensure_dir("/dev/pts", 0755);
    mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
    loopback_up();
    network_setup();
    runtime_boot();
    logmsg("root filesystem ready at %.3f s", uptime());
}

int main(int argc, char **argv)
{
    pid1 = getpid() == 1;
    const char *listen_path = NULL, *upper_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) listen_path = argv[++i];
        else if (strcmp(argv[i], "--upper") == 0 && i + 1 < argc) upper_path = argv[++i];
        else if (strcmp(argv[i], "--version") == 0) { puts(AGENT_VERSION); return 0; }
    }
    if (!pid1 && !listen_path) {
        fprintf(stderr, "usage: %s --listen UNIX_SOCKET [--upper DIR]   (host test mode; as PID 1 it needs no arguments)\n", argv[0]);
        return 2;
    }
    umask(0);
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sig_fd < 0) fatal("signalfd: %s", strerror(errno));

    if (pid1) {
        reboot(RB_DISABLE_CAD); /* Ctrl-Alt-Del becomes SIGINT, forwarded to the workload */
        init_system();
        chan_fd = open_agent_port();
    } else {
        prctl(PR_SET_CHILD_SUBREAPER, 1); /* orphans come back to us, as they would to PID 1 */
        if (upper_path && (upper_fd = open(upper_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) { perror(upper_path); return 2; }
        listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        if (strlen(listen_path) >= sizeof a.sun_path) { fprintf(stderr, "socket path too long\n"); return 2; }
        strcpy(a.sun_path, listen_path);
        unlink(listen_path);
        mode_t old = umask(077);
        if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(listen_fd, 4) < 0) { perror("listen"); return 1; }
        umask(old);
        chan_up = 0;
    }
    serve();
    return 0;
}
