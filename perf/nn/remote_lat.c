/* remote_lat: the measuring side of the latency test. Connects a PAIR
   socket, times `roundtrips` send-and-receive cycles after one warm-up and
   reports the one-way latency (half the average round trip). */
#include "nncommon.h"

int main(int argc, char *argv[])
{
    perf_usage(argc, 4, "remote_lat <connect-to> <msg-size> <roundtrips>");
    size_t size = perf_arg_size(argv[2], "message size");
    size_t rts = perf_arg_size(argv[3], "roundtrip count");
    int s = nnp_socket(AF_SP, NN_PAIR);
    nnp_check(nn_connect(s, argv[1]), "nn_connect");
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
    nn_send(s, "", 0, NN_DONTWAIT); /* goodbye */
    free(buf);
    nn_close(s);
    return 0;
}
