/* inproc_lat (ZeroMQ): latency between two threads over inproc://. */
#include "zmqcommon.h"

#include <pthread.h>

#define URL "inproc://inproc_lat"

static size_t size, rts;

static void *worker(void *arg)
{
    (void) arg;
    void *s = zmqp_socket(ZMQ_PAIR);
    zmqp_check(zmq_connect(s, URL), "zmq_connect");
    char *buf = zmqp_buf(size);
    for (size_t i = 0; i < rts + 1; i++) {
        zmqp_recv_exact(s, buf, size);
        zmqp_send(s, buf, size);
    }
    free(buf);
    zmqp_linger(s, 1000);
    zmq_close(s);
    return NULL;
}

int main(int argc, char *argv[])
{
    perf_usage(argc, 3, "inproc_lat <msg-size> <roundtrips>");
    size = perf_arg_size(argv[1], "message size");
    rts = perf_arg_size(argv[2], "roundtrip count");
    void *s = zmqp_socket(ZMQ_PAIR);
    zmqp_check(zmq_bind(s, URL), "zmq_bind");
    perf_print_lib();
    pthread_t th;
    if (pthread_create(&th, NULL, worker, NULL) != 0)
        perf_die("pthread_create failed");
    char *buf = zmqp_buf(size);
    zmqp_send(s, buf, size);
    zmqp_recv_exact(s, buf, size);
    uint64_t t0 = perf_now_ns();
    for (size_t i = 0; i < rts; i++) {
        zmqp_send(s, buf, size);
        zmqp_recv_exact(s, buf, size);
    }
    uint64_t t1 = perf_now_ns();
    perf_report_lat(size, rts, t1 - t0);
    pthread_join(th, NULL);
    free(buf);
    zmqp_finish(s);
    return 0;
}
