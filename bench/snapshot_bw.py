#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""libegpu snapshots against the pinned-copy bandwidth and the driver
checkpoint, on a real GPU (issue 14).  For each size (1, 8, 32 GiB of
device memory in four equal torch.uint8 CUDA tensors) one worker process
holds the buffers and measures, in this order:

  pinned_d2h/h2d   plain pinned copies of the same buffers (one pinned host
                   buffer of a quarter's size, each tensor in turn, CUDA
                   events around all four): the link's limit;
  driver           egpud's driver checkpoint of that same worker process
                   ("egpuctl checkpoint PID", then "egpuctl restore PID":
                   egpud -> gpuwork helper -> cuCheckpointProcess*), wall
                   time and the driver calls' own times, while the worker
                   waits on its pipe (before any snapshot set exists);
  snapshot         egpu.SnapshotSet: register the four tensors (the pinned
                   host slots: 2 x size), then take_wait() on the program's
                   stream, --reps times after one warm-up; time of the call;
  restore          restore_into() every tensor from the host copy (H2D into
                   the program's own tensors), and once restore() onto the
                   same GPU (libegpu allocates the memory);
  incremental      a set with explicit_dirty: every 10th 2 MiB chunk of each
                   tensor marked dirty (10%), take_wait();
  stream_pause     a chain of 200 small kernels on the program's stream
                   (x.add_(1) on 1 MiB) timed with CUDA events: alone, and
                   enqueued right after take() (the stream waits for the
                   copy); plus the same chain on another stream during a
                   snapshot, and the time take() held the calling thread.

A sample of every host copy (first and last MiB of each tensor) is
compared with the device data.  GB/s are 1e9 bytes per second.  Targets
(issue 14): snapshot >= 80% of the pinned D2H bandwidth, >= 20x faster than
the driver checkpoint.  Prints one JSON document (and --out FILE).

  snapshot_bw.py [--user-bin build/user] [--sizes 1,8,32] [--reps 3]
                 [--no-driver] [--out FILE] [--log FILE]

Needs torch with CUDA, build/user/libegpu.so (or $EGPUHP_LIBEGPU), and
for the driver checkpoint build/user/egpud and egpuctl; run as root.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(TOP, "python"))
sys.path.insert(0, os.path.join(TOP, "tests", "gpu"))
GIB = 1 << 30
MIB = 1 << 20


def gbps(nbytes, ms):
    return round(nbytes / (ms * 1e6), 2) if ms else None


# ---------------------------------------------------------------- worker

def worker(gib, reps):
    import torch
    import egpu

    dev = torch.device("cuda", 0)
    torch.cuda.init()
    total = gib * GIB
    quarter = total // 4
    bufs = []
    for i in range(4):
        t = torch.empty(quarter, dtype=torch.uint8, device=dev)
        t.random_(0, 256, generator=torch.Generator(device=dev).manual_seed(i))
        bufs.append(t)
    stream = torch.cuda.current_stream(dev)
    torch.cuda.synchronize()
    res = {"gib": gib, "bytes": total, "buffers": 4, "pid": os.getpid(),
           "torch": torch.__version__}

    def ev_time(fn, on=None):
        s = on or stream
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(s)
        fn()
        b.record(s)
        b.synchronize()
        return a.elapsed_time(b)

    # pinned baseline, the same buffers
    host = torch.empty(quarter, dtype=torch.uint8, pin_memory=True)
    side = torch.cuda.Stream(dev)

    def d2h():
        with torch.cuda.stream(side):
            for t in bufs:
                host.copy_(t, non_blocking=True)

    def h2d():
        with torch.cuda.stream(side):
            for t in bufs:
                t.copy_(host, non_blocking=True)
    d2h_ms = [ev_time(d2h, side) for _ in range(reps + 1)][1:]     # after a warm-up
    res["pinned_d2h_ms"] = round(statistics.median(d2h_ms), 2)
    res["pinned_d2h_gbps"] = gbps(total, statistics.median(d2h_ms))
    h2d_ms = []
    for _ in range(reps + 1):
        # restore each buffer's own bytes: D2H of it first (untimed), then H2D (timed)
        one = []
        for t in bufs:
            with torch.cuda.stream(side):
                host.copy_(t, non_blocking=True)
            side.synchronize()

            def up(t=t):
                with torch.cuda.stream(side):
                    t.copy_(host, non_blocking=True)
            one.append(ev_time(up, side))
        h2d_ms.append(sum(one))
    h2d_ms = h2d_ms[1:]
    res["pinned_h2d_ms"] = round(statistics.median(h2d_ms), 2)
    res["pinned_h2d_gbps"] = gbps(total, statistics.median(h2d_ms))
    del host
    torch.cuda.synchronize()
    if hasattr(torch._C, "_host_emptyCache"):
        torch._C._host_emptyCache()     # give the pinned buffer back before the sets pin theirs

    # the parent checkpoints this process through egpud now
    print("READY pid=%d" % os.getpid(), flush=True)
    line = sys.stdin.readline().strip()
    if line != "go":
        return
    torch.cuda.synchronize()

    # full snapshots
    t0 = time.monotonic()
    s = egpu.SnapshotSet(0)
    for i, t in enumerate(bufs):
        s.register("buf%d" % i, t.data_ptr(), quarter)
    res["register_s"] = round(time.monotonic() - t0, 2)
    snap_ms = []
    for r in range(reps + 1):
        t1 = time.monotonic()
        s.take_wait(stream)
        snap_ms.append((time.monotonic() - t1) * 1e3)
    inf = s.info()
    snap_ms = snap_ms[1:]
    res["snapshot_ms"] = [round(x, 2) for x in snap_ms]
    res["snapshot_ms_median"] = round(statistics.median(snap_ms), 2)
    res["snapshot_gbps"] = gbps(total, statistics.median(snap_ms))
    res["snapshot_last_copied"] = inf.last_copied
    bad = 0
    for i, t in enumerate(bufs):
        v = s.host_copy("buf%d" % i)
        for off in (0, quarter - MIB):
            host_part = torch.frombuffer(bytearray(v[off:off + MIB]), dtype=torch.uint8)
            if not torch.equal(host_part, t[off:off + MIB].cpu()):
                bad += 1
    res["snapshot_sample_mismatches"] = bad

    # stream pause: a chain of small kernels on the program's stream
    small = torch.zeros(MIB // 4, dtype=torch.float32, device=dev)

    def chain():
        for _ in range(200):
            small.add_(1)
    chain()
    torch.cuda.synchronize()
    alone = [ev_time(chain) for _ in range(reps)]
    during, held, other = [], [], []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(stream)
        t1 = time.monotonic()
        s.take(stream)
        held.append((time.monotonic() - t1) * 1e3)
        chain()
        b.record(stream)
        b.synchronize()
        during.append(a.elapsed_time(b))
        s.wait()
        # the same chain on another stream while a snapshot runs
        s.take(stream)

        def chain_on_side():
            with torch.cuda.stream(side):
                chain()
        other.append(ev_time(chain_on_side, side))
        s.wait()
    res["stream_pause"] = {
        "chain": "200 x add_(1) on 1 MiB, program's stream",
        "chain_alone_ms": round(statistics.median(alone), 3),
        "chain_after_take_ms": round(statistics.median(during), 3),
        "pause_ms": round(statistics.median(during) - statistics.median(alone), 2),
        "snapshot_ms": res["snapshot_ms_median"],
        "take_call_held_thread_ms": round(statistics.median(held), 3),
        "chain_on_other_stream_during_snapshot_ms": round(statistics.median(other), 3)}

    # restore into the program's tensors, then onto the GPU in new memory
    rs = []
    for _ in range(reps):
        t1 = time.monotonic()
        for i, t in enumerate(bufs):
            s.restore_into("buf%d" % i, t.data_ptr(), stream)
        rs.append((time.monotonic() - t1) * 1e3)
    res["restore_into_ms"] = [round(x, 2) for x in rs]
    res["restore_into_ms_median"] = round(statistics.median(rs), 2)
    res["restore_into_gbps"] = gbps(total, statistics.median(rs))
    free, _ = torch.cuda.mem_get_info(dev)
    if free > total + GIB:
        t1 = time.monotonic()
        s.restore(0)
        ms = (time.monotonic() - t1) * 1e3
        res["restore_alloc_ms"] = round(ms, 2)
        res["restore_alloc_gbps"] = gbps(total, ms)
        moved = [s.dptr("buf%d" % i) != bufs[i].data_ptr() for i in range(4)]
        res["restore_alloc_new_memory"] = all(moved)
    s.free()
    torch.cuda.synchronize()

    # incremental: 10% of the chunks dirty
    t0 = time.monotonic()
    s = egpu.SnapshotSet(0, explicit_dirty=True)
    for i, t in enumerate(bufs):
        s.register("buf%d" % i, t.data_ptr(), quarter)
    res["incremental_register_s"] = round(time.monotonic() - t0, 2)
    s.take_wait(stream)               # the first copies every buffer whole
    s.take_wait(stream)               # both slots hold everything
    chunk = egpu.snapshot.CHUNK
    nchunks = quarter // chunk
    inc_ms, mark_ms, copied = [], [], []
    for _ in range(reps):
        t1 = time.monotonic()
        for i in range(4):
            for c in range(0, nchunks, 10):
                s.mark_dirty("buf%d" % i, c * chunk, chunk)
        t2 = time.monotonic()
        s.take_wait(stream)
        t3 = time.monotonic()
        mark_ms.append((t2 - t1) * 1e3)
        inc_ms.append((t3 - t2) * 1e3)
        copied.append(s.info().last_copied)
    med = statistics.median(inc_ms)
    res["incremental"] = {
        "dirty": "every 10th %d MiB chunk of each buffer" % (chunk // MIB),
        "copied_bytes": copied[-1], "copied_pct": round(100.0 * copied[-1] / total, 2),
        "snapshot_ms": [round(x, 2) for x in inc_ms], "snapshot_ms_median": round(med, 2),
        "mark_dirty_ms_median": round(statistics.median(mark_ms), 2),
        "copied_gbps": gbps(copied[-1], med),
        "speedup_vs_full": round(res["snapshot_ms_median"] / med, 2) if med else None}
    s.free()
    print("RESULT " + json.dumps(res), flush=True)


# ---------------------------------------------------------------- parent

def driver_cycle(client, pid):
    out = {}
    rc, ck, t_ck = client.call("checkpoint", pid)
    out["checkpoint_wall_ms"] = round(t_ck, 1)
    out["checkpoint_ok"] = rc == 0 and bool(ck.get("ok"))
    out["checkpoint_steps"] = ck.get("steps")
    rc, rs, t_rs = client.call("restore", pid)
    out["restore_wall_ms"] = round(t_rs, 1)
    out["restore_ok"] = rc == 0 and bool(rs.get("ok"))
    out["restore_steps"] = rs.get("steps")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--user-bin", default=os.path.join(TOP, "build", "user"))
    ap.add_argument("--sizes", default="1,8,32")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-driver", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--log", default="/dev/stderr")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(a.worker, a.reps)
    import gpu_tests
    log = open(a.log, "a")
    ok, why = gpu_tests.nvidia_present()
    if not ok:
        print(json.dumps({"skipped": why}))
        return 0
    gpus = gpu_tests.gpu_list()
    drv = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True).stdout.split("\n")[0].strip()
    rundir = tempfile.mkdtemp(prefix="egpuhp-bench-")
    os.environ["EGPUHP_RUN_DIR"] = rundir
    egpud = client = None
    if not a.no_driver:
        egpud, env = gpu_tests.start_egpud(a.user_bin, rundir, log)
        if egpud:
            client = gpu_tests.Client([os.path.join(a.user_bin, "egpuctl")], log, env)
    doc = {"bench": "snapshot_bw", "gpu": {"pci": gpus[0][0], "uuid": gpus[0][1],
                                           "name": gpus[0][2], "driver": drv},
           "reps": a.reps, "driver_path": "egpuctl -> egpud -> gpuwork helper" if client
           else None, "sizes": []}
    try:
        for gib in [int(x) for x in a.sizes.split(",")]:
            p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker",
                                  str(gib), "--reps", str(a.reps)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
            r = {"gib": gib}
            line = p.stdout.readline()
            if not line.startswith("READY"):
                r["error"] = "worker did not start: %r" % line
                p.kill()
                doc["sizes"].append(r)
                continue
            if client:
                pid = int(line.split("pid=")[1])
                r["driver"] = driver_cycle(client, pid)
            p.stdin.write("go\n")
            p.stdin.flush()
            for line in p.stdout:
                if line.startswith("RESULT "):
                    r.update(json.loads(line[7:]))
            p.wait()
            r["worker_rc"] = p.returncode
            d = r.get("driver")
            if d and d.get("checkpoint_ok") and r.get("snapshot_ms_median"):
                steps = d.get("checkpoint_steps") or {}
                drv_ms = sum(steps.get(k, {}).get("ms", 0) for k in ("lock", "checkpoint"))
                d["checkpoint_driver_ms"] = round(drv_ms, 1)
                d["checkpoint_gbps"] = gbps(r["bytes"], drv_ms)
                r["snapshot_vs_driver_checkpoint_x"] = round(drv_ms / r["snapshot_ms_median"], 1)
                r["snapshot_vs_driver_checkpoint_wall_x"] = round(
                    d["checkpoint_wall_ms"] / r["snapshot_ms_median"], 1)
            if r.get("snapshot_gbps") and r.get("pinned_d2h_gbps"):
                r["snapshot_pct_of_pinned_d2h"] = round(
                    100 * r["snapshot_gbps"] / r["pinned_d2h_gbps"], 1)
            log.write("%s\n" % json.dumps(r))
            log.flush()
            doc["sizes"].append(r)
    finally:
        gpu_tests.stop_egpud(egpud)
    doc["targets"] = {
        "snapshot >= 80% of pinned D2H": all(s.get("snapshot_pct_of_pinned_d2h", 0) >= 80
                                            for s in doc["sizes"]),
        ">= 20x faster than the driver checkpoint": all(
            s.get("snapshot_vs_driver_checkpoint_x", 0) >= 20 for s in doc["sizes"])
        if client else None}
    gpu_tests.print_result(doc, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
