/* test_api_term.c: nn_term. It is final for the process, so every
   scenario runs in a child process forked before the library is first
   used; the parent only collects exit statuses. Covered: threads blocked
   in nn_recv, nn_send, nn_poll and in poll(2) on NN_RCVFD are released;
   every call on an old socket then fails with EBADF and nn_socket with
   ETERM; message buffers keep working; nn_term twice, from two threads at
   once, with nothing open, before the library was ever used (a no-op, as
   stock), and racing with threads that keep using the library. */
#include "test_api_util.h"

#include <poll.h>
#include <sys/wait.h>

struct blocked {
    int sock;
    int op; /* 0 recv, 1 send, 2 nn_poll, 3 poll(2) on RCVFD */
    int fd;
    int rc, err;
    atomic_int tid, done;
    pthread_t th;
};

static void *blocked_main(void *arg)
{
    struct blocked *b = arg;
    atomic_store(&b->tid, ta_gettid());
    char buf[8];
    errno = 0;
    switch (b->op) {
    case 0: b->rc = nn_recv(b->sock, buf, sizeof(buf), 0); break;
    case 1: b->rc = nn_send(b->sock, "x", 1, 0); break;
    case 2: {
        struct nn_pollfd pf = {.fd = b->sock, .events = NN_POLLIN};
        b->rc = nn_poll(&pf, 1, 20000);
        break;
    }
    default: {
        struct pollfd p = {.fd = b->fd, .events = POLLIN};
        b->rc = poll(&p, 1, 20000);
        break;
    }
    }
    b->err = errno;
    atomic_store(&b->done, 1);
    return NULL;
}

static void start(struct blocked *b, int sock, int op)
{
    b->sock = sock;
    b->op = op;
    b->fd = op == 3 ? ta_getint(sock, NN_SOL_SOCKET, NN_RCVFD) : -1;
    atomic_init(&b->tid, 0);
    atomic_init(&b->done, 0);
    pthread_create(&b->th, NULL, blocked_main, b);
    ta_wait_blocked(&b->tid, &b->done);
}

/* No socket may wait forever: blocking calls here have no timeout, so a
   lost wake-up hangs the child, which the parent detects. */
static void releases_blocked_threads(void)
{
    int a = nn_socket(AF_SP, NN_PAIR), b = nn_socket(AF_SP, NN_PAIR);
    CHECK(nn_bind(a, "inproc://term-a") >= 0);
    CHECK(nn_connect(b, "inproc://term-a") >= 0);
    int lone = nn_socket(AF_SP, NN_PAIR);
    int watched = nn_socket(AF_SP, NN_PAIR);
    int polled = nn_socket(AF_SP, NN_PAIR);
    struct blocked w[4];
    memset(w, 0, sizeof(w));
    start(&w[0], a, 0);
    start(&w[1], lone, 1);
    start(&w[2], polled, 2);
    start(&w[3], watched, 3);
    for (int i = 0; i < 4; i++)
        CHECK(!atomic_load(&w[i].done));
    double t0 = ta_ms();
    nn_term();
    for (int i = 0; i < 4; i++)
        pthread_join(w[i].th, NULL);
    CHECK(ta_ms() - t0 < 5000);
    CHECK(w[0].rc == -1 && w[0].err == EBADF);
    CHECK(w[1].rc == -1 && w[1].err == EBADF);
    /* nn_poll returns without waiting out its timeout (stock reports
       nothing ready, 0; ours may report the socket signalled). */
    CHECK(w[2].rc >= 0 || w[2].err == EBADF || w[2].err == ETERM);
    /* poll(2) on the descriptor wakes up (man nn_term: both signalled). */
    CHECK(w[3].rc == 1);

    char buf[4];
    int v = 1;
    size_t l = sizeof(v);
    CHECK_ERR(nn_socket(AF_SP, NN_PAIR), ETERM);
    CHECK_ERR(nn_socket(AF_SP_RAW, NN_PAIR), ETERM);
    CHECK_ERR(nn_send(b, "x", 1, 0), EBADF);
    CHECK_ERR(nn_recv(b, buf, sizeof(buf), 0), EBADF);
    CHECK_ERR(nn_getsockopt(b, NN_SOL_SOCKET, NN_LINGER, &v, &l), EBADF);
    CHECK_ERR(nn_setsockopt(b, NN_SOL_SOCKET, NN_LINGER, &v, sizeof(v)), EBADF);
    CHECK_ERR(nn_bind(b, "inproc://after"), EBADF);
    CHECK_ERR(nn_connect(b, "inproc://after"), EBADF);
    CHECK_ERR(nn_shutdown(b, 1), EBADF);
    struct nn_pollfd pf = {.fd = b, .events = NN_POLLIN};
    CHECK_ERR(nn_poll(&pf, 1, 0), EBADF);
    errno = 0;
    CHECK(nn_get_statistic(b, NN_STAT_MESSAGES_SENT) == (uint64_t) -1 && errno == EBADF);
    struct nn_msghdr h;
    memset(&h, 0, sizeof(h));
    CHECK_ERR(nn_sendmsg(b, &h, 0), EBADF);
    CHECK_ERR(nn_recvmsg(b, &h, 0), EBADF);
    CHECK_ERR(nn_close(a), EBADF);
    CHECK_ERR(nn_close(b), EBADF);
    /* Message buffers still work. */
    void *m = nn_allocmsg(10, 0);
    CHECK(m != NULL);
    m = nn_reallocmsg(m, 20);
    CHECK(m != NULL);
    CHECK(nn_freemsg(m) == 0);
    CHECK(nn_strerror(ETERM) != NULL);
    nn_term();
    CHECK_ERR(nn_socket(AF_SP, NN_PAIR), ETERM);
}

/* Sockets with endpoints, peers, queued messages and in-flight buffers
   are all released (ASan's leak check sees the rest). */
static void releases_everything(void)
{
    void *kept = nn_allocmsg(100, 0);
    for (int i = 0; i < 20; i++) {
        char addr[64];
        ta_addr(addr, sizeof(addr));
        int a = nn_socket(AF_SP, NN_PAIR), b = nn_socket(AF_SP, NN_PAIR);
        nn_bind(a, addr);
        nn_connect(b, addr);
        nn_connect(a, "inproc://nobody-term");
        for (int k = 0; k < 10; k++)
            nn_send(b, "queued", 6, NN_DONTWAIT);
        void *m = nn_allocmsg(1000, 0);
        nn_send(b, &m, NN_MSG, NN_DONTWAIT);
    }
    nn_term();
    CHECK(nn_freemsg(kept) == 0);
}

/* Once the library has been used, nn_term is final even with no socket
   open at the time. */
static void term_with_nothing_open(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    CHECK(s >= 0);
    nn_close(s);
    nn_term();
    CHECK_ERR(nn_socket(AF_SP, NN_PAIR), ETERM);
    nn_term();
    CHECK_ERR(nn_socket(AF_SP, NN_PAIR), ETERM);
}

/* Before the library was ever used, nn_term has nothing to end: stock
   goes on working (the first nn_socket starts the library afresh), and a
   later nn_term is final as usual. */
static void term_before_any_use(void)
{
    nn_term();
    CHECK_ERR(nn_close(0), EBADF);
    int s = nn_socket(AF_SP, NN_PAIR);
    CHECK(s >= 0);
    nn_term();
    CHECK_ERR(nn_close(s), EBADF);
    CHECK_ERR(nn_socket(AF_SP, NN_PAIR), ETERM);
}

static void *term_main(void *arg)
{
    (void) arg;
    nn_term();
    return NULL;
}

static void term_from_two_threads(void)
{
    int s[8];
    for (int i = 0; i < 8; i++)
        s[i] = nn_socket(AF_SP, NN_PAIR);
    pthread_t t1, t2;
    pthread_create(&t1, NULL, term_main, NULL);
    pthread_create(&t2, NULL, term_main, NULL);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    for (int i = 0; i < 8; i++)
        CHECK_ERR(nn_close(s[i]), EBADF);
}

/* Threads that keep creating, using and closing sockets while nn_term
   runs: they stop with ETERM / EBADF, nothing crashes or hangs. */
struct churn {
    atomic_int stop;
    atomic_int saw_term;
    int id;
};

static void *churn_main(void *arg)
{
    struct churn *c = arg;
    char addr[64];
    char buf[8];
    for (int round = 0; round < 100000 && !atomic_load(&c->stop); round++) {
        snprintf(addr, sizeof(addr), "inproc://churn-%d-%d", c->id, round % 4);
        int a = nn_socket(AF_SP, NN_PAIR);
        if (a < 0) {
            if (errno == ETERM)
                atomic_store(&c->saw_term, 1);
            else
                tu_failures++;
            break;
        }
        int b = nn_socket(AF_SP, NN_PAIR);
        nn_bind(a, addr);
        if (b >= 0) {
            nn_connect(b, addr);
            nn_send(b, "churn", 5, NN_DONTWAIT);
            nn_recv(a, buf, sizeof(buf), NN_DONTWAIT);
            nn_close(b);
        }
        nn_close(a);
    }
    return NULL;
}

static void term_races_users(void)
{
    if (ta_stock()) /* aborts stock (refused PAIR connections) */
        return;
    struct churn c[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        atomic_init(&c[i].stop, 0);
        atomic_init(&c[i].saw_term, 0);
        c[i].id = i;
        pthread_create(&th[i], NULL, churn_main, &c[i]);
    }
    /* Let them run a little; correctness does not depend on how long. */
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    nn_term();
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++)
        CHECK(atomic_load(&c[i].saw_term));
    CHECK_ERR(nn_socket(AF_SP, NN_PAIR), ETERM);
}

static void (*const scenarios[])(void) = {
    releases_blocked_threads, releases_everything, term_with_nothing_open,
    term_before_any_use,      term_from_two_threads, term_races_users,
};
static const char *const names[] = {
    "releases_blocked_threads", "releases_everything", "term_with_nothing_open",
    "term_before_any_use",      "term_from_two_threads", "term_races_users",
};

int main(void)
{
    int n = (int) (sizeof(scenarios) / sizeof(scenarios[0]));
    for (int i = 0; i < n; i++) {
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(30); /* a hang becomes a failure, not a stuck suite */
            tu_failures = 0; /* the parent's count is not this child's */
            scenarios[i]();
            fflush(stderr);
            exit(tu_failures ? 1 : 0);
        }
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) != pid) {
            fprintf(stderr, "%s: could not run\n", names[i]);
            tu_failures++;
            continue;
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            if (WIFSIGNALED(st))
                fprintf(stderr, "%s: died of signal %d%s\n", names[i], WTERMSIG(st),
                        WTERMSIG(st) == SIGALRM ? " (hung)" : "");
            else
                fprintf(stderr, "%s: failed\n", names[i]);
            tu_failures++;
        }
    }
    TEST_DONE();
}
