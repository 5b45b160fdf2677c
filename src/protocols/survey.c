/* survey.c: the SURVEYOR and RESPONDENT protocols, cooked and raw. A
   surveyor broadcasts each survey, tagged with a fresh id, to every peer
   that can take it and collects the answers carrying that id until its
   deadline; a respondent records the way back (the backtrace) of each
   survey and routes its answer to the pipe the survey came in on. */
#include "../core/core.h"

#include <errno.h>
#include <limits.h>
#include <nanomsg/survey.h>
#include <stdlib.h>
#include <string.h>

#define SV_ID_BIT 0x80000000u
#define SV_DEFAULT_DEADLINE 1000
/* NN_MAXTTL words at most (255), plus the pipe word a respondent pushes. */
#define SV_BT_MAX (4 * 256)

/* One attached pipe, as either side sees it. The surveyor walks them in a
   list to broadcast; the respondent finds them by id in a hash table. */
struct sv_pipe {
    struct fm_pipe *pipe;
    struct fm_list node;     /* surveyor: surveyor.pipes */
    struct sv_pipe *hnext;   /* respondent: bucket chain */
    bool writable;
};

/* Make the message header hold exactly a backtrace: hop words (top bit
   clear) up to and including the first word with the top bit set (the
   survey id), read from header then body as if they were one payload.
   Inproc hands the stack over already in the header; stream transports
   leave the whole payload in the body, and the walk lifts what it needs
   from there. Both directions use it: surveys at a respondent, answers at
   a surveyor. Returns the number of words, or 0 when the stack has no
   bottom or is longer than maxttl words: such a message is dropped. */
static size_t bt_lift(struct fm_msg *m, int maxttl)
{
    size_t hl = fm_msg_hdr_len(m);
    size_t words = hl / 4;
    bool flatten = hl % 4 != 0;
    if (!flatten && words) {
        const uint8_t *h = fm_msg_hdr(m);
        size_t i = 0;
        while (i < words && !(fm_get_u32(h + 4 * i) & SV_ID_BIT))
            i++;
        if (i + 1 == words)
            return words <= (size_t) maxttl ? words : 0;
        flatten = i < words; /* the bottom comes before the header ends */
    }
    if (flatten) {
        if (fm_msg_hdr_to_body(m) != 0)
            return 0;
        words = 0;
    }
    const uint8_t *b = fm_msg_body(m);
    size_t size = fm_msg_size(m);
    for (size_t off = 0;; off += 4) {
        if (words >= (size_t) maxttl || off + 4 > size)
            return 0;
        words++;
        if (fm_get_u32(b + off) & SV_ID_BIT)
            return fm_msg_body_to_hdr(m, off + 4) == 0 ? words : 0;
    }
}

/* Drop the first header word (the pipe a respondent routes by). */
static void hdr_pop_word(struct fm_msg *m)
{
    uint8_t *h = fm_msg_hdr(m);
    memmove(h, h + 4, m->hdr_len - 4);
    m->hdr_len -= 4;
}

/* ============================================================ SURVEYOR */

struct surveyor {
    struct fm_sock *sock;
    bool raw;
    struct fm_list pipes;    /* sv_pipe.node */
    uint32_t next_id;        /* 31-bit counter, random start */
    int deadline_ms;         /* NN_SURVEYOR_DEADLINE */
    /* The survey in progress (cooked only). Once deadline_at passed, the
       next nn_recv reports ETIMEDOUT and the socket goes idle (EFSM). */
    bool active;
    uint32_t survey_id;
    uint64_t deadline_at;
    /* Fires at deadline_at so that RCVFD turns readable for a poller. */
    struct fm_timer timer;
};

static void surveyor_deadline_fired(void *arg)
{
    struct surveyor *sv = arg;
    FM_ASSERT_ON_LOOP(sv->timer.loop);
    fm_sock_lock(sv->sock);
    if (!fm_sock_closing(sv->sock) && sv->active) {
        uint64_t now = fm_now_ms();
        if (now < sv->deadline_at) /* early or stale: wait for the real one */
            fm_timer_schedule(&sv->timer, sv->deadline_at - now);
    }
    /* Unlocking re-reads the events, which now report the timeout. */
    fm_sock_unlock(sv->sock);
}

static int surveyor_init(void *st, struct fm_sock *s, bool raw)
{
    struct surveyor *sv = st;
    sv->sock = s;
    sv->raw = raw;
    fm_list_init(&sv->pipes);
    sv->next_id = fm_random_u32();
    sv->deadline_ms = SV_DEFAULT_DEADLINE;
    fm_timer_init(&sv->timer, fm_loop_pick(), surveyor_deadline_fired, sv);
    return 0;
}

static void surveyor_term(void *st)
{
    struct surveyor *sv = st;
    fm_timer_cancel_sync(&sv->timer);
}

static int surveyor_pipe_add(void *st, struct fm_pipe *p)
{
    struct surveyor *sv = st;
    struct sv_pipe *sp = calloc(1, sizeof(*sp));
    if (!sp)
        return -ENOMEM;
    sp->pipe = p;
    sp->writable = true;
    fm_list_insert_tail(&sv->pipes, &sp->node);
    p->pdata = sp;
    return 0;
}

static void surveyor_pipe_rm(void *st, struct fm_pipe *p)
{
    (void) st;
    struct sv_pipe *sp = p->pdata;
    fm_list_remove(&sp->node);
    p->pdata = NULL;
    free(sp);
}

static void sv_pipe_writable(void *st, struct fm_pipe *p)
{
    (void) st;
    struct sv_pipe *sp = p->pdata;
    if (sp)
        sp->writable = true;
}

static void sv_pipe_send(struct sv_pipe *sp, struct fm_msg *msg)
{
    if (fm_pipe_send(sp->pipe, msg) != 0)
        sp->writable = false; /* full: skip it until it has room (fm_pipe_may_send) */
}

/* Give msg (consumed) to every pipe that can take it now. The bodies are shared; each
   pipe but the last gets a duplicate, the last the message itself. */
static void surveyor_broadcast(struct surveyor *sv, struct fm_msg *msg)
{
    struct sv_pipe *prev = NULL;
    for (struct fm_list *n = sv->pipes.next; n != &sv->pipes; n = n->next) {
        struct sv_pipe *sp = FM_CONTAINER(n, struct sv_pipe, node);
        if (!fm_pipe_may_send(sp->pipe, &sp->writable))
            continue;
        if (prev) {
            struct fm_msg copy;
            if (fm_msg_dup(&copy, msg) == 0) /* else lost, as on a full pipe */
                sv_pipe_send(prev, &copy);
        }
        prev = sp;
    }
    if (prev)
        sv_pipe_send(prev, msg);
    else
        fm_msg_term(msg);
}

static int surveyor_send(void *st, struct fm_msg *msg)
{
    struct surveyor *sv = st;
    if (sv->raw) {
        surveyor_broadcast(sv, msg); /* the header as the caller gave it */
        return 0;
    }
    uint8_t id[4];
    uint32_t survey_id = (sv->next_id++ & ~SV_ID_BIT) | SV_ID_BIT;
    fm_put_u32(id, survey_id);
    int rc = fm_msg_hdr_set(msg, id, sizeof(id));
    if (rc)
        return rc;

    /* Whatever is queued answers an older survey: drop it now, so that
       RCVFD does not report answers nn_recv would discard. */
    struct fm_msg stale;
    while (fm_fq_recv(sv->sock, &stale, NULL) == 0)
        fm_msg_term(&stale);

    sv->survey_id = survey_id;
    sv->active = true;
    sv->deadline_at = fm_now_ms() + (uint64_t) sv->deadline_ms;
    fm_timer_schedule(&sv->timer, (uint64_t) sv->deadline_ms);
    surveyor_broadcast(sv, msg);
    return 0;
}

/* Receive the next answer with its header: what is left of the backtrace,
   down to the survey id. The stock library keeps only the first word as
   header on a raw surveyor and leaves the rest of a longer stack in the
   body; the bytes forwarded are the same either way, and keeping the whole
   stack lets an inproc device pass answers on without copying them. */
static int surveyor_recv_answer(struct surveyor *sv, struct fm_msg *msg)
{
    int maxttl = fm_sock_opt_int(sv->sock, NN_MAXTTL);
    for (;;) {
        int rc = fm_fq_recv(sv->sock, msg, NULL);
        if (rc)
            return rc;
        if (bt_lift(msg, maxttl) != 0)
            return 0;
        fm_msg_term(msg); /* no survey id at the bottom: malformed */
    }
}

static int surveyor_recv(void *st, struct fm_msg *msg)
{
    struct surveyor *sv = st;
    if (sv->raw)
        return surveyor_recv_answer(sv, msg);
    if (!sv->active)
        return -EFSM;
    if (fm_now_ms() >= sv->deadline_at) {
        sv->active = false;
        fm_timer_cancel(&sv->timer);
        return -ETIMEDOUT;
    }
    for (;;) {
        int rc = surveyor_recv_answer(sv, msg);
        if (rc)
            return rc;
        if (fm_msg_hdr_len(msg) == 4 && fm_get_u32(fm_msg_hdr(msg)) == sv->survey_id) {
            fm_msg_hdr_clear(msg);
            return 0;
        }
        fm_msg_term(msg); /* an answer to an abandoned survey */
    }
}

static unsigned surveyor_events(void *st)
{
    struct surveyor *sv = st;
    bool readable = fm_fq_readable(sv->sock);
    /* Idle or past the deadline, nn_recv fails at once (EFSM, ETIMEDOUT):
       report it readable, as the stock library does. */
    if (!sv->raw && (!sv->active || fm_now_ms() >= sv->deadline_at))
        readable = true;
    return FM_CAN_SEND | (readable ? FM_CAN_RECV : 0);
}

static uint64_t surveyor_recv_deadline(void *st)
{
    struct surveyor *sv = st;
    return !sv->raw && sv->active ? sv->deadline_at : 0;
}

static int surveyor_setopt(void *st, int option, const void *val, size_t len)
{
    struct surveyor *sv = st;
    if (sv->raw || option != NN_SURVEYOR_DEADLINE)
        return -ENOPROTOOPT;
    if (!val && len)
        return -EFAULT;
    /* The stock library accepts a negative value here and aborts on the
       next survey; refusing it is the only safe reading. */
    return fm_opt_int_in(val, len, 0, INT_MAX, &sv->deadline_ms);
}

static int surveyor_getopt(void *st, int option, void *val, size_t *len)
{
    struct surveyor *sv = st;
    if (sv->raw || option != NN_SURVEYOR_DEADLINE)
        return -ENOPROTOOPT;
    if (*len < sizeof(int))
        return -EINVAL;
    memcpy(val, &sv->deadline_ms, sizeof(int));
    *len = sizeof(int);
    return 0;
}

const struct fm_proto fm_surveyor = {
    .type = NN_SURVEYOR,
    .peer = NN_RESPONDENT,
    .name = "surveyor",
    .state_size = sizeof(struct surveyor),
    .init = surveyor_init,
    .term = surveyor_term,
    .pipe_add = surveyor_pipe_add,
    .pipe_rm = surveyor_pipe_rm,
    .pipe_writable = sv_pipe_writable,
    .send = surveyor_send,
    .recv = surveyor_recv,
    .events = surveyor_events,
    .recv_deadline = surveyor_recv_deadline,
    .setopt = surveyor_setopt,
    .getopt = surveyor_getopt,
};

/* ========================================================== RESPONDENT */

struct respondent {
    struct fm_sock *sock;
    bool raw;
    /* Attached pipes by id, chained; grows to keep chains short. */
    struct sv_pipe **buckets;
    size_t nbuckets; /* a power of two, or 0 */
    size_t npipes;
    /* Cooked: the backtrace of the survey in hand (pipe word first), or
       bt_len 0 when there is none to answer. */
    size_t bt_len;
    uint8_t bt[SV_BT_MAX];
};

static struct sv_pipe **resp_bucket(struct respondent *r, uint32_t id)
{
    return &r->buckets[id & (r->nbuckets - 1)];
}

static struct sv_pipe *resp_find(struct respondent *r, uint32_t id)
{
    if (!r->nbuckets)
        return NULL;
    struct sv_pipe *sp = *resp_bucket(r, id);
    while (sp && sp->pipe->id != id)
        sp = sp->hnext;
    return sp;
}

static int resp_grow(struct respondent *r)
{
    size_t n = r->nbuckets ? r->nbuckets * 2 : 8;
    struct sv_pipe **b = calloc(n, sizeof(*b));
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < r->nbuckets; i++)
        while (r->buckets[i]) {
            struct sv_pipe *sp = r->buckets[i];
            r->buckets[i] = sp->hnext;
            sp->hnext = b[sp->pipe->id & (n - 1)];
            b[sp->pipe->id & (n - 1)] = sp;
        }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = n;
    return 0;
}

static int respondent_init(void *st, struct fm_sock *s, bool raw)
{
    struct respondent *r = st;
    r->sock = s;
    r->raw = raw;
    return 0;
}

static void respondent_term(void *st)
{
    struct respondent *r = st;
    free(r->buckets);
    r->buckets = NULL;
}

static int respondent_pipe_add(void *st, struct fm_pipe *p)
{
    struct respondent *r = st;
    if (r->npipes >= r->nbuckets && resp_grow(r) != 0 && !r->nbuckets)
        return -ENOMEM; /* a failed grow with buckets left only lengthens chains */
    struct sv_pipe *sp = calloc(1, sizeof(*sp));
    if (!sp)
        return -ENOMEM;
    sp->pipe = p;
    sp->writable = true;
    struct sv_pipe **b = resp_bucket(r, p->id);
    sp->hnext = *b;
    *b = sp;
    r->npipes++;
    p->pdata = sp;
    return 0;
}

static void respondent_pipe_rm(void *st, struct fm_pipe *p)
{
    struct respondent *r = st;
    struct sv_pipe *sp = p->pdata;
    struct sv_pipe **link = resp_bucket(r, p->id);
    while (*link != sp)
        link = &(*link)->hnext;
    *link = sp->hnext;
    r->npipes--;
    p->pdata = NULL;
    free(sp);
}

/* Send msg (consumed) to the pipe named by its first header word, which is
   stripped. No such pipe, or a full one: the answer is lost, as the
   protocol allows. */
static void respondent_route(struct respondent *r, struct fm_msg *msg)
{
    struct sv_pipe *sp = NULL;
    if (fm_msg_hdr_len(msg) >= 4)
        sp = resp_find(r, fm_get_u32(fm_msg_hdr(msg)));
    if (!sp || !fm_pipe_may_send(sp->pipe, &sp->writable)) {
        fm_msg_term(msg);
        return;
    }
    hdr_pop_word(msg);
    sv_pipe_send(sp, msg);
}

static int respondent_send(void *st, struct fm_msg *msg)
{
    struct respondent *r = st;
    if (!r->raw) {
        if (!r->bt_len)
            return -EFSM;
        int rc = fm_msg_hdr_set(msg, r->bt, r->bt_len);
        if (rc)
            return rc;
        r->bt_len = 0;
    }
    respondent_route(r, msg);
    return 0;
}

static int respondent_recv(void *st, struct fm_msg *msg)
{
    struct respondent *r = st;
    int maxttl = fm_sock_opt_int(r->sock, NN_MAXTTL);
    for (;;) {
        struct fm_pipe *from;
        int rc = fm_fq_recv(r->sock, msg, &from);
        if (rc)
            return rc;
        /* A survey from a pipe already gone still reads; word 0 names no
           pipe (ids start at 1), so its answer is dropped. */
        if (bt_lift(msg, maxttl) == 0 || fm_msg_hdr_push_u32(msg, from ? from->id : 0) != 0) {
            fm_msg_term(msg);
            continue;
        }
        if (!r->raw) {
            /* At most SV_BT_MAX bytes: maxttl words plus the pipe word. */
            r->bt_len = fm_msg_hdr_len(msg);
            memcpy(r->bt, fm_msg_hdr(msg), r->bt_len);
            fm_msg_hdr_clear(msg);
        }
        return 0;
    }
}

static unsigned respondent_events(void *st)
{
    struct respondent *r = st;
    bool can_send = r->raw || r->bt_len;
    return (can_send ? FM_CAN_SEND : 0) | (fm_fq_readable(r->sock) ? FM_CAN_RECV : 0);
}

const struct fm_proto fm_respondent = {
    .type = NN_RESPONDENT,
    .peer = NN_SURVEYOR,
    .name = "respondent",
    .state_size = sizeof(struct respondent),
    .init = respondent_init,
    .term = respondent_term,
    .pipe_add = respondent_pipe_add,
    .pipe_rm = respondent_pipe_rm,
    .pipe_writable = sv_pipe_writable,
    .send = respondent_send,
    .recv = respondent_recv,
    .events = respondent_events,
};
