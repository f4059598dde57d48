#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# egpuhp-test: once
#
# Installation: "make install DESTDIR=..." puts every file where a Debian
# system expects it, with the right modes, and the DKMS package builds the
# module against the Debian 6.12 headers the VM tests use.  DKMS runs with
# its trees inside a temporary directory, so the host is not touched.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=../tap.sh
. "$top/tests/tap.sh"

mode_is() {	# mode_is MODE PATH
	[[ -e $2 ]] || { echo "missing: $2"; return 1; }
	local m
	m=$(stat -c %a "$2")
	[[ $m == "$1" ]] || { echo "$2: mode $m, expected $1"; return 1; }
}

dest=$tmp/root
check "make install DESTDIR" make -s install DESTDIR="$dest"
check "egpud installed executable" mode_is 755 "$dest/usr/sbin/egpud"
check "egpuctl installed executable" mode_is 755 "$dest/usr/bin/egpuctl"
check "uapi header installed" mode_is 644 "$dest/usr/include/linux/egpuhp.h"
check "udev rule installed" mode_is 644 "$dest/lib/udev/rules.d/70-egpuhp.rules"
check "egpud.service installed" mode_is 644 "$dest/lib/systemd/system/egpud.service"
check "deauthorize unit installed" mode_is 644 \
	"$dest/lib/systemd/system/egpuhp-deauthorize.service"
check "state directory is 0700" mode_is 700 "$dest/var/lib/egpuhp"
check "hooks directory exists" test -d "$dest/etc/egpuhp/hooks.d"
for f in __init__ snapshot torch; do
	check "Python binding: egpu/$f.py installed" mode_is 644 \
		"$dest/usr/lib/python3/dist-packages/egpu/$f.py"
done

# The uapi header must be usable on its own by userspace.
# libegpu is LGPL-2.1-or-later so that any program may link it: every
# object of the common archive it pulls in must carry that licence too
# (the rest of user/common is GPL-2.0, egpud's and egpuctl's).
libegpu_licences() {
	local so=build/user/libegpu.so ar=build/user/libegpuhp-common.a o src bad=0
	[[ -f $so && -f $ar ]] || { echo "not built: $so $ar"; return 1; }
	nm "$so" | awk '$2 ~ /^[tTdDbBrR]$/ {print $3}' | sort -u >"$tmp/so-syms"
	for o in $(ar t "$ar"); do
		ar p "$ar" "$o" >"$tmp/member.o"
		nm --defined-only "$tmp/member.o" | awk '$2 ~ /^[TDBR]$/ {print $3}' |
			grep -qxFf "$tmp/so-syms" || continue
		src=user/common/${o%.o}.c
		echo "libegpu.so links $o ($src)"
		head -1 "$src" | grep -q "LGPL-2.1-or-later" ||
			{ echo "$src: $(head -1 "$src") -- not LGPL-compatible"; bad=1; }
	done
	for src in user/libegpu/*.[ch]; do
		head -1 "$src" | grep -q "LGPL-2.1-or-later" ||
			{ echo "$src: $(head -1 "$src")"; bad=1; }
	done
	return $bad
}
check "libegpu.so links only LGPL-2.1-or-later sources" libegpu_licences

check "uapi header compiles standalone" bash -c \
	"echo '#include <linux/egpuhp.h>' | gcc -x c -fsyntax-only -Wall -Werror -I'$dest/usr/include' -"

# The shutdown unit's command must be one egpuctl accepts.
check "deauthorize unit runs a valid egpuctl command" bash -c "
	cmd=\$(sed -n 's/^ExecStop=.*exec \/usr\/bin\/egpuctl \([^;]*\);.*/\1/p' systemd/egpuhp-deauthorize.service)
	[ \"\$cmd\" = 'deauthorize --all' ] &&
	'$dest/usr/bin/egpuctl' help 2>&1 | grep -q -- \"\${cmd%% *}\""

kver=$(tests/vm/kernels.sh path 6.12 kver)
kdir=$(tests/vm/kernels.sh path 6.12 headers)
flags="--dkmstree $tmp/dkms --sourcetree $dest/usr/src --installtree $tmp/installed"
mkdir -p "$tmp/dkms" "$tmp/installed"
check "dkms add + build against $kver" make -s dkms-install DESTDIR="$dest" \
	KVER="$kver" DKMS_KDIR="$kdir" DKMS_FLAGS="$flags" DKMS_NO_INSTALL=1
check "dkms built egpuhp.ko for $kver" bash -c \
	"ls $tmp/dkms/egpuhp/*/$kver/*/module/egpuhp.ko*"
check "dkms remove" make -s dkms-remove DESTDIR="$dest" DKMS_FLAGS="$flags"

tap_done
