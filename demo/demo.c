/* demo.c: the live demonstration the README opens with.
   1. Two threads talk over an inproc PAIR; an NN_MSG buffer travels without
      a copy, then a round-trip timing.
   2. Two femtomsg processes: a forked REP server and a REQ client over tcp.
   3. femtomsg and the stock library: Debian's nanocat (linked against stock
      libnanomsg) answers our REQ over tcp, when it is installed. */
#define _POSIX_C_SOURCE 200809L
#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/reqrep.h>

#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define ROUNDS 100000

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail(const char *what)
{
    fprintf(stderr, "demo: %s: %s\n", what, nn_strerror(nn_errno()));
    return 1;
}

/* ------------------------------------------------------ 1. inproc PAIR */
static void *echo(void *arg)
{
    int s = *(int *) arg;
    for (;;) {
        void *msg = NULL;
        if (nn_recv(s, &msg, NN_MSG, 0) < 0)
            break;
        if (nn_send(s, &msg, NN_MSG, 0) < 0) {
            nn_freemsg(msg);
            break;
        }
    }
    return NULL;
}

static int demo_inproc(void)
{
    int a = nn_socket(AF_SP, NN_PAIR), b = nn_socket(AF_SP, NN_PAIR);
    if (a < 0 || b < 0 || nn_bind(a, "inproc://demo") < 0 || nn_connect(b, "inproc://demo") < 0)
        return fail("inproc setup");
    pthread_t t;
    pthread_create(&t, NULL, echo, &b);

    const char *text = "hello from femtomsg";
    void *out = nn_allocmsg(strlen(text) + 1, 0);
    memcpy(out, text, strlen(text) + 1);
    void *sent = out;
    nn_send(a, &out, NN_MSG, 0);
    void *back = NULL;
    int n = nn_recv(a, &back, NN_MSG, 0);
    printf("[inproc] echoed %d bytes: \"%s\" (the same buffer both ways: %s)\n", n,
           (char *) back, back == sent ? "yes" : "no");
    nn_freemsg(back);

    char buf[64] = "ping";
    double t0 = now();
    for (int i = 0; i < ROUNDS; i++) {
        nn_send(a, buf, 64, 0);
        nn_recv(a, buf, sizeof(buf), 0);
    }
    printf("[inproc] %d round trips of 64 B: %.2f us one-way latency\n", ROUNDS,
           (now() - t0) / ROUNDS / 2 * 1e6);
    nn_close(a); /* the echo thread's nn_recv returns and it exits */
    nn_close(b);
    pthread_join(t, NULL);
    return 0;
}

/* ------------------------------------------- 2. REQ/REP across processes */
static int ask(int req, const char *question, char *answer, size_t len)
{
    if (nn_send(req, question, strlen(question), 0) < 0)
        return -1;
    int n = nn_recv(req, answer, len - 1, 0);
    if (n >= 0)
        answer[n] = '\0';
    return n;
}

static int demo_tcp(const char *addr)
{
    pid_t child = fork();
    if (child == 0) {
        int rep = nn_socket(AF_SP, NN_REP);
        if (rep < 0 || nn_bind(rep, addr) < 0)
            _exit(fail("server bind"));
        char buf[128];
        for (;;) {
            int n = nn_recv(rep, buf, sizeof(buf) - 1, 0);
            if (n < 0)
                _exit(1);
            buf[n] = '\0';
            char reply[160];
            snprintf(reply, sizeof(reply), "server %d got \"%s\"", (int) getpid(), buf);
            nn_send(rep, reply, strlen(reply), 0);
            if (strcmp(buf, "bye") == 0)
                _exit(0);
        }
    }
    int req = nn_socket(AF_SP, NN_REQ);
    int timeo = 5000;
    nn_setsockopt(req, NN_SOL_SOCKET, NN_RCVTIMEO, &timeo, sizeof(timeo));
    if (req < 0 || nn_connect(req, addr) < 0) /* before the server binds: it retries */
        return fail("client connect");
    char answer[256];
    if (ask(req, "hello", answer, sizeof(answer)) < 0)
        return fail("first request");
    printf("[tcp] client %d -> %s: %s\n", (int) getpid(), addr, answer);
    double t0 = now();
    int rounds = 2000;
    for (int i = 0; i < rounds; i++)
        if (ask(req, "ping", answer, sizeof(answer)) < 0)
            return fail("request");
    printf("[tcp] %d requests between two processes: %.1f us per round trip\n", rounds,
           (now() - t0) / rounds * 1e6);
    ask(req, "bye", answer, sizeof(answer));
    nn_close(req);
    int status = 0;
    waitpid(child, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

/* ------------------------------------------------- 3. a stock peer */
static int demo_stock(const char *addr)
{
    const char *nanocat = "/usr/bin/nanocat";
    if (access(nanocat, X_OK) != 0) {
        printf("[stock] %s is not installed (Debian's nanomsg-utils); skipped\n", nanocat);
        return 0;
    }
    /* The stock tool runs on the stock library: no LD_LIBRARY_PATH of ours. */
    char *argv[] = {"nanocat", "--rep", "--bind", (char *) addr, "--data",
                    "pong from stock nanomsg", "--ascii", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
    char *env[] = {"PATH=/usr/bin:/bin", NULL};
    pid_t pid;
    if (posix_spawn(&pid, nanocat, &fa, NULL, argv, env) != 0) {
        perror("posix_spawn nanocat");
        return 1;
    }
    int req = nn_socket(AF_SP, NN_REQ);
    int timeo = 5000;
    nn_setsockopt(req, NN_SOL_SOCKET, NN_RCVTIMEO, &timeo, sizeof(timeo));
    nn_connect(req, addr);
    char answer[256];
    int rc = ask(req, "ping from femtomsg", answer, sizeof(answer));
    if (rc >= 0)
        printf("[stock] femtomsg REQ -> stock nanocat REP at %s: \"%s\"\n", addr, answer);
    else
        fail("stock request");
    nn_close(req);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    posix_spawn_file_actions_destroy(&fa);
    return rc >= 0 ? 0 : 1;
}

int main(void)
{
    char tcp1[64], tcp2[64];
    unsigned port = 20000 + (unsigned) getpid() % 20000;
    snprintf(tcp1, sizeof(tcp1), "tcp://127.0.0.1:%u", port);
    snprintf(tcp2, sizeof(tcp2), "tcp://127.0.0.1:%u", port + 1);
    int rc = demo_inproc();
    rc |= demo_tcp(tcp1);
    rc |= demo_stock(tcp2);
    return rc;
}
