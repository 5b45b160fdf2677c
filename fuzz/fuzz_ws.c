/* fuzz_ws.c: the ws:// transport: the HTTP opening handshake on both
   sides and the RFC 6455 frames. Sockets of several types listen on one
   port, each on its own path, for the whole run; two more sockets (PAIR
   and REQ) keep dialing a raw listener of ours. Each input plays one
   connection with a raw OS socket, then closes it (FIN), and is done when
   femtomsg has let go of it:
     mode 0: we are the client and the input is the whole request, as it is;
     mode 1: we send a valid upgrade request for the chosen path, then the
             input as raw bytes (frames as the fuzzer makes them);
     mode 2: the same, but the input is a list of frame descriptions that
             we encode (masked or not, minimal or padded lengths, or a
             length that lies), so that fragmentation, control frames and
             close codes are reached without guessing masks;
     mode 3: we are the server for a dialing socket: the input is the whole
             answer to its request (raw), or (flag) a valid 101 for its key
             followed by frames as in mode 1 or 2.
   Every CHECK_EVERY inputs a well-formed femtomsg peer must still
   exchange a message with the socket used (for the dialing sockets, a
   femtomsg listener takes our raw listener's place meanwhile).

   Input: byte 0: bits 0-1 the mode, bit 2 which dialing socket (mode 3),
   bit 3 valid 101 then frames (mode 3), bit 4 structured frames (mode 3);
   byte 1: which listening socket (modes 0-2); the rest as the mode says.
   A frame description: <b0 as on the wire: FIN, RSV, opcode> <flags: bit 0
   mask, bits 1-2 length form (minimal, 16-bit, 64-bit, lie by the next
   byte), bit 3 payload length counts 256-byte units> <length byte>
   [<lie byte>] [<4 key bytes when masked>] <payload, taken from the input
   and padded with 'x' when it runs short>. */
#include "fuzz_util.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>

#include <nanomsg/bus.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>
#include <nanomsg/ws.h>

#define CHECK_EVERY 256
#define WAIT_S 10.0

/* ------------------------------------------------ SHA-1 and base64 (ours) */

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1(const uint8_t *data, size_t len, uint8_t out[20])
{
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t total = ((len + 8) / 64 + 1) * 64;
    uint8_t *m = calloc(total, 1);
    if (!m)
        abort();
    memcpy(m, data, len);
    m[len] = 0x80;
    uint64_t bits = (uint64_t) len * 8;
    for (int i = 0; i < 8; i++)
        m[total - 1 - i] = (uint8_t) (bits >> (8 * i));
    for (size_t off = 0; off < total; off += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t) m[off + 4 * i] << 24 | (uint32_t) m[off + 4 * i + 1] << 16 |
                   (uint32_t) m[off + 4 * i + 2] << 8 | m[off + 4 * i + 3];
        for (int i = 16; i < 80; i++)
            w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20)
                f = (b & c) | (~b & d), k = 0x5A827999;
            else if (i < 40)
                f = b ^ c ^ d, k = 0x6ED9EBA1;
            else if (i < 60)
                f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
            else
                f = b ^ c ^ d, k = 0xCA62C1D6;
            uint32_t t = rol(a, 5) + f + e + k + w[i];
            e = d;
            d = c;
            c = rol(b, 30);
            b = a;
            a = t;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
    }
    free(m);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t) (h[i] >> (24 - 8 * j));
}

static void base64(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t) in[i] << 16 | (i + 1 < n ? (uint32_t) in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

static void accept_for(const char *key, size_t klen, char out[29])
{
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", (int) klen, key);
    uint8_t d[20];
    sha1((const uint8_t *) buf, (size_t) n, d);
    base64(d, 20, out);
}

/* ----------------------------------------------------------- the sockets */

struct lsock {
    int type, domain, peer;
    const char *path, *name; /* name: the subprotocol the server speaks */
    int rcvmax;
    int text;
    int s;
};

static struct lsock lsocks[] = {
    {NN_PAIR, AF_SP, NN_PAIR, "/pair", "pair", 0, 0, -1},
    {NN_REP, AF_SP, NN_REQ, "/rep", "rep", 0, 0, -1},
    {NN_PULL, AF_SP, NN_PUSH, "/pull", "pull", 0, 0, -1},
    {NN_SUB, AF_SP, NN_PUB, "/sub", "sub", 0, 0, -1},
    {NN_RESPONDENT, AF_SP, NN_SURVEYOR, "/resp", "respondent", 0, 0, -1},
    {NN_REP, AF_SP_RAW, NN_REQ, "/rawrep", "rep", 0, 0, -1},
    {NN_BUS, AF_SP, NN_BUS, "/bus", "bus", 0, 0, -1},
    {NN_PAIR, AF_SP, NN_PAIR, "/text", "pair", 0, 1, -1},
    {NN_PULL, AF_SP, NN_PUSH, "/small", "pull", 100, 0, -1},
};
#define NLS (sizeof(lsocks) / sizeof(lsocks[0]))

/* The dialing sockets and the raw listeners they dial. */
struct dsock {
    int type, peer;
    int s;
    int port;
    int lfd;
    char addr[64];
};
static struct dsock dsocks[] = {{NN_PAIR, NN_PAIR, -1, 0, -1, ""}, {NN_REQ, NN_REP, -1, 0, -1, ""}};

static int lport;
static char lhost[64]; /* "127.0.0.1:port" */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t conns(int s) { return (int64_t) nn_get_statistic(s, NN_STAT_CURRENT_CONNECTIONS); }

static void drain(void)
{
    for (size_t i = 0; i < NLS; i++) {
        void *m;
        for (int n = 0; n < 10000 && nn_recv(lsocks[i].s, &m, NN_MSG, NN_DONTWAIT) >= 0; n++)
            nn_freemsg(m);
    }
    for (size_t i = 0; i < 2; i++) {
        void *m;
        for (int n = 0; n < 10000 && nn_recv(dsocks[i].s, &m, NN_MSG, NN_DONTWAIT) >= 0; n++)
            nn_freemsg(m);
    }
}

static void wait_idle(int s, const char *what)
{
    double end = fz_now() + WAIT_S;
    while (conns(s) != 0) {
        drain();
        if (fz_now() > end)
            fz_die("fuzz_ws: socket %d still has %lld connection(s) %g s after %s", s,
                   (long long) conns(s), WAIT_S, what);
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
}

static int raw_listen(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *) &in, sizeof(in)) != 0 || listen(fd, 16) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fz_isolate("fuzz_ws");
    int base = 20000 + (int) ((unsigned) getpid() % 20000u);
    for (size_t i = 0; i < NLS; i++) {
        struct lsock *l = &lsocks[i];
        l->s = nn_socket(l->domain, l->type);
        if (l->s < 0)
            fz_die("nn_socket: %s", nn_strerror(errno));
        fz_set_int(l->s, NN_SOL_SOCKET, NN_LINGER, 0);
        if (l->rcvmax)
            fz_set_int(l->s, NN_SOL_SOCKET, NN_RCVMAXSIZE, l->rcvmax);
        if (l->text)
            fz_set_int(l->s, NN_WS, NN_WS_MSG_TYPE, NN_WS_MSG_TYPE_TEXT);
        if (l->type == NN_SUB)
            nn_setsockopt(l->s, NN_SUB, NN_SUB_SUBSCRIBE, "", 0);
        char addr[128];
        for (int tries = 0;; tries++) {
            if (!lport)
                lport = base++;
            snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d%s", lport, l->path);
            if (nn_bind(l->s, addr) >= 0)
                break;
            if (i > 0 || tries > 1000)
                fz_die("nn_bind %s: %s", addr, nn_strerror(errno));
            lport = 0;
        }
    }
    snprintf(lhost, sizeof(lhost), "127.0.0.1:%d", lport);
    for (size_t i = 0; i < 2; i++) {
        struct dsock *d = &dsocks[i];
        while ((d->lfd = raw_listen(base)) < 0)
            base++;
        d->port = base++;
        d->s = nn_socket(AF_SP, d->type);
        fz_set_int(d->s, NN_SOL_SOCKET, NN_LINGER, 0);
        fz_set_int(d->s, NN_SOL_SOCKET, NN_RECONNECT_IVL, 1);
        fz_set_int(d->s, NN_SOL_SOCKET, NN_RECONNECT_IVL_MAX, 0);
        if (d->type == NN_REQ)
            fz_set_int(d->s, NN_REQ, NN_REQ_RESEND_IVL, 100);
        snprintf(d->addr, sizeof(d->addr), "ws://127.0.0.1:%d/dial", d->port);
        if (nn_connect(d->s, d->addr) < 0)
            fz_die("nn_connect %s: %s", d->addr, nn_strerror(errno));
    }
    return 0;
}

/* --------------------------------------------------------------- raw I/O */

static bool write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += w;
        n -= (size_t) w;
    }
    return true;
}

/* Read an HTTP head (up to the empty line) within ms; its length or 0. */
static size_t read_head(int fd, char *buf, size_t cap, int ms)
{
    size_t got = 0;
    double end = fz_now() + ms / 1000.0;
    while (got + 1 < cap) {
        int left = (int) ((end - fz_now()) * 1000);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            return 0;
        ssize_t r = recv(fd, buf + got, 1, MSG_DONTWAIT); /* no further than the head */
        if (r <= 0)
            return 0;
        got++;
        buf[got] = '\0';
        if (got >= 4 && memcmp(buf + got - 4, "\r\n\r\n", 4) == 0)
            return got;
    }
    return 0;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc;
    while ((rc = connect(fd, (struct sockaddr *) &in, sizeof(in))) != 0 && errno == EINTR) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        poll(&pfd, 1, 10000);
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        rc = err ? -1 : 0;
        break;
    }
    if (rc != 0)
        fz_die("connect to port %d: %s", port, strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* Half-close, read what comes until femtomsg closes its side. */
static void finish(int fd, const char *what)
{
    shutdown(fd, SHUT_WR);
    double end = fz_now() + WAIT_S;
    uint8_t sink[4096];
    for (;;) {
        drain();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 1) > 0) {
            ssize_t r = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
                break;
        }
        if (fz_now() > end)
            fz_die("fuzz_ws: %s: femtomsg kept the connection open %g s after our FIN", what,
                   WAIT_S);
    }
    close(fd);
}

/* Encode frame descriptions (see the top) into out; returns the length. */
static size_t encode_frames(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    size_t o = 0, i = 0;
    while (i + 3 <= n && o + 14 + 70000 < cap) {
        uint8_t b0 = in[i++], fl = in[i++];
        size_t plen = in[i++];
        if (fl & 8)
            plen *= 256;
        uint8_t lie = 0;
        if (((fl >> 1) & 3) == 3)
            lie = i < n ? in[i++] : 0;
        uint8_t key[4] = {0, 0, 0, 0};
        bool masked = fl & 1;
        if (masked)
            for (int k = 0; k < 4; k++)
                key[k] = i < n ? in[i++] : 0;
        uint64_t declared = plen;
        int form = (fl >> 1) & 3;
        if (form == 3)
            declared = plen + lie - 128; /* may be shorter or longer than the truth */
        out[o++] = b0;
        uint8_t mbit = masked ? 0x80 : 0;
        if (form == 2 || (form != 1 && declared > 65535)) {
            out[o++] = mbit | 127;
            for (int k = 7; k >= 0; k--)
                out[o++] = (uint8_t) (declared >> (8 * k));
        } else if (form == 1 || declared > 125) {
            out[o++] = mbit | 126;
            out[o++] = (uint8_t) (declared >> 8);
            out[o++] = (uint8_t) declared;
        } else {
            out[o++] = mbit | (uint8_t) declared;
        }
        if (masked)
            for (int k = 0; k < 4; k++)
                out[o++] = key[k];
        for (size_t k = 0; k < plen; k++) {
            uint8_t c = i < n ? in[i++] : 'x';
            out[o++] = masked ? c ^ key[k % 4] : c;
        }
    }
    return o;
}

static bool send_frames(int fd, const uint8_t *p, size_t n, bool structured)
{
    if (!structured)
        return write_all(fd, p, n);
    size_t cap = n * 300 + 80000;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return false;
    size_t len = encode_frames(p, n, buf, cap);
    bool ok = write_all(fd, buf, len);
    free(buf);
    return ok;
}

/* ----------------------------------------------------------- health checks */

static bool recv_token(int s, const char *tok, int ms)
{
    fz_set_int(s, NN_SOL_SOCKET, NN_RCVTIMEO, ms);
    char buf[64];
    for (;;) {
        int n = nn_recv(s, buf, sizeof(buf), 0);
        if (n < 0)
            return false;
        if ((size_t) n == strlen(tok) && memcmp(buf, tok, (size_t) n) == 0)
            return true;
    }
}

static bool push_until(int from, int to, const char *base)
{
    char tok[48];
    double end = fz_now() + WAIT_S;
    for (unsigned a = 0; fz_now() < end; a++) {
        snprintf(tok, sizeof(tok), "%s-%u", base, a);
        nn_send(from, tok, strlen(tok), NN_DONTWAIT);
        if (recv_token(to, tok, 20))
            return true;
    }
    return false;
}

/* A message both ways (or the one way the pair of types allows) between a
   server socket srv and a client socket cli of its peer type. */
static bool exchange(int srv, int srv_type, bool srv_raw, int cli, unsigned round)
{
    char base[32], rep[32];
    snprintf(base, sizeof(base), "health-%u", round);
    snprintf(rep, sizeof(rep), "reply-%u", round);
    int ms = (int) (WAIT_S * 1000);
    switch (srv_type) {
    case NN_PAIR:
        return push_until(cli, srv, base) && push_until(srv, cli, rep);
    case NN_BUS:
        return push_until(cli, srv, base) && push_until(srv, cli, rep);
    case NN_PULL:
    case NN_SUB:
        return push_until(cli, srv, base);
    case NN_REP:
        if (nn_send(cli, base, strlen(base), 0) < 0)
            return false;
        if (srv_raw) {
            char body[64];
            union {
                struct nn_cmsghdr align;
                uint8_t b[NN_CMSG_SPACE(sizeof(size_t) + 1024)];
            } ctl;
            struct nn_iovec iov = {body, sizeof(body)};
            struct nn_msghdr h = {&iov, 1, &ctl, sizeof(ctl)};
            fz_set_int(srv, NN_SOL_SOCKET, NN_RCVTIMEO, ms);
            int n;
            while ((n = nn_recvmsg(srv, &h, 0)) >= 0 &&
                   !(n == (int) strlen(base) && memcmp(body, base, (size_t) n) == 0))
                h.msg_controllen = sizeof(ctl);
            if (n < 0)
                return false;
            iov.iov_base = rep;
            iov.iov_len = strlen(rep);
            return nn_sendmsg(srv, &h, 0) >= 0 && recv_token(cli, rep, ms);
        }
        return recv_token(srv, base, ms) && nn_send(srv, rep, strlen(rep), 0) >= 0 &&
               recv_token(cli, rep, ms);
    case NN_RESPONDENT: {
        char tok[48];
        fz_set_int(cli, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, ms);
        double end = fz_now() + WAIT_S;
        for (unsigned a = 0; fz_now() < end; a++) {
            snprintf(tok, sizeof(tok), "%s-%u", base, a);
            nn_send(cli, tok, strlen(tok), 0);
            if (recv_token(srv, tok, 20))
                return nn_send(srv, rep, strlen(rep), 0) >= 0 && recv_token(cli, rep, ms);
        }
        return false;
    }
    }
    return false;
}

static void check_listener(struct lsock *l, unsigned round)
{
    drain();
    int p = nn_socket(AF_SP, l->peer);
    fz_set_int(p, NN_SOL_SOCKET, NN_LINGER, 0);
    fz_set_int(p, NN_SOL_SOCKET, NN_SNDTIMEO, (int) (WAIT_S * 1000));
    if (l->peer == NN_SUB)
        nn_setsockopt(p, NN_SUB, NN_SUB_SUBSCRIBE, "", 0);
    char addr[128];
    snprintf(addr, sizeof(addr), "ws://%s%s", lhost, l->path);
    if (nn_connect(p, addr) < 0)
        fz_die("nn_connect %s: %s", addr, nn_strerror(errno));
    if (!exchange(l->s, l->type, l->domain == AF_SP_RAW, p, round))
        fz_die("fuzz_ws: a well-formed peer could not exchange a message with the socket on %s "
               "after %u inputs: %s",
               l->path, round, nn_strerror(errno));
    nn_close(p);
    wait_idle(l->s, "the health check");
}

static void check_dialer(struct dsock *d, unsigned round)
{
    drain();
    close(d->lfd);
    wait_idle(d->s, "closing our listener");
    int srv = nn_socket(AF_SP, d->peer);
    fz_set_int(srv, NN_SOL_SOCKET, NN_LINGER, 0);
    fz_set_int(srv, NN_SOL_SOCKET, NN_SNDTIMEO, (int) (WAIT_S * 1000));
    if (nn_bind(srv, d->addr) < 0)
        fz_die("nn_bind %s: %s", d->addr, nn_strerror(errno));
    if (!exchange(srv, d->peer, false, d->s, round))
        fz_die("fuzz_ws: the dialing %s socket could not exchange a message with a well-formed "
               "listener after %u inputs: %s",
               d->type == NN_REQ ? "REQ" : "PAIR", round, nn_strerror(errno));
    nn_close(srv);
    wait_idle(d->s, "the health check");
    double end = fz_now() + WAIT_S;
    while ((d->lfd = raw_listen(d->port)) < 0)
        if (fz_now() > end)
            fz_die("cannot listen on port %d again: %s", d->port, strerror(errno));
}

/* --------------------------------------------------------------- inputs */

static void as_client(struct lsock *l, int mode, const uint8_t *p, size_t n)
{
    int fd = connect_to(lport);
    bool alive = true;
    if (mode == 0) {
        alive = write_all(fd, p, n);
    } else {
        char req[512];
        int len = snprintf(req, sizeof(req),
                           "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n"
                           "Sec-WebSocket-Protocol: %s.sp.nanomsg.org\r\n\r\n",
                           l->path, lhost, l->name);
        char head[8192];
        alive = write_all(fd, (const uint8_t *) req, (size_t) len) &&
                read_head(fd, head, sizeof(head), 3000) > 0;
        if (alive && strncmp(head, "HTTP/1.1 101", 12) != 0)
            fz_die("fuzz_ws: a valid upgrade request for %s was refused: %.60s", l->path, head);
        if (alive)
            send_frames(fd, p, n, mode == 2);
    }
    finish(fd, l->path);
    wait_idle(l->s, "the input");
}

static void as_server(struct dsock *d, bool valid, bool structured, const uint8_t *p, size_t n)
{
    struct pollfd pfd = {.fd = d->lfd, .events = POLLIN};
    int fd = -1;
    double end = fz_now() + WAIT_S;
    while (fd < 0) {
        drain();
        if (poll(&pfd, 1, 10) > 0)
            fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0 && fz_now() > end)
            fz_die("fuzz_ws: the dialing socket did not dial again within %g s", WAIT_S);
    }
    char head[8192];
    size_t hl = read_head(fd, head, sizeof(head), 3000);
    if (!hl)
        fz_die("fuzz_ws: no complete upgrade request from the dialing socket");
    if (valid) {
        const char *k = strcasestr(head, "\r\nSec-WebSocket-Key:");
        const char *proto = strcasestr(head, "\r\nSec-WebSocket-Protocol:");
        if (!k || !proto)
            fz_die("fuzz_ws: the request lacks a key or a subprotocol: %s", head);
        k += 20;
        while (*k == ' ')
            k++;
        size_t kl = strcspn(k, "\r\n ");
        proto += 25;
        while (*proto == ' ')
            proto++;
        size_t pl = strcspn(proto, "\r\n ");
        char acc[29], resp[512];
        accept_for(k, kl, acc);
        int len = snprintf(resp, sizeof(resp),
                           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                           "Sec-WebSocket-Protocol: %.*s\r\n\r\n",
                           acc, (int) pl, proto);
        if (write_all(fd, (const uint8_t *) resp, (size_t) len))
            send_frames(fd, p, n, structured);
    } else {
        write_all(fd, p, n);
    }
    finish(fd, "the dialing socket");
    wait_idle(d->s, "the input");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned inputs;
    if (size < 2)
        return 0;
    int mode = data[0] & 3;
    struct lsock *l = &lsocks[data[1] % NLS];
    struct dsock *d = &dsocks[(data[0] >> 2) & 1];
    bool check = inputs++ % CHECK_EVERY == 0;
    if (mode < 3) {
        if (check)
            check_listener(l, inputs);
        as_client(l, mode, data + 2, size - 2);
    } else {
        if (check)
            check_dialer(d, inputs);
        as_server(d, data[0] & 8, data[0] & 16, data + 2, size - 2);
    }
    drain();
    return 0;
}
