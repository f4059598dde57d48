#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""GPU tests of egpuhp's CUDA engine on a machine with NVIDIA GPUs.

Runs the real CUDA program tests/gpu/cuda_worker (built from cuda_worker.cu)
and moves it with egpuhp while it computes:

  - workloads lists it as a checkpointable CUDA user of its GPU;
  - checkpoint mid-run + restore on the same GPU, bit-exact result;
  - a managed-memory program is refused and keeps running to a correct end;
  - with two GPUs of one chip: migrate GPU0 -> GPU1 mid-run; the program's
    memory is then on GPU1 and it finishes with a bit-exact result;
  - refusals: migrate onto its own GPU, onto an unknown GPU.

Client: --client egpuctl (through egpud, the default when egpud and egpuctl
are built; egpud is started here on a private socket) or --client gwtool
(the same engine helper, without the daemon hop).

Prints TAP.  Without an NVIDIA GPU and driver every test is skipped with
the reason, unless --require-gpu.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TESTS = [
    "workloads lists the CUDA worker on its GPU",
    "checkpoint a running CUDA program mid-run",
    "checkpointed program holds no GPU memory",
    "restore on the same GPU",
    "program finishes bit-exact after checkpoint/restore",
    "managed-memory program: checkpoint refused before it starts",
    "managed-memory program: driver's refusal undone (pre-flight check off)",
    "managed-memory program keeps running to a bit-exact result",
    "migrate refused onto the program's own GPU",
    "migrate refused onto an unknown GPU",
    "migrate GPU0 -> GPU1 mid-run",
    "migrated program's memory is on GPU1",
    "migrated program finishes bit-exact on GPU1",
    "checkpoint on GPU0, restore onto GPU1 (the eject path)",
    "program restored onto GPU1 finishes bit-exact there",
    "migrate a program that sees only GPU0 (CUDA_VISIBLE_DEVICES)",
    "that program finishes bit-exact on GPU1",
]


class Tap:
    def __init__(self, log):
        self.n = 0
        self.failed = 0
        self.log = log
        print("1..%d" % len(TESTS), flush=True)

    def result(self, ok, name, diag=None, skip=None):
        assert name == TESTS[self.n], (name, TESTS[self.n])
        self.n += 1
        if skip:
            print("ok %d - %s # SKIP %s" % (self.n, name, skip), flush=True)
            return
        if not ok:
            self.failed += 1
        print("%s %d - %s" % ("ok" if ok else "not ok", self.n, name), flush=True)
        if diag:
            for line in str(diag).splitlines():
                print("# " + line, flush=True)

    def skip_rest(self, reason):
        while self.n < len(TESTS):
            self.result(True, TESTS[self.n], skip=reason)

    def fail_rest(self, reason):
        while self.n < len(TESTS):
            self.result(False, TESTS[self.n], reason)


def nvidia_present():
    """An honest check: driver loaded, GPUs listed, libcuda loadable."""
    gpus = "/proc/driver/nvidia/gpus"
    if not os.path.isdir(gpus) or not os.listdir(gpus):
        return False, "no NVIDIA GPU/driver (/proc/driver/nvidia/gpus absent or empty)"
    try:
        import ctypes
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False, "no NVIDIA GPU/driver (libcuda.so.1 not loadable)"
    return True, ""


def gpu_list():
    """[(pci, uuid, name)] in nvidia-smi order, PCI normalised to 4-digit domain."""
    out = subprocess.run(["nvidia-smi", "--query-gpu=pci.bus_id,uuid,name",
                          "--format=csv,noheader"], capture_output=True, text=True,
                         check=True).stdout
    res = []
    for line in out.strip().splitlines():
        pci, uuid, name = [x.strip() for x in line.split(",", 2)]
        res.append((norm_pci(pci), uuid, name))
    return res


def norm_pci(p):
    p = p.strip().lower()
    dom, rest = p.split(":", 1)
    return "%04x:%s" % (int(dom, 16), rest)


def proc_gpu_mem(pid):
    """{pci: MiB} of device memory pid holds, from nvidia-smi."""
    out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,gpu_bus_id,used_memory",
                          "--format=csv,noheader,nounits"], capture_output=True,
                         text=True).stdout
    res = {}
    for line in out.strip().splitlines():
        parts = [x.strip() for x in line.split(",")]
        if len(parts) == 3 and parts[0] == str(pid):
            try:
                res[norm_pci(parts[1])] = res.get(norm_pci(parts[1]), 0) + int(parts[2])
            except ValueError:
                pass
    return res


class Worker:
    def __init__(self, exe, args, log, env=None):
        self.log = log
        self.p = subprocess.Popen([exe] + args, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, env=env)
        self.lines = []
        self.pid = self.p.pid
        self.ready = None

    def wait_ready(self, timeout=120):
        t0 = time.time()
        while time.time() - t0 < timeout:
            line = self.p.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip())
            if line.startswith("ready "):
                self.ready = line.strip()
                return True
            if line.startswith("ERROR"):
                break
        return False

    def alive(self):
        return self.p.poll() is None

    def finish(self, timeout=600):
        try:
            out, _ = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, _ = self.p.communicate()
        self.lines += out.splitlines()
        self.log.write("worker %d output:\n  %s\n" % (self.pid, "\n  ".join(self.lines)))
        return self.p.returncode, [l for l in self.lines if l.startswith(("RESULT", "ERROR"))]

    def kill(self):
        if self.alive():
            self.p.kill()
            self.p.communicate()


class Client:
    """Runs a verb through egpuctl (egpud) or gwtool; returns (rc, json)."""

    def __init__(self, argv_prefix, log, env=None, gwtool=None):
        self.prefix = argv_prefix
        self.gwtool = gwtool or argv_prefix[0]
        self.log = log
        self.env = env

    def call(self, *args):
        argv = self.prefix + ["--json"] + [str(a) for a in args]
        t0 = time.monotonic()
        p = subprocess.run(argv, capture_output=True, text=True, env=self.env)
        dt = (time.monotonic() - t0) * 1e3
        self.log.write("$ %s  [rc=%d, %.1f ms]\n%s%s\n" % (" ".join(argv), p.returncode, dt,
                                                          p.stdout, p.stderr))
        self.log.flush()
        try:
            doc = json.loads(p.stdout)
        except ValueError:
            doc = {"unparsed": p.stdout + p.stderr}
        # egpuctl prints the one envelope (docs/egpuctl-json.md): the verb's
        # object is its data; without data its messages are the text
        if isinstance(doc, dict) and "version" in doc and "messages" in doc:
            doc = doc.get("data") or {"unparsed": "\n".join(doc["messages"]) + p.stderr}
        return p.returncode, doc, dt


def egpud_request(sock, *words):
    """One request on egpud's control socket: (time sent, status, text)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    t = time.monotonic()
    s.sendall((" ".join(words) + "\n").encode())
    buf = b""
    while b"\0" not in buf or not buf.endswith(b"\n"):
        d = s.recv(4096)
        if not d:
            break
        buf += d
    s.close()
    text, _, status = buf.decode(errors="replace").partition("\0")
    return t, status.strip(), text


def start_egpud(bindir, rundir, log):
    """egpud on a private socket; returns (Popen, env) or (None, None)."""
    egpud = os.path.join(bindir, "egpud")
    if not os.access(egpud, os.X_OK):
        return None, None
    env = dict(os.environ)
    sock = os.path.join(rundir, "egpud.sock")
    env["EGPUD_SOCKET"] = sock
    env["EGPUHP_RUN_DIR"] = rundir
    cmd = [egpud, "--socket", sock]
    conf = os.environ.get("EGPUD_TEST_ARGS")
    if conf:
        cmd += conf.split()
    p = subprocess.Popen(cmd, stdout=log, stderr=log, env=env)
    for _ in range(100):
        if os.path.exists(sock):
            return p, env
        if p.poll() is not None:
            break
        time.sleep(0.05)
    p.kill()
    return None, None


def stop_egpud(p):
    """Ends an egpud start_egpud() started (None: none was), killed if it hangs."""
    if not p:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def print_result(doc, out):
    """A benchmark's result: JSON on stdout and, when out is given, into that file."""
    text = json.dumps(doc, indent=1)
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("GPU_BIN_DIR", "build/gpu"))
    ap.add_argument("--user-bin", default=os.environ.get("USER_BIN_DIR", "build/user"))
    ap.add_argument("--client", choices=["auto", "egpuctl", "gwtool"], default="auto")
    ap.add_argument("--log", default=None)
    ap.add_argument("--require-gpu", action="store_true")
    ap.add_argument("--kernel", action="append", default=[])  # runner's VM matrix: unused
    a = ap.parse_args()

    logf = open(a.log, "a") if a.log else open(os.devnull, "w")
    tap = Tap(logf)
    ok, why = nvidia_present()
    if not ok:
        if a.require_gpu:
            tap.fail_rest(why)
            return 1
        tap.skip_rest(why)
        return 0

    rundir = tempfile.mkdtemp(prefix="egpuhp-gputest-")
    os.environ["EGPUHP_RUN_DIR"] = rundir
    egpud = None
    client = None
    if a.client in ("auto", "egpuctl"):
        egpud, env = start_egpud(a.user_bin, rundir, logf)
        if egpud:
            client = Client([os.path.join(a.user_bin, "egpuctl")], logf, env,
                            gwtool=os.path.join(a.bin, "gwtool"))
            print("# client: egpuctl through egpud", flush=True)
        elif a.client == "egpuctl":
            print("# egpud could not be started", flush=True)
            tap.skip_rest("egpud not available")
            return 1
    if not client:
        client = Client([os.path.join(a.bin, "gwtool")], logf)
        print("# client: gwtool (engine helper, no daemon)", flush=True)

    worker = os.path.join(a.bin, "cuda_worker")
    gpus = gpu_list()
    print("# GPUs: " + "; ".join("%s %s %s" % g for g in gpus), flush=True)
    workers = []
    try:
        run_tests(tap, client, worker, gpus, logf, workers)
    finally:
        for w in workers:
            w.kill()
        stop_egpud(egpud)
        subprocess.run(client.prefix + ["--shutdown"] if "gwtool" in client.prefix[0]
                       else ["true"], capture_output=True)
        shutil.rmtree(rundir, ignore_errors=True)
    return 1 if tap.failed else 0


def new_hold():
    """A file the worker waits on after its iterations (removed to let it finish)."""
    fd, path = tempfile.mkstemp(prefix="egpuhp-hold-")
    os.close(fd)
    return path


def log_maps(pid, what, log):
    try:
        with open("/proc/%d/maps" % pid) as f:
            lines = [l.strip() for l in f if "/dev/nvidia-uvm" in l]
        log.write("%s %d: nvidia-uvm mappings:\n  %s\n" % (what, pid, "\n  ".join(lines)))
    except OSError as e:
        log.write("%s %d: maps unreadable: %s\n" % (what, pid, e))


def worker_ended_ok(tap, w, test, hold=None):
    """Lets worker w finish (removing its hold file first, which ends it) and
    reports test: passed on a clean exit whose first RESULT/ERROR line is RESULT OK."""
    if hold:
        os.unlink(hold)
    code, res = w.finish()
    tap.result(code == 0 and res and res[0].startswith("RESULT OK"), test,
               "exit %s: %s" % (code, res))


def run_tests(tap, c, worker, gpus, log, workers):
    gpu0 = gpus[0][0]
    # --- single GPU: checkpoint mid-run, restore, bit-exact ------------------
    hold = new_hold()
    w = Worker(worker, ["--mib", "2048", "--iters", "300", "--sleep-ms", "40",
                        "--device", "0", "--hold-file", hold], log)
    workers.append(w)
    if not w.wait_ready():
        tap.result(False, TESTS[0], "worker did not start: %s" % w.lines)
        tap.skip_rest("worker did not start")
        return
    time.sleep(1.0)
    log_maps(w.pid, "plain worker", log)
    rc, doc, _ = c.call("workloads", gpu0)
    mine = [e for e in doc.get("workloads", []) if e.get("pid") == w.pid]
    tap.result(rc == 0 and len(mine) == 1 and mine[0]["checkpointable"] and
               mine[0]["kind"] == "nvidia", TESTS[0], json.dumps(doc)[:600])

    rc, doc, _ = c.call("checkpoint", w.pid, "--only")
    tap.result(rc == 0 and doc.get("ok") and doc.get("state_after") == "checkpointed",
               TESTS[1], json.dumps(doc))
    mem = proc_gpu_mem(w.pid)
    tap.result(rc == 0 and not any(mem.values()) and w.alive(), TESTS[2],
               "nvidia-smi memory of pid: %s" % mem)
    time.sleep(1.0)
    rc, doc, _ = c.call("restore", w.pid, "--only")
    tap.result(rc == 0 and doc.get("ok") and doc.get("state_after") == "running",
               TESTS[3], json.dumps(doc))
    worker_ended_ok(tap, w, TESTS[4], hold)

    # --- managed memory: refused, keeps running -------------------------------
    w = Worker(worker, ["--mib", "256", "--iters", "150", "--sleep-ms", "40", "--managed",
                        "--device", "0"], log)
    workers.append(w)
    if w.wait_ready():
        time.sleep(0.5)
        log_maps(w.pid, "managed worker", log)
        rc, doc, _ = c.call("checkpoint", w.pid, "--only")
        tap.result(rc == 1 and doc.get("refused") and doc.get("state_after") == "running"
                   and w.alive(), TESTS[5], json.dumps(doc))
        # The same without the pre-flight check: the driver refuses (801) and
        # leaves the process locked; the engine must unlock it.
        env = dict(os.environ, EGPUHP_GW_NO_MANAGED_CHECK="1")
        direct = Client([c.gwtool, "--inprocess"], log, env)
        rc, doc, _ = direct.call("checkpoint", w.pid)
        tap.result(rc == 1 and not doc.get("ok") and doc.get("state_after") == "running"
                   and w.alive(), TESTS[6], json.dumps(doc))
        worker_ended_ok(tap, w, TESTS[7])
    else:
        for t in TESTS[5:8]:
            tap.result(False, t, "managed worker did not start: %s" % w.lines)

    # --- two GPUs: refusals, then migrate GPU0 -> GPU1 -------------------------
    if len(gpus) < 2:
        tap.skip_rest("needs 2 NVIDIA GPUs of one chip, found %d" % len(gpus))
        return
    gpu1 = gpus[1][0]
    if gpus[1][2] != gpus[0][2]:
        tap.skip_rest("GPU0 and GPU1 are different chips")
        return
    hold = new_hold()
    w = Worker(worker, ["--mib", "4096", "--iters", "300", "--sleep-ms", "30",
                        "--device", "0", "--hold-file", hold], log)
    workers.append(w)
    if not w.wait_ready():
        tap.result(False, TESTS[8], "worker did not start: %s" % w.lines)
        tap.skip_rest("worker did not start")
        os.unlink(hold)
        return
    time.sleep(1.0)
    rc, doc, _ = c.call("migrate", w.pid, "--to", gpu0, "--only")
    tap.result(rc == 1 and doc.get("refused") and w.alive(), TESTS[8], json.dumps(doc))
    rc, doc, _ = c.call("migrate", w.pid, "--to", "0000:7f:1f.7", "--only")
    tap.result(rc == 1 and doc.get("refused") and w.alive(), TESTS[9], json.dumps(doc))
    rc, doc, _ = c.call("migrate", w.pid, "--to", gpu1, "--only")
    tap.result(rc == 0 and doc.get("ok") and doc.get("state_after") == "running" and
               doc.get("to", {}).get("pci") == gpu1, TESTS[10], json.dumps(doc))
    mem = proc_gpu_mem(w.pid)
    tap.result(mem.get(gpu1, 0) > 0 and not mem.get(gpu0, 0), TESTS[11],
               "nvidia-smi memory of pid by GPU: %s" % mem)
    worker_ended_ok(tap, w, TESTS[12], hold)

    # --- checkpoint now, restore later onto the other GPU (eject) --------------
    hold = new_hold()
    w = Worker(worker, ["--mib", "2048", "--iters", "300", "--sleep-ms", "30",
                        "--device", "0", "--hold-file", hold], log)
    workers.append(w)
    ok = w.wait_ready()
    if ok:
        time.sleep(1.0)
        rc, doc, _ = c.call("checkpoint", w.pid, "--only")
        ok = rc == 0 and doc.get("ok")
    if ok:
        rc, doc, _ = c.call("restore", w.pid, "--to", gpu1, "--only")
        mem = proc_gpu_mem(w.pid)
        ok = rc == 0 and doc.get("ok") and mem.get(gpu1, 0) > 0 and not mem.get(gpu0, 0)
        doc["nvidia_smi_memory"] = mem
    tap.result(ok, TESTS[13], json.dumps(doc) if w.ready else w.lines)
    worker_ended_ok(tap, w, TESTS[14], hold)

    # --- a program that sees one GPU only -------------------------------------
    hold = new_hold()
    env = dict(os.environ, CUDA_VISIBLE_DEVICES=gpus[0][1])
    w = Worker(worker, ["--mib", "2048", "--iters", "300", "--sleep-ms", "30",
                        "--hold-file", hold], log, env=env)
    workers.append(w)
    doc = {}
    ok = w.wait_ready()
    if ok:
        time.sleep(1.0)
        rc, doc, _ = c.call("migrate", w.pid, "--to", gpu1, "--only")
        mem = proc_gpu_mem(w.pid)
        ok = rc == 0 and doc.get("ok") and mem.get(gpu1, 0) > 0 and not mem.get(gpu0, 0)
        doc["nvidia_smi_memory"] = mem
    tap.result(ok, TESTS[15], json.dumps(doc) if w.ready else w.lines)
    worker_ended_ok(tap, w, TESTS[16], hold)


if __name__ == "__main__":
    sys.exit(main())
