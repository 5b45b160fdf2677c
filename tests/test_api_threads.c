/* test_api_threads.c: the API from several threads. A blocked nn_recv is
   woken by a send from another thread, by nn_close (EBADF), by a signal
   (EINTR) and, last, by nn_term (EBADF); a blocked nn_send is woken by
   nn_close and by a receiver making room. Concurrent senders on one
   socket lose nothing and keep their own order; sockets and inproc
   endpoints are created, connected and closed from many threads at once;
   a socket closed while other threads hammer it only makes their calls
   fail with EBADF. Meant to run under TSan as well. */
#include "test_api_util.h"

#include <signal.h>

struct waiter {
    int sock;
    int op; /* 0 recv, 1 send */
    int rc, err;
    char buf[16];
    atomic_int tid, done;
    pthread_t th;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    atomic_store(&w->tid, ta_gettid());
    errno = 0;
    if (w->op == 0)
        w->rc = nn_recv(w->sock, w->buf, sizeof(w->buf), 0);
    else
        w->rc = nn_send(w->sock, "blocked", 7, 0);
    w->err = errno;
    atomic_store(&w->done, 1);
    return NULL;
}

static void start(struct waiter *w, int sock, int op)
{
    memset(w, 0, sizeof(*w));
    w->sock = sock;
    w->op = op;
    atomic_init(&w->tid, 0);
    atomic_init(&w->done, 0);
    pthread_create(&w->th, NULL, waiter_main, w);
    ta_wait_blocked(&w->tid, &w->done);
}

static void recv_woken_by_send(void)
{
    int a, b;
    ta_pair(AF_SP, &a, &b);
    ta_setint(a, NN_SOL_SOCKET, NN_RCVTIMEO, -1); /* only the send may end it */
    struct waiter w;
    start(&w, a, 0);
    CHECK(!atomic_load(&w.done));
    CHECK(nn_send(b, "wake", 4, 0) == 4);
    pthread_join(w.th, NULL);
    CHECK(w.rc == 4 && memcmp(w.buf, "wake", 4) == 0);
    nn_close(a);
    nn_close(b);
}

static void recv_woken_by_close(void)
{
    int a, b;
    ta_pair(AF_SP, &a, &b);
    ta_setint(a, NN_SOL_SOCKET, NN_RCVTIMEO, -1);
    struct waiter w;
    start(&w, a, 0);
    double t0 = ta_ms();
    /* nn_close returns once the blocked call has left the library; the
       thread may not have stored its result yet, so join before looking. */
    CHECK(nn_close(a) == 0);
    pthread_join(w.th, NULL);
    CHECK(w.rc == -1 && w.err == EBADF);
    CHECK(ta_ms() - t0 < 5000);
    CHECK_ERR(nn_recv(a, w.buf, sizeof(w.buf), 0), EBADF);
    nn_close(b);
}

static void send_woken_by_close(void)
{
    int s = ta_socket(AF_SP, NN_PAIR); /* no peer: send blocks */
    ta_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, -1);
    struct waiter w;
    start(&w, s, 1);
    CHECK(nn_close(s) == 0);
    pthread_join(w.th, NULL);
    CHECK(w.rc == -1 && w.err == EBADF);
}

static void send_woken_by_room(void)
{
    char addr[64];
    ta_addr(addr, sizeof(addr));
    int p = ta_socket(AF_SP, NN_PAIR), q = ta_socket(AF_SP, NN_PAIR);
    ta_setint(p, NN_SOL_SOCKET, NN_RCVBUF, 100);
    CHECK(nn_bind(p, addr) >= 0);
    CHECK(nn_connect(q, addr) >= 0);
    char msg[100] = {0};
    while (nn_send(q, msg, sizeof(msg), NN_DONTWAIT) == (int) sizeof(msg))
        ;
    ta_setint(q, NN_SOL_SOCKET, NN_SNDTIMEO, -1);
    struct waiter w;
    start(&w, q, 1);
    CHECK(!atomic_load(&w.done));
    char buf[128];
    CHECK(nn_recv(p, buf, sizeof(buf), 0) == 100);
    pthread_join(w.th, NULL);
    CHECK(w.rc == 7);
    nn_close(p);
    nn_close(q);
}

static void on_signal(int sig) { (void) sig; }

static void recv_woken_by_signal(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    int a, b;
    ta_pair(AF_SP, &a, &b);
    struct waiter w;
    start(&w, a, 0);
    double end = tu_now() + 10;
    while (!atomic_load(&w.done) && tu_now() < end) {
        pthread_kill(w.th, SIGUSR1);
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    pthread_join(w.th, NULL);
    CHECK(w.rc == -1 && w.err == EINTR);
    signal(SIGUSR1, SIG_IGN);
    nn_close(a);
    nn_close(b);
}

/* Several senders share one socket; one receiver gets every message, and
   each sender's messages in the order it sent them. */
enum { SENDERS = 4, PER_SENDER = 2000 };

struct sender {
    int sock;
    int id;
    int failed;
};

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    for (int i = 0; i < PER_SENDER; i++) {
        int msg[2] = {s->id, i};
        if (nn_send(s->sock, msg, sizeof(msg), 0) != (int) sizeof(msg))
            s->failed++;
    }
    return NULL;
}

static void concurrent_senders(void)
{
    int a, b;
    ta_pair(AF_SP, &a, &b);
    struct sender s[SENDERS];
    pthread_t th[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        s[i] = (struct sender){.sock = b, .id = i};
        pthread_create(&th[i], NULL, sender_main, &s[i]);
    }
    int next[SENDERS] = {0};
    int bad = 0;
    for (int n = 0; n < SENDERS * PER_SENDER; n++) {
        int msg[2];
        if (nn_recv(a, msg, sizeof(msg), 0) != (int) sizeof(msg)) {
            bad++;
            break;
        }
        if (msg[0] < 0 || msg[0] >= SENDERS || msg[1] != next[msg[0]])
            bad++;
        else
            next[msg[0]]++;
    }
    for (int i = 0; i < SENDERS; i++) {
        pthread_join(th[i], NULL);
        CHECK(s[i].failed == 0);
        CHECK(next[i] == PER_SENDER);
    }
    CHECK(bad == 0);
    nn_close(a);
    nn_close(b);
}

/* Threads creating, binding, connecting, exchanging and closing at once:
   the socket table and the inproc name registry under contention. */
struct churner {
    int id;
    int failed;
};

static void *churn_main(void *arg)
{
    struct churner *c = arg;
    for (int round = 0; round < 150; round++) {
        char addr[64];
        /* Names shared between threads, so binds collide (EADDRINUSE) and
           connectors meet binders of other threads. */
        snprintf(addr, sizeof(addr), "inproc://churn-%d", round % 5);
        int a = nn_socket(AF_SP, NN_PAIR), b = nn_socket(AF_SP, NN_PAIR);
        if (a < 0 || b < 0) {
            c->failed++;
            break;
        }
        int rc = nn_bind(a, addr);
        if (rc < 0 && errno != EADDRINUSE)
            c->failed++;
        if (nn_connect(b, addr) < 0)
            c->failed++;
        nn_send(b, "x", 1, NN_DONTWAIT);
        nn_send(a, "y", 1, NN_DONTWAIT);
        char buf[4];
        nn_recv(a, buf, sizeof(buf), NN_DONTWAIT);
        nn_recv(b, buf, sizeof(buf), NN_DONTWAIT);
        if (round % 2) {
            nn_close(a);
            nn_close(b);
        } else {
            nn_close(b);
            nn_close(a);
        }
    }
    return NULL;
}

static void churn(void)
{
    if (ta_stock()) /* refused PAIR connections crash stock */
        return;
    enum { N = 4 };
    struct churner c[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        c[i] = (struct churner){.id = i};
        pthread_create(&th[i], NULL, churn_main, &c[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        CHECK(c[i].failed == 0);
    }
    /* Nothing left behind: every name binds again. */
    for (int k = 0; k < 5; k++) {
        char addr[64];
        snprintf(addr, sizeof(addr), "inproc://churn-%d", k);
        int s = nn_socket(AF_SP, NN_PAIR);
        CHECK(nn_bind(s, addr) >= 0);
        nn_close(s);
    }
}

/* One socket closed while other threads use it in every way. */
struct hammer {
    int sock;
    int kind;
    atomic_int *stop;
    int unexpected;
};

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    char buf[8];
    int v;
    size_t l;
    while (!atomic_load(h->stop)) {
        errno = 0;
        int rc;
        switch (h->kind) {
        case 0: rc = nn_send(h->sock, "h", 1, NN_DONTWAIT); break;
        case 1: rc = nn_recv(h->sock, buf, sizeof(buf), 0); break;
        case 2:
            l = sizeof(v);
            rc = nn_getsockopt(h->sock, NN_SOL_SOCKET, NN_RCVBUF, &v, &l);
            break;
        default: {
            struct nn_pollfd pf = {.fd = h->sock, .events = NN_POLLIN | NN_POLLOUT};
            rc = nn_poll(&pf, 1, 10);
            break;
        }
        }
        if (rc < 0 && errno == EBADF)
            break;
        if (rc < 0 && errno != EAGAIN && errno != ETIMEDOUT)
            h->unexpected++;
    }
    return NULL;
}

static void close_under_fire(void)
{
    if (ta_stock()) /* aborts stock (inproc state machine) */
        return;
    for (int round = 0; round < 20; round++) {
        int a, b;
        ta_pair(AF_SP, &a, &b);
        ta_setint(a, NN_SOL_SOCKET, NN_RCVTIMEO, 10);
        atomic_int stop;
        atomic_init(&stop, 0);
        struct hammer h[4];
        pthread_t th[4];
        for (int k = 0; k < 4; k++) {
            h[k] = (struct hammer){.sock = a, .kind = k, .stop = &stop};
            pthread_create(&th[k], NULL, hammer_main, &h[k]);
        }
        for (int i = 0; i < 20; i++)
            nn_send(b, "feed", 4, NN_DONTWAIT);
        CHECK(nn_close(a) == 0);
        /* Each hammer sees EBADF and stops by itself; the flag is only a
           safety net if one never does. */
        double end = tu_now() + 10;
        for (int k = 0; k < 4; k++) {
            while (tu_now() < end && pthread_tryjoin_np(th[k], NULL) != 0)
                tu_pause();
            if (tu_now() >= end) {
                atomic_store(&stop, 1);
                pthread_join(th[k], NULL);
                CHECK(!"a thread did not see EBADF");
            }
            CHECK(h[k].unexpected == 0);
        }
        nn_close(b);
    }
}

/* A receive blocked on one socket, and nn_close of another: unaffected. */
static void close_other_socket(void)
{
    int a, b;
    ta_pair(AF_SP, &a, &b);
    struct waiter w;
    start(&w, a, 0);
    int c = ta_socket(AF_SP, NN_PAIR);
    CHECK(nn_close(c) == 0);
    CHECK(!atomic_load(&w.done));
    CHECK(nn_send(b, "still", 5, 0) == 5);
    pthread_join(w.th, NULL);
    CHECK(w.rc == 5);
    nn_close(a);
    nn_close(b);
}

/* Last: nn_term wakes a blocked receive with EBADF. */
static void recv_woken_by_term(void)
{
    int a, b;
    ta_pair(AF_SP, &a, &b);
    ta_setint(a, NN_SOL_SOCKET, NN_RCVTIMEO, -1);
    struct waiter w;
    start(&w, a, 0);
    nn_term();
    pthread_join(w.th, NULL);
    CHECK(w.rc == -1 && w.err == EBADF);
    CHECK_ERR(nn_socket(AF_SP, NN_PAIR), ETERM);
}

int main(void)
{
    recv_woken_by_send();
    recv_woken_by_close();
    send_woken_by_close();
    send_woken_by_room();
    recv_woken_by_signal();
    concurrent_senders();
    churn();
    close_under_fire();
    close_other_socket();
    recv_woken_by_term();
    TEST_DONE();
}
