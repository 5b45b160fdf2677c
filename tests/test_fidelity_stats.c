/* test_fidelity_stats.c: how the connection statistics count the end of a
   connection, as nanomsg 1.1 counts it (nn_get_statistic(3); the
   conformance probe compares with the stock library), over tcp, ipc and
   ws:
     - ended by the peer: NN_STAT_BROKEN_CONNECTIONS, on the accepting
       side and on the dialling side alike;
     - ended by our own nn_shutdown of the endpoint:
       NN_STAT_DROPPED_CONNECTIONS on our side, broken on the peer's;
     - NN_STAT_CURRENT_EP_ERRORS reads 1 while a connect keeps failing and
       0 once it succeeds. */
#include "test_api_util.h"

#include <stdbool.h>

static int port_next;

static int next_port(void)
{
    if (!port_next)
        port_next = 20000 + (int) ((unsigned) getpid() * 67u % 12000u);
    int p = port_next++;
    if (port_next >= 32000)
        port_next = 20000;
    return p;
}

static void addr_for(const char *scheme, char *addr)
{
    static int seq;
    if (strcmp(scheme, "ipc") == 0)
        snprintf(addr, NN_SOCKADDR_MAX, "ipc:///tmp/fm-fidstats-%d-%d.ipc", (int) getpid(), ++seq);
    else
        snprintf(addr, NN_SOCKADDR_MAX, "%s://127.0.0.1:%d", scheme, next_port());
}

static int bind_fresh(int s, const char *scheme, char *addr)
{
    for (int i = 0; i < 500; i++) {
        addr_for(scheme, addr);
        int eid = nn_bind(s, addr);
        if (eid >= 0 || errno != EADDRINUSE)
            return eid;
    }
    return -1;
}

static int64_t st(int s, int stat) { return (int64_t) nn_get_statistic(s, stat); }

/* b listens, c dials; one message each way proves the connection. */
static void connect_pair(const char *scheme, int *b, int *c, int *beid, int *ceid, char *addr)
{
    char buf[8];
    *b = ta_socket(AF_SP, NN_PAIR);
    *c = ta_socket(AF_SP, NN_PAIR);
    ta_setint(*c, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10);
    *beid = bind_fresh(*b, scheme, addr);
    CHECK(*beid >= 0);
    *ceid = nn_connect(*c, addr);
    CHECK(*ceid >= 0);
    CHECK(nn_send(*c, "x", 1, 0) == 1);
    CHECK(nn_recv(*b, buf, sizeof(buf), 0) == 1);
}

static void report(const char *scheme, const char *what, int s)
{
    fprintf(stderr, "%s, %s: dropped %lld broken %lld\n", scheme, what,
            (long long) st(s, NN_STAT_DROPPED_CONNECTIONS),
            (long long) st(s, NN_STAT_BROKEN_CONNECTIONS));
}

#define EXPECT(s, dropped, broken, scheme, what)                                          \
    do {                                                                                  \
        bool ok_ = WAIT_FOR(st(s, NN_STAT_DROPPED_CONNECTIONS) == (dropped) &&            \
                                st(s, NN_STAT_BROKEN_CONNECTIONS) == (broken),            \
                            10);                                                          \
        if (!ok_)                                                                         \
            report(scheme, what, s);                                                      \
        CHECK(ok_);                                                                       \
    } while (0)

static void ends(const char *scheme)
{
    char addr[NN_SOCKADDR_MAX];
    int b, c, beid, ceid;

    /* The dialler's socket closes: the listener counts it broken. */
    connect_pair(scheme, &b, &c, &beid, &ceid, addr);
    nn_close(c);
    EXPECT(b, 0, 1, scheme, "listener, peer closed");
    CHECK(WAIT_FOR(st(b, NN_STAT_CURRENT_CONNECTIONS) == 0, 10));
    nn_close(b);

    /* The listener's socket closes: the dialler counts it broken. */
    connect_pair(scheme, &b, &c, &beid, &ceid, addr);
    nn_close(b);
    EXPECT(c, 0, 1, scheme, "dialler, peer closed");
    nn_close(c);

    /* The dialler shuts its endpoint down: dropped there, broken at the
       listener. */
    connect_pair(scheme, &b, &c, &beid, &ceid, addr);
    CHECK(nn_shutdown(c, ceid) == 0);
    EXPECT(c, 1, 0, scheme, "dialler, own shutdown");
    EXPECT(b, 0, 1, scheme, "listener, peer shut down");
    nn_close(c);
    nn_close(b);

    /* The listener shuts its endpoint down: dropped there, broken at the
       dialler. */
    connect_pair(scheme, &b, &c, &beid, &ceid, addr);
    CHECK(nn_shutdown(b, beid) == 0);
    EXPECT(b, 1, 0, scheme, "listener, own shutdown");
    EXPECT(c, 0, 1, scheme, "dialler, peer shut down");
    nn_close(c);
    nn_close(b);
}

/* 1 while the connect keeps failing, 0 once it works. */
static void ep_errors(const char *scheme)
{
    char addr[NN_SOCKADDR_MAX];
    int probe = nn_socket(AF_SP, NN_PAIR);
    CHECK(bind_fresh(probe, scheme, addr) >= 0);
    nn_close(probe); /* nobody listens there now */
    int c = ta_socket(AF_SP, NN_PAIR);
    ta_setint(c, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10);
    CHECK(st(c, NN_STAT_CURRENT_EP_ERRORS) == 0);
    CHECK(nn_connect(c, addr) >= 0);
    CHECK(WAIT_FOR(st(c, NN_STAT_CONNECT_ERRORS) >= 3, 10));
    CHECK(st(c, NN_STAT_CURRENT_EP_ERRORS) == 1);
    int b = ta_socket(AF_SP, NN_PAIR);
    CHECK(nn_bind(b, addr) >= 0);
    CHECK(nn_send(c, "x", 1, 0) == 1);
    char buf[4];
    CHECK(nn_recv(b, buf, sizeof(buf), 0) == 1);
    CHECK(WAIT_FOR(st(c, NN_STAT_CURRENT_EP_ERRORS) == 0, 10));
    nn_close(c);
    nn_close(b);
}

int main(void)
{
    static const char *schemes[] = {"tcp", "ipc", "ws"};
    for (int i = 0; i < 3; i++) {
        ends(schemes[i]);
        ep_errors(schemes[i]);
    }
    TEST_DONE();
}
