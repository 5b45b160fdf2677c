/*
    femtomsg: inproc.h -- in-process transport.
*/

#ifndef INPROC_H_INCLUDED
#define INPROC_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

/*  Transport id (also its option level).  */
#define NN_INPROC -1

#ifdef __cplusplus
}
#endif

#endif
