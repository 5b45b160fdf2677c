/* remote_lat (ZeroMQ): time round trips, report half the average. */
#include "zmqcommon.h"

int main(int argc, char *argv[])
{
    perf_usage(argc, 4, "remote_lat <connect-to> <msg-size> <roundtrips>");
    size_t size = perf_arg_size(argv[2], "message size");
    size_t rts = perf_arg_size(argv[3], "roundtrip count");
    void *s = zmqp_socket(ZMQ_PAIR);
    zmqp_check(zmq_connect(s, argv[1]), "zmq_connect");
    perf_print_lib();
    char *buf = zmqp_buf(size);
    zmqp_send(s, buf, size);
    zmqp_recv_exact(s, buf, size);
    uint64_t t0 = perf_now_ns();
    for (size_t i = 0; i < rts; i++) {
        zmqp_send(s, buf, size);
        zmqp_recv_exact(s, buf, size);
    }
    uint64_t t1 = perf_now_ns();
    perf_report_lat(size, rts, t1 - t0);
    free(buf);
    zmqp_finish(s);
    return 0;
}
