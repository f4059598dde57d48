#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A PyTorch training loop protected by egpu.torch, on a real GPU (issue 14).

  torch_protect.py --socket PATH [--inject egpud|egpud-warning|stand-in]
                   [--resume cuda|cpu] [--steps 60] [--snap-every 20]
                   [--lost-after 27] [--ctl EGPUCTL]

A small MLP with a BatchNorm (buffers: running mean/var, an int64 counter)
trained with Adam (CUDA state exp_avg/exp_avg_sq, CPU step counters), data
of step i made from seed i on the CPU so every run sees the same batches,
deterministic algorithms on.  egpu.torch.protect(model, opt, every=K) with a
watcher on the GPU's PCI address: a snapshot every K steps.  After step
--lost-after (past the snapshot at K) a LOST is injected for that GPU --
through egpud's test-only verb ("test-inject lost PCI" on --socket, egpud-
test) or, with --inject stand-in, by a stand-in egpud in this process that
serves the watch socket itself -- and the loop keeps training until the
watcher reports it.  --inject egpud-warning sends egpud-test "test-inject
warning PCI watchdog ..." instead: with strategy = eager, evacuate-to = host
egpud tells the watchers LEAVING, libegpu takes the final snapshot inside
egpu_next() (at that step boundary), the program resumes from it (on the CPU:
the GPU is leaving) and acks, and egpud leaves it out of the driver
checkpoint.  --ctl: "egpuctl workloads" through egpud once the first
snapshot is reported.  Then every old tensor is overwritten with NaN/0xff
(nothing may be read from the "lost" GPU), guard.resume() rebuilds every
protected tensor (new CUDA tensors on the same GPU, or CPU tensors) from the
host copy, rebinds the model and the optimizer, and training goes on from
the snapshot's step to --steps.

Reference: a fresh model trained to step K on the GPU, its state_dict() and
the optimizer's copied to the CPU, loaded into a fresh model and optimizer
on the resume device, trained to --steps.  Every parameter, buffer and
optimizer state tensor of the two must be equal bit for bit.  Prints
"RESULT OK ..." or "RESULT MISMATCH ..." and one JSON line; exit 0 only
for OK.
"""
import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "python"))
sys.path.insert(0, here)
import torch  # noqa: E402
import egpu  # noqa: E402
import egpu.torch  # noqa: E402
import gpu_tests  # noqa: E402  (egpud_request)
from standin_egpud import StandInEgpud  # noqa: E402

D, H, B = 256, 1024, 128


def make(device):
    torch.manual_seed(1234)
    m = torch.nn.Sequential(torch.nn.Linear(D, H), torch.nn.BatchNorm1d(H), torch.nn.ReLU(),
                            torch.nn.Linear(H, H), torch.nn.ReLU(), torch.nn.Linear(H, 10))
    m = m.to(device)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    return m, opt


def batch(i, device):
    g = torch.Generator().manual_seed(1000 + i)
    x = torch.randn(B, D, generator=g)
    y = torch.randint(0, 10, (B,), generator=g)
    return x.to(device), y.to(device)


def train_step(m, opt, i, device):
    x, y = batch(i, device)
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(m(x), y)
    loss.backward()
    opt.step()
    return loss


def tensors(m, opt):
    out = {}
    for k, v in m.state_dict().items():
        out["model." + k] = v
    for pi, (p, st) in enumerate(zip(m.parameters(), [opt.state[p] for p in m.parameters()])):
        for k, v in st.items():
            out["optim.%d.%s" % (pi, k)] = v if torch.is_tensor(v) else torch.tensor(v)
    return out


def bits(t):
    t = t.detach().cpu().contiguous().reshape(-1)     # 0-dim (Adam's step) too
    return t.view(torch.uint8) if t.numel() else t


def compare(a, b):
    bad = []
    if sorted(a) != sorted(b):
        return ["keys differ: %s" % sorted(set(a) ^ set(b))]
    for k in a:
        if a[k].shape != b[k].shape or a[k].dtype != b[k].dtype or \
                not torch.equal(bits(a[k]), bits(b[k])):
            bad.append(k)
    return bad


def workloads(ctl, sock, guard):
    """egpuctl workloads through egpud, once it shows this set's snapshot."""
    env = dict(os.environ, EGPUD_SOCKET=sock)
    text = ""
    for _ in range(100):
        guard.set.poll()        # sends the rate-limited report when it is due
        text = subprocess.run([ctl, "workloads"], capture_output=True, text=True,
                              env=env).stdout
        if " old" in text:
            break
        time.sleep(0.1)
    return text.strip().splitlines()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--inject", choices=["egpud", "egpud-warning", "stand-in"], default="egpud")
    ap.add_argument("--ctl", help="egpuctl, to show egpud's workloads view")
    ap.add_argument("--resume", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--snap-every", type=int, default=20)
    ap.add_argument("--lost-after", type=int, default=27)
    a = ap.parse_args()
    assert a.snap_every < a.lost_after < 2 * a.snap_every < a.steps
    torch.use_deterministic_algorithms(True, warn_only=True)
    gpu = torch.device("cuda", 0)
    pci = egpu.torch._pci_of(gpu)
    rdev = gpu if a.resume == "cuda" else torch.device("cpu")
    res = {"pci": pci, "torch": torch.__version__, "inject": a.inject, "resume": str(rdev)}

    standin = StandInEgpud(a.socket, pci) if a.inject == "stand-in" else None
    m, opt = make(gpu)
    watcher = egpu.Watcher(a.socket, pci)
    t0 = time.monotonic()
    train_step(m, opt, 0, gpu)       # the optimizer's state exists from here
    guard = egpu.torch.protect(m, opt, every=a.snap_every, watch=watcher)
    guard.steps = 1
    res["protected"] = {"tensors": len(guard.names), "bytes": guard.nbytes}
    step, injected, after_lost = 1, False, 0
    while not (guard.lost or guard.leaving):
        train_step(m, opt, step, gpu)
        step = guard.step()
        if step >= a.lost_after and not injected:
            if guard.last is None:      # the GPU runs behind: the LOST follows a complete snapshot
                guard.settle()
            injected = True
            res["lost_injected_after_step"] = step
            if a.ctl:
                res["workloads"] = workloads(a.ctl, a.socket, guard)
            if standin:
                standin.lose()
            elif a.inject == "egpud-warning":
                _, st, text = gpu_tests.egpud_request(a.socket, "test-inject", "warning", pci,
                                                      "watchdog", "torch_protect: injected")
                res["test_inject"] = [st, text]
                if st != "0":
                    print("RESULT ERROR egpud refused test-inject warning: [%s] %s" % (st, text))
                    return 2
            else:
                _, st, text = gpu_tests.egpud_request(a.socket, "test-inject", "lost", pci)
                res["test_inject"] = [st, text]
                if st != "0":
                    print("RESULT ERROR egpud refused test-inject lost: [%s] %s" % (st, text))
                    return 2
        if injected:
            after_lost += 1
            if after_lost > 10000:
                print("RESULT ERROR no LOST/LEAVING reached the watcher")
                return 2
            if after_lost > 50:
                time.sleep(0.01)
    torch.cuda.synchronize()
    guard.settle()
    res["%s_seen_at_step" % ("leaving" if guard.leaving else "lost")] = step
    res["events"] = [repr(e) for e in guard.events]
    inf = guard.info()
    res["snapshot"] = {"generation": inf.generation, "bytes": inf.bytes,
                       "age_s": round(inf.age_ns / 1e9, 3), "step": guard.last["steps"]}
    # the GPU is "lost": nothing may come from the old tensors
    with torch.no_grad():
        for t in list(m.parameters()) + list(m.buffers()) + \
                [v for st in opt.state.values() for v in st.values()
                 if torch.is_tensor(v) and v.is_cuda]:
            if t.is_floating_point():
                t.fill_(float("nan"))
            else:
                t.fill_(-1)
    torch.cuda.synchronize()
    old_ptrs = {p.data_ptr() for p in m.parameters()}
    t1 = time.monotonic()
    start = guard.resume(rdev)
    res["resume_ms"] = round((time.monotonic() - t1) * 1e3, 1)
    res["resumed_from_step"] = start
    res["new_tensors"] = all(p.data_ptr() not in old_ptrs for p in m.parameters())
    res["model_device"] = str(next(m.parameters()).device)
    for i in range(start, a.steps):
        train_step(m, opt, i, rdev)
        guard.step()
    got = tensors(m, opt)
    guard.close()
    res["protected_run_s"] = round(time.monotonic() - t0, 2)

    # reference: to step K on the GPU, state to the CPU, load on the resume device, go on
    rm, ropt = make(gpu)
    for i in range(0, start):
        train_step(rm, ropt, i, gpu)
    msd = {k: v.detach().cpu().clone() for k, v in rm.state_dict().items()}
    osd = ropt.state_dict()
    osd = {"state": {k: {kk: (vv.detach().cpu().clone() if torch.is_tensor(vv) else vv)
                         for kk, vv in st.items()} for k, st in osd["state"].items()},
           "param_groups": osd["param_groups"]}
    del rm, ropt
    rm, ropt = make(rdev)
    rm.load_state_dict(msd)
    ropt.load_state_dict(osd)
    for i in range(start, a.steps):
        train_step(rm, ropt, i, rdev)
    want = tensors(rm, ropt)
    bad = compare(got, want)
    res["compared"] = {"tensors": len(want),
                       "bytes": sum(t.numel() * t.element_size() for t in want.values()),
                       "differing": bad}
    if standin:
        res["stand_in_lines"] = standin.lines[:6]
    # after LOST the last periodic snapshot; after LEAVING the final one, of that step
    want_start = step if a.inject == "egpud-warning" else a.snap_every
    ok = (not bad and res["new_tensors"] and start == want_start and
          res["model_device"].startswith(rdev.type))
    print("%s resume=%s from_step=%d steps=%d tensors=%d differing=%d new_tensors=%s" %
          ("RESULT OK" if ok else "RESULT MISMATCH", rdev, start, a.steps, len(want), len(bad),
           res["new_tensors"]))
    print(json.dumps(res))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
