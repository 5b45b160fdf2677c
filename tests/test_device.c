/* test_device.c: nn_device over inproc: argument checks, the loopback form
   as an echo server, a chain of two REQ/REP devices between several
   clients and two servers, a loop of devices that NN_MAXTTL breaks, a
   one-way device, and the device returning when one of its sockets is
   closed from another thread (also while it holds a message) or when a
   signal arrives. nn_term is in test_device_term.c. */
#include "testutil.h"

#include <nanomsg/pipeline.h>
#include <nanomsg/pair.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

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
        buf[n] = '\0';
        if (strcmp(buf, want) != 0) {
            fprintf(stderr, "got \"%s\", want \"%s\"\n", buf, want);
            tu_failures++;
        }
    }
}

struct dev {
    int s1, s2;
    int rc, err;
    atomic_int done;
    pthread_t t;
};

static void *dev_main(void *arg)
{
    struct dev *d = arg;
    errno = 0;
    d->rc = nn_device(d->s1, d->s2);
    d->err = errno;
    atomic_store(&d->done, 1);
    return NULL;
}

static void dev_start(struct dev *d, int s1, int s2)
{
    d->s1 = s1;
    d->s2 = s2;
    d->rc = 0;
    d->err = 0;
    atomic_init(&d->done, 0);
    CHECK(pthread_create(&d->t, NULL, dev_main, d) == 0);
}

/* Wait for the device to return, and check it failed with err. */
static void dev_join(struct dev *d, int err)
{
    CHECK(WAIT_FOR(atomic_load(&d->done), 10));
    if (!atomic_load(&d->done)) {
        fprintf(stderr, "device did not return\n");
        exit(1);
    }
    pthread_join(d->t, NULL);
    CHECK(d->rc == -1);
    if (d->err != err) {
        fprintf(stderr, "device errno %d (%s), want %d (%s)\n", d->err, nn_strerror(d->err), err,
                nn_strerror(err));
        tu_failures++;
    }
}

static uint64_t received(int s) { return nn_get_statistic(s, NN_STAT_MESSAGES_RECEIVED); }

static void test_errors(void)
{
    int rrep = sock(AF_SP_RAW, NN_REP), rreq = sock(AF_SP_RAW, NN_REQ);
    int rep = sock(AF_SP, NN_REP), req = sock(AF_SP, NN_REQ);
    int rpair = sock(AF_SP_RAW, NN_PAIR);
    int gone = sock(AF_SP_RAW, NN_REP);
    nn_close(gone);
    const int bad = 500;
    CHECK_ERR(nn_device(-1, -1), EBADF);
    CHECK_ERR(nn_device(-2, -1), EBADF);
    CHECK_ERR(nn_device(bad, -1), EBADF);
    CHECK_ERR(nn_device(-1, bad), EBADF);
    CHECK_ERR(nn_device(gone, -1), EBADF);
    CHECK_ERR(nn_device(bad, rrep), EBADF);
    CHECK_ERR(nn_device(rrep, bad), EBADF);
    CHECK_ERR(nn_device(rrep, gone), EBADF);
    CHECK_ERR(nn_device(rep, bad), EBADF);
    /* Both must be raw. */
    CHECK_ERR(nn_device(rep, -1), EINVAL);
    CHECK_ERR(nn_device(-1, rep), EINVAL);
    CHECK_ERR(nn_device(rep, req), EINVAL);
    CHECK_ERR(nn_device(rrep, req), EINVAL);
    CHECK_ERR(nn_device(rep, rreq), EINVAL);
    /* Both of one protocol family. */
    CHECK_ERR(nn_device(rrep, rpair), EINVAL);
    CHECK_ERR(nn_device(rpair, rreq), EINVAL);
    /* Directions that do not fit: two senders; a loopback that cannot
       receive. */
    int pub1 = nn_socket(AF_SP_RAW, NN_PUB), pub2 = nn_socket(AF_SP_RAW, NN_PUB);
    int push = nn_socket(AF_SP_RAW, NN_PUSH);
    if (pub1 >= 0 && pub2 >= 0)
        CHECK_ERR(nn_device(pub1, pub2), EINVAL);
    if (push >= 0)
        CHECK_ERR(nn_device(push, -1), ENOTSUP);
    nn_close(pub1);
    nn_close(pub2);
    nn_close(push);
    nn_close(rpair);
    nn_close(req);
    nn_close(rep);
    nn_close(rreq);
    nn_close(rrep);
}

/* One raw REP as its own peer: each request goes back as its reply. */
static void test_loopback(void)
{
    int rrep = sock(AF_SP_RAW, NN_REP);
    CHECK(nn_bind(rrep, "inproc://echo") >= 0);
    struct dev d;
    dev_start(&d, rrep, -1);
    int req[3];
    for (int i = 0; i < 3; i++) {
        req[i] = sock(AF_SP, NN_REQ);
        CHECK(nn_connect(req[i], "inproc://echo") >= 0);
    }
    for (int round = 0; round < 5; round++) {
        char msg[3][16];
        for (int i = 0; i < 3; i++) {
            snprintf(msg[i], sizeof(msg[i]), "echo-%d-%d", i, round);
            send_str(req[i], msg[i]);
        }
        for (int i = 2; i >= 0; i--)
            recv_str(req[i], msg[i]);
    }
    CHECK(nn_close(rrep) == 0);
    dev_join(&d, EBADF);
    for (int i = 0; i < 3; i++)
        nn_close(req[i]);
}

#define CHAIN_CLIENTS 4
#define CHAIN_REQUESTS 25

static atomic_int served[2];
static atomic_int chain_ok;

struct server {
    int s;
    int index;
    pthread_t t;
};

static void *server_main(void *arg)
{
    struct server *sv = arg;
    for (;;) {
        char buf[64], out[80];
        int n = nn_recv(sv->s, buf, sizeof(buf) - 1, 0);
        if (n < 0)
            break; /* closed at the end */
        buf[n] = '\0';
        snprintf(out, sizeof(out), "%s|srv%d", buf, sv->index);
        atomic_fetch_add(&served[sv->index], 1); /* before the client can see it */
        if (nn_send(sv->s, out, strlen(out), 0) < 0)
            break;
    }
    return NULL;
}

static void *chain_client(void *arg)
{
    int id = (int) (intptr_t) arg;
    int req = sock(AF_SP, NN_REQ);
    CHECK(nn_connect(req, "inproc://chain-front") >= 0);
    for (int i = 0; i < CHAIN_REQUESTS; i++) {
        char q[32], buf[64], w0[64], w1[64];
        snprintf(q, sizeof(q), "c%d-r%d", id, i);
        snprintf(w0, sizeof(w0), "%s|srv0", q);
        snprintf(w1, sizeof(w1), "%s|srv1", q);
        send_str(req, q);
        int n = nn_recv(req, buf, sizeof(buf) - 1, 0);
        CHECK(n > 0);
        if (n <= 0)
            break;
        buf[n] = '\0';
        if (strcmp(buf, w0) == 0 || strcmp(buf, w1) == 0)
            atomic_fetch_add(&chain_ok, 1);
        else
            CHECK(!"reply for another request");
    }
    nn_close(req);
    return NULL;
}

/* clients -> [raw REP | device A | raw REQ] -> [raw REP | device B | raw
   REQ] -> two REP servers, and the replies all the way back. */
static void test_chain(void)
{
    struct server sv[2];
    const char *back[2] = {"inproc://chain-back0", "inproc://chain-back1"};
    for (int i = 0; i < 2; i++) {
        sv[i].s = sock(AF_SP, NN_REP);
        sv[i].index = i;
        CHECK(nn_bind(sv[i].s, back[i]) >= 0);
        atomic_init(&served[i], 0);
        pthread_create(&sv[i].t, NULL, server_main, &sv[i]);
    }
    int a_rep = sock(AF_SP_RAW, NN_REP), a_req = sock(AF_SP_RAW, NN_REQ);
    int b_rep = sock(AF_SP_RAW, NN_REP), b_req = sock(AF_SP_RAW, NN_REQ);
    CHECK(nn_bind(a_rep, "inproc://chain-front") >= 0);
    CHECK(nn_bind(b_rep, "inproc://chain-mid") >= 0);
    CHECK(nn_connect(a_req, "inproc://chain-mid") >= 0);
    CHECK(nn_connect(b_req, back[0]) >= 0);
    CHECK(nn_connect(b_req, back[1]) >= 0);
    struct dev da, db;
    dev_start(&da, a_rep, a_req);
    dev_start(&db, b_req, b_rep); /* either order works */

    atomic_init(&chain_ok, 0);
    pthread_t cl[CHAIN_CLIENTS];
    for (intptr_t i = 0; i < CHAIN_CLIENTS; i++)
        pthread_create(&cl[i], NULL, chain_client, (void *) i);
    for (int i = 0; i < CHAIN_CLIENTS; i++)
        pthread_join(cl[i], NULL);
    CHECK(atomic_load(&chain_ok) == CHAIN_CLIENTS * CHAIN_REQUESTS);
    CHECK(atomic_load(&served[0]) > 0 && atomic_load(&served[1]) > 0);
    CHECK(atomic_load(&served[0]) + atomic_load(&served[1]) >= CHAIN_CLIENTS * CHAIN_REQUESTS);

    CHECK(nn_close(a_req) == 0);
    dev_join(&da, EBADF);
    CHECK(nn_close(b_rep) == 0);
    dev_join(&db, EBADF);
    nn_close(a_rep);
    nn_close(b_req);
    for (int i = 0; i < 2; i++) {
        nn_close(sv[i].s);
        pthread_join(sv[i].t, NULL);
    }
}

/* Two devices wired into a ring: A forwards to B, B back to A. A request
   goes round, one hop deeper each time, until a REP sees more than
   NN_MAXTTL words and drops it. */
static void test_ttl_loop(void)
{
    int a_rep = sock(AF_SP_RAW, NN_REP), a_req = sock(AF_SP_RAW, NN_REQ);
    int b_rep = sock(AF_SP_RAW, NN_REP), b_req = sock(AF_SP_RAW, NN_REQ);
    int ttl = 4;
    CHECK(nn_setsockopt(a_rep, NN_SOL_SOCKET, NN_MAXTTL, &ttl, sizeof(ttl)) == 0);
    CHECK(nn_setsockopt(b_rep, NN_SOL_SOCKET, NN_MAXTTL, &ttl, sizeof(ttl)) == 0);
    CHECK(nn_bind(a_rep, "inproc://ring-a") >= 0);
    CHECK(nn_bind(b_rep, "inproc://ring-b") >= 0);
    CHECK(nn_connect(a_req, "inproc://ring-b") >= 0);
    CHECK(nn_connect(b_req, "inproc://ring-a") >= 0);
    struct dev da, db;
    dev_start(&da, a_rep, a_req);
    dev_start(&db, b_rep, b_req);

    int req = sock(AF_SP, NN_REQ), t = 300;
    CHECK(nn_setsockopt(req, NN_SOL_SOCKET, NN_RCVTIMEO, &t, sizeof(t)) == 0);
    CHECK(nn_connect(req, "inproc://ring-a") >= 0);
    send_str(req, "round and round");
    /* Stacks of 1 and 3 words pass A, 2 and 4 pass B; 5 words at A: dead. */
    CHECK(WAIT_FOR(received(a_rep) == 2 && received(b_rep) == 2, 10));
    char buf[32];
    CHECK_ERR(nn_recv(req, buf, sizeof(buf), 0), ETIMEDOUT);
    CHECK(received(a_rep) == 2 && received(b_rep) == 2);

    nn_close(a_rep);
    dev_join(&da, EBADF);
    nn_close(b_req);
    dev_join(&db, EBADF);
    nn_close(a_req);
    nn_close(b_rep);
    nn_close(req);
}

/* PUSH -> [raw PULL | device | raw PUSH] -> PULL, the device given its
   sockets in the order (sender, receiver). */
static void test_oneway(void)
{
    int in = nn_socket(AF_SP_RAW, NN_PULL), out = nn_socket(AF_SP_RAW, NN_PUSH);
    if (in < 0 || out < 0) {
        nn_close(in);
        nn_close(out);
        return; /* no pipeline protocol in this build */
    }
    int push = sock(AF_SP, NN_PUSH), pull = sock(AF_SP, NN_PULL);
    CHECK(nn_bind(in, "inproc://ow-in") >= 0);
    CHECK(nn_bind(pull, "inproc://ow-out") >= 0);
    CHECK(nn_connect(out, "inproc://ow-out") >= 0);
    CHECK(nn_connect(push, "inproc://ow-in") >= 0);
    struct dev d;
    dev_start(&d, out, in);
    for (int i = 0; i < 20; i++) {
        char m[16];
        snprintf(m, sizeof(m), "job%d", i);
        send_str(push, m);
    }
    for (int i = 0; i < 20; i++) {
        char m[16];
        snprintf(m, sizeof(m), "job%d", i);
        recv_str(pull, m);
    }
    nn_close(in);
    dev_join(&d, EBADF);
    nn_close(out);
    nn_close(push);
    nn_close(pull);
}

/* Closing either socket from another thread ends a running device. */
static void test_close(int which)
{
    int front = sock(AF_SP_RAW, NN_REP), backs = sock(AF_SP_RAW, NN_REQ);
    int rep = sock(AF_SP, NN_REP), req = sock(AF_SP, NN_REQ);
    CHECK(nn_bind(front, "inproc://dc-front") >= 0);
    CHECK(nn_bind(rep, "inproc://dc-back") >= 0);
    CHECK(nn_connect(backs, "inproc://dc-back") >= 0);
    CHECK(nn_connect(req, "inproc://dc-front") >= 0);
    struct dev d;
    dev_start(&d, front, backs);
    send_str(req, "through");
    recv_str(rep, "through");
    send_str(rep, "back");
    recv_str(req, "back"); /* the device runs */
    CHECK(nn_close(which == 0 ? front : backs) == 0);
    dev_join(&d, EBADF);
    nn_close(which == 0 ? backs : front);
    nn_close(req);
    nn_close(rep);
}

/* The device holds a request its raw REQ cannot send (no server yet);
   closing the socket it came from still ends it. */
static void test_close_holding(void)
{
    int front = sock(AF_SP_RAW, NN_REP), backs = sock(AF_SP_RAW, NN_REQ);
    int req = sock(AF_SP, NN_REQ);
    CHECK(nn_bind(front, "inproc://dh-front") >= 0);
    CHECK(nn_connect(backs, "inproc://dh-back") >= 0);
    CHECK(nn_connect(req, "inproc://dh-front") >= 0);
    struct dev d;
    dev_start(&d, front, backs);
    send_str(req, "stuck");
    CHECK(WAIT_FOR(received(front) == 1, 10));
    CHECK(nn_close(front) == 0);
    dev_join(&d, EBADF);
    nn_close(backs);
    nn_close(req);
}

/* ... and once a server appears, the held request goes out. */
static void test_held_then_sent(void)
{
    int front = sock(AF_SP_RAW, NN_REP), backs = sock(AF_SP_RAW, NN_REQ);
    int req = sock(AF_SP, NN_REQ);
    CHECK(nn_bind(front, "inproc://dw-front") >= 0);
    CHECK(nn_connect(backs, "inproc://dw-back") >= 0);
    CHECK(nn_connect(req, "inproc://dw-front") >= 0);
    struct dev d;
    dev_start(&d, front, backs);
    send_str(req, "wait");
    CHECK(WAIT_FOR(received(front) == 1, 10));
    int rep = sock(AF_SP, NN_REP);
    CHECK(nn_bind(rep, "inproc://dw-back") >= 0);
    recv_str(rep, "wait");
    send_str(rep, "waited");
    recv_str(req, "waited");
    nn_close(backs);
    dev_join(&d, EBADF);
    nn_close(front);
    nn_close(rep);
    nn_close(req);
}

static void on_signal(int sig) { (void) sig; }

/* A signal to the thread blocked in the device ends it with EINTR. */
static void test_eintr(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    int a = sock(AF_SP_RAW, NN_REP), b = sock(AF_SP_RAW, NN_REQ);
    struct dev d;
    dev_start(&d, a, b);
    /* The signal may land before the device sits in poll(): repeat it. */
    double end = tu_now() + 10;
    while (!atomic_load(&d.done) && tu_now() < end) {
        pthread_kill(d.t, SIGUSR1);
        WAIT_FOR(atomic_load(&d.done), 0.05);
    }
    dev_join(&d, EINTR);
    nn_close(a);
    nn_close(b);
}

int main(void)
{
    test_errors();
    test_loopback();
    test_chain();
    test_ttl_loop();
    test_oneway();
    test_close(0);
    test_close(1);
    test_close_holding();
    test_held_then_sent();
    test_eintr();
    TEST_DONE();
}
