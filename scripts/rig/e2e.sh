#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The end-to-end test: real devices assigned to a guest on a host without an
# IOMMU, through the distribution's QEMU and pvdma-qemu, driven by their
# own drivers, with the guest's DMA translated by PVDMA (scripts/rig/).
# Then the build machine checks the NVMe disk images L2 wrote.  Prints one
# line per check, and the summaries "host-abi: ..." and "e2e: N passed,
# M failed".  Exits non-zero on any failure.
#
# Usage: e2e.sh [e2e|demo]: demo runs the module guest only, and says what
# each step showed.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

MODE=${1:-e2e}
RIG=${PVDMA_RIG:-$PVDMA_CACHE/rig}
log=$RIG/console-$MODE.log
set +e
"$REPO/scripts/rig/boot.sh" "$MODE"
rc=$?
set -e

# What the build machine finds in the disk images after L0 is gone.
image_checks() {
	local line off want got bs ofs size
	# fio's verified regions, verified once more from the image itself.
	for job in "4k 1M 4M" "64k 16M 16M" "1m 48M 32M"; do
		set -- $job
		if fio --name=bs$1 --filename="$RIG/nvme-raw.img" --rw=randwrite --bs=$1 \
			--offset=$2 --size=$3 --verify=crc32c --verify_only --verify_state_save=0 --thread \
			--output-format=terse --terse-version=3 > "$RIG/verify-$1.log" 2>&1 &&
		   [ "$(grep '^3;' "$RIG/verify-$1.log" | cut -d';' -f5)" = 0 ]; then
			echo "image-check: fio-region-$1-verifies: PASS"
		else
			echo "image-check: fio-region-$1-verifies: FAIL ($(tail -n 2 "$RIG/verify-$1.log" | tr '\n' ' '))"
		fi
	done
	# Each run's own pattern, where it says it wrote it.
	grep -E '^pvdma-e2e: [a-z-]*nvme-raw-pattern: PASS' "$log" | while read -r line; do
		want=$(echo "$line" | sed -n 's/.*md5 \([0-9a-f]*\) at MiB \([0-9]*\).*/\1/p')
		off=$(echo "$line" | sed -n 's/.*md5 \([0-9a-f]*\) at MiB \([0-9]*\).*/\2/p')
		got=$(dd if="$RIG/nvme-raw.img" bs=1M skip="$off" count=4 status=none | md5sum | cut -d' ' -f1)
		[ "$got" = "$want" ] && echo "image-check: raw-pattern-at-mib-$off: PASS (md5 $got)" ||
			echo "image-check: raw-pattern-at-mib-$off: FAIL (image has $got, L2 wrote $want)"
	done
	# The last file system L2 made: clean, with the file it wrote.
	if e2fsck -fn "$RIG/nvme-fs.img" > "$RIG/fsck.log" 2>&1; then
		echo "image-check: ext4-clean: PASS ($(tail -n 1 "$RIG/fsck.log"))"
	else
		echo "image-check: ext4-clean: FAIL ($(tail -n 3 "$RIG/fsck.log" | tr '\n' ' '))"
	fi
	want=$(sed -n 's/^pvdma-e2e: [a-z-]*nvme-fs-file: random.bin md5 \([0-9a-f]*\).*/\1/p' "$log" | tail -n 1)
	got=$(debugfs -R 'cat /random.bin' "$RIG/nvme-fs.img" 2>/dev/null | md5sum | cut -d' ' -f1)
	[ -n "$want" ] && [ "$got" = "$want" ] && echo "image-check: ext4-file-random.bin: PASS (md5 $got)" ||
		echo "image-check: ext4-file-random.bin: FAIL (image has $got, L2 wrote ${want:-nothing})"
}
image_checks > "$RIG/image-checks.log" 2>&1
cat "$RIG/image-checks.log" >> "$log"

CHECK='^(pvdma-e2e|host-check|image-check): [a-z0-9:.-]+: '
pass=$(grep -cE "$CHECK"PASS "$log" || true)
fail=$(grep -cE "$CHECK"FAIL "$log" || true)
echo
echo "e2e: checks"
grep -E "$CHECK(PASS|FAIL)" "$log" | sed 's/^/  /' || true

# FOLL_PIN pins the host saw not released after each L2 run, added up.
leaks=$(sed -n 's/^host: [a-z-]*: pins leaked: \(-\{0,1\}[0-9]*\)$/\1/p' "$log")
if [ -n "$leaks" ]; then
	echo "pins leaked: $(echo "$leaks" | paste -sd+ | bc)"
else
	echo "pins leaked: unknown (the host never reported)"
	fail=$((fail + 1))
fi

# Every run must have reported: a check that never printed is a failure.
want=(host-check:module-no-pins-leaked host-check:module-host-kernel-no-oops-or-warn pvdma-e2e:edu-done pvdma-e2e:edu-negative-control-gpa
      pvdma-e2e:edu-msi-completions pvdma-e2e:nvme-fio-verify-4k pvdma-e2e:nvme-fio-verify-64k
      pvdma-e2e:nvme-fio-verify-1m pvdma-e2e:nvme-fsck-clean pvdma-e2e:nvme-files-intact-after-remount
      pvdma-e2e:nvme-msix-interrupts pvdma-e2e:nvme-dma-translated
      pvdma-e2e:nvme-host-frames-not-contiguous pvdma-e2e:nic-download-16m
      host-check:module-nic-upload-arrived pvdma-e2e:nic-ping-8000 pvdma-e2e:nic-jumbo-frames-unfragmented
      pvdma-e2e:nic-msix-interrupts pvdma-e2e:nic-dma-translated pvdma-e2e:pvdma-unloads
      pvdma-e2e:attached-before-driver-0000:00:06.0 pvdma-e2e:virtio-keeps-guest-physical-dma
      host-check:pvdma-qemu-adds-safe-defaults host-check:bind-0000:00:06.0-noiommu
      image-check:ext4-file-random.bin image-check:fio-region-1m-verifies)
if [ "$MODE" = e2e ]; then
	want+=(host-check:builtin-no-pins-leaked host-check:builtin-host-kernel-no-oops-or-warn host-check:lifecycle-host-kernel-no-oops-or-warn pvdma-e2e:builtin-edu-done
	       pvdma-e2e:builtin-nvme-fio-verify-64k pvdma-e2e:builtin-nic-download-16m
	       host-check:builtin-nic-upload-arrived pvdma-e2e:builtin-cache-off-releases-everything pvdma-e2e:builtin-drivers-unbound-pvdma-holds-only-what-they-leaked pvdma-e2e:builtin-dma-api-debug-clean
	       pvdma-e2e:builtin-attached-before-driver-0000:00:07.0
	       pvdma-e2e:limit-nvme-limit-hit-then-bounced pvdma-e2e:limit-nvme-fio-verify-1m
	       pvdma-e2e:limit-devices-auto-finds-the-assigned-devices
	       pvdma-e2e:lifecycle-boot1-host-holds-pins pvdma-e2e:lifecycle-reboot-leaves-nothing-pinned
	       pvdma-e2e:lifecycle-cycle1-fenced-without-pvdma pvdma-e2e:lifecycle-cycle2-pvdma-unloads
	       pvdma-e2e:lifecycle-cycle2-unload-releases-everything
	       pvdma-e2e:lifecycle-reload-driver-works-over-pvdma host-check:lifecycle-no-pins-leaked
	       host-check:limit-no-pins-leaked
	       pvdma-e2e:builtin-bounce-edu-every-mapping-bounced host-check:builtin-bounce-no-pins-leaked
	       pvdma-e2e:refuses-when-not-opted-in pvdma-e2e:refuses-when-not-opted-in-no-driver-without-pvdma
	       pvdma-e2e:refuses-on-stock-kvm host-check:pvdma-qemu-refuses-stock-kvm
	       host-check:preload-refuses-vm-without-cap host-check:pvdma-qemu-refuses-option-rom)
fi
for w in "${want[@]}"; do
	grep -qE "^${w%%:*}: ${w#*:}: " "$log" || { echo "e2e: missing: ${w/:/: }"; fail=$((fail + 1)); }
done
# The run must have reached its end, or a crash would read as success.
grep -q '^host: done' "$log" || { echo "e2e: the host did not finish the run"; fail=$((fail + 1)); }
[ "$rc" = 0 ] || fail=$((fail + 1))

if [ "$MODE" = demo ]; then
	echo
	echo "demo: what happened"
	grep -E '^host: (step|ready|0000|taint)|^host: .*(serving|-> vfio-pci)|^pvdma-qemu: |^host: module: |^guest: (modprobe|nvme|nic|edu)|^pvdma-fio:' "$log" | sed 's/^/  /' || true
fi

# The host ABI test ran in the same L1; it prints its own lines.
abi=$(grep -E '^host-abi: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 || true)
if [ "$MODE" = e2e ]; then
	echo
	echo "host-abi: checks"
	grep -E '^host-abi: [a-z0-9-]+: (PASS|FAIL)' "$log" | sed 's/^/  /' || true
	echo "${abi:-host-abi: 0 passed, 1 failed}"
fi
echo
echo "e2e: $pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ] &&
	{ [ "$MODE" != e2e ] || { [ -n "$abi" ] && [ "${abi#*passed, }" = "0 failed" ]; }; }
