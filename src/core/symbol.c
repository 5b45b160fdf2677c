/*
    femtomsg: symbol.c -- the introspection table behind nn_symbol() and
    nn_symbol_info().  The order and contents of the table are part of the
    observable behaviour: programs (and language bindings) iterate it by
    index, so it lists the same entries in the same order as nanomsg 1.1.
*/

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

#include <errno.h>
#include <string.h>

/*  Row builders.  Each stringizes its own argument, because handing the
    name on to a further macro would expand it to its value first.
    PLAIN: a constant with no type or unit; the others: options and
    statistics with an NN_TYPE_* and an NN_UNIT_*.  */
#define PLAIN(sym, space) \
    { (sym), #sym, (space), NN_TYPE_NONE, NN_UNIT_NONE }
#define SOCKOPT(sym, ty, un) \
    { (sym), #sym, NN_NS_SOCKET_OPTION, (ty), (un) }
#define TRANSOPT(sym, ty, un) \
    { (sym), #sym, NN_NS_TRANSPORT_OPTION, (ty), (un) }
#define STAT(sym, un) \
    { (sym), #sym, NN_NS_STATISTIC, NN_TYPE_INT, (un) }

static const struct nn_symbol_properties symtab [] = {

    /*  The namespaces themselves (namespace 0).  */
    PLAIN (NN_NS_NAMESPACE, NN_NS_NAMESPACE),
    PLAIN (NN_NS_VERSION, NN_NS_NAMESPACE),
    PLAIN (NN_NS_DOMAIN, NN_NS_NAMESPACE),
    PLAIN (NN_NS_TRANSPORT, NN_NS_NAMESPACE),
    PLAIN (NN_NS_PROTOCOL, NN_NS_NAMESPACE),
    PLAIN (NN_NS_OPTION_LEVEL, NN_NS_NAMESPACE),
    PLAIN (NN_NS_SOCKET_OPTION, NN_NS_NAMESPACE),
    PLAIN (NN_NS_TRANSPORT_OPTION, NN_NS_NAMESPACE),
    PLAIN (NN_NS_OPTION_TYPE, NN_NS_NAMESPACE),
    PLAIN (NN_NS_OPTION_UNIT, NN_NS_NAMESPACE),
    PLAIN (NN_NS_FLAG, NN_NS_NAMESPACE),
    PLAIN (NN_NS_ERROR, NN_NS_NAMESPACE),
    PLAIN (NN_NS_LIMIT, NN_NS_NAMESPACE),
    PLAIN (NN_NS_EVENT, NN_NS_NAMESPACE),
    PLAIN (NN_NS_STATISTIC, NN_NS_NAMESPACE),

    /*  Option value types.  */
    PLAIN (NN_TYPE_NONE, NN_NS_OPTION_TYPE),
    PLAIN (NN_TYPE_INT, NN_NS_OPTION_TYPE),
    PLAIN (NN_TYPE_STR, NN_NS_OPTION_TYPE),

    /*  Option value units (note: COUNTER is listed before MESSAGES).  */
    PLAIN (NN_UNIT_NONE, NN_NS_OPTION_UNIT),
    PLAIN (NN_UNIT_BYTES, NN_NS_OPTION_UNIT),
    PLAIN (NN_UNIT_MILLISECONDS, NN_NS_OPTION_UNIT),
    PLAIN (NN_UNIT_PRIORITY, NN_NS_OPTION_UNIT),
    PLAIN (NN_UNIT_BOOLEAN, NN_NS_OPTION_UNIT),
    PLAIN (NN_UNIT_COUNTER, NN_NS_OPTION_UNIT),
    PLAIN (NN_UNIT_MESSAGES, NN_NS_OPTION_UNIT),

    /*  ABI version numbers.  */
    PLAIN (NN_VERSION_CURRENT, NN_NS_VERSION),
    PLAIN (NN_VERSION_REVISION, NN_NS_VERSION),
    PLAIN (NN_VERSION_AGE, NN_NS_VERSION),

    /*  Socket domains.  */
    PLAIN (AF_SP, NN_NS_DOMAIN),
    PLAIN (AF_SP_RAW, NN_NS_DOMAIN),

    /*  Transports.  */
    PLAIN (NN_INPROC, NN_NS_TRANSPORT),
    PLAIN (NN_IPC, NN_NS_TRANSPORT),
    PLAIN (NN_TCP, NN_NS_TRANSPORT),
    PLAIN (NN_WS, NN_NS_TRANSPORT),

    /*  Socket types (REP comes before REQ here).  */
    PLAIN (NN_PAIR, NN_NS_PROTOCOL),
    PLAIN (NN_PUB, NN_NS_PROTOCOL),
    PLAIN (NN_SUB, NN_NS_PROTOCOL),
    PLAIN (NN_REP, NN_NS_PROTOCOL),
    PLAIN (NN_REQ, NN_NS_PROTOCOL),
    PLAIN (NN_PUSH, NN_NS_PROTOCOL),
    PLAIN (NN_PULL, NN_NS_PROTOCOL),
    PLAIN (NN_SURVEYOR, NN_NS_PROTOCOL),
    PLAIN (NN_RESPONDENT, NN_NS_PROTOCOL),
    PLAIN (NN_BUS, NN_NS_PROTOCOL),

    /*  Limits.  */
    PLAIN (NN_SOCKADDR_MAX, NN_NS_LIMIT),

    /*  Option levels.  */
    PLAIN (NN_SOL_SOCKET, NN_NS_OPTION_LEVEL),

    /*  Generic socket options.  */
    SOCKOPT (NN_LINGER, NN_TYPE_INT, NN_UNIT_MILLISECONDS),
    SOCKOPT (NN_SNDBUF, NN_TYPE_INT, NN_UNIT_BYTES),
    SOCKOPT (NN_RCVBUF, NN_TYPE_INT, NN_UNIT_BYTES),
    SOCKOPT (NN_RCVMAXSIZE, NN_TYPE_INT, NN_UNIT_BYTES),
    SOCKOPT (NN_SNDTIMEO, NN_TYPE_INT, NN_UNIT_MILLISECONDS),
    SOCKOPT (NN_RCVTIMEO, NN_TYPE_INT, NN_UNIT_MILLISECONDS),
    SOCKOPT (NN_RECONNECT_IVL, NN_TYPE_INT, NN_UNIT_MILLISECONDS),
    SOCKOPT (NN_RECONNECT_IVL_MAX, NN_TYPE_INT, NN_UNIT_MILLISECONDS),
    SOCKOPT (NN_SNDPRIO, NN_TYPE_INT, NN_UNIT_PRIORITY),
    SOCKOPT (NN_RCVPRIO, NN_TYPE_INT, NN_UNIT_PRIORITY),
    SOCKOPT (NN_SNDFD, NN_TYPE_INT, NN_UNIT_NONE),
    SOCKOPT (NN_RCVFD, NN_TYPE_INT, NN_UNIT_NONE),
    SOCKOPT (NN_DOMAIN, NN_TYPE_INT, NN_UNIT_NONE),
    SOCKOPT (NN_PROTOCOL, NN_TYPE_INT, NN_UNIT_NONE),
    SOCKOPT (NN_IPV4ONLY, NN_TYPE_INT, NN_UNIT_BOOLEAN),
    SOCKOPT (NN_SOCKET_NAME, NN_TYPE_STR, NN_UNIT_NONE),
    SOCKOPT (NN_MAXTTL, NN_TYPE_INT, NN_UNIT_NONE),

    /*  Protocol- and transport-specific options.  */
    TRANSOPT (NN_SUB_SUBSCRIBE, NN_TYPE_STR, NN_UNIT_NONE),
    TRANSOPT (NN_SUB_UNSUBSCRIBE, NN_TYPE_STR, NN_UNIT_NONE),
    TRANSOPT (NN_REQ_RESEND_IVL, NN_TYPE_INT, NN_UNIT_MILLISECONDS),
    TRANSOPT (NN_SURVEYOR_DEADLINE, NN_TYPE_INT, NN_UNIT_MILLISECONDS),
    TRANSOPT (NN_TCP_NODELAY, NN_TYPE_INT, NN_UNIT_BOOLEAN),
    TRANSOPT (NN_WS_MSG_TYPE, NN_TYPE_INT, NN_UNIT_NONE),

    /*  Flags.  */
    PLAIN (NN_DONTWAIT, NN_NS_FLAG),
    PLAIN (NN_WS_MSG_TYPE_TEXT, NN_NS_FLAG),
    PLAIN (NN_WS_MSG_TYPE_BINARY, NN_NS_FLAG),

    /*  Poll events.  */
    PLAIN (NN_POLLIN, NN_NS_EVENT),
    PLAIN (NN_POLLOUT, NN_NS_EVENT),

    /*  Error codes (values are whatever the platform, or nn.h, assigns).  */
    PLAIN (EADDRINUSE, NN_NS_ERROR),
    PLAIN (EADDRNOTAVAIL, NN_NS_ERROR),
    PLAIN (EAFNOSUPPORT, NN_NS_ERROR),
    PLAIN (EAGAIN, NN_NS_ERROR),
    PLAIN (EBADF, NN_NS_ERROR),
    PLAIN (ECONNREFUSED, NN_NS_ERROR),
    PLAIN (EFAULT, NN_NS_ERROR),
    PLAIN (EFSM, NN_NS_ERROR),
    PLAIN (EINPROGRESS, NN_NS_ERROR),
    PLAIN (EINTR, NN_NS_ERROR),
    PLAIN (EINVAL, NN_NS_ERROR),
    PLAIN (EMFILE, NN_NS_ERROR),
    PLAIN (ENAMETOOLONG, NN_NS_ERROR),
    PLAIN (ENETDOWN, NN_NS_ERROR),
    PLAIN (ENOBUFS, NN_NS_ERROR),
    PLAIN (ENODEV, NN_NS_ERROR),
    PLAIN (ENOMEM, NN_NS_ERROR),
    PLAIN (ENOPROTOOPT, NN_NS_ERROR),
    PLAIN (ENOTSOCK, NN_NS_ERROR),
    PLAIN (ENOTSUP, NN_NS_ERROR),
    PLAIN (EPROTO, NN_NS_ERROR),
    PLAIN (EPROTONOSUPPORT, NN_NS_ERROR),
    PLAIN (ETERM, NN_NS_ERROR),
    PLAIN (ETIMEDOUT, NN_NS_ERROR),
    PLAIN (EACCES, NN_NS_ERROR),
    PLAIN (ECONNABORTED, NN_NS_ERROR),
    PLAIN (ECONNRESET, NN_NS_ERROR),
    PLAIN (EHOSTUNREACH, NN_NS_ERROR),
    PLAIN (EMSGSIZE, NN_NS_ERROR),
    PLAIN (ENETRESET, NN_NS_ERROR),
    PLAIN (ENETUNREACH, NN_NS_ERROR),
    PLAIN (ENOTCONN, NN_NS_ERROR),

    /*  Statistics.  */
    STAT (NN_STAT_ESTABLISHED_CONNECTIONS, NN_UNIT_COUNTER),
    STAT (NN_STAT_ACCEPTED_CONNECTIONS, NN_UNIT_COUNTER),
    STAT (NN_STAT_DROPPED_CONNECTIONS, NN_UNIT_COUNTER),
    STAT (NN_STAT_BROKEN_CONNECTIONS, NN_UNIT_COUNTER),
    STAT (NN_STAT_CONNECT_ERRORS, NN_UNIT_COUNTER),
    STAT (NN_STAT_BIND_ERRORS, NN_UNIT_COUNTER),
    STAT (NN_STAT_ACCEPT_ERRORS, NN_UNIT_COUNTER),
    STAT (NN_STAT_MESSAGES_SENT, NN_UNIT_MESSAGES),
    STAT (NN_STAT_MESSAGES_RECEIVED, NN_UNIT_MESSAGES),
    STAT (NN_STAT_BYTES_SENT, NN_UNIT_BYTES),
    STAT (NN_STAT_BYTES_RECEIVED, NN_UNIT_BYTES),
    STAT (NN_STAT_CURRENT_CONNECTIONS, NN_UNIT_NONE),
    STAT (NN_STAT_INPROGRESS_CONNECTIONS, NN_UNIT_NONE),
    STAT (NN_STAT_CURRENT_SND_PRIORITY, NN_UNIT_PRIORITY),
    STAT (NN_STAT_CURRENT_EP_ERRORS, NN_UNIT_NONE)
};

#define SYMTAB_LEN ((int) (sizeof (symtab) / sizeof (symtab [0])))

const char *nn_symbol (int i, int *value)
{
    if (i < 0 || i >= SYMTAB_LEN) {
        errno = EINVAL;
        return NULL;
    }
    if (value)
        *value = symtab [i].value;
    return symtab [i].name;
}

int nn_symbol_info (int i, struct nn_symbol_properties *buf, int buflen)
{
    size_t n;

    if (i < 0 || i >= SYMTAB_LEN)
        return 0;

    /*  Copy at most one entry's worth.  A negative length is treated as
        zero (the stock library would hand it to memcpy and crash).  */
    if (buflen <= 0)
        return 0;
    n = (size_t) buflen;
    if (n > sizeof (struct nn_symbol_properties))
        n = sizeof (struct nn_symbol_properties);
    memcpy (buf, &symtab [i], n);
    return (int) n;
}
