#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Install what building and testing PVDMA needs on Debian 12: the kernel
# source, the matching stock kernel image and headers, QEMU and the tools.
set -euo pipefail

pkgs=(build-essential bc bison flex libelf-dev libssl-dev dwarves python3
      rsync ccache sparse kmod cpio xz-utils qemu-system-x86 busybox-static
      fio e2fsprogs numactl dkms debootstrap python3-matplotlib)

missing() { local p; for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done; }

# apt runs as root: directly, or through sudo for a normal user.  "env"
# carries the assignment in both cases (a bare "VAR=x cmd" after an empty
# $SUDO would be taken as the command name).
if [ "$(id -u)" = 0 ]; then
	AS_ROOT=(env)
elif command -v sudo >/dev/null 2>&1; then
	AS_ROOT=(sudo env)
else
	echo "pvdma: installing packages needs root: run as root or install sudo" >&2
	exit 1
fi
apt_get() { "${AS_ROOT[@]}" DEBIAN_FRONTEND=noninteractive apt-get "$@"; }

need=$(missing "${pkgs[@]}" linux-source-6.12)
if [ -n "$need" ] || ! ls /usr/src/linux-headers-*+deb12-amd64 >/dev/null 2>&1; then
	echo "==> apt-get install (once): $need"
	apt_get update -qq
	apt_get install -y -qq --no-install-recommends "${pkgs[@]}" linux-source-6.12 >/dev/null
fi

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# Headers and image must be the exact Debian version of linux-source.
need=$(missing "linux-headers-$KVER" "linux-image-$KVER")
if [ -n "$need" ]; then
	echo "==> apt-get install $need=$DEB_VER"
	apt_get update -qq
	apt_get install -y -qq --no-install-recommends \
		"linux-headers-$KVER=$DEB_VER" "linux-image-$KVER=$DEB_VER" >/dev/null
fi
echo "==> dependencies ready: kernel $KVER (Debian $DEB_VER)"
