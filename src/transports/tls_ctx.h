/* tls_ctx.h: what tls.c lends wss:// (ws.c): a TLS context made from the
   NN_TLS options, the TLS session layer stream.c runs, and the host of a
   connect address as the certificate check wants it. */
#ifndef FM_TLS_CTX_H
#define FM_TLS_CTX_H

#include "stream.h"

/* A context for a server or a client (host: the address's host, the name
   the server must prove unless NN_TLS_SERVER_NAME says another) from the
   NN_TLS options object opts (may be NULL). It is the session args of
   fm_tls_session. 0, or -EINVAL (a server without a certificate, a bad
   one), -ENOMEM. */
int fm_tls_ctx_make(const struct fm_tpobj *opts, bool server, const char *host,
                    struct fm_tpobj **ctx);

extern const struct fm_stream_session_ops fm_tls_session;

/* The host of "[local;]host:port" (already parsed as a tcp connect
   address): no brackets, no IPv6 scope. */
void fm_tls_host_of(const char *addr, char *host, size_t cap);

#endif
