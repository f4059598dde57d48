#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build egpuhp.ko and the dock's test modules (tbsim.ko, egpuhp_testdrv.ko)
# for one test kernel, in a private copy of the sources so that several
# kernels never share object files:
#
#   build-modules.sh FLAVOUR [make args...]   e.g. build-modules.sh 6.12 W=1 C=1
#
# Sources are mirrored into build/kernels/<flavour>/src (rsync keeps the
# timestamps, so kbuild rebuilds only what changed); the .ko files land in
# build/kernels/<flavour>/.  egpuhp.ko is skipped (with a note) while
# kmod/Kbuild does not exist yet.

set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
flavour=${1:?usage: build-modules.sh FLAVOUR [make args...]}
shift

"$TOP/tests/vm/kernels.sh" fetch "$flavour"
out=$TOP/build/kernels/$flavour
src=$out/src
mkdir -p "$src/kmod" "$src/include" "$src/vmmods"
# Several test programs may build the same flavour at once: one at a time.
exec 8>"$out/.lock"
flock 8
# A newer kernel package replaced the cache: start from clean objects.
kver=$("$TOP/tests/vm/kernels.sh" path "$flavour" kver)
if [ "$(cat "$out/.kver" 2>/dev/null)" != "$kver" ]; then
	rm -rf "$src" "$out"/*.ko
	mkdir -p "$src/kmod" "$src/include" "$src/vmmods"
	echo "$kver" >"$out/.kver"
fi

# Build products live next to the sources; keep them, drop stale sources.
filter=(--exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c'
	--exclude='.*.cmd' --exclude='modules.order' --exclude='Module.symvers'
	--exclude='*.d' --exclude='.tmp_*')
rsync -a --delete "${filter[@]}" "$TOP/kmod/" "$src/kmod/"
rsync -a --delete "${filter[@]}" "$TOP/include/" "$src/include/"
rsync -a --delete "${filter[@]}" "$TOP/tests/vm/modules/" "$src/vmmods/"

# Two independent kbuild runs: the dock's test modules must build (and the
# dock's self-tests run) even while egpuhp.ko is broken, and a failed egpuhp
# build must never leave an old egpuhp.ko behind for tests to load.
kbuild() {
	local dir=$1 status
	shift
	set +e
	"$TOP/tests/vm/kernels.sh" make "$flavour" -s M="$dir" -j"$(nproc)" "$@" modules 2>&1 |
		grep -v '^Skipping BTF generation' >&2
	status=${PIPESTATUS[0]}
	set -e
	return "$status"
}

install_ko() {
	cmp -s "$1" "$out/$(basename "$1")" || cp "$1" "$out/"
}

rc=0
if kbuild "$src/vmmods" "$@"; then
	for ko in "$src"/vmmods/*.ko; do
		install_ko "$ko"
	done
else
	echo "build-modules.sh: $flavour: test modules failed to build" >&2
	rm -f "$out"/tbsim.ko "$out"/egpuhp_testdrv.ko
	rc=1
fi

if [ -f "$TOP/kmod/Kbuild" ]; then
	cp -p "$TOP/Kbuild" "$src/Kbuild"
	if kbuild "$src" "$@"; then
		install_ko "$src/kmod/egpuhp.ko"
	else
		echo "build-modules.sh: $flavour: egpuhp.ko failed to build" >&2
		rm -f "$out/egpuhp.ko"
		rc=1
	fi
else
	echo "build-modules.sh: kmod/Kbuild missing, egpuhp.ko not built" >&2
	rm -f "$out/egpuhp.ko"
fi
exit $rc
