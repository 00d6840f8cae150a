/*
 * Starting processes: an exec stream's command or the workload, each in its own session with
 * the environment, directory and user docker exec would give it; and the workload's state and
 * the ring that keeps the last LOG_CAPACITY bytes of its output.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static const char *DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/* ---------- the workload and its log ---------- */

struct workload wl = { .out_fd = { -1, -1 } };
uint8_t *logring;
uint64_t log_total;

void log_append(const uint8_t *p, size_t n)
{
    if (!logring) logring = xrealloc(NULL, LOG_CAPACITY);
    for (size_t i = 0; i < n; i++) logring[(log_total + i) % LOG_CAPACITY] = p[i];
    log_total += n;
}

/* Takes what the workload wrote before it exited into the log, so "exited" is never reported
 * ahead of its last words (a log read between the reap and the next poll would miss them).
 * Bounded: a pipe holds at most its buffer, and an orphan still writing is left to the poll. */
void drain_workload_output(void)
{
    uint8_t buf[16384];
    for (int c = 0; c < 2; c++) {
        for (int rounds = 0; wl.out_fd[c] >= 0 && rounds < 64; rounds++) {
            ssize_t r = read(wl.out_fd[c], buf, sizeof buf);
            if (r > 0) { log_append(buf, (size_t)r); continue; }
            if (r == 0 || (errno != EAGAIN && errno != EINTR)) close_fd(&wl.out_fd[c]);
            break;
        }
    }
}

uint32_t workload_flags(void)
{
    return (wl.running ? X_WORKLOAD_RUNNING : 0) | (wl.exited ? X_WORKLOAD_EXITED : 0);
}

/* ---------- environment ---------- */

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

/* ---------- exec and the workload ---------- */

void open_exec(uint32_t id, struct exec_spec *e)
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

void start_workload(uint32_t id, struct exec_spec *e)
{
    if (wl.running) { send_error(id, EBUSY, "the workload is already running (pid %d)", wl.pid); return; }
    struct ids ids;
    int err = resolve_user(e->user, &ids);
    if (err) { send_error(id, err, "workload: user '%s' not found in /etc/passwd or /etc/group", e->user); return; }
    const char *why = runtime_apply(e->settings);
    if (why) { send_error(id, EINVAL, "workload: %s", why); return; }
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
