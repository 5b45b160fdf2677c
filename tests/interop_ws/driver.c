/* driver.c: one ws:// interoperability test. It runs a femtomsg peer and
   another library's peer (tests/interop/peer.c, or textpeer.c, built per
   library) in separate processes, binder first, relays the control lines
   each prints to the other, and checks that both finish their script. It
   links no messaging library itself.

   usage: driver <femtomsg-peer> <other-peer> <stock|nng|fm> <protocol>

   Four runs: femtomsg in role 0 and in role 1, each binding and
   connecting ("linger": femtomsg sending only). Addresses carry the path
   /interop, except where the stock library binds: it cannot bind a URL
   with a path, and serves every path of its port. Ports derive from the
   pid; one found in use is replaced. Exit 77 (skip) when a side lacks the
   protocol. */
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

struct proc {
    pid_t pid;
    int in, out; /* its stdin and stdout */
    char buf[4096];
    size_t len;
    int status;
    int reaped;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int start(struct proc *p, const char *prog, const char *proto, int role,
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
            /* The other library's peer must load that library. */
            unsetenv("LD_LIBRARY_PATH");
            unsetenv("LD_PRELOAD");
            setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
            /* Under TSan the foreign library runs uninstrumented: what it
               synchronises with atomics looks like races to TSan. Its
               races are not ours to report. */
            setenv("TSAN_OPTIONS", "report_bugs=0", 1);
        }
        execl(prog, prog, proto, rolebuf, addr, bind ? "bind" : "connect", (char *) NULL);
        perror(prog);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    memset(p, 0, sizeof(*p));
    p->pid = pid;
    p->in = in[1];
    p->out = out[0];
    return 0;
}

/* Read what p printed and pass complete lines on to peer, except one equal
   to want (returns 1 when it was seen). */
static int relay(struct proc *p, struct proc *peer, const char *want)
{
    ssize_t n = read(p->out, p->buf + p->len, sizeof(p->buf) - p->len);
    if (n <= 0) {
        close(p->out);
        p->out = -1;
        return 0;
    }
    p->len += (size_t) n;
    int seen = 0;
    char *nl;
    while ((nl = memchr(p->buf, '\n', p->len))) {
        size_t l = (size_t) (nl - p->buf) + 1;
        if (want && l - 1 == strlen(want) && memcmp(p->buf, want, l - 1) == 0)
            seen = 1;
        else if (peer && peer->in >= 0 && write(peer->in, p->buf, l) != (ssize_t) l) {
            close(peer->in);
            peer->in = -1;
        }
        memmove(p->buf, p->buf + l, p->len - l);
        p->len -= l;
    }
    return seen;
}

static void reap(struct proc *p, int block)
{
    if (p->reaped)
        return;
    int st;
    if (waitpid(p->pid, &st, block ? 0 : WNOHANG) == p->pid) {
        p->reaped = 1;
        p->status = st;
    }
}

static void stop(struct proc *p)
{
    if (!p->reaped) {
        kill(p->pid, SIGKILL);
        reap(p, 1);
    }
}

static void close_fds(struct proc *p)
{
    if (p->in >= 0)
        close(p->in);
    if (p->out >= 0)
        close(p->out);
    p->in = p->out = -1;
}

static int code_of(const struct proc *p)
{
    return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : 128 + WTERMSIG(p->status);
}

/* One run: 0 ok, 77 skip, 98 address in use, 1 failure. */
static int run(const char *fm, const char *other, const char *proto, int fm_role, int fm_binds,
               const char *addr)
{
    struct proc b, c;
    const char *bprog = fm_binds ? fm : other, *cprog = fm_binds ? other : fm;
    int brole = fm_binds ? fm_role : !fm_role;
    if (start(&b, bprog, proto, brole, addr, 1, !fm_binds) != 0)
        return 1;
    double end = now_s() + READY_TIMEOUT_S;
    int ready = 0;
    while (!ready && b.out >= 0 && now_s() < end) {
        struct pollfd pf = {.fd = b.out, .events = POLLIN};
        if (poll(&pf, 1, 100) > 0)
            ready = relay(&b, NULL, "READY");
    }
    if (!ready) {
        reap(&b, 0);
        stop(&b);
        close_fds(&b);
        int code = code_of(&b);
        if (code == 77 || code == 98)
            return code;
        fprintf(stderr, "binder %s never became ready (exit %d)\n", bprog, code);
        return 1;
    }
    if (start(&c, cprog, proto, !brole, addr, 0, fm_binds) != 0) {
        stop(&b);
        close_fds(&b);
        return 1;
    }
    end = now_s() + RUN_TIMEOUT_S;
    int c_ready = 0;
    while ((b.out >= 0 || c.out >= 0) && now_s() < end) {
        struct pollfd pf[2] = {{.fd = b.out, .events = POLLIN}, {.fd = c.out, .events = POLLIN}};
        if (poll(pf, 2, 100) > 0) {
            if (pf[0].revents)
                relay(&b, &c, NULL);
            if (pf[1].revents && relay(&c, &b, c_ready ? NULL : "READY"))
                c_ready = 1;
        }
        /* A side that lacks the feature leaves the other waiting. */
        reap(&b, 0);
        reap(&c, 0);
        if ((b.reaped && code_of(&b) == 77) || (c.reaped && code_of(&c) == 77)) {
            stop(&b);
            stop(&c);
            break;
        }
    }
    int skipped = (b.reaped && code_of(&b) == 77) || (c.reaped && code_of(&c) == 77);
    int timed_out = !skipped && (b.out >= 0 || c.out >= 0);
    if (timed_out) {
        fprintf(stderr, "run timed out\n");
        stop(&b);
        stop(&c);
    }
    reap(&b, 1);
    reap(&c, 1);
    close_fds(&b);
    close_fds(&c);
    int cb = code_of(&b), cc = code_of(&c);
    if (cb == 77 || cc == 77)
        return 77;
    if (timed_out || cb || cc) {
        fprintf(stderr, "binder %s exit %d, connector %s exit %d\n", bprog, cb, cprog, cc);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s fm-peer other-peer stock|nng|fm protocol\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *fm = argv[1], *other = argv[2], *lib = argv[3], *proto = argv[4];
    int failures = 0, skipped = 0;
    /* Below the kernel's ephemeral range, where outgoing connections could
       take our port. */
    unsigned port = 20000 + (unsigned) (getpid() * 41) % 12000;
    int roles = strcmp(proto, "linger") ? 2 : 1;
    for (int fm_role = 0; fm_role < roles; fm_role++)
        for (int fm_binds = 1; fm_binds >= 0; fm_binds--) {
            int rc;
            for (int attempt = 0;; attempt++) {
                char addr[128];
                int pathless = !fm_binds && !strcmp(lib, "stock");
                snprintf(addr, sizeof(addr), "ws://127.0.0.1:%u%s", port,
                         pathless ? "" : "/interop");
                port = 20000 + (port - 20000 + 1) % 12000;
                double t0 = now_s();
                rc = run(fm, other, proto, fm_role, fm_binds, addr);
                if (rc != 98 || attempt >= 20) {
                    printf("ws %s %s femtomsg role %d %s (%s): %s (%.2f s)\n", lib, proto, fm_role,
                           fm_binds ? "binds" : "connects", addr,
                           rc == 0 ? "ok" : rc == 77 ? "skipped" : "FAILED", now_s() - t0);
                    break;
                }
            }
            if (rc == 77)
                skipped++;
            else if (rc)
                failures++;
        }
    fflush(stdout);
    if (failures)
        return 1;
    return skipped ? 77 : 0;
}
