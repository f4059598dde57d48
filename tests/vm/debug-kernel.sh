#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The 6.12-debug test kernel: Debian's linux-source-6.12 built with
# allnoconfig + tests/vm/debug-kernel.config (lockdep, KASAN, kmemleak,
# debug objects, fault injection, KCOV and what the dock needs), with the
# lockdep annotation tests/vm/debug-kernel-pciehp-lockdep.patch applied.
# kernels.sh hands every *-debug flavour to this script, so the dock,
# build-modules.sh and the runner use it like a downloaded kernel:
#
#   debug-kernel.sh fetch [6.12-debug]     build (or reuse) the kernel
#   debug-kernel.sh path 6.12-debug headers|vmlinuz|modules|kver|root
#   debug-kernel.sh key                    print the cache key
#
# Cache: .cache/debug-kernel/<key>/ holds env, root/boot/vmlinuz-KVER,
# root/lib/modules/KVER and root/usr/src/linux-headers-KVER (the
# install-extmod-build tree), the same layout kernels.sh gives a Debian
# kernel.  The key hashes the config fragment, the patch, this script and
# the linux-source package version.  A finished build is also published as
# a tarball under $EGPUHP_DEBUG_KERNEL_SHARED (default
# /var/cache/egpuhp/debug-kernel) and unpacked from there by other clones
# on the same machine; an unwritable shared directory is skipped.

set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
VMDIR=$TOP/tests/vm
CACHE=${EGPUHP_DEBUG_KERNEL_CACHE:-$TOP/.cache/debug-kernel}
SHARED=${EGPUHP_DEBUG_KERNEL_SHARED:-/var/cache/egpuhp/debug-kernel}
SOURCE_TAR=${EGPUHP_DEBUG_KERNEL_SOURCE:-/usr/src/linux-source-6.12.tar.xz}
FRAGMENT=$VMDIR/debug-kernel.config
PATCHES=("$VMDIR"/debug-kernel-*.patch)
FLAVOURS_KNOWN="6.12-debug"

die() { echo "debug-kernel.sh: $*" >&2; exit 1; }
note() { echo "debug-kernel.sh: $*" >&2; }

source_version() {
	local v
	v=$(dpkg-query -W -f '${Version}' linux-source-6.12 2>/dev/null || true)
	[ -n "$v" ] || v=$(stat -c '%s-%Y' "$SOURCE_TAR" 2>/dev/null) ||
		die "no $SOURCE_TAR (apt-get install linux-source-6.12)"
	echo "$v"
}

cache_key() {
	{
		echo "source $(source_version)"
		sha256sum "$FRAGMENT" "${PATCHES[@]}" "$0" | awk '{print $1}'
	} | sha256sum | cut -c1-16
}

check_flavour() {
	case $1 in
	6.12-debug) ;;
	*) die "unknown flavour '$1' (known: $FLAVOURS_KNOWN)" ;;
	esac
}

# Writes the env file of a kernel tree at $1 (absolute paths into $1).
write_env() {
	local dir=$1 kver=$2
	cat >"$dir/env.new" <<-EOF
		FLAVOUR=6.12-debug
		KVER=$kver
		VMLINUZ=$dir/root/boot/vmlinuz-$kver
		HEADERS=$dir/root/usr/src/linux-headers-$kver
		MODULES=$dir/root/lib/modules/$kver
		KEY=$(basename "$dir")
		SOURCE_VERSION=$(source_version)
		BUILD_SECONDS=$(cat "$dir/build-seconds" 2>/dev/null || echo 0)
	EOF
	mv "$dir/env.new" "$dir/env"
}

build() {
	local key=$1 dir=$CACHE/$1 work t0 kver p jobs
	work=$CACHE/build-$key
	t0=$(date +%s)
	jobs=${EGPUHP_DEBUG_KERNEL_JOBS:-$(nproc)}
	note "building $key in $work (make -j$jobs; several minutes)"
	rm -rf "$work" "$dir.new"
	mkdir -p "$work" "$dir.new/root"
	tar -xf "$SOURCE_TAR" -C "$work"
	local src
	src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
	for p in "${PATCHES[@]}"; do
		[ -f "$p" ] || continue
		patch -s -p1 -d "$src" <"$p" || die "$(basename "$p") does not apply"
	done
	local mk=(make -s -C "$src" -j"$jobs")
	"${mk[@]}" KCONFIG_ALLCONFIG="$FRAGMENT" allnoconfig >"$work/config.log" 2>&1 ||
		{ cat "$work/config.log" >&2; die "allnoconfig failed"; }
	# Every option the fragment asks for must have survived Kconfig.
	local bad=0 line opt val got
	while IFS= read -r line; do
		case $line in CONFIG_*=*) ;; *) continue ;; esac
		opt=${line%%=*} val=${line#*=}
		got=$(grep -E "^$opt=|^# $opt is not set" "$src/.config" || true)
		if [ "$val" = n ]; then
			[ -z "$got" ] || [ "$got" = "# $opt is not set" ] || { note "$opt: wanted n, got $got"; bad=1; }
		else
			[ "$got" = "$opt=$val" ] || { note "$opt: wanted $val, got '${got:-unset}'"; bad=1; }
		fi
	done <"$FRAGMENT"
	[ $bad = 0 ] || die "config fragment not satisfied (see above)"
	nice -n 10 "${mk[@]}" bzImage modules >"$work/build.log" 2>&1 ||
		{ tail -n 40 "$work/build.log" >&2; die "kernel build failed (log: $work/build.log)"; }
	kver=$("${mk[@]}" kernelrelease)
	mkdir -p "$dir.new/root/boot"
	cp "$src/arch/x86/boot/bzImage" "$dir.new/root/boot/vmlinuz-$kver"
	cp "$src/System.map" "$dir.new/root/boot/System.map-$kver"
	cp "$src/.config" "$dir.new/root/boot/config-$kver"
	"${mk[@]}" INSTALL_MOD_PATH="$dir.new/root" INSTALL_MOD_STRIP=1 modules_install \
		>>"$work/build.log" 2>&1 || die "modules_install failed"
	local headers=$dir.new/root/usr/src/linux-headers-$kver
	(cd "$src" && srctree=. SRCARCH=x86 KCONFIG_CONFIG=.config CC=gcc \
		MAKE=make HOSTCC=gcc scripts/package/install-extmod-build "$headers") \
		>>"$work/build.log" 2>&1 || die "install-extmod-build failed"
	rm -f "$dir.new/root/lib/modules/$kver/build" "$dir.new/root/lib/modules/$kver/source"
	ln -sfn "../../../usr/src/linux-headers-$kver" "$dir.new/root/lib/modules/$kver/build"
	echo $(( $(date +%s) - t0 )) >"$dir.new/build-seconds"
	cp "$work/build.log" "$dir.new/build.log"
	rm -rf "$dir"
	mv "$dir.new" "$dir"
	write_env "$dir" "$kver"
	rm -rf "$work"
	note "built $kver in $(cat "$dir/build-seconds") s ($dir)"
	publish "$key"
}

# Copy a finished build to the shared cache (best effort).
publish() {
	local key=$1 tmp
	mkdir -p "$SHARED" 2>/dev/null && [ -w "$SHARED" ] ||
		{ note "shared cache $SHARED not writable, not published"; return 0; }
	[ -f "$SHARED/$key.tar" ] && return 0
	tmp=$(mktemp "$SHARED/.$key.XXXXXX") || return 0
	if tar -cf "$tmp" -C "$CACHE/$key" root build-seconds; then
		mv "$tmp" "$SHARED/$key.tar"
		note "published $SHARED/$key.tar"
	else
		rm -f "$tmp"
	fi
}

# Take a build another clone published; true when one was there.
adopt() {
	local key=$1 dir=$CACHE/$1 kver
	[ -r "$SHARED/$key.tar" ] || return 1
	rm -rf "$dir.new"
	mkdir -p "$dir.new"
	tar -xf "$SHARED/$key.tar" -C "$dir.new" || { rm -rf "$dir.new"; return 1; }
	kver=$(basename "$(find "$dir.new/root/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)")
	rm -rf "$dir"
	mv "$dir.new" "$dir"
	write_env "$dir" "$kver"
	note "reused $SHARED/$key.tar ($kver)"
}

ensure() {
	local key
	key=$(cache_key)
	[ -f "$CACHE/$key/env" ] && { echo "$CACHE/$key"; return 0; }
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9
	if [ ! -f "$CACHE/$key/env" ]; then
		adopt "$key" || build "$key"
	fi
	exec 9>&-
	echo "$CACHE/$key"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
fetch)
	[ $# -gt 0 ] || set -- 6.12-debug
	for f in "$@"; do
		check_flavour "$f"
		ensure >/dev/null
	done
	;;
path)
	[ $# -eq 2 ] || die "usage: debug-kernel.sh path FLAVOUR headers|vmlinuz|modules|kver|root"
	check_flavour "$1"
	dir=$(ensure)
	case $2 in
	headers) (. "$dir/env"; echo "$HEADERS") ;;
	vmlinuz) (. "$dir/env"; echo "$VMLINUZ") ;;
	modules) (. "$dir/env"; echo "$MODULES") ;;
	kver)    (. "$dir/env"; echo "$KVER") ;;
	root)    echo "$dir/root" ;;
	*) die "unknown path kind '$2'" ;;
	esac
	;;
key)
	cache_key
	;;
list)
	echo "$FLAVOURS_KNOWN"
	;;
*)
	die "usage: debug-kernel.sh fetch [FLAVOUR] | path FLAVOUR KIND | key | list"
	;;
esac
