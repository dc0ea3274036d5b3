#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# POST_INSTALL and POST_REMOVE of the pvdma-guest DKMS package, run in its
# source directory: modprobe-conf.sh install|remove.
#
# /etc/modprobe.d/pvdma.conf makes the drivers it names load pvdma first and
# refuse to load without it.  So it is installed with the first pvdma.ko,
# an administrator's copy is never overwritten, and when the last pvdma.ko
# is removed the file goes too (set aside as pvdma.conf.disabled if it was
# edited): left behind, it would keep those drivers from loading at all.
set -eu
conf=/etc/modprobe.d/pvdma.conf
ours=guest/modprobe.d/pvdma.conf

case ${1:-} in
install)
	if [ -e "$conf" ]; then
		cmp -s "$ours" "$conf" ||
			echo "pvdma: keeping your $conf (the shipped one is $PWD/$ours)"
	else
		install -D -m 0644 "$ours" "$conf"
		echo "pvdma: installed $conf; name the assigned devices there (options pvdma devices=...)"
	fi
	;;
remove)
	# pvdma.ko is still installed for another kernel: the file still holds.
	for m in /lib/modules/*/updates/dkms/pvdma.ko*; do
		[ -e "$m" ] && exit 0
	done
	[ -e "$conf" ] || exit 0
	if cmp -s "$ours" "$conf"; then
		rm -f "$conf"
		echo "pvdma: removed $conf"
	else
		mv -f "$conf" "$conf.disabled"
		echo "pvdma: pvdma.ko is gone, so $conf would keep the drivers it names from loading: moved it to $conf.disabled"
	fi
	;;
*)
	echo "usage: $0 install|remove" >&2
	exit 2
	;;
esac
