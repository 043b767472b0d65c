#!/usr/bin/env bash
# Linux boot validation for kvmrun: slow, run by hand, not part of CI.
#
# Fetches a Debian kernel package and boots it three ways with a busybox
# initramfs: the ELF vmlinux as shipped (kvmrun takes its PVH entry), the same
# vmlinux with the PVH note disabled (kvmrun's ELF vmlinux loader, Linux
# 64-bit boot protocol) and the bzImage (64-bit boot protocol through the
# decompressor). From each serial log it checks that the kernel saw what
# kvmrun gave it: our command line, our e820 map, our initrd, our firmware
# tables and our vCPUs. docs/linux-validation.md says what each check looks
# for and what was observed on the project's machines.
#
# Exit status: 0 when no check fails, 1 when one does, 2 on bad usage,
# 3 when the preparation (packages, build, download, extraction) fails.
set -euo pipefail

readonly all_kinds=(vmlinux vmlinux-nopvh bzimage)

usage() {
	cat <<'EOF'
usage: scripts/validate-linux.sh [options]

  --workdir DIR     downloads, images, logs and results (default /tmp/kvmrun-linux-validation,
                    or $KVMRUN_LV_WORKDIR)
  --only KINDS      comma-separated image kinds to boot, in this order by default:
                      vmlinux        the ELF vmlinux as shipped (kvmrun boots it through PVH)
                      vmlinux-nopvh  the vmlinux with its PVH note disabled (64-bit boot protocol)
                      bzimage        the bzImage (64-bit boot protocol, XZ decompressor first)
  --timeout SECS    wall-clock limit for each boot (default: 600, bzimage 5400;
                    or $KVMRUN_LV_TIMEOUT)
  --package NAME    Debian kernel package (default: the newest linux-image-6.1.0-N-amd64)
  --cpus N          vCPUs (default 2)
  --memory MIB      guest RAM in MiB (default 256)
  --no-acpi         boot with kvmrun --no-acpi: the kernel must count CPUs from the MP table
  --append STR      extra kernel parameters after the validation command line
  --kvmrun PATH     use this kvmrun binary instead of a copy of build/kvmrun (built when missing)
  --strict          also require the full boot: init runs, sees every vCPU, the VM resets
                    (for hosts where KVM runs guest ring 0 natively)
  -h, --help        this text
EOF
}

die() { echo "validate-linux: $*" >&2; exit 3; }
bad_usage() { echo "validate-linux: $*" >&2; usage >&2; exit 2; }

# --- guest memory map kvmrun builds (src/layout.h, src/e820.c) -------------
readonly EBDA_START=$((0x9fc00))
readonly HIGH_MEMORY_START=$((0x100000))
readonly MMIO_HOLE_START=$((0xd0000000))
readonly FOUR_GIB=$((0x100000000))
readonly ACPI_RSDP=$((0xe0000))

# Lines as the kernel prints them (arch/x86/kernel/e820.c, e820__print_table:
# "%#018Lx", which in the kernel's vsprintf keeps the 0x even for zero).
expected_e820() {
	printf 'BIOS-e820: [mem 0x%016x-0x%016x] usable\n' 0 $((EBDA_START - 1))
	printf 'BIOS-e820: [mem 0x%016x-0x%016x] reserved\n' $EBDA_START $((HIGH_MEMORY_START - 1))
	printf 'BIOS-e820: [mem 0x%016x-0x%016x] usable\n' $HIGH_MEMORY_START $((low_end - 1))
	if ((high_size > 0)); then
		printf 'BIOS-e820: [mem 0x%016x-0x%016x] usable\n' $FOUR_GIB $((FOUR_GIB + high_size - 1))
	fi
}

# --- host preparation --------------------------------------------------------
install_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	[[ $(id -u) -eq 0 ]] || die "need root to install ${missing[*]}"
	echo "validate-linux: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

build_kvmrun() {
	if [[ -n $kvmrun ]]; then
		[[ -x $kvmrun ]] || die "--kvmrun $kvmrun is not an executable"
		return
	fi
	if [[ ! -x $repo/build/kvmrun ]]; then
		echo "validate-linux: building kvmrun"
		"$repo/scripts/install-deps.sh" || die "scripts/install-deps.sh failed"
		(cd "$repo" && { [[ -d build ]] || meson setup build >/dev/null; } && ninja -C build >/dev/null) ||
			die "building kvmrun failed (cd $repo && ninja -C build)"
	fi
	# Boot a copy: a rebuild in the tree during an hour-long run must
	# not change the binary between one image kind and the next.
	cp "$repo/build/kvmrun" "$workdir/kvmrun" || die "cannot copy $repo/build/kvmrun"
	[[ -s $workdir/kvmrun ]] || die "$repo/build/kvmrun is empty (a build in progress?)"
	kvmrun=$workdir/kvmrun
}

# The first existing path among its arguments (a glob's expansion), or nothing.
first_existing() {
	local f
	for f in "$@"; do
		[[ -e $f ]] && { echo "$f"; return; }
	done
	return 0
}

newest_kernel_package() {
	apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' |
		awk '{ print $1 }' | sort -V | tail -n 1
}

# Download the package once (later runs reuse the .deb) and unpack it.
fetch_kernel() {
	local deb vmlinuz
	if [[ -z $package ]]; then
		package=$(newest_kernel_package)
		if [[ -z $package ]]; then
			apt-get update -q >/dev/null || die "apt-get update failed"
			package=$(newest_kernel_package)
		fi
		[[ -n $package ]] || die "apt-cache shows no linux-image-6.1.0-*-amd64 package"
	fi
	deb=$(first_existing "$workdir/${package}"_*.deb)
	if [[ -z $deb ]]; then
		echo "validate-linux: downloading $package"
		# apt-get download writes into the current directory. It warns
		# that _apt cannot write there and downloads as root: harmless.
		(cd "$workdir" && apt-get download "$package" >/dev/null 2>"$workdir/apt-download.err") || {
			(cd "$workdir" && apt-get update -q >/dev/null && apt-get download "$package" >/dev/null) ||
				die "apt-get download $package failed"
		}
		deb=$(first_existing "$workdir/${package}"_*.deb)
		[[ -n $deb ]] || die "apt-get download $package left no .deb in $workdir"
	fi
	rm -rf "$workdir/pkg"
	dpkg-deb -x "$deb" "$workdir/pkg" || die "dpkg-deb -x $deb failed"
	vmlinuz=$(first_existing "$workdir"/pkg/boot/vmlinuz-*)
	[[ -n $vmlinuz ]] || die "$deb has no /boot/vmlinuz-*"
	kernel_release=${vmlinuz##*/vmlinuz-}
	cp "$vmlinuz" "$workdir/bzImage"
}

# The bzImage payload is an XZ stream (CONFIG_KERNEL_XZ) holding the ELF
# vmlinux. The stream is followed by the decompressor's trailer, so xz
# reports trailing garbage: ignore its status and check the ELF magic instead.
extract_vmlinux() {
	local offset offsets
	rm -f "$workdir/vmlinux"
	mapfile -t offsets < <(LC_ALL=C grep -obUaP '\xfd\x37\x7a\x58\x5a\x00' "$workdir/bzImage" | cut -d: -f1)
	for offset in "${offsets[@]}"; do
		tail -c +$((offset + 1)) "$workdir/bzImage" | xz -dc >"$workdir/vmlinux" 2>/dev/null || true
		if [[ $(head -c 4 "$workdir/vmlinux" | od -An -tx1 | tr -d ' \n') == 7f454c46 ]]; then
			vmlinux_offset=$offset
			return
		fi
	done
	die "no XZ stream in $workdir/bzImage decompresses to an ELF file"
}

# kvmrun boots any ELF with a "Xen" note of type 18 (XEN_ELFNOTE_PHYS32_ENTRY)
# through PVH (docs/boot.md, "Which loader"), and Debian builds CONFIG_PVH.
# Renumbering that note to type 0 in a copy sends the same kernel through
# kvmrun's ELF vmlinux loader and the Linux 64-bit boot protocol.
make_vmlinux_nopvh() {
	python3 - "$workdir/vmlinux" "$workdir/vmlinux-nopvh" <<'EOF' || die "cannot disable the PVH note of $workdir/vmlinux"
import struct, sys

src, dst = sys.argv[1], sys.argv[2]
elf = bytearray(open(src, "rb").read())
if elf[:4] != b"\x7fELF" or elf[4] != 2:
    sys.exit(f"{src}: not an ELF64 file")
phoff, = struct.unpack_from("<Q", elf, 0x20)
phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
renumbered = 0
for i in range(phnum):
    p_type, _, p_offset, _, _, p_filesz, _, p_align = struct.unpack_from("<IIQQQQQQ", elf, phoff + i * phentsize)
    if p_type != 4:  # PT_NOTE
        continue
    align = 8 if p_align == 8 else 4
    pos, end = p_offset, min(p_offset + p_filesz, len(elf))
    while pos + 12 <= end:
        namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
        if elf[pos + 12:pos + 12 + namesz] == b"Xen\0" and ntype == 18:
            struct.pack_into("<I", elf, pos + 8, 0)
            renumbered += 1
        pos += 12 + -(-namesz // align) * align + -(-descsz // align) * align
if renumbered == 0:
    sys.exit(f"{src}: no XEN_ELFNOTE_PHYS32_ENTRY note")
open(dst, "wb").write(elf)
EOF
}

# /init prints a marker and the CPU count the kernel brought up, then resets.
build_initramfs() {
	local root=$workdir/initramfs
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,proc}
	cp /bin/busybox "$root/bin/busybox"
	# The kernel opens /dev/console for init before anything could mount
	# devtmpfs; without the node init's output goes nowhere.
	mknod -m 600 "$root/dev/console" c 5 1
	cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
echo "kvmrun-initrd: init running"
echo "kvmrun-initrd: cpus=$(/bin/busybox grep -c '^processor' /proc/cpuinfo)"
echo "kvmrun-initrd: cmdline=$(/bin/busybox cat /proc/cmdline)"
/bin/busybox reboot -f
/bin/busybox poweroff -f
EOF
	chmod 755 "$root/init"
	# Fixed timestamps keep the archive, hence its size and the RAMDISK
	# range the kernel reports, the same from run to run.
	find "$root" -exec touch -h -d @0 {} +
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible | gzip -9n) \
		>"$workdir/initrd.cpio.gz"
}

# --- one boot ---------------------------------------------------------------
# Milestones in boot order: a name and the fixed string that marks it.
readonly milestones=(
	"kernel banner|Linux version "
	"command line|Command line: "
	"e820 map|BIOS-e820: "
	"initrd located|RAMDISK: "
	"ACPI tables|ACPI: RSDP "
	"MP table parsed|Processors: "
	"MADT used|ACPI: Using ACPI (MADT) for SMP configuration"
	"CPUs allowed|smpboot: Allowing "
	"command line parsed|Kernel command line: "
	"memory initialised|Memory: "
	"serial console|printk: console [ttyS0] enabled"
	"APs booting|x86: Booting SMP configuration"
	"APs up|smp: Brought up "
	"initramfs unpacked|Unpacking initramfs"
	"initrd freed|Freeing initrd memory"
	"init started|Run /init as init process"
	"init marker|kvmrun-initrd: init running"
	"reset|reboot: Restarting system"
)

# Runs kvmrun under a timeout, noting when each milestone first shows up in
# the serial log (polled once a second). Sets run_rc and run_ms.
boot_kernel() {
	local kind=$1 image=$2 log=$3 err=$4 timeline=$5
	local start now pid i name pattern next_note=300
	local -a seen=() extra=()

	((no_acpi)) && extra+=(--no-acpi)
	rm -f "$log" "$err" "$timeline"
	start=$(date +%s%N)
	# SIGTERM stops kvmrun gracefully; KILL only if it does not.
	timeout --kill-after=20 "$timeout_s" "$kvmrun" --kernel "$image" \
		--initrd "$workdir/initrd.cpio.gz" --cmdline "$cmdline" \
		--cpus "$cpus" --memory "${memory_mib}M" --console "file:$log" \
		--exit-stats "${extra[@]}" </dev/null >"$err" 2>&1 &
	pid=$!
	while :; do
		now=$(date +%s%N)
		for i in "${!milestones[@]}"; do
			[[ -n ${seen[i]:-} ]] && continue
			name=${milestones[i]%%|*}
			pattern=${milestones[i]#*|}
			if [[ -f $log ]] && grep -qF -- "$pattern" "$log"; then
				seen[i]=$(((now - start) / 1000000))
				printf '%8.1f s  %s\n' "${seen[i]}e-3" "$name" >>"$timeline"
				printf '  [%s] %6.1f s  %s\n' "$kind" "${seen[i]}e-3" "$name"
			fi
		done
		kill -0 "$pid" 2>/dev/null || break
		# The bzImage's decompressor prints nothing for most of an hour.
		if (((now - start) / 1000000000 >= next_note)); then
			printf '  [%s] still running at %d s, serial log %d bytes\n' "$kind" \
				$next_note "$(stat -c %s "$log" 2>/dev/null || echo 0)"
			next_note=$((next_note + 300))
		fi
		sleep 1
	done
	run_rc=0
	wait "$pid" || run_rc=$?
	run_ms=$(((now - start) / 1000000))
}

# --- checks -----------------------------------------------------------------
# Each check prints one result line; FAIL sets the failure flag. NOT REACHED
# is for late milestones the emulated ring 0 here never gets to.
result() {
	local kind=$1 status=$2 name=$3 detail=$4
	printf '%-14s %-12s %-20s %s\n' "$kind" "$status" "$name" "$detail" | tee -a "$summary"
	[[ $status == FAIL ]] && failed=1
	return 0
}

# The log without carriage returns and printk timestamps.
clean_log() {
	tr -d '\r' <"$1" | sed -E 's/^\[ *[0-9]+\.[0-9]+\] //'
}

# The first number in the first line matching an extended regex, or nothing.
first_number() {
	grep -m1 -oE "$1" <<<"$2" | grep -m1 -oE '[0-9]+' | head -n 1 || true
}

check_banner() {
	local kind=$1 text=$2
	if grep -qF "Linux version $kernel_release " <<<"$text"; then
		result "$kind" PASS "kernel started" "Linux version $kernel_release"
	else
		result "$kind" FAIL "kernel started" "no 'Linux version $kernel_release' line in the log"
	fi
}

# "Command line:" is setup_arch() printing boot_command_line, copied from
# cmd_line_ptr (PVH: from hvm_start_info.cmdline_paddr); "Kernel command
# line:" is start_kernel() after parsing.
check_cmdline() {
	local kind=$1 text=$2 got
	got=$(grep -m1 '^Command line: ' <<<"$text" || true)
	if [[ -z $got ]]; then
		result "$kind" FAIL "command line" "no 'Command line:' line in the log"
	elif [[ $got == "Command line: $cmdline" ]]; then
		result "$kind" PASS "command line" "echoed verbatim"
	else
		result "$kind" FAIL "command line" "kernel saw '${got#Command line: }'"
	fi
	got=$(grep -m1 '^Kernel command line: ' <<<"$text" || true)
	if [[ -z $got ]]; then
		result "$kind" "NOT REACHED" "command line parsed" "no 'Kernel command line:' line"
	elif [[ $got == "Kernel command line: $cmdline" ]]; then
		result "$kind" PASS "command line parsed" "start_kernel() parsed it unchanged"
	else
		result "$kind" FAIL "command line parsed" "kernel parsed '${got#Kernel command line: }'"
	fi
}

check_e820() {
	local kind=$1 text=$2 got expected last_pfn want_pfn
	got=$(grep '^BIOS-e820: ' <<<"$text" || true)
	expected=$(expected_e820)
	if [[ -z $got ]]; then
		result "$kind" FAIL "e820 map" "no 'BIOS-e820:' lines in the log"
	elif [[ $got == "$expected" ]]; then
		result "$kind" PASS "e820 map" "$(wc -l <<<"$got") entries, as kvmrun built them"
	else
		result "$kind" FAIL "e820 map" "kernel printed: $(tr '\n' ';' <<<"$got") expected: $(tr '\n' ';' <<<"$expected")"
	fi
	# The kernel sizes memory from the map: last_pfn is the end of the
	# highest usable entry, in pages.
	last_pfn=$(grep -m1 -oE '^last_pfn = 0x[0-9a-f]+' <<<"$text" | sed 's/.*= //' || true)
	want_pfn=$(printf '%#x' $(((high_size > 0 ? FOUR_GIB + high_size : low_end) >> 12)))
	if [[ -z $last_pfn ]]; then
		result "$kind" FAIL "e820 used" "no 'last_pfn =' line in the log"
	elif ((last_pfn == want_pfn)); then
		result "$kind" PASS "e820 used" "last_pfn = $last_pfn (${memory_mib} MiB)"
	else
		result "$kind" FAIL "e820 used" "last_pfn = $last_pfn, expected $want_pfn"
	fi
}

# reserve_initrd() (arch/x86/kernel/setup.c) prints the start and the
# page-aligned end. kvmrun puts the initrd as high as it can, page aligned,
# below the end of RAM under the hole and, for the 64-bit boot protocol,
# below initrd_addr_max + 1 (docs/boot.md, "initrd").
check_initrd() {
	local kind=$1 text=$2 ceiling=$3 line start end size want_start want_end freed
	size=$(stat -c %s "$workdir/initrd.cpio.gz")
	want_start=$(((ceiling - size) & ~0xfff))
	want_end=$((((want_start + size + 0xfff) & ~0xfff) - 1))
	line=$(grep -m1 -oE '^RAMDISK: \[mem 0x[0-9a-f]+-0x[0-9a-f]+\]' <<<"$text" || true)
	if [[ -z $line ]]; then
		result "$kind" FAIL "initrd located" "no 'RAMDISK:' line in the log"
	else
		start=$(sed -E 's/.*\[mem (0x[0-9a-f]+)-.*/\1/' <<<"$line")
		end=$(sed -E 's/.*-(0x[0-9a-f]+)\]/\1/' <<<"$line")
		if ((start == want_start && end == want_end)); then
			result "$kind" PASS "initrd located" "${line#RAMDISK: } holds our $size bytes"
		else
			result "$kind" FAIL "initrd located" "$line, expected [mem $(printf '%#010x-%#010x' $want_start $want_end)] for $size bytes below $(printf '%#x' "$ceiling")"
		fi
	fi
	# free_initrd_mem() reports the page-rounded size in KiB.
	freed=$(first_number '^Freeing initrd memory: [0-9]+K' "$text")
	if [[ -z $freed ]]; then
		result "$kind" "NOT REACHED" "initrd unpacked" "no 'Freeing initrd memory:' line"
	elif ((freed * 1024 == want_end + 1 - want_start)); then
		result "$kind" PASS "initrd unpacked" "freed ${freed}K after unpacking"
	else
		result "$kind" FAIL "initrd unpacked" "freed ${freed}K, expected $(((want_end + 1 - want_start) / 1024))K"
	fi
}

# With ACPI (kvmrun's default) the kernel takes the CPUs from the MADT and
# says so; with --no-acpi it finds no RSDP and parses the MP table.
check_tables() {
	local kind=$1 text=$2 mp rsdp
	rsdp=$(grep -m1 -oE '^ACPI: RSDP 0x[0-9A-Fa-f]+' <<<"$text" | sed 's/.* //' || true)
	if ((no_acpi)); then
		mp=$(first_number '^Processors: [0-9]+' "$text")
		if [[ -n $rsdp ]]; then
			result "$kind" FAIL "firmware tables" "--no-acpi, but the kernel found an RSDP at $rsdp"
		elif ! grep -qF 'found SMP MP-table at [mem 0x0009fc00-0x0009fc0f]' <<<"$text"; then
			result "$kind" FAIL "firmware tables" "no 'found SMP MP-table at [mem 0x0009fc00-0x0009fc0f]' line"
		elif [[ -z $mp ]]; then
			result "$kind" FAIL "firmware tables" "the MP table was found but no 'Processors: N' line follows"
		elif ((mp == cpus)); then
			result "$kind" PASS "firmware tables" "MP table at 0x9fc00 lists $mp processors"
		else
			result "$kind" FAIL "firmware tables" "MP table lists $mp processors, expected $cpus"
		fi
	else
		if [[ -z $rsdp ]]; then
			result "$kind" FAIL "firmware tables" "no 'ACPI: RSDP' line: the kernel did not find kvmrun's ACPI tables"
		elif ((rsdp != ACPI_RSDP)); then
			result "$kind" FAIL "firmware tables" "RSDP at $rsdp, kvmrun writes it at $(printf '%#x' $ACPI_RSDP)"
		elif ! grep -qF 'ACPI: Using ACPI (MADT) for SMP configuration information' <<<"$text"; then
			result "$kind" FAIL "firmware tables" "RSDP found, but no 'ACPI: Using ACPI (MADT) for SMP configuration information'"
		else
			result "$kind" PASS "firmware tables" "RSDP at $rsdp, CPUs from the MADT"
		fi
	fi
}

check_cpus() {
	local kind=$1 text=$2 allowed ids up marker
	allowed=$(first_number '^smpboot: Allowing [0-9]+ CPUs' "$text")
	ids=$(grep -m1 -oE 'nr_cpu_ids:[0-9]+' <<<"$text" | grep -oE '[0-9]+' || true)
	if [[ -z $allowed ]]; then
		result "$kind" FAIL "vCPUs counted" "no 'smpboot: Allowing N CPUs' line"
	elif ((allowed != cpus)); then
		result "$kind" FAIL "vCPUs counted" "smpboot allows $allowed CPUs, expected $cpus"
	elif [[ -n $ids ]] && ((ids != cpus)); then
		result "$kind" FAIL "vCPUs counted" "nr_cpu_ids:$ids, expected $cpus"
	else
		result "$kind" PASS "vCPUs counted" "smpboot allows $allowed CPUs, 0 hotplug${ids:+, nr_cpu_ids:$ids}"
	fi
	up=$(grep -m1 -oE '^smp: Brought up [0-9]+ nodes?, [0-9]+ CPUs?' <<<"$text" | grep -oE '[0-9]+ CPU' | grep -oE '[0-9]+' || true)
	if [[ -z $up ]]; then
		result "$kind" "NOT REACHED" "vCPUs brought up" "no 'smp: Brought up' line"
	elif ((up == cpus)); then
		result "$kind" PASS "vCPUs brought up" "$up CPUs online"
	else
		result "$kind" FAIL "vCPUs brought up" "$up CPUs online, expected $cpus"
	fi
	marker=$(grep -m1 -oE 'kvmrun-initrd: cpus=[0-9]+' <<<"$text" | grep -oE '[0-9]+$' || true)
	if [[ -z $marker ]]; then
		result "$kind" "NOT REACHED" "init saw vCPUs" "no 'kvmrun-initrd: cpus=' line"
	elif ((marker == cpus)); then
		result "$kind" PASS "init saw vCPUs" "/proc/cpuinfo lists $marker"
	else
		result "$kind" FAIL "init saw vCPUs" "/proc/cpuinfo lists $marker, expected $cpus"
	fi
}

# How the run ended. An emulation failure is the nested KVM's ring-0
# emulator meeting an instruction it lacks (docs/linux-validation.md), not a
# kvmrun fault; any other crash, error or refusal is a failure.
check_end() {
	local kind=$1 text=$2 err=$3 why last code
	if grep -qF 'kvmrun-initrd: init running' <<<"$text"; then
		result "$kind" PASS "init ran" "the initramfs /init printed its marker"
	else
		result "$kind" "NOT REACHED" "init ran" "no init marker in the log"
	fi
	why=$(grep -m1 '^kvmrun: ' "$err" || true)
	why=${why#kvmrun: error: }
	code=$(grep -m1 'code at gpa' "$err" | sed 's/^ *//' || true)
	last=$(grep -v '^[[:space:]]*$' <<<"$text" | tail -n 1 | cut -c1-100 || true)
	case $run_rc in
	0)
		if grep -qF 'kvmrun-initrd: init running' <<<"$text"; then
			result "$kind" PASS "end" "guest reset, kvmrun exit 0"
		else
			result "$kind" FAIL "end" "kvmrun exit 0 before init ran; last log line: '$last'"
		fi ;;
	4)
		if [[ $why == *"emulation failure"* ]]; then
			result "$kind" ENV-LIMIT "end" "kvmrun exit 4 after $((run_ms / 1000)) s: $why; $code; last log line: '$last'"
		else
			result "$kind" FAIL "end" "kvmrun exit 4 after $((run_ms / 1000)) s: $why; $code; last log line: '$last'"
		fi ;;
	124|137)
		result "$kind" TIMEOUT "end" "still running after ${timeout_s} s (kvmrun exit $run_rc after SIGTERM); last log line: '${last:-none}'" ;;
	*)
		result "$kind" FAIL "end" "kvmrun exit $run_rc: ${why:-no message}" ;;
	esac
}

# In strict mode the full boot is required.
check_strict() {
	local kind=$1
	((strict)) || return 0
	if grep -E "^$kind +(NOT REACHED|ENV-LIMIT|TIMEOUT) " "$summary" >/dev/null; then
		result "$kind" FAIL "strict" "--strict needs the full boot, see the lines above"
	fi
}

validate_kind() {
	local kind=$1 image ceiling log err timeline text
	# Where guest ring 0 is emulated (docs/linux-validation.md) the
	# bzImage's decompressor alone runs for most of an hour: it inflates
	# 66 MB of XZ at ~56 instructions a byte. The vmlinux skips that.
	timeout_s=${timeout_arg:-600}
	case $kind in
	vmlinux)
		image=$workdir/vmlinux
		ceiling=$low_end ;;
	vmlinux-nopvh)
		image=$workdir/vmlinux-nopvh
		# kvmrun's vmlinux loader declares initrd_addr_max 0x7fffffff.
		ceiling=$((low_end < 0x80000000 ? low_end : 0x80000000)) ;;
	bzimage)
		image=$workdir/bzImage
		timeout_s=${timeout_arg:-5400}
		ceiling=$((bzimage_initrd_addr_max + 1))
		ceiling=$((low_end < ceiling ? low_end : ceiling)) ;;
	esac
	log=$workdir/$kind-serial.log
	err=$workdir/$kind-kvmrun.err
	timeline=$workdir/$kind-timeline.txt
	echo "validate-linux: booting $kind (timeout ${timeout_s} s, log $log)"
	boot_kernel "$kind" "$image" "$log" "$err" "$timeline"
	echo "validate-linux: $kind ended after $((run_ms / 1000)) s with kvmrun exit status $run_rc"
	{
		echo "$kind timeline (seconds from kvmrun's start to the first log line of each milestone):"
		if [[ -s $timeline ]]; then cat "$timeline"; else echo "  (nothing in the serial log)"; fi
	} >>"$summary"
	text=""
	[[ -f $log ]] && text=$(clean_log "$log")
	check_banner "$kind" "$text"
	check_cmdline "$kind" "$text"
	check_e820 "$kind" "$text"
	check_initrd "$kind" "$text" "$ceiling"
	check_tables "$kind" "$text"
	check_cpus "$kind" "$text"
	check_end "$kind" "$text" "$err"
	check_strict "$kind"
}

# Everything runs inside main(), which bash reads whole before running it,
# so editing this file during an hour-long run cannot change that run.
main() {
	repo=$(cd "$(dirname "$0")/.." && pwd)
	workdir=${KVMRUN_LV_WORKDIR:-/tmp/kvmrun-linux-validation}
	timeout_arg=${KVMRUN_LV_TIMEOUT:-}
	timeout_s=""   # the current boot's limit, set per image kind
	package=""
	kinds=("${all_kinds[@]}")
	cpus=2
	memory_mib=256
	no_acpi=0
	append=""
	kvmrun=""
	strict=0

	local kind known
	while (($#)); do
		case "$1" in
		--workdir) workdir=${2:?}; shift 2 ;;
		--only)
			IFS=, read -r -a kinds <<<"${2:-}"
			for kind in "${kinds[@]}"; do
				known=0
				[[ " ${all_kinds[*]} " == *" $kind "* ]] && known=1
				((known)) || bad_usage "--only takes ${all_kinds[*]} (comma-separated), not '$kind'"
			done
			((${#kinds[@]})) || bad_usage "--only needs a kind"
			shift 2 ;;
		--timeout) timeout_arg=${2:?}; shift 2 ;;
		--package) package=${2:?}; shift 2 ;;
		--cpus) cpus=${2:?}; shift 2 ;;
		--memory) memory_mib=${2:?}; shift 2 ;;
		--no-acpi) no_acpi=1; shift ;;
		--append) append=${2:?}; shift 2 ;;
		--kvmrun) kvmrun=${2:?}; shift 2 ;;
		--strict) strict=1; shift ;;
		-h|--help) usage; exit 0 ;;
		*) bad_usage "unknown option '$1'" ;;
		esac
	done
	[[ -z $timeout_arg || $timeout_arg =~ ^[1-9][0-9]*$ ]] ||
		bad_usage "--timeout must be a positive number of seconds, not '$timeout_arg'"
	[[ $cpus =~ ^[1-9][0-9]{0,2}$ ]] || bad_usage "--cpus must be a number of vCPUs, not '$cpus'"
	[[ $memory_mib =~ ^[1-9][0-9]{0,6}$ ]] || bad_usage "--memory must be a number of MiB, not '$memory_mib'"

	# The command line is distinctive so that finding it verbatim in the
	# log proves the kernel read it from where kvmrun put it. earlyprintk
	# makes the kernel print from setup_arch() on; without it nothing
	# reaches the serial port before console_init(), which the emulated
	# ring 0 here never reaches. reboot=k: `reboot -f` in init resets
	# through the i8042, which kvmrun turns into exit status 0; panic=-1
	# reboots at once on a panic.
	cmdline="console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1 pci=off nomodule kvmrun.validation=1"
	if [[ -n $append ]]; then cmdline+=" $append"; fi

	memory_bytes=$((memory_mib << 20))
	low_end=$((memory_bytes < MMIO_HOLE_START ? memory_bytes : MMIO_HOLE_START))
	high_size=$((memory_bytes - low_end))

	mkdir -p "$workdir"
	workdir=$(cd "$workdir" && pwd)
	summary=$workdir/summary.txt
	failed=0
	kernel_release=""
	vmlinux_offset=""

	install_packages busybox-static cpio xz-utils gzip python3
	build_kvmrun
	fetch_kernel
	# boot.rst: initrd_addr_max at 0x22c, "the highest safe address".
	bzimage_initrd_addr_max=$(od -An -tu4 -j $((0x22c)) -N4 "$workdir/bzImage" | tr -d ' ')
	if [[ " ${kinds[*]} " == *" vmlinux"* ]]; then
		extract_vmlinux
		make_vmlinux_nopvh
	fi
	build_initramfs

	{
		echo "kvmrun Linux validation, $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(uname -n)"
		echo "kvmrun: $("$kvmrun" --version 2>&1) ($kvmrun, commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown))"
		echo "kernel: $package ($kernel_release)${vmlinux_offset:+, vmlinux from the XZ stream at offset $vmlinux_offset}"
		echo "guest:  --cpus $cpus --memory ${memory_mib}M$( ((no_acpi)) && echo ' --no-acpi'), initrd $(stat -c %s "$workdir/initrd.cpio.gz") bytes"
		echo "cmdline: $cmdline"
		echo
	} | tee "$summary"

	for kind in "${kinds[@]}"; do
		validate_kind "$kind"
		echo | tee -a "$summary"
	done

	if ((failed)); then
		echo "validate-linux: FAIL (results in $summary, logs in $workdir)" | tee -a "$summary"
		exit 1
	fi
	echo "validate-linux: PASS (results in $summary, logs in $workdir)" | tee -a "$summary"
}

main "$@"; exit $?
