#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""egpud's cost: idle wake-ups and RSS, and CPU per event during a burst.

Runs egpud in the virtual dock (a real kernel with egpuhp.ko under QEMU):

  1. idle: egpud subscribed, nothing happening, for --idle seconds; the
     context switches of all its threads (/proc/PID/task/*/status) over that
     time give wake-ups per second -- the target is 0 -- and VmRSS its memory;
  2. burst: --cycles hot-plug/surprise-removal cycles of a two-function
     device; CPU time (utime+stime, /proc/PID/stat) divided by the events
     egpud handled (its status counters) gives CPU per event.

Prints one JSON object.  Usage: bench/user_idle.py [--kernel 6.12]
[--idle 60] [--cycles 10].  Under TCG the CPU numbers are inflated
(emulated CPU); compare runs with each other, not with bare metal.
"""

import argparse
import json
import os
import sys
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "vm"))

from dock import Dock  # noqa: E402


def ctxt(vm, pid):
    out = vm.sh("cat /proc/%d/task/*/status | grep ctxt_switches" % pid)
    return sum(int(line.split()[1]) for line in out.splitlines())


def cpu_ticks(vm, pid):
    fields = vm.sh("cat /proc/%d/stat" % pid).rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])    # utime + stime


def rss_kb(vm, pid):
    for line in vm.sh("cat /proc/%d/status" % pid).splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def status(vm):
    return json.loads(vm.sh("egpuctl --json policy"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default="6.12")
    ap.add_argument("--idle", type=float, default=60.0)
    ap.add_argument("--cycles", type=int, default=10)
    args = ap.parse_args()

    with Dock(kernel=args.kernel, ports=2, log=open(os.devnull, "w")) as vm:
        vm.load_egpuhp("track_hotplug=1")
        vm.sh("mkdir -p /etc/egpuhp && printf '[daemon]\\nload-module = no\\n' > /etc/egpuhp/egpud.conf")
        vm.sh("egpud > /tmp/egpud.log 2>&1 & echo $! > /tmp/egpud.pid")
        pid = int(vm.sh("cat /tmp/egpud.pid"))
        vm.wait_for("test -S /run/egpuhp/egpud.sock", timeout=20)
        time.sleep(1)
        hz = int(vm.sh("getconf CLK_TCK 2>/dev/null || echo 100") or 100)

        c0, t0 = ctxt(vm, pid), time.monotonic()
        time.sleep(args.idle)
        c1, t1 = ctxt(vm, pid), time.monotonic()
        idle = {"seconds": round(t1 - t0, 1), "context_switches": c1 - c0,
                "wakeups_per_s": round((c1 - c0) / (t1 - t0), 3),
                "rss_kb": rss_kb(vm, pid)}

        s0, k0, w0 = status(vm), cpu_ticks(vm, pid), time.monotonic()
        for _ in range(args.cycles):
            vm.plug("rp1", kind="edu-audio")
            vm.yank("rp1")
        vm.wait_for("egpuctl --json policy | grep -q '\"functions\":0'", timeout=30)
        s1, k1, w1 = status(vm), cpu_ticks(vm, pid), time.monotonic()
        events = s1["events_handled"] - s0["events_handled"]
        cpu_ms = (k1 - k0) * 1000.0 / hz
        burst = {"cycles": args.cycles, "events": events,
                 "resyncs": s1["resyncs"] - s0["resyncs"],
                 "wall_s": round(w1 - w0, 1), "cpu_ms": round(cpu_ms, 1),
                 "cpu_ms_per_event": round(cpu_ms / events, 3) if events else None,
                 "rss_kb_after": rss_kb(vm, pid)}
        alive = vm.run("kill -0 %d" % pid)[0] == 0
        print(json.dumps({"bench": "egpud", "kernel": args.kernel,
                          "accel": os.environ.get("EGPUHP_VM_ACCEL", "tcg"),
                          "idle": idle, "burst": burst, "egpud_alive": alive},
                         indent=2))
        return 0 if alive and idle["context_switches"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
