/*
 * libFuzzer harness for the agent's frame parser (frame.c): the bytes a hostile host, or
 * anything else that reaches the agent's port, can send. Built and run by run.sh.
 *
 * One input is scanned twice, the way the agent sees a byte stream: once whole, once cut into
 * chunks (sizes taken from the input's first byte) that arrive one after another, each scan
 * seeing only the bytes not consumed yet, in a buffer of exactly that size so that any read
 * past its end is caught by AddressSanitizer. Each well-formed frame is checked as the agent
 * checks it (frame_check_from_host) and an OPEN is decoded (open_request_decode) and freed, so
 * LeakSanitizer sees a request decoder that leaks.
 *
 * Beyond "no crash, no leak, no undefined behaviour" it asserts:
 * - a scan consumes at most what it was given, and what it leaves is less than one largest
 *   frame (the agent's input queue stays bounded whatever arrives);
 * - every frame handed out lies inside the buffer and is no longer than MAX_PAYLOAD;
 * - a decoded request's strings are NUL-free and within MAX_STRING, its lists within MAX_LIST;
 * - the frames and errors seen do not depend on how the stream was cut.
 */
#include "agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "fuzz_frames: %s:%d: %s\n", __FILE__, __LINE__, #cond); abort(); } } while (0)

struct run {
    struct frame_reader fr;
    const uint8_t *lo, *hi;     /* the buffer being scanned */
    uint64_t hash;              /* of every frame and error, in order */
    size_t frames, errors;
};

static void mix(struct run *r, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) r->hash = (r->hash ^ b[i]) * 0x100000001b3ull; /* FNV-1a */
}

static void check_string(const char *s)
{
    CHECK(s != NULL);
    CHECK(strlen(s) <= MAX_STRING);
}

static void check_list(char **l)
{
    CHECK(l != NULL);
    CHECK(list_len(l) <= MAX_LIST);
    for (size_t i = 0; l[i]; i++) check_string(l[i]);
}

static void check_request(const struct open_request *q)
{
    switch (q->kind) {
    case K_EXEC:
    case K_WORKLOAD_START:
        check_string(q->exec.cwd);
        check_string(q->exec.user);
        check_list(q->exec.argv);
        check_list(q->exec.env);
        if (q->exec.settings) { CHECK(q->kind == K_WORKLOAD_START); check_list(q->exec.settings); }
        break;
    case K_WRITE_FILE:
    case K_READ_FILE: check_string(q->path); break;
    case K_MOUNT:
        check_string(q->path); check_string(q->source); check_string(q->fstype); check_string(q->options);
        CHECK(q->flags <= (MOUNT_READ_ONLY | MOUNT_FRESH));
        break;
    case K_WAIT_PORT:
    case K_HOST_ACCEPT: CHECK(q->port >= 1 && q->port <= 65535); break;
    case K_SHUTDOWN: CHECK(q->grace_ms <= 60000); break;
    case K_PORT_FORWARD:
    case K_WORKLOAD_LOG:
    case K_EXPORT_CHANGES: break;
    case K_NETWORK: CHECK(q->lines && q->lines[0]); check_list(q->lines); break;
    default: CHECK(!"a request of an unknown kind was accepted");
    }
}

static void on_frame(const struct frame *f, void *ctx)
{
    struct run *r = ctx;
    CHECK(f->len <= MAX_PAYLOAD);
    CHECK(f->payload - HEADER_SIZE >= r->lo && f->payload + f->len <= r->hi);
    CHECK(f->type >= F_HELLO && f->type <= F_ABORT);
    r->frames++;
    uint32_t head[4] = { f->type, f->channel, f->stream, f->len };
    mix(r, head, sizeof head);
    mix(r, f->payload, f->len);
    const char *why = frame_check_from_host(f);
    if (why) {
        /* The agent answers with a protocol error and skips to the next HELLO. */
        mix(r, why, strlen(why));
        r->fr.resyncing = 1;
        return;
    }
    if (f->type != F_OPEN) return;
    struct open_request q;
    why = open_request_decode(f->payload, f->len, &q);
    if (why) {
        mix(r, why, strlen(why));
        CHECK(q.exec.argv == NULL && q.exec.env == NULL && q.exec.settings == NULL && q.path == NULL);
        return;
    }
    check_request(&q);
    open_request_free(&q);
}

static void on_error(const char *why, void *ctx)
{
    struct run *r = ctx;
    r->errors++;
    mix(r, why, strlen(why));
}

/* Scans data as a stream arriving in chunks of the sizes step() gives; returns the run. */
static struct run scan_stream(const uint8_t *data, size_t size, unsigned seed)
{
    struct run r = { .hash = 0xcbf29ce484222325ull };
    uint8_t *pending = NULL;
    size_t have = 0, fed = 0;
    while (fed < size || have) {
        size_t step = seed ? 1 + (size_t)(seed * (fed + 7) % 4099) : size;
        if (step > size - fed) step = size - fed;
        uint8_t *buf = malloc(have + step ? have + step : 1);
        CHECK(buf != NULL);
        if (have) memcpy(buf, pending, have);
        memcpy(buf + have, data + fed, step);
        free(pending);
        fed += step;
        size_t n = have + step;
        r.lo = buf;
        r.hi = buf + n;
        size_t used = frame_scan(&r.fr, buf, n, on_frame, on_error, &r);
        CHECK(used <= n);
        have = n - used;
        CHECK(have < HEADER_SIZE + MAX_PAYLOAD);
        pending = malloc(have ? have : 1);
        CHECK(pending != NULL);
        memcpy(pending, buf + used, have);
        free(buf);
        if (fed == size) break; /* the rest waits for bytes that never come */
    }
    free(pending);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned seed = data[0] | 1u;
    data++;
    size--;
    struct run whole = scan_stream(data, size, 0);
    struct run chunked = scan_stream(data, size, seed);
    CHECK(whole.frames == chunked.frames);
    CHECK(whole.errors == chunked.errors);
    CHECK(whole.hash == chunked.hash);
    return 0;
}
