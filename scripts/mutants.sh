#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# make mutants: break the host's translation on purpose and check that the
# real clients notice, not only edu's test driver.  Each mutant is a copy
# of host/ with one deliberate bug, built into its own kvm.ko and booted in
# the rig's demo run (the module guest, whose NUMA node 1 is host memory in
# single pages):
#
#   gpa    the host returns the guest-physical address instead of the
#          host-physical one (no translation at all);
#   merge  the host merges every full page into the previous segment,
#          whether or not the host frames are contiguous.
#
# A mutant is caught if at least one data check of the NVMe disk and one of
# the NIC fail (or the guest never gets to report them).  Ends with
# "mutants: N caught, M survived".  Slow (one rig boot each): not part of
# make test.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

declare -A MUTANT=(
	[gpa]='s#u64 addr = page_to_phys(m->pages\[p++\]) + off;#u64 addr = r->gpa + (r->len - left) + 0 * p++;#'
	[merge]='s#if (cur \&\& cur->addr + cur->len == addr) {#if (cur \&\& (cur->addr + cur->len == addr || !off)) {#'
)
NVME_DATA='nvme-(namespaces|fio-verify-[0-9a-z]+|raw-pattern|fsck-clean|files-intact-after-remount)'
NIC_DATA='nic-(download-16m|ping-[0-9]+|jumbo-ping-8000)|module-nic-upload-arrived'

caught=0 survived=0
for m in "${!MUTANT[@]}"; do
	dir=$PVDMA_CACHE/mutants/$m
	rm -rf "$dir" && mkdir -p "$dir"
	cp -r "$REPO/host" "$dir/host"
	sed -i "${MUTANT[$m]}" "$dir/host/pin_sg/pvdma_pin_sg.c"
	if cmp -s "$REPO/host/pin_sg/pvdma_pin_sg.c" "$dir/host/pin_sg/pvdma_pin_sg.c"; then
		die "mutant $m did not change host/pin_sg/pvdma_pin_sg.c: update its sed"
	fi
	step "mutant $m: $(diff "$REPO/host/pin_sg/pvdma_pin_sg.c" "$dir/host/pin_sg/pvdma_pin_sg.c" | grep '^>' | head -n 1)"
	PVDMA_HOST_SRC=$dir/host PVDMA_KVM_BUILD=$dir/kvm-build PVDMA_HOST_MODS=$dir/modules \
		"$REPO/scripts/build-kvm.sh"
	PVDMA_HOST_MODS=$dir/modules PVDMA_RIG=$dir/rig L0_TIMEOUT=${L0_TIMEOUT:-1800} \
		"$REPO/scripts/rig/boot.sh" demo > "$dir/boot.log" 2>&1 || true
	log=$dir/rig/console-demo.log
	nvme_ok=$(grep -cE "^pvdma-e2e: ($NVME_DATA): PASS" "$log" || true)
	nvme_bad=$(grep -cE "^pvdma-e2e: ($NVME_DATA): FAIL" "$log" || true)
	nic_ok=$(grep -cE "^(pvdma-e2e|host-check): ($NIC_DATA): PASS" "$log" || true)
	nic_bad=$(grep -cE "^(pvdma-e2e|host-check): ($NIC_DATA): FAIL" "$log" || true)
	# Eleven NVMe and seven NIC data checks when all report.
	if { [ "$nvme_bad" -gt 0 ] || [ "$nvme_ok" -lt 7 ]; } &&
	   { [ "$nic_bad" -gt 0 ] || [ "$nic_ok" -lt 7 ]; }; then
		echo "mutants: $m: caught (NVMe: $nvme_bad failed, $nvme_ok passed; NIC: $nic_bad failed, $nic_ok passed)"
		caught=$((caught + 1))
	else
		echo "mutants: $m: SURVIVED (NVMe: $nvme_bad failed, $nvme_ok passed; NIC: $nic_bad failed, $nic_ok passed; see $log)"
		survived=$((survived + 1))
	fi
	grep -E "^(pvdma-e2e|host-check): ($NVME_DATA|$NIC_DATA): FAIL" "$log" | head -n 8 | sed "s/^/  $m: /" || true
done
echo "mutants: $caught caught, $survived survived"
[ "$survived" = 0 ]
