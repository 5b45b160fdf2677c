/* api_probe.c: exercises every public function of the library, its
   documented behaviour and its edge cases, and prints one line per
   observation ("<feature>: <what> -> <result>"). It is built against our
   headers (ABI-identical to the stock ones) and run once against the stock
   libnanomsg.so.5 and once against ours; run_probe.sh diffs the two
   outputs, so the stock library is the ground truth.

   Every line names the feature it needs: "core" (sockets, options,
   messages, PAIR and inproc) or a protocol family or transport. A feature
   the loaded library lacks prints a single "<feature>: unsupported" line
   and nothing else, so the script can set such lines aside while that
   feature is being written.

   The probe prints no pointer, descriptor, socket id or time, only facts
   that two correct libraries share. It avoids the calls that crash the
   stock library (nn_freemsg(NULL), nn_poll with negative nfds, a NULL
   optvallen, NULL iovec arrays, unsubscribing a topic never subscribed,
   connecting a socket to its own inproc address, using a PAIR whose
   connection was refused, a zero cmsg_len in nn_cmsg_nxthdr_, ...): the
   test suite checks our behaviour there instead. */
#include <nanomsg/bus.h>
#include <nanomsg/inproc.h>
#include <nanomsg/ipc.h>
#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>
#include <nanomsg/tcp.h>
#include <nanomsg/ws.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define LONG_WAIT 5000 /* ms: a blocking call that must succeed */

static const char *feat = "core";

static void line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s: ", feat);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
}

static const char *ename(int e)
{
    static char other[32];
    switch (e) {
    case 0: return "0";
    case EINTR: return "EINTR";
    case ENOMEM: return "ENOMEM";
    case ENODEV: return "ENODEV";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOTSUP: return "ENOTSUP";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case ENOBUFS: return "ENOBUFS";
    case ENETDOWN: return "ENETDOWN";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EINPROGRESS: return "EINPROGRESS";
    case ENOTSOCK: return "ENOTSOCK";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EPROTO: return "EPROTO";
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case EFAULT: return "EFAULT";
    case EACCES: return "EACCES";
    case ENETRESET: return "ENETRESET";
    case ENETUNREACH: return "ENETUNREACH";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENOTCONN: return "ENOTCONN";
    case EMSGSIZE: return "EMSGSIZE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNABORTED: return "ECONNABORTED";
    case ECONNRESET: return "ECONNRESET";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EISCONN: return "EISCONN";
    case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
    case ETERM: return "ETERM";
    case EFSM: return "EFSM";
    case ENFILE: return "ENFILE";
    case EPIPE: return "EPIPE";
    default: snprintf(other, sizeof(other), "errno%d", e); return other;
    }
}

static const char *rcstr(long rc, int e)
{
    static char buf[64];
    if (rc < 0)
        snprintf(buf, sizeof(buf), "-1 %s", ename(e));
    else
        snprintf(buf, sizeof(buf), "%ld", rc);
    return buf;
}

/* R(call, description...): run call, print "description -> rc [errno]". */
#define R(call, ...)                                                        \
    do {                                                                    \
        char d_[256];                                                       \
        snprintf(d_, sizeof(d_), __VA_ARGS__);                              \
        errno = 0;                                                          \
        long r_ = (long) (call);                                            \
        int e_ = errno;                                                     \
        line("%s -> %s", d_, rcstr(r_, e_));                                \
    } while (0)

/* Like R for calls returning a socket id: print "ok" instead of the id. */
#define RS(call, ...)                                                       \
    do {                                                                    \
        char d_[256];                                                       \
        snprintf(d_, sizeof(d_), __VA_ARGS__);                              \
        errno = 0;                                                          \
        int r_ = (call);                                                    \
        int e_ = errno;                                                     \
        if (r_ >= 0)                                                        \
            line("%s -> ok", d_);                                           \
        else                                                                \
            line("%s -> %s", d_, rcstr(r_, e_));                            \
        if (r_ >= 0)                                                        \
            nn_close(r_);                                                   \
    } while (0)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static void setint(int s, int level, int opt, int v)
{
    if (nn_setsockopt(s, level, opt, &v, sizeof(v)) != 0) {
        fprintf(stderr, "probe: setsockopt %d/%d failed: %s\n", level, opt,
                nn_strerror(errno));
        exit(2);
    }
}

static int getint(int s, int level, int opt)
{
    int v = -777;
    size_t l = sizeof(v);
    if (nn_getsockopt(s, level, opt, &v, &l) != 0)
        return -777;
    return v;
}

static int xsocket(int domain, int type)
{
    int s = nn_socket(domain, type);
    if (s < 0) {
        fprintf(stderr, "probe: nn_socket(%d, %d): %s\n", domain, type, nn_strerror(errno));
        exit(2);
    }
    setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, LONG_WAIT);
    setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, LONG_WAIT);
    return s;
}

static int addr_seq;
static const char *fresh_addr(char *buf, size_t n)
{
    snprintf(buf, n, "inproc://probe-%d", ++addr_seq);
    return buf;
}

/* Two connected sockets over a fresh inproc address. */
static void inproc_pair(int dom, int t1, int t2, int *a, int *b)
{
    char addr[64];
    fresh_addr(addr, sizeof(addr));
    *a = xsocket(dom, t1);
    *b = xsocket(dom, t2);
    if (nn_bind(*a, addr) < 0 || nn_connect(*b, addr) < 0) {
        fprintf(stderr, "probe: inproc setup failed: %s\n", nn_strerror(errno));
        exit(2);
    }
}

static const char *yn(int b) { return b ? "yes" : "no"; }

/* Take whatever is queued, so that one difference does not cascade. */
static void drain(int s)
{
    char buf[64];
    while (nn_recv(s, buf, sizeof(buf), NN_DONTWAIT) >= 0)
        ;
}

static int fd_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static int fd_wait_readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* --------------------------------------------------------- socket types */
struct stype {
    int type;
    const char *name;
    const char *family;
};
static const struct stype types[] = {
    {NN_PAIR, "PAIR", "core"},
    {NN_REQ, "REQ", "reqrep"},
    {NN_REP, "REP", "reqrep"},
    {NN_PUB, "PUB", "pubsub"},
    {NN_SUB, "SUB", "pubsub"},
    {NN_PUSH, "PUSH", "pipeline"},
    {NN_PULL, "PULL", "pipeline"},
    {NN_SURVEYOR, "SURVEYOR", "survey"},
    {NN_RESPONDENT, "RESPONDENT", "survey"},
    {NN_BUS, "BUS", "bus"},
};
#define NTYPES ((int) (sizeof(types) / sizeof(types[0])))

static int type_supported(int type)
{
    int s = nn_socket(AF_SP, type);
    if (s >= 0) {
        nn_close(s);
        return 1;
    }
    return 0;
}

static int family_supported(const char *family)
{
    for (int i = 0; i < NTYPES; i++)
        if (strcmp(types[i].family, family) == 0 && !type_supported(types[i].type))
            return 0;
    return 1;
}

/* Enter a feature section; false (after one "unsupported" line) when the
   loaded library lacks it. */
static int section(const char *name, int supported)
{
    feat = name;
    if (!supported) {
        line("unsupported");
        return 0;
    }
    return 1;
}

static int transport_supported(const char *scheme_addr)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    if (s < 0)
        return 0;
    errno = 0;
    int rc = nn_connect(s, scheme_addr);
    int e = errno;
    nn_close(s);
    return rc >= 0 || e != EPROTONOSUPPORT;
}

static const char *optname(int o)
{
    static const char *names[] = {"0", "LINGER", "SNDBUF", "RCVBUF", "SNDTIMEO", "RCVTIMEO",
                                  "RECONNECT_IVL", "RECONNECT_IVL_MAX", "SNDPRIO", "RCVPRIO",
                                  "SNDFD", "RCVFD", "DOMAIN", "PROTOCOL", "IPV4ONLY",
                                  "SOCKET_NAME", "RCVMAXSIZE", "MAXTTL", "18"};
    return o >= 0 && o <= 18 ? names[o] : "?";
}

/* Every NN_SOL_SOCKET option's default on a fresh socket. */
static void print_defaults(int s, const char *tname)
{
    for (int o = -1; o <= 19; o++) {
        if (o == NN_SOCKET_NAME) {
            char name[128];
            size_t l = sizeof(name);
            errno = 0;
            int rc = nn_getsockopt(s, NN_SOL_SOCKET, o, name, &l);
            if (rc == 0) {
                char id[16];
                snprintf(id, sizeof(id), "%d", s);
                int is_id = l == strlen(id) && memcmp(name, id, l) == 0;
                line("%s default SOCKET_NAME -> %s (len %zu)", tname,
                     is_id ? "<socket id>" : "other", is_id ? (size_t) 0 : l);
            } else {
                line("%s default SOCKET_NAME -> %s", tname, rcstr(rc, errno));
            }
            continue;
        }
        int v = -777;
        size_t l = sizeof(v);
        errno = 0;
        int rc = nn_getsockopt(s, NN_SOL_SOCKET, o, &v, &l);
        int e = errno;
        const char *on = o >= 0 && o <= 18 ? optname(o) : (o < 0 ? "-1" : "19");
        if (rc != 0)
            line("%s default %s -> %s", tname, on, rcstr(rc, e));
        else if (o == NN_SNDFD || o == NN_RCVFD)
            line("%s default %s -> %s (len %zu)", tname, on, v >= 0 ? "<fd>" : "bad fd", l);
        else
            line("%s default %s -> %d (len %zu)", tname, on, v, l);
    }
    /* Protocol-level options 0..3 at the socket's own level. */
    int type = getint(s, NN_SOL_SOCKET, NN_PROTOCOL);
    for (int o = 0; o <= 3; o++) {
        int v = -777;
        size_t l = sizeof(v);
        errno = 0;
        int rc = nn_getsockopt(s, type, o, &v, &l);
        int e = errno;
        if (rc != 0)
            line("%s proto option %d -> %s", tname, o, rcstr(rc, e));
        else
            line("%s proto option %d -> %d (len %zu)", tname, o, v, l);
    }
    /* Transport levels: only the unknown level belongs to the core. */
    int v, l_ok;
    size_t l = sizeof(v);
    errno = 0;
    l_ok = nn_getsockopt(s, -99, 1, &v, &l);
    line("%s level -99 option 1 -> %s", tname, rcstr(l_ok, errno));
    l = sizeof(v);
    errno = 0;
    l_ok = nn_getsockopt(s, 12345, 1, &v, &l);
    line("%s level 12345 option 1 -> %s", tname, rcstr(l_ok, errno));
    l = sizeof(v);
    errno = 0;
    l_ok = nn_getsockopt(s, NN_INPROC, 1, &v, &l);
    line("%s level NN_INPROC option 1 -> %s", tname, rcstr(l_ok, errno));
}

/* nn_send / nn_recv with NN_DONTWAIT on an unconnected socket. */
static void print_unconnected_io(int s, const char *tname)
{
    char buf[16];
    R(nn_send(s, "abc", 3, NN_DONTWAIT), "%s unconnected send DONTWAIT", tname);
    R(nn_recv(s, buf, sizeof(buf), NN_DONTWAIT), "%s unconnected recv DONTWAIT", tname);
    int fds[2] = {-1, -1};
    size_t l = sizeof(int);
    if (nn_getsockopt(s, NN_SOL_SOCKET, NN_SNDFD, &fds[0], &l) == 0)
        line("%s unconnected SNDFD readable -> %s", tname, yn(fd_readable(fds[0])));
    l = sizeof(int);
    if (nn_getsockopt(s, NN_SOL_SOCKET, NN_RCVFD, &fds[1], &l) == 0)
        line("%s unconnected RCVFD readable -> %s", tname, yn(fd_readable(fds[1])));
    struct nn_pollfd pf = {.fd = s, .events = NN_POLLIN | NN_POLLOUT};
    errno = 0;
    int rc = nn_poll(&pf, 1, 0);
    line("%s unconnected nn_poll IN|OUT -> %s revents %d", tname, rcstr(rc, errno),
         rc >= 0 ? pf.revents : -1);
    pf.events = NN_POLLOUT;
    pf.revents = 0;
    errno = 0;
    rc = nn_poll(&pf, 1, 0);
    line("%s unconnected nn_poll OUT -> %s revents %d", tname, rcstr(rc, errno),
         rc >= 0 ? pf.revents : -1);
    pf.events = NN_POLLIN;
    pf.revents = 0;
    errno = 0;
    rc = nn_poll(&pf, 1, 0);
    line("%s unconnected nn_poll IN -> %s revents %d", tname, rcstr(rc, errno),
         rc >= 0 ? pf.revents : -1);
}

static void probe_type(const struct stype *t)
{
    char tn[64];
    for (int d = 0; d < 2; d++) {
        int dom = d ? AF_SP_RAW : AF_SP;
        snprintf(tn, sizeof(tn), "%s%s", d ? "raw " : "", t->name);
        errno = 0;
        int s = nn_socket(dom, t->type);
        if (s < 0) {
            line("%s nn_socket -> %s", tn, rcstr(s, errno));
            continue;
        }
        line("%s nn_socket -> ok", tn);
        print_defaults(s, tn);
        print_unconnected_io(s, tn);
        R(nn_close(s), "%s nn_close", tn);
    }
}

/* ------------------------------------------------------------- sockets */
static void probe_sockets(void)
{
    RS(nn_socket(0, NN_PAIR), "nn_socket domain 0");
    RS(nn_socket(3, NN_PAIR), "nn_socket domain 3");
    RS(nn_socket(-1, NN_PAIR), "nn_socket domain -1");
    RS(nn_socket(AF_SP, 0), "nn_socket protocol 0");
    RS(nn_socket(AF_SP, -1), "nn_socket protocol -1");
    RS(nn_socket(AF_SP, 17), "nn_socket protocol 17");
    RS(nn_socket(AF_SP, 1000), "nn_socket protocol 1000");
    RS(nn_socket(AF_SP_RAW, 0), "nn_socket raw protocol 0");
    RS(nn_socket(0, 0), "nn_socket domain 0 protocol 0");

    R(nn_close(-1), "nn_close -1");
    R(nn_close(512), "nn_close 512");
    R(nn_close(INT_MAX), "nn_close INT_MAX");
    R(nn_close(300), "nn_close never-opened 300");
    int s = xsocket(AF_SP, NN_PAIR);
    R(nn_close(s), "nn_close open socket");
    R(nn_close(s), "nn_close same socket again");

    /* Id reuse: which id comes back after closes. */
    int a = xsocket(AF_SP, NN_PAIR), b = xsocket(AF_SP, NN_PAIR), c = xsocket(AF_SP, NN_PAIR);
    line("ids of three new sockets consecutive -> %s", yn(b == a + 1 && c == b + 1));
    nn_close(b);
    int d = xsocket(AF_SP, NN_PAIR);
    line("new socket takes the closed id -> %s", yn(d == b));
    nn_close(a);
    nn_close(d);
    int e = xsocket(AF_SP, NN_PAIR);
    line("after closing a then b, next id is -> %s", e == a ? "a" : e == d ? "b" : "other");
    nn_close(e);
    nn_close(c);

    /* EMFILE: how many sockets fit. */
    static int ids[2000];
    int n = 0, err = 0;
    for (; n < 2000; n++) {
        ids[n] = nn_socket(AF_SP, NN_PAIR);
        if (ids[n] < 0) {
            err = errno;
            break;
        }
    }
    line("sockets opened before failure -> %d, then %s", n, ename(err));
    int max_id = 0;
    for (int i = 0; i < n; i++)
        if (ids[i] > max_id)
            max_id = ids[i];
    line("highest socket id -> %d", max_id);
    R(nn_close(ids[n / 2]), "close one of %d", n);
    RS(nn_socket(AF_SP, NN_PAIR), "nn_socket after freeing one slot");
    for (int i = 0; i < n; i++)
        if (i != n / 2)
            nn_close(ids[i]);
}

/* -------------------------------------------------------------- options */
static void probe_options(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    int v;
    size_t l;

    /* Validation of every integer option. */
    static const struct {
        int opt;
        int vals[10];
        int n;
    } cases[] = {
        {NN_LINGER, {-2, -1, 0, 1, INT_MAX}, 5},
        {NN_SNDBUF, {INT_MIN, -1, 0, 1, 4096, INT_MAX}, 6},
        {NN_RCVBUF, {INT_MIN, -1, 0, 1, 4096, INT_MAX}, 6},
        {NN_SNDTIMEO, {INT_MIN, -2, -1, 0, 1, INT_MAX}, 6},
        {NN_RCVTIMEO, {INT_MIN, -2, -1, 0, 1, INT_MAX}, 6},
        {NN_RECONNECT_IVL, {-2, -1, 0, 1, INT_MAX}, 5},
        {NN_RECONNECT_IVL_MAX, {-2, -1, 0, 1, INT_MAX}, 5},
        {NN_SNDPRIO, {-1, 0, 1, 8, 16, 17, 100}, 7},
        {NN_RCVPRIO, {-1, 0, 1, 8, 16, 17, 100}, 7},
        {NN_IPV4ONLY, {-1, 0, 1, 2}, 4},
        {NN_RCVMAXSIZE, {INT_MIN, -3, -2, -1, 0, 1, INT_MAX}, 7},
        {NN_MAXTTL, {-1, 0, 1, 2, 8, 255, 256, 1000}, 8},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (int k = 0; k < cases[i].n; k++) {
            int want = cases[i].vals[k];
            int before = getint(s, NN_SOL_SOCKET, cases[i].opt);
            errno = 0;
            int rc = nn_setsockopt(s, NN_SOL_SOCKET, cases[i].opt, &want, sizeof(want));
            int e = errno;
            int after = getint(s, NN_SOL_SOCKET, cases[i].opt);
            line("setsockopt %s %d -> %s, reads back %s", optname(cases[i].opt), want,
                 rcstr(rc, e), after == want ? "the value" : after == before ? "the old value" : "other");
        }

    /* Options that cannot be set. */
    int one = 1;
    for (int o = -1; o <= 19; o++)
        if (o == 0 || o == NN_SNDFD || o == NN_RCVFD || o == NN_DOMAIN || o == NN_PROTOCOL ||
            o < 0 || o > 17)
            R(nn_setsockopt(s, NN_SOL_SOCKET, o, &one, sizeof(one)), "setsockopt option %d", o);
    R(nn_setsockopt(s, 12345, 1, &one, sizeof(one)), "setsockopt level 12345");
    R(nn_setsockopt(s, -99, 1, &one, sizeof(one)), "setsockopt level -99");
    R(nn_setsockopt(s, NN_INPROC, 1, &one, sizeof(one)), "setsockopt level NN_INPROC");
    R(nn_setsockopt(s, NN_PAIR, 1, &one, sizeof(one)), "setsockopt level NN_PAIR option 1");
    R(nn_setsockopt(s, NN_REQ, NN_REQ_RESEND_IVL, &one, sizeof(one)),
      "setsockopt on PAIR level NN_REQ");
    R(nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, "", 0), "setsockopt on PAIR level NN_SUB");
    R(nn_setsockopt(-1, NN_SOL_SOCKET, NN_LINGER, &one, sizeof(one)), "setsockopt bad socket");
    l = sizeof(v);
    R(nn_getsockopt(-1, NN_SOL_SOCKET, NN_LINGER, &v, &l), "getsockopt bad socket");
    l = sizeof(v);
    R(nn_getsockopt(400, NN_SOL_SOCKET, NN_LINGER, &v, &l), "getsockopt never-opened socket");
    l = sizeof(v);
    R(nn_getsockopt(s, NN_REQ, NN_REQ_RESEND_IVL, &v, &l), "getsockopt on PAIR level NN_REQ");

    /* optvallen and NULL pointers. */
    int big[2] = {100, 100};
    R(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, &one, 0), "setsockopt SNDBUF len 0");
    R(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, &one, 1), "setsockopt SNDBUF len 1");
    R(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, &one, 3), "setsockopt SNDBUF len 3");
    R(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, big, 5), "setsockopt SNDBUF len 5");
    R(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, big, 8), "setsockopt SNDBUF len 8");
    R(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, NULL, sizeof(int)), "setsockopt SNDBUF NULL len 4");
    R(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, NULL, 0), "setsockopt SNDBUF NULL len 0");
    R(nn_setsockopt(s, NN_SOL_SOCKET, NN_LINGER, NULL, sizeof(int)), "setsockopt LINGER NULL len 4");
    R(nn_setsockopt(s, NN_SOL_SOCKET, 99, NULL, sizeof(int)), "setsockopt option 99 NULL len 4");
    R(nn_setsockopt(s, NN_SOL_SOCKET, 99, &one, 2), "setsockopt option 99 len 2");
    R(nn_setsockopt(s, 12345, 1, NULL, 4), "setsockopt level 12345 NULL len 4");
    R(nn_setsockopt(s, 12345, 1, &one, 2), "setsockopt level 12345 len 2");
    R(nn_setsockopt(s, NN_PAIR, 1, &one, 2), "setsockopt level NN_PAIR len 2");
    R(nn_setsockopt(s, NN_PAIR, 1, NULL, 4), "setsockopt level NN_PAIR NULL len 4");
    R(nn_setsockopt(s, NN_SOL_SOCKET, NN_DOMAIN, &one, 2), "setsockopt DOMAIN len 2");
    R(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDFD, NULL, 4), "setsockopt SNDFD NULL len 4");
    l = 2;
    R(nn_getsockopt(s, 12345, 1, &v, &l), "getsockopt level 12345 len 2");
    l = 2;
    R(nn_getsockopt(s, NN_SOL_SOCKET, 99, NULL, &l), "getsockopt option 99 NULL optval");
    R(nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, NULL, 4), "setsockopt SOCKET_NAME NULL len 4");
    R(nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, NULL, 0), "setsockopt SOCKET_NAME NULL len 0");

    setint(s, NN_SOL_SOCKET, NN_SNDBUF, 0x01020304);
    for (size_t len = 0; len <= 9; len++) {
        unsigned char bytes[12];
        memset(bytes, 0xee, sizeof(bytes));
        l = len;
        errno = 0;
        int rc = nn_getsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, bytes, &l);
        char hex[40] = "";
        for (int i = 0; i < 10; i++)
            sprintf(hex + 2 * i, "%02x", bytes[i]);
        line("getsockopt SNDBUF optvallen %zu -> %s, optvallen %zu, bytes %s", len,
             rcstr(rc, errno), l, hex);
    }
    l = sizeof(int);
    R(nn_getsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, NULL, &l), "getsockopt SNDBUF NULL optval");
    line(" ... optvallen after -> %zu", l);
    l = 0;
    R(nn_getsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, NULL, &l), "getsockopt SNDBUF NULL optval len 0");
    l = sizeof(v);
    R(nn_getsockopt(s, NN_SOL_SOCKET, 99, &v, &l), "getsockopt option 99");
    l = 0;
    R(nn_getsockopt(s, NN_SOL_SOCKET, 99, &v, &l), "getsockopt option 99 len 0");
    l = sizeof(v);
    R(nn_getsockopt(s, NN_SOL_SOCKET, NN_DOMAIN, &v, &l), "getsockopt DOMAIN");
    line(" ... value %d", v);
    l = sizeof(v);
    R(nn_getsockopt(s, NN_SOL_SOCKET, NN_PROTOCOL, &v, &l), "getsockopt PROTOCOL");
    line(" ... value %d", v);

    /* NN_SOCKET_NAME. */
    char name[200], got[200];
    memset(name, 'n', sizeof(name));
    for (size_t len = 0; len <= 66; len++) {
        if (len > 2 && len < 60)
            continue;
        errno = 0;
        int rc = nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, name, len);
        int e = errno;
        size_t gl = sizeof(got);
        memset(got, 0, sizeof(got));
        nn_getsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, got, &gl);
        line("setsockopt SOCKET_NAME len %zu -> %s, reads back len %zu", len, rcstr(rc, e), gl);
    }
    nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, "hello", 5);
    for (size_t len = 0; len <= 8; len++) {
        memset(got, '#', sizeof(got));
        size_t gl = len;
        errno = 0;
        int rc = nn_getsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, got, &gl);
        got[9] = 0;
        for (int i = 0; i < 9; i++)
            if (got[i] == 0)
                got[i] = '0';
        line("getsockopt SOCKET_NAME \"hello\" optvallen %zu -> %s, optvallen %zu, bytes %s",
             len, rcstr(rc, errno), gl, got);
    }
    /* (Past 64 bytes stock copies from beyond its name buffer.) */
    for (size_t len = 62; len <= 64; len++) {
        memset(got, '#', sizeof(got));
        size_t gl2 = len;
        nn_getsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, got, &gl2);
        int written = 0;
        for (int i = 0; i < (int) sizeof(got); i++)
            if (got[i] != '#')
                written = i + 1;
        line("getsockopt SOCKET_NAME \"hello\" optvallen %zu -> optvallen %zu, bytes written %d",
             len, gl2, written);
    }
    nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, "a\0b", 3);
    size_t gl = sizeof(got);
    memset(got, '#', sizeof(got));
    nn_getsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, got, &gl);
    line("SOCKET_NAME with embedded NUL reads back len %zu first %d third %d", gl, got[0],
         got[2]);

    /* Options apply to endpoints created later; a set option survives. */
    setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, 1234);
    line("RCVTIMEO after set -> %d", getint(s, NN_SOL_SOCKET, NN_RCVTIMEO));
    nn_close(s);
    l = sizeof(v);
    R(nn_getsockopt(s, NN_SOL_SOCKET, NN_LINGER, &v, &l), "getsockopt closed socket");
    R(nn_setsockopt(s, NN_SOL_SOCKET, NN_LINGER, &one, sizeof(one)), "setsockopt closed socket");
}

/* ------------------------------------------------------------ endpoints */
static void probe_endpoints(void)
{
    int s = xsocket(AF_SP, NN_PAIR);
    char addr[300];
    R(nn_bind(s, "inproc://ep-a"), "first nn_bind eid");
    R(nn_connect(s, "inproc://ep-b"), "then nn_connect eid");
    R(nn_bind(s, "inproc://ep-c"), "then nn_bind eid");
    R(nn_shutdown(s, 2), "nn_shutdown eid 2");
    R(nn_shutdown(s, 2), "nn_shutdown eid 2 again");
    R(nn_connect(s, "inproc://ep-b"), "nn_connect after a shutdown, eid");
    R(nn_shutdown(s, 0), "nn_shutdown eid 0");
    R(nn_shutdown(s, -1), "nn_shutdown eid -1");
    R(nn_shutdown(s, 999), "nn_shutdown eid 999");
    R(nn_shutdown(-1, 1), "nn_shutdown bad socket");
    R(nn_shutdown(401, 1), "nn_shutdown never-opened socket");
    R(nn_bind(-1, "inproc://x"), "nn_bind bad socket");
    R(nn_connect(-1, "inproc://x"), "nn_connect bad socket");
    R(nn_bind(402, "inproc://x"), "nn_bind never-opened socket");

    static const char *bad[] = {"", "inproc", "inproc:", "inproc:/", "inproc:/x", "inproc//x",
                                "inproc:x", "://x", ":///x", "foo://x", "INPROC://x",
                                "inproc ://x", " inproc://x", "tcp:x", "tcp:/x"};
    /* Binds go to s, connects to u; no name is both bound and connected
       here, except where said (a second PAIR connection aborts stock). */
    int u = xsocket(AF_SP, NN_PAIR);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        R(nn_bind(s, bad[i]), "nn_bind \"%s\"", bad[i]);
        R(nn_connect(u, bad[i]), "nn_connect \"%s\"", bad[i]);
    }
    R(nn_bind(s, NULL), "nn_bind NULL");
    R(nn_connect(u, NULL), "nn_connect NULL");
    R(nn_bind(s, "inproc://"), "nn_bind \"inproc://\" (empty name)");
    R(nn_connect(u, "inproc://"), "nn_connect \"inproc://\" (empty name)");
    char buf[8];
    R(nn_send(u, "e", 1, 0), " ... send over the empty name");
    R(nn_recv(s, buf, sizeof(buf), 0), " ... recv");
    nn_close(u);
    u = xsocket(AF_SP, NN_PAIR);
    R(nn_bind(s, "inproc://a b"), "nn_bind name with space");
    R(nn_bind(s, "inproc://\xc3\xbcn\xc3\xaf"), "nn_bind name with UTF-8");

    /* Address length limits: the whole address, scheme included. */
    for (size_t len = 125; len <= 130; len++) {
        strcpy(addr, "inproc://");
        memset(addr + 9, 'L', len - 9);
        addr[len] = 0;
        addr[9] = (char) ('0' + (int) (len % 10));
        R(nn_bind(s, addr), "nn_bind address of %zu chars", len);
        addr[10] = 'c';
        R(nn_connect(u, addr), "nn_connect address of %zu chars", len);
    }
    memset(addr, 'x', 299);
    addr[299] = 0;
    memcpy(addr, "inproc://", 9);
    R(nn_bind(s, addr), "nn_bind address of 299 chars");
    memcpy(addr, "foo://", 6);
    R(nn_bind(s, addr), "nn_bind unknown transport, 299 chars");
    nn_close(u);

    /* Bind conflicts. */
    int t = xsocket(AF_SP, NN_PAIR);
    R(nn_bind(t, "inproc://ep-a"), "second socket binds a bound name");
    R(nn_bind(s, "inproc://ep-a"), "same socket binds its own bound name again");
    R(nn_connect(t, "inproc://ep-a"), "connect to a bound name");
    R(nn_send(t, "x", 1, 0), " ... send");
    R(nn_recv(s, buf, sizeof(buf), 0), " ... recv");
    R(nn_connect(t, "inproc://nobody"), "connect to an unbound name");
    R(nn_shutdown(s, 1), "shutdown the binding endpoint");
    int w = xsocket(AF_SP, NN_PAIR);
    R(nn_bind(w, "inproc://ep-a"), "bind the name after its binder shut down");
    R(nn_send(t, "x", 1, 0), " ... the connector reaches the new binder: send");
    R(nn_recv(w, buf, sizeof(buf), 0), " ... recv");
    nn_close(w);
    R(nn_bind(s, "inproc://ep-a"), "bind the name after the other binder closed");
    R(nn_send(t, "y", 1, 0), " ... send");
    R(nn_recv(s, buf, sizeof(buf), 0), " ... recv");
    nn_close(t);
    nn_close(s);
    R(nn_bind(s, "inproc://ep-z"), "nn_bind closed socket");
}

/* ------------------------------------------------------- send & receive */
static void probe_sendrecv(void)
{
    int a, b;
    char buf[64];
    inproc_pair(AF_SP, NN_PAIR, NN_PAIR, &a, &b);

    R(nn_send(b, "hello", 5, 0), "send 5 bytes");
    memset(buf, '#', sizeof(buf));
    R(nn_recv(a, buf, sizeof(buf), 0), "recv into 64");
    line(" ... bytes %.6s", buf);
    R(nn_send(b, "hello", 5, 0), "send 5 bytes");
    memset(buf, '#', sizeof(buf));
    R(nn_recv(a, buf, 3, 0), "recv into 3 (truncating)");
    line(" ... bytes %.6s", buf);
    R(nn_recv(a, buf, sizeof(buf), NN_DONTWAIT), "recv DONTWAIT after truncation (rest dropped)");
    R(nn_send(b, "hello", 5, 0), "send 5 bytes");
    memset(buf, '#', sizeof(buf));
    R(nn_recv(a, buf, 0, 0), "recv into 0");
    line(" ... first byte %c", buf[0]);
    R(nn_send(b, "hello", 5, 0), "send 5 bytes");
    R(nn_recv(a, NULL, 0, 0), "recv NULL buffer len 0");
    drain(a);

    R(nn_send(b, NULL, 0, 0), "send NULL len 0");
    R(nn_recv(a, buf, sizeof(buf), 0), "recv it");
    R(nn_send(b, "", 0, 0), "send empty");
    R(nn_recv(a, buf, sizeof(buf), 0), "recv it");
    R(nn_send(b, NULL, 5, 0), "send NULL len 5");
    R(nn_send(b, NULL, 5, NN_DONTWAIT), "send NULL len 5 DONTWAIT");
    void *nul = NULL;
    R(nn_send(b, &nul, NN_MSG, 0), "send NN_MSG pointing to NULL");
    R(nn_send(b, "x", 1, 2), "send flags 2");
    R(nn_recv(a, buf, sizeof(buf), 2), "recv flags 2");
    R(nn_send(b, "x", 1, 0x7ffffff0), "send flags 0x7ffffff0");
    R(nn_recv(a, buf, sizeof(buf), 0x7ffffff0), "recv flags 0x7ffffff0");
    R(nn_send(b, "x", 1, -1), "send flags -1");
    R(nn_recv(a, buf, sizeof(buf), -1), "recv flags -1");
    R(nn_recv(a, buf, sizeof(buf), NN_DONTWAIT), "recv DONTWAIT, empty");

    /* NN_MSG. */
    void *m = NULL;
    R(nn_send(b, "zero-copy", 9, 0), "send 9 bytes");
    R(nn_recv(a, &m, NN_MSG, 0), "recv NN_MSG");
    line(" ... bytes %.9s", m ? (char *) m : "(null)");
    R(nn_freemsg(m), "nn_freemsg received");
    R(nn_send(b, "", 0, 0), "send empty");
    m = NULL;
    R(nn_recv(a, &m, NN_MSG, 0), "recv NN_MSG of empty message");
    line(" ... pointer set -> %s", yn(m != NULL));
    if (m)
        R(nn_freemsg(m), "nn_freemsg empty");
    m = nn_allocmsg(12, 0);
    memcpy(m, "allocated!!!", 12);
    void *sent = m;
    R(nn_send(b, &m, NN_MSG, 0), "send NN_MSG of 12");
    line(" ... caller pointer after -> %s", m == sent ? "unchanged" : m == NULL ? "NULL" : "other");
    void *r = NULL;
    R(nn_recv(a, &r, NN_MSG, 0), "recv NN_MSG");
    line(" ... same pointer as sent -> %s, bytes %.12s", yn(r == sent), (char *) r);
    R(nn_send(b, &r, NN_MSG, 0), "send the received buffer back with NN_MSG");
    R(nn_recv(a, buf, sizeof(buf), 0), "recv it by copy");
    m = nn_allocmsg(0, 0);
    R(nn_send(b, &m, NN_MSG, 0), "send NN_MSG of size 0");
    R(nn_recv(a, buf, sizeof(buf), 0), "recv it");
    m = nn_allocmsg(4, 0);
    memcpy(m, "abcd", 4);
    R(nn_recv(a, &m, NN_MSG, NN_DONTWAIT), "recv NN_MSG DONTWAIT empty (pointer untouched)");
    line(" ... buffer still ours -> %s", yn(memcmp(m, "abcd", 4) == 0));
    m = nn_reallocmsg(m, 3);
    R(nn_send(b, &m, NN_MSG, 0), "send reallocated NN_MSG buffer of 3");
    R(nn_recv(a, buf, sizeof(buf), 0), "recv it");
    line(" ... bytes %.3s", buf);

    /* Timeouts. */
    int c = xsocket(AF_SP, NN_PAIR);
    R(nn_send(c, "x", 1, NN_DONTWAIT), "unconnected send DONTWAIT");
    setint(c, NN_SOL_SOCKET, NN_SNDTIMEO, 0);
    R(nn_send(c, "x", 1, 0), "unconnected send SNDTIMEO 0");
    setint(c, NN_SOL_SOCKET, NN_SNDTIMEO, 40);
    double t0 = now_ms();
    R(nn_send(c, "x", 1, 0), "unconnected send SNDTIMEO 40");
    line(" ... waited at least 30 ms -> %s", yn(now_ms() - t0 >= 30));
    m = nn_allocmsg(3, 0);
    R(nn_send(c, &m, NN_MSG, 0), "unconnected send NN_MSG SNDTIMEO 40");
    R(nn_freemsg(m), " ... the caller still owns it: nn_freemsg");
    setint(c, NN_SOL_SOCKET, NN_RCVTIMEO, 0);
    R(nn_recv(c, buf, 1, 0), "recv RCVTIMEO 0");
    setint(c, NN_SOL_SOCKET, NN_RCVTIMEO, 40);
    t0 = now_ms();
    R(nn_recv(c, buf, 1, 0), "recv RCVTIMEO 40");
    line(" ... waited at least 30 ms -> %s", yn(now_ms() - t0 >= 30));
    setint(c, NN_SOL_SOCKET, NN_RCVTIMEO, 0);
    R(nn_recv(c, buf, 1, NN_DONTWAIT), "recv DONTWAIT with RCVTIMEO 0");
    nn_close(c);

    /* Bad sockets. */
    R(nn_send(-1, "x", 1, 0), "send socket -1");
    R(nn_send(403, "x", 1, 0), "send never-opened socket");
    R(nn_recv(-1, buf, 1, 0), "recv socket -1");
    R(nn_recv(404, buf, 1, 0), "recv never-opened socket");
    m = nn_allocmsg(1, 0);
    R(nn_send(-1, &m, NN_MSG, 0), "send NN_MSG socket -1");
    R(nn_freemsg(m), " ... caller still owns it");

    /* Limits: NN_RCVMAXSIZE over inproc, big messages. */
    int p, q;
    inproc_pair(AF_SP, NN_PAIR, NN_PAIR, &p, &q);
    setint(p, NN_SOL_SOCKET, NN_RCVMAXSIZE, 10);
    char big[100];
    memset(big, 'b', sizeof(big));
    R(nn_send(q, big, sizeof(big), 0), "inproc send 100 to RCVMAXSIZE 10 (set after connect)");
    R(nn_recv(p, buf, sizeof(buf), 0), " ... recv");
    nn_close(p);
    nn_close(q);
    char addr[64];
    fresh_addr(addr, sizeof(addr));
    p = xsocket(AF_SP, NN_PAIR);
    q = xsocket(AF_SP, NN_PAIR);
    setint(p, NN_SOL_SOCKET, NN_RCVMAXSIZE, 10);
    nn_bind(p, addr);
    nn_connect(q, addr);
    setint(p, NN_SOL_SOCKET, NN_RCVTIMEO, 100);
    R(nn_send(q, big, sizeof(big), 0), "inproc send 100 to RCVMAXSIZE 10 (set before)");
    R(nn_recv(p, buf, sizeof(buf), 0), " ... recv");
    size_t hsz = 4u << 20;
    char *huge = malloc(hsz);
    memset(huge, 'h', hsz);
    R(nn_send(q, huge, hsz, 0), "inproc send 4 MiB");
    setint(p, NN_SOL_SOCKET, NN_RCVTIMEO, LONG_WAIT);
    R(nn_recv(p, huge, hsz, 0), " ... recv");
    free(huge);
    nn_close(p);
    nn_close(q);

    /* Back-pressure: how many 1000-byte messages an idle receiver takes. */
    static const int bufs[][2] = {{-1, -1}, {4096, -1}, {-1, 4096}, {1, 1}, {100, -1}, {101, -1}, {1000, 1000}};
    for (size_t k = 0; k < sizeof(bufs) / sizeof(bufs[0]); k++) {
        fresh_addr(addr, sizeof(addr));
        p = xsocket(AF_SP, NN_PAIR);
        q = xsocket(AF_SP, NN_PAIR);
        if (bufs[k][0] > 0) {
            setint(p, NN_SOL_SOCKET, NN_RCVBUF, bufs[k][0]);
            setint(q, NN_SOL_SOCKET, NN_RCVBUF, bufs[k][0]);
        }
        if (bufs[k][1] > 0) {
            setint(p, NN_SOL_SOCKET, NN_SNDBUF, bufs[k][1]);
            setint(q, NN_SOL_SOCKET, NN_SNDBUF, bufs[k][1]);
        }
        nn_bind(p, addr);
        nn_connect(q, addr);
        int n = 0;
        while (n < 100000 && nn_send(q, big, sizeof(big) < 1000 ? sizeof(big) : 1000, NN_DONTWAIT) >= 0)
            n++;
        int e = errno;
        line("RCVBUF %d SNDBUF %d: 100-byte messages before the sender blocks -> %d (%s)",
             bufs[k][0], bufs[k][1], n, ename(e));
        R(nn_recv(p, buf, sizeof(buf), 0), " ... receiver takes one");
        int more = 0;
        while (more < 100000 && nn_send(q, big, 100, NN_DONTWAIT) >= 0)
            more++;
        line(" ... then the sender can send %d more", more);
        int got = 0;
        while (nn_recv(p, buf, sizeof(buf), NN_DONTWAIT) >= 0)
            got++;
        line(" ... receiver drains %d", got);
        nn_close(p);
        nn_close(q);
    }

    nn_close(a);
    nn_close(b);
    R(nn_send(b, "x", 1, 0), "send on closed socket");
    R(nn_recv(a, buf, 1, 0), "recv on closed socket");
}

/* ------------------------------------------------------ sendmsg/recvmsg */
static void dump_cmsgs(struct nn_msghdr *h, const char *what)
{
    int n = 0;
    for (struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(h); c; c = NN_CMSG_NXTHDR(h, c)) {
        n++;
        size_t sz = 0;
        if (c->cmsg_len >= NN_CMSG_LEN(sizeof(size_t)))
            memcpy(&sz, NN_CMSG_DATA(c), sizeof(sz));
        line("%s cmsg %d: len %zu level %d type %d size %zu", what, n, (size_t) c->cmsg_len,
             c->cmsg_level, c->cmsg_type, sz);
        if (n > 10)
            break;
    }
    line("%s cmsg count -> %d", what, n);
}

static void probe_msghdr(void)
{
    int a, b;
    char buf[64];
    inproc_pair(AF_SP, NN_PAIR, NN_PAIR, &a, &b);
    struct nn_msghdr h;
    struct nn_iovec iov[4];

    R(nn_sendmsg(b, NULL, 0), "sendmsg NULL header");
    R(nn_recvmsg(a, NULL, NN_DONTWAIT), "recvmsg NULL header");
    R(nn_sendmsg(-1, NULL, 0), "sendmsg bad socket NULL header");

    memset(&h, 0, sizeof(h));
    iov[0] = (struct nn_iovec){"ab", 2};
    h.msg_iov = iov;
    h.msg_iovlen = -1;
    R(nn_sendmsg(b, &h, 0), "sendmsg iovlen -1");
    h.msg_iovlen = INT_MIN;
    R(nn_sendmsg(b, &h, 0), "sendmsg iovlen INT_MIN");
    h.msg_iovlen = 0;
    R(nn_sendmsg(b, &h, 0), "sendmsg iovlen 0");
    R(nn_recv(a, buf, sizeof(buf), 0), " ... recv");

    iov[0] = (struct nn_iovec){"Hel", 3};
    iov[1] = (struct nn_iovec){"", 0};
    iov[2] = (struct nn_iovec){"lo, ", 4};
    iov[3] = (struct nn_iovec){"SP", 2};
    h.msg_iovlen = 4;
    R(nn_sendmsg(b, &h, 0), "sendmsg gather 3+0+4+2");
    memset(buf, 0, sizeof(buf));
    R(nn_recv(a, buf, sizeof(buf), 0), " ... recv");
    line(" ... bytes %s", buf);

    iov[0] = (struct nn_iovec){NULL, 3};
    h.msg_iovlen = 1;
    R(nn_sendmsg(b, &h, 0), "sendmsg iov_base NULL len 3");
    iov[0] = (struct nn_iovec){NULL, 0};
    R(nn_sendmsg(b, &h, 0), "sendmsg iov_base NULL len 0");
    R(nn_recv(a, buf, sizeof(buf), 0), " ... recv");

    char one[100];
    struct nn_iovec many[100];
    for (int i = 0; i < 100; i++) {
        one[i] = (char) ('0' + i % 10);
        many[i] = (struct nn_iovec){&one[i], 1};
    }
    h.msg_iov = many;
    h.msg_iovlen = 100;
    R(nn_sendmsg(b, &h, 0), "sendmsg 100 iovecs of 1 byte");
    R(nn_recv(a, buf, sizeof(buf), 0), " ... recv into 64");

    void *m = nn_allocmsg(5, 0);
    memcpy(m, "chunk", 5);
    void *sent = m;
    iov[0] = (struct nn_iovec){&m, NN_MSG};
    iov[1] = (struct nn_iovec){"x", 1};
    h.msg_iov = iov;
    h.msg_iovlen = 2;
    R(nn_sendmsg(b, &h, 0), "sendmsg NN_MSG iovec among 2");
    iov[0] = (struct nn_iovec){"x", 1};
    iov[1] = (struct nn_iovec){&m, NN_MSG};
    R(nn_sendmsg(b, &h, 0), "sendmsg NN_MSG as second iovec");
    iov[0] = (struct nn_iovec){&m, NN_MSG};
    h.msg_iovlen = 1;
    R(nn_sendmsg(b, &h, 0), "sendmsg NN_MSG single iovec");
    void *r = NULL;
    struct nn_iovec riov[2];
    struct nn_msghdr rh;
    memset(&rh, 0, sizeof(rh));
    riov[0] = (struct nn_iovec){&r, NN_MSG};
    rh.msg_iov = riov;
    rh.msg_iovlen = 1;
    R(nn_recvmsg(a, &rh, 0), "recvmsg NN_MSG");
    line(" ... same pointer -> %s, bytes %.5s", yn(r == sent), r ? (char *) r : "");
    nn_freemsg(r);
    void *nul = NULL;
    iov[0] = (struct nn_iovec){&nul, NN_MSG};
    R(nn_sendmsg(b, &h, 0), "sendmsg NN_MSG pointing to NULL");

    /* Scatter. */
    char s1[3], s2[4];
    nn_send(b, "0123456789", 10, 0);
    riov[0] = (struct nn_iovec){s1, 3};
    riov[1] = (struct nn_iovec){s2, 4};
    rh.msg_iovlen = 2;
    R(nn_recvmsg(a, &rh, 0), "recvmsg scatter 3+4 of a 10-byte message");
    line(" ... bytes %.3s|%.4s", s1, s2);
    memset(s1, '#', 3);
    memset(s2, '#', 4);
    nn_send(b, "01", 2, 0);
    R(nn_recvmsg(a, &rh, 0), "recvmsg scatter 3+4 of a 2-byte message");
    line(" ... bytes %.3s|%.4s", s1, s2);
    nn_send(b, "01", 2, 0);
    rh.msg_iovlen = 0;
    R(nn_recvmsg(a, &rh, 0), "recvmsg iovlen 0");
    R(nn_recv(a, buf, sizeof(buf), NN_DONTWAIT), " ... the message was consumed: recv DONTWAIT");
    rh.msg_iovlen = -1;
    R(nn_recvmsg(a, &rh, NN_DONTWAIT), "recvmsg iovlen -1");
    riov[0] = (struct nn_iovec){NULL, 0};
    rh.msg_iovlen = 1;
    nn_send(b, "01", 2, 0);
    R(nn_recvmsg(a, &rh, 0), "recvmsg iov_base NULL len 0");
    rh.msg_iovlen = 1;
    R(nn_recvmsg(a, &rh, NN_DONTWAIT), "recvmsg DONTWAIT empty");

    /* Control data on receive. */
    unsigned char ctl[128];
    nn_send(b, "c", 1, 0);
    riov[0] = (struct nn_iovec){buf, sizeof(buf)};
    rh.msg_iovlen = 1;
    memset(ctl, 0xaa, sizeof(ctl));
    rh.msg_control = ctl;
    rh.msg_controllen = sizeof(ctl);
    R(nn_recvmsg(a, &rh, 0), "recvmsg with 128-byte control buffer");
    line(" ... msg_controllen after -> %zu", rh.msg_controllen);
    dump_cmsgs(&rh, "recv control 128");
    {
        int last = 0;
        for (int i = 0; i < 128; i++)
            if (ctl[i] != 0xaa)
                last = i + 1;
        line(" ... control bytes written -> %d", last);
    }
    nn_send(b, "c", 1, 0);
    memset(ctl, 0xaa, sizeof(ctl));
    rh.msg_controllen = 8;
    R(nn_recvmsg(a, &rh, 0), "recvmsg with 8-byte control buffer");
    line(" ... control untouched -> %s, msg_controllen %zu", yn(ctl[0] == 0xaa && ctl[7] == 0xaa),
         rh.msg_controllen);
    nn_send(b, "c", 1, 0);
    memset(ctl, 0xaa, sizeof(ctl));
    rh.msg_controllen = 23;
    R(nn_recvmsg(a, &rh, 0), "recvmsg with 23-byte control buffer");
    line(" ... control untouched -> %s", yn(ctl[0] == 0xaa));
    nn_send(b, "c", 1, 0);
    memset(ctl, 0xaa, sizeof(ctl));
    rh.msg_controllen = 24;
    R(nn_recvmsg(a, &rh, 0), "recvmsg with 24-byte control buffer");
    line(" ... control untouched -> %s", yn(ctl[0] == 0xaa));
    dump_cmsgs(&rh, "recv control 24");
    nn_send(b, "c", 1, 0);
    void *cp = NULL;
    rh.msg_control = &cp;
    rh.msg_controllen = NN_MSG;
    R(nn_recvmsg(a, &rh, 0), "recvmsg with NN_MSG control");
    line(" ... control allocated -> %s, msg_controllen still NN_MSG -> %s", yn(cp != NULL),
         yn(rh.msg_controllen == NN_MSG));
    if (cp) {
        dump_cmsgs(&rh, "recv control NN_MSG");
        R(nn_freemsg(cp), "nn_freemsg control");
    }

    /* Control data on send: PAIR ignores a header. */
    unsigned char sctl[NN_CMSG_SPACE(sizeof(size_t) + 4)];
    memset(sctl, 0, sizeof(sctl));
    struct nn_cmsghdr *ch = (struct nn_cmsghdr *) (void *) sctl;
    ch->cmsg_len = NN_CMSG_LEN(sizeof(size_t) + 4);
    ch->cmsg_level = PROTO_SP;
    ch->cmsg_type = SP_HDR;
    size_t four = 4;
    memcpy(NN_CMSG_DATA(ch), &four, sizeof(four));
    memcpy(NN_CMSG_DATA(ch) + sizeof(size_t), "\x80\0\0\1", 4);
    memset(&h, 0, sizeof(h));
    iov[0] = (struct nn_iovec){"body", 4};
    h.msg_iov = iov;
    h.msg_iovlen = 1;
    h.msg_control = sctl;
    h.msg_controllen = sizeof(sctl);
    R(nn_sendmsg(b, &h, 0), "PAIR sendmsg with an SP_HDR control of 4 bytes");
    rh.msg_control = ctl;
    rh.msg_controllen = sizeof(ctl);
    riov[0] = (struct nn_iovec){buf, sizeof(buf)};
    R(nn_recvmsg(a, &rh, 0), " ... recvmsg");
    dump_cmsgs(&rh, "PAIR header after send with header");
    void *cm = nn_allocmsg(sizeof(sctl), 0);
    memcpy(cm, sctl, sizeof(sctl));
    h.msg_control = &cm;
    h.msg_controllen = NN_MSG;
    R(nn_sendmsg(b, &h, 0), "PAIR sendmsg with NN_MSG control");
    R(nn_recv(a, buf, sizeof(buf), 0), " ... recv");
    h.msg_control = NULL;
    h.msg_controllen = 16;
    R(nn_sendmsg(b, &h, 0), "sendmsg control NULL with controllen 16");
    R(nn_recv(a, buf, sizeof(buf), 0), " ... recv");
    unsigned char junk[40];
    memset(junk, 0, sizeof(junk));
    h.msg_control = junk;
    h.msg_controllen = 3;
    R(nn_sendmsg(b, &h, 0), "sendmsg 3 bytes of control");
    R(nn_recv(a, buf, sizeof(buf), 0), " ... recv");
    /* (A zero cmsg_len makes stock loop forever: not probed.) */
    struct nn_cmsghdr *jc = (struct nn_cmsghdr *) (void *) junk;
    jc->cmsg_len = 16;
    jc->cmsg_level = 99;
    jc->cmsg_type = 1;
    h.msg_controllen = 16;
    R(nn_sendmsg(b, &h, 0), "sendmsg one foreign cmsg of 16");
    R(nn_recv(a, buf, sizeof(buf), 0), " ... recv");

    /* nn_cmsg_nxthdr_ on crafted buffers. */
    size_t cbuf[16];
    struct nn_msghdr ch_h;
    memset(&ch_h, 0, sizeof(ch_h));
    line("NN_CMSG_FIRSTHDR NULL msghdr -> %s", yn(nn_cmsg_nxthdr_(NULL, NULL) != NULL));
    line("NN_CMSG_FIRSTHDR no control -> %s", yn(NN_CMSG_FIRSTHDR(&ch_h) != NULL));
    ch_h.msg_control = cbuf;
    static const struct {
        size_t controllen;
        size_t len1, len2;
    } walks[] = {
        {0, 16, 0},   {15, 16, 0},  {16, 16, 0},  {16, 17, 0},  {20, 20, 0},  {24, 20, 0},
        {24, 24, 0},  {32, 16, 16}, {40, 24, 16}, {40, 24, 17}, {48, 24, 24}, {48, 17, 24},
        {128, 16, 16}, {64, 16, 16}, {32, 100, 0}, {64, 24, 100}, {31, 16, 16}, {33, 16, 16},
    };
    for (size_t i = 0; i < sizeof(walks) / sizeof(walks[0]); i++) {
        memset(cbuf, 0, sizeof(cbuf));
        struct nn_cmsghdr *c1 = (struct nn_cmsghdr *) (void *) cbuf;
        c1->cmsg_len = walks[i].len1;
        c1->cmsg_level = 7;
        if (walks[i].len2) {
            size_t at = NN_CMSG_ALIGN_(walks[i].len1);
            struct nn_cmsghdr *c2 = (struct nn_cmsghdr *) (void *) ((char *) cbuf + at);
            c2->cmsg_len = walks[i].len2;
            c2->cmsg_level = 8;
            /* What follows is an oversized header (a zero cmsg_len would
               make stock's walk loop forever). */
            at += NN_CMSG_ALIGN_(walks[i].len2);
            if (at + sizeof(struct nn_cmsghdr) <= sizeof(cbuf)) {
                struct nn_cmsghdr *c3 = (struct nn_cmsghdr *) (void *) ((char *) cbuf + at);
                c3->cmsg_len = 1000;
                c3->cmsg_level = 9;
            }
        } else if (NN_CMSG_ALIGN_(walks[i].len1) < sizeof(cbuf)) {
            /* A tail that would be a zero-length header: leave room only
               when the walk must stop on the buffer size. */
            struct nn_cmsghdr *c2 =
                (struct nn_cmsghdr *) (void *) ((char *) cbuf + NN_CMSG_ALIGN_(walks[i].len1));
            c2->cmsg_len = 16;
            c2->cmsg_level = 9;
        }
        ch_h.msg_controllen = walks[i].controllen;
        char path[64] = "";
        int n = 0;
        for (struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&ch_h); c && n < 5; c = NN_CMSG_NXTHDR(&ch_h, c)) {
            sprintf(path + strlen(path), "%d@%d ", c->cmsg_level,
                    (int) ((char *) c - (char *) cbuf));
            n++;
        }
        line("cmsg walk controllen %zu lens %zu,%zu -> [%s]", walks[i].controllen, walks[i].len1,
             walks[i].len2, path);
    }

    nn_close(a);
    nn_close(b);
    memset(&h, 0, sizeof(h));
    R(nn_sendmsg(b, &h, 0), "sendmsg closed socket");
    R(nn_recvmsg(a, &rh, 0), "recvmsg closed socket");
}

/* ------------------------------------------------------------- messages */
static void probe_alloc(void)
{
    void *m;
    errno = 0;
    m = nn_allocmsg(0, 0);
    line("nn_allocmsg 0 -> %s", m ? "ok" : ename(errno));
    if (m)
        R(nn_freemsg(m), "nn_freemsg it");
    errno = 0;
    m = nn_allocmsg(100, 0);
    line("nn_allocmsg 100 -> %s", m ? "ok" : ename(errno));
    line(" ... aligned to 8 -> %s", yn(((uintptr_t) m & 7) == 0));
    memset(m, 'z', 100);
    m = nn_reallocmsg(m, 200000);
    line("nn_reallocmsg to 200000 -> %s, content kept -> %s", m ? "ok" : ename(errno),
         yn(m && ((char *) m)[0] == 'z' && ((char *) m)[99] == 'z'));
    m = nn_reallocmsg(m, 10);
    line("nn_reallocmsg to 10 -> %s, content kept -> %s", m ? "ok" : ename(errno),
         yn(m && ((char *) m)[9] == 'z'));
    errno = 0;
    void *m2 = nn_reallocmsg(m, SIZE_MAX);
    line("nn_reallocmsg to SIZE_MAX -> %s", m2 ? "ok" : ename(errno));
    if (m2)
        m = m2;
    errno = 0;
    m2 = nn_reallocmsg(m, SIZE_MAX - 64);
    line("nn_reallocmsg to SIZE_MAX-64 -> %s", m2 ? "ok" : ename(errno));
    if (m2)
        m = m2;
    line(" ... original still usable -> %s", yn(((char *) m)[9] == 'z'));
    m2 = nn_reallocmsg(m, 0);
    line("nn_reallocmsg to 0 -> %s", m2 ? "ok" : ename(errno));
    if (m2)
        m = m2;
    R(nn_freemsg(m), "nn_freemsg it");

    /* Whether the buffer moves: programs written against stock compare. */
    char *g = nn_allocmsg(100, 0);
    memset(g, 'g', 100);
    char *g2 = nn_reallocmsg(g, 101);
    line("nn_reallocmsg 100 to 101 moves -> %s, content kept -> %s", yn(g2 != g),
         yn(g2 && g2[99] == 'g'));
    g = g2;
    g2 = nn_reallocmsg(g, 101);
    line("nn_reallocmsg 101 to 101 moves -> %s", yn(g2 != g));
    g = g2;
    g2 = nn_reallocmsg(g, 50);
    line("nn_reallocmsg 101 to 50 moves -> %s", yn(g2 != g));
    g = g2;
    g2 = nn_reallocmsg(g, 60);
    line("nn_reallocmsg 50 to 60 moves -> %s, content kept -> %s", yn(g2 != g),
         yn(g2 && g2[49] == 'g'));
    nn_freemsg(g2);

    static const int types_[] = {1, -1, 2, 100, INT_MIN};
    for (size_t i = 0; i < sizeof(types_) / sizeof(types_[0]); i++) {
        errno = 0;
        m = nn_allocmsg(10, types_[i]);
        line("nn_allocmsg 10 type %d -> %s", types_[i], m ? "ok" : ename(errno));
        if (m)
            nn_freemsg(m);
    }
    static const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 100, SIZE_MAX / 2,
                                   (size_t) 1 << 62, (size_t) 1 << 48};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        errno = 0;
        m = nn_allocmsg(sizes[i], 0);
        line("nn_allocmsg %zu -> %s", sizes[i], m ? "ok" : ename(errno));
        if (m)
            nn_freemsg(m);
    }
    errno = 0;
    m = nn_allocmsg(SIZE_MAX, 1);
    line("nn_allocmsg SIZE_MAX type 1 -> %s", m ? "ok" : ename(errno));

    /* A received buffer can be reallocated and freed. */
    int a, b;
    inproc_pair(AF_SP, NN_PAIR, NN_PAIR, &a, &b);
    nn_send(b, "grow me", 7, 0);
    void *r = NULL;
    nn_recv(a, &r, NN_MSG, 0);
    r = nn_reallocmsg(r, 100000);
    line("nn_reallocmsg received buffer -> %s, content kept -> %s", r ? "ok" : ename(errno),
         yn(r && memcmp(r, "grow me", 7) == 0));
    R(nn_send(a, &r, NN_MSG, 0), "send it back with NN_MSG");
    R(nn_recv(b, &r, NN_MSG, 0), " ... recv");
    R(nn_freemsg(r), "nn_freemsg");
    nn_close(a);
    nn_close(b);
}

/* ----------------------------------------------------------------- poll */
static void probe_poll(void)
{
    struct nn_pollfd pf[3];
    R(nn_poll(NULL, 0, 0), "nn_poll NULL 0 entries");
    R(nn_poll(pf, 0, 0), "nn_poll 0 entries");
    double t0 = now_ms();
    R(nn_poll(pf, 0, 30), "nn_poll 0 entries timeout 30");
    line(" ... waited at least 20 ms -> %s", yn(now_ms() - t0 >= 20));
    pf[0] = (struct nn_pollfd){.fd = -1, .events = NN_POLLIN};
    R(nn_poll(pf, 1, 0), "nn_poll socket -1");
    pf[0] = (struct nn_pollfd){.fd = 405, .events = NN_POLLIN};
    R(nn_poll(pf, 1, 0), "nn_poll never-opened socket");

    int a, b;
    inproc_pair(AF_SP, NN_PAIR, NN_PAIR, &a, &b);
    int c = xsocket(AF_SP, NN_PAIR);
    pf[0] = (struct nn_pollfd){.fd = a, .events = NN_POLLIN | NN_POLLOUT, .revents = 0x5a};
    pf[1] = (struct nn_pollfd){.fd = 406, .events = NN_POLLIN};
    R(nn_poll(pf, 2, 0), "nn_poll good then bad socket");
    line(" ... first revents -> %d", pf[0].revents);
    pf[0] = (struct nn_pollfd){.fd = 406, .events = NN_POLLIN};
    pf[1] = (struct nn_pollfd){.fd = a, .events = NN_POLLIN};
    R(nn_poll(pf, 2, 0), "nn_poll bad then good socket");
    pf[0] = (struct nn_pollfd){.fd = a, .events = 0, .revents = 0x5a};
    /* (Stock leaves revents untouched here, a quirk not worth copying.) */
    R(nn_poll(pf, 1, 0), "nn_poll events 0");
    pf[0] = (struct nn_pollfd){.fd = a, .events = 4, .revents = 0};
    R(nn_poll(pf, 1, 0), "nn_poll events 4 (unknown bit)");
    line(" ... revents -> %d", pf[0].revents);
    pf[0] = (struct nn_pollfd){.fd = a, .events = NN_POLLIN | NN_POLLOUT};
    R(nn_poll(pf, 1, 0), "connected idle PAIR IN|OUT");
    line(" ... revents -> %d", pf[0].revents);
    nn_send(b, "x", 1, 0);
    pf[0] = (struct nn_pollfd){.fd = a, .events = NN_POLLIN | NN_POLLOUT};
    pf[1] = (struct nn_pollfd){.fd = b, .events = NN_POLLIN | NN_POLLOUT};
    pf[2] = (struct nn_pollfd){.fd = c, .events = NN_POLLIN | NN_POLLOUT};
    R(nn_poll(pf, 3, 1000), "three sockets, a message waiting on the first");
    line(" ... revents %d %d %d", pf[0].revents, pf[1].revents, pf[2].revents);
    pf[0] = (struct nn_pollfd){.fd = a, .events = NN_POLLIN};
    pf[1] = (struct nn_pollfd){.fd = a, .events = NN_POLLIN};
    R(nn_poll(pf, 2, 0), "the same socket twice");
    char buf[4];
    nn_recv(a, buf, sizeof(buf), 0);
    pf[0] = (struct nn_pollfd){.fd = a, .events = NN_POLLIN};
    t0 = now_ms();
    R(nn_poll(pf, 1, 30), "POLLIN after the message was taken, timeout 30");
    line(" ... waited at least 20 ms -> %s, revents %d", yn(now_ms() - t0 >= 20), pf[0].revents);
    pf[0] = (struct nn_pollfd){.fd = c, .events = NN_POLLOUT};
    R(nn_poll(pf, 1, 0), "unconnected POLLOUT");

    /* SNDFD / RCVFD semantics. */
    int sfd = getint(b, NN_SOL_SOCKET, NN_SNDFD), rfd = getint(a, NN_SOL_SOCKET, NN_RCVFD);
    line("SNDFD equals RCVFD -> %s", yn(sfd == getint(b, NN_SOL_SOCKET, NN_RCVFD)));
    line("SNDFD stable across calls -> %s", yn(sfd == getint(b, NN_SOL_SOCKET, NN_SNDFD)));
    line("connected SNDFD readable -> %s", yn(fd_readable(sfd)));
    line("idle RCVFD readable -> %s", yn(fd_readable(rfd)));
    nn_send(b, "x", 1, 0);
    line("RCVFD readable after a send -> %s", yn(fd_wait_readable(rfd, LONG_WAIT)));
    nn_send(b, "y", 1, 0);
    nn_recv(a, buf, sizeof(buf), 0);
    line("RCVFD readable with one left -> %s", yn(fd_readable(rfd)));
    nn_recv(a, buf, sizeof(buf), 0);
    line("RCVFD readable when drained -> %s", yn(fd_readable(rfd)));
    int cs = getint(c, NN_SOL_SOCKET, NN_SNDFD);
    line("unconnected SNDFD readable -> %s", yn(fd_readable(cs)));
    char addr[64];
    fresh_addr(addr, sizeof(addr));
    nn_bind(c, addr);
    int d = xsocket(AF_SP, NN_PAIR);
    nn_connect(d, addr);
    line("SNDFD readable once connected -> %s", yn(fd_wait_readable(cs, LONG_WAIT)));
    nn_close(d);
    nn_close(c);
    nn_close(a);
    nn_close(b);
    pf[0] = (struct nn_pollfd){.fd = a, .events = NN_POLLIN};
    R(nn_poll(pf, 1, 0), "nn_poll closed socket");
}

/* ----------------------------------------------------------- statistics */
static const int stats[] = {
    NN_STAT_ESTABLISHED_CONNECTIONS, NN_STAT_ACCEPTED_CONNECTIONS, NN_STAT_DROPPED_CONNECTIONS,
    NN_STAT_BROKEN_CONNECTIONS,      NN_STAT_CONNECT_ERRORS,       NN_STAT_BIND_ERRORS,
    NN_STAT_ACCEPT_ERRORS,           NN_STAT_CURRENT_CONNECTIONS,  NN_STAT_INPROGRESS_CONNECTIONS,
    NN_STAT_CURRENT_EP_ERRORS,       NN_STAT_MESSAGES_SENT,        NN_STAT_MESSAGES_RECEIVED,
    NN_STAT_BYTES_SENT,              NN_STAT_BYTES_RECEIVED,       NN_STAT_CURRENT_SND_PRIORITY,
};

static void print_stats(int s, const char *what)
{
    char out[512] = "";
    for (size_t i = 0; i < sizeof(stats) / sizeof(stats[0]); i++) {
        errno = 0;
        uint64_t v = nn_get_statistic(s, stats[i]);
        if (v == (uint64_t) -1)
            sprintf(out + strlen(out), " %d=-1/%s", stats[i], ename(errno));
        else
            sprintf(out + strlen(out), " %d=%llu", stats[i], (unsigned long long) v);
    }
    line("stats %s:%s", what, out);
}

static void probe_stats(void)
{
    int s = xsocket(AF_SP, NN_PAIR);
    print_stats(s, "fresh socket");
    static const int odd[] = {0, 1, 100, 108, 200, 204, 300, 305, 400, 402, -1, INT_MAX};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        errno = 0;
        uint64_t v = nn_get_statistic(s, odd[i]);
        line("nn_get_statistic unknown %d -> %s", odd[i],
             v == (uint64_t) -1 ? rcstr(-1, errno) : "a value");
    }
    errno = 0;
    uint64_t v = nn_get_statistic(-1, NN_STAT_MESSAGES_SENT);
    line("nn_get_statistic socket -1 -> %s", v == (uint64_t) -1 ? rcstr(-1, errno) : "a value");
    errno = 0;
    v = nn_get_statistic(407, NN_STAT_MESSAGES_SENT);
    line("nn_get_statistic never-opened -> %s", v == (uint64_t) -1 ? rcstr(-1, errno) : "a value");
    setint(s, NN_SOL_SOCKET, NN_SNDPRIO, 3);
    print_stats(s, "after SNDPRIO 3, no endpoint");
    nn_close(s);
    errno = 0;
    v = nn_get_statistic(s, NN_STAT_MESSAGES_SENT);
    line("nn_get_statistic closed socket -> %s", v == (uint64_t) -1 ? rcstr(-1, errno) : "a value");

    int a, b;
    inproc_pair(AF_SP, NN_PAIR, NN_PAIR, &a, &b);
    char buf[64];
    nn_send(b, "0123456789", 10, 0);
    nn_recv(a, buf, sizeof(buf), 0);
    print_stats(a, "inproc binder after 1 message in");
    print_stats(b, "inproc connector after 1 message out");
    nn_send(b, "0123456789", 10, 0);
    nn_send(b, "", 0, 0);
    void *m = nn_allocmsg(7, 0);
    nn_send(b, &m, NN_MSG, 0);
    struct nn_iovec iov = {"abc", 3};
    struct nn_msghdr h = {.msg_iov = &iov, .msg_iovlen = 1};
    nn_sendmsg(b, &h, 0);
    nn_recv(a, buf, 3, 0); /* truncated */
    nn_recv(a, &m, NN_MSG, 0);
    nn_freemsg(m);
    struct nn_iovec riov = {buf, sizeof(buf)};
    struct nn_msghdr rh = {.msg_iov = &riov, .msg_iovlen = 1};
    nn_recvmsg(a, &rh, 0);
    nn_recvmsg(a, &rh, 0);
    nn_send(b, "x", 1, NN_DONTWAIT);
    nn_recv(a, buf, sizeof(buf), 0);
    print_stats(a, "binder after 6 in (10,0,7,3 truncated to 3,1)");
    print_stats(b, "connector after 6 out");
    nn_recv(a, buf, sizeof(buf), NN_DONTWAIT);
    print_stats(a, "binder after a failed recv");
    int c = xsocket(AF_SP, NN_PAIR);
    nn_send(c, "x", 1, NN_DONTWAIT);
    print_stats(c, "after a failed send");
    R(nn_bind(c, "inproc://nonexistent-port-conflict-check"), "bind");
    int d = xsocket(AF_SP, NN_PAIR);
    nn_bind(d, "inproc://nonexistent-port-conflict-check");
    print_stats(d, "after an EADDRINUSE bind");
    nn_close(c);
    nn_close(d);
    nn_close(b);
    print_stats(a, "binder after the connector closed");
    nn_close(a);
}

/* -------------------------------------------------------------- threads */
struct waiter {
    int sock;
    int op; /* 0 recv, 1 send, 2 poll */
    int rc, err;
    short revents;
    pid_t tid;
    volatile int done;
    pthread_t th;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    __atomic_store_n(&w->tid, (pid_t) syscall(SYS_gettid), __ATOMIC_SEQ_CST);
    char buf[16];
    errno = 0;
    if (w->op == 0) {
        w->rc = nn_recv(w->sock, buf, sizeof(buf), 0);
    } else if (w->op == 1) {
        w->rc = nn_send(w->sock, "x", 1, 0);
    } else {
        struct nn_pollfd pf = {.fd = w->sock, .events = NN_POLLIN};
        w->rc = nn_poll(&pf, 1, 20000);
        w->revents = pf.revents;
    }
    w->err = errno;
    __atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* True once the thread sleeps in a system call (it is blocked, not about to
   block): state S in /proc. */
static int thread_sleeping(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int) tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'S';
}

static void start_waiter(struct waiter *w, int sock, int op)
{
    memset(w, 0, sizeof(*w));
    w->sock = sock;
    w->op = op;
    pthread_create(&w->th, NULL, waiter_main, w);
    double end = now_ms() + LONG_WAIT;
    /* Blocked: asleep twice in a row with a pause between (the library may
       sleep briefly on a lock before it blocks for real). */
    while (now_ms() < end) {
        pid_t tid = __atomic_load_n(&w->tid, __ATOMIC_SEQ_CST);
        if (tid && thread_sleeping(tid)) {
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
            if (thread_sleeping(tid) && !__atomic_load_n(&w->done, __ATOMIC_SEQ_CST))
                break;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static void join_waiter(struct waiter *w, const char *what)
{
    pthread_join(w->th, NULL);
    line("%s -> %s", what, rcstr(w->rc, w->err));
}

static void on_signal(int sig) { (void) sig; }

struct killer {
    pthread_t target;
    struct waiter *w;
};

static void probe_threads(void)
{
    struct waiter w;
    int a, b;
    inproc_pair(AF_SP, NN_PAIR, NN_PAIR, &a, &b);
    start_waiter(&w, a, 0);
    nn_send(b, "wake", 4, 0);
    join_waiter(&w, "blocked recv woken by a send from another thread");
    start_waiter(&w, a, 2);
    nn_send(b, "wake", 4, 0);
    join_waiter(&w, "blocked nn_poll woken by a send from another thread");
    char buf[8];
    nn_recv(a, buf, sizeof(buf), 0);
    start_waiter(&w, a, 0);
    R(nn_close(a), "nn_close while another thread is blocked in recv");
    join_waiter(&w, " ... the blocked recv returns");
    nn_close(b);

    int c = xsocket(AF_SP, NN_PAIR);
    start_waiter(&w, c, 1);
    R(nn_close(c), "nn_close while another thread is blocked in send");
    join_waiter(&w, " ... the blocked send returns");

    /* Signals: a handler without SA_RESTART, then with it. */
    for (int restart = 0; restart < 2; restart++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sa.sa_flags = restart ? SA_RESTART : 0;
        sigaction(SIGUSR1, &sa, NULL);
        for (int op = 0; op < 3; op++) {
            int s = xsocket(AF_SP, NN_PAIR);
            start_waiter(&w, s, op);
            pthread_kill(w.th, SIGUSR1);
            double end = now_ms() + LONG_WAIT;
            /* A signal that lands before the call blocks is not an
               interruption: resend until the call returns (bounded). */
            while (!__atomic_load_n(&w.done, __ATOMIC_SEQ_CST) && now_ms() < end) {
                struct timespec ts = {0, 5 * 1000000};
                nanosleep(&ts, NULL);
                if (!__atomic_load_n(&w.done, __ATOMIC_SEQ_CST))
                    pthread_kill(w.th, SIGUSR1);
            }
            if (!__atomic_load_n(&w.done, __ATOMIC_SEQ_CST))
                nn_close(s); /* not interrupted: release it */
            static const char *ops[] = {"recv", "send", "nn_poll"};
            char what[96];
            snprintf(what, sizeof(what), "blocked %s interrupted by a signal%s", ops[op],
                     restart ? " (SA_RESTART)" : "");
            join_waiter(&w, what);
            nn_close(s);
        }
    }
    signal(SIGUSR1, SIG_DFL);
}

/* ----------------------------------------------------------------- PAIR */
static void probe_pair(void)
{
    char buf[32];
    /* Connect before bind. */
    int a = xsocket(AF_SP, NN_PAIR), b = xsocket(AF_SP, NN_PAIR);
    R(nn_connect(b, "inproc://late-binder"), "connect before anyone binds");
    R(nn_bind(a, "inproc://late-binder"), "then bind");
    R(nn_send(b, "early", 5, 0), "send connector -> binder");
    R(nn_recv(a, buf, sizeof(buf), 0), " ... recv");
    R(nn_send(a, "back", 4, 0), "send binder -> connector");
    R(nn_recv(b, buf, sizeof(buf), 0), " ... recv");

    /* The binder goes away; a new one binds; the connector reconnects. */
    nn_close(a);
    R(nn_send(b, "x", 1, NN_DONTWAIT), "send DONTWAIT after the binder closed");
    int a2 = xsocket(AF_SP, NN_PAIR);
    R(nn_bind(a2, "inproc://late-binder"), "a new socket binds the name");
    R(nn_send(b, "again", 5, 0), "send to the new binder");
    R(nn_recv(a2, buf, sizeof(buf), 0), " ... recv");
    /* Same with a shutdown of the binding endpoint. */
    R(nn_shutdown(a2, 1), "the new binder shuts its endpoint down");
    R(nn_send(b, "x", 1, NN_DONTWAIT), "send DONTWAIT after shutdown");
    R(nn_bind(a2, "inproc://late-binder"), "binds it again");
    R(nn_send(b, "third", 5, 0), "send again");
    R(nn_recv(a2, buf, sizeof(buf), 0), " ... recv");
    /* A message queued before the binder closed. */
    nn_send(a2, "pending", 7, 0);
    nn_close(a2);
    memset(buf, 0, sizeof(buf));
    setint(b, NN_SOL_SOCKET, NN_RCVTIMEO, 100);
    R(nn_recv(b, buf, sizeof(buf), 0), "recv a message sent before the peer closed (100 ms)");
    nn_close(b);

    /* Raw PAIR talks to cooked PAIR, no header either way. */
    int x, y;
    inproc_pair(AF_SP_RAW, NN_PAIR, NN_PAIR, &x, &y);
    R(nn_send(x, "raw", 3, 0), "raw PAIR send");
    R(nn_recv(y, buf, sizeof(buf), 0), " ... raw PAIR recv");
    nn_close(x);
    nn_close(y);
    char addr[64];
    fresh_addr(addr, sizeof(addr));
    x = xsocket(AF_SP_RAW, NN_PAIR);
    y = xsocket(AF_SP, NN_PAIR);
    nn_bind(x, addr);
    nn_connect(y, addr);
    R(nn_send(y, "mixed", 5, 0), "cooked PAIR -> raw PAIR");
    R(nn_recv(x, buf, sizeof(buf), 0), " ... recv");
    R(nn_send(x, "back", 4, 0), "raw PAIR -> cooked PAIR");
    R(nn_recv(y, buf, sizeof(buf), 0), " ... recv");
    nn_close(x);
    nn_close(y);

}

/* One peer only: a third PAIR's connection is refused and the first pair
   keeps working. Stock crashes when the refused socket is used or closed
   (or nn_term closes it), so this runs in a child process started before
   the library is first used, which exits without closing anything. */
static void probe_pair_third(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char buf[32];
        int p = xsocket(AF_SP, NN_PAIR), q = xsocket(AF_SP, NN_PAIR), r = xsocket(AF_SP, NN_PAIR);
        nn_bind(p, "inproc://one-peer");
        nn_connect(q, "inproc://one-peer");
        R(nn_connect(r, "inproc://one-peer"), "third PAIR connects");
        R(nn_send(q, "first", 5, 0), "first peer sends");
        R(nn_recv(p, buf, sizeof(buf), 0), " ... binder receives");
        R(nn_send(p, "reply", 5, 0), "binder sends");
        R(nn_recv(q, buf, sizeof(buf), 0), " ... first peer receives");
        R(nn_recv(p, buf, sizeof(buf), NN_DONTWAIT), "binder has nothing else");
        fflush(stdout);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        line("third PAIR child died (status %d)", st);
}

/* ----------------------------------------------------- protocol families */
static void settle(int from, int to)
{
    /* Wait until a message gets through (connections are made in the
       background on some libraries); prints nothing. */
    char buf[16];
    for (int i = 0; i < 500; i++) {
        nn_send(from, "settle", 6, NN_DONTWAIT);
        int t = 10;
        nn_setsockopt(to, NN_SOL_SOCKET, NN_RCVTIMEO, &t, sizeof(t));
        if (nn_recv(to, buf, sizeof(buf), 0) == 6)
            break;
    }
    int t = LONG_WAIT;
    nn_setsockopt(to, NN_SOL_SOCKET, NN_RCVTIMEO, &t, sizeof(t));
    while (nn_recv(to, buf, sizeof(buf), NN_DONTWAIT) >= 0)
        ;
}

static void probe_reqrep(void)
{
    int req, rep;
    char buf[32];
    inproc_pair(AF_SP, NN_REP, NN_REQ, &rep, &req);
    R(nn_recv(req, buf, sizeof(buf), NN_DONTWAIT), "REQ recv before a request");
    R(nn_send(rep, "x", 1, NN_DONTWAIT), "REP send before a request");
    R(nn_send(req, "ping", 4, 0), "REQ send");
    R(nn_send(rep, "x", 1, NN_DONTWAIT), "REP send before it received");
    R(nn_recv(rep, buf, sizeof(buf), 0), "REP recv");
    R(nn_send(rep, "pong", 4, 0), "REP send reply");
    R(nn_send(rep, "pong", 4, 0), "REP send a second reply");
    R(nn_recv(req, buf, sizeof(buf), 0), "REQ recv reply");
    R(nn_recv(req, buf, sizeof(buf), NN_DONTWAIT), "REQ recv again");
    int v = 100;
    R(nn_setsockopt(req, NN_REQ, NN_REQ_RESEND_IVL, &v, sizeof(v)), "set REQ_RESEND_IVL 100");
    R(getint(req, NN_REQ, NN_REQ_RESEND_IVL), " ... reads back");
    v = 0;
    R(nn_setsockopt(req, NN_REQ, NN_REQ_RESEND_IVL, &v, sizeof(v)), "set REQ_RESEND_IVL 0");
    v = -1;
    R(nn_setsockopt(req, NN_REQ, NN_REQ_RESEND_IVL, &v, sizeof(v)), "set REQ_RESEND_IVL -1");
    R(nn_setsockopt(req, NN_REQ, NN_REQ_RESEND_IVL, &v, 2), "set REQ_RESEND_IVL len 2");
    R(nn_setsockopt(req, NN_REQ, 2, &v, sizeof(v)), "set REQ option 2");
    R(nn_setsockopt(rep, NN_REP, 1, &v, sizeof(v)), "set REP option 1");
    R(nn_setsockopt(rep, NN_REQ, NN_REQ_RESEND_IVL, &v, sizeof(v)), "set REQ option on REP");
    nn_close(req);
    nn_close(rep);

    /* Raw REP: the header the core hands to a device. */
    int rrep = xsocket(AF_SP_RAW, NN_REP), creq = xsocket(AF_SP, NN_REQ);
    nn_bind(rrep, "inproc://raw-rep");
    nn_connect(creq, "inproc://raw-rep");
    nn_send(creq, "q", 1, 0);
    unsigned char ctl[256];
    struct nn_iovec iov = {buf, sizeof(buf)};
    struct nn_msghdr h = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                          .msg_controllen = sizeof(ctl)};
    R(nn_recvmsg(rrep, &h, 0), "raw REP recvmsg");
    struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&h);
    size_t hl = 0;
    if (c)
        memcpy(&hl, NN_CMSG_DATA(c), sizeof(hl));
    line(" ... SP header of %zu bytes, last word has the top bit -> %s", hl,
         yn(c && hl >= 4 && (NN_CMSG_DATA(c)[sizeof(size_t) + hl - 4] & 0x80)));
    h.msg_controllen = sizeof(ctl);
    iov.iov_len = 1;
    R(nn_sendmsg(rrep, &h, 0), "raw REP sendmsg with that header");
    R(nn_recv(creq, buf, sizeof(buf), 0), " ... REQ receives the reply");
    R(nn_send(rrep, "noheader", 8, 0), "raw REP send without a header");
    R(nn_recv(rrep, buf, sizeof(buf), NN_DONTWAIT), "raw REP recv DONTWAIT");
    nn_close(rrep);
    nn_close(creq);
    int rreq = xsocket(AF_SP_RAW, NN_REQ);
    R(nn_recv(rreq, buf, sizeof(buf), NN_DONTWAIT), "raw REQ recv DONTWAIT");
    nn_close(rreq);
}

static void probe_pubsub(void)
{
    int pub, sub;
    char buf[32];
    inproc_pair(AF_SP, NN_PUB, NN_SUB, &pub, &sub);
    R(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "", 0), "subscribe to everything");
    settle(pub, sub);
    R(nn_setsockopt(sub, NN_SUB, NN_SUB_UNSUBSCRIBE, "", 0), "unsubscribe everything");
    R(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "ab", 2), "subscribe \"ab\"");
    R(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "ab", 2), "subscribe \"ab\" twice");
    R(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, NULL, 0), "subscribe NULL len 0");
    R(nn_setsockopt(sub, NN_SUB, NN_SUB_UNSUBSCRIBE, NULL, 0), "unsubscribe NULL len 0");
    R(nn_setsockopt(sub, NN_SUB, 3, "ab", 2), "SUB option 3");
    R(nn_setsockopt(pub, NN_SUB, NN_SUB_SUBSCRIBE, "ab", 2), "subscribe on a PUB");
    size_t l = sizeof(buf);
    R(nn_getsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, buf, &l), "getsockopt SUB_SUBSCRIBE");
    R(nn_send(pub, "xyz", 3, 0), "publish \"xyz\"");
    R(nn_send(pub, "abc", 3, 0), "publish \"abc\"");
    R(nn_send(pub, "a", 1, 0), "publish \"a\"");
    R(nn_send(pub, "ab", 2, 0), "publish \"ab\"");
    memset(buf, 0, sizeof(buf));
    R(nn_recv(sub, buf, sizeof(buf), 0), "SUB recv");
    line(" ... bytes %s", buf);
    memset(buf, 0, sizeof(buf));
    R(nn_recv(sub, buf, sizeof(buf), 0), "SUB recv");
    line(" ... bytes %s", buf);
    R(nn_recv(sub, buf, sizeof(buf), NN_DONTWAIT), "SUB recv again");
    R(nn_send(sub, "x", 1, 0), "SUB send");
    R(nn_recv(pub, buf, sizeof(buf), 0), "PUB recv");
    nn_close(pub);
    nn_close(sub);
    int lone = xsocket(AF_SP, NN_PUB);
    R(nn_send(lone, "x", 1, 0), "PUB send with no subscriber");
    nn_close(lone);
}

static void probe_pipeline(void)
{
    int push, pull;
    char buf[32];
    inproc_pair(AF_SP, NN_PULL, NN_PUSH, &pull, &push);
    R(nn_send(push, "job", 3, 0), "PUSH send");
    R(nn_recv(pull, buf, sizeof(buf), 0), "PULL recv");
    R(nn_send(pull, "x", 1, 0), "PULL send");
    R(nn_recv(push, buf, sizeof(buf), 0), "PUSH recv");
    print_stats(push, "PUSH after one message");
    nn_close(push);
    nn_close(pull);
    int p2 = xsocket(AF_SP, NN_PUSH);
    setint(p2, NN_SOL_SOCKET, NN_SNDPRIO, 3);
    print_stats(p2, "PUSH with SNDPRIO 3, no peer");
    int l2 = xsocket(AF_SP, NN_PULL);
    nn_bind(l2, "inproc://push-prio");
    nn_connect(p2, "inproc://push-prio");
    nn_send(p2, "x", 1, 0);
    nn_recv(l2, buf, sizeof(buf), 0);
    print_stats(p2, "PUSH with SNDPRIO 3 after one message");
    nn_close(p2);
    nn_close(l2);
}

static void probe_survey(void)
{
    int sv, rs;
    char buf[32];
    inproc_pair(AF_SP, NN_SURVEYOR, NN_RESPONDENT, &sv, &rs);
    R(nn_recv(sv, buf, sizeof(buf), NN_DONTWAIT), "SURVEYOR recv before a survey");
    R(nn_send(rs, "x", 1, NN_DONTWAIT), "RESPONDENT send before a survey");
    R(getint(sv, NN_SURVEYOR, NN_SURVEYOR_DEADLINE), "SURVEYOR_DEADLINE default");
    int v = 300;
    R(nn_setsockopt(sv, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, sizeof(v)), "set deadline 300");
    R(nn_setsockopt(sv, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, 2), "set deadline len 2");
    v = -1;
    R(nn_setsockopt(sv, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, sizeof(v)), "set deadline -1");
    v = 0;
    R(nn_setsockopt(sv, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, sizeof(v)), "set deadline 0");
    v = 300;
    nn_setsockopt(sv, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, sizeof(v));
    R(nn_setsockopt(sv, NN_SURVEYOR, 2, &v, sizeof(v)), "SURVEYOR option 2");
    /* The first survey may be sent before the connection is up on some
       libraries: retry on timeout. */
    int got = -1;
    for (int i = 0; i < 20 && got < 0; i++) {
        nn_send(sv, "survey", 6, 0);
        int t = 300;
        nn_setsockopt(rs, NN_SOL_SOCKET, NN_RCVTIMEO, &t, sizeof(t));
        got = nn_recv(rs, buf, sizeof(buf), 0);
    }
    line("RESPONDENT got the survey -> %d", got);
    R(nn_send(rs, "answer", 6, 0), "RESPONDENT answers");
    R(nn_send(rs, "answer", 6, NN_DONTWAIT), "RESPONDENT answers twice");
    R(nn_recv(sv, buf, sizeof(buf), 0), "SURVEYOR recv the answer");
    double t0 = now_ms();
    R(nn_recv(sv, buf, sizeof(buf), 0), "SURVEYOR recv after the only answer (deadline 300)");
    line(" ... waited until about the deadline -> %s", yn(now_ms() - t0 >= 150));
    R(nn_recv(sv, buf, sizeof(buf), NN_DONTWAIT), "SURVEYOR recv after the deadline");
    nn_close(sv);
    nn_close(rs);
}

static void probe_bus(void)
{
    int a, b;
    char buf[32];
    inproc_pair(AF_SP, NN_BUS, NN_BUS, &a, &b);
    settle(a, b);
    R(nn_send(a, "bus", 3, 0), "BUS send");
    R(nn_recv(b, buf, sizeof(buf), 0), "BUS recv");
    R(nn_recv(a, buf, sizeof(buf), NN_DONTWAIT), "BUS sender does not get its own message");
    nn_close(a);
    nn_close(b);
    int lone = xsocket(AF_SP, NN_BUS);
    R(nn_send(lone, "x", 1, 0), "BUS send with no peer");
    nn_close(lone);
}

static void probe_peer_mismatch(void)
{
    /* Incompatible types over inproc: nothing flows. */
    int a = xsocket(AF_SP, NN_PAIR), b = xsocket(AF_SP, NN_REQ);
    R(nn_bind(a, "inproc://mismatch"), "PAIR binds");
    R(nn_connect(b, "inproc://mismatch"), "REQ connects to it");
    R(nn_send(a, "x", 1, NN_DONTWAIT), "PAIR send DONTWAIT");
    char buf[4];
    R(nn_recv(a, buf, sizeof(buf), NN_DONTWAIT), "PAIR recv DONTWAIT");
    nn_close(b);
    nn_close(a);
}

/* ------------------------------------------------------------ transports */
/* A transport-level option's edges: NULL values, every length from 0 to
   8 (the order of the length and NULL checks shows here), and short reads.
   Only buffers of at least an int are read back: the stock library writes
   a whole int into the ipc buffer sizes whatever the length, which the
   probe must not let it do to a shorter buffer. */
static void option_edges(int s, int level, int opt, const char *name, int good)
{
    R(nn_setsockopt(s, level, opt, NULL, 0), "set %s NULL, 0", name);
    R(nn_setsockopt(s, level, opt, NULL, sizeof(int)), "set %s NULL, 4", name);
    for (size_t len = 0; len <= 8; len++) {
        char b[8] = {0};
        memcpy(b, &good, sizeof(good));
        R(nn_setsockopt(s, level, opt, b, len), "set %s length %zu", name, len);
    }
    for (size_t len = sizeof(int); len <= 8; len++) {
        char b[8];
        memset(b, 0x55, sizeof(b));
        size_t l = len;
        errno = 0;
        int rc = nn_getsockopt(s, level, opt, b, &l);
        line("get %s length %zu -> %s, length %zu, bytes past the int %s", name, len,
             rcstr(rc, errno), l,
             len > sizeof(int) && b[sizeof(int)] != 0x55 ? "written" : "untouched");
    }
}

static void probe_tcp(void)
{
    int s = xsocket(AF_SP, NN_PAIR);
    R(getint(s, NN_TCP, NN_TCP_NODELAY), "TCP_NODELAY default");
    int v = 1;
    R(nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &v, sizeof(v)), "set TCP_NODELAY 1");
    v = 2;
    R(nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &v, sizeof(v)), "set TCP_NODELAY 2");
    R(nn_setsockopt(s, NN_TCP, 2, &v, sizeof(v)), "set TCP option 2");
    option_edges(s, NN_TCP, NN_TCP_NODELAY, "TCP_NODELAY", 1);
    option_edges(s, NN_TCP, 99, "TCP option 99", 1);
    static const char *addrs[] = {"tcp://", "tcp://127.0.0.1", "tcp://127.0.0.1:", "tcp://127.0.0.1:0",
                                  "tcp://127.0.0.1:65536", "tcp://127.0.0.1:-1", "tcp://127.0.0.1:x",
                                  "tcp://:5555", "tcp://*:", "tcp://nosuch-iface-xyz:5555"};
    for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        errno = 0;
        int rc = nn_bind(s, addrs[i]);
        line("nn_bind \"%s\" -> %s", addrs[i], rc >= 0 ? "ok" : rcstr(rc, errno));
        if (rc >= 0)
            nn_shutdown(s, rc);
    }
    static const char *caddrs[] = {"tcp://", "tcp://127.0.0.1", "tcp://127.0.0.1:", "tcp://127.0.0.1:0",
                                   "tcp://127.0.0.1:65536", "tcp://:5555", "tcp://lo;127.0.0.1:5555",
                                   "tcp://a;b;c:5555", "tcp://[::1]:5555"};
    for (size_t i = 0; i < sizeof(caddrs) / sizeof(caddrs[0]); i++) {
        errno = 0;
        int rc = nn_connect(s, caddrs[i]);
        line("nn_connect \"%s\" -> %s", caddrs[i], rc >= 0 ? "ok" : rcstr(rc, errno));
        if (rc >= 0)
            nn_shutdown(s, rc);
    }
    nn_close(s);
}

static void probe_ipc(void)
{
    int s = xsocket(AF_SP, NN_PAIR);
    R(getint(s, NN_IPC, NN_IPC_OUTBUFSZ), "IPC_OUTBUFSZ default");
    R(getint(s, NN_IPC, NN_IPC_INBUFSZ), "IPC_INBUFSZ default");
    size_t l = 64;
    char b[64];
    R(nn_getsockopt(s, NN_IPC, NN_IPC_SEC_ATTR, b, &l), "getsockopt IPC_SEC_ATTR");
    line("IPC_SEC_ATTR length %zu", l);
    int v = 7;
    void *seen = NULL;
    l = sizeof(seen);
    R(nn_setsockopt(s, NN_IPC, NN_IPC_SEC_ATTR, &v, sizeof(v)), "set IPC_SEC_ATTR");
    R(nn_getsockopt(s, NN_IPC, NN_IPC_SEC_ATTR, &seen, &l), "get IPC_SEC_ATTR after set");
    line("IPC_SEC_ATTR reads back the address set: %s, length %zu", seen == (void *) &v ? "yes" : "no", l);
    v = 0;
    R(nn_setsockopt(s, NN_IPC, NN_IPC_OUTBUFSZ, &v, sizeof(v)), "set IPC_OUTBUFSZ 0");
    v = 8192;
    R(nn_setsockopt(s, NN_IPC, NN_IPC_OUTBUFSZ, &v, sizeof(v)), "set IPC_OUTBUFSZ 8192");
    R(nn_setsockopt(s, NN_IPC, 4, &v, sizeof(v)), "set IPC option 4");
    option_edges(s, NN_IPC, NN_IPC_OUTBUFSZ, "IPC_OUTBUFSZ", 4096);
    option_edges(s, NN_IPC, 99, "IPC option 99", 1);
    nn_close(s);
}

static void probe_ws(void)
{
    int s = xsocket(AF_SP, NN_PAIR);
    R(getint(s, NN_WS, NN_WS_MSG_TYPE), "WS_MSG_TYPE default");
    int v = NN_WS_MSG_TYPE_TEXT;
    R(nn_setsockopt(s, NN_WS, NN_WS_MSG_TYPE, &v, sizeof(v)), "set WS_MSG_TYPE TEXT");
    v = 3;
    R(nn_setsockopt(s, NN_WS, NN_WS_MSG_TYPE, &v, sizeof(v)), "set WS_MSG_TYPE 3");
    R(nn_setsockopt(s, NN_WS, 2, &v, sizeof(v)), "set WS option 2");
    option_edges(s, NN_WS, NN_WS_MSG_TYPE, "WS_MSG_TYPE", NN_WS_MSG_TYPE_BINARY);
    option_edges(s, NN_WS, 99, "WS option 99", 1);
    nn_close(s);
}

/* ------------------------------------------- options after bind/connect
   Which options reach the endpoints that already exist (nn_setsockopt(3),
   "When a change takes effect"): NN_RCVMAXSIZE on live connections, the
   buffer sizes and TCP_NODELAY on connections made afterwards (seen in the
   kernel's socket options), SNDPRIO, IPV4ONLY and RECONNECT_IVL never. */
static int live_port;

static int bind_live_on(int s, const char *scheme, const char *host, char *addr, size_t n,
                        int *port)
{
    for (int i = 0; i < 200; i++) {
        if (!live_port)
            live_port = 20000 + (int) ((unsigned) getpid() * 37u % 11000u);
        *port = live_port++;
        if (strcmp(scheme, "ipc") == 0)
            snprintf(addr, n, "ipc:///tmp/fm-probe-live-%d-%d.ipc", (int) getpid(), *port);
        else
            snprintf(addr, n, "%s://%s:%d", scheme, host, *port);
        int eid = nn_bind(s, addr);
        if (eid >= 0 || errno != EADDRINUSE)
            return eid;
    }
    return -1;
}

static int bind_live(int s, const char *scheme, char *addr, size_t n, int *port)
{
    return bind_live_on(s, scheme, "127.0.0.1", addr, n, port);
}

static int64_t statv(int s, int st) { return (int64_t) nn_get_statistic(s, st); }

static int until_stat(int s, int st, int64_t atleast, int ms)
{
    double end = now_ms() + ms;
    while (statv(s, st) < atleast) {
        if (now_ms() > end)
            return 0;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return 1;
}

static void probe_live_rcvmaxsize(const char *scheme)
{
    char addr[128], buf[16];
    int port;
    int b = xsocket(AF_SP, NN_PAIR), c = xsocket(AF_SP, NN_PAIR);
    setint(b, NN_SOL_SOCKET, NN_RCVTIMEO, 1000);
    setint(c, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);
    if (bind_live(b, scheme, addr, sizeof(addr), &port) < 0 || nn_connect(c, addr) < 0) {
        line("live RCVMAXSIZE: setup failed");
        return;
    }
    nn_send(c, "AB", 2, 0);
    R(nn_recv(b, buf, sizeof(buf), 0), "live RCVMAXSIZE: before");
    setint(b, NN_SOL_SOCKET, NN_RCVMAXSIZE, 4);
    nn_send(c, "ABCD", 4, 0);
    R(nn_recv(b, buf, sizeof(buf), 0), "RCVMAXSIZE 4 set after connect: 4 bytes");
    nn_send(c, "ABCDE", 5, 0);
    R(nn_recv(b, buf, sizeof(buf), 0), "RCVMAXSIZE 4 set after connect: 5 bytes");
    nn_close(c);
    nn_close(b);
}

static int tcp_fd_on(int port, int accepted, int not)
{
    for (int fd = 3; fd < 4096; fd++) {
        struct sockaddr_in a, p;
        socklen_t al = sizeof(a), pl = sizeof(p);
        if (fd == not || getsockname(fd, (struct sockaddr *) &a, &al) != 0 ||
            a.sin_family != AF_INET || getpeername(fd, (struct sockaddr *) &p, &pl) != 0)
            continue;
        if (ntohs(accepted ? a.sin_port : p.sin_port) == port)
            return fd;
    }
    return -1;
}

static const char *kbufs(int fd, int snd, int rcv, int nodelay)
{
    static char out[64];
    int v[3] = {-1, -1, -1};
    socklen_t l = sizeof(int);
    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v[0], &l);
    l = sizeof(int);
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v[1], &l);
    l = sizeof(int);
    getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v[2], &l);
    snprintf(out, sizeof(out), "SO_SNDBUF %s, SO_RCVBUF %s, NODELAY %s",
             v[0] == 2 * snd ? "as set" : "not as set", v[1] == 2 * rcv ? "as set" : "not as set",
             v[2] == nodelay ? "as set" : "not as set");
    return out;
}

static void probe_live_conn_opts(void)
{
    char addr[128], buf[8];
    int port, one = 1;
    int b = xsocket(AF_SP, NN_PULL), c = xsocket(AF_SP, NN_PUSH);
    setint(c, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);
    int beid = bind_live(b, "tcp", addr, sizeof(addr), &port);
    if (beid < 0 || nn_connect(c, addr) < 0) {
        line("live buffers: setup failed");
        return;
    }
    nn_send(c, "x", 1, 0);
    nn_recv(b, buf, sizeof(buf), 0);
    for (int i = 0; i < 2; i++) {
        int s = i ? c : b;
        setint(s, NN_SOL_SOCKET, NN_SNDBUF, 8192);
        setint(s, NN_SOL_SOCKET, NN_RCVBUF, 16384);
        nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &one, sizeof(one));
    }
    int fa = tcp_fd_on(port, 1, -1), fd = tcp_fd_on(port, 0, -1);
    line("SNDBUF/RCVBUF/TCP_NODELAY set after bind: live accepted connection -> %s",
         fa < 0 ? "none" : kbufs(fa, 8192, 16384, 1));
    line("SNDBUF/RCVBUF/TCP_NODELAY set after connect: live dialled connection -> %s",
         fd < 0 ? "none" : kbufs(fd, 8192, 16384, 1));
    int c2 = xsocket(AF_SP, NN_PUSH);
    nn_connect(c2, addr);
    nn_send(c2, "x", 1, 0);
    nn_recv(b, buf, sizeof(buf), 0);
    int fa2 = tcp_fd_on(port, 1, fa);
    line("SNDBUF/RCVBUF/TCP_NODELAY set after bind: next accepted connection -> %s",
         fa2 < 0 ? "none" : kbufs(fa2, 8192, 16384, 1));
    nn_close(c2);
    nn_shutdown(b, beid);
    until_stat(c, NN_STAT_BROKEN_CONNECTIONS, 1, LONG_WAIT);
    nn_bind(b, addr);
    nn_send(c, "y", 1, 0);
    nn_recv(b, buf, sizeof(buf), 0);
    int fd2 = tcp_fd_on(port, 0, -1);
    line("SNDBUF/RCVBUF/TCP_NODELAY set after connect: reconnected dialled connection -> %s",
         fd2 < 0 ? "none" : kbufs(fd2, 8192, 16384, 1));
    nn_close(c);
    nn_close(b);
}

static void probe_live_fixed(void)
{
    /* SNDPRIO raised between two nn_connect calls. */
    int p1 = xsocket(AF_SP, NN_PULL), p2 = xsocket(AF_SP, NN_PULL), push = xsocket(AF_SP, NN_PUSH);
    char a1[64], a2[64], buf[4];
    nn_bind(p1, fresh_addr(a1, sizeof(a1)));
    nn_bind(p2, fresh_addr(a2, sizeof(a2)));
    nn_connect(push, a1);
    setint(push, NN_SOL_SOCKET, NN_SNDPRIO, 1);
    nn_connect(push, a2);
    for (int i = 0; i < 10; i++)
        nn_send(push, "m", 1, 0);
    int n1 = 0, n2 = 0;
    while (nn_recv(p1, buf, sizeof(buf), NN_DONTWAIT) >= 0)
        n1++;
    while (nn_recv(p2, buf, sizeof(buf), NN_DONTWAIT) >= 0)
        n2++;
    line("SNDPRIO 1 set between two connects: 10 sent go %d to the first, %d to the second", n1,
         n2);
    nn_close(push);
    nn_close(p1);
    nn_close(p2);

    /* RECONNECT_IVL raised while connects keep failing. */
    char addr[128];
    int port;
    int l = xsocket(AF_SP, NN_PAIR);
    bind_live(l, "tcp", addr, sizeof(addr), &port);
    nn_close(l);
    int c = xsocket(AF_SP, NN_PAIR);
    setint(c, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);
    nn_connect(c, addr);
    until_stat(c, NN_STAT_CONNECT_ERRORS, 2, LONG_WAIT);
    setint(c, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10000);
    int64_t e0 = statv(c, NN_STAT_CONNECT_ERRORS);
    line("RECONNECT_IVL 20 raised to 10000 after connect: attempts go on at 20 ms -> %s",
         yn(until_stat(c, NN_STAT_CONNECT_ERRORS, e0 + 3, LONG_WAIT)));
    nn_close(c);

    /* IPV4ONLY cleared after binding "*". */
    int b = xsocket(AF_SP, NN_PAIR), c6 = xsocket(AF_SP, NN_PAIR), zero = 0;
    char a6[128];
    if (bind_live_on(b, "tcp", "*", addr, sizeof(addr), &port) >= 0) {
        {
            setint(b, NN_SOL_SOCKET, NN_IPV4ONLY, 0);
            nn_setsockopt(c6, NN_SOL_SOCKET, NN_IPV4ONLY, &zero, sizeof(zero));
            setint(c6, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);
            snprintf(a6, sizeof(a6), "tcp://[::1]:%d", port);
            nn_connect(c6, a6);
            until_stat(c6, NN_STAT_CONNECT_ERRORS, 3, LONG_WAIT);
            line("IPV4ONLY 0 set after binding *: IPv6 peers accepted -> %s",
                 yn(statv(b, NN_STAT_ACCEPTED_CONNECTIONS) > 0));
        }
    }
    nn_close(c6);
    nn_close(b);
}

/* How the end of a tcp connection is counted (nn_get_statistic(3)). */
static void print_end(int s, const char *what)
{
    double end = now_ms() + LONG_WAIT;
    while (statv(s, NN_STAT_DROPPED_CONNECTIONS) + statv(s, NN_STAT_BROKEN_CONNECTIONS) < 1 &&
           now_ms() < end) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    line("connection end, %s: dropped %lld, broken %lld", what,
         (long long) statv(s, NN_STAT_DROPPED_CONNECTIONS),
         (long long) statv(s, NN_STAT_BROKEN_CONNECTIONS));
}

static void probe_conn_ends(void)
{
    for (int k = 0; k < 4; k++) {
        char addr[128], buf[8];
        int port;
        int b = xsocket(AF_SP, NN_PAIR), c = xsocket(AF_SP, NN_PAIR);
        setint(c, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);
        int beid = bind_live(b, "tcp", addr, sizeof(addr), &port);
        int ceid = nn_connect(c, addr);
        nn_send(c, "x", 1, 0);
        if (beid < 0 || ceid < 0 || nn_recv(b, buf, sizeof(buf), 0) != 1) {
            line("connection end: setup failed");
            return;
        }
        switch (k) {
        case 0: nn_close(c); c = -1; print_end(b, "listener, peer closed"); break;
        case 1: nn_close(b); b = -1; print_end(c, "dialler, peer closed"); break;
        case 2:
            nn_shutdown(c, ceid);
            print_end(c, "dialler, own nn_shutdown");
            print_end(b, "listener, peer's nn_shutdown");
            break;
        case 3:
            nn_shutdown(b, beid);
            print_end(b, "listener, own nn_shutdown");
            print_end(c, "dialler, peer's nn_shutdown");
            break;
        }
        if (b >= 0)
            nn_close(b);
        if (c >= 0)
            nn_close(c);
    }
}

/* --------------------------------------------------------------- device */
typedef int (*device_fn)(int, int);

static void probe_device(device_fn dev)
{
    R(dev(-1, -1), "nn_device bad sockets");
    int a = xsocket(AF_SP, NN_PAIR), b = xsocket(AF_SP, NN_PAIR);
    R(dev(a, b), "nn_device two cooked sockets");
    R(dev(a, -1), "nn_device cooked and bad");
    nn_close(a);
    nn_close(b);
    int r = xsocket(AF_SP_RAW, NN_PAIR);
    R(dev(r, 408), "nn_device raw and never-opened");
    nn_close(r);
}

/* ----------------------------------------------------------------- term */
static void probe_term(void)
{
    int a, b;
    inproc_pair(AF_SP, NN_PAIR, NN_PAIR, &a, &b);
    struct waiter w;
    start_waiter(&w, a, 0);
    struct waiter w2;
    int c = xsocket(AF_SP, NN_PAIR);
    start_waiter(&w2, c, 2);
    int rfd = getint(b, NN_SOL_SOCKET, NN_RCVFD);
    int sfd = getint(c, NN_SOL_SOCKET, NN_SNDFD);
    void *m = nn_allocmsg(3, 0);
    nn_term();
    line("nn_term returned");
    join_waiter(&w, "recv blocked when nn_term ran");
    /* The stock library signals the descriptors and then closes them, so
       its poll sees the socket readable in some runs and nothing in most:
       what both must do is return, without an error. */
    pthread_join(w2.th, NULL);
    line("nn_poll blocked when nn_term ran -> %s",
         w2.rc >= 0 ? "returned" : rcstr(w2.rc, w2.err));
    (void) rfd;
    (void) sfd;
    char buf[4];
    RS(nn_socket(AF_SP, NN_PAIR), "nn_socket after nn_term");
    R(nn_send(b, "x", 1, 0), "send after nn_term");
    R(nn_recv(b, buf, sizeof(buf), 0), "recv after nn_term");
    int v = 1;
    size_t l = sizeof(v);
    R(nn_getsockopt(b, NN_SOL_SOCKET, NN_LINGER, &v, &l), "getsockopt after nn_term");
    R(nn_setsockopt(b, NN_SOL_SOCKET, NN_LINGER, &v, sizeof(v)), "setsockopt after nn_term");
    R(nn_bind(b, "inproc://after-term"), "bind after nn_term");
    R(nn_connect(b, "inproc://after-term"), "connect after nn_term");
    R(nn_shutdown(b, 1), "shutdown after nn_term");
    struct nn_pollfd pf = {.fd = b, .events = NN_POLLIN};
    R(nn_poll(&pf, 1, 0), "nn_poll after nn_term");
    errno = 0;
    uint64_t st = nn_get_statistic(b, NN_STAT_MESSAGES_SENT);
    line("nn_get_statistic after nn_term -> %s", st == (uint64_t) -1 ? rcstr(-1, errno) : "a value");
    struct nn_msghdr h;
    memset(&h, 0, sizeof(h));
    R(nn_sendmsg(b, &h, 0), "sendmsg after nn_term");
    R(nn_recvmsg(b, &h, 0), "recvmsg after nn_term");
    errno = 0;
    void *m2 = nn_allocmsg(3, 0);
    line("nn_allocmsg after nn_term -> %s", m2 ? "ok" : ename(errno));
    if (m2)
        R(nn_freemsg(m2), "nn_freemsg after nn_term");
    R(nn_freemsg(m), "nn_freemsg of a buffer allocated before nn_term");
    R(nn_close(b), "nn_close after nn_term");
    R(nn_close(a), "nn_close the other after nn_term");
    nn_term();
    line("nn_term again returned");
    RS(nn_socket(AF_SP, NN_PAIR), "nn_socket after a second nn_term");
    line("nn_strerror still works -> %s", yn(nn_strerror(ETERM) != NULL));
}

/* nn_term before the library was ever used ends nothing: a later
   nn_socket works (stock); the next nn_term is final. Its own process. */
static void probe_term_first(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        nn_term();
        line("nn_term before any use returned");
        R(nn_close(0), "nn_close 0 after it");
        errno = 0;
        int s = nn_socket(AF_SP, NN_PAIR);
        line("nn_socket after an nn_term that came first -> %s", s >= 0 ? "ok" : rcstr(s, errno));
        nn_term();
        if (s >= 0)
            R(nn_close(s), "nn_close it after a second nn_term");
        RS(nn_socket(AF_SP, NN_PAIR), "nn_socket after the second nn_term");
        fflush(stdout);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        line("term-first child died (status %d)", st);
}

/* ------------------------------------------------------------------ main */
static int print_where(void)
{
    char buf[4096];
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return 1;
    while (fgets(buf, sizeof(buf), f)) {
        char *p = strchr(buf, '/');
        if (p && strstr(p, "libnanomsg")) {
            fputs(p, stdout);
            fclose(f);
            return 0;
        }
    }
    fclose(f);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--where") == 0)
        return print_where();
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max && rl.rlim_cur < 4096) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);

    /* Before the library is used: see probe_pair_third. */
    probe_pair_third();
    probe_term_first();
    int pair_ok = type_supported(NN_PAIR);
    if (!section("core", pair_ok))
        return 1;
    probe_sockets();
    for (int i = 0; i < NTYPES; i++) {
        if (strcmp(types[i].family, "core") != 0)
            continue;
        probe_type(&types[i]);
    }
    probe_options();
    probe_endpoints();
    probe_sendrecv();
    probe_msghdr();
    probe_alloc();
    probe_poll();
    probe_stats();
    probe_threads();
    probe_pair();

    static const char *families[] = {"reqrep", "pubsub", "pipeline", "survey", "bus"};
    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
        if (!section(families[f], family_supported(families[f])))
            continue;
        for (int i = 0; i < NTYPES; i++)
            if (strcmp(types[i].family, families[f]) == 0)
                probe_type(&types[i]);
        switch (f) {
        case 0: probe_reqrep(); break;
        case 1: probe_pubsub(); break;
        case 2: probe_pipeline(); break;
        case 3: probe_survey(); break;
        case 4: probe_bus(); break;
        }
    }
    if (section("reqrep", family_supported("reqrep")))
        probe_peer_mismatch();

    if (section("tcp", transport_supported("tcp://")))
        probe_tcp();
    if (section("ipc", transport_supported("ipc://")))
        probe_ipc();
    if (section("ws", transport_supported("ws://")))
        probe_ws();
    if (section("tcp", transport_supported("tcp://"))) {
        probe_live_rcvmaxsize("tcp");
        probe_live_conn_opts();
        probe_live_fixed();
        probe_conn_ends();
    }
    if (section("ipc", transport_supported("ipc://")))
        probe_live_rcvmaxsize("ipc");
    if (section("ws", transport_supported("ws://")))
        probe_live_rcvmaxsize("ws");
    device_fn dev = (device_fn) dlsym(RTLD_DEFAULT, "nn_device");
    if (section("device", dev != NULL))
        probe_device(dev);

    feat = "core";
    probe_term();
    line("done");
    return 0;
}
