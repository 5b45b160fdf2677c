/* ipc.c: the ipc:// transport over UNIX stream sockets. It owns the path
   rules (ENAMETOOLONG past sun_path; a stale socket file nobody accepts on
   is replaced at bind, anything else there is EADDRINUSE), Linux abstract
   addresses (ipc://@name: no file at all), the socket file's removal at
   close, and who may connect: the file's permission bits, set between
   bind() and listen() so that no one connects under the umask's bits, and
   the peer's user and group ids (SO_PEERCRED) checked on every new
   connection. stream.c runs the connections, with the 0x01 type byte in
   front of every message. */
#include "stream.h"

#include <errno.h>
#include <nanomsg/ipc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* UNIX stream sockets do not autotune their buffers: with the kernel's
   default (wmem_default, 208 KiB on Debian) a 1 MiB message goes out in
   five pieces, each one a wake-up on both sides, and throughput halves.
   1 MiB (the kernel doubles it) is about what TCP's autotuning grants a
   busy connection. An application that sets NN_SNDBUF decides instead
   (stream.c sizes the kernel buffer from it). */
#define IPC_KERNEL_SNDBUF (1 << 20)

#define IDS_MAX 64 /* entries of NN_IPC_PEER_UIDS and of NN_IPC_PEER_GIDS */

/* ------------------------------------------------------------ options */

/* The NN_IPC options of a socket, copied on write (see fm_tpobj). */
struct ipc_opts {
    struct fm_tpobj base;
    int stock[NN_IPC_INBUFSZ + 1]; /* the Windows buffer sizes: kept, unused */
    /* NN_IPC_SEC_ATTR: as in stock, the address of the value given to
       nn_setsockopt (on Windows, the caller's attributes), read back as a
       pointer. */
    const void *sec_attr;
    int perms;                     /* -1: as the umask leaves them */
    int nuids, ngids;              /* 0 and 0: no check */
    int uids[IDS_MAX];
    int gids[IDS_MAX];
};

static const struct ipc_opts ipc_defaults = {
    .stock = {[NN_IPC_OUTBUFSZ] = 4096, [NN_IPC_INBUFSZ] = 4096},
    .perms = -1,
};

static void ipc_opts_free(struct fm_tpobj *o) { free(o); }

static int ipc_setopt(int option, const void *val, size_t len, struct fm_tpobj **obj)
{
    bool stock = option >= NN_IPC_SEC_ATTR && option <= NN_IPC_INBUFSZ;
    bool ids = option == NN_IPC_PEER_UIDS || option == NN_IPC_PEER_GIDS;
    /* As the stock library: an unknown option shorter than an int is
       EINVAL before it is looked at (a longer one is not). */
    if (!stock && !ids && option != NN_IPC_PERMISSIONS)
        return len < sizeof(int) ? -EINVAL : -ENOPROTOOPT;
    if (!val && len)
        return -EFAULT;
    int v = 0;
    if (!ids) {
        /* The stock options take any int, as in the stock library. */
        if (!val || len < sizeof(v) || (!stock && len != sizeof(v)))
            return -EINVAL;
        memcpy(&v, val, sizeof(v));
        if (option == NN_IPC_PERMISSIONS && (v < -1 || v > 0777))
            return -EINVAL;
    } else if (len % sizeof(int) || len / sizeof(int) > IDS_MAX) {
        return -EINVAL;
    }
    /* Endpoints may hold the current object: change a copy of it. */
    const struct ipc_opts *cur = *obj ? (const struct ipc_opts *) *obj : &ipc_defaults;
    struct ipc_opts *o = malloc(sizeof(*o));
    if (!o)
        return -ENOMEM;
    *o = *cur;
    atomic_init(&o->base.refs, 1);
    o->base.free = ipc_opts_free;
    if (option == NN_IPC_SEC_ATTR) {
        o->sec_attr = val;
    } else if (stock) {
        o->stock[option] = v;
    } else if (option == NN_IPC_PERMISSIONS) {
        o->perms = v;
    } else {
        int n = (int) (len / sizeof(int));
        int *to = option == NN_IPC_PEER_UIDS ? o->uids : o->gids;
        if (n)
            memcpy(to, val, len);
        for (int i = 0; i < n; i++)
            if (to[i] < 0) {
                free(o);
                return -EINVAL;
            }
        *(option == NN_IPC_PEER_UIDS ? &o->nuids : &o->ngids) = n;
    }
    fm_tpobj_unref(*obj);
    *obj = &o->base;
    return 0;
}

static int ipc_getopt(int option, const struct fm_tpobj *obj, void *val, size_t *len)
{
    const struct ipc_opts *o = obj ? (const struct ipc_opts *) obj : &ipc_defaults;
    const void *src;
    size_t n;
    if (option == NN_IPC_SEC_ATTR) {
        src = &o->sec_attr;
        n = sizeof(o->sec_attr);
    } else if (option >= NN_IPC_SEC_ATTR && option <= NN_IPC_INBUFSZ) {
        src = &o->stock[option];
        n = sizeof(int);
    } else if (option == NN_IPC_PERMISSIONS) {
        src = &o->perms;
        n = sizeof(int);
    } else if (option == NN_IPC_PEER_UIDS) {
        src = o->uids;
        n = (size_t) o->nuids * sizeof(int);
    } else if (option == NN_IPC_PEER_GIDS) {
        src = o->gids;
        n = (size_t) o->ngids * sizeof(int);
    } else {
        return -ENOPROTOOPT;
    }
    memcpy(val, src, *len < n ? *len : n);
    *len = n;
    return 0;
}

static const struct ipc_opts *opts_of(const struct fm_ep *ep)
{
    return ep->tpobj ? (const struct ipc_opts *) ep->tpobj : &ipc_defaults;
}

/* ---------------------------------------------------------- transport */

static void ipc_tune(struct fm_ep *ep, int fd)
{
    if (ep->sndbuf_set)
        return;
    int v = IPC_KERNEL_SNDBUF;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

static bool id_listed(const int *ids, int n, unsigned id)
{
    for (int i = 0; i < n; i++)
        if ((unsigned) ids[i] == id)
            return true;
    return false;
}

/* The peer's credentials are those it had when it called connect() (or,
   seen from a connecting endpoint, listen()): a process that changes its
   ids later is judged by the old ones, as the kernel records them. */
static int ipc_admit(struct fm_ep *ep, int fd)
{
    const struct ipc_opts *o = opts_of(ep);
    if (!o->nuids && !o->ngids)
        return 0;
    struct ucred cr;
    socklen_t len = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
        return -errno;
    if (id_listed(o->uids, o->nuids, cr.uid) || id_listed(o->gids, o->ngids, cr.gid))
        return 0;
    return -EACCES;
}

static const struct fm_stream_tp ipc_stream = {
    .framer = &fm_sp_framer,
    .tune = ipc_tune,
    .admit = ipc_admit,
};

/* "ipc://path" names a file; "ipc://@name" a Linux abstract address: the
   name follows a NUL in sun_path, without a terminator. */
static int ipc_path(struct fm_ep *ep, struct sockaddr_un *sun, socklen_t *len, bool *abstract)
{
    const char *path = ep->addr + strlen("ipc://");
    size_t n = strlen(path);
    *abstract = path[0] == '@';
    if (n == 0 || (*abstract && n == 1))
        return -EINVAL;
    if (n >= sizeof(sun->sun_path))
        return -ENAMETOOLONG;
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, n);
    if (*abstract)
        sun->sun_path[0] = '\0';
    *len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + (*abstract ? 0 : 1));
    return 0;
}

/* True when path is a socket file that refuses connections: a listener
   died without removing it. */
static bool stale(const struct sockaddr_un *sun, socklen_t len)
{
    struct stat st;
    if (lstat(sun->sun_path, &st) != 0 || !S_ISSOCK(st.st_mode))
        return false;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool refused = connect(fd, (const struct sockaddr *) sun, len) != 0 && errno == ECONNREFUSED;
    close(fd);
    return refused;
}

static int ipc_bind(struct fm_ep *ep)
{
    struct sockaddr_un sun;
    socklen_t len;
    bool abstract;
    int rc = ipc_path(ep, &sun, &len, &abstract);
    if (rc)
        return rc;
    int perms = opts_of(ep)->perms;
    if (abstract && perms >= 0)
        return -EINVAL; /* no file to hold them: refused rather than ignored */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    rc = bind(fd, (struct sockaddr *) &sun, len);
    if (rc != 0 && errno == EADDRINUSE && !abstract && stale(&sun, len)) {
        unlink(sun.sun_path);
        rc = bind(fd, (struct sockaddr *) &sun, len);
    }
    if (rc != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    /* Until listen() a connect() is refused, so the bits are in place
       before anyone can get in. */
    if ((perms >= 0 && chmod(sun.sun_path, (mode_t) perms) != 0) || listen(fd, SOMAXCONN) != 0) {
        rc = -errno;
        if (!abstract)
            unlink(sun.sun_path);
        close(fd);
        return rc;
    }
    rc = fm_stream_listen(ep, &ipc_stream, fd, abstract ? NULL : sun.sun_path,
                          (struct fm_stream_args){.framer = &fm_sp_ipc_arg});
    if (rc) {
        if (!abstract)
            unlink(sun.sun_path);
        close(fd);
    }
    return rc;
}

static int ipc_connect(struct fm_ep *ep)
{
    struct fm_stream_target t;
    memset(&t, 0, sizeof(t));
    struct sockaddr_un sun;
    socklen_t len;
    bool abstract;
    int rc = ipc_path(ep, &sun, &len, &abstract);
    if (rc)
        return rc;
    memcpy(&t.remote, &sun, sizeof(sun));
    t.remote_len = len;
    return fm_stream_connect(ep, &ipc_stream, &t, (struct fm_stream_args){.framer = &fm_sp_ipc_arg});
}

const struct fm_transport fm_ipc = {
    .scheme = "ipc",
    .level = NN_IPC,
    .bind = ipc_bind,
    .connect = ipc_connect,
    .close = fm_stream_close,
    .setopt_obj = ipc_setopt,
    .getopt_obj = ipc_getopt,
};
