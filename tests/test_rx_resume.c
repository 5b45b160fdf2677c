/* test_rx_resume.c: a tcp, ipc or ws connection that stopped reading because
   its inbound queue was full (NN_RCVBUF, each message counting
   FM_MSG_OVERHEAD) is read on by the thread whose nn_recv made room, not
   by a loop thread woken for it. A PAIR receiver with a 2 KiB NN_RCVBUF
   (full at 11 messages of 64 bytes, resumed below 8) takes 3,000 of them
   that a peer in another process sent ahead: about a thousand
   resumptions. Every message arrives intact and in order, also when the
   peer closes right after sending (its end of stream is met while reading
   on from a resumption); over ipc, where all of it waits in the kernel
   (whose buffer for it is the sender's), the receiving process's loop
   threads wake fewer than once per 20 messages: each resumption woke one
   before. Over tcp the receiver's NN_RCVBUF also sizes the kernel's
   receive buffer, which is then emptied (and the loop rightly woken by
   the next bytes) every few messages: only delivery is checked there, as
   over ws. */
#include "testutil.h"
#include "loop_threads.h"

#include <nanomsg/pair.h>

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#define COUNT 3000
#define SIZE 64
#define RCVBUF 2048

static void fill(uint8_t *b, int seq)
{
    for (int i = 0; i < SIZE; i++)
        b[i] = (uint8_t) (seq * 7 + i);
}

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

/* The sending peer, in a process of its own (forked before anything used
   the library): connects to the address it reads from `in`, sends COUNT
   messages, says so on `out`, then closes at once or waits for "done". */
static int sender(int in, int out, bool close_after)
{
    char addr[NN_SOCKADDR_MAX + 1] = "";
    ssize_t n = read(in, addr, sizeof(addr) - 1);
    if (n <= 0)
        return 2;
    int s = nn_socket(AF_SP, NN_PAIR);
    set_int(s, NN_SNDBUF, 16 << 20); /* all of it is taken at once */
    CHECK(nn_connect(s, addr) >= 0);
    uint8_t buf[SIZE];
    for (int i = 0; i < COUNT; i++) {
        fill(buf, i);
        CHECK(nn_send(s, buf, SIZE, 0) == SIZE);
    }
    CHECK(write(out, "S", 1) == 1);
    if (!close_after) {
        set_int(s, NN_RCVTIMEO, 60000);
        char done[8];
        CHECK(nn_recv(s, done, sizeof(done), 0) == 4);
    }
    nn_close(s); /* lingers until the receiver has it all */
    return tu_failures ? 1 : 0;
}

/* One scenario, in a process of its own: returns 0 when it passed. */
static int scenario(const char *scheme, bool close_after)
{
    int to_child[2], to_parent[2];
    if (pipe(to_child) != 0 || pipe(to_parent) != 0)
        return 2;
    pid_t pid = fork();
    if (pid < 0)
        return 2;
    if (pid == 0) {
        alarm(60);
        tu_failures = 0; /* the parent's count is not this child's */
        exit(sender(to_child[0], to_parent[1], close_after));
    }
    int s = nn_socket(AF_SP, NN_PAIR);
    set_int(s, NN_RCVBUF, RCVBUF);
    set_int(s, NN_RCVTIMEO, 30000);
    bool ipc = strcmp(scheme, "ipc") == 0;
    char addr[NN_SOCKADDR_MAX + 1];
    if (ipc) {
        snprintf(addr, sizeof(addr), "ipc:///tmp/fm-test-rr-%d.ipc", (int) getpid());
        unlink(addr + 6);
        CHECK(nn_bind(s, addr) >= 0);
    } else {
        int port = 20000 + (int) ((unsigned) getpid() * 89u % 12000u);
        for (int i = 0; i < 500; i++, port = port + 1 < 32000 ? port + 1 : 20000) {
            snprintf(addr, sizeof(addr), "%s://127.0.0.1:%d%s", scheme, port,
                     strcmp(scheme, "ws") == 0 ? "/rr" : "");
            if (nn_bind(s, addr) >= 0)
                break;
            CHECK(errno == EADDRINUSE);
        }
    }
    CHECK(write(to_child[1], addr, strlen(addr)) == (ssize_t) strlen(addr));
    char sent = 0;
    CHECK(read(to_parent[0], &sent, 1) == 1 && sent == 'S');

    long before = loop_wakeups();
    uint8_t want[SIZE], got[SIZE + 1];
    int bad = 0, n = 0, i;
    for (i = 0; i < COUNT; i++) {
        /* A slow application: time for a loop thread woken at a
           resumption to fall asleep again before the next one (nothing
           waits on it: without it, one wake-up may serve several). */
        struct timespec work = {0, 100000};
        nanosleep(&work, NULL);
        n = nn_recv(s, got, sizeof(got), 0);
        fill(want, i);
        if (n != SIZE || memcmp(got, want, SIZE) != 0) {
            bad++;
            break;
        }
    }
    long wakeups = loop_wakeups() - before;
    if (bad)
        fprintf(stderr, "%s%s: message %d of %d: %d bytes, %s\n", scheme,
                close_after ? " closed" : "", i, COUNT, n, n < 0 ? nn_strerror(errno) : "wrong");
    CHECK(bad == 0);
    printf("%s%s: %d messages, loop wake-ups %ld\n", scheme,
           close_after ? " closed" : "", COUNT, wakeups);
    if (ipc && !close_after)
        CHECK(wakeups >= 0 && wakeups < COUNT / 20);
    if (!close_after)
        CHECK(nn_send(s, "done", 4, 0) == 4);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    nn_close(s);
    if (ipc)
        unlink(addr + 6);
    return tu_failures ? 1 : 0;
}

int main(void)
{
    static const struct {
        const char *scheme;
        bool close_after;
        const char *name;
    } cases[] = {
        {"ipc", false, "ipc"},
        {"ipc", true, "ipc, peer closes"},
        {"tcp", false, "tcp"},
        {"tcp", true, "tcp, peer closes"},
        {"ws", false, "ws"},
        {"ws", true, "ws, peer closes"},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(90); /* a hang becomes a failure, not a stuck suite */
            tu_failures = 0;
            exit(scenario(cases[c].scheme, cases[c].close_after));
        }
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "%s: failed%s\n", cases[c].name,
                    WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? " (hung)" : "");
            tu_failures++;
        }
    }
    TEST_DONE();
}
