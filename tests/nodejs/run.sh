#!/bin/bash
# run.sh SRCDIR LIBDIR WORKDIR: the test suite of the Node.js binding, npm
# package nanomsg 4.2.1, run unchanged against femtomsg. The package is
# fetched from the npm registry once into WORKDIR (kept between runs), its
# addon built by node-gyp with --use_system_libnanomsg=true against our
# headers and library (SRCDIR/include, LIBDIR) and Node's own headers
# (--nodedir, Debian's or NodeSource's nodejs under /usr), and every file of
# its test/ and test/standalone/ is run by node with LD_LIBRARY_PATH=LIBDIR.
# LIBDIR "stock" runs the same on the system's libnanomsg.so.5 instead, to
# compare by hand. Passes when every file exits 0 and reports no failed
# assertion, and the library mapped is the one meant.
#
# One correction is preloaded (shim.js), not a change to the binding's
# tests: the binding keeps its "closed" flag in a property that Node 18 and
# later define read-only on every stream, so without it the binding's close()
# closes twice and its test/close.js fails on any library.
#
# FM_NODE_PRELOAD, if set, is preloaded into node (a sanitized build's
# runtimes, which a dlopen'ed library cannot start itself). FM_NODE_SKIP,
# if set, is a reason not to run at all (ThreadSanitizer builds: node's own
# threads, not built for it, are reported).
# Exit 0: passed; 1: failed; 77: skipped (FM_NODE_SKIP, no node/npm, no
# Node headers, or the registry unreachable), with the reason printed.
set -u
SRC=$1 LIBDIR=$2 WORK=$3
HERE=$(cd "$(dirname "$0")" && pwd)
PKG=nanomsg@4.2.1
# What the package's tests require, pinned (the package lists them, with
# formatters and reporters we do not need, as devDependencies).
TEST_DEPS='"tape":"5.4.0","buffer-from":"1.1.2","buffer-equals-polyfill":"1.0.0","buffer-alloc":"1.2.0"'

skip() { echo "SKIP: $*"; exit 77; }
[ -z "${FM_NODE_SKIP:-}" ] || skip "$FM_NODE_SKIP"
for tool in node npm make c++ pkg-config; do
    command -v $tool >/dev/null 2>&1 || skip "$tool is not installed (the Node.js binding suite needs node, npm, a C++ compiler, make and pkg-config)"
done
NODEDIR=/usr
[ -f $NODEDIR/include/node/node.h ] && [ -f $NODEDIR/include/node/common.gypi ] ||
    skip "Node's headers are not in $NODEDIR/include/node (Debian: libnode-dev, or nodejs from NodeSource)"
GYP=$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js
[ -f "$GYP" ] || skip "npm ships no node-gyp at $GYP"

if [ "$LIBDIR" = stock ]; then
    WANT=$(readlink -f /usr/lib/x86_64-linux-gnu/libnanomsg.so.5) || skip "no stock libnanomsg.so.5"
    RUNENV=(env -u LD_LIBRARY_PATH)
    LINKDIR=/usr/lib/x86_64-linux-gnu
else
    WANT=$(readlink -f "$LIBDIR/libnanomsg.so.5")
    [ -e "$WANT" ] || { echo "no libnanomsg.so.5 in $LIBDIR"; exit 1; }
    RUNENV=(env LD_LIBRARY_PATH="$LIBDIR" ${FM_NODE_PRELOAD:+LD_PRELOAD="$FM_NODE_PRELOAD"})
    LINKDIR=$LIBDIR
fi

# ---------------------------------------------------------------- fetch
# A registry that does not answer must cost a minute or two, not npm's
# default of several retries of five minutes each.
NPM_NET="--fetch-timeout=60000 --fetch-retries=1"
mkdir -p "$WORK" || exit 1
PKGDIR=$WORK/nanomsg
if [ ! -f "$PKGDIR/.fetched" ]; then
    rm -rf "$PKGDIR" "$WORK"/nanomsg-*.tgz
    (cd "$WORK" && npm pack --silent $NPM_NET "$PKG" >/dev/null 2>"$WORK/fetch.log") ||
        skip "npm pack $PKG failed (npm registry unreachable?): $(tail -1 "$WORK/fetch.log")"
    mkdir "$PKGDIR" && tar -xzf "$WORK"/nanomsg-4.2.1.tgz -C "$PKGDIR" --strip-components=1 || exit 1
    (cd "$PKGDIR" && node -e '
        const fs = require("fs"), p = JSON.parse(fs.readFileSync("package.json"));
        delete p.devDependencies; delete p.scripts;
        Object.assign(p.dependencies, JSON.parse(process.argv[1]));
        fs.writeFileSync("package.json", JSON.stringify(p, null, 2));' "{$TEST_DEPS}") || exit 1
    (cd "$PKGDIR" && npm install --silent $NPM_NET --ignore-scripts --no-audit --no-fund --no-package-lock \
        >"$WORK/install.log" 2>&1) ||
        skip "npm install of the binding's dependencies failed (npm registry unreachable?): $(tail -1 "$WORK/install.log")"
    touch "$PKGDIR/.fetched"
fi

# ---------------------------------------------------------------- build
# Rebuilt each run (about 10 s): our headers may have changed. The binding
# includes <bus.h> and the like, so the include directory is nanomsg/ itself.
# pkg-config's -lnanomsg finds our library first through -L.
if [ "$LIBDIR" = stock ]; then
    INC="-I/usr/include/nanomsg"
else
    INC="-I$SRC/include/nanomsg -I$SRC/include"
fi
(cd "$PKGDIR" && CXXFLAGS="$INC" LDFLAGS="-L$LINKDIR" \
    node "$GYP" rebuild --nodedir=$NODEDIR --use_system_libnanomsg=true -j2 >"$WORK/build.log" 2>&1) || {
    echo "FAIL: node-gyp could not build the binding against our headers and library:"
    grep -E 'error|Error' "$WORK/build.log" | head -20
    exit 1
}

# ---------------------------------------------------------------- run
# The binding's tests listen on fixed ports (5555, 6000, 4445x, ...):
# each file runs in a network namespace of its own where unshare(1) allows
# it, so that they meet no other test's listeners.
ISOLATE=()
for u in "unshare -n" "unshare -rn"; do
    if $u sh -c 'ip link set lo up' >/dev/null 2>&1; then
        # shellcheck disable=SC2016 # expanded by the inner shell
        ISOLATE=($u sh -c 'ip link set lo up && exec "$@"' sh)
        break
    fi
done
[ ${#ISOLATE[@]} -gt 0 ] || echo "note: unshare(1) unavailable: the tests share the machine's ports"
failures=0 files=0 passed=0 failed=0
for f in "$PKGDIR"/test/*.js "$PKGDIR"/test/standalone/*.js; do
    name=${f#"$PKGDIR"/}
    files=$((files + 1))
    out=$WORK/$(echo "$name" | tr / _).tap
    (cd "$PKGDIR/$(dirname "$name")" && FM_NODE_PKG="$PKGDIR" FM_NODE_WANT="$WANT" \
        timeout 120 "${ISOLATE[@]}" "${RUNENV[@]}" node -r "$HERE/shim.js" "$f" >"$out" 2>&1)
    rc=$?
    ok=$(grep -c '^ok ' "$out") notok=$(grep -c '^not ok ' "$out")
    passed=$((passed + ok)) failed=$((failed + notok))
    if [ $rc -ne 0 ] || [ "$notok" -ne 0 ]; then
        failures=$((failures + 1))
        echo "FAIL: $name (exit $rc, $ok passed, $notok failed):"
        grep -A8 '^not ok ' "$out" | grep -v '^ *at ' | head -40 | sed 's/^/    /'
        [ $rc -eq 0 ] || tail -15 "$out" | sed 's/^/    /'
    fi
done
echo "nodejs binding $PKG on $WANT: $files files, $failures failed"
echo "$passed passed, $failed failed"
[ $failures -eq 0 ]
