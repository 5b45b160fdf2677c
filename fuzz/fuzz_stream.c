/* fuzz_stream.c: the bytes a tcp:// (FZ_IPC=0) or ipc:// (FZ_IPC=1) peer
   sends: the 8-byte SP header, the length-prefixed framing (and ipc's type
   byte), and behind them the protocol headers that REQ/REP and
   SURVEYOR/RESPONDENT lift out of the payload. One socket of every type
   (and a few raw ones, and some with a small NN_RCVMAXSIZE) listens for the
   whole run; each input is written by a raw OS client to one of them, which
   then closes (FIN, or RST), and the input is done when the socket has
   accepted and dropped the connection (NN_STAT_ACCEPTED_CONNECTIONS has
   counted it and NN_STAT_CURRENT_CONNECTIONS is back to 0).
   Every CHECK_EVERY inputs, and on the first, a well-formed femtomsg peer
   connects to that socket and a message must still go through.

   Input: byte 0 picks the listening socket; byte 1 holds flags: bit 0
   sends a valid SP header of a compatible peer first, bit 1 (REQ only,
   with bit 0) has the REQ send a request first and patches its id into
   the input's first protocol header word, so the reply path is reached,
   bits 2-3 split the rest into that many more writes, bit 4 closes with
   an RST instead of a FIN. The rest goes on the wire as it is. */
#include "fuzz_util.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/un.h>

#include <nanomsg/bus.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>

#ifndef FZ_IPC
#define FZ_IPC 0
#endif
#define NAME (FZ_IPC ? "fuzz_ipc" : "fuzz_tcp")
#define CHECK_EVERY 256
#define WAIT_S 10.0

struct server {
    int type, domain, peer;
    int rcvmax; /* 0: the default */
    int s;
    char addr[128];
    struct sockaddr_storage sa;
    socklen_t salen;
};

static struct server servers[] = {
    {NN_PAIR, AF_SP, NN_PAIR, 0, -1, "", {0}, 0},
    {NN_REQ, AF_SP, NN_REP, 0, -1, "", {0}, 0},
    {NN_REP, AF_SP, NN_REQ, 0, -1, "", {0}, 0},
    {NN_PUB, AF_SP, NN_SUB, 0, -1, "", {0}, 0},
    {NN_SUB, AF_SP, NN_PUB, 0, -1, "", {0}, 0},
    {NN_PUSH, AF_SP, NN_PULL, 0, -1, "", {0}, 0},
    {NN_PULL, AF_SP, NN_PUSH, 0, -1, "", {0}, 0},
    {NN_SURVEYOR, AF_SP, NN_RESPONDENT, 0, -1, "", {0}, 0},
    {NN_RESPONDENT, AF_SP, NN_SURVEYOR, 0, -1, "", {0}, 0},
    {NN_BUS, AF_SP, NN_BUS, 0, -1, "", {0}, 0},
    {NN_REP, AF_SP_RAW, NN_REQ, 512, -1, "", {0}, 0},
    {NN_RESPONDENT, AF_SP_RAW, NN_SURVEYOR, 0, -1, "", {0}, 0},
    {NN_BUS, AF_SP_RAW, NN_BUS, 0, -1, "", {0}, 0},
    {NN_PULL, AF_SP, NN_PUSH, 100, -1, "", {0}, 0},
    {NN_PAIR, AF_SP, NN_PAIR, 4 << 20, -1, "", {0}, 0},
};
#define NSERVERS (sizeof(servers) / sizeof(servers[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t current_conns(const struct server *sv)
{
    return (int64_t) nn_get_statistic(sv->s, NN_STAT_CURRENT_CONNECTIONS);
}

static void drain(void)
{
    for (size_t i = 0; i < NSERVERS; i++) {
        void *m;
        for (int n = 0; n < 10000 && nn_recv(servers[i].s, &m, NN_MSG, NN_DONTWAIT) >= 0; n++)
            nn_freemsg(m);
    }
}

static uint64_t accepted_conns(const struct server *sv)
{
    return nn_get_statistic(sv->s, NN_STAT_ACCEPTED_CONNECTIONS);
}

/* The server has accepted at least `accepted` connections in all and let go
   of every one (draining meanwhile, so that a full inbound queue never
   holds a connection open). The count matters after an RST: the client is
   done before the server has even accepted, and an input still in the
   listen backlog would race the next one (a PAIR server then attaches the
   old connection and refuses the health check's peer). */
static void wait_idle(const struct server *sv, uint64_t accepted, const char *what)
{
    double end = fz_now() + WAIT_S;
    /* Accepted first: the library counts a connection current before it
       counts it accepted. */
    while (accepted_conns(sv) < accepted || current_conns(sv) != 0) {
        drain();
        if (fz_now() > end)
            fz_die("%s: server %d/%d still has %lld connection(s) (accepted %llu of %llu) %g s "
                   "after %s",
                   NAME, sv->type, sv->domain, (long long) current_conns(sv),
                   (unsigned long long) accepted_conns(sv), (unsigned long long) accepted,
                   WAIT_S, what);
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
}

static void listen_all(void)
{
#if !FZ_IPC
    int base = 20000 + (int) ((unsigned) getpid() % 20000u);
#endif
    for (size_t i = 0; i < NSERVERS; i++) {
        struct server *sv = &servers[i];
        sv->s = nn_socket(sv->domain, sv->type);
        if (sv->s < 0)
            fz_die("nn_socket: %s", nn_strerror(errno));
        fz_set_int(sv->s, NN_SOL_SOCKET, NN_LINGER, 0);
        if (sv->rcvmax)
            fz_set_int(sv->s, NN_SOL_SOCKET, NN_RCVMAXSIZE, sv->rcvmax);
        if (sv->type == NN_SUB)
            nn_setsockopt(sv->s, NN_SUB, NN_SUB_SUBSCRIBE, "", 0);
        if (sv->type == NN_SURVEYOR)
            fz_set_int(sv->s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, 5000);
        memset(&sv->sa, 0, sizeof(sv->sa));
#if FZ_IPC
        struct sockaddr_un *un = (struct sockaddr_un *) &sv->sa;
        un->sun_family = AF_UNIX;
        snprintf(un->sun_path, sizeof(un->sun_path), "%s/srv-%zu.ipc", fz_dir, i);
        sv->salen = (socklen_t) sizeof(*un);
        snprintf(sv->addr, sizeof(sv->addr), "ipc://%s/srv-%zu.ipc", fz_dir, i);
        if (nn_bind(sv->s, sv->addr) < 0)
            fz_die("nn_bind %s: %s", sv->addr, nn_strerror(errno));
#else
        struct sockaddr_in *in = (struct sockaddr_in *) &sv->sa;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sv->salen = (socklen_t) sizeof(*in);
        for (int tries = 0;; tries++) {
            int port = base++;
            if (base > 60000)
                base = 20000;
            snprintf(sv->addr, sizeof(sv->addr), "tcp://127.0.0.1:%d", port);
            if (nn_bind(sv->s, sv->addr) >= 0) {
                in->sin_port = htons((uint16_t) port);
                break;
            }
            if (tries > 1000)
                fz_die("no free port: %s", nn_strerror(errno));
        }
#endif
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fz_isolate(NAME);
    listen_all();
    return 0;
}

static int raw_connect(const struct server *sv)
{
    int fd = socket(sv->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fz_die("socket: %s", strerror(errno));
    if (connect(fd, (const struct sockaddr *) &sv->sa, sv->salen) != 0) {
        /* A signal (libFuzzer's timers) may interrupt it; it goes on in
           the background, so wait for the outcome. */
        int err = errno;
        if (err == EINTR) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            socklen_t len = sizeof(err);
            while (poll(&pfd, 1, 10000) < 0 && errno == EINTR)
                ;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
        }
        if (err)
            fz_die("connect to %s: %s", sv->addr, strerror(err));
    }
#if !FZ_IPC
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
#endif
    return fd;
}

/* Write all of it unless the server already dropped us (EPIPE/ECONNRESET:
   a fine outcome for a bad input). */
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

/* Read up to n bytes within ms milliseconds. */
static size_t read_some(int fd, uint8_t *buf, size_t n, int ms)
{
    size_t got = 0;
    double end = fz_now() + ms / 1000.0;
    while (got < n) {
        int left = (int) ((end - fz_now()) * 1000);
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, left) <= 0)
            break;
        ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
        if (r <= 0)
            break;
        got += (size_t) r;
    }
    return got;
}

/* ------------------------------------------------- the well-formed peer */

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

/* Send from `from` until `to` has it (for protocols that drop what they
   cannot deliver yet: PUB, SURVEYOR, BUS). Each attempt sends a token of
   its own (base-attempt), written to tok: an earlier attempt arriving
   late must not be taken for the current one, whose survey id is the only
   one a SURVEYOR still accepts answers to. */
static bool push_until(int from, int to, const char *base, char *tok, size_t cap)
{
    double end = fz_now() + WAIT_S;
    for (unsigned attempt = 0; fz_now() < end; attempt++) {
        snprintf(tok, cap, "%s-%u", base, attempt);
        nn_send(from, tok, strlen(tok), NN_DONTWAIT);
        if (recv_token(to, tok, 20))
            return true;
    }
    return false;
}

/* Reply to a request (or survey) received on a raw server, header and all. */
static bool raw_echo(int s, const char *tok)
{
    char body[64];
    union {
        struct nn_cmsghdr align;
        uint8_t b[NN_CMSG_SPACE(sizeof(size_t) + 1024)];
    } ctl;
    struct nn_iovec iov = {body, sizeof(body)};
    struct nn_msghdr h = {&iov, 1, &ctl, sizeof(ctl)};
    fz_set_int(s, NN_SOL_SOCKET, NN_RCVTIMEO, (int) (WAIT_S * 1000));
    for (;;) {
        int n = nn_recvmsg(s, &h, 0);
        if (n < 0)
            return false;
        if ((size_t) n == strlen(tok) && memcmp(body, tok, (size_t) n) == 0)
            break;
        h.msg_controllen = sizeof(ctl);
    }
    iov.iov_len = strlen(tok);
    return nn_sendmsg(s, &h, 0) == (int) strlen(tok);
}

/* What a failed check prints, so a report says where the message stopped. */
static void print_stats(const char *who, int s)
{
    static const struct {
        int id;
        const char *name;
    } stats[] = {{NN_STAT_ESTABLISHED_CONNECTIONS, "established"},
                 {NN_STAT_ACCEPTED_CONNECTIONS, "accepted"},
                 {NN_STAT_DROPPED_CONNECTIONS, "dropped"},
                 {NN_STAT_BROKEN_CONNECTIONS, "broken"},
                 {NN_STAT_CONNECT_ERRORS, "connect-errors"},
                 {NN_STAT_CURRENT_CONNECTIONS, "current"},
                 {NN_STAT_MESSAGES_SENT, "sent"},
                 {NN_STAT_MESSAGES_RECEIVED, "received"}};
    fprintf(stderr, "%s:", who);
    for (size_t i = 0; i < sizeof(stats) / sizeof(stats[0]); i++)
        fprintf(stderr, " %s=%llu", stats[i].name,
                (unsigned long long) nn_get_statistic(s, stats[i].id));
    fprintf(stderr, "\n");
}

static void health_check(struct server *sv, unsigned round)
{
    drain();
    int p = nn_socket(AF_SP, sv->peer);
    if (p < 0)
        fz_die("nn_socket: %s", nn_strerror(errno));
    fz_set_int(p, NN_SOL_SOCKET, NN_LINGER, 0);
    fz_set_int(p, NN_SOL_SOCKET, NN_SNDTIMEO, (int) (WAIT_S * 1000));
    if (sv->peer == NN_SUB)
        nn_setsockopt(p, NN_SUB, NN_SUB_SUBSCRIBE, "", 0);
    if (sv->peer == NN_SURVEYOR)
        fz_set_int(p, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, (int) (WAIT_S * 1000));
    if (nn_connect(p, sv->addr) < 0)
        fz_die("nn_connect %s: %s", sv->addr, nn_strerror(errno));
    char tok[48], rep[48], base[32], got[48];
    snprintf(base, sizeof(base), "health-%u", round);
    snprintf(tok, sizeof(tok), "health-%u", round);
    snprintf(rep, sizeof(rep), "reply-%u", round);
    int ms = (int) (WAIT_S * 1000);
    bool ok = false;
    bool raw = sv->domain == AF_SP_RAW;
    switch (sv->type) {
    case NN_PAIR:
        ok = nn_send(p, tok, strlen(tok), 0) >= 0 && recv_token(sv->s, tok, ms) &&
             nn_send(sv->s, rep, strlen(rep), 0) >= 0 && recv_token(p, rep, ms);
        break;
    case NN_REQ:
        ok = nn_send(sv->s, tok, strlen(tok), 0) >= 0 && recv_token(p, tok, ms) &&
             nn_send(p, rep, strlen(rep), 0) >= 0 && recv_token(sv->s, rep, ms);
        break;
    case NN_REP:
        if (raw)
            ok = nn_send(p, tok, strlen(tok), 0) >= 0 && raw_echo(sv->s, tok) &&
                 recv_token(p, tok, ms);
        else
            ok = nn_send(p, tok, strlen(tok), 0) >= 0 && recv_token(sv->s, tok, ms) &&
                 nn_send(sv->s, rep, strlen(rep), 0) >= 0 && recv_token(p, rep, ms);
        break;
    case NN_PUB:
    case NN_BUS:
        ok = push_until(sv->s, p, base, got, sizeof(got));
        if (ok && sv->type == NN_BUS)
            ok = push_until(p, sv->s, rep, got, sizeof(got));
        break;
    case NN_SUB:
        ok = push_until(p, sv->s, base, got, sizeof(got));
        break;
    case NN_PUSH:
        ok = push_until(sv->s, p, base, got, sizeof(got));
        break;
    case NN_PULL:
        ok = nn_send(p, tok, strlen(tok), 0) >= 0 && recv_token(sv->s, tok, ms);
        break;
    case NN_SURVEYOR:
        ok = push_until(sv->s, p, base, got, sizeof(got)) && nn_send(p, rep, strlen(rep), 0) >= 0 &&
             recv_token(sv->s, rep, ms);
        break;
    case NN_RESPONDENT:
        {
            double end = fz_now() + WAIT_S;
            for (unsigned attempt = 0; !ok && fz_now() < end; attempt++) {
                /* A new survey each time, with its own token: only the
                   latest survey's answer counts. */
                snprintf(tok, sizeof(tok), "%s-%u", base, attempt);
                nn_send(p, tok, strlen(tok), 0);
                if (raw) {
                    fz_set_int(sv->s, NN_SOL_SOCKET, NN_RCVTIMEO, 20);
                    char body[64];
                    union {
                        struct nn_cmsghdr align;
                        uint8_t b[NN_CMSG_SPACE(sizeof(size_t) + 1024)];
                    } ctl;
                    struct nn_iovec iov = {body, sizeof(body)};
                    struct nn_msghdr h = {&iov, 1, &ctl, sizeof(ctl)};
                    int n;
                    while ((n = nn_recvmsg(sv->s, &h, 0)) >= 0) {
                        if (n == (int) strlen(tok) && memcmp(body, tok, (size_t) n) == 0) {
                            iov.iov_base = rep;
                            iov.iov_len = strlen(rep);
                            ok = nn_sendmsg(sv->s, &h, 0) >= 0 && recv_token(p, rep, ms);
                            break;
                        }
                        h.msg_controllen = sizeof(ctl); /* an older survey: skip */
                    }
                } else if (recv_token(sv->s, tok, 20)) {
                    ok = nn_send(sv->s, rep, strlen(rep), 0) >= 0 && recv_token(p, rep, ms);
                }
            }
        }
        break;
    }
    if (!ok) {
        int err = errno;
        print_stats("server", sv->s);
        print_stats("peer", p);
        errno = err;
    }
    if (!ok)
        fz_die("%s: a well-formed peer could not exchange a message with server %d/%d (%s) "
               "after %u inputs: %s",
               NAME, sv->type, sv->domain, sv->addr, round, nn_strerror(errno));
    nn_close(p);
    wait_idle(sv, 0, "the health check");
}

/* ------------------------------------------------------------- the input */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned inputs;
    if (size < 2)
        return 0;
    struct server *sv = &servers[data[0] % NSERVERS];
    uint8_t flags = data[1];
    data += 2;
    size -= 2;
    if (inputs++ % CHECK_EVERY == 0)
        health_check(sv, inputs);

    uint8_t *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    bool hdr = flags & 1;
    bool echo = hdr && (flags & 2) && sv->type == NN_REQ && sv->domain == AF_SP;
    if (echo)
        nn_send(sv->s, "q", 1, NN_DONTWAIT); /* pending: goes to our pipe */

    uint64_t accepted = accepted_conns(sv) + 1;
    int fd = raw_connect(sv);
    bool alive = true;
    if (hdr) {
        uint8_t h[8] = {0, 'S', 'P', 0, (uint8_t) (sv->peer >> 8), (uint8_t) sv->peer, 0, 0};
        alive = write_all(fd, h, sizeof(h));
    }
    if (alive && echo) {
        /* The server's header, then its request: <type?><size><id>"q". */
        size_t pl = FZ_IPC ? 9 : 8;
        uint8_t in[8 + 9 + 4 + 1];
        size_t want = 8 + pl + 5;
        size_t got = read_some(fd, in, want, 1000);
        size_t at = pl; /* the id word of the input's first frame */
        if (got == want && size >= at + 4)
            memcpy(buf + at, in + 8 + pl, 4);
    }
    int pieces = 1 + ((flags >> 2) & 3);
    size_t off = 0;
    for (int i = 0; i < pieces && alive; i++) {
        size_t n = i == pieces - 1 ? size - off : size / (size_t) pieces;
        alive = write_all(fd, buf + off, n);
        off += n;
    }
    free(buf);
    if (flags & 0x10) {
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd);
        wait_idle(sv, accepted, "an RST");
    } else {
        shutdown(fd, SHUT_WR);
        /* Read what the server sends (so our close is a clean one) until
           it drops the connection. */
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
                fz_die("%s: server %d/%d kept a connection open %g s after the peer's FIN", NAME,
                       sv->type, sv->domain, WAIT_S);
        }
        close(fd);
        wait_idle(sv, accepted, "a FIN");
    }
    drain();
    return 0;
}
