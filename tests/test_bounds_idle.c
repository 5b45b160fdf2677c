/* test_bounds_idle.c: a connection that went quiet gives its buffers back
   (issue 15, finding 4), and one that only said hello never takes one
   (issue 17: under 3 KiB of heap each, where the 64 KiB read buffer used to
   be taken at the first read). 300 raw peers on tcp, ipc and ws each send one
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
#define HELLO_KIB_MAX 3 /* heap per connection that said only hello */

static long heap_kib(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (long) ((mi.uordblks + mi.hblkhd) / 1024);
}

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

enum kind { K_TCP, K_IPC, K_WS };
static const char *const kind_name[] = {"tcp", "ipc", "ws"};

static int raw_connect(enum kind k, int port, const char *path)
{
    int fd;
    if (k == K_IPC) {
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

/* A raw PUSH peer's opening: the SP header, or the HTTP upgrade and the
   server's 101. False when refused. */
static bool raw_hello(enum kind k, int fd)
{
    if (k != K_WS) {
        const uint8_t hello[8] = {0, 'S', 'P', 0, 0, NN_PUSH, 0, 0};
        raw_send(fd, hello, sizeof(hello));
        return true;
    }
    const char *req = "GET /idle HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Protocol: pull.sp.nanomsg.org\r\n\r\n";
    raw_send(fd, req, strlen(req));
    char resp[1024] = "";
    size_t got = 0;
    while (got + 1 < sizeof(resp) && raw_read(fd, resp + got, 1, 10)) {
        got++;
        if (got >= 4 && memcmp(resp + got - 4, "\r\n\r\n", 4) == 0)
            return strncmp(resp, "HTTP/1.1 101 ", 13) == 0;
    }
    return false;
}

static void run(enum kind k)
{
    bool ipc = k == K_IPC;
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
            snprintf(addr, sizeof(addr), "%s://127.0.0.1:%d%s", kind_name[k], port,
                     k == K_WS ? "/idle" : "");
            if (nn_bind(pull, addr) >= 0)
                break;
        }
    }
    CHECK(nn_connect(push, addr) >= 0);
    CHECK(nn_send(push, "hi", 2, 0) == 2);
    char small[16];
    CHECK(nn_recv(pull, small, sizeof(small), 0) == 2);

    /* The message's framing: the length prefix (ipc: after its type byte),
       or a masked binary ws frame whose key is zero (the payload as is). */
    uint8_t *msg = calloc(1, 16 + SIZE);
    size_t n = 0;
    if (ipc)
        msg[n++] = 0x01;
    if (k == K_WS) {
        msg[n++] = 0x82;
        msg[n++] = 0x80 | 126;
        msg[n++] = (uint8_t) (SIZE >> 8);
        msg[n++] = (uint8_t) SIZE;
        n += 4;
    } else {
        for (int i = 7; i >= 0; i--)
            msg[n++] = (uint8_t) ((uint64_t) SIZE >> (8 * i));
    }
    long heap0 = heap_kib();
    int fds[CONNS];
    for (int i = 0; i < CONNS; i++) {
        fds[i] = raw_connect(k, port, path);
        CHECK(fds[i] >= 0);
        if (fds[i] >= 0)
            CHECK(raw_hello(k, fds[i]));
    }
    /* Only their opening so far: each holds its state, and no read
       buffer (the opening was read into the loop thread's). */
    CHECK(WAIT_FOR(nn_get_statistic(pull, NN_STAT_CURRENT_CONNECTIONS) >= CONNS + 1, 30));
    long hello = heap_kib() - heap0;
    printf("%s: %d connections that only said hello: heap +%ld KiB (%.1f KiB each)\n",
           kind_name[k], CONNS, hello, (double) hello / CONNS);
    CHECK(under_sanitizer() || hello < CONNS * HELLO_KIB_MAX);
    for (int i = 0; i < CONNS; i++)
        if (fds[i] >= 0)
            raw_send(fds[i], msg, n + SIZE);
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
           kind_name[k], CONNS, busy, heap_kib() - heap0);
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
    run(K_TCP);
    run(K_IPC);
    run(K_WS);
    TEST_DONE();
}
