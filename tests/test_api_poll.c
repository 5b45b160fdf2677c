/* test_api_poll.c: nn_poll and the NN_SNDFD / NN_RCVFD descriptors:
   readiness as messages come and go, back-pressure seen as POLLOUT,
   timeouts, bad sockets anywhere in the set, many sockets at once, a
   blocked nn_poll woken from another thread, and the descriptors mixed
   with ordinary ones in poll(2). */
#include "test_api_util.h"

#include <poll.h>

static int readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static int wait_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, TA_WAIT) == 1 && (p.revents & POLLIN);
}

static void arguments(void)
{
    struct nn_pollfd pf[2];
    CHECK(nn_poll(NULL, 0, 0) == 0);
    CHECK(nn_poll(pf, 0, 0) == 0);
    double t0 = ta_ms();
    CHECK(nn_poll(pf, 0, 50) == 0);
    CHECK(ta_ms() - t0 >= 45);
    /* Crash stock: ours refuses. */
    if (!ta_stock()) {
        CHECK_ERR(nn_poll(NULL, 1, 0), EFAULT);
        CHECK_ERR(nn_poll(pf, -1, 0), EINVAL);
    }

    pf[0] = (struct nn_pollfd){.fd = -1, .events = NN_POLLIN};
    CHECK_ERR(nn_poll(pf, 1, 0), EBADF);
    pf[0] = (struct nn_pollfd){.fd = 405, .events = NN_POLLIN};
    CHECK_ERR(nn_poll(pf, 1, 0), EBADF);
    pf[0] = (struct nn_pollfd){.fd = 100000, .events = NN_POLLIN | NN_POLLOUT};
    CHECK_ERR(nn_poll(pf, 1, 0), EBADF);

    int a, b;
    ta_pair(AF_SP, &a, &b);
    pf[0] = (struct nn_pollfd){.fd = a, .events = NN_POLLIN | NN_POLLOUT};
    pf[1] = (struct nn_pollfd){.fd = 406, .events = NN_POLLIN};
    CHECK_ERR(nn_poll(pf, 2, 0), EBADF);
    pf[0] = (struct nn_pollfd){.fd = 406, .events = NN_POLLIN};
    pf[1] = (struct nn_pollfd){.fd = a, .events = NN_POLLIN};
    CHECK_ERR(nn_poll(pf, 2, 0), EBADF);
    /* A bad socket fails the call even with a long timeout, at once. */
    t0 = ta_ms();
    CHECK_ERR(nn_poll(pf, 2, 5000), EBADF);
    CHECK(ta_ms() - t0 < 1000);
    /* No events asked for: nothing reported. */
    pf[0] = (struct nn_pollfd){.fd = a, .events = 0};
    CHECK(nn_poll(pf, 1, 0) == 0);
    /* (When nothing is ready stock leaves revents as they were.) */
    pf[0] = (struct nn_pollfd){.fd = a, .events = 4, .revents = 0};
    CHECK(nn_poll(pf, 1, 0) == 0);
    CHECK(pf[0].revents == 0);
    nn_close(a);
    nn_close(b);
    pf[0] = (struct nn_pollfd){.fd = a, .events = NN_POLLIN};
    CHECK_ERR(nn_poll(pf, 1, 0), EBADF);
}

static void readiness(void)
{
    struct nn_pollfd pf[3];
    char buf[16];
    int a, b;
    ta_pair(AF_SP, &a, &b);
    int c = ta_socket(AF_SP, NN_PAIR);

    pf[0] = (struct nn_pollfd){.fd = a, .events = NN_POLLIN | NN_POLLOUT};
    CHECK(nn_poll(pf, 1, 0) == 1);
    CHECK(pf[0].revents == NN_POLLOUT);
    pf[0] = (struct nn_pollfd){.fd = c, .events = NN_POLLIN | NN_POLLOUT};
    CHECK(nn_poll(pf, 1, 0) == 0);
    CHECK(pf[0].revents == 0);

    CHECK(nn_send(b, "x", 1, 0) == 1);
    pf[0] = (struct nn_pollfd){.fd = a, .events = NN_POLLIN | NN_POLLOUT};
    pf[1] = (struct nn_pollfd){.fd = b, .events = NN_POLLIN | NN_POLLOUT};
    pf[2] = (struct nn_pollfd){.fd = c, .events = NN_POLLIN | NN_POLLOUT};
    CHECK(nn_poll(pf, 3, TA_WAIT) == 2);
    CHECK(pf[0].revents == (NN_POLLIN | NN_POLLOUT));
    CHECK(pf[1].revents == NN_POLLOUT);
    CHECK(pf[2].revents == 0);
    /* The same socket twice counts twice. */
    pf[0] = (struct nn_pollfd){.fd = a, .events = NN_POLLIN};
    pf[1] = (struct nn_pollfd){.fd = a, .events = NN_POLLIN};
    CHECK(nn_poll(pf, 2, 0) == 2);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 1);
    pf[0] = (struct nn_pollfd){.fd = a, .events = NN_POLLIN};
    double t0 = ta_ms();
    CHECK(nn_poll(pf, 1, 50) == 0);
    CHECK(ta_ms() - t0 >= 45);
    CHECK(pf[0].revents == 0);

    /* The descriptors. */
    int sfd = ta_getint(b, NN_SOL_SOCKET, NN_SNDFD);
    int rfd = ta_getint(a, NN_SOL_SOCKET, NN_RCVFD);
    CHECK(sfd >= 0 && rfd >= 0);
    CHECK(sfd == ta_getint(b, NN_SOL_SOCKET, NN_SNDFD));
    CHECK(sfd != ta_getint(b, NN_SOL_SOCKET, NN_RCVFD));
    CHECK(readable(sfd));
    CHECK(!readable(rfd));
    CHECK(nn_send(b, "x", 1, 0) == 1);
    CHECK(nn_send(b, "y", 1, 0) == 1);
    CHECK(wait_readable(rfd));
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 1);
    CHECK(readable(rfd));
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 1);
    CHECK(!readable(rfd));
    /* Reading the descriptor is not receiving: it stays signalled while a
       message waits. */
    CHECK(nn_send(b, "z", 1, 0) == 1);
    CHECK(wait_readable(rfd));
    CHECK(readable(rfd));
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 1);
    CHECK(!readable(rfd));

    /* SNDFD follows the peer: unconnected no, connected yes. */
    int csfd = ta_getint(c, NN_SOL_SOCKET, NN_SNDFD);
    CHECK(!readable(csfd));
    char addr[64];
    ta_addr(addr, sizeof(addr));
    CHECK(nn_bind(c, addr) >= 0);
    int d = ta_socket(AF_SP, NN_PAIR);
    CHECK(nn_connect(d, addr) >= 0);
    CHECK(wait_readable(csfd));
    nn_close(d);
    CHECK(WAIT_FOR(!readable(csfd), 10));
    nn_close(c);
    nn_close(a);
    nn_close(b);
}

/* A full receive buffer clears POLLOUT; one message taken sets it again. */
static void back_pressure(void)
{
    char addr[64];
    ta_addr(addr, sizeof(addr));
    int p = ta_socket(AF_SP, NN_PAIR), q = ta_socket(AF_SP, NN_PAIR);
    ta_setint(p, NN_SOL_SOCKET, NN_RCVBUF, 1000);
    CHECK(nn_bind(p, addr) >= 0);
    CHECK(nn_connect(q, addr) >= 0);
    char msg[100] = {0};
    while (nn_send(q, msg, sizeof(msg), NN_DONTWAIT) == (int) sizeof(msg))
        ;
    struct nn_pollfd pf = {.fd = q, .events = NN_POLLOUT};
    CHECK(nn_poll(&pf, 1, 0) == 0);
    int sfd = ta_getint(q, NN_SOL_SOCKET, NN_SNDFD);
    CHECK(!readable(sfd));
    char buf[128];
    CHECK(nn_recv(p, buf, sizeof(buf), 0) == 100);
    pf.revents = 0;
    CHECK(nn_poll(&pf, 1, TA_WAIT) == 1);
    CHECK(pf.revents == NN_POLLOUT);
    CHECK(readable(sfd));
    nn_close(p);
    nn_close(q);
}

/* More sockets than fit any small fixed array. */
static void many_sockets(void)
{
    enum { N = 60 };
    int a[N], b[N];
    struct nn_pollfd pf[2 * N];
    for (int i = 0; i < N; i++)
        ta_pair(AF_SP, &a[i], &b[i]);
    for (int i = 0; i < N; i += 3)
        CHECK(nn_send(b[i], "x", 1, 0) == 1);
    for (int i = 0; i < N; i++) {
        pf[2 * i] = (struct nn_pollfd){.fd = a[i], .events = NN_POLLIN};
        pf[2 * i + 1] = (struct nn_pollfd){.fd = b[i], .events = NN_POLLIN};
    }
    CHECK(nn_poll(pf, 2 * N, TA_WAIT) == (N + 2) / 3);
    int ok = 1;
    for (int i = 0; i < N; i++) {
        ok = ok && pf[2 * i].revents == (i % 3 == 0 ? NN_POLLIN : 0);
        ok = ok && pf[2 * i + 1].revents == 0;
    }
    CHECK(ok);
    for (int i = 0; i < N; i++) {
        nn_close(a[i]);
        nn_close(b[i]);
    }
}

struct poller {
    int sock;
    int rc;
    short revents;
    atomic_int tid, done;
};

static void *poll_main(void *arg)
{
    struct poller *p = arg;
    atomic_store(&p->tid, ta_gettid());
    struct nn_pollfd pf = {.fd = p->sock, .events = NN_POLLIN};
    p->rc = nn_poll(&pf, 1, 20000);
    p->revents = pf.revents;
    atomic_store(&p->done, 1);
    return NULL;
}

static void woken_from_another_thread(void)
{
    int a, b;
    ta_pair(AF_SP, &a, &b);
    struct poller p = {.sock = a};
    pthread_t th;
    pthread_create(&th, NULL, poll_main, &p);
    ta_wait_blocked(&p.tid, &p.done);
    double t0 = ta_ms();
    CHECK(nn_send(b, "wake", 4, 0) == 4);
    pthread_join(th, NULL);
    CHECK(p.rc == 1 && p.revents == NN_POLLIN);
    CHECK(ta_ms() - t0 < 5000);
    nn_close(a);
    nn_close(b);
}

/* SNDFD / RCVFD in poll(2) next to an ordinary pipe. */
static void mixed_with_os_descriptors(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    int a, b;
    ta_pair(AF_SP, &a, &b);
    struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN},
                          {.fd = ta_getint(a, NN_SOL_SOCKET, NN_RCVFD), .events = POLLIN}};
    CHECK(poll(p, 2, 0) == 0);
    CHECK(write(fds[1], "o", 1) == 1);
    CHECK(poll(p, 2, 0) == 1 && (p[0].revents & POLLIN) && !p[1].revents);
    CHECK(nn_send(b, "x", 1, 0) == 1);
    CHECK(poll(p, 2, TA_WAIT) == 2);
    close(fds[0]);
    close(fds[1]);
    nn_close(a);
    nn_close(b);
}

/* The descriptors belong to the socket: closing it releases them. */
static void descriptors_released(void)
{
    int before = ta_count_fds();
    int s = nn_socket(AF_SP, NN_PAIR);
    CHECK(ta_count_fds() > before);
    nn_close(s);
    CHECK(ta_count_fds() == before);
}

int main(void)
{
    arguments();
    readiness();
    back_pressure();
    many_sockets();
    woken_from_another_thread();
    mixed_with_os_descriptors();
    descriptors_released();
    TEST_DONE();
}
