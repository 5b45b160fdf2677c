/* sp_framer.c: the SP mapping onto a byte stream, as tcp://, ipc:// and
   tls+tcp:// put it on the wire (stream.c runs the connection): both sides
   open with the 8-byte SP header (0x00 'S' 'P' 0x00, protocol id in 16
   bits BE, two zero bytes), then every message is <size: 8 bytes BE>
   <header><body>, with ipc's type byte 0x01 in front of the size. */
#include "stream.h"

#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

const bool fm_sp_ipc_arg = true;

struct sp_state {
    bool type_byte;
};

static size_t sp_prefix_len(const struct sp_state *st) { return st->type_byte ? 9 : 8; }

static size_t sp_open(void *fs, const void *arg, struct fm_ep *ep, bool accepted, uint8_t *out)
{
    struct sp_state *st = fs;
    (void) accepted;
    st->type_byte = arg != NULL && *(const bool *) arg;
    int type = fm_sock_type(ep->sock);
    memset(out, 0, 8);
    out[1] = 'S';
    out[2] = 'P';
    out[4] = (uint8_t) (type >> 8);
    out[5] = (uint8_t) type;
    return 8;
}

static ssize_t sp_greet(void *fs, const uint8_t *h, size_t len, int *peer)
{
    (void) fs;
    if (len < 8)
        return 0;
    if (h[0] != 0 || h[1] != 'S' || h[2] != 'P' || h[3] != 0 || h[6] != 0 || h[7] != 0)
        return -EPROTO;
    *peer = (h[4] << 8) | h[5];
    return 8;
}

static size_t sp_head_len(const void *fs) { return sp_prefix_len(fs); }

/* Append base[*skip, len) to iov, eating *skip first. */
static void add_iov(struct iovec *iov, int *n, const void *base, size_t len, size_t *skip)
{
    if (*skip >= len) {
        *skip -= len;
        return;
    }
    iov[*n].iov_base = (uint8_t *) base + *skip;
    iov[*n].iov_len = len - *skip;
    (*n)++;
    *skip = 0;
}

/* The size prefix, inline: this runs once per message sent and received. */
static void put_be64(uint8_t *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, 8);
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return be64toh(v);
}

static size_t sp_gather(const void *fs, struct fm_msg *m, size_t off, uint8_t *scratch,
                        struct iovec *iov, int *n)
{
    const struct sp_state *st = fs;
    size_t pl = 0, hl = fm_msg_hdr_len(m), bl = fm_msg_size(m);
    if (st->type_byte)
        scratch[pl++] = 0x01;
    put_be64(scratch + pl, (uint64_t) (hl + bl));
    pl += 8;
    if (off == 0) { /* the hot path: a whole message */
        int k = *n;
        iov[k].iov_base = scratch;
        iov[k++].iov_len = pl;
        if (hl) {
            iov[k].iov_base = fm_msg_hdr(m);
            iov[k++].iov_len = hl;
        }
        if (bl) {
            iov[k].iov_base = fm_msg_body(m);
            iov[k++].iov_len = bl;
        }
        *n = k;
        return pl + hl + bl;
    }
    size_t skip = off;
    add_iov(iov, n, scratch, pl, &skip);
    add_iov(iov, n, fm_msg_hdr(m), hl, &skip);
    add_iov(iov, n, fm_msg_body(m), bl, &skip);
    return pl + hl + bl - off;
}

static size_t sp_wire_len(const void *fs, const struct fm_msg *m)
{
    return sp_prefix_len(fs) + fm_msg_hdr_len(m) + fm_msg_size(m);
}

/* Each message is checked against NN_RCVMAXSIZE before anything is
   allocated for it; a body big enough to be read into place is left to the
   engine as soon as its prefix is here. */
static int sp_parse(void *fs, struct fm_stream_rx *rx)
{
    const struct sp_state *st = fs;
    /* Locals, not rx's fields: the calls below would make the compiler
       reload those after each message. */
    struct fm_pipe *pipe = rx->pipe;
    const uint8_t *in = rx->in;
    size_t len = rx->len, plen = sp_prefix_len(st), pos = 0;
    bool full = rx->full, stop_when_full = !rx->past_full;
    int err = 0;
    rx->held = false;
    while (len - pos >= plen) {
        if (full && stop_when_full) {
            rx->held = true;
            break;
        }
        const uint8_t *b = in + pos;
        if (st->type_byte && b[0] != 0x01) {
            err = EPROTO;
            break;
        }
        uint64_t size = get_be64(b + plen - 8);
        if (size > fm_sock_rcvmax(pipe->sock) || size > SIZE_MAX / 2) {
            err = EMSGSIZE;
            break;
        }
        size_t have = len - pos - plen;
        if (have >= size) {
            struct fm_msg m;
            if (fm_msg_init_copy(&m, b + plen, (size_t) size) != 0) {
                err = ENOMEM;
                break;
            }
            pos += plen + (size_t) size;
            full |= fm_pipe_deliver(pipe, &m) == FM_PIPE_FULL;
            continue;
        }
        if (size >= FM_STREAM_DIRECT_MIN) {
            rx->big_size = (size_t) size;
            pos += plen;
        }
        break; /* the rest comes into the buffer, or into the big body */
    }
    rx->full = full;
    rx->used = pos;
    return err;
}

const struct fm_stream_framer fm_sp_framer = {
    .state_size = sizeof(struct sp_state),
    .open_max = 8,
    .greet_ms = 2000,
    .open = sp_open,
    .greet = sp_greet,
    .head_len = sp_head_len,
    .gather = sp_gather,
    .wire_len = sp_wire_len,
    .parse = sp_parse,
};
