#!/usr/bin/env bash
# Build kvmrun twice (normal, and with AddressSanitizer + UBSan) and run the
# whole test suite on each. Ends with "N passed, N failed, N skipped".
# KVM tests are skipped, loudly, when /dev/kvm is not usable.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh || exit 1

if ! { exec 3<>/dev/kvm; } 2>/dev/null; then
	echo "WARNING: /dev/kvm is not usable here: every KVM test will be SKIPPED" >&2
else
	exec 3>&-
fi

status=0
logs=()
run_suite() {
	local dir=$1; shift
	echo "=== $dir: $*"
	if [[ ! -d $dir ]]; then
		meson setup "$dir" "$@" >/dev/null || { status=1; return; }
	fi
	ninja -C "$dir" || { status=1; return; }
	# ASan's leak checker needs ptrace-free /proc access; keep its report on.
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C "$dir" --print-errorlogs --num-processes 2 || status=1
	logs+=("$dir/meson-logs/testlog.json")
}

run_suite build
run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false

python3 - "${logs[@]}" <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        continue
    for line in lines:
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
py=$?
[[ $py -ne 0 ]] && status=1
exit $status
