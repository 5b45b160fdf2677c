/* inproc_thr: throughput between two threads of one process over
   inproc://. The worker thread sends as remote_thr does; the main thread
   receives and measures as local_thr does. */
#include "nncommon.h"

#include <pthread.h>

#define URL "inproc://inproc_thr"

static size_t size, count;

static void *worker(void *arg)
{
    (void) arg;
    int s = nnp_socket(AF_SP, NN_PAIR);
    nnp_check(nn_connect(s, URL), "nn_connect");
    char *buf = nnp_buf(size);
    nnp_send(s, "", 0);
    for (size_t i = 0; i < count; i++)
        nnp_send(s, buf, size);
    char ack[8];
    nnp_timeo(s, NN_RCVTIMEO, 60000);
    nn_recv(s, ack, sizeof(ack), 0);
    free(buf);
    nn_close(s);
    return NULL;
}

int main(int argc, char *argv[])
{
    perf_usage(argc, 3, "inproc_thr <msg-size> <msg-count>");
    size = perf_arg_size(argv[1], "message size");
    count = perf_arg_size(argv[2], "message count");
    int s = nnp_socket(AF_SP, NN_PAIR);
    nnp_check(nn_bind(s, URL), "nn_bind");
    perf_print_lib();
    pthread_t th;
    if (pthread_create(&th, NULL, worker, NULL) != 0)
        perf_die("pthread_create failed");
    char *buf = nnp_buf(size);
    nnp_recv_exact(s, buf, 0);
    uint64_t t0 = perf_now_ns();
    for (size_t i = 0; i < count; i++)
        nnp_recv_exact(s, buf, size);
    uint64_t t1 = perf_now_ns();
    perf_report_thr(size, count, t1 - t0);
    nnp_send(s, "A", 1);
    pthread_join(th, NULL);
    free(buf);
    nn_close(s);
    return 0;
}
