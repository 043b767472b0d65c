#!/usr/bin/env bash
# kvmrun start-up benchmark: install what it needs (valgrind, QEMU as the
# outside reference), build, run bench/startup.py, keep a copy of the
# output in bench/results/. Options go to startup.py (--runs N, --no-qemu,
# --no-callgrind, --profile-dir DIR); KVMRUN_BENCH_BUILD picks the build
# directory (default: build, which must not use sanitizers).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --bench
build=${KVMRUN_BENCH_BUILD:-build}
[[ -d $build ]] || meson setup "$build" >/dev/null
ninja -C "$build" >/dev/null

mkdir -p bench/results
log=bench/results/startup-$(date +%Y%m%d-%H%M%S).txt
python3 bench/startup.py --build-dir "$build" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
echo "(saved to $log)"
exit "$status"
