/* ipc.c: the ipc:// transport over UNIX stream sockets. It owns the path
   rules (ENAMETOOLONG past sun_path; a stale socket file nobody accepts on
   is replaced at bind, anything else there is EADDRINUSE) and the socket
   file's removal at close; stream.c runs the connections, with the 0x01
   type byte in front of every message. */
#include "stream.h"

#include <errno.h>
#include <nanomsg/ipc.h>
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

static void ipc_tune(struct fm_ep *ep, int fd)
{
    if (ep->sndbuf_set)
        return;
    int v = IPC_KERNEL_SNDBUF;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

static const struct fm_stream_tp ipc_stream = {
    .type_byte = true,
    .tune = ipc_tune,
};

static int ipc_path(struct fm_ep *ep, struct sockaddr_un *sun, socklen_t *len)
{
    const char *path = ep->addr + strlen("ipc://");
    size_t n = strlen(path);
    if (n == 0)
        return -EINVAL;
    if (n >= sizeof(sun->sun_path))
        return -ENAMETOOLONG;
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, n);
    *len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + 1);
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
    int rc = ipc_path(ep, &sun, &len);
    if (rc)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    rc = bind(fd, (struct sockaddr *) &sun, len);
    if (rc != 0 && errno == EADDRINUSE && stale(&sun, len)) {
        unlink(sun.sun_path);
        rc = bind(fd, (struct sockaddr *) &sun, len);
    }
    if (rc != 0 || listen(fd, SOMAXCONN) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    rc = fm_stream_listen(ep, &ipc_stream, fd, sun.sun_path);
    if (rc) {
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
    int rc = ipc_path(ep, &sun, &len);
    if (rc)
        return rc;
    memcpy(&t.remote, &sun, sizeof(sun));
    t.remote_len = len;
    return fm_stream_connect(ep, &ipc_stream, &t);
}

/* The options exist for Windows named pipes; elsewhere they are stored and
   ignored, as in the stock library. */
static int ipc_setopt(int option, const void *val, size_t len, int *store)
{
    if (option < NN_IPC_SEC_ATTR || option > NN_IPC_INBUFSZ)
        return -ENOPROTOOPT;
    int v;
    if (!val || len < sizeof(v))
        return -EINVAL; /* any value will do, as in the stock library */
    memcpy(&v, val, sizeof(v));
    store[option] = v;
    return 0;
}

static int ipc_getopt(int option, const int *store, void *val, size_t *len)
{
    if (option < NN_IPC_SEC_ATTR || option > NN_IPC_INBUFSZ)
        return -ENOPROTOOPT;
    int v = store[option];
    memcpy(val, &v, *len < sizeof(v) ? *len : sizeof(v));
    *len = sizeof(v);
    return 0;
}

const struct fm_transport fm_ipc = {
    .scheme = "ipc",
    .level = NN_IPC,
    .bind = ipc_bind,
    .connect = ipc_connect,
    .close = fm_stream_close,
    .setopt = ipc_setopt,
    .getopt = ipc_getopt,
    .default_opts = {0, 0, 4096, 4096},
};
