#!/bin/sh
# install_check.sh BUILD_DIR SOURCE_DIR [SANITIZERS]: install into a scratch prefix, then
# build a consumer through pkg-config and through find_package(nanomsg), and
# check the installed files and the shared library's SONAME and exports.
set -eu
build=$1 src=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(find "$prefix" -name 'libnanomsg.so.5' -path '*lib*' | head -1 | xargs dirname)
for f in nn.h pair.h reqrep.h pubsub.h pipeline.h survey.h bus.h inproc.h ipc.h tcp.h ws.h; do
  [ -f "$prefix/include/nanomsg/$f" ] || { echo "missing include/nanomsg/$f"; exit 1; }
done
for f in libnanomsg.so libnanomsg.so.5 libnanomsg.a pkgconfig/nanomsg.pc cmake/nanomsg/nanomsgConfig.cmake; do
  [ -e "$libdir/$f" ] || { echo "missing $libdir/$f"; exit 1; }
done
[ "$(readlink "$libdir/libnanomsg.so")" = libnanomsg.so.5 ] || { echo "libnanomsg.so does not point at .so.5"; exit 1; }
soname=$(objdump -p "$libdir/libnanomsg.so.5" | awk '/SONAME/ {print $2}')
[ "$soname" = libnanomsg.so.5 ] || { echo "SONAME is $soname"; exit 1; }
extra=$(nm -D --defined-only "$libdir/libnanomsg.so.5" | awk '{print $3}' | grep -v '^nn_' || true)
[ -z "$extra" ] || { echo "exports beyond nn_*: $extra"; exit 1; }

cc=${CC:-cc}
# In sanitizer builds the consumers need the same runtime.
san=${3:-}
sflags=""
[ -z "$san" ] || sflags="-fsanitize=$san"
PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs nanomsg >/dev/null
$cc $sflags -o "$prefix/pc_consumer" "$src/tests/install/consumer.c" \
  $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs nanomsg) -lpthread
LD_LIBRARY_PATH="$libdir" "$prefix/pc_consumer"

cmake -S "$src/tests/install" -B "$prefix/cm" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_FLAGS="$sflags" -DCMAKE_EXE_LINKER_FLAGS="$sflags" >/dev/null
cmake --build "$prefix/cm" >/dev/null
LD_LIBRARY_PATH="$libdir" "$prefix/cm/consumer"
"$prefix/cm/consumer_static"
echo "install ok"
