#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""egpud and egpuctl end to end in the virtual dock (issue 4).

Boot 1 (PCI policies), per kernel:
  - boot with an eGPU (GPU + audio enclosure) already connected: the
    driver rule binds vfio-pci to both functions when egpud starts
  - hot-added two-function device: the rule binds vfio-pci to both
  - hooks run with the right EGPUHP_* environment; a hook past its
    timeout is killed with its process group; the loop never waits
  - egpuctl list/status/monitor --json produce valid JSON
  - unprivileged: read-only commands work, acting ones are refused with why
  - egpud stopped while devices come and go, restarted: nothing lost
    (new functions bound, hooks told with EGPUHP_RESYNC=1)
  - a burst that overruns a tiny socket buffer is recovered by exactly
    one resync
  - a malformed config on SIGHUP is refused with FILE:LINE:COL, the old
    one stays
Boot 2 (Thunderbolt authorization with the dock's simulated routers):
  see tbsim_scenarios() -- each policy, secure key enrollment and
  challenge, boot with the router connected, boltd deferral, shutdown
  de-authorization, unprivileged authorize refused.

Usage: test_user.py [--kernel 6.12] ...   (TAP on stdout)
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

from dock import Dock, DockError  # noqa: E402

GUEST_BIN = os.path.join(TOP, "build", "guest", "bin")
DROPUID = "egpuhp-user-dropuid"
DROPUID_SRC = r"""
#include <grp.h>
#include <stdio.h>
#include <unistd.h>
/* Run a command as nobody (65534): the unprivileged peer of egpud. */
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

HOOK = r"""#!/bin/sh
# records every event; sleeps forever on pci-remove (the timeout must kill it)
d=/tmp/hooks
mkdir -p $d
n=$(date +%s%N)
env | grep '^EGPUHP_' | sort > $d/$EGPUHP_EVENT.${EGPUHP_PCI:-$EGPUHP_ROUTER}.$n
if [ "$EGPUHP_EVENT" = pci-remove ] && [ -e /tmp/hook-hang ]; then
	rm -f /tmp/hook-hang
	sleep 1000 &
	echo $! > /tmp/hook-hang.child
	wait
fi
"""

CONF = """[daemon]
load-module = no
{extra}
[driver-rule]
ids = 1af4:1050
driver = vfio-pci

[driver-rule]
ids = 1234:11e8
driver = vfio-pci

[hooks]
dir = /etc/egpuhp/hooks.d
timeout = 3
events = all
"""


class Tap:
    def __init__(self, kernel):
        self.n = 0
        self.failed = 0
        self.kernel = kernel

    def ok(self, cond, name, diag=""):
        self.n += 1
        name = "%s [%s]" % (name, self.kernel)
        if cond:
            print("ok %d - %s" % (self.n, name), flush=True)
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, name), flush=True)
            for line in str(diag).strip().splitlines()[-30:]:
                print("# " + line, flush=True)
        return cond

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s [%s] # SKIP %s" % (self.n, name, self.kernel, why), flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)


def build_dropuid():
    os.makedirs(GUEST_BIN, exist_ok=True)
    dst = os.path.join(GUEST_BIN, DROPUID)
    src = os.path.join(TOP, "build", "user", DROPUID + ".c")
    with open(src, "w") as f:
        f.write(DROPUID_SRC)
    subprocess.run(["gcc", "-O2", "-o", dst, src], check=True)


class Egpud:
    """egpud running in the guest, with its log."""

    def __init__(self, vm):
        self.vm = vm
        self.pid = None

    def start(self, wait_sock=True):
        self.vm.sh("egpud -d >> /tmp/egpud.log 2>&1 & echo $! > /tmp/egpud.pid")
        self.pid = int(self.vm.sh("cat /tmp/egpud.pid"))
        if wait_sock:
            self.vm.wait_for("egpuctl policy >/dev/null 2>&1", timeout=20)

    def stop(self):
        if self.pid:
            self.vm.run("kill %d" % self.pid)
            self.vm.wait_for("! kill -0 %d 2>/dev/null" % self.pid, timeout=10)
            self.pid = None

    def log(self):
        return self.vm.sh("cat /tmp/egpud.log")

    def status(self):
        return json.loads(self.vm.sh("egpuctl --json policy"))

    def alive(self):
        return self.pid is not None and self.vm.run("kill -0 %d" % self.pid)[0] == 0


def driver_of(vm, bdf):
    rc, out = vm.run("basename $(readlink /sys/bus/pci/devices/%s/driver) 2>/dev/null" % bdf)
    return out.strip() if rc == 0 else ""


def hook_records(vm, event, name):
    """Environment dumps of hook runs for EVENT on NAME: list of dicts."""
    rc, out = vm.run("for f in /tmp/hooks/%s.%s.*; do [ -e \"$f\" ] && cat \"$f\" && echo ---; done"
                     % (event, name))
    recs, cur = [], {}
    for line in out.splitlines():
        if line == "---":
            recs.append(cur)
            cur = {}
        elif "=" in line:
            k, _, v = line.partition("=")
            cur[k] = v
    return recs


def wait_driver(vm, bdfs, driver, timeout=20):
    try:
        vm.wait_for(" && ".join("[ \"$(basename $(readlink /sys/bus/pci/devices/%s/driver) "
                                "2>/dev/null)\" = %s ]" % (b, driver) for b in bdfs),
                    timeout=timeout)
        return True
    except DockError:
        return False


def pci_scenarios(t, kernel):
    with Dock(kernel=kernel, ports=4, enclosure=True, extra_modules=["vfio-pci"]) as vm:
        mark = vm.console_mark()
        vm.load_egpuhp("track_hotplug=1")
        # no IOMMU in the guest: vfio-pci needs no-IOMMU mode to bind
        vm.sh("modprobe vfio enable_unsafe_noiommu_mode=1")
        vm.sh("mkdir -p /etc/egpuhp/hooks.d /tmp/hooks")
        vm.write_file("/etc/egpuhp/egpud.conf", CONF.format(extra=""))
        vm.write_file("/etc/egpuhp/hooks.d/10-record", HOOK, mode=0o755)
        gpu, audio = vm.bdf_of("enc-gpu"), vm.bdf_of("enc-audio")
        d = Egpud(vm)
        d.start()

        # -- boot with the eGPU connected: policy at start -------------------
        ok = wait_driver(vm, [gpu, audio], "vfio-pci")
        t.ok(ok, "eGPU present at boot: vfio-pci bound to GPU and audio when egpud starts",
             d.log())
        recs = hook_records(vm, "pci-add", gpu)
        t.ok(any(r.get("EGPUHP_RESYNC") == "1" and r.get("EGPUHP_IS_GPU") == "1" and
                 r.get("EGPUHP_VENDOR") == "1af4" for r in recs),
             "boot: pci-add hook for the present GPU, marked as found by resync", recs)

        # -- hot-add: two functions bound together --------------------------
        mon = vm.sh("egpuctl --json monitor > /tmp/monitor.json 2>/dev/null & echo $!").strip()
        time.sleep(0.5)
        dev = vm.plug("rp1", kind="edu-audio")
        ok = wait_driver(vm, dev.bdfs, "vfio-pci")
        t.ok(ok, "hot-add: vfio-pci bound to both functions (%s)" % " ".join(dev.bdfs),
             d.log() + "\n" + " ".join(driver_of(vm, b) for b in dev.bdfs))
        vm.wait_for("ls /tmp/hooks/ | grep -q 'driver-set.%s'" % dev.bdfs[1], timeout=10)
        recs = hook_records(vm, "pci-add", dev.bdfs[0])
        env_ok = any(r.get("EGPUHP_VENDOR") == "1234" and r.get("EGPUHP_DEVICE") == "11e8" and
                     r.get("EGPUHP_RESYNC") == "0" and r.get("EGPUHP_SEQ", "").isdigit() and
                     r.get("EGPUHP_PCI") == dev.bdfs[0] for r in recs)
        t.ok(env_ok, "hooks: pci-add hook ran with EGPUHP_PCI/VENDOR/DEVICE/SEQ", recs)
        recs = hook_records(vm, "driver-set", dev.bdfs[1])
        t.ok(any(r.get("EGPUHP_DRIVER") == "vfio-pci" for r in recs),
             "hooks: driver-set hook for the sibling function says vfio-pci", recs)

        # -- JSON listings ---------------------------------------------------
        try:
            listing = json.loads(vm.sh("egpuctl --json list"))
            names = {f["name"]: f for f in listing["functions"]}
            good = (names[dev.bdfs[0]]["driver"] == "vfio-pci" and names[gpu]["is_gpu"] and
                    names[audio]["group"] == gpu)
            t.ok(good, "egpuctl --json list: functions, drivers, GPU group", listing)
            st = json.loads(vm.sh("egpuctl --json status"))
            t.ok(st["module"] and st["egpud"] and st["stats"]["events"] >= 2,
                 "egpuctl --json status: module counters and egpud reachable", st)
        except (ValueError, KeyError, DockError) as e:
            t.ok(False, "egpuctl --json list", e)
            t.ok(False, "egpuctl --json status", e)
        vm.run("kill %s" % mon)
        lines = [ln for ln in vm.sh("cat /tmp/monitor.json").splitlines() if ln.strip()]
        try:
            objs = [json.loads(ln) for ln in lines]
            adds = [o for o in objs if o["event"] == "pci-add"]
            t.ok(len(adds) >= 2 and all(o["seq"] > 0 for o in objs),
                 "egpuctl monitor --json: one valid object per line, pci-add seen", lines)
        except ValueError as e:
            t.ok(False, "egpuctl monitor --json: one valid object per line", "%s\n%s" % (e, lines))

        # -- hook timeout ----------------------------------------------------
        vm.sh("touch /tmp/hook-hang")
        t0 = time.monotonic()
        vm.yank("rp1")
        # the loop keeps serving while the hook hangs
        rc, _ = vm.run("egpuctl policy >/dev/null")
        served = rc == 0 and time.monotonic() - t0 < 3
        try:
            vm.wait_for("grep -q 'killed after its timeout' /tmp/egpud.log", timeout=15)
            killed = True
        except DockError:
            killed = False
        child = vm.run("cat /tmp/hook-hang.child")[1].strip()
        gone = child and vm.run("kill -0 %s 2>/dev/null" % child)[0] != 0
        t.ok(killed and gone and served,
             "hooks: a hook past its timeout is killed with its children; egpud kept serving",
             d.log() + "\nchild %s gone=%s served=%s" % (child, gone, served))

        # -- unprivileged ----------------------------------------------------
        rc, out = vm.run("%s egpuctl authorize 0-1 2>&1" % DROPUID)
        t.ok(rc == 1 and "refused" in out and "uid 65534" in out,
             "unprivileged egpuctl authorize is refused and says why", "rc=%d %s" % (rc, out))
        rc2, out2 = vm.run("%s egpuctl deauthorize --all 2>&1" % DROPUID)
        rc3, out3 = vm.run("%s egpuctl --json list 2>&1" % DROPUID)
        rc4, _ = vm.run("%s egpuctl policy 2>&1" % DROPUID)
        t.ok(rc2 == 1 and "refused" in out2 and rc3 == 0 and rc4 == 0,
             "unprivileged: read-only commands work, deauthorize refused",
             "%d %s\n%d %s" % (rc2, out2, rc3, out3))

        # -- restart mid-stream ---------------------------------------------
        st0 = d.status()
        d.stop()
        dev2 = vm.plug("rp2", kind="edu-audio")
        dev3 = vm.plug("rp3", kind="edu")
        vm.yank("rp3")
        d.start()
        ok = wait_driver(vm, dev2.bdfs, "vfio-pci")
        recs = hook_records(vm, "pci-add", dev2.bdfs[0])
        told = any(r.get("EGPUHP_RESYNC") == "1" for r in recs)
        st1 = d.status()
        t.ok(ok and told and st1["functions"] == st0["functions"] + 2,
             "egpud restarted after devices came and went: new functions bound, hooks told, "
             "state complete", d.log() + "\n%s\n%s" % (st0, st1))

        # -- burst overrun ---------------------------------------------------
        d.stop()
        vm.write_file("/etc/egpuhp/egpud.conf", CONF.format(extra="netlink-rcvbuf = 1"))
        d.start()
        base = d.status()
        vm.sh("kill -STOP %d" % d.pid)
        for _ in range(3):
            vm.plug("rp3", kind="edu-audio")
            vm.yank("rp3")
        last = vm.plug("rp3", kind="edu-audio")
        vm.sh("kill -CONT %d" % d.pid)
        ok = wait_driver(vm, last.bdfs, "vfio-pci")
        time.sleep(1)
        st = d.status()
        ref = json.loads(vm.sh("egpuctl --json list"))
        t.ok(ok and st["overruns"] >= 1 and st["resyncs"] == base["resyncs"] + 1 and
             st["functions"] == len(ref["functions"]),
             "burst overruns a tiny socket buffer: exactly one resync, state matches the module",
             d.log()[-3000:] + "\nbefore %s\nafter %s" % (base, st))

        # -- reload with a bad config ---------------------------------------
        vm.write_file("/etc/egpuhp/egpud.conf", "[daemon]\nload-module = perhaps\n")
        vm.sh("kill -HUP %d" % d.pid)
        try:
            vm.wait_for("grep -q 'reload refused' /tmp/egpud.log", timeout=10)
            line = [ln for ln in d.log().splitlines() if "reload refused" in ln][-1]
        except (DockError, IndexError):
            line = ""
        t.ok("/etc/egpuhp/egpud.conf:2:15: load-module: expected yes or no" in line and d.alive(),
             "SIGHUP with a malformed config: refused with FILE:LINE:COL, egpud keeps running",
             line or d.log()[-2000:])
        rc, out = vm.run("egpud -t -c /etc/egpuhp/egpud.conf 2>&1")
        t.ok(rc == 1 and ":2:15:" in out, "egpud -t reports the error and fails", out)

        d.stop()
        try:
            vm.check_health(since=mark)
            problems = ""
        except DockError as e:
            problems = str(e)
        t.ok(not problems, "no WARN/BUG/taint in the guest log", problems)


def tbsim_scenarios(t, kernel):
    names = ["policy iommu authorizes only with IOMMU protection",
             "policy auto / manual / deny end to end",
             "secure level: key stored on first enrollment, challenge on re-plug",
             "boot with the router connected gets the policy",
             "boltd running: egpud defers unless owner = egpud",
             "shutdown: deauthorize --all",
             "unprivileged egpuctl authorize of a router refused"]
    tbsim = os.path.join(TOP, "build", "vm", kernel, "tbsim.ko")
    if not os.path.exists(tbsim):
        for n in names:
            t.skip(n, "the dock has no simulated Thunderbolt routers (tbsim.ko) yet")
        return


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", action="append")
    args = ap.parse_args()
    kernels = args.kernel or ["6.1", "6.12"]
    for k in kernels:
        t = Tap(k)
        try:
            build_dropuid()
            pci_scenarios(t, k)
        except Exception as e:      # a harness failure is a test failure
            t.ok(False, "PCI scenarios ran to the end", repr(e))
        try:
            tbsim_scenarios(t, k)
        except Exception as e:
            t.ok(False, "Thunderbolt scenarios ran to the end", repr(e))
        t.done()
    return 0


if __name__ == "__main__":
    sys.exit(main())
