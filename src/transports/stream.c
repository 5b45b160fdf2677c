/* stream.c: the connection engine of the byte-stream transports (tcp://,
   ipc://, tls+tcp://, ws://, wss://): listening and connecting endpoints,
   the opening exchange, the send and receive paths with their
   backpressure, reconnection with backoff, linger, statistics. What the
   bytes mean is the framer's (struct fm_stream_framer, stream.h:
   sp_framer.c for SP, ws_framer.c for WebSocket); where they come from and
   go is the descriptor's, or a session's (struct fm_stream_session_ops:
   tls.c). A framer may also ask for control replies (ws pong: written
   between messages), a goodbye (ws close frame: after everything queued
   when the endpoint lets the connection go) and a last word of its own
   (bye: a ws close frame after a breach, with the output trimmed to the
   message partly out; the connection then only waits briefly for the
   peer to go).

   A connection's life: the endpoint accepts or connects a descriptor
   (conn_start), both sides write their opening (the framer's open: the
   8-byte SP header) and wait up to HS_TIMEOUT_MS for the peer's (greet),
   the peer's protocol is offered to the socket (fm_pipe_attach), then
   messages flow as the framer lays them out (SP: <size: 8 bytes BE>
   <payload>, ipc with a 0x01 type byte in front of each). Any breach of
   that drops the connection alone; a connecting endpoint then dials again
   after NN_RECONNECT_IVL, doubling up to NN_RECONNECT_IVL_MAX.

   Send path: the sending thread (holding its socket lock) writes the whole
   frame with one sendmsg() straight to the kernel when nothing is queued
   before it; only what the kernel does not take is queued, and the loop
   thread writes it out on FM_EV_OUT. Past NN_SNDBUF queued bytes the pipe
   answers FM_PIPE_FULL and says fm_pipe_writable once half drained. While
   the application streams to this connection (fm_pipe_burst: this nn_send
   follows the last one within a microsecond or so, and the connection had
   one of the last few) small frames are instead copied into a
   staging buffer, written by the sender when it is full and by the loop
   thread on FM_EV_OUT otherwise: one system call per buffer, not per
   message, made without c->lock (conn_flush). A lone message (request,
   reply) still goes out at once. A sender that finds output queued writes
   what the kernel takes of it before queueing its own. A message sent to
   many pipes at once (fm_sock_fanout: PUB, BUS with FM_FANOUT_MIN peers or
   more) is staged or queued for every one of them and written by their
   loops, a batch per connection and wake-up; the sender writes only what
   reaches NN_SNDBUF before the loop does.

   Receive path (the connection's loop, or another reader: see below):
   read up to RBUF_SIZE bytes at a time into a per-connection buffer and
   cut every complete message out of it (the framer's parse); a message of
   FM_STREAM_DIRECT_MIN bytes or more is read straight into its own body,
   which grows as its bytes arrive (an announced size is not paid for up
   front). When the pipe's inbound queue is full (NN_RCVBUF, each message counting FM_MSG_OVERHEAD
   more than its bytes) cutting and reading stop (FM_EV_IN off, and a
   session is not read on other events either) until ops->inq_space (the
   queue fell below three quarters), where the thread whose nn_recv made
   room reads on itself: what was left in rbuf or in the session (no event
   would announce it), then the kernel, until the queue is full again
   (FM_EV_IN stays off) or the kernel is drained (FM_EV_IN back on). Only if
   another thread is reading the connection at that moment does the loop
   take over (conn_rx_task). A connection quiet for IDLE_MS gives its read
   and staging buffers back (conn_on_idle); a busy one keeps them. A peer
   that leaves a message unfinished and sends nothing for fm_rx_stall_ms()
   (FM_RX_STALL_MS, 30 s) while we are willing to read is dropped: a read
   that leaves part of a message notes the time, and one coarse timer per
   interval compares. The loop reads, except while reading is paused
   (above) or a thread blocked in nn_recv has claimed the connection
   (ops->rx_claim): the loop then drops FM_EV_IN and that thread polls the
   descriptor and reads itself, so a reply costs one wake-up instead of
   two (loop thread, then receiver). That thread may hand it back idle
   (rx_idle): FM_EV_IN stays off, only the peer's close is watched, until
   ops->rx_watch or conn_on_idle, so a receiver back for the next message
   claims it without an epoll_ctl either way. Whoever reads holds
   c->rx_lock. A
   connection with a session layer (TLS) is never claimed: the session
   may hold decrypted input that a poll on the descriptor cannot see.

   Closing (nn_close, nn_shutdown): the socket forgets the endpoint's pipes
   at once, but with NN_LINGER non-zero each connection stays open on the
   loop: it writes out what is queued, shuts its write side, and reads
   (discarding) until the peer closes in turn; the closing thread waits for
   that, or NN_LINGER ms. Output in the kernel is not yet delivered: the
   program usually exits right after nn_close, and closing the descriptor
   then makes the peer lose what it has not taken. An ipc peer sees POLLHUP
   at once, and the stock library drops its connection on it with data
   still unread (even a whole message it read but nn_recv did not take); a
   tcp close with input unread sends RST and drops what our kernel has not
   sent. Our EOF instead reaches the peer only after everything before it,
   and every implementation answers it by closing, so the peer's close is
   the proof that it has it all.

   Threads and locks. An endpoint (listener or connector, resolver
   hand-off, reconnect timer) runs on the loop it picked when made. A
   dialled connection runs on that same loop (the connector must see its
   end at once to dial again); an accepted one on a loop picked at accept,
   so one listener's connections spread over the pool. Each connection's
   receive side, timers and state changes belong to its own loop and take
   no lock (the receive side: whoever holds c->rx_lock, the loop, a
   claiming receiver or one resuming a paused connection). Shared with
   senders is only a connection's send side and
   state, under the connection lock c->lock (with a session layer every
   call into it too, reads included). The order in which these locks are
   taken: the lock table in docs/ARCHITECTURE.md. The core calls ops->send with the socket lock held and we then take
   c->lock, so no loop ever holds c->lock while it calls into the core
   (fm_pipe_attach, fm_pipe_detach, fm_pipe_writable, fm_run_deferred
   take a socket lock; fm_pipe_deliver queues work for fm_run_deferred, run
   before the loop callback returns).

   The endpoint lock e->lock guards what an endpoint shares with
   connections on other loops: the list e->conns, which a connection joins
   when made and leaves itself, on its own loop (conn_destroy, or
   conn_let_go when the closing endpoint arms its release timer), and the
   close hand-shake with the closing thread (close_done, lingering), which
   waits until the list is empty and no connection lingers, so a
   connection on the list may use its endpoint. e->lock is taken alone, or
   before a loop lock (arming the release timers), never with another. */
#include "stream.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define RBUF_SIZE (64 * 1024)  /* receive buffer of a connection */
#define BODY_STEP (16 * 1024)  /* a big body's first allocation, at least */
#define READ_BUDGET 16         /* reads per event, so one peer cannot hog the loop */
#define ACCEPT_BUDGET 16
#define IOV_MSGS 32            /* queued messages gathered into one sendmsg */
#define STAGE_SIZE (64 * 1024) /* staging buffer for small frames in a burst */
#define STAGE_MAX 2048         /* frames up to this size are staged */
#define ACCEPT_PAUSE_MS 100    /* after EMFILE and the like */
#define IDLE_MS 2000           /* buffers of a connection quiet this long go back */
#define DRAIN_MAX_MS 10000     /* bound on the wait for the peer's close under an
                                  infinite NN_LINGER */
#define BYE_WAIT_MS 1000       /* after our last word, the peer's close */

enum conn_state {
    CS_HANDSHAKE, /* waiting for the peer's SP header */
    CS_ACTIVE,    /* attached to the socket, messages flow */
    CS_LINGER,    /* endpoint closed: flushing what was queued */
    CS_DRAIN,     /* flushed and shut for writing: waiting for the peer's close */
    CS_DEAD,
};

struct stream_ep;

struct conn {
    struct fm_pipe *pipe;
    struct fm_loop *loop;    /* runs everything of the connection */
    const struct fm_stream_framer *fr; /* how messages look on the wire */
    void *fs;                /* its state: fstate below */
    size_t head_len;         /* fr->head_len */
    size_t sndbuf;

    /* The connection's loop only (the receive side: whoever holds rx_lock). */
    struct stream_ep *owner;     /* NULL once it left owner->conns */
    struct stream_ep *linger_ep; /* endpoint whose close waits for our end */
    bool linger_forever;     /* NN_LINGER < 0: the flush has no deadline */
    bool begun;              /* conn_begin ran */
    int adopted_peer;        /* handed over with its opening done: the peer's
                                protocol (-1: not so) */
    struct fm_list ep_node;  /* owner->conns, under owner->lock */
    struct fm_watch watch;
    struct fm_timer timer;   /* header deadline, then linger deadline */
    struct fm_timer release; /* the endpoint closes: let go (conn_let_go) */
    uint64_t deadline;
    bool accepted;           /* counted as dropped (not broken) when lost */
    bool attached;
    pthread_mutex_t rx_lock; /* held by whoever reads: loop or claiming receiver */
    uint8_t *rbuf;           /* unparsed input at rbuf[0, rlen) */
    size_t rlen;
    struct fm_msg big;       /* a large message being read into its body */
    struct fm_msg *bigm;     /* &big, or the framer's message being filled */
    size_t big_size, big_got, big_cap; /* which has room for big_cap so far */
    bool fr_midway;          /* the framer holds part of a message */
    int bye_err;             /* the framer's last word counts a loss (errno) */
    bool rx_held;            /* rbuf holds messages not cut: the queue was full */
    const struct fm_stream_session_ops *sops;
    bool sess_hs;            /* the session's own handshake is not done yet */
    uint64_t rx_at;          /* when the unfinished input last grew */
    bool stall_armed;        /* active: timer watches for a peer that stalls */
    bool stall_paused;       /* the watch found us paused: restart on resume */
    bool after_big;          /* the last message was big: read the next prefix alone */
    unsigned rx_reads;       /* reads so far, and as the idle timer last saw them */
    unsigned rx_reads_seen;
    struct fm_timer idle;    /* gives back the buffers of a quiet connection */
    atomic_bool idle_armed;

    /* Guarded by lock. state is written only by the loop thread. */
    pthread_mutex_t lock;
    int fd;
    enum conn_state state;
    bool broken;             /* a sender hit an error: the loop tears down */
    void *sess;              /* the transport's session layer (TLS), or NULL */
    bool out_full;           /* send said FM_PIPE_FULL */
    bool rx_paused;          /* inbound queue full: not reading */
    bool rx_backlog;         /* paused with input no event will announce */
    bool rx_posted;          /* conn_rx_task is on its way */
    bool flush_posted;       /* conn_flush_task is on its way: a fan-out's
                                batch, written by the loop without FM_EV_OUT */
    bool flush_deferred;     /* the sender writes its message once it has
                                let the socket lock go (conn_deferred_flush) */
    bool rx_claimed;         /* a blocked receiver reads, not the loop */
    bool rx_idle;            /* the last claimer left reading off until
                                rx_watch or the idle timer: only the peer's
                                close is watched */
    bool bye_pending;        /* the framer's last word is in tail: the loop
                                closes (conn_bye) */
    bool tell_writable;      /* a control reply's flush emptied a full queue:
                                the loop says fm_pipe_writable */
    bool push_due;           /* the output went in several calls: Nagle may
                                hold its last segment (conn_push) */
    signed char nagle;       /* TCP with Nagle on: 1; not: 0; unknown: -1 */
    uint8_t *pre;            /* our opening, ahead of every message: */
    size_t pre_len, pre_off; /* pre_inline, or the heap when longer */
    uint8_t pre_inline[FM_STREAM_OPEN_INLINE];
    uint8_t *ctl;            /* a control reply, written between messages */
    size_t ctl_len, ctl_off;
    uint8_t *tail;           /* our last bytes, after everything else */
    size_t tail_len, tail_off;
    struct fm_msgq outq;
    size_t out_off;          /* framed bytes of the head message already sent */
    uint8_t scratch[IOV_MSGS][FM_STREAM_SCRATCH_MAX]; /* gather's headers */
    uint8_t *stage;          /* staged frames at stage[stage_off, stage_len), */
    size_t stage_len;        /* written before anything in outq */
    size_t stage_off;
    size_t stage_frames;     /* frames staged since the buffer was last empty */
    unsigned out_uses;       /* frames staged or queued so far, and as the */
    unsigned out_uses_seen;  /* idle timer last saw them */
    bool writing;            /* a thread writes the head without c->lock */
    int write_waiters;       /* conn_destroy waits for that write to end */
    pthread_cond_t write_done;

    max_align_t fstate[];    /* the framer's state, fr->state_size bytes */
};

struct resolve;

struct stream_ep {
    struct fm_ep *ep;
    struct fm_sock *sock;
    const struct fm_stream_tp *tp;
    struct fm_stream_args args;
    struct fm_loop *loop;    /* runs the listener or connector */

    /* The endpoint's loop only. */
    bool closing;
    /* listener */
    int lfd;
    struct fm_watch lwatch;
    struct fm_timer ltimer;
    char *unlink_path;
    dev_t file_dev;
    ino_t file_ino;
    /* connector */
    struct fm_stream_target target;
    int cfd;                 /* connect() in progress */
    struct fm_watch cwatch;
    struct fm_timer retry;
    int ivl_base, ivl_max, ivl_cur;
    struct resolve *resolving;
    unsigned attempts;       /* picks among the resolved addresses */
    struct conn *active;

    /* The connections (on their own loops) and the close hand-shake with
       the closing thread. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct fm_list conns;    /* not yet let go or destroyed */
    bool close_done;
    int lingering;
    int linger;              /* written before ep_close_task is posted */
};

static void conn_destroy(struct conn *c, int err);
static void set_kernel_buffers(struct fm_ep *ep, int fd);
static void conn_let_go(struct conn *c, struct stream_ep *e);
static int conn_read(struct conn *c, bool past_full);
static void conn_shut(struct conn *c);
static void ep_schedule_retry(struct stream_ep *e);

static bool conn_pending(const struct conn *c)
{
    return c->writing || c->pre_off < c->pre_len || c->ctl_len || c->stage_len > c->stage_off ||
           c->outq.count > 0 || c->tail_off < c->tail_len ||
           (c->sess && c->sops->pending(c->sess));
}

/* Queued bytes the kernel has not taken yet (the part of the head message
   already sent does not count: a large message frees the pipe for the next
   one while its tail is still going out). Each message counts
   FM_MSG_OVERHEAD more, staged ones too (until the buffer empties), as the
   receiver's queue counts them: a producer of small messages meets a
   stuck consumer after about as many messages as it would with the stock
   library, not hundreds of times more. */
static size_t conn_unsent(const struct conn *c)
{
    return (c->outq.bytes > c->out_off ? c->outq.bytes - c->out_off : 0) +
           (c->outq.count + c->stage_frames) * FM_MSG_OVERHEAD + (c->stage_len - c->stage_off);
}

/* Which events the connection wants now. c->lock held. */
static void conn_update_events(struct conn *c)
{
    FM_ASSERT_HELD(&c->lock);
    uint32_t ev = 0;
    if (c->state != CS_DEAD) {
        /* Claimed or idle alike, so that going from one to the other
           changes nothing in the loop's watch. */
        if ((c->rx_idle || c->rx_claimed) && c->state == CS_ACTIVE)
            ev |= FM_EV_RDHUP;
        else if (!c->rx_paused && !c->rx_claimed)
            ev |= FM_EV_IN;
        /* Not while another thread writes: it sets the events again when it
           is done. Lingering, FM_EV_OUT tells the loop that the last write
           has ended. */
        if (c->broken || c->bye_pending || c->tell_writable ||
            (!c->writing && !c->flush_posted && !c->flush_deferred &&
             (conn_pending(c) || c->state == CS_LINGER)))
            ev |= FM_EV_OUT;
        if (c->sess)
            ev = c->sops->events(c->sess, ev);
    }
    fm_watch_set(&c->watch, ev);
}

/* ------------------------------------------------------------ writing */

/* more: the caller writes again at once if this call takes everything. */
static ssize_t send_iov(struct conn *c, struct iovec *iov, int n, bool more)
{
    if (c->sess)
        return c->sops->writev(c->sess, iov, n);
    int fd = c->fd;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t) n};
    ssize_t w;
    do
        w = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT | (more ? MSG_MORE : 0));
    while (w < 0 && errno == EINTR);
    return w;
}

/* The output just written ended something that went in several calls. With
   Nagle on, its last, short segment waits for the peer to acknowledge an
   earlier short one (a frame's end, a partial write's), and a peer that
   has nothing to answer until the message is whole delays that by up to
   40 ms: ws messages of several frames stalled so one time in ten. Nagle
   cannot merge anything more into it (we have nothing more to send), so
   switching TCP_NODELAY on and off sends it now; the setting stays the
   user's. Two system calls per message that took several: not on the
   path of small messages. */
static void conn_push(struct conn *c)
{
    c->push_due = false;
    if (c->nagle < 0) {
        int v = 1;
        socklen_t len = sizeof(v);
        c->nagle = getsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 && v == 0;
    }
    if (c->nagle) {
        int on = 1, off = 0;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &off, sizeof(off));
    }
}

/* Take up to *w bytes written from buf[*off, len): how many were its. */
static size_t take_part(size_t len, size_t *off, size_t *w)
{
    size_t take = len - *off;
    if (take > *w)
        take = *w;
    *off += take;
    *w -= take;
    return take;
}

/* Account for w bytes the kernel took from the head of the output, in the
   order conn_flush gathers it (ctl: the control reply was in it). */
static void conn_consumed(struct conn *c, size_t w, bool ctl)
{
    if (c->pre_off < c->pre_len) {
        take_part(c->pre_len, &c->pre_off, &w);
        if (c->pre_off == c->pre_len && c->pre != c->pre_inline) {
            free(c->pre); /* a long opening (HTTP) is not kept */
            c->pre = c->pre_inline;
            c->pre_len = c->pre_off = 0;
        }
    }
    if (ctl) {
        take_part(c->ctl_len, &c->ctl_off, &w);
        if (c->ctl_off == c->ctl_len)
            c->ctl_len = c->ctl_off = 0;
    }
    if (c->stage_len > c->stage_off) {
        size_t take = c->stage_len - c->stage_off;
        if (take > w)
            take = w;
        c->stage_off += take;
        w -= take;
        if (c->stage_off == c->stage_len)
            c->stage_len = c->stage_off = c->stage_frames = 0;
    }
    while (w && c->outq.count) {
        size_t rest = c->fr->wire_len(c->fs, fm_msgq_peek(&c->outq)) - c->out_off;
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
    if (w)
        take_part(c->tail_len, &c->tail_off, &w);
}

/* conn_flush (the rounds here, the events after them below): write what
   the kernel takes of the header and the queue. 0 when all is written or
   the kernel is full (or another thread is writing: it goes on until the
   kernel is full), -errno when the connection is broken.

   c->lock held, but dropped around the system call when only our header
   and the staging buffer are written: that memory stays put while staging
   appends behind it, so a sender staging small frames never waits for the
   loop thread's write of the previous batch (on two CPUs that wait was a
   futex sleep and two context switches per batch). Queued messages are
   written under the lock: a push may move the ring and their inline
   headers. c->writing holds off every other writer and conn_destroy. */
static int conn_flush_rounds(struct conn *c, bool *unlocked)
{
    FM_ASSERT_HELD(&c->lock);
    for (;;) {
        struct iovec iov[4 + FM_STREAM_GATHER_MAX * IOV_MSGS];
        int n = 0;
        size_t want = 0;
        if (c->pre_off < c->pre_len) {
            iov[n].iov_base = c->pre + c->pre_off;
            iov[n++].iov_len = c->pre_len - c->pre_off;
            want += c->pre_len - c->pre_off;
        }
        /* A control reply goes between messages: first when no staged or
           queued message has begun; otherwise only what has begun is
           written (hold), and the reply after it. */
        bool ctl = c->ctl_len &&
                   (c->ctl_off || (c->stage_off == 0 && (c->stage_len || c->out_off == 0)));
        bool hold = c->ctl_len && !ctl;
        if (ctl) {
            iov[n].iov_base = c->ctl + c->ctl_off;
            iov[n++].iov_len = c->ctl_len - c->ctl_off;
            want += c->ctl_len - c->ctl_off;
        }
        bool staged = c->stage_len > c->stage_off;
        if (staged) {
            iov[n].iov_base = c->stage + c->stage_off;
            iov[n++].iov_len = c->stage_len - c->stage_off;
            want += c->stage_len - c->stage_off;
        }
        struct fm_msgq *q = &c->outq;
        bool all = !(hold && staged);
        for (size_t i = 0; all && i < q->count; i++) {
            if (i == IOV_MSGS) {
                all = false;
                break;
            }
            struct fm_msg *m = &q->ring[(q->head + i) & (q->cap - 1)];
            size_t off = i == 0 ? c->out_off : 0;
            size_t g = c->fr->gather(c->fs, m, off, c->scratch[i], iov, &n);
            want += g;
            if (hold || (c->fr->may_cut && g != c->fr->wire_len(c->fs, m) - off))
                all = false; /* stop at its end (or its frame's) */
        }
        /* Our last bytes once closing (a last word waits for conn_bye to
           trim what is queued before it). */
        bool tail = all && !hold && c->state >= CS_LINGER && c->tail_off < c->tail_len;
        if (tail) {
            iov[n].iov_base = c->tail + c->tail_off;
            iov[n++].iov_len = c->tail_len - c->tail_off;
            want += c->tail_len - c->tail_off;
        }
        if (n == 0 && !(c->sess && c->sops->pending(c->sess))) {
            if (c->push_due && !conn_pending(c))
                conn_push(c);
            return 0; /* (a session's own backlog is written by the call below) */
        }
        ssize_t w;
        if (!c->sess && q->count == 0 && !ctl && !tail) {
            c->writing = true;
            pthread_mutex_unlock(&c->lock);
            w = send_iov(c, iov, n, !all);
            int err = errno;
            pthread_mutex_lock(&c->lock);
            c->writing = false;
            if (c->write_waiters)
                pthread_cond_broadcast(&c->write_done);
            *unlocked = true;
            errno = err;
        } else {
            w = send_iov(c, iov, n, !all);
        }
        if (w < 0) {
            c->push_due = true;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        }
        conn_consumed(c, (size_t) w, ctl);
        if ((size_t) w < want || !all) {
            c->push_due = true;
            if ((size_t) w < want)
                return 0;
        }
    }
}

static int conn_flush(struct conn *c)
{
    FM_ASSERT_HELD(&c->lock);
    if (c->sess_hs || c->writing)
        return 0; /* the session's handshake comes first; or another writes */
    bool unlocked = false;
    int rc = conn_flush_rounds(c, &unlocked);
    /* Others left FM_EV_OUT to us while we wrote without the lock. Only
       now: between two rounds it would be armed for what the next round
       writes at once, and disarmed after it, an epoll_ctl pair per fan-out
       batch. */
    if (unlocked)
        conn_update_events(c);
    return rc;
}

/* Wait until no thread writes without c->lock. c->lock held. */
static void conn_wait_write(struct conn *c)
{
    FM_ASSERT_HELD(&c->lock);
    while (c->writing) {
        c->write_waiters++;
        pthread_cond_wait(&c->write_done, &c->lock);
        c->write_waiters--;
    }
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

/* Queue msg for writing (moved on success). The queue's ring goes back
   when the connection is quiet, as the staging buffer does. c->lock
   held. */
static int conn_queue(struct conn *c, struct fm_msg *msg)
{
    FM_ASSERT_HELD(&c->lock);
    bool fresh = c->outq.ring == NULL;
    int rc = fm_msgq_push(&c->outq, msg);
    if (rc == 0) {
        c->out_uses++;
        if (fresh)
            conn_arm_idle(c);
    }
    return rc;
}

/* Copy a small frame of a burst (its fl wire bytes gathered in iov[0, n))
   into the staging buffer. Returns 1 when staged (msg consumed), 0 when it
   must take the ordinary path, -errno when the connection broke. Not while
   a control reply or our last bytes wait: a growing buffer would hold
   them back. c->lock held. */
static void conn_post_flush(struct conn *c);

static int conn_stage(struct conn *c, struct fm_msg *msg, bool burst, bool fanout,
                      const struct iovec *iov, int n, size_t fl)
{
    FM_ASSERT_HELD(&c->lock);
    if (fl > STAGE_MAX || c->outq.count || c->pre_off < c->pre_len || c->ctl_len ||
        c->tail_len || (!burst && c->stage_len == c->stage_off))
        return 0;
    if (!c->stage) {
        if (!(c->stage = malloc(STAGE_SIZE)))
            return 0;
        conn_arm_idle(c);
    }
    if (c->stage_len + fl > STAGE_SIZE) {
        int rc = conn_flush(c); /* full: this thread writes it */
        if (rc)
            return rc;
        if (c->stage_len + fl > STAGE_SIZE)
            return 0; /* the kernel is full too: queue behind it */
    }
    bool was_empty = c->stage_len == c->stage_off;
    uint8_t *d = c->stage + c->stage_len;
    for (int i = 0; i < n; i++) {
        memcpy(d, iov[i].iov_base, iov[i].iov_len);
        d += iov[i].iov_len;
    }
    c->stage_len += fl;
    c->stage_frames++;
    c->out_uses++;
    if (was_empty && fanout)
        conn_post_flush(c); /* the loop writes it (a post: no epoll_ctl) */
    else if (was_empty)
        conn_update_events(c); /* the loop writes it unless the sender does */
    fm_msg_term(msg);
    return 1;
}

/* ----------------------------------------------------------- pipe ops */

/* Called with the socket lock held (see the lock order above). */
static int conn_send(struct fm_pipe *p, struct fm_msg *msg)
{
    FM_ASSERT_SOCK_LOCKED(p->sock);
    struct conn *c = p->tdata;
    /* A message to many pipes (PUB, BUS) is left to the loops: staged when
       small, queued when not, so each connection's backlog goes out in
       batches from its own loop instead of a system call per pipe here. */
    bool fanout = fm_sock_fanout(p->sock);
    bool burst = fanout || fm_pipe_burst(p);
    int prep = c->fr->prepare ? c->fr->prepare(c->fs, msg) : 0;
    pthread_mutex_lock(&c->lock);
    if (c->state != CS_ACTIVE || c->broken || c->bye_pending || prep) {
        if (prep && c->state == CS_ACTIVE) {
            c->broken = true; /* a message cannot be skipped silently */
            conn_update_events(c);
        }
        pthread_mutex_unlock(&c->lock);
        fm_msg_term(msg);
        return -ECONNRESET;
    }
    /* The frame's bytes, gathered once for staging or the direct write;
       a message of several frames (cut) goes by the queue. */
    uint8_t scratch[FM_STREAM_SCRATCH_MAX];
    struct iovec iov[FM_STREAM_GATHER_MAX];
    int n = 0;
    size_t fl = c->fr->gather(c->fs, msg, 0, scratch, iov, &n);
    bool cut = c->fr->may_cut && fl != c->fr->wire_len(c->fs, msg);
    int staged = cut ? 0 : conn_stage(c, msg, burst, fanout, iov, n, fl);
    if (staged) {
        int rc = 0;
        if (staged < 0) {
            c->broken = true;
            conn_update_events(c);
            fm_msg_term(msg);
            rc = -ECONNRESET;
        } else if (conn_unsent(c) >= c->sndbuf && (rc = conn_flush(c)) != 0) {
            /* (Full, counting overhead, long before the buffer is: this
               thread writes it, as when the buffer fills.) */
            c->broken = true;
            conn_update_events(c);
            rc = -ECONNRESET;
        } else if (conn_unsent(c) >= c->sndbuf) {
            c->out_full = true;
            rc = FM_PIPE_FULL;
        }
        pthread_mutex_unlock(&c->lock);
        return rc;
    }
    size_t written = 0;
    bool flushed = false;
    if (conn_pending(c) && !c->sess_hs && !fanout) {
        /* Output is queued: this thread writes what the kernel takes of it
           now, rather than leaving every piece to the loop thread and
           waiting for its wake-up (a large message goes out in several). */
        int rc = conn_flush(c);
        if (rc) {
            c->broken = true;
            conn_update_events(c);
            pthread_mutex_unlock(&c->lock);
            fm_msg_term(msg);
            return -ECONNRESET;
        }
        flushed = true;
    }
    if (!cut && !fanout && !conn_pending(c) && !c->sess_hs &&
        conn_unsent(c) + fl < c->sndbuf && conn_queue(c, msg) == 0) {
        /* The hot path: nothing ahead of us, so the whole frame goes to the
           kernel in one call, from this thread, once it has let the socket
           lock go (fm_sock_unlock runs conn_deferred_flush): a system call
           made under it kept the loops, which take it to hand over each
           message read, waiting (a REP server with 10 clients made 2.7
           futex calls per request). Room is certain: send answers 0. */
        c->out_off = 0;
        if (!c->flush_deferred) {
            c->flush_deferred = true;
            fm_defer_flush(p);
        }
        pthread_mutex_unlock(&c->lock);
        return 0;
    }
    if (!cut && !fanout && !conn_pending(c)) {
        /* Nothing ahead of us and no room to leave the frame queued: the
           whole frame goes to the kernel now. */
        ssize_t w = send_iov(c, iov, n, false);
        if (w >= 0 && (size_t) w == fl) {
            if (flushed)
                conn_update_events(c); /* all out: the loop need not wake */
            pthread_mutex_unlock(&c->lock);
            fm_msg_term(msg);
            return 0;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            c->broken = true; /* the loop thread sees FM_EV_OUT and tears down */
            conn_update_events(c);
            pthread_mutex_unlock(&c->lock);
            fm_msg_term(msg);
            return -ECONNRESET;
        }
        written = w > 0 ? (size_t) w : 0;
        c->push_due = true; /* the rest goes in later calls */
    }
    if (conn_queue(c, msg) != 0) {
        /* Out of memory. A frame cut short would corrupt the stream. */
        fm_msg_term(msg);
        c->broken = true;
        conn_update_events(c);
        pthread_mutex_unlock(&c->lock);
        return -ECONNRESET;
    }
    if (c->outq.count == 1)
        c->out_off = written;
    /* (A fan-out that filled NN_SNDBUF before the loop came: this thread
       writes, as when the staging buffer fills.) */
    if ((cut || (fanout && conn_unsent(c) >= c->sndbuf)) && !c->sess_hs && conn_flush(c) != 0)
        c->broken = true; /* the loop sees FM_EV_OUT and tears down */
    else if (fanout && conn_pending(c))
        conn_post_flush(c);
    conn_update_events(c);
    int rc = 0;
    if (conn_unsent(c) >= c->sndbuf) {
        c->out_full = true;
        rc = FM_PIPE_FULL;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* Room unless NN_SNDBUF bytes really wait to be written. A write in
   progress without c->lock (c->writing) is waited for: the peer may
   already hold what it is writing. Socket lock held. */
static bool conn_has_room(struct fm_pipe *p)
{
    FM_ASSERT_SOCK_LOCKED(p->sock);
    struct conn *c = p->tdata;
    pthread_mutex_lock(&c->lock);
    conn_wait_write(c);
    bool room = c->state == CS_ACTIVE && !c->broken &&
                (!c->out_full || conn_unsent(c) < c->sndbuf);
    if (room)
        c->out_full = false; /* the loop need not say so again */
    pthread_mutex_unlock(&c->lock);
    return room;
}

static void conn_rx_task(void *arg);
static void conn_flush_task(void *arg);

/* Have the loop run fn for the connection once (*posted until it runs;
   the post holds a pipe reference). c->lock held. */
static void conn_post_once(struct conn *c, bool *posted, void (*fn)(void *))
{
    FM_ASSERT_HELD(&c->lock);
    if (*posted)
        return;
    *posted = true;
    fm_pipe_ref(c->pipe);
    fm_loop_post(c->loop, fn, c->pipe);
}

/* Input is waiting that no event will announce (complete messages left in
   rbuf, a session's decrypted bytes): the loop reads it. c->lock held. */
static void conn_post_rx(struct conn *c) { conn_post_once(c, &c->rx_posted, conn_rx_task); }

/* A fan-out queued output: the connection's loop writes it, woken by a
   post (one wake-up per loop and batch however many connections) rather
   than by FM_EV_OUT, which costs an epoll_ctl pair per connection and
   batch. c->lock held. */
static void conn_post_flush(struct conn *c)
{
    conn_post_once(c, &c->flush_posted, conn_flush_task);
}

/* The receiver made room in a queue that was full: reading resumes. The
   thread that made it (in fm_run_deferred, no socket lock held) reads on
   itself, as a claiming receiver does: the messages held in rbuf, then the
   kernel, until the queue is full again (FM_EV_IN stays off: no system call)
   or the kernel is drained (FM_EV_IN back on). A slow consumer of small
   messages resumes every few hundred of them; a loop wake-up for each
   (the eventfd, epoll_wait, an epoll_ctl pair, two threads on one queue)
   made its receiver spend 1.7 times the CPU per 64-byte message. Only if
   another thread is reading the connection right now does the loop take
   over. */
static void conn_inq_space(struct fm_pipe *p)
{
    FM_ASSERT_NO_SOCK_LOCK();
    struct conn *c = p->tdata;
    /* A try: this thread may be inside another connection's reading. */
    bool have_rx = pthread_mutex_trylock(&c->rx_lock) == 0;
    bool read_here = false;
    pthread_mutex_lock(&c->lock);
    if (c->rx_paused) {
        pthread_mutex_lock(&p->inq_lock);
        bool full = p->inq_full;
        pthread_mutex_unlock(&p->inq_lock);
        if (!full) {
            c->rx_paused = false;
            read_here = have_rx && c->state == CS_ACTIVE && !c->broken;
            if (!read_here) {
                conn_update_events(c);
                if (c->rx_backlog && c->state == CS_ACTIVE)
                    conn_post_rx(c);
            }
            c->rx_backlog = false;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (read_here) {
        int err = conn_read(c, false);
        pthread_mutex_lock(&c->lock);
        if (err)
            c->broken = true; /* the loop sees FM_EV_OUT and tears down */
        conn_update_events(c);
        pthread_mutex_unlock(&c->lock);
    }
    if (have_rx)
        pthread_mutex_unlock(&c->rx_lock);
}

/* On the loop: write what a fan-out queued (conn_post_flush), and say
   so if that emptied a full pipe. What the kernel does not take waits for
   FM_EV_OUT as usual. */
static void conn_flush_task(void *arg)
{
    struct fm_pipe *p = arg;
    struct conn *c = p->tdata;
    bool writable = false;
    pthread_mutex_lock(&c->lock);
    c->flush_posted = false;
    if (c->state != CS_DEAD && !c->broken && conn_flush(c) != 0)
        c->broken = true; /* FM_EV_OUT: the loop tears down */
    if (c->out_full && !c->broken && conn_unsent(c) <= c->sndbuf / 2) {
        c->out_full = false;
        writable = true;
    }
    conn_update_events(c);
    pthread_mutex_unlock(&c->lock);
    if (writable && c->attached)
        fm_pipe_writable(p);
    fm_run_deferred();
    fm_pipe_unref(p);
}

/* The sender, the socket lock let go: write what conn_send left queued
   for it (fm_pipe_ops.flush). What the kernel does not take waits for
   FM_EV_OUT as usual. */
static void conn_deferred_flush(struct fm_pipe *p)
{
    FM_ASSERT_NO_SOCK_LOCK();
    struct conn *c = p->tdata;
    pthread_mutex_lock(&c->lock);
    c->flush_deferred = false;
    if (c->state != CS_DEAD) {
        if (!c->broken && !c->sess_hs && conn_flush(c) != 0)
            c->broken = true; /* FM_EV_OUT: the loop tears down */
        conn_update_events(c);
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

/* The socket is done with the pipe: tear down on the loop thread, where all
   connection state changes happen. */
static void conn_close(struct fm_pipe *p)
{
    struct conn *c = p->tdata;
    fm_pipe_ref(p);
    fm_loop_post(c->loop, conn_close_task, p);
}

static void conn_free(struct fm_pipe *p)
{
    struct conn *c = p->tdata;
    fm_msgq_term(&c->outq);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->rx_lock);
    pthread_cond_destroy(&c->write_done);
    free(c->stage);
    if (c->pre != c->pre_inline)
        free(c->pre);
    free(c->ctl);
    free(c->tail);
    free(c);
}

/* A thread about to block in nn_recv takes reading over from the loop.
   Socket lock held. */
static int conn_rx_claim(struct fm_pipe *p)
{
    FM_ASSERT_SOCK_LOCKED(p->sock);
    struct conn *c = p->tdata;
    int fd = -1;
    pthread_mutex_lock(&c->lock);
    if (c->state == CS_ACTIVE && !c->broken && !c->rx_paused && !c->rx_claimed && !c->sess) {
        c->rx_claimed = true;
        c->rx_idle = false;
        conn_update_events(c);
        fd = c->fd;
    }
    pthread_mutex_unlock(&c->lock);
    return fd;
}

/* The claiming thread saw the descriptor readable. No lock held. Tearing
   down stays with the loop thread: an error is flagged as a sender flags
   one, and the loop sees FM_EV_OUT. */
static bool conn_rx_pump(struct fm_pipe *p)
{
    FM_ASSERT_NO_SOCK_LOCK();
    struct conn *c = p->tdata;
    pthread_mutex_lock(&c->rx_lock);
    pthread_mutex_lock(&c->lock);
    bool ok = c->state == CS_ACTIVE && !c->broken;
    pthread_mutex_unlock(&c->lock);
    int err = ok ? conn_read(c, false) : 0;
    pthread_mutex_unlock(&c->rx_lock);
    pthread_mutex_lock(&c->lock);
    if (err) {
        c->broken = true;
        conn_update_events(c);
    }
    ok = ok && !err && !c->rx_paused;
    pthread_mutex_unlock(&c->lock);
    return ok;
}

/* Read on from where a pause or the read budget stopped. On the loop
   (or, if posting failed, on the thread that posted: so an error is
   flagged for the loop, as conn_rx_pump does). */
static void conn_rx_task(void *arg)
{
    struct fm_pipe *p = arg;
    struct conn *c = p->tdata;
    pthread_mutex_lock(&c->rx_lock);
    pthread_mutex_lock(&c->lock);
    c->rx_posted = false;
    bool ok = c->state == CS_ACTIVE && !c->broken && !c->rx_paused;
    pthread_mutex_unlock(&c->lock);
    int err = ok ? conn_read(c, false) : 0;
    pthread_mutex_unlock(&c->rx_lock);
    if (err) {
        pthread_mutex_lock(&c->lock);
        c->broken = true;
        conn_update_events(c);
        pthread_mutex_unlock(&c->lock);
    }
    fm_run_deferred();
    fm_pipe_unref(p);
}

static void conn_rx_release(struct fm_pipe *p, bool idle)
{
    FM_ASSERT_SOCK_LOCKED(p->sock);
    struct conn *c = p->tdata;
    pthread_mutex_lock(&c->lock);
    c->rx_claimed = false;
    c->rx_idle = idle && !c->fr->control;
    conn_update_events(c);
    if (c->rx_idle)
        conn_arm_idle(c); /* bounds the time unread (conn_on_idle) */
    pthread_mutex_unlock(&c->lock);
}

static bool conn_rx_watch(struct fm_pipe *p)
{
    FM_ASSERT_SOCK_LOCKED(p->sock);
    struct conn *c = p->tdata;
    pthread_mutex_lock(&c->lock);
    bool was = c->rx_idle;
    if (was) {
        c->rx_idle = false;
        conn_update_events(c);
    }
    pthread_mutex_unlock(&c->lock);
    return was;
}

static const struct fm_pipe_ops conn_ops = {
    .send = conn_send,
    .close = conn_close,
    .inq_space = conn_inq_space,
    .free = conn_free,
    .rx_claim = conn_rx_claim,
    .rx_pump = conn_rx_pump,
    .rx_release = conn_rx_release,
    .rx_watch = conn_rx_watch,
    .has_room = conn_has_room,
    .flush = conn_deferred_flush,
};

/* --------------------------------------------------- connection (loop) */

/* The socket forgets the pipe; what it already received stays readable. */
static void conn_forget(struct conn *c)
{
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
    c->rlen = 0;
    c->rx_held = false;
    fm_msg_term(&c->big);
    c->bigm = &c->big;
    c->big_size = c->big_got = c->big_cap = 0;
    if (c->fr->drop)
        c->fr->drop(c->fs);
    c->fr_midway = false;
}

static void conn_linger_done(struct conn *c)
{
    struct stream_ep *e = c->linger_ep;
    if (!e)
        return;
    c->linger_ep = NULL;
    pthread_mutex_lock(&e->lock);
    if (--e->lingering == 0)
        pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

/* The connection leaves its endpoint's list (lingering: and holds its close
   until conn_linger_done). The endpoint's memory may be freed the moment
   the lock is dropped. */
static void ep_unlink(struct stream_ep *e, struct conn *c, bool lingers)
{
    pthread_mutex_lock(&e->lock);
    fm_list_remove(&c->ep_node);
    if (lingers)
        e->lingering++;
    if (fm_list_empty(&e->conns))
        pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

/* Close the connection for good; err != 0 when it was lost by an error
   (counted). The connection's loop, no lock held. */
static void conn_destroy(struct conn *c, int err)
{
    FM_ASSERT_ON_LOOP(c->loop);
    if (c->state == CS_DEAD)
        return;
    struct fm_msgq drop;
    pthread_mutex_lock(&c->rx_lock); /* a claiming receiver is out of conn_read */
    pthread_mutex_lock(&c->lock);
    conn_wait_write(c); /* a sender may be inside a write to the descriptor */
    enum conn_state was = c->state;
    c->state = CS_DEAD;
    drop = c->outq;
    fm_msgq_init(&c->outq);
    int fd = c->fd;
    c->fd = -1;
    void *sess = c->sess;
    c->sess = NULL;
    pthread_mutex_unlock(&c->lock);
    if (sess)
        c->sops->destroy(sess);
    fm_watch_del(&c->watch);
    close(fd);
    conn_drop_input(c);
    pthread_mutex_unlock(&c->rx_lock);
    fm_msgq_term(&drop);
    fm_timer_cancel(&c->timer);
    conn_forget(c);
    conn_linger_done(c);
    struct stream_ep *e = c->owner;
    if (e) {
        c->owner = NULL;
        fm_stat_add(e->sock, FM_STAT_CURRENT_CONNECTIONS, -1);
        /* As stock: lost by the peer or an error, either side (a breach we
           said bye to was counted then: conn_bye). */
        if (err && was <= CS_ACTIVE)
            fm_stat_add(e->sock, FM_STAT_BROKEN, 1);
        if (err && was == CS_HANDSHAKE && !c->accepted && !c->sess_hs)
            fm_ep_report_error(e->ep, err); /* refused or botched (a session reports its own) */
        if (!c->accepted && e->active == c) { /* dialled: on the endpoint's loop */
            e->active = NULL;
            ep_schedule_retry(e);
        }
        ep_unlink(e, c, false); /* e may be gone after this */
    }
    fm_timer_cancel(&c->release); /* after ep_unlink: nobody arms it again */
    fm_timer_cancel(&c->idle);    /* state is CS_DEAD: nobody arms it again */
    fm_pipe_unref(c->pipe); /* the transport's reference: may free c */
}

/* Part of a message arrived: from now on its peer must keep sending. One
   coarse timer per interval checks that, so a read only notes the time. */
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

/* The stall timer of an active connection. Time spent paused (the inbound
   queue full) is our backpressure, not the peer's stall: it never counts,
   and the peer gets a whole interval again once we read. */
static void conn_check_stall(struct conn *c)
{
    pthread_mutex_lock(&c->rx_lock); /* the input is a claiming reader's too */
    c->stall_armed = false;
    if (!c->big_size && !c->rlen && !c->fr_midway) {
        pthread_mutex_unlock(&c->rx_lock);
        return; /* the message was completed meanwhile */
    }
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
        pthread_mutex_unlock(&c->rx_lock);
        conn_destroy(c, ETIMEDOUT);
        fm_run_deferred();
        return;
    }
    c->stall_armed = true;
    fm_timer_schedule(&c->timer, paused ? ivl : c->rx_at + ivl - now);
    pthread_mutex_unlock(&c->rx_lock);
}

/* Every IDLE_MS while a connection holds a buffer: one that saw no use
   since the last look, and holds nothing, goes back (1,500 connections
   that each sent one large request and went quiet held 64 KiB apiece;
   a busy one keeps its buffers, so no message pays a malloc). */
static void conn_on_idle(void *arg)
{
    struct conn *c = arg;
    if (c->state == CS_DEAD)
        return;
    pthread_mutex_lock(&c->rx_lock);
    if (c->rbuf && c->rx_reads == c->rx_reads_seen && c->rlen == 0 && !c->rx_held) {
        free(c->rbuf);
        c->rbuf = NULL;
    }
    c->rx_reads_seen = c->rx_reads;
    bool keep = c->rbuf != NULL;
    pthread_mutex_lock(&c->lock);
    /* Left unread by a direct receiver (conn_rx_release): what came since
       is read, and policed, by this time at the latest. */
    if (c->rx_idle) {
        c->rx_idle = false;
        conn_update_events(c);
    }
    if (!c->writing && c->out_uses == c->out_uses_seen) {
        if (c->stage && c->stage_len == c->stage_off) {
            free(c->stage);
            c->stage = NULL;
            c->stage_len = c->stage_off = c->stage_frames = 0;
        }
        if (c->outq.ring && c->outq.count == 0) {
            fm_msgq_term(&c->outq);
            fm_msgq_init(&c->outq);
        }
    }
    c->out_uses_seen = c->out_uses;
    keep = keep || c->stage || c->outq.ring;
    atomic_store(&c->idle_armed, keep && c->state != CS_DEAD);
    if (keep && c->state != CS_DEAD)
        fm_timer_schedule(&c->idle, IDLE_MS);
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(&c->rx_lock);
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
    conn_destroy(c, c->state == CS_HANDSHAKE ? ETIMEDOUT : 0);
    fm_run_deferred();
}

/* The peer's header arrived: offer the pipe to the socket. */
static int conn_established(struct conn *c, int peer)
{
    fm_timer_cancel(&c->timer);
    pthread_mutex_lock(&c->lock);
    c->state = CS_ACTIVE; /* before attach: the protocol may send at once */
    pthread_mutex_unlock(&c->lock);
    int rc = fm_pipe_attach(c->pipe, peer);
    if (rc)
        return -rc;
    c->attached = true;
    if (c->sess && c->owner)
        fm_ep_clear_error(c->owner->ep);
    if (c->owner && !c->accepted)
        c->owner->ivl_cur = c->owner->ivl_base; /* a working peer resets backoff */
    return 0;
}

static bool conn_deliver(struct conn *c, struct fm_msg *m)
{
    return fm_pipe_deliver(c->pipe, m) == FM_PIPE_FULL;
}

/* Bytes the kernel holds for us (a hint: 0 when it cannot say). */
static size_t kernel_has(const struct conn *c)
{
    int n = 0;
    return ioctl(c->fd, FIONREAD, &n) == 0 && n > 0 ? (size_t) n : 0;
}

/* Room for the next bytes of a big body. An announced size is not paid
   for before its bytes come: the body starts with what is here and what
   the kernel holds (at least BODY_STEP) and grows as they arrive, at
   least doubling each time, so an honest message that is all there is
   read into place in one allocation, and a slower one costs amortised
   O(1) copies. At the end the chunk is exactly big_size bytes. */
static int big_reserve(struct conn *c, size_t have)
{
    size_t want = c->big_got + have + kernel_has(c);
    if (want < 2 * c->big_cap)
        want = 2 * c->big_cap;
    if (want < BODY_STEP)
        want = BODY_STEP;
    if (want > c->big_size)
        want = c->big_size;
    if (want <= c->big_cap)
        return 0;
    int rc;
    if (c->bigm->body) {
        rc = fm_msg_body_resize(c->bigm, want); /* a framer's message grows on */
    } else {
        fm_msg_term(c->bigm);
        rc = fm_msg_init_upto(c->bigm, want, c->big_size);
    }
    if (rc != 0)
        return ENOMEM;
    c->big_cap = want;
    return 0;
}

/* What parse left of in[0, rlen) from pos on stays in rbuf (made now if
   it came in the thread's buffer). 0 or ENOMEM. */
static int conn_keep(struct conn *c, const uint8_t *in, size_t pos)
{
    if (pos == c->rlen) {
        c->rlen = 0; /* the usual case: every byte was cut */
        return 0;
    }
    if (in != c->rbuf) {
        if (!c->rbuf) {
            if (!(c->rbuf = malloc(RBUF_SIZE))) {
                c->rlen = 0;
                return ENOMEM;
            }
            conn_arm_idle(c);
        }
        memcpy(c->rbuf, in + pos, c->rlen - pos);
    } else if (pos) {
        memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
    }
    c->rlen -= pos;
    return 0;
}

/* Keep what a framer's parse said back: a control reply (replacing one
   not yet begun), or its last word, which the loop acts on (conn_bye).
   Receive side. */
static void conn_take_reply(struct conn *c, const struct fm_stream_rx *rx)
{
    if (!rx->reply_len)
        return;
    pthread_mutex_lock(&c->lock);
    uint8_t **slot = rx->bye ? &c->tail : &c->ctl;
    if (!*slot)
        *slot = malloc(FM_STREAM_REPLY_MAX);
    if (!*slot) {
        if (rx->bye)
            c->broken = true; /* no room for the last word: just close */
    } else if (rx->bye) {
        memcpy(c->tail, rx->reply, rx->reply_len);
        c->tail_len = rx->reply_len;
        c->tail_off = 0;
        c->bye_pending = true;
        c->bye_err = rx->bye_err;
    } else if (c->ctl_off == 0) { /* only the latest needs its answer */
        memcpy(c->ctl, rx->reply, rx->reply_len);
        c->ctl_len = rx->reply_len;
        if (conn_flush(c) != 0)
            c->broken = true;
        c->tell_writable = c->out_full && conn_unsent(c) <= c->sndbuf / 2;
    }
    conn_update_events(c);
    pthread_mutex_unlock(&c->lock);
}

/* The framer said its last word (in tail): the pipe goes, output is
   trimmed to the message partly out (cutting it would break the framing),
   the last word follows it, and the peer has BYE_WAIT_MS to close. The
   connection's loop. */
static void conn_bye(struct conn *c)
{
    FM_ASSERT_ON_LOOP(c->loop);
    conn_forget(c);
    if (c->bye_err && c->owner) /* lost now, to whoever watches the counts */
        fm_stat_add(c->owner->sock, FM_STAT_BROKEN, 1);
    pthread_mutex_lock(&c->rx_lock);
    conn_drop_input(c);
    pthread_mutex_lock(&c->lock);
    conn_wait_write(c);
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
    c->bye_pending = false;
    c->rx_paused = false;
    c->state = CS_LINGER;
    if (!c->broken && conn_flush(c) != 0)
        c->broken = true;
    if (!c->broken && !conn_pending(c))
        conn_shut(c);
    conn_update_events(c);
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(&c->rx_lock);
    c->deadline = fm_now_ms() + BYE_WAIT_MS;
    fm_timer_schedule(&c->timer, BYE_WAIT_MS);
}

/* The reading thread's buffer: input is read here first when the
   connection holds none, and only what is left unparsed (part of a
   message, or messages a full queue held back) is kept in the
   connection's own rbuf. A connection that only ever received whole
   messages, or nothing (an idle one), owns no read buffer at all. */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static _Thread_local uint8_t *scratch_buf;

static void scratch_key_create(void) { pthread_key_create(&scratch_key, free); }

static uint8_t *thread_scratch(void)
{
    if (!scratch_buf) {
        pthread_once(&scratch_once, scratch_key_create);
        if ((scratch_buf = malloc(RBUF_SIZE)))
            pthread_setspecific(scratch_key, scratch_buf); /* freed at thread exit */
    }
    return scratch_buf;
}

/* Cut complete messages out of in[0, rlen) (rbuf, or the thread's scratch
   buffer: the framer's parse), until the inbound queue asks us to stop
   (*full): the rest stays in rbuf (rx_held) until it has room, so a
   pipe's queue holds at most NN_RCVBUF and one message more. past_full:
   cut them all (see conn_read). */
static int conn_parse(struct conn *c, const uint8_t *in, bool *full, bool past_full)
{
    size_t pos = 0;
    int err = 0;
    if (c->state == CS_HANDSHAKE) {
        int peer = 0;
        ssize_t took = c->fr->greet(c->fs, in, c->rlen, &peer);
        if (took < 0)
            return (int) -took;
        if (took == 0)
            return conn_keep(c, in, 0);
        pos = (size_t) took;
        err = conn_established(c, peer);
        if (err)
            return err;
    }
    uint8_t reply[FM_STREAM_REPLY_MAX];
    struct fm_stream_rx rx = {
        .pipe = c->pipe,
        .in = in + pos,
        .len = c->rlen - pos,
        .full = *full,
        .past_full = past_full,
        .reply = reply,
    };
    err = c->fr->parse(c->fs, &rx);
    *full = rx.full;
    c->rx_held = rx.held;
    c->fr_midway = rx.midway;
    conn_take_reply(c, &rx);
    pos += rx.used;
    if (!err && !rx.bye && rx.big_size) {
        size_t have = rx.len - rx.used;
        c->bigm = rx.big_msg ? rx.big_msg : &c->big;
        c->big_size = rx.big_size;
        c->big_got = rx.big_msg ? rx.big_from : 0;
        c->big_cap = c->bigm->body ? fm_msg_size(c->bigm) : 0;
        if ((err = big_reserve(c, have)) != 0) {
            c->big_size = 0;
        } else {
            memcpy(fm_msg_body(c->bigm) + c->big_got, rx.in + rx.used, have);
            c->big_got += have;
            pos = c->rlen;
        }
    }
    if (rx.bye)
        pos = c->rlen; /* nothing more is read */
    int kept = conn_keep(c, in, pos);
    return err ? err : kept;
}

/* A body read into place is complete: delivered, or the framer's. */
static int conn_big_done(struct conn *c, bool *full)
{
    bool mine = c->bigm == &c->big;
    c->big_size = c->big_got = c->big_cap = 0;
    c->after_big = true;
    if (mine) {
        *full |= conn_deliver(c, &c->big);
        return 0;
    }
    uint8_t reply[FM_STREAM_REPLY_MAX];
    struct fm_stream_rx rx = {.pipe = c->pipe, .full = *full, .reply = reply};
    int err = c->fr->big_done(c->fs, &rx);
    *full = rx.full;
    c->fr_midway = rx.midway;
    c->bigm = &c->big;
    conn_take_reply(c, &rx);
    return err;
}

/* The inbound queue is full: stop reading unless it drained meanwhile
   (false: go on). Whatever is left in rbuf or inside the session waits for
   conn_inq_space, which has the loop read it (rx_backlog). */
static bool conn_pause(struct conn *c)
{
    pthread_mutex_lock(&c->lock);
    pthread_mutex_lock(&c->pipe->inq_lock);
    bool full = c->pipe->inq_full;
    pthread_mutex_unlock(&c->pipe->inq_lock);
    bool paused = full && c->state == CS_ACTIVE;
    if (paused) {
        c->rx_paused = true;
        c->rx_backlog = c->rx_held || (c->sess && c->sops->buffered(c->sess));
        conn_update_events(c);
    }
    pthread_mutex_unlock(&c->lock);
    return paused;
}

/* Read what the kernel has, until the inbound queue is full. past_full:
   the peer is gone (or our side broke) and what it sent before is bounded
   by the kernel's buffer: deliver it all, whatever the queue holds (this
   also keeps a hang-up seen while paused from firing for ever). 0, or the
   errno that ends the connection. */
static int conn_read(struct conn *c, bool past_full)
{
    bool full = false, got = false, drained = false;
    for (int round = 0; round < READ_BUDGET; round++) {
        if (c->rx_held && c->state == CS_ACTIVE) {
            /* Messages a full queue left in rbuf come first. */
            int err = conn_parse(c, c->rbuf, &full, past_full);
            if (err)
                return err;
        }
        if (c->bye_pending)
            return 0; /* the framer said its last word: conn_bye */
        if (full && !past_full) {
            if (conn_pause(c))
                return 0;
            full = false; /* the receiver made room meanwhile */
            continue;
        }
        full = false;
        uint8_t *dst;
        const uint8_t *in = NULL;
        size_t room;
        if (c->big_size) {
            if (c->big_got == c->big_cap && big_reserve(c, 0) != 0)
                return ENOMEM;
            dst = fm_msg_body(c->bigm) + c->big_got;
            room = c->big_cap - c->big_got;
        } else {
            if (c->rlen) { /* after what is kept */
                dst = c->rbuf + c->rlen;
            } else if (!(dst = c->rbuf ? c->rbuf : thread_scratch())) {
                return ENOMEM;
            }
            in = dst - c->rlen;
            room = RBUF_SIZE - c->rlen;
            /* Big messages tend to follow big ones: take just the next
               prefix, so that its body is read into place rather than
               into rbuf and copied. */
            if (c->after_big && c->state == CS_ACTIVE && c->rlen < c->head_len)
                room = c->head_len - c->rlen;
        }
        ssize_t n;
        if (c->sess) { /* one caller at a time in a session: senders too */
            pthread_mutex_lock(&c->lock);
            n = c->sops->read(c->sess, dst, room);
            pthread_mutex_unlock(&c->lock);
        } else {
            n = read(c->fd, dst, room);
        }
        if (n == 0)
            return ECONNRESET; /* the peer closed; a partial message is lost */
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return errno;
            drained = true;
            break;
        }
        if (c->state >= CS_LINGER)
            continue; /* closing: read only to let the peer's FIN in */
        got = true;
        c->rx_reads++;
        if (c->big_size) {
            c->big_got += (size_t) n;
            if (c->big_got == c->big_size) {
                int err = conn_big_done(c, &full);
                if (err)
                    return err;
            }
        } else {
            c->rlen += (size_t) n;
            if (c->rlen >= c->head_len)
                c->after_big = false;
            int err = conn_parse(c, in, &full, past_full);
            if (err)
                return err;
        }
        if (c->bye_pending)
            return 0;
        if ((size_t) n < room) {
            drained = true; /* a short read: the kernel buffer is empty */
            break;
        }
    }
    if (got && c->state == CS_ACTIVE && (c->big_size || c->rlen || c->fr_midway))
        conn_watch_stall(c);
    if (full && conn_pause(c))
        return 0;
    if (c->state == CS_ACTIVE && (c->rx_held || (!drained && c->sess)) && kernel_has(c) == 0) {
        /* Input that raises no event is left (messages a queue that was
           full, but is no more, left in rbuf; the session's when the budget
           ran out): the loop comes back to it after the others. Not while
           the kernel has more: the loop says so, and a post that posted itself
           again would keep the loop from its other work. */
        pthread_mutex_lock(&c->lock);
        conn_post_rx(c);
        pthread_mutex_unlock(&c->lock);
    }
    return 0;
}

/* All is written: send our EOF behind it. c->lock held. */
static void conn_shut(struct conn *c)
{
    FM_ASSERT_HELD(&c->lock);
    c->state = CS_DRAIN;
    if (c->sess)
        c->sops->shutdown(c->sess);
    shutdown(c->fd, SHUT_WR);
}

static void conn_on_event(struct fm_watch *w, uint32_t ev)
{
    struct conn *c = w->arg;
    int err = 0;
    bool writable = false, flushed = false;
    if (c->sess_hs) {
        /* The session's handshake first; our SP header follows it. */
        pthread_mutex_lock(&c->lock);
        err = -c->sops->handshake(c->sess);
        if (err == 0)
            c->sess_hs = false;
        conn_update_events(c);
        pthread_mutex_unlock(&c->lock);
        if (err == EAGAIN)
            return;
        if (err) {
            conn_destroy(c, err);
            fm_run_deferred();
            return;
        }
        ev |= FM_EV_IN | FM_EV_OUT; /* write the header, read what came along */
    }
    pthread_mutex_lock(&c->lock);
    if (c->bye_pending && !c->broken && c->state == CS_ACTIVE) {
        pthread_mutex_unlock(&c->lock);
        conn_bye(c); /* a claiming receiver parsed the framer's last word */
        fm_run_deferred();
        return;
    }
    c->tell_writable = false;
    /* A session reads on any event (a write may have brought its input
       in), but never while the inbound queue is full: that would take all
       a peer sends past NN_RCVBUF. */
    bool paused = c->rx_paused;
    if (c->broken)
        err = ECONNRESET;
    else if (((ev & (FM_EV_OUT | FM_EV_ERR | FM_EV_HUP)) || c->sess) && conn_pending(c))
        err = -conn_flush(c);
    if (!err) {
        if (c->out_full && conn_unsent(c) <= c->sndbuf / 2) {
            c->out_full = false;
            writable = true;
        }
        if (c->state == CS_LINGER && !conn_pending(c)) {
            conn_shut(c);
            flushed = true;
        }
        conn_update_events(c);
    }
    pthread_mutex_unlock(&c->lock);
    if (flushed && c->linger_forever) {
        /* A peer that took everything closes at our EOF; one that does
           not must not hold nn_close for ever. */
        c->deadline = fm_now_ms() + DRAIN_MAX_MS;
        fm_timer_schedule(&c->timer, DRAIN_MAX_MS);
    }
    if (writable && c->attached) /* a detached pipe's socket may be gone */
        fm_pipe_writable(c->pipe);
    pthread_mutex_lock(&c->rx_lock);
    if (!err && (ev & (FM_EV_ERR | FM_EV_HUP)))
        err = conn_read(c, paused);
    else if (!err && !paused && ((ev & FM_EV_IN) || c->sess))
        err = conn_read(c, false);
    else if (err && c->state <= CS_ACTIVE)
        /* Our side broke (a peer that died before reading our header makes
           even that fail), but whole messages it sent before dying are in
           our kernel: they are delivered, only the rest is lost. */
        (void) conn_read(c, true);
    bool bye = c->bye_pending;
    pthread_mutex_unlock(&c->rx_lock);
    if (err)
        conn_destroy(c, err);
    else if (bye && c->state == CS_ACTIVE)
        conn_bye(c);
    fm_run_deferred();
}

/* The framer's goodbye (ws close frame) after all that is queued; it goes
   out once the state is CS_LINGER or later. c->lock held. */
static void conn_say_goodbye(struct conn *c)
{
    FM_ASSERT_HELD(&c->lock);
    if (c->fr->goodbye && !c->broken && !c->tail_len &&
        (c->tail || (c->tail = malloc(FM_STREAM_REPLY_MAX)))) {
        c->tail_len = c->fr->goodbye(c->fs, c->tail);
        c->tail_off = 0;
        if (conn_flush(c) != 0)
            c->broken = true;
    }
}

/* On the connection's loop: start the opening exchange (or, handed over
   with it done, go active at once). */
static void conn_begin(struct conn *c)
{
    FM_ASSERT_ON_LOOP(c->loop);
    c->begun = true;
    if (c->accepted)
        fm_loop_reserved_done(c->loop); /* watched from here on, or gone */
    if (c->sops && !c->sess) {
        /* The session (TLS) is made on the connection's own loop, which
           then runs every call into it. */
        int err = ENOMEM;
        c->sess = c->sops->start(c->owner->args.session, c->owner->ep, c->fd, c->accepted, &err);
        if (!c->sess) {
            conn_destroy(c, err);
            return;
        }
        c->sess_hs = true;
    }
    int rc = fm_watch_add(&c->watch, c->loop, c->fd, FM_EV_IN, conn_on_event, c);
    if (rc) {
        conn_destroy(c, -rc);
        return;
    }
    if (c->adopted_peer >= 0) {
        /* Our answer goes first, as with the stock library: a socket that
           then refuses the pipe (a PAIR already paired) closes after it. */
        pthread_mutex_lock(&c->lock);
        if (conn_flush(c) != 0)
            c->broken = true;
        pthread_mutex_unlock(&c->lock);
        rc = conn_established(c, c->adopted_peer);
        if (rc) {
            if (rc == ECONNABORTED) {
                /* The socket closed after our answer went out: the peer
                   gets the goodbye it would have had a moment later. */
                pthread_mutex_lock(&c->lock);
                c->state = CS_LINGER; /* the goodbye goes out from here on */
                conn_say_goodbye(c);
                pthread_mutex_unlock(&c->lock);
            }
            conn_destroy(c, rc);
            return;
        }
        pthread_mutex_lock(&c->lock);
        conn_update_events(c);
        pthread_mutex_unlock(&c->lock);
        conn_on_event(&c->watch, FM_EV_IN); /* what came along, and what follows */
        return;
    }
    /* The deadline covers a session's handshake too (a peer that stalls
       in it is dropped like one that never sends its SP header). */
    c->deadline = fm_now_ms() + c->fr->greet_ms;
    fm_timer_schedule(&c->timer, c->fr->greet_ms);
    if (c->sess) {
        conn_on_event(&c->watch, 0); /* the session speaks first */
        return;
    }
    pthread_mutex_lock(&c->lock);
    if (conn_flush(c) != 0)
        c->broken = true;
    conn_update_events(c);
    pthread_mutex_unlock(&c->lock);
}

static void conn_begin_task(void *arg)
{
    conn_begin(arg);
    fm_run_deferred();
}

/* The endpoint closed (ep_close_task armed this timer). */
static void conn_on_release(void *arg)
{
    struct conn *c = arg;
    if (!c->begun) {
        /* The posted conn_begin has not run yet (a timer due in the same
           millisecond can overtake a post): after it. */
        fm_timer_schedule(&c->release, 1);
        return;
    }
    if (c->owner)
        conn_let_go(c, c->owner);
    fm_run_deferred();
}

/* A connection of e on fd, counted and listed, not begun; NULL (fd
   closed, the failure counted) when out of memory. Endpoint's loop, or a
   thread handing an accepted one over (fm_stream_adopt). */
static struct conn *conn_make(struct stream_ep *e, int fd, bool accepted)
{
    const struct fm_stream_framer *fr = e->tp->framer;
    struct conn *c = calloc(1, sizeof(*c) + fr->state_size);
    bool long_open = fr->open_max > FM_STREAM_OPEN_INLINE;
    uint8_t *pre = c && long_open ? malloc(fr->open_max) : NULL;
    struct fm_pipe *p = c && (pre || !long_open) ? fm_pipe_create(e->ep, &conn_ops, c) : NULL;
    if (!p) {
        free(pre);
        free(c);
        fm_stat_add(e->sock, accepted ? FM_STAT_ACCEPT_ERRORS : FM_STAT_CONNECT_ERRORS, 1);
        close(fd);
        return NULL;
    }
    c->pipe = p;
    p->inq_msg_cost = FM_MSG_OVERHEAD; /* a peer's empty messages count too */
    p->inq_resume = p->inq_limit - p->inq_limit / 4;
    c->loop = accepted ? fm_loop_pick_reserving() : e->loop; /* (its watch: conn_begin) */
    c->nagle = -1;
    c->fr = fr;
    c->fs = c->fstate;
    c->pre = pre ? pre : c->pre_inline;
    c->pre_len = fr->open(c->fs, e->args.framer, e->ep, accepted, c->pre);
    if (c->pre_len == 0 && pre) {
        free(pre); /* nothing to say first (a ws server: its 101 comes later) */
        c->pre = c->pre_inline;
    }
    c->head_len = fr->head_len(c->fs);
    c->sndbuf = e->ep->sndbuf > 0 ? (size_t) e->ep->sndbuf : 1;
    c->accepted = accepted;
    c->adopted_peer = -1;
    c->fd = fd;
    c->state = CS_HANDSHAKE;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->rx_lock, NULL);
    pthread_cond_init(&c->write_done, NULL);
    fm_msgq_init(&c->outq);
    fm_msg_init_empty(&c->big);
    c->bigm = &c->big;
    fm_timer_init(&c->timer, c->loop, conn_on_timer, c);
    fm_timer_init(&c->release, c->loop, conn_on_release, c);
    fm_timer_init(&c->idle, c->loop, conn_on_idle, c);
    atomic_init(&c->idle_armed, false);
    c->sops = e->tp->session;

    c->owner = e;
    pthread_mutex_lock(&e->lock);
    fm_list_insert_tail(&e->conns, &c->ep_node);
    pthread_mutex_unlock(&e->lock);
    /* Current first: whoever sees the connection counted as accepted sees
       it as current too, until it is gone (fuzz_stream's wait_idle). */
    fm_stat_add(e->sock, FM_STAT_CURRENT_CONNECTIONS, 1);
    fm_stat_add(e->sock, accepted ? FM_STAT_ACCEPTED : FM_STAT_ESTABLISHED, 1);
    if (!e->tp->session)
        fm_ep_clear_error(e->ep); /* the endpoint works again (a session's: at the SP header) */
    if (accepted) {
        set_kernel_buffers(e->ep, fd);
        if (e->tp->tune)
            e->tp->tune(e->ep, fd);
    }
    return c;
}

/* A descriptor is connected (accepted or dialled): make it a connection.
   A dialled one stays on the endpoint's loop (a connector has one
   connection, whose end it must see at once to dial again); an accepted
   one runs on a loop picked from the pool (conn_begin is posted there; the
   endpoint's list is under the endpoint lock). Endpoint's loop. */
static void conn_start(struct stream_ep *e, int fd, bool accepted)
{
    FM_ASSERT_ON_LOOP(e->loop);
    int refused = e->tp->admit ? e->tp->admit(e->ep, fd) : 0;
    if (refused) {
        /* Counted before the close: a peer that sees its connection end
           (test_ipc_access) sees the count too. */
        fm_stat_add(e->sock, accepted ? FM_STAT_ACCEPT_ERRORS : FM_STAT_CONNECT_ERRORS, 1);
        close(fd);
        if (!accepted) {
            fm_ep_report_error(e->ep, -refused);
            ep_schedule_retry(e);
        }
        return;
    }
    struct conn *c = conn_make(e, fd, accepted);
    if (!c) {
        if (!accepted)
            ep_schedule_retry(e);
        return;
    }
    if (!accepted)
        e->active = c;
    if (c->loop == e->loop)
        conn_begin(c);
    else
        fm_loop_post(c->loop, conn_begin_task, c);
}

/* The endpoint closes. With NN_LINGER 0 the connection goes at once.
   Otherwise it writes out its queue, shuts its write side and reads
   (discarding) until the peer closes, and the closing thread waits for
   that end (conn_destroy), NN_LINGER ms at most: see "Closing" above for
   why output in the kernel is not enough. This holds with nothing queued
   too: what the direct-write path handed the kernel may still be unread. */
static void conn_let_go(struct conn *c, struct stream_ep *e)
{
    c->owner = NULL;
    fm_stat_add(e->sock, FM_STAT_CURRENT_CONNECTIONS, -1);
    fm_stat_add(e->sock, FM_STAT_DROPPED, 1); /* as stock: we ended it */
    int linger = e->linger;
    if (c->state != CS_ACTIVE || linger == 0) {
        ep_unlink(e, c, false);
        conn_destroy(c, 0);
        return;
    }
    conn_forget(c);
    pthread_mutex_lock(&c->rx_lock);
    conn_drop_input(c);
    uint64_t now = fm_now_ms();
    pthread_mutex_lock(&c->lock);
    c->rx_paused = false;
    c->rx_idle = false; /* lingering reads until the peer's close */
    conn_say_goodbye(c);
    if (conn_pending(c) && !c->broken)
        c->state = CS_LINGER;
    else
        conn_shut(c); /* a broken one goes on its next event */
    conn_update_events(c);
    bool flushing = c->state == CS_LINGER;
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(&c->rx_lock);
    c->linger_ep = e;
    c->linger_forever = linger < 0;
    ep_unlink(e, c, true);
    uint64_t span = !c->linger_forever ? (uint64_t) linger
                    : flushing         ? UINT64_MAX / 4
                                       : DRAIN_MAX_MS;
    c->deadline = now + span;
    fm_timer_schedule(&c->timer, span);
}

/* ---------------------------------------------------------- endpoints */

/* Kernel buffers sized like ours when the application chose NN_SNDBUF or
   NN_RCVBUF, so that they bound what is in flight. The defaults leave the
   kernel's autotuning alone: a fixed 128 KiB switches it off and halves
   large-message throughput. Set before connect() and on the listener
   (accepted sockets inherit it), where TCP still picks its window scale
   from it, and again on each accepted socket: the values are the
   socket's current ones, which may have changed since the bind. */
static void set_kernel_buffers(struct fm_ep *ep, int fd)
{
    int snd = ep->sndbuf, rcv = ep->rcvbuf;
    if (snd > 0 && ep->sndbuf_set)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
    if (rcv > 0 && ep->rcvbuf_set)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
}

static void ep_on_listen_timer(void *arg)
{
    struct stream_ep *e = arg;
    if (!e->closing && e->lfd >= 0)
        fm_watch_set(&e->lwatch, FM_EV_IN);
}

static void ep_on_accept(struct fm_watch *w, uint32_t ev)
{
    struct stream_ep *e = w->arg;
    (void) ev;
    for (int i = 0; i < ACCEPT_BUDGET; i++) {
        int fd = accept4(e->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK)
                break;
            if (err == EINTR)
                continue;
            fm_stat_add(e->sock, FM_STAT_ACCEPT_ERRORS, 1);
            fm_ep_report_error(e->ep, err);
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                /* The backlog stays readable: pause instead of spinning. */
                fm_watch_set(&e->lwatch, 0);
                fm_timer_schedule(&e->ltimer, ACCEPT_PAUSE_MS);
                break;
            }
            continue; /* ECONNABORTED and the like: that one only */
        }
        conn_start(e, fd, true);
    }
    fm_run_deferred();
}

static void ep_connect_failed(struct stream_ep *e, int err)
{
    fm_stat_add(e->sock, FM_STAT_CONNECT_ERRORS, 1);
    fm_ep_report_error(e->ep, err);
    ep_schedule_retry(e);
}

static void ep_on_connect(struct fm_watch *w, uint32_t ev)
{
    struct stream_ep *e = w->arg;
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
        ep_connect_failed(e, err);
    } else {
        conn_start(e, fd, false);
    }
    fm_run_deferred();
}

static void ep_dial(struct stream_ep *e, const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ep_connect_failed(e, errno);
        return;
    }
    const struct fm_stream_target *t = &e->target;
    if (t->local_len && bind(fd, (const struct sockaddr *) &t->local, t->local_len) != 0) {
        int err = errno;
        close(fd);
        ep_connect_failed(e, err);
        return;
    }
    set_kernel_buffers(e->ep, fd);
    if (e->tp->tune)
        e->tp->tune(e->ep, fd);
    if (connect(fd, sa, len) == 0) {
        conn_start(e, fd, false);
        return;
    }
    int err = errno;
    if (err == EINPROGRESS) {
        int rc = fm_watch_add(&e->cwatch, e->loop, fd, FM_EV_OUT, ep_on_connect, e);
        if (rc == 0) {
            e->cfd = fd;
            fm_stat_add(e->sock, FM_STAT_INPROGRESS, 1);
            return;
        }
        err = -rc;
    }
    close(fd);
    ep_connect_failed(e, err);
}

/* Name resolution runs on a short-lived helper thread so that a slow
   resolver holds up neither nn_connect nor the loop. */
#define RESOLVE_MAX 8

struct resolve {
    struct stream_ep *owner; /* endpoint's loop; NULL once the endpoint is gone */
    struct fm_loop *loop;
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
    struct stream_ep *e = r->owner;
    if (e) {
        e->resolving = NULL;
        if (r->count == 0) {
            ep_connect_failed(e, EHOSTUNREACH);
        } else {
            /* Successive attempts walk the list: a name with an IPv6 and
               an IPv4 address reaches a listener on either. */
            int i = (int) (e->attempts++ % (unsigned) r->count);
            ep_dial(e, (struct sockaddr *) &r->addr[i], r->len[i]);
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
    fm_loop_post(r->loop, resolve_done, r);
    return NULL;
}

static void resolve_start(struct stream_ep *e)
{
    struct resolve *r = calloc(1, sizeof(*r));
    if (!r) {
        ep_connect_failed(e, ENOMEM);
        return;
    }
    r->owner = e;
    r->loop = e->loop;
    snprintf(r->host, sizeof(r->host), "%s", e->target.host);
    snprintf(r->port, sizeof(r->port), "%u", (unsigned) e->target.port);
    r->family = e->target.family;
    e->resolving = r;
    pthread_attr_t attr;
    pthread_t th;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Created from the loop thread, it inherits its signal mask (all
       blocked but a fault's own). */
    int rc = pthread_create(&th, &attr, resolve_main, r);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        e->resolving = NULL;
        free(r);
        ep_connect_failed(e, rc);
    }
}

static void ep_attempt(struct stream_ep *e)
{
    if (e->closing || e->active || e->cfd >= 0 || e->resolving)
        return;
    if (e->target.host[0])
        resolve_start(e);
    else
        ep_dial(e, (const struct sockaddr *) &e->target.remote, e->target.remote_len);
}

static void ep_on_retry(void *arg)
{
    ep_attempt(arg);
    fm_run_deferred();
}

static void ep_schedule_retry(struct stream_ep *e)
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

static void ep_start_task(void *arg)
{
    ep_attempt(arg);
    fm_run_deferred();
}

static struct stream_ep *ep_new(struct fm_ep *ep, const struct fm_stream_tp *tp,
                                struct fm_stream_args args)
{
    struct stream_ep *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->ep = ep;
    e->sock = ep->sock;
    e->tp = tp;
    e->args = args;
    e->lfd = e->cfd = -1;
    fm_list_init(&e->conns);
    e->loop = fm_loop_pick();
    fm_timer_init(&e->ltimer, e->loop, ep_on_listen_timer, e);
    fm_timer_init(&e->retry, e->loop, ep_on_retry, e);
    e->ivl_base = ep->reconnect_ivl;
    e->ivl_max = ep->reconnect_ivl_max;
    e->ivl_cur = e->ivl_base;
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->cond, NULL);
    return e;
}

static void ep_free(struct stream_ep *e)
{
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->cond);
    free(e->unlink_path);
    free(e);
}

int fm_stream_listen(struct fm_ep *ep, const struct fm_stream_tp *tp, int fd,
                     const char *unlink_path, struct fm_stream_args args)
{
    struct stream_ep *e = ep_new(ep, tp, args);
    if (!e)
        return -ENOMEM;
    struct stat st;
    if (unlink_path && stat(unlink_path, &st) == 0) {
        e->unlink_path = strdup(unlink_path);
        e->file_dev = st.st_dev;
        e->file_ino = st.st_ino;
    }
    e->lfd = fd;
    set_kernel_buffers(ep, fd);
    int rc = fm_watch_add(&e->lwatch, e->loop, fd, FM_EV_IN, ep_on_accept, e);
    if (rc) {
        ep_free(e);
        return rc;
    }
    ep->tdata = e;
    return 0;
}

int fm_stream_connect(struct fm_ep *ep, const struct fm_stream_tp *tp,
                      const struct fm_stream_target *target, struct fm_stream_args args)
{
    struct stream_ep *e = ep_new(ep, tp, args);
    if (!e)
        return -ENOMEM;
    e->target = *target;
    ep->tdata = e;
    fm_loop_post(e->loop, ep_start_task, e);
    return 0;
}

const struct fm_stream_args *fm_stream_args_of(const struct fm_ep *ep)
{
    const struct stream_ep *e = ep->tdata;
    return e ? &e->args : NULL;
}

int fm_stream_serve(struct fm_ep *ep, const struct fm_stream_tp *tp, struct fm_stream_args args)
{
    struct stream_ep *e = ep_new(ep, tp, args);
    if (!e)
        return -ENOMEM;
    ep->tdata = e;
    return 0;
}

int fm_stream_adopt(struct fm_ep *ep, int fd, void *sess, int peer, const void *opening,
                    size_t opening_len, const void *input, size_t input_len)
{
    struct stream_ep *e = ep->tdata;
    uint8_t *pre = opening_len ? malloc(opening_len) : NULL;
    uint8_t *rbuf = input_len ? malloc(RBUF_SIZE) : NULL;
    bool ready = (!opening_len || pre) && (!input_len || rbuf) && input_len <= RBUF_SIZE;
    struct conn *c = ready ? conn_make(e, fd, true) : NULL; /* closes fd on failure */
    if (!c) {
        if (!ready)
            close(fd);
        free(pre);
        free(rbuf);
        if (sess)
            e->tp->session->destroy(sess);
        return -ENOMEM;
    }
    c->sess = sess;
    c->adopted_peer = peer;
    if (opening_len) {
        if (c->pre != c->pre_inline)
            free(c->pre);
        memcpy(pre, opening, opening_len);
        c->pre = pre;
        c->pre_len = opening_len;
        c->pre_off = 0;
    }
    if (input_len) {
        memcpy(rbuf, input, input_len);
        c->rbuf = rbuf;
        c->rlen = input_len;
        c->rx_held = true; /* cut before anything is read */
        conn_arm_idle(c);
    }
    fm_loop_post(c->loop, conn_begin_task, c);
    return 0;
}

static void ep_close_task(void *arg)
{
    struct stream_ep *e = arg;
    e->closing = true;
    if (e->lfd >= 0) {
        fm_watch_del(&e->lwatch);
        fm_timer_cancel(&e->ltimer);
        close(e->lfd);
        e->lfd = -1;
        /* Remove the socket file only if it is still the one we made. */
        struct stat st;
        if (e->unlink_path && stat(e->unlink_path, &st) == 0 && st.st_dev == e->file_dev &&
            st.st_ino == e->file_ino)
            unlink(e->unlink_path);
    }
    fm_timer_cancel(&e->retry);
    if (e->cfd >= 0) {
        fm_watch_del(&e->cwatch);
        close(e->cfd);
        e->cfd = -1;
        fm_stat_add(e->sock, FM_STAT_INPROGRESS, -1);
    }
    if (e->resolving) {
        e->resolving->owner = NULL; /* resolve_done frees it */
        e->resolving = NULL;
    }
    e->active = NULL;
    fm_run_deferred();
    /* Each connection lets go on its own loop; a timer rather than a post
       because arming one cannot fail or run inline, and cannot race with
       the connection's own end (conn_destroy cancels it once unlinked). */
    pthread_mutex_lock(&e->lock);
    for (struct fm_list *n = e->conns.next; n != &e->conns; n = n->next)
        fm_timer_schedule(&FM_CONTAINER(n, struct conn, ep_node)->release, 0);
    e->close_done = true;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

void fm_stream_close(struct fm_ep *ep)
{
    struct stream_ep *e = ep->tdata;
    if (!e)
        return;
    /* The linger in force now, not when the endpoint was made: programs
       set it just before nn_close. */
    fm_sock_lock(ep->sock);
    e->linger = fm_sock_opt_int(ep->sock, NN_LINGER);
    fm_sock_unlock(ep->sock);
    fm_loop_post(e->loop, ep_close_task, e);
    /* Every lingering connection ends by its deadline timer at the latest,
       so this wait is bounded by NN_LINGER (and by DRAIN_MAX_MS once
       flushed, when NN_LINGER is infinite). */
    pthread_mutex_lock(&e->lock);
    while (!e->close_done || !fm_list_empty(&e->conns) || e->lingering > 0)
        pthread_cond_wait(&e->cond, &e->lock);
    pthread_mutex_unlock(&e->lock);
    ep_free(e);
    ep->tdata = NULL;
}
