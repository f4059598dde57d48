# SPDX-License-Identifier: GPL-2.0
"""Helpers shared by the egpuhp.ko VM tests and benchmark: TAP output and
the guest-side test listener (build/guest/bin/egpuhp-listen)."""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "vm"))


def build_listener():
    """Builds build/guest/bin/egpuhp-listen (the dock copies it into the guest)."""
    res = subprocess.run(["make", "-s", "-C", HERE, "all"], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError("building egpuhp-listen failed:\n" + res.stdout + res.stderr)


class Tap:
    """TAP lines for one kernel; the plan is printed at the end."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.n = 0
        self.failed = 0

    def _line(self, ok, name, extra=""):
        self.n += 1
        print("%s %d - [%s] %s%s" % ("ok" if ok else "not ok", self.n, self.kernel, name, extra))
        sys.stdout.flush()

    def check(self, cond, name, diag=None):
        self._line(bool(cond), name)
        if not cond:
            self.failed += 1
            if diag is not None:
                for line in str(diag).splitlines()[-60:]:
                    print("#   " + line)
        return bool(cond)

    def skip(self, name, reason):
        self._line(True, name, " # SKIP %s" % reason)

    def note(self, text):
        for line in str(text).splitlines():
            print("# " + line)


def parse_json_lines(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"type": "garbage", "line": line})
    return out


class Listener:
    """egpuhp-listen running in the background inside the guest."""

    def __init__(self, vm, name, args=""):
        self.vm, self.name = vm, name
        self.path = "/tmp/%s.json" % name
        self.pid = vm.sh("egpuhp-listen %s > %s 2>&1 & echo $!" % (args, self.path)).strip()
        vm.wait_for("grep -q '\"type\":\"ready\"' %s" % self.path, timeout=20)

    def lines(self):
        return parse_json_lines(self.vm.sh("cat %s" % self.path))

    def events(self):
        return [e for e in self.lines() if e.get("type") == "event"]

    def uevents(self):
        return [e for e in self.lines() if e.get("type") == "uevent"]

    def wait_events(self, pred, count=1, timeout=15):
        """Waits until COUNT events satisfy PRED; returns all events."""
        end = time.time() + timeout
        while True:
            evs = self.events()
            if sum(1 for e in evs if pred(e)) >= count or time.time() > end:
                return evs
            time.sleep(0.2)

    def stop(self):
        self.vm.run("kill %s 2>/dev/null; sleep 0.1" % self.pid)

    def wait_exit(self, timeout=30):
        self.vm.wait_for("! kill -0 %s" % self.pid, timeout=timeout)


def guest_json(vm, args, timeout=60):
    """Runs egpuhp-listen ARGS in the guest; returns its JSON lines."""
    _, out = vm.run("egpuhp-listen %s" % args, timeout=timeout)
    return parse_json_lines(out)


def results(lines):
    """op -> (error, extack) of the result lines."""
    return {l["op"]: (l["error"], l.get("extack", "")) for l in lines if l.get("type") == "result"}


def dev_of(e):
    return e.get("dev", {}).get("name")


def testdrv_times(vm):
    """bdf -> list of (what, t, fields) from egpuhp_testdrv's event file."""
    out = {}
    for line in vm.testdrv_events():
        parts = line.split()
        if len(parts) < 3 or not parts[2].startswith("t="):
            continue
        fields = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
        out.setdefault(parts[1], []).append((parts[0], int(fields["t"]), fields))
    return out


def bind_testdrv(vm, bdf):
    """Binds egpuhp_testdrv to BDF whatever it is (driver_override)."""
    d = "/sys/bus/pci/devices/%s" % bdf
    vm.sh("echo egpuhp_testdrv > {d}/driver_override; "
          "if [ -e {d}/driver ]; then echo {b} > {d}/driver/unbind; fi; "
          "echo {b} > /sys/bus/pci/drivers_probe; "
          "readlink {d}/driver | grep -q egpuhp_testdrv".format(d=d, b=bdf))
