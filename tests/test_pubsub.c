/* test_pubsub.c: PUB/SUB over inproc: prefix matching (empty, binary and
   overlapping prefixes, counted subscriptions, unsubscribe errors), 10,000
   subscriptions, several subscribers, a full subscriber that PUB does not
   wait for, ENOTSUP and option errors, raw sockets, RCVFD / nn_poll
   honesty when non-matching messages arrive, and what nn_shutdown of an
   endpoint takes with it. */
#include "testutil.h"

#include <nanomsg/pubsub.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

static int sock(int domain, int type, int rcvtimeo)
{
    int s = nn_socket(domain, type);
    CHECK(s >= 0);
    if (rcvtimeo >= 0 && type == NN_SUB)
        CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &rcvtimeo, sizeof(rcvtimeo)) == 0);
    return s;
}

static void set_timeo(int s, int ms)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof(ms)) == 0);
}

static int subscribe(int s, const void *topic, size_t len)
{
    return nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, topic, len);
}

static int unsubscribe(int s, const void *topic, size_t len)
{
    return nn_setsockopt(s, NN_SUB, NN_SUB_UNSUBSCRIBE, topic, len);
}

static void send_bytes(int pub, const void *data, size_t len)
{
    CHECK(nn_send(pub, data, len, NN_DONTWAIT) == (int) len);
}

/* The next message must be exactly these bytes (waits up to RCVTIMEO). */
#define EXPECT_MSG(s, data, len)                                                      \
    do {                                                                              \
        char eb_[512];                                                                \
        int er_ = nn_recv((s), eb_, sizeof(eb_), 0);                                  \
        CHECK(er_ == (int) (len));                                                    \
        if (er_ == (int) (len))                                                       \
            CHECK(memcmp(eb_, (data), (len)) == 0);                                   \
    } while (0)

/* Nothing may arrive within the short timeout. */
#define EXPECT_NOTHING(s, ms)                                                         \
    do {                                                                              \
        char nb_[512];                                                                \
        set_timeo((s), (ms));                                                         \
        CHECK_ERR(nn_recv((s), nb_, sizeof(nb_), 0), ETIMEDOUT);                      \
        set_timeo((s), 5000);                                                         \
    } while (0)

/* A pair connected over inproc; PUB bound first so the connect is whole. */
static void pair_up(const char *addr, int *pub, int *sub)
{
    *pub = sock(AF_SP, NN_PUB, -1);
    *sub = sock(AF_SP, NN_SUB, 5000);
    CHECK(nn_bind(*pub, addr) >= 0);
    CHECK(nn_connect(*sub, addr) >= 0);
}

static void test_prefix_rules(void)
{
    int pub, sub;
    pair_up("inproc://ps-prefix", &pub, &sub);

    /* No subscription: nothing is delivered. */
    send_bytes(pub, "foo", 3);
    EXPECT_NOTHING(sub, 150);

    CHECK(subscribe(sub, "foo", 3) == 0);
    send_bytes(pub, "fo", 2);       /* shorter than the topic */
    send_bytes(pub, "bar|x", 5);
    send_bytes(pub, "fox", 3);
    send_bytes(pub, "foo", 3);      /* exact */
    send_bytes(pub, "foo|hello", 9);
    EXPECT_MSG(sub, "foo", 3);
    EXPECT_MSG(sub, "foo|hello", 9);
    EXPECT_NOTHING(sub, 150);

    /* Overlapping prefixes: each one matches on its own. */
    CHECK(subscribe(sub, "f", 1) == 0);
    CHECK(subscribe(sub, "foobar", 6) == 0);
    send_bytes(pub, "fx", 2);
    EXPECT_MSG(sub, "fx", 2);
    CHECK(unsubscribe(sub, "f", 1) == 0);
    send_bytes(pub, "fx", 2);
    send_bytes(pub, "foobaz", 6);
    EXPECT_MSG(sub, "foobaz", 6); /* "foo" still there */
    CHECK(unsubscribe(sub, "foo", 3) == 0);
    send_bytes(pub, "foobaz", 6);
    send_bytes(pub, "foobar!", 7);
    EXPECT_MSG(sub, "foobar!", 7);
    CHECK(unsubscribe(sub, "foobar", 6) == 0);
    send_bytes(pub, "foobar!", 7);
    EXPECT_NOTHING(sub, 150);

    /* The empty prefix matches everything, the empty message included. */
    CHECK(subscribe(sub, "", 0) == 0);
    send_bytes(pub, "", 0);
    send_bytes(pub, "anything", 8);
    EXPECT_MSG(sub, "", 0);
    EXPECT_MSG(sub, "anything", 8);
    CHECK(unsubscribe(sub, "", 0) == 0);
    send_bytes(pub, "anything", 8);
    EXPECT_NOTHING(sub, 150);

    /* Binary topics: NUL and 0xff bytes are ordinary bytes. */
    CHECK(subscribe(sub, "a\0b", 3) == 0);
    CHECK(subscribe(sub, "\xff\x00\xfe", 3) == 0);
    send_bytes(pub, "a\0bc", 4);
    send_bytes(pub, "a\0c", 3);
    send_bytes(pub, "a", 1);
    send_bytes(pub, "\xff\x00\xfe\x01", 4);
    send_bytes(pub, "\xff\x01", 2);
    EXPECT_MSG(sub, "a\0bc", 4);
    EXPECT_MSG(sub, "\xff\x00\xfe\x01", 4);
    EXPECT_NOTHING(sub, 150);

    nn_close(sub);
    nn_close(pub);
}

static void test_counted_and_errors(void)
{
    int pub, sub;
    pair_up("inproc://ps-count", &pub, &sub);

    /* Unsubscribing what is not subscribed fails cleanly (the stock library
       crashes on some of these). */
    CHECK_ERR(unsubscribe(sub, "abc", 3), EINVAL);
    CHECK_ERR(unsubscribe(sub, "", 0), EINVAL);
    CHECK(subscribe(sub, "abcd", 4) == 0);
    CHECK_ERR(unsubscribe(sub, "ab", 2), EINVAL);    /* a prefix of it */
    CHECK_ERR(unsubscribe(sub, "abcde", 5), EINVAL); /* an extension */
    CHECK_ERR(unsubscribe(sub, "abce", 4), EINVAL);
    CHECK(subscribe(sub, "abx", 3) == 0);            /* splits "abcd" */
    CHECK_ERR(unsubscribe(sub, "ab", 2), EINVAL);    /* the split point */
    CHECK(unsubscribe(sub, "abcd", 4) == 0);
    CHECK_ERR(unsubscribe(sub, "abcd", 4), EINVAL);
    CHECK(unsubscribe(sub, "abx", 3) == 0);
    CHECK_ERR(unsubscribe(sub, "abx", 3), EINVAL);

    /* Subscriptions are counted: two subscribes need two unsubscribes. */
    CHECK(subscribe(sub, "t", 1) == 0);
    CHECK(subscribe(sub, "t", 1) == 0);
    CHECK(unsubscribe(sub, "t", 1) == 0);
    send_bytes(pub, "t1", 2);
    EXPECT_MSG(sub, "t1", 2);
    CHECK(unsubscribe(sub, "t", 1) == 0);
    send_bytes(pub, "t2", 2);
    EXPECT_NOTHING(sub, 150);
    CHECK_ERR(unsubscribe(sub, "t", 1), EINVAL);

    CHECK(subscribe(sub, "", 0) == 0);
    CHECK(subscribe(sub, "", 0) == 0);
    CHECK(unsubscribe(sub, "", 0) == 0);
    send_bytes(pub, "e1", 2);
    EXPECT_MSG(sub, "e1", 2);
    CHECK(unsubscribe(sub, "", 0) == 0);
    CHECK_ERR(unsubscribe(sub, "", 0), EINVAL);

    /* A NULL value with length 0 is the empty topic, as in stock. */
    CHECK(subscribe(sub, NULL, 0) == 0);
    CHECK(unsubscribe(sub, NULL, 0) == 0);
    CHECK_ERR(subscribe(sub, NULL, 3), EFAULT);

    /* Long topics. */
    char big[1000];
    memset(big, 'x', sizeof(big));
    CHECK(subscribe(sub, big, sizeof(big)) == 0);
    CHECK(subscribe(sub, big, 500) == 0);
    CHECK(unsubscribe(sub, big, 500) == 0);
    CHECK(unsubscribe(sub, big, sizeof(big)) == 0);
    CHECK_ERR(unsubscribe(sub, big, sizeof(big)), EINVAL);

    /* Options on the wrong socket or level, unknown options. */
    int v = 0;
    size_t vl = sizeof(v);
    CHECK_ERR(nn_setsockopt(pub, NN_SUB, NN_SUB_SUBSCRIBE, "a", 1), ENOPROTOOPT);
    CHECK_ERR(nn_setsockopt(pub, NN_PUB, NN_SUB_SUBSCRIBE, "a", 1), ENOPROTOOPT);
    CHECK_ERR(nn_setsockopt(sub, NN_SUB, 99, "a", 1), ENOPROTOOPT);
    CHECK_ERR(nn_getsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, &v, &vl), ENOPROTOOPT);

    /* What the protocols cannot do. */
    char buf[8];
    CHECK_ERR(nn_send(sub, "x", 1, 0), ENOTSUP);
    CHECK_ERR(nn_send(sub, "x", 1, NN_DONTWAIT), ENOTSUP);
    CHECK_ERR(nn_recv(pub, buf, sizeof(buf), 0), ENOTSUP);
    CHECK_ERR(nn_recv(pub, buf, sizeof(buf), NN_DONTWAIT), ENOTSUP);
    vl = sizeof(v);
    CHECK_ERR(nn_getsockopt(sub, NN_SOL_SOCKET, NN_SNDFD, &v, &vl), ENOPROTOOPT);
    vl = sizeof(v);
    CHECK_ERR(nn_getsockopt(pub, NN_SOL_SOCKET, NN_RCVFD, &v, &vl), ENOPROTOOPT);
    vl = sizeof(v);
    CHECK(nn_getsockopt(sub, NN_SOL_SOCKET, NN_RCVFD, &v, &vl) == 0);
    vl = sizeof(v);
    CHECK(nn_getsockopt(pub, NN_SOL_SOCKET, NN_SNDFD, &v, &vl) == 0);

    nn_close(sub);
    nn_close(pub);

    /* PUB never waits, even with nobody subscribed or connected. */
    int lone = sock(AF_SP, NN_PUB, -1);
    for (int i = 0; i < 100; i++)
        CHECK(nn_send(lone, "hello", 5, NN_DONTWAIT) == 5);
    CHECK(nn_send(lone, "hello", 5, 0) == 5);
    nn_close(lone);
}

/* 10,000 subscriptions: every subscribed topic matches, the near misses
   around them do not, and unsubscribing half leaves exactly the rest. */
static void test_many_subscriptions(void)
{
    enum { N = 10000 };
    int pub, sub;
    pair_up("inproc://ps-many", &pub, &sub);
    char t[64];
    for (int i = 0; i < N; i++) {
        int n = snprintf(t, sizeof(t), "sub/%d/", i);
        CHECK(subscribe(sub, t, (size_t) n) == 0);
    }
    for (int pass = 0; pass < 3; pass++) {
        /* pass 0: all subscribed; 1: odd ones left; 2: none left. */
        for (int i = 0; i < N; i++) {
            char m[64];
            int n = snprintf(m, sizeof(m), "sub/%d/payload", i);
            send_bytes(pub, m, (size_t) n);
            int k = snprintf(t, sizeof(t), "sub/%d", i); /* shorter: no match */
            send_bytes(pub, t, (size_t) k);
            k = snprintf(t, sizeof(t), "sux/%d/", i);
            send_bytes(pub, t, (size_t) k);
            bool wanted = pass == 0 || (pass == 1 && (i & 1));
            if (wanted)
                EXPECT_MSG(sub, m, (size_t) n);
        }
        EXPECT_NOTHING(sub, 150);
        for (int i = 0; i < N; i++) {
            int n = snprintf(t, sizeof(t), "sub/%d/", i);
            if ((pass == 0 && !(i & 1)) || (pass == 1 && (i & 1)))
                CHECK(unsubscribe(sub, t, (size_t) n) == 0);
        }
    }
    for (int i = 0; i < N; i += 997) {
        int n = snprintf(t, sizeof(t), "sub/%d/", i);
        CHECK_ERR(unsubscribe(sub, t, (size_t) n), EINVAL);
    }
    nn_close(sub);
    nn_close(pub);
}

/* Random subscribe / unsubscribe over a two-letter alphabet, checked
   against a counted model after every change by probing every short topic.
   A sentinel topic that is always subscribed tells "filtered" from "not
   arrived yet" without any sleep. */
static void test_trie_model(void)
{
    enum { MAXLEN = 4, NKEYS = 31, OPS = 300 }; /* keys of length 0..4 */
    int pub, sub;
    pair_up("inproc://ps-model", &pub, &sub);
    CHECK(subscribe(sub, "Z", 1) == 0);
    int count[NKEYS] = {0};
    char keys[NKEYS][MAXLEN + 1];
    size_t lens[NKEYS];
    int nk = 0;
    for (int len = 0; len <= MAXLEN; len++)
        for (int bits = 0; bits < (1 << len); bits++) {
            for (int j = 0; j < len; j++)
                keys[nk][j] = (bits >> j) & 1 ? 'b' : 'a';
            lens[nk++] = (size_t) len;
        }
    uint32_t seed = 12345;
    for (int op = 0; op < OPS && !tu_failures; op++) {
        seed = seed * 1103515245u + 12345u;
        int k = (int) ((seed >> 8) % NKEYS);
        bool sub_op = ((seed >> 20) & 3) != 0 || count[k] == 0;
        if ((seed >> 22) % 7 == 0)
            sub_op = false; /* sometimes unsubscribe what is absent */
        if (sub_op) {
            CHECK(subscribe(sub, keys[k], lens[k]) == 0);
            count[k]++;
        } else if (count[k] == 0) {
            CHECK_ERR(unsubscribe(sub, keys[k], lens[k]), EINVAL);
        } else {
            CHECK(unsubscribe(sub, keys[k], lens[k]) == 0);
            count[k]--;
        }
        /* Probe every topic of length 1..MAXLEN+1 (the empty topic is
           covered by probing that "" matches everything). */
        for (int len = 1; len <= MAXLEN + 1; len++)
            for (int bits = 0; bits < (1 << len); bits++) {
                char probe[MAXLEN + 2];
                for (int j = 0; j < len; j++)
                    probe[j] = (bits >> j) & 1 ? 'b' : 'a';
                bool expect = false;
                for (int q = 0; q < NKEYS; q++)
                    if (count[q] && lens[q] <= (size_t) len &&
                        memcmp(keys[q], probe, lens[q]) == 0)
                        expect = true;
                send_bytes(pub, probe, (size_t) len);
                send_bytes(pub, "Z", 1);
                char got[16];
                int r = nn_recv(sub, got, sizeof(got), 0);
                if (expect) {
                    CHECK(r == len && memcmp(got, probe, (size_t) len) == 0);
                    r = nn_recv(sub, got, sizeof(got), 0);
                }
                CHECK(r == 1 && got[0] == 'Z');
            }
    }
    nn_close(sub);
    nn_close(pub);
}

static void test_several_subscribers(void)
{
    enum { NSUB = 4, N = 200 };
    int pub = sock(AF_SP, NN_PUB, -1);
    CHECK(nn_bind(pub, "inproc://ps-several") >= 0);
    int subs[NSUB];
    const char *topics[NSUB] = {"", "a", "ab", "b"};
    for (int i = 0; i < NSUB; i++) {
        subs[i] = sock(AF_SP, NN_SUB, 5000);
        CHECK(subscribe(subs[i], topics[i], strlen(topics[i])) == 0);
        CHECK(nn_connect(subs[i], "inproc://ps-several") >= 0);
    }
    const char *msgs[] = {"ab1", "b2", "a3", "c4"};
    for (int round = 0; round < N; round++) {
        for (int m = 0; m < 4; m++)
            send_bytes(pub, msgs[m], strlen(msgs[m]));
        for (int i = 0; i < NSUB; i++)
            for (int m = 0; m < 4; m++)
                if (strncmp(msgs[m], topics[i], strlen(topics[i])) == 0)
                    EXPECT_MSG(subs[i], msgs[m], strlen(msgs[m]));
    }
    for (int i = 0; i < NSUB; i++) {
        EXPECT_NOTHING(subs[i], 100);
        nn_close(subs[i]);
    }
    nn_close(pub);
}

/* A subscriber that never reads: PUB keeps going without blocking, the
   full one misses messages, the other gets every one, and the slow one
   receives again once it has drained its queue. */
static void test_full_subscriber(void)
{
    enum { N = 2000, SIZE = 64 };
    int pub = sock(AF_SP, NN_PUB, -1);
    int full = sock(AF_SP, NN_SUB, 5000);
    int fast = sock(AF_SP, NN_SUB, 5000);
    int small = 1024;
    CHECK(nn_setsockopt(full, NN_SOL_SOCKET, NN_RCVBUF, &small, sizeof(small)) == 0);
    CHECK(subscribe(full, "", 0) == 0);
    CHECK(subscribe(fast, "", 0) == 0);
    CHECK(nn_bind(pub, "inproc://ps-full") >= 0);
    CHECK(nn_connect(full, "inproc://ps-full") >= 0);
    CHECK(nn_connect(fast, "inproc://ps-full") >= 0);

    char m[SIZE], got[SIZE];
    memset(m, '.', sizeof(m));
    for (int i = 0; i < N; i++) {
        memcpy(m, &i, sizeof(i));
        CHECK(nn_send(pub, m, sizeof(m), NN_DONTWAIT) == SIZE);
        CHECK(nn_recv(fast, got, sizeof(got), 0) == SIZE);
        int id = -1;
        memcpy(&id, got, sizeof(id));
        CHECK(id == i);
    }
    int k = 0;
    set_timeo(full, 150);
    for (;;) {
        int r = nn_recv(full, got, sizeof(got), 0);
        if (r < 0) {
            CHECK(errno == ETIMEDOUT);
            break;
        }
        int id = -1;
        memcpy(&id, got, sizeof(id));
        CHECK(id == k); /* the first ones, in order, then nothing */
        k++;
    }
    CHECK(k >= 1 && k < N / 10);
    set_timeo(full, 5000);
    /* Drained: it takes messages again. */
    int marker = 0x7fffffff;
    memcpy(m, &marker, sizeof(marker));
    CHECK(nn_send(pub, m, sizeof(m), NN_DONTWAIT) == SIZE);
    CHECK(nn_recv(full, got, sizeof(got), 0) == SIZE);
    CHECK(memcmp(got, m, SIZE) == 0);
    CHECK(nn_recv(fast, got, sizeof(got), 0) == SIZE);
    nn_close(full);
    nn_close(fast);
    nn_close(pub);
}

static int fd_readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms);
}

/* RCVFD and nn_poll report a message only when a matching one waits. */
static void test_rcvfd_honesty(void)
{
    int pub, sub;
    pair_up("inproc://ps-fd", &pub, &sub);
    CHECK(subscribe(sub, "yes", 3) == 0);
    int fd = -1;
    size_t fl = sizeof(fd);
    CHECK(nn_getsockopt(sub, NN_SOL_SOCKET, NN_RCVFD, &fd, &fl) == 0);
    struct nn_pollfd pfd = {.fd = sub, .events = NN_POLLIN};

    send_bytes(pub, "no-1", 4);
    CHECK(fd_readable(fd, 150) == 0);
    CHECK(nn_poll(&pfd, 1, 100) == 0);

    send_bytes(pub, "yes-1", 5);
    CHECK(fd_readable(fd, 5000) == 1);
    CHECK(nn_poll(&pfd, 1, 5000) == 1 && (pfd.revents & NN_POLLIN));
    EXPECT_MSG(sub, "yes-1", 5);
    CHECK(fd_readable(fd, 0) == 0);

    /* A wanted message between unwanted ones: after taking it, the
       unwanted tail does not leave RCVFD readable. */
    send_bytes(pub, "no-2", 4);
    send_bytes(pub, "yes-2", 5);
    send_bytes(pub, "no-3", 4);
    send_bytes(pub, "no-4", 4);
    EXPECT_MSG(sub, "yes-2", 5);
    CHECK(fd_readable(fd, 150) == 0);
    pfd.revents = 0;
    CHECK(nn_poll(&pfd, 1, 100) == 0);
    char b[8];
    CHECK_ERR(nn_recv(sub, b, sizeof(b), NN_DONTWAIT), EAGAIN);

    /* A message waiting when its only subscription goes away is not
       delivered (the stock library filters when the message is taken). */
    send_bytes(pub, "yes-3", 5);
    CHECK(fd_readable(fd, 5000) == 1);
    CHECK(unsubscribe(sub, "yes", 3) == 0);
    CHECK(fd_readable(fd, 0) == 0);
    EXPECT_NOTHING(sub, 150);
    nn_close(sub);
    nn_close(pub);
}

/* Messages waiting from an endpoint that nn_shutdown removes go with it,
   as in the stock library: the one RCVFD was raised for included. Those
   from the socket's other endpoints stay. */
static void test_shutdown_discards(void)
{
    int pub1 = sock(AF_SP, NN_PUB, -1), pub2 = sock(AF_SP, NN_PUB, -1);
    int sub = sock(AF_SP, NN_SUB, 5000);
    CHECK(nn_bind(pub1, "inproc://ps-shut-1") >= 0);
    CHECK(nn_bind(pub2, "inproc://ps-shut-2") >= 0);
    int e1 = nn_connect(sub, "inproc://ps-shut-1");
    CHECK(e1 >= 0);
    CHECK(nn_connect(sub, "inproc://ps-shut-2") >= 0);
    CHECK(subscribe(sub, "", 0) == 0);
    int fd = -1;
    size_t fl = sizeof(fd);
    CHECK(nn_getsockopt(sub, NN_SOL_SOCKET, NN_RCVFD, &fd, &fl) == 0);
    /* inproc queues at the receiver before nn_send returns. */
    send_bytes(pub1, "one-a", 5);
    send_bytes(pub1, "one-b", 5);
    send_bytes(pub2, "two", 3);
    CHECK(fd_readable(fd, 5000) == 1); /* "one-a" is at the head */
    CHECK(nn_shutdown(sub, e1) == 0);
    EXPECT_MSG(sub, "two", 3);
    char b[8];
    CHECK_ERR(nn_recv(sub, b, sizeof(b), NN_DONTWAIT), EAGAIN);
    CHECK(fd_readable(fd, 0) == 0);

    /* The only endpoint: the socket is left with nothing to read. */
    send_bytes(pub2, "two-b", 5);
    CHECK(fd_readable(fd, 5000) == 1);
    CHECK(nn_shutdown(sub, 2) == 0);
    CHECK(fd_readable(fd, 0) == 0);
    CHECK_ERR(nn_recv(sub, b, sizeof(b), NN_DONTWAIT), EAGAIN);
    nn_close(sub);
    nn_close(pub1);
    nn_close(pub2);
}

/* Raw SUB still filters (as the stock library does); raw PUB/SUB refuse
   the same operations. A header given to PUB's nn_sendmsg travels in front
   of the body, as in stock. */
static void test_raw_and_header(void)
{
    int pub = sock(AF_SP_RAW, NN_PUB, -1);
    int sub = sock(AF_SP_RAW, NN_SUB, 5000);
    CHECK(nn_bind(pub, "inproc://ps-raw") >= 0);
    CHECK(nn_connect(sub, "inproc://ps-raw") >= 0);
    send_bytes(pub, "zz", 2);
    EXPECT_NOTHING(sub, 150);
    CHECK(subscribe(sub, "ab", 2) == 0);
    send_bytes(pub, "zz", 2);
    send_bytes(pub, "abc", 3);
    EXPECT_MSG(sub, "abc", 3);
    char b[8];
    CHECK_ERR(nn_send(sub, "x", 1, 0), ENOTSUP);
    CHECK_ERR(nn_recv(pub, b, sizeof(b), 0), ENOTSUP);

    CHECK(subscribe(sub, "\x80", 1) == 0);
    uint8_t ctl[64] = {0};
    struct nn_cmsghdr *c = (struct nn_cmsghdr *) (void *) ctl;
    size_t hl = 4;
    c->cmsg_len = NN_CMSG_LEN(sizeof(size_t) + hl);
    c->cmsg_level = PROTO_SP;
    c->cmsg_type = SP_HDR;
    memcpy(NN_CMSG_DATA(c), &hl, sizeof(hl));
    memcpy(NN_CMSG_DATA(c) + sizeof(hl), "\x80\x00\x00\x01", 4);
    struct nn_iovec iov = {"body", 4};
    struct nn_msghdr h = {&iov, 1, ctl, NN_CMSG_SPACE(sizeof(size_t) + hl)};
    CHECK(nn_sendmsg(pub, &h, 0) == 4);
    EXPECT_MSG(sub, "\x80\x00\x00\x01" "body", 8);
    nn_close(sub);
    nn_close(pub);
}

int main(void)
{
    test_prefix_rules();
    test_counted_and_errors();
    test_many_subscriptions();
    test_trie_model();
    test_several_subscribers();
    test_full_subscriber();
    test_rcvfd_honesty();
    test_shutdown_discards();
    test_raw_and_header();
    TEST_DONE();
}
