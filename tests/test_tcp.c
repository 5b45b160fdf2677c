/* test_tcp.c: what only the tcp:// transport has (test_schemes_tcp runs
   what every transport shares: sizes, bursts, every protocol, an
   incompatible peer, reconnection and backoff, nn_shutdown, a killed peer,
   backpressure, NN_RCVMAXSIZE, linger). Address syntax and every
   bind/connect error against the stock library's answers; traffic over
   IPv6 literals, DNS names, interface names and the local;remote form;
   NN_TCP_NODELAY; NN_LINGER holding nn_close until a peer speaking the SP
   wire by hand has taken everything and closed; a slow resolver not
   blocking the caller. */
#include "testutil.h"

#include <nanomsg/bus.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>
#include <nanomsg/tcp.h>

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

/* --------------------------------------------------------- helpers */

/* Ports come from a pid-derived range below the kernel's ephemeral ports;
   one found in use is skipped. */
static int port_next;

static int next_port(void)
{
    if (!port_next)
        port_next = 20000 + (int) ((unsigned) getpid() * 53u % 12000u);
    int p = port_next++;
    if (port_next >= 32000)
        port_next = 20000;
    return p;
}

/* nn_bind to tcp://<host>:<a free port>; the address used goes to addr. */
static int bind_tcp(int s, const char *host, char *addr)
{
    for (int i = 0; i < 500; i++) {
        snprintf(addr, NN_SOCKADDR_MAX, "tcp://%s:%d", host, next_port());
        int eid = nn_bind(s, addr);
        if (eid >= 0 || errno != EADDRINUSE)
            return eid;
    }
    return -1;
}

/* A port nobody listens on right now. */
static int free_port(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    char addr[NN_SOCKADDR_MAX];
    int eid = bind_tcp(s, "127.0.0.1", addr);
    CHECK(eid >= 0);
    nn_close(s);
    return atoi(strrchr(addr, ':') + 1);
}

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

static int sock(int type)
{
    int s = nn_socket(AF_SP, type);
    CHECK(s >= 0);
    set_int(s, NN_RCVTIMEO, 10000);
    set_int(s, NN_SNDTIMEO, 10000);
    set_int(s, NN_RECONNECT_IVL, 20);
    return s;
}

/* The next message is want. Stray "ping"s from wait_linked are skipped. */
static bool recv_is(int s, const char *want)
{
    char buf[256];
    int n;
    do
        n = nn_recv(s, buf, sizeof(buf), 0);
    while (n == 4 && memcmp(buf, "ping", 4) == 0 && strcmp(want, "ping") != 0);
    return n == (int) strlen(want) && memcmp(buf, want, (size_t) n) == 0;
}

static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n ? n : 1);
    uint32_t x = 0x9e3779b9u ^ seed;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (uint8_t) (x >> 24);
    }
    return p;
}

/* ------------------------------------------------ addresses and errors */

struct addr_case {
    bool bind;
    int ipv4only;
    const char *addr;
    int err; /* 0: accepted */
};

/* The stock library's answers (probed), except that interface names are
   accepted to bind where it knows only literals. "PORT" stands for a free
   port. */
static const struct addr_case addr_cases[] = {
    {true, 1, "tcp://*:PORT", 0},
    {false, 1, "tcp://*:PORT", EINVAL},
    {true, 1, "tcp://127.0.0.1:PORT", 0},
    {true, 1, "tcp://[127.0.0.1]:PORT", 0},
    {true, 1, "tcp://0.0.0.0:PORT", 0},
    {true, 1, "tcp://lo:PORT", 0},
    {true, 1, "tcp://nosuch0:PORT", ENODEV},
    {true, 1, "tcp://localhost:PORT", ENODEV},
    {true, 1, "tcp://:PORT", ENODEV},
    {true, 1, "tcp://[*]:PORT", ENODEV},
    {true, 1, "tcp://1.2.3:PORT", ENODEV},
    {true, 1, "tcp://*;127.0.0.1:PORT", ENODEV},
    {true, 1, "tcp://[::1]:PORT", ENODEV},
    {true, 1, "tcp://::1:PORT", ENODEV},
    {true, 1, "tcp://192.0.2.99:PORT", EADDRNOTAVAIL},
    {true, 1, "tcp://8.8.8.8:PORT", EADDRNOTAVAIL},
    {true, 1, "tcp://127.0.0.1:PORT:6", ENODEV},
    {true, 1, "tcp://*:", EINVAL},
    {true, 1, "tcp://*:0", EINVAL},
    {true, 1, "tcp://*:65536", EINVAL},
    {true, 1, "tcp://*:abc", EINVAL},
    {true, 1, "tcp://*:-1", EINVAL},
    {true, 1, "tcp://*:+5", EINVAL},
    {true, 1, "tcp://*: 5", EINVAL},
    {true, 1, "tcp://*:5555x", EINVAL},
    {true, 1, "tcp://*", EINVAL},
    {true, 1, "tcp://", EINVAL},
    {true, 1, "tcp://127.0.0.1:PORT;x", EINVAL},
    {false, 1, "tcp://127.0.0.1:PORT", 0},
    {false, 1, "tcp://[127.0.0.1]:PORT", 0},
    {false, 1, "tcp://localhost:PORT", 0},
    {false, 1, "tcp://LOCALHOST.:PORT", 0},
    {false, 1, "tcp://nosuch.invalid:PORT", 0},
    {false, 1, "tcp://a-:PORT", 0},
    {false, 1, "tcp://1.2.3:PORT", 0},
    {false, 1, "tcp://lo:PORT", 0},
    {false, 1, "tcp://127.0.0.1;127.0.0.1:PORT", 0},
    {false, 1, "tcp://*;127.0.0.1:PORT", 0},
    {false, 1, "tcp://lo;127.0.0.1:PORT", ENODEV},
    {false, 1, "tcp://nosuch0;127.0.0.1:PORT", ENODEV},
    {false, 1, "tcp://;127.0.0.1:PORT", ENODEV},
    {false, 1, "tcp://[::1];127.0.0.1:PORT", ENODEV},
    {false, 0, "tcp://[::1];127.0.0.1:PORT", 0},
    {false, 1, "tcp://x;y;z:PORT", EINVAL},
    {false, 1, "tcp://-a:PORT", EINVAL},
    {false, 1, "tcp://.a:PORT", EINVAL},
    {false, 1, "tcp://a..b:PORT", EINVAL},
    {false, 1, "tcp://a_b:PORT", EINVAL},
    {false, 1, "tcp://bad_host!:PORT", EINVAL},
    {false, 1, "tcp://[lo]:PORT", EINVAL},
    {false, 1, "tcp://[]:PORT", EINVAL},
    {false, 1, "tcp://:PORT", EINVAL},
    {false, 1, "tcp://[::1]:PORT", EINVAL},
    {false, 0, "tcp://[::1]:PORT", 0},
    {false, 0, "tcp://::1:PORT", 0},
    {false, 1, "tcp://127.0.0.1", EINVAL},
    {false, 1, "tcp://127.0.0.1:", EINVAL},
    {false, 1, "tcp://127.0.0.1:0", EINVAL},
    {false, 1, "tcp://127.0.0.1:00005555", 0},
    {false, 1, "tcp://127.0.0.1:PORT ", EINVAL},
    {false, 1, "tcp://127.0.0.1:PORT:6", EINVAL},
    {false, 1, "tcp://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x:PORT", 0},
    {false, 1, "tcp://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x:PORT",
     EINVAL}, /* a 64-character label */
};

static void test_addr_errors(void)
{
    for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
        const struct addr_case *c = &addr_cases[i];
        char addr[NN_SOCKADDR_MAX + 16];
        const char *p = strstr(c->addr, "PORT");
        if (p)
            snprintf(addr, sizeof(addr), "%.*s%d%s", (int) (p - c->addr), c->addr, free_port(),
                     p + 4);
        else
            snprintf(addr, sizeof(addr), "%s", c->addr);
        int s = nn_socket(AF_SP, NN_PAIR);
        CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_IPV4ONLY, &c->ipv4only, sizeof(int)) == 0);
        errno = 0;
        int rc = c->bind ? nn_bind(s, addr) : nn_connect(s, addr);
        int got = rc >= 0 ? 0 : errno;
        if (got != c->err) {
            fprintf(stderr, "%s %s (ipv4only %d): got %s, want %s\n", c->bind ? "bind" : "connect",
                    addr, c->ipv4only, got ? nn_strerror(got) : "success",
                    c->err ? nn_strerror(c->err) : "success");
            tu_failures++;
        }
        nn_close(s);
    }

    /* EADDRINUSE, also between "*" and a specific address. */
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    char addr[NN_SOCKADDR_MAX], other[NN_SOCKADDR_MAX];
    CHECK(bind_tcp(a, "127.0.0.1", addr) >= 0);
    CHECK_ERR(nn_bind(b, addr), EADDRINUSE);
    snprintf(other, sizeof(other), "tcp://*:%s", strrchr(addr, ':') + 1);
    CHECK_ERR(nn_bind(b, other), EADDRINUSE);
    /* As in the stock library, a bind refused at once is not counted. */
    CHECK(nn_get_statistic(b, NN_STAT_BIND_ERRORS) == 0);
    /* The port is free again once the binder is gone (SO_REUSEADDR). */
    nn_close(a);
    CHECK(nn_bind(b, addr) >= 0);
    nn_close(b);
}

static void test_options(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    int v = -1;
    size_t len = sizeof(v);
    CHECK(nn_getsockopt(s, NN_TCP, NN_TCP_NODELAY, &v, &len) == 0 && v == 0 && len == sizeof(v));
    v = 1;
    CHECK(nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &v, sizeof(v)) == 0);
    v = 7;
    len = sizeof(v);
    CHECK(nn_getsockopt(s, NN_TCP, NN_TCP_NODELAY, &v, &len) == 0 && v == 1);
    v = 2;
    CHECK_ERR(nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &v, sizeof(v)), EINVAL);
    v = -1;
    CHECK_ERR(nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &v, sizeof(v)), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &v, 2), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, NULL, sizeof(v)), EFAULT);
    CHECK_ERR(nn_setsockopt(s, NN_TCP, 99, &v, sizeof(v)), ENOPROTOOPT);
    len = sizeof(v);
    CHECK_ERR(nn_getsockopt(s, NN_TCP, 99, &v, &len), ENOPROTOOPT);
    /* A short buffer gets what fits and the full length back. */
    uint8_t small[2] = {0xaa, 0xaa};
    len = sizeof(small);
    CHECK(nn_getsockopt(s, NN_TCP, NN_TCP_NODELAY, small, &len) == 0 && len == sizeof(int));

    /* A connection made with NODELAY on works like any other. */
    int c = sock(NN_PAIR);
    v = 1;
    CHECK(nn_setsockopt(c, NN_TCP, NN_TCP_NODELAY, &v, sizeof(v)) == 0);
    char addr[NN_SOCKADDR_MAX];
    set_int(s, NN_RCVTIMEO, 10000);
    CHECK(bind_tcp(s, "127.0.0.1", addr) >= 0);
    CHECK(nn_connect(c, addr) >= 0);
    CHECK(nn_send(c, "fast", 4, 0) == 4);
    CHECK(recv_is(s, "fast"));
    nn_close(c);
    nn_close(s);
}

/* ------------------------------------------------------- data transfer */

static bool have_ipv6(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    set_int(s, NN_IPV4ONLY, 0);
    char addr[NN_SOCKADDR_MAX];
    bool ok = bind_tcp(s, "[::1]", addr) >= 0;
    nn_close(s);
    return ok;
}

/* Messages both ways between a listener on bind_host and a connection made
   with connect_fmt: every address form carries traffic (every size:
   test_schemes_tcp). */
static void exchange_sizes(const char *bind_host, const char *connect_fmt, int ipv4only)
{
    static const size_t sizes[] = {0, 1, 65536, (1 << 20) + 1};
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    set_int(a, NN_IPV4ONLY, ipv4only);
    set_int(b, NN_IPV4ONLY, ipv4only);
    set_int(a, NN_RCVMAXSIZE, -1);
    set_int(b, NN_RCVMAXSIZE, -1);
    char addr[NN_SOCKADDR_MAX], caddr[NN_SOCKADDR_MAX];
    CHECK(bind_tcp(a, bind_host, addr) >= 0);
    snprintf(caddr, sizeof(caddr), connect_fmt, atoi(strrchr(addr, ':') + 1));
    CHECK(nn_connect(b, caddr) >= 0);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        uint8_t *p = pattern(n, (unsigned) i);
        for (int dir = 0; dir < 2; dir++) {
            int from = dir ? a : b, to = dir ? b : a;
            CHECK(nn_send(from, p, n, 0) == (int) n);
            void *got = NULL;
            int r = nn_recv(to, &got, NN_MSG, 0);
            CHECK(r == (int) n);
            if (r == (int) n && memcmp(got, p, n) != 0) {
                fprintf(stderr, "%zu-byte message differs (%s)\n", n, caddr);
                tu_failures++;
            }
            if (r >= 0)
                nn_freemsg(got);
        }
        free(p);
    }
    nn_close(b);
    nn_close(a);
}

/* -------------------------------------------------------------- linger */

/* Read exactly n bytes from a raw descriptor, 10 s at most per read. */
static bool raw_read(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 10000) != 1)
            return false;
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t) r;
    }
    return true;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

struct closer {
    int s;
    atomic_int done;
};

static void *closer_main(void *arg)
{
    struct closer *c = arg;
    nn_close(c->s);
    atomic_store(&c->done, 1);
    return NULL;
}

/* NN_LINGER: nn_close returns only once the peer has closed after our EOF
   (or at the linger), not when what we wrote reached our kernel: a program
   exits right after nn_close, and a tcp close with unread input resets the
   connection, on which the stock library drops what it has not yet taken.
   The peer is a raw socket. Small messages leave nothing queued at close
   (direct write); large ones are still queued when nn_close starts. */
static void linger_until_peer_closes(int count, size_t size)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(in);
    CHECK(bind(l, (struct sockaddr *) &in, sizeof(in)) == 0);
    CHECK(getsockname(l, (struct sockaddr *) &in, &len) == 0);
    CHECK(listen(l, 4) == 0);
    char addr[NN_SOCKADDR_MAX];
    snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d", ntohs(in.sin_port));

    int s = sock(NN_PUSH);
    set_int(s, NN_SNDBUF, 8 * 1024 * 1024); /* everything fits in our queue */
    set_int(s, NN_LINGER, 30000);
    CHECK(nn_connect(s, addr) >= 0);
    struct pollfd lp = {.fd = l, .events = POLLIN};
    CHECK(poll(&lp, 1, 10000) == 1);
    int fd = accept(l, NULL, NULL);
    CHECK(fd >= 0);
    const uint8_t pull_hdr[8] = {0, 'S', 'P', 0, 0, NN_PULL & 0xff, 0, 0};
    uint8_t hdr[8];
    CHECK(write(fd, pull_hdr, 8) == 8);
    CHECK(raw_read(fd, hdr, 8) && hdr[1] == 'S' && hdr[5] == (NN_PUSH & 0xff));

    uint8_t *m = pattern(size, 9);
    for (int i = 0; i < count; i++) {
        memcpy(m, &i, sizeof(i));
        CHECK(nn_send(s, m, size, 0) == (int) size);
    }
    struct closer c = {.s = s};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, closer_main, &c) == 0);

    uint8_t *got = malloc(size);
    int ok = 0;
    for (int i = 0; i < count; i++) {
        uint8_t pfx[8];
        memcpy(m, &i, sizeof(i));
        if (!raw_read(fd, pfx, 8) || get_be64(pfx) != size || !raw_read(fd, got, size) ||
            memcmp(got, m, size) != 0)
            break;
        ok++;
    }
    CHECK(ok == count);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char b;
    CHECK(poll(&pfd, 1, 10000) == 1 && read(fd, &b, 1) == 0); /* our FIN */
    pfd.events = 0;
    CHECK(poll(&pfd, 1, 0) == 0);  /* no reset */
    CHECK(!atomic_load(&c.done));  /* nn_close still waits for us */
    close(fd);
    CHECK(WAIT_FOR(atomic_load(&c.done), 10)); /* long before the linger */
    pthread_join(th, NULL);
    free(got);
    free(m);
    close(l);
}

static void test_linger(void)
{
    linger_until_peer_closes(8, 1000);
    linger_until_peer_closes(16, 256 * 1024);
}

/* Resolving a name never blocks nn_connect or nn_close, however slow the
   resolver (".invalid" may take the full resolver timeout). */
static void test_resolver_off_thread(void)
{
    int s = sock(NN_PAIR);
    double t0 = tu_now();
    CHECK(nn_connect(s, "tcp://name-that-does-not-exist.invalid:5555") >= 0);
    CHECK(nn_connect(s, "tcp://another-missing-name.invalid:5556") >= 0);
    CHECK(nn_close(s) == 0);
    CHECK(tu_now() - t0 < 2.0);

    /* localhost resolves (through the resolver thread) and connects. */
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    char addr[NN_SOCKADDR_MAX], name[NN_SOCKADDR_MAX];
    CHECK(bind_tcp(a, "127.0.0.1", addr) >= 0);
    snprintf(name, sizeof(name), "tcp://localhost:%s", strrchr(addr, ':') + 1);
    CHECK(nn_connect(b, name) >= 0);
    CHECK(nn_send(b, "named", 5, 0) == 5);
    CHECK(recv_is(a, "named"));
    nn_close(b);
    nn_close(a);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_addr_errors();
    test_options();
    exchange_sizes("127.0.0.1", "tcp://127.0.0.1:%d", 1);
    exchange_sizes("*", "tcp://localhost:%d", 1);
    exchange_sizes("lo", "tcp://127.0.0.1;127.0.0.1:%d", 1);
    exchange_sizes("127.0.0.1", "tcp://*;127.0.0.1:%d", 1);
    if (have_ipv6()) {
        exchange_sizes("[::1]", "tcp://[::1]:%d", 0);
        exchange_sizes("*", "tcp://[::1];[::1]:%d", 0); /* dual-stack listener */
        exchange_sizes("*", "tcp://127.0.0.1:%d", 0);
    } else {
        printf("no IPv6 loopback: IPv6 cases skipped\n");
    }
    test_linger();
    test_resolver_off_thread();
    nn_term();
    TEST_DONE();
}
