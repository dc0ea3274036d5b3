#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Pack the rig's initramfs images and boot it:
#
#   L0  this machine: QEMU TCG with emulated SVM+NPT and real PCI devices
#       whose DMA reaches L1's physical memory with no IOMMU between: an
#       NVMe controller with two namespaces (disk images in $RIG), three
#       e1000e NICs on an isolated hub (no host network backend: no packet
#       leaves QEMU), and the edu DMA engine.
#   L1  the host: stock Debian kernel, PVDMA-patched kvm.ko/kvm-amd.ko and
#       vfio.ko with no-IOMMU support (scripts/rig/l1-init).  It binds the
#       NVMe controller, the first NIC and edu to vfio-pci and starts L2
#       with the distribution's QEMU through pvdma-qemu; it drives the other
#       two NICs itself, as L2's network peers (MTU 1500 and 9000).
#   L2  the guest: the stock Debian kernel with pvdma.ko, or the kernel with
#       PVDMA built in (scripts/rig/l2-init); the stock nvme and e1000e
#       drivers and the edu test driver on the assigned devices.
#
# Usage: boot.sh e2e|demo|bench|<mode>, where scripts/rig/l1-<mode> is what
# L1 runs in a mode of its own.  Prints the console of all three levels as
# it goes and keeps it in $PVDMA_CACHE/rig/console-<mode>.log.  Exits with
# QEMU's status.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

MODE=${1:?usage: boot.sh e2e|demo|bench|<mode with a scripts/rig/l1-<mode>>}
# scripts/mutants.sh boots mutated host modules, with a rig directory each.
RIG=${PVDMA_RIG:-$PVDMA_CACHE/rig}
HOST_MODS=${PVDMA_HOST_MODS:-$PVDMA_CACHE/modules/host}
GUEST_MODS=$PVDMA_CACHE/modules/guest
VMM=$PVDMA_CACHE/tools/pvdma-qemu
ITERATIONS=${ITERATIONS:-8}
L2_TIMEOUT=${L2_TIMEOUT:-900}
L0_TIMEOUT=${L0_TIMEOUT:-3600}
L1_SMP=${L1_SMP:-1}		# L1's CPUs: make stress races vCPUs on 2

for f in "$HOST_MODS/kvm.ko" "$HOST_MODS/kvm-amd.ko" "$PVDMA_CACHE/modules/host/vfio.ko" \
	 "$GUEST_MODS/pvdma.ko" "$GUEST_MODS/pvdma_edu_test.ko" \
	 "$VMM/pvdma-qemu" "$VMM/libpvdma-vfio.so" \
	 "$PVDMA_CACHE/host-abi/pvdma_abi_test" \
	 "$PVDMA_CACHE/host-abi/pvdma-fragment-memory" \
	 "$PVDMA_CACHE/l2-kernel/bzImage" "$PVDMA_CACHE/l2-kernel/pvdma_edu_test.ko" "$KIMAGE"; do
	[ -f "$f" ] || die "$f is missing: run 'make' first"
done

mkdir -p "$RIG"

# copy_mods ROOT MODULE...: the stock modules and their dependencies, at
# their place under ROOT/lib/modules/$KVER, uncompressed.
copy_mods() {
	local root=$1 m f
	shift
	for m in "$@"; do
		modprobe -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
	done | sort -u | while read -r f; do
		mkdir -p "$root$(dirname "$f")"
		xz -dc "$f" > "$root${f%.xz}"
	done
}

# copy_bin ROOT PROGRAM...: programs with the shared libraries they need.
copy_bin() {
	local root=$1 p l
	shift
	for p in "$@"; do
		mkdir -p "$root$(dirname "$p")"
		cp -L "$p" "$root$p"
		for l in $(ldd "$p" | awk '/=> \// {print $3} /^\t\/lib/ {print $1}'); do
			[ -f "$root$l" ] && continue
			mkdir -p "$root$(dirname "$l")"
			cp -L "$l" "$root$l"
		done
	done
}

# The disks: namespace 1 takes fio's regions and raw patterns, namespace 2
# an ext4 file system; both start empty but for a header the build machine
# writes, which L2 must read back.
step "creating the NVMe disk images"
rm -f "$RIG/nvme-raw.img" "$RIG/nvme-fs.img"
truncate -s 160M "$RIG/nvme-raw.img"
truncate -s 64M "$RIG/nvme-fs.img"
printf 'PVDMA-RIG-DISK block 0 written by the build machine\n' |
	dd of="$RIG/nvme-raw.img" conv=notrunc status=none

step "packing the L2 (guest) initramfs"
L2=$RIG/l2
rm -rf "$L2" && mkdir -p "$L2"/{bin,proc,sys,dev,tmp,run,host,etc/modprobe.d}
cp /bin/busybox "$L2/bin/"
cp "$REPO/scripts/rig/l2-init" "$L2/init"
cp "$REPO/scripts/rig/l2-clients" "$L2/"
printf 'ITERATIONS=%s\n' "$ITERATIONS" > "$L2/rig.conf"
# kmod's modprobe, for the shipped install lines: busybox's ignores them.
copy_bin "$L2" /bin/kmod
mkdir -p "$L2/sbin"
for t in modprobe insmod rmmod depmod lsmod modinfo; do ln -sf /bin/kmod "$L2/sbin/$t"; done
cp "$REPO/guest/modprobe.d/pvdma.conf" "$L2/etc/modprobe.d/"
copy_mods "$L2" nvme e1000e ext4 9p 9pnet_virtio
mkdir -p "$L2/lib/modules/$KVER/updates"
cp "$GUEST_MODS/pvdma.ko" "$GUEST_MODS/pvdma_edu_test.ko" "$L2/lib/modules/$KVER/updates/"
if [ "$MODE" = bench ]; then
	cp "$GUEST_MODS/pvdma_bench.ko" "$L2/lib/modules/$KVER/updates/"
	cp "$REPO/scripts/rig/l2-bench" "$L2/"
fi
cp /lib/modules/"$KVER"/modules.{order,builtin,builtin.modinfo} "$L2/lib/modules/$KVER/"
depmod -b "$L2" "$KVER"
(cd "$L2" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > ../l2.cpio.gz)

step "packing the L2 initramfs for the kernel with PVDMA built in"
rm -rf "$L2/lib/modules" "$L2/l2-bench"
cp "$PVDMA_CACHE/l2-kernel/pvdma_edu_test.ko" "$L2/"
(cd "$L2" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > ../l2-builtin.cpio.gz)

step "packing the L1 (host) initramfs"
L1=$RIG/l1
rm -rf "$L1" && mkdir -p "$L1"/{bin,mods,stock,proc,sys,dev,host,tmp}
cp /bin/busybox "$L1/bin/"
cp "$REPO/scripts/rig/l1-init" "$L1/init"
# A mode of its own: scripts/rig/l1-<mode> runs in L1 instead of the L2 runs.
[ -f "$REPO/scripts/rig/l1-$MODE" ] && cp "$REPO/scripts/rig/l1-$MODE" "$L1/"
xz_mod() { xz -dc "$KMODS/$1.ko.xz" > "$2/$(basename "$1").ko"; }
for m in virt/lib/irqbypass drivers/crypto/ccp/ccp fs/netfs/netfs net/9p/9pnet \
	 net/9p/9pnet_virtio fs/9p/9p; do
	xz_mod "$m" "$L1/mods"
done
xz_mod arch/x86/kvm/kvm "$L1/stock"
xz_mod arch/x86/kvm/kvm-amd "$L1/stock"
cp "$HOST_MODS/kvm.ko" "$HOST_MODS/kvm-amd.ko" "$PVDMA_CACHE/modules/host/vfio.ko" "$L1/mods/"
printf 'RIG=%s\nCACHE=%s\nKIMAGE=%s\nKVER=%s\nL2_TIMEOUT=%s\nMODE=%s\nVMM=%s\nITERATIONS=%s\n' \
	"$RIG" "$PVDMA_CACHE" "$KIMAGE" "$KVER" "$L2_TIMEOUT" "$MODE" "$VMM" "$ITERATIONS" > "$L1/rig.conf"
(cd "$L1" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > ../l1.cpio.gz)

step "booting L1 (host) under TCG with emulated SVM, NVMe, e1000e and edu"
log=$RIG/console-$MODE.log
set +e
# Two NUMA nodes: L1's memory below 1 GiB and above it, so that L2 can be
# given memory on either side of a 30-bit DMA mask (l1-init).  The NICs
# share one hub with no backend.
timeout "$L0_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max,+svm,+npt -m 3G \
	-smp "$L1_SMP" \
	-object memory-backend-ram,id=lo,size=1G -object memory-backend-ram,id=hi,size=2G \
	-numa node,nodeid=0,cpus=0-$((L1_SMP - 1)),memdev=lo -numa node,nodeid=1,memdev=hi \
	-nographic -no-reboot -kernel "$KIMAGE" -initrd "$RIG/l1.cpio.gz" \
	-append "console=ttyS0 panic=-1 quiet" \
	-virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
	-device edu,dma_mask=0xffffffff,addr=0x5 \
	-device nvme,id=nvme0,serial=pvdma-rig,addr=0x6 \
	-drive file="$RIG/nvme-raw.img",if=none,id=ns1,format=raw \
	-device nvme-ns,drive=ns1,bus=nvme0,nsid=1 \
	-drive file="$RIG/nvme-fs.img",if=none,id=ns2,format=raw \
	-device nvme-ns,drive=ns2,bus=nvme0,nsid=2 \
	-netdev hubport,id=hp0,hubid=0 -netdev hubport,id=hp1,hubid=0 \
	-netdev hubport,id=hp2,hubid=0 \
	-device e1000e,netdev=hp0,mac=52:54:00:00:10:02,addr=0x7,romfile= \
	-device e1000e,netdev=hp1,mac=52:54:00:00:10:01,addr=0x8,romfile= \
	-device e1000e,netdev=hp2,mac=52:54:00:00:11:01,addr=0x9,romfile= \
	</dev/null 2>&1 | tr -d '\r' | tee "$log"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || echo "rig: L0 QEMU exited with status $rc"
exit "$rc"
