/* test_tcp.c: the tcp:// transport. Address syntax and every bind/connect
   error against the stock library's answers; messages of 0 B to 5 MiB both
   ways and bursts of small ones; IPv6 literals, DNS names, interface names
   and the local;remote form; NN_TCP_NODELAY; connect before bind,
   reconnection after the peer went (also a killed peer process), backoff;
   nn_shutdown of one endpoint; backpressure both ways; NN_RCVMAXSIZE;
   NN_LINGER delivering the tail at close and holding nn_close until the
   peer has taken everything and closed; statistics; an incompatible peer;
   every protocol pair over tcp; a slow resolver not blocking the caller. */
#include "testutil.h"

#include <nanomsg/bus.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>
#include <nanomsg/tcp.h>

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* --------------------------------------------------------- helpers */

/* Ports come from a pid-derived range below the kernel's ephemeral ports;
   one found in use is skipped. */
static int port_next;

static int next_port(void)
{
    if (!port_next)
        port_next = 20000 + (int) ((unsigned) getpid() * 53u % 12000u);
    int p = port_next++;
    if (port_next >= 32000)
        port_next = 20000;
    return p;
}

/* nn_bind to tcp://<host>:<a free port>; the address used goes to addr. */
static int bind_tcp(int s, const char *host, char *addr)
{
    for (int i = 0; i < 500; i++) {
        snprintf(addr, NN_SOCKADDR_MAX, "tcp://%s:%d", host, next_port());
        int eid = nn_bind(s, addr);
        if (eid >= 0 || errno != EADDRINUSE)
            return eid;
    }
    return -1;
}

/* A port nobody listens on right now. */
static int free_port(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    char addr[NN_SOCKADDR_MAX];
    int eid = bind_tcp(s, "127.0.0.1", addr);
    CHECK(eid >= 0);
    nn_close(s);
    return atoi(strrchr(addr, ':') + 1);
}

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
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

static int64_t stat_of(int s, int which) { return (int64_t) nn_get_statistic(s, which); }

/* The next message is want. Stray "ping"s from wait_linked are skipped. */
static bool recv_is(int s, const char *want)
{
    char buf[256];
    int n;
    do
        n = nn_recv(s, buf, sizeof(buf), 0);
    while (n == 4 && memcmp(buf, "ping", 4) == 0 && strcmp(want, "ping") != 0);
    return n == (int) strlen(want) && memcmp(buf, want, (size_t) n) == 0;
}

/* Send "ping" from a until b gets it (a connection up and attached). */
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
        ok = recv_is(b, "ping");
    }
    set_int(b, NN_RCVTIMEO, 10000);
    return ok;
}

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

/* ------------------------------------------------ addresses and errors */

struct addr_case {
    bool bind;
    int ipv4only;
    const char *addr;
    int err; /* 0: accepted */
};

/* The stock library's answers (probed), except that interface names are
   accepted to bind where it knows only literals. "PORT" stands for a free
   port. */
static const struct addr_case addr_cases[] = {
    {true, 1, "tcp://*:PORT", 0},
    {false, 1, "tcp://*:PORT", EINVAL},
    {true, 1, "tcp://127.0.0.1:PORT", 0},
    {true, 1, "tcp://[127.0.0.1]:PORT", 0},
    {true, 1, "tcp://0.0.0.0:PORT", 0},
    {true, 1, "tcp://lo:PORT", 0},
    {true, 1, "tcp://nosuch0:PORT", ENODEV},
    {true, 1, "tcp://localhost:PORT", ENODEV},
    {true, 1, "tcp://:PORT", ENODEV},
    {true, 1, "tcp://[*]:PORT", ENODEV},
    {true, 1, "tcp://1.2.3:PORT", ENODEV},
    {true, 1, "tcp://*;127.0.0.1:PORT", ENODEV},
    {true, 1, "tcp://[::1]:PORT", ENODEV},
    {true, 1, "tcp://::1:PORT", ENODEV},
    {true, 1, "tcp://192.0.2.99:PORT", EADDRNOTAVAIL},
    {true, 1, "tcp://8.8.8.8:PORT", EADDRNOTAVAIL},
    {true, 1, "tcp://127.0.0.1:PORT:6", ENODEV},
    {true, 1, "tcp://*:", EINVAL},
    {true, 1, "tcp://*:0", EINVAL},
    {true, 1, "tcp://*:65536", EINVAL},
    {true, 1, "tcp://*:abc", EINVAL},
    {true, 1, "tcp://*:-1", EINVAL},
    {true, 1, "tcp://*:+5", EINVAL},
    {true, 1, "tcp://*: 5", EINVAL},
    {true, 1, "tcp://*:5555x", EINVAL},
    {true, 1, "tcp://*", EINVAL},
    {true, 1, "tcp://", EINVAL},
    {true, 1, "tcp://127.0.0.1:PORT;x", EINVAL},
    {false, 1, "tcp://127.0.0.1:PORT", 0},
    {false, 1, "tcp://[127.0.0.1]:PORT", 0},
    {false, 1, "tcp://localhost:PORT", 0},
    {false, 1, "tcp://LOCALHOST.:PORT", 0},
    {false, 1, "tcp://nosuch.invalid:PORT", 0},
    {false, 1, "tcp://a-:PORT", 0},
    {false, 1, "tcp://1.2.3:PORT", 0},
    {false, 1, "tcp://lo:PORT", 0},
    {false, 1, "tcp://127.0.0.1;127.0.0.1:PORT", 0},
    {false, 1, "tcp://*;127.0.0.1:PORT", 0},
    {false, 1, "tcp://lo;127.0.0.1:PORT", ENODEV},
    {false, 1, "tcp://nosuch0;127.0.0.1:PORT", ENODEV},
    {false, 1, "tcp://;127.0.0.1:PORT", ENODEV},
    {false, 1, "tcp://[::1];127.0.0.1:PORT", ENODEV},
    {false, 0, "tcp://[::1];127.0.0.1:PORT", 0},
    {false, 1, "tcp://x;y;z:PORT", EINVAL},
    {false, 1, "tcp://-a:PORT", EINVAL},
    {false, 1, "tcp://.a:PORT", EINVAL},
    {false, 1, "tcp://a..b:PORT", EINVAL},
    {false, 1, "tcp://a_b:PORT", EINVAL},
    {false, 1, "tcp://bad_host!:PORT", EINVAL},
    {false, 1, "tcp://[lo]:PORT", EINVAL},
    {false, 1, "tcp://[]:PORT", EINVAL},
    {false, 1, "tcp://:PORT", EINVAL},
    {false, 1, "tcp://[::1]:PORT", EINVAL},
    {false, 0, "tcp://[::1]:PORT", 0},
    {false, 0, "tcp://::1:PORT", 0},
    {false, 1, "tcp://127.0.0.1", EINVAL},
    {false, 1, "tcp://127.0.0.1:", EINVAL},
    {false, 1, "tcp://127.0.0.1:0", EINVAL},
    {false, 1, "tcp://127.0.0.1:00005555", 0},
    {false, 1, "tcp://127.0.0.1:PORT ", EINVAL},
    {false, 1, "tcp://127.0.0.1:PORT:6", EINVAL},
    {false, 1, "tcp://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x:PORT", 0},
    {false, 1, "tcp://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x:PORT",
     EINVAL}, /* a 64-character label */
};

static void test_addr_errors(void)
{
    for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
        const struct addr_case *c = &addr_cases[i];
        char addr[NN_SOCKADDR_MAX + 16];
        const char *p = strstr(c->addr, "PORT");
        if (p)
            snprintf(addr, sizeof(addr), "%.*s%d%s", (int) (p - c->addr), c->addr, free_port(),
                     p + 4);
        else
            snprintf(addr, sizeof(addr), "%s", c->addr);
        int s = nn_socket(AF_SP, NN_PAIR);
        CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_IPV4ONLY, &c->ipv4only, sizeof(int)) == 0);
        errno = 0;
        int rc = c->bind ? nn_bind(s, addr) : nn_connect(s, addr);
        int got = rc >= 0 ? 0 : errno;
        if (got != c->err) {
            fprintf(stderr, "%s %s (ipv4only %d): got %s, want %s\n", c->bind ? "bind" : "connect",
                    addr, c->ipv4only, got ? nn_strerror(got) : "success",
                    c->err ? nn_strerror(c->err) : "success");
            tu_failures++;
        }
        nn_close(s);
    }

    /* EADDRINUSE, also between "*" and a specific address. */
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    char addr[NN_SOCKADDR_MAX], other[NN_SOCKADDR_MAX];
    CHECK(bind_tcp(a, "127.0.0.1", addr) >= 0);
    CHECK_ERR(nn_bind(b, addr), EADDRINUSE);
    snprintf(other, sizeof(other), "tcp://*:%s", strrchr(addr, ':') + 1);
    CHECK_ERR(nn_bind(b, other), EADDRINUSE);
    /* As in the stock library, a bind refused at once is not counted. */
    CHECK(nn_get_statistic(b, NN_STAT_BIND_ERRORS) == 0);
    /* The port is free again once the binder is gone (SO_REUSEADDR). */
    nn_close(a);
    CHECK(nn_bind(b, addr) >= 0);
    nn_close(b);
}

static void test_options(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    int v = -1;
    size_t len = sizeof(v);
    CHECK(nn_getsockopt(s, NN_TCP, NN_TCP_NODELAY, &v, &len) == 0 && v == 0 && len == sizeof(v));
    v = 1;
    CHECK(nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &v, sizeof(v)) == 0);
    v = 7;
    len = sizeof(v);
    CHECK(nn_getsockopt(s, NN_TCP, NN_TCP_NODELAY, &v, &len) == 0 && v == 1);
    v = 2;
    CHECK_ERR(nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &v, sizeof(v)), EINVAL);
    v = -1;
    CHECK_ERR(nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &v, sizeof(v)), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &v, 2), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, NULL, sizeof(v)), EFAULT);
    CHECK_ERR(nn_setsockopt(s, NN_TCP, 99, &v, sizeof(v)), ENOPROTOOPT);
    len = sizeof(v);
    CHECK_ERR(nn_getsockopt(s, NN_TCP, 99, &v, &len), ENOPROTOOPT);
    /* A short buffer gets what fits and the full length back. */
    uint8_t small[2] = {0xaa, 0xaa};
    len = sizeof(small);
    CHECK(nn_getsockopt(s, NN_TCP, NN_TCP_NODELAY, small, &len) == 0 && len == sizeof(int));

    /* A connection made with NODELAY on works like any other. */
    int c = sock(NN_PAIR);
    v = 1;
    CHECK(nn_setsockopt(c, NN_TCP, NN_TCP_NODELAY, &v, sizeof(v)) == 0);
    char addr[NN_SOCKADDR_MAX];
    set_int(s, NN_RCVTIMEO, 10000);
    CHECK(bind_tcp(s, "127.0.0.1", addr) >= 0);
    CHECK(nn_connect(c, addr) >= 0);
    CHECK(nn_send(c, "fast", 4, 0) == 4);
    CHECK(recv_is(s, "fast"));
    nn_close(c);
    nn_close(s);
}

/* ------------------------------------------------------- data transfer */

static bool have_ipv6(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    set_int(s, NN_IPV4ONLY, 0);
    char addr[NN_SOCKADDR_MAX];
    bool ok = bind_tcp(s, "[::1]", addr) >= 0;
    nn_close(s);
    return ok;
}

static void exchange_sizes(const char *bind_host, const char *connect_fmt, int ipv4only)
{
    static const size_t sizes[] = {0, 1, 8, 100, 4095, 16383, 16384, 65535, 65536, 65545,
                                   200000, 1 << 20, (1 << 20) + 1, 5 << 20};
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    set_int(a, NN_IPV4ONLY, ipv4only);
    set_int(b, NN_IPV4ONLY, ipv4only);
    set_int(a, NN_RCVMAXSIZE, -1);
    set_int(b, NN_RCVMAXSIZE, -1);
    char addr[NN_SOCKADDR_MAX], caddr[NN_SOCKADDR_MAX];
    CHECK(bind_tcp(a, bind_host, addr) >= 0);
    snprintf(caddr, sizeof(caddr), connect_fmt, atoi(strrchr(addr, ':') + 1));
    CHECK(nn_connect(b, caddr) >= 0);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        uint8_t *p = pattern(n, (unsigned) i);
        for (int dir = 0; dir < 2; dir++) {
            int from = dir ? a : b, to = dir ? b : a;
            CHECK(nn_send(from, p, n, 0) == (int) n);
            void *got = NULL;
            int r = nn_recv(to, &got, NN_MSG, 0);
            CHECK(r == (int) n);
            if (r == (int) n && memcmp(got, p, n) != 0) {
                fprintf(stderr, "%zu-byte message differs (%s)\n", n, caddr);
                tu_failures++;
            }
            if (r >= 0)
                nn_freemsg(got);
        }
        free(p);
    }
    nn_close(b);
    nn_close(a);
}

/* Many small messages sent at once: the receiver cuts them out of large
   reads and keeps their order. */
static void test_burst(void)
{
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    char addr[NN_SOCKADDR_MAX];
    CHECK(bind_tcp(a, "127.0.0.1", addr) >= 0);
    CHECK(nn_connect(b, addr) >= 0);
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
        uint32_t id;
        memcpy(&id, m, sizeof(id));
        if (n != (int) (4 + i % 10) || id != i || (n > 4 && m[n - 1] != (uint8_t) i)) {
            fprintf(stderr, "burst message %u: got %d bytes, id %u\n", i, n, id);
            tu_failures++;
            break;
        }
    }
    nn_close(b);
    nn_close(a);
}

static void test_every_protocol(void)
{
    static const int pairs[][2] = {{NN_PAIR, NN_PAIR}, {NN_REQ, NN_REP}, {NN_PUSH, NN_PULL},
                                   {NN_PUB, NN_SUB}, {NN_SURVEYOR, NN_RESPONDENT},
                                   {NN_BUS, NN_BUS}};
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        int x = nn_socket(AF_SP, pairs[i][0]);
        int y = nn_socket(AF_SP, pairs[i][1]);
        if (x < 0 || y < 0) {
            printf("protocol %d/%d not built in, skipped\n", pairs[i][0], pairs[i][1]);
            if (x >= 0)
                nn_close(x);
            if (y >= 0)
                nn_close(y);
            continue;
        }
        set_int(x, NN_RCVTIMEO, 10000);
        set_int(y, NN_RCVTIMEO, 10000);
        set_int(x, NN_SNDTIMEO, 10000);
        set_int(y, NN_SNDTIMEO, 10000);
        if (pairs[i][1] == NN_SUB)
            CHECK(nn_setsockopt(y, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) == 0);
        char addr[NN_SOCKADDR_MAX];
        CHECK(bind_tcp(y, "127.0.0.1", addr) >= 0);
        CHECK(nn_connect(x, addr) >= 0);
        if (pairs[i][0] == NN_SURVEYOR) {
            int dl = 200;
            CHECK(nn_setsockopt(x, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &dl, sizeof(dl)) == 0);
            bool answered = false;
            double end = tu_now() + 10;
            while (!answered && tu_now() < end) {
                CHECK(nn_send(x, "q", 1, 0) == 1);
                set_int(y, NN_RCVTIMEO, 50);
                char b[8];
                if (nn_recv(y, b, sizeof(b), 0) == 1) {
                    CHECK(nn_send(y, "a", 1, 0) == 1);
                    answered = nn_recv(x, b, sizeof(b), 0) == 1 && b[0] == 'a';
                }
            }
            CHECK(answered);
        } else if (pairs[i][0] == NN_PUB || pairs[i][0] == NN_BUS) {
            CHECK(wait_linked(x, y)); /* these drop while no peer is there */
            if (pairs[i][0] == NN_BUS) {
                CHECK(nn_send(y, "back", 4, 0) == 4);
                CHECK(recv_is(x, "back"));
            }
        } else {
            CHECK(nn_send(x, "hello", 5, 0) == 5);
            CHECK(recv_is(y, "hello"));
            if (pairs[i][0] != NN_PUSH) {
                CHECK(nn_send(y, "world", 5, 0) == 5);
                CHECK(recv_is(x, "world"));
            }
        }
        nn_close(x);
        nn_close(y);
    }
}

/* A PAIR connecting to a PULL: the header exchange fails the protocol
   check, the connection is closed and retried, nothing is delivered. */
static void test_incompatible_peer(void)
{
    int pull = nn_socket(AF_SP, NN_PULL);
    if (pull < 0)
        return;
    int pair = sock(NN_PAIR);
    char addr[NN_SOCKADDR_MAX];
    CHECK(bind_tcp(pull, "127.0.0.1", addr) >= 0);
    CHECK(nn_connect(pair, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(pull, NN_STAT_BROKEN_CONNECTIONS) >= 2 &&
                       stat_of(pair, NN_STAT_BROKEN_CONNECTIONS) >= 2, 10));
    CHECK_ERR(nn_send(pair, "x", 1, NN_DONTWAIT), EAGAIN);
    nn_close(pair);
    nn_close(pull);
}

/* ------------------------------------------------- connection lifetime */

static void test_connect_before_bind(void)
{
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    char addr[NN_SOCKADDR_MAX];
    snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d", free_port());
    CHECK(nn_connect(b, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(b, NN_STAT_CONNECT_ERRORS) >= 2, 10));
    CHECK(stat_of(b, NN_STAT_ESTABLISHED_CONNECTIONS) == 0);
    CHECK(stat_of(b, NN_STAT_CURRENT_EP_ERRORS) == 1);
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
    CHECK(nn_bind(a, addr) >= 0);
    CHECK(nn_send(b, "again", 5, 0) == 5);
    CHECK(recv_is(a, "again"));
    CHECK(nn_send(a, "back", 4, 0) == 4);
    CHECK(recv_is(b, "back"));
    CHECK(stat_of(b, NN_STAT_ESTABLISHED_CONNECTIONS) == 2);
    nn_close(a);
    nn_close(b);
}

/* Reconnect attempts back off from NN_RECONNECT_IVL, doubling up to
   NN_RECONNECT_IVL_MAX; without a maximum they keep the base interval.
   Load can only make attempts later, so the checks are lower bounds on
   time. */
static void test_backoff(void)
{
    char addr[NN_SOCKADDR_MAX];
    snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d", free_port());

    int flat = sock(NN_PAIR);
    set_int(flat, NN_RECONNECT_IVL, 10);
    CHECK(nn_connect(flat, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(flat, NN_STAT_CONNECT_ERRORS) >= 10, 10));
    nn_close(flat);

    int b = sock(NN_PAIR);
    set_int(b, NN_RECONNECT_IVL, 40);
    set_int(b, NN_RECONNECT_IVL_MAX, 320);
    double t0 = tu_now();
    CHECK(nn_connect(b, addr) >= 0);
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

/* nn_shutdown closes that endpoint's connections and nothing else. */
static void test_shutdown_one(void)
{
    int srv = sock(NN_BUS);
    if (srv < 0)
        return;
    int c1 = sock(NN_BUS), c2 = sock(NN_BUS);
    char a1[NN_SOCKADDR_MAX], a2[NN_SOCKADDR_MAX];
    int e1 = bind_tcp(srv, "127.0.0.1", a1);
    int e2 = bind_tcp(srv, "127.0.0.1", a2);
    CHECK(e1 >= 0 && e2 >= 0);
    CHECK(nn_connect(c1, a1) >= 0);
    CHECK(nn_connect(c2, a2) >= 0);
    CHECK(wait_linked(c1, srv));
    CHECK(wait_linked(c2, srv));
    CHECK(stat_of(srv, NN_STAT_CURRENT_CONNECTIONS) == 2);
    CHECK(nn_shutdown(srv, e1) == 0);
    CHECK(stat_of(srv, NN_STAT_CURRENT_CONNECTIONS) == 1);
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
    int eid = nn_connect(c1, a2);
    CHECK(eid >= 0);
    CHECK(WAIT_FOR(stat_of(srv, NN_STAT_CURRENT_CONNECTIONS) == 2, 10));
    CHECK(nn_shutdown(c1, eid) == 0);
    CHECK(WAIT_FOR(stat_of(srv, NN_STAT_CURRENT_CONNECTIONS) == 1, 10));
    nn_close(c1);
    nn_close(c2);
    nn_close(srv);
}

/* A receiver that does not read pushes back: the sender's non-blocking
   sends fail with EAGAIN after a bounded amount, nothing is lost, and
   sending resumes once the receiver reads. */
static void test_backpressure(void)
{
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    set_int(a, NN_RCVBUF, 64 * 1024);
    set_int(b, NN_SNDBUF, 64 * 1024);
    char addr[NN_SOCKADDR_MAX];
    CHECK(bind_tcp(a, "127.0.0.1", addr) >= 0);
    CHECK(nn_connect(b, addr) >= 0);
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
        /* Let the kernel buffers settle, then try again, so that a send
           refused only because the loop had not flushed yet is retried. */
        if (!WAIT_FOR(nn_send(b, m, SZ, NN_DONTWAIT) == SZ, 0.2))
            break;
        sent++;
    }
    CHECK(sent > 0 && sent < MAX);
    /* Roughly: our two queues plus the two kernel buffers plus one read. */
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
    CHECK(nn_send(b, "after", 5, 0) == 5);
    CHECK(recv_is(a, "after"));
    free(m);
    nn_close(b);
    nn_close(a);
}

/* A message above the receiver's NN_RCVMAXSIZE drops the connection (and
   is not delivered); the sender reconnects, smaller messages flow. */
static void test_rcvmaxsize(void)
{
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    set_int(a, NN_RCVMAXSIZE, 1000);
    char addr[NN_SOCKADDR_MAX];
    CHECK(bind_tcp(a, "127.0.0.1", addr) >= 0);
    CHECK(nn_connect(b, addr) >= 0);
    uint8_t *big = pattern(1001, 3);
    CHECK(nn_send(b, big, 1000, 0) == 1000);
    void *got = NULL;
    CHECK(nn_recv(a, &got, NN_MSG, 0) == 1000);
    if (got)
        nn_freemsg(got);
    CHECK(nn_send(b, big, 1001, 0) == 1001);
    CHECK(WAIT_FOR(stat_of(a, NN_STAT_BROKEN_CONNECTIONS) == 1, 10));
    CHECK(WAIT_FOR(stat_of(b, NN_STAT_ESTABLISHED_CONNECTIONS) == 2, 10));
    CHECK(nn_send(b, "small", 5, 0) == 5);
    CHECK(recv_is(a, "small"));
    free(big);
    nn_close(b);
    nn_close(a);
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
        if ((size_t) n != r->size || id != r->got)
            break;
        r->got++;
        nn_freemsg(m);
    }
    return NULL;
}

/* Read exactly n bytes from a raw descriptor, 10 s at most per read. */
static bool raw_read(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 10000) != 1)
            return false;
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t) r;
    }
    return true;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

struct closer {
    int s;
    atomic_int done;
};

static void *closer_main(void *arg)
{
    struct closer *c = arg;
    nn_close(c->s);
    atomic_store(&c->done, 1);
    return NULL;
}

/* NN_LINGER: nn_close returns only once the peer has closed after our EOF
   (or at the linger), not when what we wrote reached our kernel: a program
   exits right after nn_close, and a tcp close with unread input resets the
   connection, on which the stock library drops what it has not yet taken.
   The peer is a raw socket. Small messages leave nothing queued at close
   (direct write); large ones are still queued when nn_close starts. */
static void linger_until_peer_closes(int count, size_t size)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(in);
    CHECK(bind(l, (struct sockaddr *) &in, sizeof(in)) == 0);
    CHECK(getsockname(l, (struct sockaddr *) &in, &len) == 0);
    CHECK(listen(l, 4) == 0);
    char addr[NN_SOCKADDR_MAX];
    snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d", ntohs(in.sin_port));

    int s = sock(NN_PUSH);
    set_int(s, NN_SNDBUF, 8 * 1024 * 1024); /* everything fits in our queue */
    set_int(s, NN_LINGER, 30000);
    CHECK(nn_connect(s, addr) >= 0);
    struct pollfd lp = {.fd = l, .events = POLLIN};
    CHECK(poll(&lp, 1, 10000) == 1);
    int fd = accept(l, NULL, NULL);
    CHECK(fd >= 0);
    const uint8_t pull_hdr[8] = {0, 'S', 'P', 0, 0, NN_PULL & 0xff, 0, 0};
    uint8_t hdr[8];
    CHECK(write(fd, pull_hdr, 8) == 8);
    CHECK(raw_read(fd, hdr, 8) && hdr[1] == 'S' && hdr[5] == (NN_PUSH & 0xff));

    uint8_t *m = pattern(size, 9);
    for (int i = 0; i < count; i++) {
        memcpy(m, &i, sizeof(i));
        CHECK(nn_send(s, m, size, 0) == (int) size);
    }
    struct closer c = {.s = s};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, closer_main, &c) == 0);

    uint8_t *got = malloc(size);
    int ok = 0;
    for (int i = 0; i < count; i++) {
        uint8_t pfx[8];
        memcpy(m, &i, sizeof(i));
        if (!raw_read(fd, pfx, 8) || get_be64(pfx) != size || !raw_read(fd, got, size) ||
            memcmp(got, m, size) != 0)
            break;
        ok++;
    }
    CHECK(ok == count);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char b;
    CHECK(poll(&pfd, 1, 10000) == 1 && read(fd, &b, 1) == 0); /* our FIN */
    pfd.events = 0;
    CHECK(poll(&pfd, 1, 0) == 0);  /* no reset */
    CHECK(!atomic_load(&c.done));  /* nn_close still waits for us */
    close(fd);
    CHECK(WAIT_FOR(atomic_load(&c.done), 10)); /* long before the linger */
    pthread_join(th, NULL);
    free(got);
    free(m);
    close(l);
}

/* NN_LINGER: messages queued behind a slow reader still reach it after
   the sender's nn_close, which waits (up to the linger) for them to go. */
static void test_linger(void)
{
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    enum { SZ = 64 * 1024, N = 64 };
    set_int(b, NN_SNDBUF, 8 * 1024 * 1024); /* everything fits in our queue */
    set_int(b, NN_LINGER, 10000);
    char addr[NN_SOCKADDR_MAX];
    CHECK(bind_tcp(a, "127.0.0.1", addr) >= 0);
    CHECK(nn_connect(b, addr) >= 0);
    CHECK(wait_linked(b, a));
    struct reader r = {.s = a, .count = N, .size = SZ};
    pthread_t th;
    pthread_create(&th, NULL, reader_main, &r);
    uint8_t *m = pattern(SZ, 5);
    for (int i = 0; i < N; i++) {
        memcpy(m, &i, sizeof(i));
        CHECK(nn_send(b, m, SZ, 0) == SZ);
    }
    atomic_store(&r.go, 1);
    CHECK(nn_close(b) == 0);
    pthread_join(th, NULL);
    CHECK(r.got == N);
    free(m);
    nn_close(a);

    /* A peer that never reads: nn_close gives up after the linger. */
    a = sock(NN_PAIR);
    b = sock(NN_PAIR);
    set_int(b, NN_SNDBUF, 32 * 1024 * 1024);
    CHECK(bind_tcp(a, "127.0.0.1", addr) >= 0);
    CHECK(nn_connect(b, addr) >= 0);
    CHECK(wait_linked(b, a));
    m = pattern(1 << 20, 6);
    for (int i = 0; i < 24; i++)
        CHECK(nn_send(b, m, 1 << 20, 0) == 1 << 20);
    set_int(b, NN_LINGER, 300);
    double t0 = tu_now();
    CHECK(nn_close(b) == 0);
    double took = tu_now() - t0;
    CHECK(took >= 0.25 && took < 5);
    free(m);
    nn_close(a);

    linger_until_peer_closes(8, 1000);
    linger_until_peer_closes(16, 256 * 1024);
}

/* A peer process killed outright: the connection is counted broken and
   re-established when a new process binds the same address. */
static pid_t spawn_peer(const char *self, const char *addr)
{
    pid_t pid;
    char *argv[] = {(char *) self, "--peer", (char *) addr, NULL};
    if (posix_spawn(&pid, self, NULL, NULL, argv, environ) != 0)
        return -1;
    return pid;
}

static int peer_main(const char *addr)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    int t = 30000;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &t, sizeof(t));
    if (nn_bind(s, addr) < 0)
        return 1;
    /* Echo until killed. */
    for (;;) {
        void *m;
        int n = nn_recv(s, &m, NN_MSG, 0);
        if (n < 0)
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

static void test_killed_peer(const char *self)
{
    char addr[NN_SOCKADDR_MAX];
    snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d", free_port());
    int s = sock(NN_PAIR);
    CHECK(nn_connect(s, addr) >= 0);
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
}

/* Resolving a name never blocks nn_connect or nn_close, however slow the
   resolver (".invalid" may take the full resolver timeout). */
static void test_resolver_off_thread(void)
{
    int s = sock(NN_PAIR);
    double t0 = tu_now();
    CHECK(nn_connect(s, "tcp://name-that-does-not-exist.invalid:5555") >= 0);
    CHECK(nn_connect(s, "tcp://another-missing-name.invalid:5556") >= 0);
    CHECK(nn_close(s) == 0);
    CHECK(tu_now() - t0 < 2.0);

    /* localhost resolves (through the resolver thread) and connects. */
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    char addr[NN_SOCKADDR_MAX], name[NN_SOCKADDR_MAX];
    CHECK(bind_tcp(a, "127.0.0.1", addr) >= 0);
    snprintf(name, sizeof(name), "tcp://localhost:%s", strrchr(addr, ':') + 1);
    CHECK(nn_connect(b, name) >= 0);
    CHECK(nn_send(b, "named", 5, 0) == 5);
    CHECK(recv_is(a, "named"));
    nn_close(b);
    nn_close(a);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--peer") == 0)
        return peer_main(argv[2]);
    signal(SIGPIPE, SIG_IGN);
    test_addr_errors();
    test_options();
    exchange_sizes("127.0.0.1", "tcp://127.0.0.1:%d", 1);
    exchange_sizes("*", "tcp://localhost:%d", 1);
    exchange_sizes("lo", "tcp://127.0.0.1;127.0.0.1:%d", 1);
    exchange_sizes("127.0.0.1", "tcp://*;127.0.0.1:%d", 1);
    if (have_ipv6()) {
        exchange_sizes("[::1]", "tcp://[::1]:%d", 0);
        exchange_sizes("*", "tcp://[::1];[::1]:%d", 0); /* dual-stack listener */
        exchange_sizes("*", "tcp://127.0.0.1:%d", 0);
    } else {
        printf("no IPv6 loopback: IPv6 cases skipped\n");
    }
    test_burst();
    test_every_protocol();
    test_incompatible_peer();
    test_connect_before_bind();
    test_backoff();
    test_shutdown_one();
    test_backpressure();
    test_rcvmaxsize();
    test_linger();
    test_killed_peer(argv[0]);
    test_resolver_off_thread();
    nn_term();
    TEST_DONE();
}
