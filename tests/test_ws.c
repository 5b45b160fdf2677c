/* test_ws.c: the ws:// transport between femtomsg sockets. Address syntax
   and errors (the stock library's answers where it has one); the
   NN_WS_MSG_TYPE option; messages of 0 B to 3 MiB around every frame-length
   and fragment boundary, both ways, in binary and in text frames, from the
   client side (masked) and the server side; every protocol pair, with
   either side binding; several sockets bound to one host:port under
   different paths, an unknown path, a path bound twice, a closed path and
   the port freed after the last; IPv6, "*", DNS names; a peer of the wrong
   protocol (refused by the handshake); connect before bind and
   reconnection; NN_RCVMAXSIZE; invalid UTF-8 in text; backpressure;
   NN_LINGER delivering the tail at close; statistics. */
#include "testutil.h"

#include <nanomsg/bus.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>
#include <nanomsg/ws.h>

#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

/* --------------------------------------------------------- helpers */

static int port_next;
static const char text_tail[] = "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789"
                                "abcdefghijklmnopqrstuvwxyz";

/* Ports from a pid-derived range below the kernel's ephemeral ports. */
static int next_port(void)
{
    if (!port_next)
        port_next = 20000 + (int) ((unsigned) getpid() * 59u % 12000u);
    int p = port_next++;
    if (port_next >= 32000)
        port_next = 20000;
    return p;
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

/* nn_bind to ws://<host>:<a free port><path>; the address goes to addr and
   the port is returned (or -1). */
static int bind_ws(int s, const char *host, const char *path, char *addr)
{
    for (int i = 0; i < 500; i++) {
        int port = next_port();
        snprintf(addr, NN_SOCKADDR_MAX, "ws://%s:%d%s", host, port, path);
        if (nn_bind(s, addr) >= 0)
            return port;
        if (errno != EADDRINUSE)
            return -1;
    }
    return -1;
}

static int64_t stat_of(int s, int which) { return (int64_t) nn_get_statistic(s, which); }

static bool connected(int s, int n)
{
    return WAIT_FOR(stat_of(s, NN_STAT_CURRENT_CONNECTIONS) >= n, 10);
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

/* n bytes of valid UTF-8 mixing one- to four-byte characters, padded with
   ASCII, so that frame ends fall inside characters. */
static uint8_t *text_pattern(size_t n)
{
    static const char unit[] = "a\xc3\xa9\xe6\x97\xa5\xf0\x9d\x84\x9e";
    uint8_t *p = malloc(n ? n : 1);
    size_t i = 0;
    while (i + 10 <= n) {
        memcpy(p + i, unit, 10);
        i += 10;
    }
    while (i < n)
        p[i++] = 'z';
    return p;
}

static bool recv_exact(int s, const void *want, size_t n)
{
    void *b = NULL;
    int r = nn_recv(s, &b, NN_MSG, 0);
    if (r < 0)
        return false;
    bool ok = (size_t) r == n && memcmp(b, want, n) == 0;
    if (!ok)
        fprintf(stderr, "got %d bytes, want %zu\n", r, n);
    nn_freemsg(b);
    return ok;
}

static bool recv_str(int s, const char *want) { return recv_exact(s, want, strlen(want)); }

/* Send "ping" from a until b gets it. */
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
        int n;
        while ((n = nn_recv(b, buf, sizeof(buf), 0)) == 4 && memcmp(buf, "ping", 4) == 0)
            ok = true;
    }
    set_int(b, NN_RCVTIMEO, 10000);
    return ok;
}

/* ------------------------------------------------ addresses and errors */

static void test_addresses(void)
{
    static const struct {
        const char *addr;
        int bind_err, connect_err; /* 0: accepted */
    } cases[] = {
        {"ws://127.0.0.1", EINVAL, 0}, /* connect: port 80 */
        {"ws://127.0.0.1:", EINVAL, EINVAL},
        {"ws://127.0.0.1:0", EINVAL, EINVAL},
        {"ws://127.0.0.1:99999", EINVAL, EINVAL},
        {"ws://127.0.0.1:56a", EINVAL, EINVAL},
        {"ws://127.0.0.1:5610?x", EINVAL, EINVAL},
        {"ws://:5609", ENODEV, EINVAL},
        {"ws://*:5604", 0, EINVAL},
        {"ws://[::1]:5605", ENODEV, EINVAL}, /* NN_IPV4ONLY is on */
        {"ws://[::1]", EINVAL, EINVAL},
        {"ws://a_b:5", ENODEV, EINVAL},
        {"ws://127.0.0.1;127.0.0.1:5", ENODEV, 0},
        {"ws://127.0.0.1:5613/a b", EINVAL, EINVAL},
        {"ws://127.0.0.1:5614/q?x=1", EINVAL, 0},
        {"ws://127.0.0.1:5615/a/b/c", 0, 0},
        {"ws://", EINVAL, EINVAL},
        {"ws:///x", EINVAL, EINVAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int b = 0; b < 2; b++) {
            int s = nn_socket(AF_SP, NN_PAIR);
            errno = 0;
            int rc = b ? nn_bind(s, cases[i].addr) : nn_connect(s, cases[i].addr);
            int want = b ? cases[i].bind_err : cases[i].connect_err;
            if (want == 0 && rc < 0 && b && errno == EADDRINUSE)
                rc = 0; /* a port someone else holds: the syntax was fine */
            if ((want == 0) != (rc >= 0) || (want && errno != want)) {
                fprintf(stderr, "%s %s: rc %d errno %s, want %s\n", b ? "bind" : "connect",
                        cases[i].addr, rc, nn_strerror(errno), want ? nn_strerror(want) : "ok");
                tu_failures++;
            }
            nn_close(s);
        }
    }
    /* A long path fits as long as the whole address does. */
    char addr[NN_SOCKADDR_MAX + 8];
    int s = nn_socket(AF_SP, NN_PAIR);
    snprintf(addr, sizeof(addr), "ws://127.0.0.1:5616/%0*d", NN_SOCKADDR_MAX - 25, 0);
    CHECK(nn_connect(s, addr) >= 0);
    snprintf(addr, sizeof(addr), "ws://127.0.0.1:5616/%0*d", NN_SOCKADDR_MAX, 0);
    CHECK_ERR(nn_connect(s, addr), ENAMETOOLONG);
    nn_close(s);
}

static void test_option(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    int v = 0;
    size_t sz = sizeof(v);
    CHECK(nn_getsockopt(s, NN_WS, NN_WS_MSG_TYPE, &v, &sz) == 0 && v == NN_WS_MSG_TYPE_BINARY &&
          sz == sizeof(int));
    v = NN_WS_MSG_TYPE_TEXT;
    CHECK(nn_setsockopt(s, NN_WS, NN_WS_MSG_TYPE, &v, sizeof(v)) == 0);
    sz = sizeof(v);
    v = 0;
    CHECK(nn_getsockopt(s, NN_WS, NN_WS_MSG_TYPE, &v, &sz) == 0 && v == NN_WS_MSG_TYPE_TEXT);
    v = 3;
    CHECK_ERR(nn_setsockopt(s, NN_WS, NN_WS_MSG_TYPE, &v, sizeof(v)), EINVAL);
    v = 0;
    CHECK_ERR(nn_setsockopt(s, NN_WS, NN_WS_MSG_TYPE, &v, sizeof(v)), EINVAL);
    v = NN_WS_MSG_TYPE_BINARY;
    CHECK_ERR(nn_setsockopt(s, NN_WS, NN_WS_MSG_TYPE, &v, 2), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_WS, 2, &v, sizeof(v)), ENOPROTOOPT);
    sz = sizeof(v);
    CHECK_ERR(nn_getsockopt(s, NN_WS, 2, &v, &sz), ENOPROTOOPT);
    nn_close(s);
}

/* ------------------------------------------------------------ messages */

static const size_t sizes[] = {0,       1,           2,           125,         126,
                               127,     1000,        65535,       65536,       65537,
                               100000,  (1u << 20) - 1, 1u << 20, (1u << 20) + 1, (1u << 20) + 3,
                               (3u << 20) + 5};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* Every size both ways between a bound and a connected PAIR, binary or
   text (then with characters cut by the frame ends). */
static void test_sizes(bool text)
{
    int srv = sock(NN_PAIR), cli = sock(NN_PAIR);
    if (text) {
        int v = NN_WS_MSG_TYPE_TEXT;
        CHECK(nn_setsockopt(srv, NN_WS, NN_WS_MSG_TYPE, &v, sizeof(v)) == 0);
        CHECK(nn_setsockopt(cli, NN_WS, NN_WS_MSG_TYPE, &v, sizeof(v)) == 0);
    }
    set_int(srv, NN_RCVMAXSIZE, -1);
    set_int(cli, NN_RCVMAXSIZE, -1);
    char addr[NN_SOCKADDR_MAX];
    CHECK(bind_ws(srv, "127.0.0.1", "/sizes", addr) > 0);
    CHECK(nn_connect(cli, addr) >= 0);
    for (size_t i = 0; i < NSIZES; i++) {
        uint8_t *p = text ? text_pattern(sizes[i]) : pattern(sizes[i], (unsigned) i);
        CHECK(nn_send(cli, p, sizes[i], 0) == (int) sizes[i]);
        CHECK(recv_exact(srv, p, sizes[i]));
        CHECK(nn_send(srv, p, sizes[i], 0) == (int) sizes[i]);
        CHECK(recv_exact(cli, p, sizes[i]));
        free(p);
    }
    /* A burst of small ones, gathered on the wire. */
    for (int i = 0; i < 2000; i++) {
        char m[32];
        int n = snprintf(m, sizeof(m), "msg %d", i);
        CHECK(nn_send(cli, m, (size_t) n, 0) == n);
        CHECK(nn_send(srv, m, (size_t) n, 0) == n);
    }
    for (int i = 0; i < 2000; i++) {
        char m[32];
        snprintf(m, sizeof(m), "msg %d", i);
        CHECK(recv_str(srv, m));
        CHECK(recv_str(cli, m));
    }
    /* Zero-copy messages from nn_allocmsg, the body moved as it is. */
    void *z = nn_allocmsg(70000, 0);
    memset(z, text ? 'q' : 0xAB, 70000);
    uint8_t *copy = malloc(70000);
    memcpy(copy, z, 70000);
    CHECK(nn_send(cli, &z, NN_MSG, 0) == 70000);
    CHECK(recv_exact(srv, copy, 70000));
    free(copy);
    nn_close(cli);
    nn_close(srv);
}

/* ------------------------------------------------------- every protocol */

struct pairing {
    int a, b; /* a's type, b's type */
    const char *name;
};

static void exchange(int type_a, int a, int b)
{
    switch (type_a) {
    case NN_PAIR:
    case NN_BUS:
        CHECK(wait_linked(a, b));
        CHECK(nn_send(a, "hello", 5, 0) == 5);
        CHECK(recv_str(b, "hello"));
        CHECK(nn_send(b, "back", 4, 0) == 4);
        CHECK(recv_str(a, "back"));
        break;
    case NN_REQ:
        for (int i = 0; i < 20; i++) {
            char q[16], r[16];
            snprintf(q, sizeof(q), "q%d", i);
            snprintf(r, sizeof(r), "r%d", i);
            CHECK(nn_send(a, q, strlen(q), 0) == (int) strlen(q));
            CHECK(recv_str(b, q));
            CHECK(nn_send(b, r, strlen(r), 0) == (int) strlen(r));
            CHECK(recv_str(a, r));
        }
        break;
    case NN_PUB:
        CHECK(nn_setsockopt(b, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) == 0);
        CHECK(wait_linked(a, b));
        CHECK(nn_send(a, "news", 4, 0) == 4);
        CHECK(recv_str(b, "news"));
        break;
    case NN_PUSH:
        for (int i = 0; i < 20; i++)
            CHECK(nn_send(a, "job", 3, 0) == 3);
        for (int i = 0; i < 20; i++)
            CHECK(recv_str(b, "job"));
        break;
    case NN_SURVEYOR: {
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
                answered = recv_str(a, "vote");
            }
        }
        CHECK(answered);
        break;
    }
    }
}

static void test_protocols(void)
{
    static const struct pairing pairs[] = {
        {NN_PAIR, NN_PAIR, "pair"},         {NN_REQ, NN_REP, "req/rep"},
        {NN_PUB, NN_SUB, "pub/sub"},        {NN_PUSH, NN_PULL, "push/pull"},
        {NN_SURVEYOR, NN_RESPONDENT, "surveyor/respondent"}, {NN_BUS, NN_BUS, "bus"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
        for (int a_binds = 0; a_binds < 2; a_binds++) {
            int a = sock(pairs[i].a), b = sock(pairs[i].b);
            char addr[NN_SOCKADDR_MAX];
            CHECK(bind_ws(a_binds ? a : b, "127.0.0.1", "/proto", addr) > 0);
            CHECK(nn_connect(a_binds ? b : a, addr) >= 0);
            int before = tu_failures;
            exchange(pairs[i].a, a, b);
            if (tu_failures != before)
                fprintf(stderr, "  ... in %s, %s binding\n", pairs[i].name, a_binds ? "a" : "b");
            nn_close(a);
            nn_close(b);
        }
}

/* A peer of the wrong protocol: the server refuses its subprotocol. */
static void test_wrong_peer(void)
{
    int srv = sock(NN_PAIR), cli = sock(NN_REQ), good = sock(NN_PAIR);
    char addr[NN_SOCKADDR_MAX];
    CHECK(bind_ws(srv, "127.0.0.1", "/", addr) > 0);
    CHECK(nn_connect(cli, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(cli, NN_STAT_CONNECT_ERRORS) >= 3, 10));
    CHECK(stat_of(cli, NN_STAT_CURRENT_EP_ERRORS) == 1);
    CHECK(stat_of(cli, NN_STAT_ESTABLISHED_CONNECTIONS) == 0);
    CHECK(stat_of(srv, NN_STAT_ACCEPTED_CONNECTIONS) == 0);
    /* The server carries on. */
    CHECK(nn_connect(good, addr) >= 0);
    CHECK(wait_linked(good, srv));
    CHECK(stat_of(srv, NN_STAT_CURRENT_CONNECTIONS) == 1);
    nn_close(cli);
    nn_close(good);
    nn_close(srv);
}

/* ----------------------------------------------------------------- paths */

static void test_paths(void)
{
    enum { N = 4 };
    static const char *paths[N] = {"/", "/a", "/a/b", "/chat"};
    int srv[N], cli[N];
    char addr[NN_SOCKADDR_MAX];
    int port = -1;
    srv[0] = sock(NN_PAIR);
    port = bind_ws(srv[0], "127.0.0.1", paths[0], addr);
    CHECK(port > 0);
    for (int i = 1; i < N; i++) {
        srv[i] = sock(i == 3 ? NN_REP : NN_PAIR);
        snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d%s", port, paths[i]);
        CHECK(nn_bind(srv[i], addr) >= 0);
    }
    /* The same path again, from another socket or the same one. */
    int dup = sock(NN_PAIR);
    snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d/a", port);
    CHECK_ERR(nn_bind(dup, addr), EADDRINUSE);
    CHECK_ERR(nn_bind(srv[1], addr), EADDRINUSE);
    /* No path means "/". */
    snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d", port);
    CHECK_ERR(nn_bind(dup, addr), EADDRINUSE);
    for (int i = 0; i < N; i++) {
        cli[i] = sock(i == 3 ? NN_REQ : NN_PAIR);
        snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d%s", port, paths[i]);
        CHECK(nn_connect(cli[i], addr) >= 0);
    }
    for (int i = 0; i < N; i++) {
        char m[16];
        snprintf(m, sizeof(m), "to %d", i);
        if (i == 3) {
            CHECK(nn_send(cli[i], m, strlen(m), 0) == (int) strlen(m));
        } else {
            CHECK(wait_linked(cli[i], srv[i]));
            CHECK(nn_send(cli[i], m, strlen(m), 0) == (int) strlen(m));
        }
        CHECK(recv_str(srv[i], m));
        CHECK(stat_of(srv[i], NN_STAT_ACCEPTED_CONNECTIONS) == 1);
    }
    CHECK(nn_send(srv[3], "reply", 5, 0) == 5);
    CHECK(recv_str(cli[3], "reply"));
    /* A query string does not take part in routing. */
    int q = sock(NN_PAIR);
    nn_close(cli[2]);
    snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d/a/b?x=1&y", port);
    CHECK(nn_connect(q, addr) >= 0);
    CHECK(wait_linked(q, srv[2]));
    nn_close(q);

    /* An unknown path is refused (404), the others carry on. */
    int lost = sock(NN_PAIR);
    snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d/nobody", port);
    CHECK(nn_connect(lost, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(lost, NN_STAT_CONNECT_ERRORS) >= 2, 10));
    CHECK(stat_of(lost, NN_STAT_CURRENT_CONNECTIONS) == 0);

    /* Closing one path leaves the others served; its clients then get
       404 until it comes back, on the same port. */
    nn_close(srv[1]);
    CHECK(WAIT_FOR(stat_of(cli[1], NN_STAT_CURRENT_CONNECTIONS) == 0, 10));
    int64_t errs = stat_of(cli[1], NN_STAT_CONNECT_ERRORS);
    CHECK(WAIT_FOR(stat_of(cli[1], NN_STAT_CONNECT_ERRORS) > errs, 10));
    CHECK(nn_send(cli[0], "still", 5, 0) == 5);
    CHECK(recv_str(srv[0], "still"));
    srv[1] = sock(NN_PAIR);
    snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d/a", port);
    CHECK(nn_bind(srv[1], addr) >= 0);
    CHECK(wait_linked(cli[1], srv[1]));

    /* nn_shutdown of one bound path. */
    int eid;
    int extra = sock(NN_PAIR);
    snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d/extra", port);
    CHECK((eid = nn_bind(extra, addr)) >= 0);
    CHECK(nn_shutdown(extra, eid) == 0);
    CHECK(nn_bind(dup, addr) >= 0); /* free again */

    nn_close(lost);
    nn_close(extra);
    nn_close(dup);
    for (int i = 0; i < N; i++) {
        if (i != 2)
            nn_close(cli[i]);
        nn_close(srv[i]);
    }
    /* The last path gone, the port is free for anyone. */
    int again = sock(NN_PAIR);
    snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d/x", port);
    CHECK(nn_bind(again, addr) >= 0);
    nn_close(again);
}

/* --------------------------------------------------- hosts and families */

static void test_hosts(void)
{
    char addr[NN_SOCKADDR_MAX], caddr[NN_SOCKADDR_MAX];
    /* "*" binds every interface. */
    int s = sock(NN_PAIR), c = sock(NN_PAIR);
    int port = bind_ws(s, "*", "/any", addr);
    CHECK(port > 0);
    snprintf(caddr, sizeof(caddr), "ws://127.0.0.1:%d/any", port);
    CHECK(nn_connect(c, caddr) >= 0);
    CHECK(wait_linked(c, s));
    nn_close(c);
    /* A DNS name to connect to. */
    c = sock(NN_PAIR);
    snprintf(caddr, sizeof(caddr), "ws://localhost:%d/any", port);
    CHECK(nn_connect(c, caddr) >= 0);
    CHECK(wait_linked(c, s));
    nn_close(c);
    nn_close(s);

    /* A DNS name to bind. */
    s = sock(NN_PAIR);
    c = sock(NN_PAIR);
    port = bind_ws(s, "localhost", "/dns", addr);
    CHECK(port > 0);
    snprintf(caddr, sizeof(caddr), "ws://127.0.0.1:%d/dns", port);
    CHECK(nn_connect(c, caddr) >= 0);
    CHECK(wait_linked(c, s));
    nn_close(c);
    nn_close(s);

    /* IPv6, when the machine has it. */
    s = sock(NN_PAIR);
    c = sock(NN_PAIR);
    set_int(s, NN_IPV4ONLY, 0);
    set_int(c, NN_IPV4ONLY, 0);
    port = bind_ws(s, "[::1]", "/six", addr);
    if (port > 0) {
        CHECK(nn_connect(c, addr) >= 0);
        CHECK(wait_linked(c, s));
    } else {
        printf("no IPv6 loopback, skipping [::1]\n");
    }
    nn_close(c);
    nn_close(s);
}

/* -------------------------------------------------------- reconnection */

static void test_reconnect(void)
{
    char addr[NN_SOCKADDR_MAX];
    int port = 0;
    int s = sock(NN_PAIR);
    port = bind_ws(s, "127.0.0.1", "/re", addr);
    CHECK(port > 0);
    nn_close(s);
    /* Connect first, bind later. */
    int c = sock(NN_PAIR);
    CHECK(nn_connect(c, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(c, NN_STAT_CONNECT_ERRORS) >= 1, 10));
    s = sock(NN_PAIR);
    CHECK(nn_bind(s, addr) >= 0);
    CHECK(wait_linked(c, s));
    CHECK(stat_of(c, NN_STAT_CURRENT_EP_ERRORS) == 0);
    /* The binder goes away and comes back. */
    nn_close(s);
    CHECK(WAIT_FOR(stat_of(c, NN_STAT_CURRENT_CONNECTIONS) == 0, 10));
    s = sock(NN_PAIR);
    CHECK(nn_bind(s, addr) >= 0);
    CHECK(wait_linked(c, s));
    CHECK(nn_send(s, "back again", 10, 0) == 10);
    CHECK(recv_str(c, "back again"));
    CHECK(stat_of(c, NN_STAT_ESTABLISHED_CONNECTIONS) == 2);
    CHECK(stat_of(c, NN_STAT_BROKEN_CONNECTIONS) == 1);
    nn_close(c);
    CHECK(WAIT_FOR(stat_of(s, NN_STAT_CURRENT_CONNECTIONS) == 0, 10));
    CHECK(stat_of(s, NN_STAT_BROKEN_CONNECTIONS) == 1);
    nn_close(s);
}

/* ------------------------------------------------------------- limits */

static void test_rcvmaxsize(void)
{
    int srv = sock(NN_PULL), cli = sock(NN_PUSH);
    set_int(srv, NN_RCVMAXSIZE, 1000);
    char addr[NN_SOCKADDR_MAX];
    CHECK(bind_ws(srv, "127.0.0.1", "/max", addr) > 0);
    CHECK(nn_connect(cli, addr) >= 0);
    CHECK(connected(srv, 1));
    uint8_t *p = pattern(3000, 1);
    CHECK(nn_send(cli, p, 1000, 0) == 1000);
    CHECK(recv_exact(srv, p, 1000));
    /* One byte over: the connection goes (1009), the next one works. */
    CHECK(nn_send(cli, p, 1001, 0) == 1001);
    CHECK(WAIT_FOR(stat_of(srv, NN_STAT_BROKEN_CONNECTIONS) == 1, 10));
    CHECK(WAIT_FOR(stat_of(srv, NN_STAT_ACCEPTED_CONNECTIONS) == 2, 10));
    CHECK(nn_send(cli, p, 999, 0) == 999);
    CHECK(recv_exact(srv, p, 999));
    nn_close(cli);
    nn_close(srv);

    /* The limit holds for the reassembled message: 3 MiB in 1 MiB frames,
       each below it, to a client whose limit is 2 MiB. */
    srv = sock(NN_PUSH);
    cli = sock(NN_PULL);
    set_int(cli, NN_RCVMAXSIZE, 2u << 20);
    CHECK(bind_ws(srv, "127.0.0.1", "/max2", addr) > 0);
    CHECK(nn_connect(cli, addr) >= 0);
    CHECK(connected(srv, 1));
    uint8_t *big = pattern((3u << 20), 2);
    CHECK(nn_send(srv, big, 3u << 20, 0) == (int) (3u << 20));
    CHECK(WAIT_FOR(stat_of(cli, NN_STAT_BROKEN_CONNECTIONS) == 1, 10));
    CHECK(nn_send(srv, big, 2u << 20, 0) == (int) (2u << 20));
    CHECK(recv_exact(cli, big, 2u << 20));
    free(big);
    free(p);
    nn_close(cli);
    nn_close(srv);
}

/* A text socket sending bytes that are not UTF-8: the receiver fails the
   connection (1007) and the sender reconnects. */
static void test_bad_text(void)
{
    int srv = sock(NN_PAIR), cli = sock(NN_PAIR);
    int v = NN_WS_MSG_TYPE_TEXT;
    CHECK(nn_setsockopt(cli, NN_WS, NN_WS_MSG_TYPE, &v, sizeof(v)) == 0);
    char addr[NN_SOCKADDR_MAX];
    CHECK(bind_ws(srv, "127.0.0.1", "/text", addr) > 0);
    CHECK(nn_connect(cli, addr) >= 0);
    CHECK(wait_linked(cli, srv));
    CHECK(nn_send(cli, "ok \xe2\x82\xac", 6, 0) == 6);
    CHECK(recv_str(srv, "ok \xe2\x82\xac"));
    CHECK(nn_send(cli, "bad \xc0\x80", 6, 0) == 6);
    CHECK(WAIT_FOR(stat_of(srv, NN_STAT_BROKEN_CONNECTIONS) == 1, 10));
    CHECK(wait_linked(cli, srv));
    /* The server, binary, sends what it likes; the text client takes
       binary frames too. */
    CHECK(nn_send(srv, "\xff\xfe", 2, 0) == 2);
    CHECK(recv_exact(cli, "\xff\xfe", 2));
    nn_close(cli);
    nn_close(srv);
}

/* ------------------------------------------------------- flow control */

static void test_backpressure(void)
{
    int srv = sock(NN_PULL), cli = sock(NN_PUSH);
    set_int(cli, NN_SNDBUF, 64 * 1024);
    set_int(srv, NN_RCVBUF, 64 * 1024);
    char addr[NN_SOCKADDR_MAX];
    CHECK(bind_ws(srv, "127.0.0.1", "/bp", addr) > 0);
    CHECK(nn_connect(cli, addr) >= 0);
    CHECK(connected(srv, 1));
    /* Nobody reads: the sender must stop within a bounded number of
       messages (kernel buffers plus ours on both sides). */
    uint8_t *p = pattern(16 * 1024, 3);
    int sent = 0;
    double end = tu_now() + 10, refused_since = 0;
    while (sent < 100000 && tu_now() < end) {
        if (nn_send(cli, p, 16 * 1024, NN_DONTWAIT) == 16 * 1024) {
            sent++;
            refused_since = 0;
            continue;
        }
        CHECK(errno == EAGAIN);
        /* Refused for a while: the pipe stays full as long as nobody reads. */
        if (!refused_since)
            refused_since = tu_now();
        else if (tu_now() - refused_since > 0.3)
            break;
        tu_pause();
    }
    CHECK(sent > 0 && sent < 2000);
    /* Everything queued arrives, in order, and the sender flows again. */
    for (int i = 0; i < sent; i++)
        CHECK(recv_exact(srv, p, 16 * 1024));
    for (int i = 0; i < 50; i++) {
        CHECK(nn_send(cli, p, 16 * 1024, 0) == 16 * 1024);
        CHECK(recv_exact(srv, p, 16 * 1024));
    }
    free(p);
    nn_close(cli);
    nn_close(srv);
}

static void *closer(void *arg)
{
    nn_close(*(int *) arg);
    return NULL;
}

/* nn_close with messages still queued: NN_LINGER lets them out, then the
   close frame. Both sides, client and server sending. The close blocks
   until they are out, so another thread makes it while this one reads. */
static void test_linger(void)
{
    for (int push_binds = 0; push_binds < 2; push_binds++) {
        int push = sock(NN_PUSH), pull = sock(NN_PULL);
        set_int(push, NN_SNDBUF, 64 << 20);
        set_int(push, NN_LINGER, 10000);
        char addr[NN_SOCKADDR_MAX];
        CHECK(bind_ws(push_binds ? push : pull, "127.0.0.1", "/linger", addr) > 0);
        CHECK(nn_connect(push_binds ? pull : push, addr) >= 0);
        CHECK(connected(push, 1));
        enum { N = 40, SZ = 256 * 1024 };
        uint8_t *p = pattern(SZ, 4);
        for (int i = 0; i < N; i++) {
            memcpy(p, &i, sizeof(i));
            CHECK(nn_send(push, p, SZ, 0) == SZ);
        }
        pthread_t th;
        CHECK(pthread_create(&th, NULL, closer, &push) == 0);
        for (int i = 0; i < N; i++) {
            void *b = NULL;
            int n = nn_recv(pull, &b, NN_MSG, 0);
            int id = -1;
            if (n == SZ)
                memcpy(&id, b, sizeof(id));
            CHECK(n == SZ && id == i && memcmp((char *) b + 4, p + 4, SZ - 4) == 0);
            if (n >= 0)
                nn_freemsg(b);
        }
        pthread_join(th, NULL);
        free(p);
        nn_close(pull);
    }
}

/* A tight burst of small messages is staged (whole frames, masked on the
   client side, text or binary); every one arrives intact and in order, a
   lone message after it is not held back, and nn_close right after a
   burst still lets the last staged batch out. Client and server sending. */
static void test_burst(bool text)
{
    for (int push_binds = 0; push_binds < 2; push_binds++) {
        int push = sock(NN_PUSH), pull = sock(NN_PULL);
        set_int(push, NN_LINGER, 10000);
        if (text) {
            int v = NN_WS_MSG_TYPE_TEXT;
            CHECK(nn_setsockopt(push, NN_WS, NN_WS_MSG_TYPE, &v, sizeof(v)) == 0);
            CHECK(nn_setsockopt(pull, NN_WS, NN_WS_MSG_TYPE, &v, sizeof(v)) == 0);
        }
        char addr[NN_SOCKADDR_MAX];
        CHECK(bind_ws(push_binds ? push : pull, "127.0.0.1", "/burst", addr) > 0);
        CHECK(nn_connect(push_binds ? pull : push, addr) >= 0);
        CHECK(nn_send(push, "hello", 5, 0) == 5);
        CHECK(recv_str(pull, "hello"));
        enum { N = 1500 }; /* fits in the buffers: nobody receives during it */
        char m[128];
        for (int i = 0; i < N; i++) {
            int n = snprintf(m, sizeof(m), "burst %d %.*s", i, i % 90, text_tail);
            CHECK(nn_send(push, m, (size_t) n, 0) == n);
        }
        for (int i = 0; i < N; i++) {
            int n = snprintf(m, sizeof(m), "burst %d %.*s", i, i % 90, text_tail);
            if (!recv_exact(pull, m, (size_t) n)) {
                CHECK(!"burst message lost or changed");
                break;
            }
        }
        CHECK(nn_send(push, "lone", 4, 0) == 4);
        CHECK(recv_str(pull, "lone"));
        for (int i = 0; i < N; i++) {
            int n = snprintf(m, sizeof(m), "last %d", i);
            CHECK(nn_send(push, m, (size_t) n, 0) == n);
        }
        nn_close(push);
        int got = 0;
        for (; got < N; got++) {
            int n = snprintf(m, sizeof(m), "last %d", got);
            if (!recv_exact(pull, m, (size_t) n))
                break;
        }
        CHECK(got == N);
        nn_close(pull);
    }
}

static void test_stats(void)
{
    int srv = sock(NN_PAIR), cli = sock(NN_PAIR);
    char addr[NN_SOCKADDR_MAX];
    CHECK(bind_ws(srv, "127.0.0.1", "/stats", addr) > 0);
    CHECK(nn_connect(cli, addr) >= 0);
    CHECK(wait_linked(cli, srv));
    CHECK(stat_of(srv, NN_STAT_ACCEPTED_CONNECTIONS) == 1);
    CHECK(stat_of(srv, NN_STAT_CURRENT_CONNECTIONS) == 1);
    CHECK(stat_of(cli, NN_STAT_ESTABLISHED_CONNECTIONS) == 1);
    CHECK(stat_of(cli, NN_STAT_CURRENT_CONNECTIONS) == 1);
    CHECK(stat_of(cli, NN_STAT_INPROGRESS_CONNECTIONS) == 0);
    CHECK(stat_of(cli, NN_STAT_CURRENT_EP_ERRORS) == 0);
    /* A second PAIR peer is turned away by the protocol, after the
       handshake: counted and dropped. */
    int third = sock(NN_PAIR);
    CHECK(nn_connect(third, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(srv, NN_STAT_ACCEPTED_CONNECTIONS) >= 2, 10));
    CHECK(WAIT_FOR(stat_of(srv, NN_STAT_CURRENT_CONNECTIONS) == 1, 10));
    nn_close(third);
    CHECK(nn_send(cli, "x", 1, 0) == 1);
    CHECK(recv_str(srv, "x"));
    nn_close(cli);
    nn_close(srv);
}

int main(void)
{
    test_addresses();
    test_option();
    test_sizes(false);
    test_sizes(true);
    test_protocols();
    test_wrong_peer();
    test_paths();
    test_hosts();
    test_reconnect();
    test_rcvmaxsize();
    test_bad_text();
    test_backpressure();
    test_linger();
    test_burst(false);
    test_burst(true);
    test_stats();
    TEST_DONE();
}
