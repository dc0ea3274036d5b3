#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Build the rig's second L2 kernel: linux-source-6.12 with the PVDMA guest
# layer built in (CONFIG_PVDMA_GUEST=y, enabled by pvdma=on), from a small
# config (tinyconfig + scripts/rig/l2-kernel.config), and the e2e test driver
# for it.  The tree and build directory stay in the cache between runs.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$REPO/scripts/prepare-source.sh"

T=$PVDMA_CACHE/l2-tree
B=$PVDMA_CACHE/l2-build
OUT=$PVDMA_CACHE/l2-kernel
FRAG=$REPO/scripts/rig/l2-kernel.config

pvdma_link_tree "$T" "$B"
pvdma_sync_guest "$T" "$PVDMA_CACHE/l2-stage"

mkdir -p "$B" "$OUT"
if [ ! -f "$B/.config" ] || [ "$FRAG" -nt "$B/.config" ]; then
	step "configuring the L2 kernel (tinyconfig + $(basename "$FRAG"))"
	make -s -C "$T" O="$B" CC="$KCC" tinyconfig >/dev/null
	"$T/scripts/kconfig/merge_config.sh" -m -O "$B" "$B/.config" "$FRAG" >/dev/null
	make -s -C "$T" O="$B" CC="$KCC" olddefconfig >/dev/null
	# merge_config.sh only warns when an option does not survive.
	while IFS= read -r opt; do
		grep -qx "$opt" "$B/.config" || die "L2 kernel config lacks $opt"
	done < <(grep '^CONFIG_' "$FRAG")
fi
step "building the L2 kernel with PVDMA built in"
make -s -C "$T" O="$B" CC="$KCC" -j"$NPROC" bzImage modules
cp "$B/arch/x86/boot/bzImage" "$OUT/bzImage"

b=$PVDMA_CACHE/l2-build-edu
mkdir -p "$b"
rsync -a "$REPO/tests/e2e/edu_dma_test/" "$b/"
make -s -C "$B" M="$b" CC="$KCC" modules
cp "$b/pvdma_edu_test.ko" "$OUT/"
step "L2 kernel ready in $OUT"
