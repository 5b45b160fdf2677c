/* test_api_sendrecv.c: nn_send and nn_recv over an inproc PAIR: copies and
   NN_MSG zero-copy buffers, truncation, empty and large messages, NULL
   buffers, NN_DONTWAIT, NN_SNDTIMEO / NN_RCVTIMEO, back-pressure from the
   receive buffer, ordering, and bad sockets. */
#include "test_api_util.h"

#include <limits.h>

static void drain(int s)
{
    char buf[64];
    while (nn_recv(s, buf, sizeof(buf), NN_DONTWAIT) >= 0)
        ;
}

static void copies_and_truncation(void)
{
    int a, b;
    char buf[64];
    ta_pair(AF_SP, &a, &b);

    CHECK(nn_send(b, "hello", 5, 0) == 5);
    memset(buf, '#', sizeof(buf));
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 5);
    CHECK(memcmp(buf, "hello#", 6) == 0);

    /* Truncation: the full size is returned, the rest is dropped. */
    CHECK(nn_send(b, "hello", 5, 0) == 5);
    memset(buf, '#', sizeof(buf));
    CHECK(nn_recv(a, buf, 3, 0) == 5);
    CHECK(memcmp(buf, "hel###", 6) == 0);
    CHECK_ERR(nn_recv(a, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);
    CHECK(nn_send(b, "hello", 5, 0) == 5);
    buf[0] = '#';
    CHECK(nn_recv(a, buf, 0, 0) == 5);
    CHECK(buf[0] == '#');

    /* A NULL buffer of length 0 takes (and drops) a message, as stock. */
    CHECK(nn_send(b, "hello", 5, 0) == 5);
    CHECK(nn_recv(a, NULL, 0, 0) == 5);
    CHECK_ERR(nn_recv(a, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);
    drain(a);
    /* A NULL buffer with a length, or for NN_MSG, is EFAULT (stock
       crashes) and the message stays. */
    if (!ta_stock()) {
        CHECK(nn_send(b, "stays", 5, 0) == 5);
        CHECK_ERR(nn_recv(a, NULL, 5, 0), EFAULT);
        CHECK_ERR(nn_recv(a, NULL, NN_MSG, 0), EFAULT);
        CHECK(nn_recv(a, buf, sizeof(buf), 0) == 5);
    }

    /* Empty messages. */
    CHECK(nn_send(b, NULL, 0, 0) == 0);
    CHECK(nn_send(b, "", 0, 0) == 0);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 0);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 0);
    CHECK_ERR(nn_send(b, NULL, 5, 0), EFAULT);
    CHECK_ERR(nn_send(b, NULL, 5, NN_DONTWAIT), EFAULT);
    CHECK_ERR(nn_recv(a, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);

    /* Unknown flag bits are ignored. */
    CHECK(nn_send(b, "x", 1, 2) == 1);
    CHECK(nn_recv(a, buf, sizeof(buf), 2) == 1);
    CHECK(nn_send(b, "x", 1, 0x7ffffff0) == 1);
    CHECK(nn_recv(a, buf, sizeof(buf), 0x7ffffff0) == 1);
    CHECK(nn_send(b, "x", 1, -1) == 1); /* includes NN_DONTWAIT */
    CHECK(nn_recv(a, buf, sizeof(buf), -1) == 1);
    CHECK_ERR(nn_recv(a, buf, sizeof(buf), -1), EAGAIN);

    /* Both directions. */
    CHECK(nn_send(a, "back", 4, 0) == 4);
    CHECK(nn_recv(b, buf, sizeof(buf), 0) == 4);
    nn_close(a);
    nn_close(b);
}

static void zero_copy(void)
{
    int a, b;
    char buf[64];
    ta_pair(AF_SP, &a, &b);

    void *m = NULL;
    CHECK(nn_send(b, "zero-copy", 9, 0) == 9);
    CHECK(nn_recv(a, &m, NN_MSG, 0) == 9);
    CHECK(m && memcmp(m, "zero-copy", 9) == 0);
    CHECK(nn_freemsg(m) == 0);

    /* An empty message still gives a buffer to free. */
    CHECK(nn_send(b, "", 0, 0) == 0);
    m = NULL;
    CHECK(nn_recv(a, &m, NN_MSG, 0) == 0);
    CHECK(m != NULL);
    if (m)
        CHECK(nn_freemsg(m) == 0);

    /* Sending NN_MSG takes the buffer; the receiver gets it back. */
    m = nn_allocmsg(12, 0);
    memcpy(m, "allocated!!!", 12);
    void *sent = m;
    CHECK(nn_send(b, &m, NN_MSG, 0) == 12);
    void *r = NULL;
    CHECK(nn_recv(a, &r, NN_MSG, 0) == 12);
    CHECK(r == sent); /* inproc moves the very buffer */
    CHECK(memcmp(r, "allocated!!!", 12) == 0);
    /* A received buffer can be sent on. */
    CHECK(nn_send(a, &r, NN_MSG, 0) == 12);
    CHECK(nn_recv(b, buf, sizeof(buf), 0) == 12);

    m = nn_allocmsg(0, 0);
    CHECK(nn_send(b, &m, NN_MSG, 0) == 0);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 0);

    /* A failed receive leaves the caller's pointer alone. */
    m = nn_allocmsg(4, 0);
    memcpy(m, "abcd", 4);
    void *keep = m;
    CHECK_ERR(nn_recv(a, &m, NN_MSG, NN_DONTWAIT), EAGAIN);
    CHECK(m == keep && memcmp(m, "abcd", 4) == 0);
    m = nn_reallocmsg(m, 3);
    CHECK(nn_send(b, &m, NN_MSG, 0) == 3);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 3 && memcmp(buf, "abc", 3) == 0);

    /* A failed send leaves the buffer with the caller. */
    void *nul = NULL;
    CHECK_ERR(nn_send(b, &nul, NN_MSG, 0), EFAULT);
    if (!ta_stock())
        CHECK_ERR(nn_send(b, NULL, NN_MSG, 0), EFAULT); /* stock crashes */
    int c = ta_socket(AF_SP, NN_PAIR);
    m = nn_allocmsg(3, 0);
    CHECK_ERR(nn_send(c, &m, NN_MSG, NN_DONTWAIT), EAGAIN);
    ta_setint(c, NN_SOL_SOCKET, NN_SNDTIMEO, 20);
    CHECK_ERR(nn_send(c, &m, NN_MSG, 0), ETIMEDOUT);
    CHECK_ERR(nn_send(-1, &m, NN_MSG, 0), EBADF);
    CHECK(nn_freemsg(m) == 0);
    nn_close(c);

    /* Large zero-copy messages are not copied either. */
    size_t big = 8u << 20;
    m = nn_allocmsg(big, 0);
    CHECK(m != NULL);
    memset(m, 'Z', big);
    sent = m;
    CHECK(nn_send(b, &m, NN_MSG, 0) == (int) big);
    r = NULL;
    CHECK(nn_recv(a, &r, NN_MSG, 0) == (int) big);
    CHECK(r == sent || ta_stock()); /* stock copies messages of 100 bytes and more */
    CHECK(r && ((char *) r)[big - 1] == 'Z');
    nn_freemsg(r);
    nn_close(a);
    nn_close(b);
}

static void timeouts(void)
{
    char buf[8];
    int c = ta_socket(AF_SP, NN_PAIR);
    CHECK_ERR(nn_send(c, "x", 1, NN_DONTWAIT), EAGAIN);
    CHECK_ERR(nn_recv(c, buf, 1, NN_DONTWAIT), EAGAIN);
    ta_setint(c, NN_SOL_SOCKET, NN_SNDTIMEO, 0);
    ta_setint(c, NN_SOL_SOCKET, NN_RCVTIMEO, 0);
    CHECK_ERR(nn_send(c, "x", 1, 0), ETIMEDOUT);
    CHECK_ERR(nn_recv(c, buf, 1, 0), ETIMEDOUT);
    CHECK_ERR(nn_recv(c, buf, 1, NN_DONTWAIT), EAGAIN);

    ta_setint(c, NN_SOL_SOCKET, NN_SNDTIMEO, 100);
    double t0 = ta_ms();
    CHECK_ERR(nn_send(c, "x", 1, 0), ETIMEDOUT);
    double took = ta_ms() - t0;
    CHECK(took >= 95);
    CHECK(took < 3000);
    ta_setint(c, NN_SOL_SOCKET, NN_RCVTIMEO, 100);
    t0 = ta_ms();
    CHECK_ERR(nn_recv(c, buf, 1, 0), ETIMEDOUT);
    took = ta_ms() - t0;
    CHECK(took >= 95);
    CHECK(took < 3000);
    /* Negative means forever: not tested by waiting, only accepted. */
    ta_setint(c, NN_SOL_SOCKET, NN_RCVTIMEO, -5);
    CHECK_ERR(nn_recv(c, buf, 1, NN_DONTWAIT), EAGAIN);
    nn_close(c);

    /* A timeout does not disturb the socket: a message sent afterwards
       arrives. */
    int a, b;
    ta_pair(AF_SP, &a, &b);
    ta_setint(a, NN_SOL_SOCKET, NN_RCVTIMEO, 10);
    CHECK_ERR(nn_recv(a, buf, sizeof(buf), 0), ETIMEDOUT);
    CHECK(nn_send(b, "late", 4, 0) == 4);
    ta_setint(a, NN_SOL_SOCKET, NN_RCVTIMEO, TA_WAIT);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 4);
    nn_close(a);
    nn_close(b);
}

/* The receiver's NN_RCVBUF (taken when its endpoint was created) bounds
   what is queued; one message beyond the buffer always fits, and at least
   two messages are taken (stock). Taking one message lets one more in. */
static void back_pressure(void)
{
    static const struct {
        int rcvbuf;
        int want;
    } cases[] = {{-1, 1311}, {4096, 41}, {1000, 10}, {1001, 11}, {201, 3},
                 {200, 2},   {101, 2},   {100, 2},   {1, 2}};
    char msg[100];
    memset(msg, 'm', sizeof(msg));
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char addr[64];
        ta_addr(addr, sizeof(addr));
        int p = ta_socket(AF_SP, NN_PAIR), q = ta_socket(AF_SP, NN_PAIR);
        if (cases[k].rcvbuf > 0)
            ta_setint(p, NN_SOL_SOCKET, NN_RCVBUF, cases[k].rcvbuf);
        /* The sender's own buffers play no part over inproc. */
        ta_setint(q, NN_SOL_SOCKET, NN_SNDBUF, 1);
        CHECK(nn_bind(p, addr) >= 0);
        CHECK(nn_connect(q, addr) >= 0);
        int n = 0;
        while (n < 100000 && nn_send(q, msg, sizeof(msg), NN_DONTWAIT) == (int) sizeof(msg))
            n++;
        CHECK(errno == EAGAIN);
        if (n != cases[k].want)
            fprintf(stderr, "RCVBUF %d: %d messages of 100 queued, stock takes %d\n",
                    cases[k].rcvbuf, n, cases[k].want);
        CHECK(n == cases[k].want);
        ta_setint(q, NN_SOL_SOCKET, NN_SNDTIMEO, 0);
        CHECK_ERR(nn_send(q, msg, sizeof(msg), 0), ETIMEDOUT);
        char buf[128];
        CHECK(nn_recv(p, buf, sizeof(buf), 0) == 100);
        CHECK(nn_send(q, msg, sizeof(msg), NN_DONTWAIT) == 100);
        CHECK_ERR(nn_send(q, msg, sizeof(msg), NN_DONTWAIT), EAGAIN);
        int got = 0;
        while (nn_recv(p, buf, sizeof(buf), NN_DONTWAIT) == 100)
            got++;
        CHECK(got == n);
        nn_close(p);
        nn_close(q);
    }

    /* A message bigger than the whole buffer still passes. */
    char addr[64];
    ta_addr(addr, sizeof(addr));
    int p = ta_socket(AF_SP, NN_PAIR), q = ta_socket(AF_SP, NN_PAIR);
    ta_setint(p, NN_SOL_SOCKET, NN_RCVBUF, 1024);
    CHECK(nn_bind(p, addr) >= 0);
    CHECK(nn_connect(q, addr) >= 0);
    size_t hsz = 4u << 20;
    char *huge = malloc(hsz);
    memset(huge, 'h', hsz);
    CHECK(nn_send(q, huge, hsz, 0) == (int) hsz);
    memset(huge, 0, hsz);
    CHECK(nn_recv(p, huge, hsz, 0) == (int) hsz);
    CHECK(huge[0] == 'h' && huge[hsz - 1] == 'h');
    free(huge);
    nn_close(p);
    nn_close(q);
}

/* A blocked sender resumes as soon as the receiver makes room. */
struct drainer {
    int sock;
    int count;
    atomic_int started;
};

static void *drain_main(void *arg)
{
    struct drainer *d = arg;
    char buf[256];
    atomic_store(&d->started, 1);
    for (int i = 0; i < d->count; i++)
        if (nn_recv(d->sock, buf, sizeof(buf), 0) < 0)
            break;
    return NULL;
}

static void blocked_sender_resumes(void)
{
    char addr[64];
    ta_addr(addr, sizeof(addr));
    int p = ta_socket(AF_SP, NN_PAIR), q = ta_socket(AF_SP, NN_PAIR);
    ta_setint(p, NN_SOL_SOCKET, NN_RCVBUF, 1000);
    CHECK(nn_bind(p, addr) >= 0);
    CHECK(nn_connect(q, addr) >= 0);
    /* Many more messages than fit: every blocking send must complete. */
    struct drainer d = {.sock = p, .count = 2000};
    pthread_t th;
    pthread_create(&th, NULL, drain_main, &d);
    char msg[200];
    memset(msg, 'q', sizeof(msg));
    int sent = 0;
    for (int i = 0; i < 2000; i++)
        if (nn_send(q, msg, sizeof(msg), 0) == (int) sizeof(msg))
            sent++;
    CHECK(sent == 2000);
    pthread_join(th, NULL);
    CHECK_ERR(nn_recv(p, msg, sizeof(msg), NN_DONTWAIT), EAGAIN);
    nn_close(p);
    nn_close(q);
}

static void ordering(void)
{
    /* 10000 messages, queued all at once, come out in order. */
    char addr[64];
    ta_addr(addr, sizeof(addr));
    int a = ta_socket(AF_SP, NN_PAIR), b = ta_socket(AF_SP, NN_PAIR);
    ta_setint(a, NN_SOL_SOCKET, NN_RCVBUF, 16 * 1024 * 1024);
    CHECK(nn_bind(a, addr) >= 0);
    CHECK(nn_connect(b, addr) >= 0);
    for (int i = 0; i < 10000; i++)
        if (nn_send(b, &i, sizeof(i), NN_DONTWAIT) != (int) sizeof(i)) {
            CHECK(!"send failed");
            break;
        }
    int bad = 0;
    for (int i = 0; i < 10000; i++) {
        int v = -1;
        if (nn_recv(a, &v, sizeof(v), 0) != (int) sizeof(v) || v != i)
            bad++;
    }
    CHECK(bad == 0);
    nn_close(a);
    nn_close(b);
}

static void bad_sockets(void)
{
    char buf[4];
    CHECK_ERR(nn_send(-1, "x", 1, 0), EBADF);
    CHECK_ERR(nn_send(403, "x", 1, 0), EBADF);
    CHECK_ERR(nn_send(INT_MAX, "x", 1, 0), EBADF);
    CHECK_ERR(nn_recv(-1, buf, 1, 0), EBADF);
    CHECK_ERR(nn_recv(404, buf, 1, 0), EBADF);
    CHECK_ERR(nn_recv(INT_MIN, buf, 1, 0), EBADF);
    int a, b;
    ta_pair(AF_SP, &a, &b);
    nn_close(a);
    nn_close(b);
    CHECK_ERR(nn_send(b, "x", 1, 0), EBADF);
    CHECK_ERR(nn_recv(a, buf, 1, 0), EBADF);
    /* A closed peer: the survivor cannot send and does not hang. */
    ta_pair(AF_SP, &a, &b);
    nn_close(a);
    CHECK_ERR(nn_send(b, "x", 1, NN_DONTWAIT), EAGAIN);
    ta_setint(b, NN_SOL_SOCKET, NN_SNDTIMEO, 20);
    CHECK_ERR(nn_send(b, "x", 1, 0), ETIMEDOUT);
    nn_close(b);
}

int main(void)
{
    copies_and_truncation();
    zero_copy();
    timeouts();
    back_pressure();
    blocked_sender_resumes();
    ordering();
    bad_sockets();
    TEST_DONE();
}
