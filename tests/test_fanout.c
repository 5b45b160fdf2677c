/* test_fanout.c: a message sent to many stream pipes at once (PUB and BUS
   with FM_FANOUT_MIN peers or more) is staged or queued for each and
   written by the connections' loops (fm_sock_fanout). Over tcp, ipc and
   ws, a PUB with 12 subscribers publishes a stream of small (staged), 4 KiB
   and 100 KiB (queued) messages: every subscriber, each reading on its own
   thread with room for all of them, gets every one intact and in order;
   then a lone message, with no send after it, still reaches all twelve
   (the loops write it: nothing waits for a next send). A BUS of 9 members
   does the same for one member's messages. */
#include "testutil.h"

#include <nanomsg/bus.h>
#include <nanomsg/pubsub.h>

#include <stdint.h>
#include <unistd.h>

#define SUBS 12
#define COUNT 600
#define BIG (100 * 1024)

static size_t size_of(int i) { return i % 50 == 49 ? BIG : i % 10 == 9 ? 4096 : 64; }

static void fill(uint8_t *b, size_t n, int seq)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t) (seq * 7 + i);
}

struct reader {
    int s;
    int count;
    int bad;
    pthread_t th;
};

static void *read_main(void *arg)
{
    struct reader *r = arg;
    uint8_t *want = malloc(BIG);
    for (int i = 0; i < r->count; i++) {
        void *m = NULL;
        int n = nn_recv(r->s, &m, NN_MSG, 0);
        fill(want, size_of(i), i);
        if (n != (int) size_of(i) || memcmp(m, want, size_of(i)) != 0) {
            if (n >= 0)
                nn_freemsg(m);
            fprintf(stderr, "reader: message %d: %d bytes (%s)\n", i, n,
                    n < 0 ? nn_strerror(errno) : "wrong");
            r->bad++;
            break;
        }
        nn_freemsg(m);
    }
    free(want);
    return NULL;
}

static int sock(int type)
{
    int s = nn_socket(AF_SP, type);
    CHECK(s >= 0);
    int tmo = 20000, big = 64 << 20;
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo)) == 0);
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &tmo, sizeof(tmo)) == 0);
    /* Room for everything on both sides: nothing may be dropped here. */
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVBUF, &big, sizeof(big)) == 0);
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, &big, sizeof(big)) == 0);
    return s;
}

static void bind_any(int s, const char *scheme, char *addr)
{
    static int port;
    if (strcmp(scheme, "ipc") == 0) {
        static int seq;
        snprintf(addr, NN_SOCKADDR_MAX, "ipc:///tmp/fm-fanout-%d-%d.ipc", (int) getpid(), seq++);
        CHECK(nn_bind(s, addr) >= 0);
        return;
    }
    if (!port)
        port = 20000 + (int) ((unsigned) getpid() * 83u % 12000u);
    for (int i = 0; i < 500; i++, port = port >= 31999 ? 20000 : port + 1) {
        snprintf(addr, NN_SOCKADDR_MAX, "%s://127.0.0.1:%d%s", scheme, port,
                 strcmp(scheme, "ws") == 0 ? "/fan" : "");
        if (nn_bind(s, addr) >= 0) {
            port++;
            return;
        }
    }
    CHECK(!"no free port");
}

/* A sender with n stream peers: sends the sequence, then a lone message
   that each peer must get with nothing sent after it. */
static void run(const char *scheme, int sender_type, int peer_type, int n)
{
    int tx = sock(sender_type);
    char addr[NN_SOCKADDR_MAX];
    bind_any(tx, scheme, addr);
    struct reader r[SUBS];
    for (int i = 0; i < n; i++) {
        r[i].s = sock(peer_type);
        r[i].count = COUNT;
        r[i].bad = 0;
        if (peer_type == NN_SUB)
            CHECK(nn_setsockopt(r[i].s, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) == 0);
        CHECK(nn_connect(r[i].s, addr) >= 0);
    }
    CHECK(WAIT_FOR(nn_get_statistic(tx, NN_STAT_CURRENT_CONNECTIONS) == (uint64_t) n, 20));
    /* Each peer's connection is attached on both sides once a probe sent
       to all arrives at all (PUB sends only to the peers it has). */
    int probes = 0;
    for (int i = 0; i < n; i++) {
        char buf[8];
        int got = -1;
        while (got != 5 && probes < 2000) {
            CHECK(nn_send(tx, "probe", 5, 0) == 5);
            probes++;
            int tmo = 10;
            nn_setsockopt(r[i].s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo));
            got = nn_recv(r[i].s, buf, sizeof(buf), 0);
        }
        CHECK(got == 5);
    }
    /* Drain the probes everywhere. */
    for (int i = 0; i < n; i++) {
        int tmo = 200;
        char buf[8];
        nn_setsockopt(r[i].s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo));
        while (nn_recv(r[i].s, buf, sizeof(buf), 0) == 5)
            ;
        tmo = 20000;
        nn_setsockopt(r[i].s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo));
    }
    for (int i = 0; i < n; i++)
        pthread_create(&r[i].th, NULL, read_main, &r[i]);
    uint8_t *buf = malloc(BIG);
    for (int i = 0; i < COUNT; i++) {
        fill(buf, size_of(i), i);
        CHECK(nn_send(tx, buf, size_of(i), 0) == (int) size_of(i));
    }
    int bad = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(r[i].th, NULL);
        bad += r[i].bad;
    }
    CHECK(bad == 0);
    /* A lone message: no send follows it. */
    CHECK(nn_send(tx, "lone", 4, 0) == 4);
    for (int i = 0; i < n; i++) {
        char b[8];
        CHECK(nn_recv(r[i].s, b, sizeof(b), 0) == 4 && memcmp(b, "lone", 4) == 0);
    }
    printf("%s %s to %d: %d messages each, intact and in order\n", scheme,
           sender_type == NN_PUB ? "PUB" : "BUS", n, COUNT);
    free(buf);
    for (int i = 0; i < n; i++)
        nn_close(r[i].s);
    nn_close(tx);
}

int main(void)
{
    const char *schemes[] = {"tcp", "ipc", "ws"};
    for (int i = 0; i < 3; i++)
        run(schemes[i], NN_PUB, NN_SUB, SUBS);
    run("tcp", NN_BUS, NN_BUS, 9);
    TEST_DONE();
}
