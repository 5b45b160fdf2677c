/* remote_thr: the sending side of the throughput test. Connects a PAIR
   socket, sends an empty start message and `msg-count` messages as fast
   as the socket takes them, then waits for the receiver's acknowledgement. */
#include "nncommon.h"

int main(int argc, char *argv[])
{
    perf_usage(argc, 4, "remote_thr <connect-to> <msg-size> <msg-count>");
    size_t size = perf_arg_size(argv[2], "message size");
    size_t count = perf_arg_size(argv[3], "message count");
    int s = nnp_socket(AF_SP, NN_PAIR);
    nnp_check(nn_connect(s, argv[1]), "nn_connect");
    perf_print_lib();
    char *buf = nnp_buf(size);
    nnp_send(s, "", 0);
    for (size_t i = 0; i < count; i++)
        nnp_send(s, buf, size);
    char ack[8];
    nnp_timeo(s, NN_RCVTIMEO, 60000);
    if (nn_recv(s, ack, sizeof(ack), 0) >= 0)
        nn_send(s, "", 0, NN_DONTWAIT); /* lets the receiver close at once */
    free(buf);
    nn_close(s);
    return 0;
}
