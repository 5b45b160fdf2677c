/* test_load_slowsub.c: a slow subscriber on a fast PUB over tcp. The PUB
   sends 300,000 messages of 1 KiB (300 MiB) as fast as it can while the
   SUB takes one message every 200 us. What must hold:
     - the PUB never blocks: every nn_send returns at once, the whole run
       takes a fraction of what the subscriber would need;
     - memory stays within the configured buffers (NN_SNDBUF on the PUB's
       pipe, NN_RCVBUF on the SUB's), not the 300 MiB that went by: the
       resident set (/proc/self/statm, sampled throughout) grows by less
       than 32 MiB, against 128 KiB + 128 KiB of buffers and the kernel's
       socket buffers (not resident);
     - what the SUB gets is a subsequence of what was sent: whole
       (checksum), in order, nothing twice; and after the flood the link
       still carries new messages.
   Sanitizer builds keep freed memory in quarantine and shadow, so there
   the memory bound is reported but not asserted, and they send 100,000
   messages. FM_SOAK=1: ten times as many messages. */
#include "testutil.h"

#include <nanomsg/pubsub.h>

#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FM_SANITIZED 1
#endif
#endif

#define MSG_SIZE 1024
#define BUF_BYTES (128 * 1024)

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static uint32_t checksum(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static void fill(uint8_t *m, uint32_t seq)
{
    uint32_t x = seq * 2654435761u + 3;
    for (size_t i = 8; i < MSG_SIZE; i++) {
        x = x * 1664525u + 1013904223u;
        m[i] = (uint8_t) (x >> 24);
    }
    uint32_t c = checksum(m + 8, MSG_SIZE - 8);
    memcpy(m, &seq, 4);
    memcpy(m + 4, &c, 4);
}

struct sub {
    int s;
    atomic_bool stop;
    long got, bad, disorder;
    uint32_t last;
    pthread_t th;
};

static void *sub_main(void *arg)
{
    struct sub *sb = arg;
    bool first = true;
    while (!atomic_load(&sb->stop)) {
        uint8_t m[MSG_SIZE + 16];
        int n = nn_recv(sb->s, m, sizeof(m), 0);
        if (n < 0)
            continue; /* RCVTIMEO: look at stop again */
        uint32_t seq, c;
        memcpy(&seq, m, 4);
        memcpy(&c, m + 4, 4);
        if (n != MSG_SIZE || checksum(m + 8, MSG_SIZE - 8) != c) {
            sb->bad++;
            continue;
        }
        if (!first && seq <= sb->last)
            sb->disorder++;
        first = false;
        sb->last = seq;
        sb->got++;
        struct timespec ts = {0, 200000}; /* the slowness itself, not a sync */
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
#ifdef FM_SANITIZED
    uint32_t total = soak() ? 1000000 : 100000;
#else
    uint32_t total = soak() ? 3000000 : 300000;
#endif
    int pub = nn_socket(AF_SP, NN_PUB), subs = nn_socket(AF_SP, NN_SUB);
    set_int(pub, NN_SNDBUF, BUF_BYTES);
    set_int(subs, NN_RCVBUF, BUF_BYTES);
    set_int(subs, NN_RCVTIMEO, 100);
    CHECK(nn_setsockopt(subs, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) == 0);
    char addr[64];
    int eid = -1;
    for (int i = 0; i < 100 && eid < 0; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(in);
        bind(fd, (struct sockaddr *) &in, sizeof(in));
        getsockname(fd, (struct sockaddr *) &in, &len);
        close(fd);
        snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d", ntohs(in.sin_port));
        eid = nn_bind(pub, addr);
    }
    CHECK(eid >= 0);
    CHECK(nn_connect(subs, addr) >= 0);

    /* Linked: a message goes through before the flood starts. */
    uint8_t *m = malloc(MSG_SIZE);
    bool linked = false;
    double end = tu_now() + 10;
    while (!linked && tu_now() < end) {
        fill(m, 0);
        nn_send(pub, m, MSG_SIZE, 0);
        uint8_t r[MSG_SIZE];
        linked = nn_recv(subs, r, sizeof(r), 0) == MSG_SIZE;
    }
    CHECK(linked);

    struct sub sb = {.s = subs};
    atomic_init(&sb.stop, false);
    CHECK(pthread_create(&sb.th, NULL, sub_main, &sb) == 0);
    long rss0 = rss_kib(), peak = rss0;
    double t0 = tu_now(), slowest = 0;
    for (uint32_t seq = 1; seq <= total; seq++) {
        fill(m, seq);
        double s0 = tu_now();
        CHECK(nn_send(pub, m, MSG_SIZE, 0) == MSG_SIZE);
        double d = tu_now() - s0;
        if (d > slowest)
            slowest = d;
        if (seq % 4096 == 0) {
            long r = rss_kib();
            if (r > peak)
                peak = r;
        }
    }
    double took = tu_now() - t0;
    long rss1 = rss_kib();
    if (rss1 > peak)
        peak = rss1;

    /* After the flood the link still works: fresh messages get through
       once the queues ahead of them drained. */
    atomic_store(&sb.stop, true);
    pthread_join(sb.th, NULL);
    long flood_got = sb.got;
    bool after = false;
    uint32_t last = sb.last;
    end = tu_now() + 20;
    for (uint32_t seq = total + 1; !after && tu_now() < end; seq++) {
        fill(m, seq);
        CHECK(nn_send(pub, m, MSG_SIZE, 0) == MSG_SIZE);
        uint8_t r[MSG_SIZE];
        while (nn_recv(subs, r, sizeof(r), NN_DONTWAIT) == MSG_SIZE) {
            uint32_t s, c;
            memcpy(&s, r, 4);
            memcpy(&c, r + 4, 4);
            if (checksum(r + 8, MSG_SIZE - 8) != c)
                sb.bad++;
            if (s <= last)
                sb.disorder++;
            last = s;
            after = after || s > total;
        }
        tu_pause();
    }
    CHECK(after);
    CHECK(sb.bad == 0);
    CHECK(sb.disorder == 0);
    /* The publisher did not wait for the subscriber: the subscriber got
       only part of the flood, and the flood took less time than the
       subscriber alone would need at 200 us a message. */
    CHECK(flood_got > 0 && flood_got < (long) total / 2);
    CHECK(took < (double) total * 0.0002);
    long growth = peak - rss0;
    printf("  PUB sent %u x %d bytes in %.2f s (slowest send %.1f ms); the slow SUB took %ld; "
           "RSS grew by %ld KiB at the peak (buffers: %d + %d KiB)\n",
           total, MSG_SIZE, took, slowest * 1e3, flood_got, growth, BUF_BYTES / 1024,
           BUF_BYTES / 1024);
#ifndef FM_SANITIZED
    CHECK(growth < 32 * 1024);
#else
    printf("  (sanitizer build: memory bound not asserted)\n");
#endif
    free(m);
    CHECK(nn_close(subs) == 0);
    CHECK(nn_close(pub) == 0);
    TEST_DONE();
}
