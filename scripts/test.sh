#!/usr/bin/env bash
# test.sh: the whole test suite. Builds and runs every test in a Release
# build, then again under AddressSanitizer + UndefinedBehaviourSanitizer.
# Pass one configuration name (release, asan) to run only that one.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(release asan)
jobs=$(nproc)
for cfg in "${configs[@]}"; do
  case "$cfg" in
    release) opts=(-DCMAKE_BUILD_TYPE=Release) ;;
    asan)    opts=(-DCMAKE_BUILD_TYPE=Debug -DFM_SANITIZE=address,undefined) ;;
    tsan)    opts=(-DCMAKE_BUILD_TYPE=Debug -DFM_SANITIZE=thread) ;;
    *) echo "unknown configuration: $cfg" >&2; exit 2 ;;
  esac
  dir="build-test-$cfg"
  echo "=== $cfg: configure and build in $dir"
  cmake -S . -B "$dir" "${opts[@]}" >/dev/null
  cmake --build "$dir" -j"$jobs" >/dev/null
  echo "=== $cfg: ctest"
  (cd "$dir" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$jobs")
done
