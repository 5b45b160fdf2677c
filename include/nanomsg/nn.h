/*
    femtomsg: nn.h -- core public API, ABI-compatible with nanomsg 1.1.
*/

#ifndef NN_H_INCLUDED
#define NN_H_INCLUDED

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Linkage of the public functions.  The library build predefines this to
    give the symbols default visibility; consumers get a plain extern.  */
#ifndef NN_EXPORT
#    if defined(_WIN32) && !defined(NN_STATIC_LIB)
#        if defined(NN_SHARED_LIB)
#            define NN_EXPORT __declspec(dllexport)
#        else
#            define NN_EXPORT __declspec(dllimport)
#        endif
#    else
#        define NN_EXPORT extern
#    endif
#endif

/*  Library interface version (libtool current/revision/age).  */
#define NN_VERSION_CURRENT 5
#define NN_VERSION_REVISION 1
#define NN_VERSION_AGE 0

/*  Base for error codes the platform does not provide itself.  */
#define NN_HAUSNUMERO 156384712

/*  Substitutes for POSIX error codes missing from <errno.h>.  */
#ifndef ENOTSUP
#define ENOTSUP (NN_HAUSNUMERO + 1)
#endif
#ifndef EPROTONOSUPPORT
#define EPROTONOSUPPORT (NN_HAUSNUMERO + 2)
#endif
#ifndef ENOBUFS
#define ENOBUFS (NN_HAUSNUMERO + 3)
#endif
#ifndef ENETDOWN
#define ENETDOWN (NN_HAUSNUMERO + 4)
#endif
#ifndef EADDRINUSE
#define EADDRINUSE (NN_HAUSNUMERO + 5)
#endif
#ifndef EADDRNOTAVAIL
#define EADDRNOTAVAIL (NN_HAUSNUMERO + 6)
#endif
#ifndef ECONNREFUSED
#define ECONNREFUSED (NN_HAUSNUMERO + 7)
#endif
#ifndef EINPROGRESS
#define EINPROGRESS (NN_HAUSNUMERO + 8)
#endif
#ifndef ENOTSOCK
#define ENOTSOCK (NN_HAUSNUMERO + 9)
#endif
#ifndef EAFNOSUPPORT
#define EAFNOSUPPORT (NN_HAUSNUMERO + 10)
#endif
#ifndef EPROTO
#define EPROTO (NN_HAUSNUMERO + 11)
#endif
#ifndef EAGAIN
#define EAGAIN (NN_HAUSNUMERO + 12)
#endif
#ifndef EBADF
#define EBADF (NN_HAUSNUMERO + 13)
#endif
#ifndef EINVAL
#define EINVAL (NN_HAUSNUMERO + 14)
#endif
#ifndef EMFILE
#define EMFILE (NN_HAUSNUMERO + 15)
#endif
#ifndef EFAULT
#define EFAULT (NN_HAUSNUMERO + 16)
#endif
#ifndef EACCES
#define EACCES (NN_HAUSNUMERO + 17)
#endif
#ifndef EACCESS
#define EACCESS (EACCES)
#endif
#ifndef ENETRESET
#define ENETRESET (NN_HAUSNUMERO + 18)
#endif
#ifndef ENETUNREACH
#define ENETUNREACH (NN_HAUSNUMERO + 19)
#endif
#ifndef EHOSTUNREACH
#define EHOSTUNREACH (NN_HAUSNUMERO + 20)
#endif
#ifndef ENOTCONN
#define ENOTCONN (NN_HAUSNUMERO + 21)
#endif
#ifndef EMSGSIZE
#define EMSGSIZE (NN_HAUSNUMERO + 22)
#endif
#ifndef ETIMEDOUT
#define ETIMEDOUT (NN_HAUSNUMERO + 23)
#endif
#ifndef ECONNABORTED
#define ECONNABORTED (NN_HAUSNUMERO + 24)
#endif
#ifndef ECONNRESET
#define ECONNRESET (NN_HAUSNUMERO + 25)
#endif
#ifndef ENOPROTOOPT
#define ENOPROTOOPT (NN_HAUSNUMERO + 26)
#endif
#ifndef EISCONN
#define EISCONN (NN_HAUSNUMERO + 27)
#define NN_EISCONN_DEFINED
#endif
#ifndef ESOCKTNOSUPPORT
#define ESOCKTNOSUPPORT (NN_HAUSNUMERO + 28)
#endif

/*  Error codes specific to this library.  */
#ifndef ETERM
#define ETERM (NN_HAUSNUMERO + 53)
#endif
#ifndef EFSM
#define EFSM (NN_HAUSNUMERO + 54)
#endif

/*  Error reporting: current error number and its description.  */
NN_EXPORT int nn_errno (void);
NN_EXPORT const char *nn_strerror (int errnum);

/*  Symbol introspection: walk i = 0, 1, ... until NULL (errno EINVAL).  */
NN_EXPORT const char *nn_symbol (int i, int *value);

/*  Namespaces reported in nn_symbol_properties.ns.  */
#define NN_NS_NAMESPACE 0
#define NN_NS_VERSION 1
#define NN_NS_DOMAIN 2
#define NN_NS_TRANSPORT 3
#define NN_NS_PROTOCOL 4
#define NN_NS_OPTION_LEVEL 5
#define NN_NS_SOCKET_OPTION 6
#define NN_NS_TRANSPORT_OPTION 7
#define NN_NS_OPTION_TYPE 8
#define NN_NS_OPTION_UNIT 9
#define NN_NS_FLAG 10
#define NN_NS_ERROR 11
#define NN_NS_LIMIT 12
#define NN_NS_EVENT 13
#define NN_NS_STATISTIC 14

/*  Option value types reported in nn_symbol_properties.type.  */
#define NN_TYPE_NONE 0
#define NN_TYPE_INT 1
#define NN_TYPE_STR 2

/*  Option value units reported in nn_symbol_properties.unit.  */
#define NN_UNIT_NONE 0
#define NN_UNIT_BYTES 1
#define NN_UNIT_MILLISECONDS 2
#define NN_UNIT_PRIORITY 3
#define NN_UNIT_BOOLEAN 4
#define NN_UNIT_MESSAGES 5
#define NN_UNIT_COUNTER 6

/*  One entry of the symbol table.  */
struct nn_symbol_properties {
    int value;          /*  numeric value of the constant  */
    const char* name;   /*  its name, e.g. "NN_REQ"  */
    int ns;             /*  NN_NS_* it belongs to (0 for namespaces)  */
    int type;           /*  NN_TYPE_* (options and statistics)  */
    int unit;           /*  NN_UNIT_* (options and statistics)  */
};

/*  Copies up to buflen bytes of entry i into buf; returns the number of
    bytes copied, or 0 when i is out of range.  */
NN_EXPORT int nn_symbol_info (int i,
    struct nn_symbol_properties *buf, int buflen);

/*  Library-wide shutdown: wakes and fails all blocking calls with ETERM.  */
NN_EXPORT void nn_term (void);

/*  Zero-copy messages.  Pass NN_MSG as a length to use them.  */
#define NN_MSG ((size_t) -1)

NN_EXPORT void *nn_allocmsg (size_t size, int type);
NN_EXPORT void *nn_reallocmsg (void *msg, size_t size);
NN_EXPORT int nn_freemsg (void *msg);

/*  Scatter/gather message descriptors.  */
struct nn_iovec {
    void *iov_base;
    size_t iov_len;
};

struct nn_msghdr {
    struct nn_iovec *msg_iov;
    int msg_iovlen;
    void *msg_control;
    size_t msg_controllen;
};

struct nn_cmsghdr {
    size_t cmsg_len;
    int cmsg_level;
    int cmsg_type;
};

/*  Helper behind the NN_CMSG_* macros; not meant to be called directly.  */
NN_EXPORT struct nn_cmsghdr *nn_cmsg_nxthdr_ (
    const struct nn_msghdr *mhdr,
    const struct nn_cmsghdr *cmsg);

/*  Round len up to a multiple of sizeof (size_t).  */
#define NN_CMSG_ALIGN_(len) \
    (((size_t) (len) + (sizeof (size_t) - 1)) & ~(sizeof (size_t) - 1))

/*  Control-message walking, modelled on the POSIX CMSG_* macros.  */
#define NN_CMSG_FIRSTHDR(mhdr) \
    nn_cmsg_nxthdr_ ((const struct nn_msghdr *) (mhdr), NULL)
#define NN_CMSG_NXTHDR(mhdr, cmsg) \
    nn_cmsg_nxthdr_ ((const struct nn_msghdr *) (mhdr), \
        (const struct nn_cmsghdr *) (cmsg))
#define NN_CMSG_DATA(cmsg) \
    ((unsigned char *) ((struct nn_cmsghdr *) (cmsg) + 1))

/*  Sizing helpers as in RFC 3542: room for header plus padded payload,
    and the cmsg_len value for a payload of len bytes.  */
#define NN_CMSG_SPACE(len) \
    (NN_CMSG_ALIGN_ (sizeof (struct nn_cmsghdr)) + NN_CMSG_ALIGN_ (len))
#define NN_CMSG_LEN(len) \
    ((len) + NN_CMSG_ALIGN_ (sizeof (struct nn_cmsghdr)))

/*  Socket domains: normal and raw (for devices).  */
#define AF_SP 1
#define AF_SP_RAW 2

/*  Longest endpoint address accepted, in bytes.  */
#define NN_SOCKADDR_MAX 128

/*  Option levels: 0 is the generic level, protocols use their socket type
    number, transports use their (negative) transport id.  */
#define NN_SOL_SOCKET 0

/*  Generic socket options.  */
#define NN_LINGER 1
#define NN_SNDBUF 2
#define NN_RCVBUF 3
#define NN_SNDTIMEO 4
#define NN_RCVTIMEO 5
#define NN_RECONNECT_IVL 6
#define NN_RECONNECT_IVL_MAX 7
#define NN_SNDPRIO 8
#define NN_RCVPRIO 9
#define NN_SNDFD 10
#define NN_RCVFD 11
#define NN_DOMAIN 12
#define NN_PROTOCOL 13
#define NN_IPV4ONLY 14
#define NN_SOCKET_NAME 15
#define NN_RCVMAXSIZE 16
#define NN_MAXTTL 17

/*  Flags for send and receive.  */
#define NN_DONTWAIT 1

/*  Control-message level and type carrying the SP header.  */
#define PROTO_SP 1
#define SP_HDR 1

/*  Sockets, endpoints and message transfer.  */
NN_EXPORT int nn_socket (int domain, int protocol);
NN_EXPORT int nn_close (int s);
NN_EXPORT int nn_setsockopt (int s, int level, int option, const void *optval,
    size_t optvallen);
NN_EXPORT int nn_getsockopt (int s, int level, int option, void *optval,
    size_t *optvallen);
NN_EXPORT int nn_bind (int s, const char *addr);
NN_EXPORT int nn_connect (int s, const char *addr);
NN_EXPORT int nn_shutdown (int s, int how);
NN_EXPORT int nn_send (int s, const void *buf, size_t len, int flags);
NN_EXPORT int nn_recv (int s, void *buf, size_t len, int flags);
NN_EXPORT int nn_sendmsg (int s, const struct nn_msghdr *msghdr, int flags);
NN_EXPORT int nn_recvmsg (int s, struct nn_msghdr *msghdr, int flags);

/*  Waiting on several sockets at once.  */
#define NN_POLLIN 1
#define NN_POLLOUT 2

struct nn_pollfd {
    int fd;
    short events;
    short revents;
};

NN_EXPORT int nn_poll (struct nn_pollfd *fds, int nfds, int timeout);

/*  Forward messages between two raw sockets until termination.  */
NN_EXPORT int nn_device (int s1, int s2);

/*  Statistics: per-endpoint event counters.  */
#define NN_STAT_ESTABLISHED_CONNECTIONS 101
#define NN_STAT_ACCEPTED_CONNECTIONS    102
#define NN_STAT_DROPPED_CONNECTIONS     103
#define NN_STAT_BROKEN_CONNECTIONS      104
#define NN_STAT_CONNECT_ERRORS          105
#define NN_STAT_BIND_ERRORS             106
#define NN_STAT_ACCEPT_ERRORS           107

/*  Statistics: current levels.  */
#define NN_STAT_CURRENT_CONNECTIONS     201
#define NN_STAT_INPROGRESS_CONNECTIONS  202
#define NN_STAT_CURRENT_EP_ERRORS       203

/*  Statistics: socket traffic totals.  */
#define NN_STAT_MESSAGES_SENT           301
#define NN_STAT_MESSAGES_RECEIVED       302
#define NN_STAT_BYTES_SENT              303
#define NN_STAT_BYTES_RECEIVED          304

/*  Statistics: protocol state.  */
#define NN_STAT_CURRENT_SND_PRIORITY    401

NN_EXPORT uint64_t nn_get_statistic (int s, int stat);

#ifdef __cplusplus
}
#endif

#endif
