/* test_ws.c: what only the ws:// transport has, between femtomsg sockets
   (test_schemes_ws runs what every transport shares: binary messages of
   every size and at every frame-length edge, bursts, every protocol with
   either side binding, a peer of the wrong protocol, reconnection,
   statistics, backpressure, NN_RCVMAXSIZE, linger). Address syntax and
   errors (the stock library's answers where it has one); the
   NN_WS_MSG_TYPE option; text messages of 0 B to 3 MiB around every
   frame-length and fragment boundary, both ways, from the client side
   (masked) and the server side, and in bursts; several sockets bound to
   one host:port under different paths, an unknown path, a path bound
   twice, a closed path and the port freed after the last; IPv6, "*", DNS
   names; NN_RCVMAXSIZE against a message reassembled from frames each
   below it; invalid UTF-8 in text; NN_TCP_NODELAY reaching ws
   connections on both sides. */
#include "testutil.h"

#include <nanomsg/bus.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>
#include <nanomsg/tcp.h>
#include <nanomsg/ws.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

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

/* Every size both ways between a bound and a connected PAIR in text
   frames, with characters cut by the frame ends (binary frames:
   test_schemes_ws). */
static void test_text_sizes(void)
{
    int srv = sock(NN_PAIR), cli = sock(NN_PAIR);
    int v = NN_WS_MSG_TYPE_TEXT;
    CHECK(nn_setsockopt(srv, NN_WS, NN_WS_MSG_TYPE, &v, sizeof(v)) == 0);
    CHECK(nn_setsockopt(cli, NN_WS, NN_WS_MSG_TYPE, &v, sizeof(v)) == 0);
    set_int(srv, NN_RCVMAXSIZE, -1);
    set_int(cli, NN_RCVMAXSIZE, -1);
    char addr[NN_SOCKADDR_MAX];
    CHECK(bind_ws(srv, "127.0.0.1", "/sizes", addr) > 0);
    CHECK(nn_connect(cli, addr) >= 0);
    for (size_t i = 0; i < NSIZES; i++) {
        uint8_t *p = text_pattern(sizes[i]);
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
    memset(z, 'q', 70000);
    uint8_t *copy = malloc(70000);
    memcpy(copy, z, 70000);
    CHECK(nn_send(cli, &z, NN_MSG, 0) == 70000);
    CHECK(recv_exact(srv, copy, 70000));
    free(copy);
    nn_close(cli);
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
    /* Taken, then refused: broken connections, not connect errors. */
    CHECK(WAIT_FOR(stat_of(lost, NN_STAT_BROKEN_CONNECTIONS) >= 2, 10));
    CHECK(stat_of(lost, NN_STAT_CONNECT_ERRORS) == 0);
    CHECK(stat_of(lost, NN_STAT_CURRENT_CONNECTIONS) == 0);

    /* Closing one path leaves the others served; its clients then get
       404 until it comes back, on the same port. */
    nn_close(srv[1]);
    CHECK(WAIT_FOR(stat_of(cli[1], NN_STAT_CURRENT_CONNECTIONS) == 0, 10));
    int64_t errs = stat_of(cli[1], NN_STAT_BROKEN_CONNECTIONS);
    CHECK(WAIT_FOR(stat_of(cli[1], NN_STAT_BROKEN_CONNECTIONS) > errs + 1, 10));
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

/* ------------------------------------------------------------- limits */

/* NN_RCVMAXSIZE holds for the reassembled message: 3 MiB in 1 MiB frames,
   each below it, to a client whose limit is 2 MiB (the limit itself, one
   frame per message: test_schemes_ws). */
static void test_rcvmaxsize_reassembled(void)
{
    char addr[NN_SOCKADDR_MAX];
    int srv = sock(NN_PUSH);
    int cli = sock(NN_PULL);
    set_int(cli, NN_RCVMAXSIZE, 2u << 20);
    CHECK(bind_ws(srv, "127.0.0.1", "/max2", addr) > 0);
    CHECK(nn_connect(cli, addr) >= 0);
    CHECK(connected(srv, 1));
    uint8_t *big = pattern((3u << 20), 2);
    CHECK(nn_send(srv, big, 3u << 20, 0) == (int) (3u << 20));
    CHECK(WAIT_FOR(stat_of(cli, NN_STAT_BROKEN_CONNECTIONS) == 1, 10));
    /* Until the sender sees the old connection end, a message may go into
       it and be lost with it, as PUSH allows: wait for the new one. */
    CHECK(WAIT_FOR(stat_of(srv, NN_STAT_BROKEN_CONNECTIONS) == 1, 10));
    CHECK(connected(srv, 1));
    CHECK(nn_send(srv, big, 2u << 20, 0) == (int) (2u << 20));
    CHECK(recv_exact(cli, big, 2u << 20));
    free(big);
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

/* -------------------------------------------------------------- bursts */

static void *closer(void *arg)
{
    nn_close(*(int *) arg);
    return NULL;
}

/* A tight burst of small text messages is staged (whole frames, masked on
   the client side); every one arrives intact and in order, a lone message
   after it is not held back, and nn_close right after a burst still lets
   the last staged batch out. Client and server sending. (Binary:
   test_schemes_ws.) */
static void test_text_burst(void)
{
    for (int push_binds = 0; push_binds < 2; push_binds++) {
        int push = sock(NN_PUSH), pull = sock(NN_PULL);
        set_int(push, NN_LINGER, 10000);
        int v = NN_WS_MSG_TYPE_TEXT;
        CHECK(nn_setsockopt(push, NN_WS, NN_WS_MSG_TYPE, &v, sizeof(v)) == 0);
        CHECK(nn_setsockopt(pull, NN_WS, NN_WS_MSG_TYPE, &v, sizeof(v)) == 0);
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
        /* nn_close waits (NN_LINGER) for the peer's closing handshake,
           which comes once it has read: another thread closes. */
        pthread_t th;
        CHECK(pthread_create(&th, NULL, closer, &push) == 0);
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

/* TCP_NODELAY of this process's TCP socket whose local or peer port is
   port and that is connected (femtomsg's, found among our descriptors):
   0 or 1, -1 when none is found. */
static int nodelay_of_conn(int port, bool local)
{
    for (int fd = 3; fd < 1024; fd++) {
        struct sockaddr_in a;
        socklen_t len = sizeof(a);
        int r = local ? getsockname(fd, (struct sockaddr *) &a, &len)
                      : getpeername(fd, (struct sockaddr *) &a, &len);
        if (r != 0 || a.sin_family != AF_INET || ntohs(a.sin_port) != port)
            continue;
        struct sockaddr_in peer;
        len = sizeof(peer);
        if (getpeername(fd, (struct sockaddr *) &peer, &len) != 0)
            continue; /* the listener */
        int v = -1;
        len = sizeof(v);
        if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0)
            return v != 0;
    }
    return -1;
}

/* NN_TCP_NODELAY applies to ws connections as to tcp ones, read when each
   connection is made: off by default, on once set (dialled and accepted
   sides). A message of several frames is pushed out at its end by
   switching TCP_NODELAY on and off (stream.c, conn_push): the setting is
   the user's again afterwards, both ways. */
static void test_nodelay(void)
{
    size_t big_len = 3 * 1024 * 1024 + 5; /* four frames */
    char *big = malloc(big_len);
    CHECK(big != NULL);
    memset(big, 'b', big_len);
    for (int on = 0; on < 2; on++) {
        int srv = sock(NN_PAIR), cli = sock(NN_PAIR), max = -1;
        CHECK(nn_setsockopt(srv, NN_TCP, NN_TCP_NODELAY, &on, sizeof(on)) == 0);
        CHECK(nn_setsockopt(cli, NN_TCP, NN_TCP_NODELAY, &on, sizeof(on)) == 0);
        CHECK(nn_setsockopt(srv, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max)) == 0);
        CHECK(nn_setsockopt(cli, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max)) == 0);
        char addr[NN_SOCKADDR_MAX];
        int port = bind_ws(srv, "127.0.0.1", "/nd", addr);
        CHECK(port > 0 && nn_connect(cli, addr) >= 0);
        CHECK(nn_send(cli, "x", 1, 0) == 1);
        char b[4];
        CHECK(nn_recv(srv, b, sizeof(b), 0) == 1);
        CHECK(nodelay_of_conn(port, true) == on);  /* accepted */
        CHECK(nodelay_of_conn(port, false) == on); /* dialled */
        for (int dir = 0; dir < 2; dir++) {
            int from = dir ? srv : cli, to = dir ? cli : srv;
            CHECK(nn_send(from, big, big_len, 0) == (int) big_len);
            void *got = NULL;
            int n = nn_recv(to, &got, NN_MSG, 0);
            CHECK(n == (int) big_len && memcmp(got, big, big_len) == 0);
            if (n >= 0)
                nn_freemsg(got);
        }
        CHECK(nodelay_of_conn(port, true) == on);
        CHECK(nodelay_of_conn(port, false) == on);
        nn_close(cli);
        nn_close(srv);
    }
    free(big);
}

int main(void)
{
    test_nodelay();
    test_addresses();
    test_option();
    test_text_sizes();
    test_paths();
    test_hosts();
    test_rcvmaxsize_reassembled();
    test_bad_text();
    test_text_burst();
    TEST_DONE();
}
