/* test_schemes.c: what every connection-oriented transport must do the
   same, run once per scheme (ctest runs test_schemes_<scheme>; the table
   `schemes` below is the one place a new scheme is added). Messages of
   0 B to 5 MiB both ways, at the length edges of every framing (SP length
   prefix, ws frame lengths and fragments, TLS records) and zero-copy;
   bursts of small messages in order, both ways at once, behind a big one,
   a lone message after a burst not held back, nn_close right after a
   burst; every protocol pair with either side binding; an incompatible
   peer refused while a good one is served; connect before bind,
   reconnection after the binder went, statistics on both sides; a second
   PAIR peer turned away; reconnect backoff; nn_shutdown of one endpoint;
   a peer process killed outright; backpressure both ways of a connection
   (bounded, lossless, resuming); NN_RCVMAXSIZE; NN_LINGER delivering the
   tail at close and giving up at the linger when the peer never reads.
   What only one transport has (address syntax, ws HTTP and frames, TLS
   certificates, ipc files, the SP wire spoken by hand) stays in
   test_<transport>.c. */
#include "testutil.h"

#include <nanomsg/bus.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>
#include <nanomsg/tls.h>

#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ------------------------------------------------------------ schemes */

struct scheme {
    const char *name; /* the ctest suffix and argv[1] */
    /* A fresh place to bind: printf'd with a port from a pid-derived range
       (or, with no port, this process's id) and a counter (a ws path, an
       ipc file), in that order; a format may use the first only. */
    const char *addr;
    bool port;
    bool tls; /* endpoints need the test certificates */
    /* An incompatible peer is refused in the opening handshake (ws: the
       HTTP upgrade names the protocol) rather than after the SP header
       exchange: the listener accepts nothing, and the connecting side
       counts a broken connection (it was taken, then refused) and never
       an established one. */
    bool refused_in_handshake;
};

/* One line per scheme (tests/CMakeLists.txt reads the names from here). */
static const struct scheme schemes[] = {
    {"tcp", "tcp://127.0.0.1:%d", true, false, false},
    {"ipc", "ipc:///tmp/fm_schemes_%d_%d.ipc", false, false, false},
    {"ws", "ws://127.0.0.1:%d/s%d", true, false, true},
    {"tls", "tls+tcp://127.0.0.1:%d", true, true, false},
    {"wss", "wss://127.0.0.1:%d/s%d", true, true, true},
};

static int port_next;
static int next_port(void)
{
    if (!port_next)
        port_next = 20000 + (int) ((unsigned) getpid() * 61u % 12000u);
    int p = port_next++;
    if (port_next >= 32000)
        port_next = 20000;
    return p;
}

static const struct scheme *sc;
static char certdir[256];

/* --------------------------------------------------------- helpers */

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

/* What an endpoint of this scheme needs before nn_bind / nn_connect. */
static void prepare(int s, bool binds)
{
    if (!sc->tls)
        return;
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", certdir, binds ? "server.pem" : "ca.pem");
    int opt = binds ? NN_TLS_CERT_KEY_FILE : NN_TLS_CA_FILE;
    CHECK(nn_setsockopt(s, NN_TLS, opt, path, strlen(path)) == 0);
}

static int sock(int type)
{
    int s = nn_socket(AF_SP, type);
    CHECK(s >= 0);
    set_int(s, NN_RCVTIMEO, 10000);
    set_int(s, NN_SNDTIMEO, 10000);
    set_int(s, NN_RECONNECT_IVL, 20);
    return s;
}

/* nn_bind at a fresh address of the scheme, written to addr; the endpoint
   id, or -1. */
static int bind_any(int s, char *addr)
{
    prepare(s, true);
    static int count;
    for (int i = 0; i < 500; i++) {
        snprintf(addr, NN_SOCKADDR_MAX, sc->addr, sc->port ? next_port() : (int) getpid(), count++);
        int eid = nn_bind(s, addr);
        if (eid >= 0 || errno != EADDRINUSE)
            return eid;
    }
    return -1;
}

static int connect_to(int s, const char *addr)
{
    prepare(s, false);
    return nn_connect(s, addr);
}

/* An address nobody is bound to right now. */
static void free_addr(char *addr)
{
    int s = sock(NN_PAIR);
    CHECK(bind_any(s, addr) >= 0);
    nn_close(s);
}

static int64_t stat_of(int s, int which) { return (int64_t) nn_get_statistic(s, which); }

static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n ? n : 1);
    uint32_t x = 0x9e3779b9u ^ seed;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (uint8_t) (x >> 24);
    }
    return p;
}

/* The next message is exactly want (n bytes). */
static bool recv_exact(int s, const void *want, size_t n)
{
    void *b = NULL;
    int r = nn_recv(s, &b, NN_MSG, 0);
    if (r < 0)
        return false;
    bool ok = (size_t) r == n && memcmp(b, want, n) == 0;
    if (!ok)
        fprintf(stderr, "%s: got %d bytes, want %zu\n", sc->name, r, n);
    nn_freemsg(b);
    return ok;
}

/* The next message is want; stray "ping"s from wait_linked are skipped. */
static bool recv_is(int s, const char *want)
{
    char buf[256];
    int n;
    do
        n = nn_recv(s, buf, sizeof(buf), 0);
    while (n == 4 && memcmp(buf, "ping", 4) == 0 && strcmp(want, "ping") != 0);
    return n == (int) strlen(want) && memcmp(buf, want, (size_t) n) == 0;
}

/* Send "ping" from a until b gets it (a connection up and attached), then
   drain the extra ones. */
static bool wait_linked(int a, int b)
{
    set_int(b, NN_RCVTIMEO, 50);
    bool ok = false;
    double end = tu_now() + 10;
    while (!ok && tu_now() < end) {
        if (nn_send(a, "ping", 4, NN_DONTWAIT) != 4) {
            tu_pause();
            continue;
        }
        char buf[16];
        while (nn_recv(b, buf, sizeof(buf), 0) == 4 && memcmp(buf, "ping", 4) == 0)
            ok = true;
    }
    set_int(b, NN_RCVTIMEO, 10000);
    return ok;
}

/* A bound a and a connected b of these types. */
static void link_up(int a, int b, char *addr)
{
    CHECK(bind_any(a, addr) >= 0);
    CHECK(connect_to(b, addr) >= 0);
}

/* ------------------------------------------------------------ sizes */

/* Every edge of every framing: SP's 8-byte length prefix and 64 KiB reads
   (tcp, ipc), ws's 7/16/64-bit frame lengths and 1 MiB fragments, TLS's
   16 KiB records, and several MiB. */
static const size_t sizes[] = {0,       1,       2,       8,       9,         100,
                               125,     126,     127,     1000,    4095,      16383,
                               16384,   16385,   65527,   65528,   65535,     65536,
                               65537,   65545,   100000,  200000,  300000,    (1u << 20) - 1,
                               1u << 20, (1u << 20) + 1, (1u << 20) + 3, (3u << 20) + 5,
                               5u << 20};

/* Every size both ways. Which side binds alternates from one size to the
   next: both directions of each size cross the same connection (for ws, a
   masked client frame one way and a server frame the other), and every
   length class is carried with either side listening, at half the time of
   sending each size over both connections (which counts under the
   sanitizers). */
static void test_sizes(void)
{
    int a[2], b[2]; /* a[k] binds when k is 1, b[k] when k is 0 */
    for (int k = 0; k < 2; k++) {
        a[k] = sock(NN_PAIR);
        b[k] = sock(NN_PAIR);
        set_int(a[k], NN_RCVMAXSIZE, -1);
        set_int(b[k], NN_RCVMAXSIZE, -1);
        char addr[NN_SOCKADDR_MAX];
        if (k)
            link_up(a[k], b[k], addr);
        else
            link_up(b[k], a[k], addr);
    }
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        int k = (int) (i % 2);
        uint8_t *p = pattern(n, (unsigned) i);
        for (int dir = 0; dir < 2; dir++) {
            int from = dir ? a[k] : b[k], to = dir ? b[k] : a[k];
            CHECK(nn_send(from, p, n, 0) == (int) n);
            if (!recv_exact(to, p, n))
                fprintf(stderr, "  ... %zu bytes, from the %s side\n", n,
                        (dir == 0) == (k == 0) ? "binding" : "connecting");
        }
        free(p);
    }
    for (int k = 0; k < 2; k++) {
        /* Zero copy: a body from nn_allocmsg is sent as it is. */
        void *z = nn_allocmsg(70000, 0);
        CHECK(z != NULL);
        memset(z, 0xab, 70000);
        uint8_t *copy = malloc(70000);
        memcpy(copy, z, 70000);
        CHECK(nn_send(b[k], &z, NN_MSG, 0) == 70000);
        CHECK(recv_exact(a[k], copy, 70000));
        free(copy);
        nn_close(b[k]);
        nn_close(a[k]);
    }
}

/* ------------------------------------------------------------ bursts */

/* Many small messages sent at once: the receiver cuts them out of large
   reads and keeps their order; the same both ways at once; a burst queued
   behind a big message. */
static void test_burst(void)
{
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    /* Room in a's queue for the whole burst (each message counts its
       bytes plus 128, see nn_setsockopt(3)): a sender too slow to batch
       (sanitizers) makes every message its own kernel buffer, and the
       kernel's share of the default buffers holds only a few thousand. */
    set_int(a, NN_RCVBUF, 4 << 20);
    set_int(a, NN_RCVMAXSIZE, -1);
    char addr[NN_SOCKADDR_MAX];
    link_up(a, b, addr);
    enum { N = 20000 };
    for (uint32_t i = 0; i < N; i++) {
        uint8_t m[13];
        memset(m, (int) (i & 0xff), sizeof(m));
        memcpy(m, &i, sizeof(i));
        if (nn_send(b, m, 4 + i % 10, 0) != (int) (4 + i % 10)) {
            CHECK(!"burst send");
            break;
        }
    }
    for (uint32_t i = 0; i < N; i++) {
        uint8_t m[32];
        int n = nn_recv(a, m, sizeof(m), 0);
        uint32_t id = ~0u;
        memcpy(&id, m, sizeof(id));
        if (n != (int) (4 + i % 10) || id != i || (n > 4 && m[n - 1] != (uint8_t) i)) {
            fprintf(stderr, "burst message %u: got %d bytes, id %u\n", i, n, id);
            tu_failures++;
            break;
        }
    }
    /* Both ways at once. */
    for (int i = 0; i < 2000; i++) {
        char m[32];
        int n = snprintf(m, sizeof(m), "msg %d", i);
        CHECK(nn_send(b, m, (size_t) n, 0) == n);
        CHECK(nn_send(a, m, (size_t) n, 0) == n);
    }
    for (int i = 0; i < 2000; i++) {
        char m[32];
        snprintf(m, sizeof(m), "msg %d", i);
        CHECK(recv_is(a, m));
        CHECK(recv_is(b, m));
    }
    /* Behind a big one. */
    uint8_t *big = pattern(2 << 20, 7);
    CHECK(nn_send(b, big, 2 << 20, 0) == 2 << 20);
    for (int k = 0; k < 200; k++)
        CHECK(nn_send(b, &k, sizeof(k), 0) == (int) sizeof(k));
    CHECK(recv_exact(a, big, 2 << 20));
    for (int k = 0; k < 200; k++) {
        int v = -1;
        CHECK(nn_recv(a, &v, sizeof(v), 0) == (int) sizeof(v) && v == k);
    }
    free(big);
    nn_close(b);
    nn_close(a);
}

static void *closer_main(void *arg)
{
    nn_close(*(int *) arg);
    return NULL;
}

/* A tight burst is gathered (staged) on the sending side: a lone message
   after it is not held back, and nn_close right after a burst still lets
   the last batch out. Either side sending. */
static void test_burst_then_close(void)
{
    static const char tail[] = "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"
                               "0123456789abcdefghijklmnopqrstuvwxyz";
    for (int push_binds = 0; push_binds < 2; push_binds++) {
        int push = sock(NN_PUSH), pull = sock(NN_PULL);
        set_int(push, NN_LINGER, 10000);
        char addr[NN_SOCKADDR_MAX];
        if (push_binds)
            link_up(push, pull, addr);
        else
            link_up(pull, push, addr);
        CHECK(nn_send(push, "hello", 5, 0) == 5);
        CHECK(recv_is(pull, "hello"));
        enum { N = 1500 }; /* fits in the buffers: nobody receives during it */
        char m[128];
        for (int i = 0; i < N; i++) {
            int n = snprintf(m, sizeof(m), "burst %d %.*s", i, i % 90, tail);
            CHECK(nn_send(push, m, (size_t) n, 0) == n);
        }
        for (int i = 0; i < N; i++) {
            int n = snprintf(m, sizeof(m), "burst %d %.*s", i, i % 90, tail);
            if (!recv_exact(pull, m, (size_t) n)) {
                CHECK(!"burst message lost or changed");
                break;
            }
        }
        CHECK(nn_send(push, "lone", 4, 0) == 4);
        CHECK(recv_is(pull, "lone"));
        for (int i = 0; i < N; i++) {
            int n = snprintf(m, sizeof(m), "last %d", i);
            CHECK(nn_send(push, m, (size_t) n, 0) == n);
        }
        /* nn_close waits (NN_LINGER) until the peer has taken it all and
           closed too: another thread closes while this one reads. */
        pthread_t th;
        CHECK(pthread_create(&th, NULL, closer_main, &push) == 0);
        int got = 0;
        for (; got < N; got++) {
            int n = snprintf(m, sizeof(m), "last %d", got);
            if (!recv_exact(pull, m, (size_t) n))
                break;
        }
        CHECK(got == N);
        nn_close(pull);
        pthread_join(th, NULL);
    }
}

/* ------------------------------------------------------ every protocol */

static void exchange(int type_a, int a, int b)
{
    switch (type_a) {
    case NN_PAIR:
    case NN_BUS:
        CHECK(wait_linked(a, b)); /* BUS drops what it sends with no peer */
        CHECK(nn_send(a, "hello", 5, 0) == 5);
        CHECK(recv_is(b, "hello"));
        CHECK(nn_send(b, "back", 4, 0) == 4);
        CHECK(recv_is(a, "back"));
        break;
    case NN_REQ:
        for (int i = 0; i < 20; i++) {
            char q[16], r[16];
            snprintf(q, sizeof(q), "q%d", i);
            snprintf(r, sizeof(r), "r%d", i);
            CHECK(nn_send(a, q, strlen(q), 0) == (int) strlen(q));
            CHECK(recv_is(b, q));
            CHECK(nn_send(b, r, strlen(r), 0) == (int) strlen(r));
            CHECK(recv_is(a, r));
        }
        break;
    case NN_PUB: {
        /* Subscribed to "n" only; the first messages may race the
           connection, so publish until one arrives. */
        CHECK(nn_setsockopt(b, NN_SUB, NN_SUB_SUBSCRIBE, "n", 1) == 0);
        set_int(b, NN_RCVTIMEO, 100);
        char buf[64];
        int got = -1;
        double end = tu_now() + 10;
        while (got < 0 && tu_now() < end) {
            CHECK(nn_send(a, "x-not-for-you", 13, 0) == 13);
            CHECK(nn_send(a, "news", 4, 0) == 4);
            got = nn_recv(b, buf, sizeof(buf), 0);
        }
        CHECK(got == 4 && memcmp(buf, "news", 4) == 0);
        break;
    }
    case NN_PUSH:
        for (int i = 0; i < 20; i++)
            CHECK(nn_send(a, "job", 3, 0) == 3);
        for (int i = 0; i < 20; i++)
            CHECK(recv_is(b, "job"));
        break;
    case NN_SURVEYOR: {
        /* Attached once the handshake is over: repeat a lost survey. */
        int dl = 500;
        CHECK(nn_setsockopt(a, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &dl, sizeof(dl)) == 0);
        bool answered = false;
        double end = tu_now() + 10;
        while (!answered && tu_now() < end) {
            CHECK(nn_send(a, "survey", 6, 0) == 6);
            set_int(b, NN_RCVTIMEO, 100);
            char buf[16];
            if (nn_recv(b, buf, sizeof(buf), 0) == 6) {
                CHECK(nn_send(b, "vote", 4, 0) == 4);
                answered = recv_is(a, "vote");
            }
        }
        CHECK(answered);
        break;
    }
    }
}

static void test_protocols(void)
{
    static const struct {
        int a, b;
        const char *name;
    } pairs[] = {
        {NN_PAIR, NN_PAIR, "pair"},         {NN_REQ, NN_REP, "req/rep"},
        {NN_PUB, NN_SUB, "pub/sub"},        {NN_PUSH, NN_PULL, "push/pull"},
        {NN_SURVEYOR, NN_RESPONDENT, "surveyor/respondent"}, {NN_BUS, NN_BUS, "bus"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
        for (int a_binds = 0; a_binds < 2; a_binds++) {
            int a = sock(pairs[i].a), b = sock(pairs[i].b);
            char addr[NN_SOCKADDR_MAX];
            if (a_binds)
                link_up(a, b, addr);
            else
                link_up(b, a, addr);
            int before = tu_failures;
            exchange(pairs[i].a, a, b);
            if (tu_failures != before)
                fprintf(stderr, "  ... in %s, %s binding\n", pairs[i].name, a_binds ? "a" : "b");
            nn_close(a);
            nn_close(b);
        }
}

/* A PAIR connecting to a PULL is refused again and again, nothing is
   delivered, and the listener goes on serving a good peer. */
static void test_incompatible_peer(void)
{
    int pull = sock(NN_PULL), pair = sock(NN_PAIR), good = sock(NN_PUSH);
    char addr[NN_SOCKADDR_MAX];
    link_up(pull, pair, addr);
    if (sc->refused_in_handshake) {
        CHECK(WAIT_FOR(stat_of(pair, NN_STAT_BROKEN_CONNECTIONS) >= 3, 10));
        CHECK(stat_of(pair, NN_STAT_CONNECT_ERRORS) == 0); /* somebody listens */
        CHECK(stat_of(pair, NN_STAT_CURRENT_EP_ERRORS) == 1);
        /* Established at TCP connect, as stock counts it; so each broken
           one was established first. */
        CHECK(stat_of(pair, NN_STAT_ESTABLISHED_CONNECTIONS) >=
              stat_of(pair, NN_STAT_BROKEN_CONNECTIONS));
        CHECK(stat_of(pull, NN_STAT_ACCEPTED_CONNECTIONS) == 0);
    } else {
        CHECK(WAIT_FOR(stat_of(pull, NN_STAT_BROKEN_CONNECTIONS) >= 2 &&
                           stat_of(pair, NN_STAT_BROKEN_CONNECTIONS) >= 2, 10));
    }
    CHECK_ERR(nn_send(pair, "x", 1, NN_DONTWAIT), EAGAIN);
    CHECK(connect_to(good, addr) >= 0);
    CHECK(nn_send(good, "good", 4, 0) == 4);
    CHECK(recv_is(pull, "good"));
    /* (Elsewhere the refused peer's next attempt may be counted now.) */
    if (sc->refused_in_handshake)
        CHECK(stat_of(pull, NN_STAT_CURRENT_CONNECTIONS) == 1);
    nn_close(pair);
    nn_close(good);
    nn_close(pull);
}

/* ------------------------------------------------- connection lifetime */

static void test_connect_before_bind(void)
{
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    char addr[NN_SOCKADDR_MAX];
    free_addr(addr);
    CHECK(connect_to(b, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(b, NN_STAT_CONNECT_ERRORS) >= 2, 10));
    CHECK(stat_of(b, NN_STAT_ESTABLISHED_CONNECTIONS) == 0);
    CHECK(stat_of(b, NN_STAT_CURRENT_EP_ERRORS) == 1);
    prepare(a, true);
    CHECK(nn_bind(a, addr) >= 0);
    CHECK(nn_send(b, "late", 4, 0) == 4);
    CHECK(recv_is(a, "late"));
    CHECK(stat_of(b, NN_STAT_CURRENT_EP_ERRORS) == 0);
    CHECK(stat_of(b, NN_STAT_ESTABLISHED_CONNECTIONS) == 1);
    CHECK(stat_of(a, NN_STAT_ACCEPTED_CONNECTIONS) == 1);
    CHECK(stat_of(a, NN_STAT_CURRENT_CONNECTIONS) == 1);
    CHECK(stat_of(b, NN_STAT_CURRENT_CONNECTIONS) == 1);
    CHECK(stat_of(b, NN_STAT_INPROGRESS_CONNECTIONS) == 0);

    /* The binder goes away and another takes its place: the connector
       notices (broken), dials again and carries on with the new one. */
    nn_close(a);
    CHECK(WAIT_FOR(stat_of(b, NN_STAT_BROKEN_CONNECTIONS) == 1, 10));
    CHECK(WAIT_FOR(stat_of(b, NN_STAT_CURRENT_CONNECTIONS) == 0, 10));
    a = sock(NN_PAIR);
    prepare(a, true);
    CHECK(WAIT_FOR(nn_bind(a, addr) >= 0, 10)); /* ws: the port is freed after the last */
    CHECK(nn_send(b, "again", 5, 0) == 5);
    CHECK(recv_is(a, "again"));
    CHECK(nn_send(a, "back", 4, 0) == 4);
    CHECK(recv_is(b, "back"));
    CHECK(stat_of(b, NN_STAT_ESTABLISHED_CONNECTIONS) == 2);
    CHECK(stat_of(b, NN_STAT_BROKEN_CONNECTIONS) == 1); /* none broke on the way back */
    CHECK(stat_of(a, NN_STAT_ACCEPTED_CONNECTIONS) == 1);
    /* And the connector goes: the binder counts it broken. */
    nn_close(b);
    CHECK(WAIT_FOR(stat_of(a, NN_STAT_CURRENT_CONNECTIONS) == 0, 10));
    CHECK(stat_of(a, NN_STAT_BROKEN_CONNECTIONS) == 1);
    nn_close(a);
}

/* Statistics of a healthy connection, and a second PAIR peer turned away
   by the protocol after the handshake: counted and dropped. */
static void test_stats(void)
{
    int srv = sock(NN_PAIR), cli = sock(NN_PAIR);
    char addr[NN_SOCKADDR_MAX];
    link_up(srv, cli, addr);
    CHECK(wait_linked(cli, srv));
    CHECK(stat_of(srv, NN_STAT_ACCEPTED_CONNECTIONS) == 1);
    CHECK(stat_of(srv, NN_STAT_CURRENT_CONNECTIONS) == 1);
    CHECK(stat_of(cli, NN_STAT_ESTABLISHED_CONNECTIONS) == 1);
    CHECK(stat_of(cli, NN_STAT_CURRENT_CONNECTIONS) == 1);
    CHECK(stat_of(cli, NN_STAT_INPROGRESS_CONNECTIONS) == 0);
    CHECK(stat_of(cli, NN_STAT_CURRENT_EP_ERRORS) == 0);
    int third = sock(NN_PAIR);
    CHECK(connect_to(third, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(srv, NN_STAT_ACCEPTED_CONNECTIONS) >= 2, 10));
    CHECK(WAIT_FOR(stat_of(srv, NN_STAT_CURRENT_CONNECTIONS) == 1, 10));
    nn_close(third);
    CHECK(nn_send(cli, "x", 1, 0) == 1);
    CHECK(recv_is(srv, "x"));
    nn_close(cli);
    nn_close(srv);
}

/* Reconnect attempts back off from NN_RECONNECT_IVL, doubling up to
   NN_RECONNECT_IVL_MAX; without a maximum they keep the base interval.
   Load can only make attempts later, so the checks are lower bounds on
   time. */
static void test_backoff(void)
{
    char addr[NN_SOCKADDR_MAX];
    free_addr(addr);

    int flat = sock(NN_PAIR);
    set_int(flat, NN_RECONNECT_IVL, 10);
    CHECK(connect_to(flat, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(flat, NN_STAT_CONNECT_ERRORS) >= 10, 10));
    nn_close(flat);

    int b = sock(NN_PAIR);
    set_int(b, NN_RECONNECT_IVL, 40);
    set_int(b, NN_RECONNECT_IVL_MAX, 320);
    double t0 = tu_now();
    CHECK(connect_to(b, addr) >= 0);
    /* Attempts at 0, 40, 120, 280, 600 ms: the fifth cannot come before. */
    CHECK(WAIT_FOR(stat_of(b, NN_STAT_CONNECT_ERRORS) >= 5, 10));
    CHECK(tu_now() - t0 >= 0.55);
    /* Capped at 320 ms: six more attempts take at least 1.9 s, but come. */
    double t1 = tu_now();
    int64_t e1 = stat_of(b, NN_STAT_CONNECT_ERRORS);
    CHECK(WAIT_FOR(stat_of(b, NN_STAT_CONNECT_ERRORS) >= e1 + 6, 15));
    CHECK(tu_now() - t1 >= 1.6);
    nn_close(b);
}

/* nn_shutdown closes that endpoint's connections, and discards what they
   brought and was not yet received, and nothing else. */
static void test_shutdown_one(void)
{
    int srv = sock(NN_BUS), c1 = sock(NN_BUS), c2 = sock(NN_BUS);
    char a1[NN_SOCKADDR_MAX], a2[NN_SOCKADDR_MAX];
    int e1 = bind_any(srv, a1);
    int e2 = bind_any(srv, a2);
    CHECK(e1 >= 0 && e2 >= 0);
    CHECK(connect_to(c1, a1) >= 0);
    CHECK(connect_to(c2, a2) >= 0);
    CHECK(wait_linked(c1, srv));
    CHECK(wait_linked(c2, srv));
    CHECK(stat_of(srv, NN_STAT_CURRENT_CONNECTIONS) == 2);
    /* What came through the endpoint and waits to be received goes with
       it, as in the stock library: "gone-2" has most likely arrived with
       "gone-1", and must not come out after the shutdown. */
    CHECK(nn_send(c1, "gone-1", 6, 0) == 6);
    CHECK(nn_send(c1, "gone-2", 6, 0) == 6);
    CHECK(recv_is(srv, "gone-1"));
    CHECK(nn_shutdown(srv, e1) == 0);
    CHECK(stat_of(srv, NN_STAT_CURRENT_CONNECTIONS) == 1); /* at once */
    CHECK(WAIT_FOR(stat_of(c1, NN_STAT_BROKEN_CONNECTIONS) >= 1, 10));
    CHECK(nn_send(c2, "still", 5, 0) == 5);
    CHECK(recv_is(srv, "still"));
    CHECK(nn_send(srv, "here", 4, 0) == 4);
    CHECK(recv_is(c2, "here"));
    set_int(c1, NN_RCVTIMEO, 100);
    char b[8];
    CHECK_ERR(nn_recv(c1, b, sizeof(b), 0), ETIMEDOUT);
    CHECK_ERR(nn_shutdown(srv, e1), EINVAL);
    /* A connecting endpoint shut down stops dialling. */
    int eid = connect_to(c1, a2);
    CHECK(eid >= 0);
    CHECK(WAIT_FOR(stat_of(srv, NN_STAT_CURRENT_CONNECTIONS) == 2, 10));
    CHECK(nn_shutdown(c1, eid) == 0);
    CHECK(WAIT_FOR(stat_of(srv, NN_STAT_CURRENT_CONNECTIONS) == 1, 10));
    nn_close(c1);
    nn_close(c2);
    nn_close(srv);
}

/* A peer process killed outright (no goodbye of any kind): the connection
   is counted broken and made again when a new process binds the same
   address. The peer is this program run with --peer. */
static pid_t spawn_peer(const char *self, const char *addr)
{
    pid_t pid;
    char *argv[] = {(char *) self, "--peer", (char *) sc->name, (char *) addr, certdir, NULL};
    if (posix_spawn(&pid, self, NULL, NULL, argv, environ) != 0)
        return -1;
    return pid;
}

static int peer_main(const char *addr)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    int t = 30000;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &t, sizeof(t));
    prepare(s, true);
    double end = tu_now() + 10; /* ws: the port is freed after the last */
    while (nn_bind(s, addr) < 0)
        if (errno != EADDRINUSE || tu_now() > end)
            return 1;
        else
            tu_pause();
    /* Echo until killed. */
    for (;;) {
        void *m;
        if (nn_recv(s, &m, NN_MSG, 0) < 0)
            return 1;
        nn_send(s, &m, NN_MSG, 0);
    }
}

static bool echo_ok(int s, const char *word)
{
    /* Retry: the first send may have gone into a connection being lost. */
    set_int(s, NN_RCVTIMEO, 200);
    double end = tu_now() + 10;
    while (tu_now() < end) {
        if (nn_send(s, word, strlen(word), 0) != (int) strlen(word))
            continue;
        if (recv_is(s, word)) {
            set_int(s, NN_RCVTIMEO, 10000);
            return true;
        }
    }
    return false;
}

static const char *self; /* argv[0] */

static void test_killed_peer(void)
{
    char addr[NN_SOCKADDR_MAX];
    free_addr(addr);
    int s = sock(NN_PAIR);
    CHECK(connect_to(s, addr) >= 0);
    pid_t p1 = spawn_peer(self, addr);
    CHECK(p1 > 0);
    CHECK(echo_ok(s, "one"));
    kill(p1, SIGKILL);
    waitpid(p1, NULL, 0);
    CHECK(WAIT_FOR(stat_of(s, NN_STAT_BROKEN_CONNECTIONS) >= 1, 10));
    pid_t p2 = spawn_peer(self, addr);
    CHECK(p2 > 0);
    CHECK(echo_ok(s, "two"));
    kill(p2, SIGKILL);
    waitpid(p2, NULL, 0);
    nn_close(s);
    if (strncmp(addr, "ipc://", 6) == 0)
        unlink(addr + 6); /* a killed binder leaves its file */
}

/* ------------------------------------------------------ flow control */

/* A receiver that does not read pushes back: the sender's non-blocking
   sends fail with EAGAIN after a bounded amount, nothing is lost, and
   sending resumes once the receiver reads. Either side sending. */
static void test_backpressure(void)
{
    for (int sender_binds = 0; sender_binds < 2; sender_binds++) {
        int a = sock(NN_PAIR), b = sock(NN_PAIR); /* b sends, a receives */
        set_int(a, NN_RCVBUF, 64 * 1024);
        set_int(b, NN_SNDBUF, 64 * 1024);
        char addr[NN_SOCKADDR_MAX];
        if (sender_binds)
            link_up(b, a, addr);
        else
            link_up(a, b, addr);
        CHECK(wait_linked(b, a));
        enum { SZ = 8192, MAX = 20000 };
        uint8_t *m = pattern(SZ, 1);
        int sent = 0;
        while (sent < MAX) {
            memcpy(m, &sent, sizeof(sent));
            int rc = nn_send(b, m, SZ, NN_DONTWAIT);
            if (rc == SZ) {
                sent++;
                continue;
            }
            CHECK(rc < 0 && errno == EAGAIN);
            /* Let the kernel buffers settle, then try again, so that a
               send refused only because the loop had not flushed yet is
               retried. */
            if (!WAIT_FOR(nn_send(b, m, SZ, NN_DONTWAIT) == SZ, 0.3))
                break;
            sent++;
        }
        CHECK(sent > 0 && sent < MAX);
        /* Roughly: our two queues plus the two kernel buffers plus one
           read. */
        CHECK((size_t) sent * SZ < 8u * 1024 * 1024);
        for (int i = 0; i < sent; i++) {
            int n = nn_recv(a, m, SZ, 0);
            int id = -1;
            memcpy(&id, m, sizeof(id));
            if (n != SZ || id != i) {
                fprintf(stderr, "backpressure: message %d came as %d (%d bytes)\n", i, id, n);
                tu_failures++;
                break;
            }
        }
        /* Flowing again, for a while. */
        for (int i = 0; i < 50; i++) {
            CHECK(nn_send(b, m, SZ, 0) == SZ);
            CHECK(nn_recv(a, m, SZ, 0) == SZ);
        }
        CHECK(nn_send(b, "after", 5, 0) == 5);
        CHECK(recv_is(a, "after"));
        free(m);
        nn_close(b);
        nn_close(a);
    }
}

/* A message above the receiver's NN_RCVMAXSIZE drops the connection (and
   is not delivered); the sender reconnects, smaller messages flow. Either
   side receiving. */
static void test_rcvmaxsize(void)
{
    for (int receiver_binds = 0; receiver_binds < 2; receiver_binds++) {
        int a = sock(NN_PULL), b = sock(NN_PUSH);
        set_int(a, NN_RCVMAXSIZE, 1000);
        char addr[NN_SOCKADDR_MAX];
        if (receiver_binds)
            link_up(a, b, addr);
        else
            link_up(b, a, addr);
        uint8_t *big = pattern(1001, 3);
        CHECK(nn_send(b, big, 1000, 0) == 1000);
        CHECK(recv_exact(a, big, 1000));
        CHECK(nn_send(b, big, 1001, 0) == 1001);
        CHECK(WAIT_FOR(stat_of(a, NN_STAT_BROKEN_CONNECTIONS) == 1, 10));
        /* The sender must have seen the old connection end (a message put
           into it is lost with it, as PUSH allows) and have the new one. */
        CHECK(WAIT_FOR(stat_of(b, NN_STAT_BROKEN_CONNECTIONS) == 1 &&
                           stat_of(b, NN_STAT_CURRENT_CONNECTIONS) == 1,
                       10));
        CHECK(nn_send(b, big, 999, 0) == 999);
        CHECK(recv_exact(a, big, 999));
        free(big);
        nn_close(b);
        nn_close(a);
    }
}

struct reader {
    int s;
    int count;
    size_t size;
    atomic_int go;
    int got;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    while (!atomic_load(&r->go))
        tu_pause();
    void *m;
    int n;
    while (r->got < r->count && (n = nn_recv(r->s, &m, NN_MSG, 0)) >= 0) {
        int id;
        memcpy(&id, m, sizeof(id));
        bool ok = (size_t) n == r->size && id == r->got;
        nn_freemsg(m);
        if (!ok)
            break;
        r->got++;
    }
    return NULL;
}

/* NN_LINGER: messages queued behind a slow reader still reach it after the
   sender's nn_close, which waits (up to the linger) for them to go. Either
   side sending; a peer that never reads makes nn_close give up at the
   linger. */
static void test_linger(void)
{
    for (int push_binds = 0; push_binds < 2; push_binds++) {
        int pull = sock(NN_PULL), push = sock(NN_PUSH);
        enum { SZ = 256 * 1024, N = 40 };
        set_int(push, NN_SNDBUF, 64 << 20); /* everything fits in our queue */
        set_int(push, NN_LINGER, 10000);
        char addr[NN_SOCKADDR_MAX];
        if (push_binds)
            link_up(push, pull, addr);
        else
            link_up(pull, push, addr);
        CHECK(WAIT_FOR(stat_of(push, NN_STAT_CURRENT_CONNECTIONS) == 1, 10));
        struct reader r = {.s = pull, .count = N, .size = SZ};
        pthread_t th;
        CHECK(pthread_create(&th, NULL, reader_main, &r) == 0);
        uint8_t *m = pattern(SZ, 5);
        for (int i = 0; i < N; i++) {
            memcpy(m, &i, sizeof(i));
            CHECK(nn_send(push, m, SZ, 0) == SZ);
        }
        atomic_store(&r.go, 1);
        CHECK(nn_close(push) == 0);
        pthread_join(th, NULL);
        CHECK(r.got == N);
        free(m);
        nn_close(pull);
    }

    /* A peer that never reads: nn_close gives up after the linger. */
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    set_int(b, NN_SNDBUF, 32 * 1024 * 1024);
    char addr[NN_SOCKADDR_MAX];
    link_up(a, b, addr);
    CHECK(wait_linked(b, a));
    uint8_t *m = pattern(1 << 20, 6);
    for (int i = 0; i < 24; i++)
        CHECK(nn_send(b, m, 1 << 20, 0) == 1 << 20);
    set_int(b, NN_LINGER, 300);
    double t0 = tu_now();
    CHECK(nn_close(b) == 0);
    double took = tu_now() - t0;
    /* It would otherwise wait for ever: the bound is only generous. */
    CHECK(took >= 0.25 && took < 8);
    free(m);
    nn_close(a);
}

/* ---------------------------------------------------------------- main */

static int usage(void)
{
    fprintf(stderr, "usage: test_schemes <scheme> [step], the scheme one of:");
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        fprintf(stderr, " %s", schemes[i].name);
    fprintf(stderr, "\n");
    return 2;
}

static bool pick(const char *name)
{
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strcmp(schemes[i].name, name) == 0)
            sc = &schemes[i];
    return sc != NULL;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--peer") == 0) {
        if (!pick(argv[2]))
            return usage();
        snprintf(certdir, sizeof(certdir), "%s", argv[4]);
        return peer_main(argv[3]);
    }
    if (argc < 2 || argc > 3 || !pick(argv[1]))
        return usage();
    const char *only = argc == 3 ? argv[2] : NULL; /* one step, by hand */
    signal(SIGPIPE, SIG_IGN);
    if (sc->tls) {
#ifdef FM_HAVE_TLS
        snprintf(certdir, sizeof(certdir), "/tmp/fm_schemes_XXXXXX");
        CHECK(mkdtemp(certdir) != NULL);
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", FM_TLS_CERTS_SH, certdir);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not make the test certificates (openssl missing?)\n");
            return 1;
        }
#else
        printf("%s: transport not built in, skipped\n", sc->name);
        return 77;
#endif
    }
    static const struct {
        const char *name;
        void (*run)(void);
    } steps[] = {
        {"sizes", test_sizes},
        {"burst", test_burst},
        {"burst_then_close", test_burst_then_close},
        {"protocols", test_protocols},
        {"incompatible_peer", test_incompatible_peer},
        {"connect_before_bind", test_connect_before_bind},
        {"stats", test_stats},
        {"backoff", test_backoff},
        {"shutdown_one", test_shutdown_one},
        {"killed_peer", test_killed_peer},
        {"backpressure", test_backpressure},
        {"rcvmaxsize", test_rcvmaxsize},
        {"linger", test_linger},
    };
    self = argv[0];
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (only && strcmp(only, steps[i].name) != 0)
            continue;
        double t0 = tu_now();
        int before = tu_failures;
        steps[i].run();
        printf("%s %s: %s, %.1f s\n", sc->name, steps[i].name,
               tu_failures == before ? "ok" : "FAILED", tu_now() - t0);
    }
    nn_term();
    if (sc->tls) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", certdir);
    }
    TEST_DONE();
}
