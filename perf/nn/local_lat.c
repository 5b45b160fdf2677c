/* local_lat: the echoing side of the latency test. Binds a PAIR socket and
   sends every message back. One warm-up round trip comes first, so that
   connection set-up stays out of the measured ones. */
#include "nncommon.h"

int main(int argc, char *argv[])
{
    perf_usage(argc, 4, "local_lat <bind-to> <msg-size> <roundtrips>");
    size_t size = perf_arg_size(argv[2], "message size");
    size_t rts = perf_arg_size(argv[3], "roundtrip count");
    int s = nnp_socket(AF_SP, NN_PAIR);
    nnp_check(nn_bind(s, argv[1]), "nn_bind");
    perf_print_lib();
    char *buf = nnp_buf(size);
    for (size_t i = 0; i < rts + 1; i++) {
        nnp_recv_exact(s, buf, size);
        nnp_send(s, buf, size);
    }
    /* Wait for the peer's goodbye so that the last echo is not lost in a
       close that drops queued output; bounded, in case the goodbye is. */
    nnp_timeo(s, NN_RCVTIMEO, 1000);
    nn_recv(s, buf, size, 0);
    free(buf);
    nn_close(s);
    return 0;
}
