/*
    femtomsg: pipeline.h -- one-way pipeline (push/pull) protocol.
*/

#ifndef PIPELINE_H_INCLUDED
#define PIPELINE_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

/*  Protocol family number and socket types.  */
#define NN_PROTO_PIPELINE 5
#define NN_PUSH (NN_PROTO_PIPELINE * 16 + 0)
#define NN_PULL (NN_PROTO_PIPELINE * 16 + 1)

#ifdef __cplusplus
}
#endif

#endif
