/* test_api_options.c: nn_setsockopt / nn_getsockopt at NN_SOL_SOCKET, at a
   protocol level and at transport levels: every default, every range, the
   order in which bad arguments are reported (NULL value, wrong length,
   unknown option), partial reads of a value, NN_SOCKET_NAME, options
   that only apply to endpoints created after they are set, every option
   number's row of the socket's option table, and the protocol-level int
   options' length and range checks. The expected
   values are what the stock library does (see conformance/api_probe.c). */
#include "test_api_util.h"

#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>

#include <limits.h>

struct dflt {
    int opt;
    int value;
};

static const struct dflt defaults[] = {
    {NN_LINGER, 0},            {NN_SNDBUF, 131072},   {NN_RCVBUF, 131072},
    {NN_SNDTIMEO, -1},        {NN_RCVTIMEO, -1},     {NN_RECONNECT_IVL, 100},
    {NN_RECONNECT_IVL_MAX, 0}, {NN_SNDPRIO, 8},      {NN_RCVPRIO, 8},
    {NN_IPV4ONLY, 1},         {NN_RCVMAXSIZE, 1048576}, {NN_MAXTTL, 8},
};

static void check_defaults(int dom)
{
    int s = nn_socket(dom, NN_PAIR);
    CHECK(s >= 0);
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        int v = -777;
        size_t l = sizeof(v);
        CHECK(nn_getsockopt(s, NN_SOL_SOCKET, defaults[i].opt, &v, &l) == 0);
        CHECK(l == sizeof(int));
        if (v != defaults[i].value)
            fprintf(stderr, "option %d: default %d, want %d\n", defaults[i].opt, v,
                    defaults[i].value);
        CHECK(v == defaults[i].value);
    }
    CHECK(ta_getint(s, NN_SOL_SOCKET, NN_DOMAIN) == dom);
    CHECK(ta_getint(s, NN_SOL_SOCKET, NN_PROTOCOL) == NN_PAIR);
    CHECK(ta_getint(s, NN_SOL_SOCKET, NN_SNDFD) >= 0);
    CHECK(ta_getint(s, NN_SOL_SOCKET, NN_RCVFD) >= 0);
    CHECK(ta_getint(s, NN_SOL_SOCKET, NN_SNDFD) != ta_getint(s, NN_SOL_SOCKET, NN_RCVFD));
    /* The default name is the socket's number. */
    char name[80], want[16];
    size_t l = sizeof(name);
    CHECK(nn_getsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, name, &l) == 0);
    snprintf(want, sizeof(want), "%d", s);
    CHECK(l == strlen(want) && memcmp(name, want, l) == 0);
    /* Unknown options at every level. */
    int v;
    static const int unknown[] = {-1, 0, 18, 19, 99, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        l = sizeof(v);
        CHECK_ERR(nn_getsockopt(s, NN_SOL_SOCKET, unknown[i], &v, &l), ENOPROTOOPT);
    }
    for (int o = 0; o <= 3; o++) {
        l = sizeof(v);
        CHECK_ERR(nn_getsockopt(s, NN_PAIR, o, &v, &l), ENOPROTOOPT);
    }
    l = sizeof(v);
    CHECK_ERR(nn_getsockopt(s, NN_INPROC, 1, &v, &l), ENOPROTOOPT);
    l = sizeof(v);
    CHECK_ERR(nn_getsockopt(s, -99, 1, &v, &l), ENOPROTOOPT);
    l = sizeof(v);
    CHECK_ERR(nn_getsockopt(s, 12345, 1, &v, &l), ENOPROTOOPT);
    l = sizeof(v);
    CHECK_ERR(nn_getsockopt(s, 3 * 16, 1, &v, &l), ENOPROTOOPT); /* NN_REQ's level */
    nn_close(s);
}

struct range {
    int opt;
    int ok[8];
    int nok;
    int bad[8];
    int nbad;
};

static const struct range ranges[] = {
    {NN_SNDBUF, {1, 4096, INT_MAX}, 3, {INT_MIN, -1, 0}, 3},
    {NN_RCVBUF, {1, 4096, INT_MAX}, 3, {INT_MIN, -1, 0}, 3},
    {NN_SNDTIMEO, {INT_MIN, -2, -1, 0, 1, INT_MAX}, 6, {0}, 0},
    {NN_RCVTIMEO, {INT_MIN, -2, -1, 0, 1, INT_MAX}, 6, {0}, 0},
    {NN_RECONNECT_IVL, {0, 1, INT_MAX}, 3, {-2, -1, INT_MIN}, 3},
    {NN_RECONNECT_IVL_MAX, {0, 1, INT_MAX}, 3, {-2, -1, INT_MIN}, 3},
    {NN_SNDPRIO, {1, 8, 16}, 3, {-1, 0, 17, 100}, 4},
    {NN_RCVPRIO, {1, 8, 16}, 3, {-1, 0, 17, 100}, 4},
    {NN_IPV4ONLY, {0, 1}, 2, {-1, 2}, 2},
    {NN_RCVMAXSIZE, {-1, 0, 1, INT_MAX}, 4, {INT_MIN, -3, -2}, 3},
    {NN_MAXTTL, {1, 2, 8, 255}, 4, {-1, 0, 256, 1000}, 4},
};

static void check_ranges(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        const struct range *r = &ranges[i];
        for (int k = 0; k < r->nok; k++) {
            int v = r->ok[k];
            CHECK(nn_setsockopt(s, NN_SOL_SOCKET, r->opt, &v, sizeof(v)) == 0);
            if (ta_getint(s, NN_SOL_SOCKET, r->opt) != v)
                fprintf(stderr, "option %d: set %d, read %d\n", r->opt, v,
                        ta_getint(s, NN_SOL_SOCKET, r->opt));
            CHECK(ta_getint(s, NN_SOL_SOCKET, r->opt) == v);
        }
        int keep = ta_getint(s, NN_SOL_SOCKET, r->opt);
        for (int k = 0; k < r->nbad; k++) {
            int v = r->bad[k];
            CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, r->opt, &v, sizeof(v)), EINVAL);
            CHECK(ta_getint(s, NN_SOL_SOCKET, r->opt) == keep);
        }
    }
    /* NN_LINGER: any value is taken (and honoured on close, see
       test_tcp/test_ipc), but it reads back 0, as stock's does. */
    static const int lingers[] = {-2, -1, 0, 1, 1000, INT_MAX};
    for (size_t i = 0; i < sizeof(lingers) / sizeof(lingers[0]); i++) {
        int v = lingers[i];
        CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_LINGER, &v, sizeof(v)) == 0);
        CHECK(ta_getint(s, NN_SOL_SOCKET, NN_LINGER) == 0);
    }
    nn_close(s);
}

/* Which error wins when several are wrong, as the stock library orders
   them: a NULL value with a non-zero length is EFAULT before anything;
   at NN_SOL_SOCKET a length other than sizeof(int) is EINVAL before the
   option is looked up; other levels report ENOPROTOOPT. */
static void check_argument_order(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    int one = 1, two[2] = {100, 100};
    CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, NULL, sizeof(int)), EFAULT);
    CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, NN_LINGER, NULL, sizeof(int)), EFAULT);
    CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, 99, NULL, sizeof(int)), EFAULT);
    CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDFD, NULL, sizeof(int)), EFAULT);
    CHECK_ERR(nn_setsockopt(s, 12345, 1, NULL, 4), EFAULT);
    CHECK_ERR(nn_setsockopt(s, NN_PAIR, 1, NULL, 4), EFAULT);
    CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, NULL, 4), EFAULT);

    CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, NULL, 0), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, &one, 0), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, &one, 1), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, &one, 3), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, two, 5), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, two, 8), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, 99, &one, 2), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, NN_DOMAIN, &one, 2), EINVAL);
    CHECK(ta_getint(s, NN_SOL_SOCKET, NN_SNDBUF) == 131072);

    CHECK_ERR(nn_setsockopt(s, 12345, 1, &one, 2), ENOPROTOOPT);
    CHECK_ERR(nn_setsockopt(s, NN_PAIR, 1, &one, 2), ENOPROTOOPT);
    CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, 99, &one, sizeof(one)), ENOPROTOOPT);

    /* Read-only and unknown options cannot be set. */
    static const int ro[] = {-1, 0, NN_SNDFD, NN_RCVFD, NN_DOMAIN, NN_PROTOCOL, 18, 19};
    for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
        CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, ro[i], &one, sizeof(one)), ENOPROTOOPT);
    CHECK(ta_getint(s, NN_SOL_SOCKET, NN_DOMAIN) == AF_SP);
    CHECK(ta_getint(s, NN_SOL_SOCKET, NN_PROTOCOL) == NN_PAIR);
    CHECK_ERR(nn_setsockopt(s, NN_INPROC, 1, &one, sizeof(one)), ENOPROTOOPT);
    CHECK_ERR(nn_setsockopt(s, -99, 1, &one, sizeof(one)), ENOPROTOOPT);
    CHECK_ERR(nn_setsockopt(s, NN_PAIR, 1, &one, sizeof(one)), ENOPROTOOPT);
    CHECK_ERR(nn_setsockopt(s, 3 * 16, 1, &one, sizeof(one)), ENOPROTOOPT); /* NN_REQ */
    CHECK_ERR(nn_setsockopt(s, 2 * 16 + 1, 1, "", 0), ENOPROTOOPT);        /* NN_SUB */

    /* getsockopt: a NULL value is EFAULT whatever the option. */
    size_t l = sizeof(int);
    CHECK_ERR(nn_getsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, NULL, &l), EFAULT);
    l = 0;
    CHECK_ERR(nn_getsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, NULL, &l), EFAULT);
    l = 2;
    CHECK_ERR(nn_getsockopt(s, NN_SOL_SOCKET, 99, NULL, &l), EFAULT);
    int v;
    l = 2;
    CHECK_ERR(nn_getsockopt(s, 12345, 1, &v, &l), ENOPROTOOPT);
    l = 0;
    CHECK_ERR(nn_getsockopt(s, NN_SOL_SOCKET, 99, &v, &l), ENOPROTOOPT);
    /* A NULL length pointer crashes stock; ours refuses it. */
    if (!ta_stock())
        CHECK_ERR(nn_getsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, &v, NULL), EFAULT);

    /* Bad sockets. */
    l = sizeof(v);
    CHECK_ERR(nn_getsockopt(-1, NN_SOL_SOCKET, NN_LINGER, &v, &l), EBADF);
    CHECK_ERR(nn_getsockopt(400, NN_SOL_SOCKET, NN_LINGER, &v, &l), EBADF);
    CHECK_ERR(nn_setsockopt(-1, NN_SOL_SOCKET, NN_LINGER, &one, sizeof(one)), EBADF);
    CHECK_ERR(nn_setsockopt(512, NN_SOL_SOCKET, NN_LINGER, &one, sizeof(one)), EBADF);
    nn_close(s);
    CHECK_ERR(nn_getsockopt(s, NN_SOL_SOCKET, NN_LINGER, &v, &l), EBADF);
    CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, NN_LINGER, &one, sizeof(one)), EBADF);
}

/* A short buffer gets the first bytes of the value; *optvallen always
   tells the full size. */
static void check_partial_reads(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    ta_setint(s, NN_SOL_SOCKET, NN_SNDBUF, 0x01020304);
    int want = 0x01020304;
    for (size_t len = 0; len <= 9; len++) {
        unsigned char b[12];
        memset(b, 0xee, sizeof(b));
        size_t l = len;
        CHECK(nn_getsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, b, &l) == 0);
        CHECK(l == sizeof(int));
        size_t n = len < sizeof(int) ? len : sizeof(int);
        CHECK(memcmp(b, &want, n) == 0);
        for (size_t i = n; i < sizeof(b); i++)
            CHECK(b[i] == 0xee);
    }
    nn_close(s);
}

static void check_socket_name(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    char name[100], got[100];
    memset(name, 'n', sizeof(name));
    /* Up to 63 bytes. */
    for (size_t len = 0; len <= 66; len++) {
        int rc = nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, name, len);
        size_t l = sizeof(got);
        CHECK(nn_getsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, got, &l) == 0);
        if (len <= 63) {
            CHECK(rc == 0);
            CHECK(l == len);
        } else {
            CHECK(rc == -1 && errno == EINVAL);
            CHECK(l == 63); /* unchanged */
        }
    }
    /* An empty name, also given as NULL with length 0. */
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, "x", 1) == 0);
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, NULL, 0) == 0);
    size_t l = sizeof(got);
    CHECK(nn_getsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, got, &l) == 0);
    CHECK(l == 0);

    /* Reading: the name's length is reported; a larger buffer receives the
       name followed by NULs, up to the 64-byte name store. */
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, "hello", 5) == 0);
    int wrong = 0, first_wrong = -1;
    for (size_t len = 0; len <= 64; len++) {
        memset(got, '#', sizeof(got));
        l = len;
        CHECK(nn_getsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, got, &l) == 0);
        CHECK(l == 5);
        size_t n = len < 5 ? len : 5;
        int ok = memcmp(got, "hello", n) == 0;
        for (size_t i = 5; i < len; i++)
            ok = ok && got[i] == 0;
        for (size_t i = len; i < sizeof(got); i++)
            ok = ok && got[i] == '#';
        if (!ok && wrong++ == 0)
            first_wrong = (int) len;
    }
    if (wrong)
        fprintf(stderr, "SOCKET_NAME \"hello\" read into buffers of 0..64 bytes: %d wrong, "
                        "first at %d (want the name, then NULs up to the buffer's end)\n",
                wrong, first_wrong);
    CHECK(wrong == 0);
    /* The name is a C string: an embedded NUL ends it. */
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, "a\0b", 3) == 0);
    memset(got, '#', sizeof(got));
    l = sizeof(got);
    CHECK(nn_getsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, got, &l) == 0);
    CHECK(l == 1 && got[0] == 'a');
    nn_close(s);
}

/* Options are per socket, and endpoint options are taken when the endpoint
   is created: RCVBUF set after connecting does not shrink the connection. */
static void check_per_socket_and_endpoint_time(void)
{
    int a = nn_socket(AF_SP, NN_PAIR), b = nn_socket(AF_SP, NN_PAIR);
    ta_setint(a, NN_SOL_SOCKET, NN_RCVTIMEO, 1234);
    CHECK(ta_getint(a, NN_SOL_SOCKET, NN_RCVTIMEO) == 1234);
    CHECK(ta_getint(b, NN_SOL_SOCKET, NN_RCVTIMEO) == -1);
    nn_close(a);
    nn_close(b);

    char addr[64];
    ta_addr(addr, sizeof(addr));
    a = ta_socket(AF_SP, NN_PAIR);
    b = ta_socket(AF_SP, NN_PAIR);
    CHECK(nn_bind(a, addr) >= 0);
    CHECK(nn_connect(b, addr) >= 0);
    ta_setint(a, NN_SOL_SOCKET, NN_RCVBUF, 1);
    ta_setint(b, NN_SOL_SOCKET, NN_RCVBUF, 1);
    char msg[100] = {0};
    int n = 0;
    while (n < 2000 && nn_send(b, msg, sizeof(msg), NN_DONTWAIT) == (int) sizeof(msg))
        n++;
    CHECK(n > 100); /* still the 128 kB the connection was made with */
    nn_close(a);
    nn_close(b);
}

/* Every NN_SOL_SOCKET option number, one row each, as the socket's option
   table must treat it: read-write ints (round trip, a wrong length and a
   value out of range refused and the value kept), read-only ones (setting
   is ENOPROTOOPT after the length check), NN_LINGER (taken, read back as
   0), NN_SOCKET_NAME (a string) and the numbers around them (unknown). */
enum opt_class { RW_INT, READ_ONLY, LINGER, NAME, UNKNOWN };

struct opt_row {
    int opt;
    enum opt_class cls;
    int good, bad; /* RW_INT: a value taken and one refused (bad == good: none) */
};

static const struct opt_row opt_rows[] = {
    {0, UNKNOWN, 0, 0},
    {NN_LINGER, LINGER, 250, 250},
    {NN_SNDBUF, RW_INT, 4096, 0},
    {NN_RCVBUF, RW_INT, 8192, -1},
    {NN_SNDTIMEO, RW_INT, 77, 77},
    {NN_RCVTIMEO, RW_INT, 88, 88},
    {NN_RECONNECT_IVL, RW_INT, 5, -1},
    {NN_RECONNECT_IVL_MAX, RW_INT, 500, -1},
    {NN_SNDPRIO, RW_INT, 3, 17},
    {NN_RCVPRIO, RW_INT, 4, 0},
    {NN_SNDFD, READ_ONLY, 0, 0},
    {NN_RCVFD, READ_ONLY, 0, 0},
    {NN_DOMAIN, READ_ONLY, 0, 0},
    {NN_PROTOCOL, READ_ONLY, 0, 0},
    {NN_IPV4ONLY, RW_INT, 0, 2},
    {NN_SOCKET_NAME, NAME, 0, 0},
    {NN_RCVMAXSIZE, RW_INT, 12345, -2},
    {NN_MAXTTL, RW_INT, 9, 256},
    {NN_MAXTTL + 1, UNKNOWN, 0, 0},
};

static void check_every_option(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    CHECK(s >= 0);
    for (size_t i = 0; i < sizeof(opt_rows) / sizeof(opt_rows[0]); i++) {
        const struct opt_row *r = &opt_rows[i];
        int before = ta_getint(s, NN_SOL_SOCKET, r->opt);
        int fails = tu_failures;
        /* A wrong length is EINVAL for every option but the name, known or
           not, and changes nothing. */
        static const size_t bad_lens[] = {0, 1, 2, 3, 5, 8};
        int two[2] = {r->good, r->good};
        for (size_t k = 0; r->cls != NAME && k < sizeof(bad_lens) / sizeof(bad_lens[0]); k++)
            CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, r->opt, two, bad_lens[k]), EINVAL);
        CHECK(ta_getint(s, NN_SOL_SOCKET, r->opt) == before);

        int v = r->good;
        switch (r->cls) {
        case UNKNOWN: {
            CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, r->opt, &v, sizeof(v)), ENOPROTOOPT);
            size_t l = sizeof(v);
            CHECK_ERR(nn_getsockopt(s, NN_SOL_SOCKET, r->opt, &v, &l), ENOPROTOOPT);
            break;
        }
        case READ_ONLY:
            CHECK(before >= 0);
            CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, r->opt, &v, sizeof(v)), ENOPROTOOPT);
            CHECK(ta_getint(s, NN_SOL_SOCKET, r->opt) == before);
            break;
        case LINGER:
            CHECK(nn_setsockopt(s, NN_SOL_SOCKET, r->opt, &v, sizeof(v)) == 0);
            CHECK(ta_getint(s, NN_SOL_SOCKET, r->opt) == 0);
            break;
        case RW_INT:
            CHECK(before != r->good);
            CHECK(nn_setsockopt(s, NN_SOL_SOCKET, r->opt, &v, sizeof(v)) == 0);
            CHECK(ta_getint(s, NN_SOL_SOCKET, r->opt) == r->good);
            if (r->bad != r->good) {
                v = r->bad;
                CHECK_ERR(nn_setsockopt(s, NN_SOL_SOCKET, r->opt, &v, sizeof(v)), EINVAL);
                CHECK(ta_getint(s, NN_SOL_SOCKET, r->opt) == r->good);
            }
            break;
        case NAME: {
            char name[8];
            size_t l = sizeof(name);
            CHECK(nn_setsockopt(s, NN_SOL_SOCKET, r->opt, "abc", 3) == 0);
            CHECK(nn_getsockopt(s, NN_SOL_SOCKET, r->opt, name, &l) == 0);
            CHECK(l == 3 && memcmp(name, "abc", 3) == 0);
            break;
        }
        }
        /* Every int option read into a short or long buffer: its first
           bytes, nothing past them, and the full size in *optvallen. */
        if (r->cls != UNKNOWN && r->cls != NAME) {
            int want = ta_getint(s, NN_SOL_SOCKET, r->opt);
            for (size_t len = 0; len <= 6; len++) {
                unsigned char b[8];
                memset(b, 0xee, sizeof(b));
                size_t l = len;
                CHECK(nn_getsockopt(s, NN_SOL_SOCKET, r->opt, b, &l) == 0);
                CHECK(l == sizeof(int));
                size_t n = len < sizeof(int) ? len : sizeof(int);
                CHECK(memcmp(b, &want, n) == 0);
                for (size_t k = n; k < sizeof(b); k++)
                    CHECK(b[k] == 0xee);
            }
        }
        if (tu_failures != fails)
            fprintf(stderr, "(the failures above: option %d)\n", r->opt);
    }
    nn_close(s);
}

/* The protocol-level int options go through the same copy-in rules: a
   wrong length is EINVAL, a value out of range EINVAL, the value kept. */
static void check_protocol_int_options(void)
{
    int s = nn_socket(AF_SP, NN_REQ);
    int v = 1234, two[2] = {5, 5};
    CHECK(nn_setsockopt(s, NN_REQ, NN_REQ_RESEND_IVL, &v, sizeof(v)) == 0);
    CHECK_ERR(nn_setsockopt(s, NN_REQ, NN_REQ_RESEND_IVL, two, 2), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_REQ, NN_REQ_RESEND_IVL, two, 8), EINVAL);
    CHECK(ta_getint(s, NN_REQ, NN_REQ_RESEND_IVL) == 1234);
    nn_close(s);

    s = nn_socket(AF_SP, NN_SURVEYOR);
    v = 250;
    CHECK(nn_setsockopt(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, sizeof(v)) == 0);
    CHECK_ERR(nn_setsockopt(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, two, 3), EINVAL);
    if (!ta_stock()) { /* stock takes a negative deadline, then aborts */
        v = -1;
        CHECK_ERR(nn_setsockopt(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, sizeof(v)), EINVAL);
    }
    CHECK(ta_getint(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE) == 250);
    nn_close(s);
}

int main(void)
{
    check_defaults(AF_SP);
    check_defaults(AF_SP_RAW);
    check_ranges();
    check_argument_order();
    check_partial_reads();
    check_socket_name();
    check_per_socket_and_endpoint_time();
    check_every_option();
    check_protocol_int_options();
    TEST_DONE();
}
