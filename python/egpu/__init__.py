# SPDX-License-Identifier: LGPL-2.1-or-later
"""libegpu for Python: be told by egpud when an external GPU leaves, and
keep a copy of a program's device buffers in host memory that survives it.

  import egpu
  with egpu.Watcher(pci="0000:05:00.0") as w:
      ev = w.next(timeout_ms=-1)          # an egpu.Event or None
      if ev.kind in (egpu.LEAVING, egpu.LOST):
          stop_using_gpu(); w.ack()

A ctypes binding over the installed libegpu.so.0 (package libegpu0); no
compiled extension.  $EGPUHP_LIBEGPU names another copy of the library
(the build tree's build/user/libegpu.so, say); without it a checkout's own
build/user/libegpu.so is used when this file lies in that checkout's
python/ directory, else the system's libegpu.so.0.  egpu.torch protects a
PyTorch model and optimizer with the snapshot set below.
"""
import ctypes
import errno
import os

__all__ = ["Error", "Event", "Watcher", "SnapshotSet", "load", "kind_name",
           "ADDED", "READY", "LEAVING", "REMOVED", "LOST", "RESET_BEGIN", "RESET_END",
           "WORKLOAD_LOST", "MIGRATED", "CHECKPOINTED"]

# enum egpu_event_kind (egpu.h), in its order
(UNKNOWN, ADDED, READY, LEAVING, REMOVED, LOST, RESET_BEGIN, RESET_END,
 WORKLOAD_LOST, MIGRATED, CHECKPOINTED) = range(11)


class Error(OSError):
    """A libegpu call failed: errno, and libegpu's message where it gave one."""

    def __init__(self, err, what, message=None):
        text = os.strerror(err) if err > 0 else "error %d" % err
        if message:
            text = "%s: %s" % (text, message)
        super().__init__(err, "%s: %s" % (what, text))


class _CEvent(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("pci", ctypes.c_char * 16),
                ("group", ctypes.c_char * 16), ("seq", ctypes.c_ulonglong),
                ("surprise", ctypes.c_bool), ("orderly", ctypes.c_bool)]


_lib = None


def _library_path():
    env = os.environ.get("EGPUHP_LIBEGPU")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    tree = os.path.join(here, "..", "..", "build", "user", "libegpu.so")
    if os.path.basename(os.path.dirname(here)) == "python" and os.path.exists(tree):
        return os.path.normpath(tree)
    return "libegpu.so.0"


def _fn(lib, name, res, *args):
    f = getattr(lib, name)
    f.restype = res
    f.argtypes = list(args)
    return f


def load(path=None):
    """The loaded libegpu (ctypes.CDLL); loads it on the first call."""
    global _lib
    if _lib is not None and path is None:
        return _lib
    lib = ctypes.CDLL(path or _library_path(), use_errno=True)
    p, i, c = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    _fn(lib, "egpu_open", p, c, c)
    _fn(lib, "egpu_fd", i, p)
    _fn(lib, "egpu_next", i, p, ctypes.POINTER(_CEvent), i)
    _fn(lib, "egpu_ack", i, p)
    _fn(lib, "egpu_event_detail", c, p)
    _fn(lib, "egpu_close", None, p)
    _fn(lib, "egpu_event_kind_name", c, i)
    _fn(lib, "egpu_parse_line", i, c, ctypes.POINTER(_CEvent))
    from . import snapshot
    snapshot._declare(lib)
    _lib = lib
    return lib


def kind_name(kind):
    """libegpu's name of an event kind ("leaving", "lost", ...)."""
    return load().egpu_event_kind_name(kind).decode()


class Event:
    """One event: kind (LEAVING, LOST, ...), pci, group, seq, surprise,
    orderly, and detail (the "key=value ..." words after it)."""

    __slots__ = ("kind", "pci", "group", "seq", "surprise", "orderly", "detail")

    def __init__(self, c, detail=""):
        self.kind = c.kind
        self.pci = c.pci.decode()
        self.group = c.group.decode()
        self.seq = c.seq
        self.surprise = bool(c.surprise)
        self.orderly = bool(c.orderly)
        self.detail = detail

    @property
    def name(self):
        return kind_name(self.kind)

    def __repr__(self):
        return "<egpu.Event %s %s seq=%d%s>" % (self.name, self.pci, self.seq,
                                                " " + self.detail if self.detail else "")


def parse_line(line):
    """An Event from one line of egpud's watch stream, or None if it is none."""
    c = _CEvent()
    if load().egpu_parse_line(line.encode(), ctypes.byref(c)) != 0:
        return None
    return Event(c)


class Watcher:
    """A watch connection to egpud (egpu_open): socket None means
    $EGPUD_SOCKET or the default, pci None or "" every eGPU."""

    def __init__(self, socket=None, pci=None):
        lib = load()
        self._lib = lib
        self._h = lib.egpu_open(socket.encode() if socket else None,
                                pci.encode() if pci else None)
        if not self._h:
            raise Error(ctypes.get_errno(), "egpu_open")
        self.snapshots = None    # a SnapshotSet attached to this watcher

    @property
    def handle(self):
        if not self._h:
            raise Error(errno.EBADF, "egpu watcher", "closed")
        return self._h

    def fileno(self):
        return self._lib.egpu_fd(self.handle)

    def next(self, timeout_ms=-1):
        """The next event, or None if none came within timeout_ms (-1: wait).
        With a snapshot set attached, a LEAVING is returned after libegpu
        has taken the final snapshot.  Raises Error when egpud went away."""
        c = _CEvent()
        r = self._lib.egpu_next(self.handle, ctypes.byref(c), timeout_ms)
        if r < 0:
            raise Error(-r, "egpu_next")
        if r == 0:
            return None
        return Event(c, self._lib.egpu_event_detail(self.handle).decode(errors="replace"))

    def ack(self):
        """After LEAVING: this program has let go of the device."""
        r = self._lib.egpu_ack(self.handle)
        if r < 0:
            raise Error(-r, "egpu_ack")

    def close(self):
        if self._h:
            if self.snapshots is not None:      # the set must not outlive its watcher
                self.snapshots.detach()
            self._lib.egpu_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001  (interpreter shutdown)
            pass


from .snapshot import SnapshotSet  # noqa: E402  (needs load() above)
