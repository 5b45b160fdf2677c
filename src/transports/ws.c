/* ws.c: the ws:// and wss:// transports (SP over WebSocket, RFC 6455;
   wss: inside TLS, as NNG carries it). It owns the address syntax
   ws[s]://host[:port][/path], the NN_WS options, the listeners shared by
   every endpoint bound to one host:port (routing each upgrade request by
   its path), and the server's side of the opening handshake. The framing
   is ws_framer.c's and the connections are stream.c's, as for tcp://: a
   dialled connection is the engine's from the start (its opening is the
   upgrade request), an accepted one is handed over (fm_stream_adopt) once
   it has been answered 101.

   An accepted connection waits up to HS_TIMEOUT_MS on its listener's
   pending list (wss: its TLS handshake first, with the context of the
   endpoint that made the listener) for a complete request head; the path
   picks the endpoint (404 when none), a browser's Origin must be on the
   endpoint's NN_WS_ORIGINS list when it has one (403), the headers and the
   subprotocol are checked (400, or 426 for another WebSocket version).
   A refused one gets its answer, our EOF, and REFUSE_WAIT_MS to go. A
   TLS ClientHello at a ws:// address (first byte 0x16) is closed at once.
   A listener holds at most HS_PENDING_MAX connections in the handshake:
   one more closes the oldest of them, as does an accept that fails for
   want of descriptors, so peers that stall in the handshake cost bounded
   memory and descriptors and cannot keep new ones out. Each of these
   failures counts in NN_STAT_ACCEPT_ERRORS of the endpoints on the
   listener (the refused Origin only in its endpoint's).

   Threads and locks: a listener, its pending handshakes and the routing
   run on the listener's loop (picked when it is made); the registry lock
   guards the list of listeners and each listener's list of bound
   endpoints, which nn_bind (any thread) extends and the listener's loop
   reads and, when an endpoint closes, shrinks; it is taken with no other
   lock held. The lock table in docs/ARCHITECTURE.md has the order. An
   endpoint leaves its listener on that loop before the engine closes it,
   so no connection is handed to an endpoint that is closing. */
#include "tcp_addr.h"
#include "ws_framer.h"
#include "ws_http.h"
#ifdef FM_HAVE_TLS
#include "tls_ctx.h"

#include <nanomsg/tls.h>
#endif

#include <errno.h>
#include <nanomsg/tcp.h>
#include <nanomsg/ws.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define HS_TIMEOUT_MS 3000     /* the opening handshake must be done by then */
#define REFUSE_WAIT_MS 1000    /* a refused peer's time to read and go */
#define ACCEPT_BUDGET 16
#define ACCEPT_PAUSE_MS 100
/* Connections per listener still in the handshake. Each holds at most
   sizeof(struct hs), about 9 KiB (and a TLS session's state for wss), so
   a crowd of stalled peers costs at most about 18 MiB; past the bound the
   oldest is closed to make room, so a new client is always served. */
#define HS_PENDING_MAX 2048
#define ORIGINS_MAX 4096       /* bytes of an NN_WS_ORIGINS list */
#define PATH_MAX_LEN (NN_SOCKADDR_MAX + 1)
#define ANSWER_MAX 512         /* our 101 or refusal */

#define KEEPALIVE_IDLE_S 60
#define KEEPALIVE_INTVL_S 10
#define KEEPALIVE_CNT 6

struct wsl;

/* ws.c's part of an endpoint (the engine's is ep->tdata; the framer arg,
   conf, leads back here). */
struct wsep {
    struct fm_ws_conf conf;
    struct fm_ep *ep;
    char path[PATH_MAX_LEN];        /* bound: the path served; connecting: the target */
    char host[NN_SOCKADDR_MAX + 8]; /* connecting: the Host header */
    char my_name[WS_SP_NAME_MAX];   /* our subprotocol */
    int my_peer;                    /* the protocol of a client that asks for it */
    char *origins;                  /* NN_WS_ORIGINS at creation; NULL: any */
    struct fm_tpobj *tls;           /* wss: the TLS context */
    struct wsl *lsn;                /* bound */
    struct fm_list lnode;           /* lsn->eps (registry lock) */
};

/* A listening socket, shared by the endpoints bound to its address. */
struct wsl {
    struct fm_list node;            /* listeners (registry lock) */
    struct sockaddr_storage key;
    bool secure;                    /* wss */
    struct fm_list eps;             /* wsep.lnode (registry lock) */
    struct fm_loop *loop;
    const struct fm_stream_session_ops *sops; /* wss: TLS */
    struct fm_tpobj *tls;           /* wss: the context of its handshakes */
    /* The listener's loop only. */
    int fd;
    struct fm_watch watch;
    struct fm_timer pause;
    struct fm_list pending;         /* struct hs, oldest first */
    int npending;
};

/* An accepted connection in the opening handshake. */
struct hs {
    struct fm_list node;
    struct wsl *lsn;
    int fd;
    struct fm_watch watch;
    struct fm_timer timer;
    void *sess;                     /* wss: the TLS session */
    bool sess_hs;                   /* its handshake is not done */
    bool refusing;                  /* answered: writing it, then waiting for EOF */
    bool shut;
    char out[ANSWER_MAX];
    size_t out_len, out_off;
    struct ws_http_scan scan;
    size_t len;
    uint8_t buf[WS_HTTP_MAX];
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fm_list listeners = {&listeners, &listeners};

/* The NN_WS options of a socket, copied on write (see fm_tpobj); set and
   read in the options section at the end. */
struct ws_opts {
    struct fm_tpobj base;
    int msg_type;
    char *origins; /* normalised: entries separated by one space; NULL: off */
};

/* Keepalive, as tcp does; NN_TCP_NODELAY as the socket has it now. */
static void ws_tune(struct fm_ep *ep, int fd)
{
    int one = 1, v;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    v = KEEPALIVE_IDLE_S;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v));
    v = KEEPALIVE_INTVL_S;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, sizeof(v));
    v = KEEPALIVE_CNT;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof(v));
    v = fm_sock_tpopt_int(ep->sock, NN_TCP, NN_TCP_NODELAY) == 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v));
}

static const struct fm_stream_tp ws_stream = {
    .framer = &fm_ws_framer,
    .tune = ws_tune,
};

#ifdef FM_HAVE_TLS
static const struct fm_stream_tp wss_stream = {
    .framer = &fm_ws_framer,
    .tune = ws_tune,
    .session = &fm_tls_session,
};
#endif

/* -------------------------------------------------- pending handshakes */

static void hs_free(struct hs *h)
{
    fm_list_remove(&h->node);
    h->lsn->npending--;
    fm_watch_del(&h->watch);
    fm_timer_cancel(&h->timer);
    if (h->sess)
        h->lsn->sops->destroy(h->sess);
    if (h->fd >= 0)
        close(h->fd);
    free(h);
}

/* Count one event on every endpoint served by the listener (a pending
   connection belongs to none of them yet). */
static void lsn_count(struct wsl *l, enum fm_stat which)
{
    pthread_mutex_lock(&registry_lock);
    for (struct fm_list *n = l->eps.next; n != &l->eps; n = n->next)
        fm_stat_add(FM_CONTAINER(n, struct wsep, lnode)->ep->sock, which, 1);
    pthread_mutex_unlock(&registry_lock);
}

static ssize_t hs_read(struct hs *h, void *buf, size_t len)
{
    if (h->sess)
        return h->lsn->sops->read(h->sess, buf, len);
    ssize_t n;
    do
        n = read(h->fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n;
}

/* Write what the kernel takes of our answer. 0, or -errno. */
static int hs_write(struct hs *h)
{
    while (h->out_off < h->out_len || (h->sess && h->lsn->sops->pending(h->sess))) {
        struct iovec iov = {h->out + h->out_off, h->out_len - h->out_off};
        ssize_t w;
        if (h->sess) {
            w = h->lsn->sops->writev(h->sess, &iov, iov.iov_len ? 1 : 0);
        } else {
            struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
            do
                w = sendmsg(h->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
            while (w < 0 && errno == EINTR);
        }
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        h->out_off += (size_t) w;
        if (w == 0 && !iov.iov_len)
            return 0;
    }
    return 0;
}

static void hs_set_events(struct hs *h)
{
    uint32_t ev = FM_EV_IN;
    if (h->refusing && !h->shut)
        ev |= FM_EV_OUT;
    if (h->sess)
        ev = h->lsn->sops->events(h->sess, ev);
    fm_watch_set(&h->watch, ev);
}

/* Refuse the request with an HTTP error; the peer then has a moment to
   read it before we close. */
static void hs_refuse(struct hs *h, int status, const char *why)
{
    h->out_len = ws_http_refusal(h->out, sizeof(h->out), status, why);
    h->out_off = 0;
    h->refusing = true;
    h->len = 0;
    fm_timer_schedule(&h->timer, REFUSE_WAIT_MS);
}

static struct wsep *route(struct wsl *l, const char *path, size_t n)
{
    struct wsep *found = NULL;
    pthread_mutex_lock(&registry_lock);
    for (struct fm_list *i = l->eps.next; i != &l->eps; i = i->next) {
        struct wsep *e = FM_CONTAINER(i, struct wsep, lnode);
        if (strlen(e->path) == n && memcmp(e->path, path, n) == 0) {
            found = e;
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return found;
}

/* A complete request head of hl bytes: answer it, and hand an accepted
   connection to its endpoint. false: h is gone. */
static bool hs_request(struct hs *h, size_t hl)
{
    struct ws_http_head req;
    int status = ws_http_parse_request((const char *) h->buf, hl, &req);
    if (status) {
        hs_refuse(h, status, NULL);
        return true;
    }
    const char *path, *key, *why = NULL;
    size_t plen, klen;
    ws_http_target_path(&req, &path, &plen);
    /* Routed on the listener's loop, where endpoints also leave: the one
       found stays until the hand-over is done. */
    struct wsep *e = route(h->lsn, path, plen);
    if (!e) {
        hs_refuse(h, 404, NULL);
        return true;
    }
    status = ws_http_check_origin(&req, e->origins, &why);
    if (status) {
        /* Refused by access control: an accept that failed (never
           established, so not a dropped connection). */
        fm_stat_add(e->ep->sock, FM_STAT_ACCEPT_ERRORS, 1);
        hs_refuse(h, status, why);
        return true;
    }
    status = ws_http_check_upgrade(&req, e->my_name, &key, &klen, &why);
    if (status) {
        hs_refuse(h, status, why);
        return true;
    }
    char accept[WS_ACCEPT_LEN + 1];
    ws_accept_for(key, klen, accept);
    size_t alen = ws_http_switching(h->out, sizeof(h->out), accept, e->my_name);
    int fd = h->fd;
    void *sess = h->sess;
    h->fd = -1;
    h->sess = NULL;
    fm_watch_del(&h->watch);
    /* The engine owns fd and the session from here, and counts a failure. */
    fm_stream_adopt(e->ep, fd, sess, e->my_peer, h->out, alen, h->buf + hl, h->len - hl);
    hs_free(h);
    return false;
}

static void hs_on_timer(void *arg)
{
    hs_free(arg); /* the handshake's deadline, or a refused peer's */
    fm_run_deferred();
}

static void hs_on_event(struct fm_watch *w, uint32_t ev)
{
    struct hs *h = w->arg;
    const struct fm_stream_session_ops *sops = h->lsn->sops;
    (void) ev;
    if (h->sess_hs) {
        int rc = sops->handshake(h->sess);
        if (rc == -EAGAIN) {
            hs_set_events(h);
            return;
        }
        if (rc) {
            lsn_count(h->lsn, FM_STAT_ACCEPT_ERRORS);
            hs_free(h);
            return;
        }
        h->sess_hs = false;
    }
    if (h->refusing) {
        int rc = hs_write(h);
        if (rc == 0 && !h->shut && h->out_off == h->out_len &&
            !(h->sess && sops->pending(h->sess))) {
            h->shut = true; /* all said: our EOF behind it */
            if (h->sess)
                sops->shutdown(h->sess);
            shutdown(h->fd, SHUT_WR);
        }
        uint8_t junk[512];
        ssize_t n = 1;
        while (rc == 0 && (n = hs_read(h, junk, sizeof(junk))) > 0)
            ;
        if (rc || n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            hs_free(h); /* the peer went (or broke): done */
            return;
        }
        hs_set_events(h);
        return;
    }
    for (;;) {
        ssize_t n = hs_read(h, h->buf + h->len, sizeof(h->buf) - h->len);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            hs_free(h);
            return;
        }
        if (n < 0)
            break;
        if (h->len == 0 && h->buf[0] == 0x16 && !h->sess) {
            /* A TLS record (0x16 opens a ClientHello) is a wss:// client
               at this ws:// address: no HTTP answer means anything to it,
               so it is closed at once and counted, not held until the
               handshake deadline. */
            lsn_count(h->lsn, FM_STAT_ACCEPT_ERRORS);
            hs_free(h);
            return;
        }
        h->len += (size_t) n;
        size_t hl = ws_http_head_len((const char *) h->buf, h->len, &h->scan);
        if (hl) {
            if (!hs_request(h, hl))
                return;
            break;
        }
        if (h->len == sizeof(h->buf)) {
            hs_refuse(h, 431, NULL);
            break;
        }
    }
    if (h->refusing) {
        hs_on_event(w, FM_EV_OUT); /* write the answer now */
        return;
    }
    hs_set_events(h);
}

/* Close the handshake that has waited longest, if any. The oldest has had
   the longest to finish: an honest client completes its request in a round
   trip, so what still waits at the front is most likely a peer that stalls
   on purpose. */
static bool lsn_evict_oldest(struct wsl *l)
{
    FM_ASSERT_ON_LOOP(l->loop);
    if (fm_list_empty(&l->pending))
        return false;
    hs_free(FM_CONTAINER(l->pending.next, struct hs, node));
    lsn_count(l, FM_STAT_ACCEPT_ERRORS); /* never established: not "dropped" */
    return true;
}

static void lsn_accept_one(struct wsl *l, int fd)
{
    if (l->npending >= HS_PENDING_MAX)
        lsn_evict_oldest(l);
    struct hs *h = malloc(sizeof(*h));
    if (!h) {
        close(fd);
        lsn_count(l, FM_STAT_ACCEPT_ERRORS);
        return;
    }
    memset(h, 0, offsetof(struct hs, buf));
    h->lsn = l;
    h->fd = fd;
    fm_list_insert_tail(&l->pending, &h->node);
    l->npending++;
    fm_timer_init(&h->timer, l->loop, hs_on_timer, h);
    /* The handshake's messages go at once; the endpoint's NN_TCP_NODELAY
       applies from the hand-over. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int err = 0;
    if (l->sops && !(h->sess = l->sops->start(l->tls, NULL, fd, true, &err))) {
        lsn_count(l, FM_STAT_ACCEPT_ERRORS);
        hs_free(h);
        return;
    }
    h->sess_hs = h->sess != NULL;
    if (fm_watch_add(&h->watch, l->loop, fd, FM_EV_IN, hs_on_event, h) != 0) {
        lsn_count(l, FM_STAT_ACCEPT_ERRORS);
        hs_free(h);
        return;
    }
    fm_timer_schedule(&h->timer, HS_TIMEOUT_MS);
    if (h->sess)
        hs_on_event(&h->watch, 0); /* the TLS handshake may go on at once */
}

static void lsn_on_pause(void *arg)
{
    struct wsl *l = arg;
    if (l->fd >= 0)
        fm_watch_set(&l->watch, FM_EV_IN);
}

static void lsn_on_accept(struct fm_watch *w, uint32_t ev)
{
    struct wsl *l = w->arg;
    (void) ev;
    for (int i = 0; i < ACCEPT_BUDGET; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK)
                break;
            if (err == EINTR)
                continue;
            /* Out of descriptors: a stalled crowd must not hold them all
               while newcomers wait; the oldest handshake makes room. */
            if ((err == EMFILE || err == ENFILE) && lsn_evict_oldest(l))
                continue;
            pthread_mutex_lock(&registry_lock);
            for (struct fm_list *n = l->eps.next; n != &l->eps; n = n->next) {
                struct wsep *e = FM_CONTAINER(n, struct wsep, lnode);
                fm_stat_add(e->ep->sock, FM_STAT_ACCEPT_ERRORS, 1);
                fm_ep_report_error(e->ep, err);
            }
            pthread_mutex_unlock(&registry_lock);
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                fm_watch_set(&l->watch, 0);
                fm_timer_schedule(&l->pause, ACCEPT_PAUSE_MS);
                break;
            }
            continue;
        }
        lsn_accept_one(l, fd);
    }
    fm_run_deferred();
}

/* ---------------------------------------------------------- endpoints */

static struct wsep *wsep_new(struct fm_ep *ep)
{
    struct wsep *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->ep = ep;
    fm_list_init(&e->lnode);
    const struct ws_opts *o = (const struct ws_opts *) ep->tpobj;
    e->conf.msg_op = o && o->msg_type == NN_WS_MSG_TYPE_TEXT ? WS_OP_TEXT : WS_OP_BINARY;
    if (o && o->origins && !(e->origins = strdup(o->origins))) {
        free(e);
        return NULL;
    }
    int type = fm_sock_type(ep->sock);
    const struct fm_proto *mine = fm_proto_find(type);
    fm_ws_sp_name(type, e->my_name);
    e->my_peer = mine ? mine->peer : -1;
    fm_ws_sp_name(mine ? mine->peer : type, e->conf.peer_name);
    e->conf.peer_type = fm_ws_sp_type(e->conf.peer_name, strlen(e->conf.peer_name));
    e->conf.path = e->path;
    e->conf.host = e->host;
    return e;
}

static void wsep_free(struct wsep *e)
{
    fm_tpobj_unref(e->tls);
    free(e->origins);
    free(e);
}

extern const struct fm_transport fm_wss;

static bool secure(const struct fm_ep *ep)
{
#ifdef FM_HAVE_TLS
    return ep->tp == &fm_wss;
#else
    (void) ep;
    return false;
#endif
}

static const struct fm_stream_tp *stream_of(const struct fm_ep *ep)
{
#ifdef FM_HAVE_TLS
    if (secure(ep))
        return &wss_stream;
#endif
    (void) ep;
    return &ws_stream;
}

static const char *addr_of(struct fm_ep *ep) { return strstr(ep->addr, "://") + 3; }

/* Split "hostport[/path]" at the first '/'; the path must be printable
   ASCII without blanks (it goes into the request line as is). */
static int split_path(const char *a, char *hostport, size_t hp_cap, char *path, bool bound)
{
    const char *slash = strchr(a, '/');
    size_t hl = slash ? (size_t) (slash - a) : strlen(a);
    if (hl == 0 || hl >= hp_cap)
        return -EINVAL;
    memcpy(hostport, a, hl);
    hostport[hl] = '\0';
    const char *p = slash ? slash : "/";
    for (const char *q = p; *q; q++)
        if (*q <= 0x20 || *q >= 0x7f || (bound && (*q == '?' || *q == '#')))
            return -EINVAL;
    snprintf(path, PATH_MAX_LEN, "%s", p);
    return 0;
}

/* A name that is neither a literal nor an interface: the first address
   DNS gives for it. */
static int resolve_bind_name(const char *hp, bool v4only, struct sockaddr_storage *ss,
                             socklen_t *len)
{
    const char *colon = strrchr(hp, ':');
    if (!colon || !fm_tcp_hostname_ok(hp, (size_t) (colon - hp)))
        return -ENODEV;
    unsigned short port;
    if (fm_tcp_parse_port(colon + 1, &port) != 0)
        return -EINVAL;
    char host[256];
    snprintf(host, sizeof(host), "%.*s", (int) (colon - hp), hp);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = v4only ? AF_INET : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return -ENODEV;
    int rc = -ENODEV;
    if (res->ai_addrlen <= sizeof(*ss)) {
        memset(ss, 0, sizeof(*ss));
        memcpy(ss, res->ai_addr, res->ai_addrlen);
        *len = res->ai_addrlen;
        fm_tcp_set_port(ss, port);
        rc = 0;
    }
    freeaddrinfo(res);
    return rc;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *) a, *y = (const void *) b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *) a, *y = (const void *) b;
    return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

/* A new listener for ss, registered (registry lock held). */
static int lsn_open(struct wsep *e, struct sockaddr_storage *ss, socklen_t len, bool any,
                    struct wsl **out)
{
    struct wsl *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    struct sockaddr_storage bound = *ss;
    int fd = fm_tcp_listen(&bound, &len, any, e->ep->ipv4only);
    if (fd < 0) {
        free(l);
        return fd;
    }
    l->key = *ss;
    l->fd = fd;
    l->secure = secure(e->ep);
#ifdef FM_HAVE_TLS
    if (l->secure) {
        l->sops = &fm_tls_session;
        l->tls = fm_tpobj_ref(e->tls);
    }
#endif
    l->loop = fm_loop_pick();
    fm_list_init(&l->eps);
    fm_list_init(&l->pending);
    fm_timer_init(&l->pause, l->loop, lsn_on_pause, l);
    int snd = e->ep->sndbuf, rcv = e->ep->rcvbuf; /* accepted sockets inherit them */
    if (snd > 0 && e->ep->sndbuf_set)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
    if (rcv > 0 && e->ep->rcvbuf_set)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    int rc = fm_watch_add(&l->watch, l->loop, fd, FM_EV_IN, lsn_on_accept, l);
    if (rc) {
        close(fd);
        fm_tpobj_unref(l->tls);
        free(l);
        return rc;
    }
    fm_list_insert_tail(&listeners, &l->node);
    *out = l;
    return 0;
}

static int ws_bind(struct fm_ep *ep)
{
    char hp[NN_SOCKADDR_MAX + 1], path[PATH_MAX_LEN];
    int rc = split_path(addr_of(ep), hp, sizeof(hp), path, true);
    if (rc)
        return rc;
    struct sockaddr_storage ss;
    socklen_t len;
    bool any = false;
    rc = fm_tcp_parse_bind(hp, ep->ipv4only, &ss, &len, &any);
    if (rc == -ENODEV)
        rc = resolve_bind_name(hp, ep->ipv4only, &ss, &len);
    if (rc)
        return rc;
    struct wsep *e = wsep_new(ep);
    if (!e)
        return -ENOMEM;
    snprintf(e->path, sizeof(e->path), "%s", path);
#ifdef FM_HAVE_TLS
    if (secure(ep) && (rc = fm_tls_ctx_make(ep->tpobj_extra, true, NULL, &e->tls)) != 0) {
        wsep_free(e);
        return rc;
    }
#endif
    rc = fm_stream_serve(ep, stream_of(ep),
                         (struct fm_stream_args){.framer = &e->conf});
    if (rc) {
        wsep_free(e);
        return rc;
    }
    pthread_mutex_lock(&registry_lock);
    struct wsl *l = NULL;
    for (struct fm_list *n = listeners.next; n != &listeners; n = n->next) {
        struct wsl *x = FM_CONTAINER(n, struct wsl, node);
        if (same_addr(&x->key, &ss) && x->secure == secure(ep)) {
            l = x;
            break;
        }
    }
    if (l) {
        for (struct fm_list *n = l->eps.next; n != &l->eps; n = n->next)
            if (strcmp(FM_CONTAINER(n, struct wsep, lnode)->path, e->path) == 0)
                rc = -EADDRINUSE;
    } else {
        rc = lsn_open(e, &ss, len, any, &l);
    }
    if (!rc) {
        e->lsn = l;
        fm_list_insert_tail(&l->eps, &e->lnode);
    }
    pthread_mutex_unlock(&registry_lock);
    if (rc) {
        fm_stream_close(ep);
        wsep_free(e);
    }
    return rc;
}

static int ws_connect(struct fm_ep *ep)
{
    bool tls = secure(ep);
    char hp[NN_SOCKADDR_MAX + 8], path[PATH_MAX_LEN];
    int rc = split_path(addr_of(ep), hp, NN_SOCKADDR_MAX + 1, path, false);
    if (rc)
        return rc;
    /* The port may be left out: 80 (wss: 443), as for HTTP. */
    const char *colon = strrchr(hp, ':'), *bracket = strrchr(hp, ']');
    bool has_port = colon && (!bracket || colon > bracket);
    const char *semi = strchr(hp, ';');
    const char *host = semi ? semi + 1 : hp;
    if (has_port && colon < host)
        has_port = false;
    struct fm_stream_target t;
    char full[NN_SOCKADDR_MAX + 8];
    int flen = snprintf(full, sizeof(full), "%s%s", hp, has_port ? "" : tls ? ":443" : ":80");
    if (flen < 0 || (size_t) flen > NN_SOCKADDR_MAX)
        return -EINVAL;
    rc = fm_tcp_parse_connect(full, ep->ipv4only, &t);
    if (rc)
        return rc;
    struct wsep *e = wsep_new(ep);
    if (!e)
        return -ENOMEM;
    snprintf(e->path, sizeof(e->path), "%s", path);
    snprintf(e->host, sizeof(e->host), "%s", host);
#ifdef FM_HAVE_TLS
    if (tls) {
        char name[256];
        fm_tls_host_of(full, name, sizeof(name));
        if ((rc = fm_tls_ctx_make(ep->tpobj_extra, false, name, &e->tls)) != 0) {
            wsep_free(e);
            return rc;
        }
    }
#endif
    rc = fm_stream_connect(ep, stream_of(ep), &t,
                           (struct fm_stream_args){.framer = &e->conf, .session = e->tls});
    if (rc)
        wsep_free(e);
    return rc;
}

/* Leaving a listener, on its loop: after this no connection is handed to
   the endpoint. The last one out closes the listener and its pending
   handshakes. */
struct leave {
    struct wsep *e;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
};

static void lsn_leave_task(void *arg)
{
    struct leave *lv = arg;
    struct wsl *l = lv->e->lsn;
    bool last;
    pthread_mutex_lock(&registry_lock);
    fm_list_remove(&lv->e->lnode);
    last = fm_list_empty(&l->eps);
    if (last) {
        /* The port is free again before a new nn_bind can look for it. */
        fm_list_remove(&l->node);
        fm_watch_del(&l->watch);
        close(l->fd);
        l->fd = -1;
    }
    pthread_mutex_unlock(&registry_lock);
    if (last) {
        fm_timer_cancel(&l->pause);
        while (!fm_list_empty(&l->pending))
            hs_free(FM_CONTAINER(l->pending.next, struct hs, node));
        fm_tpobj_unref(l->tls);
        free(l);
    }
    pthread_mutex_lock(&lv->lock);
    lv->done = true;
    pthread_cond_signal(&lv->cond);
    pthread_mutex_unlock(&lv->lock);
}

static void ws_close(struct fm_ep *ep)
{
    const struct fm_stream_args *args = fm_stream_args_of(ep);
    if (!args)
        return;
    struct wsep *e = FM_CONTAINER(args->framer, struct wsep, conf);
    if (e->lsn) {
        struct leave lv = {.e = e, .done = false};
        pthread_mutex_init(&lv.lock, NULL);
        pthread_cond_init(&lv.cond, NULL);
        fm_loop_post(e->lsn->loop, lsn_leave_task, &lv);
        pthread_mutex_lock(&lv.lock);
        while (!lv.done)
            pthread_cond_wait(&lv.cond, &lv.lock);
        pthread_mutex_unlock(&lv.lock);
        pthread_mutex_destroy(&lv.lock);
        pthread_cond_destroy(&lv.cond);
        e->lsn = NULL;
    }
    fm_stream_close(ep);
    wsep_free(e);
}

/* ------------------------------------------------------------ options */

static void ws_opts_free(struct fm_tpobj *o)
{
    struct ws_opts *w = (struct ws_opts *) o;
    free(w->origins);
    free(w);
}

/* An NN_WS_ORIGINS value: origins separated by blanks or commas, each
   printable ASCII (no control bytes, no NUL but a final one). Returns the
   normalised list (one space between entries), "" for an empty one, NULL
   with *err set when refused. */
static char *origins_parse(const char *val, size_t len, int *err)
{
    size_t n = len;
    if (n && val[n - 1] == '\0')
        n--; /* a terminating NUL may be included; others are refused below */
    if (n > ORIGINS_MAX) {
        *err = -EINVAL;
        return NULL;
    }
    char *out = malloc(n + 1);
    if (!out) {
        *err = -ENOMEM;
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char) val[i];
        if (ch == ' ' || ch == '\t' || ch == ',') {
            i++;
            continue;
        }
        if (o)
            out[o++] = ' ';
        for (; i < n; i++) {
            ch = (unsigned char) val[i];
            if (ch == ' ' || ch == '\t' || ch == ',')
                break;
            if (ch < 0x21 || ch > 0x7e) {
                free(out);
                *err = -EINVAL;
                return NULL;
            }
            out[o++] = (char) ch;
        }
    }
    out[o] = '\0';
    return out;
}

static int ws_setopt(int option, const void *val, size_t len, struct fm_tpobj **obj)
{
    /* The stock library's options of this level are ints: an unknown one
       of another length is EINVAL before it is looked at. */
    if (option != NN_WS_MSG_TYPE && option != NN_WS_ORIGINS)
        return len != sizeof(int) ? -EINVAL : -ENOPROTOOPT;
    int v = 0;
    char *list = NULL;
    if (option == NN_WS_MSG_TYPE) {
        _Static_assert(NN_WS_MSG_TYPE_TEXT + 1 == NN_WS_MSG_TYPE_BINARY, "a range");
        int rc = fm_opt_int_in(val, len, NN_WS_MSG_TYPE_TEXT, NN_WS_MSG_TYPE_BINARY, &v);
        if (rc)
            return rc;
    } else {
        if (!val)
            return -EFAULT;
        int err = 0;
        if (!(list = origins_parse(val, len, &err)))
            return err;
    }
    /* Endpoints may hold the current object: change a copy of it. */
    struct ws_opts *cur = (struct ws_opts *) *obj;
    struct ws_opts *w = calloc(1, sizeof(*w));
    if (!w || (cur && cur->origins && option != NN_WS_ORIGINS &&
               !(w->origins = strdup(cur->origins)))) {
        free(w);
        free(list);
        return -ENOMEM;
    }
    atomic_init(&w->base.refs, 1);
    w->base.free = ws_opts_free;
    w->msg_type = cur ? cur->msg_type : NN_WS_MSG_TYPE_BINARY;
    if (option == NN_WS_MSG_TYPE) {
        w->msg_type = v;
    } else if (*list) {
        w->origins = list;
    } else {
        free(list); /* an empty list turns the check off */
    }
    fm_tpobj_unref(*obj);
    *obj = &w->base;
    return 0;
}

static int ws_getopt(int option, const struct fm_tpobj *obj, void *val, size_t *len)
{
    const struct ws_opts *w = (const struct ws_opts *) obj;
    if (option == NN_WS_MSG_TYPE) {
        return fm_opt_int_out(val, len, w ? w->msg_type : NN_WS_MSG_TYPE_BINARY);
    }
    if (option != NN_WS_ORIGINS)
        return -ENOPROTOOPT;
    const char *s = w && w->origins ? w->origins : "";
    size_t n = strlen(s) + 1;
    memcpy(val, s, *len < n ? *len : n);
    *len = n;
    return 0;
}

const struct fm_transport fm_ws = {
    .scheme = "ws",
    .level = NN_WS,
    .bind = ws_bind,
    .connect = ws_connect,
    .close = ws_close,
    .setopt_obj = ws_setopt,
    .getopt_obj = ws_getopt,
};

#ifdef FM_HAVE_TLS
/* wss: the NN_WS options are ws's (same level), the NN_TLS ones tls+tcp's. */
const struct fm_transport fm_wss = {
    .scheme = "wss",
    .level = NN_WS,
    .extra_level = NN_TLS,
    .bind = ws_bind,
    .connect = ws_connect,
    .close = ws_close,
    .setopt_obj = ws_setopt,
    .getopt_obj = ws_getopt,
};
#endif
