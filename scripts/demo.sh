#!/usr/bin/env bash
# Build kvmrun and its test guests, then boot the demo guest.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
[[ -d build ]] || meson setup build >/dev/null
ninja -C build >/dev/null
exec build/kvmrun --kernel build/guest/demo.elf --cpus 2 --memory 128M "$@"
