/* reqrep_device (ZeroMQ): REQ/REP round trips through zmq_proxy between a
   ROUTER bound at <front> and a DEALER bound at <back>, ZeroMQ's form of
   the nanomsg device. */
#include "zmqcommon.h"
#include "../harness.h"

static const char *front, *back;
static size_t size;
static bool threads;

static void *device(void *arg)
{
    (void) arg;
    void *f = zmqp_socket(ZMQ_ROUTER);
    void *b = zmqp_socket(ZMQ_DEALER);
    zmqp_check(zmq_bind(f, front), "zmq_bind front");
    zmqp_check(zmq_bind(b, back), "zmq_bind back");
    zmq_proxy(f, b, NULL); /* until the context is shut down, or killed */
    zmqp_linger(f, 0);
    zmqp_linger(b, 0);
    zmq_close(f);
    zmq_close(b);
    return NULL;
}

static void *server(void *arg)
{
    (void) arg;
    void *s = zmqp_socket(ZMQ_REP);
    zmqp_check(zmq_connect(s, back), "zmq_connect back");
    char *buf = zmqp_buf(size);
    for (;;) {
        int n = zmq_recv(s, buf, size, 0);
        if (n < 0 || zmq_send(s, buf, (size_t) n, 0) < 0)
            break;
    }
    free(buf);
    zmqp_linger(s, 0);
    zmq_close(s);
    return NULL;
}

int main(int argc, char *argv[])
{
    perf_usage(argc, 5, "reqrep_device <front> <back> <msg-size> <roundtrips>");
    front = argv[1];
    back = argv[2];
    size = perf_arg_size(argv[3], "message size");
    size_t rts = perf_arg_size(argv[4], "roundtrip count");
    threads = perf_is_inproc(front);
    if (threads)
        zmqp_context(); /* shared by the threads: inproc needs one context */
    struct perf_part dev, srv;
    perf_spawn(&dev, threads, device, NULL);
    perf_spawn(&srv, threads, server, NULL);
    void *s = zmqp_socket(ZMQ_REQ);
    zmqp_check(zmq_connect(s, front), "zmq_connect front");
    zmqp_timeo(s, 20000); /* fail, not hang, if a part died */
    perf_print_lib();
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
    free(buf);
    zmqp_linger(s, 0);
    zmq_close(s);
    if (threads) {
        zmq_ctx_shutdown(zmqp_ctx); /* releases the proxy and the server */
        perf_join(&dev);
        perf_join(&srv);
    } else {
        perf_kill(&srv);
        perf_kill(&dev);
    }
    zmq_ctx_term(zmqp_ctx);
    return 0;
}
