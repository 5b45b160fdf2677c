/* stream.h: the connection engine shared by the byte-stream transports
   (tcp://, ipc://, tls+tcp://), and the two tables it is built from. A
   transport parses its address, makes the listening socket or the connect
   target, and hands over; the engine runs the rest: accepting and
   connecting (with reconnect backoff and name resolution off the caller's
   thread), the opening exchange, the direct-write send path, staging,
   backpressure both ways, linger and statistics. Three layers:

       bytes (the descriptor, or a session: fm_stream_session_ops)
         -> framing (fm_stream_framer: SP's in sp_framer.c)
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
    /* A connected descriptor: make its session, or NULL with *err set. */
    void *(*start)(struct fm_ep *ep, int fd, bool accepted, int *err);
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
#define FM_STREAM_OPEN_MAX 16    /* our opening bytes, at most */
#define FM_STREAM_SCRATCH_MAX 16 /* header bytes gather makes for one message */
#define FM_STREAM_GATHER_MAX 3   /* iovecs gather gives for one message */

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
};

/* How messages look on the wire: one table per mapping, with per-connection
   state of state_size bytes that the engine keeps for it. open runs before
   the connection is shared; greet and parse run on its receive side (the
   loop, or a receiver that claimed it); gather and wire_len on its send
   side. The state is fixed once open returns, so the two sides read it
   without a lock. */
struct fm_stream_framer {
    size_t state_size;
    /* The connection begins (arg: fm_stream_tp.framer_arg). Our opening
       bytes go to out (FM_STREAM_OPEN_MAX at most), written before any
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
    /* Cut complete messages out of rx->in and deliver them, stopping when
       rx->full (unless rx->past_full) with rx->held set; see fm_stream_rx.
       0, or the errno that ends the connection. */
    int (*parse)(void *fs, struct fm_stream_rx *rx);
};

/* The SP mapping of tcp and tls+tcp (sp_framer.c): the 8-byte SP header
   exchange, then <size: 8 bytes BE><header><body>. framer_arg: NULL, or
   &fm_sp_ipc_arg for ipc's 0x01 type byte in front of each message. */
extern const struct fm_stream_framer fm_sp_framer;
extern const bool fm_sp_ipc_arg;

/* What differs between the stream transports. */
struct fm_stream_tp {
    const struct fm_stream_framer *framer;
    const void *framer_arg;
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

/* Take over a socket that is already bound and listening. unlink_path (may
   be NULL) names a file to remove when the endpoint closes, if it is still
   the file this listener created. Returns 0 or -errno (the caller then
   still owns fd). */
int fm_stream_listen(struct fm_ep *ep, const struct fm_stream_tp *tp, int fd,
                     const char *unlink_path);

/* Start connecting (and reconnecting until the endpoint closes). */
int fm_stream_connect(struct fm_ep *ep, const struct fm_stream_tp *tp,
                      const struct fm_stream_target *target);

/* The fm_transport close hook of every stream transport. */
void fm_stream_close(struct fm_ep *ep);

#endif
