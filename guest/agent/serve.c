/*
 * The agent's one loop: poll the channel, the signalfd, the workload's output and every
 * stream's descriptors; move bytes as far as windows and the host's reading allow; end streams
 * whose work is done; fire timers.
 */
#include "agent.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Sends what the stream's producers have, as far as the window and the host's reading allow. */
static void pump_stream(struct stream *s, const struct pollfd *pf0, const struct pollfd *pf1)
{
    static uint8_t chunk[CHUNK];
    for (int c = 0; c < 2; c++) {
        const struct pollfd *pf = c ? pf1 : pf0;
        if (s->out_fd[c] < 0 || !pf || !(pf->revents & (POLLIN | POLLHUP | POLLERR))) continue;
        if (s->connecting) continue;
        /* A task child's error text is kept for its ERROR, not sent: no window needed. */
        int kept = is_task(s) && c == 1;
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
    } else if (is_task(s) && s->reaped && s->out_fd[0] < 0 && s->out_fd[1] < 0) {
        int st = s->status;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) send_exit(s->id, 0, 0, 0);
        else if (WIFEXITED(st))
            send_error(s->id, WEXITSTATUS(st), "%.*s", (int)buf_size(&s->source), (const char *)s->source.p + s->source.off);
        else send_error(s->id, EINTR, "the agent's worker process was killed by signal %d", WTERMSIG(st));
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
                send_exit(s->id, s->log_code, s->log_sig, s->log_state);
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

void serve(void)
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
            if (s->accepting) {
                int fd = host_listener(s->port);
                if (fd >= 0) {
                    pfs[n] = (struct pollfd){ fd, POLLIN, 0 };
                    who[n].stream = i; who[n].gen = s->gen; who[n++].ch = 10;
                }
                continue;
            }
            if (s->connecting) {
                pfs[n] = (struct pollfd){ s->sock, POLLOUT, 0 };
                who[n].stream = i; who[n].gen = s->gen; who[n++].ch = 9;
                continue;
            }
            for (int c = 0; c < 2; c++)
                if (s->out_fd[c] >= 0 && ((s->send_window > 0 && producers_ok) || (is_task(s) && c == 1))) {
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
                if (c == 10) { if (s->accepting) host_accept_ready(s); continue; }
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
            if (s->used && !s->connecting && !s->accepting && (s->kind == K_EXEC || s->kind == K_PORT_FORWARD)) drain_pending(s);
        }
        if (chan_fd >= 0 && chan_up && buf_size(&outq)) {
            ssize_t wr = write(chan_fd, outq.p + outq.off, buf_size(&outq));
            if (wr > 0) buf_consume(&outq, (size_t)wr);
        }
    }
}
