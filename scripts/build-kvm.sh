#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Build the PVDMA-patched kvm.ko, kvm-amd.ko and kvm-intel.ko out of tree
# against the stock Debian headers, so they drop into the stock host kernel.
#
# The KVM sources come from linux-source-6.12 of the same Debian version;
# host/kvm-patch adds the hooks and host/{hypercall,pin_sg} the logic.  The
# patched asm/kvm_host.h is put ahead of the stock one with NOSTDINC_FLAGS;
# only the KVM modules see the added fields.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$REPO/scripts/prepare-source.sh"

# scripts/mutants.sh builds mutated copies elsewhere, from elsewhere.
B=${PVDMA_KVM_BUILD:-$PVDMA_CACHE/kvm-build}
OUT=${PVDMA_HOST_MODS:-$PVDMA_CACHE/modules/host}
HOST_SRC=${PVDMA_HOST_SRC:-$REPO/host}
step "building patched KVM modules for $KVER"
rm -rf "$B"
mkdir -p "$B/arch/x86/include/asm" "$B/virt" "$OUT"
cp -r "$KSRC/arch/x86/kvm" "$B/arch/x86/"
cp -r "$KSRC/virt/kvm" "$B/virt/"
cp "$KSRC/arch/x86/include/asm/kvm_host.h" "$B/arch/x86/include/asm/"
mkdir -p "$B/include/uapi/linux"
cp "$REPO/include/uapi/linux/pvdma.h" "$B/include/uapi/linux/"
mkdir -p "$B/arch/x86/kvm/pvdma"
cp -r "$HOST_SRC/hypercall" "$HOST_SRC/pin_sg" "$B/arch/x86/kvm/pvdma/"
patch -d "$B" -p1 -s < "$HOST_SRC/kvm-patch/0001-KVM-x86-hook-in-PVDMA.patch"
# Point the two $(srctree) paths of the KVM Makefile at the copy.
sed -i "s#\$(srctree)/#$B/#g" "$B/arch/x86/kvm/Makefile"

# The copy mirrors the kernel tree, so its include/uapi also resolves the
# tracepoint headers' "../../arch/x86/kvm" include path, as in-tree.

make -s -C "$KHDR" M="$B/arch/x86/kvm" CC="$KCC" -j"$NPROC" ${W:+W=$W} ${C:+C=$C} \
	NOSTDINC_FLAGS="-I$B/arch/x86/include -I$B/include/uapi" modules
for m in kvm kvm-amd kvm-intel; do
	cp "$B/arch/x86/kvm/$m.ko" "$OUT/"
done
step "host modules ready in $OUT"
