/* core.h: the internal contract of femtomsg. It owns the definitions of
   messages, pipes, endpoints and sockets, and the two function tables
   (struct fm_proto, struct fm_transport) through which every protocol and
   every transport plugs in. Public names start with nn_, internal ones with
   fm_, so a reader always knows which side of the API a name is on.

   Every lock of the library, what it protects and the only order in which
   they may be taken: the lock table in docs/ARCHITECTURE.md ("Locks"). */
#ifndef FM_CORE_H
#define FM_CORE_H

#include <nanomsg/nn.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FM_MAX_SOCKETS 512
#define FM_MAX_TRANSPORT_OPTS 4
#define FM_HDR_INLINE 28

/* Intrusive doubly linked lists. */
struct fm_list {
    struct fm_list *next;
    struct fm_list *prev;
};
#define FM_CONTAINER(ptr, type, member) \
    ((type *) (void *) ((char *) (ptr) - offsetof(type, member)))
static inline void fm_list_init(struct fm_list *l) { l->next = l->prev = l; }
static inline bool fm_list_empty(const struct fm_list *l) { return l->next == l; }
static inline bool fm_list_linked(const struct fm_list *n) { return n->next != NULL && n->next != n; }
static inline void fm_list_insert_tail(struct fm_list *l, struct fm_list *n)
{
    n->prev = l->prev;
    n->next = l;
    l->prev->next = n;
    l->prev = n;
}
static inline void fm_list_remove(struct fm_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = n;
}

/* -------------------------------------------------- checked invariants
   A rule a comment states ("socket lock held", "on the loop's thread") is
   also checked in debug builds and in every sanitizer build (CMakeLists.txt
   undefines NDEBUG for FM_SANITIZE). In Release they compile to nothing:
   struct fm_mutex is then exactly a pthread_mutex_t and its calls are the
   plain pthread ones, so the hot path pays nothing. */
#ifndef NDEBUG
#define FM_CHECKS 1
#include <assert.h>
#define FM_ASSERT(cond) assert(cond)
#else
#define FM_CHECKS 0
#define FM_ASSERT(cond) ((void) sizeof(cond))
#endif

/* A mutex that knows its holder in checked builds. */
struct fm_mutex {
    pthread_mutex_t m;
#if FM_CHECKS
    _Atomic(const void *) owner; /* &fm_thread_tag of the holder, or NULL */
#endif
};
#define FM_MUTEX_INITIALIZER {.m = PTHREAD_MUTEX_INITIALIZER}
#if FM_CHECKS
/* One per thread (util.c): its address names the thread. */
extern _Thread_local char fm_thread_tag;
#define FM_MUTEX_MINE(mx) \
    (atomic_load_explicit(&(mx)->owner, memory_order_relaxed) == &fm_thread_tag)
#endif
static inline void fm_mutex_init(struct fm_mutex *mx)
{
    pthread_mutex_init(&mx->m, NULL);
#if FM_CHECKS
    atomic_init(&mx->owner, NULL);
#endif
}
static inline void fm_mutex_destroy(struct fm_mutex *mx) { pthread_mutex_destroy(&mx->m); }
static inline void fm_mutex_lock(struct fm_mutex *mx)
{
#if FM_CHECKS
    assert(!FM_MUTEX_MINE(mx)); /* not recursive */
#endif
    pthread_mutex_lock(&mx->m);
#if FM_CHECKS
    atomic_store_explicit(&mx->owner, &fm_thread_tag, memory_order_relaxed);
#endif
}
static inline void fm_mutex_unlock(struct fm_mutex *mx)
{
#if FM_CHECKS
    assert(FM_MUTEX_MINE(mx));
    atomic_store_explicit(&mx->owner, NULL, memory_order_relaxed);
#endif
    pthread_mutex_unlock(&mx->m);
}
static inline void fm_cond_wait(pthread_cond_t *cv, struct fm_mutex *mx)
{
#if FM_CHECKS
    assert(FM_MUTEX_MINE(mx));
    atomic_store_explicit(&mx->owner, NULL, memory_order_relaxed);
#endif
    pthread_cond_wait(cv, &mx->m);
#if FM_CHECKS
    atomic_store_explicit(&mx->owner, &fm_thread_tag, memory_order_relaxed);
#endif
}

#if FM_CHECKS
/* This thread holds the fm_mutex mx / does not hold it. */
#define FM_ASSERT_LOCKED(mx) assert(FM_MUTEX_MINE(mx))
#define FM_ASSERT_UNLOCKED(mx) assert(!FM_MUTEX_MINE(mx))
/* Some thread holds a plain pthread mutex (locks that code outside the
   core also takes directly, such as a pipe's inq_lock): weaker, but it
   catches a forgotten lock. A free mutex is taken and released only on
   the way to the failure. */
#define FM_ASSERT_HELD(pm) assert(pthread_mutex_trylock(pm) == EBUSY)
/* The calling thread is loop's. */
#define FM_ASSERT_ON_LOOP(loop) assert(fm_loop_is_current(loop))
#define FM_ASSERT_OFF_LOOP(loop) assert(!fm_loop_is_current(loop))
#else
#define FM_ASSERT_LOCKED(mx) ((void) sizeof(mx))
#define FM_ASSERT_UNLOCKED(mx) ((void) sizeof(mx))
#define FM_ASSERT_HELD(pm) ((void) sizeof(pm))
#define FM_ASSERT_ON_LOOP(loop) ((void) sizeof(loop))
#define FM_ASSERT_OFF_LOOP(loop) ((void) sizeof(loop))
#endif

/* ------------------------------------------------------ integer options
   The helper pair every option handler uses for an int value.
   fm_opt_int_in: a value of exactly sizeof(int) bytes within [min, max]
   into *out; -EINVAL for another length or a value out of range, -EFAULT
   for a NULL value (a caller that checked NULL-with-a-length first, as
   nn_setsockopt does, sees EFAULT before EINVAL). *out is untouched on
   failure.
   fm_opt_int_out: as the stock library reads an int option: a buffer
   shorter than an int gets its first *len bytes, and *len becomes
   sizeof(int) whatever it was. Always 0. */
int fm_opt_int_in(const void *val, size_t len, int min, int max, int *out);
int fm_opt_int_out(void *val, size_t *len, int v);

/* ---------------------------------------------------------------- time */
uint64_t fm_now_ms(void);       /* monotonic */
/* A cheap clock for the send path's streaming heuristics (fm_pipe_burst):
   the time-stamp counter where there is one, since clock_gettime costs more
   than a staged send on a KVM guest; nanoseconds elsewhere. */
#if defined(__x86_64__) || defined(__i386__)
static inline uint64_t fm_ticks(void) { return __builtin_ia32_rdtsc(); }
#define FM_TICKS_PER_US 3000 /* an assumed 3 GHz: only heuristics use it */
#else
uint64_t fm_ticks(void);
#define FM_TICKS_PER_US 1000
#endif
uint32_t fm_random_u32(void);
/* How long a connection holding part of a message may go without a byte
   while we are willing to read before it is dropped: FM_RX_STALL_MS, read
   once, default 30 s; 0 when the check is off. */
uint64_t fm_rx_stall_ms(void);
uint32_t fm_get_u32(const uint8_t *p);           /* big-endian */
void fm_put_u32(uint8_t *p, uint32_t v);
uint64_t fm_get_u64(const uint8_t *p);
void fm_put_u64(uint8_t *p, uint64_t v);

/* ------------------------------------------------------------- messages
   A message is a small struct passed by value (queues store it inline, so
   queueing allocates nothing) holding a reference-counted body chunk and a
   protocol header kept apart from the body, so protocols add or strip
   header words without touching the body. The body chunk is exactly what
   nn_allocmsg hands out, so NN_MSG sends and receives move the user's
   buffer itself. */
struct fm_chunk;

struct fm_msg {
    struct fm_chunk *body;
    uint8_t *hdr_heap; /* used when the header outgrows hdr_inline */
    uint32_t hdr_len;
    uint32_t hdr_cap;
    uint8_t hdr_inline[FM_HDR_INLINE];
};

void *fm_chunk_alloc_user(size_t size);           /* nn_allocmsg */
struct fm_chunk *fm_chunk_from_user(void *ptr);   /* NULL if not ours */
void *fm_chunk_realloc_user(void *ptr, size_t size);
void fm_chunk_release(struct fm_chunk *c);

void fm_msg_init_empty(struct fm_msg *m); /* size 0, never fails */
int fm_msg_init(struct fm_msg *m, size_t size);  /* 0 or -ENOMEM */
int fm_msg_init_copy(struct fm_msg *m, const void *data, size_t size);
void fm_msg_init_chunk(struct fm_msg *m, struct fm_chunk *c); /* takes it */
void fm_msg_term(struct fm_msg *m);
void fm_msg_move(struct fm_msg *dst, struct fm_msg *src);
int fm_msg_dup(struct fm_msg *dst, const struct fm_msg *src); /* shares body */
uint8_t *fm_msg_body(const struct fm_msg *m);
size_t fm_msg_size(const struct fm_msg *m);
static inline uint8_t *fm_msg_hdr(struct fm_msg *m)
{
    return m->hdr_heap ? m->hdr_heap : m->hdr_inline;
}
static inline size_t fm_msg_hdr_len(const struct fm_msg *m) { return m->hdr_len; }
int fm_msg_hdr_set(struct fm_msg *m, const void *data, size_t len);
int fm_msg_hdr_push_u32(struct fm_msg *m, uint32_t word); /* prepend */
void fm_msg_hdr_clear(struct fm_msg *m);
/* Move the first n body bytes to the end of the header (after reading a
   wire payload, a protocol lifts its header words out of the body). */
int fm_msg_body_to_hdr(struct fm_msg *m, size_t n);
/* Put the header back in front of the body (one copy of both), as a stream
   transport would carry it; used where a header a protocol does not
   interpret travels as payload. Leaves m untouched on failure. */
int fm_msg_hdr_to_body(struct fm_msg *m);
/* Drop the first n bytes of the body without copying. */
void fm_msg_body_trim(struct fm_msg *m, size_t n);
/* Give the body to the user as an nn_allocmsg buffer (copies only when the
   chunk is shared with other messages); the message becomes empty. */
void *fm_msg_take_user_buffer(struct fm_msg *m);
/* Make the body writable by this message alone (copy when shared). */
int fm_msg_unshare(struct fm_msg *m);
/* Resize an unshared body to size bytes, keeping what fits (a message read
   as its bytes arrive grows into its final size: the chunk is then exactly
   an nn_allocmsg(size) one). Leaves m untouched on failure. */
int fm_msg_body_resize(struct fm_msg *m, size_t size);
/* The first size bytes of a body that may grow to most: a kept chunk with
   room up to most serves if there is one (memory already ours, so none is
   spent on a size only announced). */
int fm_msg_init_upto(struct fm_msg *m, size_t size, size_t most);

/* What one message costs beyond its bytes: its struct (a queue slot) and
   its chunk's head (msg.c checks that it covers both). The stream
   transports count it for every message against NN_RCVBUF and NN_SNDBUF,
   so that those bound memory, not payload: empty messages from a peer fill
   a queue too. */
#define FM_MSG_OVERHEAD 128

/* A FIFO of messages stored by value in a growable ring (cap: a power of two). */
struct fm_msgq {
    struct fm_msg *ring;
    size_t cap;
    size_t head;
    size_t count;
    size_t bytes; /* header and body bytes */
};
void fm_msgq_init(struct fm_msgq *q);
void fm_msgq_term(struct fm_msgq *q); /* drops what is left */
int fm_msgq_push(struct fm_msgq *q, struct fm_msg *m); /* moves m in */
bool fm_msgq_pop(struct fm_msgq *q, struct fm_msg *out);
static inline struct fm_msg *fm_msgq_peek(struct fm_msgq *q)
{
    return q->count ? &q->ring[q->head] : NULL;
}

/* ---------------------------------------------------------- event loops
   A small fixed pool of loop threads (loop.c). An object picks one loop
   when it is made (fm_loop_pick) and gives it to every timer, watch and
   post of its own, so all its callbacks run on that one thread, in order:
   what only they touch needs no lock. Callbacks of different objects may
   run at the same time on different loops. */
struct fm_loop;
/* The least loaded loop (by descriptors watched), round robin on ties.
   Starts its thread if it is not running yet; a loop that cannot start
   (no descriptors left) is passed over for a running one. */
struct fm_loop *fm_loop_pick(void);
/* fm_loop_pick for an object whose watch is added later, on the loop
   itself: it counts as watched from now on, so that a burst of accepted
   connections spreads over the loops instead of all going to the one
   that looked least loaded before any of them was added. The object calls
   fm_loop_reserved_done once, when it has added its watch (or will not). */
struct fm_loop *fm_loop_pick_reserving(void);
void fm_loop_reserved_done(struct fm_loop *loop);
/* True on the thread of loop. */
bool fm_loop_is_current(const struct fm_loop *loop);

/* Timers run on their loop's thread. A callback locks its socket and
   checks its own protocol state (a deadline it stored), so a stale firing
   after a re-schedule or cancel is harmless. */
struct fm_timer {
    uint64_t due;
    size_t heap_index; /* 0: not scheduled */
    struct fm_loop *loop;
    void (*cb)(void *arg);
    void *arg;
};
void fm_timer_init(struct fm_timer *t, struct fm_loop *loop, void (*cb)(void *), void *arg);
void fm_timer_schedule(struct fm_timer *t, uint64_t delay_ms);
void fm_timer_cancel(struct fm_timer *t);
/* Cancel and wait until a callback that already started has returned. Must
   not be called with a lock the callback takes. */
void fm_timer_cancel_sync(struct fm_timer *t);

/* What a watch waits for, and what its callback is told: the core's own
   words, which loop.c alone translates for the kernel (epoll on Linux;
   another poller would translate them to its own). A watch asks for
   FM_EV_IN, FM_EV_OUT and/or FM_EV_RDHUP (the peer ended its output, even
   where FM_EV_IN is not asked for, reported as FM_EV_HUP); FM_EV_ERR and
   FM_EV_HUP are only ever reported. */
#define FM_EV_IN 0x1u
#define FM_EV_OUT 0x2u
#define FM_EV_ERR 0x4u
#define FM_EV_HUP 0x8u
#define FM_EV_RDHUP 0x10u

/* File-descriptor watches on a loop (network transports). */
struct fm_watch {
    int fd;
    uint32_t events; /* FM_EV_IN / FM_EV_OUT as wanted now */
    struct fm_loop *loop;
    void (*cb)(struct fm_watch *w, uint32_t revents);
    void *arg;
    bool registered;
};
int fm_watch_add(struct fm_watch *w, struct fm_loop *loop, int fd, uint32_t events,
                 void (*cb)(struct fm_watch *, uint32_t), void *arg);
/* Any thread; the caller serialises its own calls for one watch. */
int fm_watch_set(struct fm_watch *w, uint32_t events);
/* Unregister and wait until a callback on it that already started returned
   (unless called from that very callback). */
void fm_watch_del(struct fm_watch *w);
/* Run fn(arg) on loop's thread soon, after what was posted there before
   (used to hand work to an object's loop, or off a caller that holds
   locks). */
void fm_loop_post(struct fm_loop *loop, void (*fn)(void *), void *arg);
/* Stop the loop threads (not from one of them); a later use restarts. */
void fm_loop_shutdown(void);

/* ----------------------------------------------------------------- pipes
   A pipe is one live connection of a socket to one peer. The transport
   creates it, delivers inbound messages into its queue (fm_pipe_deliver),
   and takes outbound ones through ops->send. The protocol sees it through
   pipe_add / pipe_rm / pipe_writable and sends with fm_pipe_send. */
struct fm_pipe;
struct fm_sock;
struct fm_ep;

#define FM_PIPE_FULL 1 /* returned by send/deliver: no more until notified */

struct fm_pipe_ops {
    /* Take one outbound message (the pipe owns it afterwards, whatever the
       result). Returns 0, FM_PIPE_FULL when the pipe can take no more until
       fm_pipe_writable(), or -errno when it is broken (message dropped).
       Called with the socket lock held: must not take another socket's
       lock (use fm_defer_*). */
    int (*send)(struct fm_pipe *p, struct fm_msg *msg);
    /* The socket is done with the pipe. The transport tears the connection
       down and drops its reference with fm_pipe_unref. Called without the
       socket lock. */
    void (*close)(struct fm_pipe *p);
    /* The inbound queue had been full and now has room: resume reading
       (stream transports) or unblock the sender (inproc). Called without
       any socket lock. */
    void (*inq_space)(struct fm_pipe *p);
    /* The last reference is gone; the pipe's memory is freed right after.
       Optional. */
    void (*free)(struct fm_pipe *p);
    /* Optional: let a thread blocked in nn_recv read the connection itself
       instead of waiting for the transport's thread to read and wake it.
       rx_claim (socket lock held) takes reading over and returns the
       descriptor to poll, or -1 when not now; rx_pump (no lock) reads what
       the kernel has and delivers it, false once the pipe can no longer be
       read this way (broken, closing, inbound queue full); rx_release
       (socket lock held) hands reading back, or, with idle, leaves it off
       until rx_watch (socket lock held; true if it was off), so that a
       receiver that comes back for the next message costs no change of
       the transport's watch either way. An idle pipe is still watched for
       the peer's close. A pipe detached while claimed wakes its claimer
       (the core's business). */
    int (*rx_claim)(struct fm_pipe *p);
    bool (*rx_pump)(struct fm_pipe *p);
    void (*rx_release)(struct fm_pipe *p, bool idle);
    bool (*rx_watch)(struct fm_pipe *p);
    /* Whether the pipe can take a message now, judged on the transport's
       state at this moment; true also clears what made send answer
       FM_PIPE_FULL. A protocol asks before treating a pipe it was told is
       full as full: the fm_pipe_writable that ends the state is made by
       another thread after the fact, and the peer may have the whole
       backlog, have answered it and been answered before it arrives.
       Socket lock held. */
    bool (*has_room)(struct fm_pipe *p);
    /* Optional: write out what send left for after the socket lock
       (send called fm_defer_flush), so that the system call does not hold
       the socket lock that the transport's threads need to hand over
       messages. Called without any socket lock. */
    void (*flush)(struct fm_pipe *p);
};

struct fm_pipe {
    struct fm_sock *sock;      /* pinned: its memory outlives the pipe */
    struct fm_ep *ep;          /* valid until the endpoint's close returns */
    const struct fm_pipe_ops *ops;
    void *tdata;       /* transport's */
    void *pdata;       /* protocol's */
    uint32_t id;       /* 31-bit, for REQ/REP and SURVEY backtraces */
    int sndprio;
    int rcvprio;
    atomic_int refs;

    /* Guarded by the socket lock. */
    struct fm_list sock_node;  /* sock->pipes */
    struct fm_list fq_node;    /* sock->fq[prio] while it has messages */
    struct fm_list lb_node;    /* a protocol's fm_lb */
    bool attached;             /* protocol knows it */
    bool offered;              /* attached once: its queued messages count */
    bool in_fq;
    uint8_t lb_state;          /* FM_LB_OUT, FM_LB_WRITABLE, FM_LB_FULL */
    bool burst;                /* fm_pipe_burst, set by fm_pipe_send */
    uint64_t last_send_ticks;  /* fm_ticks() of the last nn_send to it */

    /* Guarded by inq_lock. */
    pthread_mutex_t inq_lock;
    struct fm_msgq inq;
    size_t inq_limit;          /* bytes; one message always fits */
    size_t inq_msg_cost;       /* counted for each queued message on top of its
                                  bytes: FM_MSG_OVERHEAD from a peer over a
                                  stream, 0 over inproc (as stock counts) */
    size_t inq_resume;         /* a full queue has room again below this:
                                  inq_limit over inproc (one message taken lets
                                  one in, as stock), three quarters of it from
                                  a stream peer, so that each resumption of its
                                  reading is worth a loop wake-up */
    bool inq_full;             /* the deliverer was told FM_PIPE_FULL */
    bool inq_closed;           /* no more deliveries accepted */
};

/* Transport side. */
struct fm_pipe *fm_pipe_create(struct fm_ep *ep, const struct fm_pipe_ops *ops,
                               void *tdata);
/* Offer the pipe to the socket after the peer's protocol is known. Returns
   0, or -errno when refused (incompatible peer, PAIR already paired, socket
   closing): the transport must then close it. */
int fm_pipe_attach(struct fm_pipe *p, int peer_protocol);
/* The connection is gone: the protocol forgets the pipe; messages already
   queued stay receivable. Safe to call more than once. No locks held. */
void fm_pipe_detach(struct fm_pipe *p);
/* Queue one inbound message (moves it). Returns 0, FM_PIPE_FULL when the
   queue reached its limit (the deliverer stops until ops->inq_space), or
   -EPIPE when the pipe no longer accepts (message dropped). May be called
   with another socket's lock held. */
int fm_pipe_deliver(struct fm_pipe *p, struct fm_msg *msg);
/* The pipe can accept outbound messages again. No socket lock held, or use
   fm_defer_writable. A notification the pipe has outlived (it filled up
   again meanwhile) is ignored: ops->has_room is asked first. */
void fm_pipe_writable(struct fm_pipe *p);
void fm_pipe_ref(struct fm_pipe *p);
void fm_pipe_unref(struct fm_pipe *p);

/* Lock a socket from outside a protocol callback (timer callbacks).
   Unlocking refreshes SNDFD/RCVFD from the protocol's events and runs the
   deferred cross-socket work. fm_sock_closing is true once nn_close or
   nn_term began: a timer callback then does nothing and re-arms nothing. */
void fm_sock_lock(struct fm_sock *s);
void fm_sock_unlock(struct fm_sock *s);
bool fm_sock_closing(struct fm_sock *s);
/* Checked builds: this thread holds s's lock (FM_ASSERT_SOCK_LOCKED), or
   holds no socket lock at all (FM_ASSERT_NO_SOCK_LOCK: code that is about
   to lock a socket, or is documented to run without one). */
#if FM_CHECKS
bool fm_sock_locked(const struct fm_sock *s);
bool fm_sock_any_locked(void);
#define FM_ASSERT_SOCK_LOCKED(s) assert(fm_sock_locked(s))
#define FM_ASSERT_NO_SOCK_LOCK() assert(!fm_sock_any_locked())
#else
#define FM_ASSERT_SOCK_LOCKED(s) ((void) sizeof(s))
#define FM_ASSERT_NO_SOCK_LOCK() ((void) 0)
#endif
/* True while the message being sent (ops->send) continues a stream to
   this pipe: the nn_send follows the socket's previous one within about a
   microsecond, and this pipe had a message within the last FM_PIPE_BURST_US
   too. A transport may then gather small messages instead of making a
   system call for each. A REP server's replies, or anything spread over
   many pipes more thinly than that, are lone messages and go out at once.
   Socket lock held. */
#define FM_PIPE_BURST_US 20
bool fm_pipe_burst(struct fm_pipe *p);
/* True while the nn_send in progress goes to FM_FANOUT_MIN pipes or more
   (fm_lb_send_all): a transport then leaves the writing to its loop
   threads, which write each connection's backlog in batches, rather than
   have the sender make a system call per pipe. Socket lock held. */
#define FM_FANOUT_MIN 8
bool fm_sock_fanout(struct fm_sock *s);

/* Protocol side (socket lock held). */
int fm_pipe_send(struct fm_pipe *p, struct fm_msg *msg);
/* ops->has_room: the pipe's state now, whatever send said last. */
bool fm_pipe_has_room(struct fm_pipe *p);
/* For a protocol that keeps its own flag of a pipe's writability (cleared
   when send answered non-zero, set by pipe_writable): true when it may send
   now, refreshing a cleared flag from the pipe's state. */
static inline bool fm_pipe_may_send(struct fm_pipe *p, bool *writable)
{
    if (!*writable)
        *writable = fm_pipe_has_room(p);
    return *writable;
}
/* An NN_SOL_SOCKET option's value as set now (NN_LINGER too, though
   nn_getsockopt reads it as 0). Any thread, with or without the lock. */
int fm_sock_opt_int(struct fm_sock *s, int option);
/* An int option of a transport level as set now (ws reads NN_TCP_NODELAY
   for each connection it makes); -1 for none. Takes the socket lock. */
int fm_sock_tpopt_int(struct fm_sock *s, int level, int option);
/* NN_RCVMAXSIZE as set now, SIZE_MAX for no limit: a stream transport
   checks every incoming message against it, so a limit set on a live
   connection applies to its next message, as in stock. Any thread, no
   lock; cheap. */
size_t fm_sock_rcvmax(struct fm_sock *s);
bool fm_sock_is_raw(struct fm_sock *s);
int fm_sock_type(struct fm_sock *s); /* fixed for the socket's life */

/* Deferred cross-socket notifications (thread-local; run after the socket
   lock is released by fm_sock_unlock). */
void fm_defer_readable(struct fm_pipe *p);
void fm_defer_writable(struct fm_pipe *p);
void fm_defer_inq_space(struct fm_pipe *p);
void fm_defer_flush(struct fm_pipe *p);
void fm_run_deferred(void);

/* Fair queue of inbound messages across the socket's pipes, by NN_RCVPRIO
   then round-robin. Every protocol receives through it. */
int fm_fq_recv(struct fm_sock *s, struct fm_msg *out, struct fm_pipe **from);
bool fm_fq_readable(struct fm_sock *s);
/* The endpoint of the pipe the last message fm_fq_recv returned came
   through: an identity to compare with ep_discard's, never dereferenced. */
const struct fm_ep *fm_fq_last_ep(struct fm_sock *s);

/* Load balancer: round-robin among writable pipes of the best NN_SNDPRIO.
   A pipe whose send answered non-zero waits on the full list until
   pipe_writable (fm_lb_writable), or until a send finds it has room again
   (fm_pipe_has_room): what is judged is the pipe's state at the send. */
enum { FM_LB_OUT, FM_LB_WRITABLE, FM_LB_FULL };
struct fm_lb {
    struct fm_list prio[16];
    struct fm_list full;
    int count;      /* writable pipes */
    int full_count;
};
void fm_lb_init(struct fm_lb *lb);
void fm_lb_add(struct fm_lb *lb, struct fm_pipe *p);      /* writable */
void fm_lb_rm(struct fm_lb *lb, struct fm_pipe *p);       /* the pipe is gone */
void fm_lb_writable(struct fm_lb *lb, struct fm_pipe *p); /* pipe_writable */
bool fm_lb_can_send(const struct fm_lb *lb);
int fm_lb_best_prio(const struct fm_lb *lb); /* 1..16, or 0 when none */
/* Send to the next pipe (moves msg). -EAGAIN if none is writable (msg
   untouched). On success *to (when not NULL) names the pipe used. */
int fm_lb_send(struct fm_lb *lb, struct fm_msg *msg, struct fm_pipe **to);
/* Send a copy of msg (consumed; the body is shared) to every pipe that can
   take it now but the one whose id is skip_id (0: none). A full pipe
   misses it. */
void fm_lb_send_all(struct fm_lb *lb, struct fm_msg *msg, uint32_t skip_id);

/* ------------------------------------------------------------- protocols */
#define FM_CAN_SEND 1u
#define FM_CAN_RECV 2u
#define FM_PROTO_NOSEND 1u /* nn_send fails with ENOTSUP */
#define FM_PROTO_NORECV 2u /* nn_recv fails with ENOTSUP */

struct fm_proto {
    int type;          /* NN_PAIR, ... */
    int peer;          /* the type it accepts as a peer */
    const char *name;  /* "pair", used by the ws subprotocol */
    unsigned flags;
    size_t state_size;
    int (*init)(void *st, struct fm_sock *s, bool raw);
    /* Called without the socket lock once no pipe, caller or endpoint is
       left: cancel timers with fm_timer_cancel_sync and free what init made. */
    void (*term)(void *st);
    int (*pipe_add)(void *st, struct fm_pipe *p);
    void (*pipe_rm)(void *st, struct fm_pipe *p);
    void (*pipe_writable)(void *st, struct fm_pipe *p);
    /* 0: the message was taken (moved out of msg); -EAGAIN: not now, msg
       untouched; other -errno: fails, msg untouched. */
    int (*send)(void *st, struct fm_msg *msg);
    /* 0 with *msg filled; -EAGAIN; or -EFSM, -ETIMEDOUT, ... */
    int (*recv)(void *st, struct fm_msg *msg);
    unsigned (*events)(void *st);
    /* Absolute fm_now_ms() deadline after which a blocked nn_recv should
       look again (SURVEYOR), or 0 for none. Optional. */
    uint64_t (*recv_deadline)(void *st);
    int (*setopt)(void *st, int option, const void *val, size_t len);
    int (*getopt)(void *st, int option, void *val, size_t *len);
    /* NN_STAT_CURRENT_SND_PRIORITY: the best priority among the pipes it
       can send to now (fm_lb_best_prio), 0 when none. Optional. */
    int (*send_priority)(void *st);
    /* nn_shutdown of ep: drop any message taken from the fair queue ahead
       of nn_recv that came through it (fm_fq_last_ep). Optional. */
    void (*ep_discard)(void *st, const struct fm_ep *ep);
};

/* ------------------------------------------------------------ transports */

/* Options a transport keeps outside the int table (TLS certificates and
   keys): a reference-counted object of the transport's, one per socket,
   of which every endpoint takes a reference when it is created. The
   transport never changes an object another holder may see: setopt_obj
   replaces it (copy on write), and bind/connect may replace the
   endpoint's with one of its own. */
struct fm_tpobj {
    atomic_int refs;
    void (*free)(struct fm_tpobj *o);
};
static inline struct fm_tpobj *fm_tpobj_ref(struct fm_tpobj *o)
{
    if (o)
        atomic_fetch_add(&o->refs, 1);
    return o;
}
static inline void fm_tpobj_unref(struct fm_tpobj *o)
{
    if (o && atomic_fetch_sub(&o->refs, 1) == 1)
        o->free(o);
}

struct fm_ep {
    struct fm_sock *sock;
    const struct fm_transport *tp;
    void *tdata;
    int id;
    bool bound;        /* nn_bind rather than nn_connect */
    char addr[NN_SOCKADDR_MAX + 1];
    struct fm_list sock_node;
    /* Socket options fixed when the endpoint is created, as in stock. */
    int sndprio, rcvprio;
    int reconnect_ivl, reconnect_ivl_max;
    int ipv4only;
    /* The socket's current values, kept up to date by nn_setsockopt (so
       read them atomically, with no lock): a transport reads them when it
       makes a connection, so an option set after nn_bind/nn_connect
       applies to the endpoint's next connections, as in stock. */
    atomic_int sndbuf, rcvbuf;
    atomic_bool sndbuf_set, rcvbuf_set; /* by the application, not defaults */
    atomic_int tpopts[FM_MAX_TRANSPORT_OPTS + 1];
    struct fm_tpobj *tpobj; /* the socket's at creation (may be NULL) */
    struct fm_tpobj *tpobj_extra; /* of the transport's extra_level, likewise */
    atomic_int last_error; /* 0 while healthy */
    /* NN_PRINT_ERRORS: when the endpoint's last line was printed, and how
       often the same error came back since without a line. */
    atomic_uint_least64_t err_printed_ms;
    atomic_uint err_repeats;
};

struct fm_transport {
    const char *scheme;  /* "inproc" (before "://") */
    int level;           /* option level: NN_INPROC, NN_TCP, ... */
    /* Start listening / connecting. The address part after "://" is in
       ep->addr + strlen(scheme) + 3. Returns 0 or -errno (EADDRINUSE,
       EINVAL, ENAMETOOLONG, ENODEV ...). */
    int (*bind)(struct fm_ep *ep);
    int (*connect)(struct fm_ep *ep);
    /* Stop the endpoint and close its pipes; returns when no callback of the
       endpoint can run any more. Called without the socket lock. */
    void (*close)(struct fm_ep *ep);
    /* Validate and store a transport option (index 1..FM_MAX_TRANSPORT_OPTS
       of the socket's table); optional. */
    int (*setopt)(int option, const void *val, size_t len, int *store);
    int (*getopt)(int option, const int *store, void *val, size_t *len);
    int default_opts[FM_MAX_TRANSPORT_OPTS + 1];
    /* Options kept in an fm_tpobj (see above) instead of the int table;
       optional, tried when setopt/getopt are absent. *obj may be NULL
       (nothing set yet). */
    int (*setopt_obj)(int option, const void *val, size_t len, struct fm_tpobj **obj);
    int (*getopt_obj)(int option, const struct fm_tpobj *obj, void *val, size_t *len);
    /* A second option level whose object the endpoints take too (wss:
       the TLS options); 0 for none. A transport whose level another has
       already takes that one's options (wss: ws's). */
    int extra_level;
};

/* Registries: the list of protocols and transports lives outside the core
   (src/registry.c), the core only walks it. */
extern const struct fm_proto *const fm_protocols[];
extern const struct fm_transport *const fm_transports[];

/* Statistics counted by transports. */
enum fm_stat {
    FM_STAT_ESTABLISHED,
    FM_STAT_ACCEPTED,
    FM_STAT_DROPPED,
    FM_STAT_BROKEN,
    FM_STAT_CONNECT_ERRORS,
    FM_STAT_BIND_ERRORS,
    FM_STAT_ACCEPT_ERRORS,
    FM_STAT_CURRENT_CONNECTIONS,
    FM_STAT_INPROGRESS,
    FM_STAT_CURRENT_EP_ERRORS,
    FM_STAT_MSGS_SENT,
    FM_STAT_MSGS_RECV,
    FM_STAT_BYTES_SENT,
    FM_STAT_BYTES_RECV,
    FM_STAT_COUNT
};
void fm_stat_add(struct fm_sock *s, enum fm_stat which, int64_t delta);
/* An endpoint failed (connect refused, bind failed, ...): it counts in
   NN_STAT_CURRENT_EP_ERRORS until fm_ep_clear_error. With NN_PRINT_ERRORS
   set, a line goes to stderr for an error other than the endpoint's last
   one at once, and for the same one again at most once a second, with
   the number of times it happened since the last line. Any thread, any
   lock held (it takes only the leaf name lock). */
void fm_ep_report_error(struct fm_ep *ep, int err);
/* The same with a transport's own words appended to the printed line
   (OpenSSL's reason for a failed handshake); detail may be NULL. */
void fm_ep_report_error_detail(struct fm_ep *ep, int err, const char *detail);
void fm_ep_clear_error(struct fm_ep *ep);

/* Look up the protocol description of a socket type (peer checks). */
const struct fm_proto *fm_proto_find(int type);

#endif
