/* nncommon.h: socket set-up shared by the tools written against the public
   nanomsg API. Only names from the public nanomsg headers are used, so the same source
   builds against femtomsg, the stock libnanomsg and NNG's compatibility
   layer (whose constants differ: compile that one with
   -I/usr/include/nng/compat). */
#ifndef PERF_NNCOMMON_H
#define PERF_NNCOMMON_H

#include "../common.h"

#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/tcp.h>
#if defined(__has_include)
#if __has_include(<nanomsg/tls.h>)
#include <nanomsg/tls.h>
#define NNP_TLS 1
#endif
#endif

static inline void nnp_check(int rc, const char *what)
{
    if (rc < 0)
        perf_die("%s: %s", what, nn_strerror(nn_errno()));
}

/* A socket as the stock tools make it: Nagle off for tcp (the option is
   harmless on other transports), and no receive size limit in the way of
   1 MiB messages. Options a library lacks are skipped. */
static inline int nnp_socket(int domain, int protocol)
{
    int s = nn_socket(domain, protocol);
    nnp_check(s, "nn_socket");
    int one = 1, max = 64 << 20;
    nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &one, sizeof(one));
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max));
    /* Study knobs, unset in the comparison: buffer sizes in bytes. */
    const char *e;
    int v;
    if ((e = getenv("PERF_SNDBUF")) && (v = atoi(e)) > 0)
        nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, &v, sizeof(v));
    if ((e = getenv("PERF_RCVBUF")) && (v = atoi(e)) > 0)
        nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVBUF, &v, sizeof(v));
#ifdef NNP_TLS
    /* tls+tcp and wss (femtomsg only): PERF_TLS_DIR holds
       tests/tls_certs.sh's output; every socket can both serve and
       verify. */
    if ((e = getenv("PERF_TLS_DIR")) && *e) {
        char p[4096];
        snprintf(p, sizeof(p), "%s/server.pem", e);
        nnp_check(nn_setsockopt(s, NN_TLS, NN_TLS_CERT_KEY_FILE, p, strlen(p)), "NN_TLS_CERT_KEY_FILE");
        snprintf(p, sizeof(p), "%s/ca.pem", e);
        nnp_check(nn_setsockopt(s, NN_TLS, NN_TLS_CA_FILE, p, strlen(p)), "NN_TLS_CA_FILE");
    }
#endif
    return s;
}

static inline void nnp_timeo(int s, int option, int ms)
{
    nn_setsockopt(s, NN_SOL_SOCKET, option, &ms, sizeof(ms));
}

static inline void *nnp_buf(size_t size)
{
    char *b = malloc(size ? size : 1);
    if (!b)
        perf_die("out of memory");
    memset(b, 111, size);
    return b;
}

static inline void nnp_recv_exact(int s, void *buf, size_t size)
{
    int n = nn_recv(s, buf, size, 0);
    nnp_check(n, "nn_recv");
    if ((size_t) n != size)
        perf_die("nn_recv: got %d bytes, wanted %zu", n, size);
}

static inline void nnp_send(int s, const void *buf, size_t size)
{
    int n = nn_send(s, buf, size, 0);
    nnp_check(n, "nn_send");
}

/* A REP server's loop: send back each request of up to size bytes until a
   call fails (nn_term, or the process is killed), then close s. */
static inline void nnp_echo(int s, size_t size)
{
    char *buf = nnp_buf(size);
    for (;;) {
        int n = nn_recv(s, buf, size, 0);
        if (n < 0 || nn_send(s, buf, (size_t) n, 0) < 0)
            break;
    }
    free(buf);
    nn_close(s);
}

#endif
