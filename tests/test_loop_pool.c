/* test_loop_pool.c: the event loops are a pool, and a listener's
   connections really are served by more than one of its threads. With
   FM_LOOP_THREADS=4, one PULL accepts connections from many PUSH sockets
   over tcp, ipc and ws (two PULLs on one ws port, one listener); all four
   loop threads ("fm-loop-<n>" in
   /proc/self/task) start, at least two of them wake up for the traffic
   (their voluntary context switches grow), every message arrives, and
   closing everything while the loops are busy leaves no connection
   behind. Under ThreadSanitizer this is the cross-loop traffic test. */
#include "testutil.h"
#include "loop_threads.h"

#include <nanomsg/pipeline.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define LOOPS 4
#define PUSHERS 12

static long switches_of(const struct loop_thread *set, int n, int tid)
{
    for (int i = 0; i < n; i++)
        if (set[i].tid == tid)
            return set[i].switches;
    return -1;
}

/* Two listeners (their endpoints pick different loops, as every endpoint
   takes the least busy one) with half the pushers each: the traffic is
   read on more than one loop thread. Over ws both endpoints share one
   listener (one port, two paths), whose connections spread over the
   loops as they are handed over. */
static void run(const char *scheme)
{
    bool ipc = strcmp(scheme, "ipc") == 0, ws = strcmp(scheme, "ws") == 0;
    int pull[2];
    char addr[2][NN_SOCKADDR_MAX];
    int tmo = 10000;
    for (int k = 0; k < 2; k++) {
        pull[k] = nn_socket(AF_SP, NN_PULL);
        CHECK(pull[k] >= 0);
        CHECK(nn_setsockopt(pull[k], NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo)) == 0);
        if (ipc) {
            snprintf(addr[k], sizeof(addr[k]), "ipc:///tmp/fm-test-pool-%d-%d.ipc", (int) getpid(), k);
            CHECK(nn_bind(pull[k], addr[k]) >= 0);
        } else {
            static int ws_port;
            int port = 20000 + (int) ((unsigned) getpid() * 73u % 12000u) + 600 * k, eid = -1;
            if (ws && k == 1)
                port = ws_port; /* the first one's listener, another path */
            for (int i = 0; i < 500 && eid < 0; i++) {
                snprintf(addr[k], sizeof(addr[k]), "%s://127.0.0.1:%d%s", scheme, port + i,
                         ws ? (k ? "/p1" : "/p0") : "");
                eid = nn_bind(pull[k], addr[k]);
                if (eid >= 0)
                    ws_port = port + i;
            }
            CHECK(eid >= 0);
        }
    }
    int push[PUSHERS];
    for (int i = 0; i < PUSHERS; i++) {
        push[i] = nn_socket(AF_SP, NN_PUSH);
        CHECK(push[i] >= 0);
        CHECK(nn_setsockopt(push[i], NN_SOL_SOCKET, NN_SNDTIMEO, &tmo, sizeof(tmo)) == 0);
        CHECK(nn_connect(push[i], addr[i % 2]) >= 0);
    }
    /* Each pusher's connection is up once one of its messages arrived. */
    for (int i = 0; i < PUSHERS; i++)
        CHECK(nn_send(push[i], "hi", 2, 0) == 2);
    char buf[64];
    for (int i = 0; i < PUSHERS; i++)
        CHECK(nn_recv(pull[i % 2], buf, sizeof(buf), 0) == 2);

    struct loop_thread before[64], after[64];
    int nb = loop_threads(before, 64);
    CHECK(nb == LOOPS);

    /* Traffic on every connection, received as it goes so that the
       connections' loops keep waking up. */
    int rounds = under_sanitizer() ? 200 : 2000;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < PUSHERS; i++)
            CHECK(nn_send(push[i], "0123456789", 10, 0) == 10);
        for (int i = 0; i < PUSHERS; i++)
            CHECK(nn_recv(pull[i % 2], buf, sizeof(buf), 0) == 10);
    }
    int na = loop_threads(after, 64);
    CHECK(na == LOOPS);
    int woke = 0;
    for (int i = 0; i < na; i++) {
        long b = switches_of(before, nb, after[i].tid);
        if (b >= 0 && after[i].switches - b >= 10)
            woke++;
    }
    printf("%s: %d of %d loop threads woke\n", addr[0], woke, na);
    if (woke < 2) {
        fprintf(stderr, "%s: only %d loop thread(s) served the traffic\n", addr[0], woke);
        tu_failures++;
    }
    for (int k = 0; k < 2; k++)
        CHECK(nn_get_statistic(pull[k], NN_STAT_CURRENT_CONNECTIONS) == PUSHERS / 2);

    /* Close while the loops are busy: pushers keep sending. */
    for (int i = 0; i < PUSHERS; i++)
        nn_send(push[i], "last", 4, NN_DONTWAIT);
    for (int k = 0; k < 2; k++)
        CHECK(nn_close(pull[k]) == 0);
    for (int i = 0; i < PUSHERS; i++)
        CHECK(nn_close(push[i]) == 0);
}

int main(void)
{
    setenv("FM_LOOP_THREADS", "4", 1); /* read at the first socket */
    run("tcp");
    run("ipc");
    run("ws");
    nn_term();
    TEST_DONE();
}
