/* test_fault_reqrep.c: REQ/REP end to end while the REP server process is
   killed and restarted during a stream of requests, over tcp and ipc.
   Servers die three ways: SIGKILLed by us right after a request went out
   (it may be on the wire, queued, or being served), SIGKILLed by
   themselves after receiving a request and before replying, or left
   alone. The REQ resends (NN_REQ_RESEND_IVL small) and must, for every
   request, return exactly its own reply: never an error, never the reply
   to another request, never one twice. The restarted server binds the
   same address (tcp port in TIME_WAIT, ipc socket file left behind by the
   dead one) and the REQ reconnects by itself. FM_SOAK=1: many more
   requests and kills. */
#include "testutil.h"

#include <nanomsg/reqrep.h>

#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void set_int(int s, int level, int opt, int v)
{
    CHECK(nn_setsockopt(s, level, opt, &v, sizeof(v)) == 0);
}

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

/* The server: echo "re:" + request; with die_at >= 0, kill itself when
   its die_at-th request (counting from 0) arrives, without replying. */
static int role_rep(const char *addr, int die_at)
{
    int s = nn_socket(AF_SP, NN_REP);
    /* The address may still be held by the previous server for an
       instant (its process is reaped, but this child was spawned at once). */
    int eid = -1;
    for (int i = 0; i < 500 && (eid = nn_bind(s, addr)) < 0 && errno == EADDRINUSE; i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    if (eid < 0)
        return 2;
    char buf[256 + 3];
    memcpy(buf, "re:", 3);
    for (int n = 0;; n++) {
        int len = nn_recv(s, buf + 3, 256, 0);
        if (len < 0)
            return 3;
        if (n == die_at)
            raise(SIGKILL);
        if (nn_send(s, buf, (size_t) len + 3, 0) < 0)
            continue; /* the client went away meanwhile: fine */
    }
}

struct server {
    const char *addr;
    pid_t pid;
    int started, killed, died_alone;
};

static void server_start(struct server *sv, int die_at)
{
    char die[16];
    snprintf(die, sizeof(die), "%d", die_at);
    char *argv[] = {"test_fault_reqrep", "--rep", (char *) sv->addr, die, NULL};
    CHECK(posix_spawn(&sv->pid, "/proc/self/exe", NULL, NULL, argv, environ) == 0);
    sv->started++;
}

static void server_kill(struct server *sv)
{
    if (sv->pid <= 0)
        return;
    kill(sv->pid, SIGKILL);
    int st;
    CHECK(waitpid(sv->pid, &st, 0) == sv->pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    sv->pid = 0;
    sv->killed++;
}

/* The server killed itself (or failed): reap it and start another. */
static void server_check(struct server *sv, unsigned *rng)
{
    int st;
    if (sv->pid > 0 && waitpid(sv->pid, &st, WNOHANG) == sv->pid) {
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        sv->pid = 0;
        sv->died_alone++;
        *rng = *rng * 1103515245u + 12345u;
        server_start(sv, (int) ((*rng >> 16) % 8));
    }
}

static void run(bool ipc)
{
    char addr[NN_SOCKADDR_MAX];
    if (ipc) {
        snprintf(addr, sizeof(addr), "ipc:///tmp/fm-fault-reqrep-%d.ipc", (int) getpid());
        unlink(addr + 6);
    } else {
        snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d", free_port());
    }
    int requests = soak() ? 5000 : under_sanitizer() ? 400 : 1000;
    int kill_every = 20;

    int s = nn_socket(AF_SP, NN_REQ);
    CHECK(s >= 0);
    set_int(s, NN_REQ, NN_REQ_RESEND_IVL, 50);
    set_int(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10);
    set_int(s, NN_SOL_SOCKET, NN_RECONNECT_IVL_MAX, 100);
    set_int(s, NN_SOL_SOCKET, NN_RCVTIMEO, 20); /* then look after the server */
    set_int(s, NN_SOL_SOCKET, NN_SNDTIMEO, 10000);
    CHECK(nn_connect(s, addr) >= 0);

    struct server sv = {.addr = addr};
    unsigned rng = (unsigned) getpid();
    server_start(&sv, -1);
    int exact = 0, wrong = 0, errors = 0;
    double t0 = tu_now();
    for (int i = 0; i < requests; i++) {
        char req[64], want[80], got[128];
        rng = rng * 1103515245u + 12345u;
        snprintf(req, sizeof(req), "request-%d-%u", i, rng >> 8);
        snprintf(want, sizeof(want), "re:%s", req);
        if (nn_send(s, req, strlen(req), 0) != (int) strlen(req)) {
            errors++;
            continue;
        }
        if (i % kill_every == kill_every / 2) {
            /* Kill the server with this request somewhere on its way, and
               start one that may die by itself later. */
            server_kill(&sv);
            server_start(&sv, (i / kill_every) % 3 == 0 ? (int) (rng % 5) : -1);
        }
        double deadline = tu_now() + 20;
        int n;
        for (;;) {
            n = nn_recv(s, got, sizeof(got), 0);
            if (n >= 0 || errno != ETIMEDOUT || tu_now() > deadline)
                break;
            server_check(&sv, &rng); /* the reply will come from its successor */
        }
        if (n < 0) {
            fprintf(stderr, "request %d: nn_recv: %s\n", i, nn_strerror(errno));
            errors++;
        } else if ((size_t) n != strlen(want) || memcmp(got, want, (size_t) n) != 0) {
            fprintf(stderr, "request %d: got '%.*s', wanted '%s'\n", i, n, got, want);
            wrong++;
        } else {
            exact++;
        }
        server_check(&sv, &rng);
    }
    double took = tu_now() - t0;
    int killed = sv.killed;
    server_kill(&sv);
    CHECK(exact == requests);
    CHECK(wrong == 0);
    CHECK(errors == 0);
    CHECK(killed + sv.died_alone >= requests / kill_every);
    /* Late replies for abandoned requests are dropped, not returned: with
       no request pending, nn_recv says EFSM. */
    char one[1];
    CHECK_ERR(nn_recv(s, one, 1, NN_DONTWAIT), EFSM);
    printf("  %s: %d requests, each its own reply; %d servers (%d killed by us, %d died "
           "mid-request); %.1f s\n",
           ipc ? "ipc" : "tcp", requests, sv.started, killed, sv.died_alone, took);
    CHECK(nn_close(s) == 0);
    if (ipc)
        unlink(addr + 6);
}

int main(int argc, char **argv)
{
    if (argc > 1 && argv[1][0] == '-')
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a child never outlives the test */
    if (argc == 4 && strcmp(argv[1], "--rep") == 0)
        return role_rep(argv[2], atoi(argv[3]));
    signal(SIGPIPE, SIG_IGN);
    run(false);
    run(true);
    TEST_DONE();
}
