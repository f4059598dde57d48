#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Quirks and resets of egpuhp.ko in the virtual dock (issue 5), one boot per
kernel:

  - the quirks= module parameter: good entries applied to present devices,
    bad ones refused with a clear kernel log line
  - the egpuhp reset reached through the standard sysfs reset file
    (device_specific first in reset_method), with the nvme driver bound and
    after a rebind, and the disk does I/O afterwards
  - a no-FLR quirk added at run time makes the kernel's reset use the next
    method: seen in reset_method, in the events and in tracefs (which
    kernel reset function really ran); deleting the entry restores FLR
  - quirks applied at hot-add before the driver binds (event order)
  - bad netlink entries refused with the kernel's extack message,
    unprivileged changes refused, unprivileged dump allowed
  - every egpuhp reset method through EGPUHP_CMD_RESET, begin/end events,
    multi-function bus reset restores the sibling's config space
  - ASPM quirks reach a hot-added function (after its link state exists);
    pm refused on No_Soft_Reset devices; slot power refused where pciehp
    owns the slot; RESET only for tracked functions; the built-in external
    NVIDIA no_d3cold entry; external-only matching (tbsim's port vs an
    internal one)
  - the kernel's per-function reset path refuses a whole-bus step while a
    sibling function has a driver
  - reset sequences (egpuhp_reset=link_retrain/bus): from quirks= and from netlink,
    run through the sysfs reset file and EGPUHP_CMD_RESET; begin/end of the
    whole reset and of every step in order, the nvme does I/O afterwards; a
    sequence with a step the device cannot do does not start; bad
    sequences refused by the parameter parser and by the kernel's netlink
    checks (raw requests through egpuhp-listen); the cable pulled during
    a bus reset ends in a surprise removal; the cable pulled during
    a sequence stops it at the failing step with that step's error
  - tunnel cycle with a simulated router (tbsim) brings the functions back
  - unload restores reset_method and dev_flags (FLR runs again)
  - no WARN/BUG/lockdep on the console

Usage: test_quirks.py [--kernel 6.12] ...  (TAP on stdout)
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "vm"))

import dock  # noqa: E402
from dock import Dock, DockError  # noqa: E402
import egpuctl_json  # noqa: E402

NVME_ID = "1b36:0010"
RNG_ID = "1af4:1044"
HDA_ID = "8086:293e"
DROPUID_SRC = r"""
#include <stdio.h>
#include <unistd.h>
#include <grp.h>
int main(int argc, char **argv)
{
	if (argc < 2 || setgroups(0, NULL) || setgid(65534) || setuid(65534)) {
		perror("dropuid");
		return 126;
	}
	execvp(argv[1], argv + 1);
	perror("dropuid: exec");
	return 127;
}
"""


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=""):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, name), flush=True)
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, name), flush=True)
            for line in str(diag).strip().splitlines()[-40:]:
                print("# " + line, flush=True)
        return cond

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why), flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        return 1 if self.failed else 0


def build_dropuid():
    """A static helper that runs a command as nobody (busybox has no such
    applet); built atomically, tests for several kernels may run at once."""
    out = os.path.join(TOP, "build", "quirks")
    os.makedirs(out, exist_ok=True)
    exe = os.path.join(out, "dropuid")
    src = exe + ".c"
    same = os.path.exists(src) and open(src).read() == DROPUID_SRC
    if same and os.path.exists(exe):
        return exe
    tmp = "%s.%d" % (exe, os.getpid())
    with open(tmp + ".c", "w") as f:
        f.write(DROPUID_SRC)
    subprocess.run(["gcc", "-static", "-O2", "-o", tmp, tmp + ".c"], check=True)
    os.replace(tmp + ".c", src)
    os.replace(tmp, exe)
    return exe


class Q:
    """Helpers around one dock."""

    def __init__(self, vm):
        self.vm = vm

    def sh(self, cmd, timeout=60):
        return self.vm.sh(cmd, timeout)

    def run(self, cmd, timeout=60):
        return self.vm.run(cmd, timeout)

    def reset_method(self, bdf):
        return self.sh("cat /sys/bus/pci/devices/%s/reset_method" % bdf).strip()

    def quirks(self):
        return egpuctl_json.data(self.sh("egpuctl --json quirks"))

    def events(self):
        out = self.sh("cat /tmp/ev.log 2>/dev/null || true")
        evs = []
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    evs.append(json.loads(line))
                except ValueError:
                    pass
        return evs

    @staticmethod
    def resets(evs):
        """The reset events among evs: (event, method, step, result)."""
        return [(e["event"], e["reset"]["method"], e["reset"].get("step", 0),
                 e["reset"]["result"]) for e in evs if "reset" in e]

    def events_for(self, bdf, since_seq=0):
        return [e for e in self.events()
                if e.get("seq", 0) > since_seq and e.get("dev", {}).get("name") == bdf]

    def last_seq(self):
        evs = self.events()
        return max([e.get("seq", 0) for e in evs] or [0])

    def wait_events(self, bdf, names, since_seq, timeout=10):
        end = time.monotonic() + timeout
        while True:
            evs = self.events_for(bdf, since_seq)
            got = [e["event"] for e in evs]
            if all(n in got for n in names):
                return evs
            if time.monotonic() > end:
                return evs
            time.sleep(0.3)

    def trace_start(self, funcs):
        self.sh("cd /sys/kernel/tracing && echo 0 > tracing_on && echo nop > current_tracer"
                " && echo > trace && echo '%s' > set_ftrace_filter"
                " && echo function > current_tracer && echo 1 > tracing_on" % " ".join(funcs))

    def trace_stop(self):
        out = self.sh("cd /sys/kernel/tracing && echo 0 > tracing_on && cat trace"
                      " && echo nop > current_tracer && echo > set_ftrace_filter")
        return [line for line in out.splitlines() if not line.startswith("#")]

    def nvme_io(self, timeout=20):
        """Reads from the nvme namespace (null-co backend); retries while the
        controller re-initialises after a reset."""
        return self.run(
            "end=$(( $(date +%%s) + %d )); "
            "until dd if=/dev/nvme0n1 of=/dev/null bs=4096 count=64 iflag=direct 2>/dev/null; do "
            "  [ $(date +%%s) -ge $end ] && exit 1; sleep 0.2; done; echo io-ok" % timeout,
            timeout=timeout + 30)


def seq_events(*methods):
    """Q.resets() of an egpuhp reset that ran these steps, all succeeding."""
    evs = [("reset-begin", "egpuhp", 0, 0)]
    for i, m in enumerate(methods, 1):
        evs += [("reset-step-begin", m, i, 0), ("reset-step-end", m, i, 0)]
    return evs + [("reset-end", "egpuhp", 0, 0)]


# enum egpuhp_reset_method (uapi, append-only) and EGPUHP_QUIRK_EGPUHP_RESET
RESET_NUM = {"auto": 0, "bus": 1, "link_retrain": 2, "pm": 3, "slot_power": 4,
             "tunnel": 5, "egpuhp": 6}
EGPUHP_RESET_ACTION = 0x400

TRACE_FUNCS = ["pcie_reset_flr", "pci_reset_bus_function", "pci_pm_reset",
               "pci_dev_specific_reset"]


def scenario(vm, t, kernel):
    q = Q(vm)
    # an nvme disk with a null backend, so the driver binds and does I/O
    vm.qmp.cmd("blockdev-add", **{"driver": "null-co", "node-name": "qnull",
                                  "size": 64 * 1024 * 1024, "read-zeroes": True})
    nvme = vm.plug("rp1", functions=[("nvme", 0, {"serial": "quirks", "drive": "qnull"})])
    rng = vm.plug("rp2", kind="virtio-rng")
    nb, rb = nvme.bdf, rng.bdf
    vm.sh("modprobe nvme; mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true")
    vm.wait_for("test -b /dev/nvme0n1", timeout=20)
    nvme_before = q.reset_method(nb)
    rng_before = q.reset_method(rb)
    t.ok("flr" in nvme_before.split() and "flr" in rng_before.split(),
         "emulated nvme and virtio devices offer FLR",
         "nvme: %s, virtio: %s" % (nvme_before, rng_before))

    # baseline: the kernel's reset of the virtio device runs FLR
    q.trace_start(TRACE_FUNCS)
    vm.sh("echo 1 > /sys/bus/pci/devices/%s/reset" % rb)
    tr = q.trace_stop()
    t.ok(any("pcie_reset_flr" in line for line in tr),
         "baseline: sysfs reset of virtio device runs pcie_reset_flr", "\n".join(tr))

    # --- module parameter --------------------------------------------------
    mark = vm.console_mark()
    # track_hotplug=1: the emulated ports are hotplug ports, not Thunderbolt;
    # tracking makes egpuhp send PCI add/bound/remove events for them too
    params = ("track_hotplug=1 quirks=%s:*:*:no_flr+egpuhp_reset=bus,zzzz:1:no_flr,"
              "1af4:*:*:*:bogus_action,10de:*:d3hot_delay=99999" % NVME_ID)
    vm.load_egpuhp(params)
    dm = vm.dmesg()
    t.ok('entry "zzzz:1:no_flr" refused: bad hexadecimal ID' in dm and
         'entry "1af4:*:*:*:bogus_action" refused: unknown action' in dm and
         'entry "10de:*:d3hot_delay=99999" refused: delay needs =MS' in dm,
         "quirks= parameter: bad entries refused with a clear kernel log line",
         "\n".join(line for line in dm.splitlines() if "egpuhp" in line))
    t.ok(q.reset_method(nb) == "device_specific bus",
         "parameter entry applied at load: nvme reset_method is 'device_specific bus'",
         q.reset_method(nb))
    info = q.quirks()
    hook = info["reset_hook"]
    t.ok(hook == "active", "GET_INFO: reset hook installed (egpuctl quirks)",
         json.dumps(hook))
    dev = [d for d in info["devices"] if d["name"] == nb]
    t.ok(dev and "no_flr" in dev[0]["actions"] and "egpuhp_reset=bus" in dev[0]["actions"],
         "egpuctl quirks shows what the nvme got and from which entry",
         json.dumps(info["devices"]))
    param_entry = [e for e in info["entries"] if e["source"] == "param"]
    builtin = [e for e in info["entries"] if e["source"] == "builtin"]
    t.ok(len(param_entry) == 1 and builtin and all(e["note"] for e in builtin),
         "table: one parameter entry, built-in entries each with a note",
         json.dumps(info["entries"])[:2000])
    nv = [e for e in builtin if e["match"] == "10de:*:*:*:030000:ff0000"]
    t.ok(len(nv) == 1 and nv[0]["actions"] == "external+no_d3cold" and "1228" in nv[0]["note"],
         "built-in entry: external NVIDIA display-class functions get no_d3cold (with evidence)",
         json.dumps(builtin)[:2000])
    text = q.sh("egpuctl quirks")
    t.ok("reset hook: active" in text and nb in text, "egpuctl quirks text output", text)

    vm.sh("setsid egpuctl --json monitor > /tmp/ev.log 2>&1 < /dev/null &")
    time.sleep(1)

    # --- egpuhp reset through the standard sysfs reset file ---------------
    seq = q.last_seq()
    ok1 = q.nvme_io()[0] == 0
    rc, out = q.run("echo 1 > /sys/bus/pci/devices/%s/reset" % nb)
    evs = q.wait_events(nb, ["reset-begin", "reset-end"], seq)
    t.ok(rc == 0 and q.resets(evs) == seq_events("bus"),
         "sysfs reset of nvme runs egpuhp's reset, one bus step (begin/end events, result 0)",
         "rc=%d %s\n%s" % (rc, out, json.dumps(evs)))
    drv = q.sh("basename $(readlink /sys/bus/pci/devices/%s/driver) 2>/dev/null || true" % nb).strip()
    rc, out = q.nvme_io()
    t.ok(ok1 and rc == 0 and drv == "nvme",
         "nvme still bound and does I/O after the egpuhp reset", "driver=%s %s" % (drv, out))
    rc, out = q.run("echo %s > /sys/bus/pci/drivers/nvme/unbind && "
                    "echo 1 > /sys/bus/pci/devices/%s/reset && "
                    "echo %s > /sys/bus/pci/drivers/nvme/bind" % (nb, nb, nb))
    vm.wait_for("test -b /dev/nvme0n1", timeout=20)
    rc2, out2 = q.nvme_io()
    t.ok(rc == 0 and rc2 == 0, "nvme unbound, egpuhp reset, rebound: I/O works",
         out + out2)

    # --- no-FLR at run time: next method -----------------------------------
    seq = q.last_seq()
    out = q.sh("egpuctl --json quirks add %s:*:*:no_flr --note 'test: virtio no FLR'" % RNG_ID)
    rid = egpuctl_json.data(out)["id"]
    t.ok(q.reset_method(rb) == "bus" or q.reset_method(rb) == "pm bus",
         "runtime no_flr entry: virtio reset_method drops flr", q.reset_method(rb))
    evs = q.wait_events(rb, ["quirk-applied"], seq)
    t.ok(any(e["event"] == "quirk-applied" for e in evs),
         "QUIRK_APPLIED event for the virtio device", json.dumps(evs))
    q.trace_start(TRACE_FUNCS)
    seq = q.last_seq()
    rc, out = q.run("egpuctl --json reset %s" % rb)
    tr = q.trace_stop()
    res = egpuctl_json.data(out) if rc == 0 else {}
    ran_flr = any("pcie_reset_flr" in line for line in tr)
    ran_next = any("pci_reset_bus_function" in line or "pci_pm_reset" in line for line in tr)
    t.ok(rc == 0 and not ran_flr and ran_next and "flr" not in res.get("kernel_methods", "flr"),
         "with no_flr the kernel's reset uses the next method (tracefs, reply)",
         "%s\n%s" % (out, "\n".join(tr)))
    evs = q.wait_events(rb, ["reset-end"], seq)
    t.ok(any(e["event"] == "reset-end" and e["reset"]["result"] == 0 for e in evs),
         "reset-end event for the auto reset", json.dumps(evs))
    q.sh("egpuctl quirks del %d" % rid)
    t.ok(q.reset_method(rb) == rng_before, "deleting the entry restores reset_method",
         q.reset_method(rb))
    out = q.sh("egpuctl --json quirks add %s:reset_order=bus/flr" % RNG_ID)
    oid = egpuctl_json.data(out)["id"]
    order = q.reset_method(rb)
    q.sh("egpuctl quirks del %d" % oid)
    t.ok(order == "bus flr" and q.reset_method(rb) == rng_before,
         "reset_order entry sets the kernel's order, deleting it restores it",
         "%s -> %s" % (order, q.reset_method(rb)))
    rc, out = q.run("egpuctl quirks del %d" % rid)
    t.ok(rc != 0 and "no quirk entry with this id" in out,
         "deleting an unknown id is refused with the kernel's message", out)

    # --- bad entries over netlink, privileges ------------------------------
    bad = {
        "*:*:no_flr": "must name a vendor or a class",
        "1af4:*:reset_order=flr/bogus": "unknown reset method in reset order",
        "1af4:*:reset_order=flr/flr": "reset method repeated",
    }
    for entry, msg in bad.items():
        rc, out = q.run("egpuctl quirks add '%s'" % entry)
        t.ok(rc != 0 and msg in out, "kernel refuses bad entry %s with a clear message" % entry,
             out)
    rc, out = q.run("egpuctl quirks add 1af4:zz:no_flr")
    t.ok(rc == 2 and "bad hexadecimal ID" in out, "egpuctl refuses unparsable entry", out)
    rc, out = q.run("dropuid egpuctl quirks add %s:*:*:no_flr" % RNG_ID)
    t.ok(rc != 0 and "not permitted" in out.lower(),
         "unprivileged quirks add refused (CAP_NET_ADMIN)", out)
    rc, out = q.run("dropuid egpuctl reset %s" % rb)
    t.ok(rc != 0 and "not permitted" in out.lower(), "unprivileged reset refused", out)
    rc, out = q.run("dropuid egpuctl --json quirks")
    t.ok(rc == 0 and '"entries"' in out, "unprivileged dump allowed", out)
    # the host bridge's SMBus controller: not an eGPU function, not tracked
    rc, out = q.run("egpuctl reset 0000:00:1f.3 --method pm")
    t.ok(rc != 0 and "not a function egpuhp tracks" in out,
         "EGPUHP_CMD_RESET refused for a function egpuhp does not track", out)

    # --- hot-add: quirks applied before any driver binds -------------------
    seq = q.last_seq()
    out = q.sh("egpuctl --json quirks add %s:no_bus_reset --note 'test: hda no bus reset'"
               % HDA_ID)
    hda_id = egpuctl_json.data(out)["id"]
    vm.sh("modprobe snd-hda-intel 2>/dev/null || true")
    edu = vm.plug("rp3", kind="edu-audio")
    fb, hb = edu.bdfs[0], edu.bdfs[1]
    evs = q.wait_events(hb, ["pci-add", "quirk-applied", "pci-bound"], seq, timeout=15)
    names = [e["event"] for e in evs]
    okorder = ("quirk-applied" in names and "pci-bound" in names and
               names.index("quirk-applied") < names.index("pci-bound"))
    t.ok(okorder and "bus" not in q.reset_method(hb).split(),
         "hot-added audio function got no_bus_reset before its driver bound",
         "%s reset_method=%s" % (names, q.reset_method(hb)))

    # ASPM at hot-add: the link state exists only after the slot's scan
    out = q.sh("egpuctl --json quirks add %s:aspm_l0s_off --note 'test: aspm'" % RNG_ID)
    aspm_id = egpuctl_json.data(out)["id"]
    vrng = vm.plug("rp6", kind="virtio-rng")
    vb = vrng.bdf
    rc, _ = q.run("for i in $(seq 50); do egpuctl --json quirks | grep -q '\"%s\".*aspm_l0s_off' "
                  "&& exit 0; sleep 0.2; done; exit 1" % vb)
    dev = [d for d in q.quirks()["devices"] if d["name"] == vb]
    t.ok(rc == 0 and dev and "aspm_l0s_off" in dev[0]["actions"],
         "hot-added function gets its ASPM quirk once the link state exists",
         "%s\n%s" % (json.dumps(dev), q.sh("dmesg | grep -i aspm | tail -5")))
    q.sh("egpuctl quirks del %d" % aspm_id)

    # --- every egpuhp method through EGPUHP_CMD_RESET ----------------------
    for method in ("bus", "link-retrain", "egpuhp", "auto"):
        seq = q.last_seq()
        rc, out = q.run("egpuctl --json reset %s --method %s" % (nb, method))
        evs = q.wait_events(nb, ["reset-end"], seq)
        rc2, io = q.nvme_io()
        t.ok(rc == 0 and egpuctl_json.data(out).get("result") == 0 and rc2 == 0 and
             any(e["event"] == "reset-end" for e in evs),
             "netlink reset --method %s: nvme does I/O after, end event" % method,
             "%s\n%s\n%s" % (out, io, json.dumps(evs)))
    # QEMU's nvme has No_Soft_Reset: a PM cycle keeps its state (the
    # kernel's own reset_method leaves pm out for it)
    rc, out = q.run("egpuctl reset %s --method pm" % nb)
    t.ok(rc != 0 and "No_Soft_Reset" in out and "pm" not in nvme_before.split(),
         "pm reset refused on a No_Soft_Reset device, as the kernel's pci_pm_reset()", out)
    rc, out = q.run("egpuctl --json reset %s --method pm" % vb)
    t.ok(rc == 0 and egpuctl_json.data(out).get("result") == 0,
         "pm reset of a device without No_Soft_Reset (virtio)", out)
    # a D3hot delay quirk is what the PM step waits (twice: D3hot, then D0):
    # a lower bound, which a loaded machine cannot break
    out = q.sh("egpuctl --json quirks add %s:d3hot_delay=400" % RNG_ID)
    did = egpuctl_json.data(out)["id"]
    slow = egpuctl_json.data(q.sh("egpuctl --json reset %s --method pm" % vb))["duration_ns"]
    q.sh("egpuctl quirks del %d" % did)
    left = [d for d in q.quirks()["devices"] if d["name"] == vb and
            "d3hot_delay" in d["actions"]]
    t.ok(slow >= 800e6 and not left,
         "d3hot_delay=400 quirk: the PM reset waits the delay twice; deleting it takes it back",
         "with %.0f ms; left %s" % (slow / 1e6, left))
    rc, out = q.run("egpuctl reset %s --method slot-power" % nb)
    t.ok(rc != 0 and "no slot power controller" in out,
         "slot-power refused where the port has no power controller", out)
    rc, out = q.run("egpuctl --json reset %s --method slot-power" % rb)
    t.ok(rc != 0 and "slot power belongs to the hotplug driver" in out,
         "slot-power refused on a slot pciehp owns (no Slot Control writes behind it)", out)
    rc, out = q.run("egpuctl reset %s --method egpuhp" % rb)
    t.ok(rc != 0 and "no quirk gives this device an egpuhp reset" in out,
         "method egpuhp refused for a device without the quirk", out)
    # multi-function: quirks of the sibling are honoured, its config comes back
    rc, out = q.run("egpuctl reset %s --method bus" % hb)
    t.ok(rc != 0 and "disabled" in out, "bus reset refused on a function with no_bus_reset",
         out)
    rc, out = q.run("egpuctl reset %s --method bus" % fb)
    t.ok(rc != 0 and "another function on the bus must not be bus reset" in out,
         "bus reset refused while a sibling function has no_bus_reset", out)
    q.sh("egpuctl quirks del %d" % hda_id)
    bar = q.sh("setpci -s %s BASE_ADDRESS_0" % hb).strip()
    cmd = q.sh("setpci -s %s COMMAND" % hb).strip()
    rc, out = q.run("egpuctl --json reset %s --method bus" % fb)
    bar2 = q.sh("setpci -s %s BASE_ADDRESS_0" % hb).strip()
    cmd2 = q.sh("setpci -s %s COMMAND" % hb).strip()
    t.ok(rc == 0 and bar == bar2 and cmd == cmd2,
         "bus reset of a multi-function device restores the sibling's config",
         "%s bar %s->%s cmd %s->%s" % (out, bar, bar2, cmd, cmd2))

    # --- a function left without reset methods (the AMD GPU case) ----------
    def has_reset_file(b):
        return q.run("test -e /sys/bus/pci/devices/%s/reset" % b)[0] == 0

    edu_before = q.reset_method(fb)
    out = q.sh("egpuctl --json quirks add 1234:11e8:no_bus_reset --note 'test: edu'")
    nobus_id = egpuctl_json.data(out)["id"]
    t.ok(q.reset_method(fb) == "" and not has_reset_file(fb),
         "no reset method left: the sysfs reset file goes away",
         "before %r now %r" % (edu_before, q.reset_method(fb)))
    out = q.sh("egpuctl --json quirks add 1234:11e8:egpuhp_reset=link_retrain")
    retrain_id = egpuctl_json.data(out)["id"]
    # through the kernel's per-function reset path a whole-bus step must
    # not reset the audio function while its driver uses it
    hda_drv = q.sh("basename $(readlink /sys/bus/pci/devices/%s/driver) 2>/dev/null || true"
                   % hb).strip()
    mark = vm.console_mark()
    rc, out = q.run("echo 1 > /sys/bus/pci/devices/%s/reset" % fb)
    t.ok(hda_drv == "snd_hda_intel" and rc != 0 and
         "another function on the bus has a driver" in vm.console(mark),
         "sysfs reset (one function) refuses a whole-bus step while a sibling has a driver",
         "driver=%s rc=%d %s\n%s" % (hda_drv, rc, out, vm.console(mark)[-2000:]))
    q.sh("echo %s > /sys/bus/pci/drivers/snd_hda_intel/unbind" % hb)
    seq = q.last_seq()
    rc, out = q.run("echo 1 > /sys/bus/pci/devices/%s/reset" % fb)
    evs = q.wait_events(fb, ["reset-end"], seq)
    q.sh("echo %s > /sys/bus/pci/drivers/snd_hda_intel/bind" % hb)
    t.ok(rc == 0 and q.reset_method(fb) == "device_specific" and
         q.resets(evs) == seq_events("link-retrain"),
         "egpuhp_reset gives it device_specific and a working sysfs reset file "
         "(sibling without a driver)",
         "%s %s %s" % (q.reset_method(fb), out, json.dumps(evs)))
    q.sh("egpuctl quirks del %d && egpuctl quirks del %d" % (retrain_id, nobus_id))
    t.ok(q.reset_method(fb) == edu_before and has_reset_file(fb),
         "deleting both entries brings the kernel's methods and the file back",
         q.reset_method(fb))

    # --- tunnel cycle --------------------------------------------------------
    tunnel_test(vm, q, t, fb)

    # --- unload restores ------------------------------------------------------
    vm.sh("kill $(pidof egpuctl) 2>/dev/null; true")
    vm.unload_module("egpuhp")
    t.ok(q.reset_method(nb) == nvme_before, "unload restores nvme reset_method",
         q.reset_method(nb))
    q.trace_start(TRACE_FUNCS)
    vm.sh("echo 1 > /sys/bus/pci/devices/%s/reset" % nb)
    tr = q.trace_stop()
    t.ok(any("pcie_reset_flr" in line for line in tr),
         "after unload the nvme's FLR runs again (NO_FLR flag cleared)", "\n".join(tr))
    rc, out = q.nvme_io()
    t.ok(rc == 0, "nvme I/O after unload and FLR", out)

    # --- hook unavailable: said loudly, netlink reset still works ------------
    vm.load_egpuhp("track_hotplug=1 reset_hook=0 quirks=%s:egpuhp_reset=bus" % NVME_ID)
    dm = vm.dmesg()
    info = q.quirks()
    text = q.sh("egpuctl quirks")
    t.ok("reset hook unavailable: disabled by module parameter" in dm and
         info["reset_hook"] == "disabled" and
         "egpuhp resets are reachable only through" in text and
         "only via netlink" in dm,
         "reset_hook=0: the module logs it, GET_INFO and egpuctl report it",
         "%s\n%s" % (text, "\n".join(line for line in dm.splitlines() if "egpuhp" in line)))
    t.ok("device_specific" not in q.reset_method(nb),
         "without the hook device_specific is not put in reset_method", q.reset_method(nb))
    rc, out = q.run("egpuctl --json reset %s --method egpuhp" % nb)
    rc2, io = q.nvme_io()
    t.ok(rc == 0 and egpuctl_json.data(out).get("result") == 0 and rc2 == 0,
         "without the hook the egpuhp reset runs through netlink", out + io)
    vm.unload_module("egpuhp")

    # --- reset sequences -------------------------------------------------------
    sequences(vm, q, t, nb, vb)

    # 6.11+: pci_bridge_secondary_bus_reset() names callers that reset a
    # bus without holding the bridge (egpuhp's bus step did, before it
    # locked the bridge as pci_reset_function() does)
    con = vm.console()
    t.ok("unlocked secondary bus reset" not in con,
         "every bus reset ran with the upstream bridge locked (%s)" % kernel,
         "\n".join(line for line in con.splitlines() if "unlocked secondary" in line))
    try:
        vm.check_health()
        t.ok(True, "no WARN/BUG/lockdep/taint on the console (%s)" % kernel)
    except DockError as e:
        t.ok(False, "no WARN/BUG/lockdep/taint on the console (%s)" % kernel, str(e))


def sequences(vm, q, t, nb, vb):
    """egpuhp_reset=STEP/STEP...: a fresh load of the module.  NB is the
    nvme (No_Soft_Reset: no pm step), VB a virtio device on a port without
    a power controller (pm step; can be yanked)."""
    bad = {
        "10de:*:egpuhp_reset=pm/baco": "egpuhp_reset step must be bus, link_retrain, pm or slot_power",
        "10de:*:egpuhp_reset=pm/tunnel": "egpuhp_reset step must be bus, link_retrain, pm or slot_power",
        "10de:*:egpuhp_reset=bus/pm/bus/pm/bus/pm/bus/pm/bus": "more than 8 egpuhp_reset steps",
        "10de:*:egpuhp_reset=": "egpuhp_reset needs =STEP[/STEP...]",
        "10de:*:egpuhp_reset=pm//bus": "empty step in egpuhp_reset",
        "10de:*:external=1+no_d3cold": "external takes no value",
    }
    vm.load_egpuhp("track_hotplug=1 quirks=%s:egpuhp_reset=link_retrain/bus,%s"
                   % (NVME_ID, ",".join(bad)))
    dm = vm.dmesg()
    missing = ['entry "%s" refused: %s' % kv for kv in bad.items()
               if 'entry "%s" refused: %s' % kv not in dm]
    t.ok(not missing, "quirks= parameter: bad reset sequences refused with a clear kernel log line",
         "missing: %s\n%s" % (missing, "\n".join(line for line in dm.splitlines()
                                                   if "egpuhp" in line)))
    info = q.quirks()
    param = [e for e in info["entries"] if e["source"] == "param"]
    dev = [d for d in info["devices"] if d["name"] == nb]
    t.ok(len(param) == 1 and param[0].get("reset_steps") == ["link_retrain", "bus"] and
         "egpuhp_reset=link_retrain/bus" in param[0]["actions"] and
         dev and dev[0].get("reset_steps") == ["link_retrain", "bus"] and
         "egpuhp_reset=link_retrain/bus" in q.sh("egpuctl quirks"),
         "egpuctl quirks shows the parameter's sequence (text and --json)",
         json.dumps(info)[:3000])

    vm.sh("setsid egpuctl --json monitor > /tmp/ev.log 2>&1 < /dev/null &")
    time.sleep(1)

    # the parameter's sequence through the kernel's reset path (the hook)
    seq = q.last_seq()
    rc, out = q.run("echo 1 > /sys/bus/pci/devices/%s/reset" % nb)
    evs = q.wait_events(nb, ["reset-end"], seq)
    rc2, io = q.nvme_io()
    t.ok(rc == 0 and q.resets(evs) == seq_events("link-retrain", "bus") and rc2 == 0,
         "sysfs reset runs the quirks= sequence link_retrain then bus; nvme does I/O after",
         "rc=%d %s\n%s\n%s" % (rc, out, io, json.dumps(evs)))

    # a sequence added at run time; the first entry's sequence is the one
    # that runs, so the parameter's goes first
    q.sh("egpuctl quirks del %d" % param[0]["id"])
    out = q.sh("egpuctl --json quirks add %s:egpuhp_reset=bus/link_retrain --note 'test: sequence'"
               % NVME_ID)
    sid = egpuctl_json.data(out)["id"]
    info = q.quirks()
    ent = [e for e in info["entries"] if e["id"] == sid]
    t.ok(ent and ent[0].get("reset_steps") == ["bus", "link_retrain"] and
         ent[0]["actions"] == "egpuhp_reset=bus/link_retrain" and
         q.reset_method(nb).split()[0] == "device_specific",
         "netlink entry egpuhp_reset=bus/link_retrain: dumped with its steps, device_specific first",
         "%s %s" % (q.reset_method(nb), json.dumps(ent)))

    seq = q.last_seq()
    rc, out = q.run("echo 1 > /sys/bus/pci/devices/%s/reset" % nb)
    evs = q.wait_events(nb, ["reset-end"], seq)
    got = q.resets(evs)
    rs = [e["reset"] for e in evs if "reset" in e]
    steps_ns = [r["duration_ns"] for r in rs[2:5:2]]
    timed = (len(rs) == 6 and all(ns > 0 for ns in steps_ns) and
             rs[-1]["duration_ns"] >= sum(steps_ns))
    t.ok(rc == 0 and got == seq_events("bus", "link-retrain") and timed,
         "sysfs reset: begin/end of the whole egpuhp reset around bus then link_retrain, "
         "each step with its method, number, duration and result 0",
         "rc=%d %s\n%s" % (rc, out, json.dumps(evs)))
    drv = q.sh("basename $(readlink /sys/bus/pci/devices/%s/driver) 2>/dev/null || true"
               % nb).strip()
    rc, out = q.nvme_io()
    t.ok(rc == 0 and drv == "nvme", "nvme still bound and does I/O after the bus/link_retrain sequence",
         "driver=%s %s" % (drv, out))

    seq = q.last_seq()
    rc, out = q.run("egpuctl --json reset %s --method egpuhp" % nb)
    res = egpuctl_json.data(out) if rc == 0 else {}
    evs = q.wait_events(nb, ["reset-end"], seq)
    rc2, io = q.nvme_io()
    t.ok(rc == 0 and res.get("result") == 0 and res.get("method") == "egpuhp" and
         q.resets(evs) == seq_events("bus", "link-retrain") and rc2 == 0,
         "EGPUHP_CMD_RESET method egpuhp runs the same sequence; nvme does I/O after",
         "%s\n%s\n%s" % (out, io, json.dumps(evs)))

    # steps the device cannot do: refused before the first step runs
    q.sh("egpuctl quirks del %d" % sid)
    for steps, why in (("bus/slot_power", "no slot power controller"),
                       ("pm/bus", "No_Soft_Reset")):
        out = q.sh("egpuctl --json quirks add %s:egpuhp_reset=%s" % (NVME_ID, steps))
        sid = egpuctl_json.data(out)["id"]
        seq = q.last_seq()
        rc, out = q.run("egpuctl reset %s --method egpuhp" % nb)
        evs = q.events_for(nb, seq)
        t.ok(rc != 0 and why in out and not q.resets(evs),
             "sequence %s on the nvme: refused (%s), no step ran" % (steps, why),
             "%s\n%s" % (out, json.dumps(evs)))
        q.sh("egpuctl quirks del %d" % sid)

    # the kernel's own checks, with requests egpuctl would not send
    def add_raw(actions, method, steps):
        spec = "1af4:1044:%x:%s:%s" % (actions, method if method is not None else "-",
                                       ",".join(str(s) for s in steps) or "-")
        rc, out = q.run("egpuhp-listen --add-quirk %s" % spec)
        res = [json.loads(line) for line in out.splitlines()
               if line.startswith("{") and '"result"' in line]
        return (res[-1] if res else {}), out

    n = RESET_NUM
    must = "egpuhp_reset step must be bus, link_retrain, pm or slot_power"
    EINVAL, ERANGE = -22, -34
    raw_bad = [
        ("forbidden step auto", EGPUHP_RESET_ACTION, None, [n["pm"], n["auto"]], EINVAL, must),
        ("forbidden step tunnel", EGPUHP_RESET_ACTION, None, [n["tunnel"]], EINVAL, must),
        ("forbidden step egpuhp", EGPUHP_RESET_ACTION, None, [n["bus"], n["egpuhp"]], EINVAL,
         must),
        ("forbidden method tunnel, no steps", EGPUHP_RESET_ACTION, n["tunnel"], [], EINVAL,
         must),
        ("unknown step value (policy)", EGPUHP_RESET_ACTION, None, [n["pm"], 99], ERANGE,
         "integer out of range"),
        ("too many steps", EGPUHP_RESET_ACTION, None, [n["pm"], n["bus"]] * 4 + [n["pm"]],
         EINVAL, "more than 8 egpuhp_reset steps"),
        ("method not the first step", EGPUHP_RESET_ACTION, n["bus"], [n["pm"], n["bus"]],
         EINVAL, "reset method differs from the first reset step"),
        ("steps without the action", 0x1, None, [n["pm"]], EINVAL,
         "reset steps given without the egpuhp_reset action"),
    ]
    for name, actions, method, steps, err, msg in raw_bad:
        res, out = add_raw(actions, method, steps)
        t.ok(res.get("error") == err and msg in res.get("extack", ""),
             "netlink: %s refused with the kernel's message" % name, out)
    before = len(q.quirks()["entries"])
    res, out = add_raw(EGPUHP_RESET_ACTION, n["pm"], [n["pm"], n["bus"]] * 4)
    after = q.quirks()["entries"]
    ent = [e for e in after if e["match"].startswith("1af4:1044")]
    t.ok(res.get("error") == 0 and len(after) == before + 1 and ent and
         ent[0].get("reset_steps") == ["pm", "bus"] * 4,
         "netlink: 8 steps with the method equal to the first accepted, dumped in order",
         "%s\n%s" % (out, json.dumps(ent)))
    for e in ent:
        q.sh("egpuctl quirks del %d" % e["id"])

    # no entry has the egpuhp reset now: the exclusive IPMODIFY hook is not held
    info = q.quirks()
    traced = q.sh("grep pci_dev_specific_reset /sys/kernel/tracing/enabled_functions || true")
    t.ok(info["reset_hook"] == "idle" and not traced.strip() and
         not [e for e in info["entries"] if "egpuhp_reset" in e["actions"]],
         "reset hook released while no quirk entry needs it (others may hook the function)",
         "%s\n%s" % (json.dumps(info["reset_hook"]), traced))

    pulled_pm(vm, q, t, vb)
    pulled_bus(vm, q, t, nb)

    vm.sh("kill $(pidof egpuctl) 2>/dev/null; true")
    vm.unload_module("egpuhp")


def pulled(vm, q, t, bdf, port, method, started_want, got_want, name, in_settle=False):
    """Start an egpuhp reset of BDF (METHOD) in the background, pull the
    cable of PORT once STARTED_WANT (the reset events so far) is seen (and,
    with IN_SETTLE, the bus step sleeps in its settle), and check that the
    reset ends with GOT_WANT (its events) and that the surprise removal
    goes through after it."""
    seq = q.last_seq()
    q.sh("rm -f /tmp/pulled.json /tmp/pulled.pid; (egpuctl --json reset %s --method %s"
         " > /tmp/pulled.json 2>&1 & echo $! > /tmp/pulled.pid; wait $!;"
         " echo rc=$? >> /tmp/pulled.json) < /dev/null > /dev/null 2>&1 &" % (bdf, method))
    evs = q.wait_events(bdf, [started_want[-1][0]], seq)
    started = q.resets(evs) == started_want
    if in_settle:
        vm.wait_reset_settle("$(cat /tmp/pulled.pid)")
    vm.yank(port, wait=False, timeout=60)
    evs = q.wait_events(bdf, ["reset-end", "pci-remove"], seq,
                        timeout=dock.PULL_IN_RESET_TIMEOUT)
    try:
        vm.wait_for("grep -q rc= /tmp/pulled.json", timeout=30)
        vm.wait_gone([bdf], timeout=30)
        gone = True
    except DockError:
        gone = False
    res = q.sh("cat /tmp/pulled.json")
    # a result of None in GOT_WANT: any error
    got = [(e, m, st, None if w[3] is None and r else r)
           for (e, m, st, r), w in zip(q.resets(evs), got_want + [(0, 0, 0, 0)] * 9)]
    removed = [e for e in evs if e["event"] == "pci-remove"]
    ends = [i for i, e in enumerate(evs) if e["event"] == "reset-end"]
    t.ok(started and got == got_want and "rc=0" not in res and gone and
         len(removed) == 1 and "surprise" in json.dumps(removed[0]) and
         ends and evs.index(removed[0]) > ends[0],
         name, "started=%s gone=%s\n%s\n%s" % (started, gone, res, json.dumps(evs)))


def pulled_pm(vm, q, t, vb):
    """The cable pulled in the middle of a sequence (an eGPU unplugged
    during a reset).  The PM step, kept in D3hot for 2 s by a d3hot_delay
    quirk, finds the device gone: it fails, the bus step after it never
    runs, the whole reset ends with that step's error, and the removal,
    which waits for the device lock the reset holds, goes through after."""
    out = q.sh("egpuctl --json quirks add %s:egpuhp_reset=pm/bus+d3hot_delay=2000" % RNG_ID)
    sid = egpuctl_json.data(out)["id"]
    etimedout = -110
    pulled(vm, q, t, vb, "rp6", "egpuhp",
           [("reset-begin", "egpuhp", 0, 0), ("reset-step-begin", "pm", 1, 0)],
           [("reset-begin", "egpuhp", 0, 0), ("reset-step-begin", "pm", 1, 0),
            ("reset-step-end", "pm", 1, etimedout), ("reset-end", "egpuhp", 0, etimedout)],
           "cable pulled during pm/bus: the pm step fails (-ETIMEDOUT), bus never runs, "
           "the reset ends with that error, then the surprise removal goes through")
    q.sh("egpuctl quirks del %d" % sid)


def pulled_bus(vm, q, t, nb):
    """The cable pulled during the bus step (reset_settle_ms widens the
    step so that the pull lands inside it): the device does not come back,
    the reset fails, and the functions end in a surprise removal.  Before
    egpuhp wrote Slot Control itself (masking presence and link events and
    clearing them after), such a pull was lost and the nvme stayed
    enumerated.  (The case where pciehp's own reset_slot hides the pull
    needs a port without an attention button: QEMU's root ports have one,
    Slot Control reads 0x01f1 here, so pciehp enables neither presence nor
    link events on them and learns of a pull from the command-completed
    interrupt of the pull's own write.)  The pull is aimed at the settle
    sleep after the kernel's bus reset: one inside pciehp_reset_slot() waits
    for the kernel to give up on the function first (PULL_IN_RESET_TIMEOUT,
    dock.py), with the same outcome."""
    q.sh("echo %s > /sys/bus/pci/drivers/nvme/unbind" % nb)
    q.sh("echo 3000 > /sys/module/egpuhp/parameters/reset_settle_ms")
    pulled(vm, q, t, nb, "rp1", "bus",
           [("reset-begin", "bus", 0, 0)],
           [("reset-begin", "bus", 0, 0), ("reset-end", "bus", 0, None)],
           "cable pulled during a bus reset: the reset fails, the surprise removal goes through",
           in_settle=True)
    q.sh("echo 100 > /sys/module/egpuhp/parameters/reset_settle_ms")


def tunnel_test(vm, q, t, internal_edu):
    if not hasattr(vm, "tb_add_router"):
        t.skip("tunnel cycle brings the functions back", "dock has no tbsim yet")
        return
    try:
        vm.tb_set_domain(security="user", iommu=1, deauth=1)
        vm.tb_add_router("0-1", unique_id="c0ffee00-0000-0000-0000-000000000001",
                         vendor_name="egpuhp", device_name="Quirk Dock", generation=3,
                         port="rp4", functions="edu-audio")
        vm.sh("echo 1 > /sys/bus/thunderbolt/devices/0-1/authorized")
        vm.tb_wait_tunnel("0-1", up=True)
    except Exception as e:  # harness API mismatch: report, do not hide
        t.ok(False, "tunnel cycle: simulated router set up", str(e))
        return
    port = vm.port("rp4")
    bdfs = [b for d in port.devices for b in d.bdfs]
    if len(bdfs) != 2:
        t.ok(False, "tunnel cycle: functions appear after authorization", str(port.devices))
        return
    vm.wait_present(bdfs)
    edu, hda = bdfs

    # external-only matching: the same class entry the built-in NVIDIA one
    # is, for the edu function (class 00ff00): applied behind tbsim's
    # external-facing port, not to the same device on an internal port
    out = q.sh("egpuctl --json quirks add '*:*:*:*:00ff00:ffff00:external+no_d3cold'"
               " --note 'test: external edu'")
    ext_id = egpuctl_json.data(out)["id"]
    info = q.quirks()
    got = sorted(d["name"] for d in info["devices"] if "no_d3cold" in d["actions"])
    ent = [e for e in info["entries"] if e["id"] == ext_id]
    removable = q.sh("cat /sys/bus/pci/devices/%s/removable" % edu).strip()
    t.ok(got == [edu] and internal_edu not in got and ent and
         ent[0]["actions"] == "external+no_d3cold" and removable == "removable",
         "external-only entry: applied behind the external-facing port, not on an internal port",
         "applied %s (external %s, internal %s) %s" % (got, edu, internal_edu, json.dumps(ent)))
    q.sh("egpuctl quirks del %d" % ext_id)
    # the binding to restore: edu on the dock's test driver, the audio
    # function held by pci-stub through driver_override (as for VFIO)
    vm.load_testdrv()
    vm.sh("modprobe pci-stub; "
          "[ -e /sys/bus/pci/devices/%s/driver ] && echo %s > /sys/bus/pci/devices/%s/driver/unbind; "
          "echo pci-stub > /sys/bus/pci/devices/%s/driver_override && "
          "echo %s > /sys/bus/pci/drivers_probe; true" % (hda, hda, hda, hda, hda))

    def binding(b):
        return q.sh("d=$(readlink /sys/bus/pci/devices/%s/driver); basename \"${d:-none}\"; "
                    "cat /sys/bus/pci/devices/%s/driver_override" % (b, b)).split()

    before = {b: binding(b) for b in bdfs}
    seq = q.last_seq()
    rc, out = q.run("egpuctl --json reset %s --tunnel --timeout 30000" % edu, timeout=120)
    line = out.strip().splitlines()[-1] if out.strip() else ""
    res = egpuctl_json.data(line) if line.startswith("{") else {}
    after = {b: binding(b) for b in bdfs}
    evs = q.events_for(edu, seq)
    names = [e["event"] for e in evs]
    t.ok(rc == 0 and res.get("result") == 0 and res.get("router") == "0-1" and
         all(f.get("back") for f in res.get("functions", [])) and
         "pci-remove" in names and "pci-add" in names,
         "tunnel cycle (router found without --router): functions removed and back",
         "%s\nevents %s" % (out, names))
    t.ok(before == after and after[hda][0] == "pci-stub" and after[edu][0] != "none",
         "tunnel cycle restores driver binding and driver_override",
         "before %s after %s" % (before, after))

    # security level secure: the re-authorization is a challenge with the
    # key from egpuhp's store; without a stored key the cycle is refused
    key = "5a" * 32
    uid = "c0ffee00-0000-0000-0000-000000000002"
    try:
        vm.tb_unplug("0-1")     # the domain's level changes only without routers
        vm.tb_set_domain(security="secure")
        vm.tb_add_router("0-2", unique_id=uid, port="rp5", functions="edu")
        rc, out = vm.tb_authorize("0-2", 1, key=key)
        dev = vm.tb_wait_tunnel("0-2", up=True)
    except Exception as e:
        t.ok(False, "tunnel cycle at security level secure: router set up", str(e))
        return
    fn = dev.bdfs[0]
    vm.wait_present([fn])
    rc, out = q.run("egpuctl reset %s --tunnel --router 0-2 --store /tmp/qstore" % fn)
    t.ok(rc != 0 and "no stored key" in out and vm.guest_has(fn),
         "secure level without a stored key: refused before de-authorizing", out)
    q.sh("mkdir -p -m 700 /tmp/qstore/keys && printf '%s\\n' > /tmp/qstore/keys/%s && "
         "chmod 600 /tmp/qstore/keys/%s" % (key, uid, uid))
    rc, out = q.run("egpuctl --json reset %s --tunnel --router 0-2 --store /tmp/qstore" % fn,
                    timeout=120)
    line = out.strip().splitlines()[-1] if out.strip() else ""
    res = egpuctl_json.data(line) if line.startswith("{") else {}
    t.ok(rc == 0 and res.get("security") == "secure" and vm.guest_has(fn) and
         vm.tb_attr("0-2", "authorized") in ("1", "2"),
         "secure level: tunnel cycle re-authorizes with the stored key", out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", action="append")
    args = ap.parse_args()
    kernels = args.kernel or ["6.12"]
    t = Tap()
    dropuid = build_dropuid()
    for k in kernels:
        try:
            with Dock(kernel=k, ports=6, button_ports=("rp2",),
                      extra_files={"/usr/bin/dropuid": dropuid},
                      name="quirks-%s-%d" % (k, os.getpid())) as vm:
                try:
                    scenario(vm, t, k)
                except Exception as e:
                    t.ok(False, "scenario on %s ran to the end" % k,
                         "%s\n%s: %s" % (vm.console_tail(15), type(e).__name__, e))
        except DockError as e:
            t.ok(False, "dock for %s came up" % k, str(e))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
