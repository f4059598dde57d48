#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checkpoint/restore throughput of a CUDA process: egpuhp vs the driver.

In one run, for 1, 4 and 16 GiB of device memory held by tests/gpu/cuda_worker:
  - through egpud: wall time of "egpuctl checkpoint PID" and "egpuctl restore
    PID" (socket hop, egpud, engine helper, pre-flight checks, driver calls);
  - direct: bench/cuda_checkpoint_direct, the driver calls alone
    (lock+checkpoint, restore+unlock), timed around the calls;
  - the pinned-memory H2D/D2H copy bandwidth of the same GPU (the link's limit).
GB/s are 1e9 bytes per second of the worker's allocation.  Each size is
measured --reps times per path (alternating order), the median is reported, after
one untimed warm-up cycle per path (module load, cuInit, helper start).
Target: egpud within 5% of direct.  Prints one JSON document (and --out FILE).

  cuda_checkpoint.py [--bin build/gpu] [--user-bin build/user] [--sizes 1,4,16]
                     [--reps 5,4,3] [--client auto|egpuctl|gwtool] [--out FILE]

Besides the ratio of medians (which also holds the driver's own run-to-run
spread, several percent), the time egpuhp adds around the driver calls is
reported per call (egpud_added_ms: wall time minus the driver calls' time
measured inside the engine).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "tests", "gpu"))
import gpu_tests  # noqa: E402  (Worker, Client, start/stop_egpud, gpu_list, print_result)

GIB = 1 << 30


def direct_cycle(exe, pid, log):
    p = subprocess.run([exe, str(pid)], capture_output=True, text=True)
    log.write("$ %s %d [rc=%d]\n%s%s\n" % (exe, pid, p.returncode, p.stdout, p.stderr))
    if p.returncode:
        raise RuntimeError("direct cycle failed: " + p.stderr.strip())
    d = json.loads(p.stdout)
    return d["lock_ms"] + d["checkpoint_ms"], d["restore_ms"] + d["unlock_ms"], d


def egpud_cycle(client, pid):
    """Wall times of the two calls, and how much of each was not the driver."""
    rc, ck, t_ck = client.call("checkpoint", pid)
    if rc or not ck.get("ok"):
        raise RuntimeError("checkpoint through egpuhp failed: %s" % ck)
    rc, rs, t_rs = client.call("restore", pid)
    if rc or not rs.get("ok"):
        raise RuntimeError("restore through egpuhp failed: %s" % rs)
    drv_ck = sum(ck["steps"][k]["ms"] for k in ("lock", "checkpoint"))
    drv_rs = sum(rs["steps"][k]["ms"] for k in ("restore", "unlock"))
    return t_ck, t_rs, {"checkpoint": ck.get("steps"), "restore": rs.get("steps"),
                        "overhead_ms": [round(t_ck - drv_ck, 2), round(t_rs - drv_rs, 2)]}


def gbps(nbytes, ms):
    return round(nbytes / (ms * 1e6), 3) if ms > 0 else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("GPU_BIN_DIR", "build/gpu"))
    ap.add_argument("--user-bin", default=os.environ.get("USER_BIN_DIR", "build/user"))
    ap.add_argument("--sizes", default="1,4,16")
    ap.add_argument("--reps", default="5,4,3",
                    help="repetitions per path, one number or one per size")
    ap.add_argument("--client", choices=["auto", "egpuctl", "gwtool"], default="auto")
    ap.add_argument("--out")
    ap.add_argument("--log", default=os.devnull)
    a = ap.parse_args()
    log = open(a.log, "a")

    ok, why = gpu_tests.nvidia_present()
    if not ok:
        print(json.dumps({"skipped": why}))
        return 0
    rundir = tempfile.mkdtemp(prefix="egpuhp-bench-")
    os.environ["EGPUHP_RUN_DIR"] = rundir
    egpud, client, path = None, None, None
    if a.client in ("auto", "egpuctl"):
        egpud, env = gpu_tests.start_egpud(a.user_bin, rundir, log)
        if egpud:
            client = gpu_tests.Client([os.path.join(a.user_bin, "egpuctl")], log, env)
            path = "egpuctl -> egpud -> gpuwork helper"
    if not client:
        if a.client == "egpuctl":
            print(json.dumps({"error": "egpud not available"}))
            return 1
        client = gpu_tests.Client([os.path.join(a.bin, "gwtool")], log)
        path = "gwtool -> gpuwork helper (egpud not available)"
    direct = os.path.join(a.bin, "cuda_checkpoint_direct")
    worker_exe = os.path.join(a.bin, "cuda_worker")
    gpus = gpu_tests.gpu_list()

    bw = subprocess.run([os.path.join(a.bin, "cuda_pinned_bw"), "--device", "0", "--mib",
                         "2048"], capture_output=True, text=True)
    pinned = json.loads(bw.stdout) if bw.returncode == 0 else {"error": bw.stderr}

    sizes = [int(x) for x in a.sizes.split(",")]
    reps = [int(x) for x in a.reps.split(",")]
    reps += [reps[-1]] * (len(sizes) - len(reps))
    result = {"gpu": {"pci": gpus[0][0], "name": gpus[0][2]}, "egpuhp_path": path,
              "pinned_copy": pinned, "sizes": []}
    first = True
    try:
        for gib, nrep in zip(sizes, reps):
            nbytes = gib * GIB
            w = gpu_tests.Worker(worker_exe, ["--mib", str(gib * 1024), "--iters", "1000000",
                                              "--sleep-ms", "100", "--device", "0"], log)
            if not w.wait_ready():
                raise RuntimeError("worker of %d GiB did not start: %s" % (gib, w.lines))
            time.sleep(0.5)
            if first:   # warm-up: driver load, cuInit in the helper, page cache
                direct_cycle(direct, w.pid, log)
                egpud_cycle(client, w.pid)
                first = False
            d_ck, d_rs, e_ck, e_rs, e_steps, d_raw = [], [], [], [], [], []
            for rep in range(nrep):
                # alternate which path goes first, so drift favours neither
                for path_first in ((0, 1) if rep % 2 == 0 else (1, 0)):
                    if path_first == 0:
                        ck, rs, raw = direct_cycle(direct, w.pid, log)
                        d_ck.append(ck)
                        d_rs.append(rs)
                        d_raw.append(raw)
                    else:
                        ck, rs, steps = egpud_cycle(client, w.pid)
                        e_ck.append(ck)
                        e_rs.append(rs)
                        e_steps.append(steps)
            w.p.kill()
            w.finish(timeout=30)
            m = {k: statistics.median(v) for k, v in
                 (("d_ck", d_ck), ("d_rs", d_rs), ("e_ck", e_ck), ("e_rs", e_rs))}
            ovh_ck = statistics.median(x["overhead_ms"][0] for x in e_steps)
            ovh_rs = statistics.median(x["overhead_ms"][1] for x in e_steps)
            result["sizes"].append({
                "gib": gib,
                "reps": nrep,
                "direct": {"checkpoint_ms": round(m["d_ck"], 1),
                           "restore_ms": round(m["d_rs"], 1),
                           "checkpoint_gbps": gbps(nbytes, m["d_ck"]),
                           "restore_gbps": gbps(nbytes, m["d_rs"]),
                           "runs": d_raw},
                "egpud": {"checkpoint_ms": round(m["e_ck"], 1),
                          "restore_ms": round(m["e_rs"], 1),
                          "checkpoint_gbps": gbps(nbytes, m["e_ck"]),
                          "restore_gbps": gbps(nbytes, m["e_rs"]),
                          "engine_steps": e_steps,
                          "all_checkpoint_ms": [round(x, 1) for x in e_ck],
                          "all_restore_ms": [round(x, 1) for x in e_rs]},
                "egpud_vs_direct_pct": {
                    "checkpoint": round((m["e_ck"] / m["d_ck"] - 1) * 100, 2),
                    "restore": round((m["e_rs"] / m["d_rs"] - 1) * 100, 2)},
                # time egpuhp adds around the driver calls (egpuctl, socket,
                # egpud, helper, pre-flight), median, and as % of direct
                "egpud_added_ms": {"checkpoint": ovh_ck, "restore": ovh_rs},
                "egpud_added_pct": {
                    "checkpoint": round(ovh_ck / m["d_ck"] * 100, 2),
                    "restore": round(ovh_rs / m["d_rs"] * 100, 2)},
            })
    finally:
        gpu_tests.stop_egpud(egpud)
        if "gwtool" in client.prefix[0]:
            subprocess.run(client.prefix + ["--shutdown"], capture_output=True)
    worst = max(max(s["egpud_vs_direct_pct"].values()) for s in result["sizes"])
    added = max(max(s["egpud_added_pct"].values()) for s in result["sizes"])
    result["target"] = "egpud within 5% of direct"
    result["worst_overhead_pct"] = worst
    result["worst_added_pct"] = added
    result["target_met"] = worst <= 5.0
    gpu_tests.print_result(result, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
