/* tcp.c: the tcp:// transport. It owns the address syntax and its errors
   (the same as the stock library's, checked against it, plus interface
   names to bind, where the stock library accepts only literals), the
   listening socket, and the TCP options of every connection
   (NN_TCP_NODELAY, keepalive); stream.c runs the connections.

     bind:    "*:port", "[addr]:port", "addr:port", "ifname:port"
     connect: "[local;]host:port", local a literal, host a literal or a DNS name
   (each after the "tcp://" scheme). tcp_addr.h lends this syntax and the
   listening socket to ws://, which runs over TCP too. */
#include "tcp_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nanomsg/tcp.h>
#include <string.h>
#include <unistd.h>

/* Keepalive probes so that a half-open connection (peer machine gone) is
   noticed in about two minutes rather than the kernel's two hours. */
#define KEEPALIVE_IDLE_S 60
#define KEEPALIVE_INTVL_S 10
#define KEEPALIVE_CNT 6

static int parse_port(const char *s, unsigned short *port)
{
    unsigned long v = 0;
    if (!*s)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        v = v * 10 + (unsigned long) (*s - '0');
        if (v > 65535)
            return -EINVAL;
    }
    if (v == 0)
        return -EINVAL;
    *port = (unsigned short) v;
    return 0;
}

static void set_port(struct sockaddr_storage *ss, unsigned short port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *) ss)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *) ss)->sin6_port = htons(port);
}

/* A numeric address, strictly (no inet_aton shorthand like "127.1"); IPv6
   may carry a %scope. */
static int parse_literal(const char *s, bool v4only, struct sockaddr_storage *ss,
                         socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in = (struct sockaddr_in *) ss;
    if (inet_pton(AF_INET, s, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        *len = sizeof(*in);
        return 0;
    }
    char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    if (strlen(s) >= sizeof(buf))
        return -EINVAL;
    strcpy(buf, s);
    char *scope = strchr(buf, '%');
    if (scope)
        *scope++ = '\0';
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;
    if (inet_pton(AF_INET6, buf, &in6->sin6_addr) != 1)
        return -EINVAL;
    if (v4only)
        return -EAFNOSUPPORT;
    if (scope && !(in6->sin6_scope_id = if_nametoindex(scope)))
        return -EINVAL;
    in6->sin6_family = AF_INET6;
    *len = sizeof(*in6);
    return 0;
}

/* A local interface: "*", a literal in optional brackets, or (names_ok)
   an interface name, taking its IPv4 address, else (when allowed) its IPv6
   one. */
static int resolve_iface(const char *s, size_t n, bool v4only, bool names_ok,
                         struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (n == 1 && s[0] == '*') {
        if (v4only) {
            ss->ss_family = AF_INET;
            *len = sizeof(struct sockaddr_in);
        } else {
            ss->ss_family = AF_INET6; /* in6addr_any, dual-stack */
            *len = sizeof(struct sockaddr_in6);
        }
        return 0;
    }
    char name[NN_SOCKADDR_MAX + 1];
    if (n >= sizeof(name))
        return -ENODEV;
    memcpy(name, s, n);
    name[n] = '\0';
    bool bracketed = n >= 2 && name[0] == '[' && name[n - 1] == ']';
    if (bracketed) {
        name[n - 1] = '\0';
        return parse_literal(name + 1, v4only, ss, len) == 0 ? 0 : -ENODEV;
    }
    if (parse_literal(name, v4only, ss, len) == 0)
        return 0;
    struct ifaddrs *ifs;
    if (!names_ok || n == 0 || getifaddrs(&ifs) != 0)
        return -ENODEV;
    int rc = -ENODEV;
    for (int pass = 0; pass < (v4only ? 1 : 2) && rc != 0; pass++) {
        int fam = pass == 0 ? AF_INET : AF_INET6;
        for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != fam || strcmp(i->ifa_name, name) != 0)
                continue;
            size_t l = fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
            memcpy(ss, i->ifa_addr, l);
            *len = (socklen_t) l;
            rc = 0;
            break;
        }
    }
    freeifaddrs(ifs);
    return rc;
}

/* The DNS name syntax the stock library accepts. */
static bool hostname_ok(const char *s, size_t n)
{
    if (n < 1 || n > 255)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && label > 0))
            return false;
        if (++label > 63)
            return false;
    }
    return true;
}

/* Split "<head>:<port>" at the last colon. */
static int split_port(const char *addr, size_t *head_len, unsigned short *port)
{
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return -EINVAL;
    *head_len = (size_t) (colon - addr);
    return parse_port(colon + 1, port);
}

int fm_tcp_parse_port(const char *s, unsigned short *port) { return parse_port(s, port); }
void fm_tcp_set_port(struct sockaddr_storage *ss, unsigned short port) { set_port(ss, port); }
bool fm_tcp_hostname_ok(const char *s, size_t n) { return hostname_ok(s, n); }

static const char *addr_of(struct fm_ep *ep) { return ep->addr + strlen("tcp://"); }

static void tcp_tune(struct fm_ep *ep, int fd)
{
    int one = 1, v;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    v = KEEPALIVE_IDLE_S;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v));
    v = KEEPALIVE_INTVL_S;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, sizeof(v));
    v = KEEPALIVE_CNT;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof(v));
    v = ep->tpopts[NN_TCP_NODELAY] ? 1 : 0;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v));
}

static const struct fm_stream_tp tcp_stream = {
    .framer = &fm_sp_framer,
    .tune = tcp_tune,
};

int fm_tcp_parse_bind(const char *a, bool v4only, struct sockaddr_storage *ss,
                      socklen_t *len, bool *any)
{
    size_t hl;
    unsigned short port;
    int rc = split_port(a, &hl, &port);
    if (rc)
        return rc;
    rc = resolve_iface(a, hl, v4only, true, ss, len);
    if (rc)
        return rc;
    set_port(ss, port);
    *any = hl == 1 && a[0] == '*';
    return 0;
}

int fm_tcp_listen(struct sockaddr_storage *ss, socklen_t *len, bool any, bool v4only)
{
    int rc;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && errno == EAFNOSUPPORT && ss->ss_family == AF_INET6 && any) {
        /* "*" without IPv6 in the kernel: all IPv4 interfaces, then. */
        unsigned short port = ntohs(((struct sockaddr_in6 *) ss)->sin6_port);
        memset(ss, 0, sizeof(*ss));
        ss->ss_family = AF_INET;
        *len = sizeof(struct sockaddr_in);
        set_port(ss, port);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (fd < 0)
        return -errno;
    int one = 1, zero = 0;
    /* Rebinding a port whose old connections sit in TIME_WAIT must work. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v4only ? &one : &zero, sizeof(int));
    if (bind(fd, (struct sockaddr *) ss, *len) != 0 || listen(fd, SOMAXCONN) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

static int tcp_bind(struct fm_ep *ep)
{
    struct sockaddr_storage ss;
    socklen_t len;
    bool any;
    int rc = fm_tcp_parse_bind(addr_of(ep), ep->ipv4only, &ss, &len, &any);
    if (rc)
        return rc;
    int fd = fm_tcp_listen(&ss, &len, any, ep->ipv4only);
    if (fd < 0)
        return fd;
    rc = fm_stream_listen(ep, &tcp_stream, fd, NULL, (struct fm_stream_args){0});
    if (rc)
        close(fd);
    return rc;
}

int fm_tcp_parse_connect(const char *a, bool v4only, struct fm_stream_target *t)
{
    size_t hl;
    unsigned short port;
    int rc = split_port(a, &hl, &port);
    if (rc)
        return rc;
    memset(t, 0, sizeof(*t));
    const char *semi = memchr(a, ';', hl);
    const char *host = semi ? semi + 1 : a;
    size_t host_len = hl - (size_t) (host - a);

    /* The remote side first: a bad one is EINVAL even when the local one
       would be ENODEV, as in the stock library. */
    char name[NN_SOCKADDR_MAX + 1];
    memcpy(name, host, host_len);
    name[host_len] = '\0';
    char *lit = name;
    if (host_len >= 2 && name[0] == '[' && name[host_len - 1] == ']') {
        name[host_len - 1] = '\0';
        lit = name + 1;
    }
    if (parse_literal(lit, v4only, &t->remote, &t->remote_len) == 0) {
        set_port(&t->remote, port);
    } else {
        if (!hostname_ok(host, host_len))
            return -EINVAL;
        memcpy(t->host, host, host_len);
        t->host[host_len] = '\0';
        t->port = port;
        t->family = v4only ? AF_INET : AF_UNSPEC;
    }
    if (semi) {
        size_t ll = (size_t) (semi - a);
        /* Literals only, as the man page and the stock library have it. */
        rc = resolve_iface(a, ll, v4only, false, &t->local, &t->local_len);
        if (rc)
            return rc;
        if (ll == 1 && a[0] == '*')
            t->local_len = 0; /* any: let the kernel pick */
        else if (t->host[0])
            t->family = t->local.ss_family;
    }
    return 0;
}

static int tcp_connect(struct fm_ep *ep)
{
    struct fm_stream_target t;
    int rc = fm_tcp_parse_connect(addr_of(ep), ep->ipv4only, &t);
    if (rc)
        return rc;
    return fm_stream_connect(ep, &tcp_stream, &t, (struct fm_stream_args){0});
}

/* As the stock library: every option of this level is an int, so a value
   of another length is EINVAL before the option is even looked at. */
static int tcp_setopt(int option, const void *val, size_t len, int *store)
{
    if (len != sizeof(int))
        return -EINVAL;
    if (option != NN_TCP_NODELAY)
        return -ENOPROTOOPT;
    return fm_opt_int_in(val, len, 0, 1, &store[NN_TCP_NODELAY]);
}

static int tcp_getopt(int option, const int *store, void *val, size_t *len)
{
    if (option != NN_TCP_NODELAY)
        return -ENOPROTOOPT;
    return fm_opt_int_out(val, len, store[NN_TCP_NODELAY]);
}

const struct fm_transport fm_tcp = {
    .scheme = "tcp",
    .level = NN_TCP,
    .bind = tcp_bind,
    .connect = tcp_connect,
    .close = fm_stream_close,
    .setopt = tcp_setopt,
    .getopt = tcp_getopt,
    .default_opts = {0, 0},
};
