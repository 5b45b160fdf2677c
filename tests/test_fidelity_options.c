/* test_fidelity_options.c: socket options set after nn_bind/nn_connect, as
   nanomsg 1.1 applies them (nn_setsockopt(3) states the rule; the
   conformance probe checks it against the stock library):
     - NN_RCVMAXSIZE acts on live connections, message by message: a limit
       lowered after the connection is up drops it at the next bigger
       message (ipc, tcp, ws), and -1 lifts it again;
     - NN_SNDBUF, NN_RCVBUF and NN_TCP_NODELAY apply to the connections
       made afterwards (a new accepted one, a reconnected dialled one),
       not to those already up: seen in the kernel's own socket options;
     - NN_SNDPRIO and NN_RECONNECT_IVL stay as they were when the endpoint
       was created;
     - changing them while connections are made is free of data races. */
#include "test_api_util.h"

#include <nanomsg/pipeline.h>
#include <nanomsg/tcp.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <sys/socket.h>

static int port_next;

/* Ports from a pid-derived range below the kernel's ephemeral ports. */
static int next_port(void)
{
    if (!port_next)
        port_next = 20000 + (int) ((unsigned) getpid() * 61u % 12000u);
    int p = port_next++;
    if (port_next >= 32000)
        port_next = 20000;
    return p;
}

/* nn_bind s on a fresh address of scheme ("tcp", "ws", "ipc"); the address
   goes to addr, the port (0 for ipc) to *port. */
static int bind_fresh(int s, const char *scheme, char *addr, int *port)
{
    static int ipc_seq;
    for (int i = 0; i < 500; i++) {
        *port = 0;
        if (strcmp(scheme, "ipc") == 0) {
            snprintf(addr, NN_SOCKADDR_MAX, "ipc:///tmp/fm-fidelity-%d-%d.ipc", (int) getpid(),
                     ++ipc_seq);
        } else {
            *port = next_port();
            snprintf(addr, NN_SOCKADDR_MAX, "%s://127.0.0.1:%d%s", scheme, *port,
                     strcmp(scheme, "ws") == 0 ? "/fid" : "");
        }
        int eid = nn_bind(s, addr);
        if (eid >= 0 || errno != EADDRINUSE)
            return eid;
    }
    return -1;
}

static int64_t stat_of(int s, int stat) { return (int64_t) nn_get_statistic(s, stat); }

/* The kernel socket of a TCP connection of ours on port: the accepted one
   (our local port is port), or the dialled one (the peer's is), other
   than `not`. -1 when there is none. */
static int conn_fd(int port, bool accepted, int not)
{
    for (int fd = 3; fd < 4096; fd++) {
        if (fd == not)
            continue;
        struct sockaddr_in a, b;
        socklen_t al = sizeof(a), bl = sizeof(b);
        if (getsockname(fd, (struct sockaddr *) &a, &al) != 0 || a.sin_family != AF_INET ||
            getpeername(fd, (struct sockaddr *) &b, &bl) != 0)
            continue;
        if (ntohs(accepted ? a.sin_port : b.sin_port) == port)
            return fd;
    }
    return -1;
}

static int kopt(int fd, int level, int opt)
{
    int v = -1;
    socklen_t l = sizeof(v);
    if (getsockopt(fd, level, opt, &v, &l) != 0)
        return -1;
    return v;
}

/* NN_RCVMAXSIZE lowered on a live connection: the next message over the
   limit drops the connection (and is never delivered), the dialler comes
   back, messages within the limit pass; -1 lifts the limit on the live
   connection. */
static void rcvmaxsize_live(const char *scheme)
{
    char addr[NN_SOCKADDR_MAX], buf[16];
    int port;
    int b = ta_socket(AF_SP, NN_PAIR), c = ta_socket(AF_SP, NN_PAIR);
    ta_setint(c, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10);
    CHECK(bind_fresh(b, scheme, addr, &port) >= 0);
    CHECK(nn_connect(c, addr) >= 0);
    CHECK(nn_send(c, "AB", 2, 0) == 2);
    CHECK(nn_recv(b, buf, sizeof(buf), 0) == 2);
    CHECK(stat_of(c, NN_STAT_ESTABLISHED_CONNECTIONS) == 1);

    ta_setint(b, NN_SOL_SOCKET, NN_RCVMAXSIZE, 4);
    CHECK(nn_send(c, "ABCD", 4, 0) == 4);
    CHECK(nn_recv(b, buf, sizeof(buf), 0) == 4);
    CHECK(nn_send(c, "ABCDE", 5, 0) == 5);
    bool redialled = WAIT_FOR(stat_of(c, NN_STAT_ESTABLISHED_CONNECTIONS) >= 2, 10);
    if (!redialled)
        fprintf(stderr, "%s: a message over NN_RCVMAXSIZE set after connecting did not "
                        "drop the connection\n", scheme);
    CHECK(redialled);
    /* The first message through is the next one sent: the big one is gone. */
    CHECK(nn_send(c, "WXYZ", 4, 0) == 4);
    memset(buf, 0, sizeof(buf));
    CHECK(nn_recv(b, buf, sizeof(buf), 0) == 4 && memcmp(buf, "WXYZ", 4) == 0);

    ta_setint(b, NN_SOL_SOCKET, NN_RCVMAXSIZE, -1);
    CHECK(nn_send(c, "ABCDEFGH", 8, 0) == 8);
    CHECK(nn_recv(b, buf, sizeof(buf), 0) == 8);
    CHECK(stat_of(c, NN_STAT_ESTABLISHED_CONNECTIONS) == 2);
    nn_close(c);
    nn_close(b);
}

/* Buffer sizes and TCP_NODELAY set after nn_bind / nn_connect: the live
   connection keeps its kernel options; a connection accepted afterwards
   and a dialled one made again take the new ones (the kernel reports
   twice the buffer size asked for). */
static void conn_opts_tcp(void)
{
    char addr[NN_SOCKADDR_MAX];
    int port, one = 1;
    int b = ta_socket(AF_SP, NN_PULL), c = ta_socket(AF_SP, NN_PUSH);
    ta_setint(c, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10);
    int beid = bind_fresh(b, "tcp", addr, &port);
    CHECK(beid >= 0);
    CHECK(nn_connect(c, addr) >= 0);
    char buf[8];
    CHECK(nn_send(c, "x", 1, 0) == 1);
    CHECK(nn_recv(b, buf, sizeof(buf), 0) == 1);
    int fa = -1, fd = -1;
    CHECK(WAIT_FOR((fa = conn_fd(port, true, -1)) >= 0 && (fd = conn_fd(port, false, -1)) >= 0,
                   10));
    int a_rcv = kopt(fa, SOL_SOCKET, SO_RCVBUF), d_snd = kopt(fd, SOL_SOCKET, SO_SNDBUF);
    CHECK(kopt(fa, IPPROTO_TCP, TCP_NODELAY) == 0 && kopt(fd, IPPROTO_TCP, TCP_NODELAY) == 0);

    for (int i = 0; i < 2; i++) {
        int s = i ? c : b;
        ta_setint(s, NN_SOL_SOCKET, NN_SNDBUF, 8192);
        ta_setint(s, NN_SOL_SOCKET, NN_RCVBUF, 16384);
        CHECK(nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &one, sizeof(one)) == 0);
    }
    /* Live connections: untouched. */
    CHECK(kopt(fa, SOL_SOCKET, SO_RCVBUF) == a_rcv);
    CHECK(kopt(fd, SOL_SOCKET, SO_SNDBUF) == d_snd);
    CHECK(kopt(fa, IPPROTO_TCP, TCP_NODELAY) == 0 && kopt(fd, IPPROTO_TCP, TCP_NODELAY) == 0);

    /* A connection the listener accepts now. */
    int c2 = ta_socket(AF_SP, NN_PUSH);
    CHECK(nn_connect(c2, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(b, NN_STAT_ACCEPTED_CONNECTIONS) == 2, 10));
    int fa2 = -1;
    CHECK(WAIT_FOR((fa2 = conn_fd(port, true, fa)) >= 0, 10));
    if (fa2 >= 0) {
        CHECK(kopt(fa2, SOL_SOCKET, SO_RCVBUF) == 2 * 16384);
        CHECK(kopt(fa2, SOL_SOCKET, SO_SNDBUF) == 2 * 8192);
        CHECK(kopt(fa2, IPPROTO_TCP, TCP_NODELAY) == 1);
    }
    nn_close(c2);
    CHECK(WAIT_FOR(stat_of(b, NN_STAT_CURRENT_CONNECTIONS) == 1, 10));

    /* The dialler connects again (the listener went away and came back). */
    CHECK(nn_shutdown(b, beid) == 0);
    CHECK(WAIT_FOR(stat_of(c, NN_STAT_CURRENT_CONNECTIONS) == 0, 10));
    CHECK(nn_bind(b, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(c, NN_STAT_ESTABLISHED_CONNECTIONS) == 2, 10));
    CHECK(nn_send(c, "y", 1, 0) == 1);
    CHECK(nn_recv(b, buf, sizeof(buf), 0) == 1);
    int fd2 = -1;
    CHECK(WAIT_FOR((fd2 = conn_fd(port, false, -1)) >= 0, 10));
    if (fd2 >= 0) {
        CHECK(kopt(fd2, SOL_SOCKET, SO_SNDBUF) == 2 * 8192);
        CHECK(kopt(fd2, SOL_SOCKET, SO_RCVBUF) == 2 * 16384);
        CHECK(kopt(fd2, IPPROTO_TCP, TCP_NODELAY) == 1);
    }
    nn_close(c);
    nn_close(b);
}

/* NN_SNDPRIO is the endpoint's from its creation: raised between two
   nn_connect calls, it makes the second endpoint preferred, not both. */
static void sndprio_fixed(void)
{
    char a1[64], a2[64];
    int p1 = ta_socket(AF_SP, NN_PULL), p2 = ta_socket(AF_SP, NN_PULL);
    int push = ta_socket(AF_SP, NN_PUSH);
    CHECK(nn_bind(p1, ta_addr(a1, sizeof(a1))) >= 0);
    CHECK(nn_bind(p2, ta_addr(a2, sizeof(a2))) >= 0);
    CHECK(nn_connect(push, a1) >= 0);
    ta_setint(push, NN_SOL_SOCKET, NN_SNDPRIO, 1);
    CHECK(nn_connect(push, a2) >= 0);
    for (int i = 0; i < 10; i++)
        CHECK(nn_send(push, "m", 1, 0) == 1);
    char buf[4];
    int n1 = 0, n2 = 0;
    while (nn_recv(p1, buf, sizeof(buf), NN_DONTWAIT) >= 0)
        n1++;
    while (nn_recv(p2, buf, sizeof(buf), NN_DONTWAIT) >= 0)
        n2++;
    CHECK(n1 == 0 && n2 == 10);
    nn_close(push);
    nn_close(p1);
    nn_close(p2);
}

/* NN_RECONNECT_IVL is the endpoint's from its creation: raised to 10 s
   while a connect keeps failing, the attempts go on every 10 ms. */
static void reconnect_ivl_fixed(void)
{
    char addr[NN_SOCKADDR_MAX];
    int port;
    int probe = nn_socket(AF_SP, NN_PAIR);
    CHECK(bind_fresh(probe, "tcp", addr, &port) >= 0);
    nn_close(probe); /* nobody listens there now */
    int c = nn_socket(AF_SP, NN_PAIR);
    ta_setint(c, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10);
    CHECK(nn_connect(c, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(c, NN_STAT_CONNECT_ERRORS) >= 2, 10));
    ta_setint(c, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10000);
    ta_setint(c, NN_SOL_SOCKET, NN_RECONNECT_IVL_MAX, 20000);
    int64_t e0 = stat_of(c, NN_STAT_CONNECT_ERRORS);
    CHECK(WAIT_FOR(stat_of(c, NN_STAT_CONNECT_ERRORS) >= e0 + 3, 10));
    nn_close(c);
}

/* Options changed by one thread while connections come and go and
   messages flow: the transports read them without the socket lock, which
   must be race-free (this case bites under ThreadSanitizer). */
struct flipper {
    int socks[2];
    atomic_int stop;
};

static void *flip_main(void *arg)
{
    struct flipper *f = arg;
    for (unsigned i = 0; !atomic_load(&f->stop); i++)
        for (int k = 0; k < 2; k++) {
            int s = f->socks[k], big = i % 2 ? -1 : 1 << 20, buf = i % 2 ? 65536 : 131072;
            int nodelay = (int) (i % 2);
            nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, &big, sizeof(big));
            nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, &buf, sizeof(buf));
            nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVBUF, &buf, sizeof(buf));
            nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &nodelay, sizeof(nodelay));
        }
    return NULL;
}

static void options_while_connecting(void)
{
    char addr[NN_SOCKADDR_MAX], buf[8];
    int port;
    struct flipper f;
    f.socks[0] = ta_socket(AF_SP, NN_PULL);
    f.socks[1] = ta_socket(AF_SP, NN_PUSH);
    atomic_init(&f.stop, 0);
    CHECK(bind_fresh(f.socks[0], "tcp", addr, &port) >= 0);
    ta_setint(f.socks[1], NN_SOL_SOCKET, NN_RECONNECT_IVL, 1);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, flip_main, &f) == 0);
    int rounds = under_sanitizer() ? 30 : 100;
    for (int i = 0; i < rounds; i++) {
        int eid = nn_connect(f.socks[1], addr);
        CHECK(eid >= 0);
        CHECK(nn_send(f.socks[1], "r", 1, 0) == 1);
        CHECK(nn_recv(f.socks[0], buf, sizeof(buf), 0) == 1);
        CHECK(nn_shutdown(f.socks[1], eid) == 0);
    }
    atomic_store(&f.stop, 1);
    pthread_join(th, NULL);
    nn_close(f.socks[1]);
    nn_close(f.socks[0]);
}

int main(void)
{
    rcvmaxsize_live("ipc");
    rcvmaxsize_live("tcp");
    rcvmaxsize_live("ws");
    conn_opts_tcp();
    sndprio_fixed();
    reconnect_ivl_fixed();
    options_while_connecting();
    TEST_DONE();
}
