#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Build the host ABI test (a small VMM, tests/host-abi) into the cache.  It
# runs inside the rig's L1 host, where the patched KVM is loaded.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

OUT=$PVDMA_CACHE/host-abi
mkdir -p "$OUT"
step "building tests/host-abi"
ccache gcc -O2 -g -Wall -Wextra -Werror -I"$REPO/include/uapi" \
	-o "$OUT/pvdma_abi_test" "$REPO/tests/host-abi/pvdma_abi_test.c" \
	"$REPO/tests/lib/pvdma_vmm.c"
