/* test_ipc.c: what only the ipc:// transport has (test_schemes_ipc runs
   what every transport shares: sizes, bursts, every protocol, an
   incompatible peer, reconnection, backpressure, limits, linger). Path
   errors (ENAMETOOLONG past sun_path, EINVAL, ENOENT, EADDRINUSE for a
   live listener and for a file that is not a socket, which is left alone);
   a stale socket file replaced at bind; the file removed at close unless
   someone else replaced it; relative paths; the NN_IPC options; NN_LINGER
   holding nn_close until a peer speaking the ipc wire by hand has taken
   everything and closed; the kernel send buffer sized for a whole large
   message unless NN_SNDBUF is set. */
#include "testutil.h"

#include <nanomsg/bus.h>
#include <nanomsg/ipc.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>

#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int path_seq;

/* A fresh socket path of ours under /tmp (nothing there yet). */
static void fresh_path(char *path, size_t len)
{
    snprintf(path, len, "/tmp/fm-test-ipc-%d-%d.ipc", (int) getpid(), path_seq++);
    unlink(path);
}

static void url(char *addr, const char *path) { snprintf(addr, NN_SOCKADDR_MAX, "ipc://%s", path); }

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

static int sock(int type)
{
    int s = nn_socket(AF_SP, type);
    CHECK(s >= 0);
    set_int(s, NN_RCVTIMEO, 10000);
    set_int(s, NN_SNDTIMEO, 10000);
    set_int(s, NN_RECONNECT_IVL, 20);
    return s;
}

static bool recv_is(int s, const char *want)
{
    char buf[256];
    int n;
    do
        n = nn_recv(s, buf, sizeof(buf), 0);
    while (n == 4 && memcmp(buf, "ping", 4) == 0 && strcmp(want, "ping") != 0);
    return n == (int) strlen(want) && memcmp(buf, want, (size_t) n) == 0;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n ? n : 1);
    uint32_t x = 0x12345678u ^ seed;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t) x;
    }
    return p;
}

static void test_path_errors(void)
{
    int s = sock(NN_PAIR);
    char addr[NN_SOCKADDR_MAX + 1], path[256];
    CHECK_ERR(nn_bind(s, "ipc://"), EINVAL);
    CHECK_ERR(nn_connect(s, "ipc://"), EINVAL);

    /* sun_path holds 107 characters and the terminator. */
    char longp[120];
    int n = snprintf(longp, sizeof(longp), "/tmp/fm-%d-", (int) getpid());
    memset(longp + n, 'x', sizeof(longp) - (size_t) n - 1);
    longp[108] = '\0';
    url(addr, longp);
    CHECK_ERR(nn_bind(s, addr), ENAMETOOLONG);
    CHECK_ERR(nn_connect(s, addr), ENAMETOOLONG);
    longp[107] = '\0';
    url(addr, longp);
    int eid = nn_bind(s, addr);
    CHECK(eid >= 0);
    CHECK(exists(longp));
    CHECK(nn_shutdown(s, eid) == 0);
    CHECK(!exists(longp));

    CHECK_ERR(nn_bind(s, "ipc:///nonexistent-dir-of-fm-tests/x.ipc"), ENOENT);
    CHECK(nn_connect(s, "ipc:///nonexistent-dir-of-fm-tests/x.ipc") >= 0);

    /* A live listener keeps its address. */
    fresh_path(path, sizeof(path));
    url(addr, path);
    int other = sock(NN_PAIR);
    CHECK(nn_bind(other, addr) >= 0);
    CHECK_ERR(nn_bind(s, addr), EADDRINUSE);
    nn_close(other);
    CHECK(!exists(path));

    /* Something that is not a socket is never removed. */
    fresh_path(path, sizeof(path));
    url(addr, path);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    CHECK(fd >= 0 && write(fd, "keep", 4) == 4);
    close(fd);
    CHECK_ERR(nn_bind(s, addr), EADDRINUSE);
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 4);
    unlink(path);
    nn_close(s);
}

/* A socket file left by a dead listener (nobody accepts: connect refused)
   is replaced; the file is removed at close unless it was replaced. */
static void test_stale_file(void)
{
    char path[256], addr[NN_SOCKADDR_MAX + 1];
    fresh_path(path, sizeof(path));
    url(addr, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, path, strlen(path) + 1); /* fresh_path is short */
    CHECK(bind(fd, (struct sockaddr *) &sun, sizeof(sun)) == 0);
    close(fd); /* bound, never listened, closed: the file stays, stale */
    CHECK(exists(path));

    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    int eid = nn_bind(a, addr);
    CHECK(eid >= 0);
    CHECK(nn_connect(b, addr) >= 0);
    CHECK(nn_send(b, "fresh", 5, 0) == 5);
    CHECK(recv_is(a, "fresh"));

    /* Someone replaced our file: closing must not remove theirs. */
    CHECK(unlink(path) == 0);
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    CHECK(fd >= 0);
    close(fd);
    CHECK(nn_shutdown(a, eid) == 0);
    CHECK(exists(path));
    unlink(path);
    nn_close(b);
    nn_close(a);
}

static void test_relative_path(void)
{
    char rel[64], addr[NN_SOCKADDR_MAX + 1];
    snprintf(rel, sizeof(rel), "fm-test-rel-%d.ipc", (int) getpid());
    unlink(rel);
    url(addr, rel);
    int a = sock(NN_PAIR), b = sock(NN_PAIR);
    CHECK(nn_bind(a, addr) >= 0);
    CHECK(exists(rel));
    CHECK(nn_connect(b, addr) >= 0);
    CHECK(nn_send(b, "rel", 3, 0) == 3);
    CHECK(recv_is(a, "rel"));
    nn_close(b);
    nn_close(a);
    CHECK(!exists(rel));
}

static void test_options(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    int v = 8192;
    size_t len = sizeof(v);
    CHECK(nn_getsockopt(s, NN_IPC, NN_IPC_OUTBUFSZ, &v, &len) == 0 && v == 4096);
    v = 8192;
    CHECK(nn_setsockopt(s, NN_IPC, NN_IPC_INBUFSZ, &v, sizeof(v)) == 0);
    v = 0;
    len = sizeof(v);
    CHECK(nn_getsockopt(s, NN_IPC, NN_IPC_INBUFSZ, &v, &len) == 0 && v == 8192);
    CHECK_ERR(nn_setsockopt(s, NN_IPC, NN_IPC_OUTBUFSZ, &v, 2), EINVAL);
    v = 0; /* stored and ignored, whatever the value, as in the stock library */
    CHECK(nn_setsockopt(s, NN_IPC, NN_IPC_OUTBUFSZ, &v, sizeof(v)) == 0);
    CHECK_ERR(nn_setsockopt(s, NN_IPC, 4, &v, sizeof(v)), ENOPROTOOPT);
    CHECK_ERR(nn_setsockopt(s, NN_IPC, 0, &v, sizeof(v)), ENOPROTOOPT);
    len = sizeof(v);
    CHECK_ERR(nn_getsockopt(s, NN_IPC, 4, &v, &len), ENOPROTOOPT);
    nn_close(s);
}

/* Read exactly n bytes from a raw descriptor, 10 s at most per read. */
static bool raw_read(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 10000) != 1)
            return false;
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t) r;
    }
    return true;
}

/* Bytes a raw UNIX socket has received and not yet read. */
static int unread_bytes(int fd)
{
    int n = -1;
    return ioctl(fd, SIOCINQ, &n) == 0 ? n : -1;
}

/* A raw PULL listener, the femtomsg PUSH that dialled it (NN_SNDBUF
   sndbuf unless 0, NN_LINGER linger), the header exchanged; *lfd and *fd
   are the raw listener and connection. */
static int push_to_raw(const char *path, int sndbuf, int linger, int *lfd, int *fd)
{
    char addr[NN_SOCKADDR_MAX];
    url(addr, path);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    CHECK(bind(l, (struct sockaddr *) &sa, sizeof(sa)) == 0);
    CHECK(listen(l, 4) == 0);
    int s = sock(NN_PUSH);
    if (sndbuf)
        set_int(s, NN_SNDBUF, sndbuf);
    set_int(s, NN_LINGER, linger);
    CHECK(nn_connect(s, addr) >= 0);
    struct pollfd lp = {.fd = l, .events = POLLIN};
    CHECK(poll(&lp, 1, 10000) == 1);
    *fd = accept(l, NULL, NULL);
    CHECK(*fd >= 0);
    const uint8_t pull_hdr[8] = {0, 'S', 'P', 0, 0, NN_PULL & 0xff, 0, 0};
    uint8_t hdr[8];
    CHECK(write(*fd, pull_hdr, 8) == 8);
    CHECK(raw_read(*fd, hdr, 8) && hdr[1] == 'S' && hdr[5] == (NN_PUSH & 0xff));
    *lfd = l;
    return s;
}

struct closer {
    int s;
    atomic_int done;
};

static void *closer_main(void *arg)
{
    struct closer *c = arg;
    nn_close(c->s);
    atomic_store(&c->done, 1);
    return NULL;
}

/* NN_LINGER: nn_close returns only once the peer has closed after our EOF
   (or at the linger), never while what we wrote merely sits in the kernel:
   a program exits right after nn_close, and closing an ipc socket makes the
   peer see POLLHUP, on which the stock library drops what it has not yet
   taken. The peer here is a raw socket that checks exactly that. Small
   messages go out through the direct write with nothing left queued at
   close; large ones are still queued when nn_close starts. */
static void linger_until_peer_closes(int count, size_t size)
{
    char path[108];
    fresh_path(path, sizeof(path));
    int l, fd;
    /* Everything fits in our queue. */
    int s = push_to_raw(path, 8 * 1024 * 1024, 30000, &l, &fd);

    uint8_t *m = pattern(size, 9);
    for (int i = 0; i < count; i++) {
        memcpy(m, &i, sizeof(i));
        CHECK(nn_send(s, m, size, 0) == (int) size);
    }
    struct closer c = {.s = s};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, closer_main, &c) == 0);

    uint8_t *got = malloc(size);
    int ok = 0;
    for (int i = 0; i < count; i++) {
        uint8_t pfx[9];
        memcpy(m, &i, sizeof(i));
        if (!raw_read(fd, pfx, 9) || pfx[0] != 1 || get_be64(pfx + 1) != size ||
            !raw_read(fd, got, size) || memcmp(got, m, size) != 0)
            break;
        ok++;
    }
    CHECK(ok == count);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char b;
    CHECK(poll(&pfd, 1, 10000) == 1 && read(fd, &b, 1) == 0); /* our EOF */
    pfd.events = 0;
    CHECK(poll(&pfd, 1, 0) == 0);  /* no POLLHUP: the sender is still open */
    CHECK(!atomic_load(&c.done));  /* and nn_close still waits for us */
    close(fd);
    CHECK(WAIT_FOR(atomic_load(&c.done), 10)); /* long before the linger */
    pthread_join(th, NULL);
    free(got);
    free(m);
    close(l);
    unlink(path);
}

/* UNIX sockets do not autotune: unless the application sets NN_SNDBUF, an
   ipc connection asks the kernel for a send buffer that holds a whole
   1 MiB message, so it goes out in one write rather than five. With
   NN_SNDBUF set, the kernel buffer follows it instead. */
static void test_kernel_sndbuf(void)
{
    enum { BIG = 1 << 20 };
    uint8_t *m = pattern(BIG, 3);
    char path[108];
    int l, fd;

    fresh_path(path, sizeof(path));
    int s = push_to_raw(path, 0, 0, &l, &fd);
    CHECK(nn_send(s, m, BIG, 0) == BIG);
    CHECK(WAIT_FOR(unread_bytes(fd) >= BIG + 9, 10)); /* all of it, unread */
    nn_close(s);
    close(fd);
    close(l);
    unlink(path);

    fresh_path(path, sizeof(path));
    s = push_to_raw(path, 64 * 1024, 0, &l, &fd);
    CHECK(nn_send(s, m, BIG, 0) == BIG);
    CHECK(WAIT_FOR(unread_bytes(fd) > 0, 10));
    /* A negative check, so it can only look for a while: the kernel holds
       no more than the doubled 64 KiB (and a little for bookkeeping). */
    CHECK(!WAIT_FOR(unread_bytes(fd) > 512 * 1024, 0.3));
    nn_close(s);
    close(fd);
    close(l);
    unlink(path);
    free(m);
}

static void test_linger(void)
{
    linger_until_peer_closes(8, 1000);
    linger_until_peer_closes(16, 256 * 1024);
}

int main(void)
{
    test_path_errors();
    test_stale_file();
    test_relative_path();
    test_options();
    test_linger();
    test_kernel_sndbuf();
    nn_term();
    TEST_DONE();
}
