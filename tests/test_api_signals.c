/* test_api_signals.c: a signal delivered to a thread blocked in nn_recv,
   nn_send, nn_sendmsg / nn_recvmsg or nn_poll makes the call fail with
   EINTR, with or without SA_RESTART (as stock); nothing is lost or
   consumed by the interruption (the socket, a zero-copy buffer); a
   signal sent to the whole process reaches the application thread, never
   the library's own threads; and those block every signal but a fault's
   own (SIGSEGV, SIGBUS, SIGFPE, SIGILL), so that a crash on one of them is
   reported by a handler or a sanitizer instead of killing silently. Also
   the default size of their pool: one loop per CPU but one, 1 to 4. */
#include "test_api_util.h"
#include "loop_threads.h"

#include <signal.h>

static atomic_int handled;

static void on_signal(int sig)
{
    (void) sig;
    atomic_fetch_add(&handled, 1);
}

enum op { OP_RECV, OP_SEND, OP_RECVMSG, OP_SENDMSG, OP_POLL, OP_SEND_ZC, OP_COUNT };
static const char *const op_names[] = {"recv", "send", "recvmsg", "sendmsg", "nn_poll",
                                       "send NN_MSG"};

struct victim {
    int sock;
    enum op op;
    int rc, err;
    void *zc; /* the zero-copy buffer, still ours after EINTR */
    atomic_int tid, done;
};

static void *victim_main(void *arg)
{
    struct victim *v = arg;
    atomic_store(&v->tid, ta_gettid());
    char buf[8] = "sendmsg";
    struct nn_iovec iov = {buf, sizeof(buf)};
    struct nn_msghdr h = {.msg_iov = &iov, .msg_iovlen = 1};
    struct nn_pollfd pf = {.fd = v->sock, .events = NN_POLLIN};
    errno = 0;
    switch (v->op) {
    case OP_RECV: v->rc = nn_recv(v->sock, buf, sizeof(buf), 0); break;
    case OP_SEND: v->rc = nn_send(v->sock, "x", 1, 0); break;
    case OP_RECVMSG: v->rc = nn_recvmsg(v->sock, &h, 0); break;
    case OP_SENDMSG: v->rc = nn_sendmsg(v->sock, &h, 0); break;
    case OP_POLL: v->rc = nn_poll(&pf, 1, 20000); break;
    case OP_SEND_ZC: v->rc = nn_send(v->sock, &v->zc, NN_MSG, 0); break;
    default: break;
    }
    v->err = errno;
    atomic_store(&v->done, 1);
    return NULL;
}

/* Interrupt one blocked call; returns its errno (0 if it succeeded). */
static int interrupt(int sock, enum op op, void **zc)
{
    struct victim v = {.sock = sock, .op = op, .zc = zc ? *zc : NULL};
    atomic_init(&v.tid, 0);
    atomic_init(&v.done, 0);
    pthread_t th;
    pthread_create(&th, NULL, victim_main, &v);
    ta_wait_blocked(&v.tid, &v.done);
    /* A signal that lands before the call blocks interrupts nothing: keep
       signalling until the call returns (bounded by the socket's own
       TA_WAIT timeouts). */
    double end = tu_now() + 10;
    while (!atomic_load(&v.done) && tu_now() < end) {
        pthread_kill(th, SIGUSR1);
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    pthread_join(th, NULL);
    if (zc)
        *zc = v.zc;
    if (v.rc >= 0)
        return 0;
    return v.err;
}

static void each_call(int restart)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);

    for (int op = 0; op < OP_COUNT; op++) {
        int s = ta_socket(AF_SP, NN_PAIR); /* no peer: every call blocks */
        void *zc = op == OP_SEND_ZC ? nn_allocmsg(4, 0) : NULL;
        if (zc)
            memcpy(zc, "mine", 4);
        int before = atomic_load(&handled);
        int err = interrupt(s, (enum op) op, op == OP_SEND_ZC ? &zc : NULL);
        if (err != EINTR)
            fprintf(stderr, "%s%s: got %s, want EINTR\n", op_names[op],
                    restart ? " (SA_RESTART)" : "", nn_strerror(err));
        CHECK(err == EINTR);
        CHECK(atomic_load(&handled) > before);
        if (zc) {
            CHECK(memcmp(zc, "mine", 4) == 0); /* the caller still owns it */
            CHECK(nn_freemsg(zc) == 0);
        }
        /* The socket is fine afterwards. */
        char addr[64];
        ta_addr(addr, sizeof(addr));
        int peer = ta_socket(AF_SP, NN_PAIR);
        CHECK(nn_bind(peer, addr) >= 0);
        CHECK(nn_connect(s, addr) >= 0);
        CHECK(nn_send(s, "after", 5, 0) == 5);
        char buf[8];
        CHECK(nn_recv(peer, buf, sizeof(buf), 0) == 5);
        CHECK(nn_send(peer, "back", 4, 0) == 4);
        CHECK(nn_recv(s, buf, sizeof(buf), 0) == 4);
        nn_close(peer);
        nn_close(s);
    }
    signal(SIGUSR1, SIG_IGN);
}

/* An interrupted receive consumes nothing: a message sent right after is
   the next one received. */
static void nothing_consumed(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    int a, b;
    ta_pair(AF_SP, &a, &b);
    CHECK(interrupt(a, OP_RECV, NULL) == EINTR);
    CHECK(nn_send(b, "first", 5, 0) == 5);
    char buf[8];
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 5 && memcmp(buf, "first", 5) == 0);
    CHECK_ERR(nn_recv(a, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);
    nn_close(a);
    nn_close(b);
    signal(SIGUSR1, SIG_IGN);
}

/* kill(getpid()): the kernel picks any thread that does not block the
   signal. The library's thread blocks them all, so with every other
   application thread blocking SIGUSR2 the main thread's nn_recv is the one
   interrupted. */
struct sender {
    atomic_int stop;
};

static void *process_signaller(void *arg)
{
    struct sender *s = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    double end = tu_now() + 10;
    while (!atomic_load(&s->stop) && tu_now() < end) {
        kill(getpid(), SIGUSR2);
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void process_directed(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGUSR2, &sa, NULL);
    int a, b;
    ta_pair(AF_SP, &a, &b); /* the library is running: its thread exists */
    CHECK(nn_send(b, "warm", 4, 0) == 4);
    char buf[8];
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 4);
    ta_setint(a, NN_SOL_SOCKET, NN_RCVTIMEO, 8000);
    struct sender s;
    atomic_init(&s.stop, 0);
    pthread_t th;
    pthread_create(&th, NULL, process_signaller, &s);
    int rc = nn_recv(a, buf, sizeof(buf), 0);
    int err = errno;
    atomic_store(&s.stop, 1);
    pthread_join(th, NULL);
    CHECK(rc == -1 && err == EINTR);
    signal(SIGUSR2, SIG_IGN);
    nn_close(a);
    nn_close(b);
}

static void loop_masks(void)
{
    /* Each ipc listener runs on the loop watching the fewest descriptors:
       eight of them start every loop of a pool of at most four. */
    int a = ta_socket(AF_SP, NN_PAIR);
    for (int i = 0; i < 8; i++) {
        char addr[64];
        snprintf(addr, sizeof(addr), "ipc:///tmp/fm-sigmask-%d-%d.ipc", (int) getpid(), i);
        CHECK(nn_bind(a, addr) >= 0);
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int want = cpus < 3 ? 1 : cpus - 1 > 4 ? 4 : (int) cpus - 1;
    const char *env = getenv("FM_LOOP_THREADS");
    struct loop_thread t[64];
    int n = 0;
    if (env && *env) { /* a pool sized by hand */
        CHECK(WAIT_FOR((n = loop_threads(t, 64)) >= 1, 10)); /* (each names itself) */
    } else {
        CHECK(WAIT_FOR((n = loop_threads(t, 64)) == want, 10));
        printf("%ld CPUs: %d loop threads\n", cpus, n);
    }
    for (int i = 0; i < n; i++) {
        unsigned long long m = t[i].sigblk;
#define BLOCKED(sig) ((m >> ((sig) - 1)) & 1)
        CHECK(BLOCKED(SIGINT) && BLOCKED(SIGTERM) && BLOCKED(SIGUSR1) && BLOCKED(SIGUSR2) &&
              BLOCKED(SIGPIPE) && BLOCKED(SIGALRM));
        CHECK(!BLOCKED(SIGSEGV) && !BLOCKED(SIGBUS) && !BLOCKED(SIGFPE) && !BLOCKED(SIGILL));
#undef BLOCKED
    }
    nn_close(a);
}

int main(void)
{
    each_call(0);
    each_call(1);
    nothing_consumed();
    process_directed();
    loop_masks();
    TEST_DONE();
}
