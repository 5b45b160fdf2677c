#!/bin/bash
# perl_dropin.sh OUR_LIB_DIR
#
# Binary drop-in through a language binding: Debian's NanoMsg::Raw (package
# libnanomsg-raw-perl, an XS module linked against the stock
# libnanomsg.so.5) runs dropin.pl once on the stock library and once on
# femtomsg's through LD_LIBRARY_PATH. Each run must pass its own checks,
# must have mapped the library it was meant to (the script reports what
# /proc/self/maps shows), and both must print the same transcript.
# FM_DROPIN_PRELOAD, if set, is preloaded into the femtomsg run (the
# sanitizer runtimes of a sanitized build, which dlopen cannot start).
# Exit 0: all passed; 1: a check failed; 77: no Perl binding or stock library.
set -u

OURDIR=$1
HERE=$(cd "$(dirname "$0")" && pwd)
STOCKLIB=/usr/lib/x86_64-linux-gnu/libnanomsg.so.5
if ! perl -MNanoMsg::Raw -e 1 2>/dev/null || [ ! -e $STOCKLIB ]; then
    echo "SKIP: needs Perl's NanoMsg::Raw (Debian's libnanomsg-raw-perl) and $STOCKLIB"
    exit 77
fi
OURLIB=$(readlink -f "$OURDIR/libnanomsg.so.5") || exit 1
STOCKREAL=$(readlink -f $STOCKLIB)
[ -e "$OURLIB" ] && [ "$OURLIB" != "$STOCKREAL" ] || { echo "no femtomsg library in $OURDIR"; exit 1; }

T=$(mktemp -d /tmp/fm-dropin-perl.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT

failures=0
port=$((20000 + ($$ * 11) % 30000))
for side in stock ours; do
    mkdir "$T/$side"
    if [ $side = stock ]; then
        want=$STOCKREAL
        env -u LD_LIBRARY_PATH perl "$HERE/dropin.pl" "$T/$side" $port >"$T/$side.out" 2>"$T/$side.err"
    else
        want=$OURLIB
        env LD_LIBRARY_PATH="$OURDIR" ${FM_DROPIN_PRELOAD:+LD_PRELOAD="$FM_DROPIN_PRELOAD"} perl "$HERE/dropin.pl" "$T/$side" $port >"$T/$side.out" 2>"$T/$side.err"
    fi
    rc=$?
    port=$((port + 100))
    if [ $rc -ne 0 ]; then
        echo "FAIL: dropin.pl on the $side library exited $rc:"
        grep -v '^ok:' "$T/$side.out" | grep -v '^  [A-Z0-9_]* = ' | head -40
        sed 's/^/  stderr: /' "$T/$side.err" | head -20
        failures=$((failures + 1))
    fi
    mapped=$(sed -n 's/^mapped: //p' "$T/$side.err")
    if [ "$mapped" != "$want" ]; then
        echo "FAIL: on the $side library Perl mapped '$mapped', expected $want"
        failures=$((failures + 1))
    else
        echo "$side: Perl mapped $mapped"
    fi
done
if ! diff -u "$T/stock.out" "$T/ours.out" >"$T/diff"; then
    echo "FAIL: the transcripts differ (- stock, + femtomsg):"
    head -60 "$T/diff"
    failures=$((failures + 1))
fi
if [ $failures -ne 0 ]; then
    exit 1
fi
echo "ok: NanoMsg::Raw gives the same $(grep -c '^ok:' "$T/ours.out")-check transcript on femtomsg as on the stock library"
exit 0
