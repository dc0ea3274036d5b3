#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# make dkms-check: the DKMS packages, as an administrator uses them, against
# the stock Debian 6.12 kernel ($KVER) and its headers:
#
#   make install                     both packages added to DKMS
#   dkms build / dkms install        pvdma-guest, then pvdma-host
#   modinfo                          our builds, in updates/dkms, shadow the
#                                    stock modules; modprobe.d in place
#   dkms remove -k, kernel hook      a kernel update builds them again
#   dkms remove --all                the stock modules are back
#   make uninstall                   nothing of ours is left
#
# It runs the real dkms, modprobe and depmod, in a private mount namespace
# with overlays on the directories they write (/usr/src, /var/lib/dkms,
# /usr/share/dkms, /etc/modprobe.d and /lib/modules/$KVER): the machine's
# own are never touched, and whatever a run leaves vanishes with it.
#
# Ends with "dkms-check: N passed, M failed".
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || die "dkms-check needs root (mount namespace, dkms)"
command -v dkms >/dev/null || die "dkms is missing: run make deps"
[ -d "$KHDR" ] || die "no headers for $KVER: run make deps"

W=$PVDMA_CACHE/dkms-check
V=${PVDMA_VERSION:?run it as make dkms-check}
MODDIR=$(realpath "/lib/modules/$KVER")
UPD=/lib/modules/$KVER/updates/dkms
CONF=/etc/modprobe.d/pvdma.conf
HOST_MODS="kvm kvm-amd kvm-intel vfio"

# An administrator runs dkms from a shell, not from make.  Under make
# (make test, make dkms-check), MAKELEVEL makes every make that dkms starts
# print "make[1]: Entering directory", and dkms takes that line for the
# compiler it reads from the kernel's .kernelvariables (CC="make[1]: ...").
unset MAKELEVEL MAKEFLAGS MFLAGS MAKEOVERRIDES GNUMAKEFLAGS

if [ "${1:-}" != --in-namespace ]; then
	rm -rf "$W"
	mkdir -p "$W"
	exec unshare --mount --propagation private "$0" --in-namespace
fi

pass=0 fail=0
check() {
	local name=$1 t0=$SECONDS
	shift
	if "$@" >> "$W/dkms.log" 2>&1; then
		echo "dkms-check: $name: PASS ($((SECONDS - t0)) s)"
		pass=$((pass + 1))
	else
		echo "dkms-check: $name: FAIL ($((SECONDS - t0)) s; see $W/dkms.log)"
		tail -n 15 "$W/dkms.log" | sed 's/^/    /'
		fail=$((fail + 1))
	fi
}

# Overlay every directory DKMS writes: reads see the machine, writes stay here.
i=0
for d in /usr/src /var/lib/dkms /usr/share/dkms /etc/modprobe.d "$MODDIR"; do
	mkdir -p "$d" "$W/upper/$i" "$W/work/$i"
	mount -t overlay overlay -o "lowerdir=$d,upperdir=$W/upper/$i,workdir=$W/work/$i" "$d"
	i=$((i + 1))
done

# What identifies a build: its machine code.  Debian builds no srcversion
# for these modules, and DKMS signs what it installs, so neither the file
# nor modinfo's checksum can tell; the .text of the same sources built with
# the same compiler and flags is the same, whoever builds it and where.
code_id() {
	local t
	t=$(mktemp -d)
	case $1 in
	*.xz) xz -dc "$1" > "$t/m.ko" ;;
	*) cp "$1" "$t/m.ko" ;;
	esac
	objcopy -O binary --only-section=.text "$t/m.ko" "$t/text"
	sha256sum < "$t/text" | cut -c1-16
	rm -rf "$t"
}
declare -A stock ours
for m in $HOST_MODS; do
	stock[$m]=$(code_id "$(modinfo -k "$KVER" -n "$m")")
	ours[$m]=$(code_id "$PVDMA_CACHE/modules/host/$m.ko")
done
ours[pvdma]=$(code_id "$PVDMA_CACHE/modules/guest/pvdma.ko")

added() { dkms status -m "$1" -v "$V" | grep -q ': added$'; }
installed() { dkms status -m "$1" -v "$V" -k "$KVER" | grep -q ": installed$"; }

# resolves M KIND: modinfo (through depmod's index) resolves M for this
# kernel to KIND of build: "ours" (in updates/dkms, our code, not marked
# in-tree) or "stock" (in kernel/, the stock code, in-tree).
resolves() {
	local m=$1 kind=$2 path id want dir intree=
	path=$(modinfo -k "$KVER" -n "$m") || return 1
	id=$(code_id "$path")
	if [ "$kind" = ours ]; then
		want=${ours[$m]} dir=$UPD
	else
		want=${stock[$m]} dir=/lib/modules/$KVER/kernel intree=Y
	fi
	echo "$m: $path, code $id, $kind $want"
	[[ $path == "$dir/"* ]] && [ "$id" = "$want" ] &&
		[ "$(modinfo -k "$KVER" -F intree "$m")" = "$intree" ] &&
		[ "$(modinfo -k "$KVER" -F vermagic "$m" | cut -d' ' -f1)" = "$KVER" ]
}
all_ours() { local m; for m in "$@"; do resolves "$m" ours || return 1; done; }
all_stock() { local m; for m in "$@"; do resolves "$m" stock || return 1; done; }

make_install() {
	make -C "$REPO" --no-print-directory install && added pvdma-host && added pvdma-guest &&
		[ -f "/usr/src/pvdma-host-$V/dkms.conf" ] && [ -f "/usr/src/pvdma-guest-$V/dkms.conf" ]
}
build_install() {
	dkms build "$1/$V" -k "$KVER" && dkms install "$1/$V" -k "$KVER" && installed "$1" ||
		{ tail -n 30 "/var/lib/dkms/$1/$V/build/make.log"; return 1; }
}
# modprobe honours the shipped install lines for this kernel's drivers.
conf_in_place() {
	cmp "$REPO/guest/modprobe.d/pvdma.conf" "$CONF" &&
		modprobe -n -v -S "$KVER" nvme | tee /dev/stderr |
		grep -q '^install /sbin/modprobe pvdma && /sbin/modprobe --ignore-install nvme'
}
# kvm-amd and vfio-pci load on our kvm.ko and vfio.ko (depmod's view).
deps_ours() {
	modprobe -n -v -S "$KVER" kvm-amd | tee /dev/stderr | grep -q "insmod $UPD/kvm.ko" &&
		modprobe -n -v -S "$KVER" vfio-pci | tee /dev/stderr | grep -q "insmod $UPD/vfio.ko"
}
# A new kernel is one the packages are added for but not built for; its
# package runs /etc/kernel/postinst.d/dkms, which must build and install
# both again (AUTOINSTALL).
unbuild_kernel() {
	dkms unbuild "pvdma-guest/$V" -k "$KVER" && dkms unbuild "pvdma-host/$V" -k "$KVER" &&
		added pvdma-guest && added pvdma-host &&
		all_stock $HOST_MODS && ! modinfo -k "$KVER" -n pvdma && [ ! -e "$CONF" ]
}
kernel_hook() {
	/etc/kernel/postinst.d/dkms "$KVER" && installed pvdma-guest && installed pvdma-host
}
# The administrator named the devices in the shipped file: removal keeps
# the edit but takes the file out of modprobe's way.
remove_all() {
	echo "options pvdma devices=auto" >> "$CONF"
	dkms remove "pvdma-guest/$V" --all && dkms remove "pvdma-host/$V" --all &&
		[ ! -e "$CONF" ] && grep -q 'devices=auto' "$CONF.disabled" &&
		! modinfo -k "$KVER" -n pvdma && all_stock $HOST_MODS
}
uninstall() {
	make -C "$REPO" --no-print-directory uninstall &&
		[ -z "$(dkms status -m pvdma-host)$(dkms status -m pvdma-guest)" ] &&
		[ ! -e "/usr/src/pvdma-host-$V" ] && [ ! -e "/usr/src/pvdma-guest-$V" ] &&
		[ -z "$(find "/lib/modules/$KVER/updates" -name 'kvm*' -o -name 'vfio.ko*' -o -name 'pvdma.ko*' 2>/dev/null)" ] &&
		[ ! -e /usr/share/dkms/modules_to_force_install/pvdma-host ]
}

check "stock-modules-before" all_stock $HOST_MODS
check "make-install-adds-both-packages" make_install
check "guest-dkms-build-install" build_install pvdma-guest
check "guest-modinfo-shows-our-pvdma-in-updates" all_ours pvdma
check "guest-modprobe-conf-loads-pvdma-before-nvme" conf_in_place
check "host-dkms-build-install" build_install pvdma-host
check "host-modinfo-shows-our-kvm-vfio-in-updates" all_ours $HOST_MODS
check "host-kvm-pvdma-parameters" sh -c "modinfo -k $KVER -F parm kvm | grep -q '^pvdma_max_pinned_pages:'"
check "host-vfio-noiommu-parameter" sh -c "modinfo -k $KVER -F parm vfio | grep -q '^enable_unsafe_noiommu_mode:'"
check "host-stock-users-resolve-to-ours" deps_ours
check "unbuild-restores-stock-and-drops-conf" unbuild_kernel
check "kernel-update-hook-rebuilds-both" kernel_hook
check "after-rebuild-ours-again" all_ours pvdma $HOST_MODS
check "remove-all-restores-stock-keeps-edited-conf" remove_all
check "make-uninstall-leaves-nothing" uninstall

echo "dkms-check: $pass passed, $fail failed"
[ "$fail" = 0 ]
