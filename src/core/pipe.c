/* pipe.c: pipes (one per live connection), their inbound queues, the
   socket's fair queue over them, the load balancer protocols share, and the
   thread-local list of cross-socket notifications deferred until the
   current socket lock is dropped. */
#include "sock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint next_pipe_id = 1;

struct fm_pipe *fm_pipe_create(struct fm_ep *ep, const struct fm_pipe_ops *ops,
                               void *tdata)
{
    struct fm_pipe *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->sock = ep->sock;
    fm_sock_ref(p->sock);
    p->ep = ep;
    p->ops = ops;
    p->tdata = tdata;
    p->id = atomic_fetch_add(&next_pipe_id, 1) & 0x7fffffffu;
    if (p->id == 0)
        p->id = atomic_fetch_add(&next_pipe_id, 1) & 0x7fffffffu;
    p->sndprio = ep->sndprio;
    p->rcvprio = ep->rcvprio;
    atomic_init(&p->refs, 1); /* the transport's */
    fm_list_init(&p->sock_node);
    fm_list_init(&p->fq_node);
    fm_list_init(&p->lb_node);
    pthread_mutex_init(&p->inq_lock, NULL);
    fm_msgq_init(&p->inq);
    p->inq_limit = ep->rcvbuf > 0 ? (size_t) ep->rcvbuf : 1;
    p->inq_resume = p->inq_limit;
    return p;
}

void fm_pipe_ref(struct fm_pipe *p) { atomic_fetch_add(&p->refs, 1); }

void fm_pipe_unref(struct fm_pipe *p)
{
    if (atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    if (p->ops->free)
        p->ops->free(p);
    fm_msgq_term(&p->inq);
    pthread_mutex_destroy(&p->inq_lock);
    struct fm_sock *s = p->sock;
    free(p);
    fm_sock_unref(s);
}

static bool peer_ok(const struct fm_proto *mine, int peer_type)
{
    return mine->peer == peer_type;
}

static void fq_add(struct fm_sock *s, struct fm_pipe *p);

int fm_pipe_attach(struct fm_pipe *p, int peer_protocol)
{
    struct fm_sock *s = p->sock;
    if (!peer_ok(s->proto, peer_protocol))
        return -EPROTO;
    fm_sock_lock(s);
    int rc = -ECONNABORTED;
    if (!atomic_load(&s->closing)) {
        rc = s->proto->pipe_add(s->pstate, p);
        if (rc == 0) {
            p->attached = true;
            p->offered = true;
            fm_pipe_ref(p); /* the socket's */
            fm_list_insert_tail(&s->pipes, &p->sock_node);
            FM_ASSERT_SOCK_LOCKED(s); /* local_pipes' writers */
            if (!p->ops->rx_claim)
                atomic_fetch_add_explicit(&s->local_pipes, 1, memory_order_relaxed);
            /* The peer may have sent before this side was attached (inproc
               attaches the two ends one after the other). */
            pthread_mutex_lock(&p->inq_lock);
            bool queued = p->inq.count > 0;
            pthread_mutex_unlock(&p->inq_lock);
            if (queued)
                fq_add(s, p);
        }
    }
    fm_sock_unlock(s);
    return rc;
}

void fm_pipe_detach(struct fm_pipe *p)
{
    struct fm_sock *s = p->sock;
    fm_sock_lock(s);
    bool was = p->attached;
    if (was) {
        p->attached = false;
        s->proto->pipe_rm(s->pstate, p);
        fm_list_remove(&p->sock_node);
        FM_ASSERT_SOCK_LOCKED(s); /* local_pipes' writers */
        if (!p->ops->rx_claim) {
            FM_ASSERT(atomic_load_explicit(&s->local_pipes, memory_order_relaxed) > 0);
            atomic_fetch_sub_explicit(&s->local_pipes, 1, memory_order_relaxed);
        }
        fm_sock_rx_lost(s, p);
    }
    fm_sock_unlock(s);
    if (was)
        fm_pipe_unref(p);
}

/* What the inbound queue holds against NN_RCVBUF. inq_lock held. */
static size_t inq_counted(struct fm_pipe *p)
{
    FM_ASSERT_HELD(&p->inq_lock);
    return p->inq.bytes + p->inq.count * p->inq_msg_cost;
}

int fm_pipe_deliver(struct fm_pipe *p, struct fm_msg *msg)
{
    pthread_mutex_lock(&p->inq_lock);
    if (p->inq_closed) {
        pthread_mutex_unlock(&p->inq_lock);
        fm_msg_term(msg);
        return -EPIPE;
    }
    bool was_empty = p->inq.count == 0;
    if (fm_msgq_push(&p->inq, msg) != 0) {
        pthread_mutex_unlock(&p->inq_lock);
        fm_msg_term(msg); /* out of memory: as if lost on the wire */
        return 0;
    }
    int rc = 0;
    /* The deliverer stops once the queued bytes reach the limit, but, as
       the stock library does, never before two messages are queued: one
       larger than the buffer must not block the sender. */
    if (inq_counted(p) >= p->inq_limit && p->inq.count >= 2) {
        p->inq_full = true;
        rc = FM_PIPE_FULL;
    }
    pthread_mutex_unlock(&p->inq_lock);
    if (was_empty)
        fm_defer_readable(p);
    return rc;
}

int fm_pipe_send(struct fm_pipe *p, struct fm_msg *msg)
{
    struct fm_sock *s = p->sock;
    FM_ASSERT_SOCK_LOCKED(s);
    p->burst = s->burst && s->send_ticks - p->last_send_ticks < FM_PIPE_BURST_US * FM_TICKS_PER_US;
    p->last_send_ticks = s->send_ticks;
    return p->ops->send(p, msg);
}

bool fm_pipe_burst(struct fm_pipe *p)
{
    FM_ASSERT_SOCK_LOCKED(p->sock);
    return p->burst;
}

bool fm_pipe_has_room(struct fm_pipe *p)
{
    FM_ASSERT_SOCK_LOCKED(p->sock);
    return p->ops->has_room(p);
}

/* --------------------------------------------------------- fair queue */
static void fq_add(struct fm_sock *s, struct fm_pipe *p)
{
    FM_ASSERT_SOCK_LOCKED(s);
    if (p->in_fq)
        return;
    p->in_fq = true;
    fm_pipe_ref(p);
    fm_list_insert_tail(&s->fq[p->rcvprio - 1], &p->fq_node);
    s->fq_count++;
}

void fm_fq_remove(struct fm_sock *s, struct fm_pipe *p)
{
    FM_ASSERT_SOCK_LOCKED(s);
    if (!p->in_fq)
        return;
    p->in_fq = false;
    fm_list_remove(&p->fq_node);
    s->fq_count--;
    fm_pipe_unref(p);
}

bool fm_fq_readable(struct fm_sock *s)
{
    FM_ASSERT_SOCK_LOCKED(s);
    return s->fq_count > 0;
}

int fm_fq_recv(struct fm_sock *s, struct fm_msg *out, struct fm_pipe **from)
{
    FM_ASSERT_SOCK_LOCKED(s);
    for (int prio = 0; prio < 16 && s->fq_count; prio++) {
        while (!fm_list_empty(&s->fq[prio])) {
            struct fm_pipe *p = FM_CONTAINER(s->fq[prio].next, struct fm_pipe, fq_node);
            pthread_mutex_lock(&p->inq_lock);
            bool got = fm_msgq_pop(&p->inq, out);
            bool now_empty = p->inq.count == 0;
            bool unblock = false;
            if (got && p->inq_full && (inq_counted(p) < p->inq_resume || p->inq.count < 2)) {
                p->inq_full = false;
                unblock = true;
            }
            pthread_mutex_unlock(&p->inq_lock);
            if (unblock)
                fm_defer_inq_space(p);
            /* A detached pipe is reported as NULL: only attached pipes are
               kept alive by the socket for as long as its lock is held. */
            if (from)
                *from = p->attached ? p : NULL;
            s->fq_last_ep = p->ep;
            if (now_empty) {
                fm_fq_remove(s, p);
            } else {
                /* Round-robin: the next message comes from the next pipe. */
                fm_list_remove(&p->fq_node);
                fm_list_insert_tail(&s->fq[prio], &p->fq_node);
            }
            if (got)
                return 0;
        }
    }
    return -EAGAIN;
}

const struct fm_ep *fm_fq_last_ep(struct fm_sock *s)
{
    FM_ASSERT_SOCK_LOCKED(s);
    return s->fq_last_ep;
}

void fm_fq_discard_ep(struct fm_sock *s, const struct fm_ep *ep)
{
    FM_ASSERT_SOCK_LOCKED(s);
    for (int prio = 0; prio < 16 && s->fq_count; prio++) {
        struct fm_list *l = &s->fq[prio];
        for (struct fm_list *n = l->next, *next; n != l; n = next) {
            next = n->next;
            struct fm_pipe *p = FM_CONTAINER(n, struct fm_pipe, fq_node);
            if (p->ep != ep)
                continue;
            pthread_mutex_lock(&p->inq_lock);
            p->inq_closed = true; /* (the close has set it already) */
            struct fm_msgq gone = p->inq;
            fm_msgq_init(&p->inq);
            p->inq_full = false;
            pthread_mutex_unlock(&p->inq_lock);
            fm_msgq_term(&gone);
            fm_fq_remove(s, p);
        }
    }
    if (s->proto->ep_discard)
        s->proto->ep_discard(s->pstate, ep);
}

/* ------------------------------------------------------- load balancer */
void fm_lb_init(struct fm_lb *lb)
{
    for (int i = 0; i < 16; i++)
        fm_list_init(&lb->prio[i]);
    fm_list_init(&lb->full);
    lb->count = lb->full_count = 0;
}

void fm_lb_add(struct fm_lb *lb, struct fm_pipe *p)
{
    p->lb_state = FM_LB_WRITABLE;
    fm_list_insert_tail(&lb->prio[p->sndprio - 1], &p->lb_node);
    lb->count++;
}

void fm_lb_rm(struct fm_lb *lb, struct fm_pipe *p)
{
    if (p->lb_state == FM_LB_OUT)
        return;
    if (p->lb_state == FM_LB_WRITABLE)
        lb->count--;
    else
        lb->full_count--;
    p->lb_state = FM_LB_OUT;
    fm_list_remove(&p->lb_node);
}

/* Send answered non-zero: skip the pipe until it has room again. */
static void lb_full(struct fm_lb *lb, struct fm_pipe *p)
{
    fm_lb_rm(lb, p);
    p->lb_state = FM_LB_FULL;
    fm_list_insert_tail(&lb->full, &p->lb_node);
    lb->full_count++;
}

void fm_lb_writable(struct fm_lb *lb, struct fm_pipe *p)
{
    if (p->lb_state == FM_LB_FULL) {
        fm_lb_rm(lb, p);
        fm_lb_add(lb, p);
    }
}

/* Take back every full pipe that has room by now. */
static void lb_recheck(struct fm_lb *lb)
{
    for (struct fm_list *n = lb->full.next, *next; n != &lb->full; n = next) {
        next = n->next;
        struct fm_pipe *p = FM_CONTAINER(n, struct fm_pipe, lb_node);
        if (fm_pipe_has_room(p))
            fm_lb_writable(lb, p);
    }
}

bool fm_lb_can_send(const struct fm_lb *lb) { return lb->count > 0; }

int fm_lb_best_prio(const struct fm_lb *lb)
{
    for (int i = 0; i < 16 && lb->count; i++)
        if (!fm_list_empty(&lb->prio[i]))
            return i + 1;
    return 0;
}

int fm_lb_send(struct fm_lb *lb, struct fm_msg *msg, struct fm_pipe **to)
{
    int prio = fm_lb_best_prio(lb);
    if (!prio && lb->full_count) {
        lb_recheck(lb);
        prio = fm_lb_best_prio(lb);
    }
    if (!prio)
        return -EAGAIN;
    struct fm_list *l = &lb->prio[prio - 1];
    struct fm_pipe *p = FM_CONTAINER(l->next, struct fm_pipe, lb_node);
    fm_list_remove(&p->lb_node);
    fm_list_insert_tail(l, &p->lb_node);
    if (fm_pipe_send(p, msg) != 0)
        lb_full(lb, p); /* full or broken: skip it until it says otherwise */
    if (to)
        *to = p;
    return 0;
}

void fm_lb_send_all(struct fm_lb *lb, struct fm_msg *msg, uint32_t skip_id)
{
    if (lb->full_count)
        lb_recheck(lb);
    struct fm_sock *s = NULL;
    for (int prio = 0; prio < 16 && !s; prio++)
        if (!fm_list_empty(&lb->prio[prio]))
            s = FM_CONTAINER(lb->prio[prio].next, struct fm_pipe, lb_node)->sock;
    if (s)
        s->fanout = lb->count >= FM_FANOUT_MIN;
    for (int prio = 0; prio < 16 && lb->count; prio++) {
        struct fm_list *l = &lb->prio[prio];
        for (struct fm_list *n = l->next, *next; n != l; n = next) {
            next = n->next; /* the pipe may leave the list below */
            struct fm_pipe *p = FM_CONTAINER(n, struct fm_pipe, lb_node);
            struct fm_msg copy;
            if (p->id == skip_id || fm_msg_dup(&copy, msg) != 0)
                continue; /* (dup fails only with a heap header: as if lost) */
            if (fm_pipe_send(p, &copy) != 0)
                lb_full(lb, p);
        }
    }
    if (s)
        s->fanout = false;
    fm_msg_term(msg);
}

/* ------------------------------------------------- deferred notifications */
enum defer_kind { DEFER_READABLE, DEFER_WRITABLE, DEFER_INQ_SPACE, DEFER_FLUSH };
struct deferred {
    struct fm_pipe *pipe;
    enum defer_kind kind;
};
static _Thread_local struct {
    struct deferred *items;
    size_t len, cap;
    bool running;
} defer;

/* The list's buffer outlives each call; a key destructor frees it when an
   application thread that used the library exits. */
static pthread_key_t defer_key;
static pthread_once_t defer_key_once = PTHREAD_ONCE_INIT;

static void defer_free(void *items) { free(items); }
static void defer_key_create(void) { pthread_key_create(&defer_key, defer_free); }

static void defer_push(struct fm_pipe *p, enum defer_kind kind)
{
    if (defer.len == defer.cap) {
        pthread_once(&defer_key_once, defer_key_create);
        size_t cap = defer.cap ? defer.cap * 2 : 16;
        struct deferred *items = realloc(defer.items, cap * sizeof(*items));
        if (!items)
            abort(); /* a lost wake-up would hang a peer forever */
        defer.items = items;
        defer.cap = cap;
        pthread_setspecific(defer_key, items);
    }
    fm_pipe_ref(p);
    defer.items[defer.len++] = (struct deferred){p, kind};
}

void fm_defer_readable(struct fm_pipe *p) { defer_push(p, DEFER_READABLE); }
void fm_defer_writable(struct fm_pipe *p) { defer_push(p, DEFER_WRITABLE); }
void fm_defer_inq_space(struct fm_pipe *p) { defer_push(p, DEFER_INQ_SPACE); }
void fm_defer_flush(struct fm_pipe *p) { defer_push(p, DEFER_FLUSH); }

static void notify_readable(struct fm_pipe *p)
{
    struct fm_sock *s = p->sock;
    fm_sock_lock(s);
    pthread_mutex_lock(&p->inq_lock);
    bool has = p->inq.count > 0;
    pthread_mutex_unlock(&p->inq_lock);
    if (has && p->offered && !atomic_load(&s->closing))
        fq_add(s, p);
    fm_sock_unlock(s);
}

void fm_pipe_writable(struct fm_pipe *p)
{
    struct fm_sock *s = p->sock;
    fm_sock_lock(s);
    if (p->attached && s->proto->pipe_writable && fm_pipe_has_room(p))
        s->proto->pipe_writable(s->pstate, p);
    fm_sock_unlock(s);
}

void fm_run_deferred(void)
{
    FM_ASSERT_NO_SOCK_LOCK(); /* the deferred work locks other sockets */
    if (defer.running)
        return; /* the outer call drains what we add */
    defer.running = true;
    for (size_t i = 0; i < defer.len; i++) {
        struct deferred d = defer.items[i];
        switch (d.kind) {
        case DEFER_READABLE: notify_readable(d.pipe); break;
        case DEFER_WRITABLE: fm_pipe_writable(d.pipe); break;
        case DEFER_INQ_SPACE: d.pipe->ops->inq_space(d.pipe); break;
        case DEFER_FLUSH: d.pipe->ops->flush(d.pipe); break;
        }
        fm_pipe_unref(d.pipe);
    }
    defer.len = 0;
    defer.running = false;
}
