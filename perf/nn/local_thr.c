/* local_thr: the receiving side of the throughput test. Binds a PAIR
   socket; the clock starts at the peer's empty start message and stops at
   the last of `msg-count` messages. It then acknowledges, so the sender
   does not close (and maybe drop queued output) before everything came. */
#include "nncommon.h"

int main(int argc, char *argv[])
{
    perf_usage(argc, 4, "local_thr <bind-to> <msg-size> <msg-count>");
    size_t size = perf_arg_size(argv[2], "message size");
    size_t count = perf_arg_size(argv[3], "message count");
    int s = nnp_socket(AF_SP, NN_PAIR);
    nnp_check(nn_bind(s, argv[1]), "nn_bind");
    perf_print_lib();
    char *buf = nnp_buf(size);
    nnp_recv_exact(s, buf, 0);
    uint64_t t0 = perf_now_ns();
    for (size_t i = 0; i < count; i++)
        nnp_recv_exact(s, buf, size);
    uint64_t t1 = perf_now_ns();
    perf_report_thr(size, count, t1 - t0);
    nnp_send(s, "A", 1);
    /* Let the acknowledgement leave before closing; the sender closes as
       soon as it has it. Bounded, in case it never answers. */
    nnp_timeo(s, NN_RCVTIMEO, 1000);
    nn_recv(s, buf, size, 0);
    free(buf);
    nn_close(s);
    return 0;
}
