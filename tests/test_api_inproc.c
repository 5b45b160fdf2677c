/* test_api_inproc.c: the inproc transport through the public API:
   zero-copy (the buffer sent with NN_MSG is the buffer received), address
   rules (EADDRINUSE, ENAMETOOLONG at 128 characters, EPROTONOSUPPORT,
   EINVAL, NULL), names being exact byte strings, endpoint ids, nn_shutdown,
   a socket connected to its own address (stock crashes), and names freed
   by close and shutdown. */
#include "test_api_util.h"

static void zero_copy(void)
{
    int a, b;
    ta_pair(AF_SP, &a, &b);
    static const size_t sizes[] = {0, 1, 1000, 1u << 20, 16u << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        void *m = nn_allocmsg(sizes[i], 0);
        CHECK(m != NULL);
        if (sizes[i])
            memset(m, 'i', sizes[i]);
        void *sent = m;
        CHECK(nn_send(b, &m, NN_MSG, 0) == (int) sizes[i]);
        void *r = NULL;
        CHECK(nn_recv(a, &r, NN_MSG, 0) == (int) sizes[i]);
        if (sizes[i] && !ta_stock()) /* stock copies from 100 bytes up */
            CHECK(r == sent);
        CHECK(r != NULL);
        /* and back the other way, still the same buffer */
        CHECK(nn_send(a, &r, NN_MSG, 0) == (int) sizes[i]);
        void *r2 = NULL;
        CHECK(nn_recv(b, &r2, NN_MSG, 0) == (int) sizes[i]);
        if (sizes[i] && !ta_stock())
            CHECK(r2 == sent);
        nn_freemsg(r2);
    }
    /* The zero-copy path also through sendmsg/recvmsg. */
    void *m = nn_allocmsg(64, 0);
    void *sent = m;
    struct nn_iovec iov = {&m, NN_MSG};
    struct nn_msghdr h = {.msg_iov = &iov, .msg_iovlen = 1};
    CHECK(nn_sendmsg(b, &h, 0) == 64);
    void *r = NULL;
    iov.iov_base = &r;
    CHECK(nn_recvmsg(a, &h, 0) == 64);
    CHECK(r == sent || ta_stock());
    nn_freemsg(r);
    nn_close(a);
    nn_close(b);
}

static void addresses(void)
{
    int s = ta_socket(AF_SP, NN_PAIR), u = ta_socket(AF_SP, NN_PAIR);
    char addr[300];

    /* Malformed: EINVAL; unknown scheme: EPROTONOSUPPORT; NULL: EINVAL
       (as stock). */
    static const char *invalid[] = {"", "inproc", "inproc:", "inproc:/", "inproc:/x",
                                    "inproc//x", "inproc:x", "tcp:x", "tcp:/x"};
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        CHECK_ERR(nn_bind(s, invalid[i]), EINVAL);
        CHECK_ERR(nn_connect(u, invalid[i]), EINVAL);
    }
    static const char *unknown[] = {"://x", ":///x", "foo://x", "INPROC://x", "inproc ://x",
                                    " inproc://x", "inprocx://x", "inpro://x"};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        CHECK_ERR(nn_bind(s, unknown[i]), EPROTONOSUPPORT);
        CHECK_ERR(nn_connect(u, unknown[i]), EPROTONOSUPPORT);
    }
    CHECK_ERR(nn_bind(s, NULL), EINVAL);
    CHECK_ERR(nn_connect(u, NULL), EINVAL);

    /* The whole address, scheme included, must be shorter than
       NN_SOCKADDR_MAX (128). */
    for (size_t len = 120; len <= 131; len++) {
        strcpy(addr, "inproc://");
        memset(addr + 9, 'L', len - 9);
        addr[len] = 0;
        addr[9] = (char) ('a' + (int) (len - 120));
        int rc = nn_bind(s, addr);
        if (len < 128) {
            CHECK(rc >= 0);
        } else {
            if (rc >= 0 || errno != ENAMETOOLONG)
                fprintf(stderr, "bind of a %zu-character address: %d (%s)\n", len, rc,
                        rc < 0 ? nn_strerror(errno) : "accepted");
            CHECK(rc == -1 && errno == ENAMETOOLONG);
        }
        addr[10] = 'c';
        rc = nn_connect(u, addr);
        CHECK(len < 128 ? rc >= 0 : (rc == -1 && errno == ENAMETOOLONG));
    }
    memset(addr, 'x', 299);
    addr[299] = 0;
    memcpy(addr, "inproc://", 9);
    CHECK_ERR(nn_bind(s, addr), ENAMETOOLONG);
    memcpy(addr, "foo://", 6);
    CHECK_ERR(nn_bind(s, addr), ENAMETOOLONG); /* length is checked first */

    /* Any bytes make a name; names are exact (case-sensitive). */
    CHECK(nn_bind(s, "inproc://") >= 0);
    CHECK(nn_bind(s, "inproc://a b") >= 0);
    CHECK(nn_bind(s, "inproc://\xc3\xbc") >= 0);
    CHECK(nn_bind(s, "inproc://Case") >= 0);
    CHECK(nn_bind(s, "inproc://case") >= 0);
    CHECK(nn_bind(s, "inproc://case/") >= 0);
    CHECK(nn_bind(s, "inproc://inproc://x") >= 0);
    CHECK_ERR(nn_bind(u, "inproc://Case"), EADDRINUSE);
    nn_close(s);
    nn_close(u);
}

static void bind_conflicts(void)
{
    char addr[64];
    ta_addr(addr, sizeof(addr));
    int s = ta_socket(AF_SP, NN_PAIR), t = ta_socket(AF_SP, NN_PAIR);
    int eid = nn_bind(s, addr);
    CHECK(eid >= 0);
    CHECK_ERR(nn_bind(t, addr), EADDRINUSE);
    CHECK_ERR(nn_bind(s, addr), EADDRINUSE); /* also for the same socket */
    /* Free again after shutdown, after close. */
    CHECK(nn_shutdown(s, eid) == 0);
    CHECK(nn_bind(t, addr) >= 0);
    nn_close(t);
    CHECK(nn_bind(s, addr) >= 0);
    nn_close(s);
    int w = ta_socket(AF_SP, NN_PAIR);
    CHECK(nn_bind(w, addr) >= 0);
    nn_close(w);
}

/* Endpoint ids count up per socket from 1; failures use none; nn_shutdown
   takes each id once. */
static void endpoint_ids(void)
{
    char a1[64], a2[64], a3[64];
    ta_addr(a1, sizeof(a1));
    ta_addr(a2, sizeof(a2));
    ta_addr(a3, sizeof(a3));
    int s = ta_socket(AF_SP, NN_PAIR), t = ta_socket(AF_SP, NN_PAIR);
    CHECK(nn_bind(s, a1) == 1);
    CHECK(nn_connect(s, a2) == 2);
    CHECK_ERR(nn_bind(t, a1), EADDRINUSE);
    CHECK_ERR(nn_bind(t, "foo://x"), EPROTONOSUPPORT);
    CHECK(nn_connect(t, a1) == 1); /* the failures took no id */
    CHECK(nn_bind(s, a3) == 3);
    CHECK(nn_shutdown(s, 2) == 0);
    CHECK_ERR(nn_shutdown(s, 2), EINVAL);
    CHECK(nn_connect(s, a2) == 4); /* ids are not reused */
    CHECK_ERR(nn_shutdown(s, 0), EINVAL);
    CHECK_ERR(nn_shutdown(s, -1), EINVAL);
    CHECK_ERR(nn_shutdown(s, 999), EINVAL);
    CHECK_ERR(nn_shutdown(t, 3), EINVAL); /* another socket's id */
    CHECK_ERR(nn_shutdown(-1, 1), EBADF);
    CHECK_ERR(nn_shutdown(401, 1), EBADF);
    CHECK_ERR(nn_bind(-1, a1), EBADF);
    CHECK_ERR(nn_connect(402, a1), EBADF);
    nn_close(s);
    nn_close(t);
    CHECK_ERR(nn_shutdown(s, 1), EBADF);
    CHECK_ERR(nn_bind(s, a1), EBADF);
}

/* A socket connected to its own address (stock crashes): PAIR cannot be
   its own peer, so the connection is refused; the socket works with
   others and closes cleanly. */
static void connected_to_itself(void)
{
    if (ta_stock())
        return;
    for (int order = 0; order < 2; order++) {
        char addr[64];
        ta_addr(addr, sizeof(addr));
        int s = ta_socket(AF_SP, NN_PAIR);
        if (order == 0) {
            CHECK(nn_bind(s, addr) >= 0);
            CHECK(nn_connect(s, addr) >= 0);
        } else {
            CHECK(nn_connect(s, addr) >= 0);
            CHECK(nn_bind(s, addr) >= 0);
        }
        char buf[8];
        int rc = nn_send(s, "self", 4, NN_DONTWAIT);
        if (rc == 4)
            CHECK(nn_recv(s, buf, sizeof(buf), 0) == 4);
        else
            CHECK(errno == EAGAIN);
        double t0 = ta_ms();
        CHECK(nn_close(s) == 0);
        CHECK(ta_ms() - t0 < 5000);
        /* The name is free. */
        int t = ta_socket(AF_SP, NN_PAIR);
        CHECK(nn_bind(t, addr) >= 0);
        nn_close(t);
    }
    /* With a real peer as well. */
    char addr[64];
    ta_addr(addr, sizeof(addr));
    int s = ta_socket(AF_SP, NN_PAIR), p = ta_socket(AF_SP, NN_PAIR);
    CHECK(nn_bind(s, addr) >= 0);
    CHECK(nn_connect(p, addr) >= 0);
    CHECK(nn_connect(s, addr) >= 0);
    char buf[8];
    CHECK(nn_send(p, "peer", 4, 0) == 4);
    CHECK(nn_recv(s, buf, sizeof(buf), 0) == 4);
    CHECK(nn_close(s) == 0);
    nn_close(p);
}

/* Many connectors waiting for one name, one binder appears: each gets
   its own connection when paired in turn. */
static void waiting_connectors(void)
{
    if (ta_stock()) /* refused PAIR connections crash stock */
        return;
    char addr[64];
    ta_addr(addr, sizeof(addr));
    enum { N = 5 };
    int c[N];
    for (int i = 0; i < N; i++) {
        c[i] = ta_socket(AF_SP, NN_PAIR);
        CHECK(nn_connect(c[i], addr) >= 0);
    }
    /* Binders come and go; each serves one connector (PAIR). */
    int served = 0;
    char buf[8];
    for (int round = 0; round < N; round++) {
        int b = ta_socket(AF_SP, NN_PAIR);
        CHECK(nn_bind(b, addr) >= 0);
        int who = -1;
        for (int i = 0; i < N; i++) {
            if (nn_send(c[i], "hi", 2, NN_DONTWAIT) == 2) {
                who = i;
                break;
            }
        }
        CHECK(who >= 0);
        if (who >= 0) {
            CHECK(nn_recv(b, buf, sizeof(buf), 0) == 2);
            served++;
            nn_close(c[who]);
            c[who] = -1;
        }
        nn_close(b);
        if (who < 0)
            break;
    }
    CHECK(served == N);
    for (int i = 0; i < N; i++)
        if (c[i] >= 0)
            nn_close(c[i]);
}

int main(void)
{
    zero_copy();
    addresses();
    bind_conflicts();
    endpoint_ids();
    connected_to_itself();
    waiting_connectors();
    TEST_DONE();
}
