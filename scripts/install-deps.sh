#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Install what building and testing PVDMA needs on Debian 12: the kernel
# source, the matching stock kernel image and headers, QEMU and the tools.
set -euo pipefail

pkgs=(build-essential bc bison flex libelf-dev libssl-dev dwarves python3
      rsync ccache sparse kmod cpio xz-utils qemu-system-x86 busybox-static
      fio e2fsprogs numactl dkms debootstrap python3-matplotlib python3-sphinx)

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
# The signed image (linux-image-$KVER) reaches the archive some time after
# the source; until then the unsigned one of the same build serves as well
# (the rig boots it and loads its modules; nothing checks the signature).
# Either one installed is enough.
image_pkg() {
	local p
	for p in "linux-image-$KVER" "linux-image-$KVER-unsigned"; do
		if apt-cache madison "$p" 2>/dev/null | grep -q "| $DEB_VER |"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}
have_image() {
	dpkg -s "linux-image-$KVER" >/dev/null 2>&1 ||
		dpkg -s "linux-image-$KVER-unsigned" >/dev/null 2>&1
}
need=$(missing "linux-headers-$KVER")
if [ -n "$need" ] || ! have_image; then
	apt_get update -qq
	image=$(image_pkg) ||
		{ echo "pvdma: Debian has no linux-image-$KVER (signed or unsigned) at version $DEB_VER, the version of linux-source-6.12; run \"apt-get update\" and try again, or install linux-source-6.12 at a version whose image is in the archive" >&2; exit 1; }
	echo "==> apt-get install linux-headers-$KVER $image (=$DEB_VER)"
	apt_get install -y -qq --no-install-recommends \
		"linux-headers-$KVER=$DEB_VER" "$image=$DEB_VER" >/dev/null
fi
echo "==> dependencies ready: kernel $KVER (Debian $DEB_VER)"
