/*
 * The frame parser and the request decoders: pure functions over bytes the host sent, which
 * the agent trusts no more than the host trusts the guest. Nothing here does I/O or touches
 * the agent's state, so fuzz/fuzz_frames.c runs exactly this code on arbitrary input.
 * Every length is checked against what is left of the buffer, and against a fixed cap,
 * before anything is allocated for it.
 */
#include "agent.h"

#include <stdlib.h>
#include <string.h>

/* A HELLO header as the host sends it: magic, type 1, channel 0, stream 0. */
static const uint8_t hello_prefix[8] = { 0x53, 0x4D, F_HELLO, 0, 0, 0, 0, 0 };

size_t frame_scan(struct frame_reader *fr, const uint8_t *buf, size_t n,
                  void (*on_frame)(const struct frame *f, void *ctx), void (*on_error)(const char *why, void *ctx), void *ctx)
{
    size_t off = 0;
    while (n - off >= HEADER_SIZE) {
        const uint8_t *h = buf + off;
        size_t avail = n - off;
        if (fr->resyncing) {
            /* Skip to the next HELLO header (a HELLO payload is HELLO_SIZE bytes). */
            size_t i;
            for (i = 0; i + HEADER_SIZE <= avail; i++)
                if (memcmp(h + i, hello_prefix, 8) == 0 && get32(h + i + 8) == HELLO_SIZE) break;
            off += i;
            if (n - off < HEADER_SIZE) break;
            fr->resyncing = 0;
            continue;
        }
        uint32_t len = get32(h + 8);
        if (get16(h) != FRAME_MAGIC) { on_error("bad frame magic", ctx); fr->resyncing = 1; continue; }
        if (h[2] < F_HELLO || h[2] > F_ABORT) { on_error("unknown frame type", ctx); fr->resyncing = 1; off++; continue; }
        if (len > MAX_PAYLOAD) { on_error("frame longer than the maximum", ctx); fr->resyncing = 1; off++; continue; }
        if (avail < HEADER_SIZE + (size_t)len) break;
        struct frame f = { .type = h[2], .channel = h[3], .stream = get32(h + 4), .len = len, .payload = h + HEADER_SIZE };
        on_frame(&f, ctx); /* it may set fr->resyncing: a protocol error found in the payload */
        off += HEADER_SIZE + (size_t)len;
    }
    return off;
}

const char *frame_check_from_host(const struct frame *f)
{
    if (f->channel != 0) return "a frame from the host on a channel other than 0";
    switch (f->type) {
    case F_HELLO:
        if (f->stream != 0) return "HELLO on a stream";
        if (f->len != HELLO_SIZE) return "HELLO payload not 24 bytes";
        return NULL;
    case F_SIGNAL: {
        uint32_t sig = f->len == 4 ? get32(f->payload) : 0;
        return sig == 0 || sig >= 65 ? "bad SIGNAL" : NULL;
    }
    case F_OPEN:
    case F_DATA:
    case F_CLOSE:
    case F_WINDOW:
    case F_ABORT:
        if (f->stream == 0) return "frame on stream 0";
        if (f->type == F_WINDOW && f->len != 4) return "WINDOW payload not 4 bytes";
        if ((f->type == F_CLOSE || f->type == F_ABORT) && f->len != 0) return "CLOSE or ABORT with a payload";
        return NULL;
    default: return "frame type the host may not send";
    }
}

uint32_t rd_u32(struct rd *r)
{
    if (r->bad || r->n - r->i < 4) { r->bad = 1; return 0; }
    uint32_t v = get32(r->p + r->i);
    r->i += 4;
    return v;
}

uint64_t rd_u64(struct rd *r)
{
    if (r->bad || r->n - r->i < 8) { r->bad = 1; return 0; }
    uint64_t v = get64(r->p + r->i);
    r->i += 8;
    return v;
}

/* A length-prefixed string; NULs inside are refused (they would truncate paths and argv). */
char *rd_str(struct rd *r)
{
    uint32_t len = rd_u32(r);
    if (r->bad || len > MAX_STRING || r->n - r->i < len || memchr(r->p + r->i, 0, len)) { r->bad = 1; return NULL; }
    char *s = xrealloc(NULL, (size_t)len + 1);
    memcpy(s, r->p + r->i, len);
    s[len] = 0;
    r->i += len;
    return s;
}

/* A counted list of strings; the count is held against the bytes left (4 per string at least) first. */
char **rd_list(struct rd *r)
{
    uint32_t count = rd_u32(r);
    if (r->bad || count > MAX_LIST || (r->n - r->i) / 4 < count) { r->bad = 1; return NULL; }
    char **l = xrealloc(NULL, ((size_t)count + 1) * sizeof *l);
    uint32_t i;
    for (i = 0; i < count; i++) {
        l[i] = rd_str(r);
        if (!l[i]) break;
    }
    l[i] = NULL;
    if (r->bad) { free_list(l); return NULL; }
    return l;
}

static int read_exec_spec(struct rd *r, struct exec_spec *e)
{
    e->flags = rd_u32(r);
    e->timeout_ms = rd_u32(r);
    e->cwd = rd_str(r);
    e->user = rd_str(r);
    e->argv = rd_list(r);
    e->env = rd_list(r);
    return !r->bad;
}

const char open_unknown_kind[] = "open: unknown kind";

const char *open_request_decode(const uint8_t *p, size_t n, struct open_request *req)
{
    memset(req, 0, sizeof *req);
    if (n < 1) return "open: empty request";
    req->kind = p[0];
    struct rd r = { p + 1, n - 1, 0, 0 };
    const char *why = NULL;
    switch (req->kind) {
    case K_EXEC:
    case K_WORKLOAD_START:
        if (!read_exec_spec(&r, &req->exec)) why = "exec: malformed request";
        /* A newer host appends the workload's runtime settings; an older one sends none. */
        else if (req->kind == K_WORKLOAD_START && r.i < r.n && !(req->exec.settings = rd_list(&r))) why = "exec: malformed request";
        break;
    case K_WRITE_FILE:
        req->mode = rd_u32(&r);
        req->uid = rd_u32(&r);
        req->gid = rd_u32(&r);
        req->path = rd_str(&r);
        if (r.bad) why = "write-file: malformed request";
        break;
    case K_READ_FILE:
        req->max_bytes = rd_u64(&r);
        req->path = rd_str(&r);
        if (r.bad) why = "read-file: malformed request";
        break;
    case K_PORT_FORWARD:
        req->port = rd_u32(&r);
        if (r.bad) why = "port-forward: malformed request";
        break;
    case K_HOST_ACCEPT:
        req->port = rd_u32(&r);
        if (r.bad || req->port == 0 || req->port > 65535) why = "host-accept: malformed request";
        break;
    case K_WAIT_PORT:
        req->port = rd_u32(&r);
        req->timeout_ms = rd_u32(&r);
        if (r.bad || req->port == 0 || req->port > 65535) why = "wait-port: malformed request";
        break;
    case K_WORKLOAD_LOG:
        break; /* its u32 is reserved and not read */
    case K_SHUTDOWN:
        req->grace_ms = rd_u32(&r);
        if (r.bad) req->grace_ms = 0;
        if (req->grace_ms > 60000) req->grace_ms = 60000;
        break;
    case K_EXPORT_CHANGES:
        req->flags = rd_u32(&r);
        if (r.bad) why = "export-changes: malformed request";
        break;
    case K_NETWORK:
        req->lines = rd_list(&r);
        if (r.bad || !req->lines || !req->lines[0]) why = "network: malformed request";
        break;
    case K_MOUNT:
        req->flags = rd_u32(&r);
        req->timeout_ms = rd_u32(&r);
        req->source = rd_str(&r);
        req->fstype = rd_str(&r);
        req->path = rd_str(&r);
        req->options = rd_str(&r);
        if (r.bad || req->flags > (MOUNT_READ_ONLY | MOUNT_FRESH)) why = "mount: malformed request";
        break;
    default: why = open_unknown_kind;
    }
    if (why) open_request_free(req);
    return why;
}

void open_request_free(struct open_request *req)
{
    free(req->exec.cwd);
    free(req->exec.user);
    free_list(req->exec.settings);
    free_list(req->exec.argv);
    free_list(req->exec.env);
    free(req->path);
    free_list(req->lines);
    free(req->source);
    free(req->fstype);
    free(req->options);
    uint8_t kind = req->kind;
    memset(req, 0, sizeof *req);
    req->kind = kind;
}
