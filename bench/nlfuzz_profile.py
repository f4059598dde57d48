#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Where the debug kernel's time goes while egpuhp-nlfuzz runs: a sampling
profile of the guest taken from outside.  One dock VM; while the fuzzer runs
with each set of arguments given, the guest's instruction pointer is read
through QMP (`info registers`, which stops the vCPU at a translation-block
boundary) SAMPLE_HZ times a second and mapped onto the kernel's symbols
(System.map, shifted by the KASLR offset read from /proc/kallsyms) and
egpuhp.ko's.  Leaf functions only (no call chains), grouped by the debug
feature they belong to.  Prints JSON.

What the samples can and cannot say: under TCG the guest's RIP is written
back to the CPU state at translation-block exits, not inside chained blocks,
so a sample names the last block that left to QEMU's loop; HLT (the idle
loop) always exits, so "scheduler/idle" is over-counted -- QEMU's CPU time
against the wall time (both in the output) says how busy the guest really
was.  The shares of the other groups are rough, not exact.

  python3 bench/nlfuzz_profile.py [--kernel 6.12-debug] [--seconds S] ["ARGS" ...]
"""

import argparse
import bisect
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "vm"))
import dock  # noqa: E402

DEFAULT_VARIANTS = ["--seed 1", "--user --seed 2", "--seed 1 --kcov %(text)d"]
SAMPLE_HZ = 40
# leaf function name -> group (first match wins)
GROUPS = [
    ("kcov", r"^__sanitizer_cov|^kcov|^check_kcov_mode|^write_comp_data"),
    ("kasan", r"kasan|^__asan|^check_region|^memory_is_|^__hwasan|^qlist|^quarantine"),
    ("stack unwinding/depot", r"unwind|stack_trace|stack_depot|^arch_stack_walk|"
                              r"^orc_|^__orc|^deref_stack|^stack_access_ok|^in_.*stack|"
                              r"^get_stack_info|^is_bpf_text|^__kernel_text_address|"
                              r"^kernel_text_address|^core_kernel_text|^is_module_text"),
    ("kmemleak", r"kmemleak|^scan_|^lookup_object|^__find_and_get|^create_object"),
    ("lockdep", r"^lock_|^__lock_|^mark_lock|^check_|^validate_chain|^hlist_bl|"
                r"^lockdep|^look_up_lock|^__bfs|^mark_usage|^hlock|^debug_lockdep|"
                r"^register_lock_class|^reacquire|^find_held|^match_held|^lock_is_held|"
                r"^__lock_is_held|^trace_hardirqs|^trace_softirqs|^lockdep_hardirqs"),
    ("debugobjects", r"debug_object|^lookup_object_or_alloc|^__debug_check"),
    ("fault injection", r"should_fail|^fail_|^should_failslab|fault_inject"),
    ("netlink/genl", r"netlink|^genl|^nla_|^__nla|^nlmsg|^ctrl_"),
    ("skb/slab/page", r"skb|^kmem_cache|^kmalloc|^__kmalloc|^kfree|^slab|^___slab|"
                      r"^__slab|^alloc_pages|^__alloc_pages|^free_pages|^__free_pages|"
                      r"^get_page_from_freelist|^rmqueue|^free_unref|^__rmqueue"),
    ("copy/usercopy", r"copy_|^memcpy|^memset|^memmove|^_copy|^rep_movs|^clear_user"),
    ("scheduler/idle", r"^default_idle|^cpu_idle|^do_idle|^acpi_idle|^native_safe_halt|"
                       r"^pv_native_safe_halt|^schedule|^__schedule|^finish_task_switch"),
]


def load_map(path, offset=0):
    addrs, names = [], []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 3 and p[1].lower() in ("t", "w"):
                addrs.append(int(p[0], 16) + offset)
                names.append(p[2])
    order = sorted(range(len(addrs)), key=addrs.__getitem__)
    return [addrs[i] for i in order], [names[i] for i in order]


def group_of(name):
    for g, rx in GROUPS:
        if re.search(rx, name):
            return g
    return "other kernel"


def profile(vm, cmd, kmap, mods, hz):
    """Runs CMD in the guest (backgrounded) and samples RIP until it ends."""
    vm.sh("rm -f /tmp/prof.done; (%s > /tmp/prof.out 2>&1; touch /tmp/prof.done) &" % cmd)
    samples = {}
    n = 0
    t0 = time.monotonic()
    last_check = t0
    while True:
        out = vm.qmp.hmp("info registers")
        m = re.search(r"RIP=([0-9a-f]+)", out)
        cpl = re.search(r"CPL=(\d)", out)
        if m:
            rip = int(m.group(1), 16)
            if cpl and cpl.group(1) == "3":
                name = "(user)"
            else:
                name = None
                for mod, (base, addrs, names) in mods.items():
                    i = bisect.bisect_right(addrs, rip) - 1
                    if i >= 0 and rip - addrs[i] < 0x10000 and rip >= base:
                        name = "%s [%s]" % (names[i], mod)
                        break
                if name is None:
                    i = bisect.bisect_right(kmap[0], rip) - 1
                    name = kmap[1][i] if i >= 0 else "?"
            samples[name] = samples.get(name, 0) + 1
            n += 1
        time.sleep(1.0 / hz)
        now = time.monotonic()
        if now - last_check > 2:
            last_check = now
            if vm.run("test -e /tmp/prof.done")[0] == 0:
                break
    return n, samples, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", default="6.12-debug")
    ap.add_argument("--messages", type=int, default=4000)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("variants", nargs="*", default=DEFAULT_VARIANTS)
    args = ap.parse_args()
    env = dock.kernel_env(args.kernel)
    smap = os.path.join(os.path.dirname(env["VMLINUZ"]), "System.map-%s" % env["KVER"])
    res = {"kernel": args.kernel, "messages": args.messages, "hz": SAMPLE_HZ, "runs": []}
    with dock.Dock(kernel=args.kernel, ports=2) as vm:
        vm.load_testdrv()
        vm.load_egpuhp("track_hotplug=1")
        vm.plug("rp1", kind="fn")
        stext = int(vm.sh("grep -w _stext /proc/kallsyms | cut -d' ' -f1").split()[0], 16)
        base_map = load_map(smap)
        st = base_map[0][base_map[1].index("_stext")] if "_stext" in base_map[1] else 0
        kmap = load_map(smap, stext - st)
        text_size = int(vm.sh("cat /sys/module/egpuhp/coresize"))
        mods = {}
        for mod in ("egpuhp", "tbsim", "egpuhp_testdrv"):
            rows = vm.sh("grep '\\[%s\\]' /proc/kallsyms || true" % mod).split("\n")
            a, nm = [], []
            for r in rows:
                p = r.split()
                if len(p) >= 3 and p[1].lower() == "t":
                    a.append(int(p[0], 16))
                    nm.append(p[2])
            if a:
                order = sorted(range(len(a)), key=a.__getitem__)
                mods[mod] = (min(a), [a[i] for i in order], [nm[i] for i in order])
        for v in args.variants:
            v = v % {"text": text_size}
            cmd = "egpuhp-nlfuzz --messages %d %s" % (args.messages, v)
            if "--kcov" in v:
                cmd += " --cover /tmp/prof-cover.txt"
            c0 = dock_cpu(vm)
            n, samples, wall = profile(vm, cmd, kmap, mods, SAMPLE_HZ)
            c1 = dock_cpu(vm)
            out = vm.sh("tail -n 1 /tmp/prof.out")
            try:
                got = json.loads(out.strip().splitlines()[-1])["messages"]
            except (ValueError, IndexError, KeyError):
                got = None
            groups = {}
            for name, c in samples.items():
                g = "egpuhp" if "[egpuhp]" in name else \
                    "(user)" if name == "(user)" else group_of(name)
                groups[g] = groups.get(g, 0) + c
            top = sorted(samples.items(), key=lambda x: -x[1])[:args.top]
            run = {"args": v, "messages": got, "wall_s": round(wall, 1),
                   "qemu_cpu_s": round(c1 - c0, 1),
                   "qemu_cpu_ms_per_message": round(1000 * (c1 - c0) / got, 2) if got else None,
                   "samples": n,
                   "groups_percent": {g: round(100.0 * c / max(n, 1), 1) for g, c in
                                      sorted(groups.items(), key=lambda x: -x[1])},
                   "top": [[k, round(100.0 * c / max(n, 1), 1)] for k, c in top]}
            res["runs"].append(run)
            print("# %s" % json.dumps(run), file=sys.stderr, flush=True)
    res["load_average"] = os.getloadavg()
    print(json.dumps(res, indent=1))


def dock_cpu(vm):
    fields = open("/proc/%d/stat" % vm.proc.pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
