#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""How long egpud takes to protect a workload tree on a real NVIDIA GPU (issue 13).

For a tree of one parent and two tests/gpu/cuda_worker children holding
--sizes GiB of device data between them (half each), egpud-test (the test
build: the machine has no hot-plug, so the events come through its test-only
"test-inject" verb) runs with strategy = eager, evacuate-to = host,
restore-on-replug = same, and per repetition:

  warning_to_evacuated_ms  "test-inject warning PCI watchdog ..." sent →
                           egpud logs "evacuated: checkpointed to host memory"
                           (every process of the tree checkpointed);
  bind_to_running_ms       "test-inject bind PCI" sent → egpud logs "workload
                           ... restored onto PCI" (restored and unlocked: the
                           processes run again).

Times are from this script's clock (CLOCK_MONOTONIC) at the send and at the
reading of egpud's log line (stderr, flushed per line).  Each repetition
starts a fresh egpud-test, so its engine helper (egpud-gpuwork: cuInit, NVML)
starts inside the warning's time, as it does for the first warning a running
egpud acts on after its helper's 30 s idle exit.  Checked, not timed: after the
warning both children have records and hold no device memory (nvidia-smi),
after the bind the records are gone and the memory is back, and both children
finish "RESULT OK" (bit-exact).  Prints one JSON document (and --out FILE).

  workload_protect.py --bin DIR [--sizes 1,8] [--reps 3] [--out FILE] [--log FILE]

DIR holds egpud-test ("make -C user test-build"), egpuctl and cuda_worker
(tests/gpu/build.sh).  Run as root on the GPU machine.
"""
import argparse
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "tests", "gpu"))
import gpu_tests  # noqa: E402  (gpu_list, proc_gpu_mem, new_hold, print_result)

# The tree's parent: starts the children given as argv (one JSON list each),
# their stdout into files, and waits for them.  It is started by a shell that
# is a session leader, so the parent is the tree's root (gw_workload_key).
PARENT = r"""
import json, subprocess, sys
ps = [subprocess.Popen(json.loads(a[1]), stdout=open(a[0], "w"), stderr=subprocess.STDOUT)
      for a in (x.split("=", 1) for x in sys.argv[1:])]
sys.exit(max(p.wait() for p in ps))
"""


class Egpud:
    """egpud-test on a private socket, its log lines timestamped as read."""

    def __init__(self, bindir, tmp, log):
        self.sock = os.path.join(tmp, "egpud.sock")
        conf = os.path.join(tmp, "egpud.conf")
        os.makedirs(os.path.join(tmp, "store"), exist_ok=True)
        with open(conf, "w") as f:
            f.write("[daemon]\nsocket = %s\nstore = %s/store\nload-module = no\n"
                    "[workloads]\nstrategy = eager\nevacuate-to = host\n"
                    "restore-on-replug = same\n" % (self.sock, tmp))
        self.log = log
        self.lines = queue.Queue()
        self.p = subprocess.Popen([os.path.join(bindir, "egpud-test"), "-c", conf, "-d"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        threading.Thread(target=self._read, daemon=True).start()
        for _ in range(600):
            if os.path.exists(self.sock) or self.p.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(self.sock):
            raise RuntimeError("egpud-test did not make its socket")

    def _read(self):
        for line in self.p.stdout:
            t = time.monotonic()
            self.log.write("[%.3f] egpud: %s" % (t, line))
            self.log.flush()
            self.lines.put((t, line.rstrip("\n")))

    def send(self, *words):
        """One request; returns (time sent, status, text)."""
        t, status, text = gpu_tests.egpud_request(self.sock, *words)
        self.log.write("$ %s -> [%s] %s\n" % (" ".join(words), status, text.strip()))
        return t, status, text

    def wait_line(self, good, bad=(), timeout=300):
        """(timestamp, line) of the first log line containing good; raises on any of bad."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                t, line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if good in line:
                return t, line
            if any(b in line for b in bad):
                raise RuntimeError("egpud: " + line)
        raise RuntimeError("egpud logged no %r within %d s" % (good, timeout))

    def stop(self):
        """egpud-test, and any child it still has (a helper left holding the GPU
        is taken as a workload by the next egpud: see bench/RESULTS.md)."""
        kids = children_of(self.p.pid)
        self.p.terminate()
        self.p.wait()
        for pid in kids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        wait_for(lambda: not any(os.path.exists("/proc/%d" % k) for k in kids), 10)


def children_of(ppid):
    res = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                stat = open("/proc/%s/stat" % e).read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == ppid:
                res.append(int(e))
    return res


class Tree:
    """A parent with children given as argv lists; their pids once ready."""

    def __init__(self, children, tmp, tag):
        self.outs = [os.path.join(tmp, "%s-%d.out" % (tag, i)) for i in range(len(children))]
        for o in self.outs:
            open(o, "w").close()
        parent = os.path.join(tmp, "tree_parent.py")
        with open(parent, "w") as f:
            f.write(PARENT)
        args = ["%s=%s" % (o, json.dumps(c)) for o, c in zip(self.outs, children)]
        # the shell is the session leader and does not exec its last command
        self.p = subprocess.Popen(["sh", "-c", '"$@"; exit $?', "sh", sys.executable,
                                   parent] + args, start_new_session=True)
        self.pids = []

    def wait_ready(self, timeout=300):
        end = time.monotonic() + timeout
        for o in self.outs:
            while True:
                text = open(o).read()
                if "ready pid=" in text:
                    self.pids.append(int(text.split("ready pid=")[1].split()[0]))
                    break
                if "ERROR" in text or self.p.poll() is not None or time.monotonic() > end:
                    raise RuntimeError("child not ready: %s: %s" % (o, text.strip()))
                time.sleep(0.05)

    def finish(self, timeout=600):
        rc = self.p.wait(timeout=timeout)
        return rc, [open(o).read().strip().splitlines()[-1] for o in self.outs]


def records(rundir, pids):
    return [os.path.exists(os.path.join(rundir, "gpuwork", str(p))) for p in pids]


def wait_for(cond, timeout=60):
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.05)
    return cond()


def one_cycle(args, egpud, pci, mib, tmp, rep):
    hold = gpu_tests.new_hold()
    worker = os.path.join(args.bin, "cuda_worker")
    half = str(mib // 2)
    tree = Tree([[worker, "--mib", half, "--iters", str(args.iters), "--sleep-ms", "2",
                  "--hold-file", hold]] * 2, tmp, "w%d-%d" % (mib, rep))
    try:
        tree.wait_ready()
        mem_before = sum(sum(gpu_tests.proc_gpu_mem(p).values()) for p in tree.pids)
        t_warn, st, _ = egpud.send("test-inject", "warning", pci, "watchdog",
                                   "benchmark: injected warning")
        if st != "0":
            raise RuntimeError("test-inject warning refused")
        t_evac, _ = egpud.wait_line("evacuated: checkpointed to host memory",
                                    ("evacuation to",))
        rec_after_evac = records(args.rundir, tree.pids)
        mem_evac = sum(sum(gpu_tests.proc_gpu_mem(p).values()) for p in tree.pids)
        t_bind, st, _ = egpud.send("test-inject", "bind", pci)
        if st != "0":
            raise RuntimeError("test-inject bind refused")
        # the line naming this tree ("workload tree:R (pid P) restored onto")
        mine = ["(pid %d) restored onto" % p for p in tree.pids]
        while True:
            t_run, line = egpud.wait_line("restored onto", ("failed", "keeps waiting",
                                                            "no job slot"))
            if any(m in line for m in mine):
                break
        gone = wait_for(lambda: not any(records(args.rundir, tree.pids)))
        mem_after = sum(sum(gpu_tests.proc_gpu_mem(p).values()) for p in tree.pids)
    finally:
        os.unlink(hold)
    rc, results = tree.finish()
    ok = (rc == 0 and all(r.startswith("RESULT OK") for r in results) and
          all(rec_after_evac) and mem_evac == 0 and gone and mem_after > 0)
    return {"gib": mib / 1024, "children_mib": [mib // 2] * 2, "pids": tree.pids,
            "device_mib_nvidia_smi": mem_before,
            "warning_to_evacuated_ms": round((t_evac - t_warn) * 1e3, 1),
            "bind_to_running_ms": round((t_run - t_bind) * 1e3, 1),
            "records_after_warning": rec_after_evac, "device_mib_while_evacuated": mem_evac,
            "records_gone_after_bind": gone, "device_mib_after_bind": mem_after,
            "children": results, "ok": ok}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--sizes", default="1,8", help="GiB per tree, comma-separated")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--iters", type=int, default=500, help="cuda_worker iterations")
    ap.add_argument("--out")
    ap.add_argument("--log", default="/dev/stderr")
    args = ap.parse_args()
    args.rundir = tempfile.mkdtemp(prefix="egpuhp-run-")
    os.environ["EGPUHP_RUN_DIR"] = args.rundir
    log = open(args.log, "a")
    gpus = gpu_tests.gpu_list()
    pci, uuid, name = gpus[0]
    drv = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True).stdout.split("\n")[0].strip()
    runs = []
    for gib in [int(x) for x in args.sizes.split(",")]:
        for rep in range(args.reps):
            tmp = tempfile.mkdtemp(prefix="egpuhp-bench-")
            egpud = Egpud(args.bin, tmp, log)
            try:
                r = one_cycle(args, egpud, pci, gib * 1024, tmp, rep)
            except Exception as e:  # noqa: BLE001  (reported in the JSON, run goes on)
                r = {"gib": gib, "ok": False, "error": str(e)}
            finally:
                egpud.stop()
            r["rep"] = rep
            log.write("%s\n" % json.dumps(r))
            log.flush()
            runs.append(r)
    summary = {}
    for gib in sorted({r["gib"] for r in runs}):
        good = [r for r in runs if r["gib"] == gib and r["ok"]]
        if good:
            summary["%g GiB" % gib] = {
                k + "_median": statistics.median(r[k] for r in good)
                for k in ("warning_to_evacuated_ms", "bind_to_running_ms")}
            summary["%g GiB" % gib]["ok_reps"] = len(good)
    doc = {"bench": "workload_protect", "gpu": {"pci": pci, "uuid": uuid, "name": name,
                                                "driver": drv},
           "policy": {"strategy": "eager", "evacuate-to": "host",
                      "restore-on-replug": "same"},
           "reps": args.reps, "cuda_worker_iters": args.iters, "summary": summary,
           "runs": runs, "ok": all(r["ok"] for r in runs)}
    gpu_tests.print_result(doc, args.out)
    return 0 if doc["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
