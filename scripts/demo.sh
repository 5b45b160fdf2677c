#!/usr/bin/env bash
# demo.sh: the main job. Build femtomsg (Release) and run the live
# demonstration.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
exec build/demo/femtomsg_demo
