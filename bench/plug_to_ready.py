#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Plug to ready: time from a Thunderbolt router appearing to the gpu-ready
hook, egpud against the udev + shell stack eGPU users run today, in the same
virtual dock (TCG unless EGPUHP_VM_ACCEL=kvm).  Prints one JSON object and
writes it to bench/results/plug_to_ready-<accel>.json (--out to change).

    bench/plug_to_ready.py [--kernel 6.12] [--cycles 20]

One VM (q35 with QEMU's intel-iommu, so that vfio-pci binds), tbsim's
simulated Thunderbolt domain (security user, IOMMU protection on), for each
stack CYCLES plug cycles:

  t0  in the guest, the instant before a router is added to tbsim (the
      router appears on the thunderbolt bus);
      the router is authorized (by the stack under test); tbsim brings its
      PCIe tunnel up; the harness sees that on the console and hot-adds the
      eGPU (QEMU's secondary-vga, class 0x0380, + HD audio) below rp1;
      the stack binds vfio-pci to the GPU and its audio function and runs
      the gpu-ready hook;
  t1  in the hook, the hook's first instant.
  Then the eGPU is pulled and the router removed; the next cycle starts
  when both are gone.

Stacks:
  egpud   egpud with policy auto, a driver rule (1234:1111 -> vfio-pci) and
          the hook in hooks.d for gpu-ready; no sleeps anywhere.
  legacy  a reproduction of the udev rule + shell script stack: a RUN
          program for thunderbolt "add" events that writes authorized, sleeps
          3 s for the PCIe devices to show up, binds vfio-pci through
          driver_override + drivers_probe and runs the same hook
          (bench/plug_to_ready/ has the rule and the script).  The dock's
          guest has no udevd, so egpuhp-bench-udevd stands in for it: it
          reads the kernel's uevents from the same netlink socket udevd
          reads and forks the RUN program with the event's properties in
          its environment, as udevd's RUN does.  It matches one rule
          instead of udevd's full rule set: that can only make the legacy
          stack faster.

Both clocks are CLOCK_MONOTONIC in the guest (egpuhp-bench-stamp); the
host's reaction to "pcie tunnel up" (polling the console, QMP device_add)
is inside both figures alike.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "vm"))
sys.path.insert(0, os.path.join(TOP, "tests", "user"))

from dock import DockError  # noqa: E402
from test_user import IommuDock, Sim, TBDEV  # noqa: E402

HERE = os.path.join(TOP, "bench", "plug_to_ready")
GUEST_BIN = os.path.join(TOP, "build", "guest", "bin")
UID = "c6030000-0060-6c0e-8362-a46b4a7a2b05"

EGPUD_CONF = """[daemon]
load-module = no
[authorization]
policy = auto
[driver-rule]
ids = 1234:1111
driver = vfio-pci
[hooks]
dir = /etc/egpuhp/hooks.d
events = gpu-ready
"""


def build_helpers():
    """The guest's stamp and udevd stand-in (build/guest/bin: the dock installs them)."""
    os.makedirs(GUEST_BIN, exist_ok=True)
    for name in ("egpuhp-bench-stamp", "egpuhp-bench-udevd"):
        subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", os.path.join(GUEST_BIN, name),
                        os.path.join(HERE, name.replace("egpuhp-bench-", "") + ".c")],
                       check=True)


def stats(ms):
    if not ms:
        return None
    s = sorted(ms)
    return {"n": len(s), "min_ms": round(s[0], 1), "median_ms": round(statistics.median(s), 1),
            "p90_ms": round(s[min(len(s) - 1, int(0.9 * len(s)))], 1),
            "max_ms": round(s[-1], 1), "mean_ms": round(statistics.mean(s), 1)}


def stamp(vm, path):
    return int(vm.sh("cat %s" % path).strip())


def printk_s(m):
    return float(m.group(1))


def cycle(vm, sim, n):
    """One plug cycle: (t1 - t0, and where it went) in ms."""
    vm.sh("rm -f /tmp/bench-t0 /tmp/bench-ready.*")
    mark = vm.console_mark()
    spec = "route=1;vendor_name=Razer;device_name=Core X;unique_id=%s;generation=3;port=%s" % (
        UID, sim.rp1)
    # the console's timestamps split the figure: t0 -> tunnel up (authorization)
    # -> hot-add seen by the kernel (the harness) -> ready (enumeration, binding, hook)
    vm.sh("echo 'egpuhp-bench: t0' > /dev/kmsg; egpuhp-bench-stamp /tmp/bench-t0 && "
          "echo '%s' > /sys/kernel/debug/tbsim/add" % spec)
    up = vm.wait_console(r"\[\s*([0-9.]+)\] tbsim: 0-1: pcie tunnel up", since=mark, timeout=30)
    dev = vm.plug("rp1", kind="vga", wait=False)
    m = vm.wait_console(r"egpuhp-bench: ready ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\s",
                        since=mark, timeout=60)
    k0 = vm.wait_console(r"\[\s*([0-9.]+)\] egpuhp-bench: t0", since=mark, timeout=5)
    seen = vm.wait_console(r"\[\s*([0-9.]+)\] pcieport [0-9a-f:.]+: pciehp: Slot\(1\): Card present",
                           since=mark, timeout=5)
    ready = vm.wait_console(r"\[\s*([0-9.]+)\] egpuhp-bench: ready", since=mark, timeout=5)
    t0 = stamp(vm, "/tmp/bench-t0")
    t1 = stamp(vm, "/tmp/bench-ready.%s" % m.group(1))
    drivers = vm.sh("for b in %s; do basename $(readlink /sys/bus/pci/devices/$b/driver); done"
                    % " ".join(dev.bdfs)).split()
    if drivers != ["vfio-pci", "vfio-pci"]:
        raise DockError("cycle %d: drivers %s, not vfio-pci" % (n, drivers))
    vm.yank("rp1")
    sim.remove(1)
    split = {"authorize_ms": (printk_s(up) - printk_s(k0)) * 1e3,
             "harness_hot_add_ms": (printk_s(seen) - printk_s(up)) * 1e3,
             "enumerate_bind_hook_ms": (printk_s(ready) - printk_s(seen)) * 1e3}
    return (t1 - t0) / 1e6, split


def run_stack(vm, sim, stack, cycles):
    if stack == "egpud":
        vm.write_file("/etc/egpuhp/egpud.conf", EGPUD_CONF)
        vm.sh("egpud >> /tmp/egpud.log 2>&1 & echo $! > /tmp/egpud.pid")
        vm.wait_for("egpuctl policy >/dev/null 2>&1", timeout=20)
    else:
        # the legacy stack has no egpuhp at all
        vm.unload_module("egpuhp")
        vm.sh("egpuhp-bench-udevd /usr/local/lib/udev/egpu-authorize >> /tmp/udevd.log 2>&1 &"
              " echo $! > /tmp/udevd.pid")
        vm.wait_for("grep -q listening /tmp/udevd.log", timeout=20)
    try:
        return [cycle(vm, sim, i) for i in range(cycles)]
    finally:
        pid = vm.sh("cat /tmp/%s.pid" % ("egpud" if stack == "egpud" else "udevd")).strip()
        vm.run("kill %s" % pid)
        vm.wait_for("! kill -0 %s 2>/dev/null" % pid, timeout=20)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default="6.12")
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--out", help="JSON file (default bench/results/plug_to_ready-ACCEL.json)")
    args = ap.parse_args()
    accel = os.environ.get("EGPUHP_VM_ACCEL", "tcg")
    build_helpers()
    with open(os.path.join(HERE, "gpu-ready")) as f:
        hook = f.read()
    with open(os.path.join(HERE, "egpu-authorize")) as f:
        legacy = f.read()
    result = {"benchmark": "plug_to_ready", "kernel": args.kernel, "accel": accel,
              "cycles": args.cycles, "stacks": {}}
    t_start = time.monotonic()
    with IommuDock(kernel=args.kernel, ports=2, extra_modules=["vfio-pci"],
                   name="bench-plug-to-ready-%d" % os.getpid()) as vm:
        vm.load_module("thunderbolt")
        vm.load_module("tbsim")
        vm.load_module("vfio-pci")
        vm.load_egpuhp()
        vm.sh("mkdir -p /etc/egpuhp/hooks.d /usr/local/lib/udev")
        vm.write_file("/etc/egpuhp/hooks.d/50-bench", hook, mode=0o755)
        vm.write_file("/usr/local/lib/udev/egpu-authorize", legacy, mode=0o755)
        sim = Sim(vm)
        sim.domain("user", iommu=1)
        for stack in ("egpud", "legacy"):
            runs = run_stack(vm, sim, stack, args.cycles)
            ms = [r[0] for r in runs]
            result["stacks"][stack] = {
                "plug_to_ready": stats(ms),
                "cycles_ms": [round(x, 1) for x in ms],
                # from the console's printk timestamps, medians
                "split_median_ms": {k: round(statistics.median(r[1][k] for r in runs), 1)
                                    for k in runs[0][1]}}
        assert vm.run("ls %s/0-1 2>/dev/null" % TBDEV)[0] != 0
    e = result["stacks"]["egpud"]["plug_to_ready"]
    lg = result["stacks"]["legacy"]["plug_to_ready"]
    result["speedup_median"] = round(lg["median_ms"] / e["median_ms"], 2)
    result["speedup_p90"] = round(lg["p90_ms"] / e["p90_ms"], 2)
    result["wall_s"] = round(time.monotonic() - t_start, 1)
    text = json.dumps(result, indent=2)
    out = args.out or os.path.join(TOP, "bench", "results", "plug_to_ready-%s.json" % accel)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
