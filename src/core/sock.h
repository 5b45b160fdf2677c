/* sock.h: the socket object, private to the core (protocols and transports
   see sockets only through core.h). */
#ifndef FM_SOCK_H
#define FM_SOCK_H

#include "core.h"

#define FM_MAX_TRANSPORTS 8
#define FM_NAME_MAX 64

/* The NN_SOL_SOCKET int options, indexed by option number (what each
   one is, its range and how far a change reaches: the table in sock.c).
   Written under the socket lock, read without it too: a transport checks
   NN_RCVMAXSIZE on every incoming message and reads NN_LINGER when an
   endpoint closes. */
#define FM_SOCKOPT_MAX NN_MAXTTL
struct fm_sockopts {
    atomic_int val[FM_SOCKOPT_MAX + 1];
    atomic_bool chosen[FM_SOCKOPT_MAX + 1]; /* set by the application, not a default */
};

/* One direction's readiness. The protocol's word is kept in `ready`; the
   eventfd is brought in line with it only while somebody can be looking at
   it (a caller blocked in poll(), or an application that asked for the
   descriptor), so a busy socket nobody waits on makes no eventfd calls. */
struct fm_readiness {
    int fd;            /* -1 where the socket type lacks this direction */
    bool signalled;    /* the eventfd's state */
    atomic_bool ready; /* read without the lock by briefly spinning waiters */
    int watchers;      /* callers blocked in poll() on fd */
    bool exposed;      /* NN_SNDFD/NN_RCVFD was handed out, or nn_poll used */
};

struct fm_sock {
    struct fm_mutex lock;
    int id;
    int domain;
    const struct fm_proto *proto;
    void *pstate;

    /* Send and receive readiness, mirrored into the SNDFD/RCVFD eventfds. */
    struct fm_readiness snd, rcv;

    /* References to the memory: the table's, and one per pipe. */
    atomic_int refs;

    atomic_bool closing;

    struct fm_sockopts opt;
    /* NN_SOCKET_NAME: written under the socket lock and name_lock, read
       under either (the error printer, which may run under a connection
       lock, takes only name_lock: a leaf). */
    struct fm_mutex name_lock;
    char name[FM_NAME_MAX];
    int tpopts[FM_MAX_TRANSPORTS][FM_MAX_TRANSPORT_OPTS + 1];
    struct fm_tpobj *tpobj[FM_MAX_TRANSPORTS];

    struct fm_list pipes;
    struct fm_list eps;
    int next_ep_id;

    struct fm_list fq[16]; /* pipes with inbound messages, by rcvprio */
    int fq_count;
    const struct fm_ep *fq_last_ep; /* fm_fq_last_ep */

    atomic_int_least64_t stats[FM_STAT_COUNT];

    /* fm_pipe_burst: when the last nn_send was done (its deferred writes
       included, which run after the lock: atomic), when the current one
       started and whether that was soon after. */
    _Atomic uint64_t last_send_end;
    uint64_t send_ticks;
    bool burst;
    bool fanout; /* fm_sock_fanout: this send goes to many pipes */

    /* Attached pipes whose peer is in this process (transports without
       rx_claim: inproc): only their work can come within a caller's spin.
       Written under the socket lock, read without it. */
    atomic_int local_pipes;

    /* The pipe a caller blocked in nn_recv reads itself (rx_claim), if any,
       and whether a pipe may have been released idle since rx_watch_all. */
    struct fm_pipe *rx_claimed;
    bool rx_idle;
};

/* Lock / unlock a socket; unlock refreshes SNDFD/RCVFD from the protocol's
   events and then runs the cross-socket work deferred meanwhile. */
void fm_sock_refresh(struct fm_sock *s);
void fm_sock_ref(struct fm_sock *s);
void fm_sock_unref(struct fm_sock *s);

/* For nn_device (device.c). */
int fm_sock_dup_fd(int id, int option);

/* The pipe a blocked caller was reading itself is being detached: wake
   that caller (socket lock held). */
void fm_sock_rx_lost(struct fm_sock *s, struct fm_pipe *p);

/* Pipes (pipe.c) for the socket code. */
void fm_fq_remove(struct fm_sock *s, struct fm_pipe *p);
/* nn_shutdown: the messages that arrived through the endpoint's pipes and
   wait to be received go with it, as in the stock library, whose pipes
   hold them. Called once the endpoint's close has returned, so that none
   of its pipes accepts more (socket lock held). */
void fm_fq_discard_ep(struct fm_sock *s, const struct fm_ep *ep);

#endif
