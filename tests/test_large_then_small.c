/* test_large_then_small.c: no message is lost right after a large one. A
   large message leaves the sender's pipe "full" until its tail is written;
   the peer may hold the whole message, answer it and be answered before the
   thread that wrote the tail has said so. A protocol that drops on a full
   pipe (REP, RESPONDENT, SURVEYOR, PUB, BUS) must judge the pipe as it is
   at the send, not by that stale flag. Each round: a large message, its
   receipt confirmed (the test thread drives both sockets, so the receipt is
   known out of band), then small messages and replaced requests that must
   all arrive. CPU-burning processes run alongside to widen the races. Every
   stream transport (tcp, ipc, ws, and tls+tcp and wss when built in). */
#include "testutil.h"

#include <nanomsg/bus.h>
#include <nanomsg/pair.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>
#include <nanomsg/tls.h>

#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Past NN_SNDBUF and past what the kernel takes at once (ipc asks for a
   1 MiB buffer), so the tail is written by the loop thread. */
#define LARGE_RELEASE (3 * 1024 * 1024 + 17)
#define LARGE_SANITIZED (1536 * 1024 + 17)
static int LARGE;

static char *large;
static char tls_dir[256];
static int port_next;

static int next_port(void)
{
    if (!port_next)
        port_next = 20000 + (int) ((unsigned) getpid() * 53u % 12000u);
    int p = port_next++;
    if (port_next >= 32000)
        port_next = 20000;
    return p;
}

static int sock(int type)
{
    int s = nn_socket(AF_SP, type);
    CHECK(s >= 0);
    int tmo = 10000, max = -1;
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo)) == 0);
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &tmo, sizeof(tmo)) == 0);
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max)) == 0);
    const char *scheme = getenv("FM_TEST_SCHEME") ? getenv("FM_TEST_SCHEME") : "";
    if (strcmp(scheme, "tls+tcp") == 0 || strcmp(scheme, "wss") == 0) {
        char path[512];
        snprintf(path, sizeof(path), "%s/server.pem", tls_dir);
        CHECK(nn_setsockopt(s, NN_TLS, NN_TLS_CERT_KEY_FILE, path, strlen(path)) == 0);
        int none = NN_TLS_AUTH_NONE;
        CHECK(nn_setsockopt(s, NN_TLS, NN_TLS_AUTH_MODE, &none, sizeof(none)) == 0);
    }
    return s;
}

/* Bind a to a fresh address of the scheme and connect b to it. */
static void join(int a, int b, const char *scheme)
{
    char addr[NN_SOCKADDR_MAX];
    for (int i = 0; i < 500; i++) {
        if (strcmp(scheme, "ipc") == 0)
            snprintf(addr, sizeof(addr), "ipc:///tmp/fm_lts_%d_%d.ipc", (int) getpid(), next_port());
        else
            snprintf(addr, sizeof(addr), "%s://127.0.0.1:%d%s", scheme, next_port(),
                     strncmp(scheme, "ws", 2) == 0 ? "/lts" : "");
        if (nn_bind(a, addr) >= 0)
            break;
        CHECK(errno == EADDRINUSE);
    }
    CHECK(nn_connect(b, addr) >= 0);
}

static int failures_at_start;

static void expect_large(int s, const char *what, int round)
{
    void *buf = NULL;
    int n;
    while ((n = nn_recv(s, &buf, NN_MSG, 0)) == 4 && memcmp(buf, "sync", 4) == 0)
        nn_freemsg(buf); /* a late copy of the connection check */
    if (n != LARGE || memcmp(buf, large, (size_t) LARGE) != 0) {
        fprintf(stderr, "%s %s round %d: large message: got %d (%s)\n", getenv("FM_TEST_SCHEME"), what, round, n,
                nn_strerror(errno));
        tu_failures++;
    }
    if (n >= 0)
        nn_freemsg(buf);
}

static void expect_small(int s, const char *m, const char *what, int round)
{
    char buf[64];
    int n;
    while ((n = nn_recv(s, buf, sizeof(buf), 0)) == 4 && memcmp(buf, "sync", 4) == 0)
        ; /* a late copy of the connection check */
    if (n != (int) strlen(m) || memcmp(buf, m, (size_t) n) != 0) {
        fprintf(stderr, "%s %s round %d: expected \"%s\", got %d (%s)\n", getenv("FM_TEST_SCHEME"), what, round, m, n,
                nn_strerror(errno));
        tu_failures++;
    }
}

/* Until the pipes are attached a fan-out send reaches nobody: send a check
   until one arrives (later copies are skipped by the receivers). */
static void wait_attached(int a, int b)
{
    int tmo = 50;
    for (int i = 0; i < 200; i++) {
        CHECK(nn_send(a, "sync", 4, NN_DONTWAIT) == 4);
        CHECK(nn_setsockopt(b, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo)) == 0);
        char buf[8];
        int n = nn_recv(b, buf, sizeof(buf), 0);
        if (tmo < 1000)
            tmo *= 2;
        if (n == 4)
            break;
        CHECK(errno == ETIMEDOUT);
    }
    tmo = 10000;
    CHECK(nn_setsockopt(b, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo)) == 0);
}

static void send_small(int s, const char *m) { CHECK(nn_send(s, m, strlen(m), 0) == (int) strlen(m)); }
static void send_large(int s) { CHECK(nn_send(s, large, (size_t) LARGE, 0) == LARGE); }

/* REP answers a request with the large message, then a replaced request:
   the reply to the second must arrive. */
static void run_reqrep(const char *scheme, int rounds)
{
    int rep = sock(NN_REP), req = sock(NN_REQ);
    join(rep, req, scheme);
    for (int r = 0; r < rounds && tu_failures == failures_at_start; r++) {
        send_small(req, "big?");
        expect_small(rep, "big?", "reqrep", r);
        send_large(rep);
        expect_large(req, "reqrep", r);
        send_small(req, "first");
        send_small(req, "second"); /* replaces the first */
        expect_small(rep, "first", "reqrep", r);
        send_small(rep, "to first"); /* REQ drops it: stale */
        expect_small(rep, "second", "reqrep", r);
        send_small(rep, "to second");
        expect_small(req, "to second", "reqrep", r);
    }
    nn_close(req);
    nn_close(rep);
}

/* RESPONDENT answers with the large message; SURVEYOR sends a large survey
   too; then a survey replaced at once by a second, whose answer must come. */
static void run_survey(const char *scheme, int rounds)
{
    int sv = sock(NN_SURVEYOR), rs = sock(NN_RESPONDENT);
    int deadline = 10000;
    CHECK(nn_setsockopt(sv, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &deadline, sizeof(deadline)) == 0);
    join(sv, rs, scheme);
    wait_attached(sv, rs);
    for (int r = 0; r < rounds && tu_failures == failures_at_start; r++) {
        send_large(sv);
        expect_large(rs, "survey", r);
        send_large(rs);
        expect_large(sv, "survey", r);
        send_small(sv, "first");
        send_small(sv, "second"); /* replaces the first */
        expect_small(rs, "first", "survey", r);
        send_small(rs, "to first"); /* SURVEYOR drops it: stale */
        expect_small(rs, "second", "survey", r);
        send_small(rs, "to second");
        expect_small(sv, "to second", "survey", r);
    }
    nn_close(rs);
    nn_close(sv);
}

/* PUB sends the large message, then "bye"; BUS the same. */
static void run_fanout(const char *scheme, int rounds, int type_a, int type_b, const char *what)
{
    int a = sock(type_a), b = sock(type_b);
    if (type_b == NN_SUB)
        CHECK(nn_setsockopt(b, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) == 0);
    join(a, b, scheme);
    wait_attached(a, b);
    for (int r = 0; r < rounds && tu_failures == failures_at_start; r++) {
        send_large(a);
        expect_large(b, what, r);
        send_small(a, "bye");
        expect_small(b, "bye", what, r);
    }
    nn_close(b);
    nn_close(a);
}

/* Processes that only burn CPU, one per core, so the loop threads are
   preempted at any point. */
static pid_t burners[4];

static void burn_start(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1 || n > 4)
        n = n < 1 ? 1 : 4;
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
            if (getppid() == 1)
                _exit(0);
            volatile unsigned long x = 0;
            for (;;)
                x++;
        }
        burners[i] = pid;
    }
}

static void burn_stop(void)
{
    for (int i = 0; i < 4; i++)
        if (burners[i] > 0) {
            kill(burners[i], SIGKILL);
            waitpid(burners[i], NULL, 0);
            burners[i] = 0;
        }
}

static bool make_tls_certs(void)
{
#ifdef FM_TLS_CERTS_SH
    snprintf(tls_dir, sizeof(tls_dir), "/tmp/fm_lts_XXXXXX");
    if (!mkdtemp(tls_dir))
        return false;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", FM_TLS_CERTS_SH, tls_dir);
    return system(cmd) == 0;
#else
    return false;
#endif
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IONBF, 0);
    LARGE = under_sanitizer() ? LARGE_SANITIZED : LARGE_RELEASE;
    large = malloc((size_t) LARGE);
    for (size_t i = 0; i < (size_t) LARGE; i++)
        large[i] = (char) (i * 7 + 3);
    /* Rounds per protocol: thousands per transport in all; sanitizer
       builds run fewer (each round moves several MiB through them, and
       unmasking ws frames byte by byte is slow under TSan). */
    static const struct {
        const char *scheme;
        int rounds, sanitized;
    } runs[] = {{"ipc", 600, 40}, {"tcp", 600, 40}, {"ws", 300, 8}, {"tls+tcp", 300, 20},
                {"wss", 200, 8}};
    bool have_tls = make_tls_certs();
    burn_start();
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        const char *scheme = runs[i].scheme;
        int probe = nn_socket(AF_SP, NN_PAIR);
        bool built = true;
        if (strcmp(scheme, "tls+tcp") == 0 || strcmp(scheme, "wss") == 0) {
            errno = 0;
            built = have_tls && nn_setsockopt(probe, NN_TLS, NN_TLS_AUTH_MODE, &(int){0},
                                              sizeof(int)) == 0;
        }
        nn_close(probe);
        if (!built) {
            printf("%s: not built in, skipped\n", scheme);
            continue;
        }
        setenv("FM_TEST_SCHEME", scheme, 1);
        int n = soak() ? 5000 : under_sanitizer() ? runs[i].sanitized : runs[i].rounds;
        double t0 = tu_now();
        failures_at_start = tu_failures;
        run_reqrep(scheme, n);
        failures_at_start = tu_failures;
        run_survey(scheme, n);
        failures_at_start = tu_failures;
        run_fanout(scheme, n, NN_PUB, NN_SUB, "pubsub");
        failures_at_start = tu_failures;
        run_fanout(scheme, n, NN_BUS, NN_BUS, "bus");
        printf("%s: %d rounds of each protocol in %.1f s\n", scheme, n, tu_now() - t0);
    }
    burn_stop();
    if (tls_dir[0]) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tls_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tls_dir);
    }
    free(large);
    TEST_DONE();
}
