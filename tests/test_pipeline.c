/* test_pipeline.c: PUSH/PULL over inproc: ENOTSUP and blocking rules,
   round-robin across pullers, NN_SNDPRIO (the best writable priority gets
   everything; a full or departed pipe hands over to the next), PULL's fair
   queue and NN_RCVPRIO, and no message lost or duplicated between two
   pushers and two pullers running in threads under flow control. */
#include "testutil.h"

#include <nanomsg/pipeline.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

static int sock(int type)
{
    int s = nn_socket(AF_SP, type);
    CHECK(s >= 0);
    int t = 5000;
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, type == NN_PULL ? NN_RCVTIMEO : NN_SNDTIMEO, &t,
                        sizeof(t)) == 0);
    return s;
}

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

static void send_id(int s, int id)
{
    CHECK(nn_send(s, &id, sizeof(id), 0) == (int) sizeof(id));
}

/* The next message's id, or -1 (waits up to RCVTIMEO). */
static int recv_id(int s)
{
    int id = -1;
    int r = nn_recv(s, &id, sizeof(id), 0);
    return r == (int) sizeof(id) ? id : -1;
}

static void expect_nothing(int s)
{
    set_int(s, NN_RCVTIMEO, 150);
    int id;
    CHECK_ERR(nn_recv(s, &id, sizeof(id), 0), ETIMEDOUT);
    set_int(s, NN_RCVTIMEO, 5000);
}

static void test_basics(void)
{
    int push = sock(NN_PUSH), pull = sock(NN_PULL);
    char b[8];
    int v;
    size_t vl = sizeof(v);
    CHECK_ERR(nn_recv(push, b, sizeof(b), 0), ENOTSUP);
    CHECK_ERR(nn_send(pull, "x", 1, 0), ENOTSUP);
    CHECK_ERR(nn_getsockopt(push, NN_SOL_SOCKET, NN_RCVFD, &v, &vl), ENOPROTOOPT);
    vl = sizeof(v);
    CHECK_ERR(nn_getsockopt(pull, NN_SOL_SOCKET, NN_SNDFD, &v, &vl), ENOPROTOOPT);
    CHECK_ERR(nn_setsockopt(push, NN_PUSH, 1, "x", 1), ENOPROTOOPT);

    /* No peer: PUSH waits. */
    CHECK_ERR(nn_send(push, "x", 1, NN_DONTWAIT), EAGAIN);
    set_int(push, NN_SNDTIMEO, 100);
    CHECK_ERR(nn_send(push, "x", 1, 0), ETIMEDOUT);
    set_int(push, NN_SNDTIMEO, 5000);
    int fd = -1;
    vl = sizeof(fd);
    CHECK(nn_getsockopt(push, NN_SOL_SOCKET, NN_SNDFD, &fd, &vl) == 0);
    struct nn_pollfd pfd = {.fd = push, .events = NN_POLLOUT};
    CHECK(nn_poll(&pfd, 1, 0) == 0);

    CHECK(nn_bind(pull, "inproc://pl-basic") >= 0);
    CHECK(nn_connect(push, "inproc://pl-basic") >= 0);
    CHECK(nn_poll(&pfd, 1, 5000) == 1 && (pfd.revents & NN_POLLOUT));
    send_id(push, 42);
    CHECK(recv_id(pull) == 42);

    /* A full puller blocks PUSH, and reading unblocks it. */
    nn_close(pull);
    pull = sock(NN_PULL);
    set_int(pull, NN_RCVBUF, 256);
    CHECK(nn_bind(pull, "inproc://pl-basic2") >= 0);
    CHECK(nn_connect(push, "inproc://pl-basic2") >= 0);
    int sent = 0;
    while (sent < 10000 && nn_send(push, &sent, sizeof(sent), NN_DONTWAIT) == (int) sizeof(sent))
        sent++;
    CHECK(errno == EAGAIN);
    CHECK(sent > 0 && sent < 10000);
    for (int i = 0; i < sent; i++)
        CHECK(recv_id(pull) == i);
    send_id(push, sent);
    CHECK(recv_id(pull) == sent);

    /* Peer checks: PUSH does not talk to PUSH, PULL not to PULL. */
    int push2 = sock(NN_PUSH);
    CHECK(nn_bind(push2, "inproc://pl-peer") >= 0);
    int other = sock(NN_PUSH);
    CHECK(nn_connect(other, "inproc://pl-peer") >= 0);
    CHECK_ERR(nn_send(other, "x", 1, NN_DONTWAIT), EAGAIN);
    nn_close(other);
    nn_close(push2);
    nn_close(pull);
    nn_close(push);
}

static void test_round_robin(void)
{
    enum { NP = 3, ROUNDS = 20 };
    int push = sock(NN_PUSH);
    CHECK(nn_bind(push, "inproc://pl-rr") >= 0);
    int pulls[NP];
    for (int i = 0; i < NP; i++) {
        pulls[i] = sock(NN_PULL);
        CHECK(nn_connect(pulls[i], "inproc://pl-rr") >= 0);
    }
    for (int i = 0; i < NP * ROUNDS; i++)
        send_id(push, i);
    bool residue_seen[NP] = {false};
    for (int p = 0; p < NP; p++) {
        int first = recv_id(pulls[p]);
        CHECK(first >= 0 && first < NP);
        if (first < 0 || first >= NP)
            continue;
        CHECK(!residue_seen[first]);
        residue_seen[first] = true;
        /* Strict rotation: puller p gets first, first+NP, first+2NP, ... */
        for (int r = 1; r < ROUNDS; r++)
            CHECK(recv_id(pulls[p]) == first + r * NP);
        expect_nothing(pulls[p]);
    }
    for (int i = 0; i < NP; i++)
        nn_close(pulls[i]);
    nn_close(push);
}

static void test_priorities(void)
{
    int hi = sock(NN_PULL), lo = sock(NN_PULL), push = sock(NN_PUSH);
    set_int(hi, NN_RCVBUF, 256);
    CHECK(nn_bind(hi, "inproc://pl-hi") >= 0);
    CHECK(nn_bind(lo, "inproc://pl-lo") >= 0);
    /* Connect the low priority first so that order cannot explain it. */
    set_int(push, NN_SNDPRIO, 2);
    CHECK(nn_connect(push, "inproc://pl-lo") >= 0);
    set_int(push, NN_SNDPRIO, 1);
    CHECK(nn_connect(push, "inproc://pl-hi") >= 0);

    /* The best priority gets everything while it is writable. */
    for (int i = 0; i < 5; i++)
        send_id(push, i);
    for (int i = 0; i < 5; i++)
        CHECK(recv_id(hi) == i);
    expect_nothing(lo);

    /* Once it is full, the next priority takes the traffic... */
    enum { N = 200 };
    for (int i = 0; i < N; i++)
        CHECK(nn_send(push, &i, sizeof(i), NN_DONTWAIT) == (int) sizeof(i));
    int k = 0;
    while (k < N) {
        set_int(hi, NN_RCVTIMEO, 150);
        int id = recv_id(hi);
        if (id < 0)
            break;
        CHECK(id == k);
        k++;
    }
    set_int(hi, NN_RCVTIMEO, 5000);
    CHECK(k > 0 && k < N);
    for (int i = k; i < N; i++)
        CHECK(recv_id(lo) == i);
    expect_nothing(lo);

    /* ...and once drained, the best one has it back. */
    for (int i = 0; i < 5; i++)
        send_id(push, 1000 + i);
    for (int i = 0; i < 5; i++)
        CHECK(recv_id(hi) == 1000 + i);
    expect_nothing(lo);

    /* When it goes away, the lower priority gets the traffic. */
    nn_close(hi);
    for (int i = 0; i < 5; i++)
        send_id(push, 2000 + i);
    for (int i = 0; i < 5; i++)
        CHECK(recv_id(lo) == 2000 + i);
    nn_close(lo);
    nn_close(push);
}

static void test_fair_queue(void)
{
    enum { NP = 3, N = 10 };
    int pull = sock(NN_PULL);
    CHECK(nn_bind(pull, "inproc://pl-fq") >= 0);
    int pushes[NP];
    for (int i = 0; i < NP; i++) {
        pushes[i] = sock(NN_PUSH);
        CHECK(nn_connect(pushes[i], "inproc://pl-fq") >= 0);
    }
    /* Every pusher queues all its messages before anything is read. */
    for (int i = 0; i < NP; i++)
        for (int j = 0; j < N; j++)
            send_id(pushes[i], i * 100 + j);
    int next[NP] = {0};
    for (int w = 0; w < N; w++) {
        bool seen[NP] = {false};
        for (int j = 0; j < NP; j++) {
            int id = recv_id(pull);
            int from = id / 100;
            CHECK(id >= 0 && from < NP);
            if (id < 0 || from >= NP)
                continue;
            CHECK(!seen[from]); /* each window of NP has one of each */
            seen[from] = true;
            CHECK(id % 100 == next[from]);
            next[from]++;
        }
    }
    expect_nothing(pull);
    for (int i = 0; i < NP; i++)
        nn_close(pushes[i]);

    /* NN_RCVPRIO: the better priority is drained first, whatever came
       first. */
    int lo = sock(NN_PUSH), hi = sock(NN_PUSH);
    set_int(pull, NN_RCVPRIO, 2);
    CHECK(nn_bind(pull, "inproc://pl-fq-lo") >= 0);
    set_int(pull, NN_RCVPRIO, 1);
    CHECK(nn_bind(pull, "inproc://pl-fq-hi") >= 0);
    CHECK(nn_connect(lo, "inproc://pl-fq-lo") >= 0);
    CHECK(nn_connect(hi, "inproc://pl-fq-hi") >= 0);
    for (int j = 0; j < 5; j++)
        send_id(lo, 200 + j);
    for (int j = 0; j < 5; j++)
        send_id(hi, 100 + j);
    for (int j = 0; j < 5; j++)
        CHECK(recv_id(pull) == 100 + j);
    for (int j = 0; j < 5; j++)
        CHECK(recv_id(pull) == 200 + j);
    nn_close(lo);
    nn_close(hi);
    nn_close(pull);
}

/* ------------------------------------------------ nothing lost, no dups */

enum { NPUSH = 2, NPULL = 2, PER = 20000 };

static atomic_uchar seen[NPUSH * PER];
static atomic_int received;
static atomic_int bad;

struct worker {
    int s;
    int index;
    int count;
    pthread_t t;
};

static void *pusher(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < PER; i++) {
        int id = w->index * PER + i;
        if (nn_send(w->s, &id, sizeof(id), 0) != (int) sizeof(id)) {
            atomic_fetch_add(&bad, 1);
            break;
        }
        w->count++;
    }
    return NULL;
}

static void *puller(void *arg)
{
    struct worker *w = arg;
    double end = tu_now() + 60;
    while (atomic_load(&received) < NPUSH * PER && tu_now() < end) {
        int id;
        int r = nn_recv(w->s, &id, sizeof(id), 0);
        if (r < 0) {
            if (errno != ETIMEDOUT)
                atomic_fetch_add(&bad, 1);
            continue; /* short timeout: look at the total again */
        }
        if (r != (int) sizeof(id) || id < 0 || id >= NPUSH * PER) {
            atomic_fetch_add(&bad, 1);
            continue;
        }
        atomic_fetch_add(&seen[id], 1);
        atomic_fetch_add(&received, 1);
        w->count++;
    }
    return NULL;
}

static void test_no_loss_no_dup(void)
{
    struct worker pulls[NPULL], pushes[NPUSH];
    char addr[64];
    for (int i = 0; i < NPULL; i++) {
        pulls[i] = (struct worker){.s = sock(NN_PULL), .index = i};
        set_int(pulls[i].s, NN_RCVBUF, 4096); /* make PUSH wait often */
        set_int(pulls[i].s, NN_RCVTIMEO, 100);
        snprintf(addr, sizeof(addr), "inproc://pl-many-%d", i);
        CHECK(nn_bind(pulls[i].s, addr) >= 0);
    }
    for (int i = 0; i < NPUSH; i++) {
        pushes[i] = (struct worker){.s = sock(NN_PUSH), .index = i};
        set_int(pushes[i].s, NN_SNDTIMEO, 30000);
        for (int j = 0; j < NPULL; j++) {
            snprintf(addr, sizeof(addr), "inproc://pl-many-%d", j);
            CHECK(nn_connect(pushes[i].s, addr) >= 0);
        }
    }
    for (int i = 0; i < NPULL; i++)
        CHECK(pthread_create(&pulls[i].t, NULL, puller, &pulls[i]) == 0);
    for (int i = 0; i < NPUSH; i++)
        CHECK(pthread_create(&pushes[i].t, NULL, pusher, &pushes[i]) == 0);
    for (int i = 0; i < NPUSH; i++)
        pthread_join(pushes[i].t, NULL);
    for (int i = 0; i < NPULL; i++)
        pthread_join(pulls[i].t, NULL);

    CHECK(atomic_load(&bad) == 0);
    CHECK(atomic_load(&received) == NPUSH * PER);
    int missing = 0, dups = 0;
    for (int i = 0; i < NPUSH * PER; i++) {
        unsigned n = atomic_load(&seen[i]);
        missing += n == 0;
        dups += n > 1;
    }
    CHECK(missing == 0);
    CHECK(dups == 0);
    for (int i = 0; i < NPULL; i++)
        CHECK(pulls[i].count > 0); /* both pullers took a share */
    if (missing || dups)
        fprintf(stderr, "missing %d, duplicated %d\n", missing, dups);
    for (int i = 0; i < NPUSH; i++)
        nn_close(pushes[i].s);
    for (int i = 0; i < NPULL; i++)
        nn_close(pulls[i].s);
}

int main(void)
{
    test_basics();
    test_round_robin();
    test_priorities();
    test_fair_queue();
    test_no_loss_no_dup();
    TEST_DONE();
}
