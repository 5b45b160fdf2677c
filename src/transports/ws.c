/* ws.c: the ws:// transport (SP over WebSocket, RFC 6455). It owns the
   address syntax ws://host[:port][/path], the listeners shared by every
   endpoint bound to one host:port (routing upgrade requests by path), the
   opening handshake on both sides with the <name>.sp.nanomsg.org
   subprotocol, the framing (masking, fragmentation, control frames, the
   close handshake), and the connection engine: send and receive paths with
   their backpressure, reconnection with backoff, linger and statistics,
   built the way stream.c builds them for tcp://.

   A connection's life. Accepted: it waits up to HS_TIMEOUT_MS on its
   listener's pending list for a complete request head; the path picks the
   endpoint (404 when none), a browser's Origin must be on the endpoint's
   NN_WS_ORIGINS list when it has one (403), the headers and the
   subprotocol are checked (400, or 426 for another WebSocket version), and
   only then does the connection get its pipe, answer 101 and go to the
   endpoint. A listener holds at most HS_PENDING_MAX connections in the
   handshake: one more closes the oldest of them, as does an accept that
   fails for want of descriptors, so peers that stall in the handshake
   cost bounded memory and descriptors and cannot keep new ones out.
   Connected: it sends the request at once and waits as long for the 101, whose
   Sec-WebSocket-Accept and subprotocol must match. Then one SP message
   (protocol header and body, as tcp carries them) is one WebSocket message
   of binary or (NN_WS_MSG_TYPE) text frames, at most WS_FRAG bytes each
   because NNG refuses larger ones; received messages are reassembled from
   any number of frames of any size up to NN_RCVMAXSIZE, checked before a
   byte of the frame is buffered. A breach of the framing rules sends a
   close frame with its status code (1002, 1007 for bad UTF-8 in text,
   1009 too big), after which the connection only flushes that frame,
   shuts its write side and waits briefly for the peer to go; a close frame
   from the peer is answered the same way. The socket only ever sees the
   pipe go away; a connecting endpoint dials again after NN_RECONNECT_IVL,
   doubling up to NN_RECONNECT_IVL_MAX.

   Output of a connection, in this order: the HTTP head (request, 101 or
   refusal), control frames (pong) slipped in between frames, the queued
   messages' frames, and last our close frame. A client masks each message
   in place when it is handed over (copying only a body shared with other
   messages) and keeps the key as four bytes in front of its protocol
   header; frame headers are made when the frames are written. Send path
   and backpressure as in stream.c: the sending thread writes straight to
   the kernel when nothing is queued, the rest goes out on FM_EV_OUT,
   FM_PIPE_FULL past NN_SNDBUF queued bytes.

   A peer that leaves a frame or a fragmented message unfinished and sends
   nothing for fm_rx_stall_ms() while we are willing to read is dropped, as
   in stream.c.

   Threads and locks: as in stream.c, except that the whole transport runs
   on one loop of the pool (ws_loop). Endpoints, listeners' pending
   connections and every connection's receive side belong to that loop; a
   connection's send side and state are under c->lock, taken
   after the socket lock (the core calls ops->send with it held) and never
   held while calling into the core. The registry lock guards the list of
   listeners and each listener's list of bound endpoints, which nn_bind
   (any thread) extends and the loop thread reads to route and shrinks when
   an endpoint closes; it is taken with no other lock held. The order of
   all of them: the lock table in docs/ARCHITECTURE.md. */
#include "tcp_addr.h"
#include "ws_codec.h"
#include "ws_http.h"

#include <assert.h>
#include <errno.h>
#include <nanomsg/ws.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#define HS_TIMEOUT_MS 3000     /* the opening handshake must be done by then */
#define CLOSE_WAIT_MS 1000     /* a failed connection's last words, and the peer's FIN */
#define DRAIN_MAX_MS 10000     /* bound on waiting for the peer's FIN at close */
#define RBUF_SIZE (64 * 1024)  /* receive buffer of a connection */
#define DIRECT_MIN (16 * 1024) /* frames this big are read into their message */
#define BODY_STEP (16 * 1024)  /* a big frame's first allocation, at least */
#define READ_BUDGET 16
#define ACCEPT_BUDGET 16
#define ACCEPT_PAUSE_MS 100
/* Connections per listener still in the handshake. Each holds at most
   sizeof(struct conn) + WS_HTTP_MAX bytes (about 11 KiB), so a crowd of
   stalled peers costs at most about 22 MiB; past the bound the oldest is
   closed to make room, so a new client is always served. */
#define HS_PENDING_MAX 2048
#define ORIGINS_MAX 4096       /* bytes of an NN_WS_ORIGINS list */
#define WS_FRAG ((size_t) 1 << 20)
#define IOV_W 64               /* iovecs per sendmsg */
#define STAGE_SIZE (64 * 1024) /* staging buffer for small frames in a burst */
#define STAGE_MAX 2048         /* messages framing to this size are staged */
#define IDLE_MS 2000           /* buffers of a connection quiet this long go back */
#define FH_SLOTS 32            /* frame headers per sendmsg */
#define PRE_MAX 1024           /* our HTTP head */
#define SP_SUFFIX ".sp.nanomsg.org"
#define SP_NAME_MAX 40
#define PATH_MAX_LEN (NN_SOCKADDR_MAX + 1)

#define KEEPALIVE_IDLE_S 60
#define KEEPALIVE_INTVL_S 10
#define KEEPALIVE_CNT 6

enum conn_state {
    CS_HTTP,   /* the opening handshake */
    CS_ACTIVE, /* attached to the socket, messages flow */
    CS_LINGER, /* flushing what is queued, our close frame last */
    CS_DRAIN,  /* all written and shut for writing: waiting for the peer's FIN */
    CS_DEAD,
};

struct wsl;
struct wsep;

struct conn {
    struct fm_pipe *pipe; /* NULL while an accepted connection is unrouted */
    bool server;
    int msg_op;           /* WS_OP_BINARY or WS_OP_TEXT */
    size_t sndbuf;

    /* Loop thread only. */
    struct wsl *lsn;         /* whose pending list holds us (unrouted) */
    struct wsep *sep;        /* whose conns list holds us */
    struct wsep *linger_sep; /* endpoint whose close waits for our flush */
    struct fm_list node;
    struct fm_watch watch;
    struct fm_timer timer;   /* handshake, then linger or close deadline */
    uint64_t deadline;
    bool attached;
    bool counted;            /* in the endpoint's CURRENT_CONNECTIONS */
    char accept[WS_ACCEPT_LEN + 1]; /* client: the answer our key wants */
    struct ws_http_scan scan;       /* how far the HTTP head was searched */
    uint8_t *rbuf;
    size_t rlen, rcap;
    struct fm_msg partial;   /* the message being reassembled */
    size_t partial_len;      /* bytes of it filled (a big frame's body may
                                have room for more: fm_msg_size) */
    bool rx_held;            /* rbuf holds frames not cut: the queue was full */
    unsigned rx_reads;       /* reads so far, and as the idle timer last saw them */
    unsigned rx_reads_seen;
    struct fm_timer idle;    /* gives back the buffers of a quiet connection */
    atomic_bool idle_armed;
    bool frag_open;          /* a first frame without FIN came */
    int frag_op;             /* its opcode */
    size_t big_left;         /* payload of the current frame read straight
                                into partial */
    bool big_fin, big_masked;
    uint8_t big_key[4];
    size_t big_phase;
    uint64_t rx_at;          /* when the unfinished input last grew */
    bool stall_armed;        /* active: timer watches for a peer that stalls */
    bool stall_paused;       /* the watch found us paused: restart on resume */

    /* Guarded by lock; state is written only by the loop thread. */
    pthread_mutex_t lock;
    int fd;
    enum conn_state state;
    bool broken;
    bool out_full;
    bool rx_paused;
    bool rx_backlog;         /* paused with frames held in rbuf */
    bool rx_posted;          /* conn_rx_task is on its way */
    uint8_t pre[PRE_MAX];
    size_t pre_len, pre_off;
    uint8_t ctl[WS_FRAME_HDR_MAX + WS_CONTROL_MAX];
    size_t ctl_len, ctl_off;
    uint8_t tail[WS_FRAME_HDR_MAX + 2];
    size_t tail_len, tail_off;
    struct fm_msgq outq;
    size_t out_off; /* wire bytes of the head message already sent */
    uint8_t fh[FH_SLOTS][WS_FRAME_HDR_MAX];
    unsigned stage_uses;      /* frames staged so far, and as the idle timer */
    unsigned stage_uses_seen; /* last saw them */
    uint8_t *stage;   /* whole frames of a burst at stage[stage_off, stage_len), */
    size_t stage_len; /* written before anything in outq */
    size_t stage_off;
};

/* A listening socket, shared by the endpoints bound to its address. */
struct wsl {
    struct fm_list node;        /* listeners (registry lock) */
    struct sockaddr_storage key;
    socklen_t key_len;
    struct fm_list eps;         /* wsep.lnode (registry lock) */
    /* Loop thread only. */
    int fd;
    struct fm_watch watch;
    struct fm_timer pause;
    struct fm_list pending;     /* conns in the handshake */
    int npending;
};

struct resolve;

struct wsep {
    struct fm_ep *ep;
    struct fm_sock *sock;
    char path[PATH_MAX_LEN];    /* bound: the path served; connecting: the request target */
    char my_name[SP_NAME_MAX];  /* our subprotocol name */
    char peer_name[SP_NAME_MAX];/* the name a client asks the server for */
    int msg_op;
    char *origins;              /* NN_WS_ORIGINS at creation; NULL: any */

    /* bound */
    struct wsl *lsn;
    struct fm_list lnode;       /* lsn->eps (registry lock) */

    /* Loop thread only. */
    bool closing;
    struct fm_list conns;
    /* connector */
    struct fm_stream_target target;
    char host[NN_SOCKADDR_MAX + 8]; /* the Host header */
    int cfd;
    struct fm_watch cwatch;
    struct fm_timer retry;
    int ivl_base, ivl_max, ivl_cur;
    struct resolve *resolving;
    unsigned attempts;
    struct conn *active;

    /* Close hand-shake with the closing thread. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool close_done;
    int lingering;
    int linger;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

/* The whole transport runs on one loop of the pool: a shared listener hands
   its connections to endpoints of any socket, and that routing, like the
   endpoint-connection hand-offs, relies on there being one thread. */
static pthread_once_t ws_loop_once = PTHREAD_ONCE_INIT;
static struct fm_loop *ws_loop_ptr;
static void ws_loop_init(void) { ws_loop_ptr = fm_loop_pick(); }
static struct fm_loop *ws_loop(void)
{
    pthread_once(&ws_loop_once, ws_loop_init);
    return ws_loop_ptr;
}
static struct fm_list listeners = {&listeners, &listeners};

static void conn_destroy(struct conn *c, int err);
static void conn_on_timer(void *arg);
static void sep_schedule_retry(struct wsep *e);
static int frames_parse(struct conn *c, bool *full, bool past_full);
static int conn_read(struct conn *c, bool past_full);

/* ------------------------------------------------------------ helpers */

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

static void sp_name(int type, char *out)
{
    const struct fm_proto *p = fm_proto_find(type);
    snprintf(out, SP_NAME_MAX, "%s%s", p ? p->name : "?", SP_SUFFIX);
}

/* The socket type a subprotocol name stands for, or -1. */
static int sp_type_of(const char *v, size_t n)
{
    size_t sl = strlen(SP_SUFFIX);
    if (n <= sl || strncasecmp(v + n - sl, SP_SUFFIX, sl) != 0)
        return -1;
    for (const struct fm_proto *const *p = fm_protocols; *p; p++)
        if (strlen((*p)->name) == n - sl && strncasecmp((*p)->name, v, n - sl) == 0)
            return (*p)->type;
    return -1;
}

static void tune(int fd)
{
    /* Messages are written whole, one sendmsg each: Nagle would only hold
       back the one after a handshake. */
    int one = 1, v;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    v = KEEPALIVE_IDLE_S;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v));
    v = KEEPALIVE_INTVL_S;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, sizeof(v));
    v = KEEPALIVE_CNT;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof(v));
}

static void set_kernel_buffers(struct fm_ep *ep, int fd)
{
    int snd = ep->sndbuf, rcv = ep->rcvbuf;
    if (snd > 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
    if (rcv > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
}

static ssize_t send_iov(int fd, struct iovec *iov, int n)
{
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t) n};
    ssize_t w;
    do
        w = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (w < 0 && errno == EINTR);
    return w;
}

/* Write what the kernel takes of buf[*off, len). 0, or -errno. */
static int send_part(int fd, const uint8_t *buf, size_t len, size_t *off)
{
    struct iovec iov = {.iov_base = (void *) (buf + *off), .iov_len = len - *off};
    ssize_t w = send_iov(fd, &iov, 1);
    if (w < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    *off += (size_t) w;
    return 0;
}

/* ------------------------------------------------------ frame layout */

/* A client's queued message carries its masking key in front of its
   protocol header; the payload is what follows. */
static size_t key_bytes(const struct conn *c) { return c->server ? 0 : 4; }

static size_t pay_len(const struct conn *c, const struct fm_msg *m)
{
    return fm_msg_hdr_len(m) - key_bytes(c) + fm_msg_size(m);
}

static bool is_text(const struct conn *c) { return c->msg_op == WS_OP_TEXT; }

/* Payload byte x of a text message as the application gave it; masked
   tells that the client has masked the message already. */
static uint8_t raw_byte(const struct conn *c, struct fm_msg *m, size_t x, bool masked)
{
    size_t ks = key_bytes(c), hl = fm_msg_hdr_len(m) - ks;
    uint8_t v = x < hl ? fm_msg_hdr(m)[ks + x] : fm_msg_body(m)[x - hl];
    return ks && masked ? v ^ fm_msg_hdr(m)[x & 3] : v;
}

/* Where the frame after the one starting at a starts: WS_FRAG bytes on,
   or, for text, at the start of the character there (a frame may end
   inside a character, but the stock library then sometimes refuses the
   text with 1007). */
static size_t frag_end(const struct conn *c, struct fm_msg *m, size_t L, size_t a, bool masked)
{
    if (L - a <= WS_FRAG)
        return L;
    size_t e = a + WS_FRAG;
    if (!is_text(c))
        return e;
    for (size_t x = e - 1; x >= e - 3; x--) {
        uint8_t v = raw_byte(c, m, x, masked);
        if ((v & 0xC0) == 0x80)
            continue;
        size_t need = v < 0xC0 ? 1 : v < 0xE0 ? 2 : v < 0xF0 ? 3 : 4;
        return x + need > e ? x : e;
    }
    return e;
}

static size_t frame_wire(const struct conn *c, size_t plen)
{
    return ws_frame_hdr_len(plen, !c->server) + plen;
}

/* The frame of (queued, masked) m holding wire offset off: its index,
   payload start and length, and the offset inside the frame. */
struct fpos {
    size_t k, a, plen, within;
};

static void frame_at(const struct conn *c, struct fm_msg *m, size_t off, struct fpos *f)
{
    size_t L = pay_len(c, m);
    if (c->msg_op != WS_OP_TEXT) {
        size_t nf = L ? (L + WS_FRAG - 1) / WS_FRAG : 1, fw = frame_wire(c, WS_FRAG);
        f->k = off < (nf - 1) * fw ? off / fw : nf - 1;
        f->a = f->k * WS_FRAG;
        f->plen = f->k == nf - 1 ? L - f->a : WS_FRAG;
        f->within = off - f->k * fw;
        return;
    }
    size_t w = 0;
    f->k = f->a = 0;
    for (;;) {
        size_t e = frag_end(c, m, L, f->a, true);
        f->plen = e - f->a;
        size_t fw = frame_wire(c, f->plen);
        if (off < w + fw || e == L) {
            f->within = off - w;
            return;
        }
        w += fw;
        f->a = e;
        f->k++;
    }
}

static size_t wire_len(const struct conn *c, struct fm_msg *m)
{
    size_t L = pay_len(c, m);
    if (c->msg_op != WS_OP_TEXT || L <= WS_FRAG) {
        size_t nf = L ? (L + WS_FRAG - 1) / WS_FRAG : 1;
        return (nf - 1) * frame_wire(c, WS_FRAG) + frame_wire(c, L - (nf - 1) * WS_FRAG);
    }
    size_t w = 0;
    for (size_t a = 0, k = 0; a < L; k++) {
        size_t e = frag_end(c, m, L, a, true);
        w += frame_wire(c, e - a);
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

/* Mask a message for the client side, in place, the key kept in front of
   its header. */
static int client_prepare(const struct conn *c, struct fm_msg *m)
{
    if (fm_msg_unshare(m) != 0 || fm_msg_hdr_push_u32(m, rng32()) != 0)
        return -ENOMEM;
    size_t L = pay_len(c, m);
    if (is_text(c)) {
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

struct wbuild {
    struct iovec *iov;
    int n, max;
    uint8_t (*fh)[WS_FRAME_HDR_MAX];
    int nfh, maxfh;
};

static void wb_add(struct wbuild *b, const void *base, size_t len, size_t *skip)
{
    if (*skip >= len) {
        *skip -= len;
        return;
    }
    b->iov[b->n].iov_base = (uint8_t *) base + *skip;
    b->iov[b->n++].iov_len = len - *skip;
    *skip = 0;
}

/* Gather the frames of m from wire offset off on; with one_frame only to
   the end of the frame off is in. True when m was covered to its end. */
static bool wb_add_msg(struct wbuild *b, const struct conn *c, struct fm_msg *m, size_t off,
                       bool one_frame)
{
    size_t ks = key_bytes(c);
    size_t L = pay_len(c, m);
    struct fpos f;
    frame_at(c, m, off, &f);
    const uint8_t *hdr = fm_msg_hdr(m) + ks, *body = fm_msg_body(m);
    size_t hl = fm_msg_hdr_len(m) - ks;
    size_t a = f.a, k = f.k, plen = f.plen, skip = f.within;
    for (;;) {
        if (b->nfh == b->maxfh || b->n + 3 > b->max)
            return false;
        bool last = a + plen == L;
        uint8_t key[4];
        if (ks)
            frag_key(is_text(c), fm_msg_hdr(m), k, a, key);
        size_t fl = ws_frame_hdr(b->fh[b->nfh], last, k == 0 ? c->msg_op : WS_OP_CONT, plen,
                                 ks ? key : NULL);
        wb_add(b, b->fh[b->nfh++], fl, &skip);
        if (a < hl)
            wb_add(b, hdr + a, (a + plen < hl ? a + plen : hl) - a, &skip);
        if (a + plen > hl) {
            size_t bs = a > hl ? a - hl : 0;
            wb_add(b, body + bs, a + plen - hl - bs, &skip);
        }
        if (last || one_frame)
            return last;
        a += plen;
        k++;
        plen = frag_end(c, m, L, a, true) - a;
        skip = 0;
    }
}

static bool conn_pending(const struct conn *c)
{
    return c->pre_off < c->pre_len || c->ctl_len > 0 || c->stage_off < c->stage_len ||
           c->outq.count > 0 || c->tail_off < c->tail_len;
}

static size_t conn_unsent(const struct conn *c)
{
    return (c->outq.bytes > c->out_off ? c->outq.bytes - c->out_off : 0) +
           (c->stage_len - c->stage_off);
}

static bool at_frame_boundary(const struct conn *c)
{
    if (!c->outq.count)
        return true;
    struct fpos f;
    frame_at(c, fm_msgq_peek((struct fm_msgq *) &c->outq), c->out_off, &f);
    return f.within == 0;
}

/* c->lock held. */
static void conn_update_events(struct conn *c)
{
    uint32_t ev = 0;
    if (c->state != CS_DEAD) {
        if (!c->rx_paused)
            ev |= FM_EV_IN;
        if (conn_pending(c) || c->broken)
            ev |= FM_EV_OUT;
    }
    fm_watch_set(&c->watch, ev);
}

static void msgs_consumed(struct conn *c, size_t w)
{
    while (w && c->outq.count) {
        size_t rest = wire_len(c, fm_msgq_peek(&c->outq)) - c->out_off;
        if (w < rest) {
            c->out_off += w;
            return;
        }
        struct fm_msg done;
        fm_msgq_pop(&c->outq, &done);
        fm_msg_term(&done);
        c->out_off = 0;
        w -= rest;
    }
}

/* Write what the kernel takes, in order: HTTP head, control frame (only
   between frames), staged frames, queued message frames, close frame. 0
   when all is written or the kernel is full, -errno when broken. c->lock
   held. */
static int conn_flush(struct conn *c)
{
    for (;;) {
        int rc;
        if (c->pre_off < c->pre_len) {
            if ((rc = send_part(c->fd, c->pre, c->pre_len, &c->pre_off)) != 0)
                return rc;
            if (c->pre_off < c->pre_len)
                return 0;
            continue;
        }
        bool staged = c->stage_off < c->stage_len;
        if (c->ctl_len && (c->ctl_off > 0 || (!staged && at_frame_boundary(c)))) {
            if ((rc = send_part(c->fd, c->ctl, c->ctl_len, &c->ctl_off)) != 0)
                return rc;
            if (c->ctl_off < c->ctl_len)
                return 0;
            c->ctl_len = c->ctl_off = 0;
            continue;
        }
        if (staged) {
            if ((rc = send_part(c->fd, c->stage, c->stage_len, &c->stage_off)) != 0)
                return rc;
            if (c->stage_off < c->stage_len)
                return 0;
            c->stage_len = c->stage_off = 0;
            continue;
        }
        if (c->outq.count) {
            struct iovec iov[IOV_W];
            struct wbuild b = {iov, 0, IOV_W, c->fh, 0, FH_SLOTS};
            bool one = c->ctl_len > 0; /* mid-frame with a pong waiting */
            struct fm_msgq *q = &c->outq;
            for (size_t i = 0; i < q->count; i++) {
                struct fm_msg *m = &q->ring[(q->head + i) % q->cap];
                if (!wb_add_msg(&b, c, m, i == 0 ? c->out_off : 0, one) || one)
                    break;
            }
            size_t want = 0;
            for (int i = 0; i < b.n; i++)
                want += iov[i].iov_len;
            if (b.n == 0)
                return 0;
            ssize_t w = send_iov(c->fd, iov, b.n);
            if (w < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
            msgs_consumed(c, (size_t) w);
            if ((size_t) w < want)
                return 0;
            continue;
        }
        if (c->tail_off < c->tail_len) {
            if ((rc = send_part(c->fd, c->tail, c->tail_len, &c->tail_off)) != 0)
                return rc;
            if (c->tail_off < c->tail_len)
                return 0;
        }
        return 0;
    }
}

/* A control frame of ours: masked with a fresh key on the client side. */
static size_t control_frame(const struct conn *c, uint8_t *out, int op, const uint8_t *pl,
                            size_t n)
{
    uint8_t key[4];
    if (!c->server)
        fm_put_u32(key, rng32());
    size_t hl = ws_frame_hdr(out, true, op, n, c->server ? NULL : key);
    if (c->server)
        memcpy(out + hl, pl, n);
    else
        ws_mask(out + hl, pl, n, key, 0);
    return hl + n;
}

static void conn_on_idle(void *arg);

/* A buffer was made: the idle timer will give it back once the
   connection is quiet. Any thread; one atomic load while it is armed. */
static void conn_arm_idle(struct conn *c)
{
    bool was = false;
    if (!atomic_load_explicit(&c->idle_armed, memory_order_relaxed) &&
        atomic_compare_exchange_strong(&c->idle_armed, &was, true))
        fm_timer_schedule(&c->idle, IDLE_MS);
}

/* While the application streams (fm_sock_burst), copy a small message's
   frames (masked already on the client side) into the staging buffer: one
   system call per buffer, not per message, written by the sender when it
   is full and by the loop thread on FM_EV_OUT otherwise. Returns 1 when
   staged (msg consumed), 0 when it takes the ordinary path, -errno when the
   connection broke. Not while a control frame or our close waits: those
   go between frames, and a growing buffer would hold them back. c->lock
   held. */
static int conn_stage(struct conn *c, struct fm_msg *msg, bool burst)
{
    size_t wl = wire_len(c, msg);
    bool empty = c->stage_off == c->stage_len;
    if (wl > STAGE_MAX || c->outq.count || c->pre_off < c->pre_len || c->ctl_len ||
        c->tail_len || (!burst && empty))
        return 0;
    if (!c->stage) {
        if (!(c->stage = malloc(STAGE_SIZE)))
            return 0;
        conn_arm_idle(c);
    }
    c->stage_uses++;
    if (c->stage_len + wl > STAGE_SIZE) {
        int rc = conn_flush(c); /* full: this thread writes it */
        if (rc)
            return rc;
        if (c->stage_len + wl > STAGE_SIZE)
            return 0; /* the kernel is full too: queue behind it */
        empty = c->stage_off == c->stage_len;
    }
    struct iovec iov[IOV_W];
    uint8_t fh[FH_SLOTS][WS_FRAME_HDR_MAX];
    struct wbuild b = {iov, 0, IOV_W, fh, 0, FH_SLOTS};
    wb_add_msg(&b, c, msg, 0, false);
    for (int i = 0; i < b.n; i++) {
        memcpy(c->stage + c->stage_len, iov[i].iov_base, iov[i].iov_len);
        c->stage_len += iov[i].iov_len;
    }
    if (empty)
        conn_update_events(c); /* the loop writes it unless the sender does */
    fm_msg_term(msg);
    return 1;
}

/* ----------------------------------------------------------- pipe ops */

/* Called with the socket lock held. */
static int conn_send(struct fm_pipe *p, struct fm_msg *msg)
{
    struct conn *c = p->tdata;
    bool burst = fm_sock_burst(p->sock);
    int prep = c->server ? 0 : client_prepare(c, msg);
    pthread_mutex_lock(&c->lock);
    if (c->state != CS_ACTIVE || c->broken || prep != 0) {
        if (prep != 0 && c->state == CS_ACTIVE) {
            c->broken = true; /* a message cannot be skipped silently */
            conn_update_events(c);
        }
        pthread_mutex_unlock(&c->lock);
        fm_msg_term(msg);
        return -ECONNRESET;
    }
    int staged = conn_stage(c, msg, burst);
    if (staged) {
        int rc = 0;
        if (staged < 0) {
            c->broken = true;
            conn_update_events(c);
            fm_msg_term(msg);
            rc = -ECONNRESET;
        } else if (conn_unsent(c) >= c->sndbuf) {
            c->out_full = true;
            rc = FM_PIPE_FULL;
        }
        pthread_mutex_unlock(&c->lock);
        return rc;
    }
    size_t written = 0;
    if (!conn_pending(c)) {
        /* Nothing ahead of us: the whole message goes to the kernel in
           one call, from this thread. */
        struct iovec iov[IOV_W];
        uint8_t fh[FH_SLOTS][WS_FRAME_HDR_MAX];
        struct wbuild b = {iov, 0, IOV_W, fh, 0, FH_SLOTS};
        wb_add_msg(&b, c, msg, 0, false);
        ssize_t w = send_iov(c->fd, iov, b.n);
        if (w >= 0 && (size_t) w == wire_len(c, msg)) {
            pthread_mutex_unlock(&c->lock);
            fm_msg_term(msg);
            return 0;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            c->broken = true;
            conn_update_events(c);
            pthread_mutex_unlock(&c->lock);
            fm_msg_term(msg);
            return -ECONNRESET;
        }
        written = w > 0 ? (size_t) w : 0;
    }
    if (fm_msgq_push(&c->outq, msg) != 0) {
        fm_msg_term(msg);
        c->broken = true;
        conn_update_events(c);
        pthread_mutex_unlock(&c->lock);
        return -ECONNRESET;
    }
    if (c->outq.count == 1)
        c->out_off = written;
    conn_update_events(c);
    int rc = 0;
    if (conn_unsent(c) >= c->sndbuf) {
        c->out_full = true;
        rc = FM_PIPE_FULL;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* Room unless NN_SNDBUF bytes really wait to be written (see has_room in
   core.h). Socket lock held. */
static bool conn_has_room(struct fm_pipe *p)
{
    struct conn *c = p->tdata;
    pthread_mutex_lock(&c->lock);
    bool room = c->state == CS_ACTIVE && !c->broken &&
                (!c->out_full || conn_unsent(c) < c->sndbuf);
    if (room)
        c->out_full = false; /* the loop need not say so again */
    pthread_mutex_unlock(&c->lock);
    return room;
}

static void conn_rx_task(void *arg);

/* Frames a full queue left in rbuf raise no event: the loop cuts them.
   c->lock held. */
static void conn_post_rx(struct conn *c)
{
    if (c->rx_posted)
        return;
    c->rx_posted = true;
    fm_pipe_ref(c->pipe);
    fm_loop_post(ws_loop(), conn_rx_task, c->pipe);
}

static void conn_inq_space(struct fm_pipe *p)
{
    struct conn *c = p->tdata;
    pthread_mutex_lock(&c->lock);
    if (c->rx_paused) {
        pthread_mutex_lock(&p->inq_lock);
        bool full = p->inq_full;
        pthread_mutex_unlock(&p->inq_lock);
        if (!full) {
            c->rx_paused = false;
            conn_update_events(c);
            if (c->rx_backlog && c->state == CS_ACTIVE)
                conn_post_rx(c);
            c->rx_backlog = false;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

static void conn_close_task(void *arg)
{
    struct fm_pipe *p = arg;
    conn_destroy(p->tdata, 0);
    fm_run_deferred();
    fm_pipe_unref(p);
}

static void conn_close(struct fm_pipe *p)
{
    fm_pipe_ref(p);
    fm_loop_post(ws_loop(), conn_close_task, p);
}

static void conn_free_mem(struct conn *c)
{
    fm_msgq_term(&c->outq);
    fm_msg_term(&c->partial);
    free(c->rbuf);
    free(c->stage);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static void conn_free(struct fm_pipe *p) { conn_free_mem(p->tdata); }

static const struct fm_pipe_ops conn_ops = {
    .send = conn_send,
    .close = conn_close,
    .inq_space = conn_inq_space,
    .free = conn_free,
    .has_room = conn_has_room,
};

/* --------------------------------------------------- connection (loop) */

static struct conn *conn_new(int fd, bool server)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->server = server;
    c->fd = fd;
    c->state = CS_HTTP;
    c->msg_op = WS_OP_BINARY;
    c->sndbuf = 1;
    pthread_mutex_init(&c->lock, NULL);
    fm_msgq_init(&c->outq);
    fm_msg_init_empty(&c->partial);
    fm_list_init(&c->node);
    fm_timer_init(&c->timer, ws_loop(), conn_on_timer, c);
    fm_timer_init(&c->idle, ws_loop(), conn_on_idle, c);
    atomic_init(&c->idle_armed, false);
    return c;
}

static void conn_forget(struct conn *c)
{
    if (!c->pipe)
        return;
    if (c->attached) {
        c->attached = false;
        fm_pipe_detach(c->pipe);
    }
    pthread_mutex_lock(&c->pipe->inq_lock);
    c->pipe->inq_closed = true;
    pthread_mutex_unlock(&c->pipe->inq_lock);
}

static void conn_drop_input(struct conn *c)
{
    free(c->rbuf);
    c->rbuf = NULL;
    c->rlen = c->rcap = 0;
    fm_msg_term(&c->partial);
    c->partial_len = 0;
    c->frag_open = false;
    c->big_left = 0;
    c->rx_held = false;
}

static void conn_linger_done(struct conn *c)
{
    struct wsep *e = c->linger_sep;
    if (!e)
        return;
    c->linger_sep = NULL;
    pthread_mutex_lock(&e->lock);
    if (--e->lingering == 0)
        pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

/* The connection stops serving its endpoint (lost, failed, or the
   endpoint let go of it); err != 0 counts a loss. */
static void conn_lose(struct conn *c, int err)
{
    struct wsep *e = c->sep;
    if (e) {
        fm_list_remove(&c->node);
        c->sep = NULL;
        if (c->counted) {
            c->counted = false;
            fm_stat_add(e->sock, FM_STAT_CURRENT_CONNECTIONS, -1);
            if (err) /* as stock: by the peer or an error, either side */
                fm_stat_add(e->sock, FM_STAT_BROKEN, 1);
        } else if (err && !c->server) {
            /* A peer took the connection, then refused or botched the
               upgrade: a broken connection, as a tcp peer failing the SP
               header exchange is. A connect error means that nobody took
               it (sep_connect_failed), so the two can be told apart. */
            fm_stat_add(e->sock, FM_STAT_BROKEN, 1);
            fm_ep_report_error(e->ep, err);
        }
        if (e->active == c) {
            e->active = NULL;
            sep_schedule_retry(e);
        }
    }
    if (c->lsn) {
        fm_list_remove(&c->node);
        c->lsn->npending--;
        c->lsn = NULL;
    }
    conn_forget(c);
}

/* Close for good. Loop thread, no lock held. */
static void conn_destroy(struct conn *c, int err)
{
    if (c->state == CS_DEAD)
        return;
    struct fm_msgq drop;
    pthread_mutex_lock(&c->lock);
    enum conn_state was = c->state;
    c->state = CS_DEAD;
    drop = c->outq;
    fm_msgq_init(&c->outq);
    int fd = c->fd;
    c->fd = -1;
    pthread_mutex_unlock(&c->lock);
    fm_msgq_term(&drop);
    fm_watch_del(&c->watch);
    close(fd);
    fm_timer_cancel(&c->timer);
    fm_timer_cancel(&c->idle); /* state is CS_DEAD: nobody arms it again */
    conn_lose(c, was <= CS_ACTIVE ? err : 0);
    conn_drop_input(c);
    conn_linger_done(c);
    if (c->pipe)
        fm_pipe_unref(c->pipe); /* the transport's reference: may free c */
    else
        conn_free_mem(c);
}

/* Unfinished input of an active connection: part of a frame, or a
   fragmented message without its last frame. */
static bool conn_rx_partial(const struct conn *c)
{
    return c->rlen || c->big_left || c->frag_open;
}

/* As stream.c: once part of a message is in, its peer must keep sending;
   one coarse timer per interval checks, a read only notes the time. */
static void conn_watch_stall(struct conn *c)
{
    uint64_t ivl = fm_rx_stall_ms();
    if (ivl == 0)
        return;
    c->rx_at = fm_now_ms();
    if (!c->stall_armed) {
        c->stall_armed = true;
        c->stall_paused = false;
        fm_timer_schedule(&c->timer, ivl);
    }
}

/* Time spent paused (inbound queue full) is our backpressure and never
   counts; the peer gets a whole interval again once we read. */
static void conn_check_stall(struct conn *c)
{
    c->stall_armed = false;
    if (!conn_rx_partial(c))
        return;
    uint64_t ivl = fm_rx_stall_ms(), now = fm_now_ms();
    pthread_mutex_lock(&c->lock);
    bool paused = c->rx_paused;
    pthread_mutex_unlock(&c->lock);
    if (paused) {
        c->stall_paused = true;
    } else if (c->stall_paused) {
        c->stall_paused = false;
        c->rx_at = now;
    } else if (now - c->rx_at >= ivl) {
        conn_destroy(c, ETIMEDOUT);
        fm_run_deferred();
        return;
    }
    c->stall_armed = true;
    fm_timer_schedule(&c->timer, paused ? ivl : c->rx_at + ivl - now);
}

/* Every IDLE_MS while a connection holds a buffer: one that saw no use
   since the last look, and holds nothing, goes back, as in stream.c (a
   quiet connection keeps no 64 KiB buffer; a busy one keeps its buffers,
   so no message pays a malloc). The loop's. */
static void conn_on_idle(void *arg)
{
    struct conn *c = arg;
    if (c->state == CS_DEAD)
        return;
    if (c->rbuf && c->rx_reads == c->rx_reads_seen && c->rlen == 0 && !c->rx_held) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
    c->rx_reads_seen = c->rx_reads;
    bool keep = c->rbuf != NULL;
    pthread_mutex_lock(&c->lock);
    if (c->stage && c->stage_uses == c->stage_uses_seen && c->stage_len == c->stage_off) {
        free(c->stage);
        c->stage = NULL;
        c->stage_len = c->stage_off = 0;
    }
    c->stage_uses_seen = c->stage_uses;
    keep = keep || c->stage;
    atomic_store(&c->idle_armed, keep);
    if (keep)
        fm_timer_schedule(&c->idle, IDLE_MS);
    pthread_mutex_unlock(&c->lock);
}

static void conn_on_timer(void *arg)
{
    struct conn *c = arg;
    if (c->state == CS_DEAD)
        return;
    if (c->state == CS_ACTIVE) {
        conn_check_stall(c);
        return;
    }
    uint64_t now = fm_now_ms();
    if (now < c->deadline) {
        fm_timer_schedule(&c->timer, c->deadline - now);
        return;
    }
    conn_destroy(c, c->state == CS_HTTP ? ETIMEDOUT : 0);
    fm_run_deferred();
}

static void conn_set_deadline(struct conn *c, uint64_t span)
{
    c->deadline = fm_now_ms() + span;
    fm_timer_schedule(&c->timer, span);
}

/* Keep only a message whose frames are partly out (cutting it would break
   the framing); our close frame follows it. Staged frames, whole and
   ahead of the queue, all stay. c->lock held. */
static void conn_trim_output(struct conn *c)
{
    struct fm_msg keep, m;
    bool kept = c->out_off > 0 && fm_msgq_pop(&c->outq, &keep);
    while (fm_msgq_pop(&c->outq, &m))
        fm_msg_term(&m);
    if (kept && fm_msgq_push(&c->outq, &keep) != 0) {
        fm_msg_term(&keep);
        c->broken = true;
    }
    if (!kept)
        c->out_off = 0;
}

/* Move to the closing states with our close frame (status code, or none
   when code < 0) last in the output; err != 0 counts a loss. */
static void conn_closing(struct conn *c, int code, int err)
{
    conn_lose(c, err);
    pthread_mutex_lock(&c->lock);
    conn_trim_output(c);
    uint8_t pl[2] = {(uint8_t) (code >> 8), (uint8_t) code};
    c->tail_len = control_frame(c, c->tail, WS_OP_CLOSE, pl, code < 0 ? 0 : 2);
    c->tail_off = 0;
    c->state = CS_LINGER;
    c->rx_paused = false;
    if (conn_flush(c) != 0)
        c->broken = true;
    if (!conn_pending(c) && !c->broken) {
        c->state = CS_DRAIN;
        shutdown(c->fd, SHUT_WR);
    }
    conn_update_events(c);
    pthread_mutex_unlock(&c->lock);
    conn_set_deadline(c, CLOSE_WAIT_MS);
}

/* Refuse an upgrade request with an HTTP error, then close. */
static void conn_refuse(struct conn *c, int status, const char *why)
{
    pthread_mutex_lock(&c->lock);
    c->pre_len = ws_http_refusal((char *) c->pre, sizeof(c->pre), status, why);
    c->pre_off = 0;
    c->state = CS_LINGER;
    if (conn_flush(c) != 0)
        c->broken = true;
    if (!conn_pending(c) && !c->broken) {
        c->state = CS_DRAIN;
        shutdown(c->fd, SHUT_WR);
    }
    conn_update_events(c);
    pthread_mutex_unlock(&c->lock);
    conn_set_deadline(c, CLOSE_WAIT_MS);
}

static bool conn_deliver(struct conn *c, struct fm_msg *m)
{
    return fm_pipe_deliver(c->pipe, m) == FM_PIPE_FULL;
}

/* The inbound queue is full: stop reading unless it drained meanwhile
   (false: go on). Frames left in rbuf wait for conn_inq_space. */
static bool conn_pause(struct conn *c)
{
    pthread_mutex_lock(&c->lock);
    pthread_mutex_lock(&c->pipe->inq_lock);
    bool full = c->pipe->inq_full;
    pthread_mutex_unlock(&c->pipe->inq_lock);
    bool paused = full && c->state == CS_ACTIVE;
    if (paused) {
        c->rx_paused = true;
        c->rx_backlog = c->rx_held;
        conn_update_events(c);
    }
    pthread_mutex_unlock(&c->lock);
    return paused;
}

/* The handshake succeeded: the connection serves its endpoint. */
static int conn_established(struct conn *c, int peer)
{
    struct wsep *e = c->sep;
    fm_timer_cancel(&c->timer);
    uint8_t *grown = realloc(c->rbuf, RBUF_SIZE);
    if (!grown)
        return ENOMEM;
    c->rbuf = grown;
    c->rcap = RBUF_SIZE;
    pthread_mutex_lock(&c->lock);
    c->state = CS_ACTIVE; /* before attach: the protocol may send at once */
    pthread_mutex_unlock(&c->lock);
    fm_stat_add(e->sock, c->server ? FM_STAT_ACCEPTED : FM_STAT_ESTABLISHED, 1);
    fm_stat_add(e->sock, FM_STAT_CURRENT_CONNECTIONS, 1);
    c->counted = true;
    fm_ep_clear_error(e->ep);
    int rc = fm_pipe_attach(c->pipe, peer);
    if (rc)
        return -rc;
    c->attached = true;
    if (!c->server)
        e->ivl_cur = e->ivl_base; /* a working peer resets the backoff */
    return 0;
}

/* Continue with the bytes after the HTTP head (frames may follow it in the
   same read). */
static int conn_after_head(struct conn *c, size_t hl, bool *full)
{
    memmove(c->rbuf, c->rbuf + hl, c->rlen - hl);
    c->rlen -= hl;
    return frames_parse(c, full, false);
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

static void lsn_count(struct wsl *l, enum fm_stat which);

/* Server: a request head may be complete. */
static int server_head(struct conn *c, bool *full)
{
    /* A TLS record (0x16 opens a ClientHello) is a wss:// client at this
       ws:// address: no HTTP answer means anything to it, so it is closed
       at once and counted, not held until the handshake deadline. */
    if (c->rlen && c->rbuf[0] == 0x16) {
        lsn_count(c->lsn, FM_STAT_ACCEPT_ERRORS);
        return EPROTO;
    }
    size_t hl = ws_http_head_len((const char *) c->rbuf, c->rlen, &c->scan);
    if (!hl) {
        if (c->rlen >= c->rcap)
            conn_refuse(c, 431, NULL);
        return 0;
    }
    struct ws_http_head h;
    int status = ws_http_parse_request((const char *) c->rbuf, hl, &h);
    if (status) {
        conn_refuse(c, status, NULL);
        return 0;
    }
    const char *path, *key, *why = NULL;
    size_t plen, klen;
    ws_http_target_path(&h, &path, &plen);
    struct wsep *e = route(c->lsn, path, plen);
    if (!e || e->closing) {
        conn_refuse(c, 404, NULL);
        return 0;
    }
    status = ws_http_check_origin(&h, e->origins, &why);
    if (status) {
        /* Refused by access control: an accept that failed (never
           established, so not a dropped connection). */
        fm_stat_add(e->sock, FM_STAT_ACCEPT_ERRORS, 1);
        conn_refuse(c, status, why);
        return 0;
    }
    status = ws_http_check_upgrade(&h, e->my_name, &key, &klen, &why);
    if (status) {
        conn_refuse(c, status, why);
        return 0;
    }
    /* The client asked for our protocol: it speaks that protocol's peer. */
    const struct fm_proto *mine = fm_proto_find(sp_type_of(e->my_name, strlen(e->my_name)));
    char accept[WS_ACCEPT_LEN + 1];
    ws_accept_for(key, klen, accept);
    struct fm_pipe *p = fm_pipe_create(e->ep, &conn_ops, c);
    if (!p) {
        conn_refuse(c, 503, NULL);
        return 0;
    }
    p->inq_msg_cost = FM_MSG_OVERHEAD; /* a peer's empty messages count too */
    p->inq_resume = p->inq_limit - p->inq_limit / 4;
    c->pipe = p;
    fm_list_remove(&c->node);
    c->lsn->npending--;
    c->lsn = NULL;
    c->sep = e;
    fm_list_insert_tail(&e->conns, &c->node);
    c->msg_op = e->msg_op;
    c->sndbuf = (size_t) e->ep->sndbuf; /* now, not at nn_bind/nn_connect */
    set_kernel_buffers(e->ep, c->fd);
    pthread_mutex_lock(&c->lock);
    c->pre_len = ws_http_switching((char *) c->pre, sizeof(c->pre), accept, e->my_name);
    c->pre_off = 0;
    pthread_mutex_unlock(&c->lock);
    int err = conn_established(c, mine ? mine->peer : -1);
    if (err)
        return err;
    pthread_mutex_lock(&c->lock);
    if (conn_flush(c) != 0)
        c->broken = true;
    conn_update_events(c);
    pthread_mutex_unlock(&c->lock);
    return conn_after_head(c, hl, full);
}

/* Client: the server's answer may be complete. */
static int client_head(struct conn *c, bool *full)
{
    size_t hl = ws_http_head_len((const char *) c->rbuf, c->rlen, &c->scan);
    if (!hl)
        return c->rlen >= c->rcap ? EPROTO : 0;
    struct ws_http_head h;
    if (ws_http_parse_response((const char *) c->rbuf, hl, &h) != 0)
        return EPROTO;
    if (h.status != 101)
        return ECONNREFUSED;
    if (!ws_http_check_accept(&h, c->accept, c->sep->peer_name))
        return EPROTO;
    int err = conn_established(c, sp_type_of(c->sep->peer_name, strlen(c->sep->peer_name)));
    if (err)
        return err;
    return conn_after_head(c, hl, full);
}

/* -------------------------------------------------------- frames in */

static bool close_code_ok(unsigned code)
{
    if (code >= 3000 && code <= 4999)
        return true;
    return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

static void on_control(struct conn *c, int op, const uint8_t *pl, size_t n)
{
    if (op == WS_OP_PING) {
        pthread_mutex_lock(&c->lock);
        if (c->ctl_off == 0) /* only the latest ping needs its answer */
            c->ctl_len = control_frame(c, c->ctl, WS_OP_PONG, pl, n);
        if (conn_flush(c) != 0)
            c->broken = true;
        conn_update_events(c);
        pthread_mutex_unlock(&c->lock);
    } else if (op == WS_OP_CLOSE) {
        if (n == 1) {
            conn_closing(c, WS_CLOSE_PROTOCOL, EPROTO);
            return;
        }
        unsigned code = n ? (unsigned) (pl[0] << 8 | pl[1]) : 0;
        if (n && !close_code_ok(code)) {
            conn_closing(c, WS_CLOSE_PROTOCOL, EPROTO);
            return;
        }
        if (n > 2 && !ws_utf8_ok(pl + 2, n - 2)) {
            conn_closing(c, WS_CLOSE_BAD_DATA, EPROTO);
            return;
        }
        /* Answer with the peer's code, as RFC 6455 suggests. */
        conn_closing(c, n ? (int) code : -1, ECONNRESET);
    }
    /* A pong answers nothing we asked: ignored. */
}

/* A whole message arrived. */
static void on_message(struct conn *c, struct fm_msg *m, int op, bool *full)
{
    if (op == WS_OP_TEXT && !ws_utf8_ok(fm_msg_body(m), fm_msg_size(m))) {
        fm_msg_term(m);
        conn_closing(c, WS_CLOSE_BAD_DATA, EPROTO);
        return;
    }
    *full |= conn_deliver(c, m);
}

/* Make room for total bytes in the message being assembled. */
/* Make room for total bytes in the message being assembled, which may
   grow to most. */
static int partial_grow(struct conn *c, size_t total, size_t most)
{
    if (!c->partial.body) {
        fm_msg_term(&c->partial);
        return fm_msg_init_upto(&c->partial, total, most);
    }
    return fm_msg_body_resize(&c->partial, total);
}

/* Bytes the kernel holds for us (a hint: 0 when it cannot say). */
static size_t kernel_has(int fd)
{
    int n = 0;
    return ioctl(fd, FIONREAD, &n) == 0 && n > 0 ? (size_t) n : 0;
}

/* Room for the next bytes of a big frame, whose payload ends at partial_len +
   big_left (have of them are in rbuf). A length is not paid for before
   its bytes come: the message grows with what is here and what the kernel
   holds (at least BODY_STEP, at least doubling, in place when a kept
   chunk has the room), so an honest frame that is all there is read into
   place in one allocation, a slower one at amortised O(1) copies, and at
   the frame's end the body is exactly partial_len bytes again. */
static int partial_reserve(struct conn *c, size_t have)
{
    size_t end = c->partial_len + c->big_left, cap = fm_msg_size(&c->partial);
    size_t want = c->partial_len + have + kernel_has(c->fd);
    if (want < 2 * cap)
        want = 2 * cap;
    if (want < BODY_STEP)
        want = BODY_STEP;
    if (want > end)
        want = end;
    return want > cap ? partial_grow(c, want, end) : 0;
}

static void partial_finish(struct conn *c, bool *full)
{
    struct fm_msg m;
    fm_msg_move(&m, &c->partial);
    c->partial_len = 0;
    c->frag_open = false;
    on_message(c, &m, c->frag_op, full);
}

static void copy_in(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t *key)
{
    if (key)
        ws_mask(dst, src, n, key, 0);
    else if (n)
        memcpy(dst, src, n);
}

/* Cut complete frames out of rbuf; a large frame's payload then goes
   straight into its message (big_left). */
static int frames_parse(struct conn *c, bool *full, bool past_full)
{
    size_t pos = 0;
    c->rx_held = false;
    while (c->state == CS_ACTIVE && !c->big_left) {
        if (*full && !past_full) {
            /* The rest waits in rbuf until the queue has room, so a pipe's
               queue holds at most NN_RCVBUF and one message more. */
            c->rx_held = c->rlen > pos;
            break;
        }
        const uint8_t *b = c->rbuf + pos;
        size_t avail = c->rlen - pos;
        if (avail < 2)
            break;
        bool fin = b[0] & 0x80, masked = b[1] & 0x80;
        int op = b[0] & 0x0F;
        unsigned len7 = b[1] & 0x7F;
        if ((b[0] & 0x70) || (op > WS_OP_BINARY && op < WS_OP_CLOSE) || op > WS_OP_PONG ||
            masked != c->server) {
            /* No extension was agreed, so no reserved bit; clients mask,
               servers do not. */
            conn_closing(c, WS_CLOSE_PROTOCOL, EPROTO);
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
            conn_closing(c, WS_CLOSE_PROTOCOL, EPROTO);
            break;
        }
        const uint8_t *key = masked ? b + hl - 4 : NULL, *pl = b + hl;
        size_t have = avail - hl;
        if (op & 8) {
            if (!fin || plen > WS_CONTROL_MAX) {
                conn_closing(c, WS_CLOSE_PROTOCOL, EPROTO);
                break;
            }
            if (have < plen)
                break;
            uint8_t cp[WS_CONTROL_MAX];
            copy_in(cp, pl, (size_t) plen, key);
            pos += hl + (size_t) plen;
            on_control(c, op, cp, (size_t) plen);
            continue;
        }
        if ((op == WS_OP_CONT) != c->frag_open) {
            conn_closing(c, WS_CLOSE_PROTOCOL, EPROTO);
            break;
        }
        uint64_t total = (op == WS_OP_CONT ? c->partial_len : 0) + plen;
        if (total > fm_sock_rcvmax(c->pipe->sock) || total > SIZE_MAX / 2) {
            /* Refused before a byte of it is buffered. */
            conn_closing(c, WS_CLOSE_TOO_BIG, EMSGSIZE);
            break;
        }
        if (op != WS_OP_CONT)
            c->frag_op = op;
        if (have >= plen) {
            pos += hl + (size_t) plen;
            if (fin && op != WS_OP_CONT) {
                struct fm_msg m;
                if (fm_msg_init(&m, (size_t) plen) != 0) {
                    conn_closing(c, WS_CLOSE_INTERNAL, ENOMEM);
                    break;
                }
                copy_in(fm_msg_body(&m), pl, (size_t) plen, key);
                on_message(c, &m, op, full);
                continue;
            }
            if (partial_grow(c, (size_t) total, (size_t) total) != 0) {
                conn_closing(c, WS_CLOSE_INTERNAL, ENOMEM);
                break;
            }
            copy_in(fm_msg_body(&c->partial) + c->partial_len, pl, (size_t) plen, key);
            c->partial_len = (size_t) total;
            if (fin)
                partial_finish(c, full);
            else
                c->frag_open = true;
            continue;
        }
        if (plen < DIRECT_MIN)
            break; /* the rest comes into rbuf */
        c->big_left = (size_t) plen;
        if (partial_reserve(c, have) != 0) {
            c->big_left = 0;
            conn_closing(c, WS_CLOSE_INTERNAL, ENOMEM);
            break;
        }
        copy_in(fm_msg_body(&c->partial) + c->partial_len, pl, have, key);
        c->partial_len += have;
        c->big_left = (size_t) plen - have;
        c->big_fin = fin;
        c->big_masked = masked;
        if (key)
            memcpy(c->big_key, key, 4);
        c->big_phase = have & 3;
        pos = c->rlen;
    }
    if (c->state <= CS_ACTIVE && pos) {
        memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
        c->rlen -= pos;
    }
    return 0;
}

/* Read what the kernel has, until the inbound queue is full. past_full:
   the peer is gone and what it sent is bounded by the kernel's buffer:
   deliver it all (a hang-up seen while paused must not fire for ever). 0,
   or the errno that ends the connection. */
static int conn_read(struct conn *c, bool past_full)
{
    bool full = false, got = false;
    for (int round = 0; round < READ_BUDGET; round++) {
        if (c->rx_held && c->state == CS_ACTIVE) {
            /* Frames a full queue left in rbuf come first. */
            int err = frames_parse(c, &full, past_full);
            if (err)
                return err;
        }
        if (full && !past_full) {
            if (conn_pause(c))
                return 0;
            full = false; /* the receiver made room meanwhile */
            continue;
        }
        full = false;
        if (c->state >= CS_LINGER) {
            /* Closing: read only to let the peer's FIN in. */
            uint8_t junk[4096];
            ssize_t n = read(c->fd, junk, sizeof(junk));
            if (n == 0)
                return ECONNRESET;
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno;
            }
            continue;
        }
        uint8_t *dst;
        size_t room;
        if (c->big_left) {
            if (fm_msg_size(&c->partial) == c->partial_len && partial_reserve(c, 0) != 0)
                return ENOMEM;
            dst = fm_msg_body(&c->partial) + c->partial_len;
            room = fm_msg_size(&c->partial) - c->partial_len;
        } else {
            if (!c->rbuf) {
                size_t cap = c->state == CS_HTTP ? WS_HTTP_MAX : RBUF_SIZE;
                if (!(c->rbuf = malloc(cap)))
                    return ENOMEM;
                c->rcap = cap;
                conn_arm_idle(c);
            }
            c->rx_reads++;
            dst = c->rbuf + c->rlen;
            room = c->rcap - c->rlen;
            if (!room)
                return EPROTO;
        }
        ssize_t n = read(c->fd, dst, room);
        if (n == 0)
            return ECONNRESET; /* the peer left; a partial message is lost */
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return errno;
            break;
        }
        int err = 0;
        got = true;
        if (c->big_left) {
            if (c->big_masked)
                c->big_phase = ws_mask(dst, dst, (size_t) n, c->big_key, c->big_phase);
            c->partial_len += (size_t) n;
            c->big_left -= (size_t) n;
            if (!c->big_left) {
                if (c->big_fin)
                    partial_finish(c, &full);
                else
                    c->frag_open = true;
            }
        } else {
            c->rlen += (size_t) n;
            if (c->state == CS_HTTP)
                err = c->server ? server_head(c, &full) : client_head(c, &full);
            else
                err = frames_parse(c, &full, past_full);
        }
        if (err)
            return err;
        if (c->state >= CS_LINGER)
            conn_drop_input(c);
        if ((size_t) n < room)
            break; /* a short read: the kernel buffer is empty */
    }
    if (got && c->state == CS_ACTIVE && conn_rx_partial(c))
        conn_watch_stall(c);
    if (full && c->state == CS_ACTIVE && conn_pause(c))
        return 0;
    if (c->state == CS_ACTIVE && c->rx_held && kernel_has(c->fd) == 0) {
        /* Frames a queue that was full, but is no more, left in rbuf, and
           nothing in the kernel to raise an event: back to them after the
           other connections. (Not while the kernel has more: a post that
           posted itself again would keep the loop from them.) */
        pthread_mutex_lock(&c->lock);
        conn_post_rx(c);
        pthread_mutex_unlock(&c->lock);
    }
    return 0;
}

/* Cut what a pause or the read budget left in rbuf, and read on. */
static void conn_rx_task(void *arg)
{
    struct fm_pipe *p = arg;
    struct conn *c = p->tdata;
    pthread_mutex_lock(&c->lock);
    c->rx_posted = false;
    bool ok = c->state == CS_ACTIVE && !c->broken && !c->rx_paused;
    pthread_mutex_unlock(&c->lock);
    int err = ok ? conn_read(c, false) : 0;
    if (err)
        conn_destroy(c, err);
    fm_run_deferred();
    fm_pipe_unref(p);
}

static void conn_on_event(struct fm_watch *w, uint32_t ev)
{
    struct conn *c = w->arg;
    int err = 0;
    bool writable = false, flushed = false;
    pthread_mutex_lock(&c->lock);
    bool paused = c->rx_paused;
    if (c->broken)
        err = ECONNRESET;
    else if ((ev & (FM_EV_OUT | FM_EV_ERR | FM_EV_HUP)) && conn_pending(c))
        err = -conn_flush(c);
    if (!err) {
        if (c->out_full && conn_unsent(c) <= c->sndbuf / 2) {
            c->out_full = false;
            writable = true;
        }
        if (c->state == CS_LINGER && !conn_pending(c)) {
            c->state = CS_DRAIN;
            shutdown(c->fd, SHUT_WR);
            flushed = true;
        }
        conn_update_events(c);
    }
    pthread_mutex_unlock(&c->lock);
    if (flushed) {
        /* nn_close goes on waiting: for the peer's close, the proof that it
           took everything (see stream.c), bounded as the linger says. */
        if (c->deadline > fm_now_ms() + DRAIN_MAX_MS)
            conn_set_deadline(c, DRAIN_MAX_MS);
    }
    if (writable && c->attached)
        fm_pipe_writable(c->pipe);
    if (!err && (ev & (FM_EV_ERR | FM_EV_HUP)))
        err = conn_read(c, paused);
    else if (!err && (ev & FM_EV_IN) && !paused)
        err = conn_read(c, false);
    if (!err && c->attached) {
        /* Reading can flush too (the 101 after a handshake, a pong), and
           empty a queue that had said FM_PIPE_FULL: no FM_EV_OUT follows. */
        pthread_mutex_lock(&c->lock);
        writable = c->out_full && conn_unsent(c) <= c->sndbuf / 2;
        if (writable)
            c->out_full = false;
        pthread_mutex_unlock(&c->lock);
        if (writable)
            fm_pipe_writable(c->pipe);
    }
    if (err)
        conn_destroy(c, err);
    fm_run_deferred();
}

/* The endpoint closes. An active connection with output queued flushes it
   for up to NN_LINGER ms, then says goodbye with a close frame, shuts its
   write side and waits for the peer's close; the closing thread waits for
   that end too (conn_destroy), NN_LINGER ms at most, as stream.c's
   connections do and for the same reason. */
static void conn_let_go(struct conn *c, struct wsep *e)
{
    fm_list_remove(&c->node);
    c->sep = NULL;
    if (c->counted) {
        c->counted = false;
        fm_stat_add(e->sock, FM_STAT_CURRENT_CONNECTIONS, -1);
        fm_stat_add(e->sock, FM_STAT_DROPPED, 1); /* as stock: we ended it */
    }
    if (c->state != CS_ACTIVE) {
        conn_destroy(c, 0);
        return;
    }
    conn_forget(c);
    conn_drop_input(c);
    uint8_t pl[2] = {WS_CLOSE_NORMAL >> 8, WS_CLOSE_NORMAL & 0xFF};
    pthread_mutex_lock(&c->lock);
    bool queued = conn_pending(c) && !c->broken;
    c->tail_len = control_frame(c, c->tail, WS_OP_CLOSE, pl, 2);
    c->tail_off = 0;
    if (!queued || e->linger == 0) {
        /* Nothing (or no time) to flush: the close frame, if the kernel
           takes it now, and the message in progress is cut off. */
        if (!queued && !c->broken)
            send_part(c->fd, c->tail, c->tail_len, &c->tail_off);
        bool said = c->tail_off == c->tail_len;
        pthread_mutex_unlock(&c->lock);
        if (!said || e->linger == 0) {
            conn_destroy(c, 0);
            return;
        }
        pthread_mutex_lock(&c->lock);
        c->state = CS_DRAIN;
        shutdown(c->fd, SHUT_WR);
        c->rx_paused = false;
        conn_update_events(c);
        pthread_mutex_unlock(&c->lock);
        /* What went out before, straight from senders, may still be in
           the kernels: the closing thread waits for the peer's close. */
        c->linger_sep = e;
        pthread_mutex_lock(&e->lock);
        e->lingering++;
        pthread_mutex_unlock(&e->lock);
        bool capped = e->linger < 0 || e->linger > DRAIN_MAX_MS;
        conn_set_deadline(c, capped ? DRAIN_MAX_MS : (uint64_t) e->linger);
        return;
    }
    c->state = CS_LINGER;
    c->linger_sep = e;
    c->rx_paused = false;
    conn_update_events(c);
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_lock(&e->lock);
    e->lingering++;
    pthread_mutex_unlock(&e->lock);
    conn_set_deadline(c, e->linger < 0 ? UINT64_MAX / 4 : (uint64_t) e->linger);
}

/* -------------------------------------------------------- listeners */

static void lsn_on_pause(void *arg)
{
    struct wsl *l = arg;
    if (l->fd >= 0)
        fm_watch_set(&l->watch, FM_EV_IN);
}

/* Count one event on every endpoint served by the listener (an unrouted
   connection belongs to none of them yet). */
static void lsn_count(struct wsl *l, enum fm_stat which)
{
    pthread_mutex_lock(&registry_lock);
    for (struct fm_list *n = l->eps.next; n != &l->eps; n = n->next)
        fm_stat_add(FM_CONTAINER(n, struct wsep, lnode)->sock, which, 1);
    pthread_mutex_unlock(&registry_lock);
}

/* Close the handshake that has waited longest, if any. The oldest has had
   the longest to finish: an honest client completes its request in a round
   trip, so what still waits at the front is most likely a peer that stalls
   on purpose. */
static bool lsn_evict_oldest(struct wsl *l)
{
    assert(fm_loop_is_current(ws_loop()));
    if (fm_list_empty(&l->pending))
        return false;
    conn_destroy(FM_CONTAINER(l->pending.next, struct conn, node), 0);
    lsn_count(l, FM_STAT_ACCEPT_ERRORS); /* never established: not "dropped" */
    return true;
}

static void lsn_accept_one(struct wsl *l, int fd)
{
    if (l->npending >= HS_PENDING_MAX)
        lsn_evict_oldest(l);
    struct conn *c = conn_new(fd, true);
    if (!c) {
        close(fd);
        return;
    }
    c->lsn = l;
    fm_list_insert_tail(&l->pending, &c->node);
    l->npending++;
    tune(fd);
    int rc = fm_watch_add(&c->watch, ws_loop(), fd, FM_EV_IN, conn_on_event, c);
    if (rc) {
        conn_destroy(c, 0);
        return;
    }
    conn_set_deadline(c, HS_TIMEOUT_MS);
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
                fm_stat_add(e->sock, FM_STAT_ACCEPT_ERRORS, 1);
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

/* ---------------------------------------------------------- connector */

static void sep_connect_failed(struct wsep *e, int err)
{
    fm_stat_add(e->sock, FM_STAT_CONNECT_ERRORS, 1);
    fm_ep_report_error(e->ep, err);
    sep_schedule_retry(e);
}

/* TCP is up: send the upgrade request. */
static void client_start(struct wsep *e, int fd)
{
    struct conn *c = conn_new(fd, false);
    struct fm_pipe *p = c ? fm_pipe_create(e->ep, &conn_ops, c) : NULL;
    if (!p) {
        if (c)
            conn_free_mem(c);
        close(fd);
        sep_connect_failed(e, ENOMEM);
        return;
    }
    p->inq_msg_cost = FM_MSG_OVERHEAD;
    p->inq_resume = p->inq_limit - p->inq_limit / 4;
    c->pipe = p;
    c->msg_op = e->msg_op;
    c->sndbuf = (size_t) e->ep->sndbuf; /* now, not at nn_bind/nn_connect */
    c->sep = e;
    fm_list_insert_tail(&e->conns, &c->node);
    e->active = c;
    uint8_t nonce[16];
    for (int i = 0; i < 16; i += 4)
        fm_put_u32(nonce + i, rng32());
    char key[WS_KEY_LEN + 1];
    ws_base64(nonce, sizeof(nonce), key);
    ws_accept_for(key, WS_KEY_LEN, c->accept);
    c->pre_len = ws_http_request((char *) c->pre, sizeof(c->pre), e->path, e->host, key,
                                 e->peer_name);
    int rc = fm_watch_add(&c->watch, ws_loop(), fd, FM_EV_IN, conn_on_event, c);
    if (rc) {
        conn_destroy(c, -rc);
        return;
    }
    pthread_mutex_lock(&c->lock);
    if (conn_flush(c) != 0)
        c->broken = true;
    conn_update_events(c);
    pthread_mutex_unlock(&c->lock);
    conn_set_deadline(c, HS_TIMEOUT_MS);
}

static void sep_on_connect(struct fm_watch *w, uint32_t ev)
{
    struct wsep *e = w->arg;
    (void) ev;
    int fd = e->cfd, err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == EINPROGRESS)
        return;
    fm_watch_del(&e->cwatch);
    e->cfd = -1;
    fm_stat_add(e->sock, FM_STAT_INPROGRESS, -1);
    if (err) {
        close(fd);
        sep_connect_failed(e, err);
    } else {
        client_start(e, fd);
    }
    fm_run_deferred();
}

static void sep_dial(struct wsep *e, const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        sep_connect_failed(e, errno);
        return;
    }
    const struct fm_stream_target *t = &e->target;
    if (t->local_len && bind(fd, (const struct sockaddr *) &t->local, t->local_len) != 0) {
        int err = errno;
        close(fd);
        sep_connect_failed(e, err);
        return;
    }
    set_kernel_buffers(e->ep, fd);
    tune(fd);
    if (connect(fd, sa, len) == 0) {
        client_start(e, fd);
        return;
    }
    int err = errno;
    if (err == EINPROGRESS) {
        int rc = fm_watch_add(&e->cwatch, ws_loop(), fd, FM_EV_OUT, sep_on_connect, e);
        if (rc == 0) {
            e->cfd = fd;
            fm_stat_add(e->sock, FM_STAT_INPROGRESS, 1);
            return;
        }
        err = -rc;
    }
    close(fd);
    sep_connect_failed(e, err);
}

/* Name resolution on a short-lived helper thread, as stream.c does it:
   neither nn_connect nor the loop waits for a slow resolver. */
#define RESOLVE_MAX 8

struct resolve {
    struct wsep *sep; /* loop thread; NULL once the endpoint is gone */
    char host[256];
    char port[8];
    int family;
    int count;
    struct sockaddr_storage addr[RESOLVE_MAX];
    socklen_t len[RESOLVE_MAX];
};

static void resolve_done(void *arg)
{
    struct resolve *r = arg;
    struct wsep *e = r->sep;
    if (e) {
        e->resolving = NULL;
        if (r->count == 0) {
            sep_connect_failed(e, EHOSTUNREACH);
        } else {
            int i = (int) (e->attempts++ % (unsigned) r->count);
            sep_dial(e, (struct sockaddr *) &r->addr[i], r->len[i]);
        }
        fm_run_deferred();
    }
    free(r);
}

static void *resolve_main(void *arg)
{
    struct resolve *r = arg;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = r->family;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(r->host, r->port, &hints, &res) == 0) {
        for (struct addrinfo *a = res; a && r->count < RESOLVE_MAX; a = a->ai_next)
            if (a->ai_addrlen <= sizeof(r->addr[0]) &&
                (a->ai_family == AF_INET || a->ai_family == AF_INET6)) {
                memcpy(&r->addr[r->count], a->ai_addr, a->ai_addrlen);
                r->len[r->count++] = a->ai_addrlen;
            }
        freeaddrinfo(res);
    }
    fm_loop_post(ws_loop(), resolve_done, r);
    return NULL;
}

static void resolve_start(struct wsep *e)
{
    struct resolve *r = calloc(1, sizeof(*r));
    if (!r) {
        sep_connect_failed(e, ENOMEM);
        return;
    }
    r->sep = e;
    snprintf(r->host, sizeof(r->host), "%s", e->target.host);
    snprintf(r->port, sizeof(r->port), "%u", (unsigned) e->target.port);
    r->family = e->target.family;
    e->resolving = r;
    pthread_attr_t attr;
    pthread_t th;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, resolve_main, r);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        e->resolving = NULL;
        free(r);
        sep_connect_failed(e, rc);
    }
}

static void sep_attempt(struct wsep *e)
{
    if (e->closing || e->active || e->cfd >= 0 || e->resolving)
        return;
    if (e->target.host[0])
        resolve_start(e);
    else
        sep_dial(e, (const struct sockaddr *) &e->target.remote, e->target.remote_len);
}

static void sep_on_retry(void *arg)
{
    sep_attempt(arg);
    fm_run_deferred();
}

static void sep_schedule_retry(struct wsep *e)
{
    if (e->closing)
        return;
    int delay = e->ivl_cur;
    if (e->ivl_max > e->ivl_base) {
        int next = e->ivl_cur > e->ivl_max / 2 ? e->ivl_max : e->ivl_cur * 2;
        e->ivl_cur = next > 0 ? next : 1;
    }
    fm_timer_schedule(&e->retry, delay > 0 ? (uint64_t) delay : 1);
}

/* The NN_WS options of a socket, copied on write (see fm_tpobj); set and
   read in the options section at the end. */
struct ws_opts {
    struct fm_tpobj base;
    int msg_type;
    char *origins; /* normalised: entries separated by one space; NULL: off */
};

/* ---------------------------------------------------------- endpoints */

static struct wsep *sep_new(struct fm_ep *ep)
{
    struct wsep *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->ep = ep;
    e->sock = ep->sock;
    e->cfd = -1;
    fm_list_init(&e->conns);
    fm_list_init(&e->lnode);
    fm_timer_init(&e->retry, ws_loop(), sep_on_retry, e);
    e->ivl_base = ep->reconnect_ivl;
    e->ivl_max = ep->reconnect_ivl_max;
    e->ivl_cur = e->ivl_base;
    const struct ws_opts *o = (const struct ws_opts *) ep->tpobj;
    e->msg_op = o && o->msg_type == NN_WS_MSG_TYPE_TEXT ? WS_OP_TEXT : WS_OP_BINARY;
    if (o && o->origins && !(e->origins = strdup(o->origins))) {
        free(e);
        return NULL;
    }
    int type = fm_sock_type(ep->sock);
    const struct fm_proto *mine = fm_proto_find(type);
    sp_name(type, e->my_name);
    sp_name(mine ? mine->peer : type, e->peer_name);
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->cond, NULL);
    return e;
}

static void sep_free(struct wsep *e)
{
    free(e->origins);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->cond);
    free(e);
}

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

static const char *addr_of(struct fm_ep *ep) { return ep->addr + strlen("ws://"); }

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
    struct wsep *e = sep_new(ep);
    if (!e)
        return -ENOMEM;
    snprintf(e->path, sizeof(e->path), "%s", path);

    pthread_mutex_lock(&registry_lock);
    struct wsl *l = NULL;
    for (struct fm_list *n = listeners.next; n != &listeners; n = n->next) {
        struct wsl *x = FM_CONTAINER(n, struct wsl, node);
        if (same_addr(&x->key, &ss)) {
            l = x;
            break;
        }
    }
    if (l) {
        for (struct fm_list *n = l->eps.next; n != &l->eps; n = n->next)
            if (strcmp(FM_CONTAINER(n, struct wsep, lnode)->path, e->path) == 0) {
                pthread_mutex_unlock(&registry_lock);
                sep_free(e);
                return -EADDRINUSE;
            }
    } else {
        l = calloc(1, sizeof(*l));
        struct sockaddr_storage bound = ss;
        socklen_t blen = len;
        int fd = l ? fm_tcp_listen(&bound, &blen, any, ep->ipv4only) : -ENOMEM;
        if (fd < 0) {
            pthread_mutex_unlock(&registry_lock);
            free(l);
            sep_free(e);
            return fd;
        }
        l->key = ss;
        l->key_len = len;
        l->fd = fd;
        fm_list_init(&l->eps);
        fm_list_init(&l->pending);
        fm_timer_init(&l->pause, ws_loop(), lsn_on_pause, l);
        set_kernel_buffers(ep, fd);
        rc = fm_watch_add(&l->watch, ws_loop(), fd, FM_EV_IN, lsn_on_accept, l);
        if (rc) {
            pthread_mutex_unlock(&registry_lock);
            close(fd);
            free(l);
            sep_free(e);
            return rc;
        }
        fm_list_insert_tail(&listeners, &l->node);
    }
    e->lsn = l;
    fm_list_insert_tail(&l->eps, &e->lnode);
    ep->tdata = e;
    pthread_mutex_unlock(&registry_lock);
    return 0;
}

static void sep_start_task(void *arg)
{
    sep_attempt(arg);
    fm_run_deferred();
}

static int ws_connect(struct fm_ep *ep)
{
    char hp[NN_SOCKADDR_MAX + 8], path[PATH_MAX_LEN];
    int rc = split_path(addr_of(ep), hp, NN_SOCKADDR_MAX + 1, path, false);
    if (rc)
        return rc;
    /* The port may be left out: 80, as for HTTP. */
    const char *colon = strrchr(hp, ':'), *bracket = strrchr(hp, ']');
    bool has_port = colon && (!bracket || colon > bracket);
    const char *semi = strchr(hp, ';');
    const char *host = semi ? semi + 1 : hp;
    if (has_port && colon < host)
        has_port = false;
    struct fm_stream_target t;
    char full[NN_SOCKADDR_MAX + 8];
    int flen = snprintf(full, sizeof(full), "%s%s", hp, has_port ? "" : ":80");
    if (flen < 0 || (size_t) flen > NN_SOCKADDR_MAX)
        return -EINVAL;
    rc = fm_tcp_parse_connect(full, ep->ipv4only, &t);
    if (rc)
        return rc;
    struct wsep *e = sep_new(ep);
    if (!e)
        return -ENOMEM;
    e->target = t;
    snprintf(e->path, sizeof(e->path), "%s", path);
    snprintf(e->host, sizeof(e->host), "%s", host);
    ep->tdata = e;
    fm_loop_post(ws_loop(), sep_start_task, e);
    return 0;
}

static void sep_close_task(void *arg)
{
    struct wsep *e = arg;
    e->closing = true;
    struct wsl *l = e->lsn, *gone = NULL;
    if (l) {
        pthread_mutex_lock(&registry_lock);
        fm_list_remove(&e->lnode);
        if (fm_list_empty(&l->eps)) {
            /* The last endpoint on this address: the port is free again
               before a new nn_bind can look for it. */
            fm_list_remove(&l->node);
            fm_watch_del(&l->watch);
            close(l->fd);
            l->fd = -1;
            gone = l;
        }
        pthread_mutex_unlock(&registry_lock);
        e->lsn = NULL;
    }
    if (gone) {
        fm_timer_cancel(&gone->pause);
        while (!fm_list_empty(&gone->pending))
            conn_destroy(FM_CONTAINER(gone->pending.next, struct conn, node), 0);
        free(gone);
    }
    fm_timer_cancel(&e->retry);
    if (e->cfd >= 0) {
        fm_watch_del(&e->cwatch);
        close(e->cfd);
        e->cfd = -1;
        fm_stat_add(e->sock, FM_STAT_INPROGRESS, -1);
    }
    if (e->resolving) {
        e->resolving->sep = NULL;
        e->resolving = NULL;
    }
    e->active = NULL;
    while (!fm_list_empty(&e->conns))
        conn_let_go(FM_CONTAINER(e->conns.next, struct conn, node), e);
    fm_run_deferred();
    pthread_mutex_lock(&e->lock);
    e->close_done = true;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

static void ws_close(struct fm_ep *ep)
{
    struct wsep *e = ep->tdata;
    if (!e)
        return;
    fm_sock_lock(ep->sock);
    e->linger = fm_sock_opt_int(ep->sock, NN_LINGER);
    fm_sock_unlock(ep->sock);
    fm_loop_post(ws_loop(), sep_close_task, e);
    pthread_mutex_lock(&e->lock);
    while (!e->close_done || e->lingering > 0)
        pthread_cond_wait(&e->cond, &e->lock);
    pthread_mutex_unlock(&e->lock);
    sep_free(e);
    ep->tdata = NULL;
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
