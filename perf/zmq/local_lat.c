/* local_lat (ZeroMQ): echo every message back, after one warm-up. */
#include "zmqcommon.h"

int main(int argc, char *argv[])
{
    perf_usage(argc, 4, "local_lat <bind-to> <msg-size> <roundtrips>");
    size_t size = perf_arg_size(argv[2], "message size");
    size_t rts = perf_arg_size(argv[3], "roundtrip count");
    void *s = zmqp_socket(ZMQ_PAIR);
    zmqp_check(zmq_bind(s, argv[1]), "zmq_bind");
    perf_print_lib();
    char *buf = zmqp_buf(size);
    for (size_t i = 0; i < rts + 1; i++) {
        zmqp_recv_exact(s, buf, size);
        zmqp_send(s, buf, size);
    }
    free(buf);
    zmqp_finish(s); /* lingers until the last echo is out */
    return 0;
}
