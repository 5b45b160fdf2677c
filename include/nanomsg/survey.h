/*
    femtomsg: survey.h -- surveyor/respondent protocol.
*/

#ifndef SURVEY_H_INCLUDED
#define SURVEY_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

/*  Protocol family number and socket types.  The low numbers 0 and 1 of
    this family belonged to an older, wire-incompatible survey protocol.  */
#define NN_PROTO_SURVEY 6
#define NN_SURVEYOR (NN_PROTO_SURVEY * 16 + 2)
#define NN_RESPONDENT (NN_PROTO_SURVEY * 16 + 3)

/*  SURVEYOR socket option: how long responses are collected (ms).  */
#define NN_SURVEYOR_DEADLINE 1

#ifdef __cplusplus
}
#endif

#endif
