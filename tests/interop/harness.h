/* harness.h: what an interoperability driver (tests/interop/driver.c,
   tests/interop_ws/driver.c) shares: the runs of one protocol between a
   femtomsg peer program and another library's, each in its own process.
   harness.c owns the process plumbing: starting the binder, then the
   connector, with pipes on their stdin and stdout, relaying the control
   lines each prints to the other, the deadlines, reaping, a new address
   when one is in use, the result lines and the exit code (0 pass, 1 fail,
   77 skip). A driver owns its addresses and its list of runs. Neither
   links a messaging library. */
#ifndef FM_INTEROP_HARNESS_H
#define FM_INTEROP_HARNESS_H

#include <stddef.h>

/* A peer's exit code, and a run's result: the peer programs use the same
   values (tests/interop/peer.c, tests/interop_ws/textpeer.c). */
enum {
    IH_PASS = 0,
    IH_FAIL = 1,
    IH_SKIP = 77,        /* a side lacks the protocol, transport or TLS */
    IH_ADDR_IN_USE = 98, /* the binder's address was taken: try another */
};

/* One attempt at one run, for the driver to make its address from. */
struct ih_attempt {
    const char *proto; /* the peers' first argument */
    int fm_role;       /* the role femtomsg's peer plays, 0 or 1 */
    int fm_binds;      /* femtomsg's peer binds (1) or connects (0) */
    int attempt;       /* 0, then one more per address found in use */
    unsigned port;     /* a port no earlier attempt was given */
};

struct ih_plan {
    const char *fm_peer;    /* femtomsg's peer program */
    const char *other_peer; /* the other library's */
    const char *certdir;    /* the peers' last argument; NULL: none */
    const char *label;      /* begins each result line, e.g. "tcp" */
    int show_addr;          /* the result line names the address too */
    /* Writes the address of an attempt into addr (size bytes). */
    void (*make_addr)(void *arg, const struct ih_attempt *at, char *addr, size_t size);
    /* Called after each attempt with its address; may be NULL. */
    void (*after_run)(void *arg, const char *addr);
    void *arg; /* the driver's, for make_addr and after_run */
    unsigned port; /* the next port to hand out: ih_first_port's, then on */
    int failures;  /* runs that failed so far */
    int skipped;   /* runs a side skipped so far */
};

/* A port to start from, spread by the process id (times stride: drivers
   that start together use different strides). */
unsigned ih_first_port(unsigned stride);

/* The runs of one protocol: femtomsg's peer in role 0 and in role 1, each
   binding and connecting; "linger" only in role 0 (femtomsg sending: the
   other libraries do not flush at close). Prints one result line per run
   and counts failures and skips in plan. */
void ih_run_protocol(struct ih_plan *plan, const char *proto);

/* The driver's exit code after its runs: 1 if any failed, else 77 if any
   was skipped, else 0. */
int ih_exit_code(const struct ih_plan *plan);

#endif
