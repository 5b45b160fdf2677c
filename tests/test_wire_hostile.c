/* test_wire_hostile.c: bad input on the wire, sent from raw OS sockets to
   a femtomsg PULL over tcp and ipc: garbage, a wrong or malformed SP
   header, a header cut short, silence (the header timeout), absurd and
   oversized length prefixes, a message cut short, a peer stalling
   mid-message, a peer vanishing with a reset, a bad ipc type byte, and a
   crowd of hostile connections. Each time only that connection is
   dropped: a well-behaved PUSH on the same socket keeps its one connection
   and its messages flow, and memory does not grow. Also checks the exact
   bytes femtomsg puts on the wire (header, length prefix, type byte, a
   REP's protocol header words ahead of the body) and that frames split
   across writes, or many in one write, come out whole. */
#include "testutil.h"
#include "rawsock.h"

#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/reqrep.h>

#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define FM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FM_ASAN 1
#endif
#endif

struct target {
    bool ipc;
    int port;
    char path[108];
    char addr[NN_SOCKADDR_MAX + 1];
};

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

static int64_t stat_of(int s, int which) { return (int64_t) nn_get_statistic(s, which); }

/* Bind s on a fresh address of the given kind. */
static void bind_target(int s, bool ipc, struct target *t)
{
    static int port;
    static int seq;
    memset(t, 0, sizeof(*t));
    t->ipc = ipc;
    if (ipc) {
        snprintf(t->path, sizeof(t->path), "/tmp/fm-test-hostile-%d-%d.ipc", (int) getpid(), seq++);
        unlink(t->path);
        snprintf(t->addr, sizeof(t->addr), "ipc://%s", t->path);
        CHECK(nn_bind(s, t->addr) >= 0);
        return;
    }
    if (!port)
        port = 20000 + (int) ((unsigned) getpid() * 61u % 12000u);
    for (int i = 0; i < 500; i++) {
        t->port = port++;
        if (port >= 32000)
            port = 20000;
        snprintf(t->addr, sizeof(t->addr), "tcp://127.0.0.1:%d", t->port);
        if (nn_bind(s, t->addr) >= 0)
            return;
        CHECK(errno == EADDRINUSE);
    }
    CHECK(!"no free port");
}

static int raw_connect(const struct target *t)
{
    int fd;
    if (t->ipc) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        memcpy(sun.sun_path, t->path, strlen(t->path) + 1);
        if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0) {
            close(fd);
            return -1;
        }
    } else {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t) t->port)};
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0) {
            close(fd);
            return -1;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

/* A hostile peer may find itself cut off before it has said everything:
   EPIPE and ECONNRESET are fine, the checks that follow tell the rest. */
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t) v;
        v >>= 8;
    }
}

static void send_header(int fd, int proto)
{
    uint8_t h[8] = {0, 'S', 'P', 0, (uint8_t) (proto >> 8), (uint8_t) proto, 0, 0};
    raw_send(fd, h, sizeof(h));
}

/* Send a frame: [0x01 on ipc] size(8) payload. */
static void send_frame(const struct target *t, int fd, const void *payload, uint64_t size,
                       size_t actually)
{
    uint8_t p[9];
    size_t n = 0;
    if (t->ipc)
        p[n++] = 0x01;
    put64(p + n, size);
    raw_send(fd, p, n + 8);
    if (actually)
        raw_send(fd, payload, actually);
}

/* The well-behaved side: one PUSH connected to the PULL under test. */
struct bench {
    struct target t;
    int pull, push;
    int seq;
};

static bool still_works(struct bench *b)
{
    char msg[32], got[32];
    int n = snprintf(msg, sizeof(msg), "alive-%d", b->seq++);
    if (nn_send(b->push, msg, (size_t) n, 0) != n)
        return false;
    int r = nn_recv(b->pull, got, sizeof(got), 0);
    return r == n && memcmp(msg, got, (size_t) n) == 0;
}

static void bench_open(struct bench *b, bool ipc)
{
    memset(b, 0, sizeof(*b));
    b->pull = nn_socket(AF_SP, NN_PULL);
    b->push = nn_socket(AF_SP, NN_PUSH);
    CHECK(b->pull >= 0 && b->push >= 0);
    set_int(b->pull, NN_RCVTIMEO, 10000);
    set_int(b->push, NN_SNDTIMEO, 10000);
    bind_target(b->pull, ipc, &b->t);
    CHECK(nn_connect(b->push, b->t.addr) >= 0);
    CHECK(still_works(b));
}

static void bench_close(struct bench *b)
{
    /* The good connection was never the one dropped. */
    CHECK(stat_of(b->push, NN_STAT_ESTABLISHED_CONNECTIONS) == 1);
    CHECK(stat_of(b->push, NN_STAT_BROKEN_CONNECTIONS) == 0);
    nn_close(b->push);
    nn_close(b->pull);
}

/* One hostile connection: connect, act, expect it dropped (and counted),
   the PULL untouched. */
#define HOSTILE(b, what, body)                                                        \
    do {                                                                              \
        int64_t dropped0 = stat_of((b)->pull, NN_STAT_BROKEN_CONNECTIONS);           \
        int fd = raw_connect(&(b)->t);                                                \
        CHECK(fd >= 0);                                                               \
        body;                                                                         \
        if (!closed_within(fd, 10)) {                                                 \
            fprintf(stderr, "%s (%s): connection not dropped\n", what,                \
                    (b)->t.ipc ? "ipc" : "tcp");                                      \
            tu_failures++;                                                            \
        }                                                                             \
        close(fd);                                                                    \
        CHECK(WAIT_FOR(stat_of((b)->pull, NN_STAT_BROKEN_CONNECTIONS) > dropped0, 10)); \
        CHECK(still_works(b));                                                        \
    } while (0)

static void test_hostile(bool ipc)
{
    struct bench b;
    bench_open(&b, ipc);
    const struct target *t = &b.t;

    HOSTILE(&b, "garbage", raw_send(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27));
    HOSTILE(&b, "wrong protocol", send_header(fd, NN_PAIR));
    HOSTILE(&b, "own protocol", send_header(fd, NN_PULL));
    HOSTILE(&b, "reserved bytes", raw_send(fd, "\0SP\0\0\x50\0\x01", 8));
    HOSTILE(&b, "bad magic", raw_send(fd, "\0SQ\0\0\x50\0\0", 8));
    HOSTILE(&b, "absurd length", {
        send_header(fd, NN_PUSH);
        send_frame(t, fd, NULL, UINT64_MAX, 0);
    });
    HOSTILE(&b, "length 2^40", {
        send_header(fd, NN_PUSH);
        send_frame(t, fd, NULL, (uint64_t) 1 << 40, 0);
    });
    HOSTILE(&b, "above NN_RCVMAXSIZE", {
        send_header(fd, NN_PUSH);
        send_frame(t, fd, "x", (1u << 20) + 1, 1);
    });
    if (ipc) {
        HOSTILE(&b, "ipc type byte 2", {
            send_header(fd, NN_PUSH);
            raw_send(fd, "\x02\0\0\0\0\0\0\0\x01x", 10);
        });
        HOSTILE(&b, "ipc type byte 0", {
            send_header(fd, NN_PUSH);
            raw_send(fd, "\x00\0\0\0\0\0\0\0\x01x", 10);
        });
    }

    /* Cut short, then gone: dropped on EOF, nothing delivered. */
    int64_t d0 = stat_of(b.pull, NN_STAT_BROKEN_CONNECTIONS);
    int fd = raw_connect(t);
    raw_send(fd, "\0SP", 3);
    close(fd);
    fd = raw_connect(t);
    send_header(fd, NN_PUSH);
    send_frame(t, fd, "truncated", 100, 9);
    close(fd);
    CHECK(WAIT_FOR(stat_of(b.pull, NN_STAT_BROKEN_CONNECTIONS) >= d0 + 2, 10));
    CHECK(still_works(&b)); /* and "truncated" never came out */

    /* A peer that vanishes with a reset in the middle of a large message. */
    d0 = stat_of(b.pull, NN_STAT_BROKEN_CONNECTIONS);
    fd = raw_connect(t);
    send_header(fd, NN_PUSH);
    static uint8_t chunk[100000];
    send_frame(t, fd, chunk, 500000, sizeof(chunk));
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
    CHECK(WAIT_FOR(stat_of(b.pull, NN_STAT_BROKEN_CONNECTIONS) > d0, 10));
    CHECK(still_works(&b));

    /* Silence, and half a header: both dropped by the header timeout; a
       stall in the middle of a message costs only its own connection,
       which stays until it goes away or the receive-stall interval ends
       it (30 s by default; test_rx_stall shortens it). */
    int silent = raw_connect(t), half = raw_connect(t), slow = raw_connect(t);
    raw_send(half, "\0SP\0\0", 5);
    send_header(slow, NN_PUSH);
    send_frame(t, slow, "slow", 1000, 4);
    double t0 = tu_now();
    CHECK(closed_within(silent, 10));
    CHECK(closed_within(half, 10));
    CHECK(tu_now() - t0 >= 1.0);
    for (int i = 0; i < 5; i++)
        CHECK(still_works(&b));
    struct pollfd p = {.fd = slow, .events = POLLIN};
    uint8_t hdr[8];
    CHECK(raw_read(slow, hdr, 8, 5)); /* the PULL's own header, then nothing */
    CHECK(poll(&p, 1, 0) == 0);
    d0 = stat_of(b.pull, NN_STAT_BROKEN_CONNECTIONS);
    close(slow);
    CHECK(WAIT_FOR(stat_of(b.pull, NN_STAT_BROKEN_CONNECTIONS) > d0, 10));
    close(silent);
    close(half);
    CHECK(still_works(&b));

    bench_close(&b);
}

/* A crowd of hostile connections (absurd lengths, garbage) does not make
   memory grow. */
static void test_crowd(bool ipc)
{
    struct bench b;
    bench_open(&b, ipc);
#ifndef FM_ASAN
    struct mallinfo2 before = mallinfo2();
#endif
    int64_t d0 = stat_of(b.pull, NN_STAT_BROKEN_CONNECTIONS);
    enum { N = 200 };
    for (int i = 0; i < N; i++) {
        int fd = raw_connect(&b.t);
        CHECK(fd >= 0);
        if (i % 2) {
            send_header(fd, NN_PUSH);
            send_frame(&b.t, fd, NULL, ((uint64_t) 1 << 62) + (uint64_t) i, 0);
        } else {
            raw_send(fd, "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8garbage", 15);
        }
        CHECK(closed_within(fd, 10));
        close(fd);
    }
    CHECK(WAIT_FOR(stat_of(b.pull, NN_STAT_BROKEN_CONNECTIONS) >= d0 + N, 10));
    CHECK(WAIT_FOR(stat_of(b.pull, NN_STAT_CURRENT_CONNECTIONS) == 1, 10));
#ifndef FM_ASAN
    struct mallinfo2 after = mallinfo2();
    /* Nothing near the claimed sizes, and no per-connection residue. */
    CHECK(after.uordblks < before.uordblks + 1024 * 1024);
#endif
    CHECK(still_works(&b));
    bench_close(&b);
}

/* Well-formed input in awkward pieces: byte by byte, and many frames in
   one write, straight after the header. */
static void test_fragments(bool ipc)
{
    struct bench b;
    bench_open(&b, ipc);
    int fd = raw_connect(&b.t);
    uint8_t buf[4096];
    size_t n = 0;
    memcpy(buf, "\0SP\0\0\x50\0\0", 8);
    n = 8;
    for (int i = 0; i < 50; i++) {
        if (ipc)
            buf[n++] = 0x01;
        put64(buf + n, (uint64_t) (i % 7));
        n += 8;
        for (int j = 0; j < i % 7; j++)
            buf[n++] = (uint8_t) ('a' + i % 26);
    }
    /* The first half a byte at a time, the rest in one go. */
    size_t half = n / 2;
    for (size_t i = 0; i < half; i++)
        raw_send(fd, buf + i, 1);
    raw_send(fd, buf + half, n - half);
    for (int i = 0; i < 50; i++) {
        char got[16];
        int r = nn_recv(b.pull, got, sizeof(got), 0);
        bool ok = r == i % 7;
        for (int j = 0; ok && j < r; j++)
            ok = got[j] == 'a' + i % 26;
        if (!ok) {
            fprintf(stderr, "fragments (%s): message %d wrong (%d bytes)\n", ipc ? "ipc" : "tcp",
                    i, r);
            tu_failures++;
            break;
        }
    }
    close(fd);
    CHECK(still_works(&b));
    bench_close(&b);
}

/* What femtomsg writes: its SP header, then per message [0x01] size(8) and
   the protocol header words before the body. */
static void test_our_bytes(bool ipc)
{
    int pair = nn_socket(AF_SP, NN_PAIR);
    set_int(pair, NN_SNDTIMEO, 10000);
    set_int(pair, NN_RCVTIMEO, 10000);
    struct target t;
    bind_target(pair, ipc, &t);
    int fd = raw_connect(&t);
    send_header(fd, NN_PAIR);
    uint8_t h[8];
    CHECK(raw_read(fd, h, 8, 10) && memcmp(h, "\0SP\0\0\x10\0\0", 8) == 0);
    CHECK(nn_send(pair, "abc", 3, 0) == 3);
    uint8_t f[12];
    size_t pl = ipc ? 9 : 8;
    CHECK(raw_read(fd, f, pl + 3, 10));
    CHECK(!ipc || f[0] == 0x01);
    CHECK(memcmp(f + pl - 8, "\0\0\0\0\0\0\0\x03" "abc", 11) == 0);
    CHECK(nn_send(pair, "", 0, 0) == 0);
    CHECK(raw_read(fd, f, pl, 10));
    CHECK(memcmp(f + pl - 8, "\0\0\0\0\0\0\0\0", 8) == 0);
    close(fd);
    nn_close(pair);

    /* A REP answers with the request's id words ahead of the body. */
    int rep = nn_socket(AF_SP, NN_REP);
    if (rep < 0)
        return;
    set_int(rep, NN_SNDTIMEO, 10000);
    set_int(rep, NN_RCVTIMEO, 10000);
    bind_target(rep, ipc, &t);
    fd = raw_connect(&t);
    send_header(fd, NN_REQ);
    CHECK(raw_read(fd, h, 8, 10) && memcmp(h, "\0SP\0\0\x31\0\0", 8) == 0);
    send_frame(&t, fd, "\x80\0\0\x07hi", 6, 6);
    char got[8];
    CHECK(nn_recv(rep, got, sizeof(got), 0) == 2 && memcmp(got, "hi", 2) == 0);
    CHECK(nn_send(rep, "yo", 2, 0) == 2);
    uint8_t r[15];
    CHECK(raw_read(fd, r, pl + 6, 10));
    CHECK(memcmp(r + pl - 8, "\0\0\0\0\0\0\0\x06\x80\0\0\x07yo", 14) == 0);
    close(fd);
    nn_close(rep);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    for (int ipc = 0; ipc < 2; ipc++) {
        test_hostile(ipc);
        test_crowd(ipc);
        test_fragments(ipc);
        test_our_bytes(ipc);
    }
    nn_term();
    TEST_DONE();
}
