/* device.c: nn_device, which forwards messages between two raw sockets
   (or from one raw socket back to itself) with their protocol headers
   untouched. It moves each message with nn_recvmsg / nn_sendmsg, body as an
   NN_MSG buffer (no copy) and header through a control buffer it reuses,
   and waits in poll() on the sockets' own RCVFD/SNDFD descriptors: a signal
   makes it return EINTR, and closing either socket (nn_close from another
   thread, or nn_term) wakes it to return EBADF, as the stock library does
   after nn_term too. Inside, every function answers 0 or -errno; errno is
   set once, by nn_device. */
#include "sock.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

/* The longest header a socket hands out: NN_MAXTTL caps a backtrace at 255
   words, and a raw REP or RESPONDENT puts a pipe id on top. */
#define DEV_HDR_MAX 1024
/* Messages moved per direction for one wake-up, so that one busy direction
   cannot starve the other. */
#define DEV_BATCH 64
/* While a message waits for its destination, the source socket is not
   polled (it may stay readable), so look at it this often to notice that
   it was closed. */
#define DEV_LIVENESS_MS 100

/* One direction of the device: from one socket to another. */
struct dev_dir {
    int from, to;
    int rcvfd, sndfd;  /* our own duplicates of from's RCVFD and to's SNDFD */
    bool held;         /* a message was received and waits to be sent */
    void *body;
    struct nn_iovec iov;
    struct nn_msghdr hdr;
    union {
        struct nn_cmsghdr align;
        uint8_t bytes[NN_CMSG_SPACE(sizeof(size_t) + DEV_HDR_MAX)];
    } ctl;
};

/* The descriptor behind NN_RCVFD / NN_SNDFD: >= 0, -1 when the socket has
   none (it cannot receive / send), or -errno. The duplicate stays valid
   when the socket is closed and its own descriptors go, so a poll never
   lands on a number that was closed and reused. */
static int dev_fd(int s, int option)
{
    int fd = fm_sock_dup_fd(s, option);
    return fd == -ENOPROTOOPT ? -1 : fd;
}

/* The device is built on the public calls, which answer through errno:
   their failures are turned into -errno here, where they are made. */
static int dev_int_opt(int s, int option, int *out)
{
    size_t sz = sizeof(*out);
    return nn_getsockopt(s, NN_SOL_SOCKET, option, out, &sz) == 0 ? 0 : -errno;
}

static int dev_check_raw(int s)
{
    int domain;
    int rc = dev_int_opt(s, NN_DOMAIN, &domain);
    if (rc)
        return rc;
    return domain == AF_SP_RAW ? 0 : -EINVAL;
}

/* Move what is ready from d->from to d->to without blocking. 0, or the
   -errno that ends the device. */
static int dev_pump(struct dev_dir *d)
{
    for (int i = 0; i < DEV_BATCH; i++) {
        if (!d->held) {
            d->iov.iov_base = &d->body;
            d->iov.iov_len = NN_MSG;
            d->hdr.msg_iov = &d->iov;
            d->hdr.msg_iovlen = 1;
            d->hdr.msg_control = d->ctl.bytes;
            d->hdr.msg_controllen = sizeof(d->ctl.bytes);
            d->ctl.align.cmsg_len = 0;
            if (nn_recvmsg(d->from, &d->hdr, NN_DONTWAIT) < 0)
                return errno == EAGAIN ? 0 : -errno;
            if (d->ctl.align.cmsg_len == 0) {
                /* The header did not fit: it cannot be forwarded intact. */
                nn_freemsg(d->body);
                continue;
            }
            d->hdr.msg_controllen = d->ctl.align.cmsg_len;
            d->held = true;
        }
        if (nn_sendmsg(d->to, &d->hdr, NN_DONTWAIT) < 0)
            return errno == EAGAIN ? 0 : -errno;
        d->held = false;
    }
    return 0;
}

/* Runs until an error ends the device: returns its -errno. */
static int dev_run(struct dev_dir *dirs, int n)
{
    for (;;) {
        struct pollfd pfd[2];
        bool holding = false;
        for (int i = 0; i < n; i++) {
            pfd[i].fd = dirs[i].held ? dirs[i].sndfd : dirs[i].rcvfd;
            pfd[i].events = POLLIN;
            pfd[i].revents = 0;
            holding |= dirs[i].held;
        }
        int rc = poll(pfd, (nfds_t) n, holding ? DEV_LIVENESS_MS : -1);
        if (rc < 0)
            return -errno;
        for (int i = 0; i < n; i++) {
            int err = 0;
            if (pfd[i].revents)
                err = dev_pump(&dirs[i]);
            else if (rc == 0 && dirs[i].held)
                err = dev_check_raw(dirs[i].from); /* EBADF once closed */
            if (err)
                return err;
        }
    }
}

/* Set up the directions, run them, and clean up. Returns the -errno that
   ended the device. */
static int dev_start(const int from[], const int to[], int n)
{
    struct dev_dir dirs[2];
    int rc = 0;
    memset(dirs, 0, sizeof(dirs));
    for (int i = 0; i < n; i++)
        dirs[i].rcvfd = dirs[i].sndfd = -1;
    for (int i = 0; i < n && !rc; i++) {
        dirs[i].from = from[i];
        dirs[i].to = to[i];
        dirs[i].rcvfd = dev_fd(from[i], NN_RCVFD);
        dirs[i].sndfd = dirs[i].rcvfd >= 0 ? dev_fd(to[i], NN_SNDFD) : -1;
        if (dirs[i].rcvfd < -1)
            rc = dirs[i].rcvfd;
        else if (dirs[i].sndfd < -1)
            rc = dirs[i].sndfd;
        else if (dirs[i].rcvfd < 0 || dirs[i].sndfd < 0)
            rc = -ENOTSUP;
    }
    if (!rc)
        rc = dev_run(dirs, n);
    for (int i = 0; i < n; i++) {
        if (dirs[i].held)
            nn_freemsg(dirs[i].body);
        if (dirs[i].rcvfd >= 0)
            close(dirs[i].rcvfd);
        if (dirs[i].sndfd >= 0)
            close(dirs[i].sndfd);
    }
    return rc;
}

/* Which way messages can flow between s1 and s2, into *dirs: 2 both ways,
   1 from s1 to s2, -1 from s2 to s1, 0 neither. Returns 0 or -errno. */
static int dev_directions(int s1, int s2, int *dirs)
{
    bool r1, w1, r2, w2;
    int fds[4], socks[4] = {s1, s1, s2, s2}, opts[4] = {NN_RCVFD, NN_SNDFD, NN_RCVFD, NN_SNDFD};
    for (int i = 0; i < 4; i++) {
        size_t sz = sizeof(fds[i]);
        if (nn_getsockopt(socks[i], NN_SOL_SOCKET, opts[i], &fds[i], &sz) != 0) {
            if (errno != ENOPROTOOPT)
                return -errno;
            fds[i] = -1;
        }
    }
    r1 = fds[0] >= 0;
    w1 = fds[1] >= 0;
    r2 = fds[2] >= 0;
    w2 = fds[3] >= 0;
    if (r1 && w1 && r2 && w2)
        *dirs = 2;
    else if (r1 && !w1 && !r2 && w2)
        *dirs = 1;
    else if (!r1 && w1 && r2 && !w2)
        *dirs = -1;
    else
        *dirs = 0;
    return 0;
}

static int device(int s1, int s2)
{
    if (s1 < 0 && s2 < 0)
        return -EBADF;
    /* Loopback: what the one socket receives goes back to it. */
    if (s1 < 0 || s2 < 0) {
        int s = s1 < 0 ? s2 : s1;
        int rc = dev_check_raw(s);
        if (rc)
            return rc;
        return dev_start(&s, &s, 1);
    }

    int rc = dev_check_raw(s1);
    if (rc == 0 || rc == -EINVAL) {
        int rc2 = dev_check_raw(s2);
        if (rc2 && rc2 != -EINVAL)
            rc = rc2; /* a bad socket outranks a cooked one */
        else if (!rc)
            rc = rc2;
    }
    /* Same rule as the stock library: both of one protocol family (REQ
       with REP, or even REP with REP), whatever their peer rules. */
    int p1 = 0, p2 = 0;
    if (!rc)
        rc = dev_int_opt(s1, NN_PROTOCOL, &p1);
    if (!rc)
        rc = dev_int_opt(s2, NN_PROTOCOL, &p2);
    if (!rc && p1 / 16 != p2 / 16)
        rc = -EINVAL;
    int dirs = 0;
    if (!rc)
        rc = dev_directions(s1, s2, &dirs);
    if (!rc && dirs == 0)
        rc = -EINVAL;
    if (rc)
        return rc;
    if (dirs == 2) {
        int from[2] = {s1, s2}, to[2] = {s2, s1};
        return dev_start(from, to, 2);
    }
    if (dirs == 1)
        return dev_start(&s1, &s2, 1);
    return dev_start(&s2, &s1, 1);
}

/* Returns only when the device ends, always with -1 and errno. */
int nn_device(int s1, int s2)
{
    int rc = device(s1, s2);
    errno = -rc;
    return -1;
}
