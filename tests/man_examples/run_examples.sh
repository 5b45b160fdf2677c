#!/bin/sh
# run_examples.sh MANDIR INCLUDEDIR LIBDIR WORKDIR CC [CFLAGS]: every
# EXAMPLE section of every page in MANDIR, extracted now, compiled against
# our headers and library, and run, so that no page's example can rot.
#
# The rule, the same for every page (no page is named here):
# - Each .EX/.EE block inside the EXAMPLE (or EXAMPLES) section is one
#   example; roff escapes are undone (\e, \-, \&, \(aq, \(dq).
# - A block whose first line starts with "$ " is a shell transcript: it is
#   counted and listed, not run (it names programs that are not on the page).
# - A block whose first line is an #include is a translation unit as it
#   stands. Any other C block is a fragment of statements: it gets the
#   minimal wrapping, <nanomsg/*.h>, <assert.h>, <errno.h>, <stdio.h>,
#   <stdlib.h>, <string.h> and "int main(void) { ... return 0; }" around it.
# - A translation unit that defines main() is a program: built with
#   -Wall -Wextra -Werror, linked to LIBDIR's libnanomsg, and run; it must
#   exit 0 within 60 s (FM_MAN_EXAMPLE_TIMEOUT seconds, if set). What it
#   printed is shown when it does not; a sanitizer's report makes it exit
#   non-zero. An example that needs a peer, or serves forever, must
#   therefore be a complete program that makes its own peer and ends: the
#   page's own text, not the harness, decides that.
# - A translation unit without main() is linked with an empty main, so every
#   name it uses must exist in our headers and library; its functions are
#   not called, and it is listed as "linked, not run".
# Programs run each in a network namespace and a /tmp of their own where
# unshare(1) allows it (the fixed ports and ipc paths of the pages then
# meet no other test; the /tmp only when the build is not under /tmp);
# elsewhere directly.
# WORKDIR: where the programs are built (not under /tmp, which a program's
# private /tmp hides). CFLAGS: extra compile and link flags (a sanitized
# build's -fsanitize=...).
set -u
limit=${FM_MAN_EXAMPLE_TIMEOUT:-60}
mandir=$1 incdir=$2 libdir=$3 workdir=$4 cc=$5 extra=${6:-}
# Absolute, or the programs' run path would miss it and the loader fall
# back to the system's stock library.
libdir=$(cd "$libdir" && pwd) || exit 1
[ -e "$libdir/libnanomsg.so.5" ] || { echo "FAIL: no libnanomsg.so.5 in $libdir"; exit 1; }
mkdir -p "$workdir" && work=$(mktemp -d "$(cd "$workdir" && pwd)/run.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
failures=0 found=0 programs=0 linked=0 transcripts=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# A private network (loopback up) and /tmp per program, if the system lets us.
isolate=""
for u in "unshare -nm" "unshare -rnm"; do
    if $u sh -c 'mount -t tmpfs none /tmp && ip link set lo up' >/dev/null 2>&1; then
        isolate=$u
        break
    fi
done
[ -n "$isolate" ] || echo "note: unshare(1) unavailable: examples run in the shared network and /tmp"
# The private /tmp would hide the programs and the library themselves when
# the build lives under /tmp (a CI checkout may): then only the network is
# private.
# shellcheck disable=SC2016 # "$0" is expanded by the inner shell
inner='mount -t tmpfs none /tmp && ip link set lo up && exec "$0"'
case "$work" in /tmp/*) inner='ip link set lo up && exec "$0"' ;; esac
case "$libdir" in /tmp/*) inner='ip link set lo up && exec "$0"' ;; esac

for f in "$mandir"/*.[0-9]; do
    page=$(basename "$f")
    [ "$(wc -l < "$f")" -le 1 ] && continue    # ".so" alias pages
    awk -v dir="$work" -v page="$page" '
        /^\.SH/ { insec = ($0 ~ /^\.SH "?EXAMPLES?"?$/); next }
        insec && /^\.EX/ { n++; inex = 1; next }
        insec && /^\.EE/ { inex = 0; next }
        insec && inex {
            line = $0
            gsub(/\\e/, "\001", line); gsub(/\\-/, "-", line); gsub(/\\&/, "", line)
            gsub(/\\\(aq/, "\047", line); gsub(/\\\(dq/, "\"", line)
            gsub(/\001/, "\\", line)
            print line > (dir "/" page "." n ".ex")
        }' "$f"
done

for ex in "$work"/*.ex; do
    [ -f "$ex" ] || continue
    name=$(basename "$ex" .ex)
    found=$((found + 1))
    first=$(sed -n '/./{p;q}' "$ex")
    case $first in
    '$ '*)
        transcripts=$((transcripts + 1))
        echo "transcript, not run: $name"
        continue ;;
    '#include'*)
        cp "$ex" "$work/$name.c" ;;
    *)
        { for h in "$incdir"/nanomsg/*.h; do echo "#include <nanomsg/$(basename "$h")>"; done
          printf '#include <%s>\n' assert.h errno.h stdio.h stdlib.h string.h
          echo "int main(void)"; echo "{"; cat "$ex"; echo "return 0;"; echo "}"
        } > "$work/$name.c" ;;
    esac
    if grep -Eq '^int[[:space:]]+main[[:space:]]*\(' "$work/$name.c"; then
        runs=true
    else
        runs=false
        printf '\nint main(void)\n{\n    return 0;\n}\n' >> "$work/$name.c"
    fi
    # shellcheck disable=SC2086 # $extra is a list of flags
    if ! "$cc" -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror $extra \
            -I "$incdir" -o "$work/$name" "$work/$name.c" \
            -L "$libdir" -Wl,-rpath,"$libdir" -lnanomsg -pthread > "$work/cc.out" 2>&1; then
        fail "example $name does not build:"
        sed 's/^/    /' "$work/cc.out"
        continue
    fi
    if ! $runs; then
        linked=$((linked + 1))
        echo "linked, not run (defines no main): $name"
        continue
    fi
    programs=$((programs + 1))
    if command -v ldd >/dev/null 2>&1 &&
            ! ldd "$work/$name" | grep -q "libnanomsg.so.5 => $libdir/"; then
        fail "example $name would not run on $libdir/libnanomsg.so.5:"
        ldd "$work/$name" | sed 's/^/    /'
        continue
    fi
    if [ -n "$isolate" ]; then
        (cd "$work" && timeout "$limit" $isolate sh -c "$inner" "$work/$name" \
            > "$work/out" 2> "$work/err")
    else
        (cd "$work" && timeout "$limit" "$work/$name" > "$work/out" 2> "$work/err")
    fi
    rc=$?
    if [ $rc -ne 0 ]; then
        fail "example $name exited $rc$([ $rc -eq 124 ] && echo ' (timed out)'):"
        sed 's/^/    out: /' "$work/out"
        sed 's/^/    err: /' "$work/err"
    fi
done

echo "man examples: $found found; $programs programs built and run, $linked linked only, $transcripts transcripts not run"
[ "$programs" -gt 0 ] || fail "no example program found in $mandir"
[ $failures -eq 0 ] || { echo "$failures example(s) failed"; exit 1; }
echo "man examples ok"
