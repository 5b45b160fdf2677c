/* test_api_msghdr.c: nn_sendmsg and nn_recvmsg: gather and scatter over
   iovecs, the single NN_MSG iovec, argument errors (also those that crash
   the stock library: ours must report them), control data (the SP_HDR
   property, caller-sized and NN_MSG control buffers) and the
   NN_CMSG_FIRSTHDR / NN_CMSG_NXTHDR walk. */
#include "test_api_util.h"

#include <limits.h>

static void argument_errors(int a, int b)
{
    struct nn_msghdr h;
    struct nn_iovec iov[2];
    char buf[16];

    CHECK_ERR(nn_sendmsg(b, NULL, 0), EINVAL);
    CHECK_ERR(nn_recvmsg(a, NULL, NN_DONTWAIT), EINVAL);
    CHECK_ERR(nn_sendmsg(-1, NULL, 0), EBADF);
    memset(&h, 0, sizeof(h));
    CHECK_ERR(nn_sendmsg(-1, &h, 0), EBADF);
    CHECK_ERR(nn_recvmsg(405, &h, 0), EBADF);

    iov[0] = (struct nn_iovec){"ab", 2};
    h.msg_iov = iov;
    h.msg_iovlen = -1;
    CHECK_ERR(nn_sendmsg(b, &h, 0), EMSGSIZE);
    h.msg_iovlen = INT_MIN;
    CHECK_ERR(nn_sendmsg(b, &h, 0), EMSGSIZE);
    h.msg_iovlen = -1;
    CHECK_ERR(nn_recvmsg(a, &h, NN_DONTWAIT), EMSGSIZE);

    if (ta_stock())
        goto stock_safe;
    /* Crashes stock: a NULL iovec array with a length. */
    h.msg_iov = NULL;
    h.msg_iovlen = 1;
    CHECK_ERR(nn_sendmsg(b, &h, 0), EFAULT);
    CHECK(nn_send(b, "m", 1, 0) == 1);
    CHECK_ERR(nn_recvmsg(a, &h, 0), EFAULT);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 1); /* still there */

    /* NULL base with a length. */
    h.msg_iov = iov;
    iov[0] = (struct nn_iovec){NULL, 3};
    CHECK_ERR(nn_sendmsg(b, &h, 0), EFAULT);
    CHECK(nn_send(b, "m", 1, 0) == 1);
    CHECK_ERR(nn_recvmsg(a, &h, 0), EFAULT); /* crashes stock */
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 1);

stock_safe:
    /* NN_MSG only as the single iovec. */
    h.msg_iov = iov;
    void *m = nn_allocmsg(5, 0);
    iov[0] = (struct nn_iovec){&m, NN_MSG};
    iov[1] = (struct nn_iovec){"x", 1};
    h.msg_iovlen = 2;
    CHECK_ERR(nn_sendmsg(b, &h, 0), EINVAL);
    iov[0] = (struct nn_iovec){"x", 1};
    iov[1] = (struct nn_iovec){&m, NN_MSG};
    CHECK_ERR(nn_sendmsg(b, &h, 0), EINVAL);
    CHECK(nn_freemsg(m) == 0); /* still ours */

    void *r = NULL;
    iov[0] = (struct nn_iovec){&r, NN_MSG};
    iov[1] = (struct nn_iovec){buf, sizeof(buf)};
    h.msg_iovlen = 2;
    CHECK(nn_send(b, "m", 1, 0) == 1);
    CHECK_ERR(nn_recvmsg(a, &h, 0), EINVAL);
    CHECK(r == NULL);
    h.msg_iovlen = 1;
    iov[0] = (struct nn_iovec){buf, sizeof(buf)};
    nn_recvmsg(a, &h, NN_DONTWAIT); /* stock loses the message above; ours may keep it */

    /* NN_MSG iovec pointing to NULL, or at NULL. */
    void *nul = NULL;
    iov[0] = (struct nn_iovec){&nul, NN_MSG};
    h.msg_iovlen = 1;
    CHECK_ERR(nn_sendmsg(b, &h, 0), EFAULT);
    if (!ta_stock()) {
        iov[0] = (struct nn_iovec){NULL, NN_MSG};
        CHECK_ERR(nn_sendmsg(b, &h, 0), EFAULT); /* crashes stock */
        CHECK(nn_send(b, "m", 1, 0) == 1);
        CHECK_ERR(nn_recvmsg(a, &h, 0), EFAULT); /* crashes stock */
        iov[0] = (struct nn_iovec){buf, sizeof(buf)};
        CHECK(nn_recvmsg(a, &h, 0) == 1);
    }
    iov[0] = (struct nn_iovec){buf, sizeof(buf)};
    CHECK_ERR(nn_recvmsg(a, &h, NN_DONTWAIT), EAGAIN);
}

static void gather_scatter(int a, int b)
{
    struct nn_msghdr h;
    struct nn_iovec iov[4];
    char buf[64];
    memset(&h, 0, sizeof(h));
    h.msg_iov = iov;

    h.msg_iovlen = 0;
    CHECK(nn_sendmsg(b, &h, 0) == 0);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 0);

    iov[0] = (struct nn_iovec){"Hel", 3};
    iov[1] = (struct nn_iovec){"", 0};
    iov[2] = (struct nn_iovec){"lo, ", 4};
    iov[3] = (struct nn_iovec){"SP", 2};
    h.msg_iovlen = 4;
    CHECK(nn_sendmsg(b, &h, 0) == 9);
    memset(buf, 0, sizeof(buf));
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 9);
    CHECK(strcmp(buf, "Hello, SP") == 0);

    iov[0] = (struct nn_iovec){NULL, 0};
    h.msg_iovlen = 1;
    CHECK(nn_sendmsg(b, &h, 0) == 0);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 0);

    /* Many iovecs. */
    static char one[300];
    static struct nn_iovec many[300];
    for (int i = 0; i < 300; i++) {
        one[i] = (char) ('0' + i % 10);
        many[i] = (struct nn_iovec){&one[i], 1};
    }
    h.msg_iov = many;
    h.msg_iovlen = 300;
    CHECK(nn_sendmsg(b, &h, 0) == 300);
    char big[400];
    CHECK(nn_recv(a, big, sizeof(big), 0) == 300);
    CHECK(memcmp(big, one, 300) == 0);
    /* ... and scattering into many. */
    CHECK(nn_send(b, one, 300, 0) == 300);
    static char back[300];
    for (int i = 0; i < 300; i++)
        many[i] = (struct nn_iovec){&back[i], 1};
    CHECK(nn_recvmsg(a, &h, 0) == 300);
    CHECK(memcmp(back, one, 300) == 0);

    /* Scatter with truncation and with room to spare. */
    char s1[3], s2[4];
    struct nn_iovec riov[2] = {{s1, 3}, {s2, 4}};
    struct nn_msghdr rh = {.msg_iov = riov, .msg_iovlen = 2};
    CHECK(nn_send(b, "0123456789", 10, 0) == 10);
    CHECK(nn_recvmsg(a, &rh, 0) == 10);
    CHECK(memcmp(s1, "012", 3) == 0 && memcmp(s2, "3456", 4) == 0);
    memset(s1, '#', 3);
    memset(s2, '#', 4);
    CHECK(nn_send(b, "01", 2, 0) == 2);
    CHECK(nn_recvmsg(a, &rh, 0) == 2);
    CHECK(memcmp(s1, "01#", 3) == 0 && memcmp(s2, "####", 4) == 0);

    /* No iovec at all: the message is taken and its size returned. */
    CHECK(nn_send(b, "01", 2, 0) == 2);
    rh.msg_iovlen = 0;
    CHECK(nn_recvmsg(a, &rh, 0) == 2);
    CHECK_ERR(nn_recv(a, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);
    riov[0] = (struct nn_iovec){NULL, 0};
    rh.msg_iovlen = 1;
    CHECK(nn_send(b, "01", 2, 0) == 2);
    CHECK(nn_recvmsg(a, &rh, 0) == 2);
    CHECK_ERR(nn_recvmsg(a, &rh, NN_DONTWAIT), EAGAIN);

    /* Zero-copy both ways. */
    void *m = nn_allocmsg(5, 0);
    memcpy(m, "chunk", 5);
    void *sent = m;
    struct nn_iovec ziov = {&m, NN_MSG};
    struct nn_msghdr zh = {.msg_iov = &ziov, .msg_iovlen = 1};
    CHECK(nn_sendmsg(b, &zh, 0) == 5);
    void *r = NULL;
    ziov.iov_base = &r;
    CHECK(nn_recvmsg(a, &zh, 0) == 5);
    CHECK(r == sent && memcmp(r, "chunk", 5) == 0);
    nn_freemsg(r);
    /* A failed zero-copy sendmsg leaves the buffer with the caller. */
    int c = ta_socket(AF_SP, NN_PAIR);
    m = nn_allocmsg(5, 0);
    ziov.iov_base = &m;
    CHECK_ERR(nn_sendmsg(c, &zh, NN_DONTWAIT), EAGAIN);
    CHECK(nn_freemsg(m) == 0);
    nn_close(c);
}

static size_t hdr_size(struct nn_cmsghdr *c)
{
    size_t sz = 0;
    memcpy(&sz, NN_CMSG_DATA(c), sizeof(sz));
    return sz;
}

static void control_data(int a, int b)
{
    char buf[64];
    unsigned char ctl[128];
    struct nn_iovec riov = {buf, sizeof(buf)};
    struct nn_msghdr rh = {.msg_iov = &riov, .msg_iovlen = 1};

    /* A PAIR message has an empty SP header: one SP_HDR property of size
       0, 24 bytes in all. */
    CHECK(nn_send(b, "c", 1, 0) == 1);
    memset(ctl, 0xaa, sizeof(ctl));
    rh.msg_control = ctl;
    rh.msg_controllen = sizeof(ctl);
    CHECK(nn_recvmsg(a, &rh, 0) == 1);
    CHECK(rh.msg_controllen == sizeof(ctl));
    struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&rh);
    CHECK(c != NULL);
    if (c) {
        CHECK(c->cmsg_len == NN_CMSG_SPACE(sizeof(size_t)));
        CHECK(c->cmsg_level == PROTO_SP && c->cmsg_type == SP_HDR);
        CHECK(hdr_size(c) == 0);
        CHECK(NN_CMSG_NXTHDR(&rh, c) == NULL);
    }
    int last = 0;
    for (int i = 0; i < (int) sizeof(ctl); i++)
        if (ctl[i] != 0xaa)
            last = i + 1;
    CHECK(last == 24);

    /* Too small for the property: no properties, buffer untouched, the
       message itself is delivered. */
    static const size_t small[] = {8, 16, 23};
    for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
        CHECK(nn_send(b, "c", 1, 0) == 1);
        memset(ctl, 0xaa, sizeof(ctl));
        rh.msg_controllen = small[i];
        CHECK(nn_recvmsg(a, &rh, 0) == 1);
        CHECK(ctl[0] == 0xaa && ctl[small[i] - 1] == 0xaa);
        CHECK(rh.msg_controllen == small[i]);
    }
    CHECK(nn_send(b, "c", 1, 0) == 1);
    rh.msg_controllen = 24;
    CHECK(nn_recvmsg(a, &rh, 0) == 1);
    c = NN_CMSG_FIRSTHDR(&rh);
    CHECK(c && c->cmsg_level == PROTO_SP && hdr_size(c) == 0);

    /* NN_MSG control: the library allocates, the caller frees. */
    CHECK(nn_send(b, "c", 1, 0) == 1);
    void *cp = NULL;
    rh.msg_control = &cp;
    rh.msg_controllen = NN_MSG;
    CHECK(nn_recvmsg(a, &rh, 0) == 1);
    CHECK(cp != NULL);
    CHECK(rh.msg_controllen == NN_MSG);
    c = NN_CMSG_FIRSTHDR(&rh);
    CHECK(c && c->cmsg_level == PROTO_SP && c->cmsg_type == SP_HDR && hdr_size(c) == 0);
    if (c)
        CHECK(NN_CMSG_NXTHDR(&rh, c) == NULL);
    CHECK(nn_freemsg(cp) == 0);
    /* NN_MSG control together with an NN_MSG body. */
    CHECK(nn_send(b, "zc", 2, 0) == 2);
    void *body = NULL;
    cp = NULL;
    struct nn_iovec ziov = {&body, NN_MSG};
    struct nn_msghdr zh = {.msg_iov = &ziov, .msg_iovlen = 1, .msg_control = &cp,
                           .msg_controllen = NN_MSG};
    CHECK(nn_recvmsg(a, &zh, 0) == 2);
    CHECK(body && cp && memcmp(body, "zc", 2) == 0);
    nn_freemsg(body);
    nn_freemsg(cp);

    /* Control data on send: PAIR has no header, so whatever the caller
       gives is not a header on the receiving side; foreign, short or
       malformed control data is ignored. */
    unsigned char sctl[NN_CMSG_SPACE(sizeof(size_t) + 4)];
    memset(sctl, 0, sizeof(sctl));
    struct nn_cmsghdr *sc = (struct nn_cmsghdr *) (void *) sctl;
    sc->cmsg_len = NN_CMSG_LEN(sizeof(size_t) + 4);
    sc->cmsg_level = PROTO_SP;
    sc->cmsg_type = SP_HDR;
    size_t four = 4;
    memcpy(NN_CMSG_DATA(sc), &four, sizeof(four));
    memcpy(NN_CMSG_DATA(sc) + sizeof(size_t), "\x80\0\0\1", 4);
    struct nn_iovec siov = {"body", 4};
    struct nn_msghdr sh = {.msg_iov = &siov, .msg_iovlen = 1, .msg_control = sctl,
                           .msg_controllen = sizeof(sctl)};
    CHECK(nn_sendmsg(b, &sh, 0) == 4);
    rh.msg_control = ctl;
    rh.msg_controllen = sizeof(ctl);
    int n = nn_recvmsg(a, &rh, 0);
    CHECK(n == 4 || n == 8); /* stock puts the header in front of the body */
    c = NN_CMSG_FIRSTHDR(&rh);
    CHECK(c && hdr_size(c) == 0);
    /* The NN_MSG control buffer is consumed by a successful send (ASan
       reports a leak otherwise). */
    void *cm = nn_allocmsg(sizeof(sctl), 0);
    memcpy(cm, sctl, sizeof(sctl));
    sh.msg_control = &cm;
    sh.msg_controllen = NN_MSG;
    CHECK(nn_sendmsg(b, &sh, 0) == 4);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) >= 4);

    sh.msg_control = NULL;
    sh.msg_controllen = 16;
    CHECK(nn_sendmsg(b, &sh, 0) == 4);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 4);
    unsigned char junk[48];
    memset(junk, 0, sizeof(junk));
    sh.msg_control = junk;
    sh.msg_controllen = 3;
    CHECK(nn_sendmsg(b, &sh, 0) == 4);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 4);
    struct nn_cmsghdr *jc = (struct nn_cmsghdr *) (void *) junk;
    jc->cmsg_len = 16;
    jc->cmsg_level = 99;
    jc->cmsg_type = 1;
    sh.msg_controllen = 16;
    CHECK(nn_sendmsg(b, &sh, 0) == 4);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 4);
    if (ta_stock())
        return;
    /* Zero cmsg_len (stock loops forever here): ignored, the send ends. */
    memset(junk, 0, sizeof(junk));
    sh.msg_controllen = sizeof(junk);
    CHECK(nn_sendmsg(b, &sh, 0) == 4);
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 4);
    /* A header length larger than its property. */
    memcpy(junk, sctl, sizeof(sctl));
    size_t huge = 1000;
    memcpy(NN_CMSG_DATA(jc), &huge, sizeof(huge));
    sh.msg_controllen = sizeof(sctl);
    int rc = nn_sendmsg(b, &sh, 0);
    CHECK(rc == 4 || (rc == -1 && errno == EINVAL));
    if (rc == 4)
        CHECK(nn_recv(a, buf, sizeof(buf), 0) >= 4);
}

/* NN_CMSG_FIRSTHDR / NN_CMSG_NXTHDR over crafted buffers (offsets of the
   headers visited), as the stock library walks them. */
static void cmsg_walk(void)
{
    size_t cbuf[16];
    struct nn_msghdr h;
    memset(&h, 0, sizeof(h));
    CHECK(nn_cmsg_nxthdr_(NULL, NULL) == NULL);
    CHECK(NN_CMSG_FIRSTHDR(&h) == NULL);
    h.msg_control = cbuf;
    static const struct {
        size_t controllen, len1, len2;
        int want[3]; /* offsets, -1 ends */
    } walks[] = {
        {0, 16, 0, {-1}},         {15, 16, 0, {-1}},      {16, 16, 0, {0, -1}},
        {16, 17, 0, {-1}},        {20, 20, 0, {-1}},      {24, 20, 0, {0, -1}},
        {24, 24, 0, {0, -1}},     {32, 16, 16, {0, 16, -1}}, {40, 24, 16, {0, 24, -1}},
        {40, 24, 17, {0, -1}},    {48, 24, 24, {0, 24, -1}}, {48, 17, 24, {0, 24, -1}},
        {32, 100, 0, {-1}},       {64, 24, 100, {0, -1}}, {31, 16, 16, {0, -1}},
        {33, 16, 16, {0, 16, -1}},
    };
    for (size_t i = 0; i < sizeof(walks) / sizeof(walks[0]); i++) {
        memset(cbuf, 0, sizeof(cbuf));
        struct nn_cmsghdr *c1 = (struct nn_cmsghdr *) (void *) cbuf;
        c1->cmsg_len = walks[i].len1;
        size_t at = NN_CMSG_ALIGN_(walks[i].len1);
        if (walks[i].len2) {
            struct nn_cmsghdr *c2 = (struct nn_cmsghdr *) (void *) ((char *) cbuf + at);
            c2->cmsg_len = walks[i].len2;
            at += NN_CMSG_ALIGN_(walks[i].len2);
        }
        if (at + sizeof(struct nn_cmsghdr) <= sizeof(cbuf))
            ((struct nn_cmsghdr *) (void *) ((char *) cbuf + at))->cmsg_len = 1000;
        h.msg_controllen = walks[i].controllen;
        int got[4] = {-1, -1, -1, -1}, n = 0;
        for (struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&h); c && n < 3; c = NN_CMSG_NXTHDR(&h, c))
            got[n++] = (int) ((char *) c - (char *) cbuf);
        int ok = 1;
        for (int k = 0; k < 3; k++) {
            if (got[k] != walks[i].want[k])
                ok = 0;
            if (walks[i].want[k] < 0)
                break;
        }
        if (!ok)
            fprintf(stderr, "cmsg walk %zu (controllen %zu, lens %zu,%zu): got %d %d %d\n", i,
                    walks[i].controllen, walks[i].len1, walks[i].len2, got[0], got[1], got[2]);
        CHECK(ok);
    }
    if (ta_stock())
        return;
    /* A zero cmsg_len ends the walk (stock returns the same header again,
       which loops a caller forever). */
    memset(cbuf, 0, sizeof(cbuf));
    ((struct nn_cmsghdr *) (void *) cbuf)->cmsg_len = 16;
    h.msg_controllen = sizeof(cbuf);
    struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&h);
    CHECK(c != NULL);
    c = c ? NN_CMSG_NXTHDR(&h, c) : NULL;
    if (c) {
        CHECK((char *) c == (char *) cbuf + 16);
        CHECK(NN_CMSG_NXTHDR(&h, c) != c);
    }
}

int main(void)
{
    int a, b;
    ta_pair(AF_SP, &a, &b);
    argument_errors(a, b);
    gather_scatter(a, b);
    control_data(a, b);
    nn_close(a);
    nn_close(b);
    ta_pair(AF_SP_RAW, &a, &b);
    gather_scatter(a, b);
    control_data(a, b);
    nn_close(a);
    nn_close(b);
    cmsg_walk();
    struct nn_msghdr h;
    memset(&h, 0, sizeof(h));
    CHECK_ERR(nn_sendmsg(b, &h, 0), EBADF);
    CHECK_ERR(nn_recvmsg(a, &h, 0), EBADF);
    TEST_DONE();
}
