#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# egpuhp-test: once
#
# Debian packages: "dpkg-buildpackage -b -us -uc" from a clean copy builds
# egpuhp, egpuhp-dkms, libegpu0, libegpu-dev and python3-egpu; lintian finds no error and
# no warning; each package holds what it is for; a program built with
# "pkg-config --cflags --libs egpu" against libegpu-dev links and runs.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=../tap.sh
. "$top/tests/tap.sh"

debs=
build() { debs=$(tests/pkg/build-debs.sh) && echo "$debs" >"$tmp/debs"; }
check "dpkg-buildpackage -b -us -uc from a clean copy" build
debs=$(cat "$tmp/debs" 2>/dev/null || true)
if [[ -z $debs ]]; then
	echo "1..$n"
	exit 1
fi
version=$(sed -n 's/^VERSION[[:space:]]*:=[[:space:]]*//p' Makefile)

deb() { ls "$debs"/"$1"_"$version"_*.deb; }
has() {		# has PACKAGE PATH...: the package holds every PATH
	local p=$1 f list
	shift
	list=$(dpkg-deb -c "$(deb "$p")" | awk '{print $6}' | sed 's|^\./|/|')
	for f; do
		grep -qxF "$f" <<<"$list" || { echo "$p lacks $f"; return 1; }
	done
}
lacks() {	# lacks PACKAGE REGEX: no path of the package matches
	local p=$1
	! dpkg-deb -c "$(deb "$p")" | awk '{print $6}' | grep -E "$2"
}

for p in egpuhp egpuhp-dkms libegpu0 libegpu-dev python3-egpu; do
	check "package $p built" deb "$p"
done

lint() {
	nice -n 10 lintian --pedantic -I "$debs"/egpuhp_"$version"_*.changes >"$tmp/lintian" 2>&1
	local rc=$?
	cat "$tmp/lintian"
	# lintian's exit status counts errors only; a warning fails here too
	[[ $rc -eq 0 ]] && ! grep -E '^[EW]: ' "$tmp/lintian"
}
check "lintian: no errors, no warnings" lint
sed -n 's/^\([IPX]: .*\)/# lintian \1/p' "$tmp/lintian" 2>/dev/null

lib=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)
check "egpuhp: daemon, CLI, units, udev rule, man pages, config" has egpuhp \
	/usr/sbin/egpud /usr/bin/egpuctl /lib/systemd/system/egpud.service \
	/lib/systemd/system/egpuhp-deauthorize.service /lib/udev/rules.d/70-egpuhp.rules \
	/usr/share/man/man8/egpud.8.gz /usr/share/man/man5/egpud.conf.5.gz \
	/usr/share/man/man1/egpuctl.1.gz /etc/egpuhp/egpud.conf /etc/egpuhp/hooks.d/
check "egpuhp: the config is a conffile" bash -c \
	"dpkg-deb -I '$(deb egpuhp)' conffiles | grep -qx /etc/egpuhp/egpud.conf"
check "egpuhp: no module sources, no library" lacks egpuhp '^\./usr/(src|lib)/'
check "egpuhp: does not depend on dkms" bash -c \
	"! dpkg-deb -f '$(deb egpuhp)' Depends | grep -w dkms"
check "egpuhp: enables and starts egpud and the shutdown unit" bash -c \
	"dpkg-deb -I '$(deb egpuhp)' postinst | grep -q 'deb-systemd-helper.*enable.*egpud.service' &&
	 dpkg-deb -I '$(deb egpuhp)' postinst | grep -q 'deb-systemd-helper.*enable.*egpuhp-deauthorize.service'"
dkms_conf() { dpkg-deb --fsys-tarfile "$(deb egpuhp-dkms)" |
	tar -xO "./usr/src/egpuhp-$version/dkms.conf"; }
check "egpuhp-dkms: sources and dkms.conf under /usr/src/egpuhp-$version" has egpuhp-dkms \
	"/usr/src/egpuhp-$version/dkms.conf" "/usr/src/egpuhp-$version/Kbuild" \
	"/usr/src/egpuhp-$version/kmod/main.c" "/usr/src/egpuhp-$version/include/uapi/linux/egpuhp.h"
check "egpuhp-dkms: dkms.conf names version $version" bash -c \
	"$(declare -f dkms_conf deb); debs='$debs' version='$version'; dkms_conf | grep -qx 'PACKAGE_VERSION=\"$version\"'"
check "egpuhp-dkms: depends on dkms, adds and builds in postinst" bash -c \
	"dpkg-deb -f '$(deb egpuhp-dkms)' Depends | grep -qw dkms &&
	 dpkg-deb -I '$(deb egpuhp-dkms)' postinst | grep -q dkms"
check "libegpu0: the shared library only" bash -c \
	"$(declare -f has lacks deb); debs='$debs' version='$version'
	 has libegpu0 $lib/libegpu.so.0 && lacks libegpu0 '(\\.h|\\.pc|libegpu\\.so)\$'"
check "libegpu-dev: headers, .so link, egpu.pc, protocol header, snapshot man page" has libegpu-dev \
	/usr/include/egpu.h /usr/include/egpu_snapshot.h "$lib/libegpu.so" "$lib/pkgconfig/egpu.pc" \
	/usr/include/linux/egpuhp.h /usr/share/man/man3/egpu_snapshot.3.gz
check "python3-egpu: the binding and its PyTorch helper, depends on libegpu0" bash -c \
	"$(declare -f has deb); debs='$debs' version='$version'
	 has python3-egpu /usr/lib/python3/dist-packages/egpu/__init__.py \
		/usr/lib/python3/dist-packages/egpu/snapshot.py /usr/lib/python3/dist-packages/egpu/torch.py &&
	 dpkg-deb -f \"\$(deb python3-egpu)\" Depends | grep -qw libegpu0"

# What the header's "Link with -legpu" promises, with the packages unpacked
# into a private root: pkg-config finds egpu, the program links and runs.
root=$tmp/root
link_and_run() {
	dpkg-deb -x "$(deb libegpu0)" "$root" && dpkg-deb -x "$(deb libegpu-dev)" "$root" || return 1
	cat >"$tmp/prog.c" <<-'C'
		#include <egpu.h>
		#include <egpu_snapshot.h>
		#include <errno.h>
		#include <stdio.h>
		#include <stdlib.h>
		#include <string.h>
		int main(void)
		{
			const char *name = egpu_event_kind_name(EGPU_EVENT_LEAVING);
			struct egpu *e = egpu_open("/nonexistent/egpud.sock", "0000:05:00.0");
			struct egpu_snap *s;

			/* no CUDA driver: refused with ENOSYS, not a crash */
			setenv("EGPUHP_LIBCUDA", "/nonexistent/libcuda.so.1", 1);
			s = egpu_snap_new(0, 0);
			printf("%s %s snapshot %s\n", name ? name : "(null)", e ? "opened" : "refused",
			       s ? "made" : egpu_snap_last_error(NULL));
			return name && !e && !s && errno == ENOSYS ? 0 : 1;
		}
	C
	local flags
	flags=$(PKG_CONFIG_LIBDIR=$root$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root \
		pkg-config --cflags --libs egpu) || return 1
	echo "pkg-config: $flags"
	# shellcheck disable=SC2086
	gcc -Wall -Werror -o "$tmp/prog" "$tmp/prog.c" $flags || return 1
	LD_LIBRARY_PATH=$root$lib "$tmp/prog"
}
check "libegpu-dev: pkg-config egpu, -legpu links, the program runs" link_and_run
# The installed module finds the installed library (libegpu.so.0 by its soname).
py_import() {
	dpkg-deb -x "$(deb python3-egpu)" "$root" || return 1
	PYTHONPATH=$root/usr/lib/python3/dist-packages LD_LIBRARY_PATH=$root$lib \
		python3 -c 'import egpu; print(egpu.load()._name, egpu.kind_name(egpu.LEAVING))' |
		tee /dev/stderr | grep -qx 'libegpu.so.0 leaving'
}
check "python3-egpu: import egpu loads libegpu.so.0 of libegpu0" py_import

echo "1..$n"
[[ $failed -eq 0 ]]
