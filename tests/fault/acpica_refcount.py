#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Reproducer, not a test: an allocation failure inside ACPICA's reference
count update (acpi_ut_update_object_reference() pushing a sub-object's
update state) while a PCI function is removed, on the debug kernel, with
egpuhp.ko not loaded at all (--egpuhp: with it loaded, removing through its
EJECT instead, as the full fault sweep once did).

The range that fault injection requires on the stack is
acpi_ut_update_object_reference()'s own code, so only the allocations of
that function's update-state pushes count; fail-nth 1, 2, ... is armed on
the task that writes the function's sysfs "remove" (or sends EJECT).  After
each removal the function is hot-added again (sysfs rescan).  Prints each
step's ACPI and KASAN lines and a JSON summary; the console stays in
build/vm/logs/.

  python3 tests/fault/acpica_refcount.py [--kernel 6.12-debug] [--egpuhp] [--max N]
"""

import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vm"))
import dock  # noqa: E402

FS = "/sys/kernel/debug/failslab"
FP = "/sys/kernel/debug/fail_page_alloc"
FUNC = "acpi_ut_update_object_reference"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", default="6.12-debug")
    ap.add_argument("--egpuhp", action="store_true")
    ap.add_argument("--max", type=int, default=40)
    args = ap.parse_args()
    res = {"kernel": args.kernel, "egpuhp": args.egpuhp, "steps": []}
    with dock.Dock(kernel=args.kernel, ports=2) as vm:
        vm.load_testdrv()
        if args.egpuhp:
            vm.load_egpuhp("track_hotplug=1")
        edu = vm.plug("rp1", kind="fn").bdfs[0]
        # the function's code range from kallsyms (the next symbol ends it)
        syms = vm.sh("sort /proc/kallsyms | grep -A1 -w '%s$' | head -2" % FUNC).split("\n")
        start, end = int(syms[0].split()[0], 16), int(syms[1].split()[0], 16)
        res["range"] = [hex(start), hex(end)]
        cfg = []
        for d in (FS, FP):
            cfg += ["echo 0 > %s/probability" % d, "echo -1 > %s/times" % d,
                    "echo 2 > %s/verbose" % d, "echo 0 > %s/verbose_ratelimit_burst" % d,
                    "echo N > %s/task-filter" % d, "echo 32 > %s/stacktrace-depth" % d,
                    "echo N > %s/ignore-gfp-wait" % d,
                    "echo 0x%x > %s/require-start" % (start, d),
                    "echo 0x%x > %s/require-end" % (end, d)]
        vm.sh("; ".join(cfg) + "; dmesg -c > /dev/null; dmesg -n 4")
        pdir = "/sys/bus/pci/devices/%s" % edu
        action = ("--one EJECT --dev %s" % edu) if args.egpuhp else "--write %s/remove 1" % pdir
        for nth in range(1, args.max + 1):
            out = vm.sh("egpuhp-nlfuzz --fail-nth %d %s 2>&1" % (nth, action), timeout=300)
            # hot-add it again from this side (the slot still holds it)
            vm.sh("sleep 1; echo 1 > /sys/bus/pci/rescan; n=0; "
                  "while [ ! -e %s ] && [ $n -lt 200 ]; do sleep 0.1; n=$((n+1)); done" % pdir,
                  timeout=300)
            text = vm.sh("dmesg -c", timeout=120)
            injected = "fail_nth_left=0" in out
            lines = [ln for ln in text.splitlines()
                     if re.search(r"ACPI|KASAN|BUG|acpi_|Call Trace|FAULT_INJECTION", ln)]
            step = {"nth": nth, "injected": injected, "result": out.strip().splitlines()[-2:],
                    "kasan": "KASAN" in text, "acpi_errors": [ln for ln in lines if "ACPI" in ln]}
            res["steps"].append(step)
            print("## step %d: %s\n%s" % (nth, json.dumps(step), "\n".join(
                ln for ln in text.splitlines()[:200])), file=sys.stderr, flush=True)
            if "KASAN" in text or not injected:
                break
        res["console"] = vm.console_path
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
