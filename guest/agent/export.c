/*
 * EXPORT_CHANGES: the overlay's upper directory as an OCI layer tar (PROTOCOL.md), written by a
 * forked child into a pipe that the loop sends like an exec's stdout.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

/*
 * The overlay's upper directory, opened before the chroot (after it no path reaches it), or
 * --upper in host test mode; -1 when there is none. The export runs in a forked child that
 * walks it relative to this fd and writes the tar to a pipe, so the agent's loop and flow
 * control treat it like an exec's stdout.
 */
int upper_fd = -1;

/* The export child's state. It never returns to the agent's loop: it _exit()s. */
static struct {
    int out, err;
    uint8_t buf[65536];
    size_t n;
    /* Hard links: (dev, ino) -> the first path, in an open-addressing table. */
    struct link { dev_t dev; ino_t ino; char *path; } *links;
    size_t nlinks, caplinks;
} ex;

static void ex_fail(int err, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof msg - 1) n = sizeof msg - 1;
    if (n > 0) {
        ssize_t ignored = write(ex.err, msg, (size_t)n);
        (void)ignored;
    }
    _exit(err > 0 && err < 256 ? err : EIO); /* the exit code is the errno the host sees */
}

static void ex_flush(void)
{
    size_t off = 0;
    while (off < ex.n) {
        ssize_t w = write(ex.out, ex.buf + off, ex.n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) ex_fail(errno, "writing the layer: %s", strerror(errno));
        off += (size_t)w;
    }
    ex.n = 0;
}

static void ex_write(const void *data, size_t n)
{
    const uint8_t *p = data;
    while (n) {
        if (ex.n == sizeof ex.buf) ex_flush();
        size_t k = sizeof ex.buf - ex.n < n ? sizeof ex.buf - ex.n : n;
        memcpy(ex.buf + ex.n, p, k);
        ex.n += k;
        p += k;
        n -= k;
    }
}

static void ex_pad(uint64_t size)
{
    static const uint8_t zero[512];
    if (size % 512) ex_write(zero, 512 - (size_t)(size % 512));
}

/* Does v fit an octal field of width bytes (digits plus the terminating NUL)? */
static int octal_fits(uint64_t v, size_t width) { return v < (1ull << (3 * (width - 1))); }

static void octal(uint8_t *field, size_t width, uint64_t v)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%0*llo", (int)(width - 1), (unsigned long long)(octal_fits(v, width) ? v : 0));
    memcpy(field, tmp, width - 1);
    field[width - 1] = 0;
}

/* One PAX record "LEN KEY=VALUE\n"; LEN counts the bytes of the whole record, itself included. */
static void pax_add(struct buf *pax, const char *key, const void *value, size_t vlen)
{
    size_t base = strlen(key) + vlen + 3, len = base;
    for (;;) {
        char digits[32];
        size_t d = (size_t)snprintf(digits, sizeof digits, "%zu", len);
        if (base + d == len) break;
        len = base + d;
    }
    char head[40];
    int h = snprintf(head, sizeof head, "%zu ", len);
    buf_append(pax, head, (size_t)h);
    buf_append(pax, key, strlen(key));
    buf_append(pax, "=", 1);
    buf_append(pax, value, vlen);
    buf_append(pax, "\n", 1);
}

static void pax_add_u64(struct buf *pax, const char *key, uint64_t v)
{
    char s[32];
    int n = snprintf(s, sizeof s, "%llu", (unsigned long long)v);
    pax_add(pax, key, s, (size_t)n);
}

struct tar_entry {
    const char *path;       /* relative, "etc/foo"; directories end with "/" */
    char type;              /* '0' file, '1' hard link, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo */
    uint32_t mode;          /* permission bits, 07777 */
    uint64_t uid, gid, size;
    int64_t mtime;
    const char *link;       /* hard link or symlink target */
    uint32_t devmajor, devminor;
    const struct buf *xattrs; /* ready PAX records, or NULL */
};

static void header_block(uint8_t *h, const char *name, size_t name_len, const char *prefix, size_t prefix_len,
                         const struct tar_entry *e, uint64_t size)
{
    memset(h, 0, 512);
    memcpy(h, name, name_len > 100 ? 100 : name_len);
    octal(h + 100, 8, e->mode);
    octal(h + 108, 8, e->uid);
    octal(h + 116, 8, e->gid);
    octal(h + 124, 12, size);
    octal(h + 136, 12, e->mtime < 0 ? 0 : (uint64_t)e->mtime);
    h[156] = (uint8_t)e->type;
    if (e->link) memcpy(h + 157, e->link, strlen(e->link) > 100 ? 100 : strlen(e->link));
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    if (e->type == '3' || e->type == '4') {
        octal(h + 329, 8, e->devmajor);
        octal(h + 337, 8, e->devminor);
    }
    memcpy(h + 345, prefix, prefix_len);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) sum += h[i];
    char ck[8];
    snprintf(ck, sizeof ck, "%06o", sum);
    memcpy(h + 148, ck, 7); /* six digits, NUL, and the space already there */
}

/*
 * Writes one entry: a PAX 'x' header first when a field does not fit ustar (path beyond
 * name 100 / prefix 155, link name beyond 100, size >= 8 GiB, ids or mtime out of range) or
 * the entry has xattrs, then the ustar header. The caller writes size bytes of content.
 */
static void ex_entry(const struct tar_entry *e)
{
    struct buf pax = { 0 };
    size_t len = strlen(e->path);
    const char *name = e->path, *prefix = "";
    size_t name_len = len, prefix_len = 0;
    if (len > 100) {
        /* Split at a '/' so that prefix <= 155 and a non-empty name <= 100. */
        size_t at = 0;
        int found = 0;
        for (size_t i = len - 2; i > 0 && i + 101 >= len; i--) {
            if (e->path[i] == '/' && i <= 155) { at = i; found = 1; break; }
        }
        if (found) { prefix = e->path; prefix_len = at; name = e->path + at + 1; name_len = len - at - 1; }
        else pax_add(&pax, "path", e->path, len);
    }
    if (e->link && strlen(e->link) > 100) pax_add(&pax, "linkpath", e->link, strlen(e->link));
    if (!octal_fits(e->size, 12)) pax_add_u64(&pax, "size", e->size);
    if (!octal_fits(e->uid, 8)) pax_add_u64(&pax, "uid", e->uid);
    if (!octal_fits(e->gid, 8)) pax_add_u64(&pax, "gid", e->gid);
    if (e->mtime < 0 || !octal_fits((uint64_t)e->mtime, 12)) {
        char s[32];
        int n = snprintf(s, sizeof s, "%lld", (long long)e->mtime);
        pax_add(&pax, "mtime", s, (size_t)n);
    }
    if (e->xattrs && buf_size(e->xattrs)) buf_append(&pax, e->xattrs->p + e->xattrs->off, buf_size(e->xattrs));
    uint8_t h[512];
    if (buf_size(&pax)) {
        struct tar_entry x = { .type = 'x', .mode = 0644, .mtime = e->mtime };
        static const char pax_name[] = "././@PaxHeader";
        header_block(h, pax_name, sizeof pax_name - 1, "", 0, &x, buf_size(&pax));
        ex_write(h, 512);
        ex_write(pax.p + pax.off, buf_size(&pax));
        ex_pad(buf_size(&pax));
    }
    buf_free(&pax);
    header_block(h, name, name_len, prefix, prefix_len, e, e->size);
    ex_write(h, 512);
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }


/*
 * The xattrs of name (in the current directory, not followed) as PAX "SCHILY.xattr." records,
 * sorted by name. trusted.overlay.* are overlayfs bookkeeping, not image content: dropped, but
 * trusted.overlay.opaque=y is reported through *opaque.
 */
static void ex_xattrs(const char *name, const char *path, struct buf *pax, int *opaque)
{
    *opaque = 0;
    char *list = NULL;
    ssize_t n;
    for (;;) {
        n = llistxattr(name, NULL, 0);
        if (n < 0 && (errno == ENOTSUP || errno == ENOENT)) return;
        if (n < 0) ex_fail(errno, "listing the xattrs of /%s: %s", path, strerror(errno));
        if (n == 0) return;
        list = xrealloc(list, (size_t)n);
        ssize_t m = llistxattr(name, list, (size_t)n);
        if (m < 0 && errno == ERANGE) continue;
        if (m < 0) ex_fail(errno, "listing the xattrs of /%s: %s", path, strerror(errno));
        n = m;
        break;
    }
    size_t count = 0;
    char **keys = NULL;
    for (char *k = list; k < list + n; k += strlen(k) + 1) {
        if (!*k) continue;
        keys = xrealloc(keys, (count + 1) * sizeof *keys);
        keys[count++] = k;
    }
    qsort(keys, count, sizeof *keys, cmp_names);
    char *value = NULL;
    for (size_t i = 0; i < count; i++) {
        ssize_t vl;
        for (;;) {
            vl = lgetxattr(name, keys[i], NULL, 0);
            if (vl < 0) break;
            value = xrealloc(value, (size_t)vl + 1);
            ssize_t m = lgetxattr(name, keys[i], value, (size_t)vl);
            if (m < 0 && errno == ERANGE) continue;
            vl = m;
            break;
        }
        if (vl < 0 && errno == ENODATA) continue; /* removed meanwhile */
        if (vl < 0) ex_fail(errno, "reading xattr %s of /%s: %s", keys[i], path, strerror(errno));
        if (strncmp(keys[i], "trusted.overlay.", 16) == 0) {
            if (strcmp(keys[i], "trusted.overlay.opaque") == 0 && vl == 1 && value[0] == 'y') *opaque = 1;
            continue;
        }
        char *key = xrealloc(NULL, strlen(keys[i]) + 14);
        sprintf(key, "SCHILY.xattr.%s", keys[i]);
        pax_add(pax, key, value, (size_t)vl);
        free(key);
    }
    free(value);
    free(keys);
    free(list);
}

/* The path first seen for a multiply linked inode, or NULL after recording path for it. */
static const char *ex_first_link(const struct stat *st, const char *path)
{
    if (ex.nlinks * 2 >= ex.caplinks) {
        size_t cap = ex.caplinks ? ex.caplinks * 2 : 256;
        struct link *t = xrealloc(NULL, cap * sizeof *t);
        memset(t, 0, cap * sizeof *t);
        for (size_t i = 0; i < ex.caplinks; i++) {
            if (!ex.links[i].path) continue;
            size_t j = ((size_t)ex.links[i].ino * 31u + (size_t)ex.links[i].dev) & (cap - 1);
            while (t[j].path) j = (j + 1) & (cap - 1);
            t[j] = ex.links[i];
        }
        free(ex.links);
        ex.links = t;
        ex.caplinks = cap;
    }
    size_t j = ((size_t)st->st_ino * 31u + (size_t)st->st_dev) & (ex.caplinks - 1);
    for (; ex.links[j].path; j = (j + 1) & (ex.caplinks - 1))
        if (ex.links[j].ino == st->st_ino && ex.links[j].dev == st->st_dev) return ex.links[j].path;
    ex.links[j] = (struct link){ st->st_dev, st->st_ino, xstrdup(path) };
    ex.nlinks++;
    return NULL;
}

static void ex_file_content(int dfd, const char *name, const char *path, struct tar_entry *e, struct stat *st)
{
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) ex_fail(errno, "opening /%s: %s", path, strerror(errno));
    if (fstat(fd, st) < 0) ex_fail(errno, "/%s: %s", path, strerror(errno));
    e->size = (uint64_t)st->st_size;
    e->mtime = st->st_mtim.tv_sec;
    ex_entry(e);
    /* Exactly the size in the header: a file that shrank meanwhile is padded with zeros. */
    uint64_t left = e->size;
    while (left) {
        if (ex.n == sizeof ex.buf) ex_flush();
        size_t want = sizeof ex.buf - ex.n;
        if (want > left) want = (size_t)left;
        ssize_t r = read(fd, ex.buf + ex.n, want);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) ex_fail(errno, "reading /%s: %s", path, strerror(errno));
        if (r == 0) { memset(ex.buf + ex.n, 0, want); r = (ssize_t)want; }
        ex.n += (size_t)r;
        left -= (uint64_t)r;
    }
    close(fd);
    ex_pad(e->size);
}

/* Emits the entries of the directory open as dfd, whose relative path is prefix ("" or "a/b/"). */
static void ex_dir(int dfd, const char *prefix)
{
    DIR *d = fdopendir(dfd);
    if (!d) ex_fail(errno, "reading directory /%s: %s", prefix, strerror(errno));
    char **names = NULL;
    size_t count = 0, cap = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de && errno) ex_fail(errno, "reading directory /%s: %s", prefix, strerror(errno));
        if (!de) break;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (count == cap) names = xrealloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);
        names[count++] = xstrdup(de->d_name);
    }
    qsort(names, count, sizeof *names, cmp_names);
    int fd = dirfd(d);
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < count; i++) {
        const char *name = names[i];
        size_t nlen = strlen(name);
        char *path = xrealloc(NULL, plen + nlen + 16);
        memcpy(path, prefix, plen);
        memcpy(path + plen, name, nlen + 1);
        struct stat st;
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT) { free(path); continue; } /* deleted meanwhile */
            ex_fail(errno, "/%s: %s", path, strerror(errno));
        }
        struct tar_entry e = { .path = path, .mode = st.st_mode & 07777, .uid = st.st_uid, .gid = st.st_gid, .mtime = st.st_mtim.tv_sec };
        if (S_ISSOCK(st.st_mode) || runtime_owns(fd, prefix, name, &st)) { free(path); continue; }
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
            /* An overlay whiteout: the OCI form is an empty file .wh.NAME next to it. */
            char *wh = xrealloc(NULL, plen + nlen + 8);
            memcpy(wh, prefix, plen);
            memcpy(wh + plen, ".wh.", 4);
            memcpy(wh + plen + 4, name, nlen + 1);
            e.path = wh;
            e.type = '0';
            e.mode = 0600;
            ex_entry(&e);
            free(wh);
            free(path);
            continue;
        }
        if (fchdir(fd) < 0) ex_fail(errno, "entering /%s: %s", prefix, strerror(errno));
        struct buf xattrs = { 0 };
        int opaque = 0;
        ex_xattrs(name, path, &xattrs, &opaque);
        e.xattrs = &xattrs;
        const char *first = !S_ISDIR(st.st_mode) && st.st_nlink > 1 ? ex_first_link(&st, path) : NULL;
        if (first) {
            e.type = '1';
            e.link = first;
            e.xattrs = NULL; /* they belong to the inode, already on the first entry */
            ex_entry(&e);
        } else if (S_ISDIR(st.st_mode)) {
            memcpy(path + plen + nlen, "/", 2);
            e.type = '5';
            ex_entry(&e);
            if (opaque) {
                /* An opaque overlay directory hides everything below it in the lower layers. */
                char *opq = xrealloc(NULL, plen + nlen + 16);
                sprintf(opq, "%s.wh..wh..opq", path);
                struct tar_entry o = { .path = opq, .type = '0', .mode = e.mode, .uid = e.uid, .gid = e.gid, .mtime = e.mtime };
                ex_entry(&o);
                free(opq);
            }
            int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) ex_fail(errno, "opening directory /%s: %s", path, strerror(errno));
            ex_dir(sub, path);
        } else if (S_ISREG(st.st_mode)) {
            e.type = '0';
            ex_file_content(fd, name, path, &e, &st);
        } else if (S_ISLNK(st.st_mode)) {
            size_t cap = (size_t)st.st_size + 1 > 256 ? (size_t)st.st_size + 1 : 256;
            char *target = NULL;
            ssize_t n;
            for (;;) {
                target = xrealloc(target, cap);
                n = readlinkat(fd, name, target, cap);
                if (n < 0) ex_fail(errno, "reading symlink /%s: %s", path, strerror(errno));
                if ((size_t)n < cap) break;
                cap *= 2;
            }
            target[n] = 0;
            e.type = '2';
            e.link = target;
            ex_entry(&e);
            free(target);
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            e.type = S_ISCHR(st.st_mode) ? '3' : '4';
            e.devmajor = major(st.st_rdev);
            e.devminor = minor(st.st_rdev);
            ex_entry(&e);
        } else if (S_ISFIFO(st.st_mode)) {
            e.type = '6';
            ex_entry(&e);
        }
        buf_free(&xattrs);
        free(path);
    }
    for (size_t i = 0; i < count; i++) free(names[i]);
    free(names);
    closedir(d);
}

/* The export child: the whole upper directory as one tar on out, errors as text on err. */
static void export_upper(int out, int err, void *ctx)
{
    int root = *(int *)ctx;
    ex.out = out;
    ex.err = err;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max; /* one fd per directory level is held during the walk */
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) ex_fail(errno, "opening the upper directory: %s", strerror(errno));
    ex_dir(fd, "");
    static const uint8_t end[1024];
    ex_write(end, sizeof end);
    ex_flush();
    _exit(0);
}

/* Starts the export child: DATA on 1 is the tar, its error text is kept (not sent) for the ERROR. */
void open_export_changes(uint32_t id, uint32_t flags)
{
    if (flags) { send_error(id, EINVAL, "export-changes: unknown flags %u", flags); return; }
    if (upper_fd < 0) { send_error(id, ENOENT, "export-changes: this agent has no overlay upper directory (host test mode without --upper)"); return; }
    start_task(id, K_EXPORT_CHANGES, upper_fd, export_upper, &upper_fd);
}
