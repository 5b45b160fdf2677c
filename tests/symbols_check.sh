#!/bin/sh
#   femtomsg: symbols_check.sh -- run one small program against our
#   libnanomsg.so.5 and against the stock one, and compare what
#   nn_symbol(), nn_symbol_info(), nn_strerror() and nn_errno() report.
#
#   usage: symbols_check.sh <our-lib-dir> <cc>
#
#   The program is compiled with the stock headers and linked with the
#   stock library; our library is swapped in at run time through
#   LD_LIBRARY_PATH, which is exactly how an existing binary would use it.
#   Exit 0: identical; 1: differences; 2: could not run the check.

set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 <our-lib-dir> <cc>" >&2
    exit 2
fi
OURLIB=$1
CC=$2
STOCKLIBDIR=/usr/lib/x86_64-linux-gnu

if [ ! -e "$OURLIB/libnanomsg.so.5" ]; then
    echo "symbols_check: $OURLIB/libnanomsg.so.5 not found" >&2
    exit 2
fi
OURREAL=$(cd "$OURLIB" && pwd -P) || exit 2

TMP=$(mktemp -d "${TMPDIR:-/tmp}/symbols_check.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT INT TERM

cat >"$TMP/symdump.c" <<'CSRC'
/*  Dumps the library's symbol table and error texts.  Pointers are never
    printed, only what they point at, so two libraries can be compared.  */
#include <nanomsg/nn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/*  Print the path of the mapped libnanomsg (to find out which one
    the dynamic linker actually picked).  */
static int where (void)
{
    char line [4096];
    FILE *f = fopen ("/proc/self/maps", "r");
    if (!f)
        return 1;
    while (fgets (line, sizeof (line), f)) {
        char *p = strchr (line, '/');
        if (p && strstr (p, "libnanomsg")) {
            fputs (p, stdout);
            fclose (f);
            return 0;
        }
    }
    fclose (f);
    return 1;
}

int main (int argc, char **argv)
{
    struct nn_symbol_properties p;
    unsigned char full [sizeof (p)];
    unsigned char part [sizeof (p) + 8];
    const int bad [] = { -1, -2, INT_MIN, INT_MAX, 1000 };
    const int idx [] = { 0, 25, 46, 61, 96, 120 };
    const int errs [] = { 0, -1, 1, EINTR, ENOMEM, ENODEV, ENAMETOOLONG,
        ENOTSUP, EPROTONOSUPPORT, ENOBUFS, ENETDOWN, EADDRINUSE,
        EADDRNOTAVAIL, ECONNREFUSED, EINPROGRESS, ENOTSOCK, EAFNOSUPPORT,
        EPROTO, EAGAIN, EBADF, EINVAL, EMFILE, EFAULT, EACCES, ENETRESET,
        ENETUNREACH, EHOSTUNREACH, ENOTCONN, EMSGSIZE, ETIMEDOUT,
        ECONNABORTED, ECONNRESET, ENOPROTOOPT, EISCONN, ESOCKTNOSUPPORT,
        ETERM, EFSM, 134, 9999, NN_HAUSNUMERO, NN_HAUSNUMERO + 1,
        NN_HAUSNUMERO + 52, NN_HAUSNUMERO + 55, INT_MAX, INT_MIN };
    const char *s;
    size_t k;
    int i;
    int r;
    int v;
    int b;
    int len;
    int count;

    if (argc > 1 && strcmp (argv [1], "--where") == 0)
        return where ();

    for (i = 0; ; i++) {
        memset (&p, 0, sizeof (p));
        r = nn_symbol_info (i, &p, (int) sizeof (p));
        if (r == 0)
            break;
        printf ("info %d ret=%d value=%d name=%s ns=%d type=%d unit=%d\n",
            i, r, p.value, p.name ? p.name : "(null)", p.ns, p.type, p.unit);
        v = -777;
        errno = 0;
        s = nn_symbol (i, &v);
        printf ("symbol %d %s value=%d errno=%d\n", i, s ? s : "(null)", v,
            errno);
        s = nn_symbol (i, NULL);
        printf ("symbol-null %d %s\n", i, s ? s : "(null)");
    }
    count = i;
    printf ("count %d\n", count);

    for (k = 0; k <= sizeof (bad) / sizeof (bad [0]); k++) {
        int at = k < sizeof (bad) / sizeof (bad [0]) ? bad [k] : count;
        v = -777;
        errno = 0;
        s = nn_symbol (at, &v);
        printf ("bad-symbol %d %s value=%d errno=%d\n", at,
            s ? s : "(null)", v, errno);
        memset (part, 0xA5, sizeof (part));
        errno = 0;
        r = nn_symbol_info (at, (struct nn_symbol_properties *) (void *) part,
            (int) sizeof (p));
        printf ("bad-info %d ret=%d errno=%d touched=%d\n", at, r, errno,
            part [0] != 0xA5);
        printf ("bad-info-null %d ret=%d\n", at,
            nn_symbol_info (at, NULL, (int) sizeof (p)));
    }

    /*  Truncated copies: '=' byte equals the full entry, '.' untouched,
        '?' anything else.  (Negative lengths crash stock, so skipped.)  */
    for (k = 0; k < sizeof (idx) / sizeof (idx [0]); k++) {
        nn_symbol_info (idx [k], (struct nn_symbol_properties *) (void *) full,
            (int) sizeof (full));
        for (len = 0; len <= (int) sizeof (part); len++) {
            char map [sizeof (part) + 1];
            memset (part, 0xA5, sizeof (part));
            r = nn_symbol_info (idx [k],
                (struct nn_symbol_properties *) (void *) part, len);
            for (b = 0; b < (int) sizeof (part); b++)
                map [b] = (b < (int) sizeof (full) && part [b] == full [b]
                    && (b < r || full [b] != 0xA5)) ? '=' :
                    part [b] == 0xA5 ? '.' : '?';
            map [sizeof (part)] = 0;
            printf ("trunc %d len=%d ret=%d %s\n", idx [k], len, r, map);
        }
        printf ("trunc-null %d ret=%d\n", idx [k],
            nn_symbol_info (idx [k], NULL, 0));
    }

    for (k = 0; k < sizeof (errs) / sizeof (errs [0]); k++) {
        s = nn_strerror (errs [k]);
        printf ("strerror %d [%s]\n", errs [k], s ? s : "(null)");
    }

    errno = EAGAIN;
    printf ("nn_errno %d\n", nn_errno ());
    errno = ETERM;
    printf ("nn_errno %d\n", nn_errno ());
    return 0;
}
CSRC

if ! $CC -std=c11 -Wall -Wextra -Werror -pedantic -I/usr/include \
        "$TMP/symdump.c" -o "$TMP/symdump" -L"$STOCKLIBDIR" -lnanomsg \
        2>"$TMP/cc.log"; then
    cat "$TMP/cc.log" >&2
    echo "symbols_check: cannot build the probe against the stock library" >&2
    exit 2
fi

#   Confirm which library each run loads.
stock_where=$(env -u LD_LIBRARY_PATH -u LD_PRELOAD "$TMP/symdump" --where) || {
    echo "symbols_check: probe does not run against the stock library" >&2
    exit 2
}
ours_where=$(env -u LD_PRELOAD LD_LIBRARY_PATH="$OURREAL" \
    "$TMP/symdump" --where) || {
    echo "symbols_check: probe does not start with $OURLIB" >&2
    exit 1
}
case $ours_where in
    "$OURREAL"/*) ;;
    *)
        echo "symbols_check: LD_LIBRARY_PATH=$OURREAL still loads $ours_where" >&2
        exit 2
        ;;
esac
echo "symbols_check: stock = $stock_where"
echo "symbols_check: ours  = $ours_where"

env -u LD_LIBRARY_PATH -u LD_PRELOAD "$TMP/symdump" >"$TMP/stock.out" || {
    echo "symbols_check: probe failed against the stock library" >&2
    exit 2
}
env -u LD_PRELOAD LD_LIBRARY_PATH="$OURREAL" "$TMP/symdump" \
        >"$TMP/ours.out" || {
    echo "symbols_check: FAIL: probe crashed or failed with our library" >&2
    exit 1
}

if ! diff -u "$TMP/stock.out" "$TMP/ours.out"; then
    echo "symbols_check: FAIL: output differs (- stock, + ours)" >&2
    exit 1
fi
echo "symbols_check: OK ($(wc -l <"$TMP/stock.out") lines identical)"
exit 0
