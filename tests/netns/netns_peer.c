/* netns_peer.c: the two ends of the network-namespace test, each run in
   its own namespace by netns_test.sh (ip netns exec). The application does
   nothing about faults: it sets its options once and then only sends and
   receives; whatever the link does, recovering is the library's job.
     netns_peer rep <addr>           REP echo server until killed
     netns_peer req <addr> <file>    REQ client: request i, expect "re:" +
                                     request i back; after every good reply
                                     the number of replies so far is
                                     written to <file>; a wrong reply ends
                                     it with exit status 1 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

static void set_int(int s, int level, int opt, int v)
{
    if (nn_setsockopt(s, level, opt, &v, sizeof(v)) != 0) {
        fprintf(stderr, "netns_peer: setsockopt %d: %s\n", opt, nn_strerror(errno));
        exit(2);
    }
}

static int rep_main(const char *addr)
{
    int s = nn_socket(AF_SP, NN_REP);
    if (s < 0 || nn_bind(s, addr) < 0) {
        fprintf(stderr, "netns_peer: bind %s: %s\n", addr, nn_strerror(errno));
        return 2;
    }
    char buf[300];
    memcpy(buf, "re:", 3);
    for (;;) {
        int n = nn_recv(s, buf + 3, sizeof(buf) - 3, 0);
        if (n < 0)
            continue;
        nn_send(s, buf, (size_t) n + 3, 0);
    }
}

static int req_main(const char *addr, const char *file)
{
    int s = nn_socket(AF_SP, NN_REQ);
    if (s < 0)
        return 2;
    set_int(s, NN_REQ, NN_REQ_RESEND_IVL, 300);
    set_int(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, 100);
    set_int(s, NN_SOL_SOCKET, NN_RECONNECT_IVL_MAX, 1000);
    if (nn_connect(s, addr) < 0) {
        fprintf(stderr, "netns_peer: connect %s: %s\n", addr, nn_strerror(errno));
        return 2;
    }
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return 2;
    for (long i = 0;; i++) {
        char req[64], want[80], got[128];
        int n = snprintf(req, sizeof(req), "request-%ld", i);
        snprintf(want, sizeof(want), "re:%s", req);
        if (nn_send(s, req, (size_t) n, 0) != n) {
            fprintf(stderr, "netns_peer: send: %s\n", nn_strerror(errno));
            return 1;
        }
        int m = nn_recv(s, got, sizeof(got), 0); /* no timeout: the REQ resends */
        if (m < 0) {
            fprintf(stderr, "netns_peer: recv: %s\n", nn_strerror(errno));
            return 1;
        }
        if ((size_t) m != strlen(want) || memcmp(got, want, (size_t) m) != 0) {
            fprintf(stderr, "netns_peer: request %ld got '%.*s'\n", i, m, got);
            return 1;
        }
        char line[32];
        int l = snprintf(line, sizeof(line), "%ld\n", i + 1);
        if (pwrite(fd, line, (size_t) l, 0) != l)
            return 2;
    }
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "rep") == 0)
        return rep_main(argv[2]);
    if (argc == 4 && strcmp(argv[1], "req") == 0)
        return req_main(argv[2], argv[3]);
    fprintf(stderr, "usage: netns_peer rep <addr> | req <addr> <file>\n");
    return 2;
}
