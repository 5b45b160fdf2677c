/* pubsub.c: publish/subscribe (PUB/SUB). A publisher sends readings
   labelled with a topic ("temp 21", "wind 7"); each subscriber asks for
   the topics it wants and receives only the messages that start with one
   of them.

     pubsub pub [ADDR]                  publish a reading a second until stopped
     pubsub sub [ADDR] [TOPIC...]       print matching readings (all if no TOPIC)
     pubsub demo                        a publisher and two subscribers, over ipc

   ADDR defaults to tcp://127.0.0.1:5556. */
#include "example.h"

#include <nanomsg/pubsub.h>

#define DEFAULT_ADDR "tcp://127.0.0.1:5556"

static const char *const topics[] = {"temp", "wind", "rain"};

/* Sends one reading per topic every interval_ms. Given children (the
   demo's subscribers) it publishes until they have all exited; else until
   SIGINT/SIGTERM. */
static int publisher(const char *addr, int interval_ms, pid_t *children, int nchildren)
{
    if (!nchildren)
        ex_stop_on_signals();
    int s = nn_socket(AF_SP, NN_PUB);
    if (s < 0)
        ex_fail("nn_socket");
    if (nn_bind(s, addr) < 0)
        ex_fail("nn_bind");

    int failures = 0, running = nchildren;
    double deadline = ex_now() + 30.0;
    for (unsigned seq = 0;; seq++) {
        for (size_t t = 0; t < sizeof(topics) / sizeof(topics[0]); t++) {
            char msg[64];
            int len = snprintf(msg, sizeof(msg), "%s %u", topics[t], seq);
            /* A PUB socket never blocks: a subscriber that is not
               connected yet, or is too slow, simply misses the message.
               That is why the readings keep coming instead of being sent
               once. */
            if (nn_send(s, msg, (size_t) len, 0) < 0)
                goto out;
        }
        if (nchildren) {
            for (int i = 0; i < nchildren; i++) {
                int done, rc = children[i] ? ex_poll_child(children[i], &done) : 0;
                if (children[i] && done) {
                    failures += rc != 0;
                    children[i] = 0;
                    running--;
                }
            }
            if (!running)
                break;
            if (ex_now() > deadline) {
                fprintf(stderr, "publisher: subscribers still waiting after 30 s\n");
                failures++;
                break;
            }
        }
        ex_pause_ms(interval_ms);
    }
out:
    if (!nchildren && !ex_stop_requested()) {
        fprintf(stderr, "publisher: %s\n", nn_strerror(nn_errno()));
        failures++;
    }
    nn_close(s);
    for (int i = 0; i < nchildren; i++)
        if (children[i])
            failures += ex_stop_child(children[i]) != 0;
    return failures ? 1 : 0;
}

/* Prints the readings for the wanted topics; stops after `count` of them
   (the demo) or, with count 0, when SIGINT/SIGTERM arrives. Returns 1 if a
   message came through that it did not subscribe to. */
static int subscriber(const char *addr, int ntopics, char **wanted, int count)
{
    if (!count)
        ex_stop_on_signals();
    int s = nn_socket(AF_SP, NN_SUB);
    if (s < 0)
        ex_fail("nn_socket");
    /* Subscriptions are prefixes of the message body; without any a SUB
       socket receives nothing, and the empty prefix matches everything. */
    if (ntopics == 0 && nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) < 0)
        ex_fail("nn_setsockopt");
    for (int i = 0; i < ntopics; i++)
        if (nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, wanted[i], strlen(wanted[i])) < 0)
            ex_fail("nn_setsockopt");
    if (nn_connect(s, addr) < 0)
        ex_fail("nn_connect");
    if (count) {
        int timeout = 10000;
        nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout, sizeof(timeout));
    }

    int bad = 0;
    for (int got = 0; !count || got < count; got++) {
        char *msg = NULL;
        int n = nn_recv(s, &msg, NN_MSG, 0);
        if (n < 0) {
            if (!ex_stop_requested()) {
                fprintf(stderr, "subscriber: %s\n", nn_strerror(nn_errno()));
                bad = 1;
            }
            break;
        }
        int match = ntopics == 0;
        for (int i = 0; i < ntopics && !match; i++)
            match = (size_t) n >= strlen(wanted[i]) && memcmp(msg, wanted[i], strlen(wanted[i])) == 0;
        printf("[%ld] %.*s%s\n", (long) getpid(), n, msg, match ? "" : "  <- not subscribed!");
        fflush(stdout);
        bad |= !match;
        nn_freemsg(msg);
    }
    nn_close(s);
    return bad;
}

struct sub_args {
    const char *addr;
    char *topic;
};

static int subscriber_role(void *arg)
{
    struct sub_args *a = arg;
    return subscriber(a->addr, 1, &a->topic, 5);
}

static int demo(void)
{
    char addr[128];
    ex_demo_addr(addr, sizeof(addr), "pubsub", 0);
    struct sub_args temp = {addr, "temp"}, rain = {addr, "rain"};
    pid_t children[2] = {ex_spawn(subscriber_role, &temp), ex_spawn(subscriber_role, &rain)};
    int rc = publisher(addr, 20, children, 2);
    ex_demo_unlink(addr);
    puts(rc ? "pubsub demo failed" : "pubsub demo ok");
    return rc;
}

int main(int argc, char **argv)
{
    const char *role = argc > 1 ? argv[1] : "";
    const char *addr = argc > 2 ? argv[2] : DEFAULT_ADDR;
    if (strcmp(role, "pub") == 0)
        return publisher(addr, 1000, NULL, 0);
    if (strcmp(role, "sub") == 0)
        return subscriber(addr, argc > 3 ? argc - 3 : 0, argc > 3 ? argv + 3 : NULL, 0);
    if (strcmp(role, "demo") == 0)
        return demo();
    fprintf(stderr, "usage: %s pub [ADDR] | sub [ADDR] [TOPIC...] | demo\n", argv[0]);
    return 2;
}
