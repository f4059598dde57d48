# SPDX-License-Identifier: LGPL-2.1-or-later
"""Protect a PyTorch model and optimizer with a libegpu snapshot set.

  import egpu.torch
  guard = egpu.torch.protect(model, optimizer, every=100)
  step = 0
  while step < steps:
      train_step(step)                        # forward, backward, optimizer.step()
      step = guard.step()                     # snapshot every 100 steps; egpud's events
      if guard.lost or guard.leaving:         # the eGPU left or was pulled
          step = guard.resume("cuda:1")       # or "cpu": back to the last snapshot's step

What is protected: every parameter and buffer of the model and every CUDA
tensor in the optimizer's state (Adam's exp_avg, ...), registered by name
("param.3", "buffer.0", "optim.3.exp_avg"); the optimizer's CPU state
(Adam's step counters, plain numbers) is copied in Python at the moment
each snapshot is taken, so it always matches the device copy.  A snapshot is
taken at the step boundary, ordered on torch.cuda.current_stream(): the
program's later kernels wait for the copy, its Python thread does not.

Refused (ValueError, naming the tensor): a CUDA tensor that is not
contiguous, that lives on another device than the first parameter, that is
not strided (sparse, ...), or whose bytes overlap another protected
tensor's (views of one storage: restoring them as separate tensors would
break their sharing).  Tensors of zero elements are kept as shapes only.

The optimizer's state appears after its first step; step() registers new
state tensors (and re-registers a tensor whose memory moved) before each
snapshot.  With a watcher (protect(..., watch=True), the default when egpud
answers) LEAVING makes libegpu take a final snapshot before next() returns;
step() then sets .leaving, and after LOST .lost.  resume(device) rebuilds
every tensor there -- new tensors on a CUDA device, filled from the host
copy by the set, or on the CPU from the host copy (torch.frombuffer, then
cloned; copy=False keeps the tensors in the set's pinned memory) -- and
rebinds them: param.data, the module's buffer, optimizer.state.
"""
import copy as _copy
import gc
import warnings

import torch

from . import LEAVING, LOST, Error, Watcher
from .snapshot import SnapshotSet, stream_handle


class _Entry:
    __slots__ = ("name", "kind", "owner", "key", "label", "tensor", "dptr", "shape", "dtype")

    def __init__(self, name, kind, owner, key, label, tensor):
        self.name, self.kind, self.owner, self.key, self.label = name, kind, owner, key, label
        self.tensor = tensor
        self.dptr = 0
        self.shape, self.dtype = tuple(tensor.shape), tensor.dtype

    @property
    def nbytes(self):
        return self.tensor.numel() * self.tensor.element_size()


def _pci_of(dev):
    p = torch.cuda.get_device_properties(dev)
    return "%04x:%02x:%02x.0" % (getattr(p, "pci_domain_id", 0), getattr(p, "pci_bus_id", 0),
                                 getattr(p, "pci_device_id", 0))


class Protector:
    """See the module's text.  model: a torch.nn.Module on one CUDA device;
    optimizer: a torch.optim.Optimizer of its parameters (or None);
    every: snapshot every N calls of step(); interval_ms: or at libegpu's
    periodic interval (egpud's, when it sets one, wins); watch: True, False
    or an egpu.Watcher; socket: egpud's socket for watch=True."""

    def __init__(self, model, optimizer=None, every=None, interval_ms=None, watch=None,
                 socket=None, explicit_dirty=False):
        self.model, self.optimizer = model, optimizer
        self.every = every
        first = next((p for p in model.parameters() if p.is_cuda), None)
        if first is None:
            first = next((b for b in model.buffers() if b.is_cuda), None)
        if first is None:
            raise ValueError("egpu.torch: the model has no CUDA tensor to protect")
        self.device = first.device
        self.steps = 0
        self.lost = self.leaving = False
        self.events = []
        self.last = None          # host-side state of the last complete snapshot
        self._last_gen = 0
        self._entries = {}        # name -> _Entry
        self.set = SnapshotSet(self.device.index, explicit_dirty=explicit_dirty)
        if interval_ms:
            self.set.set_interval(interval_ms)
        self.interval_ms = interval_ms
        self.watcher = None
        self._own_watcher = False
        if isinstance(watch, Watcher):
            self.watcher = watch
        elif watch is None or watch:
            try:
                self.watcher = Watcher(socket, _pci_of(self.device))
                self._own_watcher = True
            except OSError as e:
                if watch:
                    raise
                warnings.warn("egpu.torch: not watching (egpud: %s): no final snapshot on "
                              "LEAVING, no LOST" % e)
        self._refresh()
        if self.watcher is not None:    # egpud hears of the set with its size
            self.set.attach(self.watcher)

    # --- what is protected

    def _scan(self):
        """(name, kind, owner, key, label, tensor) of every CUDA tensor, and the
        optimizer's host state to copy at each snapshot."""
        found, seen = [], set()
        for mname, mod in self.model.named_modules():
            for pname, p in mod._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    found.append(("param", mod, pname, (mname + "." if mname else "") + pname,
                                  p.data))
            for bname, b in mod._buffers.items():
                if b is not None and id(b) not in seen:
                    seen.add(id(b))
                    found.append(("buffer", mod, bname, (mname + "." if mname else "") + bname,
                                  b))
        out, host = [], []
        counters = {"param": 0, "buffer": 0}
        pindex = {}
        for kind, owner, key, label, t in found:
            i = counters[kind]
            counters[kind] += 1
            if kind == "param":
                pindex[id(owner._parameters[key])] = i
            out.append(("%s.%d" % (kind, i), kind, owner, key, label, t))
        if self.optimizer is not None:
            for group in self.optimizer.param_groups:
                for p in group["params"]:
                    st = self.optimizer.state.get(p)
                    if not st:
                        continue
                    i = pindex.get(id(p))
                    if i is None:
                        raise ValueError("egpu.torch: the optimizer has a parameter that is "
                                         "not the model's")
                    for k, v in st.items():
                        if torch.is_tensor(v) and v.is_cuda:
                            out.append(("optim.%d.%s" % (i, k), "optim", p, k,
                                        "optimizer state %s of param.%d" % (k, i), v))
                        else:
                            host.append((p, k))
        return out, host

    def _state_count(self):
        if self.optimizer is None:
            return 0
        return sum(len(st) for st in self.optimizer.state.values())

    def _check(self, label, t):
        if t.device != self.device:
            raise ValueError("egpu.torch: %s is on %s, the model on %s: not protected"
                             % (label, t.device, self.device))
        if t.layout != torch.strided:
            raise ValueError("egpu.torch: %s is %s, not a strided tensor: refused"
                             % (label, t.layout))
        if not t.is_contiguous():
            raise ValueError("egpu.torch: %s is not contiguous: refused (make it contiguous "
                             "before protecting)" % label)

    def _refresh(self):
        """Register what is new or moved; unregister what went away."""
        scanned, self._host_keys = self._scan()
        self._state_seen = self._state_count()
        spans = []
        for name, kind, owner, key, label, t in scanned:
            if t.is_cuda:
                self._check(label, t)
            elif kind != "optim":
                raise ValueError("egpu.torch: %s is on %s, the model on %s: not protected"
                                 % (label, t.device, self.device))
            if t.numel():
                spans.append((t.data_ptr(), t.data_ptr() + t.numel() * t.element_size(), label))
        spans.sort()
        for a, b in zip(spans, spans[1:]):
            if b[0] < a[1]:
                raise ValueError("egpu.torch: %s and %s share memory: refused (views of one "
                                 "storage cannot be restored as separate tensors)" % (a[2], b[2]))
        names = {s[0] for s in scanned}
        busy = False
        for name in [n for n in self._entries if n not in names]:
            busy = busy or self._settle()
            if self._entries[name].dptr:
                self.set.unregister(name)
            del self._entries[name]
        for name, kind, owner, key, label, t in scanned:
            e = self._entries.get(name)
            if e is None:
                e = self._entries[name] = _Entry(name, kind, owner, key, label, t)
            e.tensor, e.shape, e.dtype = t, tuple(t.shape), t.dtype
            want = t.data_ptr() if t.numel() else 0
            if e.dptr != want:
                busy = busy or self._settle()
                if e.dptr:
                    self.set.unregister(name)
                    e.dptr = 0
                if want:
                    self.set.register(name, want, e.nbytes)
                    e.dptr = want

    def settle(self):
        """Finish a snapshot in progress (one that fails leaves the last
        complete one in place); True."""
        try:
            self.set.wait()
        except Error:
            pass
        return True

    _settle = settle      # register/unregister need no snapshot in progress

    @property
    def names(self):
        return list(self._entries)

    @property
    def nbytes(self):
        return sum(e.nbytes for e in self._entries.values())

    # --- snapshots

    def _capture(self):
        """What the device copy does not hold, as of now (the step boundary)."""
        host = {}
        if self.optimizer is not None:
            for p, k in self._host_keys:
                v = self.optimizer.state[p][k]
                host[(id(p), k)] = (p, k, v.clone() if torch.is_tensor(v) else _copy.deepcopy(v))
        shapes = {n: (e.shape, e.dtype) for n, e in self._entries.items()}
        return {"steps": self.steps, "host": host, "shapes": shapes}

    def _completed(self, status, state):
        if status == 0:
            self.last = state
            self._last_gen = self.set.info().generation

    def snapshot(self, wait=False):
        """Start a snapshot now, ordered on the current stream (wait: and finish it)."""
        self._refresh()
        state = self._capture()
        self.set.take(torch.cuda.current_stream(self.device),
                      done=lambda status: self._completed(status, state))
        if wait:
            self.set.wait()
        return state["steps"]

    def step(self):
        """Call once per training step, after optimizer.step(): counts the
        step, takes the periodic snapshot, finishes one in progress, and reads
        egpud's events.  Returns the step count."""
        self.steps += 1
        if self.device.type == "cuda" and not self.set.info().in_progress and \
                self._state_count() != self._state_seen:
            self._refresh()     # new optimizer state: in the final snapshot on LEAVING too
        self.poll_events()
        if self.lost or self.leaving or self.device.type != "cuda":
            return self.steps
        try:
            self.set.poll()
        except Error:
            pass        # a failed snapshot: the last complete one stands (set.info())
        if self.every and self.steps % self.every == 0:
            try:
                self.snapshot()
            except Error as e:
                if e.errno != 16:   # EBUSY: the last one is still copying; next time
                    raise
        elif self.interval_ms or self.set.info().interval_ms:
            self._refresh()
            state = self._capture()
            if self.set.maybe(torch.cuda.current_stream(self.device)):
                self._pending_maybe = state
            self._adopt_maybe()
        return self.steps

    def _adopt_maybe(self):
        """A periodic snapshot (maybe()) completed: pair it with its host state."""
        st = getattr(self, "_pending_maybe", None)
        inf = self.set.info()
        if st is not None and not inf.in_progress and inf.generation != self._last_gen:
            self.last, self._last_gen, self._pending_maybe = st, inf.generation, None

    def poll_events(self):
        """egpud's events (none without a watcher); sets .leaving / .lost."""
        if self.watcher is None:
            return []
        got = []
        while True:
            ev = self.watcher.next(0)
            if ev is None:
                break
            got.append(ev)
            if ev.kind == LEAVING:
                # libegpu took the final snapshot inside next(), at this step boundary
                inf = self.set.info()
                if inf.generation and inf.generation != self._last_gen and not inf.in_progress:
                    self.last, self._last_gen = self._capture(), inf.generation
                self.leaving = True
            elif ev.kind == LOST:
                self.lost = True
        self.events += got
        return got

    def info(self):
        return self.set.info()

    # --- after LEAVING or LOST

    def resume(self, device, copy=True):
        """Rebuild every protected tensor on device ("cuda:N" or "cpu") from
        the last complete snapshot and rebind them; returns that snapshot's
        step count.  copy=False (CPU only) keeps the tensors in the set's
        pinned host memory instead of cloning them (the set then takes no
        more snapshots)."""
        dev = torch.device(device)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        self._settle()
        if self.last is None:
            raise RuntimeError("egpu.torch: no complete snapshot to resume from")
        state = self.last
        new = {}
        if dev.type == "cuda":
            self.set.set_device(dev.index)
            stream = torch.cuda.current_stream(dev)
            with torch.cuda.device(dev):
                for name, e in self._entries.items():
                    shape, dtype = state["shapes"][name]
                    t = torch.empty(shape, dtype=dtype, device=dev)
                    if t.numel():
                        self.set.restore_into(name, t.data_ptr(), stream_handle(stream))
                    new[name] = t
        elif dev.type == "cpu":
            for name, e in self._entries.items():
                shape, dtype = state["shapes"][name]
                if e.dptr:
                    raw = self.set.host_copy(name)
                    with warnings.catch_warnings():   # the view is read-only: cloned next
                        warnings.simplefilter("ignore", UserWarning)
                        t = torch.frombuffer(raw, dtype=dtype).view(shape)
                    new[name] = t.clone() if copy else t
                else:
                    new[name] = torch.empty(shape, dtype=dtype)
        else:
            raise ValueError("egpu.torch: resume onto cuda:N or cpu, not %s" % dev)
        self._rebind(new, state)
        old = self.device
        self.device = dev
        self.steps = state["steps"]
        for e in self._entries.values():
            e.dptr = e.tensor.data_ptr() if dev.type == "cuda" and e.tensor.numel() else 0
        if dev.type != "cuda" and copy:
            self._drop_set()
        gc.collect()
        if old.type == "cuda" and not self.lost:
            try:
                torch.cuda.empty_cache()
            except RuntimeError:
                pass
        if self.leaving and self.watcher is not None and dev != old:
            self.watcher.ack()    # let go of the leaving GPU
        self.lost = self.leaving = False
        return self.steps

    def _rebind(self, new, state):
        for name, e in self._entries.items():
            t = new[name]
            if e.kind == "param":
                p = e.owner._parameters[e.key]
                p.data = t
                p.grad = None
            elif e.kind == "buffer":
                e.owner._buffers[e.key] = t
            else:
                self.optimizer.state[e.owner][e.key] = t
            e.tensor = t
        for p, k, v in state["host"].values():
            v = v.clone() if torch.is_tensor(v) else _copy.deepcopy(v)
            self.optimizer.state[p][k] = v

    def _drop_set(self):
        if self.set is not None:
            if self.watcher is not None:
                self.set.detach()
            self.set.free()

    def close(self):
        """Free the snapshot set (and the watcher protect() opened)."""
        if self.set is not None and self.set._h:
            self._drop_set()
        if self.watcher is not None and self._own_watcher:
            self.watcher.close()
        self.watcher = None


def protect(model, optimizer=None, every=None, **kw):
    """A Protector for model and optimizer (see the module's text)."""
    return Protector(model, optimizer, every=every, **kw)
