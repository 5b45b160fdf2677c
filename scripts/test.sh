#!/usr/bin/env bash
# test.sh: the whole test suite, as CI runs it. Builds and runs every test in
# a Release build, then under AddressSanitizer + UndefinedBehaviourSanitizer,
# then under ThreadSanitizer (less the tests that run no femtomsg thread, or
# femtomsg only beside a foreign program: FM_TSAN_SKIP in
# tests/CMakeLists.txt says which and why), then runs each libFuzzer target
# for a bounded time (FM_FUZZ_SECONDS per target, default 30) in a clang
# build. Each configuration ends with its slowest tests.
# Pass configuration names (release, asan, tsan, fuzz) to run only those.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(release asan tsan fuzz)
jobs=$(nproc)
for cfg in "${configs[@]}"; do
  start=$SECONDS
  case "$cfg" in
    release) opts=(-DCMAKE_BUILD_TYPE=Release) ;;
    asan)    opts=(-DCMAKE_BUILD_TYPE=Debug -DFM_SANITIZE=address,undefined) ;;
    tsan)    opts=(-DCMAKE_BUILD_TYPE=Debug -DFM_SANITIZE=thread) ;;
    fuzz)    opts=(-DCMAKE_C_COMPILER=clang -DFM_FUZZ=ON -DFM_TESTS=OFF) ;;
    *) echo "unknown configuration: $cfg" >&2; exit 2 ;;
  esac
  dir="build-test-$cfg"
  echo "=== $cfg: configure and build in $dir"
  cmake -S . -B "$dir" "${opts[@]}" >/dev/null
  cmake --build "$dir" -j"$jobs" >/dev/null
  if [ "$cfg" = fuzz ]; then
    echo "=== fuzz: ${FM_FUZZ_SECONDS:-30} s per target"
    fuzz/run.sh "$dir" "${FM_FUZZ_SECONDS:-30}"
  else
    echo "=== $cfg: ctest"
    if [ "$cfg" = tsan ]; then
      echo "=== tsan: left out, each with its reason in tests/CMakeLists.txt (FM_TSAN_SKIP):"
      sed -n 's/^set(fm_patterns \(.*\))$/    \1/p' "$dir/CTestCustom.cmake"
    fi
    (cd "$dir" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$jobs")
    # Where the time went, for the next look at CI's time budget.
    echo "=== $cfg: the slowest tests (seconds)"
    # (awk reads to the end: a head that leaves early kills sort with
    # SIGPIPE, which pipefail makes the run's exit status.)
    awk 'NF == 3' "$dir/Testing/Temporary/CTestCostData.txt" | sort -k3 -rn |
      awk 'NR <= 12 {printf "    %-32s %6.1f\n", $1, $3}'
  fi
  echo "=== $cfg: done in $((SECONDS - start)) s"
done
