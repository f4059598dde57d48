#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# egpuhp-test: once
#
# egpud's control socket under fire (socket_fuzz.c): egpud built with ASan
# + UBSan on a fake sysfs tree, EGPUHP_SOCKET_FUZZ_REQUESTS (default
# 100000) random, mutated, oversized, partial and abandoned requests from
# root and uid 65534 clients; egpud must survive, answer every request or
# close it, still serve root, and exit without a sanitizer or leak report.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
requests=${EGPUHP_SOCKET_FUZZ_REQUESTS:-100000}

if ! make -s -C "$top/user" socket-fuzz >/tmp/egpuhp-socket-fuzz-build.$$ 2>&1; then
	echo "not ok 1 - socket fuzzer and ASan egpud build"
	sed 's/^/#   /' /tmp/egpuhp-socket-fuzz-build.$$ | tail -30
	rm -f /tmp/egpuhp-socket-fuzz-build.$$
	echo "1..1"
	exit 1
fi
rm -f /tmp/egpuhp-socket-fuzz-build.$$
exec "$top/build/asan/bin/socket_fuzz" "$top/build/asan/bin/egpud" "$requests" 8 4242
