/* test_api_stats.c: nn_get_statistic: message and byte counters for every
   way of sending and receiving (copy, NN_MSG, sendmsg/recvmsg, truncated
   receives count the whole message), failed calls counting nothing,
   counters per socket and per direction, unknown statistics (EINVAL),
   bad sockets (EBADF), none lost to threads sending and receiving at
   once, and the connection counters the stock library keeps for inproc
   (see conformance/api_probe.c). */
#include "test_api_util.h"

#include <limits.h>
#include <nanomsg/pipeline.h>

static uint64_t st(int s, int stat) { return nn_get_statistic(s, stat); }

static void errors(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    static const int unknown[] = {0, 1, 100, 108, 200, 204, 300, 305, 400, 402, -1, INT_MAX};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        errno = 0;
        CHECK(st(s, unknown[i]) == (uint64_t) -1);
        CHECK(errno == EINVAL);
    }
    errno = 0;
    CHECK(st(-1, NN_STAT_MESSAGES_SENT) == (uint64_t) -1 && errno == EBADF);
    errno = 0;
    CHECK(st(407, NN_STAT_MESSAGES_SENT) == (uint64_t) -1 && errno == EBADF);
    errno = 0;
    CHECK(st(512, NN_STAT_BYTES_SENT) == (uint64_t) -1 && errno == EBADF);
    nn_close(s);
    errno = 0;
    CHECK(st(s, NN_STAT_MESSAGES_SENT) == (uint64_t) -1 && errno == EBADF);
}

static void fresh_socket(void)
{
    static const int all[] = {
        NN_STAT_ESTABLISHED_CONNECTIONS, NN_STAT_ACCEPTED_CONNECTIONS,
        NN_STAT_DROPPED_CONNECTIONS,     NN_STAT_BROKEN_CONNECTIONS,
        NN_STAT_CONNECT_ERRORS,          NN_STAT_BIND_ERRORS,
        NN_STAT_ACCEPT_ERRORS,           NN_STAT_CURRENT_CONNECTIONS,
        NN_STAT_INPROGRESS_CONNECTIONS,  NN_STAT_CURRENT_EP_ERRORS,
        NN_STAT_MESSAGES_SENT,           NN_STAT_MESSAGES_RECEIVED,
        NN_STAT_BYTES_SENT,              NN_STAT_BYTES_RECEIVED,
        NN_STAT_CURRENT_SND_PRIORITY,
    };
    int s = nn_socket(AF_SP, NN_PAIR);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        uint64_t v = st(s, all[i]);
        if (v != 0)
            fprintf(stderr, "fresh socket: statistic %d is %llu, stock 0\n", all[i],
                    (unsigned long long) v);
        CHECK(v == 0);
    }
    /* PAIR never reports a send priority, whatever NN_SNDPRIO says. */
    ta_setint(s, NN_SOL_SOCKET, NN_SNDPRIO, 3);
    CHECK(st(s, NN_STAT_CURRENT_SND_PRIORITY) == 0);
    nn_close(s);
}

static void message_counters(void)
{
    int a, b;
    ta_pair(AF_SP, &a, &b);
    char buf[64];

    CHECK(nn_send(b, "0123456789", 10, 0) == 10);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 10);
    CHECK(st(b, NN_STAT_MESSAGES_SENT) == 1 && st(b, NN_STAT_BYTES_SENT) == 10);
    CHECK(st(a, NN_STAT_MESSAGES_RECEIVED) == 1 && st(a, NN_STAT_BYTES_RECEIVED) == 10);
    CHECK(st(a, NN_STAT_MESSAGES_SENT) == 0 && st(a, NN_STAT_BYTES_SENT) == 0);
    CHECK(st(b, NN_STAT_MESSAGES_RECEIVED) == 0 && st(b, NN_STAT_BYTES_RECEIVED) == 0);

    /* Every way of sending counts; the truncated receive counts the whole
       message. */
    CHECK(nn_send(b, "0123456789", 10, 0) == 10);
    CHECK(nn_send(b, "", 0, 0) == 0);
    void *m = nn_allocmsg(7, 0);
    CHECK(nn_send(b, &m, NN_MSG, 0) == 7);
    struct nn_iovec iov[2] = {{"ab", 2}, {"c", 1}};
    struct nn_msghdr h = {.msg_iov = iov, .msg_iovlen = 2};
    CHECK(nn_sendmsg(b, &h, 0) == 3);
    void *zm = nn_allocmsg(5, 0);
    struct nn_iovec ziov = {&zm, NN_MSG};
    struct nn_msghdr zh = {.msg_iov = &ziov, .msg_iovlen = 1};
    CHECK(nn_sendmsg(b, &zh, 0) == 5);

    CHECK(nn_recv(a, buf, 3, 0) == 10);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 0);
    void *r = NULL;
    CHECK(nn_recv(a, &r, NN_MSG, 0) == 7);
    nn_freemsg(r);
    struct nn_iovec riov = {buf, 1};
    struct nn_msghdr rh = {.msg_iov = &riov, .msg_iovlen = 1};
    CHECK(nn_recvmsg(a, &rh, 0) == 3);
    r = NULL;
    struct nn_iovec rziov = {&r, NN_MSG};
    struct nn_msghdr rzh = {.msg_iov = &rziov, .msg_iovlen = 1};
    CHECK(nn_recvmsg(a, &rzh, 0) == 5);
    nn_freemsg(r);

    CHECK(st(b, NN_STAT_MESSAGES_SENT) == 6);
    CHECK(st(b, NN_STAT_BYTES_SENT) == 10 + 10 + 0 + 7 + 3 + 5);
    CHECK(st(a, NN_STAT_MESSAGES_RECEIVED) == 6);
    CHECK(st(a, NN_STAT_BYTES_RECEIVED) == 10 + 10 + 0 + 7 + 3 + 5);

    /* Failed calls count nothing. */
    CHECK_ERR(nn_recv(a, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);
    CHECK_ERR(nn_send(b, NULL, 5, 0), EFAULT);
    CHECK(st(a, NN_STAT_MESSAGES_RECEIVED) == 6);
    CHECK(st(b, NN_STAT_MESSAGES_SENT) == 6);
    int c = ta_socket(AF_SP, NN_PAIR);
    CHECK_ERR(nn_send(c, "x", 1, NN_DONTWAIT), EAGAIN);
    CHECK(st(c, NN_STAT_MESSAGES_SENT) == 0 && st(c, NN_STAT_BYTES_SENT) == 0);
    nn_close(c);

    /* Counters survive the peer. */
    nn_close(b);
    CHECK(st(a, NN_STAT_MESSAGES_RECEIVED) == 6);
    nn_close(a);
}

/* Large counts: many messages and bytes add up exactly. */
static void big_counts(void)
{
    int a, b;
    ta_pair(AF_SP, &a, &b);
    static char chunk[65536];
    uint64_t bytes = 0;
    for (int i = 0; i < 3000; i++) {
        size_t n = (size_t) (i * 37) % sizeof(chunk);
        CHECK(nn_send(b, chunk, n, 0) == (int) n);
        CHECK(nn_recv(a, chunk, sizeof(chunk), 0) == (int) n);
        bytes += n;
    }
    CHECK(st(b, NN_STAT_MESSAGES_SENT) == 3000 && st(b, NN_STAT_BYTES_SENT) == bytes);
    CHECK(st(a, NN_STAT_MESSAGES_RECEIVED) == 3000 && st(a, NN_STAT_BYTES_RECEIVED) == bytes);
    nn_close(a);
    nn_close(b);
}

/* Connection counters over inproc, as stock keeps them: the connecting
   side counts an established connection, both sides a current one until
   it goes; a failed inproc bind is not a bind error. */
static void connection_counters(void)
{
    int a, b;
    ta_pair(AF_SP, &a, &b);
    char buf[8];
    CHECK(nn_send(b, "x", 1, 0) == 1);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 1);
    CHECK(st(b, NN_STAT_ESTABLISHED_CONNECTIONS) == 1);
    CHECK(st(a, NN_STAT_ESTABLISHED_CONNECTIONS) == 0);
    CHECK(st(a, NN_STAT_ACCEPTED_CONNECTIONS) == 0);
    CHECK(st(a, NN_STAT_CURRENT_CONNECTIONS) == 1);
    CHECK(st(b, NN_STAT_CURRENT_CONNECTIONS) == 1);
    nn_close(b);
    CHECK(WAIT_FOR(st(a, NN_STAT_CURRENT_CONNECTIONS) == 0, 10));
    CHECK(st(a, NN_STAT_DROPPED_CONNECTIONS) == 0);
    CHECK(st(a, NN_STAT_BROKEN_CONNECTIONS) == 0);

    char addr[64];
    ta_addr(addr, sizeof(addr));
    int c = nn_socket(AF_SP, NN_PAIR), d = nn_socket(AF_SP, NN_PAIR);
    CHECK(nn_bind(c, addr) >= 0);
    CHECK_ERR(nn_bind(d, addr), EADDRINUSE);
    CHECK(st(d, NN_STAT_BIND_ERRORS) == 0);
    CHECK(st(d, NN_STAT_CURRENT_EP_ERRORS) == 0);
    nn_close(c);
    nn_close(d);
    nn_close(a);
}

/* Several threads sending on one socket and several receiving on another:
   the message counts are added under the socket lock, without a locked
   instruction, so none may be lost to a race (the TSan build checks the
   race itself). */
#define RACE_THREADS 4
#define RACE_MSGS 5000

static int race_push, race_pull;

static void *race_sender(void *arg)
{
    (void) arg;
    for (int i = 0; i < RACE_MSGS; i++)
        CHECK(nn_send(race_push, "abc", 3, 0) == 3);
    return NULL;
}

static void *race_receiver(void *arg)
{
    (void) arg;
    char buf[8];
    for (int i = 0; i < RACE_MSGS; i++)
        CHECK(nn_recv(race_pull, buf, sizeof(buf), 0) == 3);
    return NULL;
}

static void counts_under_threads(void)
{
    race_push = ta_socket(AF_SP, NN_PUSH);
    race_pull = ta_socket(AF_SP, NN_PULL);
    char addr[64];
    ta_addr(addr, sizeof(addr));
    CHECK(nn_bind(race_pull, addr) >= 0);
    CHECK(nn_connect(race_push, addr) >= 0);
    pthread_t th[2 * RACE_THREADS];
    for (int i = 0; i < 2 * RACE_THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, i % 2 ? race_receiver : race_sender, NULL) == 0);
    for (int i = 0; i < 2 * RACE_THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK(st(race_push, NN_STAT_MESSAGES_SENT) == RACE_THREADS * RACE_MSGS);
    CHECK(st(race_push, NN_STAT_BYTES_SENT) == 3 * RACE_THREADS * RACE_MSGS);
    CHECK(st(race_pull, NN_STAT_MESSAGES_RECEIVED) == RACE_THREADS * RACE_MSGS);
    CHECK(st(race_pull, NN_STAT_BYTES_RECEIVED) == 3 * RACE_THREADS * RACE_MSGS);
    nn_close(race_push);
    nn_close(race_pull);
}

int main(void)
{
    errors();
    fresh_socket();
    message_counters();
    counts_under_threads();
    big_counts();
    connection_counters();
    TEST_DONE();
}
