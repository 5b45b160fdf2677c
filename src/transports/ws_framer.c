/* ws_framer.c: SP over WebSocket (RFC 6455) as a framer of stream.c: the
   client's side of the opening handshake (the upgrade request and the
   check of the 101 answer), the frame layout of outgoing messages (masking
   and fragmentation), and the cutting of incoming frames into messages
   (reassembly, control frames, the close handshake's replies). The bytes,
   the buffers and the connection's life are stream.c's; the server's
   side of the handshake is ws.c's.

   Out: a message is one WebSocket message of binary or (NN_WS_MSG_TYPE)
   text frames, at most WS_FRAG bytes of payload each because NNG refuses
   larger ones; text frames end only where characters do. A client masks
   each message in place once (prepare: copying only a body shared with
   other messages) and keeps the key as four bytes in front of its
   protocol header; frame headers are made when the frames are gathered.

   In: messages are reassembled from any number of frames of any size up
   to NN_RCVMAXSIZE, checked before a byte of the frame is buffered; a
   frame of FM_STREAM_DIRECT_MIN bytes or more that has not all arrived is
   read by the engine straight into the message (big_done unmasks it). A
   breach of the framing rules is answered with a close frame carrying its
   status code (1002, 1007 for bad UTF-8 in text, 1009 too big, 1011 out of
   memory) as the connection's last word; so is the peer's close frame
   (with its code). */
#include "ws_framer.h"

#include "ws_http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define WS_FRAG ((size_t) 1 << 20)
#define SP_SUFFIX ".sp.nanomsg.org"
#define GREET_MS 3000 /* the 101 answer must come by then */

struct ws_state {
    /* Fixed by open (the send side reads these without a lock). */
    bool server;
    int msg_op;
    const struct fm_ws_conf *conf;
    char accept[WS_ACCEPT_LEN + 1]; /* client: the answer our key wants */

    /* Receive side. */
    struct ws_http_scan scan;
    struct fm_msg partial;  /* the message being reassembled, */
    size_t partial_len;     /* of which this much is filled */
    bool frag_open;         /* a first frame without FIN came */
    int frag_op;            /* its opcode */
    bool big_fin, big_masked; /* the frame the engine reads into partial */
    uint8_t big_key[4];
    size_t big_from;
};

void fm_ws_sp_name(int type, char out[WS_SP_NAME_MAX])
{
    const struct fm_proto *p = fm_proto_find(type);
    snprintf(out, WS_SP_NAME_MAX, "%s%s", p ? p->name : "?", SP_SUFFIX);
}

int fm_ws_sp_type(const char *v, size_t n)
{
    size_t sl = strlen(SP_SUFFIX);
    if (n <= sl || strncasecmp(v + n - sl, SP_SUFFIX, sl) != 0)
        return -1;
    for (const struct fm_proto *const *p = fm_protocols; *p; p++)
        if (strlen((*p)->name) == n - sl && strncasecmp((*p)->name, v, n - sl) == 0)
            return (*p)->type;
    return -1;
}

/* Masking keys need not be secret, only unpredictable to whoever writes
   the payload: a per-thread xorshift seeded from the system's entropy. */
static _Thread_local uint64_t rng_state;

static uint32_t rng32(void)
{
    if (!rng_state)
        rng_state = ((uint64_t) fm_random_u32() << 32 | fm_random_u32()) | 1;
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return (uint32_t) ((x * 0x2545F4914F6CDD1Dull) >> 32);
}

/* ------------------------------------------------------ frame layout */

/* A client's message carries its masking key in front of its protocol
   header; the payload is what follows. */
static size_t key_bytes(const struct ws_state *st) { return st->server ? 0 : 4; }

static size_t pay_len(const struct ws_state *st, const struct fm_msg *m)
{
    return fm_msg_hdr_len(m) - key_bytes(st) + fm_msg_size(m);
}

static bool is_text(const struct ws_state *st) { return st->msg_op == WS_OP_TEXT; }

/* The key of frame k (payload from offset a) of a message whose key is
   key0. Binary frames each get their own, derived from key0 so that none
   needs storing. Text frames end where characters do, at offsets a frame's
   header cannot tell before the frame is placed; so each text frame's key
   is key0 turned to its start, which masks every byte x of the message
   with key0[x % 4] wherever the frames begin. */
static void frag_key(bool text, const uint8_t *key0, size_t k, size_t a, uint8_t out[4])
{
    if (text || k == 0) {
        for (size_t j = 0; j < 4; j++)
            out[j] = key0[(a + j) & 3];
        return;
    }
    uint32_t x = fm_get_u32(key0) + (uint32_t) k * 0x9E3779B9u;
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    x ^= x >> 13;
    x *= 0xC2B2AE35u;
    x ^= x >> 16;
    fm_put_u32(out, x);
}

/* Payload byte x of a text message as the application gave it (a client's
   is masked already). */
static uint8_t raw_byte(const struct ws_state *st, const struct fm_msg *m, size_t x)
{
    size_t ks = key_bytes(st), hl = fm_msg_hdr_len(m) - ks;
    struct fm_msg *mm = (struct fm_msg *) m; /* read only */
    uint8_t v = x < hl ? fm_msg_hdr(mm)[ks + x] : fm_msg_body(mm)[x - hl];
    return ks ? v ^ fm_msg_hdr(mm)[x & 3] : v;
}

/* Where the frame after the one starting at a starts: WS_FRAG bytes on,
   or, for text, at the start of the character there (a frame may end
   inside a character, but the stock library then sometimes refuses the
   text with 1007). */
static size_t frag_end(const struct ws_state *st, const struct fm_msg *m, size_t L, size_t a)
{
    if (L - a <= WS_FRAG)
        return L;
    size_t e = a + WS_FRAG;
    if (!is_text(st))
        return e;
    for (size_t x = e - 1; x >= e - 3; x--) {
        uint8_t v = raw_byte(st, m, x);
        if ((v & 0xC0) == 0x80)
            continue;
        size_t need = v < 0xC0 ? 1 : v < 0xE0 ? 2 : v < 0xF0 ? 3 : 4;
        return x + need > e ? x : e;
    }
    return e;
}

static size_t frame_wire(const struct ws_state *st, size_t plen)
{
    return ws_frame_hdr_len(plen, !st->server) + plen;
}

/* The frame of m holding wire offset off: its index, payload start and
   length, and the offset inside the frame. */
struct fpos {
    size_t k, a, plen, within;
};

static void frame_at(const struct ws_state *st, const struct fm_msg *m, size_t off,
                     struct fpos *f)
{
    size_t L = pay_len(st, m);
    if (!is_text(st)) {
        size_t nf = L ? (L + WS_FRAG - 1) / WS_FRAG : 1, fw = frame_wire(st, WS_FRAG);
        f->k = off < (nf - 1) * fw ? off / fw : nf - 1;
        f->a = f->k * WS_FRAG;
        f->plen = f->k == nf - 1 ? L - f->a : WS_FRAG;
        f->within = off - f->k * fw;
        return;
    }
    size_t w = 0;
    f->k = f->a = 0;
    for (;;) {
        size_t e = frag_end(st, m, L, f->a);
        f->plen = e - f->a;
        size_t fw = frame_wire(st, f->plen);
        if (off < w + fw || e == L) {
            f->within = off - w;
            return;
        }
        w += fw;
        f->a = e;
        f->k++;
    }
}

static size_t ws_wire_len(const void *fs, const struct fm_msg *m)
{
    const struct ws_state *st = fs;
    size_t L = pay_len(st, m);
    if (!is_text(st) || L <= WS_FRAG) {
        size_t nf = L ? (L + WS_FRAG - 1) / WS_FRAG : 1;
        return (nf - 1) * frame_wire(st, WS_FRAG) + frame_wire(st, L - (nf - 1) * WS_FRAG);
    }
    size_t w = 0;
    for (size_t a = 0; a < L;) {
        size_t e = frag_end(st, m, L, a);
        w += frame_wire(st, e - a);
        a = e;
    }
    return w;
}

/* XOR payload bytes [a, e) of m with key from phase 0. */
static void mask_range(struct fm_msg *m, size_t ks, size_t a, size_t e, const uint8_t key[4])
{
    uint8_t *hdr = fm_msg_hdr(m) + ks, *body = fm_msg_body(m);
    size_t hl = fm_msg_hdr_len(m) - ks, phase = 0;
    if (a < hl) {
        size_t n = (e < hl ? e : hl) - a;
        phase = ws_mask(hdr + a, hdr + a, n, key, 0);
    }
    if (e > hl) {
        size_t bs = a > hl ? a - hl : 0;
        ws_mask(body + bs, body + bs, e - hl - bs, key, phase);
    }
}

/* A client masks a message in place, the key kept in front of its header. */
static int ws_prepare(const void *fs, struct fm_msg *m)
{
    const struct ws_state *st = fs;
    if (st->server)
        return 0;
    if (fm_msg_unshare(m) != 0 || fm_msg_hdr_push_u32(m, rng32()) != 0)
        return -ENOMEM;
    size_t L = pay_len(st, m);
    if (is_text(st)) {
        mask_range(m, 4, 0, L, fm_msg_hdr(m)); /* see frag_key */
        return 0;
    }
    for (size_t a = 0, k = 0; a < L; k++, a += WS_FRAG) {
        uint8_t fk[4];
        frag_key(false, fm_msg_hdr(m), k, a, fk);
        mask_range(m, 4, a, a + WS_FRAG < L ? a + WS_FRAG : L, fk);
    }
    return 0;
}

static void add_iov(struct iovec *iov, int *n, const void *base, size_t len, size_t *skip)
{
    if (*skip >= len) {
        *skip -= len;
        return;
    }
    iov[*n].iov_base = (uint8_t *) base + *skip;
    iov[(*n)++].iov_len = len - *skip;
    *skip = 0;
}

/* The frame holding wire offset off, from there to its end: a message of
   one frame (all but those over WS_FRAG) whole. */
static size_t ws_gather(const void *fs, struct fm_msg *m, size_t off, uint8_t *scratch,
                        struct iovec *iov, int *n)
{
    const struct ws_state *st = fs;
    size_t ks = key_bytes(st), L = pay_len(st, m);
    struct fpos f;
    frame_at(st, m, off, &f);
    uint8_t key[4];
    if (ks)
        frag_key(is_text(st), fm_msg_hdr(m), f.k, f.a, key);
    size_t fl = ws_frame_hdr(scratch, f.a + f.plen == L, f.k == 0 ? st->msg_op : WS_OP_CONT,
                             f.plen, ks ? key : NULL);
    const uint8_t *hdr = fm_msg_hdr(m) + ks, *body = fm_msg_body(m);
    size_t hl = fm_msg_hdr_len(m) - ks, a = f.a, e = f.a + f.plen, skip = f.within;
    add_iov(iov, n, scratch, fl, &skip);
    if (a < hl)
        add_iov(iov, n, hdr + a, (e < hl ? e : hl) - a, &skip);
    if (e > hl) {
        size_t bs = a > hl ? a - hl : 0;
        add_iov(iov, n, body + bs, e - hl - bs, &skip);
    }
    return fl + f.plen - f.within;
}

/* A control frame of ours: masked with a fresh key on the client side. */
static size_t control_frame(const struct ws_state *st, uint8_t *out, int op, const uint8_t *pl,
                            size_t n)
{
    uint8_t key[4];
    if (!st->server)
        fm_put_u32(key, rng32());
    size_t hl = ws_frame_hdr(out, true, op, n, st->server ? NULL : key);
    if (st->server)
        memcpy(out + hl, pl, n);
    else
        ws_mask(out + hl, pl, n, key, 0);
    return hl + n;
}

static size_t ws_goodbye(const void *fs, uint8_t *out)
{
    uint8_t pl[2] = {WS_CLOSE_NORMAL >> 8, WS_CLOSE_NORMAL & 0xFF};
    return control_frame(fs, out, WS_OP_CLOSE, pl, 2);
}

/* ------------------------------------------------------------ opening */

static size_t ws_open(void *fs, const void *arg, struct fm_ep *ep, bool accepted, uint8_t *out)
{
    struct ws_state *st = fs;
    (void) ep;
    st->conf = arg;
    st->server = accepted;
    st->msg_op = st->conf->msg_op;
    fm_msg_init_empty(&st->partial);
    if (accepted)
        return 0; /* ws.c answered the request already */
    uint8_t nonce[16];
    for (int i = 0; i < 16; i += 4)
        fm_put_u32(nonce + i, rng32());
    char key[WS_KEY_LEN + 1];
    ws_base64(nonce, sizeof(nonce), key);
    ws_accept_for(key, WS_KEY_LEN, st->accept);
    return ws_http_request((char *) out, WS_OPEN_MAX, st->conf->path, st->conf->host, key,
                           st->conf->peer_name);
}

/* The server's answer to our request. */
static ssize_t ws_greet(void *fs, const uint8_t *in, size_t len, int *peer)
{
    struct ws_state *st = fs;
    if (st->server)
        return -EPROTO;
    size_t hl = ws_http_head_len((const char *) in, len, &st->scan);
    if (!hl)
        return len >= WS_HTTP_MAX ? -EPROTO : 0;
    struct ws_http_head h;
    if (ws_http_parse_response((const char *) in, hl, &h) != 0)
        return -EPROTO;
    if (h.status != 101)
        return -ECONNREFUSED;
    if (!ws_http_check_accept(&h, st->accept, st->conf->peer_name))
        return -EPROTO;
    *peer = st->conf->peer_type;
    return (ssize_t) hl;
}

static size_t ws_head_len(const void *fs)
{
    /* The longest header a data frame to us may have: reading just that
       much after a big message lets the next big payload go into place. */
    return ((const struct ws_state *) fs)->server ? 14 : 10;
}

/* --------------------------------------------------------- frames in */

/* The connection's last word: a close frame with code (none when < 0). */
static void say_bye(struct ws_state *st, struct fm_stream_rx *rx, int code, int err)
{
    uint8_t pl[2] = {(uint8_t) (code >> 8), (uint8_t) code};
    rx->reply_len = control_frame(st, rx->reply, WS_OP_CLOSE, pl, code < 0 ? 0 : 2);
    rx->bye = true;
    rx->bye_err = err;
}

static bool close_code_ok(unsigned code)
{
    if (code >= 3000 && code <= 4999)
        return true;
    return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

static void on_control(struct ws_state *st, struct fm_stream_rx *rx, int op, const uint8_t *pl,
                       size_t n)
{
    if (op == WS_OP_PING) {
        rx->reply_len = control_frame(st, rx->reply, WS_OP_PONG, pl, n);
    } else if (op == WS_OP_CLOSE) {
        unsigned code = n >= 2 ? (unsigned) (pl[0] << 8 | pl[1]) : 0;
        if (n == 1 || (n && !close_code_ok(code)))
            say_bye(st, rx, WS_CLOSE_PROTOCOL, EPROTO);
        else if (n > 2 && !ws_utf8_ok(pl + 2, n - 2))
            say_bye(st, rx, WS_CLOSE_BAD_DATA, EPROTO);
        else /* answered with the peer's code, as RFC 6455 suggests */
            say_bye(st, rx, n ? (int) code : -1, ECONNRESET);
    }
    /* A pong answers nothing we asked: ignored. */
}

/* A whole message arrived: delivered, unless it is text that is not
   UTF-8. */
static void on_message(struct ws_state *st, struct fm_stream_rx *rx, struct fm_msg *m, int op)
{
    if (op == WS_OP_TEXT && !ws_utf8_ok(fm_msg_body(m), fm_msg_size(m))) {
        fm_msg_term(m);
        say_bye(st, rx, WS_CLOSE_BAD_DATA, EPROTO);
        return;
    }
    rx->full |= fm_pipe_deliver(rx->pipe, m) == FM_PIPE_FULL;
}

static void partial_finish(struct ws_state *st, struct fm_stream_rx *rx)
{
    struct fm_msg m;
    fm_msg_move(&m, &st->partial);
    fm_msg_init_empty(&st->partial);
    st->partial_len = 0;
    st->frag_open = false;
    on_message(st, rx, &m, st->frag_op);
}

/* Make room for total bytes in the message being reassembled. */
static int partial_grow(struct ws_state *st, size_t total)
{
    if (!st->partial.body) {
        fm_msg_term(&st->partial);
        return fm_msg_init(&st->partial, total);
    }
    return fm_msg_body_resize(&st->partial, total);
}

static void copy_in(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t *key)
{
    if (key)
        ws_mask(dst, src, n, key, 0);
    else if (n)
        memcpy(dst, src, n);
}

static int ws_parse(void *fs, struct fm_stream_rx *rx)
{
    struct ws_state *st = fs;
    const uint8_t *in = rx->in;
    size_t pos = 0, len = rx->len;
    rx->held = false;
    while (!rx->bye) {
        if (rx->full && !rx->past_full) {
            /* The rest waits in the buffer until the queue has room, so a
               pipe's queue holds at most NN_RCVBUF and one message more. */
            rx->held = len > pos;
            break;
        }
        const uint8_t *b = in + pos;
        size_t avail = len - pos;
        if (avail < 2)
            break;
        bool fin = b[0] & 0x80, masked = b[1] & 0x80;
        int op = b[0] & 0x0F;
        unsigned len7 = b[1] & 0x7F;
        if ((b[0] & 0x70) || (op > WS_OP_BINARY && op < WS_OP_CLOSE) || op > WS_OP_PONG ||
            masked != st->server) {
            /* No extension was agreed, so no reserved bit; clients mask,
               servers do not. */
            say_bye(st, rx, WS_CLOSE_PROTOCOL, EPROTO);
            break;
        }
        size_t hl = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
        if (avail < hl)
            break;
        uint64_t plen = len7;
        if (len7 == 126)
            plen = (uint64_t) b[2] << 8 | b[3];
        else if (len7 == 127)
            plen = fm_get_u64(b + 2);
        if (plen >> 63) {
            say_bye(st, rx, WS_CLOSE_PROTOCOL, EPROTO);
            break;
        }
        const uint8_t *key = masked ? b + hl - 4 : NULL, *pl = b + hl;
        size_t have = avail - hl;
        if (op & 8) {
            if (!fin || plen > WS_CONTROL_MAX) {
                say_bye(st, rx, WS_CLOSE_PROTOCOL, EPROTO);
                break;
            }
            if (have < plen)
                break;
            uint8_t cp[WS_CONTROL_MAX];
            copy_in(cp, pl, (size_t) plen, key);
            pos += hl + (size_t) plen;
            on_control(st, rx, op, cp, (size_t) plen);
            continue;
        }
        if ((op == WS_OP_CONT) != st->frag_open) {
            say_bye(st, rx, WS_CLOSE_PROTOCOL, EPROTO);
            break;
        }
        uint64_t total = (op == WS_OP_CONT ? st->partial_len : 0) + plen;
        if (total > fm_sock_rcvmax(rx->pipe->sock) || total > SIZE_MAX / 2) {
            say_bye(st, rx, WS_CLOSE_TOO_BIG, EMSGSIZE); /* before a byte is kept */
            break;
        }
        if (op != WS_OP_CONT)
            st->frag_op = op;
        if (have >= plen) {
            pos += hl + (size_t) plen;
            if (fin && op != WS_OP_CONT) {
                struct fm_msg m;
                if (fm_msg_init(&m, (size_t) plen) != 0) {
                    say_bye(st, rx, WS_CLOSE_INTERNAL, ENOMEM);
                    break;
                }
                copy_in(fm_msg_body(&m), pl, (size_t) plen, key);
                on_message(st, rx, &m, op);
                continue;
            }
            if (partial_grow(st, (size_t) total) != 0) {
                say_bye(st, rx, WS_CLOSE_INTERNAL, ENOMEM);
                break;
            }
            copy_in(fm_msg_body(&st->partial) + st->partial_len, pl, (size_t) plen, key);
            st->partial_len = (size_t) total;
            if (fin)
                partial_finish(st, rx);
            else
                st->frag_open = true;
            continue;
        }
        if (plen < FM_STREAM_DIRECT_MIN)
            break; /* the rest comes into the buffer */
        /* A big frame: the engine reads its payload into partial. */
        st->big_fin = fin;
        st->big_masked = masked;
        if (key)
            memcpy(st->big_key, key, 4);
        st->big_from = st->partial_len;
        rx->big_msg = &st->partial;
        rx->big_from = st->partial_len;
        rx->big_size = (size_t) total;
        pos += hl;
        break;
    }
    rx->used = pos;
    rx->midway = st->frag_open;
    return 0;
}

static int ws_big_done(void *fs, struct fm_stream_rx *rx)
{
    struct ws_state *st = fs;
    size_t end = fm_msg_size(&st->partial);
    if (st->big_masked) {
        uint8_t *p = fm_msg_body(&st->partial) + st->big_from;
        ws_mask(p, p, end - st->big_from, st->big_key, 0);
    }
    st->partial_len = end;
    if (st->big_fin)
        partial_finish(st, rx);
    else
        st->frag_open = true;
    rx->midway = st->frag_open;
    return 0;
}

static void ws_drop(void *fs)
{
    struct ws_state *st = fs;
    fm_msg_term(&st->partial);
    fm_msg_init_empty(&st->partial);
    st->partial_len = 0;
    st->frag_open = false;
}

const struct fm_stream_framer fm_ws_framer = {
    .state_size = sizeof(struct ws_state),
    .open_max = WS_OPEN_MAX,
    .greet_ms = GREET_MS,
    .may_cut = true,
    .control = true,
    .open = ws_open,
    .greet = ws_greet,
    .head_len = ws_head_len,
    .gather = ws_gather,
    .wire_len = ws_wire_len,
    .parse = ws_parse,
    .prepare = ws_prepare,
    .big_done = ws_big_done,
    .goodbye = ws_goodbye,
    .drop = ws_drop,
};
