/* test_rx_stall.c: the receive-stall deadline, over tcp, ipc and ws, with
   FM_RX_STALL_MS set small here. A raw peer that sends half a message (or,
   on ws, half a frame, or the first frame of a fragmented message) and
   then goes silent is dropped after the interval, counted as broken
   whether accepted or dialled (the dialler then dials again); the
   socket serves its other connection meanwhile. Not dropped: a peer that
   sends a large message a few bytes every 100 ms for several intervals,
   and a connection holding part of a message while it is paused because
   the application does not read (our backpressure, not the peer's stall). */
#include "testutil.h"
#include "rawsock.h"

#include "../src/transports/ws_codec.c" /* the accept value, for the raw ws server */

#include <nanomsg/pipeline.h>
#include <nanomsg/ws.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define STALL_MS 1500

enum kind { K_TCP, K_IPC, K_WS };
static const char *const kind_name[] = {"tcp", "ipc", "ws"};

struct target {
    enum kind kind;
    int port;
    char path[108];
    char addr[NN_SOCKADDR_MAX + 1];
};

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

static int64_t stat_of(int s, int which) { return (int64_t) nn_get_statistic(s, which); }

static int next_port(void)
{
    static int port;
    if (!port)
        port = 20000 + (int) ((unsigned) getpid() * 71u % 12000u);
    int p = port++;
    if (port >= 32000)
        port = 20000;
    return p;
}

static void bind_target(int s, enum kind kind, struct target *t)
{
    static int seq;
    memset(t, 0, sizeof(*t));
    t->kind = kind;
    if (kind == K_IPC) {
        snprintf(t->path, sizeof(t->path), "/tmp/fm-test-stall-%d-%d.ipc", (int) getpid(), seq++);
        unlink(t->path);
        snprintf(t->addr, sizeof(t->addr), "ipc://%s", t->path);
        CHECK(nn_bind(s, t->addr) >= 0);
        return;
    }
    for (int i = 0; i < 500; i++) {
        t->port = next_port();
        snprintf(t->addr, sizeof(t->addr), kind == K_WS ? "ws://127.0.0.1:%d/s" : "tcp://127.0.0.1:%d",
                 t->port);
        if (nn_bind(s, t->addr) >= 0)
            return;
        CHECK(errno == EADDRINUSE);
    }
    CHECK(!"no free port");
}

static bool read_head(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        if (!raw_read(fd, buf + n, 1, 10))
            return false;
        buf[++n] = '\0';
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
            return true;
    }
    return false;
}

static int raw_connect(const struct target *t)
{
    int fd;
    if (t->kind == K_IPC) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", t->path);
        if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0) {
            close(fd);
            return -1;
        }
        return fd;
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t) t->port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static const uint8_t sp_push[8] = {0, 'S', 'P', 0, 0x00, 0x50, 0, 0};

/* A raw PUSH peer connected to the PULL at t, past the handshake. */
static int raw_push(const struct target *t)
{
    int fd = raw_connect(t);
    CHECK(fd >= 0);
    if (t->kind == K_WS) {
        const char *req = "GET /s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Protocol: pull.sp.nanomsg.org\r\n\r\n";
        raw_send(fd, req, strlen(req));
        char head[2048];
        CHECK(read_head(fd, head, sizeof(head)) && strncmp(head, "HTTP/1.1 101 ", 13) == 0);
        return fd;
    }
    raw_send(fd, sp_push, 8);
    uint8_t h[8];
    CHECK(raw_read(fd, h, 8, 10));
    return fd;
}

/* The start of a message of size bytes, then its first n payload bytes.
   A ws client masks, with a zero key here, so the payload goes as is. */
static void start_msg(enum kind kind, int fd, bool client, uint64_t size, const void *data, size_t n)
{
    uint8_t h[16];
    size_t hl = 0;
    if (kind == K_WS) {
        h[hl++] = 0x82;
        uint8_t m = client ? 0x80 : 0;
        if (size <= 125) {
            h[hl++] = (uint8_t) (m | size);
        } else if (size <= 65535) {
            h[hl++] = m | 126;
            h[hl++] = (uint8_t) (size >> 8);
            h[hl++] = (uint8_t) size;
        } else {
            h[hl++] = m | 127;
            for (int i = 7; i >= 0; i--)
                h[hl++] = (uint8_t) (size >> (8 * i));
        }
        if (client)
            for (int i = 0; i < 4; i++)
                h[hl++] = 0;
    } else {
        if (kind == K_IPC)
            h[hl++] = 0x01;
        for (int i = 7; i >= 0; i--)
            h[hl++] = (uint8_t) (size >> (8 * i));
    }
    raw_send(fd, h, hl);
    if (n)
        raw_send(fd, data, n);
}

/* The well-behaved side: a femtomsg PUSH connected to the PULL. */
struct bench {
    struct target t;
    int pull, push;
};

static bool still_works(struct bench *b)
{
    if (nn_send(b->push, "alive", 5, 0) != 5)
        return false;
    char got[16];
    return nn_recv(b->pull, got, sizeof(got), 0) == 5 && memcmp(got, "alive", 5) == 0;
}

static void bench_open(struct bench *b, enum kind kind, int rcvbuf)
{
    b->pull = nn_socket(AF_SP, NN_PULL);
    b->push = nn_socket(AF_SP, NN_PUSH);
    CHECK(b->pull >= 0 && b->push >= 0);
    set_int(b->pull, NN_RCVTIMEO, 10000);
    set_int(b->push, NN_SNDTIMEO, 10000);
    if (rcvbuf)
        set_int(b->pull, NN_RCVBUF, rcvbuf);
    bind_target(b->pull, kind, &b->t);
    CHECK(nn_connect(b->push, b->t.addr) >= 0);
    CHECK(still_works(b));
}

static void bench_close(struct bench *b)
{
    /* The good connection was never the one dropped. */
    CHECK(stat_of(b->push, NN_STAT_BROKEN_CONNECTIONS) == 0);
    nn_close(b->push);
    nn_close(b->pull);
}

static uint8_t pattern[4096];

/* Half a message, then silence: dropped after the interval, not before;
   the other connection works all along. */
static void test_stall(enum kind kind, bool fragment)
{
    struct bench b;
    bench_open(&b, kind, 0);
    int64_t d0 = stat_of(b.pull, NN_STAT_BROKEN_CONNECTIONS);
    int fd = raw_push(&b.t);
    double t0 = tu_now();
    if (fragment) {
        /* A whole first frame without FIN: the message stays open. */
        uint8_t h[6] = {0x02, 0x80 | 10, 0, 0, 0, 0};
        raw_send(fd, h, sizeof(h));
        raw_send(fd, pattern, 10);
    } else {
        start_msg(kind, fd, true, 1000, pattern, 500);
    }
    for (int i = 0; i < 3; i++)
        CHECK(still_works(&b));
    if (!closed_within(fd, 10)) {
        fprintf(stderr, "%s%s: a stalled peer was not dropped\n", kind_name[kind],
                fragment ? " (fragment)" : "");
        tu_failures++;
    }
    double took = tu_now() - t0;
    if (took < STALL_MS / 1000.0 * 0.8) {
        fprintf(stderr, "%s: dropped after %.2f s, before the interval\n", kind_name[kind], took);
        tu_failures++;
    }
    CHECK(WAIT_FOR(stat_of(b.pull, NN_STAT_BROKEN_CONNECTIONS) > d0, 10));
    close(fd);
    CHECK(still_works(&b));
    bench_close(&b);
}

/* A large message sent a few bytes every 100 ms, for several intervals:
   a slow peer, not a stalled one. */
static void test_slow(enum kind kind)
{
    struct bench b;
    bench_open(&b, kind, 0);
    int64_t d0 = stat_of(b.pull, NN_STAT_BROKEN_CONNECTIONS);
    int fd = raw_push(&b.t);
    const size_t size = 200, step = 4; /* 50 steps: 5 s, more than 3 intervals */
    start_msg(kind, fd, true, size, NULL, 0);
    for (size_t off = 0; off < size; off += step) {
        usleep(100 * 1000); /* the pace of the slow peer, not a wait for anything */
        raw_send(fd, pattern + off, step);
    }
    char got[256];
    CHECK(nn_recv(b.pull, got, sizeof(got), 0) == (int) size);
    CHECK(memcmp(got, pattern, size) == 0);
    CHECK(stat_of(b.pull, NN_STAT_BROKEN_CONNECTIONS) == d0);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    CHECK(poll(&p, 1, 0) == 0); /* still open, nothing said */
    close(fd);
    bench_close(&b);
}

/* The application does not read: the inbound queue fills, the connection
   stops reading with part of a message in its buffer, and stays for
   several intervals; once the application reads, the rest completes it. */
static void test_paused(enum kind kind)
{
    struct bench b;
    bench_open(&b, kind, 16 * 1024);
    int64_t d0 = stat_of(b.pull, NN_STAT_BROKEN_CONNECTIONS);
    int fd = raw_push(&b.t);
    enum { N = 24, SZ = 1000 };
    static uint8_t burst[(N + 1) * (SZ + 16)];
    size_t len = 0;
    for (int i = 0; i < N; i++) {
        /* Messages of SZ bytes, each starting with its number. */
        uint8_t h[16];
        size_t hl = 0;
        if (kind == K_WS) {
            h[hl++] = 0x82;
            h[hl++] = 0x80 | 126;
            h[hl++] = (uint8_t) (SZ >> 8);
            h[hl++] = (uint8_t) SZ;
            for (int k = 0; k < 4; k++)
                h[hl++] = 0;
        } else {
            if (kind == K_IPC)
                h[hl++] = 0x01;
            for (int k = 7; k >= 0; k--)
                h[hl++] = (uint8_t) ((uint64_t) SZ >> (8 * k));
        }
        memcpy(burst + len, h, hl);
        len += hl;
        memset(burst + len, i, SZ);
        len += SZ;
    }
    /* And half of one more, in the same write, so that it is read with
       the rest before the connection pauses. */
    size_t hl = kind == K_WS ? 8 : kind == K_IPC ? 9 : 8;
    memcpy(burst + len, burst, hl);
    len += hl;
    memcpy(burst + len, pattern, SZ / 2);
    len += SZ / 2;
    raw_send(fd, burst, len);
    double end = tu_now() + 3 * STALL_MS / 1000.0;
    while (tu_now() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, 100);
        CHECK(r == 0);
        if (r != 0) {
            fprintf(stderr, "%s: a paused connection was dropped\n", kind_name[kind]);
            break;
        }
    }
    CHECK(stat_of(b.pull, NN_STAT_BROKEN_CONNECTIONS) == d0);
    static char got[SZ + 1];
    for (int i = 0; i < N; i++) {
        CHECK(nn_recv(b.pull, got, sizeof(got), 0) == SZ);
        CHECK(got[0] == (char) i);
    }
    raw_send(fd, pattern + SZ / 2, SZ / 2);
    CHECK(nn_recv(b.pull, got, sizeof(got), 0) == SZ);
    CHECK(memcmp(got, pattern, SZ) == 0);
    CHECK(stat_of(b.pull, NN_STAT_BROKEN_CONNECTIONS) == d0);
    close(fd);
    bench_close(&b);
}

/* --------------------------------------------------- femtomsg dialling */

static int raw_listen(enum kind kind, struct target *t)
{
    static int seq;
    memset(t, 0, sizeof(*t));
    t->kind = kind;
    if (kind == K_IPC) {
        snprintf(t->path, sizeof(t->path), "/tmp/fm-test-stall-l-%d-%d.ipc", (int) getpid(), seq++);
        unlink(t->path);
        snprintf(t->addr, sizeof(t->addr), "ipc://%s", t->path);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", t->path);
        CHECK(bind(fd, (struct sockaddr *) &sun, sizeof(sun)) == 0 && listen(fd, 16) == 0);
        return fd;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    for (int i = 0; i < 500; i++) {
        t->port = next_port();
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t) t->port)};
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0 && listen(fd, 16) == 0) {
            snprintf(t->addr, sizeof(t->addr),
                     kind == K_WS ? "ws://127.0.0.1:%d/s" : "tcp://127.0.0.1:%d", t->port);
            return fd;
        }
    }
    CHECK(!"no free port");
    return -1;
}

static int raw_accept(int lfd)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, 10000) <= 0)
        return -1;
    return accept(lfd, NULL, NULL);
}

/* Accept the femtomsg PULL's connection and act as its PUSH. */
static int serve_push(enum kind kind, int lfd)
{
    int fd = raw_accept(lfd);
    CHECK(fd >= 0);
    if (fd < 0)
        return -1;
    if (kind == K_WS) {
        char head[2048], accept[WS_ACCEPT_LEN + 1];
        CHECK(read_head(fd, head, sizeof(head)));
        const char *k = strcasestr(head, "\r\nSec-WebSocket-Key: ");
        CHECK(k != NULL);
        if (!k)
            return fd;
        k += strlen("\r\nSec-WebSocket-Key: ");
        ws_accept_for(k, strcspn(k, "\r"), accept);
        char resp[512];
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: push.sp.nanomsg.org\r\n\r\n",
                 accept);
        raw_send(fd, resp, strlen(resp));
        return fd;
    }
    uint8_t h[8];
    CHECK(raw_read(fd, h, 8, 10));
    raw_send(fd, sp_push, 8);
    return fd;
}

/* Our dialled connection to a peer that stalls is dropped (broken) and
   dialled again. */
static void test_dialled(enum kind kind)
{
    struct target t;
    int lfd = raw_listen(kind, &t);
    int pull = nn_socket(AF_SP, NN_PULL);
    CHECK(pull >= 0);
    set_int(pull, NN_RECONNECT_IVL, 20);
    set_int(pull, NN_RCVTIMEO, 10000);
    CHECK(nn_connect(pull, t.addr) >= 0);
    int fd = serve_push(kind, lfd);
    start_msg(kind, fd, false, 10, "hello", 5);
    CHECK(closed_within(fd, 10));
    CHECK(WAIT_FOR(stat_of(pull, NN_STAT_BROKEN_CONNECTIONS) == 1, 10));
    close(fd);
    /* It dials again, and the new connection works. */
    fd = serve_push(kind, lfd);
    start_msg(kind, fd, false, 5, "again", 5);
    char got[8];
    CHECK(nn_recv(pull, got, sizeof(got), 0) == 5 && memcmp(got, "again", 5) == 0);
    close(fd);
    nn_close(pull);
    close(lfd);
    if (kind == K_IPC)
        unlink(t.path);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    char ms[16];
    snprintf(ms, sizeof(ms), "%d", STALL_MS);
    setenv("FM_RX_STALL_MS", ms, 1); /* read once, at the first connection */
    for (size_t i = 0; i < sizeof(pattern); i++)
        pattern[i] = (uint8_t) (i * 7 + 1);
    for (int k = K_TCP; k <= K_WS; k++) {
        test_stall((enum kind) k, false);
        if (k == K_WS)
            test_stall(K_WS, true);
        test_slow((enum kind) k);
        test_paused((enum kind) k);
        test_dialled((enum kind) k);
    }
    nn_term();
    TEST_DONE();
}
