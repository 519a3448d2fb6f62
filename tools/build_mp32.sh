#!/usr/bin/env bash
# `make mp32`: MicroPython's unix port as a 32-bit build, with the ESP32's object sizes and 31-bit small ints
# (anything beyond +-2**30 is a heap-allocated long int), for tools/ram.py and the allocation tests.
#   tools/build_mp32.sh OUT_DIR              OUT_DIR/micropython/ports/unix/build-m32/micropython-m32
#   tools/build_mp32.sh OUT_DIR MANIFEST     .../build-m32-frozen/micropython-m32-frozen, the manifest's modules frozen
# Prints the binary's path last. The source is MicroPython at commit 1c3c201149: the snapshot in
# ../shared/micropython/ beside the repository where it exists (see its README and build-unix32.sh, which this
# follows), else a clone of MicroPython's repository. Needs gcc-multilib (Debian). About 30 s on two cores the
# first time; OUT_DIR is reused, so a rebuild compiles only what changed.
set -euo pipefail
commit=1c3c201149
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
manifest=${2:-}
src="$out/micropython"
snapshot=$(ls "$root"/../shared/micropython/micropython-*.tar.xz 2>/dev/null | head -1 || true)
if [ ! -d "$src/py" ]; then
  if [ -n "$snapshot" ]; then
    tar -xJf "$snapshot" -C "$out"
  else
    git clone --quiet https://github.com/micropython/micropython "$src"
    git -C "$src" checkout --quiet "$commit"
  fi
fi
# Frozen modules: asyncio (as in every ESP32 image) and the manifest's; no micropython-lib.
mkdir -p "$out/empty-lib" && touch "$out/empty-lib/README.md"
base="$out/manifest-base${manifest:+-frozen}.py"
echo 'include("$(MPY_DIR)/extmod/asyncio")' > "$base"
tag=m32
if [ -n "$manifest" ]; then
  echo "include(\"$(cd "$(dirname "$manifest")" && pwd)/$(basename "$manifest")\")" >> "$base"
  tag=m32-frozen
fi
make -C "$src/mpy-cross" -j2 >"$out/mpy-cross.log" 2>&1 || { tail -20 "$out/mpy-cross.log"; exit 1; }
# MPY_CROSS_FLAGS: frozen native and viper code for the 32-bit x86 target (mpy-cross itself is a 64-bit program).
make -C "$src/ports/unix" -j2 VARIANT=standard CC="gcc -m32" CXX="g++ -m32" BUILD="build-$tag" PROG="micropython-$tag" \
  MICROPY_PY_BTREE=0 MICROPY_PY_SSL=0 MICROPY_SSL_MBEDTLS=0 MICROPY_PY_FFI=0 MPY_CROSS_FLAGS=-march=x86 \
  MPY_LIB_DIR="$out/empty-lib" FROZEN_MANIFEST="$base" >"$out/build-$tag.log" 2>&1 || { tail -20 "$out/build-$tag.log"; exit 1; }
echo "$src/ports/unix/build-$tag/micropython-$tag"
