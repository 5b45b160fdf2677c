/*
    femtomsg: bus.h -- many-to-many bus protocol.
*/

#ifndef BUS_H_INCLUDED
#define BUS_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

/*  Protocol family number and socket type.  */
#define NN_PROTO_BUS 7
#define NN_BUS (NN_PROTO_BUS * 16 + 0)

#ifdef __cplusplus
}
#endif

#endif
