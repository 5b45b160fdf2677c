/* test_ws_hostile.c: the ws:// transport against a raw TCP peer written
   here. As a client to femtomsg servers: the exact bytes of the 101
   answer and of frames both ways, ping and pong, fragments around control
   frames, the close handshake from either side; every framing breach
   (unmasked, reserved bits, reserved opcodes, long or fragmented control
   frames, continuation out of place, 64-bit lengths with the top bit,
   lengths over NN_RCVMAXSIZE before any payload, bad UTF-8 in text and in
   close reasons, bad close codes) answered by its close code and the end
   of the connection; every kind of bad upgrade request answered by its
   HTTP status; silence, half a request and a trickle cut off by the
   handshake deadline; a crowd of handshakes. As a server to a femtomsg
   client: the request it sends, masked frames with the SP header in
   front, a pong for a ping that comes in the same write as the 101, its
   refusal of bad answers (status, accept, subprotocol, no answer at all)
   and of masked server frames, the close handshake from either side.
   Each time only that connection is
   lost: a well-behaved femtomsg peer on the same socket keeps working,
   and memory does not grow. */
#include "testutil.h"
#include "rawsock.h"

#include "../src/transports/ws_codec.c" /* SHA-1 and base64, for the raw server */

#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/ws.h>

#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define FM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FM_ASAN 1
#endif
#endif

#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* ------------------------------------------------------------ helpers */

static int port_next;

static int next_port(void)
{
    if (!port_next)
        port_next = 20000 + (int) ((unsigned) getpid() * 67u % 12000u);
    int p = port_next++;
    if (port_next >= 32000)
        port_next = 20000;
    return p;
}

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

static int64_t stat_of(int s, int which) { return (int64_t) nn_get_statistic(s, which); }

static int sock(int type)
{
    int s = nn_socket(AF_SP, type);
    CHECK(s >= 0);
    set_int(s, NN_RCVTIMEO, 10000);
    set_int(s, NN_SNDTIMEO, 10000);
    set_int(s, NN_RECONNECT_IVL, 20);
    return s;
}

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
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

/* A hostile peer may be cut off before it said everything. */
static void raw_str(int fd, const char *s) { raw_send(fd, s, strlen(s)); }

/* The connection ends (EOF or reset) within seconds; bytes before that are
   discarded. */
static bool raw_eof(int fd, double seconds)
{
    double end = tu_now() + seconds;
    char buf[4096];
    for (;;) {
        int left = (int) ((end - tu_now()) * 1000);
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return true;
    }
}

/* An HTTP head (up to the empty line) into buf, NUL-terminated. */
static bool read_head(int fd, char *buf, size_t cap, double seconds)
{
    size_t n = 0;
    while (n + 1 < cap) {
        if (!raw_read(fd, buf + n, 1, seconds))
            return false;
        n++;
        buf[n] = '\0';
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
            return true;
    }
    return false;
}

static const uint8_t KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

/* One frame, masked with KEY when masked. b0 is FIN/RSV/opcode as is. */
static void send_frame(int fd, uint8_t b0, const void *pl, uint64_t n, bool masked)
{
    uint8_t h[14];
    size_t hl = 0;
    h[hl++] = b0;
    uint8_t m = masked ? 0x80 : 0;
    if (n <= 125) {
        h[hl++] = (uint8_t) (m | n);
    } else if (n <= 65535) {
        h[hl++] = m | 126;
        h[hl++] = (uint8_t) (n >> 8);
        h[hl++] = (uint8_t) n;
    } else {
        h[hl++] = m | 127;
        for (int i = 7; i >= 0; i--)
            h[hl++] = (uint8_t) (n >> (8 * i));
    }
    if (masked) {
        memcpy(h + hl, KEY, 4);
        hl += 4;
    }
    raw_send(fd, h, hl);
    if (!pl)
        return;
    uint8_t *b = malloc(n ? n : 1);
    for (uint64_t i = 0; i < n; i++)
        b[i] = ((const uint8_t *) pl)[i] ^ (masked ? KEY[i & 3] : 0);
    raw_send(fd, b, n);
    free(b);
}

struct frame {
    uint8_t b0;
    bool masked;
    size_t len;
    uint8_t data[256];
};

/* One frame from the peer (payload unmasked, up to 256 bytes kept). */
static bool read_frame(int fd, struct frame *f, double seconds)
{
    uint8_t h[2];
    if (!raw_read(fd, h, 2, seconds))
        return false;
    f->b0 = h[0];
    f->masked = h[1] & 0x80;
    uint64_t n = h[1] & 0x7f;
    if (n == 126 || n == 127) {
        uint8_t x[8];
        size_t k = n == 126 ? 2 : 8;
        if (!raw_read(fd, x, k, seconds))
            return false;
        n = 0;
        for (size_t i = 0; i < k; i++)
            n = n << 8 | x[i];
    }
    uint8_t key[4] = {0};
    if (f->masked && !raw_read(fd, key, 4, seconds))
        return false;
    f->len = (size_t) n;
    for (size_t i = 0; i < n; i++) {
        uint8_t c;
        if (!raw_read(fd, &c, 1, seconds))
            return false;
        if (i < sizeof(f->data))
            f->data[i] = c ^ key[i & 3];
    }
    return true;
}

/* The peer fails the connection with a close frame carrying code, then
   the connection ends. */
static bool expect_close(int fd, int code)
{
    struct frame f;
    while (read_frame(fd, &f, 10)) {
        if ((f.b0 & 0x0f) != WS_OP_CLOSE)
            continue;
        int got = f.len >= 2 ? f.data[0] << 8 | f.data[1] : -1;
        if (got != code) {
            fprintf(stderr, "close code %d, want %d\n", got, code);
            return false;
        }
        return raw_eof(fd, 10);
    }
    fprintf(stderr, "no close frame (want %d)\n", code);
    return false;
}

static int bind_ws(int s, const char *path, int *port)
{
    char addr[NN_SOCKADDR_MAX];
    for (int i = 0; i < 500; i++) {
        *port = next_port();
        snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d%s", *port, path);
        int eid = nn_bind(s, addr);
        if (eid >= 0 || errno != EADDRINUSE)
            return eid;
    }
    return -1;
}

static void request(char *out, size_t cap, const char *path, const char *proto, const char *extra)
{
    snprintf(out, cap,
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Protocol: %s\r\n%s\r\n",
             path, proto, extra ? extra : "");
}

/* Connect and upgrade; -1 when refused. */
static int raw_upgrade(int port, const char *path, const char *proto)
{
    int fd = raw_connect(port);
    if (fd < 0)
        return -1;
    char req[1024], resp[2048];
    request(req, sizeof(req), path, proto, NULL);
    raw_str(fd, req);
    if (!read_head(fd, resp, sizeof(resp), 10) || strncmp(resp, "HTTP/1.1 101 ", 13) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A PULL server with a well-behaved femtomsg PUSH on the same path. */
struct bench {
    int pull, push, port;
};

static void bench_open(struct bench *b, int rcvmax)
{
    b->pull = sock(NN_PULL);
    b->push = sock(NN_PUSH);
    set_int(b->pull, NN_RCVMAXSIZE, rcvmax);
    CHECK(bind_ws(b->pull, "/h", &b->port) >= 0);
    char addr[NN_SOCKADDR_MAX];
    snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d/h", b->port);
    CHECK(nn_connect(b->push, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(b->pull, NN_STAT_CURRENT_CONNECTIONS) >= 1, 10));
    /* Both ends: the server counts its side before the client has read
       the 101. */
    CHECK(WAIT_FOR(stat_of(b->push, NN_STAT_ESTABLISHED_CONNECTIONS) >= 1, 10));
}

static bool still_works(struct bench *b)
{
    uint64_t est = stat_of(b->push, NN_STAT_ESTABLISHED_CONNECTIONS);
    if (est != 1) { /* its one connection was never cut */
        fprintf(stderr, "still_works: push established %llu, broken %llu, pull accepted %llu\n",
                (unsigned long long) est,
                (unsigned long long) stat_of(b->push, NN_STAT_BROKEN_CONNECTIONS),
                (unsigned long long) stat_of(b->pull, NN_STAT_ACCEPTED_CONNECTIONS));
        return false;
    }
    if (nn_send(b->push, "alive", 5, 0) != 5) {
        fprintf(stderr, "still_works: send: %s\n", nn_strerror(nn_errno()));
        return false;
    }
    char buf[16];
    int n = nn_recv(b->pull, buf, sizeof(buf), 0);
    if (n != 5 || memcmp(buf, "alive", 5) != 0) {
        fprintf(stderr, "still_works: recv %d: %s\n", n, nn_strerror(nn_errno()));
        return false;
    }
    return true;
}

static void bench_close(struct bench *b)
{
    nn_close(b->push);
    nn_close(b->pull);
}

/* ------------------------------------------ femtomsg as the server */

static void test_good_exchange(void)
{
    int rep = sock(NN_REP), port;
    CHECK(bind_ws(rep, "/svc", &port) >= 0);
    int fd = raw_connect(port);
    CHECK(fd >= 0);
    char req[1024], resp[2048];
    request(req, sizeof(req), "/svc", "rep.sp.nanomsg.org", NULL);
    raw_str(fd, req);
    CHECK(read_head(fd, resp, sizeof(resp), 10));
    CHECK(strncmp(resp, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0);
    CHECK(strstr(resp, "\r\nSec-WebSocket-Accept: " RFC_ACCEPT "\r\n") != NULL);
    CHECK(strstr(resp, "\r\nSec-WebSocket-Protocol: rep.sp.nanomsg.org\r\n") != NULL);
    CHECK(strstr(resp, "\r\nUpgrade: websocket\r\n") != NULL);
    CHECK(strstr(resp, "\r\nConnection: Upgrade\r\n") != NULL);

    /* A request: the id with its top bit set, then the body. */
    send_frame(fd, 0x82, "\x80\x00\x00\x01hi", 6, true);
    char buf[64];
    CHECK(nn_recv(rep, buf, sizeof(buf), 0) == 2 && memcmp(buf, "hi", 2) == 0);
    CHECK(nn_send(rep, "yo", 2, 0) == 2);
    uint8_t reply[8];
    CHECK(raw_read(fd, reply, 8, 10));
    CHECK(memcmp(reply, "\x82\x06\x80\x00\x00\x01yo", 8) == 0); /* unmasked, FIN, binary */

    /* Ping is answered with the same payload; a pong nobody asked for is
       ignored. */
    send_frame(fd, 0x89, "abc", 3, true);
    uint8_t pong[5];
    CHECK(raw_read(fd, pong, 5, 10));
    CHECK(memcmp(pong, "\x8a\x03" "abc", 5) == 0);
    send_frame(fd, 0x8a, "zz", 2, true);
    send_frame(fd, 0x89, NULL, 0, true);
    CHECK(raw_read(fd, pong, 2, 10) && memcmp(pong, "\x8a\x00", 2) == 0);

    /* Fragments with a ping between them: one message. */
    send_frame(fd, 0x02, "\x80\x00\x00\x02he", 6, true);
    send_frame(fd, 0x89, "p", 1, true);
    send_frame(fd, 0x00, "ll", 2, true);
    send_frame(fd, 0x80, "o", 1, true);
    CHECK(raw_read(fd, pong, 3, 10) && memcmp(pong, "\x8a\x01p", 3) == 0);
    CHECK(nn_recv(rep, buf, sizeof(buf), 0) == 5 && memcmp(buf, "hello", 5) == 0);
    CHECK(nn_send(rep, "", 0, 0) == 0);
    CHECK(raw_read(fd, reply, 6, 10) && memcmp(reply, "\x82\x04\x80\x00\x00\x02", 6) == 0);
    /* In a text frame, the request id (top bit set) is not UTF-8. */
    send_frame(fd, 0x81, "\x80\x00\x00\x03text", 8, true);
    CHECK(expect_close(fd, 1007));
    close(fd);

    fd = raw_upgrade(port, "/svc", "rep.sp.nanomsg.org");
    CHECK(fd >= 0);

    /* Close from the client: echoed with its code, then the end. */
    send_frame(fd, 0x88, "\x03\xe8", 2, true);
    CHECK(expect_close(fd, 1000));
    close(fd);
    CHECK(WAIT_FOR(stat_of(rep, NN_STAT_CURRENT_CONNECTIONS) == 0, 10));

    /* A 3000 close with a reason, echoed. */
    fd = raw_upgrade(port, "/svc", "rep.sp.nanomsg.org");
    CHECK(fd >= 0);
    send_frame(fd, 0x88, "\x0b\xb8" "bye now", 9, true);
    CHECK(expect_close(fd, 3000));
    close(fd);

    /* Close from the socket: a close frame (1000) and the end. */
    fd = raw_upgrade(port, "/svc", "rep.sp.nanomsg.org");
    CHECK(fd >= 0);
    CHECK(WAIT_FOR(stat_of(rep, NN_STAT_CURRENT_CONNECTIONS) == 1, 10));
    nn_close(rep);
    CHECK(expect_close(fd, 1000));
    close(fd);
}

/* A socket closed the moment its 101 is read (the connection may not be
   attached yet) still says goodbye: a close frame (1000), then the end. */
static void test_close_at_upgrade(void)
{
    for (int i = 0; i < 50; i++) {
        int rep = sock(NN_REP), port;
        /* (nn_close waits out the linger for our close, which comes after.) */
        set_int(rep, NN_LINGER, 20);
        CHECK(bind_ws(rep, "/svc", &port) >= 0);
        int fd = raw_upgrade(port, "/svc", "rep.sp.nanomsg.org");
        CHECK(fd >= 0);
        nn_close(rep);
        bool ok = expect_close(fd, 1000);
        CHECK(ok);
        close(fd);
        if (!ok)
            break;
    }
}

struct breach {
    const char *what;
    int code;
    void (*send)(int fd);
};

static void b_unmasked(int fd) { send_frame(fd, 0x82, "x", 1, false); }
static void b_rsv1(int fd) { send_frame(fd, 0xc2, "x", 1, true); }
static void b_rsv2(int fd) { send_frame(fd, 0xa2, "x", 1, true); }
static void b_rsv3(int fd) { send_frame(fd, 0x92, "x", 1, true); }
static void b_op3(int fd) { send_frame(fd, 0x83, "x", 1, true); }
static void b_op7(int fd) { send_frame(fd, 0x87, "x", 1, true); }
static void b_opb(int fd) { send_frame(fd, 0x8b, "x", 1, true); }
static void b_opf(int fd) { send_frame(fd, 0x8f, NULL, 0, true); }
static void b_long_ping(int fd)
{
    uint8_t p[126] = {0};
    send_frame(fd, 0x89, p, sizeof(p), true);
}
static void b_frag_ping(int fd) { send_frame(fd, 0x09, "x", 1, true); }
static void b_cont_first(int fd) { send_frame(fd, 0x80, "x", 1, true); }
static void b_new_mid_msg(int fd)
{
    send_frame(fd, 0x02, "x", 1, true);
    send_frame(fd, 0x82, "y", 1, true);
}
static void b_len_top_bit(int fd)
{
    uint8_t h[14] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    raw_send(fd, h, sizeof(h));
}
static void b_len_huge(int fd) { send_frame(fd, 0x82, NULL, (uint64_t) 1 << 40, true); }
static void b_len_over(int fd) { send_frame(fd, 0x82, NULL, 64 * 1024 + 1, true); }
static void b_frags_over(int fd)
{
    uint8_t *p = calloc(1, 40000);
    send_frame(fd, 0x02, p, 40000, true);
    send_frame(fd, 0x00, p, 20000, true);
    send_frame(fd, 0x80, NULL, 10000, true); /* the header alone is too much */
    free(p);
}
static void b_bad_text(int fd) { send_frame(fd, 0x81, "ok\xc0\x80", 4, true); }
static void b_bad_text_frag(int fd)
{
    send_frame(fd, 0x01, "ok\xe6\x97", 4, true); /* a character cut: fine so far */
    send_frame(fd, 0x80, "\xa5!\xff", 3, true);  /* completed, then a bad byte */
}
static void b_surrogate(int fd) { send_frame(fd, 0x81, "\xed\xa0\x80", 3, true); }
static void b_close_1byte(int fd) { send_frame(fd, 0x88, "\x03", 1, true); }
static void b_close_999(int fd) { send_frame(fd, 0x88, "\x03\xe7", 2, true); }
static void b_close_1005(int fd) { send_frame(fd, 0x88, "\x03\xed", 2, true); }
static void b_close_5000(int fd) { send_frame(fd, 0x88, "\x13\x88", 2, true); }
static void b_close_reason(int fd) { send_frame(fd, 0x88, "\x03\xe8\xff", 3, true); }

static const struct breach breaches[] = {
    {"unmasked client frame", 1002, b_unmasked},
    {"RSV1", 1002, b_rsv1},
    {"RSV2", 1002, b_rsv2},
    {"RSV3", 1002, b_rsv3},
    {"opcode 3", 1002, b_op3},
    {"opcode 7", 1002, b_op7},
    {"opcode 0xB", 1002, b_opb},
    {"opcode 0xF", 1002, b_opf},
    {"ping of 126 bytes", 1002, b_long_ping},
    {"fragmented ping", 1002, b_frag_ping},
    {"continuation first", 1002, b_cont_first},
    {"new message inside one", 1002, b_new_mid_msg},
    {"64-bit length, top bit", 1002, b_len_top_bit},
    {"length 2^40", 1009, b_len_huge},
    {"length over NN_RCVMAXSIZE", 1009, b_len_over},
    {"fragments over NN_RCVMAXSIZE", 1009, b_frags_over},
    {"text not UTF-8", 1007, b_bad_text},
    {"fragmented text not UTF-8", 1007, b_bad_text_frag},
    {"text with a surrogate", 1007, b_surrogate},
    {"close of one byte", 1002, b_close_1byte},
    {"close code 999", 1002, b_close_999},
    {"close code 1005", 1002, b_close_1005},
    {"close code 5000", 1002, b_close_5000},
    {"close reason not UTF-8", 1007, b_close_reason},
};

static void test_breaches(void)
{
    struct bench b;
    bench_open(&b, 64 * 1024);
    /* First what is fine: text (no SP header on PUSH/PULL), also with a
       character split between fragments, and an empty message. */
    int fd = raw_upgrade(b.port, "/h", "pull.sp.nanomsg.org");
    CHECK(fd >= 0);
    send_frame(fd, 0x81, "t\xc3\xa9xt", 5, true);
    send_frame(fd, 0x01, "\xf0\x9d", 2, true);
    send_frame(fd, 0x00, "\x84", 1, true);
    send_frame(fd, 0x80, "\x9e!", 2, true);
    send_frame(fd, 0x82, NULL, 0, true);
    char buf[16];
    CHECK(nn_recv(b.pull, buf, sizeof(buf), 0) == 5 && memcmp(buf, "t\xc3\xa9xt", 5) == 0);
    CHECK(nn_recv(b.pull, buf, sizeof(buf), 0) == 5 && memcmp(buf, "\xf0\x9d\x84\x9e!", 5) == 0);
    CHECK(nn_recv(b.pull, buf, sizeof(buf), 0) == 0);
    send_frame(fd, 0x88, NULL, 0, true); /* a close without a code */
    struct frame f;
    CHECK(read_frame(fd, &f, 10) && f.b0 == 0x88 && f.len == 0 && !f.masked);
    CHECK(raw_eof(fd, 10));
    close(fd);
    int64_t dropped0 = stat_of(b.pull, NN_STAT_BROKEN_CONNECTIONS);
    for (size_t i = 0; i < sizeof(breaches) / sizeof(breaches[0]); i++) {
        fd = raw_upgrade(b.port, "/h", "pull.sp.nanomsg.org");
        CHECK(fd >= 0);
        breaches[i].send(fd);
        if (!expect_close(fd, breaches[i].code)) {
            fprintf(stderr, "  ... after %s\n", breaches[i].what);
            tu_failures++;
        }
        close(fd);
        if (!still_works(&b)) {
            fprintf(stderr, "socket broken after %s\n", breaches[i].what);
            tu_failures++;
        }
    }
    /* Nothing of the breaches reached the application. */
    CHECK_ERR(nn_recv(b.pull, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);
    CHECK(WAIT_FOR(stat_of(b.pull, NN_STAT_CURRENT_CONNECTIONS) == 1, 10));
    CHECK(stat_of(b.pull, NN_STAT_BROKEN_CONNECTIONS) - dropped0 ==
          (int64_t) (sizeof(breaches) / sizeof(breaches[0])));
    bench_close(&b);
}

struct refusal {
    const char *what;
    int status;
    const char *req; /* NULL: built from path/proto/extra */
    const char *path, *proto, *extra;
};

static const struct refusal refusals[] = {
    {"garbage", 400, "GARBAGE\r\n\r\n", NULL, NULL, NULL},
    {"empty line", 400, "\r\n\r\n", NULL, NULL, NULL},
    {"POST", 405, "POST /h HTTP/1.1\r\nHost: x\r\n\r\n", NULL, NULL, NULL},
    {"HTTP/1.0", 505, "GET /h HTTP/1.0\r\n\r\n", NULL, NULL, NULL},
    {"no Upgrade", 400,
     "GET /h HTTP/1.1\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY
     "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: pull.sp.nanomsg.org\r\n\r\n",
     NULL, NULL, NULL},
    {"Upgrade: h2c", 400,
     "GET /h HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY
     "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: pull.sp.nanomsg.org\r\n\r\n",
     NULL, NULL, NULL},
    {"Connection: close", 400,
     "GET /h HTTP/1.1\r\nUpgrade: websocket\r\nConnection: close\r\nSec-WebSocket-Key: " RFC_KEY
     "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: pull.sp.nanomsg.org\r\n\r\n",
     NULL, NULL, NULL},
    {"version 8", 426,
     "GET /h HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY
     "\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Protocol: pull.sp.nanomsg.org\r\n\r\n",
     NULL, NULL, NULL},
    {"no version", 426,
     "GET /h HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY
     "\r\nSec-WebSocket-Protocol: pull.sp.nanomsg.org\r\n\r\n",
     NULL, NULL, NULL},
    {"no key", 400,
     "GET /h HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: pull.sp.nanomsg.org\r\n\r\n",
     NULL, NULL, NULL},
    {"short key", 400,
     "GET /h HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\n"
     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: pull.sp.nanomsg.org\r\n\r\n",
     NULL, NULL, NULL},
    {"two keys", 400, NULL, "/h", "pull.sp.nanomsg.org", "Sec-WebSocket-Key: " RFC_KEY "\r\n"},
    {"no subprotocol", 400,
     "GET /h HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY
     "\r\nSec-WebSocket-Version: 13\r\n\r\n",
     NULL, NULL, NULL},
    {"the client's own protocol", 400, NULL, "/h", "push.sp.nanomsg.org", NULL},
    {"another protocol", 400, NULL, "/h", "rep.sp.nanomsg.org", NULL},
    {"a made-up protocol", 400, NULL, "/h", "chat", NULL},
    {"unknown path", 404, NULL, "/nope", "pull.sp.nanomsg.org", NULL},
    {"path prefix", 404, NULL, "/h/", "pull.sp.nanomsg.org", NULL},
    {"folded header", 400, NULL, "/h", "pull.sp.nanomsg.org", "X-A: 1\r\n folded\r\n"},
    {"control byte", 400, NULL, "/h", "pull.sp.nanomsg.org", "X-A: \x01\r\n"},
};

static int status_of(const char *resp)
{
    if (strncmp(resp, "HTTP/1.1 ", 9) != 0)
        return -1;
    return atoi(resp + 9);
}

static void test_refusals(void)
{
    struct bench b;
    bench_open(&b, 1024 * 1024);
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        const struct refusal *r = &refusals[i];
        int fd = raw_connect(b.port);
        CHECK(fd >= 0);
        char req[2048], resp[2048];
        if (r->req)
            snprintf(req, sizeof(req), "%s", r->req);
        else
            request(req, sizeof(req), r->path, r->proto, r->extra);
        raw_str(fd, req);
        int st = read_head(fd, resp, sizeof(resp), 10) ? status_of(resp) : -1;
        if (st != r->status) {
            fprintf(stderr, "%s: status %d, want %d\n", r->what, st, r->status);
            tu_failures++;
        }
        if (r->status == 426)
            CHECK(strstr(resp, "\r\nSec-WebSocket-Version: 13\r\n") != NULL);
        CHECK(raw_eof(fd, 10));
        close(fd);
        CHECK(still_works(&b));
    }
    /* A head too long, and too many fields. */
    int fd = raw_connect(b.port);
    char *big = malloc(10000);
    memset(big, 'a', 10000);
    memcpy(big, "GET /", 5);
    raw_send(fd, big, 10000);
    char resp[2048];
    CHECK(read_head(fd, resp, sizeof(resp), 10) && status_of(resp) == 431);
    CHECK(raw_eof(fd, 10));
    close(fd);
    fd = raw_connect(b.port);
    size_t n = (size_t) sprintf(big, "GET /h HTTP/1.1\r\n");
    for (int i = 0; i < 80; i++)
        n += (size_t) sprintf(big + n, "X-%d: y\r\n", i);
    n += (size_t) sprintf(big + n, "\r\n");
    raw_send(fd, big, n);
    CHECK(read_head(fd, resp, sizeof(resp), 10) && status_of(resp) == 431);
    CHECK(raw_eof(fd, 10));
    close(fd);
    /* Binary junk with NUL bytes. */
    fd = raw_connect(b.port);
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t) (i * 37);
    raw_send(fd, junk, sizeof(junk));
    raw_str(fd, "\r\n\r\n");
    CHECK(read_head(fd, resp, sizeof(resp), 10) && status_of(resp) == 400);
    CHECK(raw_eof(fd, 10));
    close(fd);
    free(big);
    CHECK(still_works(&b));
    CHECK(stat_of(b.pull, NN_STAT_ACCEPTED_CONNECTIONS) == 1); /* none of those */
    bench_close(&b);
}

/* Silence, half a request, and a trickle: all cut at the deadline. */
static void test_deadline(void)
{
    struct bench b;
    bench_open(&b, 1024 * 1024);
    int quiet = raw_connect(b.port), half = raw_connect(b.port), slow = raw_connect(b.port);
    CHECK(quiet >= 0 && half >= 0 && slow >= 0);
    raw_str(half, "GET /h HTTP/1.1\r\nHost: x\r\n");
    double t0 = tu_now();
    char req[1024];
    request(req, sizeof(req), "/h", "pull.sp.nanomsg.org", NULL);
    size_t sent = 0;
    bool slow_cut = false;
    /* One byte every 100 ms would need minutes: the deadline comes
       first. */
    while (!slow_cut && tu_now() - t0 < 20) {
        if (sent < strlen(req))
            raw_send(slow, req + sent++, 1);
        struct pollfd p = {.fd = slow, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            char c;
            ssize_t r = recv(slow, &c, 1, 0);
            slow_cut = r <= 0;
        }
    }
    CHECK(slow_cut);
    CHECK(raw_eof(quiet, 10));
    CHECK(raw_eof(half, 10));
    double took = tu_now() - t0;
    CHECK(took > 1.0 && took < 15); /* about the 3 s handshake deadline */
    close(quiet);
    close(half);
    close(slow);
    CHECK(still_works(&b));
    bench_close(&b);
}

/* A wss:// client at a ws:// address: its TLS ClientHello (a handshake
   record, first byte 0x16) is refused at once and counted as an accept
   error; before, it was held for the handshake deadline and counted
   nowhere. */
static void test_tls_hello(void)
{
    struct bench b;
    bench_open(&b, 1024 * 1024);
    int64_t before = stat_of(b.pull, NN_STAT_ACCEPT_ERRORS);
    int fd = raw_connect(b.port);
    CHECK(fd >= 0);
    static const uint8_t hello[] = {0x16, 0x03, 0x01, 0x00, 0x2f, 0x01, 0x00, 0x00, 0x2b, 0x03, 0x03};
    raw_send(fd, hello, sizeof(hello));
    CHECK(WAIT_FOR(stat_of(b.pull, NN_STAT_ACCEPT_ERRORS) == before + 1, 10));
    CHECK(raw_eof(fd, 10));
    close(fd);
    CHECK(stat_of(b.pull, NN_STAT_ACCEPTED_CONNECTIONS) == 1); /* the bench's own */
    CHECK(still_works(&b));
    bench_close(&b);
}

/* Many connections that never finish their handshake, and many that do
   and then break the rules: the good peer keeps its connection and memory
   stays where it was. */
static void test_crowd(void)
{
    struct bench b;
    bench_open(&b, 64 * 1024);
    CHECK(still_works(&b));
#ifndef FM_ASAN
    struct mallinfo2 before = mallinfo2();
#endif
    enum { N = 300 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = raw_connect(b.port);
        CHECK(fds[i] >= 0);
        raw_str(fds[i], "GET /h HTTP/1.1\r\n");
    }
    CHECK(still_works(&b));
    for (int i = 0; i < N; i++)
        close(fds[i]);
    for (int round = 0; round < 200; round++) {
        /* The crowd may still fill the handshake slots for a moment. */
        int fd = -1;
        CHECK(WAIT_FOR((fd = raw_upgrade(b.port, "/h", "pull.sp.nanomsg.org")) >= 0, 10));
        if (round % 2)
            b_len_huge(fd);
        else
            b_frags_over(fd);
        CHECK(expect_close(fd, 1009));
        close(fd);
    }
    CHECK(WAIT_FOR(stat_of(b.pull, NN_STAT_CURRENT_CONNECTIONS) == 1, 10));
    CHECK(still_works(&b));
#ifndef FM_ASAN
    struct mallinfo2 after = mallinfo2();
    CHECK(after.uordblks < before.uordblks + 1024 * 1024);
#endif
    bench_close(&b);
}

/* ------------------------------------------ femtomsg as the client */

static int raw_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    for (int i = 0; i < 500; i++) {
        *port = next_port();
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t) *port)};
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0 && listen(fd, 16) == 0)
            return fd;
    }
    close(fd);
    return -1;
}

static int raw_accept(int lfd)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, 10000) <= 0)
        return -1;
    int fd = accept(lfd, NULL, NULL);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static const char *field(const char *head, const char *name, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\r\n%s: ", name);
    const char *p = strcasestr(head, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    size_t n = strcspn(p, "\r");
    snprintf(out, cap, "%.*s", (int) n, p);
    return out;
}

/* Accept one upgrade request from the femtomsg client and check it; the
   accept value it wants goes to accept. */
static int serve_request(int lfd, const char *path, const char *proto, char *accept)
{
    int fd = raw_accept(lfd);
    CHECK(fd >= 0);
    char head[2048], v[256];
    CHECK(read_head(fd, head, sizeof(head), 10));
    char line[256];
    snprintf(line, sizeof(line), "GET %s HTTP/1.1\r\n", path);
    CHECK(strncmp(head, line, strlen(line)) == 0);
    CHECK(field(head, "Host", v, sizeof(v)) && strncmp(v, "127.0.0.1:", 10) == 0);
    CHECK(field(head, "Upgrade", v, sizeof(v)) && strcasecmp(v, "websocket") == 0);
    CHECK(field(head, "Connection", v, sizeof(v)) && strcasecmp(v, "Upgrade") == 0);
    CHECK(field(head, "Sec-WebSocket-Version", v, sizeof(v)) && strcmp(v, "13") == 0);
    CHECK(field(head, "Sec-WebSocket-Protocol", v, sizeof(v)) && strcmp(v, proto) == 0);
    CHECK(field(head, "Sec-WebSocket-Key", v, sizeof(v)) && ws_key_ok(v, strlen(v)));
    ws_accept_for(v, strlen(v), accept);
    return fd;
}

static void answer(int fd, const char *accept, const char *proto)
{
    char resp[512];
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
             accept, proto);
    raw_str(fd, resp);
}

static void test_client(void)
{
    int port, lfd = raw_listen(&port);
    CHECK(lfd >= 0);
    int req = sock(NN_REQ);
    char addr[NN_SOCKADDR_MAX], accept[WS_ACCEPT_LEN + 1];
    snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d/api/v1?k=v", port);
    CHECK(nn_connect(req, addr) >= 0);

    /* Bad answers: each refused, and the client dials again. */
    static const char *bad[] = {
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n"
        "Sec-WebSocket-Protocol: rep.sp.nanomsg.org\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: %s\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: pair.sp.nanomsg.org\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: rep.sp.nanomsg.org\r\n\r\n",
        "NOT HTTP AT ALL\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int fd = serve_request(lfd, "/api/v1?k=v", "rep.sp.nanomsg.org", accept);
        char resp[512];
        snprintf(resp, sizeof(resp), bad[i], accept);
        raw_str(fd, resp);
        CHECK(raw_eof(fd, 10));
        close(fd);
    }
    /* Established at TCP connect (as stock counts it), each was taken,
       then botched: broken connections, not connect errors (those mean
       nobody took the connection). */
    CHECK(stat_of(req, NN_STAT_ESTABLISHED_CONNECTIONS) >= (int64_t) (sizeof(bad) / sizeof(bad[0])));
    CHECK(WAIT_FOR(stat_of(req, NN_STAT_BROKEN_CONNECTIONS) >=
                       (int64_t) (sizeof(bad) / sizeof(bad[0])),
                   10));
    CHECK(stat_of(req, NN_STAT_CONNECT_ERRORS) == 0);
    /* A server that never answers: the client gives up at the deadline,
       a broken connection too. */
    const int64_t botched = (int64_t) (sizeof(bad) / sizeof(bad[0])) + 1;
    int fd = serve_request(lfd, "/api/v1?k=v", "rep.sp.nanomsg.org", accept);
    CHECK(raw_eof(fd, 10));
    close(fd);
    CHECK(WAIT_FOR(stat_of(req, NN_STAT_BROKEN_CONNECTIONS) == botched, 10));

    /* A good answer, with a frame right behind it in the same write. */
    fd = serve_request(lfd, "/api/v1?k=v", "rep.sp.nanomsg.org", accept);
    char resp[512];
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: rep.sp.nanomsg.org\r\n\r\n"
             "\x89\x02hi",
             accept);
    raw_str(fd, resp);
    CHECK(nn_send(req, "question", 8, 0) == 8);
    struct frame f;
    /* The pong comes masked; so does the request, with its id first. */
    bool pong = false, got_req = false;
    uint8_t id[4] = {0};
    while ((!pong || !got_req) && read_frame(fd, &f, 10)) {
        CHECK(f.masked);
        if (f.b0 == 0x8a) {
            pong = f.len == 2 && memcmp(f.data, "hi", 2) == 0;
        } else if (f.b0 == 0x82) {
            got_req = f.len == 12 && (f.data[0] & 0x80) && memcmp(f.data + 4, "question", 8) == 0;
            memcpy(id, f.data, 4);
        }
    }
    CHECK(pong && got_req);
    uint8_t rep[8];
    memcpy(rep, id, 4);
    memcpy(rep + 4, "answ", 4);
    send_frame(fd, 0x82, rep, 8, false);
    char buf[16];
    CHECK(nn_recv(req, buf, sizeof(buf), 0) == 4 && memcmp(buf, "answ", 4) == 0);
    CHECK(stat_of(req, NN_STAT_ESTABLISHED_CONNECTIONS) >= botched + 1);
    CHECK(stat_of(req, NN_STAT_CURRENT_EP_ERRORS) == 0);

    /* A masked frame from the server breaks the rules: 1002, and the
       client dials again. */
    send_frame(fd, 0x82, rep, 8, true);
    CHECK(expect_close(fd, 1002));
    close(fd);
    CHECK(WAIT_FOR(stat_of(req, NN_STAT_BROKEN_CONNECTIONS) == botched + 1, 10));

    /* The server's close is echoed (masked), then the client goes. */
    fd = serve_request(lfd, "/api/v1?k=v", "rep.sp.nanomsg.org", accept);
    answer(fd, accept, "rep.sp.nanomsg.org");
    send_frame(fd, 0x88, "\x03\xe9", 2, false); /* right behind the 101 */
    bool echoed = false;
    while (read_frame(fd, &f, 10))
        if (f.b0 == 0x88) {
            echoed = f.masked && f.len == 2 && f.data[0] == 0x03 && f.data[1] == 0xe9;
            break;
        }
    CHECK(echoed);
    CHECK(raw_eof(fd, 10));
    close(fd);

    /* And the client's own close at nn_close: a masked 1000. */
    fd = serve_request(lfd, "/api/v1?k=v", "rep.sp.nanomsg.org", accept);
    answer(fd, accept, "rep.sp.nanomsg.org");
    /* The 101 taken: the socket has its pipe again, and its request comes. */
    CHECK(nn_send(req, "again", 5, NN_DONTWAIT) == 5);
    bool asked = false;
    while (!asked && read_frame(fd, &f, 10))
        asked = f.b0 == 0x82;
    CHECK(asked);
    nn_close(req);
    echoed = false;
    while (read_frame(fd, &f, 10))
        if (f.b0 == 0x88) {
            echoed = f.masked && f.len == 2 && f.data[0] == 0x03 && f.data[1] == 0xe8;
            break;
        }
    CHECK(echoed);
    close(fd);
    close(lfd);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_good_exchange();
    test_close_at_upgrade();
    test_breaches();
    test_refusals();
    test_deadline();
    test_tls_hello();
    test_crowd();
    test_client();
    TEST_DONE();
}
