/* stream.h: the connection engine shared by the byte-stream transports
   (tcp://, ipc://). A transport parses its address, makes the listening
   socket or the connect target, and hands over; the engine runs the rest:
   accepting and connecting (with reconnect backoff and name resolution off
   the caller's thread), the SP header exchange, length-prefixed framing,
   the direct-write send path, backpressure both ways, linger and
   statistics. */
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
    /* The epoll interest to watch, given the engine's: what the session's
       last blocked call waits for replaces or adds to it. */
    uint32_t (*events)(void *s, uint32_t engine_events);
    /* Our end of the stream (before shutdown(SHUT_WR)), best effort. */
    void (*shutdown)(void *s);
    void (*destroy)(void *s);
};

/* What differs between the stream transports. */
struct fm_stream_tp {
    /* ipc: each message starts with a type byte (0x01) before its size. */
    bool type_byte;
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
