/* server.c: the server under test in the scale benchmark, one process per
   run. The same source is built against femtomsg, the stock libnanomsg and
   NNG's nanomsg-compatible API (the public nanomsg API only), and with
   -DSCALE_ZMQ against libzmq for the ZeroMQ column, so the four columns
   run the same loop. It owns nothing but its one socket: perf/scale/loadgen.c
   drives the connections and does all the measuring from outside.

     server pub  <url> <msg-size> [msgs/s]
                                    PUB: waits for SIGUSR1 (the load generator
                                    sends it once every subscriber is
                                    connected), then publishes as fast as
                                    nn_send returns (or at the given offered
                                    rate), each message carrying a 64-bit
                                    sequence number in its first 8 bytes
     server rep  <url> <msg-size>   REP: echoes every request (zero-copy
                                    receive and send where the API has it)
     server idle <url> <msg-size>   PULL: binds and does nothing

   It prints "ready" once bound and runs until killed (or 10 minutes, and
   never past its parent: PR_SET_PDEATHSIG). */
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#ifdef SCALE_ZMQ
#include "../zmq/zmqcommon.h"
#else
#include "../nn/nncommon.h"
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#endif

#define SCALE_MAX_SECONDS 600

enum role { ROLE_PUB, ROLE_REP, ROLE_IDLE };

/* One thin layer per library: open and bind, send a buffer, echo one
   request. Everything else is the same code for every column. */
#ifdef SCALE_ZMQ
typedef void *scale_sock;

static scale_sock open_bound(enum role role, const char *url)
{
    void *s = zmqp_socket(role == ROLE_PUB ? ZMQ_PUB : role == ROLE_REP ? ZMQ_REP : ZMQ_PULL);
    zmqp_check(zmq_bind(s, url), "zmq_bind");
    return s;
}

static void publish(scale_sock s, const void *buf, size_t size)
{
    zmq_send(s, buf, size, 0); /* PUB drops at the high-water mark, never blocks */
}

static void echo_forever(scale_sock s)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (;;) {
        if (zmq_msg_recv(&m, s, 0) < 0 || zmq_msg_send(&m, s, 0) < 0)
            perf_die("echo: %s", zmq_strerror(zmq_errno()));
    }
}
#else
typedef int scale_sock;

static scale_sock open_bound(enum role role, const char *url)
{
    int s = nnp_socket(AF_SP, role == ROLE_PUB ? NN_PUB : role == ROLE_REP ? NN_REP : NN_PULL);
    nnp_check(nn_bind(s, url), "nn_bind");
    return s;
}

static void publish(scale_sock s, const void *buf, size_t size)
{
    nn_send(s, buf, size, 0); /* PUB drops for a full peer, never blocks */
}

static void echo_forever(scale_sock s)
{
    for (;;) {
        void *m;
        int n = nn_recv(s, &m, NN_MSG, 0);
        nnp_check(n, "nn_recv");
        nnp_check(nn_send(s, &m, NN_MSG, 0), "nn_send");
    }
}
#endif

/* 10,000 connections need more descriptors than the usual soft limit. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    struct rlimit want = {rl.rlim_max, rl.rlim_max};
    if (want.rlim_max < 65536) {
        want.rlim_cur = want.rlim_max = 65536; /* succeeds as root only */
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            return;
        want.rlim_cur = want.rlim_max = rl.rlim_max;
    }
    setrlimit(RLIMIT_NOFILE, &want);
}

int main(int argc, char *argv[])
{
    if (argc != 4 && argc != 5)
        perf_usage(argc, 4, "server pub|rep|idle <bind-to> <msg-size> [pub msgs/s]");
    enum role role;
    if (strcmp(argv[1], "pub") == 0)
        role = ROLE_PUB;
    else if (strcmp(argv[1], "rep") == 0)
        role = ROLE_REP;
    else if (strcmp(argv[1], "idle") == 0)
        role = ROLE_IDLE;
    else
        perf_die("unknown role %s", argv[1]);
    size_t size = perf_arg_size(argv[3], "message size");
    double rate = argc == 5 ? (double) perf_arg_size(argv[4], "rate") : 0;
    if (size < 8)
        perf_die("messages carry an 8-byte sequence number: size 8 or more");
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    alarm(SCALE_MAX_SECONDS);
    raise_fd_limit();
    /* Blocked before the library starts its threads, so they inherit the
       mask and SIGUSR1 reaches sigwait below, not one of them. */
    sigset_t go;
    sigemptyset(&go);
    sigaddset(&go, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &go, NULL);

    scale_sock s = open_bound(role, argv[2]);
    perf_print_lib();
    printf("ready\n");
    fflush(stdout);

    if (role == ROLE_REP)
        echo_forever(s);
    if (role == ROLE_IDLE)
        for (;;)
            pause();
    int sig;
    sigwait(&go, &sig);
    char *buf = malloc(size);
    if (!buf)
        perf_die("out of memory");
    memset(buf, 'D', size);
    uint64_t start = perf_now_ns();
    for (uint64_t seq = 1;; seq++) {
        /* An offered rate is kept in steps of 64 messages: a clock read per
           message would cost more than some libraries' send. */
        while (rate > 0 && (seq & 63) == 0 && (double) seq > (perf_now_ns() - start) * rate / 1e9) {
            struct timespec nap = {0, 50000};
            nanosleep(&nap, NULL);
        }
        memcpy(buf, &seq, sizeof(seq));
        publish(s, buf, size);
    }
}
