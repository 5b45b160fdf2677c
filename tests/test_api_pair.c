/* test_api_pair.c: the PAIR protocol over inproc: exactly one peer (a
   third PAIR is refused, cooked or raw, and the refused socket stays
   usable, which crashes the stock library), connecting before the binder
   exists, reconnecting after the binder closes or shuts its endpoint and
   a new one binds, raw and cooked PAIRs together, sockets of other types
   refused as peers, and a long ping-pong. */
#include "test_api_util.h"

#include <nanomsg/reqrep.h>

static void one_peer(int dom)
{
    char addr[64];
    ta_addr(addr, sizeof(addr));
    char buf[16];
    int p = ta_socket(dom, NN_PAIR), q = ta_socket(dom, NN_PAIR), r = ta_socket(dom, NN_PAIR);
    CHECK(nn_bind(p, addr) >= 0);
    CHECK(nn_connect(q, addr) >= 0);
    CHECK(nn_connect(r, addr) >= 0); /* the endpoint exists; its connection is refused */
    if (ta_stock()) /* using or closing r crashes stock */
        return;

    CHECK(nn_send(q, "first", 5, 0) == 5);
    CHECK(nn_recv(p, buf, sizeof(buf), 0) == 5);
    CHECK(nn_send(p, "reply", 5, 0) == 5);
    CHECK(nn_recv(q, buf, sizeof(buf), 0) == 5 && memcmp(buf, "reply", 5) == 0);

    /* The refused socket has no peer: nothing leaves it, nothing reaches
       it, and the binder hears only from its one peer. */
    CHECK_ERR(nn_send(r, "third", 5, NN_DONTWAIT), EAGAIN);
    ta_setint(r, NN_SOL_SOCKET, NN_SNDTIMEO, 20);
    CHECK_ERR(nn_send(r, "third", 5, 0), ETIMEDOUT);
    CHECK_ERR(nn_recv(r, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);
    CHECK_ERR(nn_recv(p, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);
    struct nn_pollfd pf = {.fd = r, .events = NN_POLLIN | NN_POLLOUT};
    CHECK(nn_poll(&pf, 1, 0) == 0);

    /* ... and is still a working socket: it can bind elsewhere and talk. */
    char other[64];
    ta_addr(other, sizeof(other));
    int s = ta_socket(dom, NN_PAIR);
    CHECK(nn_bind(r, other) >= 0);
    CHECK(nn_connect(s, other) >= 0);
    ta_setint(r, NN_SOL_SOCKET, NN_SNDTIMEO, TA_WAIT);
    CHECK(nn_send(r, "works", 5, 0) == 5);
    CHECK(nn_recv(s, buf, sizeof(buf), 0) == 5);
    CHECK(nn_send(s, "yes", 3, 0) == 3);
    CHECK(nn_recv(r, buf, sizeof(buf), 0) == 3);
    /* The first pair was not disturbed. */
    CHECK(nn_send(q, "still", 5, 0) == 5);
    CHECK(nn_recv(p, buf, sizeof(buf), 0) == 5);
    CHECK(nn_close(r) == 0); /* stock crashes closing a refused PAIR */
    CHECK(nn_send(p, "after", 5, 0) == 5);
    CHECK(nn_recv(q, buf, sizeof(buf), 0) == 5);
    nn_close(s);
    nn_close(q);
    nn_close(p);
}

/* Two connectors on one socket: a PAIR that already has a peer refuses
   the second connection it makes itself. */
static void second_connection_of_the_connector(void)
{
    if (ta_stock())
        return;
    char a1[64], a2[64];
    ta_addr(a1, sizeof(a1));
    ta_addr(a2, sizeof(a2));
    int b1 = ta_socket(AF_SP, NN_PAIR), b2 = ta_socket(AF_SP, NN_PAIR);
    int c = ta_socket(AF_SP, NN_PAIR);
    CHECK(nn_bind(b1, a1) >= 0);
    CHECK(nn_bind(b2, a2) >= 0);
    CHECK(nn_connect(c, a1) >= 0);
    CHECK(nn_connect(c, a2) >= 0); /* stock aborts here */
    char buf[8];
    CHECK(nn_send(c, "one", 3, 0) == 3);
    CHECK(nn_recv(b1, buf, sizeof(buf), 0) == 3);
    CHECK_ERR(nn_recv(b2, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);
    CHECK_ERR(nn_send(b2, "x", 1, NN_DONTWAIT), EAGAIN);
    nn_close(c);
    nn_close(b1);
    nn_close(b2);
}

static void connect_before_bind(void)
{
    char addr[64];
    ta_addr(addr, sizeof(addr));
    char buf[16];
    int a = ta_socket(AF_SP, NN_PAIR), b = ta_socket(AF_SP, NN_PAIR);
    CHECK(nn_connect(b, addr) >= 0);
    CHECK_ERR(nn_send(b, "x", 1, NN_DONTWAIT), EAGAIN);
    CHECK(nn_bind(a, addr) >= 0);
    CHECK(nn_send(b, "early", 5, 0) == 5);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 5 && memcmp(buf, "early", 5) == 0);
    CHECK(nn_send(a, "back", 4, 0) == 4);
    CHECK(nn_recv(b, buf, sizeof(buf), 0) == 4);

    /* The binder goes; a new socket binds the name; the connector finds
       it without doing anything. */
    nn_close(a);
    CHECK(WAIT_FOR(nn_send(b, "x", 1, NN_DONTWAIT) == -1 && errno == EAGAIN, 10));
    int a2 = ta_socket(AF_SP, NN_PAIR);
    CHECK(nn_bind(a2, addr) >= 0);
    CHECK(nn_send(b, "again", 5, 0) == 5);
    CHECK(nn_recv(a2, buf, sizeof(buf), 0) == 5 && memcmp(buf, "again", 5) == 0);

    /* Same after the binder shuts its endpoint down and binds again. */
    int eid = nn_bind(a2, "inproc://pair-unrelated");
    CHECK(eid >= 0);
    CHECK(nn_shutdown(a2, 1) == 0);
    CHECK(WAIT_FOR(nn_send(b, "x", 1, NN_DONTWAIT) == -1 && errno == EAGAIN, 10));
    CHECK(nn_bind(a2, addr) >= 0);
    CHECK(nn_send(b, "third", 5, 0) == 5);
    CHECK(nn_recv(a2, buf, sizeof(buf), 0) == 5);
    CHECK(nn_send(a2, "reply", 5, 0) == 5);
    CHECK(nn_recv(b, buf, sizeof(buf), 0) == 5);

    /* Many rounds of replacing the binder. */
    for (int i = 0; i < 50; i++) {
        nn_close(a2);
        a2 = ta_socket(AF_SP, NN_PAIR);
        CHECK(nn_bind(a2, addr) >= 0);
        int v = i;
        CHECK(nn_send(b, &v, sizeof(v), 0) == (int) sizeof(v));
        v = -1;
        CHECK(nn_recv(a2, &v, sizeof(v), 0) == (int) sizeof(v) && v == i);
    }
    nn_close(a2);
    nn_close(b);
}

/* The connector shuts down its endpoint: the connection goes, and a new
   connect makes a new one. */
static void connector_shutdown(void)
{
    char addr[64];
    ta_addr(addr, sizeof(addr));
    char buf[8];
    int a = ta_socket(AF_SP, NN_PAIR), b = ta_socket(AF_SP, NN_PAIR);
    CHECK(nn_bind(a, addr) >= 0);
    int eid = nn_connect(b, addr);
    CHECK(eid >= 0);
    CHECK(nn_send(b, "1", 1, 0) == 1);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 1);
    CHECK(nn_shutdown(b, eid) == 0);
    CHECK(WAIT_FOR(nn_send(a, "x", 1, NN_DONTWAIT) == -1 && errno == EAGAIN, 10));
    CHECK(nn_connect(b, addr) >= 0);
    CHECK(nn_send(b, "2", 1, 0) == 1);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 1 && buf[0] == '2');
    nn_close(a);
    nn_close(b);
}

static void raw_and_cooked(void)
{
    for (int mix = 0; mix < 4; mix++) {
        char addr[64];
        ta_addr(addr, sizeof(addr));
        char buf[16];
        int x = ta_socket(mix & 1 ? AF_SP_RAW : AF_SP, NN_PAIR);
        int y = ta_socket(mix & 2 ? AF_SP_RAW : AF_SP, NN_PAIR);
        CHECK(nn_bind(x, addr) >= 0);
        CHECK(nn_connect(y, addr) >= 0);
        CHECK(nn_send(y, "there", 5, 0) == 5);
        CHECK(nn_recv(x, buf, sizeof(buf), 0) == 5 && memcmp(buf, "there", 5) == 0);
        CHECK(nn_send(x, "back", 4, 0) == 4);
        CHECK(nn_recv(y, buf, sizeof(buf), 0) == 4 && memcmp(buf, "back", 4) == 0);
        nn_close(x);
        nn_close(y);
    }
}

/* A PAIR does not pair with another protocol's socket. */
static void other_types_refused(void)
{
    if (ta_stock())
        return;
    int req = nn_socket(AF_SP, NN_REQ);
    if (req < 0)
        return; /* REQ not in this build */
    char addr[64];
    ta_addr(addr, sizeof(addr));
    int p = ta_socket(AF_SP, NN_PAIR);
    CHECK(nn_bind(p, addr) >= 0);
    CHECK(nn_connect(req, addr) >= 0);
    char buf[4];
    CHECK_ERR(nn_send(p, "x", 1, NN_DONTWAIT), EAGAIN);
    CHECK_ERR(nn_recv(p, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);
    /* and still takes a proper peer afterwards */
    int q = ta_socket(AF_SP, NN_PAIR);
    CHECK(nn_connect(q, addr) >= 0);
    CHECK(nn_send(q, "ok", 2, 0) == 2);
    CHECK(nn_recv(p, buf, sizeof(buf), 0) == 2);
    nn_close(q);
    nn_close(req);
    nn_close(p);
}

static void ping_pong(void)
{
    int a, b;
    ta_pair(AF_SP, &a, &b);
    int bad = 0;
    for (int i = 0; i < 5000; i++) {
        int v = i, got = -1;
        if (nn_send(b, &v, sizeof(v), 0) != (int) sizeof(v) ||
            nn_recv(a, &got, sizeof(got), 0) != (int) sizeof(got) || got != i)
            bad++;
        v = -i;
        if (nn_send(a, &v, sizeof(v), 0) != (int) sizeof(v) ||
            nn_recv(b, &got, sizeof(got), 0) != (int) sizeof(got) || got != -i)
            bad++;
    }
    CHECK(bad == 0);
    nn_close(a);
    nn_close(b);
}

/* Messages the peer sent before it closed: stock drops them with the
   connection. Ours may keep them; either way nothing hangs or leaks and
   the survivor pairs again. */
static void peer_closes_with_messages_in_flight(void)
{
    char addr[64];
    ta_addr(addr, sizeof(addr));
    char buf[16];
    int a = ta_socket(AF_SP, NN_PAIR), b = ta_socket(AF_SP, NN_PAIR);
    CHECK(nn_bind(a, addr) >= 0);
    CHECK(nn_connect(b, addr) >= 0);
    for (int i = 0; i < 10; i++)
        CHECK(nn_send(a, "pending", 7, 0) == 7);
    nn_close(a);
    while (nn_recv(b, buf, sizeof(buf), NN_DONTWAIT) == 7)
        ;
    CHECK_ERR(nn_recv(b, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);
    a = ta_socket(AF_SP, NN_PAIR);
    CHECK(nn_bind(a, addr) >= 0);
    CHECK(nn_send(a, "fresh", 5, 0) == 5);
    CHECK(nn_recv(b, buf, sizeof(buf), 0) == 5 && memcmp(buf, "fresh", 5) == 0);
    nn_close(a);
    nn_close(b);
}

int main(void)
{
    one_peer(AF_SP);
    one_peer(AF_SP_RAW);
    second_connection_of_the_connector();
    connect_before_bind();
    connector_shutdown();
    raw_and_cooked();
    other_types_refused();
    ping_pong();
    peer_closes_with_messages_in_flight();
    TEST_DONE();
}
