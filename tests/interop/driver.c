/* driver.c: runs one interoperability test. It starts two peer programs
   (tests/interop/peer.c built for two libraries), binder first, relays the
   control lines each prints to the other, and checks that both finish the
   script. It links no messaging library itself.

   usage: driver <femtomsg-peer> <other-peer> <tcp|ipc|wss|tls+tcp> <protocol>[,<protocol>...]
                 [<tls_certs.sh>]

   Per protocol, four runs: femtomsg in role 0 and in role 1, each with
   femtomsg binding and with femtomsg connecting ("linger" only femtomsg
   sending: the other libraries do not flush at close). Ports and socket
   paths derive from the pid; a port found in use is replaced by another.
   Given tls_certs.sh (wss, tls+tcp), the driver makes the certificates
   with it in a fresh directory first and hands that to the peers. Every
   address names 127.0.0.1 (NNG's ws serves only requests naming the host
   it was bound to), ws ones with the path /interop. A run ends as soon as
   either side fails. Exit 77 (skip) when a side lacks the protocol or
   transport. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN_TIMEOUT_S 90.0
#define READY_TIMEOUT_S 30.0

static const char *certdir; /* given tls_certs.sh: the certificates it made */

struct child {
    const char *name;
    pid_t pid;
    int in;   /* its stdin */
    int out;  /* its stdout */
    char buf[4096];
    size_t len;
    int status;
    int done;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int spawn(struct child *c, const char *prog, const char *proto, int role,
                 const char *addr, int bind, int foreign)
{
    int in[2], out[2];
    if (pipe(in) || pipe(out))
        return -1;
    char rolebuf[4];
    snprintf(rolebuf, sizeof(rolebuf), "%d", role);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        if (foreign) {
            /* The stock and NNG peers must load their own library. */
            unsetenv("LD_LIBRARY_PATH");
            unsetenv("LD_PRELOAD");
            setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
            /* Under TSan the foreign library runs uninstrumented: what it
               synchronises with atomics looks like races to TSan. Its
               races are not ours to report. */
            setenv("TSAN_OPTIONS", "report_bugs=0", 1);
        }
        execl(prog, prog, proto, rolebuf, addr, bind ? "bind" : "connect", certdir, (char *) NULL);
        perror(prog);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    memset(c, 0, sizeof(*c));
    c->pid = pid;
    c->in = in[1];
    c->out = out[0];
    return 0;
}

/* Read what c printed; forward complete lines to peer (if any). Returns
   1 when a line equal to want was seen (want may be NULL). */
static int pump(struct child *c, struct child *peer, const char *want)
{
    ssize_t n = read(c->out, c->buf + c->len, sizeof(c->buf) - c->len);
    if (n <= 0) {
        close(c->out);
        c->out = -1;
        return 0;
    }
    c->len += (size_t) n;
    int seen = 0;
    char *nl;
    while ((nl = memchr(c->buf, '\n', c->len))) {
        size_t l = (size_t) (nl - c->buf) + 1;
        if (want && l - 1 == strlen(want) && memcmp(c->buf, want, l - 1) == 0)
            seen = 1;
        else if (peer && peer->in >= 0 && write(peer->in, c->buf, l) != (ssize_t) l) {
            close(peer->in);
            peer->in = -1;
        }
        memmove(c->buf, c->buf + l, c->len - l);
        c->len -= l;
    }
    return seen;
}

static void reap(struct child *c, int block)
{
    if (c->done)
        return;
    int st;
    pid_t r = waitpid(c->pid, &st, block ? 0 : WNOHANG);
    if (r == c->pid) {
        c->done = 1;
        c->status = st;
    }
}

static void kill_child(struct child *c)
{
    if (!c->done) {
        kill(c->pid, SIGKILL);
        reap(c, 1);
    }
}

static void finish(struct child *c)
{
    if (c->in >= 0)
        close(c->in);
    if (c->out >= 0)
        close(c->out);
    c->in = c->out = -1;
}

static int exit_code(const struct child *c)
{
    return WIFEXITED(c->status) ? WEXITSTATUS(c->status) : 128 + WTERMSIG(c->status);
}

/* One run; returns 0 ok, 77 skip, 98 address in use, 1 failure. */
static int run(const char *fm, const char *other, const char *proto, int fm_role, int fm_binds,
               const char *addr)
{
    struct child b, c;
    const char *bprog = fm_binds ? fm : other, *cprog = fm_binds ? other : fm;
    int brole = fm_binds ? fm_role : !fm_role, crole = !brole;
    if (spawn(&b, bprog, proto, brole, addr, 1, !fm_binds) != 0)
        return 1;
    b.name = "binder";
    double end = now_s() + READY_TIMEOUT_S;
    int ready = 0;
    while (!ready && b.out >= 0 && now_s() < end) {
        struct pollfd p = {.fd = b.out, .events = POLLIN};
        if (poll(&p, 1, 100) > 0)
            ready = pump(&b, NULL, "READY");
    }
    if (!ready) {
        reap(&b, 0);
        if (!b.done)
            kill_child(&b);
        reap(&b, 1);
        finish(&b);
        int code = exit_code(&b);
        if (code == 77 || code == 98)
            return code;
        fprintf(stderr, "binder %s never became ready (exit %d)\n", bprog, code);
        return 1;
    }
    if (spawn(&c, cprog, proto, crole, addr, 0, fm_binds) != 0) {
        kill_child(&b);
        finish(&b);
        return 1;
    }
    c.name = "connector";
    end = now_s() + RUN_TIMEOUT_S;
    int connector_ready = 0;
    while ((b.out >= 0 || c.out >= 0) && now_s() < end) {
        struct pollfd p[2] = {{.fd = b.out, .events = POLLIN}, {.fd = c.out, .events = POLLIN}};
        if (poll(p, 2, 100) > 0) {
            if (p[0].revents)
                pump(&b, &c, NULL);
            if (p[1].revents && pump(&c, &b, connector_ready ? NULL : "READY"))
                connector_ready = 1;
        }
        /* A side that failed (or lacks the feature) would leave the other
           waiting for it to its own timeouts: end the run now. */
        reap(&b, 0);
        reap(&c, 0);
        if ((b.done && exit_code(&b)) || (c.done && exit_code(&c))) {
            fprintf(stderr, "the %s ended first, with exit %d: the other is stopped\n",
                    b.done && exit_code(&b) ? b.name : c.name,
                    exit_code(b.done && exit_code(&b) ? &b : &c));
            kill_child(&b);
            kill_child(&c);
            break;
        }
    }
    int ended_early = (b.done && exit_code(&b)) || (c.done && exit_code(&c));
    int timed_out = !ended_early && (b.out >= 0 || c.out >= 0);
    if (timed_out) {
        fprintf(stderr, "run timed out\n");
        kill_child(&b);
        kill_child(&c);
    }
    reap(&b, 1);
    reap(&c, 1);
    finish(&b);
    finish(&c);
    int cb = exit_code(&b), cc = exit_code(&c);
    if (cb == 77 || cc == 77)
        return 77;
    if (timed_out || cb != 0 || cc != 0) {
        fprintf(stderr, "binder %s exit %d, connector %s exit %d\n", bprog, cb, cprog, cc);
        return 1;
    }
    return 0;
}

/* The four runs (two for linger) of one protocol; counts what failed and
   what was skipped. */
static void run_protocol(const char *fm, const char *other, const char *tp, const char *proto,
                         unsigned *port, int *failures, int *skipped)
{
    int roles = strcmp(proto, "linger") ? 2 : 1;
    for (int fm_role = 0; fm_role < roles; fm_role++)
        for (int fm_binds = 1; fm_binds >= 0; fm_binds--) {
            char addr[128];
            int rc;
            for (int attempt = 0;; attempt++) {
                if (!strcmp(tp, "ipc"))
                    snprintf(addr, sizeof(addr), "ipc:///tmp/fm-interop-%d-%s-%d-%d-%d.ipc",
                             (int) getpid(), proto, fm_role, fm_binds, attempt);
                else
                    snprintf(addr, sizeof(addr), "%s://127.0.0.1:%u%s", tp, *port,
                             strncmp(tp, "ws", 2) ? "" : "/interop");
                *port = 20000 + (*port - 20000 + 1) % 12000;
                double t0 = now_s();
                rc = run(fm, other, proto, fm_role, fm_binds, addr);
                if (!strncmp(addr, "ipc://", 6))
                    unlink(addr + 6); /* not every library removes it */
                if (rc != 98 || attempt >= 20) {
                    printf("%s %s femtomsg role %d %s: %s (%.2f s)\n", tp, proto, fm_role,
                           fm_binds ? "binds" : "connects",
                           rc == 0 ? "ok" : rc == 77 ? "skipped" : "FAILED", now_s() - t0);
                    fflush(stdout);
                    break;
                }
            }
            if (rc == 77)
                (*skipped)++;
            else if (rc != 0)
                (*failures)++;
        }
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: %s fm-peer other-peer tcp|ipc|wss|tls+tcp protocol[,protocol...] "
                        "[tls_certs.sh]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *fm = argv[1], *other = argv[2], *tp = argv[3];
    char dir[64] = "/tmp/fm-interop-certs-XXXXXX", cmd[1024];
    if (argc == 6) {
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 1;
        }
        snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", argv[5], dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "%s failed\n", cmd);
            return 1;
        }
        certdir = dir;
    }
    int failures = 0, skipped = 0;
    /* Below the kernel's ephemeral range (32768 up), where outgoing
       connections could take our port. */
    unsigned port = 20000 + (unsigned) (getpid() * 37) % 12000;
    char protos[256];
    snprintf(protos, sizeof(protos), "%s", argv[4]);
    char *save = NULL;
    for (char *proto = strtok_r(protos, ",", &save); proto; proto = strtok_r(NULL, ",", &save))
        run_protocol(fm, other, tp, proto, &port, &failures, &skipped);
    if (certdir) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    if (failures)
        return 1;
    return skipped ? 77 : 0;
}
