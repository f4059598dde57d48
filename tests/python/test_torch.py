#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
# egpuhp-test: once
"""egpu.torch (python/egpu/torch.py) where python3 has torch with CUDA: what
protect() refuses, then tests/gpu/torch_protect.py with a stand-in egpud
(LOST, resume on the same GPU and on the CPU, bit-exact against a
reference).  Skipped, saying why, without torch (CI: Debian's python3-torch
is not among the test dependencies) or without a CUDA device.  The H200 runs
through egpud-test are in tests/gpu/RESULTS.md.  TAP.
"""
import os
import subprocess
import sys
import tempfile

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NAMES = ["protect() refuses a non-contiguous CUDA tensor, naming it",
         "protect() refuses tensors sharing memory, naming both",
         "protect() registers parameters, buffers and the optimizer's CUDA state",
         "protect() before the first step: Adam's state is registered once it exists",
         "torch_protect.py (stand-in egpud): LOST, resume on the same GPU, bit-exact",
         "torch_protect.py (stand-in egpud): LOST, resume on the CPU, bit-exact"]


def main():
    sys.path.insert(0, os.path.join(TOP, "python"))
    why = None
    try:
        import torch
        if not torch.cuda.is_available():
            why = "torch %s has no CUDA device here" % torch.__version__
    except ImportError:
        why = "python3 has no torch (python3-torch is not a test dependency)"
    if why:
        for i, n in enumerate(NAMES, 1):
            print("ok %d - %s # SKIP %s" % (i, n, why))
        print("1..%d" % len(NAMES))
        return 0
    import egpu.torch
    n = failed = 0

    def check(name, fn):
        nonlocal n, failed
        n += 1
        try:
            fn()
            print("ok %d - %s" % (n, name), flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print("not ok %d - %s\n#   %s: %s" % (n, name, type(e).__name__, e), flush=True)

    def refused(model, opt, words):
        try:
            egpu.torch.protect(model, opt, watch=False).close()
        except ValueError as e:
            if not all(w in str(e) for w in words):
                raise AssertionError("message %r lacks %r" % (str(e), words))
            print("#   " + str(e))
            return
        raise AssertionError("accepted")

    def t_noncontig():
        m = torch.nn.Linear(8, 8).cuda()
        m.register_buffer("strided", torch.zeros(8, 8, device="cuda").t())
        refused(m, None, ["strided", "not contiguous"])

    def t_shared():
        m = torch.nn.Linear(8, 8).cuda()
        base = torch.zeros(64, device="cuda")
        m.register_buffer("a", base[:40])
        m.register_buffer("b", base[32:])
        refused(m, None, ["a", "b", "share memory"])

    def t_register():
        m = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.BatchNorm1d(8)).cuda()
        opt = torch.optim.Adam(m.parameters())
        m(torch.randn(4, 8, device="cuda")).sum().backward()
        opt.step()
        g = egpu.torch.protect(m, opt, watch=False)
        try:
            names = g.names
            want = 4 + 3 + 2 * 4    # params, BN buffers, exp_avg/exp_avg_sq per param
            if len(names) != want or not any(x.startswith("optim.") for x in names):
                raise AssertionError("registered %s" % names)
            g.snapshot(wait=True)
            if g.info().bytes != g.nbytes or g.last is None:
                raise AssertionError("info %r" % g.info())
        finally:
            g.close()

    def t_late_state():
        m = torch.nn.Linear(8, 8).cuda()
        opt = torch.optim.Adam(m.parameters())
        g = egpu.torch.protect(m, opt, watch=False)
        try:
            if len(g.names) != 2:
                raise AssertionError("before the first step: %s" % g.names)
            m(torch.randn(4, 8, device="cuda")).sum().backward()
            opt.step()
            g.step()
            if len(g.names) != 6 or g.info().buffers != 6:
                raise AssertionError("after the first step: %s" % g.names)
        finally:
            g.close()

    def run(resume):
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run([sys.executable, os.path.join(TOP, "tests", "gpu",
                                                             "torch_protect.py"),
                                "--socket", os.path.join(d, "s"), "--inject", "stand-in",
                                "--resume", resume], capture_output=True, text=True,
                               timeout=600)
            out = [x for x in p.stdout.splitlines() if x.startswith("RESULT")]
            print("#   " + (out[0] if out else p.stdout[-300:] + p.stderr[-500:]))
            if p.returncode or not out or not out[0].startswith("RESULT OK"):
                raise AssertionError("rc %d" % p.returncode)

    check(NAMES[0], t_noncontig)
    check(NAMES[1], t_shared)
    check(NAMES[2], t_register)
    check(NAMES[3], t_late_state)
    check(NAMES[4], lambda: run("cuda"))
    check(NAMES[5], lambda: run("cpu"))
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
