/* tcp_addr.h: the tcp:// address syntax and the listening socket of
   tcp.c, shared with the transports that run over TCP (ws://) so that
   they accept the same hosts, interfaces and ports with the same errors. */
#ifndef FM_TCP_ADDR_H
#define FM_TCP_ADDR_H

#include "stream.h"

#include <stdbool.h>

/* A port number 1..65535 (a NUL-terminated string of digits). */
int fm_tcp_parse_port(const char *s, unsigned short *port);
void fm_tcp_set_port(struct sockaddr_storage *ss, unsigned short port);
/* A DNS name in the syntax the stock library accepts. */
bool fm_tcp_hostname_ok(const char *s, size_t n);

/* "*:port", "[addr]:port", "addr:port" or "ifname:port" (NUL-terminated)
   into the address to listen on; *any tells "*". */
int fm_tcp_parse_bind(const char *a, bool v4only, struct sockaddr_storage *ss,
                      socklen_t *len, bool *any);
/* A non-blocking socket bound to ss and listening; returns it or -errno.
   For "*" (any) without IPv6 in the kernel it falls back to all IPv4
   interfaces and says so by rewriting ss. */
int fm_tcp_listen(struct sockaddr_storage *ss, socklen_t *len, bool any, bool v4only);
/* "[local;]host:port" (NUL-terminated) into a connect target. */
int fm_tcp_parse_connect(const char *a, bool v4only, struct fm_stream_target *t);

#endif
