/* test_ws_admission.c: who gets into a ws:// listener. A crowd of raw TCP
   peers that stall in the HTTP upgrade (three times the listener's bound
   on pending handshakes, renewed as they are dropped) cannot keep a
   femtomsg client out: it connects at its first attempt and exchanges a
   message during the attack, the server lets the stalled peers go, and
   memory stays within the bound. A server process short of descriptors
   (the crowd fills them long before the bound): the oldest handshake
   gives its descriptor up, counted in NN_STAT_ACCEPT_ERRORS, and a client
   still gets in at its first attempt. Then NN_WS_ORIGINS: raw upgrade
   requests with and without an Origin, allowed and not (403, counted in
   NN_STAT_ACCEPT_ERRORS), and the option's values and errors. */
#include "testutil.h"
#include "rawsock.h"

#include <nanomsg/pair.h>
#include <nanomsg/ws.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ws.c's HS_PENDING_MAX and what one pending handshake may hold at most
   (sizeof(struct conn) is about 2.5 KiB, plus the WS_HTTP_MAX buffer). */
#define PENDING_MAX 2048
#define PENDING_COST (11 * 1024)
#define ATTACKERS (3 * PENDING_MAX)
#define RENEW_PER_ROUND 8

static int port_next;

static int next_port(void)
{
    if (!port_next)
        port_next = 20000 + (int) ((unsigned) getpid() * 71u % 12000u);
    int p = port_next++;
    if (port_next >= 32000)
        port_next = 20000;
    return p;
}

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

static int64_t stat_of(int s, int which) { return (int64_t) nn_get_statistic(s, which); }

static int sock(int type)
{
    int s = nn_socket(AF_SP, type);
    CHECK(s >= 0);
    set_int(s, NN_RCVTIMEO, 10000);
    set_int(s, NN_SNDTIMEO, 10000);
    set_int(s, NN_RECONNECT_IVL, 20);
    return s;
}

/* Bind ws://127.0.0.1:<a free port><path>; the endpoint id or -1. */
static int bind_ws(int s, const char *path, int *port)
{
    for (int i = 0; i < 500; i++) {
        *port = next_port();
        char addr[NN_SOCKADDR_MAX];
        snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d%s", *port, path);
        int eid = nn_bind(s, addr);
        if (eid >= 0 || errno != EADDRINUSE)
            return eid;
    }
    return -1;
}

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static long resident_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ------------------------------------------------------ stalled crowd */

/* The start of an upgrade request that never ends: the request line and
   padding fields up to just under the server's head limit, so that each
   stalled peer makes the server hold as much as a pending handshake can. */
static char stall_head[8000];

static void stall_head_init(void)
{
    size_t n = (size_t) snprintf(stall_head, sizeof(stall_head), "GET / HTTP/1.1\r\n");
    while (n + 80 < sizeof(stall_head)) {
        memcpy(stall_head + n, "X-Pad: ", 7);
        n += 7;
        memset(stall_head + n, 'p', 70);
        n += 70;
        memcpy(stall_head + n, "\r\n", 2);
        n += 2;
    }
    stall_head[n] = '\0';
}

struct crowd {
    int port;
    int n; /* stalled peers kept up, at most ATTACKERS */
    struct pollfd fds[ATTACKERS];
    int dropped; /* peers the server closed */
    int opened;
    long peak_kib;
};

static bool crowd_open_one(struct crowd *c, int i)
{
    int fd = raw_connect(c->port);
    c->fds[i].fd = fd;
    c->fds[i].events = POLLIN;
    if (fd < 0)
        return false;
    raw_send(fd, stall_head, strlen(stall_head));
    c->opened++;
    return true;
}

/* One round of the attack: notice who was dropped and stall a few more in
   their place, as an attacker renewing its crowd would. */
static void crowd_round(struct crowd *c)
{
    int renewed = 0;
    if (poll(c->fds, (nfds_t) c->n, 0) > 0) {
        for (int i = 0; i < c->n; i++) {
            if (c->fds[i].fd < 0 || !(c->fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char b[512];
            ssize_t r = recv(c->fds[i].fd, b, sizeof(b), MSG_DONTWAIT);
            if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR)))
                continue; /* a refusal's bytes: its end follows */
            close(c->fds[i].fd);
            c->fds[i].fd = -1;
            c->dropped++;
        }
    }
    for (int i = 0; i < c->n && renewed < RENEW_PER_ROUND; i++)
        if (c->fds[i].fd < 0 && crowd_open_one(c, i))
            renewed++;
    long kib = resident_kib();
    if (kib > c->peak_kib)
        c->peak_kib = kib;
}

static void crowd_close(struct crowd *c)
{
    for (int i = 0; i < c->n; i++)
        if (c->fds[i].fd >= 0)
            close(c->fds[i].fd);
}

/* Enough descriptors for both ends of every stalled connection (the test
   is the attacker and the server at once). */
static bool enough_descriptors(void)
{
    struct rlimit rl;
    rlim_t want = 2 * ATTACKERS + 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return false;
    if (rl.rlim_cur >= want)
        return true;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
        return false;
    rl.rlim_cur = want;
    return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

static void test_stalled_crowd(void)
{
    if (!enough_descriptors()) {
        printf("skipped: the stalled crowd needs %d descriptors\n", 2 * ATTACKERS + 256);
        return;
    }
    stall_head_init();
    static struct crowd c;
    memset(&c, 0, sizeof(c));
    c.n = ATTACKERS;
    int srv = sock(NN_PAIR);
    CHECK(bind_ws(srv, "/", &c.port) >= 0);
    /* The server's own first costs (loop thread, buffers) before measuring. */
    int warm = sock(NN_PAIR);
    char addr[NN_SOCKADDR_MAX];
    snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d/", c.port);
    CHECK(nn_connect(warm, addr) >= 0);
    CHECK(nn_send(warm, "warm", 4, 0) == 4);
    char buf[16];
    CHECK(nn_recv(srv, buf, sizeof(buf), 0) == 4);
    nn_close(warm);
    CHECK(WAIT_FOR(stat_of(srv, NN_STAT_CURRENT_CONNECTIONS) == 0, 10));
    long base_kib = resident_kib();
    c.peak_kib = base_kib;

    for (int i = 0; i < ATTACKERS; i++) {
        CHECK(crowd_open_one(&c, i));
        if (i % 64 == 63)
            crowd_round(&c);
    }
    /* Every peer past the bound pushed an older one out, or, on a server
       too slow to hold the bound's worth at once (sanitizers, load), timed
       out first: either way the server lets them go. How many of each
       depends on its speed, so only the sum is checked here; eviction
       itself is proved by test_few_descriptors. */
    int evicted_min = ATTACKERS - PENDING_MAX;
    double end = tu_now() + 60;
    while (c.dropped < evicted_min && tu_now() < end) {
        crowd_round(&c);
        tu_pause();
    }
    CHECK(c.dropped >= evicted_min);

    /* A client arriving now, while the crowd renews itself, is served at
       its first attempt. */
    int cli = sock(NN_PAIR);
    CHECK(nn_connect(cli, addr) >= 0);
    bool sent = false, got = false, back = false;
    end = tu_now() + 60;
    while (!back && tu_now() < end) {
        crowd_round(&c);
        if (!sent)
            sent = nn_send(cli, "during", 6, NN_DONTWAIT) == 6;
        else if (!got)
            got = nn_recv(srv, buf, sizeof(buf), NN_DONTWAIT) == 6 && memcmp(buf, "during", 6) == 0;
        else if (nn_send(srv, "reply", 5, NN_DONTWAIT) == 5)
            back = nn_recv(cli, buf, sizeof(buf), 0) == 5 && memcmp(buf, "reply", 5) == 0;
        tu_pause();
    }
    CHECK(sent && got && back);
    /* At its first attempt, unless the server is so slow (sanitizers on a
       busy machine) that the thousands of peers ahead of the client in
       the kernel's accept queue outlast the client's 3 s handshake
       deadline; test_few_descriptors checks the first attempt in every
       build. */
    if (!under_sanitizer()) {
        CHECK(stat_of(cli, NN_STAT_CONNECT_ERRORS) == 0);
        CHECK(stat_of(cli, NN_STAT_BROKEN_CONNECTIONS) == 0); /* a failed handshake */
        CHECK(stat_of(cli, NN_STAT_ESTABLISHED_CONNECTIONS) == 1);
    }
    printf("stalled peers opened %d, closed by the server %d (%lld counted as accept errors); "
           "resident growth %ld KiB\n",
           c.opened, c.dropped, (long long) stat_of(srv, NN_STAT_ACCEPT_ERRORS),
           c.peak_kib - base_kib);
    /* Sanitizers keep freed memory in quarantine and shadow every byte:
       the figure means something only in a plain build. */
    if (!under_sanitizer())
        CHECK(c.peak_kib - base_kib < (long) PENDING_MAX * PENDING_COST / 1024 + 16 * 1024);

    crowd_close(&c);
    /* The server forgets them all and still works. */
    CHECK(nn_send(cli, "after", 5, 0) == 5);
    CHECK(nn_recv(srv, buf, sizeof(buf), 0) == 5);
    nn_close(cli);
    nn_close(srv);
}

/* ------------------------------------- a server short of descriptors */

/* The server side of test_few_descriptors, in a process of its own (this
   program run again) whose descriptor limit is fd_limit: an echo server
   that also answers "stat" with its NN_STAT_ACCEPT_ERRORS and stops
   at "quit". It prints its port first. */
static int serve(int fd_limit)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 2;
    rl.rlim_cur = (rlim_t) fd_limit;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 2;
    int s = sock(NN_PAIR);
    set_int(s, NN_RCVTIMEO, 500);
    int port;
    if (bind_ws(s, "/", &port) < 0)
        return 2;
    printf("%d\n", port);
    fflush(stdout);
    char buf[64];
    for (;;) {
        int n = nn_recv(s, buf, sizeof(buf) - 1, 0);
        if (n < 0) {
            if (getppid() == 1)
                break; /* the test is gone */
            continue;
        }
        if (n == 4 && memcmp(buf, "quit", 4) == 0)
            break;
        if (n == 4 && memcmp(buf, "stat", 4) == 0)
            n = snprintf(buf, sizeof(buf), "%lld",
                         (long long) stat_of(s, NN_STAT_ACCEPT_ERRORS));
        nn_send(s, buf, (size_t) n, 0);
    }
    nn_close(s);
    return 0;
}

/* Start serve() in a child; its pid, and its port in *port. */
static pid_t spawn_server(int fd_limit, int *port)
{
    int out[2];
    if (pipe(out) != 0)
        return -1;
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", fd_limit);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execl("/proc/self/exe", "test_ws_admission", "serve", limit, (char *) NULL);
        _exit(127);
    }
    close(out[1]);
    char line[16] = {0};
    size_t n = 0;
    double end = tu_now() + 30;
    while (n + 1 < sizeof(line) && !strchr(line, '\n') && tu_now() < end) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        if (poll(&p, 1, 1000) <= 0)
            continue;
        ssize_t r = read(out[0], line + n, sizeof(line) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t) r;
    }
    *port = atoi(line);
    close(out[0]);
    return pid;
}

/* A server process with 128 descriptors and a crowd of 400 peers stalled
   in the handshake: accept() fails for want of descriptors, and the
   oldest handshake gives its descriptor up for the newcomer, so a client
   still gets in at its first attempt. */
static void test_few_descriptors(void)
{
    stall_head_init();
    int port = 0;
    pid_t pid = spawn_server(128, &port);
    CHECK(pid > 0 && port > 0);
    if (pid <= 0 || port <= 0) {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        return;
    }
    static struct crowd c;
    memset(&c, 0, sizeof(c));
    c.port = port;
    c.n = 400;
    for (int i = 0; i < c.n; i++)
        CHECK(crowd_open_one(&c, i));
    double end = tu_now() + 60;
    while (c.dropped < 100 && tu_now() < end) {
        crowd_round(&c);
        tu_pause();
    }
    CHECK(c.dropped >= 100);

    int cli = sock(NN_PAIR);
    char addr[NN_SOCKADDR_MAX];
    snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d/", port);
    CHECK(nn_connect(cli, addr) >= 0);
    char buf[32];
    bool sent = false, back = false;
    end = tu_now() + 60;
    while (!back && tu_now() < end) {
        crowd_round(&c);
        if (!sent)
            sent = nn_send(cli, "echo", 4, NN_DONTWAIT) == 4;
        else
            back = nn_recv(cli, buf, sizeof(buf), NN_DONTWAIT) == 4;
        tu_pause();
    }
    CHECK(sent && back);
    CHECK(stat_of(cli, NN_STAT_CONNECT_ERRORS) == 0);
    CHECK(stat_of(cli, NN_STAT_BROKEN_CONNECTIONS) == 0); /* a failed handshake */
    CHECK(nn_send(cli, "stat", 4, 0) == 4);
    int n = nn_recv(cli, buf, sizeof(buf) - 1, 0);
    CHECK(n > 0);
    buf[n > 0 ? n : 0] = '\0';
    printf("few descriptors: stalled peers opened %d, closed by the server %d, "
           "its count of accept errors %s\n", c.opened, c.dropped, buf);
    CHECK(atoll(buf) >= 100);
    crowd_close(&c);
    CHECK(nn_send(cli, "quit", 4, 0) == 4);
    int status = -1;
    end = tu_now() + 30;
    pid_t w;
    while ((w = waitpid(pid, &status, WNOHANG)) == 0 && tu_now() < end)
        tu_pause();
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    CHECK(w == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    nn_close(cli);
}

/* ----------------------------------------------------- NN_WS_ORIGINS */

/* A complete upgrade request for a PAIR server with extra header lines;
   the status of the answer, or -1 when none came. */
static int upgrade_status(int port, const char *extra)
{
    int fd = raw_connect(port);
    if (fd < 0)
        return -1;
    char req[1024];
    snprintf(req, sizeof(req),
             "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: pair.sp.nanomsg.org\r\n"
             "%s\r\n",
             extra);
    raw_send(fd, req, strlen(req));
    char head[13] = {0};
    int status = -1;
    if (raw_read(fd, head, 12, 10) && memcmp(head, "HTTP/1.1 ", 9) == 0)
        status = atoi(head + 9);
    if (status != 101)
        CHECK(closed_within(fd, 10));
    close(fd);
    return status;
}

static void test_origins_default(void)
{
    /* Off by default, as in stock nanomsg: a browser from anywhere. */
    int srv = sock(NN_PAIR);
    int port;
    CHECK(bind_ws(srv, "/", &port) >= 0);
    CHECK(upgrade_status(port, "Origin: http://evil.example\r\n") == 101);
    CHECK(upgrade_status(port, "") == 101);
    CHECK(stat_of(srv, NN_STAT_ACCEPT_ERRORS) == 0);
    nn_close(srv);
}

static void test_origins_allow_list(void)
{
    int srv = sock(NN_PAIR);
    const char *list = " https://app.example,http://localhost:8080\tnull ";
    CHECK(nn_setsockopt(srv, NN_WS, NN_WS_ORIGINS, list, strlen(list)) == 0);
    int port;
    CHECK(bind_ws(srv, "/", &port) >= 0);
    int64_t refused_count = 0;

    CHECK(upgrade_status(port, "") == 101); /* no Origin: not a browser */
    CHECK(upgrade_status(port, "Origin: https://app.example\r\n") == 101);
    CHECK(upgrade_status(port, "origin: HTTPS://App.Example\r\n") == 101);
    CHECK(upgrade_status(port, "Origin: http://localhost:8080\r\n") == 101);
    CHECK(upgrade_status(port, "Origin: null\r\n") == 101);
    CHECK(stat_of(srv, NN_STAT_ACCEPT_ERRORS) == refused_count);

    const char *refused[] = {
        "Origin: http://evil.example\r\n",
        "Origin: https://app.example.evil\r\n",   /* no prefix match */
        "Origin: https://app.exampl\r\n",
        "Origin: http://localhost:8081\r\n",
        "Origin: http://app.example\r\n",         /* the scheme counts */
        "Origin:\r\n",
        "Origin: https://app.example\r\nOrigin: http://evil.example\r\n",
        "Origin: https://app.example\r\nOrigin: https://app.example\r\n",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        int st = upgrade_status(port, refused[i]);
        if (st != 403)
            fprintf(stderr, "%s: got %d\n", refused[i], st);
        CHECK(st == 403);
        refused_count++;
        CHECK(stat_of(srv, NN_STAT_ACCEPT_ERRORS) == refused_count);
    }
    /* A femtomsg client sends no Origin and gets in. */
    int cli = sock(NN_PAIR);
    char addr[NN_SOCKADDR_MAX];
    snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d/", port);
    CHECK(nn_connect(cli, addr) >= 0);
    CHECK(nn_send(cli, "hi", 2, 0) == 2);
    char buf[8];
    CHECK(nn_recv(srv, buf, sizeof(buf), 0) == 2);

    /* The endpoint keeps the list it was bound with. */
    CHECK(nn_setsockopt(srv, NN_WS, NN_WS_ORIGINS, "", 0) == 0);
    CHECK(upgrade_status(port, "Origin: http://evil.example\r\n") == 403);
    nn_close(cli);
    nn_close(srv);
}

static void test_origins_option(void)
{
    int s = sock(NN_PAIR);
    char v[64];
    size_t len = sizeof(v);
    CHECK(nn_getsockopt(s, NN_WS, NN_WS_ORIGINS, v, &len) == 0);
    CHECK(len == 1 && v[0] == '\0');

    const char *list = "https://a.example, https://b.example";
    CHECK(nn_setsockopt(s, NN_WS, NN_WS_ORIGINS, list, strlen(list) + 1) == 0);
    len = sizeof(v);
    CHECK(nn_getsockopt(s, NN_WS, NN_WS_ORIGINS, v, &len) == 0);
    CHECK(len == strlen("https://a.example https://b.example") + 1);
    CHECK(strcmp(v, "https://a.example https://b.example") == 0);
    /* Truncated to the caller's buffer, the full length reported. */
    len = 5;
    CHECK(nn_getsockopt(s, NN_WS, NN_WS_ORIGINS, v, &len) == 0);
    CHECK(len == strlen("https://a.example https://b.example") + 1);

    /* Another option leaves the list alone, and the other way round. */
    int text = NN_WS_MSG_TYPE_TEXT, got = 0;
    CHECK(nn_setsockopt(s, NN_WS, NN_WS_MSG_TYPE, &text, sizeof(text)) == 0);
    len = sizeof(v);
    CHECK(nn_getsockopt(s, NN_WS, NN_WS_ORIGINS, v, &len) == 0);
    CHECK(strcmp(v, "https://a.example https://b.example") == 0);
    CHECK(nn_setsockopt(s, NN_WS, NN_WS_ORIGINS, "https://c.example", 17) == 0);
    len = sizeof(got);
    CHECK(nn_getsockopt(s, NN_WS, NN_WS_MSG_TYPE, &got, &len) == 0);
    CHECK(got == NN_WS_MSG_TYPE_TEXT);

    /* Refused: control bytes, an inner NUL, a list too long; the old
       value stays. */
    CHECK_ERR(nn_setsockopt(s, NN_WS, NN_WS_ORIGINS, "https://x\x01y", 11), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_WS, NN_WS_ORIGINS, "https://x\0y", 11), EINVAL);
    static char big[4098];
    memset(big, 'a', sizeof(big));
    CHECK_ERR(nn_setsockopt(s, NN_WS, NN_WS_ORIGINS, big, sizeof(big)), EINVAL);
    len = sizeof(v);
    CHECK(nn_getsockopt(s, NN_WS, NN_WS_ORIGINS, v, &len) == 0);
    CHECK(strcmp(v, "https://c.example") == 0);
    /* Blanks only, or nothing: the check is off again. */
    CHECK(nn_setsockopt(s, NN_WS, NN_WS_ORIGINS, " , ", 3) == 0);
    len = sizeof(v);
    CHECK(nn_getsockopt(s, NN_WS, NN_WS_ORIGINS, v, &len) == 0);
    CHECK(len == 1 && v[0] == '\0');
    /* An option the level lacks: as in stock, a value not an int's size is
       EINVAL before the option is looked at. */
    CHECK_ERR(nn_setsockopt(s, NN_WS, 0x1002, "x", 1), EINVAL);
    int one = 1;
    CHECK_ERR(nn_setsockopt(s, NN_WS, 0x1002, &one, sizeof(one)), ENOPROTOOPT);
    nn_close(s);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "serve") == 0)
        return serve(atoi(argv[2]));
    test_origins_option();
    test_origins_default();
    test_origins_allow_list();
    test_stalled_crowd();
    test_few_descriptors();
    TEST_DONE();
}
