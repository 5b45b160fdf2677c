/* pubsub_fanout (ZeroMQ): one PUB to N SUB sockets, as perf/nn's. */
#include "zmqcommon.h"
#include "../harness.h"

static const char *url;
static size_t size, count;
static int report_fd;

static void *subscriber(void *arg)
{
    int idx = (int) (intptr_t) arg;
    void *s = zmqp_socket(ZMQ_SUB);
    zmqp_check(zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0), "subscribe");
    zmqp_timeo(s, PERF_SUB_IDLE_MS);
    zmqp_check(zmq_connect(s, url), "zmq_connect");
    char *buf = zmqp_buf(size);
    bool ready = false;
    uint64_t got = 0, last = 0;
    for (;;) {
        int n = zmq_recv(s, buf, size, 0);
        if (n <= 0)
            break;
        if (buf[0] == PERF_TAG_DATA) {
            got++;
            last = perf_now_ns();
        } else if (buf[0] == PERF_TAG_PROBE && !ready) {
            ready = true;
            perf_rec_send(report_fd, idx, PERF_REC_READY, 0, 0);
        } else if (buf[0] == PERF_TAG_END) {
            break;
        }
    }
    perf_rec_send(report_fd, idx, PERF_REC_DONE, got, last);
    free(buf);
    zmqp_linger(s, 0);
    zmq_close(s);
    return NULL;
}

static void *sub_process(void *arg)
{
    subscriber(arg);
    zmq_ctx_term(zmqp_ctx);
    return NULL;
}

int main(int argc, char *argv[])
{
    perf_usage(argc, 5, "pubsub_fanout <bind-to> <msg-size> <msg-count> <subscribers>");
    url = argv[1];
    size = perf_arg_size(argv[2], "message size");
    count = perf_arg_size(argv[3], "message count");
    int subs = (int) perf_arg_size(argv[4], "subscriber count");
    if (size < 1 || subs < 1 || subs > 1000)
        perf_die("need a message size of 1 or more and 1 to 1000 subscribers");
    int pfd[2];
    if (pipe(pfd) != 0)
        perf_die("pipe: %s", strerror(errno));
    report_fd = pfd[1];
    bool threads = perf_is_inproc(url);
    struct perf_part *part = calloc((size_t) subs, sizeof(*part));
    void *pub = NULL;
    if (threads) {
        pub = zmqp_socket(ZMQ_PUB);
        zmqp_check(zmq_bind(pub, url), "zmq_bind");
    }
    for (int i = 0; i < subs; i++)
        perf_spawn(&part[i], threads, threads ? subscriber : sub_process, (void *) (intptr_t) i);
    if (!threads) {
        pub = zmqp_socket(ZMQ_PUB);
        zmqp_check(zmq_bind(pub, url), "zmq_bind");
    }
    perf_print_lib();
    char *buf = zmqp_buf(size);
    struct perf_rec r;
    uint64_t give_up = perf_now_ns() + (uint64_t) PERF_READY_TIMEOUT_MS * 1000000u;
    for (int ready = 0; ready < subs;) {
        if (perf_now_ns() > give_up)
            perf_die("only %d of %d subscribers came", ready, subs);
        buf[0] = PERF_TAG_PROBE;
        zmq_send(pub, buf, 1, ZMQ_DONTWAIT);
        while (perf_rec_recv(pfd[0], &r, 10))
            ready += r.kind == PERF_REC_READY;
    }
    buf[0] = PERF_TAG_DATA;
    uint64_t t0 = perf_now_ns();
    for (size_t i = 0; i < count; i++)
        zmqp_send(pub, buf, size);
    uint64_t t1 = perf_now_ns();
    uint64_t delivered = 0, last = t1;
    buf[0] = PERF_TAG_END;
    give_up = perf_now_ns() + (uint64_t) PERF_END_TIMEOUT_MS * 1000000u;
    for (int done = 0; done < subs;) {
        if (perf_now_ns() > give_up)
            perf_die("only %d of %d subscribers finished", done, subs);
        zmq_send(pub, buf, 1, ZMQ_DONTWAIT);
        while (perf_rec_recv(pfd[0], &r, 5))
            if (r.kind == PERF_REC_DONE) {
                done++;
                delivered += r.count;
                if (r.last_ns > last)
                    last = r.last_ns;
            }
    }
    perf_report_fanout(size, count, subs, delivered, last - t0, t1 - t0);
    for (int i = 0; i < subs; i++)
        perf_join(&part[i]);
    free(buf);
    free(part);
    zmqp_linger(pub, 0);
    zmq_close(pub);
    zmq_ctx_term(zmqp_ctx);
    return 0;
}
