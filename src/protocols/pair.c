/* pair.c: the PAIR protocol. One peer at a time (a second one is refused
   at attach), no header on the wire; raw PAIR behaves the same. */
#include "../core/core.h"

#include <errno.h>
#include <nanomsg/pair.h>

struct pair {
    struct fm_sock *sock;
    struct fm_pipe *peer;
    bool writable;
};

static int pair_init(void *st, struct fm_sock *s, bool raw)
{
    struct pair *p = st;
    (void) raw;
    p->sock = s;
    return 0;
}

static void pair_term(void *st) { (void) st; }

static int pair_pipe_add(void *st, struct fm_pipe *pipe)
{
    struct pair *p = st;
    if (p->peer)
        return -EISCONN;
    p->peer = pipe;
    p->writable = true;
    return 0;
}

static void pair_pipe_rm(void *st, struct fm_pipe *pipe)
{
    struct pair *p = st;
    if (p->peer == pipe)
        p->peer = NULL;
}

static void pair_pipe_writable(void *st, struct fm_pipe *pipe)
{
    struct pair *p = st;
    if (p->peer == pipe)
        p->writable = true;
}

static int pair_send(void *st, struct fm_msg *msg)
{
    struct pair *p = st;
    if (!p->peer || !fm_pipe_may_send(p->peer, &p->writable))
        return -EAGAIN;
    /* A header given to nn_sendmsg travels as payload, as with stock. */
    if (fm_msg_hdr_to_body(msg) != 0)
        return -ENOMEM;
    if (fm_pipe_send(p->peer, msg) != 0)
        p->writable = false;
    return 0;
}

static int pair_recv(void *st, struct fm_msg *msg)
{
    struct pair *p = st;
    return fm_fq_recv(p->sock, msg, NULL);
}

static unsigned pair_events(void *st)
{
    struct pair *p = st;
    return (p->peer && p->writable ? FM_CAN_SEND : 0) |
           (fm_fq_readable(p->sock) ? FM_CAN_RECV : 0);
}

const struct fm_proto fm_pair = {
    .type = NN_PAIR,
    .peer = NN_PAIR,
    .name = "pair",
    .state_size = sizeof(struct pair),
    .init = pair_init,
    .term = pair_term,
    .pipe_add = pair_pipe_add,
    .pipe_rm = pair_pipe_rm,
    .pipe_writable = pair_pipe_writable,
    .send = pair_send,
    .recv = pair_recv,
    .events = pair_events,
};
