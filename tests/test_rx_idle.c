/* test_rx_idle.c: after a blocking nn_recv has read its socket's only
   connection itself, the connection is left unread by its loop until
   somebody needs it read (sock.c, wait_direct). Whatever comes then must
   still reach the application: a non-blocking nn_recv reads the kernel
   itself, nn_poll and a second connection put the loop back to reading,
   the peer's close is seen, and a message over NN_RCVMAXSIZE still drops
   the connection. The peer is a plain ipc socket: a write to it is in our
   kernel buffer when it returns, so "already arrived" is exact. */
#include "testutil.h"

#include "rawsock.h"

#include <nanomsg/pipeline.h>

#include <sys/un.h>
#include <unistd.h>

static char path[108];
static char addr[NN_SOCKADDR_MAX];

static int64_t stat_of(int s, int which) { return (int64_t) nn_get_statistic(s, which); }

static int pull_socket(void)
{
    static int seq;
    int s = nn_socket(AF_SP, NN_PULL);
    CHECK(s >= 0);
    int ms = 10000;
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof(ms)) == 0);
    snprintf(path, sizeof(path), "/tmp/fm-test-rx-idle-%d-%d.ipc", (int) getpid(), seq++);
    unlink(path);
    snprintf(addr, sizeof(addr), "ipc://%s", path);
    CHECK(nn_bind(s, addr) >= 0);
    return s;
}

/* A PUSH peer by hand: connected, opening exchanged. */
static int raw_push(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, path, strlen(path) + 1);
    CHECK(connect(fd, (struct sockaddr *) &sun, sizeof(sun)) == 0);
    uint8_t h[8] = {0, 'S', 'P', 0, NN_PUSH >> 8, NN_PUSH & 0xff, 0, 0}, theirs[8];
    raw_send(fd, h, sizeof(h));
    CHECK(raw_read(fd, theirs, sizeof(theirs), 10));
    return fd;
}

/* One ipc frame: 0x01, the size (8 bytes, big-endian), the bytes. */
static void raw_msg(int fd, const char *text)
{
    size_t n = strlen(text);
    uint8_t f[64] = {1};
    CHECK(n <= sizeof(f) - 9);
    for (int i = 0; i < 8; i++)
        f[1 + i] = (uint8_t) ((uint64_t) n >> (8 * (7 - i)));
    memcpy(f + 9, text, n);
    raw_send(fd, f, 9 + n);
}

/* A blocking nn_recv that times out on the connection it claimed leaves
   it idle (as one that got its message does), whatever the timing. */
static void go_idle(int s)
{
    int ms = 50;
    char b[8];
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof(ms)) == 0);
    CHECK_ERR(nn_recv(s, b, sizeof(b), 0), ETIMEDOUT);
    ms = 10000;
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof(ms)) == 0);
}

static bool recv_is(int s, const char *text, int flags)
{
    char b[64];
    int n = nn_recv(s, b, sizeof(b), flags);
    return n == (int) strlen(text) && memcmp(b, text, (size_t) n) == 0;
}

/* A PULL with one raw PUSH peer (*fd), one message through, left idle. */
static int idle_pull(int *fd)
{
    int s = pull_socket();
    *fd = raw_push();
    raw_msg(*fd, "one");
    CHECK(recv_is(s, "one", 0));
    go_idle(s);
    return s;
}

/* The message is in our kernel before nn_recv(NN_DONTWAIT) asks: it is
   returned, not EAGAIN. Then the loop reads again: the next one comes
   without anybody reading the kernel for it. */
static void test_dontwait(void)
{
    int fd;
    int s = idle_pull(&fd);
    raw_msg(fd, "two");
    CHECK(recv_is(s, "two", NN_DONTWAIT));
    raw_msg(fd, "three");
    CHECK(WAIT_FOR(recv_is(s, "three", NN_DONTWAIT), 10));
    close(fd);
    nn_close(s);
}

/* nn_poll and NN_RCVFD see what arrived while nobody read. */
static void test_poll(void)
{
    int fd;
    int s = idle_pull(&fd);
    raw_msg(fd, "two");
    struct nn_pollfd p = {.fd = s, .events = NN_POLLIN};
    CHECK(nn_poll(&p, 1, 10000) == 1 && (p.revents & NN_POLLIN));
    CHECK(recv_is(s, "two", NN_DONTWAIT));
    close(fd);
    nn_close(s);

    s = idle_pull(&fd);
    raw_msg(fd, "two");
    int rcvfd = -1;
    size_t len = sizeof(rcvfd);
    CHECK(nn_getsockopt(s, NN_SOL_SOCKET, NN_RCVFD, &rcvfd, &len) == 0);
    struct pollfd pfd = {.fd = rcvfd, .events = POLLIN};
    CHECK(poll(&pfd, 1, 10000) == 1);
    CHECK(recv_is(s, "two", NN_DONTWAIT));
    close(fd);
    nn_close(s);
}

/* A second connection: the receiver waits the ordinary way, and what the
   first one brings still comes. */
static void test_second_pipe(void)
{
    int fd;
    int s = idle_pull(&fd);
    int fd2 = raw_push();
    CHECK(WAIT_FOR(stat_of(s, NN_STAT_CURRENT_CONNECTIONS) == 2, 10));
    /* (the second's opening came in while the first was idle) */
    raw_msg(fd, "two");
    CHECK(recv_is(s, "two", 0));
    raw_msg(fd2, "three");
    CHECK(recv_is(s, "three", 0));
    close(fd);
    close(fd2);
    nn_close(s);
}

/* The peer's close is seen without a receive; a message over
   NN_RCVMAXSIZE drops the connection without one (within the
   connection's idle period, IDLE_MS: 2 s). */
static void test_policed(void)
{
    int fd;
    int s = idle_pull(&fd);
    close(fd);
    CHECK(WAIT_FOR(stat_of(s, NN_STAT_CURRENT_CONNECTIONS) == 0, 10));
    CHECK(stat_of(s, NN_STAT_BROKEN_CONNECTIONS) == 1);
    nn_close(s);

    s = idle_pull(&fd);
    int four = 4; /* (acts on live connections) */
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, &four, sizeof(four)) == 0);
    raw_msg(fd, "too long");
    CHECK(closed_within(fd, 10));
    CHECK(WAIT_FOR(stat_of(s, NN_STAT_BROKEN_CONNECTIONS) == 1, 10));
    close(fd);
    nn_close(s);
}

int main(void)
{
    test_dontwait();
    test_poll();
    test_second_pipe();
    test_policed();
    unlink(path);
    TEST_DONE();
}
