/* pubsub_fanout: one PUB socket sending to N SUB sockets (threads for
   inproc://, processes otherwise). Reports deliveries per second across all
   subscribers, the share delivered (PUB drops for a subscriber that falls
   behind) and the publisher's own sending rate. */
#include "nncommon.h"
#include "../harness.h"

#include <nanomsg/pubsub.h>

static const char *url;
static size_t size, count;
static int report_fd;

static void *subscriber(void *arg)
{
    int idx = (int) (intptr_t) arg;
    int s = nnp_socket(AF_SP, NN_SUB);
    nnp_check(nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, "", 0), "subscribe");
    nnp_timeo(s, NN_RCVTIMEO, PERF_SUB_IDLE_MS);
    nnp_check(nn_connect(s, url), "nn_connect");
    char *buf = nnp_buf(size);
    bool ready = false;
    uint64_t got = 0, last = 0;
    for (;;) {
        int n = nn_recv(s, buf, size, 0);
        if (n <= 0)
            break; /* idle too long: report what came */
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
    nn_close(s);
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
    int pub = -1;
    if (threads) { /* inproc: bind first, the subscribers then find it */
        pub = nnp_socket(AF_SP, NN_PUB);
        nnp_check(nn_bind(pub, url), "nn_bind");
    }
    for (int i = 0; i < subs; i++)
        perf_spawn(&part[i], threads, subscriber, (void *) (intptr_t) i);
    if (!threads) {
        pub = nnp_socket(AF_SP, NN_PUB);
        nnp_check(nn_bind(pub, url), "nn_bind");
    }
    perf_print_lib();
    char *buf = nnp_buf(size);
    struct perf_rec r;
    uint64_t give_up = perf_now_ns() + (uint64_t) PERF_READY_TIMEOUT_MS * 1000000u;
    for (int ready = 0; ready < subs;) {
        if (perf_now_ns() > give_up)
            perf_die("only %d of %d subscribers came", ready, subs);
        buf[0] = PERF_TAG_PROBE;
        nn_send(pub, buf, 1, NN_DONTWAIT);
        while (perf_rec_recv(pfd[0], &r, 10))
            ready += r.kind == PERF_REC_READY;
    }
    buf[0] = PERF_TAG_DATA;
    uint64_t t0 = perf_now_ns();
    for (size_t i = 0; i < count; i++)
        nnp_send(pub, buf, size);
    uint64_t t1 = perf_now_ns();
    uint64_t delivered = 0, last = t1;
    buf[0] = PERF_TAG_END;
    give_up = perf_now_ns() + (uint64_t) PERF_END_TIMEOUT_MS * 1000000u;
    for (int done = 0; done < subs;) {
        if (perf_now_ns() > give_up)
            perf_die("only %d of %d subscribers finished", done, subs);
        nn_send(pub, buf, 1, NN_DONTWAIT);
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
    nn_close(pub);
    return 0;
}
