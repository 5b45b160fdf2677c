/*
    femtomsg: tls.h -- the tls+tcp:// transport: the SP TCP mapping carried
    inside TLS (1.2 or 1.3), as NNG's tls+tcp does. Not in nanomsg 1.1;
    see nn_tls(7).
*/

#ifndef TLS_H_INCLUDED
#define TLS_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

/*  Transport id (also its option level).  */
#define NN_TLS -5

/*  Options, set with nn_setsockopt (s, NN_TLS, option, value, length)
    before nn_bind or nn_connect; an endpoint keeps the values it was
    created with. Strings are passed with their length (a terminating NUL
    may be included); an empty string clears the option.  */

/*  Our certificate chain and private key, in PEM (the certificate first,
    then its intermediates, and the key), from a file or from memory.
    Required to bind.  */
#define NN_TLS_CERT_KEY_FILE 1
#define NN_TLS_CERT_KEY_PEM 2

/*  The certificate authorities that vouch for the peer, in PEM, from a
    file or from memory. Without one the system's default store is used.  */
#define NN_TLS_CA_FILE 3
#define NN_TLS_CA_PEM 4

/*  The name a connecting endpoint expects in the server's certificate
    (and sends as SNI). Default: the host of the address.  */
#define NN_TLS_SERVER_NAME 5

/*  Peer authentication, an int. Default (NN_TLS_AUTH_DEFAULT): a
    connecting endpoint requires a valid server certificate, a listening
    one does not ask for a client certificate.  */
#define NN_TLS_AUTH_MODE 6

#define NN_TLS_AUTH_DEFAULT -1
#define NN_TLS_AUTH_NONE 0      /* no check of the peer */
#define NN_TLS_AUTH_OPTIONAL 1  /* checked if presented, never refused */
#define NN_TLS_AUTH_REQUIRED 2  /* a valid certificate or no connection */

#ifdef __cplusplus
}
#endif

#endif
