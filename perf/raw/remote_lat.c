/* remote_lat (raw sockets): time round trips, report half the average. */
#include "rawcommon.h"

int main(int argc, char *argv[])
{
    perf_usage(argc, 4, "remote_lat <connect-to> <msg-size> <roundtrips>");
    size_t size = perf_arg_size(argv[2], "message size");
    size_t rts = perf_arg_size(argv[3], "roundtrip count");
    int fd = raw_connect(argv[1]);
    struct raw_reader *r = raw_reader_new(fd);
    char *buf = raw_buf(size);
    raw_send(fd, buf, size);
    raw_recv_exact(r, buf, size);
    uint64_t t0 = perf_now_ns();
    for (size_t i = 0; i < rts; i++) {
        raw_send(fd, buf, size);
        raw_recv_exact(r, buf, size);
    }
    uint64_t t1 = perf_now_ns();
    perf_report_lat(size, rts, t1 - t0);
    free(buf);
    free(r);
    close(fd);
    return 0;
}
