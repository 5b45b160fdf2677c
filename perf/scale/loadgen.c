/* loadgen.c: the load generator of the scale benchmark. It links no
   messaging library: one thread, non-blocking sockets and epoll, speaking
   the SP wire format over tcp (8-byte header exchange, 8-byte big-endian
   length prefixes), SP over WebSocket (RFC 6455 upgrade, masked binary
   frames out, unmasked frames in) or ZMTP 3.0 with the NULL mechanism (the
   ZeroMQ column), so that only the server's library is measured. It opens N
   connections to one server process, drives them, and measures the server
   from outside through /proc/<pid>: CPU time (the sum of every thread's
   /proc/<pid>/task/<tid>/schedstat, and utime+stime of /proc/<pid>/stat as
   a cross-check; the main thread's share apart), VmRSS and Threads. One JSON object on stdout is the
   result; perf/scale.py runs it.

     loadgen sub|req|idle sp|ws|zmtp <127.x.y.z:port> <connections>
             <seconds> <server-pid> <msg-size>

   sub:  N subscribers; once all are connected (and, for ZMTP, subscribed)
         it sends SIGUSR1 to the server, which then publishes; it waits until
         every subscriber has had a message, then counts deliveries over the
         window. Messages carry the publisher's sequence number, so the share
         each subscriber got is its count over the span of sequence numbers
         it saw in the window: what it lost, not how far it lags.
   req:  N requesters, each with one request in flight, the next sent as
         soon as the reply is in; round trips go into a 1-us histogram.
   idle: N connections that only complete the handshake: time until the
         server has answered all of them, its RSS and threads then, and the
         time until it has closed all after this side shut them down.

   Bounded everywhere: connections are opened at most CONNECT_WINDOW at a
   time, every phase has a deadline, a connection the server drops before
   the window is made again (at most MAX_RETRIES times, counted in
   "reconnects") and one lost in the window fails the run, the server
   dying ends the run with an error, and alarm() ends the process whatever
   happens. It talks only to
   127.0.0.0/8, spreading its source addresses over 127.0.0.1-16 so that
   10,000 connections never run out of ephemeral ports. */
#include "../common.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECT_WINDOW 64       /* handshakes in progress at once */
#define SOURCE_ADDRESSES 16     /* 127.0.0.1 .. 127.0.0.16 */
#define CARRY_MAX 2048          /* a partial frame or HTTP reply kept between reads */
#define READ_BUF (64 * 1024)
#define MAX_FRAME 65536         /* the benchmark's messages are small */
#define HIST_US 1000000         /* round trips up to 1 s at 1 us, then one overflow bucket */
#define CONNECT_DEADLINE_S 120
#define WARM_DEADLINE_S 15
#define CLOSE_DEADLINE_S 60
#define SETTLE_DEADLINE_S 3

enum mode { MODE_SUB, MODE_REQ, MODE_IDLE };
enum wire { WIRE_SP, WIRE_WS, WIRE_ZMTP };
enum state { ST_FREE, ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_SHUT, ST_DONE };

struct conn {
    int fd;
    uint8_t state;
    uint8_t retries;
    bool frag;            /* ws: inside a fragmented message */
    uint16_t carry_len;
    uint32_t req_id;
    uint8_t head[8];      /* ws: first bytes of a fragmented message */
    uint64_t count;       /* messages received */
    uint64_t count_mark;  /* count at the start of the window */
    uint64_t last_seq;
    uint64_t seq_mark;
    uint64_t sent_ns;
    uint8_t *carry;
};

static enum mode mode;
static enum wire wire;
static struct sockaddr_in server;
static int nconn;
static size_t msg_size;
static pid_t server_pid;
static struct conn *conns;
static int epfd;
static uint8_t rbuf[CARRY_MAX + READ_BUF];
static uint32_t *hist;
static bool measuring;
static int opened, handshaking, closed, failed;
/* Before the window a connection the server dropped is made again, at
   most MAX_RETRIES times each (seen once: stock nanomsg reset one of
   1,000 subscribers on the loaded machine, which failed the whole run);
   inside the window any loss fails the run. */
#define MAX_RETRIES 3
static bool setting_up = true;
static int *retry_queue, nretry, reconnects;
static bool traffic_started;
static char fail_why[256];
static uint8_t request[64 + 65536];
static size_t request_len, request_id_at;

static void lg_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void lg_fail(const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    printf("{\"error\": \"%s\"}\n", why);
    fflush(stdout);
    fprintf(stderr, "loadgen: %s\n", why);
    exit(2);
}

/* ------------------------------------------------------------ /proc */
static bool server_alive(void)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/stat", (int) server_pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return false;
    char buf[512];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *r = strrchr(buf, ')');
    return r && r[1] == ' ' && r[2] != 'Z' && r[2] != 'X';
}

/* Nanoseconds on CPU of every live thread of the server; *main gets the
   main thread's (the one that calls send and receive). */
static uint64_t server_sched_ns(uint64_t *main_ns)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/task", (int) server_pid);
    DIR *d = opendir(p);
    if (!d)
        lg_fail("server %d is gone", (int) server_pid);
    uint64_t sum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char q[320];
        snprintf(q, sizeof(q), "/proc/%d/task/%s/schedstat", (int) server_pid, e->d_name);
        FILE *f = fopen(q, "r");
        if (!f)
            continue; /* the thread just exited */
        unsigned long long ns = 0;
        if (fscanf(f, "%llu", &ns) == 1) {
            sum += ns;
            if (atoi(e->d_name) == (int) server_pid)
                *main_ns = ns;
        }
        fclose(f);
    }
    closedir(d);
    return sum;
}

/* utime+stime of the whole process (exited threads included), in ns. */
static uint64_t server_stat_ns(void)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/stat", (int) server_pid);
    FILE *f = fopen(p, "r");
    if (!f)
        lg_fail("server %d is gone", (int) server_pid);
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *r = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    /* after the name: state ppid pgrp session tty tpgid flags minflt
       cminflt majflt cmajflt utime stime */
    if (!r || sscanf(r + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        lg_fail("cannot parse %s", p);
    return (ut + st) * (1000000000ull / (uint64_t) sysconf(_SC_CLK_TCK));
}

/* A field of /proc/<pid>/status ("VmRSS" in kB, "Threads"). */
static long server_status(const char *field)
{
    char p[64], line[256];
    snprintf(p, sizeof(p), "/proc/%d/status", (int) server_pid);
    FILE *f = fopen(p, "r");
    if (!f)
        lg_fail("server %d is gone", (int) server_pid);
    size_t fl = strlen(field);
    long v = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            v = strtol(line + fl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* ------------------------------------------------------------ wire */
static void put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t) v;
}

static uint64_t get_be(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

/* SP protocol numbers: ours, and the server's that we expect. */
static int sp_ours(void) { return mode == MODE_SUB ? 33 : mode == MODE_REQ ? 48 : 80; }
static int sp_theirs(void) { return mode == MODE_SUB ? 32 : mode == MODE_REQ ? 49 : 81; }

static void conn_fail(struct conn *c, const char *why)
{
    if (c->state == ST_CONNECTING || c->state == ST_HANDSHAKE)
        handshaking--;
    else if (c->state == ST_OPEN || c->state == ST_SHUT)
        opened--;
    close(c->fd);
    if (setting_up && c->state != ST_SHUT && c->retries < MAX_RETRIES) {
        c->retries++;
        reconnects++;
        c->state = ST_FREE;
        retry_queue[nretry++] = (int) (c - conns);
        return;
    }
    if (!failed)
        snprintf(fail_why, sizeof(fail_why), "connection %d: %s", (int) (c - conns), why);
    failed++;
    c->state = ST_DONE;
}

/* Small writes on a socket that has never been near full: anything short
   of the whole is a failure, not something to queue. */
static bool send_all(struct conn *c, const void *p, size_t n)
{
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w == (ssize_t) n)
        return true;
    conn_fail(c, w < 0 ? strerror(errno) : "short write");
    return false;
}

static void send_handshake(struct conn *c)
{
    uint8_t b[512];
    size_t n = 0;
    if (wire == WIRE_SP) {
        const uint8_t h[8] = {0, 'S', 'P', 0, (uint8_t) (sp_ours() >> 8), (uint8_t) sp_ours(), 0, 0};
        memcpy(b, h, 8);
        n = 8;
    } else if (wire == WIRE_WS) {
        const char *proto = mode == MODE_SUB ? "pub" : mode == MODE_REQ ? "rep" : "pull";
        n = (size_t) snprintf((char *) b, sizeof(b),
                              "GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s.sp.nanomsg.org\r\n\r\n",
                              inet_ntoa(server.sin_addr), ntohs(server.sin_port), proto);
    } else {
        /* greeting: signature, version 3.0, NULL mechanism, as-server 0 */
        memset(b, 0, 64);
        b[0] = 0xff;
        b[9] = 0x7f;
        b[10] = 3;
        memcpy(b + 12, "NULL", 4);
        n = 64;
        const char *type = mode == MODE_SUB ? "SUB" : mode == MODE_REQ ? "REQ" : "PUSH";
        size_t tl = strlen(type);
        uint8_t *f = b + n;
        size_t body = 1 + 5 + 1 + 11 + 4 + tl;
        f[0] = 0x04; /* command, short */
        f[1] = (uint8_t) body;
        f[2] = 5;
        memcpy(f + 3, "READY", 5);
        f[8] = 11;
        memcpy(f + 9, "Socket-Type", 11);
        put_be(f + 20, tl, 4);
        memcpy(f + 24, type, tl);
        n += 2 + body;
    }
    send_all(c, b, n);
}

static void send_request(struct conn *c)
{
    if (wire != WIRE_ZMTP) {
        c->req_id = 0x80000000u | (c->req_id + 1);
        put_be(request + request_id_at, c->req_id, 4);
    }
    c->sent_ns = perf_now_ns();
    send_all(c, request, request_len);
}

/* The request every client sends: the framing for the wire, the SP request
   id (patched per send) and msg_size bytes of body. */
static void build_request(void)
{
    uint8_t *p = request;
    size_t payload = (wire == WIRE_ZMTP ? 0 : 4) + msg_size;
    if (wire == WIRE_SP) {
        put_be(p, payload, 8);
        p += 8;
    } else if (wire == WIRE_WS) {
        *p++ = 0x82; /* FIN, binary */
        if (payload < 126) {
            *p++ = (uint8_t) (0x80 | payload);
        } else {
            *p++ = 0x80 | 126;
            put_be(p, payload, 2);
            p += 2;
        }
        memset(p, 0, 4); /* a zero masking key: the payload goes as it is */
        p += 4;
    } else {
        *p++ = 0x01; /* the empty delimiter of the REQ envelope, more follows */
        *p++ = 0;
        if (msg_size < 256) {
            *p++ = 0;
            *p++ = (uint8_t) msg_size;
        } else {
            *p++ = 0x02;
            put_be(p, msg_size, 8);
            p += 8;
        }
    }
    request_id_at = (size_t) (p - request);
    if (wire != WIRE_ZMTP)
        p += 4;
    memset(p, 'R', msg_size);
    request_len = (size_t) (p - request) + msg_size;
}

static void on_open(struct conn *c)
{
    handshaking--;
    opened++;
    c->state = ST_OPEN;
    if (mode == MODE_SUB && wire == WIRE_ZMTP) {
        const uint8_t sub[3] = {0, 1, 1}; /* a one-byte message: subscribe to everything */
        send_all(c, sub, 3);
    }
    if (mode == MODE_REQ && traffic_started && c->state == ST_OPEN)
        send_request(c); /* made again after the others started */
}

static void on_message(struct conn *c, const uint8_t *p, size_t n)
{
    if (mode == MODE_SUB) {
        if (n >= 8) {
            uint64_t seq;
            memcpy(&seq, p, 8);
            c->last_seq = seq;
        }
        c->count++;
    } else if (mode == MODE_REQ) {
        if (wire != WIRE_ZMTP && (n < 4 || get_be(p, 4) != c->req_id))
            return; /* not the reply to our request */
        uint64_t now = perf_now_ns();
        if (measuring) {
            uint64_t us = (now - c->sent_ns) / 1000;
            hist[us < HIST_US ? us : HIST_US]++;
        }
        c->count++;
        send_request(c);
    }
}

/* Parses what is in [p, p+n): the handshake, then whole frames. Returns
   the bytes consumed, or -1 after failing the connection. */
static ssize_t parse(struct conn *c, const uint8_t *p, size_t n)
{
    size_t used = 0;
    while (c->state == ST_HANDSHAKE) {
        if (wire == WIRE_SP) {
            if (n < 8)
                return 0;
            if (memcmp(p, "\0SP\0", 4) != 0 || (int) get_be(p + 4, 2) != sp_theirs() || p[6] || p[7]) {
                conn_fail(c, "bad SP header");
                return -1;
            }
            used = 8;
        } else if (wire == WIRE_WS) {
            const uint8_t *end = memmem(p, n, "\r\n\r\n", 4);
            if (!end)
                return 0;
            if (n < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0) {
                conn_fail(c, "upgrade refused");
                return -1;
            }
            used = (size_t) (end - p) + 4;
        } else {
            if (n < 64 + 2)
                return 0;
            if (p[0] != 0xff || p[9] != 0x7f || p[10] < 3) {
                conn_fail(c, "bad ZMTP greeting");
                return -1;
            }
            const uint8_t *f = p + 64;
            if (!(f[0] & 0x04) || (f[0] & 0x02)) {
                conn_fail(c, "no READY command");
                return -1;
            }
            if (n < 64 + 2 + (size_t) f[1])
                return 0;
            if (f[1] < 6 || f[2] != 5 || memcmp(f + 3, "READY", 5) != 0) {
                conn_fail(c, "no READY command");
                return -1;
            }
            used = 64 + 2 + f[1];
        }
        on_open(c);
        if (c->state != ST_OPEN)
            return -1;
    }
    for (;;) {
        const uint8_t *f = p + used;
        size_t left = n - used, hdr, len;
        if (wire == WIRE_SP) {
            if (left < 8)
                break;
            len = get_be(f, 8);
            hdr = 8;
        } else if (wire == WIRE_WS) {
            if (left < 2)
                break;
            if (f[1] & 0x80) {
                conn_fail(c, "masked frame from the server");
                return -1;
            }
            len = f[1] & 0x7f;
            hdr = 2;
            if (len == 126) {
                if (left < 4)
                    break;
                len = get_be(f + 2, 2);
                hdr = 4;
            } else if (len == 127) {
                if (left < 10)
                    break;
                len = get_be(f + 2, 8);
                hdr = 10;
            }
        } else {
            if (left < 2)
                break;
            if (f[0] & 0x02) {
                if (left < 9)
                    break;
                len = get_be(f + 1, 8);
                hdr = 9;
            } else {
                len = f[1];
                hdr = 2;
            }
        }
        if (len > MAX_FRAME) {
            conn_fail(c, "frame too large");
            return -1;
        }
        if (left < hdr + len)
            break;
        const uint8_t *body = f + hdr;
        used += hdr + len;
        if (c->state != ST_OPEN)
            continue; /* shut down: only waiting for the close */
        if (wire == WIRE_SP) {
            on_message(c, body, len);
        } else if (wire == WIRE_WS) {
            int op = f[0] & 0x0f;
            if (op == 0x8) {
                conn_fail(c, "server sent close");
                return -1;
            }
            if (op == 0x9 || op == 0xa)
                continue; /* ping, pong: nothing we need to answer in a run */
            if (op != 0 && op != 1 && op != 2) {
                conn_fail(c, "unknown ws opcode");
                return -1;
            }
            bool fin = f[0] & 0x80;
            if (!c->frag && !fin) {
                memset(c->head, 0, sizeof(c->head));
                memcpy(c->head, body, len < 8 ? len : 8);
            }
            if (fin) {
                if (c->frag)
                    on_message(c, c->head, 8);
                else
                    on_message(c, body, len);
            }
            c->frag = !fin;
        } else {
            if (f[0] & 0x04)
                continue; /* a command (PING and the like) */
            if (!(f[0] & 0x01))
                on_message(c, body, len); /* the last frame of a message is the body */
        }
        if (c->state != ST_OPEN)
            return -1;
    }
    return (ssize_t) used;
}

static void on_readable(struct conn *c)
{
    memcpy(rbuf, c->carry, c->carry_len);
    ssize_t r = recv(c->fd, rbuf + c->carry_len, READ_BUF, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        if (c->state == ST_SHUT) {
            closed++;
            opened--;
            close(c->fd);
            c->state = ST_DONE;
        } else {
            conn_fail(c, r == 0 ? "closed by the server" : strerror(errno));
        }
        return;
    }
    size_t total = c->carry_len + (size_t) r;
    ssize_t used = parse(c, rbuf, total);
    if (used < 0)
        return;
    size_t left = total - (size_t) used;
    if (left > CARRY_MAX) {
        conn_fail(c, "partial frame too large");
        return;
    }
    memcpy(c->carry, rbuf + used, left);
    c->carry_len = (uint16_t) left;
}

static void on_connected(struct conn *c)
{
    int err = 0;
    socklen_t l = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) {
        conn_fail(c, strerror(err));
        return;
    }
    c->state = ST_HANDSHAKE;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    send_handshake(c);
}

static void start_connect(struct conn *c, int i)
{
    c->carry_len = 0;
    c->frag = false;
    c->count = c->last_seq = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        lg_fail("socket: %s (connection %d)", strerror(errno), i);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* Ports are then picked at connect(), unique per 4-tuple rather than
       per source address. */
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t) (i % SOURCE_ADDRESSES));
    if (bind(c->fd, (struct sockaddr *) &src, sizeof(src)) != 0)
        lg_fail("bind 127.0.0.%d: %s", 1 + i % SOURCE_ADDRESSES, strerror(errno));
    c->state = ST_CONNECTING;
    handshaking++;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        lg_fail("epoll_ctl: %s", strerror(errno));
    if (connect(c->fd, (struct sockaddr *) &server, sizeof(server)) != 0 && errno != EINPROGRESS)
        conn_fail(c, strerror(errno));
}

/* Runs the loop until done() or the deadline; false on the deadline. The
   server dying or any connection failing ends the run. */
static int next_to_connect;
static bool run_until(bool (*done)(void), uint64_t deadline_ns)
{
    struct epoll_event evs[256];
    uint64_t next_check = 0;
    for (;;) {
        while ((nretry || next_to_connect < nconn) && handshaking < CONNECT_WINDOW) {
            int i = nretry ? retry_queue[--nretry] : next_to_connect++;
            start_connect(&conns[i], i);
        }
        if (failed && mode != MODE_IDLE)
            lg_fail("%s (%d failed)", fail_why, failed);
        if (done())
            return true;
        uint64_t now = perf_now_ns();
        if (now > deadline_ns)
            return false;
        if (now > next_check) {
            if (!server_alive())
                lg_fail("server %d died", (int) server_pid);
            next_check = now + 100000000u;
        }
        int n = epoll_wait(epfd, evs, 256, 10);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->state == ST_CONNECTING)
                on_connected(c);
            else if (c->state == ST_HANDSHAKE || c->state == ST_OPEN || c->state == ST_SHUT)
                on_readable(c); /* not one closed earlier in this batch */
        }
    }
}

static bool all_open(void) { return opened + failed == nconn && next_to_connect == nconn && !nretry; }
static bool all_heard(void)
{
    if (!all_open())
        return false;
    for (int i = 0; i < nconn; i++)
        if (conns[i].state == ST_OPEN && conns[i].count == 0)
            return false;
    return true;
}
static bool never(void) { return false; }
static bool all_closed(void) { return opened == 0; }

static uint64_t deadline_in(double s) { return perf_now_ns() + (uint64_t) (s * 1e9); }

static double hist_max(void)
{
    for (int i = HIST_US; i > 0; i--)
        if (hist[i])
            return i + 0.5;
    return 0.5;
}

static double hist_pct(uint64_t total, double pct)
{
    uint64_t want = (uint64_t) (total * pct / 100.0), seen = 0;
    for (int i = 0; i <= HIST_US; i++) {
        seen += hist[i];
        if (seen > want)
            return i + 0.5;
    }
    return HIST_US;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static void raise_fd_limit(int need)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur >= (rlim_t) need)
        return;
    struct rlimit want = {(rlim_t) need, rl.rlim_max > (rlim_t) need ? rl.rlim_max : (rlim_t) need};
    if (setrlimit(RLIMIT_NOFILE, &want) != 0)
        lg_fail("need %d descriptors, the limit is %lu (run as root or raise it)", need,
                (unsigned long) rl.rlim_max);
}

/* RSS after the connections are up: wait until two readings 100 ms apart
   agree (the server may still be settling them), at most a few seconds. */
static long settled_rss(void)
{
    long prev = server_status("VmRSS");
    uint64_t until = deadline_in(SETTLE_DEADLINE_S);
    while (perf_now_ns() < until) {
        run_until(never, deadline_in(0.1));
        long now = server_status("VmRSS");
        if (now == prev)
            break;
        prev = now;
    }
    return prev;
}

int main(int argc, char *argv[])
{
    perf_usage(argc, 8, "loadgen sub|req|idle sp|ws|zmtp <127.x.y.z:port> <connections> <seconds> "
                        "<server-pid> <msg-size>");
    mode = strcmp(argv[1], "sub") == 0 ? MODE_SUB : strcmp(argv[1], "req") == 0 ? MODE_REQ
         : strcmp(argv[1], "idle") == 0 ? MODE_IDLE : (perf_die("unknown mode %s", argv[1]), 0);
    wire = strcmp(argv[2], "sp") == 0 ? WIRE_SP : strcmp(argv[2], "ws") == 0 ? WIRE_WS
         : strcmp(argv[2], "zmtp") == 0 ? WIRE_ZMTP : (perf_die("unknown wire %s", argv[2]), 0);
    char host[64];
    snprintf(host, sizeof(host), "%s", argv[3]);
    char *colon = strrchr(host, ':');
    if (!colon)
        perf_die("want 127.x.y.z:port, not %s", argv[3]);
    *colon = '\0';
    server.sin_family = AF_INET;
    server.sin_port = htons((uint16_t) perf_arg_size(colon + 1, "port"));
    if (inet_pton(AF_INET, host, &server.sin_addr) != 1 || (ntohl(server.sin_addr.s_addr) >> 24) != 127)
        perf_die("only 127.0.0.0/8 addresses: %s", host);
    nconn = (int) perf_arg_size(argv[4], "connections");
    double seconds = atof(argv[5]);
    server_pid = (pid_t) perf_arg_size(argv[6], "server pid");
    msg_size = perf_arg_size(argv[7], "message size");
    if (nconn < 1 || nconn > 20000 || seconds <= 0 || seconds > 120 || msg_size < 8 || msg_size > 60000)
        perf_die("want 1-20000 connections, 0-120 seconds, messages of 8-60000 bytes");
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the runner */
    alarm((unsigned) (CONNECT_DEADLINE_S + WARM_DEADLINE_S + seconds + CLOSE_DEADLINE_S + 30));
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(nconn + 100);
    if (!server_alive())
        lg_fail("no server %d", (int) server_pid);

    conns = calloc((size_t) nconn, sizeof(*conns));
    uint8_t *carry = malloc((size_t) nconn * CARRY_MAX);
    hist = calloc(HIST_US + 1, sizeof(*hist));
    retry_queue = calloc((size_t) nconn, sizeof(*retry_queue));
    if (!conns || !carry || !hist || !retry_queue)
        perf_die("out of memory");
    for (int i = 0; i < nconn; i++)
        conns[i].carry = carry + (size_t) i * CARRY_MAX;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    build_request();

    long rss0 = server_status("VmRSS"), threads0 = server_status("Threads");
    uint64_t t_conn = perf_now_ns();
    if (!run_until(all_open, deadline_in(CONNECT_DEADLINE_S)))
        lg_fail("only %d of %d connections up after %d s", opened, nconn, CONNECT_DEADLINE_S);
    if (failed)
        lg_fail("%s (%d failed)", fail_why, failed);
    double accept_s = (perf_now_ns() - t_conn) / 1e9;

    if (mode == MODE_IDLE) {
        setting_up = false;
        long rss1 = settled_rss(), threads1 = server_status("Threads");
        uint64_t t_close = perf_now_ns();
        for (int i = 0; i < nconn; i++) {
            shutdown(conns[i].fd, SHUT_WR);
            conns[i].state = ST_SHUT;
        }
        bool all = run_until(all_closed, deadline_in(CLOSE_DEADLINE_S));
        double close_s = (perf_now_ns() - t_close) / 1e9;
        printf("{\"connections\": %d, \"accept_s\": %.4f, \"close_s\": %.4f, \"closed\": %d, "
               "\"all_closed\": %s, \"rss_before_kb\": %ld, \"rss_kb\": %ld, \"rss_after_close_kb\": %ld, "
               "\"bytes_per_conn\": %.1f, \"threads_before\": %ld, \"threads\": %ld, \"failed\": %d, "
               "\"reconnects\": %d}\n",
               nconn, accept_s, close_s, closed, all ? "true" : "false", rss0, rss1,
               server_status("VmRSS"), (rss1 - rss0) * 1024.0 / nconn, threads0, threads1, failed, reconnects);
        return 0;
    }

    /* Start the traffic, and wait until every connection carries it. */
    uint64_t t_warm = perf_now_ns();
    traffic_started = true;
    if (mode == MODE_SUB) {
        if (kill(server_pid, SIGUSR1) != 0)
            lg_fail("kill %d: %s", (int) server_pid, strerror(errno));
    } else {
        for (int i = 0; i < nconn; i++)
            send_request(&conns[i]);
    }
    if (!run_until(all_heard, deadline_in(WARM_DEADLINE_S))) {
        int silent = 0;
        for (int i = 0; i < nconn; i++)
            silent += conns[i].count == 0;
        lg_fail("%d of %d connections heard nothing in %d s", silent, nconn, WARM_DEADLINE_S);
    }
    double warm_s = (perf_now_ns() - t_warm) / 1e9;
    run_until(never, deadline_in(seconds < 1 ? seconds / 4 : 0.25));

    /* The window. */
    setting_up = false;
    uint64_t seq0 = 0;
    for (int i = 0; i < nconn; i++) {
        conns[i].count_mark = conns[i].count;
        conns[i].seq_mark = conns[i].last_seq;
        if (conns[i].last_seq > seq0)
            seq0 = conns[i].last_seq;
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    uint64_t main0 = 0, main1 = 0;
    uint64_t sched0 = server_sched_ns(&main0), stat0 = server_stat_ns(), t0 = perf_now_ns();
    measuring = true;
    run_until(never, deadline_in(seconds));
    measuring = false;
    uint64_t t1 = perf_now_ns(), sched1 = server_sched_ns(&main1), stat1 = server_stat_ns();
    getrusage(RUSAGE_SELF, &ru1);
    double win = (t1 - t0) / 1e9;
    double lg_cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec)
                  + (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;

    uint64_t total = 0, seq1 = 0;
    double *share = malloc((size_t) nconn * sizeof(*share));
    if (!share)
        perf_die("out of memory");
    for (int i = 0; i < nconn; i++) {
        total += conns[i].count - conns[i].count_mark;
        if (conns[i].last_seq > seq1)
            seq1 = conns[i].last_seq;
    }
    /* Per connection: sub, the share it received of the messages
       published between the last one it had before the window and the
       last one it had at the end (so a subscriber that lags but loses
       nothing has 100%, one that heard nothing 0%); req, its requests over
       the mean (fairness). */
    double published = (double) (seq1 - seq0), mean = (double) total / nconn;
    for (int i = 0; i < nconn; i++) {
        double got = (double) (conns[i].count - conns[i].count_mark);
        double range = (double) (conns[i].last_seq - conns[i].seq_mark);
        share[i] = mode == MODE_SUB ? (range > 0 ? 100.0 * got / range : 0)
                                    : (mean > 0 ? 100.0 * got / mean : 0);
    }
    qsort(share, (size_t) nconn, sizeof(*share), cmp_double);
    double cpu_sched = (sched1 - sched0) / 1e9, cpu_stat = (stat1 - stat0) / 1e9;
    printf("{\"connections\": %d, \"window_s\": %.4f, \"accept_s\": %.4f, \"warm_s\": %.4f, "
           "\"messages\": %llu, \"rate\": %.1f, \"server_cpu_s\": %.4f, \"server_cpu_stat_s\": %.4f, "
           "\"server_cpu_ns_per_msg\": %.1f, \"server_cpu_main_s\": %.4f, \"loadgen_cpu_s\": %.4f, "
           "\"share_min\": %.2f, "
           "\"share_median\": %.2f, \"share_max\": %.2f, \"threads\": %ld, \"reconnects\": %d",
           nconn, win, accept_s, warm_s, (unsigned long long) total, total / win, cpu_sched, cpu_stat,
           total ? cpu_sched * 1e9 / total : 0.0, (main1 - main0) / 1e9, lg_cpu, share[0], share[nconn / 2],
           share[nconn - 1], server_status("Threads"), reconnects);
    if (mode == MODE_SUB)
        printf(", \"published\": %.0f, \"publish_rate\": %.1f", published, published / win);
    else
        printf(", \"p50_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f, \"max_us\": %.1f",
               hist_pct(total, 50), hist_pct(total, 99), hist_pct(total, 99.9), hist_max());
    printf("}\n");
    free(share);
    return 0;
}
