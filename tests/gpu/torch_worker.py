#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A PyTorch process holding GPU tensors, for the workload-tree tests.

  torch_worker.py [--mib N] [--iters N] [--sleep-ms N] [--hold-file PATH]

Two tensors on the GPU, half of N MiB each: "fixed", random float32 data that
is never written after it is made (a host copy is kept), and "state", int64
words below 2^32 that every iteration advances with
x = (x * 1664525 + 1013904223 + iter) mod 2^32.  At the end "fixed" must
equal its host copy bit for bit (compared as int32 words) and a sample of
"state" (every 4099th word and the last) must equal the same arithmetic done
on the CPU from the sample's start values.  With --hold-file it waits, after
the last iteration, while that file exists.  Like cuda_worker, it does not
cooperate with the checkpoint.  Output lines (stdout, flushed): "ready
pid=P device=PCI mib=N torch=V", then "RESULT OK ..." or "RESULT MISMATCH
...".  Exit status 0 only for RESULT OK.
"""
import argparse
import os
import sys
import time

import torch

LCG_A, LCG_C, MASK = 1664525, 1013904223, 0xFFFFFFFF


def step(x, it):
    x.mul_(LCG_A).add_(LCG_C + it).bitwise_and_(MASK)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--iters", type=int, default=1000)
    ap.add_argument("--sleep-ms", type=int, default=2)
    ap.add_argument("--hold-file")
    a = ap.parse_args()

    dev = torch.device("cuda", 0)
    half = a.mib * (1 << 20) // 2
    gen = torch.Generator(device=dev).manual_seed(13)
    fixed = torch.rand(half // 4, device=dev, generator=gen)
    fixed_host = fixed.cpu()
    n = half // 8
    state = torch.randint(0, 1 << 32, (n,), device=dev, dtype=torch.int64, generator=gen)
    idx = torch.cat([torch.arange(0, n, 4099), torch.tensor([n - 1])])
    sample = state.index_select(0, idx.to(dev)).cpu()
    torch.cuda.synchronize()
    props = torch.cuda.get_device_properties(dev)
    pci = "%04x:%02x:%02x.0" % tuple(getattr(props, k, 0) for k in
                                     ("pci_domain_id", "pci_bus_id", "pci_device_id"))
    print("ready pid=%d device=%s mib=%d torch=%s" % (os.getpid(), pci, a.mib,
                                                     torch.__version__), flush=True)
    for it in range(a.iters):
        step(state, it)
        torch.cuda.synchronize()
        if a.sleep_ms:
            time.sleep(a.sleep_ms / 1000)
    while a.hold_file and os.path.exists(a.hold_file):
        time.sleep(0.05)
    for it in range(a.iters):
        step(sample, it)
    got_fixed = fixed.cpu()
    got_state = state.index_select(0, idx.to(dev)).cpu()
    bad_fixed = int((got_fixed.view(torch.int32) != fixed_host.view(torch.int32)).sum())
    bad_state = int((got_state != sample).sum())
    what = "RESULT OK" if not bad_fixed and not bad_state else "RESULT MISMATCH"
    print("%s iters=%d fixed_words=%d fixed_bad=%d samples=%d samples_bad=%d device=%s"
          % (what, a.iters, fixed.numel(), bad_fixed, sample.numel(), bad_state, pci),
          flush=True)
    return 0 if what == "RESULT OK" else 1


if __name__ == "__main__":
    sys.exit(main())
