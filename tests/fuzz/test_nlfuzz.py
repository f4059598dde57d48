#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Fuzzing the egpuhp generic netlink family on the debug kernel.

egpuhp-nlfuzz (tests/fuzz/nlfuzz.c) runs twice at once in the guest: as
root with KCOV on, and as uid 65534.  Meanwhile the host hot-adds and yanks
a device again and again, and unloads and reloads egpuhp.ko under both.
Checks: at least EGPUHP_FUZZ_MESSAGES messages (1,000,000 by default) in
all; the unprivileged fuzzer never got a mutating command through and saw
each of them refused with EPERM; both fuzzers followed the family across the
reloads; the module still unloads at the end; and, through the dock's health
check, no WARN/BUG/lockdep/KASAN report, lockdep still on, no kmemleak leak
from egpuhp.  The kmod/ line coverage KCOV saw goes to
build/fuzz/<kernel>-nlfuzz.json (bench/RESULTS.md quotes it).

Runs on the -debug flavours only (KCOV, lockdep, KASAN, kmemleak); other
kernels report SKIP.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vm"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dock  # noqa: E402
from dock import vmtest  # noqa: E402
import debug_flavour  # noqa: E402
import kcov_lines  # noqa: E402

TOP = dock.TOP
MESSAGES = int(os.environ.get("EGPUHP_FUZZ_MESSAGES", "1000000"))
# The unprivileged fuzzer's requests are cheap (refused early): it takes 40%.
USER_SHARE = 0.4
RELOAD_EVERY = 3        # churn cycles between module reloads
DEBUG_FLAVOURS = debug_flavour.DEBUG_FLAVOURS
SKIP_REASON = "needs a -debug kernel (KCOV, lockdep, KASAN, kmemleak); try --kernel 6.12-debug"


def guest_json(vm, path):
    out = vm.sh("cat %s" % path).strip().splitlines()
    for line in reversed(out):
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError("%s holds no JSON result:\n%s" % (path, "\n".join(out[-20:])))


def rmmod_retry(vm, name, tries=50):
    """rmmod; a dump in progress pins the module for a moment (EBUSY)."""
    for _ in range(tries):
        rc, out = vm.run("rmmod %s" % name)
        if rc == 0:
            return True
        time.sleep(0.1)
    return False


@vmtest(ports=2, timeout=1500, kernels=DEBUG_FLAVOURS)
def test_nlfuzz(vm):
    subprocess.run(["make", "-s", "-C", os.path.join(TOP, "tests", "fuzz")], check=True)
    ko = os.path.join(TOP, "build", "kernels", vm.kernel, "egpuhp.ko")
    text_size = kcov_lines.section_size(ko, ".text")
    assert text_size > 0, "egpuhp.ko has no .text"
    vm.load_testdrv()
    vm.load_egpuhp("track_hotplug=1")
    vm.plug("rp1", kind="fn")

    # The check below must be able to fail: as root, the same accounting
    # sees mutating commands go through.
    control = json.loads(vm.sh("egpuhp-nlfuzz --user --keep-root --messages 5000 --seed 3 "
                               "| tail -n 1"))
    assert control["unpriv_mutating_ok"] > 0, \
        "control run as root saw no mutating command succeed: %s" % control
    vm.sh("rmmod egpuhp")   # forget the control run's settings and quirks
    vm.load_egpuhp("track_hotplug=1")

    n_user = int(MESSAGES * USER_SHARE)
    n_root = MESSAGES - n_user
    vm.sh("rm -f /tmp/fuzz.stop; "
          "egpuhp-nlfuzz --messages %d --seed 1 --kcov %d --cover /tmp/cover.txt "
          "--stop /tmp/fuzz.stop > /tmp/fuzz-root.json 2>&1 & echo $! > /tmp/fuzz-root.pid; "
          "egpuhp-nlfuzz --user --messages %d --seed 2 --stop /tmp/fuzz.stop "
          "> /tmp/fuzz-user.json 2>&1 & echo $! > /tmp/fuzz-user.pid"
          % (n_root, text_size, n_user))

    t0 = time.monotonic()
    cycles = reloads = reload_failures = 0
    plugged = True
    while True:
        rc, _ = vm.run("kill -0 $(cat /tmp/fuzz-root.pid) 2>/dev/null || "
                       "kill -0 $(cat /tmp/fuzz-user.pid) 2>/dev/null")
        if rc != 0:
            break
        if plugged:
            vm.yank("rp1")
        else:
            vm.plug("rp1", kind="fn")
            cycles += 1
        plugged = not plugged
        if cycles and cycles % RELOAD_EVERY == 0 and not plugged:
            if rmmod_retry(vm, "egpuhp"):
                vm.load_egpuhp("track_hotplug=1")
                reloads += 1
            else:
                reload_failures += 1
    elapsed = time.monotonic() - t0
    root = guest_json(vm, "/tmp/fuzz-root.json")
    user = guest_json(vm, "/tmp/fuzz-user.json")
    covered = [int(x, 16) for x in vm.sh("cat /tmp/cover.txt").split()]
    unloads = rmmod_retry(vm, "egpuhp")

    cov = {}
    try:
        cov = kcov_lines.coverage(vm.kernel, covered)
    except kcov_lines.CoverageError as e:
        cov = {"error": str(e)}
    total = root["messages"] + user["messages"]
    mutating = ("SET_CONFIG", "ADD_QUIRK", "DEL_QUIRK", "RESET", "EJECT")
    result = {
        "kernel": vm.kernel, "messages": total, "messages_root": root["messages"],
        "messages_user": user["messages"], "seconds": round(elapsed, 1),
        "messages_per_second": round(total / max(elapsed, 1e-3)),
        "churn_cycles": cycles, "reloads": reloads, "reload_failures": reload_failures,
        "family_resolves_root": root["resolves"], "family_resolves_user": user["resolves"],
        "abandoned_dumps": root["abandoned_dumps"] + user["abandoned_dumps"],
        "unpriv_mutating_ok": user["unpriv_mutating_ok"],
        "unpriv_eperm": {c: user["cmds"][c]["eperm"] for c in mutating},
        "unpriv_wellformed_not_eperm": user["unpriv_wellformed_not_eperm"],
        "kcov_pcs": root["cover_pcs"], "coverage": cov,
        "cmds_root": root["cmds"], "cmds_user": user["cmds"],
        "module_unloads_at_end": unloads,
        "control_root_mutating_ok": control["unpriv_mutating_ok"],
    }
    out = os.path.join(TOP, "build", "fuzz", "%s-nlfuzz.json" % vm.kernel)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    print("# nlfuzz: %d messages (%d root, %d uid 65534) in %.0f s, %d churn cycles, "
          "%d reloads; kmod/ line coverage %s%%; results %s" % (
              total, root["messages"], user["messages"], elapsed, cycles, reloads,
              cov.get("percent", "?"), out))
    if "per_file" in cov:
        print("# coverage per file: " + ", ".join(
            "%s %d/%d" % (f, d["hit"], d["lines"]) for f, d in sorted(cov["per_file"].items())))

    assert total >= MESSAGES, "only %d of %d messages sent" % (total, MESSAGES)
    assert user["unpriv_mutating_ok"] == 0, \
        "uid 65534 got %d mutating commands through: %s" % (
            user["unpriv_mutating_ok"], {c: user["cmds"][c] for c in mutating})
    missing = [c for c in mutating if user["cmds"][c]["eperm"] == 0]
    assert not missing, "uid 65534 never saw EPERM for %s: %s" % (
        missing, {c: user["cmds"][c] for c in missing})
    assert cycles >= 1 and reloads >= 1, \
        "no churn under the fuzzers (cycles %d, reloads %d)" % (cycles, reloads)
    assert root["resolves"] >= 2 and user["resolves"] >= 2, \
        "a fuzzer did not follow the family across reloads (root %d, user %d)" % (
            root["resolves"], user["resolves"])
    assert unloads, "egpuhp.ko does not unload after the fuzzing"
    # A batch that straddles a reload maps some PCs with the other load's
    # base (30 of 1000-odd in a 60,000-message run): a few, not a mapping off.
    assert "error" not in cov and cov.get("stray_pcs", 1) * 10 <= len(covered), \
        "KCOV PCs do not map onto egpuhp.ko: %s" % cov
    assert root["cover_pcs"] > 0, "KCOV saw no egpuhp code"


if __name__ == "__main__":
    sys.exit(debug_flavour.main("test_nlfuzz", SKIP_REASON))
