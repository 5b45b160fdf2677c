#!/bin/sh
# test_nanocat.sh OURS_NANOCAT SOURCE_DIR
#
# Holds our nanocat to the stock one (/usr/bin/nanocat, which runs on the
# stock library): the same command lines must give the same stdout, stderr
# and exit code, and once our library has the ipc and tcp transports (see
# src/registry.c) our nanocat talks to the stock one over them and every
# message must be rendered byte for byte as the stock tool renders it.
# Nothing here sleeps to synchronise: background peers are stopped once the
# output they were waited for is there, under a generous deadline.
set -u

OURS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
STOCK=${STOCK_NANOCAT:-/usr/bin/nanocat}
if [ ! -x "$STOCK" ]; then
    echo "SKIP: no stock nanocat at $STOCK (Debian package nanomsg-utils)"
    exit 77
fi

# Comparing the stock tool with itself would prove nothing.
if command -v ldd >/dev/null 2>&1; then
    lib_of() { ldd "$1" | awk '/libnanomsg/ {print $3}'; }
    if [ "$(lib_of "$OURS")" = "$(lib_of "$STOCK")" ]; then
        echo "FAIL: $OURS loads the stock library $(lib_of "$STOCK")"
        exit 1
    fi
fi

T=$(mktemp -d /tmp/nanocat_test.XXXXXX) || exit 1
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Both tools run as ./nanocat (or ./nn_<type>) from their own directory so
# that argv[0], which they print, is the same.
for side in ours stock; do
    mkdir "$T/$side"
    if [ $side = ours ]; then bin=$OURS; else bin=$STOCK; fi
    ln -s "$bin" "$T/$side/nanocat"
    for t in push pull pub sub req rep surveyor respondent bus pair; do
        ln -s "$bin" "$T/$side/nn_$t"
    done
done

failures=0
checks=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

TMO="timeout 60"
command -v timeout >/dev/null 2>&1 || TMO=""

# run SIDE NAME ARGS...: run in the side's directory; leaves $T/NAME.{out,err,rc}
run() {
    side=$1 name=$2
    shift 2
    (cd "$T/$side" && eval "$TMO $*") <"$T/stdin" >"$T/$name.out" 2>"$T/$name.err"
    echo $? >"$T/$name.rc"
}
: >"$T/stdin"

# same ARGS: both tools (./nanocat unless ARGS name ./nn_<type>), identical
# stdout, stderr and exit code.
same() {
    checks=$((checks + 1))
    case "$*" in
    ./*) cmd="$*" ;;
    *) cmd="./nanocat $*" ;;
    esac
    run ours o "$cmd"
    run stock s "$cmd"
    for f in rc out err; do
        if ! cmp -s "$T/o.$f" "$T/s.$f"; then
            fail "[$*] $f differs"
            echo "  ours:  $(head -c 600 "$T/o.$f" | od -c | head -8)"
            echo "  stock: $(head -c 600 "$T/s.$f" | od -c | head -8)"
            return
        fi
    done
}

# ------------------------------------------------------- command line
printf 'hello\nfile\0data' >"$T/data.bin"
printf 'x' >"$T/one.bin"

same --help
same -h
same ./nn_pair -h
same -h --no-such-option
same --he
same "--pair --bind x -h"
same ""
same --pair
same "--bind x"
same "--sub --subscribe x"
same --foo
same --foo=bar
same -z
same -vZ
same x
same "--pair --bind x y"
same --p
same --pu
same --pu=3
same --connect-
same "--=x"
same "--pair --pub --bind x"
same "--pub --pair --sub --bind x"
same "--pair --pair --bind x"
same "--pair --pub=3 --bind x"
same "--pair --verbose=2"
same "--pair -D a -F $T/one.bin --bind x"
same "--pair --data a --file $T/one.bin --bind x"
same "--pair --dat a --fi $T/one.bin --bind x"
same "--pair --data=a --file=$T/one.bin --bind x"
same "--pair --dat=a --fi=$T/one.bin --bind x"
same "--pair -D a --data b -F c"
same "--pair -Da -Db --bind x"
same "--pair --file $T/missing --data a --bind x"
same "--pair -F $T/missing"
same "--pair --format foo --bind x"
same "--pair --format=foo --bind x"
same "--pair --form foo --bind x"
same "--pair --form=foo --bind x"
same "--pair --format asc --bind x"
same "--pair --format '' --bind x"
same "--pair --format"
same "--pair --bind"
same "--pair -D"
same "--pair --dat"
same "--pair -x"
same "--pair -X"
same "--pair -i"
same "--pair --socket-name"
same "--sub --subscribe"
same "--pair -i abc --bind x"
same "--pair -i 1.5x --bind x"
same "--pair -d abc --bind x"
same "--pair --recv-timeout abc --bind x"
same "--pair --send-timeout '' --bind x"
same "--pair -Ax --bind x"
same "--pair -R --bind x"
same "--subscribe a --pair --bind x"
same "--pair --subs a"
same "--sub --subscribe a --bind x --data x"
same "--pull --data a --bind x"
same "--pull -i 1 --bind x"
same "--pull -D x -i 1 --bind x"
same "--pull -i 1 --interval 2 --bind x"
same "--pull --interval 2 -i 1 --bind x"
same "--pull -i 1 --send-timeout 1 --bind x"
same "--push --bind x"
same "--push -A --bind x"
same "--push --recv-timeout 1 --bind x"
same "--push -D x -A --bind x"
same "--push -D x --format quoted --bind x"
same "--push -D x --hex --format raw --bind x"
same "--pub -A -i 1 --recv-timeout 1 --bind x"
same "--req --bind x"
same "--surveyor --bind x"
same "--sub --file $T/one.bin --bind x"
same "-d 1"
same "--socket-name x"
same "-D x --bind y"
same ./nn_push --bind x
same "./nn_sub --bind x -D x"
same "./nn_pair --bind x --pair"
same "./nn_pair --bind x --pub"
same "./nn_push --push"
for t in push pull pub sub req rep surveyor respondent bus pair; do
    same "--$t --bind x"
    same "--$t --connect x -D y"
done
same "--pair -- --bind x"
same "--pair - --bind x"
same "--pair --bind x -- y"
same "--pair -vvq -A -Q --raw --hex --msgpack --bind x"
same "--pair --bind=x"
same "--pair -L 99999"
same "--pair -l abc"
same "--pair --connect x"
same "--pair --connect ''"
same "--pair --bind nosuch://x"
same "--pair --connect nosuch://x"

# ------------------------------------------- without peers (inproc only)
# Whole seconds only for --recv-timeout: the stock tool truncates it to
# whole seconds outside the --interval loop, ours does not.
same "--pair --bind inproc://a --recv-timeout 0"
same "--pair --bind inproc://a --send-timeout 0 -D x"
same "--pair --bind inproc://a --send-timeout 0 -D x -i 1"
same "--pair --bind inproc://a --bind inproc://a"
same "--pair --connect inproc://a --connect inproc://a --recv-timeout 0"
same "--pair --bind inproc://a --socket-name $(printf '%0100d' 0)"
same "--pair --bind inproc://a --socket-name abc --recv-timeout 0"
same "--pair --bind inproc://a -D x --delay 0 --send-timeout 0"
same "--pair --bind inproc://a --recv-timeout 1 -A"

# The other socket types, when our library has them.
have_proto() { grep -q "&fm_$1\b" "$SRC/src/registry.c"; }
have_proto pull && same "--pull --bind inproc://a --recv-timeout 0"
have_proto sub && same "--sub --bind inproc://a --recv-timeout 0"
have_proto sub && same "--sub --bind inproc://a --recv-timeout 0 --subscribe a --subscribe b"
have_proto push && same "--push --bind inproc://a --send-timeout 0 -D x"
have_proto pub && same "--pub --bind inproc://a -D x"
have_proto pub && same "--pub --bind inproc://a -D x -d 0.1"
have_proto req && same "--req --bind inproc://a -D x --recv-timeout 0"
have_proto rep && same "--rep --bind inproc://a --recv-timeout 0"
have_proto rep && same "--rep --bind inproc://a -D x --recv-timeout 0"
have_proto surveyor && same "--surveyor --bind inproc://a -D x --recv-timeout 0"
have_proto respondent && same "--respondent --bind inproc://a --recv-timeout 0"
have_proto respondent && same "--respondent --bind inproc://a -D x --recv-timeout 0"
have_proto bus && same "--bus --bind inproc://a -D x --recv-timeout 0"
have_proto bus && same "--bus --bind inproc://a --recv-timeout 0"

# --------------------------------------- where we differ from stock on purpose
# The stock tool asserts on an empty data file, spins forever reading a
# directory, crashes or binds the wrong address when -X/-x/-L/-l are given
# more than once, aborts on a negative --delay and truncates --recv-timeout
# to whole seconds. Ours does what the options say.
checks=$((checks + 1))
run ours o ./nanocat --pair --bind inproc://a -F "$T"
[ "$(cat "$T/o.rc")" = 2 ] && [ "$(cat "$T/o.err")" = "Error reading file \`\`$T'': Is a directory" ] ||
    fail "-F DIR: $(cat "$T/o.rc") $(cat "$T/o.err")"

checks=$((checks + 1))
run ours o ./nanocat --pair --bind inproc://a -d -1 --recv-timeout 0
[ "$(cat "$T/o.rc")" = 0 ] && [ ! -s "$T/o.err" ] || fail "-d -1: $(cat "$T/o.rc") $(cat "$T/o.err")"

checks=$((checks + 1))
t0=$(date +%s%N)
run ours o ./nanocat --pair --bind inproc://a --recv-timeout 0.3
t1=$(date +%s%N)
[ "$(cat "$T/o.rc")" = 0 ] || fail "--recv-timeout 0.3: exit $(cat "$T/o.rc")"
[ $(((t1 - t0) / 1000000)) -ge 290 ] || fail "--recv-timeout 0.3 waited $(((t1 - t0) / 1000000)) ms"

if ! have_proto req || ! grep -q '&fm_ipc\b' "$SRC/src/registry.c"; then
    echo "note: ipc or REQ/REP not in our library yet; interop checks skipped"
    echo "$checks checks, $failures failures"
    [ $failures -eq 0 ]
    exit $?
fi

# ------------------------------------------------ talking to stock (ipc)
n=0
addr() { # a fresh ipc path in $a
    n=$((n + 1))
    a="$T/s$n.ipc"
}

# start SIDE NAME ARGS...: run in the background; PID in $last
start() {
    side=$1 name=$2
    shift 2
    : >"$T/$name.out"
    (cd "$T/$side" && eval "exec $*") <"$T/stdin" >"$T/$name.out" 2>"$T/$name.err" &
    last=$!
    PIDS="$PIDS $last"
}
stop() {
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
# until_lines FILE N PID...: wait (20 s at most) for N complete lines in FILE;
# gives up early if all of the PIDs have exited.
until_lines() {
    file=$1 want=$2
    shift 2
    deadline=$(($(date +%s) + 20))
    while :; do
        have=$(wc -l <"$file")
        [ "$have" -ge "$want" ] && return 0
        [ "$(date +%s)" -ge $deadline ] && return 1
        alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive -eq 0 ] && { [ "$(wc -l <"$file")" -ge "$want" ]; return $?; }
        sleep 0.02
    done
}
# until_exit PID OTHER: wait (30 s at most) for PID to exit; stop waiting if
# OTHER, the peer it needs, has exited.
until_exit() {
    deadline=$(($(date +%s) + 30))
    while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null &&
        [ "$(date +%s)" -lt $deadline ]; do
        sleep 0.02
    done
}
# every_line FILE EXPECTED_FILE: FILE is one or more copies of EXPECTED_FILE
every_line() {
    [ -s "$1" ] || return 1
    sz=$(wc -c <"$2")
    total=$(wc -c <"$1")
    [ $((total % sz)) -eq 0 ] || return 1
    k=0
    while [ $k -lt $((total / sz)) ]; do
        tail -c +$((k * sz + 1)) "$1" | head -c "$sz" | cmp -s - "$2" || return 1
        k=$((k + 1))
    done
}

all_bytes() { # every byte value, then a few escapes
    i=0
    while [ $i -lt 256 ]; do
        printf '%b' "\\0$(printf %03o $i)"
        i=$((i + 1))
    done
    printf '"\\\n\r\t end'
}
all_bytes >"$T/all.bin"
head -c 70000 /dev/zero | tr '\0' 'z' >"$T/big.bin"
head -c 300 /dev/zero | tr '\0' 'm' >"$T/mid.bin"

# reqrep REQ_SIDE REP_SIDE TAG REQ_FILE REP_FILE FORMAT [transport args]
# One request and its reply; leaves TAG.req.* and TAG.rep.* outputs.
reqrep() {
    rq=$1 rp=$2 tag=$3 qf=$4 pf=$5 fmt=$6
    if [ $# -ge 8 ]; then bindarg=$7 connarg=$8; else
        addr
        bindarg="-X $a" connarg="-x $a"
    fi
    start "$rp" "$tag.rep" ./nanocat --rep $bindarg -F "$pf" --format "$fmt" --recv-timeout 60
    rpid=$last
    start "$rq" "$tag.req" ./nanocat --req $connarg -F "$qf" --format "$fmt"
    qpid=$last
    until_exit $qpid $rpid
    kill $qpid 2>/dev/null
    wait $qpid 2>/dev/null
    echo $? >"$T/$tag.req.rc"
    stop $rpid
}

for fmt in no raw ascii quoted msgpack hex; do
    for payload in all big mid; do
        [ $payload != all ] && [ $fmt != msgpack ] && [ $fmt != quoted ] && continue
        reqrep stock stock ref "$T/one.bin" "$T/$payload.bin" $fmt
        for combo in "ours stock" "stock ours" "ours ours"; do
            set -- $combo
            checks=$((checks + 1))
            reqrep $1 $2 t "$T/one.bin" "$T/$payload.bin" $fmt
            what="REQ($1)/REP($2) $fmt $payload"
            cmp -s "$T/t.req.out" "$T/ref.req.out" || fail "$what: reply rendered differently"
            cmp -s "$T/t.req.rc" "$T/ref.req.rc" || fail "$what: REQ exit $(cat "$T/t.req.rc")"
            [ -s "$T/t.req.err" ] && fail "$what: REQ said $(cat "$T/t.req.err")"
            cmp -s "$T/t.rep.out" "$T/ref.rep.out" || fail "$what: request rendered differently"
        done
    done
done
[ "$(cat "$T/ref.req.rc")" = 0 ] || fail "stock REQ/REP reference run failed"

# The request side too: our REQ's payload as the stock REP renders it.
reqrep ours stock t "$T/all.bin" "$T/one.bin" quoted
reqrep stock stock ref "$T/all.bin" "$T/one.bin" quoted
checks=$((checks + 1))
cmp -s "$T/t.rep.out" "$T/ref.rep.out" || fail "REQ(ours) request payload differs"

# tcp with --bind-local / --connect-local, on a port nobody holds.
if grep -q '&fm_tcp\b' "$SRC/src/registry.c"; then
    checks=$((checks + 1))
    tries=0
    port=$((20000 + ($$ % 20000)))
    while :; do
        reqrep ours stock t "$T/one.bin" "$T/all.bin" quoted "-L $port" "-l $port"
        grep -q "Address already in use" "$T/t.rep.err" || break
        tries=$((tries + 1))
        [ $tries -gt 20 ] && break
        port=$((20000 + (port * 7 + 13) % 40000))
    done
    reqrep stock stock ref "$T/one.bin" "$T/all.bin" quoted "-L $port" "-l $port"
    cmp -s "$T/t.req.out" "$T/ref.req.out" || fail "tcp REQ(ours)/REP(stock) reply differs"
    reqrep stock ours t "$T/one.bin" "$T/all.bin" quoted "-L $port" "-l $port"
    cmp -s "$T/t.req.out" "$T/ref.req.out" || fail "tcp REQ(stock)/REP(ours) reply differs"
fi

# The expected rendering of a payload, from the stock tool over stock REQ/REP.
expect() { # PAYLOAD_FILE FORMAT -> $T/expect
    reqrep stock stock ref "$T/one.bin" "$1" "$2"
    cp "$T/ref.req.out" "$T/expect"
}
expect "$T/data.bin" quoted

# stream RECV_SIDE RECV_ARGS SEND_SIDE SEND_ARGS WHAT: a repeating sender,
# a receiver that must print only copies of $T/expect.
stream() {
    checks=$((checks + 1))
    start "$1" recv ./nanocat $2
    recv=$last
    start "$3" send ./nanocat $4
    send=$last
    until_lines "$T/recv.out" 2 $recv $send || fail "$5: receiver printed nothing"
    stop $send
    stop $recv
    every_line "$T/recv.out" "$T/expect" || {
        fail "$5: received output differs"
        od -c "$T/recv.out" | head -5
    }
}

for combo in "ours stock" "stock ours"; do
    set -- $combo
    if have_proto push; then
        addr
        stream $1 "--pull -X $a -Q --recv-timeout 60" \
            $2 "--push -x $a -F $T/data.bin -i 0.05" "PULL($1)<-PUSH($2)"
        addr
        stream $1 "--pull -x $a -Q --recv-timeout 60" \
            $2 "--push -X $a -F $T/data.bin -i 0.05" "PULL($1, connecting)<-PUSH($2)"
    fi
    if have_proto sub; then
        addr
        stream $1 "--sub -X $a -Q --recv-timeout 60" \
            $2 "--pub -x $a -F $T/data.bin -i 0.05" "SUB($1)<-PUB($2)"
        # a subscription that matches, and a publisher it must filter out
        addr
        start $2 other ./nanocat --pub -x $a -D unwanted -i 0.05
        other=$last
        stream $1 "--sub -X $a -Q --recv-timeout 60 --subscribe nope --subscribe hel" \
            $2 "--pub -x $a -F $T/data.bin -i 0.05" "SUB($1, filtered)<-PUB($2)"
        stop $other
    fi
    if have_proto bus; then
        addr
        stream $1 "--bus -X $a -Q --recv-timeout 60" \
            $2 "--bus -x $a -F $T/data.bin -i 0.05" "BUS($1)<-BUS($2)"
    fi
    if have_proto pair; then
        addr
        stream $1 "--pair -X $a -Q --recv-timeout 60" \
            $2 "--pair -x $a -F $T/data.bin -i 0.05" "PAIR($1)<-PAIR($2)"
    fi
    if have_proto surveyor; then
        # the respondent renders the survey, the surveyor the answers
        checks=$((checks + 1))
        addr
        start $1 resp ./nanocat --respondent -X $a -F "$T/data.bin" -Q --recv-timeout 60
        resp=$last
        start $2 surv ./nanocat --surveyor -x $a -F "$T/data.bin" -Q -i 0.2
        surv=$last
        until_lines "$T/resp.out" 1 $resp $surv || fail "RESPONDENT($1): no survey"
        until_lines "$T/surv.out" 1 $resp $surv || fail "SURVEYOR($2): no answer"
        stop $surv
        stop $resp
        every_line "$T/resp.out" "$T/expect" || fail "RESPONDENT($1)<-SURVEYOR($2) differs"
        every_line "$T/surv.out" "$T/expect" || fail "SURVEYOR($2)<-RESPONDENT($1) differs"
    fi
    # PAIR, each side sending once: exactly one message each way.
    checks=$((checks + 1))
    addr
    start $1 pa ./nanocat --pair -X $a -D from-a -A --recv-timeout 60
    pa=$last
    start $2 pb ./nanocat --pair -x $a -D from-b -A --recv-timeout 60
    pb=$last
    until_lines "$T/pa.out" 1 $pa $pb || fail "PAIR($1): nothing from PAIR($2)"
    until_lines "$T/pb.out" 1 $pa $pb || fail "PAIR($2): nothing from PAIR($1)"
    stop $pa
    stop $pb
    [ "$(cat "$T/pa.out")" = from-b ] || fail "PAIR($1) got $(cat "$T/pa.out")"
    [ "$(cat "$T/pb.out")" = from-a ] || fail "PAIR($2) got $(cat "$T/pb.out")"
done

# REQ with --interval: our REQ keeps asking a stock REP, one reply a round.
checks=$((checks + 1))
addr
start stock rep ./nanocat --rep -X $a -D pong -A --recv-timeout 60
rpid=$last
start ours req ./nanocat --req -x $a -D ping -A -i 0.05
qpid=$last
until_lines "$T/req.out" 3 $rpid $qpid || fail "REQ(ours) -i: fewer than 3 replies"
stop $qpid
stop $rpid
[ -z "$(grep -v '^pong$' "$T/req.out")" ] || fail "REQ(ours) -i: odd replies"
[ -z "$(grep -v '^ping$' "$T/rep.out")" ] || fail "REP(stock): odd requests"

# stdin as the data file
checks=$((checks + 1))
printf 'from\nstdin' >"$T/stdin"
reqrep ours stock t - "$T/one.bin" quoted
: >"$T/stdin"
[ "$(cat "$T/t.rep.out")" = '"from\nstdin"' ] || fail "-F -: REP saw $(cat "$T/t.rep.out")"
[ "$(cat "$T/t.req.out")" = '"x"' ] || fail "-F -: REQ got $(cat "$T/t.req.out")"

# ------------------------ where we differ from stock on purpose (over ipc)
: >"$T/empty.bin"
checks=$((checks + 1))
reqrep ours stock t "$T/empty.bin" "$T/one.bin" quoted
[ "$(cat "$T/t.rep.out")" = '""' ] || fail "empty -F: REP(stock) saw $(cat "$T/t.rep.out")"
reqrep stock ours t "$T/one.bin" "$T/empty.bin" quoted
[ "$(cat "$T/t.req.out")" = '""' ] || fail "empty -F: REQ(stock) got $(cat "$T/t.req.out")"


checks=$((checks + 1))
addr
a1=$a
addr
start ours rep ./nanocat --rep -X $a1 -X $a -D pong -A --recv-timeout 60
rpid=$last
for target in $a1 $a; do
    start stock req ./nanocat --req -x $target -D ping -A
    qpid=$last
    until_exit $qpid $rpid
    kill $qpid 2>/dev/null
    wait $qpid 2>/dev/null
    [ "$(cat "$T/req.out")" = pong ] || fail "REP(ours) -X twice: no reply on $target"
done
stop $rpid


echo "$checks checks, $failures failures"
[ $failures -eq 0 ]
