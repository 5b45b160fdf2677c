/* test_device_term.c: nn_term ends a running nn_device (and a blocked
   nn_recv) in other threads. Like the stock library 1.1.5, they return
   EBADF: the sockets are closed under them. Its own program, since nn_term
   ends the library for the rest of the process. */
#include "testutil.h"

#include <nanomsg/reqrep.h>
#include <pthread.h>
#include <stdatomic.h>

#define TIMEO 10000

struct call {
    int a, b;
    int rc, err;
    atomic_int done;
    pthread_t t;
};

static void *device_main(void *arg)
{
    struct call *c = arg;
    errno = 0;
    c->rc = nn_device(c->a, c->b);
    c->err = errno;
    atomic_store(&c->done, 1);
    return NULL;
}

static void *recv_main(void *arg)
{
    struct call *c = arg;
    char buf[8];
    errno = 0;
    c->rc = nn_recv(c->a, buf, sizeof(buf), 0);
    c->err = errno;
    atomic_store(&c->done, 1);
    return NULL;
}

static void finished(struct call *c, int err)
{
    CHECK(WAIT_FOR(atomic_load(&c->done), 10));
    if (!atomic_load(&c->done)) {
        fprintf(stderr, "call did not return after nn_term\n");
        exit(1);
    }
    pthread_join(c->t, NULL);
    CHECK(c->rc == -1);
    CHECK(c->err == err);
}

int main(void)
{
    int t = TIMEO;
    int front = nn_socket(AF_SP_RAW, NN_REP), backs = nn_socket(AF_SP_RAW, NN_REQ);
    int rep = nn_socket(AF_SP, NN_REP), req = nn_socket(AF_SP, NN_REQ);
    int idle = nn_socket(AF_SP, NN_REP);
    CHECK(front >= 0 && backs >= 0 && rep >= 0 && req >= 0 && idle >= 0);
    CHECK(nn_setsockopt(rep, NN_SOL_SOCKET, NN_RCVTIMEO, &t, sizeof(t)) == 0);
    CHECK(nn_setsockopt(req, NN_SOL_SOCKET, NN_RCVTIMEO, &t, sizeof(t)) == 0);
    CHECK(nn_bind(front, "inproc://term-front") >= 0);
    CHECK(nn_bind(rep, "inproc://term-back") >= 0);
    CHECK(nn_connect(backs, "inproc://term-back") >= 0);
    CHECK(nn_connect(req, "inproc://term-front") >= 0);

    struct call dev = {.a = front, .b = backs}, rcv = {.a = idle};
    atomic_init(&dev.done, 0);
    atomic_init(&rcv.done, 0);
    CHECK(pthread_create(&dev.t, NULL, device_main, &dev) == 0);
    CHECK(pthread_create(&rcv.t, NULL, recv_main, &rcv) == 0);

    /* A round trip through the device proves it runs. */
    char buf[16];
    CHECK(nn_send(req, "hi", 2, 0) == 2);
    CHECK(nn_recv(rep, buf, sizeof(buf), 0) == 2);
    CHECK(nn_send(rep, "yo", 2, 0) == 2);
    CHECK(nn_recv(req, buf, sizeof(buf), 0) == 2 && memcmp(buf, "yo", 2) == 0);

    nn_term();
    finished(&dev, EBADF);
    finished(&rcv, EBADF);
    CHECK_ERR(nn_device(front, backs), EBADF);
    CHECK_ERR(nn_device(front, -1), EBADF);
    CHECK_ERR(nn_socket(AF_SP_RAW, NN_REP), ETERM);
    TEST_DONE();
}
