/* test_reqrep.c: REQ and REP over inproc: request and reply, EFSM states,
   many clients on one server, stray and old replies dropped, resending (on
   time, when the server goes away, when another server appears), load
   balancing, raw sockets' headers in control data, and TTL limits. */
#include "testutil.h"

#include <nanomsg/reqrep.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define TIMEO 10000

static int sock(int domain, int proto)
{
    int s = nn_socket(domain, proto);
    CHECK(s >= 0);
    int t = TIMEO;
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &t, sizeof(t)) == 0);
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &t, sizeof(t)) == 0);
    return s;
}

static void send_str(int s, const char *str)
{
    CHECK(nn_send(s, str, strlen(str), 0) == (int) strlen(str));
}

static void recv_str(int s, const char *want)
{
    char buf[256];
    int n = nn_recv(s, buf, sizeof(buf) - 1, 0);
    CHECK(n == (int) strlen(want));
    if (n >= 0) {
        buf[n < (int) sizeof(buf) - 1 ? n : (int) sizeof(buf) - 1] = '\0';
        if (strcmp(buf, want) != 0) {
            fprintf(stderr, "got \"%s\", want \"%s\"\n", buf, want);
            tu_failures++;
        }
    }
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

/* A header of n words, in control data as PROTO_SP / SP_HDR. */
struct hdr {
    size_t n;
    uint32_t w[16];
};

static int send_hdr(int s, const struct hdr *h, const char *body, int flags)
{
    union {
        struct nn_cmsghdr align;
        uint8_t bytes[NN_CMSG_SPACE(sizeof(size_t) + 64)];
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    size_t len = h->n * 4;
    ctl.align.cmsg_len = NN_CMSG_LEN(sizeof(size_t) + len);
    ctl.align.cmsg_level = PROTO_SP;
    ctl.align.cmsg_type = SP_HDR;
    uint8_t *data = NN_CMSG_DATA(&ctl.align);
    memcpy(data, &len, sizeof(len));
    for (size_t i = 0; i < h->n; i++)
        put32(data + sizeof(len) + 4 * i, h->w[i]);
    struct nn_iovec iov = {(void *) body, strlen(body)};
    struct nn_msghdr mh = {&iov, 1, &ctl, NN_CMSG_SPACE(sizeof(size_t) + len)};
    return nn_sendmsg(s, &mh, flags);
}

/* Receive a body (as a string) and its header; returns the body size. */
static int recv_hdr(int s, struct hdr *h, char *body, size_t cap, int flags)
{
    union {
        struct nn_cmsghdr align;
        uint8_t bytes[NN_CMSG_SPACE(sizeof(size_t) + 64)];
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct nn_iovec iov = {body, cap - 1};
    struct nn_msghdr mh = {&iov, 1, &ctl, sizeof(ctl)};
    int n = nn_recvmsg(s, &mh, flags);
    if (n < 0)
        return n;
    body[(size_t) n < cap - 1 ? (size_t) n : cap - 1] = '\0';
    h->n = 0;
    struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&mh);
    CHECK(c != NULL);
    if (c) {
        CHECK(c->cmsg_level == PROTO_SP && c->cmsg_type == SP_HDR);
        size_t len;
        memcpy(&len, NN_CMSG_DATA(c), sizeof(len));
        CHECK(len % 4 == 0 && len <= 64);
        h->n = len / 4;
        for (size_t i = 0; i < h->n && i < 16; i++)
            h->w[i] = get32(NN_CMSG_DATA(c) + sizeof(len) + 4 * i);
    }
    return n;
}

/* Receive on whichever of two sockets has a message; returns its index. */
static int recv_either(int a, int b, char *buf, size_t cap)
{
    struct nn_pollfd pf[2] = {{a, NN_POLLIN, 0}, {b, NN_POLLIN, 0}};
    int rc = nn_poll(pf, 2, TIMEO);
    CHECK(rc >= 1);
    for (int i = 0; rc >= 1 && i < 2; i++)
        if ((pf[i].revents & NN_POLLIN) && nn_recv(pf[i].fd, buf, cap, NN_DONTWAIT) >= 0)
            return i;
    CHECK(!"no message on either socket");
    return -1;
}

static void test_basic(void)
{
    int rep = sock(AF_SP, NN_REP), req = sock(AF_SP, NN_REQ);
    CHECK(nn_bind(rep, "inproc://basic") >= 0);
    CHECK(nn_connect(req, "inproc://basic") >= 0);
    for (int i = 0; i < 3; i++) {
        send_str(req, "ping");
        recv_str(rep, "ping");
        send_str(rep, "pong");
        recv_str(req, "pong");
    }
    /* Zero-copy buffers both ways. */
    void *m = nn_allocmsg(5, 0);
    memcpy(m, "hello", 5);
    CHECK(nn_send(req, &m, NN_MSG, 0) == 5);
    void *in = NULL;
    CHECK(nn_recv(rep, &in, NN_MSG, 0) == 5);
    CHECK(in && memcmp(in, "hello", 5) == 0);
    CHECK(nn_send(rep, &in, NN_MSG, 0) == 5);
    void *back = NULL;
    CHECK(nn_recv(req, &back, NN_MSG, 0) == 5);
    CHECK(back && memcmp(back, "hello", 5) == 0);
    nn_freemsg(back);
    /* An empty request and reply. */
    CHECK(nn_send(req, "", 0, 0) == 0);
    char buf[8];
    CHECK(nn_recv(rep, buf, sizeof(buf), 0) == 0);
    CHECK(nn_send(rep, "", 0, 0) == 0);
    CHECK(nn_recv(req, buf, sizeof(buf), 0) == 0);
    nn_close(req);
    nn_close(rep);
}

static void test_efsm(void)
{
    int rep = sock(AF_SP, NN_REP), req = sock(AF_SP, NN_REQ);
    char buf[16];
    CHECK_ERR(nn_recv(req, buf, sizeof(buf), 0), EFSM);
    CHECK_ERR(nn_recv(req, buf, sizeof(buf), NN_DONTWAIT), EFSM);
    CHECK_ERR(nn_send(rep, "x", 1, 0), EFSM);
    CHECK_ERR(nn_send(rep, "x", 1, NN_DONTWAIT), EFSM);
    struct nn_pollfd pf[2] = {{req, NN_POLLIN | NN_POLLOUT, 0}, {rep, NN_POLLIN | NN_POLLOUT, 0}};
    CHECK(nn_poll(pf, 2, 0) == 1);
    CHECK(pf[0].revents == NN_POLLOUT); /* a REQ can always take a request */
    CHECK(pf[1].revents == 0);

    CHECK(nn_bind(rep, "inproc://efsm") >= 0);
    CHECK(nn_connect(req, "inproc://efsm") >= 0);
    send_str(req, "a");
    recv_str(rep, "a");
    pf[1].revents = 0;
    CHECK(nn_poll(&pf[1], 1, 0) == 1 && pf[1].revents == NN_POLLOUT);
    send_str(rep, "b");
    CHECK_ERR(nn_send(rep, "again", 5, 0), EFSM); /* one reply per request */
    recv_str(req, "b");
    CHECK_ERR(nn_recv(req, buf, sizeof(buf), 0), EFSM); /* one reply per request */
    nn_close(req);
    nn_close(rep);
}

/* A cooked REQ takes a request with no peer at all and returns at once,
   like the stock library; the request goes out when a server appears. */
static void test_send_before_peer(void)
{
    int req = sock(AF_SP, NN_REQ);
    CHECK(nn_connect(req, "inproc://early") >= 0);
    double t0 = tu_now();
    send_str(req, "early");
    CHECK(tu_now() - t0 < 1.0);
    int rep = sock(AF_SP, NN_REP);
    CHECK(nn_bind(rep, "inproc://early") >= 0);
    recv_str(rep, "early");
    send_str(rep, "late");
    recv_str(req, "late");
    nn_close(req);
    nn_close(rep);
}

/* The other way round: the REQ binds and the REP connects later. */
static void test_req_binds(void)
{
    int req = sock(AF_SP, NN_REQ);
    CHECK(nn_bind(req, "inproc://req-binds") >= 0);
    send_str(req, "pending");
    int rep = sock(AF_SP, NN_REP);
    CHECK(nn_connect(rep, "inproc://req-binds") >= 0);
    recv_str(rep, "pending");
    send_str(rep, "served");
    recv_str(req, "served");
    nn_close(rep);
    nn_close(req);
}

#define CLIENTS 8
#define PER_CLIENT 50

struct client {
    int id;
    atomic_int ok;
    pthread_t t;
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    int req = sock(AF_SP, NN_REQ);
    CHECK(nn_connect(req, "inproc://many") >= 0);
    for (int i = 0; i < PER_CLIENT; i++) {
        char q[64], want[80], buf[80];
        snprintf(q, sizeof(q), "c%d-%d", c->id, i);
        snprintf(want, sizeof(want), "re:%s", q);
        send_str(req, q);
        int n = nn_recv(req, buf, sizeof(buf) - 1, 0);
        CHECK(n == (int) strlen(want));
        if (n > 0) {
            buf[n] = '\0';
            if (strcmp(buf, want) == 0)
                atomic_fetch_add(&c->ok, 1);
        }
    }
    nn_close(req);
    return NULL;
}

static void *server_main(void *arg)
{
    int rep = *(int *) arg;
    for (int i = 0; i < CLIENTS * PER_CLIENT; i++) {
        char buf[80], out[100];
        int n = nn_recv(rep, buf, sizeof(buf) - 1, 0);
        CHECK(n > 0);
        if (n <= 0)
            break;
        buf[n] = '\0';
        snprintf(out, sizeof(out), "re:%s", buf);
        send_str(rep, out);
    }
    return NULL;
}

static void test_many_clients(void)
{
    int rep = sock(AF_SP, NN_REP);
    CHECK(nn_bind(rep, "inproc://many") >= 0);
    pthread_t srv;
    pthread_create(&srv, NULL, server_main, &rep);
    struct client cl[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        cl[i].id = i;
        atomic_init(&cl[i].ok, 0);
        pthread_create(&cl[i].t, NULL, client_main, &cl[i]);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(cl[i].t, NULL);
        CHECK(atomic_load(&cl[i].ok) == PER_CLIENT);
    }
    pthread_join(srv, NULL);
    nn_close(rep);
}

/* Replies to an abandoned request, with unknown ids or malformed stacks
   are dropped; only the reply to the latest request comes through. The
   right reply is sent last, so getting it proves the others were dropped. */
static void test_stray_replies(void)
{
    int rrep = sock(AF_SP_RAW, NN_REP), req = sock(AF_SP, NN_REQ);
    CHECK(nn_bind(rrep, "inproc://stray") >= 0);
    CHECK(nn_connect(req, "inproc://stray") >= 0);
    struct hdr ha, hb, h;
    char body[64];
    send_str(req, "A");
    CHECK(recv_hdr(rrep, &ha, body, sizeof(body), 0) == 1 && strcmp(body, "A") == 0);
    send_str(req, "B"); /* abandons A */
    CHECK(recv_hdr(rrep, &hb, body, sizeof(body), 0) == 1 && strcmp(body, "B") == 0);
    CHECK(ha.n == 2 && hb.n == 2);
    CHECK(ha.w[0] == hb.w[0] && !(ha.w[0] & 0x80000000u)); /* the same pipe */
    CHECK((ha.w[1] & 0x80000000u) && (hb.w[1] & 0x80000000u) && ha.w[1] != hb.w[1]);

    CHECK(send_hdr(rrep, &ha, "reply-A", 0) == 7);
    h = (struct hdr){2, {ha.w[0], hb.w[1] ^ 0x40000000u}};
    CHECK(send_hdr(rrep, &h, "unknown-id", 0) == 10);
    h = (struct hdr){2, {ha.w[0], 5}};
    CHECK(send_hdr(rrep, &h, "no-id", 0) == 5);
    h = (struct hdr){1, {ha.w[0]}};
    CHECK(send_hdr(rrep, &h, "xy", 0) == 2); /* the REQ sees a 2-byte body */
    h = (struct hdr){3, {ha.w[0], 7, hb.w[1]}};
    CHECK(send_hdr(rrep, &h, "extra-hop", 0) == 9);
    /* Inproc delivers as it sends: all of that is queued at the REQ now,
       and none of it makes the socket readable. */
    struct nn_pollfd pfd = {.fd = req, .events = NN_POLLIN};
    CHECK(nn_poll(&pfd, 1, 0) == 0 && pfd.revents == 0);
    int rcvfd;
    size_t sz = sizeof(rcvfd);
    CHECK(nn_getsockopt(req, NN_SOL_SOCKET, NN_RCVFD, &rcvfd, &sz) == 0);
    struct pollfd ofd = {.fd = rcvfd, .events = POLLIN};
    CHECK(poll(&ofd, 1, 0) == 0);
    CHECK(send_hdr(rrep, &hb, "reply-B", 0) == 7);
    CHECK(nn_poll(&pfd, 1, TIMEO) == 1 && (pfd.revents & NN_POLLIN));
    CHECK(poll(&ofd, 1, TIMEO) == 1);
    recv_str(req, "reply-B");
    CHECK(poll(&ofd, 1, 0) == 0);
    char buf[16];
    CHECK_ERR(nn_recv(req, buf, sizeof(buf), NN_DONTWAIT), EFSM);

    /* A late reply waits unseen, and is dropped under the next request. */
    CHECK(send_hdr(rrep, &hb, "late-B", 0) == 6);
    send_str(req, "C");
    struct hdr hc;
    CHECK(recv_hdr(rrep, &hc, body, sizeof(body), 0) == 1 && strcmp(body, "C") == 0);
    CHECK(send_hdr(rrep, &hc, "reply-C", 0) == 7);
    recv_str(req, "reply-C");
    nn_close(req);
    nn_close(rrep);
}

static void test_resend_ivl(void)
{
    int rep = sock(AF_SP, NN_REP), req = sock(AF_SP, NN_REQ);
    int ivl = 100;
    CHECK(nn_setsockopt(req, NN_REQ, NN_REQ_RESEND_IVL, &ivl, sizeof(ivl)) == 0);
    CHECK(nn_bind(rep, "inproc://resend") >= 0);
    CHECK(nn_connect(req, "inproc://resend") >= 0);
    /* Timed from before the request is sent, when the resend timer is
       armed: the first copy's own delivery may take tens of ms on a
       loaded machine, so the gap between the two copies proves nothing. */
    double t1 = tu_now();
    send_str(req, "again");
    recv_str(rep, "again");
    recv_str(rep, "again"); /* the first copy was ignored: here is the resend */
    double t2 = tu_now();
    CHECK(t2 - t1 >= 0.095);
    send_str(rep, "answer");
    recv_str(req, "answer");
    nn_close(req);
    nn_close(rep);
}

static void test_options(void)
{
    int req = sock(AF_SP, NN_REQ), rep = sock(AF_SP, NN_REP);
    int rreq = sock(AF_SP_RAW, NN_REQ);
    int v = 0;
    size_t sz = sizeof(v);
    CHECK(nn_getsockopt(req, NN_REQ, NN_REQ_RESEND_IVL, &v, &sz) == 0);
    CHECK(v == 60000 && sz == sizeof(int));
    v = 250;
    CHECK(nn_setsockopt(req, NN_REQ, NN_REQ_RESEND_IVL, &v, sizeof(v)) == 0);
    v = 0;
    sz = sizeof(v);
    CHECK(nn_getsockopt(req, NN_REQ, NN_REQ_RESEND_IVL, &v, &sz) == 0 && v == 250);
    v = -1; /* taken, as by the stock library */
    CHECK(nn_setsockopt(req, NN_REQ, NN_REQ_RESEND_IVL, &v, sizeof(v)) == 0);
    CHECK_ERR(nn_setsockopt(req, NN_REQ, NN_REQ_RESEND_IVL, &v, 2), EINVAL);
    CHECK_ERR(nn_setsockopt(req, NN_REQ, NN_REQ_RESEND_IVL, NULL, sizeof(int)), EFAULT);
    CHECK_ERR(nn_setsockopt(req, NN_REQ, 99, &v, sizeof(v)), ENOPROTOOPT);
    sz = 1;
    CHECK_ERR(nn_getsockopt(req, NN_REQ, NN_REQ_RESEND_IVL, &v, &sz), EINVAL);
    CHECK_ERR(nn_setsockopt(rep, NN_REQ, NN_REQ_RESEND_IVL, &v, sizeof(v)), ENOPROTOOPT);
    CHECK_ERR(nn_setsockopt(rep, NN_REP, NN_REQ_RESEND_IVL, &v, sizeof(v)), ENOPROTOOPT);
    CHECK_ERR(nn_setsockopt(rreq, NN_REQ, NN_REQ_RESEND_IVL, &v, sizeof(v)), ENOPROTOOPT);
    sz = sizeof(v);
    CHECK_ERR(nn_getsockopt(rreq, NN_REQ, NN_REQ_RESEND_IVL, &v, &sz), ENOPROTOOPT);
    nn_close(rreq);
    nn_close(rep);
    nn_close(req);
}

/* The server vanishes with the request in hand; a new server bound on the
   same address gets the request again as soon as the REQ connects to it
   (the resend interval, one minute, plays no part). */
static void test_server_replaced(void)
{
    int rep1 = sock(AF_SP, NN_REP), req = sock(AF_SP, NN_REQ);
    CHECK(nn_bind(rep1, "inproc://replace") >= 0);
    CHECK(nn_connect(req, "inproc://replace") >= 0);
    send_str(req, "job");
    recv_str(rep1, "job");
    CHECK(nn_close(rep1) == 0);
    int rep2 = sock(AF_SP, NN_REP);
    CHECK(nn_bind(rep2, "inproc://replace") >= 0);
    double t0 = tu_now();
    recv_str(rep2, "job");
    CHECK(tu_now() - t0 < 5.0);
    send_str(rep2, "done");
    recv_str(req, "done");
    nn_close(req);
    nn_close(rep2);
}

/* With two servers, losing the one that has the request sends it to the
   other at once. */
static void test_failover(void)
{
    int a = sock(AF_SP, NN_REP), b = sock(AF_SP, NN_REP), req = sock(AF_SP, NN_REQ);
    CHECK(nn_bind(a, "inproc://fo-a") >= 0);
    CHECK(nn_bind(b, "inproc://fo-b") >= 0);
    CHECK(nn_connect(req, "inproc://fo-a") >= 0);
    CHECK(nn_connect(req, "inproc://fo-b") >= 0);
    send_str(req, "work");
    char buf[16];
    int first = recv_either(a, b, buf, sizeof(buf));
    int other = first == 0 ? b : a;
    CHECK(nn_close(first == 0 ? a : b) == 0);
    recv_str(other, "work");
    send_str(other, "worked");
    recv_str(req, "worked");
    nn_close(req);
    nn_close(other);
}

static void test_load_balance(void)
{
    int a = sock(AF_SP, NN_REP), b = sock(AF_SP, NN_REP), req = sock(AF_SP, NN_REQ);
    CHECK(nn_bind(a, "inproc://lb-a") >= 0);
    CHECK(nn_bind(b, "inproc://lb-b") >= 0);
    CHECK(nn_connect(req, "inproc://lb-a") >= 0);
    CHECK(nn_connect(req, "inproc://lb-b") >= 0);
    int count[2] = {0, 0}, last = -1, alternations = 0;
    for (int i = 0; i < 10; i++) {
        char buf[16];
        send_str(req, "lb");
        int who = recv_either(a, b, buf, sizeof(buf));
        if (who < 0)
            break;
        count[who]++;
        alternations += who != last;
        last = who;
        send_str(who == 0 ? a : b, "ok");
        recv_str(req, "ok");
    }
    CHECK(count[0] == 5 && count[1] == 5);
    CHECK(alternations == 10); /* round robin */

    /* The better NN_SNDPRIO (lower) takes everything while it is there. */
    int req2 = sock(AF_SP, NN_REQ), prio = 2;
    CHECK(nn_setsockopt(req2, NN_SOL_SOCKET, NN_SNDPRIO, &prio, sizeof(prio)) == 0);
    CHECK(nn_connect(req2, "inproc://lb-b") >= 0);
    prio = 1;
    CHECK(nn_setsockopt(req2, NN_SOL_SOCKET, NN_SNDPRIO, &prio, sizeof(prio)) == 0);
    CHECK(nn_connect(req2, "inproc://lb-a") >= 0);
    for (int i = 0; i < 4; i++) {
        char buf[16];
        send_str(req2, "prio");
        CHECK(recv_either(a, b, buf, sizeof(buf)) == 0);
        send_str(a, "ok");
        recv_str(req2, "ok");
    }
    nn_close(req2);
    nn_close(req);
    nn_close(a);
    nn_close(b);
}

static void test_raw_headers(void)
{
    int rrep = sock(AF_SP_RAW, NN_REP), rreq = sock(AF_SP_RAW, NN_REQ);
    char body[64];
    struct hdr h, got;
    char buf[16];
    CHECK_ERR(nn_send(rreq, "x", 1, NN_DONTWAIT), EAGAIN); /* raw REQ waits for a peer */
    CHECK_ERR(nn_recv(rreq, buf, sizeof(buf), NN_DONTWAIT), EAGAIN); /* no EFSM when raw */
    CHECK(nn_send(rrep, "x", 1, 0) == 1);                            /* no peer: dropped */
    CHECK(nn_bind(rrep, "inproc://raw") >= 0);
    CHECK(nn_connect(rreq, "inproc://raw") >= 0);

    h = (struct hdr){1, {0x80000042u}};
    CHECK(send_hdr(rreq, &h, "ping", 0) == 4);
    CHECK(recv_hdr(rrep, &got, body, sizeof(body), 0) == 4 && strcmp(body, "ping") == 0);
    CHECK(got.n == 2 && got.w[0] != 0 && !(got.w[0] & 0x80000000u) && got.w[1] == 0x80000042u);
    uint32_t pipe = got.w[0];
    CHECK(send_hdr(rrep, &got, "pong", 0) == 4);
    CHECK(recv_hdr(rreq, &got, body, sizeof(body), 0) == 4 && strcmp(body, "pong") == 0);
    CHECK(got.n == 1 && got.w[0] == 0x80000042u);

    /* Hops travel both ways; the raw REQ shows the whole stack. */
    h = (struct hdr){3, {7, 9, 0x80000043u}};
    CHECK(send_hdr(rreq, &h, "hop", 0) == 3);
    CHECK(recv_hdr(rrep, &got, body, sizeof(body), 0) == 3);
    CHECK(got.n == 4 && got.w[0] == pipe && got.w[1] == 7 && got.w[2] == 9 &&
          got.w[3] == 0x80000043u);
    CHECK(send_hdr(rrep, &got, "hop-back", 0) == 8);
    CHECK(recv_hdr(rreq, &got, body, sizeof(body), 0) == 8 && strcmp(body, "hop-back") == 0);
    CHECK(got.n == 3 && got.w[0] == 7 && got.w[1] == 9 && got.w[2] == 0x80000043u);

    /* Replies without a usable route are dropped silently; the good one
       sent last arrives first. */
    h = (struct hdr){0, {0}};
    CHECK(send_hdr(rrep, &h, "no-route", 0) == 8);
    h = (struct hdr){2, {0x7ffffff0u, 0x80000001u}};
    CHECK(send_hdr(rrep, &h, "gone", 0) == 4);
    h = (struct hdr){2, {pipe, 0x80000044u}};
    CHECK(send_hdr(rrep, &h, "good", 0) == 4);
    CHECK(recv_hdr(rreq, &got, body, sizeof(body), 0) == 4 && strcmp(body, "good") == 0);
    CHECK(got.n == 1 && got.w[0] == 0x80000044u);

    /* Without control data the stack is read from the start of the body,
       as a wire transport delivers it; too short a body is dropped. */
    CHECK(nn_send(rreq, "z", 1, 0) == 1);
    uint8_t wire[7] = {0x80, 0, 0, 0x09, 'a', 'b', 'c'};
    CHECK(nn_send(rreq, wire, sizeof(wire), 0) == 7);
    CHECK(recv_hdr(rrep, &got, body, sizeof(body), 0) == 3 && strcmp(body, "abc") == 0);
    CHECK(got.n == 2 && got.w[0] == pipe && got.w[1] == 0x80000009u);

    /* Control data allocated by the library (NN_MSG). */
    h = (struct hdr){1, {0x80000045u}};
    CHECK(send_hdr(rreq, &h, "msgctl", 0) == 6);
    void *ctl = NULL;
    struct nn_iovec iov = {body, sizeof(body)};
    struct nn_msghdr mh = {&iov, 1, &ctl, NN_MSG};
    CHECK(nn_recvmsg(rrep, &mh, 0) == 6);
    struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&mh);
    CHECK(c && c->cmsg_level == PROTO_SP && c->cmsg_type == SP_HDR);
    if (c) {
        size_t len;
        memcpy(&len, NN_CMSG_DATA(c), sizeof(len));
        CHECK(len == 8 && get32(NN_CMSG_DATA(c) + sizeof(len) + 4) == 0x80000045u);
    }
    /* ... and handed back as such: nn_sendmsg frees it. */
    iov = (struct nn_iovec){"msgctl-re", 9};
    CHECK(nn_sendmsg(rrep, &mh, 0) == 9);
    CHECK(recv_hdr(rreq, &got, body, sizeof(body), 0) == 9 && got.w[0] == 0x80000045u);

    /* A cooked REQ through a raw REP, and a cooked REP showing no header. */
    int req = sock(AF_SP, NN_REQ);
    int eid = nn_connect(req, "inproc://raw");
    CHECK(eid >= 0);
    send_str(req, "cooked");
    CHECK(recv_hdr(rrep, &got, body, sizeof(body), 0) == 6 && strcmp(body, "cooked") == 0);
    CHECK(got.n == 2 && got.w[0] != pipe && (got.w[1] & 0x80000000u));
    CHECK(send_hdr(rrep, &got, "raw-reply", 0) == 9);
    recv_str(req, "raw-reply");

    int rep = sock(AF_SP, NN_REP);
    CHECK(nn_bind(rep, "inproc://raw-cooked") >= 0);
    CHECK(nn_connect(req, "inproc://raw-cooked") >= 0);
    CHECK(nn_shutdown(req, eid) == 0); /* only the cooked REP is left */
    send_str(req, "plain");
    CHECK(recv_hdr(rep, &got, body, sizeof(body), 0) == 5 && got.n == 0);
    send_str(rep, "plain-re");
    recv_str(req, "plain-re");
    nn_close(rep);
    nn_close(req);
    nn_close(rreq);
    nn_close(rrep);
}

/* A request whose stack is deeper than NN_MAXTTL is dropped; one at the
   limit passes. Each dropped one is sent first, so receiving the good one
   proves the drop without waiting. */
static void test_ttl(void)
{
    int rep = sock(AF_SP, NN_REP), rreq = sock(AF_SP_RAW, NN_REQ);
    CHECK(nn_bind(rep, "inproc://ttl") >= 0);
    CHECK(nn_connect(rreq, "inproc://ttl") >= 0);
    struct hdr h = {9, {1, 2, 3, 4, 5, 6, 7, 8, 0x80000001u}};
    CHECK(send_hdr(rreq, &h, "nine", 0) == 4);
    h = (struct hdr){8, {1, 2, 3, 4, 5, 6, 7, 0x80000002u}};
    CHECK(send_hdr(rreq, &h, "eight", 0) == 5);
    recv_str(rep, "eight");
    send_str(rep, "eight-re");
    struct hdr got;
    char body[64];
    CHECK(recv_hdr(rreq, &got, body, sizeof(body), 0) == 8 && strcmp(body, "eight-re") == 0);
    CHECK(got.n == 8 && got.w[0] == 1 && got.w[7] == 0x80000002u);

    int ttl = 2;
    CHECK(nn_setsockopt(rep, NN_SOL_SOCKET, NN_MAXTTL, &ttl, sizeof(ttl)) == 0);
    h = (struct hdr){3, {1, 2, 0x80000003u}};
    CHECK(send_hdr(rreq, &h, "three", 0) == 5);
    h = (struct hdr){2, {1, 2}}; /* malformed: no id at the bottom */
    CHECK(send_hdr(rreq, &h, "noid", 0) == 4);
    uint8_t wire[8] = {0, 0, 0, 1, 0, 0, 0, 2}; /* malformed, from the body */
    CHECK(nn_send(rreq, wire, sizeof(wire), 0) == 8);
    h = (struct hdr){2, {1, 0x80000004u}};
    CHECK(send_hdr(rreq, &h, "two", 0) == 3);
    recv_str(rep, "two");
    nn_close(rreq);
    nn_close(rep);
}

int main(void)
{
    test_basic();
    test_efsm();
    test_send_before_peer();
    test_req_binds();
    test_many_clients();
    test_stray_replies();
    test_resend_ivl();
    test_options();
    test_server_replaced();
    test_failover();
    test_load_balance();
    test_raw_headers();
    test_ttl();
    TEST_DONE();
}
