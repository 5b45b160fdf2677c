/* test_fault_pushpull.c: PUSH/PULL when a puller is lost, over tcp and
   ipc. A PUSH streams numbered, checksummed messages of varied sizes
   (crossing the transports' buffer boundaries) to two puller processes;
   one is SIGKILLed mid-stream, later another closes its socket and exits
   on its own, and each time a new puller takes its place. Every puller
   logs what it received to a file (one write(2) per message, so the log
   survives SIGKILL). What may be lost is only what was on its way to a
   puller that went away; what is asserted:
     - no message arrives twice, none arrives corrupted or truncated;
     - each puller sees its messages in the order they were sent;
     - every message sent after the PUSH had noticed the last loss arrives;
     - the loss is counted, and bounded.
   FM_SOAK=1: more messages and more pullers lost. */
#include "testutil.h"

#include <nanomsg/pipeline.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_PULLERS 64

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

static int64_t stat_of(int s, int which) { return (int64_t) nn_get_statistic(s, which); }

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

static uint32_t checksum(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Message seq: its size follows from seq; <seq><size><checksum><payload>. */
static size_t size_of(uint32_t seq)
{
    static const size_t sizes[] = {12, 13, 100, 4095, 16383, 16384, 16385, 65536, 70000, 300};
    return sizes[seq % 10] + (seq * 7) % 50;
}

static void fill(uint8_t *m, uint32_t seq)
{
    size_t n = size_of(seq);
    uint32_t x = seq * 2654435761u + 7;
    for (size_t i = 12; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        m[i] = (uint8_t) (x >> 24);
    }
    uint32_t sz = (uint32_t) n, c = checksum(m + 12, n - 12);
    memcpy(m, &seq, 4);
    memcpy(m + 4, &sz, 4);
    memcpy(m + 8, &c, 4);
}

/* A log record: the sequence number and whether the message was whole. */
struct rec {
    uint32_t seq;
    uint32_t ok;
};

/* The puller: receive, check, log; with quit_after >= 0, close the socket
   and exit after that many messages. */
static int role_pull(const char *addr, const char *log, int quit_after)
{
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    int s = nn_socket(AF_SP, NN_PULL);
    if (fd < 0 || s < 0 || nn_connect(s, addr) < 0)
        return 2;
    for (int n = 0; quit_after < 0 || n < quit_after; n++) {
        void *m;
        int len = nn_recv(s, &m, NN_MSG, 0);
        if (len < 0)
            return 3;
        struct rec r = {0, 0};
        uint32_t sz = 0, c = 0;
        if (len >= 12) {
            memcpy(&r.seq, m, 4);
            memcpy(&sz, (uint8_t *) m + 4, 4);
            memcpy(&c, (uint8_t *) m + 8, 4);
            r.ok = sz == (uint32_t) len && checksum((uint8_t *) m + 12, (size_t) len - 12) == c;
        }
        nn_freemsg(m);
        if (write(fd, &r, sizeof(r)) != sizeof(r))
            return 4;
    }
    nn_close(s);
    return 0;
}

struct puller {
    pid_t pid;
    char log[100];
    bool gone;
};

static struct puller pullers[MAX_PULLERS];
static int npullers;

static void start_puller(const char *addr, int quit_after)
{
    CHECK(npullers < MAX_PULLERS);
    struct puller *p = &pullers[npullers];
    memset(p, 0, sizeof(*p));
    snprintf(p->log, sizeof(p->log), "/tmp/fm-fault-pushpull-%d-%d.log", (int) getpid(),
             npullers);
    unlink(p->log);
    char q[16];
    snprintf(q, sizeof(q), "%d", quit_after);
    char *argv[] = {"test_fault_pushpull", "--pull", (char *) addr, p->log, q, NULL};
    CHECK(posix_spawn(&p->pid, "/proc/self/exe", NULL, NULL, argv, environ) == 0);
    npullers++;
}

static struct rec *read_log(const struct puller *p, size_t *n)
{
    *n = 0;
    int fd = open(p->log, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct stat st;
    fstat(fd, &st);
    struct rec *r = malloc((size_t) st.st_size + 1);
    ssize_t got = read(fd, r, (size_t) st.st_size);
    close(fd);
    *n = got > 0 ? (size_t) got / sizeof(*r) : 0;
    return r;
}

/* The first live puller that has not been lost yet. */
static struct puller *live(int skip)
{
    for (int i = 0; i < npullers; i++)
        if (!pullers[i].gone && skip-- == 0)
            return &pullers[i];
    return NULL;
}

static int live_count(void)
{
    int n = 0;
    while (live(n))
        n++;
    return n;
}

/* Pullers that quit on their own (status 0) are gone too; each needs a
   replacement. */
static int quits, pending_replacements;
static void reap_quitters(void)
{
    for (int i = 0; i < npullers; i++) {
        int st;
        if (!pullers[i].gone && waitpid(pullers[i].pid, &st, WNOHANG) == pullers[i].pid) {
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fprintf(stderr, "puller %d ended with status %#x\n", i, st);
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
            pullers[i].gone = true;
            quits++;
            pending_replacements++;
        }
    }
}

static void wait_conns(int s, const char *when)
{
    if (!WAIT_FOR((reap_quitters(), stat_of(s, NN_STAT_CURRENT_CONNECTIONS) == live_count()), 20)) {
        fprintf(stderr, "%s: the PUSH counts %lld connections, %d pullers are alive\n", when,
                (long long) stat_of(s, NN_STAT_CURRENT_CONNECTIONS), live_count());
        CHECK(!"connection count");
    }
}

/* A puller is gone: once the PUSH has noticed, everything sent from next
   on must arrive; then a new puller joins (and is connected before the
   stream goes on). */
static void replace(int s, const char *addr, uint32_t *must_from, uint32_t next, int quit_after)
{
    wait_conns(s, "a puller gone");
    *must_from = next;
    start_puller(addr, quit_after);
    wait_conns(s, "its replacement started");
}

static void run(bool ipc)
{
    char addr[NN_SOCKADDR_MAX];
    if (ipc) {
        snprintf(addr, sizeof(addr), "ipc:///tmp/fm-fault-pushpull-%d.ipc", (int) getpid());
        unlink(addr + 6);
    } else {
        snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d", free_port());
    }
    npullers = 0;
    uint32_t total = soak() ? 100000 : 3000;
    int losses = soak() ? 20 : 2;

    int s = nn_socket(AF_SP, NN_PUSH);
    set_int(s, NN_SNDTIMEO, 10000);
    CHECK(nn_bind(s, addr) >= 0);
    start_puller(addr, -1);
    start_puller(addr, -1);
    CHECK(WAIT_FOR(stat_of(s, NN_STAT_CURRENT_CONNECTIONS) == 2, 10));

    uint8_t *m = malloc(70100);
    uint32_t must_from = 0; /* every message from here on must arrive */
    int lost_pullers = 0;
    quits = pending_replacements = 0;
    for (uint32_t seq = 0; seq < total; seq++) {
        if (lost_pullers < losses &&
            seq == total / (uint32_t) (losses + 1) * (uint32_t) (lost_pullers + 1)) {
            /* Kill one puller mid-stream and start another; every other
               replacement quits on its own after 200 messages (nn_close
               and exit), a second kind of loss, handled below. */
            struct puller *p = live(0);
            CHECK(p != NULL);
            if (!p)
                break;
            int st;
            kill(p->pid, SIGKILL);
            CHECK(waitpid(p->pid, &st, 0) == p->pid && WIFSIGNALED(st));
            p->gone = true;
            replace(s, addr, &must_from, seq, lost_pullers % 2 == 0 ? 200 : -1);
            lost_pullers++;
        }
        fill(m, seq);
        int rc = nn_send(s, m, size_of(seq), 0);
        CHECK(rc == (int) size_of(seq));
        if (rc < 0)
            break;
        /* A puller that quit on its own: lost too. */
        reap_quitters();
        while (pending_replacements > 0) {
            pending_replacements--;
            replace(s, addr, &must_from, seq + 1, -1);
        }
    }
    free(m);

    /* Wait until everything that must arrive has. */
    uint8_t *seen = calloc(total, 1);
    size_t received = 0, dups = 0, bad = 0, disorder = 0;
    bool complete = false;
    double end = tu_now() + 15;
    do {
        memset(seen, 0, total);
        received = dups = bad = disorder = 0;
        for (int i = 0; i < npullers; i++) {
            size_t n;
            struct rec *r = read_log(&pullers[i], &n);
            for (size_t k = 0; k < n; k++) {
                if (!r[k].ok || r[k].seq >= total) {
                    bad++;
                    continue;
                }
                if (k > 0 && r[k].seq <= r[k - 1].seq)
                    disorder++;
                if (seen[r[k].seq]++)
                    dups++;
                received++;
            }
            free(r);
        }
        complete = true;
        for (uint32_t q = must_from; q < total; q++)
            complete = complete && seen[q];
        if (!complete)
            tu_pause();
    } while (!complete && tu_now() < end);
    size_t lost = total - (received - dups);
    CHECK(complete);
    CHECK(dups == 0);
    CHECK(bad == 0);
    CHECK(disorder == 0);
    CHECK(lost < total / 2);
    printf("  %s: %u messages; %d pullers killed, %d quit; %zu received, %zu lost in flight, "
           "%zu duplicated, %zu corrupted; all %u sent after the last loss arrived: %s\n",
           ipc ? "ipc" : "tcp", total, lost_pullers, quits, received - dups, lost, dups, bad,
           total - must_from, complete ? "yes" : "NO");
    CHECK(quits >= 1);
    for (int i = 0; i < npullers; i++) {
        if (!pullers[i].gone) {
            kill(pullers[i].pid, SIGKILL);
            waitpid(pullers[i].pid, NULL, 0);
        }
        unlink(pullers[i].log);
    }
    free(seen);
    CHECK(nn_close(s) == 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && argv[1][0] == '-')
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a child never outlives the test */
    if (argc == 5 && strcmp(argv[1], "--pull") == 0)
        return role_pull(argv[2], argv[3], atoi(argv[4]));
    signal(SIGPIPE, SIG_IGN);
    run(false);
    run(true);
    TEST_DONE();
}
