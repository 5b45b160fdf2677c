/* bus.c: the BUS protocol. A message sent goes to every directly connected
   peer that can take it now (a full peer misses it; BUS never blocks), and
   what the peers send is fair-queued. Nothing travels on the wire besides
   the body.

   Raw BUS tells a device where a message came from: nn_recvmsg shows an
   8-byte SP header naming the inbound pipe (8 bytes as in the stock
   library, which puts a pointer there; ours holds the pipe id, big-endian),
   and nn_sendmsg with that header sends to every peer but that one. */
#include "../core/core.h"

#include <errno.h>
#include <nanomsg/bus.h>

#define BUS_HDR_LEN 8

/* The peers are the members of an fm_lb; fm_lb_send_all gives each one
   that can take the message now a copy sharing its body. */
struct bus {
    struct fm_sock *sock;
    struct fm_lb out;
    bool raw;
};

static int bus_init(void *st, struct fm_sock *s, bool raw)
{
    struct bus *b = st;
    b->sock = s;
    b->raw = raw;
    fm_lb_init(&b->out);
    return 0;
}

static void bus_term(void *st) { (void) st; }

static int bus_pipe_add(void *st, struct fm_pipe *pipe)
{
    struct bus *b = st;
    fm_lb_add(&b->out, pipe);
    return 0;
}

static void bus_pipe_rm(void *st, struct fm_pipe *pipe)
{
    struct bus *b = st;
    fm_lb_rm(&b->out, pipe);
}

static void bus_pipe_writable(void *st, struct fm_pipe *pipe)
{
    struct bus *b = st;
    fm_lb_writable(&b->out, pipe);
}

static int bus_send(void *st, struct fm_msg *msg)
{
    struct bus *b = st;
    uint32_t exclude = 0; /* pipe ids are never 0 */
    size_t hl = fm_msg_hdr_len(msg);
    /* The stock library refuses any other header, and any header at all on
       a cooked socket. An id that names no current pipe excludes nobody. */
    if (hl != 0 && (!b->raw || hl != BUS_HDR_LEN))
        return -EINVAL;
    if (hl) {
        uint64_t id = fm_get_u64(fm_msg_hdr(msg));
        exclude = id <= UINT32_MAX ? (uint32_t) id : 0;
        fm_msg_hdr_clear(msg);
    }
    fm_lb_send_all(&b->out, msg, exclude);
    return 0;
}

static int bus_recv(void *st, struct fm_msg *msg)
{
    struct bus *b = st;
    struct fm_pipe *from;
    int rc = fm_fq_recv(b->sock, msg, &from);
    if (rc)
        return rc;
    if (!b->raw) {
        fm_msg_hdr_clear(msg);
        return 0;
    }
    /* A pipe already gone is named 0: there is nobody left to exclude. */
    uint8_t hdr[BUS_HDR_LEN];
    fm_put_u64(hdr, from ? from->id : 0);
    if (fm_msg_hdr_set(msg, hdr, sizeof(hdr)) != 0)
        fm_msg_hdr_clear(msg); /* cannot happen: 8 bytes fit inline */
    return 0;
}

static unsigned bus_events(void *st)
{
    struct bus *b = st;
    return FM_CAN_SEND | (fm_fq_readable(b->sock) ? FM_CAN_RECV : 0);
}

const struct fm_proto fm_bus = {
    .type = NN_BUS,
    .peer = NN_BUS,
    .name = "bus",
    .state_size = sizeof(struct bus),
    .init = bus_init,
    .term = bus_term,
    .pipe_add = bus_pipe_add,
    .pipe_rm = bus_pipe_rm,
    .pipe_writable = bus_pipe_writable,
    .send = bus_send,
    .recv = bus_recv,
    .events = bus_events,
};
