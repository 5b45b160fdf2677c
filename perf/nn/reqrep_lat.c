/* reqrep_lat: REQ/REP round trips of one message size, each socket with
   the library's default NN_TCP_NODELAY (Nagle on), as a program that sets
   nothing has them: the stock tools switch Nagle off, which hides what a
   message of several writes costs with it on. An echoing REP server runs
   as a thread for inproc://, a process otherwise. Reports one-way latency
   (half the round trip), the slowest round trip and how many took over
   5 ms (a held last segment waits for a delayed acknowledgement). */
#include "nncommon.h"
#include "../harness.h"

#include <nanomsg/reqrep.h>

static const char *url;
static size_t size;

static int default_socket(int protocol)
{
    int s = nnp_socket(AF_SP, protocol);
    int nagle = 0;
    if (!getenv("PERF_NODELAY")) /* a study knob: Nagle off, as nnp_socket has it */
        nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &nagle, sizeof(nagle));
    return s;
}

static void *server(void *arg)
{
    (void) arg;
    int s = default_socket(NN_REP);
    nnp_check(nn_bind(s, url), "nn_bind");
    nnp_echo(s, size);
    return NULL;
}

int main(int argc, char *argv[])
{
    perf_usage(argc, 4, "reqrep_lat <url> <msg-size> <roundtrips>");
    url = argv[1];
    size = perf_arg_size(argv[2], "message size");
    size_t rts = perf_arg_size(argv[3], "roundtrip count");
    bool threads = perf_is_inproc(url);
    struct perf_part srv;
    perf_spawn(&srv, threads, server, NULL);
    int s = default_socket(NN_REQ);
    nnp_check(nn_connect(s, url), "nn_connect");
    nnp_timeo(s, NN_RCVTIMEO, 20000); /* fail, not hang, if the server died */
    perf_print_lib();
    char *buf = nnp_buf(size);
    nnp_send(s, buf, size); /* (the first waits for the connection) */
    nnp_recv_exact(s, buf, size);
    uint64_t slowest = 0, over5ms = 0, t0 = perf_now_ns();
    for (size_t i = 0; i < rts; i++) {
        uint64_t a = perf_now_ns();
        nnp_send(s, buf, size);
        nnp_recv_exact(s, buf, size);
        uint64_t d = perf_now_ns() - a;
        slowest = d > slowest ? d : slowest;
        over5ms += d > 5000000;
    }
    uint64_t t1 = perf_now_ns();
    perf_report_lat(size, rts, t1 - t0);
    printf("slowest roundtrip: %.3f [us]\n", (double) slowest / 1000.0);
    printf("roundtrips over 5 ms: %llu\n", (unsigned long long) over5ms);
    free(buf);
    nn_close(s);
    if (threads) {
        nn_term(); /* releases the server */
        perf_join(&srv);
    } else {
        perf_kill(&srv);
    }
    return 0;
}
