/*
    femtomsg: ws.h -- WebSocket transport.
*/

#ifndef WS_H_INCLUDED
#define WS_H_INCLUDED

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Transport id (also its option level).  */
#define NN_WS -4

/*  WebSocket option (and control-message type) choosing the frame kind;
    only text and binary frames are fully handled.  */
#define NN_WS_MSG_TYPE 1

/*  Frame opcodes from RFC 6455, section 5.2.  */
#define NN_WS_MSG_TYPE_TEXT 0x01
#define NN_WS_MSG_TYPE_BINARY 0x02

#ifdef __cplusplus
}
#endif

#endif
