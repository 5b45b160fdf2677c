/* pipeline.c: the PUSH and PULL protocols. PUSH hands each message to one
   peer, round-robin among the writable peers of the best NN_SNDPRIO, and
   waits when none is writable; PULL fair-queues what its peers push. Raw
   sockets behave the same. */
#include "../core/core.h"

#include <errno.h>
#include <nanomsg/pipeline.h>
#include <string.h>

/* ----------------------------------------------------------------- PUSH */
struct push {
    struct fm_lb out;
};

static int push_init(void *st, struct fm_sock *s, bool raw)
{
    struct push *p = st;
    (void) s;
    (void) raw;
    fm_lb_init(&p->out);
    return 0;
}

static void push_term(void *st) { (void) st; }

static int push_pipe_add(void *st, struct fm_pipe *pipe)
{
    struct push *p = st;
    fm_lb_add(&p->out, pipe);
    return 0;
}

static void push_pipe_rm(void *st, struct fm_pipe *pipe)
{
    struct push *p = st;
    fm_lb_rm(&p->out, pipe);
}

static void push_pipe_writable(void *st, struct fm_pipe *pipe)
{
    struct push *p = st;
    fm_lb_writable(&p->out, pipe);
}

static int push_send(void *st, struct fm_msg *msg)
{
    struct push *p = st;
    /* Decide "not now" before touching msg: -EAGAIN must leave it as the
       caller gave it (it may still be the user's nn_allocmsg buffer). */
    if (!fm_lb_can_send(&p->out))
        return -EAGAIN;
    /* A header from nn_sendmsg travels in front of the body, as the stock
       library puts it on the wire; rare, so a copy is fine. */
    if (fm_msg_hdr_to_body(msg) != 0)
        return -ENOMEM;
    return fm_lb_send(&p->out, msg, NULL);
}

static unsigned push_events(void *st)
{
    struct push *p = st;
    return fm_lb_can_send(&p->out) ? FM_CAN_SEND : 0;
}

static int push_send_priority(void *st) { return fm_lb_best_prio(&((struct push *) st)->out); }

const struct fm_proto fm_push = {
    .type = NN_PUSH,
    .peer = NN_PULL,
    .name = "push",
    .flags = FM_PROTO_NORECV,
    .state_size = sizeof(struct push),
    .init = push_init,
    .term = push_term,
    .pipe_add = push_pipe_add,
    .pipe_rm = push_pipe_rm,
    .pipe_writable = push_pipe_writable,
    .send = push_send,
    .events = push_events,
    .send_priority = push_send_priority,
};

/* ----------------------------------------------------------------- PULL */
struct pull {
    struct fm_sock *sock;
};

static int pull_init(void *st, struct fm_sock *s, bool raw)
{
    struct pull *p = st;
    (void) raw;
    p->sock = s;
    return 0;
}

static void pull_term(void *st) { (void) st; }

static int pull_pipe_add(void *st, struct fm_pipe *pipe)
{
    (void) st;
    (void) pipe;
    return 0;
}

static void pull_pipe_rm(void *st, struct fm_pipe *pipe)
{
    (void) st;
    (void) pipe;
}

static int pull_recv(void *st, struct fm_msg *msg)
{
    struct pull *p = st;
    return fm_fq_recv(p->sock, msg, NULL);
}

static unsigned pull_events(void *st)
{
    struct pull *p = st;
    return fm_fq_readable(p->sock) ? FM_CAN_RECV : 0;
}

const struct fm_proto fm_pull = {
    .type = NN_PULL,
    .peer = NN_PUSH,
    .name = "pull",
    .flags = FM_PROTO_NOSEND,
    .state_size = sizeof(struct pull),
    .init = pull_init,
    .term = pull_term,
    .pipe_add = pull_pipe_add,
    .pipe_rm = pull_pipe_rm,
    .recv = pull_recv,
    .events = pull_events,
};
