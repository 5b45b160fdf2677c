/* harness.c: the process plumbing of the interoperability drivers
   (harness.h): per run it starts the binder's peer program, waits for its
   READY, starts the connector's, relays every other control line each
   prints to the other's stdin (the binder's lines after its READY wait
   for the connector), and reaps both. A run ends as soon as
   either side fails (the other would wait for it to its own timeouts), or
   at its deadline. Ports stay below the kernel's ephemeral range (32768
   up), where outgoing connections could take ours. */
#define _GNU_SOURCE
#include "harness.h"

#include <assert.h>
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
#define PORT_BASE 20000u
#define PORT_SPAN 12000u
#define MAX_RETRIES 20 /* new addresses after the first was in use */

struct child {
    const char *name; /* "binder" or "connector", for messages */
    pid_t pid;
    int in;  /* its stdin; -1 once closed */
    int out; /* its stdout; -1 once it ended */
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

/* Starts prog with its stdin and stdout on pipes to us. A foreign peer
   (stock or NNG) runs with no sanitizer or loader settings meant for
   femtomsg's. */
static int spawn(struct child *c, const char *name, const char *prog, const char *proto,
                 int role, const char *addr, int bind, int foreign, const char *certdir)
{
    int in[2], out[2];
    if (pipe(in))
        return -1;
    if (pipe(out)) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    char rolebuf[4];
    snprintf(rolebuf, sizeof(rolebuf), "%d", role);
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        return -1;
    }
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
        /* With no certdir the argument list ends before it. */
        execl(prog, prog, proto, rolebuf, addr, bind ? "bind" : "connect", certdir, (char *) NULL);
        perror(prog);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    memset(c, 0, sizeof(*c));
    c->name = name;
    c->pid = pid;
    c->in = in[1];
    c->out = out[0];
    return 0;
}

/* Passes c's complete lines on to peer, except the first equal to want
   (may be NULL): returns 1 when that was seen. With no peer yet (the
   binder before its connector starts) the lines before want are dropped
   and those after it kept for the connector. */
static int pass_lines(struct child *c, struct child *peer, const char *want)
{
    int seen = 0;
    char *nl;
    while ((nl = memchr(c->buf, '\n', c->len))) {
        size_t l = (size_t) (nl - c->buf) + 1;
        if (!seen && want && l - 1 == strlen(want) && memcmp(c->buf, want, l - 1) == 0)
            seen = 1;
        else if (!peer && seen)
            break;
        else if (peer && peer->in >= 0 && write(peer->in, c->buf, l) != (ssize_t) l) {
            close(peer->in);
            peer->in = -1;
        }
        memmove(c->buf, c->buf + l, c->len - l);
        c->len -= l;
    }
    return seen;
}

/* Reads what c printed, then pass_lines. */
static int relay(struct child *c, struct child *peer, const char *want)
{
    assert(c->out >= 0);
    ssize_t n = read(c->out, c->buf + c->len, sizeof(c->buf) - c->len);
    if (n <= 0) {
        close(c->out);
        c->out = -1;
        return 0;
    }
    c->len += (size_t) n;
    return pass_lines(c, peer, want);
}

static void reap(struct child *c, int block)
{
    if (c->reaped)
        return;
    int st;
    if (waitpid(c->pid, &st, block ? 0 : WNOHANG) == c->pid) {
        c->reaped = 1;
        c->status = st;
    }
}

static void stop(struct child *c)
{
    if (!c->reaped) {
        kill(c->pid, SIGKILL);
        reap(c, 1);
    }
}

static void close_pipes(struct child *c)
{
    if (c->in >= 0)
        close(c->in);
    if (c->out >= 0)
        close(c->out);
    c->in = c->out = -1;
}

/* Reaped only. */
static int exit_code(const struct child *c)
{
    assert(c->reaped);
    return WIFEXITED(c->status) ? WEXITSTATUS(c->status) : 128 + WTERMSIG(c->status);
}

static int failed(const struct child *c)
{
    return c->reaped && exit_code(c) != 0;
}

/* One run: IH_PASS, IH_SKIP, IH_ADDR_IN_USE or IH_FAIL. */
static int run(const struct ih_plan *plan, const char *proto, int fm_role, int fm_binds,
               const char *addr)
{
    struct child b, c;
    const char *bprog = fm_binds ? plan->fm_peer : plan->other_peer;
    const char *cprog = fm_binds ? plan->other_peer : plan->fm_peer;
    int brole = fm_binds ? fm_role : !fm_role;
    if (spawn(&b, "binder", bprog, proto, brole, addr, 1, !fm_binds, plan->certdir) != 0) {
        perror("spawn");
        return IH_FAIL;
    }
    double end = now_s() + READY_TIMEOUT_S;
    int ready = 0;
    while (!ready && b.out >= 0 && now_s() < end) {
        struct pollfd p = {.fd = b.out, .events = POLLIN};
        if (poll(&p, 1, 100) > 0)
            ready = relay(&b, NULL, "READY");
    }
    if (!ready) {
        stop(&b);
        close_pipes(&b);
        int code = exit_code(&b);
        if (code == IH_SKIP || code == IH_ADDR_IN_USE)
            return code;
        fprintf(stderr, "binder %s never became ready (exit %d)\n", bprog, code);
        return IH_FAIL;
    }
    if (spawn(&c, "connector", cprog, proto, !brole, addr, 0, fm_binds, plan->certdir) != 0) {
        perror("spawn");
        stop(&b);
        close_pipes(&b);
        return IH_FAIL;
    }
    pass_lines(&b, &c, NULL); /* what the binder said after its READY */
    end = now_s() + RUN_TIMEOUT_S;
    int connector_ready = 0;
    while ((b.out >= 0 || c.out >= 0) && now_s() < end) {
        struct pollfd p[2] = {{.fd = b.out, .events = POLLIN}, {.fd = c.out, .events = POLLIN}};
        if (poll(p, 2, 100) > 0) {
            if (p[0].revents)
                relay(&b, &c, NULL);
            if (p[1].revents && relay(&c, &b, connector_ready ? NULL : "READY"))
                connector_ready = 1;
        }
        /* A side that failed (or lacks the feature) would leave the other
           waiting for it to its own timeouts: end the run now. */
        reap(&b, 0);
        reap(&c, 0);
        if (failed(&b) || failed(&c)) {
            const struct child *first = failed(&b) ? &b : &c;
            fprintf(stderr, "the %s ended first, with exit %d: the other is stopped\n",
                    first->name, exit_code(first));
            stop(&b);
            stop(&c);
            break;
        }
    }
    int ended_early = failed(&b) || failed(&c);
    int timed_out = !ended_early && (b.out >= 0 || c.out >= 0);
    if (timed_out) {
        fprintf(stderr, "run timed out\n");
        stop(&b);
        stop(&c);
    }
    reap(&b, 1);
    reap(&c, 1);
    close_pipes(&b);
    close_pipes(&c);
    int cb = exit_code(&b), cc = exit_code(&c);
    if (cb == IH_SKIP || cc == IH_SKIP)
        return IH_SKIP;
    if (timed_out || cb != 0 || cc != 0) {
        fprintf(stderr, "binder %s exit %d, connector %s exit %d\n", bprog, cb, cprog, cc);
        return IH_FAIL;
    }
    return IH_PASS;
}

unsigned ih_first_port(unsigned stride)
{
    return PORT_BASE + (unsigned) getpid() * stride % PORT_SPAN;
}

/* One run, retried on a fresh address while the binder finds its address
   in use; prints the result line. */
static int run_with_retries(struct ih_plan *plan, const char *proto, int fm_role, int fm_binds)
{
    for (struct ih_attempt at = {proto, fm_role, fm_binds, 0, 0};; at.attempt++) {
        assert(plan->port >= PORT_BASE && plan->port < PORT_BASE + PORT_SPAN);
        char addr[256];
        at.port = plan->port;
        plan->make_addr(plan->arg, &at, addr, sizeof(addr));
        plan->port = PORT_BASE + (plan->port - PORT_BASE + 1) % PORT_SPAN;
        double t0 = now_s();
        int rc = run(plan, proto, fm_role, fm_binds, addr);
        if (plan->after_run)
            plan->after_run(plan->arg, addr);
        if (rc != IH_ADDR_IN_USE || at.attempt >= MAX_RETRIES) {
            printf("%s %s femtomsg role %d %s%s%s%s: %s (%.2f s)\n", plan->label, proto, fm_role,
                   fm_binds ? "binds" : "connects", plan->show_addr ? " (" : "",
                   plan->show_addr ? addr : "", plan->show_addr ? ")" : "",
                   rc == IH_PASS ? "ok" : rc == IH_SKIP ? "skipped" : "FAILED", now_s() - t0);
            fflush(stdout);
            return rc;
        }
    }
}

void ih_run_protocol(struct ih_plan *plan, const char *proto)
{
    /* A write to a peer that died must fail, not kill the driver. */
    signal(SIGPIPE, SIG_IGN);
    int roles = strcmp(proto, "linger") ? 2 : 1;
    for (int fm_role = 0; fm_role < roles; fm_role++)
        for (int fm_binds = 1; fm_binds >= 0; fm_binds--) {
            int rc = run_with_retries(plan, proto, fm_role, fm_binds);
            if (rc == IH_SKIP)
                plan->skipped++;
            else if (rc != IH_PASS)
                plan->failures++;
        }
}

int ih_exit_code(const struct ih_plan *plan)
{
    if (plan->failures)
        return IH_FAIL;
    return plan->skipped ? IH_SKIP : IH_PASS;
}
