/* test_harness.c: test_interop_harness, the checks of harness.c, the
   interoperability drivers' process plumbing, against fakepeer.c: which
   runs it makes, the control lines it relays (READY held back), a skip,
   a failure (ending the run at once), addresses in use (a new port each,
   at most 21 attempts), a binder that never becomes ready, the certdir
   argument, the port range and the exit code. The real peers' own paths
   are the interop_* tests.

   usage: test_harness <fakepeer> */
#include "harness.h"
#include "../testutil.h"

#include <unistd.h>

#define MAX_ATTEMPTS 200

struct record {
    int made;                          /* make_addr calls */
    struct ih_attempt at[MAX_ATTEMPTS]; /* what each was asked */
    int after;                         /* after_run calls */
    int after_mismatch;                /* after_run saw another address */
    char last[64];
};

static void make_addr(void *arg, const struct ih_attempt *at, char *addr, size_t size)
{
    struct record *r = arg;
    if (r->made < MAX_ATTEMPTS)
        r->at[r->made] = *at;
    r->made++;
    snprintf(addr, size, "fake:%u/%d", at->port, at->attempt);
    snprintf(r->last, sizeof(r->last), "%s", addr);
}

static void after_run(void *arg, const char *addr)
{
    struct record *r = arg;
    r->after++;
    if (strcmp(addr, r->last))
        r->after_mismatch++;
}

static const char *fakepeer;

/* Runs one script's protocol on a fresh plan starting at port. */
static struct ih_plan run_script(struct record *r, const char *script, unsigned port,
                                 const char *certdir)
{
    memset(r, 0, sizeof(*r));
    struct ih_plan plan = {
        .fm_peer = fakepeer,
        .other_peer = fakepeer,
        .certdir = certdir,
        .label = "fake",
        .make_addr = make_addr,
        .after_run = after_run,
        .arg = r,
        .port = port,
    };
    ih_run_protocol(&plan, script);
    CHECK(r->after == r->made);
    CHECK(r->after_mismatch == 0);
    return plan;
}

/* Every attempt got the port after the one before (20000 after 31999). */
static int ports_consecutive(const struct record *r, unsigned first)
{
    for (int i = 0; i < r->made && i < MAX_ATTEMPTS; i++)
        if (r->at[i].port != 20000 + (first - 20000 + (unsigned) i) % 12000)
            return 0;
    return 1;
}

/* The four runs of a protocol, once each: role 0 then 1, binding first. */
static void check_four_runs(const struct record *r)
{
    CHECK(r->made == 4);
    for (int i = 0; i < 4 && i < r->made; i++) {
        CHECK(r->at[i].fm_role == i / 2);
        CHECK(r->at[i].fm_binds == !(i % 2));
        CHECK(r->at[i].attempt == 0);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s fakepeer\n", argv[0]);
        return 2;
    }
    fakepeer = argv[1];
    struct record r;

    unsigned first = ih_first_port(37);
    CHECK(first >= 20000 && first < 32000);
    CHECK(first == 20000 + (unsigned) getpid() * 37 % 12000);

    /* Lines relayed both ways, READY held back; the port wraps. */
    struct ih_plan plan = run_script(&r, "pass", 31998, NULL);
    CHECK(plan.failures == 0 && plan.skipped == 0);
    CHECK(ih_exit_code(&plan) == 0);
    check_four_runs(&r);
    CHECK(ports_consecutive(&r, 31998));
    CHECK(plan.port == 20002);
    CHECK(!strcmp(r.at[0].proto, "pass"));

    plan = run_script(&r, "certs", 20000, "/fake/certdir");
    CHECK(plan.failures == 0 && plan.skipped == 0);
    check_four_runs(&r);

    /* linger: femtomsg's role 0 only, binding and connecting. */
    plan = run_script(&r, "linger", 20000, NULL);
    CHECK(plan.failures == 0 && plan.skipped == 0);
    CHECK(r.made == 2);
    CHECK(r.at[0].fm_role == 0 && r.at[0].fm_binds == 1);
    CHECK(r.at[1].fm_role == 0 && r.at[1].fm_binds == 0);

    /* A side's 77, as binder (never ready) or connector, skips the run. */
    plan = run_script(&r, "skip", 20000, NULL);
    CHECK(plan.failures == 0 && plan.skipped == 4);
    CHECK(ih_exit_code(&plan) == 77);
    check_four_runs(&r);

    /* A side that fails ends its run: the other, waiting for a line that
       never comes, is stopped rather than left to the run's 90 s limit
       (four such runs would take six minutes). */
    double t0 = tu_now();
    plan = run_script(&r, "fail", 20000, NULL);
    double took = tu_now() - t0;
    CHECK(plan.failures == 4 && plan.skipped == 0);
    CHECK(ih_exit_code(&plan) == 1);
    CHECK(took < 80.0);
    check_four_runs(&r);
    /* A failure outweighs a skip. */
    plan.skipped = 1;
    CHECK(ih_exit_code(&plan) == 1);

    /* Address in use twice: each run's third attempt, on a third port. */
    plan = run_script(&r, "busy", 20000, NULL);
    CHECK(plan.failures == 0 && plan.skipped == 0);
    CHECK(r.made == 12);
    CHECK(ports_consecutive(&r, 20000));
    for (int i = 0; i < 12 && i < r.made; i++) {
        CHECK(r.at[i].attempt == i % 3);
        CHECK(r.at[i].fm_role == i / 6);
        CHECK(r.at[i].fm_binds == !(i / 3 % 2));
    }

    /* Always in use: 21 attempts, then the run fails. */
    plan = run_script(&r, "busyforever", 20000, NULL);
    CHECK(plan.failures == 4 && plan.skipped == 0);
    CHECK(r.made == 84);
    CHECK(r.made <= MAX_ATTEMPTS && r.at[20].attempt == 20 && r.at[21].attempt == 0);

    /* A binder that ends without READY fails its run. */
    plan = run_script(&r, "noready", 20000, NULL);
    CHECK(plan.failures == 4 && plan.skipped == 0);
    check_four_runs(&r);

    TEST_DONE();
}
