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

/* What differs between the stream transports. */
struct fm_stream_tp {
    /* ipc: each message starts with a type byte (0x01) before its size. */
    bool type_byte;
    /* Set per-connection socket options on a fresh descriptor (before
       connect() for outgoing ones). Optional. */
    void (*tune)(struct fm_ep *ep, int fd);
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
