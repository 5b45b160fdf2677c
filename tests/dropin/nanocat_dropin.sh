#!/bin/bash
# nanocat_dropin.sh OUR_LIB_DIR TRANSPORT [FM_NANOCAT]
#
# Binary drop-in: Debian's /usr/bin/nanocat, built for the stock
# libnanomsg.so.5, runs unchanged on femtomsg's through LD_LIBRARY_PATH.
# That "subject" exchanges REQ/REP and PUB/SUB messages, over TRANSPORT
# (tcp or ipc), in each role (binding and serving, connecting and asking)
# with three kinds of peer: another /usr/bin/nanocat on our library, one on
# the stock library, and femtomsg's own nanocat (FM_NANOCAT, if given).
# Every process is checked for the library it loaded: the dynamic linker's
# own account (LD_DEBUG=libs) for all of them, and /proc/PID/maps of the
# servers while they run.
#
# No sleeping to synchronise: servers are waited for until they listen,
# subscribers until their output shows the message, each with a generous
# deadline; nanocat's own timeouts (--recv-timeout) bound the rest.
# FM_DROPIN_PRELOAD, if set, is preloaded into the runs on our library (a
# ThreadSanitizer runtime cannot start late, as a dependency of ours).
# Exit 0: all passed; 1: a check failed; 77: no stock nanocat or library.
set -u

OURDIR=$1
TP=$2
FMCAT=${3:-}
STOCKCAT=/usr/bin/nanocat
STOCKLIB=/usr/lib/x86_64-linux-gnu/libnanomsg.so.5
if [ ! -x $STOCKCAT ] || [ ! -e $STOCKLIB ]; then
    echo "SKIP: needs $STOCKCAT and $STOCKLIB (Debian's nanomsg-utils)"
    exit 77
fi
OURLIB=$(readlink -f "$OURDIR/libnanomsg.so.5") || exit 1
STOCKREAL=$(readlink -f $STOCKLIB)
[ -e "$OURLIB" ] || { echo "no $OURDIR/libnanomsg.so.5"; exit 1; }
[ "$OURLIB" != "$STOCKREAL" ] || { echo "$OURDIR holds the stock library"; exit 1; }
[ -z "$FMCAT" ] || [ -x "$FMCAT" ] || { echo "no femtomsg nanocat at $FMCAT"; exit 1; }

T=$(mktemp -d /tmp/fm-dropin.XXXXXX) || exit 1
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

failures=0
checks=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
pass() {
    checks=$((checks + 1))
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_for SECONDS COMMAND...: run COMMAND until it succeeds or time is up.
wait_for() {
    local end=$(($(now_ms) + $1 * 1000))
    shift
    until "$@"; do
        [ "$(now_ms)" -lt $end ] || return 1
        sleep 0.02
    done
}

alive() { kill -0 "$1" 2>/dev/null; }

# A tcp port nobody uses now, derived from our pid; the next call moves on.
NEXTPORT=$((20000 + ($$ * 7) % 30000))
port_busy() {
    local hex
    hex=$(printf ':%04X ' "$1")
    grep -q "$hex" /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
new_addr() {
    if [ "$TP" = tcp ]; then
        while port_busy $NEXTPORT; do NEXTPORT=$((NEXTPORT + 1)); done
        ADDR="tcp://127.0.0.1:$NEXTPORT"
        NEXTPORT=$((NEXTPORT + 1))
    else
        ADDR="ipc://$T/case$NEXTPORT.ipc"
        NEXTPORT=$((NEXTPORT + 1))
    fi
}

# Is something listening on ADDR (given as tcp://127.0.0.1:P or ipc://PATH)?
listening() {
    case $1 in
    tcp://*)
        local hex
        hex=$(printf '0100007F:%04X 00000000:0000 0A' "${1##*:}")
        grep -q "$hex" /proc/net/tcp
        ;;
    ipc://*) [ -S "${1#ipc://}" ] ;;
    esac
}

# start KIND TAG ARGS...: run a nanocat in the background. KIND is
#   ours  - /usr/bin/nanocat on femtomsg's library (LD_LIBRARY_PATH)
#   stock - /usr/bin/nanocat on the stock library
#   fm    - femtomsg's nanocat (on femtomsg's library)
# Output goes to $T/TAG.out and $T/TAG.err, the linker's trace to
# $T/TAG.ld.PID; the pid is left in $PID and the kind in KIND_OF_TAG.
start() {
    local kind=$1 tag=$2
    shift 2
    local bin=$STOCKCAT
    [ "$kind" = fm ] && bin=$FMCAT
    if [ "$kind" = stock ]; then
        env -u LD_LIBRARY_PATH LD_DEBUG=libs LD_DEBUG_OUTPUT="$T/$tag.ld" \
            "$bin" "$@" >"$T/$tag.out" 2>"$T/$tag.err" &
    else
        env LD_LIBRARY_PATH="$OURDIR" ${FM_DROPIN_PRELOAD:+LD_PRELOAD="$FM_DROPIN_PRELOAD"} \
            LD_DEBUG=libs LD_DEBUG_OUTPUT="$T/$tag.ld" \
            "$bin" "$@" >"$T/$tag.out" 2>"$T/$tag.err" &
    fi
    PID=$!
    PIDS+=("$PID")
    eval "KIND_$tag=$kind PID_$tag=$PID"
}

expected_lib() {
    if [ "$1" = stock ]; then echo "$STOCKREAL"; else echo "$OURLIB"; fi
}

# The library the linker initialised for TAG (from LD_DEBUG=libs).
check_loaded() {
    local tag=$1 kind pid want got
    eval "kind=\$KIND_$tag pid=\$PID_$tag"
    want=$(expected_lib "$kind")
    got=$(sed -n 's/.*calling init: \(.*libnanomsg[^ ]*\).*/\1/p' "$T/$tag.ld.$pid" 2>/dev/null | head -1)
    if [ -z "$got" ]; then
        fail "$tag ($kind): no libnanomsg in the linker's trace"
    elif [ "$(readlink -f "$got")" != "$want" ]; then
        fail "$tag ($kind): loaded $got, expected $want"
    else
        pass
    fi
}

# The library mapped into TAG's running process (from /proc/PID/maps).
check_mapped() {
    local tag=$1 kind pid want got
    eval "kind=\$KIND_$tag pid=\$PID_$tag"
    want=$(expected_lib "$kind")
    got=$(grep -o '/[^ ]*libnanomsg[^ ]*' "/proc/$pid/maps" 2>/dev/null | sort -u)
    if [ -z "$got" ]; then
        fail "$tag ($kind): pid $pid maps no libnanomsg (did it exit? $(cat "$T/$tag.err"))"
    elif [ "$got" != "$want" ]; then
        fail "$tag ($kind): pid $pid maps $got, expected $want"
    else
        pass
    fi
}

# Start a server (a binding nanocat) and wait until it listens; moves to a
# fresh tcp port if another program took ours meanwhile.
start_server() {
    local kind=$1 tag=$2
    shift 2
    local try
    for try in 1 2 3 4 5; do
        new_addr
        start "$kind" "$tag" --bind "$ADDR" "$@"
        if wait_for 30 eval 'listening "$ADDR" || ! alive $PID'; then
            if alive "$PID" && listening "$ADDR"; then
                check_mapped "$tag"
                return 0
            fi
            wait "$PID" 2>/dev/null
            grep -q "in use" "$T/$tag.err" && continue
        fi
        fail "$tag ($kind): did not come to listen on $ADDR: $(cat "$T/$tag.err")"
        return 1
    done
    fail "$tag: no free address"
    return 1
}

stop() {
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# --- REQ/REP: the server binds and answers; the client connects, sends one
# request, prints the reply and exits 0.
reqrep() {
    local srvkind=$1 clikind=$2 name=$3
    local req="ping-$name" rep="pong-$name"
    start_server "$srvkind" "${name}_rep" --rep --data "$rep" --recv-timeout 60 --ascii || return
    local srv=$PID
    start "$clikind" "${name}_req" --req --connect "$ADDR" --data "$req" --recv-timeout 30 --ascii
    local cli=$PID
    wait "$cli"
    local rc=$?
    if [ $rc -ne 0 ] || [ "$(cat "$T/${name}_req.out")" != "$rep" ]; then
        fail "$name: REQ client ($clikind) exit $rc, printed '$(cat "$T/${name}_req.out")', wanted '$rep'; stderr: $(cat "$T/${name}_req.err")"
    else
        pass
    fi
    # The server printed the request before it answered.
    if [ "$(head -1 "$T/${name}_rep.out")" != "$req" ]; then
        fail "$name: REP server ($srvkind) printed '$(cat "$T/${name}_rep.out")', wanted '$req'"
    else
        pass
    fi
    check_mapped "${name}_rep"
    stop "$srv"
    check_loaded "${name}_rep"
    check_loaded "${name}_req"
}

# --- PUB/SUB: the publisher binds and repeats its message (a subscriber
# that is not connected yet misses it); the subscriber connects and must
# print it, and nothing else.
pubsub() {
    local pubkind=$1 subkind=$2 name=$3
    local msg="news-$name"
    start_server "$pubkind" "${name}_pub" --pub --data "$msg" --interval 0.05 || return
    local pub=$PID
    start "$subkind" "${name}_sub" --sub --connect "$ADDR" --subscribe news --recv-timeout 60 --ascii
    local sub=$PID
    if wait_for 30 grep -qx "$msg" "$T/${name}_sub.out"; then
        pass
    else
        fail "$name: SUB ($subkind) did not print '$msg'; stderr: $(cat "$T/${name}_sub.err")"
    fi
    check_mapped "${name}_sub"
    check_mapped "${name}_pub"
    stop "$sub"
    stop "$pub"
    if grep -vqx "$msg" "$T/${name}_sub.out"; then
        fail "$name: SUB printed something else: $(grep -vx "$msg" "$T/${name}_sub.out" | head -3)"
    fi
    check_loaded "${name}_pub"
    check_loaded "${name}_sub"

}

peers="ours stock"
[ -n "$FMCAT" ] && peers="$peers fm"
for peer in $peers; do
    reqrep ours "$peer" "${TP}_rep_ours_req_$peer"
    reqrep "$peer" ours "${TP}_rep_${peer}_req_ours"
    pubsub ours "$peer" "${TP}_pub_ours_sub_$peer"
    pubsub "$peer" ours "${TP}_pub_${peer}_sub_ours"
done

if [ $failures -ne 0 ]; then
    echo "$failures check(s) failed, $checks passed"
    exit 1
fi
echo "ok: $checks checks, /usr/bin/nanocat on $OURLIB over $TP with peers: $peers"
exit 0
