/* textpeer.c: one side of a ws:// text-frame run (NN_WS_MSG_TYPE set to
   NN_WS_MSG_TYPE_TEXT), built against each library like
   tests/interop/peer.c and driven by driver.c with the same control lines.

   usage: textpeer text <0|1> <addr> <bind|connect>

   Two PAIR sockets exchange UTF-8 texts: ASCII, two-, three- and four-byte
   characters, and texts long enough that femtomsg splits them into
   several frames (a frame's end may fall inside a character). Role 0
   sends each and waits for it to come back from role 1. Exit 77 when the
   library has no text mode (NNG's compat layer refuses the option). */
#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/ws.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PEER_LIB
#define PEER_LIB "unknown"
#endif

static const char *tag = "textpeer";

static void die(const char *what)
{
    fprintf(stderr, "[%s] %s: %s (errno %d)\n", tag, what, nn_strerror(errno), errno);
    exit(1);
}

static void line_out(const char *s)
{
    char b[64];
    int n = snprintf(b, sizeof(b), "%s\n", s);
    if (write(1, b, (size_t) n) != n)
        die("control write");
}

static void line_wait(const char *want)
{
    char b[256];
    size_t len = 0;
    for (;;) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        if (poll(&p, 1, 30000) <= 0)
            die("waiting for the control line");
        ssize_t n = read(0, b + len, 1);
        if (n <= 0)
            die("control channel closed");
        if (b[len] == '\n') {
            if (len == strlen(want) && memcmp(b, want, len) == 0)
                return;
            len = 0;
        } else if (++len == sizeof(b)) {
            len = 0;
        }
    }
}

/* A text of n bytes repeating a mix of one- to four-byte characters. */
static char *long_text(size_t n)
{
    static const char unit[] = "a\xc3\xa9\xe6\x97\xa5\xf0\x9d\x84\x9e"; /* a é 日 𝄞 */
    char *t = malloc(n + 1);
    if (!t)
        die("malloc");
    size_t i = 0;
    while (i + sizeof(unit) - 1 <= n) {
        memcpy(t + i, unit, sizeof(unit) - 1);
        i += sizeof(unit) - 1;
    }
    while (i < n)
        t[i++] = 'z';
    t[n] = '\0';
    return t;
}

int main(int argc, char **argv)
{
    if (argc != 5 || strcmp(argv[1], "text") != 0) {
        fprintf(stderr, "usage: %s text role addr bind|connect\n", argv[0]);
        return 2;
    }
    int role = atoi(argv[2]);
    static char tagbuf[64];
    snprintf(tagbuf, sizeof(tagbuf), "%s text/%d", PEER_LIB, role);
    tag = tagbuf;

    int s = nn_socket(AF_SP, NN_PAIR);
    if (s < 0)
        die("nn_socket");
    int v = NN_WS_MSG_TYPE_TEXT;
    if (nn_setsockopt(s, NN_WS, NN_WS_MSG_TYPE, &v, sizeof(v)) != 0) {
        if (errno == EINVAL || errno == ENOPROTOOPT || errno == ENOTSUP)
            return 77;
        die("NN_WS_MSG_TYPE");
    }
    int got = 0;
    size_t sz = sizeof(got);
    if (nn_getsockopt(s, NN_WS, NN_WS_MSG_TYPE, &got, &sz) != 0 || got != NN_WS_MSG_TYPE_TEXT)
        die("NN_WS_MSG_TYPE reads back");
    int big = -1, to = 20000, ivl = 20;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, &big, sizeof(big));
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &to, sizeof(to));
    nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &to, sizeof(to));
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, &ivl, sizeof(ivl));
    int rc = strcmp(argv[4], "bind") == 0 ? nn_bind(s, argv[3]) : nn_connect(s, argv[3]);
    if (rc < 0) {
        if (errno == EADDRINUSE)
            return 98;
        die("nn_bind/nn_connect");
    }
    line_out("READY");

    char *texts[] = {"", "plain ascii", "h\xc3\xa9llo w\xc3\xb6rld", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
                     "\xf0\x9d\x84\x9e clef", long_text(70000), long_text((3u << 20) + 5)};
    size_t ntexts = sizeof(texts) / sizeof(texts[0]);
    for (size_t i = 0; i < ntexts; i++) {
        size_t n = strlen(texts[i]);
        for (int step = 0; step < 2; step++) {
            if ((step == 0) == (role == 0)) {
                if (nn_send(s, texts[i], n, 0) != (int) n)
                    die("nn_send");
            } else {
                char *b = NULL;
                int r = nn_recv(s, &b, NN_MSG, 0);
                if (r < 0)
                    die("nn_recv");
                if ((size_t) r != n || memcmp(b, texts[i], n) != 0) {
                    fprintf(stderr, "[%s] text %zu: got %d bytes, want %zu\n", tag, i, r, n);
                    return 1;
                }
                nn_freemsg(b);
            }
        }
    }
    if (role == 0)
        line_out("DONE");
    else
        line_wait("DONE");
    nn_close(s);
    free(texts[5]);
    free(texts[6]);
    return 0;
}
