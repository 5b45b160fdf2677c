/*
    femtomsg: test_headers.c -- checks nn_symbol(), nn_symbol_info(),
    nn_errno() and nn_strerror() against the behaviour of nanomsg 1.1.
    Prints one line per failure; exit status 0 means everything passed.
*/

#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/survey.h>
#include <nanomsg/bus.h>
#include <nanomsg/inproc.h>
#include <nanomsg/ipc.h>
#include <nanomsg/tcp.h>
#include <nanomsg/ws.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static int failures;

#define CHECK(cond) do { \
        if (!(cond)) { \
            printf ("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            failures++; \
        } \
    } while (0)

/*  The table as the stock library reports it, in order:
    name, value, namespace, type, unit.  */
struct expected {
    const char *name;
    int value;
    int ns;
    int type;
    int unit;
};

static const struct expected want [] = {
    { "NN_NS_NAMESPACE", NN_NS_NAMESPACE, 0, 0, 0 },
    { "NN_NS_VERSION", NN_NS_VERSION, 0, 0, 0 },
    { "NN_NS_DOMAIN", NN_NS_DOMAIN, 0, 0, 0 },
    { "NN_NS_TRANSPORT", NN_NS_TRANSPORT, 0, 0, 0 },
    { "NN_NS_PROTOCOL", NN_NS_PROTOCOL, 0, 0, 0 },
    { "NN_NS_OPTION_LEVEL", NN_NS_OPTION_LEVEL, 0, 0, 0 },
    { "NN_NS_SOCKET_OPTION", NN_NS_SOCKET_OPTION, 0, 0, 0 },
    { "NN_NS_TRANSPORT_OPTION", NN_NS_TRANSPORT_OPTION, 0, 0, 0 },
    { "NN_NS_OPTION_TYPE", NN_NS_OPTION_TYPE, 0, 0, 0 },
    { "NN_NS_OPTION_UNIT", NN_NS_OPTION_UNIT, 0, 0, 0 },
    { "NN_NS_FLAG", NN_NS_FLAG, 0, 0, 0 },
    { "NN_NS_ERROR", NN_NS_ERROR, 0, 0, 0 },
    { "NN_NS_LIMIT", NN_NS_LIMIT, 0, 0, 0 },
    { "NN_NS_EVENT", NN_NS_EVENT, 0, 0, 0 },
    { "NN_NS_STATISTIC", NN_NS_STATISTIC, 0, 0, 0 },
    { "NN_TYPE_NONE", NN_TYPE_NONE, 8, 0, 0 },
    { "NN_TYPE_INT", NN_TYPE_INT, 8, 0, 0 },
    { "NN_TYPE_STR", NN_TYPE_STR, 8, 0, 0 },
    { "NN_UNIT_NONE", NN_UNIT_NONE, 9, 0, 0 },
    { "NN_UNIT_BYTES", NN_UNIT_BYTES, 9, 0, 0 },
    { "NN_UNIT_MILLISECONDS", NN_UNIT_MILLISECONDS, 9, 0, 0 },
    { "NN_UNIT_PRIORITY", NN_UNIT_PRIORITY, 9, 0, 0 },
    { "NN_UNIT_BOOLEAN", NN_UNIT_BOOLEAN, 9, 0, 0 },
    { "NN_UNIT_COUNTER", NN_UNIT_COUNTER, 9, 0, 0 },
    { "NN_UNIT_MESSAGES", NN_UNIT_MESSAGES, 9, 0, 0 },
    { "NN_VERSION_CURRENT", NN_VERSION_CURRENT, 1, 0, 0 },
    { "NN_VERSION_REVISION", NN_VERSION_REVISION, 1, 0, 0 },
    { "NN_VERSION_AGE", NN_VERSION_AGE, 1, 0, 0 },
    { "AF_SP", AF_SP, 2, 0, 0 },
    { "AF_SP_RAW", AF_SP_RAW, 2, 0, 0 },
    { "NN_INPROC", NN_INPROC, 3, 0, 0 },
    { "NN_IPC", NN_IPC, 3, 0, 0 },
    { "NN_TCP", NN_TCP, 3, 0, 0 },
    { "NN_WS", NN_WS, 3, 0, 0 },
    { "NN_PAIR", NN_PAIR, 4, 0, 0 },
    { "NN_PUB", NN_PUB, 4, 0, 0 },
    { "NN_SUB", NN_SUB, 4, 0, 0 },
    { "NN_REP", NN_REP, 4, 0, 0 },
    { "NN_REQ", NN_REQ, 4, 0, 0 },
    { "NN_PUSH", NN_PUSH, 4, 0, 0 },
    { "NN_PULL", NN_PULL, 4, 0, 0 },
    { "NN_SURVEYOR", NN_SURVEYOR, 4, 0, 0 },
    { "NN_RESPONDENT", NN_RESPONDENT, 4, 0, 0 },
    { "NN_BUS", NN_BUS, 4, 0, 0 },
    { "NN_SOCKADDR_MAX", NN_SOCKADDR_MAX, 12, 0, 0 },
    { "NN_SOL_SOCKET", NN_SOL_SOCKET, 5, 0, 0 },
    { "NN_LINGER", NN_LINGER, 6, 1, 2 },
    { "NN_SNDBUF", NN_SNDBUF, 6, 1, 1 },
    { "NN_RCVBUF", NN_RCVBUF, 6, 1, 1 },
    { "NN_RCVMAXSIZE", NN_RCVMAXSIZE, 6, 1, 1 },
    { "NN_SNDTIMEO", NN_SNDTIMEO, 6, 1, 2 },
    { "NN_RCVTIMEO", NN_RCVTIMEO, 6, 1, 2 },
    { "NN_RECONNECT_IVL", NN_RECONNECT_IVL, 6, 1, 2 },
    { "NN_RECONNECT_IVL_MAX", NN_RECONNECT_IVL_MAX, 6, 1, 2 },
    { "NN_SNDPRIO", NN_SNDPRIO, 6, 1, 3 },
    { "NN_RCVPRIO", NN_RCVPRIO, 6, 1, 3 },
    { "NN_SNDFD", NN_SNDFD, 6, 1, 0 },
    { "NN_RCVFD", NN_RCVFD, 6, 1, 0 },
    { "NN_DOMAIN", NN_DOMAIN, 6, 1, 0 },
    { "NN_PROTOCOL", NN_PROTOCOL, 6, 1, 0 },
    { "NN_IPV4ONLY", NN_IPV4ONLY, 6, 1, 4 },
    { "NN_SOCKET_NAME", NN_SOCKET_NAME, 6, 2, 0 },
    { "NN_MAXTTL", NN_MAXTTL, 6, 1, 0 },
    { "NN_SUB_SUBSCRIBE", NN_SUB_SUBSCRIBE, 7, 2, 0 },
    { "NN_SUB_UNSUBSCRIBE", NN_SUB_UNSUBSCRIBE, 7, 2, 0 },
    { "NN_REQ_RESEND_IVL", NN_REQ_RESEND_IVL, 7, 1, 2 },
    { "NN_SURVEYOR_DEADLINE", NN_SURVEYOR_DEADLINE, 7, 1, 2 },
    { "NN_TCP_NODELAY", NN_TCP_NODELAY, 7, 1, 4 },
    { "NN_WS_MSG_TYPE", NN_WS_MSG_TYPE, 7, 1, 0 },
    { "NN_DONTWAIT", NN_DONTWAIT, 10, 0, 0 },
    { "NN_WS_MSG_TYPE_TEXT", NN_WS_MSG_TYPE_TEXT, 10, 0, 0 },
    { "NN_WS_MSG_TYPE_BINARY", NN_WS_MSG_TYPE_BINARY, 10, 0, 0 },
    { "NN_POLLIN", NN_POLLIN, 13, 0, 0 },
    { "NN_POLLOUT", NN_POLLOUT, 13, 0, 0 },
    { "EADDRINUSE", EADDRINUSE, 11, 0, 0 },
    { "EADDRNOTAVAIL", EADDRNOTAVAIL, 11, 0, 0 },
    { "EAFNOSUPPORT", EAFNOSUPPORT, 11, 0, 0 },
    { "EAGAIN", EAGAIN, 11, 0, 0 },
    { "EBADF", EBADF, 11, 0, 0 },
    { "ECONNREFUSED", ECONNREFUSED, 11, 0, 0 },
    { "EFAULT", EFAULT, 11, 0, 0 },
    { "EFSM", EFSM, 11, 0, 0 },
    { "EINPROGRESS", EINPROGRESS, 11, 0, 0 },
    { "EINTR", EINTR, 11, 0, 0 },
    { "EINVAL", EINVAL, 11, 0, 0 },
    { "EMFILE", EMFILE, 11, 0, 0 },
    { "ENAMETOOLONG", ENAMETOOLONG, 11, 0, 0 },
    { "ENETDOWN", ENETDOWN, 11, 0, 0 },
    { "ENOBUFS", ENOBUFS, 11, 0, 0 },
    { "ENODEV", ENODEV, 11, 0, 0 },
    { "ENOMEM", ENOMEM, 11, 0, 0 },
    { "ENOPROTOOPT", ENOPROTOOPT, 11, 0, 0 },
    { "ENOTSOCK", ENOTSOCK, 11, 0, 0 },
    { "ENOTSUP", ENOTSUP, 11, 0, 0 },
    { "EPROTO", EPROTO, 11, 0, 0 },
    { "EPROTONOSUPPORT", EPROTONOSUPPORT, 11, 0, 0 },
    { "ETERM", ETERM, 11, 0, 0 },
    { "ETIMEDOUT", ETIMEDOUT, 11, 0, 0 },
    { "EACCES", EACCES, 11, 0, 0 },
    { "ECONNABORTED", ECONNABORTED, 11, 0, 0 },
    { "ECONNRESET", ECONNRESET, 11, 0, 0 },
    { "EHOSTUNREACH", EHOSTUNREACH, 11, 0, 0 },
    { "EMSGSIZE", EMSGSIZE, 11, 0, 0 },
    { "ENETRESET", ENETRESET, 11, 0, 0 },
    { "ENETUNREACH", ENETUNREACH, 11, 0, 0 },
    { "ENOTCONN", ENOTCONN, 11, 0, 0 },
    { "NN_STAT_ESTABLISHED_CONNECTIONS", NN_STAT_ESTABLISHED_CONNECTIONS, 14, 1, 6 },
    { "NN_STAT_ACCEPTED_CONNECTIONS", NN_STAT_ACCEPTED_CONNECTIONS, 14, 1, 6 },
    { "NN_STAT_DROPPED_CONNECTIONS", NN_STAT_DROPPED_CONNECTIONS, 14, 1, 6 },
    { "NN_STAT_BROKEN_CONNECTIONS", NN_STAT_BROKEN_CONNECTIONS, 14, 1, 6 },
    { "NN_STAT_CONNECT_ERRORS", NN_STAT_CONNECT_ERRORS, 14, 1, 6 },
    { "NN_STAT_BIND_ERRORS", NN_STAT_BIND_ERRORS, 14, 1, 6 },
    { "NN_STAT_ACCEPT_ERRORS", NN_STAT_ACCEPT_ERRORS, 14, 1, 6 },
    { "NN_STAT_MESSAGES_SENT", NN_STAT_MESSAGES_SENT, 14, 1, 5 },
    { "NN_STAT_MESSAGES_RECEIVED", NN_STAT_MESSAGES_RECEIVED, 14, 1, 5 },
    { "NN_STAT_BYTES_SENT", NN_STAT_BYTES_SENT, 14, 1, 1 },
    { "NN_STAT_BYTES_RECEIVED", NN_STAT_BYTES_RECEIVED, 14, 1, 1 },
    { "NN_STAT_CURRENT_CONNECTIONS", NN_STAT_CURRENT_CONNECTIONS, 14, 1, 0 },
    { "NN_STAT_INPROGRESS_CONNECTIONS", NN_STAT_INPROGRESS_CONNECTIONS, 14, 1, 0 },
    { "NN_STAT_CURRENT_SND_PRIORITY", NN_STAT_CURRENT_SND_PRIORITY, 14, 1, 3 },
    { "NN_STAT_CURRENT_EP_ERRORS", NN_STAT_CURRENT_EP_ERRORS, 14, 1, 0 },
};

#define WANT_LEN ((int) (sizeof (want) / sizeof (want [0])))

/*  Fill pattern used to see which bytes a call wrote.  */
#define POISON 0xA5

static void test_table (void)
{
    struct nn_symbol_properties p;
    const char *name;
    int i;
    int j;
    int r;
    int v;
    int count;

    /*  Walk the whole table with a full-sized buffer.  */
    for (i = 0; ; i++) {
        memset (&p, 0, sizeof (p));
        r = nn_symbol_info (i, &p, (int) sizeof (p));
        if (r == 0)
            break;
        CHECK (r == (int) sizeof (p));
        if (i >= WANT_LEN) {
            printf ("FAIL: unexpected extra entry %d (%s)\n", i,
                p.name ? p.name : "(null)");
            failures++;
            continue;
        }
        if (!p.name || strcmp (p.name, want [i].name) != 0) {
            printf ("FAIL: entry %d is %s, expected %s\n", i,
                p.name ? p.name : "(null)", want [i].name);
            failures++;
            continue;
        }
        if (p.value != want [i].value || p.ns != want [i].ns ||
              p.type != want [i].type || p.unit != want [i].unit) {
            printf ("FAIL: entry %d (%s) is {%d,%d,%d,%d}, "
                "expected {%d,%d,%d,%d}\n", i, p.name,
                p.value, p.ns, p.type, p.unit, want [i].value,
                want [i].ns, want [i].type, want [i].unit);
            failures++;
        }

        /*  nn_symbol agrees with nn_symbol_info, with or without value.  */
        v = -12345;
        errno = 0;
        name = nn_symbol (i, &v);
        CHECK (name != NULL);
        CHECK (name && strcmp (name, p.name) == 0);
        CHECK (v == p.value);
        CHECK (errno == 0);
        CHECK (nn_symbol (i, NULL) == name);

        /*  Names are unique.  */
        for (j = 0; j < i && j < WANT_LEN; j++)
            if (strcmp (want [j].name, p.name) == 0) {
                printf ("FAIL: duplicate name %s\n", p.name);
                failures++;
            }
    }
    count = i;
    if (count != WANT_LEN) {
        printf ("FAIL: table has %d entries, expected %d\n", count,
            WANT_LEN);
        failures++;
    }

    /*  Past either end: nn_symbol gives NULL/EINVAL and leaves *value;
        nn_symbol_info gives 0 and leaves the buffer alone.  */
    {
        const int bad [] = { count, count + 1, 1000, INT_MAX, -1, -2,
            INT_MIN };
        size_t k;
        unsigned char raw [sizeof (struct nn_symbol_properties)];
        unsigned char ref [sizeof (raw)];

        memset (ref, POISON, sizeof (ref));
        for (k = 0; k < sizeof (bad) / sizeof (bad [0]); k++) {
            v = 777;
            errno = 0;
            CHECK (nn_symbol (bad [k], &v) == NULL);
            CHECK (errno == EINVAL);
            CHECK (v == 777);
            errno = 0;
            CHECK (nn_symbol (bad [k], NULL) == NULL);
            CHECK (errno == EINVAL);

            memset (raw, POISON, sizeof (raw));
            CHECK (nn_symbol_info (bad [k], (struct nn_symbol_properties *)
                (void *) raw, (int) sizeof (raw)) == 0);
            CHECK (memcmp (raw, ref, sizeof (raw)) == 0);
            CHECK (nn_symbol_info (bad [k], NULL, (int) sizeof (raw)) == 0);
        }
    }
}

static void test_truncation (void)
{
    unsigned char full [sizeof (struct nn_symbol_properties)];
    unsigned char part [sizeof (full) + 16];
    const int idx [] = { 0, 46, 61, 120 };
    size_t k;
    int len;
    int r;
    int b;

    for (k = 0; k < sizeof (idx) / sizeof (idx [0]); k++) {
        CHECK (nn_symbol_info (idx [k], (struct nn_symbol_properties *)
            (void *) full, (int) sizeof (full)) == (int) sizeof (full));

        /*  Buffer lengths from 0 up to beyond the struct size.  */
        for (len = 0; len <= (int) sizeof (part); len++) {
            memset (part, POISON, sizeof (part));
            r = nn_symbol_info (idx [k], (struct nn_symbol_properties *)
                (void *) part, len);
            if (len < (int) sizeof (full))
                CHECK (r == len);
            else
                CHECK (r == (int) sizeof (full));
            /*  Exactly r bytes written, and they are the entry's bytes.  */
            CHECK (r < 0 || memcmp (part, full, (size_t) r) == 0);
            for (b = r < 0 ? 0 : r; b < (int) sizeof (part); b++)
                if (part [b] != POISON) {
                    printf ("FAIL: entry %d buflen %d wrote byte %d\n",
                        idx [k], len, b);
                    failures++;
                    break;
                }
        }

        /*  A zero length never touches the buffer, so NULL is fine.  */
        CHECK (nn_symbol_info (idx [k], NULL, 0) == 0);

        /*  Negative lengths: stock nanomsg crashes here (the length reaches
            memcpy); we copy nothing.  Build with -DTEST_AGAINST_STOCK to
            run this test against the stock library.  */
#ifndef TEST_AGAINST_STOCK
        memset (part, POISON, sizeof (part));
        CHECK (nn_symbol_info (idx [k], (struct nn_symbol_properties *)
            (void *) part, -1) == 0);
        CHECK (nn_symbol_info (idx [k], (struct nn_symbol_properties *)
            (void *) part, INT_MIN) == 0);
        CHECK (part [0] == POISON);
#endif
    }
}

/*  Compare nn_strerror(e) with the C library's text for e.  */
static void same_as_libc (int e)
{
    char libc [256];
    const char *ours;

    snprintf (libc, sizeof (libc), "%s", strerror (e));
    ours = nn_strerror (e);
    if (!ours || strcmp (ours, libc) != 0) {
        printf ("FAIL: nn_strerror(%d) = \"%s\", strerror gives \"%s\"\n",
            e, ours ? ours : "(null)", libc);
        failures++;
    }
}

static void test_errors (void)
{
    const int sys [] = { ENOTSUP, EPROTONOSUPPORT, ENOBUFS, ENETDOWN,
        EADDRINUSE, EADDRNOTAVAIL, ECONNREFUSED, EINPROGRESS, ENOTSOCK,
        EAFNOSUPPORT, EPROTO, EAGAIN, EBADF, EINVAL, EMFILE, EFAULT, EACCES,
        ENETRESET, ENETUNREACH, EHOSTUNREACH, ENOTCONN, EMSGSIZE, ETIMEDOUT,
        ECONNABORTED, ECONNRESET, ENOPROTOOPT, EISCONN, ESOCKTNOSUPPORT,
        EINTR, ENOMEM, ENODEV, ENAMETOOLONG, 0 };
    const int unknown [] = { -1, -5, 9999, NN_HAUSNUMERO,
        NN_HAUSNUMERO + 52, NN_HAUSNUMERO + 55, NN_HAUSNUMERO + 100,
        INT_MAX, INT_MIN };
    size_t k;
    const char *s;

    s = nn_strerror (ETERM);
    CHECK (s && strcmp (s, "Nanomsg library was terminated") == 0);
    s = nn_strerror (EFSM);
    CHECK (s && strcmp (s, "Operation cannot be performed in this state")
        == 0);
    CHECK (ETERM == NN_HAUSNUMERO + 53);
    CHECK (EFSM == NN_HAUSNUMERO + 54);

    s = nn_strerror (EINVAL);
    CHECK (s && strcmp (s, "Invalid argument") == 0);

    /*  Codes the platform defines: the platform's wording.  Numbers nobody
        defines: whatever strerror says ("Unknown error N" on glibc).  */
    for (k = 0; k < sizeof (sys) / sizeof (sys [0]); k++)
        if (sys [k] < NN_HAUSNUMERO)
            same_as_libc (sys [k]);
    for (k = 0; k < sizeof (unknown) / sizeof (unknown [0]); k++)
        same_as_libc (unknown [k]);

    /*  nn_errno mirrors errno.  */
    errno = EAGAIN;
    CHECK (nn_errno () == EAGAIN);
    errno = ETERM;
    CHECK (nn_errno () == ETERM);
    errno = 0;
    CHECK (nn_errno () == 0);
}

int main (void)
{
    test_table ();
    test_truncation ();
    test_errors ();
    if (failures) {
        printf ("test_headers: %d failure(s)\n", failures);
        return 1;
    }
    printf ("test_headers: OK\n");
    return 0;
}
