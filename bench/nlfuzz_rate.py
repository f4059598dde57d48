#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""What one netlink message costs the debug kernel under TCG: runs
egpuhp-nlfuzz (tests/fuzz/nlfuzz.c) in one dock VM with each set of
arguments given (default: a few that separate genl's own cost from
egpuhp's) and prints JSON with the wall time and the CPU time QEMU used for
each (QEMU's CPU time is the guest's work: it varies less than the wall
time with the load of a shared machine).

  python3 bench/nlfuzz_rate.py [--kernel 6.12-debug] [--messages N] ["ARGS" ...]
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "vm"))
import dock  # noqa: E402

DEFAULT_VARIANTS = [
    "--seed 1",                                         # the fuzz test's root mix
    "--user --seed 2",                                  # uid 65534's mix
    "--seed 1 --batch 16 --ack 100",                    # one sendmsg per 16, every success acked
    "--only UNSPEC --clean --ack 0",                    # refused by genl before egpuhp
    "--only GET_STATS --clean --ack 0",                 # a reply, nothing else
    "--only GET_STATS --clean --ack 100",               # a reply and an ack
]


def qemu_cpu(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", default="6.12-debug")
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("variants", nargs="*", default=DEFAULT_VARIANTS)
    args = ap.parse_args()
    res = {"kernel": args.kernel, "messages": args.messages, "runs": []}
    with dock.Dock(kernel=args.kernel, ports=2) as vm:
        vm.load_testdrv()
        vm.load_egpuhp("track_hotplug=1")
        vm.plug("rp1", kind="fn")
        for v in args.variants:
            c0, t0 = qemu_cpu(vm.proc.pid), time.monotonic()
            out = vm.sh("egpuhp-nlfuzz --messages %d %s | tail -n 1" % (args.messages, v),
                        timeout=1800)
            c1, t1 = qemu_cpu(vm.proc.pid), time.monotonic()
            got = json.loads(out.strip().splitlines()[-1])["messages"]
            run = {"args": v, "messages": got, "wall_s": round(t1 - t0, 1),
                   "qemu_cpu_s": round(c1 - c0, 1),
                   "qemu_cpu_ms_per_message": round(1000 * (c1 - c0) / max(got, 1), 2)}
            res["runs"].append(run)
            print("# %s" % json.dumps(run), file=sys.stderr, flush=True)
    res["load_average"] = os.getloadavg()
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
