#!/bin/sh
# netns_test.sh: two hosts in network namespaces of their own, joined by a
# veth pair: a femtomsg REQ in one, a REP in the other (netns_peer). The
# link is cut (ip link set down) and restored, then, where the kernel has
# tc netem, delay and loss are added; each time traffic must resume with
# no help from the application (it only sends and receives). Addresses are
# 10.200.x.1 and 10.200.x.2 on the veth made here, nothing else is
# touched. Exits 77 (skipped) when not root or without ip netns.
# FM_SOAK=1: more cuts, longer cuts, longer netem.
# Usage: netns_test.sh <path to netns_peer>
peer=${1:?usage: netns_test.sh <netns_peer>}
skip() { echo "skipped: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root"
command -v ip > /dev/null 2>&1 || skip "no ip(8)"

tag=$$
A=fmnsA$tag
B=fmnsB$tag
VA=fmva$tag
VB=fmvb$tag
net=10.200.$((tag % 250 + 1))
T=$(mktemp -d /tmp/fm-netns.XXXXXX)
pids=
cleanup() {
    for p in $pids; do kill -9 "$p" 2> /dev/null; done
    wait 2> /dev/null
    ip netns del "$A" 2> /dev/null
    ip netns del "$B" 2> /dev/null
    rm -rf "$T"
}
trap cleanup EXIT INT TERM

ip netns add "$A" 2> "$T/err" || skip "ip netns unavailable: $(cat "$T/err")"
ip netns add "$B" || skip "ip netns unavailable"
ip -n "$A" link set lo up && ip -n "$B" link set lo up || skip "cannot set up loopback"
ip -n "$A" link add "$VA" type veth peer name "$VB" netns "$B" 2> "$T/err" ||
    skip "no veth: $(cat "$T/err")"
ip -n "$A" addr add "$net.1/24" dev "$VA"
ip -n "$B" addr add "$net.2/24" dev "$VB"
ip -n "$A" link set "$VA" up
ip -n "$B" link set "$VB" up

fail() { echo "FAIL: $*"; for f in "$T"/*.err; do [ -s "$f" ] && sed "s|^|$(basename "$f"): |" "$f"; done; exit 1; }
count() { c=$(cat "$T/count" 2> /dev/null); echo "${c:-0}"; }
# wait_for <replies> <seconds>: until the client has that many replies
wait_for() {
    end=$(( $(date +%s) + $2 ))
    while [ "$(count)" -lt "$1" ]; do
        kill -0 "$client" 2> /dev/null || fail "the client exited (after $(count) replies)"
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.05
    done
    return 0
}

addr=tcp://$net.2:5555
ip netns exec "$B" "$peer" rep "$addr" 2> "$T/rep.err" &
pids="$pids $!"
ip netns exec "$A" "$peer" req "$addr" "$T/count" 2> "$T/req.err" &
client=$!
pids="$pids $client"
wait_for 100 20 || fail "no traffic across the veth: $(count) replies"
echo "link up: $(count) replies"

soak=0
[ -n "${FM_SOAK:-}" ] && [ "$FM_SOAK" != 0 ] && soak=1
cuts=2; hold=2
[ $soak = 1 ] && { cuts=10; hold=8; }
i=0
while [ $i -lt $cuts ]; do
    i=$((i + 1))
    side=$VA; ns=$A
    [ $((i % 2)) = 0 ] && { side=$VB; ns=$B; }
    ip -n "$ns" link set "$side" down
    before=$(count)
    sleep "$hold"   # the outage itself
    during=$(( $(count) - before ))
    [ "$during" -le 1 ] || fail "cut $i: $during replies came through a link that was down"
    ip -n "$ns" link set "$side" up
    t0=$(date +%s)
    wait_for $((before + 100)) 60 || fail "cut $i ($side down ${hold}s): traffic did not resume (stuck at $(count))"
    echo "cut $i: $side down ${hold}s, traffic resumed by itself within $(( $(date +%s) - t0 ))s ($(count) replies)"
done

if ip netns exec "$A" tc qdisc add dev "$VA" root netem delay 40ms 10ms loss 10% 2> "$T/err"; then
    ip netns exec "$B" tc qdisc add dev "$VB" root netem delay 40ms loss 10% 2> /dev/null
    secs=60; want=40
    [ $soak = 1 ] && { secs=300; want=400; }
    before=$(count)
    wait_for $((before + want)) $secs || fail "netem delay+loss: only $(( $(count) - before )) replies in ${secs}s"
    echo "netem delay 40ms loss 10% both ways: $(( $(count) - before )) more replies"
    ip netns exec "$A" tc qdisc del dev "$VA" root
    ip netns exec "$B" tc qdisc del dev "$VB" root 2> /dev/null
    before=$(count)
    wait_for $((before + 100)) 30 || fail "after netem: traffic did not recover"
else
    echo "tc netem unavailable here ($(head -n 1 "$T/err")): delay and loss not tested"
fi
kill -0 "$client" 2> /dev/null || fail "the client exited"
echo "ok: $(count) replies, every one the answer to its own request"
exit 0
