#!/bin/sh
# run.sh: run every libFuzzer target for a bounded time (CI). Usage:
#   fuzz/run.sh <build-dir configured with -DFM_FUZZ=ON> [seconds per target] [target...]
# The seed corpus of each target (fuzz/corpus/<target>) is read, never
# written; what a run discovers goes to a scratch corpus that a later run
# with FM_FUZZ_WORK=<dir> set reuses. A crash, leak or broken invariant
# leaves its input in <work>/artifacts/ and makes the script fail; once
# fixed, copy that input into fuzz/corpus/<target>/: the suite's
# fuzz_replay_<target> test replays the corpus in every build.
set -u
build=${1:?usage: run.sh <build-dir> [seconds] [target...]}
secs=${2:-45}
[ $# -ge 2 ] && shift 2 || shift $#
here=$(cd "$(dirname "$0")" && pwd)
work=${FM_FUZZ_WORK:-$(mktemp -d /tmp/fm-fuzz-run.XXXXXX)}
mkdir -p "$work/artifacts"
targets=${*:-"fuzz_addr fuzz_tcp fuzz_ipc fuzz_hdr fuzz_ws"}
status=0
for t in $targets; do
    bin=$build/fuzz/$t
    if [ ! -x "$bin" ]; then
        echo "$t: not built (skipped)"
        continue
    fi
    case $t in
        fuzz_tcp|fuzz_ipc|fuzz_ws) maxlen=80000 ;;
        *) maxlen=4096 ;;
    esac
    mkdir -p "$work/$t"
    log=$work/$t.log
    "$bin" -max_total_time="$secs" -max_len="$maxlen" -timeout=30 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/$t-" \
        "$work/$t" "$here/corpus/$t" > "$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    if [ $rc -ne 0 ]; then
        echo "$t: FAILED (exit $rc) after ${runs:-?} runs; log $log, input in $work/artifacts/"
        grep -E 'ERROR|invariant|SUMMARY' "$log" | head -n 5
        status=1
    else
        echo "$t: ok, ${secs}s, ${runs:-?} runs, ${rate:-?} exec/s, ${cov:-?}"
    fi
done
echo "work directory: $work"
exit $status
