/* fuzz_addr.c: address strings, the first untrusted text a socket parses.
   Each input makes one socket (and optionally a peer) and feeds it up to
   four lines, each a bind or a connect of whatever the line holds, then
   maybe nn_shutdown of the endpoint (or of a made-up endpoint id), and
   closes everything. tcp://, ipc://, inproc://, ws:// and any other scheme: it
   must never crash, hang or leak, and a failure must be one of the errors
   the API documents.

   Input: byte 0 picks the socket type (bit 7: raw), byte 1 holds flags
   (bit 0: NN_IPV4ONLY off, bit 1: a second socket of the peer type,
   bit 2: shut down made-up ids too), then lines: an op byte (bit 0 connect
   rather than bind, bit 1 nn_shutdown afterwards, bit 2 use the second
   socket) followed by the address. ipc paths are made relative (every '/'
   becomes '_', so the length and thus ENAMETOOLONG stay as they were) and
   the input runs in a scratch directory, so that no input creates or
   removes files anywhere else. Without a private network namespace, a tcp connect is tried
   only for numeric hosts, so that no name goes to a DNS server. */
#include "fuzz_util.h"

#include <arpa/inet.h>
#include <nanomsg/bus.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>

static const int types[] = {NN_PAIR, NN_PUB,      NN_SUB,  NN_REQ,  NN_REP,
                            NN_PUSH, NN_PULL,     NN_SURVEYOR, NN_RESPONDENT, NN_BUS};
static const int peers[] = {NN_PAIR, NN_SUB,      NN_PUB,  NN_REP,  NN_REQ,
                            NN_PULL, NN_PUSH,     NN_RESPONDENT, NN_SURVEYOR, NN_BUS};
#define NTYPES (sizeof(types) / sizeof(types[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fz_isolate("fuzz_addr");
    return 0;
}

/* The error a bind or connect may fail with. */
static bool expected_errno(int e)
{
    switch (e) {
    case EINVAL: case ENAMETOOLONG: case EPROTONOSUPPORT: case ENODEV: case EADDRINUSE:
    case EADDRNOTAVAIL: case EAFNOSUPPORT: case EACCES: case ENOENT: case ENOTDIR:
    case EISDIR: case ELOOP: case EROFS: case EPERM: case ENOMEM: case EMFILE:
        return true;
    default:
        return false;
    }
}

/* Numeric remote host of a tcp connect address ("[local;]host:port"). */
static bool numeric_host(const char *a)
{
    const char *colon = strrchr(a, ':');
    if (!colon)
        return true; /* refused before any lookup */
    const char *semi = memchr(a, ';', (size_t) (colon - a));
    const char *h = semi ? semi + 1 : a;
    char buf[NN_SOCKADDR_MAX + 1];
    size_t n = (size_t) (colon - h);
    if (n >= sizeof(buf))
        return true;
    memcpy(buf, h, n);
    buf[n] = '\0';
    char *lit = buf;
    if (n >= 2 && buf[0] == '[' && buf[n - 1] == ']') {
        buf[n - 1] = '\0';
        lit++;
    }
    char *pct = strchr(lit, '%');
    if (pct)
        *pct = '\0';
    unsigned char tmp[16];
    return inet_pton(AF_INET, lit, tmp) == 1 || inet_pton(AF_INET6, lit, tmp) == 1;
}

static void one_line(int s, uint8_t op, char *addr, bool made_up)
{
    if (strncmp(addr, "ipc://", 6) == 0)
        for (char *p = addr + 6; *p; p++)
            if (*p == '/')
                *p = '_';
    bool connect = op & 1;
    if (!fz_isolated && strncmp(addr, "tcp://", 6) == 0 && connect && !numeric_host(addr + 6))
        return;
    if (!fz_isolated && strncmp(addr, "ws://", 5) == 0) {
        /* host[:port][/path]; a bind resolves a name too */
        char hp[NN_SOCKADDR_MAX + 8];
        snprintf(hp, sizeof(hp), "%.*s", (int) strcspn(addr + 5, "/"), addr + 5);
        const char *colon = strrchr(hp, ':'), *bracket = strrchr(hp, ']');
        if (!colon || (bracket && colon < bracket))
            strcat(hp, ":80");
        if (!numeric_host(hp))
            return;
    }
    int eid = connect ? nn_connect(s, addr) : nn_bind(s, addr);
    if (eid < 0) {
        if (!expected_errno(errno))
            fz_die("%s(\"%s\") failed with unexpected errno %d (%s)",
                   connect ? "nn_connect" : "nn_bind", addr, errno, nn_strerror(errno));
    } else if (op & 2) {
        if (nn_shutdown(s, eid) != 0)
            fz_die("nn_shutdown of a live endpoint %d failed: %s", eid, nn_strerror(errno));
        if (nn_shutdown(s, eid) == 0)
            fz_die("nn_shutdown of endpoint %d worked twice", eid);
    }
    if (made_up) {
        int bogus = (int) op * 7919 - 3;
        if (bogus != eid)
            nn_shutdown(s, bogus); /* any answer, but no crash */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t t = data[0] % NTYPES;
    int domain = (data[0] & 0x80) ? AF_SP_RAW : AF_SP;
    uint8_t flags = data[1];
    int s[2] = {-1, -1};
    s[0] = nn_socket(domain, types[t]);
    if (s[0] < 0)
        fz_die("nn_socket: %s", nn_strerror(errno));
    if (flags & 2) {
        s[1] = nn_socket(domain, peers[t]);
        if (s[1] < 0)
            fz_die("nn_socket: %s", nn_strerror(errno));
    }
    for (int i = 0; i < 2; i++)
        if (s[i] >= 0) {
            if (flags & 1)
                fz_set_int(s[i], NN_SOL_SOCKET, NN_IPV4ONLY, 0);
            fz_set_int(s[i], NN_SOL_SOCKET, NN_LINGER, 0);
        }

    fz_enter();
    size_t pos = 2;
    for (int line = 0; line < 4 && pos < size; line++) {
        uint8_t op = data[pos++];
        size_t end = pos;
        while (end < size && data[end] != '\n')
            end++;
        size_t n = end - pos;
        if (n > 300)
            n = 300;
        char addr[301];
        memcpy(addr, data + pos, n);
        addr[n] = '\0'; /* an embedded NUL cuts it short, as in C */
        int which = (op & 4) && s[1] >= 0 ? 1 : 0;
        one_line(s[which], op, addr, flags & 4);
        pos = end + 1;
    }
    for (int i = 0; i < 2; i++)
        if (s[i] >= 0 && nn_close(s[i]) != 0)
            fz_die("nn_close: %s", nn_strerror(errno));
    fz_leave();
    return 0;
}
