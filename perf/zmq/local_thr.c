/* local_thr (ZeroMQ): receive an empty start message, then time msg-count
   messages; acknowledge at the end. */
#include "zmqcommon.h"

int main(int argc, char *argv[])
{
    perf_usage(argc, 4, "local_thr <bind-to> <msg-size> <msg-count>");
    size_t size = perf_arg_size(argv[2], "message size");
    size_t count = perf_arg_size(argv[3], "message count");
    void *s = zmqp_socket(ZMQ_PAIR);
    zmqp_check(zmq_bind(s, argv[1]), "zmq_bind");
    perf_print_lib();
    char *buf = zmqp_buf(size);
    zmqp_recv_exact(s, buf, 0);
    uint64_t t0 = perf_now_ns();
    for (size_t i = 0; i < count; i++)
        zmqp_recv_exact(s, buf, size);
    uint64_t t1 = perf_now_ns();
    perf_report_thr(size, count, t1 - t0);
    zmqp_send(s, "A", 1);
    free(buf);
    zmqp_finish(s);
    return 0;
}
