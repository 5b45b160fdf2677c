/* local_lat (raw sockets): echo every message back, after one warm-up. */
#include "rawcommon.h"

int main(int argc, char *argv[])
{
    perf_usage(argc, 4, "local_lat <bind-to> <msg-size> <roundtrips>");
    size_t size = perf_arg_size(argv[2], "message size");
    size_t rts = perf_arg_size(argv[3], "roundtrip count");
    int fd = raw_accept_one(argv[1]);
    struct raw_reader *r = raw_reader_new(fd);
    char *buf = raw_buf(size);
    for (size_t i = 0; i < rts + 1; i++) {
        raw_recv_exact(r, buf, size);
        raw_send(fd, buf, size);
    }
    free(buf);
    free(r);
    close(fd); /* the kernel delivers what was written before the close */
    return 0;
}
