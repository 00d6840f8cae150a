/*
 * Task streams: work the agent hands to a forked child so its loop keeps serving (EXPORT_CHANGES,
 * MOUNT). The child writes its result on stdout (DATA on 1, within the window) and its error text
 * on stderr, which is kept, not sent, for the ERROR that carries the child's exit code as errno.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static int cmp_ints(const void *a, const void *b) { int x = *(const int *)a, y = *(const int *)b; return (x > y) - (x < y); }

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

void start_task(uint32_t id, int kind, int keep_fd, void (*run)(int out, int err, void *ctx), void *ctx)
{
    struct stream *s = new_stream(id, kind);
    if (!s) { send_error(id, EMFILE, "too many streams"); return; }
    int dp[2], ep[2];
    if (pipe2(dp, O_CLOEXEC) < 0) { fail_stream(s, errno, "task pipe"); return; }
    if (pipe2(ep, O_CLOEXEC) < 0) { int err = errno; close(dp[0]); close(dp[1]); fail_stream(s, err, "task pipe"); return; }
    fcntl(dp[1], F_SETPIPE_SZ, 1 << 20);
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(dp[0]); close(dp[1]); close(ep[0]); close(ep[1]);
        fail_stream(s, err, "task fork");
        return;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < 32; sig++) signal(sig, SIG_DFL);
        setsid(); /* its own group: ABORT, a new HELLO and shutdown kill it like an exec */
        int keep[3] = { dp[1], ep[1], keep_fd };
        close_other_fds(keep, keep_fd >= 0 ? 3 : 2);
        run(dp[1], ep[1], ctx);
        _exit(0);
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
