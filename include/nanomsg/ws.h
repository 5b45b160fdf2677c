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

/*  femtomsg extension, not in nanomsg 1.1 (numbered from 0x1000 so that it
    can never meet an option of stock nanomsg or of NNG's compatibility
    headers). A string: the Origin values a bound endpoint accepts from a
    browser, separated by blanks or commas, e.g. "https://app.example.com".
    A request with another Origin is refused with HTTP 403; one without an
    Origin (not a browser) is served. Empty (the default): any Origin, as in
    stock nanomsg. Set before nn_bind; see nn_ws(7).  */
#define NN_WS_ORIGINS 0x1001

/*  Frame opcodes from RFC 6455, section 5.2.  */
#define NN_WS_MSG_TYPE_TEXT 0x01
#define NN_WS_MSG_TYPE_BINARY 0x02

#ifdef __cplusplus
}
#endif

#endif
