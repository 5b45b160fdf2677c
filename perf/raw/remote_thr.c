/* remote_thr (raw sockets): send msg-count messages, one write each, or,
   built with -DRAW_BATCH, gathered into large writes; then wait for the
   receiver's acknowledgement. */
#include "rawcommon.h"

int main(int argc, char *argv[])
{
    perf_usage(argc, 4, "remote_thr <connect-to> <msg-size> <msg-count>");
    size_t size = perf_arg_size(argv[2], "message size");
    size_t count = perf_arg_size(argv[3], "message count");
    int fd = raw_connect(argv[1]);
    char *buf = raw_buf(size);
    raw_send(fd, "", 0);
#ifdef RAW_BATCH
    struct raw_batch *b = calloc(1, sizeof(*b));
    if (!b)
        perf_die("out of memory");
    b->fd = fd;
    for (size_t i = 0; i < count; i++)
        raw_batch_send(b, buf, size);
    raw_batch_flush(b);
    free(b);
#else
    for (size_t i = 0; i < count; i++)
        raw_send(fd, buf, size);
#endif
    struct raw_reader *r = raw_reader_new(fd);
    char ack[8];
    raw_recv(r, ack, sizeof(ack));
    free(r);
    free(buf);
    close(fd);
    return 0;
}
