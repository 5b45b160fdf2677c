/* peer.c: one side of an interoperability run. The same source is built
   three times: against femtomsg, against Debian's stock libnanomsg and
   against NNG's nanomsg-compatible API (each with its own headers, whose
   constants differ), so every library runs exactly the same script.

   usage: peer <pair|reqrep|pubsub|pipeline|survey|bus|linger> <0|1> <addr> <bind|connect>
               [<certdir>]

   With certdir (tests/tls_certs.sh's output, for wss:// and tls+tcp://)
   a binder serves server.pem and a connector checks the server's
   certificate against ca.pem, each through its library's own API:
   femtomsg's NN_TLS options, NNG's native endpoint options (its nanomsg
   API has none).

   Role 0 is PAIR/BUS initiator, REQ, PUB, PUSH or SURVEYOR; role 1 is the
   other side. The two peers exchange messages of every size in SIZES,
   each checked byte for byte, and coordinate through lines on stdin and
   stdout that the driver relays between them ("READY" after bind/connect,
   then SUBOK, ACK, DONE ... as the script needs). "linger" is PUSH (role 0)
   queueing LINGER_N messages and closing at once, with no acknowledgement:
   the PULL must still get them all. REQ/REP, PUB/SUB, SURVEYOR/RESPONDENT
   and BUS then play after_big: small messages and replaced requests right
   after a large message, none of which may be lost. Exit 0: success; 77: this
   library lacks the protocol (or the TLS to use certdir); 98: the
   address is in use (the driver picks another port); anything else:
   failure, explained on stderr. */
#include <nanomsg/nn.h>
#include <nanomsg/bus.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>
/* Which library's TLS API sets certificates: NNG's compat header names
   itself; of the three, only femtomsg has <nanomsg/tls.h>. */
#if defined(NNG_COMPAT_NN_H)
#include <nng/nng.h>
#elif defined(__has_include)
#if __has_include(<nanomsg/tls.h>)
#include <nanomsg/tls.h>
#endif
#endif

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef PEER_LIB
#define PEER_LIB "unknown"
#endif

static const size_t SIZES[] = {0, 1, 2, 7, 100, 1000, 65535, 65536 + 13, 1 << 20, 5 << 20};
#define NSIZES (sizeof(SIZES) / sizeof(SIZES[0]))
#define TIMEOUT_MS 20000
#define LINGER_N 40
#define LINGER_SIZE (256 * 1024)

static const char *tag = "peer";

static void die(const char *what)
{
    fprintf(stderr, "[%s] %s: %s (errno %d)\n", tag, what, nn_strerror(errno), errno);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------ control lines */
static char ctl_buf[4096];
static size_t ctl_len;

static void ctl_send(const char *line)
{
    char b[64];
    int n = snprintf(b, sizeof(b), "%s\n", line);
    if (write(1, b, (size_t) n) != n)
        die("control write");
}

/* Wait up to ms for the line tok; true when it came. */
static int ctl_poll(const char *tok, int ms)
{
    double end = now_s() + ms / 1000.0;
    for (;;) {
        char *nl;
        while ((nl = memchr(ctl_buf, '\n', ctl_len))) {
            size_t l = (size_t) (nl - ctl_buf);
            int match = l == strlen(tok) && memcmp(ctl_buf, tok, l) == 0;
            memmove(ctl_buf, nl + 1, ctl_len - l - 1);
            ctl_len -= l + 1;
            if (match)
                return 1;
        }
        double left = end - now_s();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {.fd = 0, .events = POLLIN};
        if (poll(&pfd, 1, (int) (left * 1000) + 1) <= 0)
            continue;
        ssize_t n = read(0, ctl_buf + ctl_len, sizeof(ctl_buf) - ctl_len);
        if (n <= 0) {
            fprintf(stderr, "[%s] control channel closed waiting for %s\n", tag, tok);
            exit(1);
        }
        ctl_len += (size_t) n;
    }
}

static void ctl_wait(const char *tok)
{
    if (!ctl_poll(tok, TIMEOUT_MS)) {
        fprintf(stderr, "[%s] timed out waiting for %s\n", tag, tok);
        exit(1);
    }
}

/* ----------------------------------------------------------- payloads */
static uint8_t *pattern;

static void make_pattern(void)
{
    pattern = malloc((5 << 20) + 256);
    if (!pattern)
        die("malloc");
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < (5 << 20) + 256; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        pattern[i] = (uint8_t) x;
    }
}

/* Message i of a run in direction dir (1: role 0 -> role 1, 2: back). */
static const uint8_t *payload(size_t i, int dir) { return pattern + (i * 2 + (size_t) dir) * 7; }

static int is_probe(const void *b, int n) { return n == 3 && memcmp(b, "PRB", 3) == 0; }

static void send_msg(int s, size_t i, int dir)
{
    int rc = nn_send(s, payload(i, dir), SIZES[i], 0);
    if (rc < 0 || (size_t) rc != SIZES[i]) {
        fprintf(stderr, "[%s] send of %zu bytes: ", tag, SIZES[i]);
        die("nn_send");
    }
}

/* Receive message i of direction dir, skipping readiness probes. */
static void recv_msg(int s, size_t i, int dir)
{
    for (;;) {
        void *b = NULL;
        int rc = nn_recv(s, &b, NN_MSG, 0);
        if (rc < 0) {
            fprintf(stderr, "[%s] waiting for %zu bytes: ", tag, SIZES[i]);
            die("nn_recv");
        }
        if (is_probe(b, rc)) {
            nn_freemsg(b);
            continue;
        }
        if ((size_t) rc != SIZES[i] || memcmp(b, payload(i, dir), SIZES[i]) != 0) {
            fprintf(stderr, "[%s] message %zu: got %d bytes, want %zu (or content differs)\n", tag,
                    i, rc, SIZES[i]);
            exit(1);
        }
        nn_freemsg(b);
        return;
    }
}

static void send_str(int s, const char *m)
{
    if (nn_send(s, m, strlen(m), 0) != (int) strlen(m))
        die(m);
}

/* Receive the short message m (or, when alt is not NULL, alt instead),
   skipping readiness probes. Returns 1 when m came, 0 for alt. */
static int recv_str_or(int s, const char *m, const char *alt)
{
    for (;;) {
        char b[64];
        int n = nn_recv(s, b, sizeof(b), 0);
        if (n == 3 && is_probe(b, n))
            continue;
        if (alt && n == (int) strlen(alt) && memcmp(b, alt, (size_t) n) == 0)
            return 0;
        if (n != (int) strlen(m) || memcmp(b, m, (size_t) n) != 0) {
            fprintf(stderr, "[%s] after a large message: want \"%s\", got %d\n", tag, m, n);
            if (n < 0)
                die("nn_recv");
            exit(1);
        }
        return 1;
    }
}

static void recv_str(int s, const char *m) { (void) recv_str_or(s, m, NULL); }

/* The replaced request, then its replacement. The stock SURVEYOR may not
   send a survey replaced at once while its pipe is still busy with the
   large one (a request replaced is one the protocol gives up anyway): only
   the answer to the replacement is owed. */
static void answer_replaced(int s)
{
    if (recv_str_or(s, "first", "second")) {
        send_str(s, "to first"); /* the asker drops it */
        recv_str(s, "second");
    }
    send_str(s, "to second");
}

/* Messages right after a large one, each round acknowledged out of band:
   nothing the protocol promises may be lost while the large message's
   sender still counts its pipe as full (a REP or RESPONDENT answering a
   replaced request, a PUB or BUS sending the next message). */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define AFTER_BIG_ROUNDS 2 /* sanitized peers move megabytes slowly */
#else
#define AFTER_BIG_ROUNDS 8
#endif
#define AFTER_BIG_INDEX (NSIZES - 2) /* 1 MiB: well past NN_SNDBUF */

static void after_big(int s, int type)
{
    for (int r = 0; r < AFTER_BIG_ROUNDS; r++) {
        switch (type) {
        case NN_REQ:
            send_str(s, "big?");
            recv_msg(s, AFTER_BIG_INDEX, 2);
            send_str(s, "first");
            send_str(s, "second"); /* replaces the first */
            recv_str(s, "to second");
            break;
        case NN_REP:
            recv_str(s, "big?");
            send_msg(s, AFTER_BIG_INDEX, 2);
            answer_replaced(s);
            break;
        case NN_SURVEYOR:
            send_msg(s, AFTER_BIG_INDEX, 1);
            recv_msg(s, AFTER_BIG_INDEX, 2);
            send_str(s, "first");
            send_str(s, "second"); /* replaces the first */
            recv_str(s, "to second");
            break;
        case NN_RESPONDENT:
            recv_msg(s, AFTER_BIG_INDEX, 1);
            send_msg(s, AFTER_BIG_INDEX, 2);
            answer_replaced(s);
            break;
        case NN_PUB:
        case NN_BUS: /* role 0 */
            send_msg(s, AFTER_BIG_INDEX, 1);
            ctl_wait("BIGOK");
            send_str(s, "bye");
            ctl_wait("BYEOK");
            break;
        default: /* SUB, BUS role 1 */
            recv_msg(s, AFTER_BIG_INDEX, 1);
            ctl_send("BIGOK");
            recv_str(s, "bye");
            ctl_send("BYEOK");
            break;
        }
    }
}

static void set_int(int s, int level, int opt, int v, const char *what)
{
    if (nn_setsockopt(s, level, opt, &v, sizeof(v)) != 0)
        die(what);
}

/* nn_bind or nn_connect, with certdir's certificates when given (see the
   top of the file). Exits 98 where the address is in use, 77 where this
   library cannot take certificates, 1 on any other error. */
static void add_endpoint(int s, const char *addr, int bind, const char *certdir)
{
    char file[PATH_MAX];
    if (certdir)
        snprintf(file, sizeof(file), "%s/%s", certdir, bind ? "server.pem" : "ca.pem");
#if defined(NNG_COMPAT_NN_H)
    if (certdir) {
        nng_socket ns = {.id = (uint32_t) s}; /* its nanomsg API numbers sockets by NNG id */
        int rv;
        if (bind) {
            nng_listener l;
            if (!(rv = nng_listener_create(&l, ns, addr)) &&
                !(rv = nng_listener_set_string(l, NNG_OPT_TLS_CERT_KEY_FILE, file)))
                rv = nng_listener_start(l, 0);
        } else {
            /* mbedTLS, under Debian's NNG, matches only names, never the
               IP address NNG must be dialled at (it serves only requests
               naming the host it was bound to): the certificate's name. */
            nng_dialer d;
            if (!(rv = nng_dialer_create(&d, ns, addr)) &&
                !(rv = nng_dialer_set_string(d, NNG_OPT_TLS_CA_FILE, file)) &&
                !(rv = nng_dialer_set_string(d, NNG_OPT_TLS_SERVER_NAME, "localhost")))
                rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK); /* as nn_connect: retried */
        }
        if (rv == NNG_EADDRINUSE)
            exit(98);
        if (rv == NNG_ENOTSUP) {
            fprintf(stderr, "[%s] this NNG has no TLS for %s: skipped\n", tag, addr);
            exit(77);
        }
        if (rv) {
            fprintf(stderr, "[%s] %s %s: %s\n", tag, bind ? "listen" : "dial", addr,
                    nng_strerror(rv));
            exit(1);
        }
        return;
    }
#elif defined(NN_TLS)
    if (certdir && nn_setsockopt(s, NN_TLS, bind ? NN_TLS_CERT_KEY_FILE : NN_TLS_CA_FILE, file,
                                 strlen(file)) != 0)
        die(bind ? "NN_TLS_CERT_KEY_FILE" : "NN_TLS_CA_FILE");
#else
    if (certdir) {
        fprintf(stderr, "[%s] no TLS API: skipped\n", tag);
        exit(77);
    }
#endif
    if ((bind ? nn_bind(s, addr) : nn_connect(s, addr)) >= 0)
        return;
    if (errno == EADDRINUSE)
        exit(98);
    die(bind ? "nn_bind" : "nn_connect");
}

/* Check that we run on the library we were built for: a stray
   LD_LIBRARY_PATH must not turn a stock-vs-femtomsg run into femtomsg
   against itself. */
static void check_library(void)
{
#ifdef EXPECT_LIB
    Dl_info info;
    char a[PATH_MAX], b[PATH_MAX];
    if (!dladdr((void *) nn_socket, &info) || !realpath(info.dli_fname, a) ||
        !realpath(EXPECT_LIB, b) || strcmp(a, b) != 0) {
        fprintf(stderr, "[%s] runs on %s, not on %s\n", tag, info.dli_fname ? info.dli_fname : "?",
                EXPECT_LIB);
        exit(1);
    }
#endif
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: %s proto role addr bind|connect [certdir]\n", argv[0]);
        return 2;
    }
    const char *proto = argv[1];
    int role = atoi(argv[2]);
    const char *addr = argv[3];
    int bind = strcmp(argv[4], "bind") == 0;
    static char tagbuf[64];
    snprintf(tagbuf, sizeof(tagbuf), "%s %s/%d", PEER_LIB, proto, role);
    tag = tagbuf;
    check_library();
    make_pattern();

    int type;
    if (!strcmp(proto, "pair"))
        type = NN_PAIR;
    else if (!strcmp(proto, "reqrep"))
        type = role ? NN_REP : NN_REQ;
    else if (!strcmp(proto, "pubsub"))
        type = role ? NN_SUB : NN_PUB;
    else if (!strcmp(proto, "pipeline") || !strcmp(proto, "linger"))
        type = role ? NN_PULL : NN_PUSH;
    else if (!strcmp(proto, "survey"))
        type = role ? NN_RESPONDENT : NN_SURVEYOR;
    else if (!strcmp(proto, "bus"))
        type = NN_BUS;
    else
        return 2;

    int s = nn_socket(AF_SP, type);
    if (s < 0) {
        if (errno == EINVAL || errno == ENOTSUP || errno == EPROTONOSUPPORT)
            return 77;
        die("nn_socket");
    }
    set_int(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, -1, "RCVMAXSIZE");
    set_int(s, NN_SOL_SOCKET, NN_RCVTIMEO, TIMEOUT_MS, "RCVTIMEO");
    set_int(s, NN_SOL_SOCKET, NN_SNDTIMEO, TIMEOUT_MS, "SNDTIMEO");
    set_int(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20, "RECONNECT_IVL");
    if (type == NN_SUB && nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) != 0)
        die("subscribe");
    add_endpoint(s, addr, bind, argc == 6 ? argv[5] : NULL);
    ctl_send("READY");

    if (!strcmp(proto, "linger")) {
        if (type == NN_PUSH) {
            /* Everything fits in the send queue; nn_close must flush it. */
            set_int(s, NN_SOL_SOCKET, NN_SNDBUF, 2 * LINGER_N * LINGER_SIZE, "SNDBUF");
            set_int(s, NN_SOL_SOCKET, NN_LINGER, TIMEOUT_MS, "LINGER");
            for (int i = 0; i < LINGER_N; i++) {
                memcpy(pattern, &i, sizeof(i));
                if (nn_send(s, pattern, LINGER_SIZE, 0) != LINGER_SIZE)
                    die("nn_send");
            }
        } else {
            for (int i = 0; i < LINGER_N; i++) {
                void *b;
                int n = nn_recv(s, &b, NN_MSG, 0);
                if (n < 0)
                    die("nn_recv");
                int id;
                memcpy(&id, b, sizeof(id));
                if (n != LINGER_SIZE || id != i ||
                    memcmp((char *) b + 4, pattern + 4, LINGER_SIZE - 4) != 0) {
                    fprintf(stderr, "[%s] message %d: got %d bytes, id %d\n", tag, i, n, id);
                    return 1;
                }
                nn_freemsg(b);
            }
        }
        nn_close(s);
        free(pattern);
        return 0;
    }

    if (type == NN_PAIR || type == NN_BUS) {
        /* BUS drops what it sends before a peer is there: probe first. */
        if (type == NN_BUS && role == 0) {
            double end = now_s() + TIMEOUT_MS / 1000.0;
            do {
                if (now_s() > end)
                    die("no BUS peer");
                nn_send(s, "PRB", 3, NN_DONTWAIT);
            } while (!ctl_poll("BUSOK", 20));
        } else if (type == NN_BUS) {
            void *b;
            int n;
            while ((n = nn_recv(s, &b, NN_MSG, 0)) >= 0 && !is_probe(b, n))
                nn_freemsg(b);
            if (n < 0)
                die("waiting for a probe");
            nn_freemsg(b);
            ctl_send("BUSOK");
        }
        for (size_t i = 0; i < NSIZES; i++) {
            if (role == 0) {
                send_msg(s, i, 1);
                recv_msg(s, i, 2);
            } else {
                recv_msg(s, i, 1);
                send_msg(s, i, 2);
            }
        }
        if (type == NN_BUS)
            after_big(s, role == 0 ? NN_BUS : NN_SUB);
        if (role == 0)
            ctl_send("DONE");
        else
            ctl_wait("DONE");
    } else if (type == NN_REQ || type == NN_REP) {
        for (size_t i = 0; i < NSIZES; i++) {
            if (type == NN_REQ) {
                send_msg(s, i, 1);
                recv_msg(s, i, 2);
            } else {
                recv_msg(s, i, 1);
                send_msg(s, i, 2);
            }
        }
        after_big(s, type);
        if (type == NN_REQ)
            ctl_send("DONE");
        else
            ctl_wait("DONE");
    } else if (type == NN_PUSH || type == NN_PULL) {
        for (size_t i = 0; i < NSIZES; i++)
            if (type == NN_PUSH)
                send_msg(s, i, 1);
            else
                recv_msg(s, i, 1);
        if (type == NN_PULL)
            ctl_send("DONE");
        else
            ctl_wait("DONE");
    } else if (type == NN_PUB || type == NN_SUB) {
        /* PUB drops for absent or busy subscribers: probe until one hears,
           then publish one message at a time, each acknowledged. */
        if (type == NN_PUB) {
            double end = now_s() + TIMEOUT_MS / 1000.0;
            do {
                if (now_s() > end)
                    die("no subscriber");
                nn_send(s, "PRB", 3, NN_DONTWAIT);
            } while (!ctl_poll("SUBOK", 20));
            for (size_t i = 0; i < NSIZES; i++) {
                send_msg(s, i, 1);
                ctl_wait("ACK");
            }
            after_big(s, type);
        } else {
            void *b;
            int n;
            while ((n = nn_recv(s, &b, NN_MSG, 0)) >= 0 && !is_probe(b, n))
                nn_freemsg(b);
            if (n < 0)
                die("waiting for a probe");
            nn_freemsg(b);
            ctl_send("SUBOK");
            for (size_t i = 0; i < NSIZES; i++) {
                recv_msg(s, i, 1);
                ctl_send("ACK");
            }
            after_big(s, type);
        }
    } else if (type == NN_SURVEYOR) {
        /* A survey with no respondent yet times out: probe until answered. */
        set_int(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, 250, "SURVEYOR_DEADLINE");
        double end = now_s() + TIMEOUT_MS / 1000.0;
        for (;;) {
            if (now_s() > end)
                die("no respondent");
            if (nn_send(s, "PRB", 3, 0) != 3)
                die("probe survey");
            void *b;
            int n = nn_recv(s, &b, NN_MSG, 0);
            if (n >= 0) {
                int ok = is_probe(b, n);
                nn_freemsg(b);
                if (ok)
                    break;
            } else if (errno != ETIMEDOUT) {
                die("probe reply");
            }
        }
        set_int(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, TIMEOUT_MS, "SURVEYOR_DEADLINE");
        for (size_t i = 0; i < NSIZES; i++) {
            send_msg(s, i, 1);
            recv_msg(s, i, 2);
        }
        after_big(s, type);
        ctl_send("DONE");
    } else { /* RESPONDENT */
        for (size_t i = 0; i < NSIZES;) {
            void *b;
            int n = nn_recv(s, &b, NN_MSG, 0);
            if (n < 0)
                die("waiting for a survey");
            if (is_probe(b, n)) {
                nn_freemsg(b);
                if (nn_send(s, "PRB", 3, 0) != 3)
                    die("probe answer");
                continue;
            }
            if ((size_t) n != SIZES[i] || memcmp(b, payload(i, 1), SIZES[i]) != 0) {
                fprintf(stderr, "[%s] survey %zu: got %d bytes, want %zu (or content differs)\n",
                        tag, i, n, SIZES[i]);
                return 1;
            }
            nn_freemsg(b);
            send_msg(s, i, 2);
            i++;
        }
        after_big(s, type);
        ctl_wait("DONE");
    }
    nn_close(s);
    free(pattern);
    return 0;
}
