# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# Sourced by the shell tests of tests/pkg: cd to the top of the tree, a
# scratch directory $tmp (removed at exit) and check(), which runs one TAP
# test case and shows the tail of its output when it fails.

top=$(cd "$(dirname "${BASH_SOURCE[1]}")/../.." && pwd)
cd "$top" || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0

check() {	# check NAME COMMAND...
	local name=$1
	shift
	n=$((n + 1))
	if "$@" >"$tmp/out" 2>&1; then
		echo "ok $n - $name"
	else
		failed=$((failed + 1))
		echo "not ok $n - $name"
		sed 's/^/#   /' "$tmp/out" | tail -30
	fi
}
