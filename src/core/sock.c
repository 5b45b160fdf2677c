/* sock.c: the socket table and every nn_* call that acts on a socket:
   creation and close, nn_term, options, endpoints, blocking send and
   receive (waiting in poll() on the socket's own SNDFD/RCVFD eventfd, so
   timeouts, EINTR, nn_poll and user event loops share one mechanism),
   nn_poll and statistics. */
#include "sock.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* One slot per socket id, never freed: an API call finds its socket and
   announces itself without a lock, on the slot's own cache line. The
   count lives in the slot, not in the socket, so a caller racing nn_close
   only ever touches memory that stays; the closer empties the slot and
   waits for the count to drain before the socket may go. */
struct sock_slot {
    _Alignas(64) _Atomic(struct fm_sock *) sock; /* a cache line each */
    atomic_int users;                            /* API calls inside its socket */
    atomic_bool closer_waits;                    /* the last to leave wakes the closer */
};

static struct sock_slot slots[FM_MAX_SOCKETS];

static struct {
    pthread_mutex_t lock; /* creation, close, nn_term, the free ids */
    pthread_mutex_t users_lock;
    pthread_cond_t users_gone; /* some slot's count reached zero */
    bool initialized; /* a socket was ever created */
    /* Free ids as a stack: the most recently freed id is handed out first,
       as stock does; 0, 1, 2, ... at the start. */
    int free_ids[FM_MAX_SOCKETS];
    int nfree;
    bool terminated;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER,
       .users_lock = PTHREAD_MUTEX_INITIALIZER,
       .users_gone = PTHREAD_COND_INITIALIZER};

/* ------------------------------------------------ the NN_SOL_SOCKET table
   Every socket-level option in one place: what it holds, what it accepts,
   and how far a change reaches once endpoints exist (nn_setsockopt(3),
   "When a change takes effect"). nn_setsockopt, nn_getsockopt, endpoint
   creation and the copy to live endpoints all read this table; none of
   them names an option of its own. */
enum opt_kind {
    OPT_UNKNOWN,   /* no such option: ENOPROTOOPT */
    OPT_INT,       /* an int in fm_sockopts.val, within [min, max] */
    OPT_READ_ONLY, /* an int computed by read(); setting it is ENOPROTOOPT */
    OPT_NAME,      /* NN_SOCKET_NAME, a string of its own */
};

enum opt_reach {
    REACH_SOCKET,     /* acts on the socket itself: at once */
    REACH_CONNECTION, /* copied to every endpoint, read when it makes a connection */
    REACH_ENDPOINT,   /* copied when an endpoint is created, fixed for its life */
};

struct sockopt {
    enum opt_kind kind;
    enum opt_reach reach;
    int dflt, min, max;
    bool reads_zero; /* NN_LINGER: honoured, but read back as 0, as stock */
    /* REACH_ENDPOINT: the int in struct fm_ep; REACH_CONNECTION: the
       atomic_int there, and the atomic_bool saying the application chose
       it (0: none). */
    size_t ep_val, ep_chosen;
    int (*read)(struct fm_sock *s, int *v); /* OPT_READ_ONLY: 0 or -errno */
};

static int read_domain(struct fm_sock *s, int *v);
static int read_protocol(struct fm_sock *s, int *v);
static int read_sndfd(struct fm_sock *s, int *v);
static int read_rcvfd(struct fm_sock *s, int *v);

/* Designated throughout: a table row names what it sets (and no compiler
   asks for the fields a row leaves at zero). */
#define INT_OPT(reach_, dflt_, min_, max_) \
    .kind = OPT_INT, .reach = reach_, .dflt = dflt_, .min = min_, .max = max_
#define EP_INT(field) .ep_val = offsetof(struct fm_ep, field)
#define EP_CONN(field) \
    .ep_val = offsetof(struct fm_ep, field), .ep_chosen = offsetof(struct fm_ep, field##_set)

static const struct sockopt sockopts[FM_SOCKOPT_MAX + 1] = {
    [NN_LINGER] = {INT_OPT(REACH_SOCKET, 1000, INT_MIN, INT_MAX), .reads_zero = true},
    [NN_SNDBUF] = {INT_OPT(REACH_CONNECTION, 128 * 1024, 1, INT_MAX), EP_CONN(sndbuf)},
    [NN_RCVBUF] = {INT_OPT(REACH_CONNECTION, 128 * 1024, 1, INT_MAX), EP_CONN(rcvbuf)},
    [NN_SNDTIMEO] = {INT_OPT(REACH_SOCKET, -1, INT_MIN, INT_MAX)},
    [NN_RCVTIMEO] = {INT_OPT(REACH_SOCKET, -1, INT_MIN, INT_MAX)},
    [NN_RECONNECT_IVL] = {INT_OPT(REACH_ENDPOINT, 100, 0, INT_MAX), EP_INT(reconnect_ivl)},
    [NN_RECONNECT_IVL_MAX] = {INT_OPT(REACH_ENDPOINT, 0, 0, INT_MAX),
                              EP_INT(reconnect_ivl_max)},
    [NN_SNDPRIO] = {INT_OPT(REACH_ENDPOINT, 8, 1, 16), EP_INT(sndprio)},
    [NN_RCVPRIO] = {INT_OPT(REACH_ENDPOINT, 8, 1, 16), EP_INT(rcvprio)},
    [NN_SNDFD] = {.kind = OPT_READ_ONLY, .read = read_sndfd},
    [NN_RCVFD] = {.kind = OPT_READ_ONLY, .read = read_rcvfd},
    [NN_DOMAIN] = {.kind = OPT_READ_ONLY, .read = read_domain},
    [NN_PROTOCOL] = {.kind = OPT_READ_ONLY, .read = read_protocol},
    [NN_IPV4ONLY] = {INT_OPT(REACH_ENDPOINT, 1, 0, 1), EP_INT(ipv4only)},
    [NN_SOCKET_NAME] = {.kind = OPT_NAME},
    /* Checked against every incoming message, so it needs no copy. */
    [NN_RCVMAXSIZE] = {INT_OPT(REACH_SOCKET, 1024 * 1024, -1, INT_MAX)},
    [NN_MAXTTL] = {INT_OPT(REACH_SOCKET, 8, 1, 255)},
};

static const struct sockopt *sockopt_find(int option)
{
    if (option < 0 || option > FM_SOCKOPT_MAX || sockopts[option].kind == OPT_UNKNOWN)
        return NULL;
    return &sockopts[option];
}

static int fail(int err)
{
    errno = err;
    return -1;
}

const struct fm_proto *fm_proto_find(int type)
{
    for (const struct fm_proto *const *p = fm_protocols; *p; p++)
        if ((*p)->type == type)
            return *p;
    return NULL;
}

/* ------------------------------------------------------ lock & readiness */
#if FM_CHECKS
/* The socket lock this thread holds: a thread never holds two. */
static _Thread_local struct fm_sock *held_sock;

bool fm_sock_locked(const struct fm_sock *s) { return held_sock == s && FM_MUTEX_MINE(&s->lock); }
bool fm_sock_any_locked(void) { return held_sock != NULL; }
#endif

void fm_sock_lock(struct fm_sock *s)
{
#if FM_CHECKS
    assert(!held_sock); /* never two socket locks: defer with fm_defer_* */
#endif
    fm_mutex_lock(&s->lock);
#if FM_CHECKS
    held_sock = s;
#endif
}

/* Drop the lock without the readiness refresh and deferred work of
   fm_sock_unlock: where nothing the protocol reports has changed (waiters
   counting themselves in and out), or the socket is being made or torn
   down. */
static void sock_unlock_plain(struct fm_sock *s)
{
#if FM_CHECKS
    assert(held_sock == s);
    held_sock = NULL;
#endif
    fm_mutex_unlock(&s->lock);
}

static void sync_fd(struct fm_readiness *r)
{
    bool want = atomic_load_explicit(&r->ready, memory_order_relaxed);
    if (r->fd < 0 || r->signalled == want)
        return;
    uint64_t v = 1;
    if (want) {
        if (write(r->fd, &v, sizeof(v)) != (ssize_t) sizeof(v))
            return; /* counter saturated: it is readable anyway */
    } else if (read(r->fd, &v, sizeof(v)) != (ssize_t) sizeof(v)) {
        return;
    }
    r->signalled = want;
}

static void set_ready(struct fm_readiness *r, bool want)
{
    atomic_store_explicit(&r->ready, want, memory_order_release);
    if (r->watchers || r->exposed)
        sync_fd(r);
}

void fm_sock_refresh(struct fm_sock *s)
{
    FM_ASSERT_SOCK_LOCKED(s); /* the eventfds change only under the lock */
    unsigned ev = atomic_load(&s->closing) ? (FM_CAN_SEND | FM_CAN_RECV)
                                            : s->proto->events(s->pstate);
    set_ready(&s->snd, ev & FM_CAN_SEND);
    set_ready(&s->rcv, ev & FM_CAN_RECV);
}

/* Every pipe a direct receiver left idle (wait_direct) is read by its
   transport again: for whoever waits on or reports readiness through
   the eventfd, which only the transports' threads keep up to date. Returns
   the pipe that was idle (there is at most one: only a socket's only pipe
   is left so), or NULL. */
static struct fm_pipe *rx_watch_all(struct fm_sock *s)
{
    FM_ASSERT_SOCK_LOCKED(s);
    if (!s->rx_idle)
        return NULL;
    s->rx_idle = false;
    struct fm_pipe *was = NULL;
    for (struct fm_list *n = s->pipes.next; n != &s->pipes; n = n->next) {
        struct fm_pipe *p = FM_CONTAINER(n, struct fm_pipe, sock_node);
        if (p->ops->rx_watch && p->ops->rx_watch(p))
            was = p;
    }
    return was;
}

/* A non-blocking nn_recv found nothing. What the peer of a pipe left idle
   sent meanwhile is still in the kernel: read it on this thread, as the
   loop would have, so that the caller is not told EAGAIN for a message
   that arrived before it asked. Returns whether there was such a pipe. */
static bool rx_read_idle(struct fm_sock *s)
{
    fm_sock_lock(s);
    struct fm_pipe *p = rx_watch_all(s);
    if (p)
        fm_pipe_ref(p);
    sock_unlock_plain(s);
    if (!p)
        return false;
    p->ops->rx_pump(p);
    fm_run_deferred();
    fm_pipe_unref(p);
    return true;
}

/* The application takes the descriptor: from now on it is kept exact. */
static void expose(struct fm_sock *s, struct fm_readiness *r)
{
    if (r == &s->rcv)
        rx_watch_all(s);
    r->exposed = true;
    sync_fd(r);
}

void fm_sock_unlock(struct fm_sock *s)
{
    fm_sock_refresh(s);
    sock_unlock_plain(s);
    fm_run_deferred();
}

/* --------------------------------------------------------- socket table */
static void slot_leave(struct sock_slot *sl)
{
    /* Both sequentially consistent, as are the closer's store of
       closer_waits and its load of users: one of the two sides sees the
       other, so the closer never sleeps past the last caller. */
    if (atomic_fetch_sub(&sl->users, 1) == 1 && atomic_load(&sl->closer_waits)) {
        pthread_mutex_lock(&g.users_lock);
        pthread_cond_broadcast(&g.users_gone);
        pthread_mutex_unlock(&g.users_lock);
    }
}

/* Count in first, then look: a closer that has emptied the slot and then
   sees the count at zero knows nobody still holds the old pointer. */
static struct fm_sock *sock_acquire(int id)
{
    if (id < 0 || id >= FM_MAX_SOCKETS)
        return NULL;
    struct sock_slot *sl = &slots[id];
    atomic_fetch_add(&sl->users, 1);
    struct fm_sock *s = atomic_load(&sl->sock);
    if (s && !atomic_load(&s->closing))
        return s;
    slot_leave(sl);
    return NULL;
}

static void sock_release(struct fm_sock *s) { slot_leave(&slots[s->id]); }

/* The closer waits for every caller in the slot to leave (late arrivals
   see the socket closing and leave at once). */
static void slot_drain(struct sock_slot *sl)
{
    pthread_mutex_lock(&g.users_lock);
    atomic_store(&sl->closer_waits, true);
    while (atomic_load(&sl->users) > 0)
        pthread_cond_wait(&g.users_gone, &g.users_lock);
    atomic_store(&sl->closer_waits, false);
    pthread_mutex_unlock(&g.users_lock);
}

int fm_sock_opt_int(struct fm_sock *s, int option)
{
    const struct sockopt *d = sockopt_find(option);
    return d && d->kind == OPT_INT ? atomic_load(&s->opt.val[option]) : -1;
}

static const struct fm_transport *transport_by_level(int level, int *index);

int fm_sock_tpopt_int(struct fm_sock *s, int level, int option)
{
    int t, v = -1;
    if (option < 0 || option > FM_MAX_TRANSPORT_OPTS || !transport_by_level(level, &t))
        return -1;
    fm_sock_lock(s);
    v = s->tpopts[t][option];
    fm_sock_unlock(s);
    return v;
}

size_t fm_sock_rcvmax(struct fm_sock *s)
{
    int v = atomic_load_explicit(&s->opt.val[NN_RCVMAXSIZE], memory_order_relaxed);
    return v < 0 ? SIZE_MAX : (size_t) v;
}

bool fm_sock_closing(struct fm_sock *s) { return atomic_load(&s->closing); }
bool fm_sock_is_raw(struct fm_sock *s) { return s->domain == AF_SP_RAW; }
int fm_sock_type(struct fm_sock *s) { return s->proto->type; }

/* Release: a reader that sees one count sees those the same thread made
   before it (a connection is counted current before accepted). */
void fm_stat_add(struct fm_sock *s, enum fm_stat which, int64_t delta)
{
    atomic_fetch_add_explicit(&s->stats[which], delta, memory_order_release);
}

int nn_socket(int domain, int protocol)
{
    if (domain != AF_SP && domain != AF_SP_RAW)
        return fail(EAFNOSUPPORT);
    const struct fm_proto *proto = fm_proto_find(protocol);
    if (!proto)
        return fail(EINVAL);

    struct fm_sock *s = calloc(1, sizeof(*s));
    void *st = s ? calloc(1, proto->state_size ? proto->state_size : 1) : NULL;
    if (!st) {
        free(s);
        return fail(ENOMEM);
    }
    atomic_init(&s->refs, 1);
    s->domain = domain;
    s->proto = proto;
    s->pstate = st;
    for (int o = 0; o <= FM_SOCKOPT_MAX; o++)
        atomic_init(&s->opt.val[o], sockopts[o].dflt);
    s->snd.fd = s->rcv.fd = -1;
    fm_mutex_init(&s->lock);
    fm_mutex_init(&s->name_lock);
    fm_list_init(&s->pipes);
    fm_list_init(&s->eps);
    for (int i = 0; i < 16; i++)
        fm_list_init(&s->fq[i]);
    for (int t = 0; fm_transports[t] && t < FM_MAX_TRANSPORTS; t++)
        memcpy(s->tpopts[t], fm_transports[t]->default_opts, sizeof(s->tpopts[t]));
    s->next_ep_id = 1;

    int err = 0;
    if (!(proto->flags & FM_PROTO_NOSEND) &&
        (s->snd.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        err = errno == ENFILE ? ENFILE : EMFILE;
    if (!err && !(proto->flags & FM_PROTO_NORECV) &&
        (s->rcv.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        err = errno == ENFILE ? ENFILE : EMFILE;

    pthread_mutex_lock(&g.lock);
    int id = -1;
    if (!g.initialized && g.nfree == 0)
        for (int i = FM_MAX_SOCKETS - 1; i >= 0; i--)
            g.free_ids[g.nfree++] = i;
    if (g.terminated)
        err = ETERM;
    else if (g.nfree == 0)
        err = EMFILE;
    else
        id = g.free_ids[--g.nfree];
    if (!err) {
        s->id = id;
        snprintf(s->name, sizeof(s->name), "%d", id);
        int rc = proto->init(st, s, domain == AF_SP_RAW);
        if (rc) {
            err = -rc;
            g.free_ids[g.nfree++] = id;
        } else {
            /* Publish the initial SNDFD state before anyone can see the
               socket (nn_term may close it the moment it is listed). */
            fm_sock_lock(s);
            fm_sock_refresh(s);
            sock_unlock_plain(s);
            atomic_store(&slots[id].sock, s);
            g.initialized = true;
        }
    }
    pthread_mutex_unlock(&g.lock);
    if (err) {
        if (s->snd.fd >= 0)
            close(s->snd.fd);
        if (s->rcv.fd >= 0)
            close(s->rcv.fd);
        fm_mutex_destroy(&s->lock);
        fm_mutex_destroy(&s->name_lock);
        free(st);
        free(s);
        return fail(err);
    }
    return id;
}

static void ep_free(struct fm_ep *ep)
{
    fm_tpobj_unref(ep->tpobj);
    fm_tpobj_unref(ep->tpobj_extra);
    free(ep);
}

/* Tear a socket down once it is marked closing: wake blocked callers, stop
   the endpoints (their pipes go with them), wait for the callers to leave,
   then free. */
static void sock_destroy(struct fm_sock *s)
{
    fm_sock_lock(s);
    fm_sock_unlock(s); /* refresh signals both descriptors: waiters wake */

    /* Callers still inside (a blocked nn_recv, an nn_bind half way) leave
       first: none of them may see an endpoint or pipe freed under it. */
    slot_drain(&slots[s->id]);

    fm_sock_lock(s);
    struct fm_list eps;
    fm_list_init(&eps);
    while (!fm_list_empty(&s->eps)) {
        struct fm_list *n = s->eps.next;
        fm_list_remove(n);
        fm_list_insert_tail(&eps, n);
    }
    fm_sock_unlock(s);
    while (!fm_list_empty(&eps)) {
        struct fm_ep *ep = FM_CONTAINER(eps.next, struct fm_ep, sock_node);
        fm_list_remove(&ep->sock_node);
        FM_ASSERT_NO_SOCK_LOCK(); /* fm_transport.close: without the socket lock */
        ep->tp->close(ep);
        ep_free(ep);
    }

    /* Pipes still attached belong to transports that outlived their
       endpoint's close; ask them to go. */
    for (;;) {
        fm_sock_lock(s);
        struct fm_pipe *p = NULL;
        if (!fm_list_empty(&s->pipes)) {
            p = FM_CONTAINER(s->pipes.next, struct fm_pipe, sock_node);
            fm_pipe_ref(p);
        }
        fm_sock_unlock(s);
        if (!p)
            break;
        fm_pipe_detach(p);
        FM_ASSERT_NO_SOCK_LOCK(); /* fm_pipe_ops.close: without the socket lock */
        p->ops->close(p);
        fm_pipe_unref(p);
    }

    fm_sock_lock(s);
    for (int i = 0; i < 16; i++)
        while (!fm_list_empty(&s->fq[i]))
            fm_fq_remove(s, FM_CONTAINER(s->fq[i].next, struct fm_pipe, fq_node));
    sock_unlock_plain(s);
    fm_run_deferred();
    FM_ASSERT_NO_SOCK_LOCK(); /* fm_proto.term: without the socket lock */
    s->proto->term(s->pstate);

    free(s->pstate);
    for (int t = 0; t < FM_MAX_TRANSPORTS; t++)
        fm_tpobj_unref(s->tpobj[t]);

    /* The descriptors go now, as the application expects after nn_close;
       -1 keeps a late readiness refresh away from a reused number. */
    fm_sock_lock(s);
    if (s->snd.fd >= 0)
        close(s->snd.fd);
    if (s->rcv.fd >= 0)
        close(s->rcv.fd);
    s->snd.fd = s->rcv.fd = -1;
    sock_unlock_plain(s);

    /* Empty the slot, then wait out callers that loaded the pointer just
       before: only then may the id be reused and the memory go. */
    atomic_store(&slots[s->id].sock, NULL);
    slot_drain(&slots[s->id]);
    pthread_mutex_lock(&g.lock);
    g.free_ids[g.nfree++] = s->id;
    pthread_mutex_unlock(&g.lock);
    fm_sock_unref(s); /* the table's; pipes still alive hold theirs */
}

void fm_sock_ref(struct fm_sock *s) { atomic_fetch_add(&s->refs, 1); }

/* The memory of a closed socket stays until its last pipe is gone: a
   deferred notification for such a pipe may still lock the socket, and
   finds it closing. */
void fm_sock_unref(struct fm_sock *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    fm_mutex_destroy(&s->lock);
    fm_mutex_destroy(&s->name_lock);
    free(s);
}

int nn_close(int id)
{
    if (id < 0 || id >= FM_MAX_SOCKETS)
        return fail(EBADF);
    pthread_mutex_lock(&g.lock);
    struct fm_sock *s = atomic_load(&slots[id].sock);
    if (!s || atomic_load(&s->closing)) {
        pthread_mutex_unlock(&g.lock);
        return fail(EBADF);
    }
    atomic_store(&s->closing, true);
    pthread_mutex_unlock(&g.lock);
    sock_destroy(s);
    return 0;
}

void nn_term(void)
{
    struct fm_sock *closing[FM_MAX_SOCKETS];
    int n = 0;
    pthread_mutex_lock(&g.lock);
    /* As stock: before the first socket the library is not running yet,
       and there is nothing to terminate. */
    g.terminated = g.initialized;
    for (int i = 0; i < FM_MAX_SOCKETS; i++) {
        struct fm_sock *s = atomic_load(&slots[i].sock);
        if (s && !atomic_load(&s->closing)) {
            atomic_store(&s->closing, true);
            closing[n++] = s;
        }
    }
    pthread_mutex_unlock(&g.lock);
    /* Wake every socket first, so that threads blocked on one of them (a
       device spans two) are all released before any close waits. */
    for (int i = 0; i < n; i++) {
        fm_sock_lock(closing[i]);
        fm_sock_unlock(closing[i]);
    }
    for (int i = 0; i < n; i++)
        sock_destroy(closing[i]);
}

/* -------------------------------------------------------------- options */
static const struct fm_transport *transport_by_level(int level, int *index)
{
    for (int t = 0; fm_transports[t] && t < FM_MAX_TRANSPORTS; t++)
        if (fm_transports[t]->level == level) {
            *index = t;
            return fm_transports[t];
        }
    return NULL;
}

static int read_domain(struct fm_sock *s, int *v)
{
    *v = s->domain;
    return 0;
}

static int read_protocol(struct fm_sock *s, int *v)
{
    *v = s->proto->type;
    return 0;
}

/* Handing the descriptor out makes the library keep it exact from then on. */
static int read_fd(struct fm_sock *s, struct fm_readiness *r, int *v)
{
    if (r->fd < 0)
        return -ENOPROTOOPT; /* the socket type lacks this direction */
    expose(s, r);
    *v = r->fd;
    return 0;
}

static int read_sndfd(struct fm_sock *s, int *v) { return read_fd(s, &s->snd, v); }
static int read_rcvfd(struct fm_sock *s, int *v) { return read_fd(s, &s->rcv, v); }

/* Give an endpoint the socket's current connection options (those of
   REACH_CONNECTION, and the transport's int options): as in stock, each
   new connection takes the values in force when it is made. Socket lock
   held (the endpoint list and the option table are the socket's). */
static void ep_take_conn_opts(struct fm_sock *s, struct fm_ep *ep)
{
    FM_ASSERT_LOCKED(&s->lock);
    for (int o = 0; o <= FM_SOCKOPT_MAX; o++) {
        const struct sockopt *d = &sockopts[o];
        if (d->kind != OPT_INT || d->reach != REACH_CONNECTION)
            continue;
        atomic_store((atomic_int *) ((char *) ep + d->ep_val), atomic_load(&s->opt.val[o]));
        /* The value before the flag: who sees the flag sees the value. */
        if (d->ep_chosen)
            atomic_store((atomic_bool *) ((char *) ep + d->ep_chosen),
                         atomic_load(&s->opt.chosen[o]));
    }
    int t = 0;
    while (fm_transports[t] && fm_transports[t] != ep->tp)
        t++;
    if (t < FM_MAX_TRANSPORTS && fm_transports[t])
        for (int i = 0; i <= FM_MAX_TRANSPORT_OPTS; i++)
            atomic_store(&ep->tpopts[i], s->tpopts[t][i]);
}

/* A new endpoint takes every option it keeps: those fixed for its life
   and the current connection ones. Socket lock held. */
static void ep_take_opts(struct fm_sock *s, struct fm_ep *ep)
{
    FM_ASSERT_LOCKED(&s->lock);
    for (int o = 0; o <= FM_SOCKOPT_MAX; o++)
        if (sockopts[o].kind == OPT_INT && sockopts[o].reach == REACH_ENDPOINT)
            *(int *) ((char *) ep + sockopts[o].ep_val) = atomic_load(&s->opt.val[o]);
    ep_take_conn_opts(s, ep);
}

static void eps_take_conn_opts(struct fm_sock *s)
{
    for (struct fm_list *n = s->eps.next; n != &s->eps; n = n->next)
        ep_take_conn_opts(s, FM_CONTAINER(n, struct fm_ep, sock_node));
}

static int name_set(struct fm_sock *s, const void *val, size_t len)
{
    if (len >= FM_NAME_MAX)
        return -EINVAL;
    fm_mutex_lock(&s->name_lock);
    memset(s->name, 0, sizeof(s->name));
    if (len)
        memcpy(s->name, val, strnlen(val, len)); /* a string: up to a NUL */
    fm_mutex_unlock(&s->name_lock);
    return 0;
}

/* As stock: the padded buffer is copied, the length says strlen. */
static int name_get(struct fm_sock *s, void *val, size_t *len)
{
    size_t n = strlen(s->name);
    memcpy(val, s->name, *len < sizeof(s->name) ? *len : sizeof(s->name));
    *len = n;
    return 0;
}

static int sock_setopt(struct fm_sock *s, int level, int option, const void *val,
                       size_t len)
{
    FM_ASSERT_LOCKED(&s->lock);
    if (!val && len)
        return -EFAULT;
    if (level == s->proto->type) {
        if (!s->proto->setopt)
            return -ENOPROTOOPT;
        return s->proto->setopt(s->pstate, option, val, len);
    }
    if (level < 0) {
        int t;
        const struct fm_transport *tp = transport_by_level(level, &t);
        if (tp && !tp->setopt && tp->setopt_obj)
            return tp->setopt_obj(option, val, len, &s->tpobj[t]);
        if (!tp || !tp->setopt)
            return -ENOPROTOOPT;
        int rc = tp->setopt(option, val, len, s->tpopts[t]);
        if (rc == 0)
            eps_take_conn_opts(s);
        return rc;
    }
    if (level != NN_SOL_SOCKET)
        return -ENOPROTOOPT;

    const struct sockopt *d = sockopt_find(option);
    if (d && d->kind == OPT_NAME)
        return name_set(s, val, len);
    /* As stock: the length is checked before the option is looked up. */
    if (len != sizeof(int))
        return -EINVAL;
    if (!d || d->kind != OPT_INT)
        return -ENOPROTOOPT;
    int v;
    int rc = fm_opt_int_in(val, len, d->min, d->max, &v);
    if (rc)
        return rc;
    atomic_store(&s->opt.val[option], v);
    atomic_store(&s->opt.chosen[option], true);
    if (d->reach == REACH_CONNECTION)
        eps_take_conn_opts(s);
    return 0;
}

int nn_setsockopt(int id, int level, int option, const void *val, size_t len)
{
    struct fm_sock *s = sock_acquire(id);
    if (!s)
        return fail(EBADF);
    fm_sock_lock(s);
    int rc = sock_setopt(s, level, option, val, len);
    fm_sock_unlock(s);
    sock_release(s);
    return rc ? fail(-rc) : 0;
}

static int sock_getopt(struct fm_sock *s, int level, int option, void *val, size_t *len)
{
    FM_ASSERT_LOCKED(&s->lock);
    if (level == s->proto->type) {
        if (!s->proto->getopt)
            return -ENOPROTOOPT;
        return s->proto->getopt(s->pstate, option, val, len);
    }
    if (level < 0) {
        int t;
        const struct fm_transport *tp = transport_by_level(level, &t);
        if (tp && !tp->getopt && tp->getopt_obj)
            return tp->getopt_obj(option, s->tpobj[t], val, len);
        if (!tp || !tp->getopt)
            return -ENOPROTOOPT;
        return tp->getopt(option, s->tpopts[t], val, len);
    }
    if (level != NN_SOL_SOCKET)
        return -ENOPROTOOPT;
    const struct sockopt *d = sockopt_find(option);
    if (!d)
        return -ENOPROTOOPT;
    int v;
    switch (d->kind) {
    case OPT_NAME:
        return name_get(s, val, len);
    case OPT_READ_ONLY: {
        int rc = d->read(s, &v);
        if (rc)
            return rc;
        break;
    }
    default:
        /* NN_LINGER reads 0 as stock's does: programs and bindings written
           against it assert that answer. The value set is still honoured
           on close (fm_sock_opt_int). */
        v = d->reads_zero ? 0 : atomic_load(&s->opt.val[option]);
        break;
    }
    return fm_opt_int_out(val, len, v);
}

int nn_getsockopt(int id, int level, int option, void *val, size_t *len)
{
    struct fm_sock *s = sock_acquire(id);
    if (!s)
        return fail(EBADF);
    int rc = -EFAULT;
    if (val && len) {
        fm_sock_lock(s);
        rc = sock_getopt(s, level, option, val, len);
        fm_sock_unlock(s);
    }
    sock_release(s);
    return rc ? fail(-rc) : 0;
}

/* A private duplicate of NN_RCVFD / NN_SNDFD for nn_device, made while the
   socket cannot be closed: with a lookup and a dup() apart, a concurrent
   nn_close could close the number in between and the dup() land on an
   unrelated descriptor that reused it. >= 0, or -errno (ENOPROTOOPT when
   the socket lacks that direction). */
int fm_sock_dup_fd(int id, int option)
{
    struct fm_sock *s = sock_acquire(id);
    if (!s)
        return -EBADF;
    int fd;
    size_t len = sizeof(fd);
    fm_sock_lock(s);
    int rc = sock_getopt(s, NN_SOL_SOCKET, option, &fd, &len);
    if (rc == 0 && (rc = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
        rc = -errno;
    fm_sock_unlock(s);
    sock_release(s);
    return rc;
}

/* ------------------------------------------------------------ endpoints */
static int add_endpoint(int id, const char *addr, bool bind)
{
    struct fm_sock *s = sock_acquire(id);
    if (!s)
        return fail(EBADF);
    int err = 0;
    const struct fm_transport *tp = NULL;
    const char *sep = addr ? strstr(addr, "://") : NULL;
    if (!addr)
        err = EINVAL;
    else if (strlen(addr) >= NN_SOCKADDR_MAX)
        err = ENAMETOOLONG;
    else if (!sep)
        err = EINVAL;
    else {
        size_t n = (size_t) (sep - addr);
        int t;
        for (t = 0; fm_transports[t]; t++)
            if (strlen(fm_transports[t]->scheme) == n &&
                memcmp(fm_transports[t]->scheme, addr, n) == 0)
                break;
        tp = fm_transports[t];
        if (!tp)
            err = EPROTONOSUPPORT;
    }
    struct fm_ep *ep = NULL;
    if (!err && !(ep = calloc(1, sizeof(*ep))))
        err = ENOMEM;
    if (err) {
        sock_release(s);
        return fail(err);
    }
    fm_sock_lock(s);
    ep->sock = s;
    ep->tp = tp;
    ep->bound = bind;
    strcpy(ep->addr, addr);
    fm_list_init(&ep->sock_node);
    ep_take_opts(s, ep);
    int lt = 0;
    if (transport_by_level(tp->level, &lt))
        ep->tpobj = fm_tpobj_ref(s->tpobj[lt]);
    if (tp->extra_level && transport_by_level(tp->extra_level, &lt))
        ep->tpobj_extra = fm_tpobj_ref(s->tpobj[lt]);
    /* Listed before the transport starts so that nn_close, racing with us,
       finds and stops it. */
    fm_list_insert_tail(&s->eps, &ep->sock_node);
    fm_sock_unlock(s);

    int rc = bind ? tp->bind(ep) : tp->connect(ep);
    if (rc < 0) {
        fm_sock_lock(s);
        bool listed = fm_list_linked(&ep->sock_node);
        if (listed)
            fm_list_remove(&ep->sock_node);
        fm_sock_unlock(s);
        if (listed)
            ep_free(ep);
        /* else nn_close took it and will close and free it */
        sock_release(s);
        return fail(-rc);
    }
    /* Numbered only once it works: a failed bind uses no id, as stock. */
    fm_sock_lock(s);
    int eid = ep->id = s->next_ep_id++;
    fm_sock_unlock(s);
    sock_release(s);
    return eid;
}

int nn_bind(int s, const char *addr) { return add_endpoint(s, addr, true); }
int nn_connect(int s, const char *addr) { return add_endpoint(s, addr, false); }

int nn_shutdown(int id, int eid)
{
    struct fm_sock *s = sock_acquire(id);
    if (!s)
        return fail(EBADF);
    fm_sock_lock(s);
    struct fm_ep *found = NULL;
    for (struct fm_list *n = s->eps.next; n != &s->eps; n = n->next) {
        struct fm_ep *ep = FM_CONTAINER(n, struct fm_ep, sock_node);
        if (ep->id == eid) {
            found = ep;
            fm_list_remove(n);
            break;
        }
    }
    fm_sock_unlock(s);
    if (found) {
        FM_ASSERT_NO_SOCK_LOCK();
        found->tp->close(found);
        fm_sock_lock(s);
        fm_fq_discard_ep(s, found);
        fm_sock_unlock(s); /* (refreshes readiness: it may have emptied) */
        ep_free(found);
    }
    sock_release(s);
    return found ? 0 : fail(EINVAL);
}

/* ------------------------------------------------------- send & receive */

/* Wait until fd is readable or the deadline (0: none) passes. */
static int wait_readable(int fd, uint64_t deadline)
{
    int timeout = -1;
    if (deadline) {
        uint64_t now = fm_now_ms();
        if (now >= deadline)
            return -ETIMEDOUT;
        uint64_t left = deadline - now;
        timeout = left > 0x7fffffff ? 0x7fffffff : (int) left;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int rc = poll(&pfd, 1, timeout);
    if (rc < 0)
        return errno == EINTR ? -EINTR : -errno;
    return rc == 0 ? -ETIMEDOUT : 0;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* How long a blocked caller watches the readiness flag before it sleeps: a
   peer thread of the same process (an inproc pipe's) usually answers
   within this, and a wake-up through the kernel costs more than the spin. */
#define SPIN_NS 20000

static int poll_timeout(uint64_t deadline)
{
    if (!deadline)
        return -1;
    uint64_t now = fm_now_ms();
    if (now >= deadline)
        return 0;
    uint64_t left = deadline - now;
    return left > 0x7fffffff ? 0x7fffffff : (int) left;
}

void fm_sock_rx_lost(struct fm_sock *s, struct fm_pipe *p)
{
    FM_ASSERT_SOCK_LOCKED(s);
    struct fm_readiness *r = &s->rcv;
    if (s->rx_claimed != p)
        return;
    s->rx_claimed = NULL;
    uint64_t v = 1;
    if (r->fd >= 0 && !r->signalled && write(r->fd, &v, sizeof(v)) == (ssize_t) sizeof(v))
        r->signalled = true; /* cleared by the next sync_fd while not ready */
}

/* The socket's pipe when it has exactly one, else NULL. Socket lock held. */
static struct fm_pipe *sole_pipe(struct fm_sock *s)
{
    FM_ASSERT_SOCK_LOCKED(s);
    struct fm_list *first = s->pipes.next;
    if (first == &s->pipes || first->next != &s->pipes)
        return NULL;
    return FM_CONTAINER(first, struct fm_pipe, sock_node);
}

/* A receiver on a socket with a single pipe whose transport lets it read
   (a stream connection) waits on that connection itself and reads what
   comes: no loop-thread wake-up in between, no spin on work that only the
   kernel can bring. Not when the application watches RCVFD (nn_poll too):
   then the eventfd must follow every message anyway. Returns 1 when it
   waited (*rc set: 0 look again, -ETIMEDOUT, -EINTR), 0 when the caller
   waits the ordinary way.
   Done, it leaves the connection idle (unread by its loop) while nobody
   else could be waiting: a receiver back for the next message then
   claims it without touching the loop's watch, a system call saved on
   each side of every wait. Whatever else needs the loop to read calls
   rx_watch_all first: the ordinary wait, RCVFD, nn_poll, and a
   non-blocking nn_recv (which reads what the kernel has itself). */
static int wait_direct(struct fm_sock *s, uint64_t deadline, int *rc)
{
    struct fm_readiness *r = &s->rcv;
    fm_sock_lock(s);
    struct fm_pipe *p = NULL;
    int fd = -1;
    if (!r->exposed && !s->rx_claimed && (p = sole_pipe(s))) {
        if (!p->ops->rx_claim || atomic_load_explicit(&r->ready, memory_order_relaxed) ||
            (fd = p->ops->rx_claim(p)) < 0)
            p = NULL;
    }
    if (!p) {
        rx_watch_all(s);
        sock_unlock_plain(s);
        return 0;
    }
    fm_pipe_ref(p);
    s->rx_claimed = p;
    r->watchers++;
    sync_fd(r);
    sock_unlock_plain(s);
    *rc = 0;
    for (;;) {
        struct pollfd pfd[2] = {{.fd = r->fd, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
        int n = poll(pfd, 2, poll_timeout(deadline));
        if (n < 0)
            *rc = errno == EINTR ? -EINTR : -errno;
        else if (n == 0)
            *rc = -ETIMEDOUT;
        /* Not a watcher while reading: what the pump delivers need not go
           through the eventfd, this thread looks at the flag itself. */
        fm_sock_lock(s);
        r->watchers--;
        bool lost = s->rx_claimed != p;
        sock_unlock_plain(s);
        if (n <= 0 || pfd[0].revents || lost)
            break;
        bool more = p->ops->rx_pump(p);
        fm_run_deferred();
        if (!more || atomic_load_explicit(&r->ready, memory_order_acquire))
            break;
        fm_sock_lock(s); /* a partial message: wait for the rest */
        lost = s->rx_claimed != p;
        if (!lost) {
            r->watchers++;
            sync_fd(r);
        }
        sock_unlock_plain(s);
        if (lost)
            break;
    }
    fm_sock_lock(s);
    if (s->rx_claimed == p)
        s->rx_claimed = NULL;
    /* Idle only while no other caller waits on the eventfd for what the
       loop would read, and p is still the socket's only pipe. And only
       when this wait brought one message at most, as a request or a reply
       does: a stream's receiver finds more waiting in the kernel, and the
       loop reading the next batch meanwhile is worth the two calls. */
    bool idle = !r->exposed && r->watchers == 0 && p->attached && sole_pipe(s) == p;
    if (idle) {
        pthread_mutex_lock(&p->inq_lock);
        idle = p->inq.count <= 1;
        pthread_mutex_unlock(&p->inq_lock);
    }
    p->ops->rx_release(p, idle);
    s->rx_idle |= idle;
    sock_unlock_plain(s);
    fm_run_deferred();
    fm_pipe_unref(p);
    return 1;
}

/* Wait for one direction of s to become ready, or the deadline (0: none).
   Returns 0 (look again), -ETIMEDOUT or -EINTR. */
static int sock_wait(struct fm_sock *s, struct fm_readiness *r, uint64_t deadline)
{
    int direct_rc;
    if (r == &s->rcv && wait_direct(s, deadline, &direct_rc))
        return direct_rc;
    /* What a stream connection brings (a message, room) comes from the
       kernel through a loop thread, rarely within a spin, which then only
       takes a CPU from that thread and the peer: with 10 tcp clients a REP
       server spent 30 us of CPU per request with the spin, 19 without. Only
       a peer in this process (inproc) is worth watching for. */
    bool spin = atomic_load_explicit(&s->local_pipes, memory_order_relaxed) > 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 1; spin; i++) {
        if (atomic_load_explicit(&r->ready, memory_order_acquire))
            return 0;
        cpu_relax();
        if ((i & 63) == 0) {
            /* On a machine with more runnable threads than CPUs the peer
               may be waiting for this very CPU: let it run. Returns at once
               when nothing else is runnable. */
            sched_yield();
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) > SPIN_NS)
                break;
        }
    }
    fm_sock_lock(s);
    if (r == &s->rcv)
        rx_watch_all(s); /* released idle by a direct receiver since */
    r->watchers++;
    sync_fd(r);
    sock_unlock_plain(s);
    int rc = wait_readable(r->fd, deadline);
    fm_sock_lock(s);
    r->watchers--;
    sock_unlock_plain(s);
    return rc;
}

static uint64_t deadline_after(int timeo)
{
    return timeo < 0 ? 0 : fm_now_ms() + (uint64_t) timeo + (timeo == 0);
}

#if !defined(__x86_64__) && !defined(__i386__)
uint64_t fm_ticks(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}
#endif
/* One nn_send following the last one within this is part of a stream. */
#define BURST_TICKS (FM_TICKS_PER_US * 13 / 10)

bool fm_sock_fanout(struct fm_sock *s)
{
    FM_ASSERT_SOCK_LOCKED(s);
    return s->fanout;
}

/* The message counts have one writer at a time, a caller holding the socket
   lock: a plain add, not a locked one (each was a tenth of a receiver's
   time on 64 B messages); readers load them atomically. */
static void count_io(struct fm_sock *s, enum fm_stat msgs, enum fm_stat bytes, size_t n)
{
    FM_ASSERT_SOCK_LOCKED(s);
    atomic_int_least64_t *m = &s->stats[msgs], *b = &s->stats[bytes];
    atomic_store_explicit(m, atomic_load_explicit(m, memory_order_relaxed) + 1, memory_order_relaxed);
    atomic_store_explicit(b, atomic_load_explicit(b, memory_order_relaxed) + (int64_t) n,
                          memory_order_relaxed);
}

/* Send msg (moved on success) honouring NN_DONTWAIT and NN_SNDTIMEO;
   counted as len bytes sent. */
static int sock_send(struct fm_sock *s, struct fm_msg *msg, int flags, size_t len)
{
    if (s->proto->flags & FM_PROTO_NOSEND)
        return -ENOTSUP;
    uint64_t deadline = 0;
    bool first = true;
    for (;;) {
        fm_sock_lock(s);
        s->send_ticks = fm_ticks();
        s->burst = s->send_ticks - atomic_load_explicit(&s->last_send_end,
                                                        memory_order_relaxed) < BURST_TICKS;
        int rc = atomic_load(&s->closing) ? -EBADF : s->proto->send(s->pstate, msg);
        s->burst = false; /* (a protocol timer's resend is no stream) */
        if (rc == 0)
            count_io(s, FM_STAT_MSGS_SENT, FM_STAT_BYTES_SENT, len);
        if (first) {
            deadline = deadline_after(s->opt.val[NN_SNDTIMEO]);
            first = false;
        }
        fm_sock_unlock(s); /* (writes what the transport left for after it) */
        atomic_store_explicit(&s->last_send_end, fm_ticks(), memory_order_relaxed);
        if (rc != -EAGAIN)
            return rc;
        if (flags & NN_DONTWAIT)
            return -EAGAIN;
        rc = sock_wait(s, &s->snd, deadline);
        if (rc == -ETIMEDOUT && deadline && fm_now_ms() >= deadline)
            return -ETIMEDOUT;
        if (rc == -EINTR)
            return -EINTR;
    }
}

static int sock_recv(struct fm_sock *s, struct fm_msg *msg, int flags)
{
    if (s->proto->flags & FM_PROTO_NORECV)
        return -ENOTSUP;
    uint64_t deadline = 0;
    bool first = true, read_idle = false;
    for (;;) {
        fm_sock_lock(s);
        int rc = atomic_load(&s->closing) ? -EBADF : s->proto->recv(s->pstate, msg);
        if (rc == 0)
            count_io(s, FM_STAT_MSGS_RECV, FM_STAT_BYTES_RECV, fm_msg_size(msg));
        if (first) {
            deadline = deadline_after(s->opt.val[NN_RCVTIMEO]);
            first = false;
        }
        uint64_t wake = deadline;
        if (rc == -EAGAIN && s->proto->recv_deadline) {
            uint64_t pd = s->proto->recv_deadline(s->pstate);
            if (pd && (!wake || pd < wake))
                wake = pd;
        }
        fm_sock_unlock(s);
        if (rc != -EAGAIN)
            return rc;
        if (flags & NN_DONTWAIT) {
            if (!read_idle) {
                read_idle = true;
                if (rx_read_idle(s))
                    continue;
            }
            return -EAGAIN;
        }
        rc = sock_wait(s, &s->rcv, wake);
        if (rc == -ETIMEDOUT && deadline && fm_now_ms() >= deadline)
            return -ETIMEDOUT;
        if (rc == -EINTR)
            return -EINTR;
    }
}

int nn_send(int id, const void *buf, size_t len, int flags)
{
    struct fm_sock *s = sock_acquire(id);
    if (!s)
        return fail(EBADF);
    struct fm_msg msg;
    int rc;
    if (!buf && len) {
        rc = -EFAULT;
    } else if (len == NN_MSG) {
        struct fm_chunk *c = buf ? fm_chunk_from_user(*(void *const *) buf) : NULL;
        if (!c) {
            rc = -EFAULT;
        } else {
            fm_msg_init_chunk(&msg, c);
            len = fm_msg_size(&msg);
            rc = sock_send(s, &msg, flags, len);
            if (rc != 0)
                fm_msg_init_empty(&msg); /* the user keeps the buffer */
        }
    } else {
        rc = fm_msg_init_copy(&msg, buf, len);
        if (rc == 0) {
            rc = sock_send(s, &msg, flags, len);
            if (rc != 0)
                fm_msg_term(&msg);
        }
    }
    sock_release(s);
    if (rc < 0)
        return fail(-rc);
    return len > (size_t) 0x7fffffff ? 0x7fffffff : (int) len;
}

int nn_recv(int id, void *buf, size_t len, int flags)
{
    struct fm_sock *s = sock_acquire(id);
    if (!s)
        return fail(EBADF);
    if (!buf && len) {
        sock_release(s);
        return fail(EFAULT);
    }
    struct fm_msg msg;
    fm_msg_init_empty(&msg);
    int rc = sock_recv(s, &msg, flags);
    size_t size = fm_msg_size(&msg);
    if (rc == 0) {
        if (len == NN_MSG) {
            void *p = fm_msg_take_user_buffer(&msg);
            if (!p)
                rc = -ENOMEM;
            else
                *(void **) buf = p;
        } else if (len) {
            memcpy(buf, fm_msg_body(&msg), size < len ? size : len);
        }
    }
    fm_msg_term(&msg);
    sock_release(s);
    if (rc < 0)
        return fail(-rc);
    return size > 0x7fffffff ? 0x7fffffff : (int) size;
}

/* Find the SP header in sendmsg control data: PROTO_SP / SP_HDR carrying a
   size_t length and then the header bytes. */
static int control_header(const struct nn_msghdr *h, struct fm_msg *msg)
{
    const uint8_t *ctl = h->msg_control;
    size_t len = h->msg_controllen;
    if (len == NN_MSG) {
        ctl = *(void *const *) h->msg_control;
        struct fm_chunk *c = fm_chunk_from_user((void *) ctl);
        if (!c)
            return -EFAULT;
        struct fm_msg tmp;
        fm_msg_init_chunk(&tmp, c);
        len = fm_msg_size(&tmp);
        fm_msg_init_empty(&tmp);
    }
    size_t off = 0;
    while (off + sizeof(struct nn_cmsghdr) <= len) {
        struct nn_cmsghdr ch;
        memcpy(&ch, ctl + off, sizeof(ch));
        if (ch.cmsg_len < sizeof(ch) || ch.cmsg_len > len - off)
            break;
        size_t data = off + NN_CMSG_ALIGN_(sizeof(ch));
        if (ch.cmsg_level == PROTO_SP && ch.cmsg_type == SP_HDR &&
            data + sizeof(size_t) <= off + ch.cmsg_len) {
            size_t n;
            memcpy(&n, ctl + data, sizeof(n));
            if (n > off + ch.cmsg_len - data - sizeof(size_t))
                return -EINVAL;
            return fm_msg_hdr_set(msg, ctl + data + sizeof(size_t), n);
        }
        off += NN_CMSG_ALIGN_(ch.cmsg_len);
    }
    return 0;
}

int nn_sendmsg(int id, const struct nn_msghdr *h, int flags)
{
    struct fm_sock *s = sock_acquire(id);
    if (!s)
        return fail(EBADF);
    int rc = 0;
    size_t total = 0;
    struct fm_msg msg;
    fm_msg_init_empty(&msg);
    bool user_chunk = false;
    if (!h)
        rc = -EINVAL;
    else if (h->msg_iovlen < 0)
        rc = -EMSGSIZE;
    else if (h->msg_iovlen > 0 && !h->msg_iov)
        rc = -EFAULT;
    if (rc == 0 && h->msg_iovlen == 1 && h->msg_iov[0].iov_len == NN_MSG) {
        void *const *pp = h->msg_iov[0].iov_base;
        struct fm_chunk *c = pp ? fm_chunk_from_user(*pp) : NULL;
        if (!c)
            rc = -EFAULT;
        else {
            fm_msg_init_chunk(&msg, c);
            user_chunk = true;
            total = fm_msg_size(&msg);
        }
    } else if (rc == 0) {
        for (int i = 0; i < h->msg_iovlen && rc == 0; i++) {
            const struct nn_iovec *v = &h->msg_iov[i];
            if (v->iov_len == NN_MSG)
                rc = -EINVAL;
            else if (!v->iov_base && v->iov_len)
                rc = -EFAULT;
            else if (total + v->iov_len < total)
                rc = -EINVAL;
            else
                total += v->iov_len;
        }
        if (rc == 0)
            rc = fm_msg_init(&msg, total);
        size_t off = 0;
        for (int i = 0; i < h->msg_iovlen && rc == 0; i++) {
            if (h->msg_iov[i].iov_len)
                memcpy(fm_msg_body(&msg) + off, h->msg_iov[i].iov_base, h->msg_iov[i].iov_len);
            off += h->msg_iov[i].iov_len;
        }
    }
    if (rc == 0 && h->msg_control)
        rc = control_header(h, &msg);
    if (rc == 0)
        rc = sock_send(s, &msg, flags, total);
    if (rc == 0) {
        if (h->msg_control && h->msg_controllen == NN_MSG)
            nn_freemsg(*(void **) h->msg_control);
    } else {
        if (user_chunk)
            msg.body = NULL; /* still the caller's */
        fm_msg_term(&msg);
    }
    sock_release(s);
    if (rc < 0)
        return fail(-rc);
    return total > 0x7fffffff ? 0x7fffffff : (int) total;
}

/* Fill recvmsg control data with the SP header, as PROTO_SP / SP_HDR. */
static int control_fill(struct nn_msghdr *h, struct fm_msg *msg)
{
    size_t hl = fm_msg_hdr_len(msg);
    size_t need = NN_CMSG_SPACE(hl + sizeof(size_t));
    uint8_t *ctl;
    if (h->msg_controllen == NN_MSG) {
        ctl = fm_chunk_alloc_user(need);
        if (!ctl)
            return -ENOMEM;
        *(void **) h->msg_control = ctl;
    } else {
        ctl = h->msg_control;
        if (h->msg_controllen < need)
            return 0; /* too small: no properties, as the stock library */
    }
    struct nn_cmsghdr ch = {.cmsg_len = need, .cmsg_level = PROTO_SP, .cmsg_type = SP_HDR};
    memcpy(ctl, &ch, sizeof(ch));
    uint8_t *data = ctl + NN_CMSG_ALIGN_(sizeof(ch));
    memcpy(data, &hl, sizeof(hl));
    if (hl)
        memcpy(data + sizeof(hl), fm_msg_hdr(msg), hl);
    size_t used = NN_CMSG_ALIGN_(sizeof(ch)) + sizeof(hl) + hl;
    memset(ctl + used, 0, need - used);
    return 0;
}

int nn_recvmsg(int id, struct nn_msghdr *h, int flags)
{
    struct fm_sock *s = sock_acquire(id);
    if (!s)
        return fail(EBADF);
    int rc = 0;
    if (!h)
        rc = -EINVAL;
    else if (h->msg_iovlen < 0)
        rc = -EMSGSIZE;
    else if (h->msg_iovlen > 0 && !h->msg_iov)
        rc = -EFAULT;
    bool zero_copy = rc == 0 && h->msg_iovlen == 1 && h->msg_iov[0].iov_len == NN_MSG;
    if (zero_copy && !h->msg_iov[0].iov_base)
        rc = -EFAULT;
    for (int i = 0; rc == 0 && !zero_copy && i < h->msg_iovlen; i++) {
        if (h->msg_iov[i].iov_len == NN_MSG)
            rc = -EINVAL;
        else if (!h->msg_iov[i].iov_base && h->msg_iov[i].iov_len)
            rc = -EFAULT;
    }
    struct fm_msg msg;
    fm_msg_init_empty(&msg);
    if (rc == 0)
        rc = sock_recv(s, &msg, flags);
    size_t size = fm_msg_size(&msg);
    if (rc == 0 && h->msg_control)
        rc = control_fill(h, &msg);
    if (rc == 0) {
        if (zero_copy) {
            void *p = fm_msg_take_user_buffer(&msg);
            if (!p)
                rc = -ENOMEM;
            else
                *(void **) h->msg_iov[0].iov_base = p;
        } else {
            const uint8_t *body = fm_msg_body(&msg);
            size_t off = 0;
            for (int i = 0; i < h->msg_iovlen && off < size; i++) {
                size_t n = h->msg_iov[i].iov_len;
                if (n > size - off)
                    n = size - off;
                if (n)
                    memcpy(h->msg_iov[i].iov_base, body + off, n);
                off += n;
            }
        }
    }
    fm_msg_term(&msg);
    sock_release(s);
    if (rc < 0)
        return fail(-rc);
    return size > 0x7fffffff ? 0x7fffffff : (int) size;
}

/* ----------------------------------------------------------------- poll */
int nn_poll(struct nn_pollfd *fds, int nfds, int timeout)
{
    if (nfds < 0)
        return fail(EINVAL);
    if (nfds > 0 && !fds)
        return fail(EFAULT);
    struct pollfd pfd_stack[32];
    struct fm_sock *held_stack[16];
    bool small = nfds <= 16;
    struct pollfd *pfd = small ? pfd_stack : calloc((size_t) nfds * 2, sizeof(*pfd));
    struct fm_sock **held = small ? held_stack : calloc((size_t) nfds, sizeof(*held));
    if (!pfd || !held) {
        if (!small) {
            free(pfd);
            free(held);
        }
        return fail(ENOMEM);
    }
    /* Every socket is held for the whole poll(): its descriptors cannot be
       closed (and their numbers handed to someone else) under us. A
       concurrent nn_close first signals them, which ends the poll, and then
       waits for us to let go. */
    int err = 0, nheld = 0;
    for (int i = 0; i < nfds; i++) {
        pfd[2 * i].fd = pfd[2 * i + 1].fd = -1;
        pfd[2 * i].events = pfd[2 * i + 1].events = POLLIN;
        pfd[2 * i].revents = pfd[2 * i + 1].revents = 0;
        struct fm_sock *s = sock_acquire(fds[i].fd);
        if (!s) {
            err = EBADF;
            break;
        }
        held[nheld++] = s;
        /* As stock: asking for a direction the socket type lacks is an
           error, not a silent never. */
        if (((fds[i].events & NN_POLLOUT) && s->snd.fd < 0) ||
            ((fds[i].events & NN_POLLIN) && s->rcv.fd < 0)) {
            err = ENOPROTOOPT;
            break;
        }
        fm_sock_lock(s);
        if (fds[i].events & NN_POLLOUT) {
            expose(s, &s->snd);
            pfd[2 * i].fd = s->snd.fd;
        }
        if (fds[i].events & NN_POLLIN) {
            expose(s, &s->rcv);
            pfd[2 * i + 1].fd = s->rcv.fd;
        }
        fm_sock_unlock(s);
    }
    int rc = err ? -1 : poll(pfd, (nfds_t) nfds * 2, timeout);
    if (rc < 0 && !err)
        err = errno;
    int ready = 0;
    for (int i = 0; !err && i < nfds; i++) {
        fds[i].revents = 0;
        /* A socket closed meanwhile (nn_close, nn_term) is ready in each
           direction asked for: the caller's next call on it says EBADF.
           Returning 0 would say "timed out", which means nothing to a
           caller that waits without limit. */
        if (atomic_load(&held[i]->closing)) {
            fds[i].revents = fds[i].events & (NN_POLLIN | NN_POLLOUT);
        } else {
            if (pfd[2 * i].revents & POLLIN)
                fds[i].revents |= NN_POLLOUT;
            if (pfd[2 * i + 1].revents & POLLIN)
                fds[i].revents |= NN_POLLIN;
        }
        if (fds[i].revents)
            ready++;
    }
    for (int i = 0; i < nheld; i++)
        sock_release(held[i]);
    if (!small) {
        free(pfd);
        free(held);
    }
    return err ? fail(err) : ready;
}

/* ----------------------------------------------------------- statistics */
uint64_t nn_get_statistic(int id, int stat)
{
    struct fm_sock *s = sock_acquire(id);
    if (!s) {
        errno = EBADF;
        return (uint64_t) -1;
    }
    int64_t v = -1;
    switch (stat) {
    case NN_STAT_ESTABLISHED_CONNECTIONS: v = s->stats[FM_STAT_ESTABLISHED]; break;
    case NN_STAT_ACCEPTED_CONNECTIONS: v = s->stats[FM_STAT_ACCEPTED]; break;
    case NN_STAT_DROPPED_CONNECTIONS: v = s->stats[FM_STAT_DROPPED]; break;
    case NN_STAT_BROKEN_CONNECTIONS: v = s->stats[FM_STAT_BROKEN]; break;
    case NN_STAT_CONNECT_ERRORS: v = s->stats[FM_STAT_CONNECT_ERRORS]; break;
    case NN_STAT_BIND_ERRORS: v = s->stats[FM_STAT_BIND_ERRORS]; break;
    case NN_STAT_ACCEPT_ERRORS: v = s->stats[FM_STAT_ACCEPT_ERRORS]; break;
    case NN_STAT_CURRENT_CONNECTIONS: v = s->stats[FM_STAT_CURRENT_CONNECTIONS]; break;
    case NN_STAT_INPROGRESS_CONNECTIONS: v = s->stats[FM_STAT_INPROGRESS]; break;
    case NN_STAT_CURRENT_EP_ERRORS: v = s->stats[FM_STAT_CURRENT_EP_ERRORS]; break;
    case NN_STAT_MESSAGES_SENT: v = s->stats[FM_STAT_MSGS_SENT]; break;
    case NN_STAT_MESSAGES_RECEIVED: v = s->stats[FM_STAT_MSGS_RECV]; break;
    case NN_STAT_BYTES_SENT: v = s->stats[FM_STAT_BYTES_SENT]; break;
    case NN_STAT_BYTES_RECEIVED: v = s->stats[FM_STAT_BYTES_RECV]; break;
    case NN_STAT_CURRENT_SND_PRIORITY:
        fm_sock_lock(s);
        v = s->proto->send_priority ? s->proto->send_priority(s->pstate) : 0;
        fm_sock_unlock(s);
        break;
    default: break;
    }
    sock_release(s);
    if (v < 0) {
        errno = EINVAL;
        return (uint64_t) -1;
    }
    return (uint64_t) v;
}

void fm_ep_report_error(struct fm_ep *ep, int err) { fm_ep_report_error_detail(ep, err, NULL); }

/* A failure that keeps coming back (a peer that is down, retried every
   NN_RECONNECT_IVL) is printed again at most this often, with a count:
   the user sees that it goes on without a line per attempt. */
#define ERROR_REPEAT_MS 1000

void fm_ep_report_error_detail(struct fm_ep *ep, int err, const char *detail)
{
    static atomic_int print = -1;
    if (atomic_load(&print) < 0) {
        const char *e = getenv("NN_PRINT_ERRORS");
        atomic_store(&print, e && *e);
    }
    int old = atomic_exchange(&ep->last_error, err);
    if (old == 0)
        fm_stat_add(ep->sock, FM_STAT_CURRENT_EP_ERRORS, 1);
    if (!atomic_load(&print))
        return;
    uint64_t now = fm_now_ms();
    unsigned times = 0;
    if (old == err) {
        if (now - atomic_load(&ep->err_printed_ms) < ERROR_REPEAT_MS) {
            atomic_fetch_add(&ep->err_repeats, 1);
            return;
        }
        times = atomic_exchange(&ep->err_repeats, 0) + 1;
    } else {
        atomic_store(&ep->err_repeats, 0);
    }
    atomic_store(&ep->err_printed_ms, now);
    char name[FM_NAME_MAX], again[48] = "";
    fm_mutex_lock(&ep->sock->name_lock);
    memcpy(name, ep->sock->name, sizeof(name));
    fm_mutex_unlock(&ep->sock->name_lock);
    name[sizeof(name) - 1] = 0;
    if (times)
        snprintf(again, sizeof(again), " (%u times since the last report)", times);
    const char *sep = strstr(ep->addr, "://");
    fprintf(stderr, "nanomsg: socket.%s[%s]: Error: %s%s%s%s\n", name, sep ? sep + 3 : ep->addr,
            nn_strerror(err), detail ? ": " : "", detail ? detail : "", again);
}

void fm_ep_clear_error(struct fm_ep *ep)
{
    if (atomic_exchange(&ep->last_error, 0) != 0)
        fm_stat_add(ep->sock, FM_STAT_CURRENT_EP_ERRORS, -1);
}
