#!/usr/bin/env bash
# Install the Debian packages kvmrun needs to build and test, if missing.
# Usage: scripts/install-deps.sh [--bench]
set -euo pipefail

packages=(gcc libc6-dev meson ninja-build pkg-config python3 libcmocka-dev liburing-dev zlib1g-dev spin iproute2)
if [[ "${1:-}" == "--bench" ]]; then
	packages+=(valgrind qemu-system-x86)
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "kvmrun: installing Debian packages: ${missing[*]}" >&2
	if [[ $(id -u) -ne 0 ]]; then
		echo "kvmrun: need root to install packages (run as root or install them yourself)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
