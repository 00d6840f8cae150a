/*
 * The protocol's state: the channel to the host (frames out, bytes in), the stream table with
 * its flow-control credit, and the handling of each frame the host sends. The bytes are parsed
 * and checked by frame.c; what a stream kind does when opened is in operations.c.
 */
#include "agent.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---------- the channel to the host ---------- */

int chan_fd = -1;
int listen_fd = -1;
int chan_up = 1;
int64_t chan_retry_at;
struct buf inq, outq;
static struct frame_reader rx; /* after a malformed frame: skip input until a HELLO */

void send_frame(uint32_t type, uint32_t ch, uint32_t stream, const void *payload, size_t n)
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

void send_error(uint32_t stream, int err, const char *fmt, ...)
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

void send_exit(uint32_t stream, int code, int sig, uint32_t flags)
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
void channel_lost(void)
{
    inq.off = inq.len = 0;
    rx.resyncing = 1;
    chan_up = 0;
    chan_retry_at = now_ms() + 20;
    if (!pid1) {
        close(chan_fd);
        chan_fd = -1;
    }
}

void flush_blocking(void)
{
    int64_t until = now_ms() + 2000;
    while (buf_size(&outq) && now_ms() < until) {
        ssize_t w = write(chan_fd, outq.p + outq.off, buf_size(&outq));
        if (w > 0) { buf_consume(&outq, (size_t)w); continue; }
        struct pollfd pf = { chan_fd, POLLOUT, 0 };
        poll(&pf, 1, 50);
    }
}

/* ---------- streams ---------- */

struct stream streams[MAX_STREAMS];

static struct stream *find_stream(uint32_t id)
{
    if (id == 0) return NULL;
    for (int i = 0; i < MAX_STREAMS; i++)
        if (streams[i].used && streams[i].id == id) return &streams[i];
    return NULL;
}

void free_stream(struct stream *s)
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

struct stream *new_stream(uint32_t id, int kind)
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

void fail_stream(struct stream *s, int err, const char *what)
{
    send_error(s->id, err, "%s: %s", what, strerror(err));
    free_stream(s);
}

/* Gives the host credit back for bytes the agent has consumed, in batches. */
void grant(struct stream *s, size_t n, int force)
{
    s->owed += (uint32_t)n;
    if (s->owed && (force || s->owed >= INITIAL_WINDOW / 4 || buf_size(&s->pending) == 0)) {
        send_window(s->id, s->owed);
        s->recv_window += s->owed;
        s->owed = 0;
    }
}



/* ---------- frames from the host ---------- */

static void reset_all(void)
{
    for (int i = 0; i < MAX_STREAMS; i++)
        if (streams[i].used) free_stream(&streams[i]);
    host_listeners_close();
}

static void protocol_error(const char *why)
{
    logmsg("protocol error: %s; waiting for HELLO", why);
    send_error(0, EPROTO, "protocol error: %s", why);
    rx.resyncing = 1;
}

static void on_hello(const uint8_t *p)
{
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

static void on_data(struct stream *s, const uint8_t *p, size_t n)
{
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

/* One well-formed frame (frame_scan); its shape is checked here, its meaning below. */
static void dispatch(const struct frame *f, void *ctx)
{
    (void)ctx;
    const char *why = frame_check_from_host(f);
    if (why) { protocol_error(why); return; }
    const uint8_t *p = f->payload;
    uint32_t id = f->stream;
    if (f->type == F_HELLO) { on_hello(p); return; }
    if (f->type == F_SIGNAL) {
        int sig = (int)get32(p);
        if (id == 0) { if (wl.running) kill(-wl.pid, sig); return; }
        struct stream *s = find_stream(id);
        if (s && s->pid > 0 && !s->reaped) kill(-s->pid, sig);
        return;
    }
    struct stream *s = find_stream(id);
    switch (f->type) {
    case F_OPEN:
        if (s) { protocol_error("OPEN of a stream already open"); return; }
        if (shutting_down) { send_error(id, ESHUTDOWN, "the guest is shutting down"); return; }
        open_stream(id, p, f->len);
        break;
    case F_DATA:
        if (s) on_data(s, p, f->len);
        break;
    case F_CLOSE:
        if (s && !s->host_closed) {
            s->host_closed = 1;
            if (s->kind == K_WRITE_FILE) finish_write_file(s);
        }
        break;
    case F_WINDOW:
        if (s) s->send_window += get32(p);
        break;
    case F_ABORT:
        if (s) free_stream(s);
        break;
    }
}

static void on_malformed(const char *why, void *ctx)
{
    (void)ctx;
    protocol_error(why);
}

/* Handles every complete frame in inq; dispatch only appends to outq, so inq stays put meanwhile. */
void parse_input(void)
{
    buf_consume(&inq, frame_scan(&rx, inq.p + inq.off, buf_size(&inq), dispatch, on_malformed, NULL));
}
