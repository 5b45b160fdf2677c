/* test_bus.c: BUS over inproc: a full mesh of four nodes where every
   message reaches each other node exactly once and never its sender, BUS
   never blocking (no peer, a full peer), header rules, and raw BUS telling
   a device where a message came from so that it is not sent back there. */
#include "testutil.h"

#include <nanomsg/bus.h>
#include <stdbool.h>
#include <stdint.h>

static int sock(int domain)
{
    int s = nn_socket(domain, NN_BUS);
    CHECK(s >= 0);
    int t = 5000;
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &t, sizeof(t)) == 0);
    return s;
}

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

static void expect_nothing(int s)
{
    set_int(s, NN_RCVTIMEO, 150);
    char b[64];
    CHECK_ERR(nn_recv(s, b, sizeof(b), 0), ETIMEDOUT);
    set_int(s, NN_RCVTIMEO, 5000);
}

#define EXPECT_MSG(s, str)                                                            \
    do {                                                                              \
        char eb_[64];                                                                 \
        int er_ = nn_recv((s), eb_, sizeof(eb_), 0);                                  \
        CHECK(er_ == (int) strlen(str));                                              \
        if (er_ == (int) strlen(str))                                                 \
            CHECK(memcmp(eb_, (str), strlen(str)) == 0);                              \
    } while (0)

/* nn_sendmsg with an SP header of hl bytes (none when hdr is NULL). */
static int send_hdr(int s, const char *body, const void *hdr, size_t hl)
{
    uint8_t ctl[128] = {0};
    struct nn_cmsghdr *c = (struct nn_cmsghdr *) (void *) ctl;
    c->cmsg_len = NN_CMSG_LEN(sizeof(size_t) + hl);
    c->cmsg_level = PROTO_SP;
    c->cmsg_type = SP_HDR;
    memcpy(NN_CMSG_DATA(c), &hl, sizeof(hl));
    if (hl)
        memcpy(NN_CMSG_DATA(c) + sizeof(hl), hdr, hl);
    struct nn_iovec iov = {(void *) body, strlen(body)};
    struct nn_msghdr h = {&iov, 1, ctl, NN_CMSG_SPACE(sizeof(size_t) + hl)};
    return nn_sendmsg(s, &h, 0);
}

/* nn_recvmsg; returns the body length and fills the SP header. */
static int recv_hdr(int s, char *body, size_t cap, uint8_t *hdr, size_t *hl)
{
    uint8_t ctl[128];
    struct nn_iovec iov = {body, cap};
    struct nn_msghdr h = {&iov, 1, ctl, sizeof(ctl)};
    int r = nn_recvmsg(s, &h, 0);
    *hl = (size_t) -1;
    if (r < 0)
        return r;
    for (struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&h); c; c = NN_CMSG_NXTHDR(&h, c))
        if (c->cmsg_level == PROTO_SP && c->cmsg_type == SP_HDR) {
            memcpy(hl, NN_CMSG_DATA(c), sizeof(*hl));
            if (*hl <= 64)
                memcpy(hdr, NN_CMSG_DATA(c) + sizeof(*hl), *hl);
        }
    return r;
}

static void test_mesh(void)
{
    enum { NODES = 4, ROUNDS = 25 };
    int n[NODES];
    char addr[64];
    for (int i = 0; i < NODES; i++) {
        n[i] = sock(AF_SP);
        snprintf(addr, sizeof(addr), "inproc://bus-mesh-%d", i);
        CHECK(nn_bind(n[i], addr) >= 0);
        for (int j = 0; j < i; j++) {
            snprintf(addr, sizeof(addr), "inproc://bus-mesh-%d", j);
            CHECK(nn_connect(n[i], addr) >= 0);
        }
    }
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < NODES; i++) {
            int id = i * 1000 + r;
            CHECK(nn_send(n[i], &id, sizeof(id), NN_DONTWAIT) == (int) sizeof(id));
        }
        for (int i = 0; i < NODES; i++) {
            bool from[NODES] = {false};
            for (int k = 0; k < NODES - 1; k++) {
                int id = -1;
                CHECK(nn_recv(n[i], &id, sizeof(id), 0) == (int) sizeof(id));
                int src = id / 1000;
                CHECK(id % 1000 == r && src >= 0 && src < NODES);
                if (src < 0 || src >= NODES)
                    continue;
                CHECK(src != i);      /* never echoed */
                CHECK(!from[src]);    /* exactly once */
                from[src] = true;
            }
        }
    }
    for (int i = 0; i < NODES; i++)
        expect_nothing(n[i]);
    for (int i = 0; i < NODES; i++)
        nn_close(n[i]);
}

static void test_never_blocks(void)
{
    /* No peer at all. */
    int lone = sock(AF_SP);
    for (int i = 0; i < 100; i++)
        CHECK(nn_send(lone, "x", 1, NN_DONTWAIT) == 1);
    CHECK(nn_send(lone, "x", 1, 0) == 1);
    nn_close(lone);

    /* A full peer misses messages, the other gets them all, and the full
       one receives again once drained. */
    enum { N = 1000 };
    int hub = sock(AF_SP), full = sock(AF_SP), fast = sock(AF_SP);
    set_int(full, NN_RCVBUF, 256);
    CHECK(nn_bind(hub, "inproc://bus-full") >= 0);
    CHECK(nn_connect(full, "inproc://bus-full") >= 0);
    CHECK(nn_connect(fast, "inproc://bus-full") >= 0);
    for (int i = 0; i < N; i++) {
        CHECK(nn_send(hub, &i, sizeof(i), NN_DONTWAIT) == (int) sizeof(i));
        int id = -1;
        CHECK(nn_recv(fast, &id, sizeof(id), 0) == (int) sizeof(id) && id == i);
    }
    int k = 0;
    set_int(full, NN_RCVTIMEO, 150);
    for (;;) {
        int id = -1;
        if (nn_recv(full, &id, sizeof(id), 0) < 0) {
            CHECK(errno == ETIMEDOUT);
            break;
        }
        CHECK(id == k);
        k++;
    }
    set_int(full, NN_RCVTIMEO, 5000);
    CHECK(k >= 1 && k < N);
    int marker = -7, id = 0;
    CHECK(nn_send(hub, &marker, sizeof(marker), NN_DONTWAIT) == (int) sizeof(marker));
    CHECK(nn_recv(full, &id, sizeof(id), 0) == (int) sizeof(id) && id == marker);
    CHECK(nn_recv(fast, &id, sizeof(id), 0) == (int) sizeof(id) && id == marker);

    /* Sending from a leaf reaches the hub only: BUS does not forward. */
    CHECK(nn_send(fast, "leaf", 4, 0) == 4);
    EXPECT_MSG(hub, "leaf");
    expect_nothing(full);
    nn_close(full);
    nn_close(fast);
    nn_close(hub);
}

static void test_raw_origin(void)
{
    enum { LEAVES = 3 };
    int raw = sock(AF_SP_RAW);
    CHECK(nn_bind(raw, "inproc://bus-raw") >= 0);
    int leaf[LEAVES];
    for (int i = 0; i < LEAVES; i++) {
        leaf[i] = sock(AF_SP);
        CHECK(nn_connect(leaf[i], "inproc://bus-raw") >= 0);
    }
    /* Each leaf's message, forwarded with the header it came with, reaches
       every other leaf and not its origin: what a BUS device does. */
    uint8_t hdrs[LEAVES][64];
    for (int i = 0; i < LEAVES; i++) {
        char body[16], got[16];
        int bl = snprintf(body, sizeof(body), "from%d", i);
        CHECK(nn_send(leaf[i], body, (size_t) bl, 0) == bl);
        size_t hl;
        CHECK(recv_hdr(raw, got, sizeof(got), hdrs[i], &hl) == bl);
        CHECK(hl == 8); /* as the stock library */
        CHECK(memcmp(got, body, (size_t) bl) == 0);
        CHECK(send_hdr(raw, body, hdrs[i], 8) == bl);
        for (int j = 0; j < LEAVES; j++)
            if (j != i)
                EXPECT_MSG(leaf[j], body);
        expect_nothing(leaf[i]);
    }
    /* Different pipes, different headers. */
    CHECK(memcmp(hdrs[0], hdrs[1], 8) != 0 && memcmp(hdrs[1], hdrs[2], 8) != 0);

    /* No header, or one that names no pipe: everybody gets it. */
    CHECK(nn_send(raw, "all", 3, 0) == 3);
    for (int i = 0; i < LEAVES; i++)
        EXPECT_MSG(leaf[i], "all");
    CHECK(send_hdr(raw, "all2", "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f", 8) == 4);
    for (int i = 0; i < LEAVES; i++)
        EXPECT_MSG(leaf[i], "all2");

    /* Header rules, as the stock library: raw takes 0 or 8 bytes, cooked
       takes none; a cooked socket shows an empty header. */
    CHECK_ERR(send_hdr(raw, "bad", "\0\0\0\1", 4), EINVAL);
    CHECK_ERR(send_hdr(leaf[0], "bad", hdrs[1], 8), EINVAL);
    CHECK(send_hdr(leaf[0], "ok", NULL, 0) == 2);
    EXPECT_MSG(raw, "ok");
    CHECK(nn_send(raw, "down", 4, 0) == 4);
    char got[16];
    uint8_t h[64];
    size_t hl;
    for (int i = 0; i < LEAVES; i++)
        CHECK(recv_hdr(leaf[i], got, sizeof(got), h, &hl) == 4 && hl == 0);
    for (int i = 0; i < LEAVES; i++)
        expect_nothing(leaf[i]);
    for (int i = 0; i < LEAVES; i++)
        nn_close(leaf[i]);
    nn_close(raw);
}

/* Two raw BUS sockets joined by hand as a device would: a message from a
   leaf of one side is forwarded to the other side with its header, which
   names no pipe there, so all of that side gets it. */
static void test_raw_two_sides(void)
{
    int a = sock(AF_SP_RAW), b = sock(AF_SP_RAW);
    CHECK(nn_bind(a, "inproc://bus-side-a") >= 0);
    CHECK(nn_bind(b, "inproc://bus-side-b") >= 0);
    int la = sock(AF_SP), lb1 = sock(AF_SP), lb2 = sock(AF_SP);
    CHECK(nn_connect(la, "inproc://bus-side-a") >= 0);
    CHECK(nn_connect(lb1, "inproc://bus-side-b") >= 0);
    CHECK(nn_connect(lb2, "inproc://bus-side-b") >= 0);
    CHECK(nn_send(la, "cross", 5, 0) == 5);
    char got[16];
    uint8_t h[64];
    size_t hl;
    CHECK(recv_hdr(a, got, sizeof(got), h, &hl) == 5 && hl == 8);
    CHECK(send_hdr(b, "cross", h, hl) == 5);
    EXPECT_MSG(lb1, "cross");
    EXPECT_MSG(lb2, "cross");
    expect_nothing(la);
    nn_close(la);
    nn_close(lb1);
    nn_close(lb2);
    nn_close(a);
    nn_close(b);
}

int main(void)
{
    test_mesh();
    test_never_blocks();
    test_raw_origin();
    test_raw_two_sides();
    TEST_DONE();
}
