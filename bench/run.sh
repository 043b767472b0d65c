#!/usr/bin/env bash
# kvmrun benchmarks (bench/README.md): install what they need (valgrind,
# QEMU as the outside reference), build, run, keep a copy of each output in
# bench/results/.
#
#   bench/run.sh                    all benchmarks, default settings
#   bench/run.sh startup [OPTIONS]  the start-up benchmark (bench/startup.py)
#   bench/run.sh exits [OPTIONS]    the exit-path benchmark (bench/exits.py)
#   bench/run.sh multiboot [OPTIONS]  kvmrun against QEMU pc on a Multiboot
#                                   test kernel (bench/multiboot.py)
#   bench/run.sh net [OPTIONS]      virtio-net throughput over TAP (bench/net.py)
#   bench/run.sh blk [OPTIONS]      virtio-blk from a guest against the same
#                                   I/O from a host process (bench/blk.py)
#   bench/run.sh snapshot [OPTIONS] kvmrun's snapshot save and restore per
#                                   component, each memory back-end, files
#                                   on disk and tmpfs, QEMU's migration to
#                                   and from a file alongside (bench/snapshot.py)
#   bench/run.sh snapshot_qemu [OPTIONS]  QEMU's half alone
#                                   (bench/snapshot_qemu.py; not in "all")
#
# With more than one, only the options they share are accepted (--no-qemu,
# --no-callgrind, --profile-dir DIR); anything else needs a benchmark name.
# KVMRUN_BENCH_BUILD picks the build directory (default: build, which must
# not use sanitizers).
set -euo pipefail
cd "$(dirname "$0")/.."

which=(startup exits multiboot net blk snapshot)
case "${1:-}" in
startup | exits | multiboot | net | blk | snapshot | snapshot_qemu)
	which=("$1")
	shift
	;;
all)
	shift
	;;
esac
if ((${#which[@]} > 1)); then
	for ((i = 1; i <= $#; i++)); do
		case "${!i}" in
		--no-qemu | --no-callgrind) ;;
		--profile-dir) ((i++)) ;;
		--profile-dir=*) ;;
		*)
			echo "bench/run.sh: ${!i}: name the benchmark it is for," \
				"e.g. bench/run.sh startup --runs 60 or bench/run.sh exits --rounds 9" >&2
			exit 2
			;;
		esac
	done
fi

scripts/install-deps.sh --bench
build=${KVMRUN_BENCH_BUILD:-build}
[[ -d $build ]] || meson setup "$build" >/dev/null
ninja -C "$build" >/dev/null

mkdir -p bench/results
status=0
for name in "${which[@]}"; do
	log=bench/results/$name-$(date +%Y%m%d-%H%M%S).txt
	set +e
	python3 "bench/$name.py" --build-dir "$build" "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	echo "(saved to $log)"
	((rc == 0)) || status=$rc
	((${#which[@]} == 1)) || echo
done
exit "$status"
