#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# egpuhp-test: once
#
# The test-only entry point (egpud's "test-inject" verb, user/egpud/test/)
# is in the test build alone: build/user/egpud-test has it, the egpud that
# "make install" installs has not, and no test binary is installed.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=../tap.sh
. "$top/tests/tap.sh"

check "build egpud and egpud-test" nice make -s -C user all test-build
check "egpud-test has the test-inject verb" grep -q "test-inject" build/user/egpud-test
check "the test hooks are compiled into egpud-test only" \
	bash -c '! grep -q "TEST-INJECT" build/user/egpud && grep -q "TEST-INJECT" build/user/egpud-test'
check "make install" make -s -C user install DESTDIR="$tmp/root"
check "the installed egpud has no test-inject verb" \
	bash -c "test -x '$tmp/root/usr/sbin/egpud' && ! grep -q 'test-inject' '$tmp/root/usr/sbin/egpud'"
check "no test binary is installed" \
	bash -c "test -z \"\$(find '$tmp/root' -name 'egpud-test*')\""
check "the test hooks refuse to build without EGPUD_TEST_HOOKS" \
	bash -c "! ${CC:-cc} -fsyntax-only -D_GNU_SOURCE -Iuser -Iinclude/uapi \$(pkg-config --cflags libnl-genl-3.0) user/egpud/test/inject.c 2>/dev/null"
tap_done
