/* inproc_lat: latency between two threads of one process over inproc://.
   The worker thread echoes; the main thread measures as remote_lat does. */
#include "nncommon.h"

#include <pthread.h>

#define URL "inproc://inproc_lat"

static size_t size, rts;

static void *worker(void *arg)
{
    (void) arg;
    int s = nnp_socket(AF_SP, NN_PAIR);
    nnp_check(nn_connect(s, URL), "nn_connect");
    char *buf = nnp_buf(size);
    for (size_t i = 0; i < rts + 1; i++) {
        nnp_recv_exact(s, buf, size);
        nnp_send(s, buf, size);
    }
    nnp_timeo(s, NN_RCVTIMEO, 1000);
    nn_recv(s, buf, size, 0);
    free(buf);
    nn_close(s);
    return NULL;
}

int main(int argc, char *argv[])
{
    perf_usage(argc, 3, "inproc_lat <msg-size> <roundtrips>");
    size = perf_arg_size(argv[1], "message size");
    rts = perf_arg_size(argv[2], "roundtrip count");
    int s = nnp_socket(AF_SP, NN_PAIR);
    nnp_check(nn_bind(s, URL), "nn_bind");
    perf_print_lib();
    pthread_t th;
    if (pthread_create(&th, NULL, worker, NULL) != 0)
        perf_die("pthread_create failed");
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
    nnp_send(s, "", 0);
    pthread_join(th, NULL);
    free(buf);
    nn_close(s);
    return 0;
}
