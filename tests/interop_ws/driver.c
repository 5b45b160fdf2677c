/* driver.c: one ws:// interoperability test between a femtomsg peer and
   another library's (tests/interop/peer.c, or textpeer.c, built per
   library), in separate processes through tests/interop/harness.c. This
   file owns the ws addresses.

   usage: driver <femtomsg-peer> <other-peer> <stock|nng|fm> <protocol>

   Four runs: femtomsg in role 0 and in role 1, each binding and
   connecting ("linger": femtomsg sending only). Addresses carry the path
   /interop, except where the stock library binds: it cannot bind a URL
   with a path, and serves every path of its port. Ports derive from the
   pid; one found in use is replaced. A run ends as soon as either side
   fails. Exit 77 (skip) when a side lacks the protocol. */
#define _GNU_SOURCE
#include "harness.h"

#include <stdio.h>
#include <string.h>

static void make_addr(void *arg, const struct ih_attempt *at, char *addr, size_t size)
{
    const char *lib = arg;
    int pathless = !at->fm_binds && !strcmp(lib, "stock");
    snprintf(addr, size, "ws://127.0.0.1:%u%s", at->port, pathless ? "" : "/interop");
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s fm-peer other-peer stock|nng|fm protocol\n", argv[0]);
        return 2;
    }
    char *lib = argv[3], label[64];
    snprintf(label, sizeof(label), "ws %s", lib);
    struct ih_plan plan = {
        .fm_peer = argv[1],
        .other_peer = argv[2],
        .label = label,
        .show_addr = 1,
        .make_addr = make_addr,
        .arg = lib,
        /* Not 37, tests/interop's: the two start side by side. */
        .port = ih_first_port(41),
    };
    ih_run_protocol(&plan, argv[4]);
    return ih_exit_code(&plan);
}
