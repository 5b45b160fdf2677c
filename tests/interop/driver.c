/* driver.c: runs one interoperability test over tcp, ipc, wss or tls+tcp
   between a femtomsg peer and another library's (tests/interop/peer.c
   built for each), in separate processes through harness.c. This file
   owns the addresses, the certificates and the list of protocols.

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
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void make_addr(void *arg, const struct ih_attempt *at, char *addr, size_t size)
{
    const char *tp = arg;
    if (!strcmp(tp, "ipc"))
        snprintf(addr, size, "ipc:///tmp/fm-interop-%d-%s-%d-%d-%d.ipc", (int) getpid(),
                 at->proto, at->fm_role, at->fm_binds, at->attempt);
    else
        snprintf(addr, size, "%s://127.0.0.1:%u%s", tp, at->port,
                 strncmp(tp, "ws", 2) ? "" : "/interop");
}

static void after_run(void *arg, const char *addr)
{
    (void) arg;
    if (!strncmp(addr, "ipc://", 6))
        unlink(addr + 6); /* not every library removes it */
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: %s fm-peer other-peer tcp|ipc|wss|tls+tcp protocol[,protocol...] "
                        "[tls_certs.sh]\n", argv[0]);
        return 2;
    }
    char *tp = argv[3];
    struct ih_plan plan = {
        .fm_peer = argv[1],
        .other_peer = argv[2],
        .label = tp,
        .make_addr = make_addr,
        .after_run = after_run,
        .arg = tp,
        .port = ih_first_port(37),
    };
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
        plan.certdir = dir;
    }
    char protos[256];
    snprintf(protos, sizeof(protos), "%s", argv[4]);
    char *save = NULL;
    for (char *proto = strtok_r(protos, ",", &save); proto; proto = strtok_r(NULL, ",", &save))
        ih_run_protocol(&plan, proto);
    if (plan.certdir) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return ih_exit_code(&plan);
}
