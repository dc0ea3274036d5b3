# SPDX-License-Identifier: GPL-2.0-only
# Shared settings for the PVDMA scripts.  Source it; do not run it.
#
# Everything built or downloaded goes to $PVDMA_CACHE (outside the repo);
# `make clean` removes it and the next build only costs time.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PVDMA_CACHE=${PVDMA_CACHE:-/var/tmp/pvdma-cache}
export CCACHE_DIR=${CCACHE_DIR:-$PVDMA_CACHE/ccache}

# The kernel we build against and boot: the Debian version of
# linux-source-6.12, which the headers and image must match exactly.
pvdma_deb_version() {
	local v
	v=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) ||
		v=$(apt-cache policy linux-source-6.12 | sed -n 's/ *Candidate: *//p')
	[ -n "$v" ] && [ "$v" != "(none)" ] || {
		echo "pvdma: cannot find linux-source-6.12; run \"make deps\" (as root, or with sudo) to install what PVDMA needs" >&2
		return 1
	}
	echo "$v"
}

DEB_VER=$(pvdma_deb_version) || exit 1
# A DKMS build (scripts/dkms/) names the kernel and its headers itself.
KVER=${PVDMA_KVER:-${DEB_VER%%-*}+deb12-amd64}
KHDR=${PVDMA_KHDR:-/usr/src/linux-headers-$KVER}
KSRC=$PVDMA_CACHE/linux-source-6.12
KIMAGE=/boot/vmlinuz-$KVER
KMODS=/lib/modules/$KVER/kernel
NPROC=$(nproc)

# Compiler of the distro kernel, through ccache.
KCC=${PVDMA_CC:-ccache gcc-12}

step() { printf '==> %s\n' "$*"; }
die() { printf 'pvdma: error: %s\n' "$*" >&2; exit 1; }

# pvdma_sync_guest TREE STAGE: put the guest layer into a kernel tree made by
# `cp -al` from $KSRC, at drivers/virt/pvdma/ with the ABI header, and wire
# it into drivers/virt/{Kconfig,Makefile}.  Wired files are built from
# pristine copies in STAGE and synced in with rsync, which writes new files:
# the hard links into $KSRC are broken, never written through.
pvdma_sync_guest() {
	local tree=$1 stage=$2/drivers/virt
	rm -rf "$stage" && mkdir -p "$stage"
	cp "$KSRC/drivers/virt/Kconfig" "$KSRC/drivers/virt/Makefile" "$stage/"
	sed -i 's#^source "drivers/virt/coco/Kconfig"#&\nsource "drivers/virt/pvdma/Kconfig"#' "$stage/Kconfig"
	echo 'obj-$(CONFIG_PVDMA_GUEST)	+= pvdma/' >> "$stage/Makefile"
	rsync -rc "$stage/" "$tree/drivers/virt/"
	mkdir -p "$tree/drivers/virt/pvdma" "$tree/include/uapi/linux"
	rsync -c "$REPO/include/uapi/linux/pvdma.h" "$tree/include/uapi/linux/pvdma.h"
	rsync -rc --delete "$REPO/guest/pvdma_ops/" "$tree/drivers/virt/pvdma/"
}

# pvdma_link_tree TREE BUILD: make TREE a hard-link copy of $KSRC, once per
# Debian version (starting BUILD afresh then).  Files we change in it must be
# written as new files (rsync, patch), never through the links.
pvdma_link_tree() {
	local tree=$1 build=$2 stamp=$1/.pvdma-linked-$DEB_VER
	[ -f "$stamp" ] && return 0
	step "linking $(basename "$tree") from linux-source $DEB_VER (once)"
	rm -rf "$tree" "$build"
	cp -al "$KSRC" "$tree"
	rm -f "$tree"/.pvdma-unpacked-*
	touch "$stamp"
}
