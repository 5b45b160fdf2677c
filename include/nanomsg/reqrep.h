/*
    femtomsg: reqrep.h -- request/reply protocol.
*/

#ifndef REQREP_H_INCLUDED
#define REQREP_H_INCLUDED

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Protocol family number and socket types.  */
#define NN_PROTO_REQREP 3
#define NN_REQ (NN_PROTO_REQREP * 16 + 0)
#define NN_REP (NN_PROTO_REQREP * 16 + 1)

/*  REQ socket option: how long to wait before re-sending a request (ms).  */
#define NN_REQ_RESEND_IVL 1

/*  Opaque identifier of a request.  */
typedef union nn_req_handle {
    int i;
    void *ptr;
} nn_req_handle;

#ifdef __cplusplus
}
#endif

#endif
