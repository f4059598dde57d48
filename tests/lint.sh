#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Static checks of the kernel code (kmod/ and the test modules):
#  - a W=1 C=1 (sparse) build against every Debian kernel we support;
#    any compiler or sparse diagnostic fails the build's check (the newest
#    kernels, from Debian sid, build in a sid chroot with sid's gcc and
#    sparse: tests/vm/kernels.sh make)
#  - checkpatch.pl --strict from Debian's linux-source-6.12 over kmod/ (an
#    out-of-tree module must test LINUX_VERSION_CODE: kmod/compat.h does)
#  - kernel-doc from the same tarball: every /** comment in kmod/ parses
#    without a warning (-none -Wall), and every function kmod/ does not
#    make static has one; kernel-doc itself only reads the comments there
#    are, so the functions come from the symbol tables of the objects the
#    W=1 build made (6.12's, else the first kernel's)
# With --tap, prints one TAP line per check (used by tests/runner.py).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
tap=0
[[ ${1:-} == --tap ]] && tap=1
kernels=${EGPUHP_LINT_KERNELS:-6.1 6.12 6.1-rt 6.12-rt newest newest-rt 6.12-debug}
n=0
failed=0

result() {	# result STATUS NAME [DETAIL-FILE]
	n=$((n + 1))
	if [[ $1 == ok ]]; then
		((tap)) && echo "ok $n - $2" || echo "PASS: $2"
	else
		failed=$((failed + 1))
		((tap)) && echo "not ok $n - $2" || echo "FAIL: $2"
		[[ -n ${3:-} ]] && sed 's/^/#   /' "$3" | head -60
	fi
}

tests/vm/kernels.sh fetch $kernels >/dev/null || {
	echo "lint: cannot fetch kernel headers for: $kernels" >&2
	exit 1
}

for k in $kernels; do
	work=$top/build/lint/$k
	rm -rf "$work"
	mkdir -p "$work/tests/vm"
	cp -r Kbuild kmod include "$work/"
	[[ -d tests/vm/modules ]] && cp -r tests/vm/modules "$work/tests/vm/"
	log=$work/build.log
	# KBUILD_CHECKSRC=1 as well as C=1: 7.x disables sparse unless its
	# scripts/checker-valid.sh accepts it, and Debian's headers packages
	# do not ship that script (sid's sparse passes the check it makes).
	# A sparse that cannot parse the headers reports errors here instead.
	for dir in "$work" ${work}/tests/vm/modules; do
		[[ -f $dir/Kbuild ]] || continue
		tests/vm/kernels.sh make "$k" M="$dir" -j"$(nproc)" W=1 C=1 KBUILD_CHECKSRC=1 modules >>"$log" 2>&1 ||
			echo "make failed in $dir" >>"$log"
	done
	# Only diagnostics count: kbuild's progress lines and the BTF
	# note about a missing vmlinux are not findings.
	grep -E 'warning:|error:|make failed|Error [0-9]' "$log" >"$work/findings" || true
	grep -q '^  CHECK ' "$log" || echo "sparse did not run" >>"$work/findings"
	if [[ -s $work/findings ]]; then
		result fail "W=1 sparse build against $k" "$work/findings"
	else
		result ok "W=1 sparse build against $k"
	fi
done

# checkpatch.pl, kernel-doc and the data files they read, unpacked once
# from Debian's linux-source-6.12 tarball.
cp_dir=$top/.cache/linux-scripts
if [[ ! -x $cp_dir/scripts/checkpatch.pl || ! -x $cp_dir/scripts/kernel-doc ]]; then
	tarball=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -1)
	if [[ -z $tarball ]]; then
		result fail "checkpatch and kernel-doc (linux-source-6.12 not installed)"
	else
		mkdir -p "$cp_dir"
		tar -xf "$tarball" -C "$cp_dir" --strip-components=1 \
			--wildcards '*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
			'*/scripts/const_structs.checkpatch' '*/scripts/kernel-doc'
	fi
fi
if [[ -x $cp_dir/scripts/checkpatch.pl ]]; then
	out=$top/build/lint/checkpatch.log
	mkdir -p "$(dirname "$out")"
	files=$(ls kmod/*.c kmod/*.h tests/vm/modules/*.c 2>/dev/null)
	if "$cp_dir/scripts/checkpatch.pl" --no-tree --strict --terse --show-types \
		--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG,LINUX_VERSION_CODE -f $files >"$out" 2>&1; then
		result ok "checkpatch --strict kmod/ tests/vm/modules/"
	else
		result fail "checkpatch --strict kmod/ tests/vm/modules/" "$out"
	fi
fi

# kernel_doc_check OBJDIR: the findings on stdout
kernel_doc_check() {
	local kdoc=$cp_dir/scripts/kernel-doc objdir=$1 f obj documented sym

	perl "$kdoc" -none -Wall kmod/*.c kmod/*.h 2>&1 ||
		echo "kernel-doc -none exited $?"
	for f in kmod/*.c; do
		obj=$objdir/${f%.c}.o
		if [[ ! -f $obj ]]; then
			echo "$f: no object $obj to list its functions"
			continue
		fi
		documented=$(perl "$kdoc" -rst -sphinx-version 3.0 "$f" 2>/dev/null |
			sed -n 's/^\.\. c:function:: .*[ *]\([A-Za-z_][A-Za-z0-9_]*\) *(.*/\1/p')
		# init_module/cleanup_module: aliases of the static functions
		# module_init()/module_exit() name
		for sym in $(nm --defined-only "$obj" |
			awk '$2 == "T" && $3 != "init_module" && $3 != "cleanup_module" { print $3 }'); do
			grep -qx "$sym" <<<"$documented" ||
				echo "$f: $sym() is not static and has no kernel-doc comment"
		done
	done
}

if [[ -x $cp_dir/scripts/kernel-doc ]]; then
	objdir=
	for k in 6.12 $kernels; do
		[[ " $kernels " == *" $k "* && -f $top/build/lint/$k/kmod/main.o ]] || continue
		objdir=$top/build/lint/$k
		break
	done
	out=$top/build/lint/kernel-doc.log
	if [[ -z $objdir ]]; then
		echo "no kernel's W=1 build left kmod/ objects to list functions from" >"$out"
	else
		kernel_doc_check "$objdir" >"$out"
	fi
	if [[ -s $out ]]; then
		result fail "kernel-doc kmod/" "$out"
	else
		result ok "kernel-doc kmod/"
	fi
fi

((tap)) && echo "1..$n"
((failed == 0))
