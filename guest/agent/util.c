/* Small helpers every part of the agent uses: logging, allocation that cannot fail, byte queues, lists. */
#include "agent.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void logmsg(const char *fmt, ...)
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

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) { logmsg("out of memory"); _exit(111); }
    return q;
}

char *xstrdup(const char *s) { char *d = strdup(s); if (!d) { logmsg("out of memory"); _exit(111); } return d; }

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

size_t buf_size(const struct buf *b) { return b->len - b->off; }

void buf_append(struct buf *b, const void *data, size_t n)
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

void buf_consume(struct buf *b, size_t n)
{
    b->off += n;
    if (b->off == b->len) b->off = b->len = 0;
}

void buf_free(struct buf *b) { free(b->p); memset(b, 0, sizeof *b); }

void free_list(char **l)
{
    if (!l) return;
    for (char **p = l; *p; p++) free(*p);
    free(l);
}

size_t list_len(char **l) { size_t n = 0; while (l && l[n]) n++; return n; }

char **list_copy(char **l)
{
    size_t n = list_len(l);
    char **c = xrealloc(NULL, (n + 1) * sizeof *c);
    for (size_t i = 0; i < n; i++) c[i] = xstrdup(l[i]);
    c[n] = NULL;
    return c;
}

void close_fd(int *fd) { if (*fd >= 0) { close(*fd); *fd = -1; } }

int find_sysfs_device(const char *dir, const char *prefix, const char *attribute, const char *value, char *dev, size_t size)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d))) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
        char path[512], text[128] = "";
        snprintf(path, sizeof path, "%s/%s/%s", dir, e->d_name, attribute);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = read(fd, text, sizeof text - 1);
        close(fd);
        if (n <= 0) continue;
        text[n] = 0;
        text[strcspn(text, "\n")] = 0;
        if (strcmp(text, value) == 0) {
            snprintf(dev, size, "/dev/%s", e->d_name);
            found = 1;
        }
    }
    closedir(d);
    return found;
}
