/* local_thr (raw sockets): receive an empty start message, then time
   msg-count messages; acknowledge at the end. */
#include "rawcommon.h"

int main(int argc, char *argv[])
{
    perf_usage(argc, 4, "local_thr <bind-to> <msg-size> <msg-count>");
    size_t size = perf_arg_size(argv[2], "message size");
    size_t count = perf_arg_size(argv[3], "message count");
    int fd = raw_accept_one(argv[1]);
    struct raw_reader *r = raw_reader_new(fd);
    char *buf = raw_buf(size);
    raw_recv_exact(r, buf, 0);
    uint64_t t0 = perf_now_ns();
    for (size_t i = 0; i < count; i++)
        raw_recv_exact(r, buf, size);
    uint64_t t1 = perf_now_ns();
    perf_report_thr(size, count, t1 - t0);
    raw_send(fd, "A", 1);
    free(buf);
    free(r);
    close(fd);
    return 0;
}
