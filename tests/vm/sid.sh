#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Debian sid for the newest test kernels, without touching the host's apt
# configuration or state, and a sid chroot to build modules for them in
# (their headers need sid's gcc and libc).
#
#   sid.sh apt-get ARGS...       apt-get on our own sid sources.list, lists and cache
#   sid.sh apt-cache ARGS...     the same for apt-cache (lists refreshed once a day)
#   sid.sh chroot HEADERS-PKG    prints the build chroot's directory, made or reused
#   sid.sh run CHROOT DIR... -- CMD...
#                                runs CMD in the chroot with each DIR bind-mounted
#                                at its own path, in the current directory if it
#                                is in one of them (else in /)
#
# Everything lives in .cache/sid/ (EGPUHP_SID_CACHE).  The chroot is keyed by
# its package list; a copy in /var/cache/egpuhp/ (EGPUHP_SHARED_CACHE), when
# there is one, is reused instead of running debootstrap, and a new chroot is
# stored there for the next clone on this machine.

set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
SID=${EGPUHP_SID_CACHE:-$TOP/.cache/sid}
SHARED=${EGPUHP_SHARED_CACHE:-/var/cache/egpuhp}
MIRROR=http://deb.debian.org/debian
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# What the chroot needs besides the headers' own dependencies: the compiler
# the sid kernels are built with, kbuild's tools, and sparse for C=1.
CHROOT_BASE=(build-essential gcc-16 make kmod sparse)

die() { echo "sid.sh: $*" >&2; exit 1; }

apt_opts=(-o "Dir::Etc::SourceList=$SID/apt/sources.list"
	-o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$SID/apt/lists"
	-o "Dir::Cache=$SID/apt/cache"
	-o Dir::State::status=/dev/null
	-o APT::Sandbox::User=root)

# Package lists: fetched when missing or older than a day, one caller at a time.
apt_update() {
	mkdir -p "$SID/apt/lists/partial" "$SID/apt/cache/archives/partial"
	exec 7>"$SID/apt/.lock"
	flock 7
	echo "deb [signed-by=$KEYRING] $MIRROR sid main" >"$SID/apt/sources.list"
	# Our own stamp: apt gives the lists the archive's dates, not ours.
	if [ -z "$(find "$SID/apt/updated" -mmin -1440 2>/dev/null)" ]; then
		if apt-get -q "${apt_opts[@]}" update >"$SID/apt/update.log" 2>&1; then
			touch "$SID/apt/updated"
		elif [ -f "$SID/apt/updated" ]; then
			echo "sid.sh: apt-get update failed, using the lists of $(date -r "$SID/apt/updated")" >&2
		else
			cat "$SID/apt/update.log" >&2
			die "apt-get update for sid failed"
		fi
	fi
	exec 7>&-
}

# The headers package's dependencies that are not kernel packages (they come
# from the kernel cache, bind-mounted), one level into linux-kbuild-*.
headers_deps() {
	local kbuild
	mapfile -t kbuild < <(apt-cache "${apt_opts[@]}" depends "$1" |
		awk '$1 ~ /Depends:/ && $2 ~ /^linux-kbuild-/ {print $2}')
	apt-cache "${apt_opts[@]}" depends "$1" "${kbuild[@]}" |
		awk '$1 ~ /Depends:/ && $2 !~ /^[<]/ {print $2}' | grep -v '^linux-' || true
}

# Chroot directory for a package list: .cache/sid/chroot-KEY, complete when
# it holds .egpuhp-packages.
make_chroot() {
	local pkgs key dir shared
	pkgs=$( (printf '%s\n' "${CHROOT_BASE[@]}"; headers_deps "$1") | sort -u | paste -sd,)
	key=$(echo "$pkgs" | sha256sum | cut -c1-12)
	dir=$SID/chroot-$key
	shared=$SHARED/sid-chroot-$key
	exec 6>"$SID/.chroot.lock"
	flock 6
	if [ ! -f "$dir/.egpuhp-packages" ]; then
		rm -rf "$dir.new"
		if [ -f "$shared/.egpuhp-packages" ]; then
			echo "sid.sh: reusing $shared" >&2
			# Hard links where the filesystem allows (nothing writes
			# into the chroot's files), a copy otherwise.
			cp -al "$shared" "$dir.new" 2>/dev/null || { rm -rf "$dir.new"; cp -a "$shared" "$dir.new"; }
		else
			echo "sid.sh: debootstrap sid ($pkgs)" >&2
			mkdir -p "$dir.new"
			debootstrap --variant=minbase --keyring="$KEYRING" \
				--include="$pkgs" \
				sid "$dir.new" "$MIRROR" >"$SID/debootstrap.log" 2>&1 ||
				{ tail -30 "$SID/debootstrap.log" >&2; rm -rf "$dir.new"; die "debootstrap failed"; }
			rm -rf "$dir.new/var/cache/apt/archives/"*.deb
			echo "$pkgs" >"$dir.new/.egpuhp-packages"
			store_shared "$dir.new" "$shared"
		fi
		mv "$dir.new" "$dir"
	fi
	exec 6>&-
	echo "$dir"
}

# A copy for the next clone on this machine, if /var/cache/egpuhp can be made.
store_shared() {
	local dir=$1 shared=$2
	mkdir -p "$SHARED" 2>/dev/null && [ -w "$SHARED" ] || return 0
	exec 5>"$SHARED/.sid.lock"
	flock 5
	if [ ! -f "$shared/.egpuhp-packages" ]; then
		rm -rf "$shared.new"
		if ! { cp -a "$dir" "$shared.new" && mv "$shared.new" "$shared"; }; then
			rm -rf "$shared.new"
			echo "sid.sh: could not store $shared" >&2
		fi
	fi
	exec 5>&-
}

# In a private mount namespace (so concurrent callers never see each other's
# mounts and nothing outlives us, whatever kills us), with a trap that
# unmounts on every ordinary exit path as well.
mounts=()
unmount_all() {
	local i
	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
		umount -R "${mounts[i]}" 2>/dev/null || true
	done
}

run_inner() {
	local root=$1 d
	shift
	trap unmount_all EXIT
	trap 'exit 130' INT TERM HUP
	# objtool reads /proc/self/limits (read_stack_limit).
	mount -t proc proc "$root/proc" && mounts+=("$root/proc")
	mount --rbind /dev "$root/dev" && mounts+=("$root/dev")
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		d=$1
		shift
		mkdir -p "$root$d"
		mount --bind "$(realpath "$d")" "$root$d" && mounts+=("$root$d")
	done
	[ "${1:-}" = -- ] || die "run: missing -- before the command"
	shift
	# shellcheck disable=SC2016 # expanded by the chroot's shell
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		LANG=C.UTF-8 /bin/sh -c '{ cd "$1" 2>/dev/null || cd /; } && shift && exec "$@"' sh "$PWD" "$@"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
apt-get | apt-cache)
	apt_update
	exec "$cmd" -q "${apt_opts[@]}" "$@"
	;;
chroot)
	[ $# -eq 1 ] || die "usage: sid.sh chroot HEADERS-PKG"
	# A headers package's dependencies never change (its name carries the
	# version): remember its chroot instead of asking apt every build.
	known=$SID/chroot-for/$1
	if [ -f "$known" ] && [ -f "$(cat "$known")/.egpuhp-packages" ]; then
		cat "$known"
		exit 0
	fi
	apt_update
	dir=$(make_chroot "$1")
	mkdir -p "$SID/chroot-for"
	echo "$dir" >"$known"
	echo "$dir"
	;;
run)
	[ $# -ge 3 ] || die "usage: sid.sh run CHROOT DIR... -- CMD..."
	[ -f "$1/.egpuhp-packages" ] || die "$1 is not a complete sid chroot"
	exec unshare --mount --propagation private -- "$0" run-inner "$@"
	;;
run-inner)
	run_inner "$@"
	;;
*)
	die "usage: sid.sh apt-get|apt-cache ARGS... | chroot HEADERS-PKG | run CHROOT DIR... -- CMD..."
	;;
esac
