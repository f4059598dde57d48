# SPDX-License-Identifier: LGPL-2.1-or-later
"""Snapshot sets (egpu_snapshot.h): a copy of a CUDA program's device
buffers in pinned host memory, refreshed at points the program chooses,
final before its GPU leaves, and kept after the GPU is lost.

  s = egpu.SnapshotSet(device=0)
  s.register("weights", dptr, nbytes)     # dptr: an int (CUdeviceptr)
  s.take_wait(stream)                     # stream: None, an int or a torch stream
  ...                                     # after LOST:
  s.restore(1)                            # onto CUDA device 1: s.dptr("weights")
  view = s.host_copy("weights")           # or the host copy (a memoryview)

Every failing call raises egpu.Error with libegpu's errno and its message
(which driver call failed, with which CUresult).  Nothing here blocks
unless its name says so (wait, take_wait, take_quiesced, restore...).
As in C, a set is used from one thread at a time, the one that also calls
next() on the watcher it is attached to; done callbacks run in that thread.
"""
import ctypes
import errno as _errno

# egpu_snapshot.h
NAME_MAX = 64
CHUNK = 2 << 20
CURRENT_CTX = 1 << 0
EXPLICIT_DIRTY = 1 << 1


class Info(ctypes.Structure):
    """struct egpu_snap_info"""
    _fields_ = [("generation", ctypes.c_uint64), ("bytes", ctypes.c_uint64),
                ("taken_ns", ctypes.c_uint64), ("age_ns", ctypes.c_uint64),
                ("last_copied", ctypes.c_uint64), ("buffers", ctypes.c_uint32),
                ("interval_ms", ctypes.c_uint32), ("in_progress", ctypes.c_int32),
                ("last_error", ctypes.c_int32), ("device", ctypes.c_int32),
                ("attached", ctypes.c_int32), ("reserved", ctypes.c_uint64 * 4)]

    def __repr__(self):
        return ("<egpu snapshot info generation=%d bytes=%d buffers=%d age=%.3fs "
                "in_progress=%d last_error=%d device=%d attached=%d>" %
                (self.generation, self.bytes, self.buffers, self.age_ns / 1e9,
                 self.in_progress, self.last_error, self.device, self.attached))


DONE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)


def _declare(lib):
    p, i, u, c, u64 = (ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_char_p,
                       ctypes.c_uint64)
    decl = {
        "egpu_snap_new": (p, i, u),
        "egpu_snap_free": (None, p),
        "egpu_snap_register": (i, p, c, u64, u64),
        "egpu_snap_unregister": (i, p, c),
        "egpu_snap_mark_dirty": (i, p, c, u64, u64),
        "egpu_snap_take": (i, p, p, DONE_FN, p),
        "egpu_snap_take_streams": (i, p, ctypes.POINTER(p), u, DONE_FN, p),
        "egpu_snap_take_quiesced": (i, p),
        "egpu_snap_poll": (i, p),
        "egpu_snap_wait": (i, p, i),
        "egpu_snap_take_wait": (i, p, p),
        "egpu_snap_set_interval": (i, p, u),
        "egpu_snap_maybe": (i, p, p),
        "egpu_snap_attach": (i, p, p),
        "egpu_snap_info": (i, p, ctypes.POINTER(Info)),
        "egpu_snap_buffer_name": (c, p, u),
        "egpu_snap_buffer_dptr": (u64, p, c),
        "egpu_snap_host_copy": (p, p, c, ctypes.POINTER(u64)),
        "egpu_snap_set_device": (i, p, i),
        "egpu_snap_restore": (i, p, i),
        "egpu_snap_restore_into": (i, p, c, u64, p),
        "egpu_snap_last_error": (c, p),
    }
    for name, (res, *args) in decl.items():
        f = getattr(lib, name, None)
        if f is None:       # a libegpu older than snapshots: the watcher still works
            continue
        f.restype = res
        f.argtypes = args


def stream_handle(stream):
    """A CUstream as an int: None (the legacy default stream), an int, or
    anything with a cuda_stream attribute (torch.cuda.Stream)."""
    if stream is None:
        return None
    h = getattr(stream, "cuda_stream", stream)
    if not isinstance(h, int):
        raise TypeError("a stream is None, an int (CUstream) or has .cuda_stream, not %r"
                        % type(stream).__name__)
    return h or None


class SnapshotSet:
    """egpu_snap_new(device, flags): a set of device buffers of one CUDA
    device.  explicit_dirty: incremental snapshots of what mark_dirty()
    names; current_ctx: the calling thread's CUDA context rather than the
    device's primary one (PyTorch's)."""

    def __init__(self, device=0, explicit_dirty=False, current_ctx=False):
        from . import Error, load
        self._Error = Error
        self._lib = lib = load()
        if not hasattr(lib, "egpu_snap_new"):
            raise Error(_errno.ENOSYS, "egpu_snap_new", "this libegpu has no snapshots")
        flags = (EXPLICIT_DIRTY if explicit_dirty else 0) | (CURRENT_CTX if current_ctx else 0)
        self._h = lib.egpu_snap_new(device, flags)
        if not self._h:
            raise Error(ctypes.get_errno() or _errno.EIO, "egpu_snap_new",
                        self._msg(None))
        self._callbacks = {}     # id -> (ctypes thunk, Python callable): alive until done
        self._next_cb = 1
        self._watcher = None

    # --- plumbing

    def _msg(self, h):
        m = self._lib.egpu_snap_last_error(h)
        return m.decode(errors="replace") if m else ""

    @property
    def handle(self):
        if not self._h:
            raise self._Error(_errno.EBADF, "egpu snapshot set", "freed")
        return self._h

    def _check(self, r, what):
        if r < 0:
            raise self._Error(-r, what, self._msg(self._h))
        return r

    def _done(self, callback):
        """A DONE_FN for callback(status), kept alive until it has run once."""
        if callback is None:
            return DONE_FN(), None
        key = self._next_cb
        self._next_cb += 1

        def thunk(_s, status, _arg):
            fn = self._callbacks.pop(key, (None, None))[1]
            if fn is not None:
                fn(status)
        cb = DONE_FN(thunk)
        self._callbacks[key] = (cb, callback)
        return cb, key

    # --- buffers

    def register(self, name, dptr, nbytes):
        """Protect nbytes of device memory at dptr (an int) under name."""
        self._check(self._lib.egpu_snap_register(self.handle, name.encode(), dptr, nbytes),
                    "egpu_snap_register %s" % name)

    def unregister(self, name):
        self._check(self._lib.egpu_snap_unregister(self.handle, name.encode()),
                    "egpu_snap_unregister %s" % name)

    def mark_dirty(self, name=None, offset=0, length=0):
        """With explicit_dirty: bytes [offset, offset+length) of name (None:
        every buffer; length 0: to its end) were written."""
        self._check(self._lib.egpu_snap_mark_dirty(self.handle, name.encode() if name else None,
                                                   offset, length),
                    "egpu_snap_mark_dirty %s" % (name or "(all)"))

    def names(self):
        """The registered names, in registration order."""
        out, i = [], 0
        while True:
            n = self._lib.egpu_snap_buffer_name(self.handle, i)
            if n is None:
                return out
            out.append(n.decode())
            i += 1

    def dptr(self, name):
        """Where name lives on the device now (0: nowhere yet)."""
        return self._lib.egpu_snap_buffer_dptr(self.handle, name.encode())

    def host_copy(self, name):
        """The last complete snapshot of name: a read-only memoryview of its
        pinned host slot, valid until the set is freed, name unregistered, or a
        snapshot started after this call completes (copy it to keep it)."""
        n = ctypes.c_uint64(0)
        p = self._lib.egpu_snap_host_copy(self.handle, name.encode(), ctypes.byref(n))
        if not p:
            raise self._Error(ctypes.get_errno() or _errno.ENODATA,
                              "egpu_snap_host_copy %s" % name)
        return memoryview((ctypes.c_ubyte * n.value).from_address(p)).cast("B").toreadonly()

    # --- snapshots

    def take(self, stream=None, done=None):
        """Start a snapshot ordered after the work enqueued on stream so far;
        done(status) runs when it finishes (in poll, wait, maybe, take or the
        attached watcher's next)."""
        cb, key = self._done(done)
        r = self._lib.egpu_snap_take(self.handle, stream_handle(stream), cb, None)
        if r < 0 and key is not None:
            self._callbacks.pop(key, None)
        self._check(r, "egpu_snap_take")

    def take_streams(self, streams, done=None):
        arr = (ctypes.c_void_p * len(streams))(*[stream_handle(s) for s in streams])
        cb, key = self._done(done)
        r = self._lib.egpu_snap_take_streams(self.handle, arr, len(streams), cb, None)
        if r < 0 and key is not None:
            self._callbacks.pop(key, None)
        self._check(r, "egpu_snap_take_streams")

    def take_quiesced(self):
        self._check(self._lib.egpu_snap_take_quiesced(self.handle), "egpu_snap_take_quiesced")

    def take_wait(self, stream=None):
        self._check(self._lib.egpu_snap_take_wait(self.handle, stream_handle(stream)),
                    "egpu_snap_take_wait")

    def poll(self):
        """True while a snapshot is still in progress."""
        return self._check(self._lib.egpu_snap_poll(self.handle), "egpu_snap_poll") == 1

    def wait(self, timeout_ms=-1):
        """Wait for a snapshot in progress; False if still going after timeout_ms."""
        r = self._lib.egpu_snap_wait(self.handle, timeout_ms)
        if r == -_errno.ETIMEDOUT:
            return False
        self._check(r, "egpu_snap_wait")
        return True

    def set_interval(self, interval_ms):
        self._check(self._lib.egpu_snap_set_interval(self.handle, interval_ms),
                    "egpu_snap_set_interval")

    def maybe(self, stream=None):
        """The periodic snapshot at a step boundary: True if one was started."""
        return self._check(self._lib.egpu_snap_maybe(self.handle, stream_handle(stream)),
                           "egpu_snap_maybe") == 1

    def info(self):
        inf = Info()
        self._check(self._lib.egpu_snap_info(self.handle, ctypes.byref(inf)), "egpu_snap_info")
        return inf

    # --- egpud

    def attach(self, watcher):
        """Report to egpud through watcher (an egpu.Watcher) and take the final
        snapshot when its next() gets LEAVING; None detaches."""
        if watcher is None:
            return self.detach()
        self._check(self._lib.egpu_snap_attach(self.handle, watcher.handle), "egpu_snap_attach")
        self._watcher = watcher
        watcher.snapshots = self

    def detach(self):
        if self._watcher is not None:
            w, self._watcher = self._watcher, None
            w.snapshots = None
            self._check(self._lib.egpu_snap_attach(self.handle, None), "egpu_snap_attach NULL")

    # --- after LOST

    def set_device(self, device):
        self._check(self._lib.egpu_snap_set_device(self.handle, device), "egpu_snap_set_device")

    def restore(self, device):
        """Every buffer onto CUDA device `device`, in memory the set owns
        (dptr(name) says where)."""
        self._check(self._lib.egpu_snap_restore(self.handle, device), "egpu_snap_restore")

    def restore_into(self, name, dptr, stream=None):
        """name's last snapshot into device memory the program allocated
        (on the set's device); later snapshots read it from there."""
        self._check(self._lib.egpu_snap_restore_into(self.handle, name.encode(), dptr,
                                                     stream_handle(stream)),
                    "egpu_snap_restore_into %s" % name)

    def last_error(self):
        return self._msg(self.handle)

    def free(self):
        """egpu_snap_free(): waits for a snapshot in progress, detaches, frees
        the host slots (host_copy views die with them)."""
        if self._h:
            if self._watcher is not None:
                self._watcher.snapshots = None
                self._watcher = None
            self._lib.egpu_snap_free(self._h)
            self._h = None
            self._callbacks.clear()

    close = free

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.free()

    def __del__(self):
        try:
            self.free()
        except Exception:  # noqa: BLE001  (interpreter shutdown)
            pass
