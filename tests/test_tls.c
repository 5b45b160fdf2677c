/* test_tls.c: what only the tls+tcp:// transport has, between femtomsg
   sockets (test_schemes_tls runs what every transport shares: sizes,
   bursts, every protocol, reconnection, backpressure, limits, linger). A
   test PKI is made at start with the openssl command line
   (tests/tls_certs.sh) in a temporary directory. Covers: the options
   (setters check what they are given, getters), options fixed when an
   endpoint is made, certificate and name checks, mutual authentication,
   plain TCP peers on either side, a peer stalling in the handshake, a peer
   going with or without its TLS goodbye, statistics of refusals; and what
   wss:// does differently (test_schemes_wss has the rest): refusals in
   its shared listener's TLS handshake, its deadline, the certificate of a
   listener shared by endpoints. Without the transport compiled in, only
   EPROTONOSUPPORT is checked. */
#include "testutil.h"

#include <nanomsg/bus.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>
#include <nanomsg/tcp.h>
#include <nanomsg/tls.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef FM_HAVE_TLS
static char dir[256];

static const char *path(const char *name)
{
    static char buf[8][512];
    static int i;
    char *p = buf[i++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static int port_next;

static int next_port(void)
{
    if (!port_next)
        port_next = 20000 + (int) ((unsigned) getpid() * 71u % 12000u);
    int p = port_next++;
    if (port_next >= 32000)
        port_next = 20000;
    return p;
}

/* nn_bind to <scheme>://127.0.0.1:<a free port>; the port used is returned. */
static int bind_port(int s, const char *scheme)
{
    char addr[NN_SOCKADDR_MAX];
    for (int i = 0; i < 500; i++) {
        int port = next_port();
        snprintf(addr, sizeof(addr), "%s://127.0.0.1:%d", scheme, port);
        int eid = nn_bind(s, addr);
        if (eid >= 0)
            return port;
        if (errno != EADDRINUSE) {
            CHECK(eid >= 0);
            return -1;
        }
    }
    return -1;
}

static int sock(int type)
{
    int s = nn_socket(AF_SP, type);
    CHECK(s >= 0);
    int tmo = 10000;
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo)) == 0);
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &tmo, sizeof(tmo)) == 0);
    int max = -1; /* 5 MiB messages */
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max)) == 0);
    int ivl = 50;
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, &ivl, sizeof(ivl)) == 0);
    return s;
}

static int set_str(int s, int opt, const char *v)
{
    return nn_setsockopt(s, NN_TLS, opt, v, strlen(v));
}

static void set_auth(int s, int mode)
{
    CHECK(nn_setsockopt(s, NN_TLS, NN_TLS_AUTH_MODE, &mode, sizeof(mode)) == 0);
}

/* A TLS listener on 127.0.0.1 with the given certificate; returns the port. */
static int server(int s, const char *certkey)
{
    CHECK(set_str(s, NN_TLS_CERT_KEY_FILE, path(certkey)) == 0);
    return bind_port(s, "tls+tcp");
}

static void client(int s, const char *host, int port)
{
    char addr[NN_SOCKADDR_MAX];
    snprintf(addr, sizeof(addr), "tls+tcp://%s:%d", host, port);
    CHECK(nn_connect(s, addr) >= 0);
}

static uint64_t stat_of(int s, int which) { return nn_get_statistic(s, which); }

static void send_str(int s, const char *m) { CHECK(nn_send(s, m, strlen(m), 0) == (int) strlen(m)); }

static void recv_str_at(int line, int s, const char *m)
{
    char buf[256];
    int n = nn_recv(s, buf, sizeof(buf), 0);
    if (n != (int) strlen(m) || memcmp(buf, m, (size_t) n) != 0) {
        fprintf(stderr, "line %d: expected \"%s\", got %d (%s)\n", line, m, n, nn_strerror(errno));
        tu_failures++;
    }
}
#define recv_str(s, m) recv_str_at(__LINE__, s, m)

/* ------------------------------------------------------------ options */

static void test_options(void)
{
    int s = sock(NN_PAIR);
    char buf[8192];
    size_t len = sizeof(buf);

    /* Nothing set: empty strings, the default mode. */
    CHECK(nn_getsockopt(s, NN_TLS, NN_TLS_CA_FILE, buf, &len) == 0 && len == 1 && !buf[0]);
    int mode = 7;
    len = sizeof(mode);
    CHECK(nn_getsockopt(s, NN_TLS, NN_TLS_AUTH_MODE, &mode, &len) == 0 &&
          mode == NN_TLS_AUTH_DEFAULT);

    /* Checked when set. */
    CHECK_ERR(set_str(s, NN_TLS_CERT_KEY_FILE, path("no-such-file.pem")), EINVAL);
    CHECK_ERR(set_str(s, NN_TLS_CA_FILE, path("no-such-file.pem")), EINVAL);
    CHECK_ERR(set_str(s, NN_TLS_CERT_KEY_PEM, "-----BEGIN CERTIFICATE-----\ngarbage\n"), EINVAL);
    CHECK_ERR(set_str(s, NN_TLS_CA_PEM, "not a pem at all"), EINVAL);
    /* A certificate without its key is no cert-key. */
    CHECK_ERR(set_str(s, NN_TLS_CERT_KEY_FILE, path("server.crt")), EINVAL);
    /* A key that is not the certificate's. */
    {
        char pem[16384] = "";
        FILE *f = fopen(path("server.crt"), "r");
        size_t n = fread(pem, 1, sizeof(pem) / 2, f);
        fclose(f);
        f = fopen(path("client.key"), "r");
        n += fread(pem + n, 1, sizeof(pem) / 2 - 1, f);
        fclose(f);
        pem[n] = '\0';
        CHECK_ERR(set_str(s, NN_TLS_CERT_KEY_PEM, pem), EINVAL);
    }
    mode = 3;
    CHECK_ERR(nn_setsockopt(s, NN_TLS, NN_TLS_AUTH_MODE, &mode, sizeof(mode)), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_TLS, NN_TLS_AUTH_MODE, &mode, 1), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_TLS, 99, "x", 1), ENOPROTOOPT);
    CHECK_ERR(nn_getsockopt(s, NN_TLS, 99, buf, &len), ENOPROTOOPT);
    /* A listener needs a certificate. */
    CHECK_ERR(nn_bind(s, "tls+tcp://127.0.0.1:5999"), EINVAL);

    /* Good values read back. */
    CHECK(set_str(s, NN_TLS_CERT_KEY_FILE, path("server.pem")) == 0);
    CHECK(set_str(s, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    CHECK(set_str(s, NN_TLS_SERVER_NAME, "localhost") == 0);
    set_auth(s, NN_TLS_AUTH_REQUIRED);
    len = sizeof(buf);
    CHECK(nn_getsockopt(s, NN_TLS, NN_TLS_CERT_KEY_FILE, buf, &len) == 0 &&
          strcmp(buf, path("server.pem")) == 0 && len == strlen(buf) + 1);
    len = sizeof(buf);
    CHECK(nn_getsockopt(s, NN_TLS, NN_TLS_CA_FILE, buf, &len) == 0 && strcmp(buf, path("ca.pem")) == 0);
    len = sizeof(buf);
    CHECK(nn_getsockopt(s, NN_TLS, NN_TLS_CA_PEM, buf, &len) == 0 &&
          strncmp(buf, "-----BEGIN CERTIFICATE-----", 27) == 0);
    len = sizeof(buf);
    CHECK(nn_getsockopt(s, NN_TLS, NN_TLS_CERT_KEY_PEM, buf, &len) == 0 &&
          strstr(buf, "PRIVATE KEY") != NULL);
    len = sizeof(buf);
    CHECK(nn_getsockopt(s, NN_TLS, NN_TLS_SERVER_NAME, buf, &len) == 0 && strcmp(buf, "localhost") == 0);
    len = 4; /* truncated, the length says what it takes */
    CHECK(nn_getsockopt(s, NN_TLS, NN_TLS_SERVER_NAME, buf, &len) == 0 && len == 10);
    len = sizeof(mode);
    CHECK(nn_getsockopt(s, NN_TLS, NN_TLS_AUTH_MODE, &mode, &len) == 0 &&
          mode == NN_TLS_AUTH_REQUIRED);
    /* A failed set leaves the value as it was. */
    CHECK_ERR(set_str(s, NN_TLS_CA_FILE, path("nope")), EINVAL);
    len = sizeof(buf);
    CHECK(nn_getsockopt(s, NN_TLS, NN_TLS_CA_FILE, buf, &len) == 0 && strcmp(buf, path("ca.pem")) == 0);
    /* PEM from memory replaces the file (whose name goes). */
    char pem[8192];
    len = sizeof(pem);
    CHECK(nn_getsockopt(s, NN_TLS, NN_TLS_CA_PEM, pem, &len) == 0);
    CHECK(nn_setsockopt(s, NN_TLS, NN_TLS_CA_PEM, pem, len) == 0); /* with its NUL */
    len = sizeof(buf);
    CHECK(nn_getsockopt(s, NN_TLS, NN_TLS_CA_FILE, buf, &len) == 0 && len == 1);
    /* Empty clears. */
    CHECK(set_str(s, NN_TLS_SERVER_NAME, "") == 0);
    len = sizeof(buf);
    CHECK(nn_getsockopt(s, NN_TLS, NN_TLS_SERVER_NAME, buf, &len) == 0 && len == 1);
    /* Address syntax is tcp's. */
    CHECK_ERR(nn_connect(s, "tls+tcp://127.0.0.1"), EINVAL);
    CHECK_ERR(nn_connect(s, "tls+tcp://127.0.0.1:0"), EINVAL);
    CHECK_ERR(nn_connect(s, "tls+tcp://bad_host!:5555"), EINVAL);
    CHECK_ERR(nn_bind(s, "tls+tcp://no-such-iface0:5555"), ENODEV);
    nn_close(s);
}

/* An endpoint keeps the options it was made with. */
static void test_snapshot(void)
{
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    int port = server(a, "server.pem");
    CHECK(set_str(b, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    client(b, "127.0.0.1", port);
    CHECK(set_str(b, NN_TLS_CA_FILE, path("evilca.pem")) == 0); /* too late to matter */
    CHECK(set_str(a, NN_TLS_CERT_KEY_FILE, path("evil.pem")) == 0);
    send_str(b, "snap");
    recv_str(a, "snap");
    nn_close(a);
    nn_close(b);
}

/* --------------------------------------------------------- protocols */

/* ------------------------------------------------------- rejections */

/* The client never gets a connection: both sides count the failures. */
static void expect_refused(int srv, int cli)
{
    CHECK(WAIT_FOR(stat_of(cli, NN_STAT_BROKEN_CONNECTIONS) >= 2, 10));
    CHECK(WAIT_FOR(stat_of(srv, NN_STAT_BROKEN_CONNECTIONS) >= 2, 10));
    CHECK_ERR(nn_send(cli, "x", 1, NN_DONTWAIT), EAGAIN);
    CHECK(WAIT_FOR(stat_of(cli, NN_STAT_CURRENT_EP_ERRORS) == 1, 10));
}

static void test_untrusted(void)
{
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    int port = server(a, "evil.pem");
    CHECK(set_str(b, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    client(b, "localhost", port);
    expect_refused(a, b);
    nn_close(a);
    nn_close(b);

    /* The system store does not know our test CA either. */
    a = sock(NN_PAIR), b = sock(NN_PAIR);
    port = server(a, "server.pem");
    client(b, "localhost", port);
    expect_refused(a, b);
    /* With checks off it goes through. */
    nn_close(b);
    b = sock(NN_PAIR);
    set_auth(b, NN_TLS_AUTH_NONE);
    client(b, "localhost", port);
    send_str(b, "unchecked");
    recv_str(a, "unchecked");
    nn_close(a);
    nn_close(b);
}

static void test_wrong_name(void)
{
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    int port = server(a, "server.pem");
    CHECK(set_str(b, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    CHECK(set_str(b, NN_TLS_SERVER_NAME, "other.example") == 0);
    client(b, "127.0.0.1", port);
    expect_refused(a, b);
    nn_close(b);
    /* The right name overrides the address. */
    b = sock(NN_PAIR);
    CHECK(set_str(b, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    CHECK(set_str(b, NN_TLS_SERVER_NAME, "localhost") == 0);
    client(b, "127.0.0.1", port);
    send_str(b, "named");
    recv_str(a, "named");
    nn_close(a);
    nn_close(b);
}

static void test_plain_peers(void)
{
    /* A plain tcp client on a TLS port. */
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    int port = server(a, "server.pem");
    char addr[NN_SOCKADDR_MAX];
    snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d", port);
    CHECK(nn_connect(b, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(a, NN_STAT_BROKEN_CONNECTIONS) >= 2, 10));
    CHECK(WAIT_FOR(stat_of(b, NN_STAT_BROKEN_CONNECTIONS) >= 2, 10));
    CHECK_ERR(nn_send(b, "x", 1, NN_DONTWAIT), EAGAIN);
    nn_close(a);
    nn_close(b);

    /* A TLS client on a plain tcp port. */
    a = sock(NN_PAIR), b = sock(NN_PAIR);
    port = bind_port(a, "tcp");
    CHECK(set_str(b, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    client(b, "127.0.0.1", port);
    expect_refused(a, b);
    nn_close(a);
    nn_close(b);
}

static void test_mutual(void)
{
    int a = sock(NN_PAIR);
    CHECK(set_str(a, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    set_auth(a, NN_TLS_AUTH_REQUIRED);
    int port = server(a, "server.pem");

    int b = sock(NN_PAIR); /* no certificate */
    CHECK(set_str(b, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    client(b, "localhost", port);
    CHECK(WAIT_FOR(stat_of(a, NN_STAT_BROKEN_CONNECTIONS) >= 2, 10));
    CHECK_ERR(nn_send(b, "x", 1, NN_DONTWAIT), EAGAIN);
    nn_close(b);

    b = sock(NN_PAIR); /* a certificate from a CA the server does not trust */
    CHECK(set_str(b, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    CHECK(set_str(b, NN_TLS_CERT_KEY_FILE, path("evil.pem")) == 0);
    uint64_t dropped = stat_of(a, NN_STAT_BROKEN_CONNECTIONS);
    client(b, "localhost", port);
    CHECK(WAIT_FOR(stat_of(a, NN_STAT_BROKEN_CONNECTIONS) >= dropped + 2, 10));
    CHECK_ERR(nn_send(b, "x", 1, NN_DONTWAIT), EAGAIN);
    nn_close(b);

    b = sock(NN_PAIR); /* a good one */
    CHECK(set_str(b, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    CHECK(set_str(b, NN_TLS_CERT_KEY_FILE, path("client.pem")) == 0);
    client(b, "localhost", port);
    send_str(b, "mutual");
    recv_str(a, "mutual");
    send_str(a, "trust");
    recv_str(b, "trust");
    nn_close(b);

    /* Optional: no certificate is fine. */
    nn_close(a);
    a = sock(NN_PAIR);
    CHECK(set_str(a, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    set_auth(a, NN_TLS_AUTH_OPTIONAL);
    port = server(a, "server.pem");
    b = sock(NN_PAIR);
    CHECK(set_str(b, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    client(b, "localhost", port);
    send_str(b, "optional");
    recv_str(a, "optional");
    nn_close(a);
    nn_close(b);
}

/* A peer that connects and says nothing, or only part of a hello, is
   dropped by the handshake deadline. */
static void test_stall(void)
{
    int a = sock(NN_PAIR);
    int port = server(a, "server.pem");
    for (int partial = 0; partial < 2; partial++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        CHECK(connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0);
        if (partial) /* a TLS record header announcing a handshake that never comes */
            CHECK(write(fd, "\x16\x03\x01\x02\x00\x01", 6) == 6);
        uint64_t dropped = stat_of(a, NN_STAT_BROKEN_CONNECTIONS);
        double t0 = tu_now();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        CHECK(poll(&pfd, 1, 15000) == 1);
        char c;
        CHECK(read(fd, &c, 1) <= 0); /* closed on us */
        CHECK(tu_now() - t0 > 1.0);    /* by the deadline, not at once */
        CHECK(WAIT_FOR(stat_of(a, NN_STAT_BROKEN_CONNECTIONS) == dropped + 1, 10));
        close(fd);
    }
    /* And the listener still serves. */
    int b = sock(NN_PAIR);
    CHECK(set_str(b, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    client(b, "localhost", port);
    send_str(b, "after");
    recv_str(a, "after");
    nn_close(a);
    nn_close(b);
}

/* The peer goes away after a reply, with or without goodbye: the message
   is delivered, the pipe just ends, and the client dials again. */
static void test_close(void)
{
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    int port = server(a, "server.pem");
    CHECK(set_str(b, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    client(b, "localhost", port);
    int linger = 1000;
    CHECK(nn_setsockopt(a, NN_SOL_SOCKET, NN_LINGER, &linger, sizeof(linger)) == 0);
    send_str(b, "hi");
    recv_str(a, "hi");
    send_str(a, "last words");
    nn_close(a);
    recv_str(b, "last words");
    a = sock(NN_PAIR);
    char addr[NN_SOCKADDR_MAX];
    snprintf(addr, sizeof(addr), "tls+tcp://127.0.0.1:%d", port);
    CHECK(set_str(a, NN_TLS_CERT_KEY_FILE, path("server.pem")) == 0);
    CHECK(WAIT_FOR(nn_bind(a, addr) >= 0, 10));
    send_str(b, "again");
    recv_str(a, "again");
    nn_close(a);
    nn_close(b);
}

/* wss:// takes the NN_TLS options as tls+tcp does; what differs is its
   shared listener, which runs the TLS handshake before a request names an
   endpoint: failures there are accept errors, a peer that stalls is closed
   by the ws handshake deadline, and every endpoint on the port presents
   the first one's certificate while any of them is bound. */
static void test_wss(void)
{
    /* A listener needs a certificate; ws and wss cannot share a port. */
    int a = sock(NN_PAIR);
    CHECK_ERR(nn_bind(a, "wss://127.0.0.1:5555/x"), EINVAL);
    int port = bind_port(a, "ws");
    CHECK(set_str(a, NN_TLS_CERT_KEY_FILE, path("server.pem")) == 0);
    char addr[NN_SOCKADDR_MAX];
    snprintf(addr, sizeof(addr), "wss://127.0.0.1:%d/x", port);
    CHECK_ERR(nn_bind(a, addr), EADDRINUSE);
    nn_close(a);

    /* An untrusted certificate: the client counts a broken connection and
       an endpoint error, the listener an accept error. */
    a = sock(NN_PAIR);
    CHECK(set_str(a, NN_TLS_CERT_KEY_FILE, path("evil.pem")) == 0);
    port = bind_port(a, "wss");
    int b = sock(NN_PAIR);
    CHECK(set_str(b, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    snprintf(addr, sizeof(addr), "wss://localhost:%d/", port);
    CHECK(nn_connect(b, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(b, NN_STAT_BROKEN_CONNECTIONS) >= 2, 10));
    CHECK(WAIT_FOR(stat_of(a, NN_STAT_ACCEPT_ERRORS) >= 2, 10));
    CHECK(WAIT_FOR(stat_of(b, NN_STAT_CURRENT_EP_ERRORS) == 1, 10));
    CHECK(stat_of(a, NN_STAT_ACCEPTED_CONNECTIONS) == 0);
    CHECK_ERR(nn_send(b, "x", 1, NN_DONTWAIT), EAGAIN);
    nn_close(b);

    /* A plain ws client at the wss port: its request is no TLS hello. */
    b = sock(NN_PAIR);
    uint64_t refused = stat_of(a, NN_STAT_ACCEPT_ERRORS);
    snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d/", port);
    CHECK(nn_connect(b, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(a, NN_STAT_ACCEPT_ERRORS) >= refused + 2, 10));
    CHECK(WAIT_FOR(stat_of(b, NN_STAT_BROKEN_CONNECTIONS) >= 2, 10));
    nn_close(b);

    /* A peer that says nothing is closed by the deadline, not at once. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0);
    double t0 = tu_now();
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    CHECK(poll(&pfd, 1, 15000) == 1);
    char c;
    CHECK(read(fd, &c, 1) <= 0);
    CHECK(tu_now() - t0 > 2.0);
    close(fd);
    nn_close(a);

    /* Two endpoints on one port: the second presents the first's
       certificate, also once the first is gone. */
    a = sock(NN_PAIR);
    CHECK(set_str(a, NN_TLS_CERT_KEY_FILE, path("server.pem")) == 0);
    port = bind_port(a, "wss");
    int a2 = sock(NN_PAIR);
    CHECK(set_str(a2, NN_TLS_CERT_KEY_FILE, path("evil.pem")) == 0);
    snprintf(addr, sizeof(addr), "wss://127.0.0.1:%d/two", port);
    CHECK(nn_bind(a2, addr) >= 0);
    nn_close(a);
    b = sock(NN_PAIR);
    CHECK(set_str(b, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    CHECK(nn_connect(b, addr) >= 0);
    send_str(b, "shared");
    recv_str(a2, "shared");
    send_str(a2, "back");
    recv_str(b, "back");
    nn_close(a2);
    nn_close(b);
}

#endif /* FM_HAVE_TLS */

int main(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
#ifndef FM_HAVE_TLS
    CHECK_ERR(nn_bind(s, "tls+tcp://127.0.0.1:5555"), EPROTONOSUPPORT);
    CHECK_ERR(nn_connect(s, "tls+tcp://127.0.0.1:5555"), EPROTONOSUPPORT);
    CHECK_ERR(nn_setsockopt(s, NN_TLS, NN_TLS_SERVER_NAME, "x", 1), ENOPROTOOPT);
    nn_close(s);
    TEST_DONE();
#else
    nn_close(s);
    snprintf(dir, sizeof(dir), "/tmp/fm_tls_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", FM_TLS_CERTS_SH, dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not make the test certificates (openssl missing?)\n");
        return 1;
    }
    test_options();
    test_snapshot();
    test_untrusted();
    test_wrong_name();
    test_plain_peers();
    test_mutual();
    test_stall();
    test_close();
    test_wss();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    TEST_DONE();
#endif
}
