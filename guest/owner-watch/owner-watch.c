/*
 * owner-watch: runs a command (QEMU) and kills it when its owner goes away.
 *
 *   owner-watch PROGRAM [ARGS...]
 *
 * The owner (the .NET process) holds the write end of our stdin pipe and never writes to it.
 * When the owner dies for any reason, SIGKILL included, the kernel closes that pipe and our
 * read() returns 0: we then SIGKILL the child and exit. .NET cannot run code between fork and
 * exec, and PR_SET_PDEATHSIG follows the parent *thread* (a thread-pool thread that may exit
 * at any time), so the watch has to live in a single-threaded process of its own. The child
 * gets PR_SET_PDEATHSIG against us, which is safe because we have one thread: if we are killed,
 * it dies too. When the child exits by itself we exit with its status (128+signal if killed).
 * The child's stdin is /dev/null; stdout/stderr are inherited.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

static int exit_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 125;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: owner-watch PROGRAM [ARGS...]\n");
        return 125;
    }

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0) {
        perror("owner-watch: sigprocmask");
        return 125;
    }
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sfd < 0) {
        perror("owner-watch: signalfd");
        return 125;
    }
    pid_t self = getpid();

    pid_t child = fork();
    if (child < 0) {
        perror("owner-watch: fork");
        return 125;
    }
    if (child == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != self)
            _exit(125); /* we died between fork and prctl */
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, 0);
            if (devnull > 0)
                close(devnull);
        }
        execvp(argv[1], argv + 1);
        fprintf(stderr, "owner-watch: cannot run %s: %s\n", argv[1], strerror(errno));
        _exit(127);
    }

    struct pollfd fds[2] = { { .fd = 0, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGCHLD) {
                /* Asked to stop: pass it on, then keep waiting for the child to exit. */
                kill(child, (int)si.ssi_signo);
            }
            int status;
            if (waitpid(child, &status, WNOHANG) == child)
                return exit_status(status);
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
            char buf[64];
            ssize_t n = read(0, buf, sizeof buf);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) || (fds[0].revents & POLLNVAL)) {
                break; /* the owner is gone */
            }
        }
    }
    kill(child, SIGKILL);
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return 137;
}
