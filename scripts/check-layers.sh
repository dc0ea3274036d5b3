#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The guest side reads from the bottom up: each of its files may use only
# the files before it in guest/pvdma_ops/Kbuild, never one after it, so
# that no two parts call each other in a circle.  Checked on what the
# compiler made, not on the text: every symbol an object file takes from
# another must be defined by one listed before it.  Both builds are
# checked: the module (make guest) and the kernel with pvdma built in
# (the L2 kernel), which has the swiotlb pool as well.
# Prints one check per file and build, then "layers: N passed, M failed".
set -uo pipefail
. "$(dirname "$0")/lib.sh"

# The objects in Kbuild's order, both builds' lists in one.
order=$(grep -v '^CFLAGS' "$REPO/guest/pvdma_ops/Kbuild" |
	grep -oE 'pvdma_[a-z_]+\.o' | sed 's/\.o$//' | awk '!seen[$0]++')

pass=0 fail=0
check_build() {
	local name=$1 dir=$2 f g sym up n i
	declare -A defined=() rank=()
	if ! ls "$dir"/pvdma_main.o >/dev/null 2>&1; then
		echo "FAIL $name: no objects in $dir (run make guest first)"
		fail=$((fail + 1))
		return
	fi
	i=0
	for f in $order; do
		rank[$f]=$i
		i=$((i + 1))
		[ -f "$dir/$f.o" ] || continue
		while read -r sym; do
			defined[$sym]=$f
		done < <(nm --defined-only "$dir/$f.o" | awk '$2 ~ /^[TDBRGV]$/ {print $3}')
	done
	for f in $order; do
		[ -f "$dir/$f.o" ] || continue
		up=()
		while read -r sym; do
			g=${defined[$sym]:-}
			[ -n "$g" ] && [ "${rank[$g]}" -gt "${rank[$f]}" ] && up+=("$g:$sym")
		done < <(nm --undefined-only "$dir/$f.o" | awk '{print $2}')
		n=${#up[@]}
		if [ "$n" = 0 ]; then
			echo "ok   $name: $f.c uses only files before it"
			pass=$((pass + 1))
		else
			echo "FAIL $name: $f.c uses what files after it define: ${up[*]}"
			fail=$((fail + 1))
		fi
	done
}

check_build module "$PVDMA_CACHE/guest-build/pvdma_ops/src"
check_build built-in "$PVDMA_CACHE/l2-build/drivers/virt/pvdma"
echo "layers: $pass passed, $fail failed"
[ "$fail" = 0 ]
