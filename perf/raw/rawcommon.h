/* rawcommon.h: the no-library baseline. Plain TCP or UNIX stream sockets
   carrying each message as <8-byte big-endian size><payload>, the framing
   femtomsg and nanomsg use on the wire, with a receiver that reads what
   the kernel has into one buffer and cuts messages out of it (large ones
   go straight into the destination). What a messaging library can at best
   approach with the same system calls. Addresses are written as for the
   libraries: tcp://host:port or ipc://path. */
#ifndef PERF_RAWCOMMON_H
#define PERF_RAWCOMMON_H

#include "../common.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

struct raw_addr {
    struct sockaddr_storage sa;
    socklen_t len;
    bool tcp;
};

static inline void raw_parse(const char *url, struct raw_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (strncmp(url, "ipc://", 6) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *) &a->sa;
        un->sun_family = AF_UNIX;
        if (strlen(url + 6) >= sizeof(un->sun_path))
            perf_die("ipc path too long: %s", url);
        strcpy(un->sun_path, url + 6);
        a->len = sizeof(*un);
        return;
    }
    if (strncmp(url, "tcp://", 6) != 0)
        perf_die("raw sockets take tcp:// or ipc:// addresses, not %s", url);
    char host[256];
    snprintf(host, sizeof(host), "%s", url + 6);
    char *colon = strrchr(host, ':');
    if (!colon)
        perf_die("no port in %s", url);
    *colon = '\0';
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
    if (strcmp(host, "*") == 0)
        snprintf(host, sizeof(host), "0.0.0.0");
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        perf_die("cannot resolve %s", url);
    memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
    a->len = res->ai_addrlen;
    a->tcp = true;
    freeaddrinfo(res);
}

static inline void raw_tune(int fd, bool tcp)
{
    int one = 1;
    if (tcp)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Bind, take one connection, stop listening. */
static inline int raw_accept_one(const char *url)
{
    struct raw_addr a;
    raw_parse(url, &a);
    int l = socket(a.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0)
        perf_die("socket: %s", strerror(errno));
    int one = 1;
    if (a.tcp)
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    else
        unlink(((struct sockaddr_un *) &a.sa)->sun_path);
    if (bind(l, (struct sockaddr *) &a.sa, a.len) != 0 || listen(l, 1) != 0)
        perf_die("bind %s: %s", url, strerror(errno));
    int fd = accept(l, NULL, NULL);
    if (fd < 0)
        perf_die("accept: %s", strerror(errno));
    close(l);
    if (!a.tcp)
        unlink(((struct sockaddr_un *) &a.sa)->sun_path);
    raw_tune(fd, a.tcp);
    return fd;
}

/* Connect, retrying for a while: the listener may not be up yet. */
static inline int raw_connect(const char *url)
{
    struct raw_addr a;
    raw_parse(url, &a);
    uint64_t give_up = perf_now_ns() + 10000000000ull;
    for (;;) {
        int fd = socket(a.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            perf_die("socket: %s", strerror(errno));
        raw_tune(fd, a.tcp);
        if (connect(fd, (struct sockaddr *) &a.sa, a.len) == 0)
            return fd;
        close(fd);
        if (perf_now_ns() > give_up)
            perf_die("connect %s: %s", url, strerror(errno));
        usleep(2000);
    }
}

static inline void raw_put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t) v;
}

static inline uint64_t raw_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* Write all of iov (one writev in the common case). */
static inline void raw_writev_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            perf_die("write: %s", strerror(errno));
        }
        while (n > 0 && (size_t) w >= iov->iov_len) {
            w -= (ssize_t) iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *) iov->iov_base + w;
            iov->iov_len -= (size_t) w;
        }
    }
}

/* One message, one system call. */
static inline void raw_send(int fd, const void *buf, size_t size)
{
    uint8_t pfx[8];
    raw_put64(pfx, size);
    struct iovec iov[2] = {{pfx, 8}, {(void *) buf, size}};
    raw_writev_all(fd, iov, size ? 2 : 1);
}

/* Batching sender: small messages are gathered into one buffer and written
   when it fills (or on flush); large ones go out directly. */
#define RAW_BATCH_CAP (128 * 1024)
struct raw_batch {
    int fd;
    size_t len;
    uint8_t buf[RAW_BATCH_CAP];
};

static inline void raw_batch_flush(struct raw_batch *b)
{
    if (b->len) {
        struct iovec iov = {b->buf, b->len};
        raw_writev_all(b->fd, &iov, 1);
        b->len = 0;
    }
}

static inline void raw_batch_send(struct raw_batch *b, const void *buf, size_t size)
{
    if (size + 8 > RAW_BATCH_CAP / 2) {
        raw_batch_flush(b);
        raw_send(b->fd, buf, size);
        return;
    }
    if (b->len + 8 + size > RAW_BATCH_CAP)
        raw_batch_flush(b);
    raw_put64(b->buf + b->len, size);
    memcpy(b->buf + b->len + 8, buf, size);
    b->len += 8 + size;
}

/* Buffered receiver. */
#define RAW_RBUF_CAP (256 * 1024)
struct raw_reader {
    int fd;
    size_t lo, hi;
    uint8_t buf[RAW_RBUF_CAP];
};

static inline void raw_fill(struct raw_reader *r)
{
    if (r->lo == r->hi)
        r->lo = r->hi = 0;
    else if (r->hi == RAW_RBUF_CAP) {
        memmove(r->buf, r->buf + r->lo, r->hi - r->lo);
        r->hi -= r->lo;
        r->lo = 0;
    }
    ssize_t n;
    do
        n = read(r->fd, r->buf + r->hi, RAW_RBUF_CAP - r->hi);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        perf_die("read: %s", n ? strerror(errno) : "connection closed");
    r->hi += (size_t) n;
}

/* Receive one message into dst (at most cap bytes); returns its size. */
static inline size_t raw_recv(struct raw_reader *r, void *dst, size_t cap)
{
    while (r->hi - r->lo < 8)
        raw_fill(r);
    uint64_t size = raw_get64(r->buf + r->lo);
    r->lo += 8;
    if (size > cap)
        perf_die("message of %llu bytes, buffer of %zu", (unsigned long long) size, cap);
    size_t have = r->hi - r->lo < size ? r->hi - r->lo : (size_t) size;
    memcpy(dst, r->buf + r->lo, have);
    r->lo += have;
    while (have < size) {
        ssize_t n = read(r->fd, (uint8_t *) dst + have, (size_t) size - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            perf_die("read: %s", n ? strerror(errno) : "connection closed");
        have += (size_t) n;
    }
    return (size_t) size;
}

static inline void *raw_buf(size_t size)
{
    char *b = malloc(size ? size : 1);
    if (!b)
        perf_die("out of memory");
    memset(b, 111, size);
    return b;
}

static inline struct raw_reader *raw_reader_new(int fd)
{
    struct raw_reader *r = calloc(1, sizeof(*r));
    if (!r)
        perf_die("out of memory");
    r->fd = fd;
    return r;
}

static inline void raw_recv_exact(struct raw_reader *r, void *dst, size_t size)
{
    size_t n = raw_recv(r, dst, size);
    if (n != size)
        perf_die("got %zu bytes, wanted %zu", n, size);
}

#endif
