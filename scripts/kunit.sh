#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Build a KUnit kernel with the PVDMA host code and its suites, run it under
# qemu with kunit.py, and end with one line "kunit: N passed, M failed".
#
# The kernel tree is $PVDMA_CACHE/kunit-tree: a hard-link copy of
# linux-source, made once.  Every file we change in it (the patched KVM
# files, the wiring of the tests) is written as a new file by rsync, which
# breaks the hard link, so linux-source itself is never modified.  Our
# sources are re-synced on every run with checksums: only files whose
# content changed get a new mtime, so a warm run rebuilds only those.
# The build directory $PVDMA_CACHE/kunit-build is kept between runs.
#
# Extra arguments go to kunit.py run, e.g. a filter glob: 'pvdma_host_pin*'.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
"$REPO/scripts/prepare-source.sh"

T=$PVDMA_CACHE/kunit-tree
B=$PVDMA_CACHE/kunit-build
STAGE=$PVDMA_CACHE/kunit-stage
JSON=$B/pvdma-kunit.json
LOG=$B/pvdma-kunit.log
KUNIT_TIMEOUT=${KUNIT_TIMEOUT:-900}

# Where our files go in the kernel tree.
PV=arch/x86/kvm/pvdma
GV=drivers/virt/pvdma
GK=drivers/virt/pvdma_kunit
SYNC=(-rc --delete --exclude='*.o' --exclude='.*.cmd' --exclude='*.ko'
      --exclude='*.mod*')

pvdma_link_tree "$T" "$B"

# Patched KVM files: patch pristine copies in a staging area, then sync the
# result into the tree.  Files patched by an earlier run but no longer by
# any patch are restored too, because the staging area starts from
# linux-source each time.
step "syncing PVDMA sources into $T"
patched=$T/.pvdma-patched-files
touch "$patched"
mapfile -t files < <({
	cat "$patched"
	sed -n 's#^+++ b/\([^[:space:]]*\).*#\1#p' "$REPO"/host/kvm-patch/*.patch
	echo arch/x86/kvm/Kconfig
	echo arch/x86/kvm/Makefile
	echo drivers/virt/Kconfig
	echo drivers/virt/Makefile
} | sort -u)
rm -rf "$STAGE"
mkdir -p "$STAGE"
for f in "${files[@]}"; do
	if [ -f "$KSRC/$f" ]; then
		mkdir -p "$STAGE/$(dirname "$f")"
		cp "$KSRC/$f" "$STAGE/$f"
	fi
done
for p in "$REPO"/host/kvm-patch/*.patch; do
	patch -d "$STAGE" -p1 -s -f --no-backup-if-mismatch < "$p" ||
		die "$(basename "$p") does not apply to linux-source $DEB_VER"
done

# Wire the suites in: a Kconfig symbol and one object per kunit/host/*.c,
# linked into kvm.ko next to the engine they test.
echo "source \"$PV/kunit/Kconfig\"" >> "$STAGE/arch/x86/kvm/Kconfig"
{
	echo
	echo "# PVDMA KUnit suites, added by scripts/kunit.sh (not a hook)."
	for c in "$REPO"/kunit/host/*.c; do
		o=pvdma/kunit/host/$(basename "${c%.c}").o
		echo "kvm-\$(CONFIG_PVDMA_KUNIT_TEST) += $o"
		echo "CFLAGS_$o += -I \$(srctree)/$PV/pin_sg -I \$(srctree)/$PV/hypercall"
	done
} >> "$STAGE/arch/x86/kvm/Makefile"

# Wire the guest in: pvdma itself in drivers/virt/pvdma/ (its Kbuild serves
# in-tree builds too) and its suites in drivers/virt/pvdma_kunit/.
# The Kconfig lines go inside "if VIRT_DRIVERS": drivers/Makefile enters
# drivers/virt/ only with it.
sed -i "/^endif/i # PVDMA guest, added by scripts/kunit.sh.\\
source \"$GV/Kconfig\"\\
source \"$GK/Kconfig\"" "$STAGE/drivers/virt/Kconfig"
{
	echo
	echo "# PVDMA guest, added by scripts/kunit.sh."
	echo "obj-\$(CONFIG_PVDMA_GUEST) += pvdma/"
	echo "obj-\$(CONFIG_PVDMA_GUEST_KUNIT_TEST) += pvdma_kunit/"
} >> "$STAGE/drivers/virt/Makefile"
printf '%s\n' "${files[@]}" > "$patched"

# rsync writes changed files anew (temporary file and rename): the hard
# links to linux-source are broken, never written through.
rsync -rc "$STAGE/" "$T/"
mkdir -p "$T/$PV/kunit" "$T/include/uapi/linux"
rsync -c "$REPO/include/uapi/linux/pvdma.h" "$T/include/uapi/linux/pvdma.h"
rsync "${SYNC[@]}" "$REPO/host/hypercall/" "$T/$PV/hypercall/"
rsync "${SYNC[@]}" "$REPO/host/pin_sg/" "$T/$PV/pin_sg/"
rsync "${SYNC[@]}" "$REPO/kunit/host/" "$T/$PV/kunit/host/"
rsync -c "$REPO/kunit/Kconfig" "$T/$PV/kunit/Kconfig"
mkdir -p "$T/$GV" "$T/$GK"
rsync "${SYNC[@]}" "$REPO/guest/pvdma_ops/" "$T/$GV/"
rsync "${SYNC[@]}" "$REPO/kunit/guest/" "$T/$GK/"

step "building and running the KUnit kernel (build dir $B)"
mkdir -p "$B"
rm -f "$JSON"
start=$(date +%s)
set +e
(cd "$T" && python3 tools/testing/kunit/kunit.py run --arch=x86_64 \
	--kunitconfig="$REPO/kunit/.kunitconfig" --build_dir="$B" \
	--jobs="$NPROC" --timeout="$KUNIT_TIMEOUT" \
	--make_options "CC=$KCC" --json="$JSON" "$@") 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e
echo "kunit.py exited with status $rc after $(($(date +%s) - start)) s"

# Count from kunit.py's JSON: per suite, then in total.  A crashed test
# counts as failed, and so does a run that produced no results at all.
# Kernel splats fail the run too: lockdep and WARN_ON do not fail a test
# case by themselves (KASAN and KFENCE reports do).
python3 - "$JSON" "$rc" "$B/test.log" <<'EOF'
import json
import re
import sys

path, rc, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
passed = failed = skipped = 0


def walk(group, depth):
    global passed, failed, skipped
    p = f = s = 0
    for case in group.get('test_cases', []):
        if case['status'] == 'PASS':
            p += 1
        elif case['status'] == 'SKIP':
            s += 1
        else:
            f += 1
    for sub in group.get('sub_groups', []):
        sp, sf, ss = walk(sub, depth + 1)
        p, f, s = p + sp, f + sf, s + ss
    if depth == 1:
        print(f"  {group['name']}: {p} passed, {f} failed, {s} skipped")
    if depth == 0:
        passed, failed, skipped = p, f, s
    return p, f, s


try:
    with open(path) as fp:
        walk(json.load(fp), 0)
except (OSError, ValueError) as e:
    print(f'kunit: no results from kunit.py ({e})')
splat = re.compile(r'(WARNING:|BUG:|UBSAN:|Kernel panic|INFO: task .* blocked)')
try:
    with open(log, errors='replace') as fp:
        splats = [line.rstrip() for line in fp if splat.search(line)]
except OSError:
    splats = []
if splats:
    print(f'kunit: {len(splats)} kernel splat(s) in {log}, counted as a failure:')
    for line in splats[:10]:
        print('  ' + line)
    failed += 1
if rc != 0 and failed == 0:
    failed = 1
if passed + failed == 0:
    failed = 1
print(f'kunit: {passed} passed, {failed} failed')
sys.exit(1 if failed else 0)
EOF
