/* test_api_socket.c: nn_socket and nn_close: argument errors, the socket
   table (512 sockets, EMFILE, slots coming back), running out of file
   descriptors, and closing sockets that still have endpoints, peers and
   queued messages without leaking descriptors or memory. */
#include "test_api_util.h"

#include <limits.h>
#include <sys/resource.h>

static void bad_arguments(void)
{
    CHECK_ERR(nn_socket(0, NN_PAIR), EAFNOSUPPORT);
    CHECK_ERR(nn_socket(3, NN_PAIR), EAFNOSUPPORT);
    CHECK_ERR(nn_socket(-1, NN_PAIR), EAFNOSUPPORT);
    CHECK_ERR(nn_socket(INT_MAX, NN_PAIR), EAFNOSUPPORT);
    CHECK_ERR(nn_socket(0, 0), EAFNOSUPPORT); /* the domain is checked first */
    CHECK_ERR(nn_socket(AF_SP, 0), EINVAL);
    CHECK_ERR(nn_socket(AF_SP, -1), EINVAL);
    CHECK_ERR(nn_socket(AF_SP, 17), EINVAL);
    CHECK_ERR(nn_socket(AF_SP, 1000), EINVAL);
    CHECK_ERR(nn_socket(AF_SP_RAW, 0), EINVAL);

    CHECK_ERR(nn_close(-1), EBADF);
    CHECK_ERR(nn_close(INT_MIN), EBADF);
    CHECK_ERR(nn_close(512), EBADF);
    CHECK_ERR(nn_close(INT_MAX), EBADF);
    CHECK_ERR(nn_close(300), EBADF); /* in range, never opened */
}

static void open_close(void)
{
    for (int d = 0; d < 2; d++) {
        int dom = d ? AF_SP_RAW : AF_SP;
        int s = nn_socket(dom, NN_PAIR);
        CHECK(s >= 0 && s < 512);
        CHECK(ta_getint(s, NN_SOL_SOCKET, NN_DOMAIN) == dom);
        CHECK(ta_getint(s, NN_SOL_SOCKET, NN_PROTOCOL) == NN_PAIR);
        CHECK(nn_close(s) == 0);
        CHECK_ERR(nn_close(s), EBADF);
        CHECK_ERR(nn_send(s, "x", 1, NN_DONTWAIT), EBADF);
        int v;
        size_t l = sizeof(v);
        CHECK_ERR(nn_getsockopt(s, NN_SOL_SOCKET, NN_LINGER, &v, &l), EBADF);
    }
    /* Distinct live sockets get distinct ids. */
    int a = nn_socket(AF_SP, NN_PAIR), b = nn_socket(AF_SP, NN_PAIR);
    CHECK(a >= 0 && b >= 0 && a != b);
    nn_close(a);
    /* A closed id is handed out again; the other socket is unaffected. */
    int c = nn_socket(AF_SP, NN_PAIR);
    CHECK(c == a);
    CHECK(ta_getint(b, NN_SOL_SOCKET, NN_PROTOCOL) == NN_PAIR);
    nn_close(b);
    nn_close(c);
}

/* The table holds 512 sockets: the next nn_socket fails with EMFILE, and a
   slot freed anywhere is usable again. */
static void table_full(void)
{
    static int ids[600];
    int n = 0;
    while (n < 600) {
        ids[n] = nn_socket(AF_SP, NN_PAIR);
        if (ids[n] < 0)
            break;
        n++;
    }
    CHECK(n == 512);
    CHECK_ERR(nn_socket(AF_SP, NN_PAIR), EMFILE);
    CHECK_ERR(nn_socket(AF_SP_RAW, NN_PAIR), EMFILE);
    for (int i = 0; i < n; i++)
        CHECK(ids[i] >= 0 && ids[i] < 512);
    /* Every id is distinct. */
    static char seen[512];
    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < n; i++) {
        CHECK(!seen[ids[i]]);
        seen[ids[i]] = 1;
    }
    /* The full table still works: two of them talk. */
    char addr[64];
    ta_addr(addr, sizeof(addr));
    CHECK(nn_bind(ids[0], addr) >= 0);
    CHECK(nn_connect(ids[n - 1], addr) >= 0);
    ta_setint(ids[0], NN_SOL_SOCKET, NN_RCVTIMEO, TA_WAIT);
    ta_setint(ids[n - 1], NN_SOL_SOCKET, NN_SNDTIMEO, TA_WAIT);
    CHECK(nn_send(ids[n - 1], "full", 4, 0) == 4);
    char buf[8];
    CHECK(nn_recv(ids[0], buf, sizeof(buf), 0) == 4);

    CHECK(nn_close(ids[300]) == 0);
    int again = nn_socket(AF_SP, NN_PAIR);
    CHECK(again == ids[300]);
    CHECK_ERR(nn_socket(AF_SP, NN_PAIR), EMFILE);
    ids[300] = again;
    for (int i = 0; i < n; i++)
        CHECK(nn_close(ids[i]) == 0);
    /* All free again. */
    int s = nn_socket(AF_SP, NN_PAIR);
    CHECK(s >= 0);
    nn_close(s);
}

/* Out of file descriptors: nn_socket reports EMFILE and nothing breaks;
   sockets made before keep working, and creation works again once
   descriptors are back. */
static void out_of_descriptors(void)
{
    struct rlimit old, low;
    if (getrlimit(RLIMIT_NOFILE, &old) != 0)
        return;
    int a, b;
    ta_pair(AF_SP, &a, &b);
    int base = ta_count_fds();
    low = old;
    low.rlim_cur = (rlim_t) base + 3; /* room for one socket, not many */
    if (setrlimit(RLIMIT_NOFILE, &low) != 0) {
        fprintf(stderr, "cannot lower RLIMIT_NOFILE; skipped\n");
        nn_close(a);
        nn_close(b);
        return;
    }
    int made[16];
    int n = 0, err = 0;
    while (n < 16) {
        made[n] = nn_socket(AF_SP, NN_PAIR);
        if (made[n] < 0) {
            err = errno;
            break;
        }
        n++;
    }
    CHECK(n < 16);
    CHECK(err == EMFILE);
    /* A failed creation leaks nothing: retrying fails the same way. */
    int fds = ta_count_fds();
    CHECK_ERR(nn_socket(AF_SP, NN_PAIR), EMFILE);
    CHECK(ta_count_fds() == fds);
    CHECK(nn_send(b, "still", 5, 0) == 5);
    char buf[8];
    CHECK(nn_recv(a, buf, sizeof(buf), 0) == 5);
    for (int i = 0; i < n; i++)
        nn_close(made[i]);
    setrlimit(RLIMIT_NOFILE, &old);
    int s = nn_socket(AF_SP, NN_PAIR);
    CHECK(s >= 0);
    nn_close(s);
    nn_close(a);
    nn_close(b);
}

/* Closing with endpoints, a peer and queued messages frees everything:
   descriptors return to their count, names are free to bind again. */
static void close_releases(void)
{
    int before = ta_count_fds();
    for (int round = 0; round < 200; round++) {
        char addr[64];
        ta_addr(addr, sizeof(addr));
        int a = ta_socket(AF_SP, NN_PAIR), b = ta_socket(AF_SP, NN_PAIR);
        CHECK(nn_bind(a, addr) >= 0);
        CHECK(nn_connect(b, addr) >= 0);
        CHECK(nn_connect(a, "inproc://nobody-binds-this") >= 0);
        for (int i = 0; i < 5; i++)
            CHECK(nn_send(b, "queued", 6, 0) == 6);
        void *m = nn_allocmsg(100, 0);
        CHECK(nn_send(b, &m, NN_MSG, 0) == 100);
        if (round % 2) {
            CHECK(nn_close(a) == 0);
            CHECK(nn_close(b) == 0);
        } else {
            CHECK(nn_close(b) == 0);
            CHECK(nn_close(a) == 0);
        }
        /* The name is free again. */
        int c = ta_socket(AF_SP, NN_PAIR);
        CHECK(nn_bind(c, addr) >= 0);
        CHECK(nn_close(c) == 0);
    }
    CHECK(ta_count_fds() == before);
}

/* Sockets of every domain are counted in the same table. */
static void raw_and_cooked_share_the_table(void)
{
    int a = nn_socket(AF_SP_RAW, NN_PAIR);
    int b = nn_socket(AF_SP, NN_PAIR);
    CHECK(a >= 0 && b >= 0 && a != b);
    nn_close(a);
    nn_close(b);
}

int main(void)
{
    bad_arguments();
    open_close();
    table_full();
    out_of_descriptors();
    close_releases();
    raw_and_cooked_share_the_table();
    TEST_DONE();
}
