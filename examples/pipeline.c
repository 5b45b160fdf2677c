/* pipeline.c: a pipeline (PUSH/PULL) that spreads work over workers and
   gathers the results. A source pushes numbers; every worker pulls some of
   them, squares them and pushes the results on; a sink pulls them all and
   adds them up. Each message goes to exactly one worker, and a PUSH socket
   deals them out in turn among the workers that can take one.

     pipeline source [ADDR] [N]          push the numbers 1..N (default 100)
     pipeline worker [IN] [OUT]          square numbers until stopped
     pipeline sink [ADDR] [N]            add up N results and print the sum
     pipeline demo                       source, sink and two workers, over ipc

   The source binds tcp://127.0.0.1:5557 and the sink tcp://127.0.0.1:5558
   by default; workers connect to both, so there can be any number of them. */
#include "example.h"

#include <nanomsg/pipeline.h>

#define SOURCE_ADDR "tcp://127.0.0.1:5557"
#define SINK_ADDR "tcp://127.0.0.1:5558"

static int open_socket(int protocol, const char *addr, int bind)
{
    int s = nn_socket(AF_SP, protocol);
    if (s < 0)
        ex_fail("nn_socket");
    if ((bind ? nn_bind(s, addr) : nn_connect(s, addr)) < 0)
        ex_fail(bind ? "nn_bind" : "nn_connect");
    return s;
}

/* Pushes 1..n as text. A send blocks while no worker can take the message
   (none connected yet, or all of them busy with full buffers): the work
   waits instead of being lost. */
static void push_numbers(int s, int n)
{
    for (int i = 1; i <= n; i++) {
        char msg[16];
        int len = snprintf(msg, sizeof(msg), "%d", i);
        if (nn_send(s, msg, (size_t) len, 0) < 0)
            ex_fail("source: nn_send");
    }
}

/* Pulls n results ("worker-pid value") and returns their sum, counting how
   many each worker delivered; -1 if a result did not come in time. */
static long long pull_results(int s, int n)
{
    int timeout = 10000;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout, sizeof(timeout));
    long long sum = 0;
    long workers[8] = {0};
    int done[8] = {0}, nworkers = 0;
    for (int i = 0; i < n; i++) {
        char msg[64];
        int len = nn_recv(s, msg, sizeof(msg) - 1, 0);
        if (len < 0) {
            fprintf(stderr, "sink: result %d of %d: %s\n", i + 1, n, nn_strerror(nn_errno()));
            return -1;
        }
        msg[len < (int) sizeof(msg) - 1 ? len : (int) sizeof(msg) - 1] = '\0';
        long worker;
        long long value;
        if (sscanf(msg, "%ld %lld", &worker, &value) != 2) {
            fprintf(stderr, "sink: bad result \"%s\"\n", msg);
            return -1;
        }
        sum += value;
        int w = 0;
        while (w < nworkers && workers[w] != worker)
            w++;
        if (w == nworkers && nworkers < 8)
            workers[nworkers++] = worker;
        if (w < 8)
            done[w]++;
    }
    for (int w = 0; w < nworkers; w++)
        printf("worker %ld squared %d numbers\n", workers[w], done[w]);
    return sum;
}

static int worker(const char *in_addr, const char *out_addr)
{
    ex_stop_on_signals();
    int in = open_socket(NN_PULL, in_addr, 0);
    int out = open_socket(NN_PUSH, out_addr, 0);
    for (;;) {
        char msg[32];
        int len = nn_recv(in, msg, sizeof(msg) - 1, 0);
        if (len < 0)
            break;
        msg[len < (int) sizeof(msg) - 1 ? len : (int) sizeof(msg) - 1] = '\0';
        long long x = atoll(msg);
        char res[64];
        int rlen = snprintf(res, sizeof(res), "%ld %lld", (long) getpid(), x * x);
        if (nn_send(out, res, (size_t) rlen, 0) < 0)
            break;
    }
    int stopped = ex_stop_requested();
    if (!stopped)
        fprintf(stderr, "worker: %s\n", nn_strerror(nn_errno()));
    nn_close(in);
    nn_close(out);
    return stopped ? 0 : 1;
}

struct worker_args {
    const char *in, *out;
};

static int worker_role(void *arg)
{
    struct worker_args *a = arg;
    return worker(a->in, a->out);
}

static int demo(void)
{
    enum { N = 200 };
    char in[128], out[128];
    ex_demo_addr(in, sizeof(in), "pipeline", 0);
    ex_demo_addr(out, sizeof(out), "pipeline", 1);
    struct worker_args args = {in, out};
    pid_t workers[2] = {ex_spawn(worker_role, &args), ex_spawn(worker_role, &args)};

    /* This process is both ends: it pushes the work and gathers the
       results. Both sockets bind, so the workers may start in any order. */
    int sink = open_socket(NN_PULL, out, 1);
    int source = open_socket(NN_PUSH, in, 1);
    push_numbers(source, N);
    long long sum = pull_results(sink, N);
    nn_close(source);
    nn_close(sink);

    int failures = 0;
    for (int i = 0; i < 2; i++)
        failures += ex_stop_child(workers[i]) != 0;
    ex_demo_unlink(in);
    ex_demo_unlink(out);
    long long want = (long long) N * (N + 1) * (2 * N + 1) / 6;
    printf("sum of squares 1..%d: %lld (expected %lld)\n", N, sum, want);
    if (sum != want || failures) {
        puts("pipeline demo failed");
        return 1;
    }
    puts("pipeline demo ok");
    return 0;
}

int main(int argc, char **argv)
{
    const char *role = argc > 1 ? argv[1] : "";
    if (strcmp(role, "source") == 0) {
        int s = open_socket(NN_PUSH, argc > 2 ? argv[2] : SOURCE_ADDR, 1);
        push_numbers(s, argc > 3 ? atoi(argv[3]) : 100);
        /* femtomsg's nn_close flushes what is still queued to a worker for
           up to NN_LINGER (1 s by default); stock nanomsg makes no such
           promise. Either way only the sink's count proves delivery. */
        nn_close(s);
        return 0;
    }
    if (strcmp(role, "worker") == 0)
        return worker(argc > 2 ? argv[2] : SOURCE_ADDR, argc > 3 ? argv[3] : SINK_ADDR);
    if (strcmp(role, "sink") == 0) {
        int n = argc > 3 ? atoi(argv[3]) : 100;
        int s = open_socket(NN_PULL, argc > 2 ? argv[2] : SINK_ADDR, 1);
        long long sum = pull_results(s, n);
        nn_close(s);
        if (sum < 0)
            return 1;
        printf("sum of %d results: %lld\n", n, sum);
        return 0;
    }
    if (strcmp(role, "demo") == 0)
        return demo();
    fprintf(stderr, "usage: %s source [ADDR] [N] | worker [IN] [OUT] | sink [ADDR] [N] | demo\n",
            argv[0]);
    return 2;
}
