#!/bin/sh
#   femtomsg: abi_check.sh -- compare our public headers with the stock
#   nanomsg headers installed under /usr/include/nanomsg.
#
#   usage: abi_check.sh <our-include-dir> <cc>
#
#   Checks, failing (exit 1) on any difference:
#     1. tests/abi_dump.c output (constants, macro results, struct layouts,
#        prototypes), normally and with -DABI_FALLBACK (errno substitutes);
#     2. the set of macro names the headers define (but for the few
#        femtomsg extensions listed below);
#     3. that each header compiles on its own exactly when the stock one does;
#     4. if the compiler can do C++, that the declarations have C linkage.
#   Exit 2 means the check itself could not run.

set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 <our-include-dir> <cc>" >&2
    exit 2
fi
OURINC=$1
CC=$2
HERE=$(cd "$(dirname "$0")" && pwd)
DUMP_SRC=$HERE/abi_dump.c
STOCKINC=/usr/include
HEADERS="nn pair reqrep pubsub pipeline survey bus inproc ipc tcp ws"
CFLAGS="-std=c11 -Wall -Wextra -Werror -pedantic"

if [ ! -f "$OURINC/nanomsg/nn.h" ]; then
    echo "abi_check: $OURINC/nanomsg/nn.h not found" >&2
    exit 2
fi
if [ ! -f "$STOCKINC/nanomsg/nn.h" ]; then
    echo "abi_check: stock headers not found in $STOCKINC/nanomsg" >&2
    exit 2
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/abi_check.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT INT TERM
status=0

fail () {
    echo "abi_check: FAIL: $*" >&2
    status=1
}

#   Make sure "ours" really resolves <nanomsg/nn.h> to OURINC.
ourreal=$(cd "$OURINC" && pwd -P)
if ! $CC -I"$OURINC" -M "$DUMP_SRC" 2>/dev/null | tr ' \\' '\n\n' |
        grep -q "nanomsg/nn.h"; then
    echo "abi_check: cannot list dependencies with $CC -M" >&2
    exit 2
fi
if ! $CC -I"$OURINC" -M "$DUMP_SRC" | tr ' \\' '\n\n' | grep "nanomsg/nn.h" |
        while read -r dep; do
            d=$(cd "$(dirname "$dep")/.." && pwd -P)
            [ "$d" = "$ourreal" ] || exit 1
        done; then
    fail "with -I$OURINC the compiler still picks up other nanomsg headers"
fi

# ---- 1. abi_dump output -------------------------------------------------
for mode in normal fallback; do
    extra=
    [ $mode = fallback ] && extra=-DABI_FALLBACK
    for side in stock ours; do
        inc=
        [ $side = ours ] && inc=-I$OURINC
        # shellcheck disable=SC2086
        if ! $CC $CFLAGS $inc $extra "$DUMP_SRC" -o "$TMP/dump_$side" \
                2>"$TMP/cc_$side.log"; then
            cat "$TMP/cc_$side.log" >&2
            if [ $side = stock ]; then
                echo "abi_check: abi_dump.c does not build against stock" >&2
                exit 2
            fi
            fail "abi_dump.c ($mode) does not compile against our headers"
            continue 2
        fi
        "$TMP/dump_$side" >"$TMP/out_${mode}_$side" || {
            fail "abi_dump ($mode, $side) exited with an error"
            continue 2
        }
    done
    if ! diff -u "$TMP/out_${mode}_stock" "$TMP/out_${mode}_ours" \
            >"$TMP/diff_$mode"; then
        fail "abi_dump ($mode) differs (- stock, + ours):"
        cat "$TMP/diff_$mode" >&2
    else
        echo "abi_check: abi_dump ($mode): $(wc -l <"$TMP/out_${mode}_ours") lines identical"
    fi
done

# ---- 2. macro name sets -------------------------------------------------
printf '#include <errno.h>\n#include <stddef.h>\n#include <stdint.h>\n' \
    >"$TMP/base.c"
: >"$TMP/all.c"
for h in $HEADERS; do
    echo "#include <nanomsg/$h.h>" >>"$TMP/all.c"
done
names () {
    # shellcheck disable=SC2086
    $CC -std=c11 -E -dM "$@" | awk '$1 == "#define" { print $2 }' |
        sed 's/(.*//' | sort -u
}
names "$TMP/base.c" >"$TMP/names_base" &&
names "$TMP/all.c" >"$TMP/names_stock_all" &&
names -I"$OURINC" "$TMP/all.c" >"$TMP/names_ours_all" || {
    echo "abi_check: $CC -E -dM failed" >&2
    exit 2
}
comm -13 "$TMP/names_base" "$TMP/names_stock_all" >"$TMP/names_stock"
# femtomsg's own options in the stock headers (documented there and in
# nn_ipc(7), nn_ws(7) as extensions, numbered from 0x1000 so they cannot meet
# a stock value): these additions, and only these, are allowed.
printf '%s\n' NN_IPC_PEER_GIDS NN_IPC_PEER_UIDS NN_IPC_PERMISSIONS NN_WS_ORIGINS \
    >"$TMP/names_extensions"
comm -13 "$TMP/names_base" "$TMP/names_ours_all" |
    grep -vxF -f "$TMP/names_extensions" >"$TMP/names_ours"
if ! diff -u "$TMP/names_stock" "$TMP/names_ours" >"$TMP/diff_names"; then
    fail "macro names differ (- stock only, + ours only):"
    cat "$TMP/diff_names" >&2
else
    echo "abi_check: macro names: $(wc -l <"$TMP/names_ours") identical"
fi

# ---- 3. each header on its own ------------------------------------------
for h in $HEADERS; do
    printf '#include <nanomsg/%s.h>\nint main (void) { return 0; }\n' "$h" \
        >"$TMP/one_$h.c"
    # shellcheck disable=SC2086
    $CC $CFLAGS -fsyntax-only "$TMP/one_$h.c" 2>/dev/null
    s_ok=$?
    # shellcheck disable=SC2086
    $CC $CFLAGS -I"$OURINC" -fsyntax-only "$TMP/one_$h.c" \
        2>"$TMP/one_$h.log"
    o_ok=$?
    if [ $s_ok -eq 0 ] && [ $o_ok -ne 0 ]; then
        fail "<nanomsg/$h.h> alone does not compile:"
        cat "$TMP/one_$h.log" >&2
    fi
done

# ---- 4. C++: headers usable and declarations have C linkage ---------------
cat >"$TMP/cxx.cc" <<'CXX'
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
/*  Redeclaring with C linkage is an error if the header gave C++ linkage. */
extern "C" int nn_socket (int domain, int protocol);
extern "C" const char *nn_strerror (int errnum);
extern "C" int nn_symbol_info (int i, struct nn_symbol_properties *buf,
    int buflen);
extern "C" uint64_t nn_get_statistic (int s, int stat);
extern "C" struct nn_cmsghdr *nn_cmsg_nxthdr_ (const struct nn_msghdr *mhdr,
    const struct nn_cmsghdr *cmsg);
int main () { return 0; }
CXX
if $CC -x c++ -Wall -Wextra -Werror -fsyntax-only "$TMP/cxx.cc" \
        2>/dev/null; then
    if ! $CC -x c++ -Wall -Wextra -Werror -I"$OURINC" -fsyntax-only \
            "$TMP/cxx.cc" 2>"$TMP/cxx.log"; then
        fail "headers do not work from C++:"
        cat "$TMP/cxx.log" >&2
    else
        echo "abi_check: C++ linkage check passed"
    fi
else
    echo "abi_check: (C++ check skipped: $CC cannot compile C++ here)"
fi

if [ $status -eq 0 ]; then
    echo "abi_check: OK"
fi
exit $status
