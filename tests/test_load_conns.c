/* test_load_conns.c: 1,000 concurrent tcp connections to one socket.
     - A cooked REP serves 1,000 raw OS clients connected at once, each
       with a request of its own id: every client gets exactly its reply
       (the REP routes each by the pipe it came in on).
     - One PUSH socket with 1,000 nn_connect endpoints to one PULL: all
       1,000 connections come up on both sides, messages are spread over
       them and all arrive; closing the PUSH takes them all down.
   Needs about 2,200 descriptors (both ends live in this process): the soft
   RLIMIT_NOFILE is raised to the hard limit, and the test is skipped with
   a message when that is not enough. FM_SOAK=1: 5,000 connections. */
#include "testutil.h"

#include <nanomsg/pipeline.h>
#include <nanomsg/reqrep.h>

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

static int64_t stat_of(int s, int which) { return (int64_t) nn_get_statistic(s, which); }

/* Network descriptors only: the event loops of the pool start (each with
   its epoll and eventfd descriptors) as load spreads to them, and stay. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[300], target[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
        ssize_t len = readlink(path, target, sizeof(target) - 1);
        if (len > 0 && strncmp(target, "socket:", 7) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* Bind s to tcp://127.0.0.1:<a free port>; the port goes to *port. */
static int bind_free(int s, int *port)
{
    for (int i = 0; i < 100; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(in);
        bind(fd, (struct sockaddr *) &in, sizeof(in));
        getsockname(fd, (struct sockaddr *) &in, &len);
        close(fd);
        *port = ntohs(in.sin_port);
        char addr[64];
        snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d", *port);
        int eid = nn_bind(s, addr);
        if (eid >= 0 || errno != EADDRINUSE)
            return eid;
    }
    return -1;
}

static bool write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w <= 0)
            return false;
        b += w;
        n -= (size_t) w;
    }
    return true;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24), p[1] = (uint8_t) (v >> 16), p[2] = (uint8_t) (v >> 8),
    p[3] = (uint8_t) v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* Each client's reply: 8-byte SP header, then <size 8><id 4><"rep-%05d">. */
#define REPLY_LEN (8 + 8 + 4 + 9)

static void raw_clients_on_rep(int n)
{
    int rep = nn_socket(AF_SP, NN_REP);
    set_int(rep, NN_RCVTIMEO, 10000);
    set_int(rep, NN_SNDTIMEO, 10000);
    int port;
    CHECK(bind_free(rep, &port) >= 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int *fd = calloc((size_t) n, sizeof(int));
    double t0 = tu_now();
    int connected = 0;
    for (int i = 0; i < n; i++) {
        fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd[i] < 0 || connect(fd[i], (struct sockaddr *) &to, sizeof(to)) != 0) {
            fprintf(stderr, "client %d: %s\n", i, strerror(errno));
            break;
        }
        int one = 1;
        setsockopt(fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        uint8_t req[8 + 8 + 4 + 9];
        static const uint8_t hdr[8] = {0, 'S', 'P', 0, 0, NN_REQ, 0, 0};
        memcpy(req, hdr, 8);
        memset(req + 8, 0, 8);
        req[15] = 4 + 9;
        put_u32(req + 16, 0x80000000u | (uint32_t) i);
        char body[10];
        snprintf(body, sizeof(body), "req-%05d", i);
        memcpy(req + 20, body, 9);
        CHECK(write_all(fd[i], req, sizeof(req)));
        connected++;
    }
    CHECK(connected == n);
    CHECK(WAIT_FOR(stat_of(rep, NN_STAT_CURRENT_CONNECTIONS) == n, 20));
    double t1 = tu_now();

    /* Serve every request; the reply names the request it answers. */
    int served = 0;
    for (int i = 0; i < connected; i++) {
        char buf[32];
        int len = nn_recv(rep, buf, sizeof(buf), 0);
        if (len != 9 || memcmp(buf, "req-", 4) != 0) {
            CHECK(!"a request went missing or came in damaged");
            break;
        }
        memcpy(buf, "rep", 3);
        CHECK(nn_send(rep, buf, 9, 0) == 9);
        served++;
    }
    CHECK(served == n);

    /* Every client reads its own reply. */
    struct pollfd *pfd = calloc((size_t) n, sizeof(*pfd));
    uint8_t(*got)[REPLY_LEN] = calloc((size_t) n, REPLY_LEN);
    size_t *have = calloc((size_t) n, sizeof(size_t));
    int complete = 0, wrong = 0;
    double end = tu_now() + 20;
    while (complete + wrong < connected && tu_now() < end) {
        int m = 0;
        for (int i = 0; i < connected; i++)
            if (have[i] < REPLY_LEN) {
                pfd[m].fd = fd[i];
                pfd[m].events = POLLIN;
                pfd[m].revents = 0;
                m++;
            }
        if (poll(pfd, (nfds_t) m, 1000) <= 0)
            continue;
        for (int k = 0, i = 0; k < m; k++) {
            if (!pfd[k].revents)
                continue;
            while (fd[i] != pfd[k].fd)
                i++;
            ssize_t r = read(fd[i], got[i] + have[i], REPLY_LEN - have[i]);
            if (r <= 0) {
                wrong++;
                have[i] = REPLY_LEN;
                continue;
            }
            have[i] += (size_t) r;
            if (have[i] < REPLY_LEN)
                continue;
            char want[10];
            snprintf(want, sizeof(want), "rep-%05d", i);
            if (got[i][15] == 13 && get_u32(got[i] + 16) == (0x80000000u | (uint32_t) i) &&
                memcmp(got[i] + 20, want, 9) == 0)
                complete++;
            else
                wrong++;
        }
    }
    CHECK(complete == n);
    CHECK(wrong == 0);
    CHECK(stat_of(rep, NN_STAT_ACCEPTED_CONNECTIONS) == n);
    printf("  REP with %d raw clients at once: connected in %.2f s, %d of %d got their own "
           "reply (%.2f s)\n",
           n, t1 - t0, complete, n, tu_now() - t1);
    for (int i = 0; i < connected; i++)
        close(fd[i]);
    CHECK(WAIT_FOR(stat_of(rep, NN_STAT_CURRENT_CONNECTIONS) == 0, 20));
    CHECK(nn_close(rep) == 0);
    free(fd);
    free(pfd);
    free(got);
    free(have);
}

static void one_socket_many_endpoints(int n)
{
    int pull = nn_socket(AF_SP, NN_PULL), push = nn_socket(AF_SP, NN_PUSH);
    set_int(pull, NN_RCVTIMEO, 10000);
    set_int(push, NN_SNDTIMEO, 10000);
    int port;
    CHECK(bind_free(pull, &port) >= 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d", port);
    double t0 = tu_now();
    for (int i = 0; i < n; i++)
        CHECK(nn_connect(push, addr) == i + 1);
    CHECK(WAIT_FOR(stat_of(pull, NN_STAT_CURRENT_CONNECTIONS) == n &&
                       stat_of(push, NN_STAT_CURRENT_CONNECTIONS) == n,
                   20));
    double t1 = tu_now();
    int msgs = 10 * n, bad = 0;
    for (int i = 0; i < msgs; i++) {
        int v = i;
        CHECK(nn_send(push, &v, sizeof(v), 0) == sizeof(v));
    }
    uint8_t *seen = calloc((size_t) msgs, 1);
    int got = 0;
    for (int i = 0; i < msgs; i++) {
        int v;
        if (nn_recv(pull, &v, sizeof(v), 0) != sizeof(v) || v < 0 || v >= msgs || seen[v]++) {
            bad++;
            if (errno == ETIMEDOUT)
                break;
            continue;
        }
        got++;
    }
    CHECK(got == msgs);
    CHECK(bad == 0);
    printf("  PUSH with %d endpoints to one PULL: %d connections up in %.2f s, %d messages "
           "spread and received once each\n",
           n, n, t1 - t0, got);
    CHECK(nn_close(push) == 0);
    CHECK(WAIT_FOR(stat_of(pull, NN_STAT_CURRENT_CONNECTIONS) == 0, 20));
    CHECK(stat_of(pull, NN_STAT_ACCEPTED_CONNECTIONS) == n);
    CHECK(nn_close(pull) == 0);
    free(seen);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    int n = soak() ? 5000 : 1000;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t need = (rlim_t) (2 * n + 200);
    if (rl.rlim_cur < need) {
        printf("skipped: %d connections need %lu descriptors, RLIMIT_NOFILE allows %lu\n", n,
               (unsigned long) need, (unsigned long) rl.rlim_cur);
        return 0;
    }
    int warm = nn_socket(AF_SP, NN_PULL), wport;
    CHECK(bind_free(warm, &wport) >= 0);
    CHECK(nn_close(warm) == 0);
    int fds0 = count_fds();
    raw_clients_on_rep(n);
    one_socket_many_endpoints(n);
    /* Every connection's descriptor went with it. */
    CHECK(WAIT_FOR(count_fds() == fds0, 10));
    if (count_fds() != fds0)
        fprintf(stderr, "descriptors: %d before, %d after\n", fds0, count_fds());
    TEST_DONE();
}
