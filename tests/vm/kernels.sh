#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Test kernels for the virtual eGPU dock: the newest Debian 12 packages of
# each flavour (and the newest kernel of Debian sid), downloaded with apt-get
# and unpacked (never installed) into .cache/kernels/<flavour>/.
#
#   kernels.sh fetch [FLAVOUR...]     default: 6.1 6.12
#   kernels.sh path FLAVOUR headers|vmlinuz|modules|kver|root
#   kernels.sh make FLAVOUR [make args...]   kbuild against the flavour's headers
#   kernels.sh list                   flavours this script knows
#
# Flavours: 6.1 6.12 6.1-rt 6.12-rt from Debian 12; newest newest-rt from
# Debian sid (tests/vm/sid.sh: its own apt lists, and a sid chroot for kbuild
# because those headers need sid's gcc and libc); 6.12-debug built from
# Debian's linux-source-6.12 (tests/vm/debug-kernel.sh).  Package numbers are
# never pinned: the newest name apt-cache knows wins.  When apt-cache cannot
# resolve a name (no package lists) an already unpacked kernel is used as it is.

set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${EGPUHP_KERNEL_CACHE:-$TOP/.cache/kernels}
SID_SH=$TOP/tests/vm/sid.sh
FLAVOURS_KNOWN="6.1 6.12 6.1-rt 6.12-rt newest newest-rt"

die() { echo "kernels.sh: $*" >&2; exit 1; }

image_regex() {
	case $1 in
	6.1)     echo '^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
	6.1-rt)  echo '^linux-image-6\.1\.0-[0-9]+-rt-amd64$' ;;
	6.12)    echo '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
	6.12-rt) echo '^linux-image-6\.12\.[0-9]+\+deb12-rt-amd64$' ;;
	newest)    echo '^linux-image-[0-9]+\.[0-9]+\.[0-9]+\+deb[0-9]+-amd64$' ;;
	newest-rt) echo '^linux-image-[0-9]+\.[0-9]+\.[0-9]+\+deb[0-9]+-rt-amd64$' ;;
	*) die "unknown flavour '$1' (known: $FLAVOURS_KNOWN)" ;;
	esac
}

# Where a flavour's packages come from: the host's apt (Debian 12) or sid.
from_sid() {
	case $1 in
	newest | newest-rt) return 0 ;;
	*) return 1 ;;
	esac
}

# apt-get / apt-cache for a flavour's package source.
flavour_apt() {
	local flavour=$1
	shift
	if from_sid "$flavour"; then
		"$SID_SH" "$@"
	else
		"$@"
	fi
}

# Newest linux-image package name of a flavour, or nothing.
newest_image() {
	flavour_apt "$1" apt-cache search --names-only "$(image_regex "$1")" 2>/dev/null |
		awk '{print $1}' | sort -V | tail -n 1
}

# The packages linux-headers-KVER depends on that we need besides it:
# linux-headers-*-common(-rt) and linux-kbuild-*.
header_deps() {
	flavour_apt "$1" apt-cache depends "linux-headers-$2" 2>/dev/null |
		awk '$1 ~ /Depends:/ {print $2}' |
		grep -E '^(linux-headers-.*-common(-rt)?|linux-kbuild-.*)$' | sort -u
}

# Where newer Debian kernels keep the image's files (linux-image-KVER is a
# meta package there): linux-binary-KVER (vmlinuz), linux-modules-KVER,
# linux-base-KVER.  Nothing for Debian 12's images.
image_parts() {
	flavour_apt "$1" apt-cache depends "linux-image-$2" 2>/dev/null |
		awk -v k="$2" '$1 ~ /Depends:/ && ($2 == "linux-binary-" k ||
			$2 == "linux-modules-" k || $2 == "linux-base-" k) {print $2}' | sort -u
}

# The unpacked image's vmlinuz and modules: /boot and /lib/modules in
# Debian 12, both under /usr/lib/modules/KVER/ in newer packages.
image_file() {
	local root=$1 kver=$2 kind=$3
	case $kind in
	vmlinuz)
		for p in "boot/vmlinuz-$kver" "usr/lib/modules/$kver/vmlinuz"; do
			[ -f "$root/$p" ] && { echo "$p"; return 0; }
		done ;;
	modules)
		for p in "lib/modules/$kver" "usr/lib/modules/$kver"; do
			[ -d "$root/$p/kernel" ] && { echo "$p"; return 0; }
		done ;;
	esac
	return 1
}

fetch_one() {
	local flavour=$1 dir=$CACHE/$1 image kver pkgs p

	image_regex "$flavour" >/dev/null
	image=$(newest_image "$flavour")
	if [ -z "$image" ]; then
		[ -f "$dir/env" ] || die "apt-cache knows no package for $flavour (run apt-get update)"
		echo "kernels.sh: $flavour: apt-cache gave nothing, using cached $(. "$dir/env"; echo "$KVER")" >&2
		return 0
	fi
	kver=${image#linux-image-}
	if [ -f "$dir/env" ] && grep -qx "KVER=$kver" "$dir/env"; then
		return 0
	fi

	pkgs="$image $(image_parts "$flavour" "$kver" | tr '\n' ' ')linux-headers-$kver $(header_deps "$flavour" "$kver" | tr '\n' ' ')"
	echo "kernels.sh: $flavour: fetching $pkgs" >&2
	rm -rf "$dir.new"
	mkdir -p "$dir.new/debs" "$dir.new/root"
	# shellcheck disable=SC2086
	(cd "$dir.new/debs" && flavour_apt "$flavour" apt-get download -q $pkgs >/dev/null 2>"$dir.new/apt.log") ||
		{ cat "$dir.new/apt.log" >&2; die "apt-get download failed for $flavour"; }
	for p in "$dir.new"/debs/*.deb; do
		dpkg -x "$p" "$dir.new/root"
	done
	fix_headers "$dir.new/root" "$kver"

	local vmlinuz modules headers=$dir/root/usr/src/linux-headers-$kver
	vmlinuz=$(image_file "$dir.new/root" "$kver" vmlinuz) || die "$image has no vmlinuz"
	modules=$(image_file "$dir.new/root" "$kver" modules) || die "$image has no modules"
	vmlinuz=$dir/root/$vmlinuz
	modules=$dir/root/$modules
	cat >"$dir.new/env" <<-EOF
		FLAVOUR=$flavour
		KVER=$kver
		VMLINUZ=$vmlinuz
		HEADERS=$headers
		MODULES=$modules
		PACKAGES="$pkgs"
	EOF
	rm -rf "$dir.old"
	[ -d "$dir" ] && mv "$dir" "$dir.old"
	mv "$dir.new" "$dir"
	rm -rf "$dir.old"
	echo "kernels.sh: $flavour: $kver ready in $dir" >&2
}

# The Debian headers Makefile includes the common part by its absolute
# /usr/src path (and newer ones set KBUILD_OUTPUT to their own /usr/src
# path, so kbuild would write there); point both into our unpacked tree
# instead.  The modules' build link is made to point at the unpacked headers
# as well (under /usr/lib/modules it already does, relative to usr/).
fix_headers() {
	local root=$1 kver=$2 mk final
	mk=$root/usr/src/linux-headers-$kver/Makefile
	[ -f "$mk" ] || die "no headers Makefile for $kver"
	# The final location (fetch_one unpacks into <flavour>.new first).
	final=$CACHE/$(basename "${root%/root}" .new)/root/usr/src/
	sed -i -e "s|^include /usr/src/|include $final|" \
		-e "s|^KBUILD_OUTPUT=/usr/src/|KBUILD_OUTPUT=$final|" "$mk"
	[ -d "$root/lib/modules/$kver" ] &&
		ln -sfn "../../../usr/src/linux-headers-$kver" "$root/lib/modules/$kver/build"
	return 0
}

# kbuild for a flavour: on the host, or for sid kernels in the sid chroot
# with the unpacked kernel and the module directory (M=) mounted at their
# own paths, so that every path means the same inside and out.  Paths come
# from "kernels.sh path", which knows every flavour (also those other
# scripts provide).
kbuild_for() {
	local flavour=$1 headers kver chroot a dirs=()
	shift
	headers=$("$0" path "$flavour" headers)
	if ! from_sid "$flavour"; then
		make -C "$headers" "$@"
		return
	fi
	kver=$("$0" path "$flavour" kver)
	chroot=$("$SID_SH" chroot "linux-headers-$kver")
	dirs=("$CACHE/$flavour/root")
	for a in "$@"; do
		case $a in M=*) dirs+=("${a#M=}") ;; esac
	done
	"$SID_SH" run "$chroot" "${dirs[@]}" -- make -C "$headers" "$@"
}

env_value() {
	local flavour=$1 key=$2 f=$CACHE/$1/env
	[ -f "$f" ] || fetch_one "$flavour"
	# shellcheck disable=SC1090
	(. "$f"; eval "echo \"\${$key}\"")
}

# Flavours ending in -debug are built from source by debug-kernel.sh (same
# cache layout, see there); this script only hands them over.
DEBUG_KERNEL_SH=$TOP/tests/vm/debug-kernel.sh
case ${1:-} in
fetch)
	debug=() rest=()
	for f in "${@:2}"; do
		case $f in *-debug) debug+=("$f") ;; *) rest+=("$f") ;; esac
	done
	[ ${#debug[@]} -eq 0 ] || "$DEBUG_KERNEL_SH" fetch "${debug[@]}"
	[ ${#debug[@]} -eq 0 ] || [ ${#rest[@]} -gt 0 ] || exit 0
	set -- fetch "${rest[@]}"
	;;
path)
	case ${2:-} in *-debug) exec "$DEBUG_KERNEL_SH" "$@" ;; esac
	;;
list)
	echo "$FLAVOURS_KNOWN $("$DEBUG_KERNEL_SH" list)"
	exit 0
	;;
esac

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
fetch)
	[ $# -gt 0 ] || set -- 6.1 6.12
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9
	for f in "$@"; do
		fetch_one "$f"
	done
	;;
path)
	[ $# -eq 2 ] || die "usage: kernels.sh path FLAVOUR headers|vmlinuz|modules|kver|root"
	image_regex "$1" >/dev/null
	if [ ! -f "$CACHE/$1/env" ]; then
		mkdir -p "$CACHE"
		exec 9>"$CACHE/.lock"
		flock 9
		fetch_one "$1"
		exec 9>&-
	fi
	case $2 in
	headers) env_value "$1" HEADERS ;;
	vmlinuz) env_value "$1" VMLINUZ ;;
	modules) env_value "$1" MODULES ;;
	kver)    env_value "$1" KVER ;;
	root)    echo "$CACHE/$1/root" ;;
	*) die "unknown path kind '$2'" ;;
	esac
	;;
make)
	[ $# -ge 1 ] || die "usage: kernels.sh make FLAVOUR [make args...]"
	kbuild_for "$@"
	;;
list)
	echo "$FLAVOURS_KNOWN"
	;;
*)
	die "usage: kernels.sh fetch [FLAVOUR...] | path FLAVOUR KIND | make FLAVOUR [ARGS...] | list"
	;;
esac
