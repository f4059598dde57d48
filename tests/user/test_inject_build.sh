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
# The lost injection runs egpud's whole event path for a surprise removal:
# a libegpu-style watcher of the function gets LOST (and the function stays,
# nothing was removed).  A host PCI function stands in; with no module and
# policy manual, egpud-test touches nothing of this machine.
pci=$(basename "$(ls -d /sys/bus/pci/devices/* | head -1)")
cat > "$tmp/egpud.conf" <<CONF
[daemon]
socket = $tmp/egpud.sock
store = $tmp/store
load-module = no
on-lost = keep
[authorization]
policy = manual
CONF
mkdir -p "$tmp/store"
EGPUHP_RUN_DIR="$tmp/run" build/user/egpud-test -c "$tmp/egpud.conf" -d > "$tmp/egpud.log" 2>&1 &
egpud_pid=$!
check "an injected surprise removal reaches a watcher as LOST" \
	python3 - "$tmp/egpud.sock" "$pci" <<'PY'
import os, socket, sys, time
path, pci = sys.argv[1], sys.argv[2]
for _ in range(600):			# egpud-test starting: poll for its socket
    if os.path.exists(path):
        break
    time.sleep(0.1)
else:
    sys.exit("egpud-test did not create its socket")

def request(line):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall((line + "\n").encode())
    buf = b""
    while b"\0" not in buf or not buf.endswith(b"\n"):
        d = s.recv(4096)
        if not d:
            break
        buf += d
    return buf

w = socket.socket(socket.AF_UNIX)
w.connect(path)
w.sendall(("watch %s\n" % pci).encode())
f = w.makefile("rb")
assert f.readline().strip() == b"ok"
r = request("test-inject lost " + pci)
assert r.startswith(b"injected: lost " + pci.encode()), r
line = f.readline().decode()
print("# watcher got:", line.strip())
ev = line.split()
assert ev[:3] == ["event", "lost", pci] and "surprise" in ev[4], line
assert os.path.exists("/sys/bus/pci/devices/" + pci)
# an unknown function is refused, egpud-test still answers
assert b"no function" in request("test-inject lost 0000:ff:1f.7")
assert request("ping").startswith(b"pong")
PY
kill "$egpud_pid" 2>/dev/null
wait "$egpud_pid" 2>/dev/null
grep -q "TEST-INJECT lost $pci" "$tmp/egpud.log" || { echo "# egpud-test's log:"; sed 's/^/# /' "$tmp/egpud.log"; }
tap_done
