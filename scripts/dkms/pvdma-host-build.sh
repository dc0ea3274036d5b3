#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# "dkms build" of pvdma-host: build.sh KERNELVER HEADERS, run in the DKMS
# build directory (a copy of /usr/src/pvdma-host-<version>).
#
# The same scripts as "make host" (scripts/build-kvm.sh, build-vfio.sh),
# pointed at the kernel DKMS builds for, unpacking only KVM and VFIO from
# linux-source-6.12 into ./cache, and leaving the modules in ./out.
set -euo pipefail
kver=$1 khdr=$2
here=$(cd "$(dirname "$0")" && pwd)

# KVM's internals are not an ABI: kvm.ko must come from the very sources of
# the kernel it loads into, so linux-source and the headers must be the same
# Debian version.
hdr_ver=$(dpkg-query -W -f='${Version}' "linux-headers-$kver" 2>/dev/null) || hdr_ver=
src_ver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) || src_ver=
if [ -z "$src_ver" ] || [ ! -f /usr/src/linux-source-6.12.tar.xz ]; then
	echo "pvdma-host: linux-source-6.12 is not installed; install it (apt-get install linux-source-6.12${hdr_ver:+=$hdr_ver}) and run dkms again" >&2
	exit 1
fi
if [ -n "$hdr_ver" ] && [ "$hdr_ver" != "$src_ver" ]; then
	echo "pvdma-host: kernel $kver is Debian $hdr_ver but linux-source-6.12 is $src_ver; install the matching source (apt-get install linux-source-6.12=$hdr_ver) and run dkms again" >&2
	exit 1
fi

# DKMS passes the kernel's compiler in CC.  Run under make, dkms may pass
# make's "Entering directory" line instead: take the compiler's name only.
cc=${CC:-gcc-12}
cc=${cc# }
if ! command -v "${cc%% *}" >/dev/null 2>&1; then
	echo "pvdma-host: CC=\"$cc\" from dkms is not a compiler; using gcc-12 (run dkms from a shell, not from make)" >&2
	cc=gcc-12
fi
command -v ccache >/dev/null && [[ $cc != ccache* ]] && cc="ccache $cc"
export PVDMA_KVER=$kver PVDMA_KHDR=$khdr PVDMA_CC=$cc
export PVDMA_CACHE=$here/cache
export PVDMA_SOURCE_PARTS="arch/x86/kvm virt/kvm arch/x86/include/asm/kvm_host.h drivers/vfio"
export PVDMA_KVM_BUILD=$PVDMA_CACHE/kvm-build
export PVDMA_VFIO_BUILD=$PVDMA_CACHE/vfio-build
export PVDMA_HOST_MODS=$here/out
"$here/scripts/build-kvm.sh"
"$here/scripts/build-vfio.sh"
