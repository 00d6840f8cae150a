/*
 * Supermachine guest agent: PID 1 of every microVM.
 *
 * As PID 1 it loads the kernel modules shipped in the initramfs, mounts the image's squashfs
 * read-only under a tmpfs overlay, chroots into it, and then serves the host over one
 * virtio-serial port ("sm.agent") with the framed, multiplexed protocol of PROTOCOL.md: exec,
 * file transfer, port forwarding, wait-for-port, the workload and its log, shutdown, and the
 * export of the overlay's changes as an OCI layer.
 *
 * Run as an ordinary process with --listen PATH (a unix socket it creates) it skips every PID 1
 * duty and serves the same protocol to one host connection at a time, so the protocol is tested
 * on the host without a VM. A new connection behaves like the virtio port after a restore: the
 * streams live on until the host's HELLO resets them.
 *
 * One thread, one poll loop. Every byte the agent buffers is bounded by a window the agent
 * granted, or by a fixed cap (the workload log), so a fast host cannot exhaust guest memory.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define AGENT_VERSION "1"
#define PROTOCOL_VERSION 1u
#define FRAME_MAGIC 0x4D53u /* "SM" little endian */
#define HEADER_SIZE 12
#define MAX_PAYLOAD 65536u
#define INITIAL_WINDOW (256u * 1024u)
#define CHUNK 32768u
#define OUTQ_HIGH (512u * 1024u) /* stop reading producers while this much waits for the host */
#define MAX_STREAMS 512
#define LOG_CAPACITY (1u << 20)
#define MAX_STRING 65536u
#define MAX_LIST 4096u

enum frame_type { F_HELLO = 1, F_OPEN, F_DATA, F_CLOSE, F_WINDOW, F_EXIT, F_SIGNAL, F_ERROR, F_ABORT };
enum open_kind { K_EXEC = 1, K_WRITE_FILE, K_READ_FILE, K_PORT_FORWARD, K_WAIT_PORT, K_WORKLOAD_LOG, K_WORKLOAD_START, K_SHUTDOWN, K_EXPORT_CHANGES };
enum exit_flags { X_TIMED_OUT = 1, X_WORKLOAD_RUNNING = 2, X_WORKLOAD_EXITED = 4, X_LOG_TRUNCATED = 8 };
enum hello_flags { H_PID1 = 1, H_WORKLOAD_RUNNING = 2, H_WORKLOAD_EXITED = 4 };

extern char **environ;
static const char *DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/* ---------- small helpers ---------- */

static int pid1;

static void logmsg(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof line - 2) n = sizeof line - 2;
    line[n++] = '\n';
    ssize_t ignored = write(2, "sm-agent: ", 10);
    ignored = write(2, line, (size_t)n);
    (void)ignored;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) { logmsg("out of memory"); _exit(111); }
    return q;
}

static char *xstrdup(const char *s) { char *d = strdup(s); if (!d) { logmsg("out of memory"); _exit(111); } return d; }

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

/* A growable byte queue: data lives in p[off..len). */
struct buf { uint8_t *p; size_t off, len, cap; };

static size_t buf_size(const struct buf *b) { return b->len - b->off; }

static void buf_append(struct buf *b, const void *data, size_t n)
{
    if (b->off > 0 && b->off == b->len) b->off = b->len = 0;
    if (b->len + n > b->cap) {
        if (b->off > 0) {
            memmove(b->p, b->p + b->off, b->len - b->off);
            b->len -= b->off;
            b->off = 0;
        }
        if (b->len + n > b->cap) {
            size_t cap = b->cap ? b->cap : 4096;
            while (cap < b->len + n) cap *= 2;
            b->p = xrealloc(b->p, cap);
            b->cap = cap;
        }
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void buf_consume(struct buf *b, size_t n)
{
    b->off += n;
    if (b->off == b->len) b->off = b->len = 0;
}

static void buf_free(struct buf *b) { free(b->p); memset(b, 0, sizeof *b); }

/* Reader over an untrusted payload: every read is bounds-checked, failure is sticky. */
struct rd { const uint8_t *p; size_t n, i; int bad; };

static uint32_t rd_u32(struct rd *r)
{
    if (r->bad || r->n - r->i < 4) { r->bad = 1; return 0; }
    uint32_t v = get32(r->p + r->i);
    r->i += 4;
    return v;
}

static uint64_t rd_u64(struct rd *r)
{
    if (r->bad || r->n - r->i < 8) { r->bad = 1; return 0; }
    uint64_t v = get64(r->p + r->i);
    r->i += 8;
    return v;
}

/* A length-prefixed string; NULs inside are refused (they would truncate paths and argv). */
static char *rd_str(struct rd *r)
{
    uint32_t len = rd_u32(r);
    if (r->bad || len > MAX_STRING || r->n - r->i < len || memchr(r->p + r->i, 0, len)) { r->bad = 1; return NULL; }
    char *s = xrealloc(NULL, len + 1);
    memcpy(s, r->p + r->i, len);
    s[len] = 0;
    r->i += len;
    return s;
}

static void free_list(char **l)
{
    if (!l) return;
    for (char **p = l; *p; p++) free(*p);
    free(l);
}

static char **rd_list(struct rd *r)
{
    uint32_t count = rd_u32(r);
    if (r->bad || count > MAX_LIST) { r->bad = 1; return NULL; }
    char **l = xrealloc(NULL, (count + 1) * sizeof *l);
    uint32_t i;
    for (i = 0; i < count; i++) {
        l[i] = rd_str(r);
        if (!l[i]) break;
    }
    l[i] = NULL;
    if (r->bad) { free_list(l); return NULL; }
    return l;
}

static size_t list_len(char **l) { size_t n = 0; while (l && l[n]) n++; return n; }

static char **list_copy(char **l)
{
    size_t n = list_len(l);
    char **c = xrealloc(NULL, (n + 1) * sizeof *c);
    for (size_t i = 0; i < n; i++) c[i] = xstrdup(l[i]);
    c[n] = NULL;
    return c;
}

/* ---------- the channel to the host ---------- */

static int chan_fd = -1;
static int listen_fd = -1;       /* host test mode: where the next host connection comes from */
static int chan_up = 1;          /* 0 while the host end is disconnected (virtio port closed) */
static int64_t chan_retry_at;
static struct buf inq, outq;
static int resyncing;            /* after a malformed frame: skip input until a HELLO */

static void send_frame(uint32_t type, uint32_t ch, uint32_t stream, const void *payload, size_t n)
{
    uint8_t h[HEADER_SIZE];
    put16(h, FRAME_MAGIC);
    h[2] = (uint8_t)type;
    h[3] = (uint8_t)ch;
    put32(h + 4, stream);
    put32(h + 8, (uint32_t)n);
    buf_append(&outq, h, sizeof h);
    if (n) buf_append(&outq, payload, n);
}

static void send_error(uint32_t stream, int err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if (n > (int)sizeof msg - 1) n = sizeof msg - 1;
    uint8_t p[8 + sizeof msg];
    put32(p, (uint32_t)err);
    put32(p + 4, (uint32_t)n);
    memcpy(p + 8, msg, (size_t)n);
    send_frame(F_ERROR, 0, stream, p, 8 + (size_t)n);
}

static void send_window(uint32_t stream, uint32_t inc)
{
    uint8_t p[4];
    put32(p, inc);
    send_frame(F_WINDOW, 0, stream, p, 4);
}

static void send_exit(uint32_t stream, int code, int sig, uint32_t flags)
{
    uint8_t p[12];
    put32(p, (uint32_t)code);
    put32(p + 4, (uint32_t)sig);
    put32(p + 8, flags);
    send_frame(F_EXIT, 0, stream, p, 12);
}

/* The host went away. In a VM the port stays and the host comes back; in test mode a new
 * connection arrives on listen_fd. Either way a frame cut in half must not swallow the next
 * HELLO, so input is dropped and skipped up to a HELLO. */
static void channel_lost(void)
{
    inq.off = inq.len = 0;
    resyncing = 1;
    chan_up = 0;
    chan_retry_at = now_ms() + 20;
    if (!pid1) {
        close(chan_fd);
        chan_fd = -1;
    }
}

static void flush_blocking(void)
{
    int64_t until = now_ms() + 2000;
    while (buf_size(&outq) && now_ms() < until) {
        ssize_t w = write(chan_fd, outq.p + outq.off, buf_size(&outq));
        if (w > 0) { buf_consume(&outq, (size_t)w); continue; }
        struct pollfd pf = { chan_fd, POLLOUT, 0 };
        poll(&pf, 1, 50);
    }
}

/* ---------- the workload and its log ---------- */

static struct {
    pid_t pid;
    int running, exited, code, sig;
    char **env;      /* the workload's environment: execs inherit it */
    char *user, *cwd;
    int out_fd[2];
} wl = { .out_fd = { -1, -1 } };

static uint8_t *logring;
static uint64_t log_total;       /* bytes ever written; ring holds the last LOG_CAPACITY */

static void log_append(const uint8_t *p, size_t n)
{
    if (!logring) logring = xrealloc(NULL, LOG_CAPACITY);
    for (size_t i = 0; i < n; i++) logring[(log_total + i) % LOG_CAPACITY] = p[i];
    log_total += n;
}

static uint32_t workload_flags(void)
{
    return (wl.running ? X_WORKLOAD_RUNNING : 0) | (wl.exited ? X_WORKLOAD_EXITED : 0);
}

/* ---------- streams ---------- */

struct stream {
    int used;
    uint32_t gen;           /* bumped when the slot is reused, so stale poll results are ignored */
    uint32_t id;
    int kind;
    int in_fd;              /* where host data goes: stdin pipe, socket */
    int out_fd[2];          /* what we read for the host: channel 1 (stdout/socket), 2 (stderr) */
    int sock;               /* port forward: the one socket behind in_fd/out_fd[0] */
    int file_fd;
    struct buf pending;     /* host data not yet written to in_fd; bounded by recv_window */
    struct buf source;      /* in-memory data to send (workload log) */
    int host_closed;        /* CLOSE channel 0 received */
    int in_shut;            /* in_fd closed / shut down */
    uint32_t recv_window;   /* bytes the host may still send */
    uint32_t owed;          /* bytes consumed, not yet granted back */
    uint64_t send_window;   /* bytes we may still send */
    pid_t pid;
    int reaped, status, timed_out;
    int64_t deadline;       /* exec timeout, wait-port timeout; 0 = none */
    int64_t next_check;     /* wait-port: next look at /proc/net/tcp */
    int connecting, acked;
    uint32_t port;
    char *tmp_path, *final_path;
    uint32_t mode;
    int uid, gid;
};

static struct stream streams[MAX_STREAMS];

static struct stream *find_stream(uint32_t id)
{
    if (id == 0) return NULL;
    for (int i = 0; i < MAX_STREAMS; i++)
        if (streams[i].used && streams[i].id == id) return &streams[i];
    return NULL;
}

static void close_fd(int *fd) { if (*fd >= 0) { close(*fd); *fd = -1; } }

static void free_stream(struct stream *s)
{
    if (s->kind == K_PORT_FORWARD) {
        close_fd(&s->sock);
        s->in_fd = s->out_fd[0] = -1;
    }
    close_fd(&s->in_fd);
    close_fd(&s->out_fd[0]);
    close_fd(&s->out_fd[1]);
    close_fd(&s->file_fd);
    if (s->pid > 0 && !s->reaped) kill(-s->pid, SIGKILL); /* the reaper collects it */
    if (s->tmp_path) unlink(s->tmp_path);
    free(s->tmp_path);
    free(s->final_path);
    buf_free(&s->pending);
    buf_free(&s->source);
    uint32_t gen = s->gen;
    memset(s, 0, sizeof *s);
    s->gen = gen;
}

static struct stream *new_stream(uint32_t id, int kind)
{
    for (int i = 0; i < MAX_STREAMS; i++) {
        struct stream *s = &streams[i];
        if (!s->used) {
            uint32_t gen = s->gen + 1;
            memset(s, 0, sizeof *s);
            s->gen = gen;
            s->used = 1;
            s->id = id;
            s->kind = kind;
            s->in_fd = s->out_fd[0] = s->out_fd[1] = s->sock = s->file_fd = -1;
            s->recv_window = INITIAL_WINDOW;
            s->send_window = INITIAL_WINDOW;
            return s;
        }
    }
    return NULL;
}

static void fail_stream(struct stream *s, int err, const char *what)
{
    send_error(s->id, err, "%s: %s", what, strerror(err));
    free_stream(s);
}

/* Gives the host credit back for bytes the agent has consumed, in batches. */
static void grant(struct stream *s, size_t n, int force)
{
    s->owed += (uint32_t)n;
    if (s->owed && (force || s->owed >= INITIAL_WINDOW / 4 || buf_size(&s->pending) == 0)) {
        send_window(s->id, s->owed);
        s->recv_window += s->owed;
        s->owed = 0;
    }
}

/* ---------- users, groups, environment ---------- */

struct ids { uid_t uid; gid_t gid; gid_t groups[64]; int ngroups; char home[256]; };

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

/* Resolves "user", "uid", "user:group", "uid:gid" the way runc does; returns 0 or an errno. */
static int resolve_user(const char *spec, struct ids *ids)
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

static int env_index(char **env, const char *kv)
{
    size_t klen = strcspn(kv, "=");
    for (int i = 0; env && env[i]; i++)
        if (strncmp(env[i], kv, klen) == 0 && env[i][klen] == '=') return i;
    return -1;
}

/* base (copied) with each K=V of overrides replacing or adding; NULL base means PATH only. */
static char **merge_env(char **base, char **overrides)
{
    char **env = base ? list_copy(base) : NULL;
    if (!env) { env = xrealloc(NULL, 2 * sizeof *env); env[0] = xstrdup(DEFAULT_PATH); env[1] = NULL; }
    size_t n = list_len(env);
    for (int i = 0; overrides && overrides[i]; i++) {
        if (!strchr(overrides[i], '=')) continue;
        int at = env_index(env, overrides[i]);
        if (at >= 0) { free(env[at]); env[at] = xstrdup(overrides[i]); continue; }
        env = xrealloc(env, (n + 2) * sizeof *env);
        env[n++] = xstrdup(overrides[i]);
        env[n] = NULL;
    }
    return env;
}

static char **with_home(char **env, const char *home)
{
    if (env_index(env, "HOME=") >= 0) return env;
    size_t n = list_len(env);
    env = xrealloc(env, (n + 2) * sizeof *env);
    char *kv = xrealloc(NULL, strlen(home) + 6);
    sprintf(kv, "HOME=%s", home);
    env[n] = kv;
    env[n + 1] = NULL;
    return env;
}

/*
 * Forks argv in its own session with the given environment, directory and user. Output fds:
 * out[0]/out[1] become its stdout/stderr read ends, *in its stdin write end (or /dev/null when
 * in is NULL). Returns the pid, or -errno when it could not be started (exec failure included:
 * the child reports it through a close-on-exec pipe).
 */
static pid_t spawn(char **argv, char **env, const char *cwd, const struct ids *ids, int *in, int out[2])
{
    int ip[2] = { -1, -1 }, op[2], ep[2], errp[2];
    if (in && pipe2(ip, O_CLOEXEC) < 0) return -errno;
    if (pipe2(op, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) return -errno;
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < 32; sig++) signal(sig, SIG_DFL);
        setsid();
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        dup2(in ? ip[0] : devnull, 0);
        dup2(op[1], 1);
        dup2(ep[1], 2);
        umask(022);
        int err = 0;
        if (cwd && *cwd && chdir(cwd) < 0) err = errno;
        if (!err && ids && (getuid() == 0)) {
            if (setgroups((size_t)ids->ngroups, ids->groups) < 0 || setgid(ids->gid) < 0 || setuid(ids->uid) < 0) err = errno;
        }
        if (!err) {
            environ = env;
            execvp(argv[0], argv);
            err = errno;
        }
        ssize_t ignored = write(errp[1], &err, sizeof err);
        (void)ignored;
        _exit(127);
    }
    close(errp[1]);
    if (in) close(ip[0]);
    close(op[1]);
    close(ep[1]);
    int err = 0;
    ssize_t r;
    do r = read(errp[0], &err, sizeof err); while (r < 0 && errno == EINTR);
    close(errp[0]);
    if (r == (ssize_t)sizeof err) {
        if (in) close(ip[1]);
        close(op[0]);
        close(ep[0]);
        waitpid(pid, NULL, 0);
        return -err;
    }
    if (in) { *in = ip[1]; set_nonblock(ip[1]); }
    out[0] = op[0];
    out[1] = ep[0];
    set_nonblock(op[0]);
    set_nonblock(ep[0]);
    return pid;
}

/* ---------- EXPORT_CHANGES: the overlay upper directory as an OCI layer tar ---------- */

/*
 * The overlay's upper directory, opened before the chroot (after it no path reaches it), or
 * --upper in host test mode; -1 when there is none. The export runs in a forked child that
 * walks it relative to this fd and writes the tar to a pipe, so the agent's loop and flow
 * control treat it like an exec's stdout.
 */
static int upper_fd = -1;

/*
 * The /etc/hosts the agent writes into an image that has none. Like Docker's, it belongs to the
 * running guest, not to the image: the export leaves it out while it still holds exactly this.
 */
static const char default_hosts[] = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
static int hosts_written;

static int is_agent_hosts(int dfd, const char *prefix, const char *name, const struct stat *st)
{
    if (!hosts_written || strcmp(prefix, "etc/") != 0 || strcmp(name, "hosts") != 0 || !S_ISREG(st->st_mode)
        || st->st_size != (off_t)(sizeof default_hosts - 1)) return 0;
    char text[sizeof default_hosts];
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, text, sizeof text);
    close(fd);
    return n == (ssize_t)(sizeof default_hosts - 1) && memcmp(text, default_hosts, (size_t)n) == 0;
}

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

static int cmp_ints(const void *a, const void *b) { int x = *(const int *)a, y = *(const int *)b; return (x > y) - (x < y); }

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
        if (S_ISSOCK(st.st_mode) || is_agent_hosts(fd, prefix, name, &st)) { free(path); continue; }
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

/* Closes every fd from 3 up except those in keep (the child must not hold the agent's pipes and sockets). */
static void close_other_fds(const int *keep, int nkeep)
{
    int sorted[8];
    for (int i = 0; i < nkeep; i++) sorted[i] = keep[i];
    qsort(sorted, (size_t)nkeep, sizeof *sorted, cmp_ints);
    unsigned from = 3;
    for (int i = 0; i <= nkeep; i++) {
        unsigned to = i < nkeep ? (unsigned)sorted[i] : ~0u;
        if (i < nkeep && (unsigned)sorted[i] < from) continue;
        if (to > from) {
            if (syscall(SYS_close_range, from, to - 1, 0) < 0)
                for (unsigned fd = from; fd < to && fd < 65536; fd++) close((int)fd);
        }
        if (i < nkeep) from = (unsigned)sorted[i] + 1;
    }
}

/* The export child: the whole upper directory as one tar on out, errors as text on err. */
static void export_upper(int root, int out, int err)
{
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
static void open_export_changes(uint32_t id, uint32_t flags)
{
    if (flags) { send_error(id, EINVAL, "export-changes: unknown flags %u", flags); return; }
    if (upper_fd < 0) { send_error(id, ENOENT, "export-changes: this agent has no overlay upper directory (host test mode without --upper)"); return; }
    struct stream *s = new_stream(id, K_EXPORT_CHANGES);
    if (!s) { send_error(id, EMFILE, "too many streams"); return; }
    int dp[2], ep[2];
    if (pipe2(dp, O_CLOEXEC) < 0) { fail_stream(s, errno, "export-changes pipe"); return; }
    if (pipe2(ep, O_CLOEXEC) < 0) { int err = errno; close(dp[0]); close(dp[1]); fail_stream(s, err, "export-changes pipe"); return; }
    fcntl(dp[1], F_SETPIPE_SZ, 1 << 20);
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(dp[0]); close(dp[1]); close(ep[0]); close(ep[1]);
        fail_stream(s, err, "export-changes fork");
        return;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < 32; sig++) signal(sig, SIG_DFL);
        setsid(); /* its own group: ABORT, a new HELLO and shutdown kill it like an exec */
        int keep[3] = { dp[1], ep[1], upper_fd };
        close_other_fds(keep, 3);
        export_upper(upper_fd, dp[1], ep[1]);
    }
    close(dp[1]);
    close(ep[1]);
    set_nonblock(dp[0]);
    set_nonblock(ep[0]);
    s->out_fd[0] = dp[0];
    s->out_fd[1] = ep[0];
    s->pid = pid;
    send_frame(F_OPEN, 0, id, NULL, 0);
}

/* ---------- opening streams ---------- */

struct exec_spec { uint32_t flags, timeout_ms; char *cwd, *user; char **argv, **env; };

static int read_exec_spec(struct rd *r, struct exec_spec *e)
{
    memset(e, 0, sizeof *e);
    e->flags = rd_u32(r);
    e->timeout_ms = rd_u32(r);
    e->cwd = rd_str(r);
    e->user = rd_str(r);
    e->argv = rd_list(r);
    e->env = rd_list(r);
    return !r->bad;
}

static void free_exec_spec(struct exec_spec *e)
{
    free(e->cwd);
    free(e->user);
    free_list(e->argv);
    free_list(e->env);
}

#define EXEC_REPLACE_ENV 1u

static void open_exec(uint32_t id, struct exec_spec *e)
{
    if (list_len(e->argv) == 0) { send_error(id, EINVAL, "exec: empty argv"); return; }
    const char *user = *e->user ? e->user : (wl.user ? wl.user : "");
    struct ids ids;
    int err = resolve_user(user, &ids);
    if (err) { send_error(id, err, "exec: user '%s' not found in /etc/passwd or /etc/group", user); return; }
    char **env = merge_env((e->flags & EXEC_REPLACE_ENV) ? NULL : wl.env, e->env);
    env = with_home(env, ids.home);
    const char *cwd = *e->cwd ? e->cwd : (wl.cwd && *wl.cwd ? wl.cwd : "/");
    struct stream *s = new_stream(id, K_EXEC);
    if (!s) { free_list(env); send_error(id, EMFILE, "too many streams"); return; }
    pid_t pid = spawn(e->argv, env, cwd, &ids, &s->in_fd, s->out_fd);
    free_list(env);
    if (pid < 0) {
        send_error(id, -pid, "exec %s (in %s as %s): %s", e->argv[0], cwd, *user ? user : "root", strerror(-pid));
        free_stream(s);
        return;
    }
    s->pid = pid;
    if (e->timeout_ms) s->deadline = now_ms() + e->timeout_ms;
    uint8_t p[4];
    put32(p, (uint32_t)pid);
    send_frame(F_OPEN, 0, id, p, 4);
}

static void start_workload(uint32_t id, struct exec_spec *e)
{
    if (wl.running) { send_error(id, EBUSY, "the workload is already running (pid %d)", wl.pid); return; }
    struct ids ids;
    int err = resolve_user(e->user, &ids);
    if (err) { send_error(id, err, "workload: user '%s' not found in /etc/passwd or /etc/group", e->user); return; }
    free_list(wl.env);
    free(wl.user);
    free(wl.cwd);
    wl.env = merge_env(NULL, e->env);
    wl.user = xstrdup(e->user);
    wl.cwd = xstrdup(e->cwd);
    uint8_t p[4] = { 0 };
    if (list_len(e->argv) > 0) {
        char **env = with_home(list_copy(wl.env), ids.home);
        pid_t pid = spawn(e->argv, env, *wl.cwd ? wl.cwd : "/", &ids, NULL, wl.out_fd);
        free_list(env);
        if (pid < 0) {
            send_error(id, -pid, "workload %s: %s", e->argv[0], strerror(-pid));
            return;
        }
        wl.pid = pid;
        wl.running = 1;
        wl.exited = wl.code = wl.sig = 0;
        put32(p, (uint32_t)pid);
        logmsg("workload %s started as pid %d", e->argv[0], pid);
    }
    send_frame(F_OPEN, 0, id, p, 4);
    send_exit(id, 0, 0, workload_flags());
}

static int mkdir_parents(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return 0;
}

static void open_write_file(uint32_t id, struct rd *r)
{
    uint32_t mode = rd_u32(r), uid = rd_u32(r), gid = rd_u32(r);
    char *path = rd_str(r);
    if (r->bad) { free(path); send_error(id, EINVAL, "write-file: malformed request"); return; }
    if (path[0] != '/' || strlen(path) > 4000) { send_error(id, EINVAL, "write-file: '%s' is not an absolute path", path); free(path); return; }
    struct stream *s = new_stream(id, K_WRITE_FILE);
    if (!s) { free(path); send_error(id, EMFILE, "too many streams"); return; }
    s->final_path = path;
    s->tmp_path = xrealloc(NULL, strlen(path) + 32);
    sprintf(s->tmp_path, "%s.sm-%u.tmp", path, id);
    s->mode = mode & 07777;
    s->uid = (int)uid;
    s->gid = (int)gid;
    mkdir_parents(path);
    s->file_fd = open(s->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (s->file_fd < 0) { int err = errno; free(s->tmp_path); s->tmp_path = NULL; fail_stream(s, err, path); return; }
    send_frame(F_OPEN, 0, id, NULL, 0);
}

static void finish_write_file(struct stream *s)
{
    if (fchmod(s->file_fd, s->mode) < 0 || ((s->uid != -1 || s->gid != -1) && fchown(s->file_fd, (uid_t)s->uid, (gid_t)s->gid) < 0) ||
        fsync(s->file_fd) < 0 || close(s->file_fd) < 0) {
        s->file_fd = -1;
        fail_stream(s, errno, s->final_path);
        return;
    }
    s->file_fd = -1;
    if (rename(s->tmp_path, s->final_path) < 0) { fail_stream(s, errno, s->final_path); return; }
    free(s->tmp_path);
    s->tmp_path = NULL;
    send_exit(s->id, 0, 0, 0);
    free_stream(s);
}

static void open_read_file(uint32_t id, struct rd *r)
{
    uint64_t max = rd_u64(r);
    char *path = rd_str(r);
    if (r->bad) { free(path); send_error(id, EINVAL, "read-file: malformed request"); return; }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) { send_error(id, errno, "%s: %s", path, strerror(errno)); if (fd >= 0) close(fd); free(path); return; }
    if (!S_ISREG(st.st_mode)) { send_error(id, EISDIR, "%s: not a regular file", path); close(fd); free(path); return; }
    if ((uint64_t)st.st_size > max) { send_error(id, EFBIG, "%s: %lld bytes, more than the %llu allowed", path, (long long)st.st_size, (unsigned long long)max); close(fd); free(path); return; }
    free(path);
    struct stream *s = new_stream(id, K_READ_FILE);
    if (!s) { close(fd); send_error(id, EMFILE, "too many streams"); return; }
    s->file_fd = fd;
    uint8_t p[8];
    put64(p, (uint64_t)st.st_size);
    send_frame(F_OPEN, 0, id, p, 8);
}

static void open_port_forward(uint32_t id, uint32_t port)
{
    if (port == 0 || port > 65535) { send_error(id, EINVAL, "port-forward: bad port %u", port); return; }
    struct stream *s = new_stream(id, K_PORT_FORWARD);
    if (!s) { send_error(id, EMFILE, "too many streams"); return; }
    s->port = port;
    s->sock = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->sock < 0) { fail_stream(s, errno, "port-forward socket"); return; }
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(s->sock, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
        int err = errno;
        send_error(id, err, "connect to 127.0.0.1:%u in the guest: %s", port, strerror(err));
        free_stream(s);
        return;
    }
    s->connecting = 1;
    s->in_fd = s->out_fd[0] = s->sock;
}

/* Is anything listening on TCP port (any address, IPv4 or IPv6)? */
static int port_listening(uint32_t port)
{
    static const char *files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
    for (int f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "re");
        if (!fp) continue;
        char line[512];
        int found = 0;
        while (!found && fgets(line, sizeof line, fp)) {
            char local[128], st[8];
            if (sscanf(line, " %*s %127s %*s %7s", local, st) != 2) continue;
            char *colon = strrchr(local, ':');
            if (colon && strtoul(colon + 1, NULL, 16) == port && strcmp(st, "0A") == 0) found = 1;
        }
        fclose(fp);
        if (found) return 1;
    }
    return 0;
}

static int shutting_down;
static int64_t shutdown_deadline;
static uint32_t shutdown_stream;

static void open_stream(uint32_t id, const uint8_t *p, size_t n)
{
    if (n < 1) { send_error(id, EINVAL, "open: empty request"); return; }
    struct rd r = { p + 1, n - 1, 0, 0 };
    switch (p[0]) {
    case K_EXEC:
    case K_WORKLOAD_START: {
        struct exec_spec e;
        if (!read_exec_spec(&r, &e)) send_error(id, EINVAL, "exec: malformed request");
        else if (p[0] == K_EXEC) open_exec(id, &e);
        else start_workload(id, &e);
        free_exec_spec(&e);
        break;
    }
    case K_WRITE_FILE: open_write_file(id, &r); break;
    case K_READ_FILE: open_read_file(id, &r); break;
    case K_PORT_FORWARD: {
        uint32_t port = rd_u32(&r);
        if (r.bad) send_error(id, EINVAL, "port-forward: malformed request");
        else open_port_forward(id, port);
        break;
    }
    case K_WAIT_PORT: {
        uint32_t port = rd_u32(&r), timeout = rd_u32(&r);
        if (r.bad || port == 0 || port > 65535) { send_error(id, EINVAL, "wait-port: malformed request"); break; }
        if (port_listening(port)) { send_exit(id, 0, 0, workload_flags()); break; }
        struct stream *s = new_stream(id, K_WAIT_PORT);
        if (!s) { send_error(id, EMFILE, "too many streams"); break; }
        s->port = port;
        s->deadline = now_ms() + (timeout ? timeout : 1);
        break;
    }
    case K_WORKLOAD_LOG: {
        struct stream *s = new_stream(id, K_WORKLOAD_LOG);
        if (!s) { send_error(id, EMFILE, "too many streams"); break; }
        uint64_t kept = log_total < LOG_CAPACITY ? log_total : LOG_CAPACITY;
        for (uint64_t i = log_total - kept; i < log_total;) {
            uint64_t at = i % LOG_CAPACITY, run = LOG_CAPACITY - at;
            if (run > log_total - i) run = log_total - i;
            buf_append(&s->source, logring + at, (size_t)run);
            i += run;
        }
        uint8_t a[8];
        put64(a, log_total);
        send_frame(F_OPEN, 0, id, a, 8);
        break;
    }
    case K_EXPORT_CHANGES: {
        uint32_t flags = rd_u32(&r);
        if (r.bad) send_error(id, EINVAL, "export-changes: malformed request");
        else open_export_changes(id, flags);
        break;
    }
    case K_SHUTDOWN: {
        uint32_t grace = rd_u32(&r);
        if (r.bad) grace = 0;
        if (grace > 60000) grace = 60000;
        logmsg("shutdown requested (grace %u ms)", grace);
        shutting_down = 1;
        shutdown_stream = id;
        shutdown_deadline = now_ms() + grace;
        if (wl.running) kill(-wl.pid, SIGTERM);
        for (int i = 0; i < MAX_STREAMS; i++)
            if (streams[i].used && streams[i].pid > 0 && !streams[i].reaped) kill(-streams[i].pid, SIGTERM);
        if (pid1) kill(-1, SIGTERM);
        send_frame(F_OPEN, 0, id, NULL, 0);
        break;
    }
    default: send_error(id, EINVAL, "open: unknown kind %u", p[0]);
    }
}

/* ---------- frames from the host ---------- */

static void reset_all(void)
{
    for (int i = 0; i < MAX_STREAMS; i++)
        if (streams[i].used) free_stream(&streams[i]);
}

static void protocol_error(const char *why)
{
    logmsg("protocol error: %s; waiting for HELLO", why);
    send_error(0, EPROTO, "protocol error: %s", why);
    resyncing = 1;
}

static void on_hello(const uint8_t *p, size_t n)
{
    if (n < 24) { protocol_error("short HELLO"); return; }
    uint32_t version = get32(p);
    int64_t ns = (int64_t)get64(p + 8);
    uint64_t nonce = get64(p + 16);
    reset_all();
    /* Frames queued for a previous connection mean nothing to this one. */
    outq.off = outq.len = 0;
    if (pid1 && ns > 0) {
        struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
        if (clock_settime(CLOCK_REALTIME, &ts) < 0) logmsg("clock_settime: %s", strerror(errno));
    }
    uint8_t a[24 + 4 + sizeof AGENT_VERSION];
    put32(a, PROTOCOL_VERSION);
    put32(a + 4, (pid1 ? H_PID1 : 0) | (wl.running ? H_WORKLOAD_RUNNING : 0) | (wl.exited ? H_WORKLOAD_EXITED : 0));
    put64(a + 8, nonce);
    put32(a + 16, MAX_PAYLOAD);
    put32(a + 20, INITIAL_WINDOW);
    put32(a + 24, (uint32_t)strlen(AGENT_VERSION));
    memcpy(a + 28, AGENT_VERSION, strlen(AGENT_VERSION));
    send_frame(F_HELLO, 0, 0, a, 28 + strlen(AGENT_VERSION));
    if (version != PROTOCOL_VERSION) logmsg("host speaks protocol %u, agent %u", version, PROTOCOL_VERSION);
}

static void on_data(struct stream *s, uint32_t ch, const uint8_t *p, size_t n)
{
    if (ch != 0) { protocol_error("DATA from the host on a channel other than 0"); return; }
    if (n > s->recv_window) { protocol_error("DATA beyond the granted window"); return; }
    s->recv_window -= (uint32_t)n;
    if (s->host_closed) { protocol_error("DATA after CLOSE"); return; }
    switch (s->kind) {
    case K_WRITE_FILE: {
        size_t done = 0;
        while (done < n) {
            ssize_t w = write(s->file_fd, p + done, n - done);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) { fail_stream(s, errno, s->final_path); return; }
            done += (size_t)w;
        }
        grant(s, n, 0);
        break;
    }
    case K_EXEC:
    case K_PORT_FORWARD:
        if (s->in_shut) grant(s, n, 0); /* the reader is gone: drop it, keep the host moving */
        else buf_append(&s->pending, p, n);
        break;
    default: protocol_error("DATA on a stream that takes no input");
    }
}

static void dispatch(uint32_t type, uint32_t ch, uint32_t id, const uint8_t *p, size_t n)
{
    if (type == F_HELLO) { if (id != 0) protocol_error("HELLO on a stream"); else on_hello(p, n); return; }
    if (type == F_SIGNAL) {
        uint32_t sig = n >= 4 ? get32(p) : 0;
        if (sig == 0 || sig >= 65) { protocol_error("bad SIGNAL"); return; }
        if (id == 0) { if (wl.running) kill(-wl.pid, (int)sig); return; }
        struct stream *s = find_stream(id);
        if (s && s->pid > 0 && !s->reaped) kill(-s->pid, (int)sig);
        return;
    }
    if (id == 0) { protocol_error("frame on stream 0"); return; }
    struct stream *s = find_stream(id);
    switch (type) {
    case F_OPEN:
        if (s) { protocol_error("OPEN of a stream already open"); return; }
        if (shutting_down) { send_error(id, ESHUTDOWN, "the guest is shutting down"); return; }
        open_stream(id, p, n);
        break;
    case F_DATA:
        if (s) on_data(s, ch, p, n);
        break;
    case F_CLOSE:
        if (s && !s->host_closed) {
            s->host_closed = 1;
            if (s->kind == K_WRITE_FILE) finish_write_file(s);
        }
        break;
    case F_WINDOW:
        if (n < 4) { protocol_error("short WINDOW"); return; }
        if (s) s->send_window += get32(p);
        break;
    case F_ABORT:
        if (s) free_stream(s);
        break;
    default: protocol_error("frame type the host may not send");
    }
}

static const uint8_t hello_prefix[8] = { 0x53, 0x4D, F_HELLO, 0, 0, 0, 0, 0 };

static void parse_input(void)
{
    while (buf_size(&inq) >= HEADER_SIZE) {
        const uint8_t *h = inq.p + inq.off;
        if (resyncing) {
            /* Skip to the next HELLO header (a HELLO payload is 24 bytes). */
            size_t avail = buf_size(&inq), i;
            for (i = 0; i + HEADER_SIZE <= avail; i++)
                if (memcmp(h + i, hello_prefix, 8) == 0 && get32(h + i + 8) == 24) break;
            buf_consume(&inq, i);
            if (buf_size(&inq) < HEADER_SIZE) return;
            resyncing = 0;
            continue;
        }
        uint32_t len = get32(h + 8);
        if (get16(h) != FRAME_MAGIC) { protocol_error("bad frame magic"); continue; }
        if (h[2] < F_HELLO || h[2] > F_ABORT) { protocol_error("unknown frame type"); buf_consume(&inq, 1); continue; }
        if (len > MAX_PAYLOAD) { protocol_error("frame longer than the maximum"); buf_consume(&inq, 1); continue; }
        if (buf_size(&inq) < HEADER_SIZE + len) return;
        /* dispatch only appends to outq, so h stays valid until the frame is consumed */
        dispatch(h[2], h[3], get32(h + 4), h + HEADER_SIZE, len);
        buf_consume(&inq, HEADER_SIZE + len);
    }
}

/* ---------- the loop ---------- */

static int sig_fd = -1;

static void reap(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (wl.running && pid == wl.pid) {
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

static void on_signal(void)
{
    struct signalfd_siginfo si;
    while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD) { reap(); continue; }
        /* Forward everything else to the workload, as an init for containers does. */
        if (wl.running) kill(-wl.pid, (int)si.ssi_signo);
        else if (!pid1 && (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)) exit(0);
    }
}

static void power_off(void)
{
    logmsg("powering off");
    sync();
    if (pid1) {
        reboot(RB_POWER_OFF);
        for (;;) pause();
    }
    exit(0);
}

static void fatal(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    logmsg("fatal: %s", msg);
    power_off();
}

/* Sends what the stream's producers have, as far as the window and the host's reading allow. */
static void pump_stream(struct stream *s, const struct pollfd *pf0, const struct pollfd *pf1)
{
    static uint8_t chunk[CHUNK];
    for (int c = 0; c < 2; c++) {
        const struct pollfd *pf = c ? pf1 : pf0;
        if (s->out_fd[c] < 0 || !pf || !(pf->revents & (POLLIN | POLLHUP | POLLERR))) continue;
        if (s->connecting) continue;
        /* The export child's error text is kept for its ERROR, not sent: no window needed. */
        int kept = s->kind == K_EXPORT_CHANGES && c == 1;
        size_t want = kept ? CHUNK : s->send_window < CHUNK ? (size_t)s->send_window : CHUNK;
        if (want == 0) continue;
        ssize_t r = read(s->out_fd[c], chunk, want);
        if (r > 0 && kept) {
            size_t room = buf_size(&s->source) < 1024 ? 1024 - buf_size(&s->source) : 0;
            buf_append(&s->source, chunk, (size_t)r < room ? (size_t)r : room);
        } else if (r > 0) {
            send_frame(F_DATA, (uint32_t)c + 1, s->id, chunk, (size_t)r);
            s->send_window -= (uint64_t)r;
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            if (kept) { close_fd(&s->out_fd[c]); continue; }
            if (r < 0 && s->kind == K_PORT_FORWARD) {
                int err = errno;
                send_error(s->id, err, "connection to 127.0.0.1:%u: %s", s->port, strerror(err));
                free_stream(s);
                return;
            }
            send_frame(F_CLOSE, (uint32_t)c + 1, s->id, NULL, 0);
            if (s->kind == K_PORT_FORWARD) { shutdown(s->sock, SHUT_RD); s->out_fd[0] = -1; }
            else close_fd(&s->out_fd[c]);
        }
    }
}

static void drain_pending(struct stream *s)
{
    while (buf_size(&s->pending) && !s->in_shut) {
        ssize_t w = write(s->in_fd, s->pending.p + s->pending.off, buf_size(&s->pending));
        if (w > 0) { buf_consume(&s->pending, (size_t)w); grant(s, (size_t)w, 0); continue; }
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) return;
        /* The reader went away (EPIPE): drop what is queued and keep crediting the host. */
        size_t dropped = buf_size(&s->pending);
        buf_consume(&s->pending, dropped);
        grant(s, dropped, 1);
        if (s->kind == K_PORT_FORWARD) { shutdown(s->sock, SHUT_WR); s->in_fd = -1; }
        else close_fd(&s->in_fd);
        s->in_shut = 1;
    }
    if (!buf_size(&s->pending) && s->host_closed && !s->in_shut) {
        if (s->kind == K_PORT_FORWARD) { shutdown(s->sock, SHUT_WR); s->in_fd = -1; }
        else close_fd(&s->in_fd);
        s->in_shut = 1;
    }
}

/* Ends streams whose work is done. */
static void settle(struct stream *s)
{
    if (!s->used) return;
    if (s->kind == K_EXEC && s->reaped && s->out_fd[0] < 0 && s->out_fd[1] < 0) {
        int st = s->status;
        send_exit(s->id, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), WIFSIGNALED(st) ? WTERMSIG(st) : 0,
                  s->timed_out ? X_TIMED_OUT : 0);
        s->pid = 0;
        free_stream(s);
    } else if (s->kind == K_EXPORT_CHANGES && s->reaped && s->out_fd[0] < 0 && s->out_fd[1] < 0) {
        int st = s->status;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) send_exit(s->id, 0, 0, 0);
        else if (WIFEXITED(st))
            send_error(s->id, WEXITSTATUS(st), "%.*s", (int)buf_size(&s->source), (const char *)s->source.p + s->source.off);
        else send_error(s->id, EINTR, "the exporting process was killed by signal %d", WTERMSIG(st));
        s->pid = 0;
        free_stream(s);
    } else if (s->kind == K_PORT_FORWARD && !s->connecting && s->in_shut && s->out_fd[0] < 0) {
        free_stream(s);
    }
}

static void pump_memory_and_files(void)
{
    static uint8_t chunk[CHUNK];
    for (int i = 0; i < MAX_STREAMS && buf_size(&outq) < OUTQ_HIGH; i++) {
        struct stream *s = &streams[i];
        if (!s->used || s->send_window == 0) continue;
        size_t want = s->send_window < CHUNK ? (size_t)s->send_window : CHUNK;
        if (s->kind == K_READ_FILE) {
            ssize_t r = read(s->file_fd, chunk, want);
            if (r > 0) { send_frame(F_DATA, 1, s->id, chunk, (size_t)r); s->send_window -= (uint64_t)r; }
            else if (r == 0) { send_frame(F_CLOSE, 1, s->id, NULL, 0); send_exit(s->id, 0, 0, 0); free_stream(s); }
            else if (errno != EINTR) fail_stream(s, errno, "read-file");
        } else if (s->kind == K_WORKLOAD_LOG) {
            size_t n = buf_size(&s->source) < want ? buf_size(&s->source) : want;
            if (n) {
                send_frame(F_DATA, 1, s->id, s->source.p + s->source.off, n);
                buf_consume(&s->source, n);
                s->send_window -= n;
            } else {
                send_frame(F_CLOSE, 1, s->id, NULL, 0);
                send_exit(s->id, wl.code, wl.sig, workload_flags() | (log_total > LOG_CAPACITY ? X_LOG_TRUNCATED : 0));
                free_stream(s);
            }
        }
    }
}

static void check_timers(int64_t now)
{
    for (int i = 0; i < MAX_STREAMS; i++) {
        struct stream *s = &streams[i];
        if (!s->used) continue;
        if (s->kind == K_WAIT_PORT) {
            if (now < s->next_check && now < s->deadline) continue;
            s->next_check = now + 20;
            if (port_listening(s->port)) { send_exit(s->id, 0, 0, workload_flags()); free_stream(s); }
            else if (wl.exited && !wl.running) {
                send_error(s->id, ECHILD, "the workload exited (code %d, signal %d) before port %u listened", wl.code, wl.sig, s->port);
                free_stream(s);
            } else if (now >= s->deadline) {
                send_error(s->id, ETIMEDOUT, "nothing listened on port %u in time", s->port);
                free_stream(s);
            }
        } else if (s->kind == K_EXEC && s->deadline && now >= s->deadline && !s->timed_out) {
            s->timed_out = 1;
            if (!s->reaped) kill(-s->pid, SIGKILL);
            /* Output a background child still holds must not keep the stream alive. */
            for (int c = 0; c < 2; c++)
                if (s->out_fd[c] >= 0) { close_fd(&s->out_fd[c]); send_frame(F_CLOSE, (uint32_t)c + 1, s->id, NULL, 0); }
        }
    }
}

static int any_running(void)
{
    if (wl.running) return 1;
    for (int i = 0; i < MAX_STREAMS; i++)
        if (streams[i].used && streams[i].pid > 0 && !streams[i].reaped) return 1;
    return 0;
}

static void serve(void)
{
    struct pollfd pfs[8 + 3 * MAX_STREAMS];
    struct { int stream, ch; uint32_t gen; } who[8 + 3 * MAX_STREAMS];
    static uint8_t rbuf[65536];
    for (;;) {
        int64_t now = now_ms();
        check_timers(now);
        if (shutting_down && (!any_running() || now >= shutdown_deadline)) {
            if (wl.running) kill(-wl.pid, SIGKILL);
            if (pid1) kill(-1, SIGKILL);
            send_exit(shutdown_stream, 0, 0, workload_flags());
            flush_blocking();
            power_off();
        }
        pump_memory_and_files();
        for (int i = 0; i < MAX_STREAMS; i++) settle(&streams[i]);

        int n = 0, timeout = -1;
        if (chan_fd < 0) {
            pfs[n] = (struct pollfd){ listen_fd, POLLIN, 0 };
            who[n].stream = -4; who[n++].ch = 0;
        } else if (chan_up || now >= chan_retry_at) {
            pfs[n] = (struct pollfd){ chan_fd, (short)(POLLIN | (buf_size(&outq) ? POLLOUT : 0)), 0 };
            who[n].stream = -1; who[n++].ch = 0;
        } else timeout = (int)(chan_retry_at - now);
        pfs[n] = (struct pollfd){ sig_fd, POLLIN, 0 };
        who[n].stream = -2; who[n++].ch = 0;
        for (int c = 0; c < 2; c++)
            if (wl.out_fd[c] >= 0) { pfs[n] = (struct pollfd){ wl.out_fd[c], POLLIN, 0 }; who[n].stream = -3; who[n++].ch = c; }
        int producers_ok = buf_size(&outq) < OUTQ_HIGH;
        for (int i = 0; i < MAX_STREAMS; i++) {
            struct stream *s = &streams[i];
            if (!s->used) continue;
            if (s->kind == K_WAIT_PORT || (s->kind == K_EXEC && s->deadline)) {
                int64_t due = s->kind == K_WAIT_PORT ? 20 : s->deadline - now;
                if (due < 0) due = 0;
                if (timeout < 0 || due < timeout) timeout = (int)due;
            }
            if ((s->kind == K_READ_FILE || s->kind == K_WORKLOAD_LOG) && s->send_window && producers_ok) timeout = 0;
            if (s->connecting) {
                pfs[n] = (struct pollfd){ s->sock, POLLOUT, 0 };
                who[n].stream = i; who[n].gen = s->gen; who[n++].ch = 9;
                continue;
            }
            for (int c = 0; c < 2; c++)
                if (s->out_fd[c] >= 0 && ((s->send_window > 0 && producers_ok) || (s->kind == K_EXPORT_CHANGES && c == 1))) {
                    pfs[n] = (struct pollfd){ s->out_fd[c], POLLIN, 0 };
                    who[n].stream = i; who[n].gen = s->gen; who[n++].ch = c;
                }
            /* A socket may sit here twice (reading and writing): poll allows that. */
            if (buf_size(&s->pending) && !s->in_shut && s->in_fd >= 0) {
                pfs[n] = (struct pollfd){ s->in_fd, POLLOUT, 0 };
                who[n].stream = i; who[n].gen = s->gen; who[n++].ch = 8;
            }
        }
        if (poll(pfs, (nfds_t)n, timeout) < 0) {
            if (errno == EINTR) continue;
            fatal("poll: %s", strerror(errno));
        }
        for (int k = 0; k < n; k++) {
            if (!pfs[k].revents) continue;
            int w = who[k].stream;
            if (w == -1) {
                if (pfs[k].revents & POLLIN) {
                    ssize_t r = read(chan_fd, rbuf, sizeof rbuf);
                    if (r > 0) { buf_append(&inq, rbuf, (size_t)r); chan_up = 1; parse_input(); }
                    else if (r == 0 || (errno != EAGAIN && errno != EINTR)) { channel_lost(); continue; }
                } else if (pfs[k].revents & (POLLHUP | POLLERR)) {
                    /* virtio port with no host attached: look again shortly. */
                    channel_lost();
                    continue;
                }
                if ((pfs[k].revents & POLLOUT) && buf_size(&outq)) {
                    ssize_t wr = write(chan_fd, outq.p + outq.off, buf_size(&outq));
                    if (wr > 0) buf_consume(&outq, (size_t)wr);
                }
            } else if (w == -4) {
                chan_fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (chan_fd >= 0) chan_up = 1;
            } else if (w == -2) {
                on_signal();
            } else if (w == -3) {
                int c = who[k].ch;
                ssize_t r = read(wl.out_fd[c], rbuf, sizeof rbuf);
                if (r > 0) log_append(rbuf, (size_t)r);
                else if (r == 0 || (errno != EAGAIN && errno != EINTR)) close_fd(&wl.out_fd[c]);
            } else {
                struct stream *s = &streams[w];
                if (!s->used || s->gen != who[k].gen) continue; /* freed or reused since the poll */
                int c = who[k].ch;
                if (c == 9) {
                    int err = 0;
                    socklen_t len = sizeof err;
                    getsockopt(s->sock, SOL_SOCKET, SO_ERROR, &err, &len);
                    if (err) {
                        send_error(s->id, err, "connect to 127.0.0.1:%u in the guest: %s", s->port, strerror(err));
                        free_stream(s);
                    } else {
                        s->connecting = 0;
                        send_frame(F_OPEN, 0, s->id, NULL, 0);
                    }
                    continue;
                }
                if (c == 8) drain_pending(s);
                else pump_stream(s, c == 0 ? &pfs[k] : NULL, c == 1 ? &pfs[k] : NULL);
            }
        }
        /* Input queued by DATA frames this round, and half-closes, are written without waiting a round. */
        for (int i = 0; i < MAX_STREAMS; i++) {
            struct stream *s = &streams[i];
            if (s->used && !s->connecting && (s->kind == K_EXEC || s->kind == K_PORT_FORWARD)) drain_pending(s);
        }
        if (chan_fd >= 0 && chan_up && buf_size(&outq)) {
            ssize_t wr = write(chan_fd, outq.p + outq.off, buf_size(&outq));
            if (wr > 0) buf_consume(&outq, (size_t)wr);
        }
    }
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

/* Returns 1 when it wrote the file. */
static int write_if_missing(const char *path, const char *text)
{
    struct stat st;
    if (lstat(path, &st) == 0) return 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return 0;
    ssize_t ignored = write(fd, text, strlen(text));
    (void)ignored;
    close(fd);
    return 1;
}

static int open_agent_port(void)
{
    for (int waited = 0; waited < 10000; waited += 10) {
        DIR *d = opendir("/sys/class/virtio-ports");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char path[512], name[64] = "";
            snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) continue;
            ssize_t r = read(fd, name, sizeof name - 1);
            close(fd);
            if (r <= 0) continue;
            name[r] = 0;
            name[strcspn(name, "\n")] = 0;
            if (strcmp(name, "sm.agent") != 0) continue;
            snprintf(path, sizeof path, "/dev/%s", e->d_name);
            closedir(d);
            wait_for(path, 2000);
            int port = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
            if (port < 0) fatal("open %s: %s", path, strerror(errno));
            logmsg("agent channel %s ready at %.3f s", path, uptime());
            return port;
        }
        if (d) closedir(d);
        usleep(10000);
    }
    fatal("no virtio-serial port named sm.agent appeared in 10 s (is the virtserialport device there?)");
    return -1;
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
    must_mount("tmpfs", "/mnt-rw", "tmpfs", 0, "mode=0755");
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
    ensure_dir("/dev/shm", 01777);
    mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    if (write_if_missing("/etc/hosts", default_hosts)) hosts_written = 1;
    loopback_up();
    sethostname("supermachine", 12);
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
