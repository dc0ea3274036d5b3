#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Pack the rig's initramfs images and boot it:
#
#   L0  this machine: QEMU TCG with emulated SVM+NPT and an `edu` PCI device,
#       whose DMA engine reaches L1's physical memory with no IOMMU between.
#   L1  the host: stock Debian kernel + PVDMA-patched kvm.ko/kvm-amd.ko
#       (scripts/rig/l1-init).
#   L2  the guest: stock Debian kernel + pvdma.ko, or the kernel with PVDMA
#       built in (scripts/rig/l2-init); edu's MMIO BAR is passed straight
#       through.
#
# Usage: boot.sh e2e|bench|<mode>, where scripts/rig/l1-<mode> is what L1
# runs in a mode of its own.  Prints the console of all three levels as it
# goes and keeps it in $PVDMA_CACHE/rig/console-<mode>.log.  Exits with
# QEMU's status.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

MODE=${1:?usage: boot.sh e2e|bench|<mode with a scripts/rig/l1-<mode>>}
RIG=$PVDMA_CACHE/rig
HOST_MODS=$PVDMA_CACHE/modules/host
GUEST_MODS=$PVDMA_CACHE/modules/guest
ITERATIONS=${ITERATIONS:-8}
L2_TIMEOUT=${L2_TIMEOUT:-300}
L0_TIMEOUT=${L0_TIMEOUT:-1200}
L1_SMP=${L1_SMP:-1}		# L1's CPUs: make stress races vCPUs on 2
EDU_BDF=0000:00:05.0

for f in "$HOST_MODS/kvm.ko" "$HOST_MODS/kvm-amd.ko" "$GUEST_MODS/pvdma.ko" \
	 "$GUEST_MODS/pvdma_edu_test.ko" \
	 "$PVDMA_CACHE/host-abi/pvdma_abi_test" \
	 "$PVDMA_CACHE/l2-kernel/bzImage" "$PVDMA_CACHE/l2-kernel/pvdma_edu_test.ko" "$KIMAGE"; do
	[ -f "$f" ] || die "$f is missing: run 'make' first"
done

mkdir -p "$RIG"
xz_mod() { xz -dc "$KMODS/$1.ko.xz" > "$2/$(basename "$1").ko"; }

step "packing the L2 (guest) initramfs"
rm -rf "$RIG/l2" && mkdir -p "$RIG/l2/bin" "$RIG/l2/proc" "$RIG/l2/sys" "$RIG/l2/dev"
cp /bin/busybox "$RIG/l2/bin/"
cp "$REPO/scripts/rig/l2-init" "$RIG/l2/init"
cp "$GUEST_MODS/pvdma.ko" "$GUEST_MODS/pvdma_edu_test.ko" "$RIG/l2/"
printf 'EDU_BDF=%s\nITERATIONS=%s\n' "$EDU_BDF" "$ITERATIONS" > "$RIG/l2/rig.conf"
if [ "$MODE" = bench ]; then
	cp "$GUEST_MODS/pvdma_bench.ko" "$REPO/scripts/rig/l2-bench" "$RIG/l2/"
fi
(cd "$RIG/l2" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > ../l2.cpio.gz)

step "packing the L2 initramfs for the kernel with PVDMA built in"
rm -f "$RIG/l2/pvdma.ko" "$RIG/l2/pvdma_edu_test.ko" "$RIG/l2/pvdma_bench.ko" "$RIG/l2/l2-bench"
cp "$PVDMA_CACHE/l2-kernel/pvdma_edu_test.ko" "$RIG/l2/"
(cd "$RIG/l2" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > ../l2-builtin.cpio.gz)

step "packing the L1 (host) initramfs"
rm -rf "$RIG/l1" && mkdir -p "$RIG/l1/bin" "$RIG/l1/mods" "$RIG/l1/stock" \
	"$RIG/l1/proc" "$RIG/l1/sys" "$RIG/l1/dev" "$RIG/l1/host" "$RIG/l1/tmp"
cp /bin/busybox "$RIG/l1/bin/"
cp "$REPO/scripts/rig/l1-init" "$RIG/l1/init"
# A mode of its own: scripts/rig/l1-<mode> runs in L1 instead of the L2 runs.
[ -f "$REPO/scripts/rig/l1-$MODE" ] && cp "$REPO/scripts/rig/l1-$MODE" "$RIG/l1/"
for m in virt/lib/irqbypass drivers/crypto/ccp/ccp fs/netfs/netfs net/9p/9pnet \
	 net/9p/9pnet_virtio fs/9p/9p; do
	xz_mod "$m" "$RIG/l1/mods"
done
xz_mod arch/x86/kvm/kvm "$RIG/l1/stock"
xz_mod arch/x86/kvm/kvm-amd "$RIG/l1/stock"
cp "$HOST_MODS/kvm.ko" "$HOST_MODS/kvm-amd.ko" "$RIG/l1/mods/"
printf 'RIG=%s\nKIMAGE=%s\nL2_TIMEOUT=%s\nMODE=%s\n' "$RIG" "$KIMAGE" "$L2_TIMEOUT" "$MODE" \
	> "$RIG/l1/rig.conf"
(cd "$RIG/l1" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > ../l1.cpio.gz)

step "booting L1 (host) under TCG with emulated SVM and an edu device"
log=$RIG/console-$MODE.log
set +e
# Two NUMA nodes: L1's memory below 1 GiB and above it, so that L2 can be
# given memory on either side of a 30-bit DMA mask (l1-init).
timeout "$L0_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max,+svm,+npt -m 2G -smp "$L1_SMP" \
	-object memory-backend-ram,id=lo,size=1G -object memory-backend-ram,id=hi,size=1G \
	-numa node,nodeid=0,cpus=0-$((L1_SMP - 1)),memdev=lo -numa node,nodeid=1,memdev=hi \
	-nographic -no-reboot -kernel "$KIMAGE" -initrd "$RIG/l1.cpio.gz" \
	-append "console=ttyS0 panic=-1 quiet" \
	-virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
	-device edu,dma_mask=0xffffffff </dev/null 2>&1 | tr -d '\r' | tee "$log"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || echo "rig: L0 QEMU exited with status $rc"
exit "$rc"

