#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# egpuhp-test: once
#
# libFuzzer harnesses of every parser (fuzz_*.c here; built by
# "make -C user fuzz-build" with clang, ASan + UBSan), each run for a fixed
# number of inputs (EGPUHP_FUZZ_RUNS, default 200000) from a copy of its
# seed corpus (corpus/NAME), so make check stays short and repeatable; a
# crash, a sanitizer report, a leak or a failed property fails the test and
# leaves the input in the log.  "make -C user fuzz" runs them for longer.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=../tap.sh
. "$top/tests/tap.sh"
runs=${EGPUHP_FUZZ_RUNS:-200000}

fuzz_one() {	# fuzz_one NAME
	local corpus=$tmp/corpus-$1
	mkdir -p "$corpus"
	cp "$top/tests/fuzz-user/corpus/$1/"* "$corpus/"
	# a fixed seed: the same inputs on every run, so a failure reproduces
	(cd "$tmp" && "$top/build/fuzz/fuzz_$1" -runs="$runs" -seed=4242 -max_len=4096 \
		-print_final_stats=1 "$corpus" 2>&1) | tail -40
	return "${PIPESTATUS[0]}"
}

if ! command -v clang >/dev/null; then
	echo "1..0 # SKIP clang not installed (tests/debian-packages.txt: clang, libclang-rt-14-dev)"
	exit 0
fi
check "fuzz harnesses build (clang, ASan + UBSan)" make -s -C "$top/user" fuzz-build
for f in "$top"/tests/fuzz-user/fuzz_*.c; do
	name=${f##*/fuzz_}
	name=${name%.c}
	check "fuzz $name: $runs inputs, no crash, leak or sanitizer report" fuzz_one "$name"
done
tap_done
