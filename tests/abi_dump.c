/*
    femtomsg: abi_dump.c -- prints every constant, macro result, struct
    layout and prototype shape defined by the nanomsg public headers, one
    "NAME VALUE..." line each.  tests/abi_check.sh builds it against our
    headers and against the stock ones and diffs the two outputs.

    Build with -DABI_FALLBACK to hide the platform's errno codes first, so
    that the NN_HAUSNUMERO-based substitutes in nn.h get dumped instead.

    Nothing here calls into the library; the program links without it.
*/

#ifdef ABI_FALLBACK
#include <errno.h>
#undef ENOTSUP
#undef EPROTONOSUPPORT
#undef ENOBUFS
#undef ENETDOWN
#undef EADDRINUSE
#undef EADDRNOTAVAIL
#undef ECONNREFUSED
#undef EINPROGRESS
#undef ENOTSOCK
#undef EAFNOSUPPORT
#undef EPROTO
#undef EAGAIN
#undef EBADF
#undef EINVAL
#undef EMFILE
#undef EFAULT
#undef EACCES
#undef EACCESS
#undef ENETRESET
#undef ENETUNREACH
#undef EHOSTUNREACH
#undef ENOTCONN
#undef EMSGSIZE
#undef ETIMEDOUT
#undef ECONNABORTED
#undef ECONNRESET
#undef ENOPROTOOPT
#undef EISCONN
#undef ESOCKTNOSUPPORT
#undef ETERM
#undef EFSM
#endif

#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/survey.h>
#include <nanomsg/bus.h>
#include <nanomsg/inproc.h>
#include <nanomsg/ipc.h>
#include <nanomsg/tcp.h>
#include <nanomsg/ws.h>

#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

/*  Name of the type of an expression (after lvalue conversion).  */
#define TN(x) _Generic ((x), \
    char: "char", signed char: "schar", unsigned char: "uchar", \
    short: "short", unsigned short: "ushort", \
    int: "int", unsigned int: "uint", \
    long: "long", unsigned long: "ulong", \
    long long: "llong", unsigned long long: "ullong", \
    void *: "void*", const void *: "cvoid*", \
    char *: "char*", const char *: "cchar*", unsigned char *: "uchar*", \
    struct nn_iovec *: "iovec*", struct nn_msghdr *: "msghdr*", \
    struct nn_cmsghdr *: "cmsghdr*", \
    default: "other")

/*  A constant: name, type, value read as signed and as unsigned.  */
#define K(name) printf ("%s %s %lld %llu\n", #name, TN (name), \
    (long long) (name), (unsigned long long) (name))

/*  A constant the headers fail to define.  */
#define MISSING(name) printf ("%s MISSING\n", #name)

/*  An integer-valued expression under a label.  */
#define V(label, expr) printf ("%s %s %llu\n", (label), TN (expr), \
    (unsigned long long) (expr))

/*  A struct or union: size and alignment.  */
#define AGG(t) printf ("sizeof(%s) %zu\nalignof(%s) %zu\n", #t, sizeof (t), \
    #t, (size_t) _Alignof (t))

/*  One member: offset, size and type.  */
#define FLD(t, m) printf ("%s.%s %zu %zu %s\n", #t, #m, offsetof (t, m), \
    sizeof (((t *) 0)->m), TN (((t *) 0)->m))

/*  Whether an identifier has exactly the given function type.  */
#define PROTO(fn, ptrtype) printf ("proto %s %d\n", #fn, \
    _Generic ((fn), ptrtype: 1, default: 0))

#define STR_(x) #x
#define STR(x) STR_ (x)

/*  Stand-in for the library helper, so the CMSG walking macros can be
    observed without linking: remembers its arguments.  */
static const struct nn_msghdr *seen_mhdr;
static const struct nn_cmsghdr *seen_cmsg;
static struct nn_cmsghdr stub_result;

struct nn_cmsghdr *nn_cmsg_nxthdr_ (const struct nn_msghdr *mhdr,
    const struct nn_cmsghdr *cmsg)
{
    seen_mhdr = mhdr;
    seen_cmsg = cmsg;
    return &stub_result;
}

static void dump_constants (void)
{
#ifdef AF_SP
    K (AF_SP);
#else
    MISSING (AF_SP);
#endif
#ifdef AF_SP_RAW
    K (AF_SP_RAW);
#else
    MISSING (AF_SP_RAW);
#endif
#ifdef NN_BUS
    K (NN_BUS);
#else
    MISSING (NN_BUS);
#endif
#ifdef NN_DOMAIN
    K (NN_DOMAIN);
#else
    MISSING (NN_DOMAIN);
#endif
#ifdef NN_DONTWAIT
    K (NN_DONTWAIT);
#else
    MISSING (NN_DONTWAIT);
#endif
#ifdef NN_HAUSNUMERO
    K (NN_HAUSNUMERO);
#else
    MISSING (NN_HAUSNUMERO);
#endif
#ifdef NN_INPROC
    K (NN_INPROC);
#else
    MISSING (NN_INPROC);
#endif
#ifdef NN_IPC
    K (NN_IPC);
#else
    MISSING (NN_IPC);
#endif
#ifdef NN_IPC_INBUFSZ
    K (NN_IPC_INBUFSZ);
#else
    MISSING (NN_IPC_INBUFSZ);
#endif
#ifdef NN_IPC_OUTBUFSZ
    K (NN_IPC_OUTBUFSZ);
#else
    MISSING (NN_IPC_OUTBUFSZ);
#endif
#ifdef NN_IPC_SEC_ATTR
    K (NN_IPC_SEC_ATTR);
#else
    MISSING (NN_IPC_SEC_ATTR);
#endif
#ifdef NN_IPV4ONLY
    K (NN_IPV4ONLY);
#else
    MISSING (NN_IPV4ONLY);
#endif
#ifdef NN_LINGER
    K (NN_LINGER);
#else
    MISSING (NN_LINGER);
#endif
#ifdef NN_MAXTTL
    K (NN_MAXTTL);
#else
    MISSING (NN_MAXTTL);
#endif
#ifdef NN_MSG
    K (NN_MSG);
#else
    MISSING (NN_MSG);
#endif
#ifdef NN_NS_DOMAIN
    K (NN_NS_DOMAIN);
#else
    MISSING (NN_NS_DOMAIN);
#endif
#ifdef NN_NS_ERROR
    K (NN_NS_ERROR);
#else
    MISSING (NN_NS_ERROR);
#endif
#ifdef NN_NS_EVENT
    K (NN_NS_EVENT);
#else
    MISSING (NN_NS_EVENT);
#endif
#ifdef NN_NS_FLAG
    K (NN_NS_FLAG);
#else
    MISSING (NN_NS_FLAG);
#endif
#ifdef NN_NS_LIMIT
    K (NN_NS_LIMIT);
#else
    MISSING (NN_NS_LIMIT);
#endif
#ifdef NN_NS_NAMESPACE
    K (NN_NS_NAMESPACE);
#else
    MISSING (NN_NS_NAMESPACE);
#endif
#ifdef NN_NS_OPTION_LEVEL
    K (NN_NS_OPTION_LEVEL);
#else
    MISSING (NN_NS_OPTION_LEVEL);
#endif
#ifdef NN_NS_OPTION_TYPE
    K (NN_NS_OPTION_TYPE);
#else
    MISSING (NN_NS_OPTION_TYPE);
#endif
#ifdef NN_NS_OPTION_UNIT
    K (NN_NS_OPTION_UNIT);
#else
    MISSING (NN_NS_OPTION_UNIT);
#endif
#ifdef NN_NS_PROTOCOL
    K (NN_NS_PROTOCOL);
#else
    MISSING (NN_NS_PROTOCOL);
#endif
#ifdef NN_NS_SOCKET_OPTION
    K (NN_NS_SOCKET_OPTION);
#else
    MISSING (NN_NS_SOCKET_OPTION);
#endif
#ifdef NN_NS_STATISTIC
    K (NN_NS_STATISTIC);
#else
    MISSING (NN_NS_STATISTIC);
#endif
#ifdef NN_NS_TRANSPORT
    K (NN_NS_TRANSPORT);
#else
    MISSING (NN_NS_TRANSPORT);
#endif
#ifdef NN_NS_TRANSPORT_OPTION
    K (NN_NS_TRANSPORT_OPTION);
#else
    MISSING (NN_NS_TRANSPORT_OPTION);
#endif
#ifdef NN_NS_VERSION
    K (NN_NS_VERSION);
#else
    MISSING (NN_NS_VERSION);
#endif
#ifdef NN_PAIR
    K (NN_PAIR);
#else
    MISSING (NN_PAIR);
#endif
#ifdef NN_POLLIN
    K (NN_POLLIN);
#else
    MISSING (NN_POLLIN);
#endif
#ifdef NN_POLLOUT
    K (NN_POLLOUT);
#else
    MISSING (NN_POLLOUT);
#endif
#ifdef NN_PROTOCOL
    K (NN_PROTOCOL);
#else
    MISSING (NN_PROTOCOL);
#endif
#ifdef NN_PROTO_BUS
    K (NN_PROTO_BUS);
#else
    MISSING (NN_PROTO_BUS);
#endif
#ifdef NN_PROTO_PAIR
    K (NN_PROTO_PAIR);
#else
    MISSING (NN_PROTO_PAIR);
#endif
#ifdef NN_PROTO_PIPELINE
    K (NN_PROTO_PIPELINE);
#else
    MISSING (NN_PROTO_PIPELINE);
#endif
#ifdef NN_PROTO_PUBSUB
    K (NN_PROTO_PUBSUB);
#else
    MISSING (NN_PROTO_PUBSUB);
#endif
#ifdef NN_PROTO_REQREP
    K (NN_PROTO_REQREP);
#else
    MISSING (NN_PROTO_REQREP);
#endif
#ifdef NN_PROTO_SURVEY
    K (NN_PROTO_SURVEY);
#else
    MISSING (NN_PROTO_SURVEY);
#endif
#ifdef NN_PUB
    K (NN_PUB);
#else
    MISSING (NN_PUB);
#endif
#ifdef NN_PULL
    K (NN_PULL);
#else
    MISSING (NN_PULL);
#endif
#ifdef NN_PUSH
    K (NN_PUSH);
#else
    MISSING (NN_PUSH);
#endif
#ifdef NN_RCVBUF
    K (NN_RCVBUF);
#else
    MISSING (NN_RCVBUF);
#endif
#ifdef NN_RCVFD
    K (NN_RCVFD);
#else
    MISSING (NN_RCVFD);
#endif
#ifdef NN_RCVMAXSIZE
    K (NN_RCVMAXSIZE);
#else
    MISSING (NN_RCVMAXSIZE);
#endif
#ifdef NN_RCVPRIO
    K (NN_RCVPRIO);
#else
    MISSING (NN_RCVPRIO);
#endif
#ifdef NN_RCVTIMEO
    K (NN_RCVTIMEO);
#else
    MISSING (NN_RCVTIMEO);
#endif
#ifdef NN_RECONNECT_IVL
    K (NN_RECONNECT_IVL);
#else
    MISSING (NN_RECONNECT_IVL);
#endif
#ifdef NN_RECONNECT_IVL_MAX
    K (NN_RECONNECT_IVL_MAX);
#else
    MISSING (NN_RECONNECT_IVL_MAX);
#endif
#ifdef NN_REP
    K (NN_REP);
#else
    MISSING (NN_REP);
#endif
#ifdef NN_REQ
    K (NN_REQ);
#else
    MISSING (NN_REQ);
#endif
#ifdef NN_REQ_RESEND_IVL
    K (NN_REQ_RESEND_IVL);
#else
    MISSING (NN_REQ_RESEND_IVL);
#endif
#ifdef NN_RESPONDENT
    K (NN_RESPONDENT);
#else
    MISSING (NN_RESPONDENT);
#endif
#ifdef NN_SNDBUF
    K (NN_SNDBUF);
#else
    MISSING (NN_SNDBUF);
#endif
#ifdef NN_SNDFD
    K (NN_SNDFD);
#else
    MISSING (NN_SNDFD);
#endif
#ifdef NN_SNDPRIO
    K (NN_SNDPRIO);
#else
    MISSING (NN_SNDPRIO);
#endif
#ifdef NN_SNDTIMEO
    K (NN_SNDTIMEO);
#else
    MISSING (NN_SNDTIMEO);
#endif
#ifdef NN_SOCKADDR_MAX
    K (NN_SOCKADDR_MAX);
#else
    MISSING (NN_SOCKADDR_MAX);
#endif
#ifdef NN_SOCKET_NAME
    K (NN_SOCKET_NAME);
#else
    MISSING (NN_SOCKET_NAME);
#endif
#ifdef NN_SOL_SOCKET
    K (NN_SOL_SOCKET);
#else
    MISSING (NN_SOL_SOCKET);
#endif
#ifdef NN_STAT_ACCEPTED_CONNECTIONS
    K (NN_STAT_ACCEPTED_CONNECTIONS);
#else
    MISSING (NN_STAT_ACCEPTED_CONNECTIONS);
#endif
#ifdef NN_STAT_ACCEPT_ERRORS
    K (NN_STAT_ACCEPT_ERRORS);
#else
    MISSING (NN_STAT_ACCEPT_ERRORS);
#endif
#ifdef NN_STAT_BIND_ERRORS
    K (NN_STAT_BIND_ERRORS);
#else
    MISSING (NN_STAT_BIND_ERRORS);
#endif
#ifdef NN_STAT_BROKEN_CONNECTIONS
    K (NN_STAT_BROKEN_CONNECTIONS);
#else
    MISSING (NN_STAT_BROKEN_CONNECTIONS);
#endif
#ifdef NN_STAT_BYTES_RECEIVED
    K (NN_STAT_BYTES_RECEIVED);
#else
    MISSING (NN_STAT_BYTES_RECEIVED);
#endif
#ifdef NN_STAT_BYTES_SENT
    K (NN_STAT_BYTES_SENT);
#else
    MISSING (NN_STAT_BYTES_SENT);
#endif
#ifdef NN_STAT_CONNECT_ERRORS
    K (NN_STAT_CONNECT_ERRORS);
#else
    MISSING (NN_STAT_CONNECT_ERRORS);
#endif
#ifdef NN_STAT_CURRENT_CONNECTIONS
    K (NN_STAT_CURRENT_CONNECTIONS);
#else
    MISSING (NN_STAT_CURRENT_CONNECTIONS);
#endif
#ifdef NN_STAT_CURRENT_EP_ERRORS
    K (NN_STAT_CURRENT_EP_ERRORS);
#else
    MISSING (NN_STAT_CURRENT_EP_ERRORS);
#endif
#ifdef NN_STAT_CURRENT_SND_PRIORITY
    K (NN_STAT_CURRENT_SND_PRIORITY);
#else
    MISSING (NN_STAT_CURRENT_SND_PRIORITY);
#endif
#ifdef NN_STAT_DROPPED_CONNECTIONS
    K (NN_STAT_DROPPED_CONNECTIONS);
#else
    MISSING (NN_STAT_DROPPED_CONNECTIONS);
#endif
#ifdef NN_STAT_ESTABLISHED_CONNECTIONS
    K (NN_STAT_ESTABLISHED_CONNECTIONS);
#else
    MISSING (NN_STAT_ESTABLISHED_CONNECTIONS);
#endif
#ifdef NN_STAT_INPROGRESS_CONNECTIONS
    K (NN_STAT_INPROGRESS_CONNECTIONS);
#else
    MISSING (NN_STAT_INPROGRESS_CONNECTIONS);
#endif
#ifdef NN_STAT_MESSAGES_RECEIVED
    K (NN_STAT_MESSAGES_RECEIVED);
#else
    MISSING (NN_STAT_MESSAGES_RECEIVED);
#endif
#ifdef NN_STAT_MESSAGES_SENT
    K (NN_STAT_MESSAGES_SENT);
#else
    MISSING (NN_STAT_MESSAGES_SENT);
#endif
#ifdef NN_SUB
    K (NN_SUB);
#else
    MISSING (NN_SUB);
#endif
#ifdef NN_SUB_SUBSCRIBE
    K (NN_SUB_SUBSCRIBE);
#else
    MISSING (NN_SUB_SUBSCRIBE);
#endif
#ifdef NN_SUB_UNSUBSCRIBE
    K (NN_SUB_UNSUBSCRIBE);
#else
    MISSING (NN_SUB_UNSUBSCRIBE);
#endif
#ifdef NN_SURVEYOR
    K (NN_SURVEYOR);
#else
    MISSING (NN_SURVEYOR);
#endif
#ifdef NN_SURVEYOR_DEADLINE
    K (NN_SURVEYOR_DEADLINE);
#else
    MISSING (NN_SURVEYOR_DEADLINE);
#endif
#ifdef NN_TCP
    K (NN_TCP);
#else
    MISSING (NN_TCP);
#endif
#ifdef NN_TCP_NODELAY
    K (NN_TCP_NODELAY);
#else
    MISSING (NN_TCP_NODELAY);
#endif
#ifdef NN_TYPE_INT
    K (NN_TYPE_INT);
#else
    MISSING (NN_TYPE_INT);
#endif
#ifdef NN_TYPE_NONE
    K (NN_TYPE_NONE);
#else
    MISSING (NN_TYPE_NONE);
#endif
#ifdef NN_TYPE_STR
    K (NN_TYPE_STR);
#else
    MISSING (NN_TYPE_STR);
#endif
#ifdef NN_UNIT_BOOLEAN
    K (NN_UNIT_BOOLEAN);
#else
    MISSING (NN_UNIT_BOOLEAN);
#endif
#ifdef NN_UNIT_BYTES
    K (NN_UNIT_BYTES);
#else
    MISSING (NN_UNIT_BYTES);
#endif
#ifdef NN_UNIT_COUNTER
    K (NN_UNIT_COUNTER);
#else
    MISSING (NN_UNIT_COUNTER);
#endif
#ifdef NN_UNIT_MESSAGES
    K (NN_UNIT_MESSAGES);
#else
    MISSING (NN_UNIT_MESSAGES);
#endif
#ifdef NN_UNIT_MILLISECONDS
    K (NN_UNIT_MILLISECONDS);
#else
    MISSING (NN_UNIT_MILLISECONDS);
#endif
#ifdef NN_UNIT_NONE
    K (NN_UNIT_NONE);
#else
    MISSING (NN_UNIT_NONE);
#endif
#ifdef NN_UNIT_PRIORITY
    K (NN_UNIT_PRIORITY);
#else
    MISSING (NN_UNIT_PRIORITY);
#endif
#ifdef NN_VERSION_AGE
    K (NN_VERSION_AGE);
#else
    MISSING (NN_VERSION_AGE);
#endif
#ifdef NN_VERSION_CURRENT
    K (NN_VERSION_CURRENT);
#else
    MISSING (NN_VERSION_CURRENT);
#endif
#ifdef NN_VERSION_REVISION
    K (NN_VERSION_REVISION);
#else
    MISSING (NN_VERSION_REVISION);
#endif
#ifdef NN_WS
    K (NN_WS);
#else
    MISSING (NN_WS);
#endif
#ifdef NN_WS_MSG_TYPE
    K (NN_WS_MSG_TYPE);
#else
    MISSING (NN_WS_MSG_TYPE);
#endif
#ifdef NN_WS_MSG_TYPE_BINARY
    K (NN_WS_MSG_TYPE_BINARY);
#else
    MISSING (NN_WS_MSG_TYPE_BINARY);
#endif
#ifdef NN_WS_MSG_TYPE_TEXT
    K (NN_WS_MSG_TYPE_TEXT);
#else
    MISSING (NN_WS_MSG_TYPE_TEXT);
#endif
#ifdef PROTO_SP
    K (PROTO_SP);
#else
    MISSING (PROTO_SP);
#endif
#ifdef SP_HDR
    K (SP_HDR);
#else
    MISSING (SP_HDR);
#endif
}

static void dump_errors (void)
{
#ifdef ENOTSUP
    K (ENOTSUP);
#else
    MISSING (ENOTSUP);
#endif
#ifdef EPROTONOSUPPORT
    K (EPROTONOSUPPORT);
#else
    MISSING (EPROTONOSUPPORT);
#endif
#ifdef ENOBUFS
    K (ENOBUFS);
#else
    MISSING (ENOBUFS);
#endif
#ifdef ENETDOWN
    K (ENETDOWN);
#else
    MISSING (ENETDOWN);
#endif
#ifdef EADDRINUSE
    K (EADDRINUSE);
#else
    MISSING (EADDRINUSE);
#endif
#ifdef EADDRNOTAVAIL
    K (EADDRNOTAVAIL);
#else
    MISSING (EADDRNOTAVAIL);
#endif
#ifdef ECONNREFUSED
    K (ECONNREFUSED);
#else
    MISSING (ECONNREFUSED);
#endif
#ifdef EINPROGRESS
    K (EINPROGRESS);
#else
    MISSING (EINPROGRESS);
#endif
#ifdef ENOTSOCK
    K (ENOTSOCK);
#else
    MISSING (ENOTSOCK);
#endif
#ifdef EAFNOSUPPORT
    K (EAFNOSUPPORT);
#else
    MISSING (EAFNOSUPPORT);
#endif
#ifdef EPROTO
    K (EPROTO);
#else
    MISSING (EPROTO);
#endif
#ifdef EAGAIN
    K (EAGAIN);
#else
    MISSING (EAGAIN);
#endif
#ifdef EBADF
    K (EBADF);
#else
    MISSING (EBADF);
#endif
#ifdef EINVAL
    K (EINVAL);
#else
    MISSING (EINVAL);
#endif
#ifdef EMFILE
    K (EMFILE);
#else
    MISSING (EMFILE);
#endif
#ifdef EFAULT
    K (EFAULT);
#else
    MISSING (EFAULT);
#endif
#ifdef EACCES
    K (EACCES);
#else
    MISSING (EACCES);
#endif
#ifdef EACCESS
    K (EACCESS);
#else
    MISSING (EACCESS);
#endif
#ifdef ENETRESET
    K (ENETRESET);
#else
    MISSING (ENETRESET);
#endif
#ifdef ENETUNREACH
    K (ENETUNREACH);
#else
    MISSING (ENETUNREACH);
#endif
#ifdef EHOSTUNREACH
    K (EHOSTUNREACH);
#else
    MISSING (EHOSTUNREACH);
#endif
#ifdef ENOTCONN
    K (ENOTCONN);
#else
    MISSING (ENOTCONN);
#endif
#ifdef EMSGSIZE
    K (EMSGSIZE);
#else
    MISSING (EMSGSIZE);
#endif
#ifdef ETIMEDOUT
    K (ETIMEDOUT);
#else
    MISSING (ETIMEDOUT);
#endif
#ifdef ECONNABORTED
    K (ECONNABORTED);
#else
    MISSING (ECONNABORTED);
#endif
#ifdef ECONNRESET
    K (ECONNRESET);
#else
    MISSING (ECONNRESET);
#endif
#ifdef ENOPROTOOPT
    K (ENOPROTOOPT);
#else
    MISSING (ENOPROTOOPT);
#endif
#ifdef EISCONN
    K (EISCONN);
#else
    MISSING (EISCONN);
#endif
#ifdef ESOCKTNOSUPPORT
    K (ESOCKTNOSUPPORT);
#else
    MISSING (ESOCKTNOSUPPORT);
#endif
#ifdef ETERM
    K (ETERM);
#else
    MISSING (ETERM);
#endif
#ifdef EFSM
    K (EFSM);
#else
    MISSING (EFSM);
#endif
#ifdef NN_EISCONN_DEFINED
    printf ("NN_EISCONN_DEFINED yes\n");
#else
    printf ("NN_EISCONN_DEFINED no\n");
#endif
}

static void dump_guards (void)
{
    /*  Include guards: programs sometimes test these.  */
#ifdef NN_H_INCLUDED
    printf ("guard NN_H_INCLUDED\n");
#endif
#ifdef PAIR_H_INCLUDED
    printf ("guard PAIR_H_INCLUDED\n");
#endif
#ifdef REQREP_H_INCLUDED
    printf ("guard REQREP_H_INCLUDED\n");
#endif
#ifdef PUBSUB_H_INCLUDED
    printf ("guard PUBSUB_H_INCLUDED\n");
#endif
#ifdef PIPELINE_H_INCLUDED
    printf ("guard PIPELINE_H_INCLUDED\n");
#endif
#ifdef SURVEY_H_INCLUDED
    printf ("guard SURVEY_H_INCLUDED\n");
#endif
#ifdef BUS_H_INCLUDED
    printf ("guard BUS_H_INCLUDED\n");
#endif
#ifdef INPROC_H_INCLUDED
    printf ("guard INPROC_H_INCLUDED\n");
#endif
#ifdef IPC_H_INCLUDED
    printf ("guard IPC_H_INCLUDED\n");
#endif
#ifdef TCP_H_INCLUDED
    printf ("guard TCP_H_INCLUDED\n");
#endif
#ifdef WS_H_INCLUDED
    printf ("guard WS_H_INCLUDED\n");
#endif
    printf ("NN_EXPORT %s\n", STR (NN_EXPORT));
}

static void dump_structs (void)
{
    AGG (struct nn_symbol_properties);
    FLD (struct nn_symbol_properties, value);
    FLD (struct nn_symbol_properties, name);
    FLD (struct nn_symbol_properties, ns);
    FLD (struct nn_symbol_properties, type);
    FLD (struct nn_symbol_properties, unit);

    AGG (struct nn_iovec);
    FLD (struct nn_iovec, iov_base);
    FLD (struct nn_iovec, iov_len);

    AGG (struct nn_msghdr);
    FLD (struct nn_msghdr, msg_iov);
    FLD (struct nn_msghdr, msg_iovlen);
    FLD (struct nn_msghdr, msg_control);
    FLD (struct nn_msghdr, msg_controllen);

    AGG (struct nn_cmsghdr);
    FLD (struct nn_cmsghdr, cmsg_len);
    FLD (struct nn_cmsghdr, cmsg_level);
    FLD (struct nn_cmsghdr, cmsg_type);

    AGG (struct nn_pollfd);
    FLD (struct nn_pollfd, fd);
    FLD (struct nn_pollfd, events);
    FLD (struct nn_pollfd, revents);

    AGG (union nn_req_handle);
    AGG (nn_req_handle);
    FLD (union nn_req_handle, i);
    FLD (union nn_req_handle, ptr);
}

static void dump_cmsg_macros (void)
{
    char label [64];
    struct nn_msghdr mh;
    struct nn_cmsghdr ch [2];
    struct nn_cmsghdr *r;
    unsigned char *d;
    int i;

    for (i = 0; i <= 40; i++) {
        snprintf (label, sizeof (label), "NN_CMSG_ALIGN_(%d)", i);
        V (label, NN_CMSG_ALIGN_ (i));
        snprintf (label, sizeof (label), "NN_CMSG_ALIGN_((size_t)%d)", i);
        V (label, NN_CMSG_ALIGN_ ((size_t) i));
        snprintf (label, sizeof (label), "NN_CMSG_SPACE(%d)", i);
        V (label, NN_CMSG_SPACE (i));
        snprintf (label, sizeof (label), "NN_CMSG_SPACE((size_t)%d)", i);
        V (label, NN_CMSG_SPACE ((size_t) i));
        snprintf (label, sizeof (label), "NN_CMSG_LEN(%d)", i);
        V (label, NN_CMSG_LEN (i));
        snprintf (label, sizeof (label), "NN_CMSG_LEN((size_t)%d)", i);
        V (label, NN_CMSG_LEN ((size_t) i));
    }
    /*  Arguments with side-effect-free but composite expressions.  */
    V ("NN_CMSG_SPACE(3+4)", NN_CMSG_SPACE (3 + 4));
    V ("NN_CMSG_LEN(3+4)", NN_CMSG_LEN (3 + 4));
    V ("NN_CMSG_ALIGN_(3+4)", NN_CMSG_ALIGN_ (3 + 4));
    V ("NN_CMSG_SPACE(sizeof(size_t))", NN_CMSG_SPACE (sizeof (size_t)));
    V ("NN_CMSG_LEN(sizeof(size_t))", NN_CMSG_LEN (sizeof (size_t)));
    V ("NN_CMSG_SPACE(0)*2", NN_CMSG_SPACE (0) * 2);
    V ("NN_CMSG_LEN(0)*2", NN_CMSG_LEN (0) * 2);

    /*  NN_CMSG_DATA: where the payload starts relative to the header.  */
    d = NN_CMSG_DATA (&ch [0]);
    printf ("NN_CMSG_DATA %s %td\n", TN (NN_CMSG_DATA (&ch [0])),
        d - (unsigned char *) &ch [0]);
    d = NN_CMSG_DATA ((void *) &ch [1]);
    printf ("NN_CMSG_DATA(void*) %td\n", d - (unsigned char *) &ch [1]);

    /*  NN_CMSG_FIRSTHDR / NN_CMSG_NXTHDR: what reaches the helper.  */
    seen_mhdr = NULL;
    seen_cmsg = &ch [1];
    r = NN_CMSG_FIRSTHDR (&mh);
    printf ("NN_CMSG_FIRSTHDR %s mhdr=%d cmsg_null=%d result=%d\n",
        TN (NN_CMSG_FIRSTHDR (&mh)), seen_mhdr == &mh, seen_cmsg == NULL,
        r == &stub_result);
    seen_mhdr = NULL;
    seen_cmsg = NULL;
    r = NN_CMSG_NXTHDR (&mh, &ch [0]);
    printf ("NN_CMSG_NXTHDR %s mhdr=%d cmsg=%d result=%d\n",
        TN (NN_CMSG_NXTHDR (&mh, &ch [0])), seen_mhdr == &mh,
        seen_cmsg == &ch [0], r == &stub_result);
    /*  Untyped pointers are accepted too.  */
    r = NN_CMSG_NXTHDR ((void *) &mh, (void *) &ch [1]);
    printf ("NN_CMSG_NXTHDR(void*) mhdr=%d cmsg=%d result=%d\n",
        seen_mhdr == &mh, seen_cmsg == &ch [1], r == &stub_result);
}

static void dump_prototypes (void)
{
    PROTO (nn_errno, int (*) (void));
    PROTO (nn_strerror, const char *(*) (int));
    PROTO (nn_symbol, const char *(*) (int, int *));
    PROTO (nn_symbol_info,
        int (*) (int, struct nn_symbol_properties *, int));
    PROTO (nn_term, void (*) (void));
    PROTO (nn_allocmsg, void *(*) (size_t, int));
    PROTO (nn_reallocmsg, void *(*) (void *, size_t));
    PROTO (nn_freemsg, int (*) (void *));
    PROTO (nn_cmsg_nxthdr_, struct nn_cmsghdr *(*) (
        const struct nn_msghdr *, const struct nn_cmsghdr *));
    PROTO (nn_socket, int (*) (int, int));
    PROTO (nn_close, int (*) (int));
    PROTO (nn_setsockopt,
        int (*) (int, int, int, const void *, size_t));
    PROTO (nn_getsockopt, int (*) (int, int, int, void *, size_t *));
    PROTO (nn_bind, int (*) (int, const char *));
    PROTO (nn_connect, int (*) (int, const char *));
    PROTO (nn_shutdown, int (*) (int, int));
    PROTO (nn_send, int (*) (int, const void *, size_t, int));
    PROTO (nn_recv, int (*) (int, void *, size_t, int));
    PROTO (nn_sendmsg, int (*) (int, const struct nn_msghdr *, int));
    PROTO (nn_recvmsg, int (*) (int, struct nn_msghdr *, int));
    PROTO (nn_poll, int (*) (struct nn_pollfd *, int, int));
    PROTO (nn_device, int (*) (int, int));
    PROTO (nn_get_statistic, uint64_t (*) (int, int));
}

int main (void)
{
    dump_guards ();
    dump_constants ();
    dump_errors ();
    dump_structs ();
    dump_cmsg_macros ();
    dump_prototypes ();
    return 0;
}
