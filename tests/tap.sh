# SPDX-License-Identifier: GPL-2.0
# TAP for the shell tests: source it, then "check NAME COMMAND..." per test
# and "tap_done" at the end (prints the plan; the status says if all passed).
# $tmp must be a scratch directory of the caller's.
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

tap_done() {
	echo "1..$n"
	((failed == 0))
}
