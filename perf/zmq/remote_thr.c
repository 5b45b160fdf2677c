/* remote_thr (ZeroMQ): send msg-count messages, then wait for the
   receiver's acknowledgement. */
#include "zmqcommon.h"

int main(int argc, char *argv[])
{
    perf_usage(argc, 4, "remote_thr <connect-to> <msg-size> <msg-count>");
    size_t size = perf_arg_size(argv[2], "message size");
    size_t count = perf_arg_size(argv[3], "message count");
    void *s = zmqp_socket(ZMQ_PAIR);
    zmqp_check(zmq_connect(s, argv[1]), "zmq_connect");
    perf_print_lib();
    char *buf = zmqp_buf(size);
    zmqp_send(s, "", 0);
    for (size_t i = 0; i < count; i++)
        zmqp_send(s, buf, size);
    char ack[8];
    zmqp_timeo(s, 60000);
    zmq_recv(s, ack, sizeof(ack), 0);
    free(buf);
    zmqp_finish(s);
    return 0;
}
