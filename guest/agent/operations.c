/*
 * Opening streams: each OPEN the host sends, decoded by frame.c, becomes a stream of its kind.
 * EXEC and WORKLOAD_START are started by spawn.c, EXPORT_CHANGES by export.c; the file, port,
 * log and shutdown kinds are here.
 */
#include "agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int shutting_down;
int64_t shutdown_deadline;
uint32_t shutdown_stream;

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

/* Takes req->path. */
static void open_write_file(uint32_t id, struct open_request *req)
{
    char *path = req->path;
    req->path = NULL;
    if (path[0] != '/' || strlen(path) > 4000) { send_error(id, EINVAL, "write-file: '%s' is not an absolute path", path); free(path); return; }
    struct stream *s = new_stream(id, K_WRITE_FILE);
    if (!s) { free(path); send_error(id, EMFILE, "too many streams"); return; }
    s->final_path = path;
    s->tmp_path = xrealloc(NULL, strlen(path) + 32);
    sprintf(s->tmp_path, "%s.sm-%u.tmp", path, id);
    s->mode = req->mode & 07777;
    s->uid = (int)req->uid;
    s->gid = (int)req->gid;
    mkdir_parents(path);
    s->file_fd = open(s->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (s->file_fd < 0) { int err = errno; free(s->tmp_path); s->tmp_path = NULL; fail_stream(s, err, path); return; }
    send_frame(F_OPEN, 0, id, NULL, 0);
}

void finish_write_file(struct stream *s)
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

/* Takes path. */
static void open_read_file(uint32_t id, char *path, uint64_t max)
{
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
int port_listening(uint32_t port)
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

static void open_wait_port(uint32_t id, uint32_t port, uint32_t timeout_ms)
{
    if (port_listening(port)) { send_exit(id, 0, 0, workload_flags()); return; }
    struct stream *s = new_stream(id, K_WAIT_PORT);
    if (!s) { send_error(id, EMFILE, "too many streams"); return; }
    s->port = port;
    s->deadline = now_ms() + (timeout_ms ? timeout_ms : 1);
}

static void open_workload_log(uint32_t id)
{
    struct stream *s = new_stream(id, K_WORKLOAD_LOG);
    if (!s) { send_error(id, EMFILE, "too many streams"); return; }
    uint64_t kept = log_total < LOG_CAPACITY ? log_total : LOG_CAPACITY;
    for (uint64_t i = log_total - kept; i < log_total;) {
        uint64_t at = i % LOG_CAPACITY, run = LOG_CAPACITY - at;
        if (run > log_total - i) run = log_total - i;
        buf_append(&s->source, logring + at, (size_t)run);
        i += run;
    }
    /* The state goes with the text taken now, not with whatever holds once the text is sent: a
     * reader never sees "exited" without the lines written before the exit. */
    s->log_state = workload_flags() | (log_total > LOG_CAPACITY ? X_LOG_TRUNCATED : 0);
    s->log_code = wl.code;
    s->log_sig = wl.sig;
    uint8_t a[8];
    put64(a, log_total);
    send_frame(F_OPEN, 0, id, a, 8);
}

static void open_shutdown(uint32_t id, uint32_t grace_ms)
{
    logmsg("shutdown requested (grace %u ms)", grace_ms);
    shutting_down = 1;
    shutdown_stream = id;
    shutdown_deadline = now_ms() + grace_ms;
    if (wl.running) kill(-wl.pid, SIGTERM);
    for (int i = 0; i < MAX_STREAMS; i++)
        if (streams[i].used && streams[i].pid > 0 && !streams[i].reaped) kill(-streams[i].pid, SIGTERM);
    if (pid1) kill(-1, SIGTERM);
    send_frame(F_OPEN, 0, id, NULL, 0);
}

void open_stream(uint32_t id, const uint8_t *p, size_t n)
{
    struct open_request req;
    const char *why = open_request_decode(p, n, &req);
    if (why == open_unknown_kind) { send_error(id, EINVAL, "%s %u", why, req.kind); return; }
    if (why) { send_error(id, EINVAL, "%s", why); return; }
    switch (req.kind) {
    case K_EXEC: open_exec(id, &req.exec); break;
    case K_WORKLOAD_START: start_workload(id, &req.exec); break;
    case K_WRITE_FILE: open_write_file(id, &req); break;
    case K_READ_FILE: open_read_file(id, req.path, req.max_bytes); req.path = NULL; break;
    case K_PORT_FORWARD: open_port_forward(id, req.port); break;
    case K_HOST_ACCEPT: open_host_accept(id, req.port); break;
    case K_WAIT_PORT: open_wait_port(id, req.port, req.timeout_ms); break;
    case K_WORKLOAD_LOG: open_workload_log(id); break;
    case K_EXPORT_CHANGES: open_export_changes(id, req.flags); break;
    case K_SHUTDOWN: open_shutdown(id, req.grace_ms); break;
    case K_NETWORK: open_network(id, req.lines); break;
    case K_MOUNT: open_mount(id, &req); break;
    }
    open_request_free(&req);
}
