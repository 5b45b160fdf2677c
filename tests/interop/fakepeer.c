/* fakepeer.c: a stand-in peer program for test_interop_harness: it speaks
   the control lines of tests/interop/peer.c but no messaging library, and
   its first argument picks a script that exercises one path of harness.c.

   usage: fakepeer <script> <0|1> fake:<port>/<attempt> <bind|connect> [<certdir>]

   pass, linger: READY, then role 0 says PING (in the same write) and
   role 1 answers PONG (a READY relayed to the other side, or a PING
   lost, fails the run); no certdir.
   certs: pass, with the certdir /fake/certdir.
   skip: role 1 exits 77 at once; role 0 says READY and waits.
   fail: both say READY; role 1 then exits 3, role 0 waits.
   busy: a binder finds its address in use (98) on attempts 0 and 1.
   busyforever: a binder always finds it in use.
   noready: a binder exits 0 without READY.
   "Waits" is until a line or end of input: exit 1 either way. */
#define _GNU_SOURCE
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void say(const char *line)
{
    printf("%s\n", line);
    fflush(stdout);
}

/* 1 if the next line on stdin is want, 0 otherwise. */
static int expect(const char *want)
{
    char line[256];
    if (!fgets(line, sizeof(line), stdin)) {
        fprintf(stderr, "fakepeer: end of input, wanted %s\n", want);
        return 0;
    }
    line[strcspn(line, "\n")] = '\0';
    if (strcmp(line, want)) {
        fprintf(stderr, "fakepeer: got \"%s\", wanted %s\n", line, want);
        return 0;
    }
    return 1;
}

static int wait_forever(void)
{
    char line[256];
    if (fgets(line, sizeof(line), stdin))
        fprintf(stderr, "fakepeer: unexpected line %s", line);
    return IH_FAIL;
}

int main(int argc, char **argv)
{
    unsigned port;
    int attempt;
    if ((argc != 5 && argc != 6) || sscanf(argv[3], "fake:%u/%d", &port, &attempt) != 2) {
        fprintf(stderr, "fakepeer: bad arguments\n");
        return 2;
    }
    const char *script = argv[1];
    int role = atoi(argv[2]), binds = !strcmp(argv[4], "bind");
    int with_certs = !strcmp(script, "certs");
    if (with_certs ? argc != 6 || strcmp(argv[5], "/fake/certdir") : argc != 5) {
        fprintf(stderr, "fakepeer: wrong certdir argument\n");
        return IH_FAIL;
    }
    if (!strcmp(script, "busyforever") && binds)
        return IH_ADDR_IN_USE;
    if (!strcmp(script, "busy") && binds && attempt < 2)
        return IH_ADDR_IN_USE;
    if (!strcmp(script, "noready") && binds)
        return IH_PASS;
    if (!strcmp(script, "skip")) {
        if (role == 1)
            return IH_SKIP;
        say("READY");
        return wait_forever();
    }
    if (role == 0 && strcmp(script, "fail")) {
        say("READY\nPING");
        return expect("PONG") ? IH_PASS : IH_FAIL;
    }
    say("READY");
    if (!strcmp(script, "fail"))
        return role == 1 ? 3 : wait_forever();
    if (!expect("PING"))
        return IH_FAIL;
    say("PONG");
    return IH_PASS;
}
