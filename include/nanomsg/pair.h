/*
    femtomsg: pair.h -- one-to-one bidirectional protocol.
*/

#ifndef PAIR_H_INCLUDED
#define PAIR_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

/*  Protocol family number and socket type.  */
#define NN_PROTO_PAIR 1
#define NN_PAIR (NN_PROTO_PAIR * 16 + 0)

#ifdef __cplusplus
}
#endif

#endif
