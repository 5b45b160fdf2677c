/* msgapi.c: the message-buffer half of the public API: nn_allocmsg,
   nn_reallocmsg, nn_freemsg and the control-data walker behind the
   NN_CMSG_* macros. */
#include "core.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

void *nn_allocmsg(size_t size, int type)
{
    if (size > SIZE_MAX / 2) {
        errno = ENOMEM;
        return NULL;
    }
    if (type != 0) {
        errno = EINVAL;
        return NULL;
    }
    void *p = fm_chunk_alloc_user(size);
    if (!p)
        errno = ENOMEM;
    return p;
}

void *nn_reallocmsg(void *msg, size_t size)
{
    if (!fm_chunk_from_user(msg)) {
        errno = EFAULT;
        return NULL;
    }
    void *p = fm_chunk_realloc_user(msg, size);
    if (!p)
        errno = ENOMEM;
    return p;
}

int nn_freemsg(void *msg)
{
    struct fm_chunk *c = fm_chunk_from_user(msg);
    if (!c) {
        errno = EFAULT;
        return -1;
    }
    fm_chunk_release(c);
    return 0;
}

struct nn_cmsghdr *nn_cmsg_nxthdr_(const struct nn_msghdr *mhdr,
                                   const struct nn_cmsghdr *cmsg)
{
    if (!mhdr || !mhdr->msg_control)
        return NULL;
    uint8_t *data = mhdr->msg_control;
    size_t len = mhdr->msg_controllen;
    if (len == NN_MSG) {
        /* The control buffer was allocated by the library: msg_control
           points at the pointer to it, and its size is the chunk's. */
        data = *(void **) mhdr->msg_control;
        struct fm_chunk *c = fm_chunk_from_user(data);
        if (!c)
            return NULL;
        struct fm_msg m;
        fm_msg_init_chunk(&m, c);
        len = fm_msg_size(&m);
        fm_msg_init_empty(&m); /* a borrowed look, not a reference */
    }
    size_t off;
    if (!cmsg) {
        off = 0;
    } else {
        size_t at = (size_t) ((const uint8_t *) cmsg - data);
        off = at + NN_CMSG_ALIGN_(cmsg->cmsg_len);
        if (cmsg->cmsg_len == 0 || off <= at)
            return NULL;
    }
    if (off + sizeof(struct nn_cmsghdr) > len)
        return NULL;
    struct nn_cmsghdr *next = (struct nn_cmsghdr *) (void *) (data + off);
    if (NN_CMSG_ALIGN_(next->cmsg_len) > len - off || NN_CMSG_ALIGN_(next->cmsg_len) < next->cmsg_len)
        return NULL;
    return next;
}
