#!/usr/bin/env bash
# deps.sh: install what building and testing femtomsg needs on Debian: the
# toolchain, and the stock nanomsg and NNG libraries the interop and
# conformance tests run against, Chromium and NSS's certutil for the browser
# tests. Does nothing when all is already there.
set -euo pipefail
need=()
for pkg in build-essential cmake pkg-config groff-base man-db libnanomsg-dev nanomsg-utils libnng-dev libnanomsg-raw-perl chromium libnss3-tools clang libclang-rt-dev libssl-dev openssl; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
