#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Build the programs the rig runs on its L1 host, where the patched KVM is
# loaded: the host ABI test (a small VMM, tests/host-abi) and the memory
# fragmenter that keeps a guest's memory from being host-contiguous
# (tests/e2e/fragment-memory.c).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

OUT=$PVDMA_CACHE/host-abi
CFLAGS=(-O2 -g -Wall -Wextra -Werror -I"$REPO/include/uapi")
mkdir -p "$OUT"
step "building tests/host-abi and the rig's L1 helpers"
ccache gcc "${CFLAGS[@]}" -o "$OUT/pvdma_abi_test" "$REPO/tests/host-abi/pvdma_abi_test.c" \
	"$REPO/tests/lib/pvdma_vmm.c"
ccache gcc "${CFLAGS[@]}" -o "$OUT/pvdma-fragment-memory" "$REPO/tests/e2e/fragment-memory.c"
