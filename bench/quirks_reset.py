#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Reset duration per egpuhp method, and the tunnel-cycle time, in the
virtual dock (TCG unless EGPUHP_VM_ACCEL=kvm).  For the record, not a
target: prints one JSON object on stdout.

    bench/quirks_reset.py [--kernel 6.12] [--runs 5]

Durations are the module's own (EGPUHP_RESET_A_DURATION_NS, measured around
the method in the kernel); "auto" is the kernel's reset path of the nvme,
whose reset_method starts with device_specific, i.e. egpuhp's bus reset
reached through the ftrace hook (what VFIO and the sysfs reset file get).
"""

import argparse
import json
import os
import statistics
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "vm"))

from dock import Dock  # noqa: E402


def stats(values):
    if not values:
        return None
    ms = [v / 1e6 for v in values]
    return {"n": len(ms), "min_ms": round(min(ms), 3), "median_ms": round(statistics.median(ms), 3),
            "max_ms": round(max(ms), 3)}


def reset_times(vm, bdf, method, runs):
    out, errors = [], []
    for _ in range(runs):
        rc, text = vm.run("egpuctl --json reset %s --method %s" % (bdf, method), timeout=120)
        line = text.strip().splitlines()[-1] if text.strip() else "{}"
        try:
            res = json.loads(line)
        except ValueError:
            res = {}
        if rc == 0 and res.get("result") == 0:
            out.append(res["duration_ns"])
        else:
            errors.append(text.strip()[-200:])
    return out, errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default="6.12")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    result = {"kernel": args.kernel, "accel": os.environ.get("EGPUHP_VM_ACCEL", "tcg"),
              "runs": args.runs, "methods": {}, "errors": {}}
    with Dock(kernel=args.kernel, ports=3, button_ports=("rp2",),
              name="bench-quirks-%d" % os.getpid()) as vm:
        vm.qmp.cmd("blockdev-add", **{"driver": "null-co", "node-name": "bnull",
                                      "size": 64 * 1024 * 1024, "read-zeroes": True})
        nvme = vm.plug("rp1", functions=[("nvme", 0, {"serial": "bench", "drive": "bnull"})])
        rng = vm.plug("rp2", kind="virtio-rng")
        vm.sh("modprobe nvme")
        vm.load_egpuhp("quirks=1b36:0010:*:*:egpuhp_reset=bus")
        plan = [("auto", nvme.bdf), ("bus", nvme.bdf), ("link-retrain", nvme.bdf),
                ("pm", nvme.bdf), ("slot-power", rng.bdf), ("auto-flr", rng.bdf)]
        for name, bdf in plan:
            method = "auto" if name == "auto-flr" else name
            times, errors = reset_times(vm, bdf, method, args.runs)
            result["methods"][name] = stats(times)
            if errors:
                result["errors"][name] = errors[:2]
        result["notes"] = {
            "auto": "nvme: kernel reset path -> device_specific -> egpuhp bus reset (hook)",
            "auto-flr": "virtio-rng: kernel reset path, FLR",
            "slot-power": "virtio-rng on a port with a power controller (1 s power-off)",
        }
        if hasattr(vm, "tb_add_router"):
            try:
                vm.tb_set_domain(security="user", iommu=1, deauth=1)
                vm.tb_add_router("0-1", unique_id="c0ffee00-0000-0000-0000-0000000000b1",
                                 vendor_name="egpuhp", device_name="Bench Dock",
                                 generation=3, port="rp3", functions="edu-audio")
                vm.sh("echo 1 > /sys/bus/thunderbolt/devices/0-1/authorized")
                port = vm.port("rp3")
                vm.wait_for("ls /sys/bus/pci/slots/%d/address" % port.slot, timeout=20)
                bdfs = [b for d in port.devices for b in d.bdfs]
                vm.wait_present(bdfs)
                tt = []
                for _ in range(args.runs):
                    rc, text = vm.run("egpuctl --json reset %s --tunnel --router 0-1" % bdfs[0],
                                      timeout=120)
                    res = json.loads(text.strip().splitlines()[-1])
                    if rc == 0 and res.get("result") == 0:
                        tt.append(res["duration_ns"])
                result["tunnel_cycle"] = stats(tt)
            except Exception as e:  # report, do not hide
                result["tunnel_cycle"] = None
                result["errors"]["tunnel_cycle"] = [str(e)[-300:]]
        else:
            result["tunnel_cycle"] = None
            result["errors"]["tunnel_cycle"] = ["dock has no simulated Thunderbolt router (tbsim)"]
        vm.check_health()
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
