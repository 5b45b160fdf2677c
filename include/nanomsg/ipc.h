/*
    femtomsg: ipc.h -- inter-process (local socket) transport.
*/

#ifndef IPC_H_INCLUDED
#define IPC_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

/*  Transport id (also its option level).  */
#define NN_IPC -2

/*  IPC options: security attributes (pointer must stay valid while the
    socket is in use), output and input buffer sizes.  */
#define NN_IPC_SEC_ATTR 1
#define NN_IPC_OUTBUFSZ 2
#define NN_IPC_INBUFSZ 3

#ifdef __cplusplus
}
#endif

#endif
