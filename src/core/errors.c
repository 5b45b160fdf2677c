/*
    femtomsg: errors.c -- nn_errno() and nn_strerror().
*/

#include <nanomsg/nn.h>

#include <errno.h>
#include <string.h>

int nn_errno (void)
{
    return errno;
}

/*  Descriptions for codes that nn.h may have had to invent (numbered from
    NN_HAUSNUMERO) because the platform's <errno.h> lacks them.  Where the
    platform supplies a code, its own strerror() text is used instead, so
    these wordings only matter on such platforms.  */
struct errtext {
    int code;
    const char *text;
};

static const struct errtext substitutes [] = {
    { ENOTSUP, "Operation not supported" },
    { EPROTONOSUPPORT, "Protocol not supported" },
    { ENOBUFS, "No buffer space available" },
    { ENETDOWN, "Network is down" },
    { EADDRINUSE, "Address already in use" },
    { EADDRNOTAVAIL, "Cannot assign requested address" },
    { ECONNREFUSED, "Connection refused" },
    { EINPROGRESS, "Operation now in progress" },
    { ENOTSOCK, "Socket operation on non-socket" },
    { EAFNOSUPPORT, "Address family not supported by protocol" },
    { EPROTO, "Protocol error" },
    { EAGAIN, "Resource temporarily unavailable" },
    { EBADF, "Bad file descriptor" },
    { EINVAL, "Invalid argument" },
    { EMFILE, "Too many open files" },
    { EFAULT, "Bad address" },
    { EACCES, "Permission denied" },
    { ENETRESET, "Network dropped connection on reset" },
    { ENETUNREACH, "Network is unreachable" },
    { EHOSTUNREACH, "No route to host" },
    { ENOTCONN, "Transport endpoint is not connected" },
    { EMSGSIZE, "Message too long" },
    { ETIMEDOUT, "Connection timed out" },
    { ECONNABORTED, "Software caused connection abort" },
    { ECONNRESET, "Connection reset by peer" },
    { ENOPROTOOPT, "Protocol not available" },
    { EISCONN, "Transport endpoint is already connected" },
    { ESOCKTNOSUPPORT, "Socket type not supported" }
};

const char *nn_strerror (int errnum)
{
    size_t k;

    /*  The library's own codes always get fixed (untranslated) texts;
        these are the exact strings nanomsg 1.1 returns.  */
    if (errnum == ETERM)
        return "Nanomsg library was terminated";
    if (errnum == EFSM)
        return "Operation cannot be performed in this state";

    /*  Substitute codes live in a range no real errno uses.  */
    if (errnum >= NN_HAUSNUMERO) {
        for (k = 0; k < sizeof (substitutes) / sizeof (substitutes [0]); k++)
            if (substitutes [k].code == errnum)
                return substitutes [k].text;
    }

    /*  Everything else, including unknown numbers, is the C library's.  */
    return strerror (errnum);
}
