#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Test kernels for the virtual eGPU dock: the newest Debian 12 packages of
# each flavour, downloaded with apt-get and unpacked (never installed) into
# .cache/kernels/<flavour>/.
#
#   kernels.sh fetch [FLAVOUR...]     default: 6.1 6.12
#   kernels.sh path FLAVOUR headers|vmlinuz|modules|kver|root
#   kernels.sh list                   flavours this script knows
#
# Flavours: 6.1 6.12 6.1-rt 6.12-rt, and 6.12-debug (debug-kernel.sh).  Package numbers are never pinned: the
# newest name apt-cache knows wins.  When apt-cache cannot resolve a name
# (no package lists) an already unpacked kernel is used as it is.

set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${EGPUHP_KERNEL_CACHE:-$TOP/.cache/kernels}
FLAVOURS_KNOWN="6.1 6.12 6.1-rt 6.12-rt"

die() { echo "kernels.sh: $*" >&2; exit 1; }

image_regex() {
	case $1 in
	6.1)     echo '^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
	6.1-rt)  echo '^linux-image-6\.1\.0-[0-9]+-rt-amd64$' ;;
	6.12)    echo '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
	6.12-rt) echo '^linux-image-6\.12\.[0-9]+\+deb12-rt-amd64$' ;;
	*) die "unknown flavour '$1' (known: $FLAVOURS_KNOWN)" ;;
	esac
}

# Newest linux-image package name of a flavour, or nothing.
newest_image() {
	apt-cache search --names-only "$(image_regex "$1")" 2>/dev/null |
		awk '{print $1}' | sort -V | tail -n 1
}

# The packages linux-headers-KVER depends on that we need besides it:
# linux-headers-*-common(-rt) and linux-kbuild-*.
header_deps() {
	apt-cache depends "linux-headers-$1" 2>/dev/null |
		awk '$1 ~ /Depends:/ {print $2}' |
		grep -E '^(linux-headers-.*-common(-rt)?|linux-kbuild-.*)$' | sort -u
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

	pkgs="$image linux-headers-$kver $(header_deps "$kver" | tr '\n' ' ')"
	echo "kernels.sh: $flavour: fetching $pkgs" >&2
	rm -rf "$dir.new"
	mkdir -p "$dir.new/debs" "$dir.new/root"
	# shellcheck disable=SC2086
	(cd "$dir.new/debs" && apt-get download -q $pkgs >/dev/null 2>"$dir.new/apt.log") ||
		{ cat "$dir.new/apt.log" >&2; die "apt-get download failed for $flavour"; }
	for p in "$dir.new"/debs/*.deb; do
		dpkg -x "$p" "$dir.new/root"
	done
	fix_headers "$dir.new/root" "$kver"

	local vmlinuz=$dir/root/boot/vmlinuz-$kver
	local headers=$dir/root/usr/src/linux-headers-$kver
	local modules=$dir/root/lib/modules/$kver
	[ -f "$dir.new/root/boot/vmlinuz-$kver" ] || die "$image has no vmlinuz"
	[ -d "$dir.new/root/lib/modules/$kver/kernel" ] || die "$image has no modules"
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
# /usr/src path; point it into our unpacked tree instead.  The modules'
# build link is made to point at the unpacked headers as well.
fix_headers() {
	local root=$1 kver=$2 mk
	mk=$root/usr/src/linux-headers-$kver/Makefile
	[ -f "$mk" ] || die "no headers Makefile for $kver"
	# The final location (fetch_one unpacks into <flavour>.new first).
	sed -i "s|^include /usr/src/|include $CACHE/$(basename "${root%/root}" .new)/root/usr/src/|" "$mk"
	ln -sfn "../../../usr/src/linux-headers-$kver" "$root/lib/modules/$kver/build"
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
list)
	echo "$FLAVOURS_KNOWN"
	;;
*)
	die "usage: kernels.sh fetch [FLAVOUR...] | path FLAVOUR KIND | list"
	;;
esac
