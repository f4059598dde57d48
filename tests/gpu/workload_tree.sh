#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Workloads on a real NVIDIA GPU (issue 13; results in RESULTS.md): a real
# process tree (a python parent, two cuda_worker children) checkpointed and
# restored as one workload through egpuctl --direct, then egpud-test's own
# decision code fed through its test-only test-inject verb (the machine has
# no hot-plug): a watchdog warning with strategy = eager, evacuate-to = host
# checkpoints the tree; a bind with restore-on-replug = same restores it.
# Both trees must end "RESULT OK" (bit-exact).  Run as root:
#   BIN=DIR/bin LIBS=DIR/lib OUT=DIR/out tests/gpu/workload_tree.sh
# with build/user/egpud-test ("make -C user test-build"), build/user/egpuctl
# and cuda_worker (tests/gpu/build.sh) in BIN, and libnl-3, libnl-genl-3,
# libkmod in LIBS where the machine lacks them.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=${BIN:-$here/bin}
export LD_LIBRARY_PATH=${LIBS:-$here/lib}
out=${OUT:-/tmp/out}
mkdir -p "$out"
exec > >(tee "$out/run.log") 2>&1
nvidia-smi --query-gpu=pci.bus_id,uuid,name,driver_version --format=csv
pci=$(ls /proc/driver/nvidia/gpus | head -1)
echo "GPU $pci"
export EGPUHP_RUN_DIR=/tmp/egpuhp-run
mkdir -p $EGPUHP_RUN_DIR
ctl() { EGPUHP_DIRECT=1 "$bin/egpuctl" "$@"; }

workers() {	# a parent (python, not a session leader) with two CUDA children
	python3 - "$bin/cuda_worker" "$1" <<'PY' &
import subprocess, sys
w, tag = sys.argv[1], sys.argv[2]
ps = [subprocess.Popen([w, "--mib", m, "--iters", "4000", "--sleep-ms", "2"],
                       stdout=open("/tmp/%s-%d.out" % (tag, i), "w"))
      for i, m in enumerate(["1024", "512"])]
rc = [p.wait() for p in ps]
print("children exit", rc, flush=True)
PY
	PARENT=$!
	for i in 0 1; do
		for t in $(seq 1 300); do grep -q ready /tmp/$1-$i.out 2>/dev/null && break; sleep 0.1; done
	done
	P0=$(sed -n 's/.*ready pid=\([0-9]*\).*/\1/p' /tmp/$1-0.out)
	P1=$(sed -n 's/.*ready pid=\([0-9]*\).*/\1/p' /tmp/$1-1.out)
	echo "parent $PARENT children $P0 $P1"
}

echo "=== 1. a process tree is one workload (egpuctl --direct)"
workers tree
ctl workloads all
ctl checkpoint "$P0"; echo "checkpoint rc=$?"
nvidia-smi --query-compute-apps=pid,used_memory --format=csv
ctl workloads all
ctl restore "$P1"; echo "restore rc=$?"
wait "$PARENT"
cat /tmp/tree-0.out /tmp/tree-1.out

echo "=== 2. egpud-test: warning -> eager evacuation to host; bind -> restore (same)"
cat > /tmp/egpud.conf <<CONF
[daemon]
socket = /tmp/egpud-test.sock
store = /tmp/egpud-store
load-module = no
[workloads]
strategy = eager
evacuate-to = host
restore-on-replug = same
CONF
mkdir -p /tmp/egpud-store
"$bin/egpud-test" -c /tmp/egpud.conf -d > "$out/egpud.log" 2>&1 &
EGPUD=$!
for t in $(seq 1 100); do [ -S /tmp/egpud-test.sock ] && break; sleep 0.1; done
inject() {
	python3 - "$@" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect("/tmp/egpud-test.sock")
s.sendall((" ".join(sys.argv[1:]) + "\n").encode())
buf = b""
while b"\0" not in buf or not buf.endswith(b"\n"):
    d = s.recv(4096)
    if not d: break
    buf += d
print(buf.replace(b"\0", b" [status ").decode(errors="replace").strip() + "]")
PY
}
workers inj
inject test-inject warning "$pci" watchdog "injected: a presence failure"
for t in $(seq 1 600); do [ -e $EGPUHP_RUN_DIR/gpuwork/$P0 ] && [ -e $EGPUHP_RUN_DIR/gpuwork/$P1 ] && break; sleep 0.1; done
ls -la $EGPUHP_RUN_DIR/gpuwork/ ; cat $EGPUHP_RUN_DIR/gpuwork/$P0
nvidia-smi --query-compute-apps=pid,used_memory --format=csv
ctl workloads all
inject test-inject bind "$pci"
for t in $(seq 1 600); do [ ! -e $EGPUHP_RUN_DIR/gpuwork/$P0 ] && [ ! -e $EGPUHP_RUN_DIR/gpuwork/$P1 ] && break; sleep 0.1; done
wait "$PARENT"
cat /tmp/inj-0.out /tmp/inj-1.out
kill "$EGPUD"; wait "$EGPUD"
echo "=== egpud log"; cat "$out/egpud.log"
