/*
    femtomsg: tcp.h -- TCP transport.
*/

#ifndef TCP_H_INCLUDED
#define TCP_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

/*  Transport id (also its option level).  */
#define NN_TCP -3

/*  TCP option: disable Nagle batching.  */
#define NN_TCP_NODELAY 1

#ifdef __cplusplus
}
#endif

#endif
