/* test_fault_kill.c: a peer process killed with SIGKILL in the middle of a
   message, on tcp, ipc and ws (inproc peers share our process and cannot
   be killed apart from it). Four ways:
     - a raw peer that connected to us writes one whole message and half of
       the next, then raises SIGKILL (once after reading our SP header or
       our 101 answer, so its death sends a FIN, once without, so the
       kernel answers with an RST): the whole message arrives intact, the
       half one never does, the connection is counted broken, and a new
       peer that connects is served;
     - a raw peer we connected to (it listens; tcp and ipc) does the same:
       the connection is counted broken and our socket dials again on its
       own until a new process listens on the same address, whose messages
       then arrive;
     - a femtomsg PUSH process streaming 256 KiB messages to us is killed
       at an arbitrary moment (its kernel buffers always hold part of a
       message): every message that arrived is whole (sequence number and
       checksum) and in order, and the next sender's stream arrives;
     - the same with the streaming process listening and us connecting:
       after each kill our socket finds the next process by itself.
   Children are this program run again (posix_spawn) with a role argument,
   so no child inherits the library's threads. FM_SOAK=1 repeats each
   scenario more often. */
#include "testutil.h"

#include <nanomsg/pipeline.h>

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define BLAST_SIZE (256 * 1024)

/* ------------------------------------------------------------ helpers */

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

static int64_t stat_of(int s, int which) { return (int64_t) nn_get_statistic(s, which); }

/* A tcp port nobody uses now (the kernel's pick). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(in);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *) &in, sizeof(in)) == 0 &&
        getsockname(fd, (struct sockaddr *) &in, &len) == 0)
        port = ntohs(in.sin_port);
    if (fd >= 0)
        close(fd);
    CHECK(port > 0);
    return port;
}

enum tp { TP_TCP, TP_IPC, TP_WS };
static const char *const tp_names[] = {"tcp", "ipc", "ws"};

static enum tp tp_of(const char *addr)
{
    return strncmp(addr, "ipc://", 6) == 0 ? TP_IPC : strncmp(addr, "ws://", 5) == 0 ? TP_WS : TP_TCP;
}

/* A fresh address: tcp://127.0.0.1:<port>, ipc:///tmp/..., or
   ws://127.0.0.1:<port>/fault-kill. */
static void fresh_addr(enum tp tp, char *addr)
{
    static int seq;
    if (tp == TP_IPC) {
        char path[100];
        snprintf(path, sizeof(path), "/tmp/fm-fault-kill-%d-%d.ipc", (int) getpid(), seq++);
        unlink(path);
        snprintf(addr, NN_SOCKADDR_MAX, "ipc://%s", path);
    } else {
        snprintf(addr, NN_SOCKADDR_MAX, "%s://127.0.0.1:%d%s", tp_names[tp], free_port(),
                 tp == TP_WS ? "/fault-kill" : "");
    }
}

/* nn_bind, trying other ports while the one picked is taken meanwhile. */
static int bind_fresh(int s, enum tp tp, char *addr)
{
    for (int i = 0; i < 100; i++) {
        fresh_addr(tp, addr);
        int eid = nn_bind(s, addr);
        if (eid >= 0 || errno != EADDRINUSE)
            return eid;
    }
    return -1;
}

static pid_t spawn(const char *role, const char *addr)
{
    pid_t pid;
    char *argv[] = {"test_fault_kill", (char *) role, (char *) addr, NULL};
    if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ) != 0)
        return -1;
    return pid;
}

/* The child's end: killed (what we wanted) or its exit status. */
static int reap(pid_t pid)
{
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static uint32_t checksum(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* A message: <seq><checksum of the rest> then the payload made from seq. */
static void fill(uint8_t *m, size_t n, uint32_t seq)
{
    uint32_t x = seq * 2654435761u + 1;
    for (size_t i = 8; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        m[i] = (uint8_t) (x >> 24);
    }
    uint32_t c = checksum(m + 8, n - 8);
    memcpy(m, &seq, 4);
    memcpy(m + 4, &c, 4);
}

static bool intact(const uint8_t *m, size_t n, uint32_t *seq)
{
    uint32_t c;
    if (n < 8)
        return false;
    memcpy(seq, m, 4);
    memcpy(&c, m + 4, 4);
    return checksum(m + 8, n - 8) == c;
}

/* ----------------------------------------------------- raw child roles */

static int raw_fd_for(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (strncmp(addr, "ipc://", 6) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *) ss;
        un->sun_family = AF_UNIX;
        snprintf(un->sun_path, sizeof(un->sun_path), "%s", addr + 6);
        *len = sizeof(*un);
        return socket(AF_UNIX, SOCK_STREAM, 0);
    }
    struct sockaddr_in *in = (struct sockaddr_in *) ss;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in->sin_port = htons((uint16_t) atoi(strrchr(addr, ':') + 1));
    *len = sizeof(*in);
    return socket(AF_INET, SOCK_STREAM, 0);
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

static bool read_all(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = read(fd, b, n);
        if (r <= 0)
            return false;
        b += r;
        n -= (size_t) r;
    }
    return true;
}

/* A ws client (a PUSH talking to our PULL): the upgrade request, then the
   masked frame "whole" and the first 500 bytes of a 1000-byte frame, right
   behind it; read_hdr: wait for our 101 before the frames. */
static int ws_half_and_die(int fd, bool read_hdr)
{
    static const char req[] = "GET /fault-kill HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n"
                              "Sec-WebSocket-Protocol: pull.sp.nanomsg.org\r\n\r\n";
    if (!write_all(fd, req, sizeof(req) - 1))
        return 4;
    if (read_hdr) {
        char head[1024];
        size_t n = 0;
        while (n < 4 || memcmp(head + n - 4, "\r\n\r\n", 4) != 0) {
            if (n == sizeof(head) || read(fd, head + n, 1) != 1)
                return 3;
            n++;
        }
        if (strncmp(head, "HTTP/1.1 101", 12) != 0)
            return 3;
    }
    static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    uint8_t buf[2 + 4 + 5 + 4 + 4 + 500];
    size_t n = 0;
    buf[n++] = 0x82;
    buf[n++] = 0x80 | 5;
    memcpy(buf + n, key, 4);
    n += 4;
    for (int i = 0; i < 5; i++)
        buf[n++] = (uint8_t) ("whole"[i] ^ key[i % 4]);
    buf[n++] = 0x82;
    buf[n++] = 0x80 | 126;
    buf[n++] = 1000 >> 8;
    buf[n++] = 1000 & 0xff;
    memcpy(buf + n, key, 4);
    n += 4;
    for (int i = 0; i < 500; i++)
        buf[n++] = (uint8_t) ('h' ^ key[i % 4]);
    if (!write_all(fd, buf, n))
        return 4;
    raise(SIGKILL);
    return 5;
}

/* What a PUSH sends: its header, the frame "whole", and the first half of
   a 1000-byte frame; then it dies. read_hdr: read our header first. */
static int half_frame_and_die(int fd, bool ipc, bool read_hdr)
{
    static const uint8_t hdr[8] = {0, 'S', 'P', 0, 0, NN_PUSH, 0, 0};
    uint8_t theirs[8];
    if (read_hdr && !read_all(fd, theirs, 8))
        return 3;
    uint8_t buf[9 + 5 + 9 + 500];
    size_t n = 0;
    if (ipc)
        buf[n++] = 1;
    memset(buf + n, 0, 7);
    buf[n + 7] = 5;
    n += 8;
    memcpy(buf + n, "whole", 5);
    n += 5;
    if (ipc)
        buf[n++] = 1;
    memset(buf + n, 0, 8);
    buf[n + 6] = 1000 >> 8;
    buf[n + 7] = 1000 & 0xff;
    n += 8;
    memset(buf + n, 'h', 500);
    n += 500;
    if (!write_all(fd, hdr, 8) || !write_all(fd, buf, n))
        return 4;
    /* Make sure it all left before dying: the peer has read our bytes
       once it answers with its own header (read_hdr), otherwise at least
       the kernel took them. */
    raise(SIGKILL);
    return 5;
}

static int role_half_connect(const char *addr, bool read_hdr)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = raw_fd_for(addr, &ss, &len);
    if (fd < 0 || connect(fd, (struct sockaddr *) &ss, len) != 0)
        return 2;
    if (tp_of(addr) == TP_WS)
        return ws_half_and_die(fd, read_hdr);
    return half_frame_and_die(fd, tp_of(addr) == TP_IPC, read_hdr);
}

static int role_half_listen(const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int lfd = raw_fd_for(addr, &ss, &len);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (strncmp(addr, "ipc://", 6) == 0)
        unlink(addr + 6);
    if (lfd < 0 || bind(lfd, (struct sockaddr *) &ss, len) != 0 || listen(lfd, 4) != 0)
        return 2;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        return 2;
    return half_frame_and_die(fd, strncmp(addr, "ipc://", 6) == 0, true);
}

/* ------------------------------------------------ femtomsg child roles */

/* A PUSH that binds or connects and sends "second" until killed. */
static int role_push(const char *addr, bool bind)
{
    int s = nn_socket(AF_SP, NN_PUSH);
    int ivl = 20;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, &ivl, sizeof(ivl));
    if ((bind ? nn_bind(s, addr) : nn_connect(s, addr)) < 0)
        return 2;
    for (;;)
        if (nn_send(s, "second", 6, 0) != 6)
            return 3;
}

/* Stream numbered, checksummed messages until killed. */
static int role_blast(const char *addr, bool bind)
{
    int s = nn_socket(AF_SP, NN_PUSH);
    if ((bind ? nn_bind(s, addr) : nn_connect(s, addr)) < 0)
        return 2;
    uint8_t *m = malloc(BLAST_SIZE);
    for (uint32_t seq = 0;; seq++) {
        fill(m, BLAST_SIZE, seq);
        if (nn_send(s, m, BLAST_SIZE, 0) != BLAST_SIZE)
            return 3;
    }
}

/* ------------------------------------------------------------- checks */

static bool recv_is(int s, const char *want)
{
    char buf[64];
    int n = nn_recv(s, buf, sizeof(buf), 0);
    return n == (int) strlen(want) && memcmp(buf, want, (size_t) n) == 0;
}

/* Nothing else is queued: the half frame was not delivered. */
static void check_nothing_more(int s)
{
    char buf[2000];
    errno = 0;
    int n = nn_recv(s, buf, sizeof(buf), NN_DONTWAIT);
    CHECK(n < 0 && errno == EAGAIN);
}

/* The connection is gone, taking in (and dropping) what the killed peer
   had sent meanwhile: with a full inbound queue a connection reads no
   further, and so sees the end of the stream only once there is room. */
static bool wait_gone(int s)
{
    double end = tu_now() + 10;
    while (stat_of(s, NN_STAT_CURRENT_CONNECTIONS) != 0) {
        void *m;
        if (nn_recv(s, &m, NN_MSG, NN_DONTWAIT) >= 0)
            nn_freemsg(m);
        else if (tu_now() > end)
            return false;
        else
            tu_pause();
    }
    return true;
}

/* The peer connects to us and dies mid-frame. */
static void killed_connecting_peer(enum tp tp, bool read_hdr)
{
    int s = nn_socket(AF_SP, NN_PULL);
    set_int(s, NN_RCVTIMEO, 10000);
    char addr[NN_SOCKADDR_MAX];
    CHECK(bind_fresh(s, tp, addr) >= 0);

    pid_t p = spawn(read_hdr ? "--half-connect-fin" : "--half-connect-rst", addr);
    CHECK(p > 0);
    /* The whole message, which our kernel had taken in before the peer
       died, must come out, before or after the connection is dropped. */
    bool whole = false;
    char buf[64];
    CHECK(WAIT_FOR((whole = nn_recv(s, buf, sizeof(buf), NN_DONTWAIT) == 5) ||
                       stat_of(s, NN_STAT_BROKEN_CONNECTIONS) == 1,
                   10));
    if (!whole)
        whole = nn_recv(s, buf, sizeof(buf), NN_DONTWAIT) == 5;
    if (!whole || memcmp(buf, "whole", 5) != 0) {
        fprintf(stderr, "%s, peer %s: the whole message before the half one was lost\n",
                tp_names[tp], read_hdr ? "closing with a FIN" : "resetting");
        CHECK(!"whole message lost");
    }
    CHECK(reap(p) == 128 + SIGKILL);
    CHECK(WAIT_FOR(stat_of(s, NN_STAT_BROKEN_CONNECTIONS) == 1, 10));
    CHECK(WAIT_FOR(stat_of(s, NN_STAT_CURRENT_CONNECTIONS) == 0, 10));
    check_nothing_more(s);

    /* A new peer is accepted and served. */
    p = spawn("--push-connect", addr);
    CHECK(p > 0);
    CHECK(recv_is(s, "second"));
    CHECK(stat_of(s, NN_STAT_ACCEPTED_CONNECTIONS) == 2);
    kill(p, SIGKILL);
    CHECK(reap(p) == 128 + SIGKILL);
    CHECK(wait_gone(s));
    CHECK(nn_close(s) == 0);
}

/* We connect to the peer; it dies mid-frame; a new process listens on the
   same address and our socket finds it by itself. */
static void killed_listening_peer(enum tp tp)
{
    bool ipc = tp == TP_IPC;
    int s = nn_socket(AF_SP, NN_PULL);
    set_int(s, NN_RCVTIMEO, 10000);
    set_int(s, NN_RECONNECT_IVL, 20);
    set_int(s, NN_RECONNECT_IVL_MAX, 200);
    char addr[NN_SOCKADDR_MAX];
    fresh_addr(tp, addr);
    pid_t p = spawn("--half-listen", addr);
    CHECK(p > 0);
    CHECK(nn_connect(s, addr) >= 0); /* dials until the child listens */
    CHECK(recv_is(s, "whole"));
    CHECK(reap(p) == 128 + SIGKILL);
    CHECK(WAIT_FOR(stat_of(s, NN_STAT_BROKEN_CONNECTIONS) == 1, 10));
    check_nothing_more(s);

    p = spawn("--push-bind", addr);
    CHECK(p > 0);
    CHECK(recv_is(s, "second"));
    CHECK(stat_of(s, NN_STAT_ESTABLISHED_CONNECTIONS) == 2);
    kill(p, SIGKILL);
    CHECK(reap(p) == 128 + SIGKILL);
    CHECK(nn_close(s) == 0);
    if (ipc)
        unlink(addr + 6);
}

/* A real sender killed at an arbitrary point of a stream of big messages;
   we_bind: it connects to us, else it listens and we connect (and must
   find each next sender by ourselves). */
static void killed_streaming_peer(enum tp tp, bool we_bind)
{
    int s = nn_socket(AF_SP, NN_PULL);
    set_int(s, NN_RCVTIMEO, 10000);
    set_int(s, NN_RCVBUF, 1 << 20);
    set_int(s, NN_RECONNECT_IVL, 20);
    set_int(s, NN_RECONNECT_IVL_MAX, 200);
    char addr[NN_SOCKADDR_MAX];
    if (we_bind)
        CHECK(bind_fresh(s, tp, addr) >= 0);
    else
        fresh_addr(tp, addr);
    int rounds = soak() ? 10 : 2;
    long got = 0, bad = 0;
    for (int r = 0; r < rounds; r++) {
        pid_t p = spawn(we_bind ? "--blast-connect" : "--blast-bind", addr);
        CHECK(p > 0);
        if (!we_bind && r == 0)
            CHECK(nn_connect(s, addr) >= 0);
        /* Some messages (a different number each round), then the kill. */
        int want = 3 + r % 4;
        uint32_t prev = 0;
        for (int i = 0; i < want; i++) {
            void *m;
            int n = nn_recv(s, &m, NN_MSG, 0);
            CHECK(n == BLAST_SIZE);
            if (n < 0)
                break;
            uint32_t seq = 0;
            if (n != BLAST_SIZE || !intact(m, (size_t) n, &seq) || seq != (i > 0 ? prev + 1 : 0))
                bad++;
            prev = seq;
            got++;
            nn_freemsg(m);
        }
        kill(p, SIGKILL);
        CHECK(reap(p) == 128 + SIGKILL);
        /* What was already queued or in our kernel buffers is whole and in
           order, with no torn tail; take it all (a connection whose inbound
           queue is full reads no further, so it sees the end of the stream
           only as we make room), until the connection is gone and nothing
           is left. */
        double end = tu_now() + 10;
        bool gone = false;
        while (tu_now() < end) {
            gone = stat_of(s, NN_STAT_CURRENT_CONNECTIONS) == 0;
            void *m;
            int n = nn_recv(s, &m, NN_MSG, NN_DONTWAIT);
            if (n < 0) {
                CHECK(errno == EAGAIN);
                if (gone)
                    break;
                tu_pause();
                continue;
            }
            uint32_t seq = 0;
            if (n != BLAST_SIZE || !intact(m, (size_t) n, &seq) || seq != prev + 1)
                bad++;
            prev = seq;
            got++;
            nn_freemsg(m);
        }
        CHECK(gone);
    }
    CHECK(bad == 0);
    CHECK(stat_of(s, NN_STAT_BROKEN_CONNECTIONS) ==
          rounds);
    printf("  %s: %d senders %s killed mid-stream, %ld messages of %d bytes intact and in "
           "order\n",
           tp_names[tp], rounds, we_bind ? "connected to us" : "we connected to", got,
           BLAST_SIZE);
    CHECK(nn_close(s) == 0);
    if (tp == TP_IPC)
        unlink(addr + 6);
}

int main(int argc, char **argv)
{
    if (argc > 1 && argv[1][0] == '-')
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a child never outlives the test */
    if (argc == 3) {
        if (strcmp(argv[1], "--half-connect-fin") == 0)
            return role_half_connect(argv[2], true);
        if (strcmp(argv[1], "--half-connect-rst") == 0)
            return role_half_connect(argv[2], false);
        if (strcmp(argv[1], "--half-listen") == 0)
            return role_half_listen(argv[2]);
        if (strcmp(argv[1], "--push-connect") == 0)
            return role_push(argv[2], false);
        if (strcmp(argv[1], "--push-bind") == 0)
            return role_push(argv[2], true);
        if (strcmp(argv[1], "--blast-connect") == 0)
            return role_blast(argv[2], false);
        if (strcmp(argv[1], "--blast-bind") == 0)
            return role_blast(argv[2], true);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* The resetting peer ten times: the race it can lose (its death before
       our header goes out) is one in a few. */
    int reps = soak() ? 20 : 1, rst_reps = soak() ? 50 : 10;
    for (enum tp tp = TP_TCP; tp <= TP_WS; tp++) {
        for (int i = 0; i < reps; i++) {
            killed_connecting_peer(tp, true);
            if (tp != TP_WS) /* a raw ws listener would need its own handshake code */
                killed_listening_peer(tp);
        }
        for (int i = 0; i < rst_reps; i++)
            killed_connecting_peer(tp, false);
        killed_streaming_peer(tp, true);
        killed_streaming_peer(tp, false);
    }
    TEST_DONE();
}
