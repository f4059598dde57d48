#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""egpuhp demo: a virtual eGPU dock, no eGPU needed.

Boots a Debian kernel in QEMU with the virtual dock, loads egpuhp and the
simulated Thunderbolt bus, starts egpud (policy "iommu") and
"egpuctl monitor", then acts out what an eGPU user lives through:

  1. the eGPU's Thunderbolt router is plugged in; egpud authorizes it
     because the domain has IOMMU DMA protection; the PCIe tunnel opens and
     the GPU and its HDMI audio function appear;
  2. "egpuctl list" shows router, functions, link and authorization;
  3. the cable is pulled: egpuhp reports every function gone, flagged as a
     surprise, before the driver's remove() ran (the test driver's own
     record shows it found the device already gone);
  4. a second GPU is plugged straight into a hot-plug port and removed the
     orderly way (slot power-off): the driver still reached the device;
  5. a requested eject ("egpuctl eject 0-3") of a newly plugged enclosure
     while a program watches it through libegpu: the program is told the
     device is leaving and acks, GPU workloads are checked (no CUDA in the
     VM), egpuhp removes the functions in order and egpud de-authorizes
     the router: safe to unplug.

Run with "make demo" (which installs and builds what it needs first).
"""

import argparse
import json
import os
import re
import sys
import textwrap

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "vm"))
from dock import Dock  # noqa: E402

EGPUD_CONF = """\
[daemon]
socket = /run/egpuhp/egpud.sock
store = /var/lib/egpuhp

[authorization]
policy = iommu
owner = egpud
"""


def say(title):
    print("\n\033[1m== %s\033[0m" % title, flush=True)


def show(text, indent="   "):
    print(textwrap.indent(text.rstrip() or "(nothing)", indent), flush=True)


def ordering(monitor_json, testdrv_events):
    """Lines comparing the hook timestamp of the first event that announced
    each function leaving (pci-remove for a surprise, pci-unbind for an
    orderly removal by pciehp) with the CLOCK_BOOTTIME at which the test
    driver's remove() ran."""
    # A function address can come back (re-plug): pair the n-th removal of
    # an address with the n-th event that announced it leaving.
    events = {}
    for line in monitor_json.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") not in ("pci-remove", "pci-unbind") or not ev.get("dev"):
            continue
        queue = events.setdefault(ev["dev"]["name"], [])
        # one announcement per removal: an orderly removal's pci-remove
        # follows its pci-unbind and announces nothing new
        if queue and queue[-1]["event"] == "pci-unbind" and ev["event"] == "pci-remove":
            continue
        queue.append(ev)
    out = []
    for m in re.finditer(r"^remove (\S+) t=(\d+) present=(\d)", testdrv_events, re.M):
        bdf, t_remove, present = m.group(1), int(m.group(2)), m.group(3)
        queue = events.get(bdf)
        if not queue:
            out.append("%s: no pci-remove/pci-unbind event seen" % bdf)
            continue
        ev = queue.pop(0)
        lead = (t_remove - ev["timestamp_ns"]) / 1000.0
        out.append("%s: %s [%s] seq %d sent %.0f us %s remove() ran "
                   "(device present at remove(): %s)"
                   % (bdf, ev["event"], ev["flags"] or "-", ev["seq"], abs(lead),
                      "before" if lead > 0 else "AFTER", "yes" if present == "1" else "no"))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", default="6.12")
    args = ap.parse_args()

    say("booting Debian %s in QEMU with a virtual eGPU dock (2 hot-plug ports)" % args.kernel)
    with Dock(kernel=args.kernel, ports=2) as vm:
        show(vm.sh("uname -r"))
        vm.tb_load(security="user", iommu=1, deauth=1)
        vm.load_egpuhp("track_hotplug=1")
        vm.load_testdrv()
        vm.write_file("/etc/egpuhp/egpud.conf", EGPUD_CONF)
        vm.sh("mkdir -p /run/egpuhp /var/lib/egpuhp && chmod 700 /var/lib/egpuhp")
        vm.sh("(egpud -c /etc/egpuhp/egpud.conf > /tmp/egpud.log 2>&1 &)")
        vm.wait_for("test -S /run/egpuhp/egpud.sock", timeout=20)
        vm.sh("(egpuctl monitor --json > /tmp/monitor.json 2>&1 &)")
        vm.sh("(egpuctl monitor > /tmp/monitor.txt 2>&1 &)")
        vm.sh("sleep 0.5")
        show(vm.sh("egpuctl status"))

        say("1. plugging in a Thunderbolt eGPU enclosure (router 0-1)")
        vm.tb_add_router("0-1", port="rp1", functions="gpu",
                         vendor_name="Razer", device_name="Core X Chroma", generation=3)
        dev = vm.tb_wait_tunnel("0-1", up=True, timeout=60)
        show("router 0-1 authorized=%s; PCIe tunnel open; functions %s"
             % (vm.tb_attr("0-1", "authorized"), " ".join(dev.bdfs)))

        say("2. egpuctl list")
        show(vm.sh("egpuctl list"))

        say("3. cable pull (surprise removal)")
        gone = vm.tb_unplug("0-1", order="pci-first")
        show("gone from the guest: %s" % " ".join(gone))
        vm.sh("sleep 0.5")

        say("4. a GPU in a hot-plug slot, removed the orderly way (slot power-off)")
        dev2 = vm.plug("rp2", kind="gpu")
        vm.sh("sleep 0.3")
        vm.unplug_orderly(dev2, method="slot_power")
        vm.sh("sleep 0.5")

        say("5. requested eject of enclosure 0-3 while a program watches it (libegpu)")
        vm.tb_add_router("0-3", port="rp1", functions="gpu",
                         vendor_name="Blackmagic Design", device_name="eGPU Pro", generation=3)
        dev3 = vm.tb_wait_tunnel("0-3", up=True, timeout=60)
        vm.sh("(egpuhp-eject-watch %s ack > /tmp/watch.log 2>&1 &)" % dev3.bdf)
        vm.sh("sleep 0.5")
        show(vm.sh("egpuctl eject 0-3", timeout=90))
        vm.wait_gone(dev3.bdfs, timeout=30)
        show("router 0-3 authorized=%s" % vm.tb_attr("0-3", "authorized"))
        show("the watching program saw:\n" + vm.sh("cat /tmp/watch.log"))

        say("events egpud and egpuctl monitor saw")
        show(vm.sh("cat /tmp/monitor.txt"))
        say("what the GPU driver saw in remove() (test driver's record)")
        show(vm.sh("grep -E '^(probe|remove)' /sys/kernel/debug/egpuhp_testdrv/events || true"))
        say("who came first: egpuhp's removal event or the driver's remove()")
        show(ordering(vm.sh("cat /tmp/monitor.json"),
                      vm.sh("cat /sys/kernel/debug/egpuhp_testdrv/events")))
        say("egpud's decisions")
        show(vm.sh("cat /tmp/egpud.log"))
        say("module counters")
        show(vm.sh("egpuctl status | tail -n 12"))
        vm.check_health()
    say("done: the guest log shows no warning, oops or taint")
    return 0


if __name__ == "__main__":
    sys.exit(main())
