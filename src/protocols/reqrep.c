/* reqrep.c: the REQ and REP protocols, cooked and raw. A request carries a
   stack of 32-bit words in its header: the hops it went through (top bit
   clear, pushed by each REP on the way: the id of the pipe it came in on)
   above the request id (top bit set) that the REQ picked. The reply carries
   the same stack back, each REP popping its word to pick the pipe. Cooked
   REQ keeps one request pending and resends it; cooked REP keeps the stack
   of the request in hand until the reply goes out. Raw sockets hand the
   stack to the application (control data) and take it back from it. */
#include "../core/core.h"

#include <errno.h>
#include <limits.h>
#include <nanomsg/reqrep.h>
#include <stdlib.h>
#include <string.h>

#define RR_ID_BIT 0x80000000u
/* The deepest stack a socket will hold: NN_MAXTTL is at most 255 words and
   a REP adds its own pipe id on top. */
#define RR_MAX_WORDS 256

/* ------------------------------------------------------------ the stack */

/* Bring the stack of an inbound message into its header and check it: it
   must end with a word that has the top bit set, within max_words words.
   Over a stream transport the whole payload arrives in the body and the
   words are lifted out of it; inproc moves the message as it was sent, with
   the stack already in the header. A header holding more than the stack
   (words after the id) is refused too: over a wire those words would have
   been body, and moving them back would cost a copy. False: drop it. */
static bool rr_take_stack(struct fm_msg *m, size_t max_words)
{
    if (fm_msg_hdr_len(m) == 0) {
        const uint8_t *b = fm_msg_body(m);
        size_t size = fm_msg_size(m);
        for (size_t n = 1; n <= max_words && n * 4 <= size; n++)
            if (fm_get_u32(b + (n - 1) * 4) & RR_ID_BIT)
                return fm_msg_body_to_hdr(m, n * 4) == 0;
        return false;
    }
    size_t len = fm_msg_hdr_len(m);
    if (len % 4 != 0 || len / 4 > max_words)
        return false;
    const uint8_t *h = fm_msg_hdr(m);
    for (size_t off = 0; off + 4 < len; off += 4)
        if (fm_get_u32(h + off) & RR_ID_BIT)
            return false;
    return (fm_get_u32(h + len - 4) & RR_ID_BIT) != 0;
}

/* Drop the first word of the header (the hop a REP routes by). */
static void rr_hdr_pop(struct fm_msg *m)
{
    uint8_t *h = fm_msg_hdr(m);
    memmove(h, h + 4, m->hdr_len - 4);
    m->hdr_len -= 4;
}

/* ------------------------------------------------------------------ REQ */
struct req {
    struct fm_sock *sock;
    bool raw;
    struct fm_lb lb;
    uint32_t next_id;
    int resend_ivl;

    /* Cooked only: the request waiting for its reply. The copy kept here
       shares its body with what went out, so resending costs no copy. */
    bool pending;
    uint32_t id;
    struct fm_msg request;
    struct fm_pipe *sent_to; /* NULL: waiting for a pipe to send it on */
    uint64_t resend_due;     /* 0: no resend armed */
    struct fm_timer timer;
    /* The reply, taken out of the fair queue ahead of nn_recv so that the
       socket reports readable only for it, never for stray replies. */
    bool has_reply;
    struct fm_msg reply;
};

/* Send (or send again) the pending request on the next pipe the load
   balancer offers, and arm the resend. With no pipe ready it waits for
   pipe_add / pipe_writable. */
static void req_transmit(struct req *r)
{
    FM_ASSERT_SOCK_LOCKED(r->sock);
    r->sent_to = NULL;
    r->resend_due = 0;
    struct fm_msg copy;
    if (!fm_lb_can_send(&r->lb) || fm_msg_dup(&copy, &r->request) != 0) {
        fm_timer_cancel(&r->timer);
        return;
    }
    fm_lb_send(&r->lb, &copy, &r->sent_to);
    if (r->resend_ivl < 0) {
        /* Never resend on time (the stock library aborts on this). */
        fm_timer_cancel(&r->timer);
        return;
    }
    /* 0 resends as fast as the stock library's timer allows: every tick. */
    uint64_t ivl = r->resend_ivl > 0 ? (uint64_t) r->resend_ivl : 1;
    r->resend_due = fm_now_ms() + ivl;
    fm_timer_schedule(&r->timer, ivl);
}

static void req_forget(struct req *r)
{
    if (!r->pending)
        return;
    r->pending = false;
    fm_msg_term(&r->request);
    if (r->has_reply) {
        fm_msg_term(&r->reply);
        r->has_reply = false;
    }
    r->sent_to = NULL;
    r->resend_due = 0;
    fm_timer_cancel(&r->timer);
}

static void req_resend_cb(void *arg)
{
    struct req *r = arg;
    FM_ASSERT_ON_LOOP(r->timer.loop);
    fm_sock_lock(r->sock);
    if (!fm_sock_closing(r->sock) && r->pending && !r->has_reply && r->resend_due &&
        fm_now_ms() >= r->resend_due)
        req_transmit(r);
    fm_sock_unlock(r->sock);
}

static int req_init(void *st, struct fm_sock *s, bool raw)
{
    struct req *r = st;
    r->sock = s;
    r->raw = raw;
    fm_lb_init(&r->lb);
    r->next_id = fm_random_u32();
    r->resend_ivl = 60000;
    fm_msg_init_empty(&r->request);
    fm_msg_init_empty(&r->reply);
    fm_timer_init(&r->timer, fm_loop_pick(), req_resend_cb, r);
    return 0;
}

static void req_term(void *st)
{
    struct req *r = st;
    fm_timer_cancel_sync(&r->timer);
    fm_msg_term(&r->request);
    fm_msg_term(&r->reply);
}

static int req_pipe_add(void *st, struct fm_pipe *p)
{
    struct req *r = st;
    fm_lb_add(&r->lb, p);
    if (r->pending && !r->sent_to)
        req_transmit(r);
    return 0;
}

static void req_pipe_rm(void *st, struct fm_pipe *p)
{
    struct req *r = st;
    fm_lb_rm(&r->lb, p);
    /* The reply cannot come back that way: ask another peer at once. */
    if (r->pending && r->sent_to == p)
        req_transmit(r);
}

static void req_pipe_writable(void *st, struct fm_pipe *p)
{
    struct req *r = st;
    fm_lb_writable(&r->lb, p);
    if (r->pending && !r->sent_to)
        req_transmit(r);
}

static int req_send(void *st, struct fm_msg *msg)
{
    struct req *r = st;
    if (r->raw)
        return fm_lb_send(&r->lb, msg, NULL);

    uint32_t id = RR_ID_BIT | (r->next_id++ & ~RR_ID_BIT);
    uint8_t word[4];
    fm_put_u32(word, id);
    int rc = fm_msg_hdr_set(msg, word, sizeof(word));
    if (rc)
        return rc;
    /* A new request abandons the old one; its late reply will not match. */
    req_forget(r);
    fm_msg_move(&r->request, msg);
    r->id = id;
    r->pending = true;
    req_transmit(r);
    return 0;
}

/* Cooked: find the reply to the pending request, dropping on the way what
   is malformed or answers an older request. True once it is held. */
static bool req_fill(struct req *r)
{
    if (r->has_reply)
        return true;
    if (!r->pending)
        return false;
    struct fm_msg m;
    while (fm_fq_recv(r->sock, &m, NULL) == 0) {
        if (rr_take_stack(&m, 1) && fm_get_u32(fm_msg_hdr(&m)) == r->id) {
            fm_msg_hdr_clear(&m);
            fm_msg_move(&r->reply, &m);
            r->has_reply = true;
            return true;
        }
        fm_msg_term(&m);
    }
    return false;
}

static int req_recv(void *st, struct fm_msg *msg)
{
    struct req *r = st;
    if (!r->raw) {
        if (!r->pending)
            return -EFSM;
        if (!req_fill(r))
            return -EAGAIN;
        fm_msg_move(msg, &r->reply);
        r->has_reply = false;
        req_forget(r);
        return 0;
    }
    for (;;) {
        int rc = fm_fq_recv(r->sock, msg, NULL);
        if (rc)
            return rc;
        /* The whole stack, hops included, goes to the application, the
           same over every transport. (The stock raw REQ lifts only the
           first word; a device forwards either form alike.) */
        if (rr_take_stack(msg, RR_MAX_WORDS))
            return 0;
        fm_msg_term(msg); /* malformed */
    }
}

static unsigned req_events(void *st)
{
    struct req *r = st;
    if (r->raw)
        return (fm_lb_can_send(&r->lb) ? FM_CAN_SEND : 0) |
               (fm_fq_readable(r->sock) ? FM_CAN_RECV : 0);
    /* A cooked REQ always takes a new request: it replaces the old one. */
    return FM_CAN_SEND | (req_fill(r) ? FM_CAN_RECV : 0);
}

static int req_setopt(void *st, int option, const void *val, size_t len)
{
    struct req *r = st;
    if (r->raw || option != NN_REQ_RESEND_IVL)
        return -ENOPROTOOPT;
    if (!val && len)
        return -EFAULT;
    /* Any value is taken, as the stock library does; see req_transmit for
       what zero and negative values mean. */
    return fm_opt_int_in(val, len, INT_MIN, INT_MAX, &r->resend_ivl);
}

static int req_getopt(void *st, int option, void *val, size_t *len)
{
    struct req *r = st;
    if (r->raw || option != NN_REQ_RESEND_IVL)
        return -ENOPROTOOPT;
    if (!val || !len)
        return -EFAULT;
    if (*len < sizeof(int))
        return -EINVAL;
    memcpy(val, &r->resend_ivl, sizeof(int));
    *len = sizeof(int);
    return 0;
}

const struct fm_proto fm_req = {
    .type = NN_REQ,
    .peer = NN_REP,
    .name = "req",
    .state_size = sizeof(struct req),
    .init = req_init,
    .term = req_term,
    .pipe_add = req_pipe_add,
    .pipe_rm = req_pipe_rm,
    .pipe_writable = req_pipe_writable,
    .send = req_send,
    .recv = req_recv,
    .events = req_events,
    .setopt = req_setopt,
    .getopt = req_getopt,
};

/* ------------------------------------------------------------------ REP */

/* A REP routes each reply by pipe id, so it keeps its pipes in a small
   chained hash table keyed by that id. */
struct rep_pipe {
    struct fm_pipe *pipe;
    struct rep_pipe *next;
    bool writable;
};

struct rep {
    struct fm_sock *sock;
    bool raw;
    struct rep_pipe **buckets;
    size_t nbuckets; /* a power of two, or 0 before the first pipe */
    size_t npipes;

    /* Cooked only: the stack of the request in hand, pipe id first. */
    bool in_progress;
    size_t bt_len;
    uint8_t bt[RR_MAX_WORDS * 4];
};

static struct rep_pipe **rep_slot(struct rep *r, uint32_t id)
{
    return &r->buckets[id & (r->nbuckets - 1)];
}

/* Double the table; on failure the chains just grow longer. */
static void rep_grow(struct rep *r)
{
    size_t n = r->nbuckets ? r->nbuckets * 2 : 16;
    struct rep_pipe **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < r->nbuckets; i++)
        while (r->buckets[i]) {
            struct rep_pipe *e = r->buckets[i];
            r->buckets[i] = e->next;
            e->next = b[e->pipe->id & (n - 1)];
            b[e->pipe->id & (n - 1)] = e;
        }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = n;
}

static struct rep_pipe *rep_find(struct rep *r, uint32_t id)
{
    if (!r->nbuckets)
        return NULL;
    for (struct rep_pipe *e = *rep_slot(r, id); e; e = e->next)
        if (e->pipe->id == id)
            return e;
    return NULL;
}

static int rep_init(void *st, struct fm_sock *s, bool raw)
{
    struct rep *r = st;
    r->sock = s;
    r->raw = raw;
    return 0;
}

static void rep_term(void *st)
{
    struct rep *r = st;
    /* Every pipe was removed before term; free what might be left anyway. */
    for (size_t i = 0; i < r->nbuckets; i++)
        while (r->buckets[i]) {
            struct rep_pipe *e = r->buckets[i];
            r->buckets[i] = e->next;
            free(e);
        }
    free(r->buckets);
}

static int rep_pipe_add(void *st, struct fm_pipe *p)
{
    struct rep *r = st;
    struct rep_pipe *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    if (r->npipes + 1 > r->nbuckets * 2)
        rep_grow(r);
    if (!r->nbuckets) {
        free(e);
        return -ENOMEM;
    }
    e->pipe = p;
    e->writable = true;
    struct rep_pipe **slot = rep_slot(r, p->id);
    e->next = *slot;
    *slot = e;
    r->npipes++;
    p->pdata = e;
    return 0;
}

static void rep_pipe_rm(void *st, struct fm_pipe *p)
{
    struct rep *r = st;
    struct rep_pipe *e = p->pdata;
    if (!e)
        return;
    for (struct rep_pipe **pp = rep_slot(r, p->id); *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    r->npipes--;
    p->pdata = NULL;
    free(e);
}

static void rep_pipe_writable(void *st, struct fm_pipe *p)
{
    (void) st;
    struct rep_pipe *e = p->pdata;
    if (e)
        e->writable = true;
}

/* Send a reply to the pipe named by the first header word, without it.
   No such pipe, or one that is full: the reply is dropped, as the stock
   library does (the requester resends). Always takes the message. */
static void rep_route(struct rep *r, struct fm_msg *msg)
{
    struct rep_pipe *e = NULL;
    if (fm_msg_hdr_len(msg) >= 4) {
        e = rep_find(r, fm_get_u32(fm_msg_hdr(msg)));
        rr_hdr_pop(msg);
    }
    if (!e || !fm_pipe_may_send(e->pipe, &e->writable)) {
        fm_msg_term(msg);
        return;
    }
    if (fm_pipe_send(e->pipe, msg) != 0)
        e->writable = false;
}

static int rep_send(void *st, struct fm_msg *msg)
{
    struct rep *r = st;
    if (!r->raw) {
        if (!r->in_progress)
            return -EFSM;
        int rc = fm_msg_hdr_set(msg, r->bt, r->bt_len);
        if (rc)
            return rc;
        r->in_progress = false;
    }
    rep_route(r, msg);
    return 0;
}

static int rep_recv(void *st, struct fm_msg *msg)
{
    struct rep *r = st;
    size_t maxttl = (size_t) fm_sock_opt_int(r->sock, NN_MAXTTL);
    for (;;) {
        struct fm_pipe *from;
        int rc = fm_fq_recv(r->sock, msg, &from);
        if (rc)
            return rc;
        /* A request from a pipe already gone could not be answered. */
        if (from && rr_take_stack(msg, maxttl) && fm_msg_hdr_push_u32(msg, from->id) == 0 &&
            fm_msg_hdr_len(msg) <= sizeof(r->bt))
            break;
        fm_msg_term(msg);
    }
    if (!r->raw) {
        /* A new request replaces the one in hand, answered or not. */
        r->bt_len = fm_msg_hdr_len(msg);
        memcpy(r->bt, fm_msg_hdr(msg), r->bt_len);
        r->in_progress = true;
        fm_msg_hdr_clear(msg);
    }
    return 0;
}

static unsigned rep_events(void *st)
{
    struct rep *r = st;
    return (r->raw || r->in_progress ? FM_CAN_SEND : 0) |
           (fm_fq_readable(r->sock) ? FM_CAN_RECV : 0);
}

const struct fm_proto fm_rep = {
    .type = NN_REP,
    .peer = NN_REQ,
    .name = "rep",
    .state_size = sizeof(struct rep),
    .init = rep_init,
    .term = rep_term,
    .pipe_add = rep_pipe_add,
    .pipe_rm = rep_pipe_rm,
    .pipe_writable = rep_pipe_writable,
    .send = rep_send,
    .recv = rep_recv,
    .events = rep_events,
};
