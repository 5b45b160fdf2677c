/* test_bounds_idle.c: a connection that went quiet gives its buffers back
   (issue 15, finding 4). 300 raw peers on tcp and on ipc each send one
   60 KiB message, which the server receives, and then say nothing more:
   the heap in use, which grew by the 64 KiB read buffer of each, must come
   back to less than 16 KiB a connection (stock: 9 KiB) within a generous deadline (the
   buffers go after IDLE_MS, 2 s, of quiet). The connections stay up and a
   femtomsg PUSH on the same socket is served after. (Sanitizers bring
   their own malloc: there only the service is checked.) */
#include "testutil.h"
#include "rawsock.h"

#include <nanomsg/pipeline.h>

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <unistd.h>

#define CONNS 300
#define SIZE (60 * 1024)

static long heap_kib(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (long) ((mi.uordblks + mi.hblkhd) / 1024);
}

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

static int raw_connect(bool ipc, int port, const char *path)
{
    int fd;
    if (ipc) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        memcpy(sun.sun_path, path, strlen(path) + 1);
        if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0) {
            close(fd);
            return -1;
        }
        return fd;
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void run(bool ipc)
{
    int pull = nn_socket(AF_SP, NN_PULL), push = nn_socket(AF_SP, NN_PUSH);
    set_int(pull, NN_RCVTIMEO, 10000);
    set_int(push, NN_SNDTIMEO, 10000);
    char addr[NN_SOCKADDR_MAX], path[108] = "";
    int port = 0;
    if (ipc) {
        snprintf(path, sizeof(path), "/tmp/fm-test-idle-%d.ipc", (int) getpid());
        unlink(path);
        snprintf(addr, sizeof(addr), "ipc://%s", path);
        CHECK(nn_bind(pull, addr) >= 0);
    } else {
        port = 20000 + (int) ((unsigned) getpid() * 79u % 12000u);
        for (int i = 0; i < 500; i++, port = port >= 31999 ? 20000 : port + 1) {
            snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d", port);
            if (nn_bind(pull, addr) >= 0)
                break;
        }
    }
    CHECK(nn_connect(push, addr) >= 0);
    CHECK(nn_send(push, "hi", 2, 0) == 2);
    char small[16];
    CHECK(nn_recv(pull, small, sizeof(small), 0) == 2);

    uint8_t *msg = calloc(1, (ipc ? 9 : 8) + SIZE);
    size_t n = 0;
    if (ipc)
        msg[n++] = 0x01;
    for (int i = 7; i >= 0; i--)
        msg[n++] = (uint8_t) ((uint64_t) SIZE >> (8 * i));
    const uint8_t hello[8] = {0, 'S', 'P', 0, 0, NN_PUSH, 0, 0};
    long heap0 = heap_kib();
    int fds[CONNS];
    for (int i = 0; i < CONNS; i++) {
        fds[i] = raw_connect(ipc, port, path);
        CHECK(fds[i] >= 0);
        if (fds[i] < 0)
            continue;
        raw_send(fds[i], hello, sizeof(hello));
        raw_send(fds[i], msg, n + SIZE);
    }
    int got = 0;
    void *m;
    while (got < CONNS && nn_recv(pull, &m, NN_MSG, 0) == SIZE) {
        nn_freemsg(m);
        got++;
    }
    CHECK(got == CONNS);
    long busy = heap_kib() - heap0;
    bool quiet = WAIT_FOR(under_sanitizer() || heap_kib() - heap0 < CONNS * 16, 30);
    printf("%s: %d quiet connections: heap +%ld KiB after their messages, +%ld KiB later\n",
           ipc ? "ipc" : "tcp", CONNS, busy, heap_kib() - heap0);
    CHECK(quiet);
    /* Still connected, still served. */
    CHECK(nn_get_statistic(pull, NN_STAT_CURRENT_CONNECTIONS) >= CONNS);
    CHECK(nn_send(push, "hi", 2, 0) == 2);
    CHECK(nn_recv(pull, small, sizeof(small), 0) == 2);
    raw_send(fds[0], msg, n + SIZE); /* a quiet one speaks again */
    CHECK(nn_recv(pull, &m, NN_MSG, 0) == SIZE);
    nn_freemsg(m);
    for (int i = 0; i < CONNS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(msg);
    nn_close(push);
    nn_close(pull);
    if (ipc)
        unlink(path);
}

int main(void)
{
    run(false);
    run(true);
    TEST_DONE();
}
