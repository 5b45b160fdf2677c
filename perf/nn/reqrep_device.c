/* reqrep_device: REQ/REP round trips through a device. A raw REP socket
   bound at <front> and a raw REQ socket bound at <back> are joined by
   nn_device; a REP server connects to <back>, the measuring REQ client to
   <front>. The device and the server run as threads for inproc://,
   processes otherwise. Reports one-way latency (half the round trip). */
#include "nncommon.h"
#include "../harness.h"

#include <nanomsg/reqrep.h>

static const char *front, *back;
static size_t size;

static void *device(void *arg)
{
    (void) arg;
    int f = nnp_socket(AF_SP_RAW, NN_REP);
    int b = nnp_socket(AF_SP_RAW, NN_REQ);
    nnp_check(nn_bind(f, front), "nn_bind front");
    nnp_check(nn_bind(b, back), "nn_bind back");
    nn_device(f, b); /* until nn_term, or the process is killed */
    nn_close(f);
    nn_close(b);
    return NULL;
}

static void *server(void *arg)
{
    (void) arg;
    int s = nnp_socket(AF_SP, NN_REP);
    nnp_check(nn_connect(s, back), "nn_connect back");
    nnp_echo(s, size);
    return NULL;
}

int main(int argc, char *argv[])
{
    perf_usage(argc, 5, "reqrep_device <front> <back> <msg-size> <roundtrips>");
    front = argv[1];
    back = argv[2];
    size = perf_arg_size(argv[3], "message size");
    size_t rts = perf_arg_size(argv[4], "roundtrip count");
    bool threads = perf_is_inproc(front);
    struct perf_part dev, srv;
    perf_spawn(&dev, threads, device, NULL);
    perf_spawn(&srv, threads, server, NULL);
    int s = nnp_socket(AF_SP, NN_REQ);
    nnp_check(nn_connect(s, front), "nn_connect front");
    nnp_timeo(s, NN_RCVTIMEO, 20000); /* fail, not hang, if a part died */
    perf_print_lib();
    char *buf = nnp_buf(size);
    nnp_send(s, buf, size);
    nnp_recv_exact(s, buf, size);
    uint64_t t0 = perf_now_ns();
    for (size_t i = 0; i < rts; i++) {
        nnp_send(s, buf, size);
        nnp_recv_exact(s, buf, size);
    }
    uint64_t t1 = perf_now_ns();
    perf_report_lat(size, rts, t1 - t0);
    free(buf);
    if (threads) {
        nn_close(s);
        nn_term(); /* releases the device and the server */
        perf_join(&dev);
        perf_join(&srv);
    } else {
        perf_kill(&srv);
        perf_kill(&dev);
        nn_close(s);
    }
    return 0;
}
