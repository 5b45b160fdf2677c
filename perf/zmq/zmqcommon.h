/* zmqcommon.h: the same benchmarks written for ZeroMQ (libzmq, ZMQ_PAIR
   for the point-to-point tests), so its figures sit in the same table.
   One context per process; threads of one process share it, as inproc://
   requires. */
#ifndef PERF_ZMQCOMMON_H
#define PERF_ZMQCOMMON_H

#include "../common.h"

#include <zmq.h>

static void *zmqp_ctx;

static inline void zmqp_check(int rc, const char *what)
{
    if (rc < 0)
        perf_die("%s: %s", what, zmq_strerror(zmq_errno()));
}

static inline void *zmqp_context(void)
{
    if (!zmqp_ctx && !(zmqp_ctx = zmq_ctx_new()))
        perf_die("zmq_ctx_new failed");
    return zmqp_ctx;
}

static inline void *zmqp_socket(int type)
{
    void *s = zmq_socket(zmqp_context(), type);
    if (!s)
        perf_die("zmq_socket: %s", zmq_strerror(zmq_errno()));
    int64_t max = -1;
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof(max));
    return s;
}

static inline void zmqp_timeo(void *s, int ms)
{
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &ms, sizeof(ms));
}

static inline void zmqp_linger(void *s, int ms)
{
    zmq_setsockopt(s, ZMQ_LINGER, &ms, sizeof(ms));
}

static inline void *zmqp_buf(size_t size)
{
    char *b = malloc(size ? size : 1);
    if (!b)
        perf_die("out of memory");
    memset(b, 111, size);
    return b;
}

static inline void zmqp_recv_exact(void *s, void *buf, size_t size)
{
    int n = zmq_recv(s, buf, size, 0);
    zmqp_check(n, "zmq_recv");
    if ((size_t) n != size)
        perf_die("zmq_recv: got %d bytes, wanted %zu", n, size);
}

static inline void zmqp_send(void *s, const void *buf, size_t size)
{
    zmqp_check(zmq_send(s, buf, size, 0), "zmq_send");
}

static inline void zmqp_finish(void *s)
{
    zmqp_linger(s, 1000);
    zmq_close(s);
    zmq_ctx_term(zmqp_ctx);
    zmqp_ctx = NULL;
}

#endif
