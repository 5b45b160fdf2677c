/* test_bounds_claim.c: a size a peer announces is not paid for before its
   bytes come (issue 15, finding 5). Raw peers on tcp, ipc and ws announce
   large messages (1 MiB, the default NN_RCVMAXSIZE, from 128 connections;
   1 GiB with NN_RCVMAXSIZE -1, from 16) and send 64 bytes of each; once
   the server has read those bytes (the kernel's queue towards it is
   empty) the process's address space (VmSize) and resident memory (RSS)
   must have grown by a small part of what was announced. A well-behaved
   femtomsg PUSH on the same socket is served throughout, and a claim that
   is then honoured byte by byte arrives whole and intact. (tls+tcp reads
   big bodies through the same code as tcp: stream.c.) */
#include "testutil.h"
#include "rawsock.h"

#include <nanomsg/pipeline.h>

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/un.h>
#include <unistd.h>

enum kind { K_TCP, K_IPC, K_WS };
static const char *kind_name[] = {"tcp", "ipc", "ws"};

struct target {
    enum kind kind;
    int port;
    char path[108];
    char addr[NN_SOCKADDR_MAX + 1];
};

static long statm_field(int i)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long v[2] = {0, 0};
    if (f) {
        if (fscanf(f, "%ld %ld", &v[0], &v[1]) != 2)
            v[0] = v[1] = 0;
        fclose(f);
    }
    return v[i] * (sysconf(_SC_PAGESIZE) / 1024);
}
static long vm_kib(void) { return statm_field(0); }
static long rss_kib(void) { return statm_field(1); }

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

static void bind_target(int s, enum kind kind, struct target *t)
{
    static int port, seq;
    memset(t, 0, sizeof(*t));
    t->kind = kind;
    if (kind == K_IPC) {
        snprintf(t->path, sizeof(t->path), "/tmp/fm-test-claim-%d-%d.ipc", (int) getpid(), seq++);
        unlink(t->path);
        snprintf(t->addr, sizeof(t->addr), "ipc://%s", t->path);
        CHECK(nn_bind(s, t->addr) >= 0);
        return;
    }
    if (!port)
        port = 20000 + (int) ((unsigned) getpid() * 67u % 12000u);
    for (int i = 0; i < 500; i++) {
        t->port = port++;
        if (port >= 32000)
            port = 20000;
        snprintf(t->addr, sizeof(t->addr), "%s://127.0.0.1:%d%s", kind == K_WS ? "ws" : "tcp",
                 t->port, kind == K_WS ? "/claim" : "");
        if (nn_bind(s, t->addr) >= 0)
            return;
        CHECK(errno == EADDRINUSE);
    }
    CHECK(!"no free port");
}

static int raw_connect(const struct target *t)
{
    int fd;
    if (t->kind == K_IPC) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        memcpy(sun.sun_path, t->path, strlen(t->path) + 1);
        if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0) {
            close(fd);
            return -1;
        }
        return fd;
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t) t->port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static const uint8_t KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Connect, say hello as a PUSH peer and announce a message of size bytes;
   -1 when refused. */
static int claim(const struct target *t, uint64_t size)
{
    int fd = raw_connect(t);
    if (fd < 0)
        return -1;
    uint8_t h[16];
    size_t n = 0;
    if (t->kind == K_WS) {
        const char *req = "GET /claim HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Protocol: pull.sp.nanomsg.org\r\n\r\n";
        raw_send(fd, req, strlen(req));
        char resp[1024] = "";
        size_t got = 0;
        while (got + 1 < sizeof(resp)) {
            if (!raw_read(fd, resp + got, 1, 10)) {
                close(fd);
                return -1;
            }
            got++;
            if (got >= 4 && memcmp(resp + got - 4, "\r\n\r\n", 4) == 0)
                break;
        }
        if (strncmp(resp, "HTTP/1.1 101 ", 13) != 0) {
            fprintf(stderr, "%s: upgrade refused: %.60s\n", t->addr, resp);
            close(fd);
            return -1;
        }
        h[n++] = 0x82;
        h[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t) (size >> (8 * i));
        memcpy(h + n, KEY, 4);
        n += 4;
    } else {
        const uint8_t hello[8] = {0, 'S', 'P', 0, 0, NN_PUSH, 0, 0};
        raw_send(fd, hello, sizeof(hello));
        if (t->kind == K_IPC)
            h[n++] = 0x01;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t) (size >> (8 * i));
    }
    raw_send(fd, h, n);
    return fd;
}

/* Body bytes [off, off+n) of the claimed message: a pattern, masked on ws. */
static void send_body(const struct target *t, int fd, size_t off, size_t n)
{
    uint8_t *b = malloc(n);
    for (size_t i = 0; i < n; i++) {
        b[i] = (uint8_t) ((off + i) * 7 + 1);
        if (t->kind == K_WS)
            b[i] ^= KEY[(off + i) & 3];
    }
    raw_send(fd, b, n);
    free(b);
}

/* The server has read all that fd sent: for ipc the kernel still charges
   the sender for unread bytes; for tcp the server's socket shows its
   receive queue in /proc/net/tcp. */
static bool server_read_all(const struct target *t, int fd)
{
    if (t->kind == K_IPC) {
        int n = -1;
        return ioctl(fd, SIOCOUTQ, &n) == 0 && n == 0;
    }
    struct sockaddr_in me;
    socklen_t len = sizeof(me);
    if (getsockname(fd, (struct sockaddr *) &me, &len) != 0)
        return false;
    unsigned mine = ntohs(me.sin_port);
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f)
        return false;
    char line[512];
    bool found = false, empty = false;
    while (fgets(line, sizeof(line), f)) {
        unsigned lport, rport, txq, rxq;
        if (sscanf(line, " %*d: %*x:%x %*x:%x %*x %x:%x", &lport, &rport, &txq, &rxq) != 4)
            continue;
        if ((int) lport == t->port && rport == mine) {
            found = true;
            empty = rxq == 0;
        }
    }
    fclose(f);
    return found && empty;
}

static bool served(int pull, int push)
{
    if (nn_send(push, "legit", 5, 0) != 5)
        return false;
    char buf[16];
    return nn_recv(pull, buf, sizeof(buf), 0) == 5 && memcmp(buf, "legit", 5) == 0;
}

/* conns raw peers each announce size bytes and send 64; memory must grow
   by less than limit_kib. With honour, the first then sends the rest. */
static void run(enum kind kind, int conns, uint64_t size, int rcvmax, long limit_kib, bool honour)
{
    int pull = nn_socket(AF_SP, NN_PULL), push = nn_socket(AF_SP, NN_PUSH);
    set_int(pull, NN_RCVMAXSIZE, rcvmax);
    set_int(pull, NN_RCVTIMEO, 10000);
    set_int(push, NN_SNDTIMEO, 10000);
    struct target t;
    bind_target(pull, kind, &t);
    CHECK(nn_connect(push, t.addr) >= 0);
    CHECK(served(pull, push));

    long vm0 = vm_kib(), rss0 = rss_kib();
    int *fds = calloc((size_t) conns, sizeof(int));
    for (int i = 0; i < conns; i++) {
        fds[i] = claim(&t, size);
        CHECK(fds[i] >= 0);
        if (fds[i] >= 0)
            send_body(&t, fds[i], 0, 64);
    }
    for (int i = 0; i < conns; i++)
        if (fds[i] >= 0 && !WAIT_FOR(server_read_all(&t, fds[i]), 20)) {
            fprintf(stderr, "%s: the server did not read claim %d\n", kind_name[kind], i);
            CHECK(!"claims read");
            break;
        }
    long dvm = vm_kib() - vm0, drss = rss_kib() - rss0;
    printf("%s: %d claims of %llu bytes: VmSize +%ld KiB, RSS +%ld KiB\n", kind_name[kind], conns,
           (unsigned long long) size, dvm, drss);
    CHECK(dvm < limit_kib);
    CHECK(drss < limit_kib);
    CHECK(served(pull, push)); /* during the attack */

    if (honour && fds[0] >= 0) {
        /* The claim made good, in pieces: it arrives whole. */
        for (size_t off = 64; off < size; off += 100000)
            send_body(&t, fds[0], off, size - off < 100000 ? size - off : 100000);
        void *m = NULL;
        set_int(pull, NN_RCVTIMEO, 60000); /* a loaded machine, a sanitizer */
        int n = nn_recv(pull, &m, NN_MSG, 0);
        if (n < 0)
            fprintf(stderr, "%s: the honoured claim did not arrive\n", kind_name[kind]);
        set_int(pull, NN_RCVTIMEO, 10000);
        CHECK(n == (int) size);
        bool same = n == (int) size;
        for (int i = 0; same && i < n; i++)
            same = ((uint8_t *) m)[i] == (uint8_t) (i * 7 + 1);
        CHECK(same);
        if (m)
            nn_freemsg(m);
    }
    for (int i = 0; i < conns; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    CHECK(served(pull, push)); /* after */
    nn_close(push);
    nn_close(pull);
    if (kind == K_IPC)
        unlink(t.path);
}

int main(void)
{
    for (enum kind k = K_TCP; k <= K_WS; k++) {
        /* The default NN_RCVMAXSIZE: 128 MiB announced (and 8 MiB of read
           buffers, which are ours); before: all of it allocated. */
        run(k, 128, 1 << 20, 1 << 20, 48 * 1024, true);
        /* No limit: 16 GiB announced. */
        run(k, 16, (uint64_t) 1 << 30, -1, 256 * 1024, false);
    }
    TEST_DONE();
}
