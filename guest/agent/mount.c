/*
 * MOUNT: a volume (an ext4 virtio disk found by its serial) or a host directory (a virtio-9p
 * share found by its tag) mounted at a path of the guest after start or restore. The host
 * hot-plugs the device just before, so the child waits for it to appear (bounded by the request's
 * timeout). The host enforces read-only shares itself; the guest mount is read-only too.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static void mount_fail(int err_fd, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
static void mount_fail(int err_fd, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdprintf(err_fd, fmt, ap);
    va_end(ap);
    _exit(code ? code : EIO);
}

/* mkdir -p, each new directory 0755 owned by root, as Docker creates a missing mount point. */
static int make_dirs(const char *path)
{
    char p[4096];
    if (strlen(path) >= sizeof p) return ENAMETOOLONG;
    strcpy(p, path);
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != 0) continue;
        char was = *c;
        *c = 0;
        if (mkdir(p, 0755) < 0 && errno != EEXIST) return errno;
        *c = was;
        if (!was) return 0;
    }
}

static void run_mount(int out, int err, void *ctx)
{
    const struct open_request *q = ctx;
    (void)out;
    int share = strcmp(q->fstype, "9p") == 0;
    int64_t deadline = now_ms() + (q->timeout_ms ? q->timeout_ms : 1);
    char dev[300];
    const char *source = q->source;
    if (!share) {
        /* devtmpfs makes the node right after sysfs shows the disk. */
        while (!find_sysfs_device("/sys/block", "vd", "serial", q->source, dev, sizeof dev) || access(dev, F_OK) != 0) {
            if (now_ms() > deadline) mount_fail(err, ENODEV, "no disk with serial '%s' appeared within %u ms", q->source, q->timeout_ms);
            usleep(5000);
        }
        source = dev;
    }
    int e = make_dirs(q->path);
    if (e) mount_fail(err, e, "creating the mount point %s: %s", q->path, strerror(e));
    struct stat under;
    if (stat(q->path, &under) < 0) mount_fail(err, errno, "%s: %s", q->path, strerror(errno));
    if (!S_ISDIR(under.st_mode)) mount_fail(err, ENOTDIR, "%s is not a directory", q->path);
    unsigned long flags = MS_NOATIME | ((q->flags & MOUNT_READ_ONLY) ? MS_RDONLY : 0);
    char data[1024];
    /* 9p: the 9P2000.L dialect (Linux semantics), no client cache, so host changes show at once;
     * ext4: the host formatted with lazy inode tables, which must stay holes. */
    snprintf(data, sizeof data, "%s%s%s", share ? "trans=virtio,version=9p2000.L,msize=524288,cache=none" : "noinit_itable",
             *q->options ? "," : "", q->options);
    while (mount(source, q->path, q->fstype, flags, data) < 0) {
        /* A just-plugged share's tag is unknown until its driver has probed it. */
        if (!(share && errno == ENOENT && now_ms() <= deadline))
            mount_fail(err, errno, "mounting %s (%s) on %s: %s", q->source, q->fstype, q->path, strerror(errno));
        usleep(5000);
    }
    if (q->flags & MOUNT_FRESH) {
        /* A new volume takes the owner and mode of the directory it covers (as Docker copies them
         * into a new named volume), and loses mkfs's lost+found, which initdb and the like refuse. */
        char lf[4200];
        snprintf(lf, sizeof lf, "%s/lost+found", q->path);
        rmdir(lf);
        if (chown(q->path, under.st_uid, under.st_gid) < 0 || chmod(q->path, under.st_mode & 07777) < 0)
            mount_fail(err, errno, "setting the owner of %s: %s", q->path, strerror(errno));
    }
    logmsg("mounted %s (%s) on %s", q->source, q->fstype, q->path);
}

void open_mount(uint32_t id, struct open_request *req)
{
    if (req->path[0] != '/') { send_error(id, EINVAL, "mount: the target '%s' is not an absolute path", req->path); return; }
    if (strcmp(req->fstype, "ext4") != 0 && strcmp(req->fstype, "9p") != 0) { send_error(id, EINVAL, "mount: unsupported file system '%s'", req->fstype); return; }
    start_task(id, K_MOUNT, -1, run_mount, req);
}
