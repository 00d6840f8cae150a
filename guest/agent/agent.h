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
 *
 * The sources, one concern each, share this header and build with one compiler call (build.sh):
 *   util.c        logging, allocation, byte queues, string lists
 *   frame.c       the frame parser and request decoders: pure functions over a buffer (fuzzed)
 *   protocol.c    the channel to the host, the stream table, credit, dispatch of host frames
 *   operations.c  opening streams: write/read file, port forward, wait port, log, shutdown
 *   users.c       passwd/group lookup
 *   spawn.c       starting processes (exec, the workload): env, cwd, user; the workload log
 *   export.c      EXPORT_CHANGES: the overlay's upper directory as an OCI layer tar
 *   network.c     the NICs: the NAT's from the kernel command line, the private network's on request
 *   runtime.c     Docker's runtime defaults: hostname and hosts, rlimits, /dev/shm, cgroup2, /run
 *   serve.c       the poll loop: producers, consumers, timers
 *   init.c        PID 1: mounts, modules, reaping, signals, power-off; main()
 */
#ifndef SM_AGENT_H
#define SM_AGENT_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AGENT_VERSION "1"
#define PROTOCOL_VERSION 1u
#define FRAME_MAGIC 0x4D53u /* "SM" little endian */
#define HEADER_SIZE 12
#define HELLO_SIZE 24 /* the host's HELLO payload */
#define MAX_PAYLOAD 65536u
#define INITIAL_WINDOW (256u * 1024u)
#define CHUNK 32768u
#define OUTQ_HIGH (512u * 1024u) /* stop reading producers while this much waits for the host */
#define MAX_STREAMS 512
#define LOG_CAPACITY (1u << 20)
#define MAX_STRING 65536u
#define MAX_LIST 4096u
#define EXEC_REPLACE_ENV 1u

enum frame_type { F_HELLO = 1, F_OPEN, F_DATA, F_CLOSE, F_WINDOW, F_EXIT, F_SIGNAL, F_ERROR, F_ABORT };
enum open_kind { K_EXEC = 1, K_WRITE_FILE, K_READ_FILE, K_PORT_FORWARD, K_WAIT_PORT, K_WORKLOAD_LOG, K_WORKLOAD_START, K_SHUTDOWN, K_EXPORT_CHANGES, K_HOST_ACCEPT, K_NETWORK, K_MOUNT };
enum exit_flags { X_TIMED_OUT = 1, X_WORKLOAD_RUNNING = 2, X_WORKLOAD_EXITED = 4, X_LOG_TRUNCATED = 8 };
enum hello_flags { H_PID1 = 1, H_WORKLOAD_RUNNING = 2, H_WORKLOAD_EXITED = 4 };

static inline void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static inline uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static inline uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

/* ---------- util.c ---------- */

void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
int64_t now_ms(void);
void set_nonblock(int fd);
/* Finds the entry of dir (a sysfs class or /sys/block) named prefix* whose attribute file reads value; writes /dev/NAME. */
int find_sysfs_device(const char *dir, const char *prefix, const char *attribute, const char *value, char *dev, size_t size);
void close_fd(int *fd);

/* A growable byte queue: data lives in p[off..len). */
struct buf { uint8_t *p; size_t off, len, cap; };
size_t buf_size(const struct buf *b);
void buf_append(struct buf *b, const void *data, size_t n);
void buf_consume(struct buf *b, size_t n);
void buf_free(struct buf *b);

/* NULL-terminated lists of strings (argv, env). */
void free_list(char **l);
size_t list_len(char **l);
char **list_copy(char **l);

/* ---------- frame.c: pure functions over untrusted bytes ---------- */

/* One frame as it arrived; payload points into the caller's buffer. */
struct frame { uint32_t type, channel, stream, len; const uint8_t *payload; };

/*
 * Scanner state across calls. After a malformed frame (or a protocol error the caller reports
 * by setting resyncing) input is skipped up to the next HELLO header.
 */
struct frame_reader { int resyncing; };

/*
 * Takes the complete frames at the start of buf[0..n): hands each well-formed one to on_frame
 * and the reason for each malformed one to on_error, and returns how many bytes it consumed
 * (what remains is the start of a frame not yet complete). It reads nothing outside buf,
 * allocates nothing, and checks a frame's length against MAX_PAYLOAD before waiting for it.
 */
size_t frame_scan(struct frame_reader *fr, const uint8_t *buf, size_t n,
                  void (*on_frame)(const struct frame *f, void *ctx), void (*on_error)(const char *why, void *ctx), void *ctx);

/*
 * Checks the shape of a frame the host sent: a type the host may send, on channel 0, the stream
 * 0 only for HELLO and SIGNAL, a fixed-size payload where the type has one, a signal number in
 * 1..64. Returns NULL, or why it is a protocol error.
 */
const char *frame_check_from_host(const struct frame *f);

/* Reader over an untrusted payload: every read is bounds-checked, failure is sticky. */
struct rd { const uint8_t *p; size_t n, i; int bad; };
uint32_t rd_u32(struct rd *r);
uint64_t rd_u64(struct rd *r);
char *rd_str(struct rd *r);
char **rd_list(struct rd *r);

struct exec_spec {
    uint32_t flags, timeout_ms; char *cwd, *user; char **argv, **env;
    char **settings; /* WORKLOAD_START only, optional: runtime settings (runtime.c) */
};

/* An OPEN request, decoded; strings are owned (open_request_free). */
struct open_request {
    uint8_t kind;
    struct exec_spec exec;                              /* EXEC, WORKLOAD_START */
    uint32_t mode, uid, gid;                            /* WRITE_FILE */
    uint64_t max_bytes;                                 /* READ_FILE */
    char *path;                                         /* WRITE_FILE, READ_FILE, MOUNT */
    uint32_t port, timeout_ms;                          /* PORT_FORWARD, WAIT_PORT, HOST_ACCEPT; MOUNT's timeout */
    uint32_t flags;                                     /* EXPORT_CHANGES, MOUNT */
    char *source, *fstype, *options;                    /* MOUNT (path is its target) */
    uint32_t grace_ms;                                  /* SHUTDOWN, at most 60000 */
    char **lines;                                       /* NETWORK: identity, then hosts lines */
};

/* What open_request_decode returns for a kind it does not know (the caller names the kind). */
extern const char open_unknown_kind[];

/* Decodes an OPEN payload. Returns NULL, or why it is refused, having freed what it allocated. */
const char *open_request_decode(const uint8_t *p, size_t n, struct open_request *req);
void open_request_free(struct open_request *req);

/* ---------- protocol.c: the channel, the stream table, credit, host frames ---------- */

extern int chan_fd;
extern int listen_fd;           /* host test mode: where the next host connection comes from */
extern int chan_up;             /* 0 while the host end is disconnected (virtio port closed) */
extern int64_t chan_retry_at;
extern struct buf inq, outq;

void send_frame(uint32_t type, uint32_t ch, uint32_t stream, const void *payload, size_t n);
void send_error(uint32_t stream, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void send_exit(uint32_t stream, int code, int sig, uint32_t flags);
void channel_lost(void);
void flush_blocking(void);
void parse_input(void);

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
    uint32_t log_state;     /* workload log: the workload's flags when source was taken */
    int log_code, log_sig;  /* ... and its exit code and signal then, sent with them */
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
    int accepting;          /* host accept: waiting for a guest connection on the port's listener */
    uint32_t port;
    char *tmp_path, *final_path;
    uint32_t mode;
    int uid, gid;
};

extern struct stream streams[MAX_STREAMS];

struct stream *new_stream(uint32_t id, int kind);
void free_stream(struct stream *s);
void fail_stream(struct stream *s, int err, const char *what);
void grant(struct stream *s, size_t n, int force);

/* ---------- operations.c: opening streams ---------- */

extern int shutting_down;
extern int64_t shutdown_deadline;
extern uint32_t shutdown_stream;

void open_stream(uint32_t id, const uint8_t *p, size_t n);
void finish_write_file(struct stream *s);
int port_listening(uint32_t port);

/* ---------- users.c ---------- */

struct ids { uid_t uid; gid_t gid; gid_t groups[64]; int ngroups; char home[256]; };

/* Resolves "user", "uid", "user:group", "uid:gid" the way runc does; returns 0 or an errno. */
int resolve_user(const char *spec, struct ids *ids);

/* ---------- spawn.c: processes, the workload and its log ---------- */

struct workload {
    pid_t pid;
    int running, exited, code, sig;
    char **env;      /* the workload's environment: execs inherit it */
    char *user, *cwd;
    int out_fd[2];
};
extern struct workload wl;
extern uint8_t *logring;
extern uint64_t log_total;      /* bytes ever written; ring holds the last LOG_CAPACITY */

void log_append(const uint8_t *p, size_t n);
void drain_workload_output(void);
uint32_t workload_flags(void);
void open_exec(uint32_t id, struct exec_spec *e);
void start_workload(uint32_t id, struct exec_spec *e);

/* ---------- task.c: work done by a forked child (EXPORT_CHANGES, MOUNT) ---------- */

static inline int is_task(const struct stream *s) { return s->kind == K_EXPORT_CHANGES || s->kind == K_MOUNT; }
/* Opens a task stream whose child runs run(out, err, ctx) with only out, err and keep_fd (or -1) open, then exits 0. */
void start_task(uint32_t id, int kind, int keep_fd, void (*run)(int out, int err, void *ctx), void *ctx);

/* ---------- mount.c ---------- */

#define MOUNT_READ_ONLY 1u
#define MOUNT_FRESH 2u
void open_mount(uint32_t id, struct open_request *req);

/* ---------- export.c ---------- */

extern int upper_fd;            /* the overlay's upper directory, or -1 */
void open_export_changes(uint32_t id, uint32_t flags);

/* ---------- network.c ---------- */

/* Configures the NIC the host described on the kernel command line (sm.net=), if any. */
void network_setup(void);

/* The guest address of host.supermachine.internal: the agent listens there for host ports. */
#define HOST_ALIAS_ADDR "127.0.0.2"

/* HOST_ACCEPT: a stream that becomes the next guest connection to HOST_ALIAS_ADDR:port. */
void open_host_accept(uint32_t id, uint32_t port);
/* The listener of port (made on first use), or -1. */
int host_listener(uint32_t port);
/* Closes every listener: a new host decides afresh which host ports it offers. */
void host_listeners_close(void);
/* Takes the stream's connection from its listener, if one is waiting; sends the OPEN ack. */
void host_accept_ready(struct stream *s);
/* NETWORK: joins (or leaves, with an empty identity) the private network on the second NIC. */
void open_network(uint32_t id, char **lines);

/* ---------- runtime.c ---------- */

/* As PID 1 after the chroot: rlimits, /dev/shm (64 MiB), cgroup2 (read-only), /run, the hostname. */
void runtime_boot(void);
/* The host's workload settings ("hostname=NAME", "shm_mib=N"); NULL, or why one is refused. */
const char *runtime_apply(char **settings);
/* Is upper entry prefix+name a file the agent wrote for the running guest, unchanged since? */
struct stat;
int runtime_owns(int dfd, const char *prefix, const char *name, const struct stat *st);
/* Records that the agent wrote /etc/NAME (resolv.conf, ...) with TEXT, so no export takes it while unchanged. */
void note_agent_file(const char *name, const char *text);
/* RFC 1123 labels, at most 64 bytes in all. */
int valid_hostname(const char *name);
/* Replaces the private network's lines of /etc/hosts ("ADDRESS\tNAME..." each, NULL for none). */
void runtime_set_network_hosts(char **lines);

/* ---------- serve.c ---------- */

void serve(void);

/* ---------- init.c ---------- */

extern int pid1;
extern int sig_fd;

void reap(void);
void on_signal(void);
void power_off(void) __attribute__((noreturn));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
