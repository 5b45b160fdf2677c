/* ws_framer.h: the WebSocket mapping as a stream.c framer (ws_framer.c),
   for ws:// and wss:// (ws.c), and the subprotocol names both sides of the
   opening handshake use. */
#ifndef FM_WS_FRAMER_H
#define FM_WS_FRAMER_H

#include "stream.h"
#include "ws_codec.h"

#define WS_SP_NAME_MAX 40
#define WS_OPEN_MAX 1024 /* our upgrade request, at most */

/* What an endpoint tells its connections' framer (the framer arg): kept
   by ws.c for as long as the endpoint. */
struct fm_ws_conf {
    int msg_op;                      /* WS_OP_BINARY or WS_OP_TEXT */
    const char *path;                /* connecting: the request target */
    const char *host;                /* connecting: the Host header */
    char peer_name[WS_SP_NAME_MAX];  /* the subprotocol the peer speaks */
    int peer_type;                   /* and its SP protocol */
};

/* RFC 6455 over the stream: a client's opening is the upgrade request
   and its greet the 101 answer; a server's connections are handed over
   (fm_stream_adopt) once ws.c has answered. Then one SP message (header
   and body) is one WebSocket message of binary or text frames, at most
   WS_FRAG bytes each; pings are answered, a breach gets a close frame
   with its status code (bye), and the endpoint's goodbye is close 1000. */
extern const struct fm_stream_framer fm_ws_framer;

/* "<protocol>.sp.nanomsg.org" for an SP protocol. */
void fm_ws_sp_name(int type, char out[WS_SP_NAME_MAX]);
/* The SP protocol a subprotocol name stands for, or -1. */
int fm_ws_sp_type(const char *name, size_t len);

#endif
