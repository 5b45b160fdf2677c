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

/*  femtomsg extensions, not in nanomsg 1.1 (numbered from 0x1000 so that
    they can never meet an option of stock nanomsg or of NNG's compatibility
    headers); set before nn_bind / nn_connect, see nn_ipc(7).

    NN_IPC_PERMISSIONS: int, the permission bits (0 to 0777) of the socket
    file a bound endpoint creates, in place before anyone can connect;
    -1 (the default): as the umask leaves them.

    NN_IPC_PEER_UIDS, NN_IPC_PEER_GIDS: arrays of int (length a multiple of
    sizeof (int), at most 64 entries; length 0 empties the list). When
    either list is non-empty, a peer whose user id is in the first or whose
    primary group id is in the second is admitted, any other is closed at
    once (counted in NN_STAT_ACCEPT_ERRORS on a bound endpoint, as a failed
    connect on a connecting one). Both empty (the default): no check.

    An address "ipc://@name" is a Linux abstract socket: no file at all. */
#define NN_IPC_PERMISSIONS 0x1001
#define NN_IPC_PEER_UIDS 0x1002
#define NN_IPC_PEER_GIDS 0x1003

#ifdef __cplusplus
}
#endif

#endif
