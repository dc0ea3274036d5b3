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
		echo "pvdma: cannot find linux-source-6.12; run scripts/install-deps.sh" >&2
		return 1
	}
	echo "$v"
}

DEB_VER=$(pvdma_deb_version) || exit 1
KVER=${DEB_VER%%-*}+deb12-amd64
KHDR=/usr/src/linux-headers-$KVER
KSRC=$PVDMA_CACHE/linux-source-6.12
KIMAGE=/boot/vmlinuz-$KVER
KMODS=/lib/modules/$KVER/kernel
NPROC=$(nproc)

# Compiler of the distro kernel, through ccache.
KCC="ccache gcc-12"

step() { printf '==> %s\n' "$*"; }
die() { printf 'pvdma: error: %s\n' "$*" >&2; exit 1; }
