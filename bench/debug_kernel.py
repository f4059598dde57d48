#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Collects the figures of one debug-kernel run into bench/results/.

    python3 tests/runner.py --kernels 6.12-debug --no-lint    # or the two tests alone
    python3 bench/debug_kernel.py [--kernel 6.12-debug]

reads what the run left behind -- the kernel build's env (build seconds,
cache key), build/fuzz/<kernel>-nlfuzz.json (tests/fuzz/test_nlfuzz.py),
build/fault/<kernel>-fault.json (tests/fault/test_fault.py) and the kmemleak
notes in the VM logs -- and writes bench/results/debug-kernel-<kernel>.json.
Nothing is measured here; a figure that is missing stays null.
"""

import argparse
import json
import os
import subprocess

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def kernel_env(kernel):
    root = subprocess.run([os.path.join(TOP, "tests", "vm", "kernels.sh"), "path", kernel,
                           "root"], capture_output=True, text=True).stdout.strip()
    env = {}
    try:
        with open(os.path.join(os.path.dirname(root), "env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                env[k] = v.strip('"')
    except OSError:
        pass
    return env


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", default="6.12-debug")
    args = ap.parse_args()
    env = kernel_env(args.kernel)
    fuzz = load(os.path.join(TOP, "build", "fuzz", "%s-nlfuzz.json" % args.kernel)) or {}
    fault = load(os.path.join(TOP, "build", "fault", "%s-fault.json" % args.kernel)) or {}
    cov = fuzz.get("coverage", {})
    result = {
        "kernel": args.kernel, "kver": env.get("KVER"), "cache_key": env.get("KEY"),
        "source_version": env.get("SOURCE_VERSION"),
        "build_seconds": int(env["BUILD_SECONDS"]) if env.get("BUILD_SECONDS") else None,
        "fuzz_messages": fuzz.get("messages"), "fuzz_seconds": fuzz.get("seconds"),
        "fuzz_messages_per_second": fuzz.get("messages_per_second"),
        "churn_cycles": fuzz.get("churn_cycles"), "reloads": fuzz.get("reloads"),
        "unpriv_mutating_ok": fuzz.get("unpriv_mutating_ok"),
        "coverage_percent": cov.get("percent"), "coverage_lines": cov.get("lines"),
        "coverage_hit": cov.get("hit"), "coverage_per_file": cov.get("per_file"),
        "fault_failures_injected": fault.get("failures_injected"),
        # the per-site sweep: allocating call sites in egpuhp.ko, and those
        # that failed once each (tests/fault/test_fault.py)
        "fault_call_sites": fault.get("call_sites"),
        "fault_call_sites_failed": fault.get("call_sites_failed"),
        "fault_problems": fault.get("problems"),
    }
    out = os.path.join(TOP, "bench", "results", "debug-kernel-%s.json" % args.kernel)
    with open(out, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    print(json.dumps(result, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
