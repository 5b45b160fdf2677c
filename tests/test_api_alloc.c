/* test_api_alloc.c: nn_allocmsg, nn_reallocmsg and nn_freemsg: sizes,
   allocation types, absurd sizes (ENOMEM, the original buffer kept),
   content kept across reallocation, received buffers, and the invalid
   pointers the stock library crashes on (NULL), for which ours returns
   the documented EFAULT, and small copies outliving the thread whose slab
   they were carved from. Leaks show up under ASan. */
#include "test_api_util.h"

#include <limits.h>
#include <nanomsg/pipeline.h>
#include <stdint.h>

/* The absurd sizes below are meant to fail with ENOMEM, not to stop a
   sanitizer build. */
__attribute__((used)) const char *__asan_default_options(void);
__attribute__((used)) const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
__attribute__((used)) const char *__tsan_default_options(void);
__attribute__((used)) const char *__tsan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static void allocate(void)
{
    void *m = nn_allocmsg(0, 0);
    CHECK(m != NULL);
    CHECK(nn_freemsg(m) == 0);

    static const size_t sizes[] = {1, 7, 8, 100, 4096, 65536, 1u << 20, 16u << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        m = nn_allocmsg(sizes[i], 0);
        CHECK(m != NULL);
        if (!m)
            continue;
        CHECK(((uintptr_t) m & 7) == 0);
        memset(m, 0x5c, sizes[i]); /* all of it is ours (ASan checks) */
        CHECK(nn_freemsg(m) == 0);
    }

    /* Allocation types other than 0 are refused. */
    static const int types[] = {1, -1, 2, 100, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        errno = 0;
        CHECK(nn_allocmsg(10, types[i]) == NULL);
        CHECK(errno == EINVAL);
    }

    /* Absurd sizes: ENOMEM, also when the type is wrong as well (the size
       is checked first, as stock). */
    static const size_t huge[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 100, SIZE_MAX / 2,
                                  (size_t) 1 << 62, (size_t) 1 << 48};
    for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
        errno = 0;
        m = nn_allocmsg(huge[i], 0);
        CHECK(m == NULL);
        CHECK(errno == ENOMEM);
        if (m)
            nn_freemsg(m);
    }
    errno = 0;
    CHECK(nn_allocmsg(SIZE_MAX, 1) == NULL);
    CHECK(errno == ENOMEM);

    /* Many live buffers are independent. */
    void *live[1000];
    for (int i = 0; i < 1000; i++) {
        live[i] = nn_allocmsg((size_t) i + 1, 0);
        CHECK(live[i] != NULL);
        if (live[i])
            memset(live[i], i & 0xff, (size_t) i + 1);
    }
    int bad = 0;
    for (int i = 0; i < 1000; i++) {
        unsigned char *p = live[i];
        if (!p || p[0] != (i & 0xff) || p[i] != (i & 0xff))
            bad++;
        nn_freemsg(p);
    }
    CHECK(bad == 0);
}

static void reallocate(void)
{
    char *m = nn_allocmsg(100, 0);
    memset(m, 'z', 100);
    m = nn_reallocmsg(m, 200000);
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK(m[0] == 'z' && m[99] == 'z');
    memset(m + 100, 'y', 200000 - 100);
    m = nn_reallocmsg(m, 10);
    CHECK(m && m[9] == 'z');

    /* Too big: NULL with ENOMEM, and the original stays valid. */
    errno = 0;
    CHECK(nn_reallocmsg(m, SIZE_MAX) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(nn_reallocmsg(m, SIZE_MAX - 64) == NULL);
    CHECK(errno == ENOMEM);
    CHECK(m[0] == 'z' && m[9] == 'z');

    char *z = nn_reallocmsg(m, 0);
    CHECK(z != NULL);
    if (z)
        m = z;
    m = nn_reallocmsg(m, 5);
    CHECK(m != NULL);
    memcpy(m, "again", 5);
    CHECK(nn_freemsg(m) == 0);

    /* Growing moves the buffer, as stock's does (code written against it
       compares the addresses); shrinking, or keeping the size, does not;
       growing back after a shrink moves again. */
    char *g = nn_allocmsg(100, 0);
    memset(g, 'g', 100);
    char *g2 = nn_reallocmsg(g, 101);
    CHECK(g2 != NULL && g2 != g);
    CHECK(g2 && g2[0] == 'g' && g2[99] == 'g');
    if (g2)
        g = g2;
    g2 = nn_reallocmsg(g, 101);
    CHECK(g2 == g);
    g2 = nn_reallocmsg(g, 50);
    CHECK(g2 == g && g2[49] == 'g');
    g2 = nn_reallocmsg(g, 60);
    CHECK(g2 != NULL && g2 != g && g2[49] == 'g');
    if (g2)
        g = g2;
    CHECK(nn_freemsg(g) == 0);

    /* Growing from empty. */
    m = nn_allocmsg(0, 0);
    m = nn_reallocmsg(m, 1000);
    CHECK(m != NULL);
    memset(m, 1, 1000);
    CHECK(nn_freemsg(m) == 0);

    /* Not a message: EFAULT (stock crashes). */
    if (!ta_stock()) {
        errno = 0;
        CHECK(nn_reallocmsg(NULL, 10) == NULL);
        CHECK(errno == EFAULT);
    }
}

static void free_errors(void)
{
    if (ta_stock())
        return;
    CHECK_ERR(nn_freemsg(NULL), EFAULT); /* stock crashes */
    /* A pointer into a message, not its start. No library can vet an
       arbitrary pointer safely; with the bytes before it zero, ours must
       see it is not a message. */
    char *m = nn_allocmsg(64, 0);
    memset(m, 0, 64);
    CHECK_ERR(nn_freemsg(m + 16), EFAULT);
    errno = 0;
    CHECK(nn_reallocmsg(m + 16, 10) == NULL);
    CHECK(errno == EFAULT);
    CHECK(nn_freemsg(m) == 0);
}

/* Buffers received with NN_MSG behave like allocated ones. */
static void received_buffers(void)
{
    int a, b;
    ta_pair(AF_SP, &a, &b);
    CHECK(nn_send(b, "grow me", 7, 0) == 7);
    char *r = NULL;
    CHECK(nn_recv(a, &r, NN_MSG, 0) == 7);
    r = nn_reallocmsg(r, 100000);
    CHECK(r && memcmp(r, "grow me", 7) == 0);
    CHECK(nn_send(a, &r, NN_MSG, 0) == 100000);
    char *back = NULL;
    CHECK(nn_recv(b, &back, NN_MSG, 0) == 100000);
    CHECK(back && memcmp(back, "grow me", 7) == 0);
    back = nn_reallocmsg(back, 3);
    CHECK(back != NULL);
    CHECK(nn_send(b, &back, NN_MSG, 0) == 3);
    char buf[8];
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 3 && memcmp(buf, "gro", 3) == 0);
    /* A message received but never freed would be a leak: free them all
       after a burst. */
    for (int i = 0; i < 100; i++)
        CHECK(nn_send(b, "burst", 5, 0) == 5);
    for (int i = 0; i < 100; i++) {
        void *p = NULL;
        CHECK(nn_recv(a, &p, NN_MSG, 0) == 5);
        CHECK(nn_freemsg(p) == 0);
    }
    /* Buffers outlive the sockets they came from. */
    CHECK(nn_send(b, "outlive", 7, 0) == 7);
    void *p = NULL;
    CHECK(nn_recv(a, &p, NN_MSG, 0) == 7);
    nn_close(a);
    nn_close(b);
    CHECK(p && memcmp(p, "outlive", 7) == 0);
    CHECK(nn_freemsg(p) == 0);
}

/* Buffers are freed from any thread. */
static void *free_elsewhere(void *arg)
{
    void **bufs = arg;
    for (int i = 0; i < 100; i++)
        if (nn_freemsg(bufs[i]) != 0)
            tu_failures++;
    return NULL;
}

static void cross_thread(void)
{
    void *bufs[100];
    for (int i = 0; i < 100; i++) {
        bufs[i] = nn_allocmsg(128, 0);
        memset(bufs[i], i, 128);
    }
    pthread_t th;
    pthread_create(&th, NULL, free_elsewhere, bufs);
    pthread_join(th, NULL);
}

/* Small copies are carved out of the sending thread's slab, which counts
   them without locked instructions while it is current: the copies of a
   thread that has moved on to new slabs and then ended are freed by
   another, some only after the receive (held as NN_MSG buffers), and
   every slab goes exactly once (ASan sees a leak or a double free). */
#define OUTLIVE_MSGS 3000 /* several 32 KiB slabs' worth */

static int outlive_push;

static void *send_and_end(void *arg)
{
    (void) arg;
    for (int i = 0; i < OUTLIVE_MSGS; i++) {
        char m[32];
        int n = snprintf(m, sizeof(m), "copy %d", i);
        if (nn_send(outlive_push, m, (size_t) n, 0) != n)
            tu_failures++;
    }
    return NULL;
}

static void copies_outlive_their_thread(void)
{
    int pull = ta_socket(AF_SP, NN_PULL);
    outlive_push = ta_socket(AF_SP, NN_PUSH);
    ta_setint(pull, NN_SOL_SOCKET, NN_RCVBUF, 4 << 20); /* all of them wait */
    char addr[64];
    ta_addr(addr, sizeof(addr));
    CHECK(nn_bind(pull, addr) >= 0);
    CHECK(nn_connect(outlive_push, addr) >= 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, send_and_end, NULL) == 0);
    pthread_join(th, NULL);
    static void *held[OUTLIVE_MSGS];
    for (int i = 0; i < OUTLIVE_MSGS; i++) {
        char want[32];
        int n = snprintf(want, sizeof(want), "copy %d", i);
        held[i] = NULL;
        CHECK(nn_recv(pull, &held[i], NN_MSG, 0) == n && memcmp(held[i], want, (size_t) n) == 0);
        if (i % 2 == 0 && held[i]) {
            CHECK(nn_freemsg(held[i]) == 0); /* half at once, */
            held[i] = NULL;
        }
    }
    for (int i = OUTLIVE_MSGS - 1; i >= 0; i--) /* the rest later, backwards */
        if (held[i])
            CHECK(nn_freemsg(held[i]) == 0);
    nn_close(outlive_push);
    nn_close(pull);
}

int main(void)
{
    allocate();
    reallocate();
    free_errors();
    received_buffers();
    cross_thread();
    copies_outlive_their_thread();
    TEST_DONE();
}
