/* test_direct_recv.c: a thread blocked in nn_recv on a socket with one tcp,
   ipc or ws connection reads that connection itself (ops->rx_claim). These
   cases take the connection away or load it while it is claimed: the peer
   goes and comes back, the receiver's own endpoint is shut down and made
   again, messages of every size arrive in pieces, a small NN_RCVBUF holds
   the sender back, NN_RCVTIMEO expires; every message must arrive intact
   and in order, and no call may hang. Also the sender's staging of small
   frames in a burst: a burst closed at once with NN_LINGER still arrives
   whole, and a lone message after a burst is not held back. */
#include "testutil.h"

#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>

#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

struct receiver {
    int s;
    int count;        /* messages to take */
    size_t *sizes;    /* expected sizes, or NULL: any */
    atomic_int got;
    int bad;
    pthread_t th;
};

static void fill(uint8_t *b, size_t n, int seq)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t) (seq * 31 + i);
}

static void *recv_main(void *arg)
{
    struct receiver *r = arg;
    for (int i = 0; i < r->count; i++) {
        void *m = NULL;
        int n = nn_recv(r->s, &m, NN_MSG, 0);
        if (n < 0) {
            r->bad++;
            break;
        }
        if (r->sizes) {
            uint8_t *want = malloc(r->sizes[i] + 1);
            fill(want, r->sizes[i], i);
            if ((size_t) n != r->sizes[i] || memcmp(m, want, r->sizes[i]) != 0)
                r->bad++;
            free(want);
        }
        nn_freemsg(m);
        atomic_fetch_add(&r->got, 1);
    }
    return NULL;
}

static int timeo(int s, int ms)
{
    return nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof(ms));
}

static void connected(int a, int b)
{
    /* Both ends attached: a message goes through. */
    CHECK(nn_send(a, "h", 1, 0) == 1);
    char c;
    CHECK(nn_recv(b, &c, 1, 0) == 1);
}

/* The peer's endpoint goes while we block, then comes back. */
static void peer_goes(const char *addr)
{
    int a = nn_socket(AF_SP, NN_PAIR), b = nn_socket(AF_SP, NN_PAIR);
    int ivl = 20;
    CHECK(nn_setsockopt(b, NN_SOL_SOCKET, NN_RECONNECT_IVL, &ivl, sizeof(ivl)) == 0);
    int ea = nn_bind(a, addr);
    CHECK(ea >= 0);
    CHECK(nn_connect(b, addr) >= 0);
    CHECK(timeo(a, 10000) == 0 && timeo(b, 10000) == 0);
    connected(a, b);
    struct receiver r = {.s = b, .count = 1};
    pthread_create(&r.th, NULL, recv_main, &r);
    tu_pause();
    tu_pause();
    CHECK(nn_shutdown(a, ea) == 0);
    CHECK(nn_bind(a, addr) >= 0);
    /* PAIR drops what it cannot send, and what it sends into the old
       connection while that is torn down: resend until it arrives. */
    int arrived = WAIT_FOR((nn_send(a, "x", 1, NN_DONTWAIT), atomic_load(&r.got) == 1), 10);
    CHECK(arrived);
    pthread_join(r.th, NULL);
    CHECK(r.bad == 0 && atomic_load(&r.got) == 1);
    nn_close(a);
    nn_close(b);
}

/* The receiver's own endpoint is shut down while it blocks. */
static void own_endpoint_goes(const char *addr)
{
    int a = nn_socket(AF_SP, NN_PAIR), b = nn_socket(AF_SP, NN_PAIR);
    CHECK(nn_bind(a, addr) >= 0);
    int eb = nn_connect(b, addr);
    CHECK(eb >= 0);
    CHECK(timeo(a, 10000) == 0 && timeo(b, 10000) == 0);
    connected(a, b);
    struct receiver r = {.s = b, .count = 1};
    pthread_create(&r.th, NULL, recv_main, &r);
    tu_pause();
    tu_pause();
    CHECK(nn_shutdown(b, eb) == 0);
    CHECK(nn_connect(b, addr) >= 0);
    int arrived = WAIT_FOR((nn_send(a, "y", 1, NN_DONTWAIT), atomic_load(&r.got) == 1), 10);
    CHECK(arrived);
    pthread_join(r.th, NULL);
    CHECK(r.bad == 0 && atomic_load(&r.got) == 1);
    nn_close(a);
    nn_close(b);
}

/* Sizes from 0 B to 1 MiB, small and big mixed, through a small NN_RCVBUF:
   partial reads, direct reads into the body, paused reading. */
static void sizes_and_backpressure(const char *addr)
{
    int a = nn_socket(AF_SP, NN_PUSH), b = nn_socket(AF_SP, NN_PULL);
    int rcvbuf = 4096;
    CHECK(nn_setsockopt(b, NN_SOL_SOCKET, NN_RCVBUF, &rcvbuf, sizeof(rcvbuf)) == 0);
    CHECK(nn_bind(b, addr) >= 0);
    CHECK(nn_connect(a, addr) >= 0);
    CHECK(timeo(b, 10000) == 0);
    int sndtimeo = 10000;
    CHECK(nn_setsockopt(a, NN_SOL_SOCKET, NN_SNDTIMEO, &sndtimeo, sizeof(sndtimeo)) == 0);
    enum { N = 300 };
    size_t sizes[N];
    static const size_t pick[] = {0, 1, 64, 1000, 4096, 16383, 16384, 70000, 1 << 20};
    int rounds = under_sanitizer() ? N / 3 : N;
    for (int i = 0; i < rounds; i++)
        sizes[i] = pick[(i * 7 + i / 9) % (sizeof(pick) / sizeof(pick[0]))];
    struct receiver r = {.s = b, .count = rounds, .sizes = sizes};
    pthread_create(&r.th, NULL, recv_main, &r);
    uint8_t *buf = malloc(1 << 20);
    for (int i = 0; i < rounds; i++) {
        fill(buf, sizes[i], i);
        CHECK(nn_send(a, buf, sizes[i], 0) == (int) sizes[i]);
    }
    pthread_join(r.th, NULL);
    CHECK(r.bad == 0 && atomic_load(&r.got) == rounds);
    free(buf);
    nn_close(a);
    nn_close(b);
}

static void times_out(const char *addr)
{
    int a = nn_socket(AF_SP, NN_PAIR), b = nn_socket(AF_SP, NN_PAIR);
    CHECK(nn_bind(a, addr) >= 0);
    CHECK(nn_connect(b, addr) >= 0);
    CHECK(timeo(a, 10000) == 0);
    connected(b, a);
    CHECK(timeo(b, 100) == 0);
    char c;
    double t0 = tu_now();
    CHECK_ERR(nn_recv(b, &c, 1, 0), ETIMEDOUT);
    CHECK(tu_now() - t0 >= 0.09);
    /* Still works afterwards. */
    CHECK(timeo(b, 10000) == 0);
    connected(a, b);
    nn_close(a);
    nn_close(b);
}

/* A tight burst of small messages is staged; nn_close right after it must
   still deliver every one (linger flushes the staging buffer), and a lone
   message after a pause goes out without waiting for another burst. */
static void burst_then_close(const char *addr)
{
    int a = nn_socket(AF_SP, NN_PUSH), b = nn_socket(AF_SP, NN_PULL);
    CHECK(nn_bind(b, addr) >= 0);
    CHECK(nn_connect(a, addr) >= 0);
    CHECK(timeo(b, 10000) == 0);
    int sndtimeo = 10000, linger = 10000;
    CHECK(nn_setsockopt(a, NN_SOL_SOCKET, NN_SNDTIMEO, &sndtimeo, sizeof(sndtimeo)) == 0);
    CHECK(nn_setsockopt(a, NN_SOL_SOCKET, NN_LINGER, &linger, sizeof(linger)) == 0);
    connected(a, b);
    enum { N = 1500 }; /* fits in the buffers: nobody receives during the burst */
    uint8_t buf[100];
    for (int i = 0; i < N; i++) {
        fill(buf, sizeof(buf), i);
        CHECK(nn_send(a, buf, 1 + (size_t) i % sizeof(buf), 0) == 1 + i % (int) sizeof(buf));
    }
    /* The lone message: the receiver must get it while a waits. */
    for (int i = 0; i < N; i++) {
        uint8_t got[128], want[100];
        int n = nn_recv(b, got, sizeof(got), 0);
        fill(want, sizeof(want), i);
        if (n != 1 + i % (int) sizeof(buf) || memcmp(got, want, (size_t) n) != 0) {
            CHECK(!"burst message lost or changed");
            break;
        }
    }
    CHECK(nn_send(a, "lone", 4, 0) == 4);
    char lone[8];
    CHECK(nn_recv(b, lone, sizeof(lone), 0) == 4);
    for (int i = 0; i < N; i++) {
        fill(buf, sizeof(buf), i);
        CHECK(nn_send(a, buf, 64, 0) == 64);
    }
    nn_close(a);
    int got = 0;
    CHECK(timeo(b, 2000) == 0);
    while (got < N && nn_recv(b, buf, sizeof(buf), 0) == 64)
        got++;
    CHECK(got == N);
    nn_close(b);
}

int main(void)
{
    char tcp[64], ipc[64], ws[64];
    int port = 15000 + (int) (getpid() % 5000);
    snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%d", port);
    snprintf(ipc, sizeof(ipc), "ipc:///tmp/fm-direct-%d.ipc", (int) getpid());
    snprintf(ws, sizeof(ws), "ws://127.0.0.1:%d/direct", port + 1);
    const char *addrs[] = {tcp, ipc, ws};
    for (int i = 0; i < 3; i++) {
        peer_goes(addrs[i]);
        own_endpoint_goes(addrs[i]);
        sizes_and_backpressure(addrs[i]);
        times_out(addrs[i]);
        burst_then_close(addrs[i]);
    }
    TEST_DONE();
}
