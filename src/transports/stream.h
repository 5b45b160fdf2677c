/* stream.h: the connection engine shared by the byte-stream transports
   (tcp://, ipc://, tls+tcp://, ws://, wss://), and the two tables it is
   built from. A transport parses its address, makes the listening socket
   or the connect target, and hands over (or, for ws's listeners shared by
   many endpoints, hands over each connection once its opening is done);
   the engine runs the rest: accepting and connecting (with reconnect
   backoff and name resolution off the caller's thread), the opening
   exchange, the direct-write send path, staging, backpressure both ways,
   linger and statistics. Three layers:

       bytes (the descriptor, or a session: fm_stream_session_ops)
         -> framing (fm_stream_framer: SP's in sp_framer.c, WebSocket's
            in ws_framer.c)
         -> pipe (the core) */
#ifndef FM_STREAM_H
#define FM_STREAM_H

#include "../core/core.h"

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* A session layer between the engine and the descriptor (TLS). Without
   one the engine calls read() and sendmsg() on the descriptor itself. All
   calls on one session are serialised by the engine. */
struct fm_stream_session_ops {
    /* A connected descriptor: make its session from sarg (what the
       transport gave the endpoint), or NULL with *err set. Failures are
       reported to ep, which may be NULL (a shared listener's handshake). */
    void *(*start)(const void *sarg, struct fm_ep *ep, int fd, bool accepted, int *err);
    /* Advance the opening handshake: 0 once done, -EAGAIN while it waits
       (events() says on what), -errno when it failed (reported by it). */
    int (*handshake)(void *s);
    /* As read() and sendmsg() (>= 0 or -1 with errno, EAGAIN to wait).
       Bytes writev counted are the session's: it writes them out. read
       returns 0 at the peer's end, with or without its goodbye. */
    ssize_t (*read)(void *s, void *buf, size_t len);
    ssize_t (*writev)(void *s, const struct iovec *iov, int n);
    /* Bytes writev took that are not yet in the kernel. */
    bool (*pending)(void *s);
    /* Input the session already took from the descriptor (whole or part
       of a record): a poll on the descriptor does not see it. */
    bool (*buffered)(void *s);
    /* The interest to watch (FM_EV_*), given the engine's: what the
       session's last blocked call waits for replaces or adds to it. */
    uint32_t (*events)(void *s, uint32_t engine_events);
    /* Our end of the stream (before shutdown(SHUT_WR)), best effort. */
    void (*shutdown)(void *s);
    void (*destroy)(void *s);
};

/* ------------------------------------------------------------ framing */

/* Messages of this many bytes or more are read straight into their own
   body (a framer's parse asks for it with fm_stream_rx.big_size). */
#define FM_STREAM_DIRECT_MIN (16 * 1024)
#define FM_STREAM_OPEN_INLINE 16 /* an opening this short is kept inline */
#define FM_STREAM_SCRATCH_MAX 16 /* header bytes gather makes for one message */
#define FM_STREAM_GATHER_MAX 3   /* iovecs gather gives for one message */
#define FM_STREAM_REPLY_MAX 144  /* a control reply or goodbye, at most */

/* The receive buffer as a framer's parse sees it, and what it says back. */
struct fm_stream_rx {
    struct fm_pipe *pipe; /* complete messages go to fm_pipe_deliver */
    const uint8_t *in;    /* the input not parsed yet: in[0, len) */
    size_t len;
    size_t used;          /* out: bytes of in taken */
    bool full;            /* in/out: a delivery said FM_PIPE_FULL */
    bool past_full;       /* deliver anyway (the peer is gone: bounded) */
    bool held;            /* out: stopped before whole messages, being full */
    size_t big_size;      /* out: a message of this many bytes (at least
                             FM_STREAM_DIRECT_MIN) starts at in[used]: the
                             engine reads it into its own body, delivers it,
                             and calls parse again for what follows */
    struct fm_msg *big_msg; /* out, with big_size: NULL, or the framer's
                             message whose body the bytes go to, from offset
                             big_from up to big_size; the engine then calls
                             big_done instead of delivering */
    size_t big_from;
    bool midway;          /* out: the framer holds part of a message (the
                             peer must go on: stall watch) */
    uint8_t *reply;       /* FM_STREAM_REPLY_MAX bytes of room for... */
    size_t reply_len;     /* out: a control reply (ws pong), written
                             between messages; a later one replaces it */
    bool bye;             /* out: reply is instead our last word (ws close):
                             nothing more is read or sent but what is
                             partly out, and the connection ends */
    int bye_err;          /* out, with bye: the errno the loss counts with */
};

/* How messages look on the wire: one table per mapping, with per-connection
   state of state_size bytes that the engine keeps for it. open runs before
   the connection is shared; greet, parse and big_done run on its receive
   side (the loop, or a receiver that claimed it); prepare, gather and
   wire_len on its send side. What the send side reads of the state is
   fixed once open returns, so the two sides need no lock. */
struct fm_stream_framer {
    size_t state_size;
    size_t open_max;      /* bytes open may write */
    unsigned greet_ms;    /* the peer's opening must come within this */
    bool may_cut;         /* gather may stop at a frame's end, before the
                             message's: the engine then gathers nothing
                             after it in that call */
    bool control;         /* the peer sends frames that want an answer (ws
                             ping, close): the engine never leaves such a
                             connection unread (rx_idle) */
    /* The connection begins (arg: what the transport gave the endpoint).
       Our opening bytes go to out (open_max at most), written before any
       message; returns their count. */
    size_t (*open)(void *fs, const void *arg, struct fm_ep *ep, bool accepted, uint8_t *out);
    /* The peer's opening, in in[0, len): the bytes it took, 0 while it is
       incomplete, -errno to drop the connection. Sets *peer to the peer's
       SP protocol. */
    ssize_t (*greet)(void *fs, const uint8_t *in, size_t len, int *peer);
    /* Bytes that start every message: after a big one the engine reads
       only this much, so that the next big body is read into place too. */
    size_t (*head_len)(const void *fs);
    /* The wire bytes of m from offset off on, as at most
       FM_STREAM_GATHER_MAX iovecs appended at iov[*n] (*n grows); header
       bytes it makes go to scratch (FM_STREAM_SCRATCH_MAX). Returns the
       bytes they hold. Also the hot path's only call per message. */
    size_t (*gather)(const void *fs, struct fm_msg *m, size_t off, uint8_t *scratch,
                     struct iovec *iov, int *n);
    /* All the bytes m takes on the wire. */
    size_t (*wire_len)(const void *fs, const struct fm_msg *m);
    /* Optional: make m ready for the wire, once, on the sending thread
       before the connection lock (ws client masking). 0 or -errno. */
    int (*prepare)(const void *fs, struct fm_msg *m);
    /* Optional: a body parse asked for with rx->big_msg is complete. As
       parse: deliver (or keep assembling), reply, say bye. */
    int (*big_done)(void *fs, struct fm_stream_rx *rx);
    /* Optional: our last bytes when the endpoint lets an active
       connection go (ws close frame), after everything queued; returns
       their count (FM_STREAM_REPLY_MAX at most). */
    size_t (*goodbye)(const void *fs, uint8_t *out);
    /* Optional: forget input held (a message half assembled): the
       connection closes or stops reading. */
    void (*drop)(void *fs);
    /* Cut complete messages out of rx->in and deliver them, stopping when
       rx->full (unless rx->past_full) with rx->held set; see fm_stream_rx.
       0, or the errno that ends the connection. */
    int (*parse)(void *fs, struct fm_stream_rx *rx);
};

/* The SP mapping of tcp and tls+tcp (sp_framer.c): the 8-byte SP header
   exchange, then <size: 8 bytes BE><header><body>. Its arg: NULL, or
   &fm_sp_ipc_arg for ipc's 0x01 type byte in front of each message. */
extern const struct fm_stream_framer fm_sp_framer;
extern const bool fm_sp_ipc_arg;

/* What differs between the stream transports. */
struct fm_stream_tp {
    const struct fm_stream_framer *framer;
    /* Set per-connection socket options on a fresh descriptor (before
       connect() for outgoing ones). Optional. */
    void (*tune)(struct fm_ep *ep, int fd);
    /* A session on every connection (tls+tcp). Optional. */
    const struct fm_stream_session_ops *session;
    /* May the peer on this fresh descriptor (accepted or dialled) become a
       connection? 0, or -errno: the descriptor is closed at once, counted
       in NN_STAT_ACCEPT_ERRORS (accepted) or as a failed connect (dialled,
       which dials again later). Optional. */
    int (*admit)(struct fm_ep *ep, int fd);
};

/* Where a connecting endpoint goes. Either remote is a ready address, or
   host is a DNS name resolved (on a helper thread) before every attempt. */
struct fm_stream_target {
    struct sockaddr_storage remote;
    socklen_t remote_len;
    struct sockaddr_storage local; /* bind here first when local_len > 0 */
    socklen_t local_len;
    char host[256];                /* "" unless a name must be resolved */
    unsigned short port;           /* for host */
    int family;                    /* for host: AF_INET, or AF_UNSPEC */
};

/* What a transport gives an endpoint: the framer's arg and the session's
   (both outlive the endpoint's connections, which end before
   fm_stream_close returns). */
struct fm_stream_args {
    const void *framer;
    const void *session;
};

/* Take over a socket that is already bound and listening. unlink_path (may
   be NULL) names a file to remove when the endpoint closes, if it is still
   the file this listener created. Returns 0 or -errno (the caller then
   still owns fd). */
int fm_stream_listen(struct fm_ep *ep, const struct fm_stream_tp *tp, int fd,
                     const char *unlink_path, struct fm_stream_args args);

/* Start connecting (and reconnecting until the endpoint closes). */
int fm_stream_connect(struct fm_ep *ep, const struct fm_stream_tp *tp,
                      const struct fm_stream_target *target, struct fm_stream_args args);

/* An endpoint without a listener of its own: the transport accepts and
   runs the opening exchange itself (ws's listeners, shared by the
   endpoints bound to one port) and hands each connection over. */
int fm_stream_serve(struct fm_ep *ep, const struct fm_stream_tp *tp, struct fm_stream_args args);

/* Hand an accepted descriptor over to an endpoint of fm_stream_serve, its
   opening exchange done: sess is its session (NULL without one), peer the
   peer's SP protocol, opening our last opening bytes (written first:
   the 101 answer), input what already came after the peer's opening.
   Never with the endpoint closing (the transport keeps that order). The
   engine owns fd and sess from here on, failure or not. 0 or -errno. */
int fm_stream_adopt(struct fm_ep *ep, int fd, void *sess, int peer, const void *opening,
                    size_t opening_len, const void *input, size_t input_len);

/* The args an endpoint of the engine was made with (NULL: none). */
const struct fm_stream_args *fm_stream_args_of(const struct fm_ep *ep);

/* The fm_transport close hook of every stream transport. */
void fm_stream_close(struct fm_ep *ep);

#endif
