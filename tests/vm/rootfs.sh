#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Root file system of the dock's second kind of guest: a Debian 12 system
# (systemd as PID 1, udev, dbus, bolt, DKMS) made with debootstrap, on an
# ext4 disk image, with egpuhp installed from its own .debs.
#
#   rootfs.sh key                  cache key (package list, this script, first kernel)
#   rootfs.sh base                 build (or reuse) the base tree; prints its path
#   rootfs.sh image DIR DEBDIR     base + ./*.deb from DEBDIR + second kernel
#                                  -> DIR/disk.img, DIR/boot/ (kernels, initrds)
#
# The base tree holds Debian's packages (tests/system/rootfs-packages.txt)
# and the first kernel (6.1, from tests/vm/kernels.sh's cache, with its
# headers).  It is cached in .cache/rootfs/<key>/; a copy in
# /var/cache/egpuhp/rootfs/<key>/ (outside the clone) is used when present.
# "image" installs egpuhp's packages (so DKMS builds for 6.1), then the
# second kernel with its headers (so DKMS builds for 6.12 too).
#
# Environment: EGPUHP_ROOTFS_MIRROR (default: the host's first apt URI),
# EGPUHP_ROOTFS_FIRST (6.1), EGPUHP_ROOTFS_SECOND (6.12).

# dpkg-query's ${Package} formats are meant for dpkg-query, not the shell:
# shellcheck disable=SC2016
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
KERNELS_SH=$TOP/tests/vm/kernels.sh
PKGLIST=$TOP/tests/system/rootfs-packages.txt
CACHE=$TOP/.cache/rootfs
SHARED=/var/cache/egpuhp/rootfs
FIRST=${EGPUHP_ROOTFS_FIRST:-6.1}
SECOND=${EGPUHP_ROOTFS_SECOND:-6.12}
SUITE=bookworm

die() { echo "rootfs.sh: $*" >&2; exit 1; }
note() { echo "rootfs.sh: $*" >&2; }

packages() { sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$PKGLIST"; }

kernel_debs() {	# kernel_debs FLAVOUR: its image, headers, common headers, kbuild
	local root
	root=$("$KERNELS_SH" path "$1" root)
	ls "${root%/root}"/debs/*.deb
}

key() {
	{
		packages
		echo "suite=$SUITE"
		sed -n '/^# --- base: begin/,/^# --- base: end/p' "$0"
		kernel_debs "$FIRST" | xargs -n1 basename
	} | sha256sum | cut -c1-16
}

mirror() {
	if [ -n "${EGPUHP_ROOTFS_MIRROR:-}" ]; then
		echo "$EGPUHP_ROOTFS_MIRROR"
		return
	fi
	# The host's own Debian mirror (deb822 or one-line sources).
	{ cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}'
	  grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '{print $2}'; } 2>/dev/null | grep -v security | head -n 1 || true
}

chroot_mounts() {	# chroot_mounts DIR: the file systems dpkg scripts and DKMS need
	mount -t proc proc "$1/proc"
	mount -t sysfs sysfs "$1/sys"
	mount --bind /dev "$1/dev"
	mount -t devpts devpts "$1/dev/pts"
}

chroot_umounts() {
	local d
	for d in dev/pts dev sys proc; do
		mountpoint -q "$1/$d" && umount -l "$1/$d"
	done
	return 0
}

in_chroot() {	# in_chroot DIR COMMAND...
	local dir=$1
	shift
	LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$dir" "$@"
}

# --- base: begin (this block is part of the cache key)
build_base() {
	local dir=$1 m kdebs
	m=$(mirror)
	[ -n "$m" ] || die "no Debian mirror (set EGPUHP_ROOTFS_MIRROR)"
	rm -rf "$dir.new"
	mkdir -p "$dir.new"
	note "debootstrap $SUITE ($(packages | wc -l) packages), log in $dir.new/debootstrap.log"
	debootstrap --variant=minbase --include="$(packages | paste -sd,)" \
		"$SUITE" "$dir.new/root" "$m" >"$dir.new/debootstrap.log" 2>&1 ||
		{ tail -20 "$dir.new/debootstrap.log" >&2; die "debootstrap failed"; }
	local r=$dir.new/root
	echo "egpusys" >"$r/etc/hostname"
	printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$r/etc/fstab"
	# Ask for no network: the guest has none.
	ln -sf /dev/null "$r/etc/systemd/system/systemd-networkd-wait-online.service"
	# Small initrds: only what q35 + virtio need ("dep" cannot see the
	# root device from a chroot).
	sed -i "s/^MODULES=.*/MODULES=list/" "$r/etc/initramfs-tools/initramfs.conf"
	printf 'virtio_pci\nvirtio_blk\next4\n' >>"$r/etc/initramfs-tools/modules"
	mkdir -p "$r/tmp/kernel"
	kdebs=$(kernel_debs "$FIRST")
	# shellcheck disable=SC2086
	cp $kdebs "$r/tmp/kernel/"
	chroot_mounts "$r"
	trap 'chroot_umounts "'"$r"'"' EXIT
	in_chroot "$r" sh -c 'apt-get install -y -q --no-install-recommends /tmp/kernel/*.deb' \
		>>"$dir.new/debootstrap.log" 2>&1 ||
		{ chroot_umounts "$r"; tail -20 "$dir.new/debootstrap.log" >&2; die "kernel install failed"; }
	chroot_umounts "$r"
	trap - EXIT
	rm -rf "$r/tmp/kernel" "$r"/var/cache/apt/archives/*.deb
	in_chroot "$r" dpkg-query -W -f='${Package} ${Version}\n' >"$dir.new/versions"
	mv "$dir.new" "$dir"
}
# --- base: end

base() {
	local k dir
	k=$(key)
	if [ -d "$SHARED/$k/root" ]; then
		echo "$SHARED/$k"
		return
	fi
	dir=$CACHE/$k
	mkdir -p "$CACHE"
	exec 8>"$CACHE/.lock"
	flock 8
	[ -d "$dir/root" ] || build_base "$dir"
	publish "$k" "$dir"
	exec 8>&-
	echo "$dir"
}

# A copy outside the clone, so that the next clone on this machine (CI)
# does not run debootstrap again; skipped quietly where that is not writable.
publish() {	# publish KEY DIR
	local tmp
	[ -d "$SHARED/$1/root" ] && return 0
	mkdir -p "$SHARED" 2>/dev/null || return 0
	tmp=$(mktemp -d "$SHARED/.new.XXXXXX" 2>/dev/null) || return 0
	if cp -a "$2/." "$tmp/" && mv -T "$tmp" "$SHARED/$1" 2>/dev/null; then
		note "base tree published as $SHARED/$1"
	else
		rm -rf "$tmp"
	fi
}

# image OUT DEBDIR: the base + egpuhp's .debs + the second kernel, as
# OUT/disk.img (ext4) and OUT/boot/ (what QEMU boots with -kernel/-initrd).
image() {
	local out=$1 debs=$2 b r log
	b=$(base)
	r=$out/root
	log=$out/image.log
	chroot_umounts "$r" 2>/dev/null || true
	rm -rf "$r" "${out:?}/disk.img" "${out:?}/boot"
	mkdir -p "$out"
	note "copying the base tree $b"
	cp -a "$b/root" "$r"
	mkdir -p "$r/tmp/egpuhp" "$r/tmp/kernel"
	cp "$debs"/*.deb "$r/tmp/egpuhp/"
	# shellcheck disable=SC2046
	cp $(kernel_debs "$SECOND") "$r/tmp/kernel/"
	chroot_mounts "$r"
	trap 'chroot_umounts "'"$r"'"' EXIT
	note "installing egpuhp's packages (DKMS builds for the first kernel), log in $log"
	in_chroot "$r" sh -c 'apt-get install -y --no-install-recommends /tmp/egpuhp/*.deb' \
		>"$log" 2>&1 || { tail -30 "$log" >&2; die "installing the .debs failed"; }
	note "installing the second kernel with its headers (DKMS builds for it)"
	in_chroot "$r" sh -c 'apt-get install -y --no-install-recommends /tmp/kernel/*.deb' \
		>>"$log" 2>&1 || { tail -30 "$log" >&2; die "installing the second kernel failed"; }
	in_chroot "$r" dkms status >"$out/dkms-status" 2>&1 || true
	chroot_umounts "$r"
	trap - EXIT
	in_chroot "$r" dpkg-query -W -f='${Package} ${Version}\n' >"$out/versions"
	mkdir -p "$out/boot"
	cp "$r"/boot/vmlinuz-* "$r"/boot/initrd.img-* "$out/boot/"
	rm -rf "$r/tmp/egpuhp" "$r/tmp/kernel"
}

# finish OUT: the tree in OUT/root (after the caller added test files) ->
# OUT/disk.img, then the tree is dropped.
finish() {
	local out=$1 size
	size=$(( $(du -sm "$out/root" | cut -f1) + 1024 ))
	mkfs.ext4 -q -F -L egpusys -d "$out/root" "$out/disk.img" "${size}M"
	rm -rf "$out/root"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in base | image | finish)
	[ "$(id -u)" -eq 0 ] || die "$cmd needs root (debootstrap, chroot, mounts, mkfs.ext4 -d)" ;;
esac
case $cmd in
key) key ;;
base) base ;;
image) [ $# -eq 2 ] || die "usage: rootfs.sh image OUTDIR DEBDIR"; image "$1" "$2" ;;
finish) [ $# -eq 1 ] || die "usage: rootfs.sh finish OUTDIR"; finish "$1" ;;
*) die "usage: rootfs.sh key | base | image OUTDIR DEBDIR | finish OUTDIR" ;;
esac
