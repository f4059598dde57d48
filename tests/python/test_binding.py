#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
# egpuhp-test: once
"""The Python binding (python/egpu) over the build tree's libegpu.so, with
the FAKE CUDA driver library (tests/fakecuda, build/user/fakecuda/
libcuda-fake.so.1) as the GPU: its "device memory" is host memory that
cuMemAlloc hands out, written here through ctypes in place of tensors.  The
watcher half talks to a stand-in egpud (a Python socket speaking the watch
protocol of user/common/egpud_proto.h), named as such in the test names.
TAP; needs "make -C user all tests" (the runner's build stage).  The
PyTorch helper's test (test_torch.py) needs torch and is skipped without it.
"""
import ctypes
import errno
import os
import socket
import subprocess
import sys
import tempfile
import threading

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LIBEGPU = os.path.join(TOP, "build", "user", "libegpu.so")
FAKECUDA = os.path.join(TOP, "build", "user", "fakecuda", "libcuda-fake.so.1")
DEV_A, DEV_B = "0000:05:00.0", "0000:06:00.0"


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, name, fn):
        self.n += 1
        try:
            fn()
            print("ok %d - %s" % (self.n, name), flush=True)
        except Exception as e:  # noqa: BLE001  (any failure is this test's)
            self.failed += 1
            print("not ok %d - %s" % (self.n, name), flush=True)
            for line in ("%s: %s" % (type(e).__name__, e)).splitlines():
                print("#   " + line, flush=True)

    def skip_rest(self, names, why):
        for name in names:
            self.n += 1
            print("ok %d - %s # SKIP %s" % (self.n, name, why), flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        return 1 if self.failed else 0


def expect_error(err, fn, *args, **kw):
    import egpu
    try:
        fn(*args, **kw)
    except egpu.Error as e:
        if e.errno != err:
            raise AssertionError("expected %s, got %s" % (errno.errorcode[err], e))
        return e
    raise AssertionError("expected %s, the call succeeded" % errno.errorcode[err])


def short(v):
    if isinstance(v, (bytes, bytearray)):
        return "<%d bytes %s...>" % (len(v), bytes(v[:8]).hex())
    return repr(v)


def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s%s != %s" % (what + ": " if what else "", short(a), short(b)))


class FakeCuda:
    """The fake driver's own entry points, for making "device" memory and
    for its test controls (failures, lost devices, held streams)."""

    def __init__(self, path):
        self.lib = lib = ctypes.CDLL(path)     # the same instance libegpu dlopen()s
        v, u64 = ctypes.c_void_p, ctypes.c_uint64
        for name, res, args in [
                ("cuInit", ctypes.c_int, [ctypes.c_uint]),
                ("cuDevicePrimaryCtxRetain", ctypes.c_int, [ctypes.POINTER(v), ctypes.c_int]),
                ("cuCtxSetCurrent", ctypes.c_int, [v]),
                ("cuMemAlloc_v2", ctypes.c_int, [ctypes.POINTER(u64), ctypes.c_size_t]),
                ("cuMemFree_v2", ctypes.c_int, [u64]),
                ("cuStreamCreate", ctypes.c_int, [ctypes.POINTER(v), ctypes.c_uint]),
                ("cuStreamSynchronize", ctypes.c_int, [v]),
                ("fakecuda_fail", ctypes.c_int, [ctypes.c_char_p, ctypes.c_uint, ctypes.c_int]),
                ("fakecuda_calls", ctypes.c_ulong, [ctypes.c_char_p]),
                ("fakecuda_lose", None, [ctypes.c_int, ctypes.c_int]),
                ("fakecuda_reset", None, []),
                ("fakecuda_hold_all", None, [ctypes.c_int]),
                ("fakecuda_hold_stream", ctypes.c_int, [v, ctypes.c_int]),
                ("fakecuda_live", ctypes.c_ulong, [])]:
            f = getattr(lib, name)
            f.restype, f.argtypes = res, args
        self.ok(lib.cuInit(0), "cuInit")
        self.use(0)

    @staticmethod
    def ok(r, what):
        if r:
            raise AssertionError("fake %s: CUresult %d" % (what, r))

    def use(self, ordinal):
        ctx = ctypes.c_void_p()
        self.ok(self.lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), ordinal), "ctx retain")
        self.ok(self.lib.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")

    def alloc(self, data):
        """Device memory holding data (bytes): its CUdeviceptr."""
        d = ctypes.c_uint64()
        self.ok(self.lib.cuMemAlloc_v2(ctypes.byref(d), len(data)), "cuMemAlloc")
        ctypes.memmove(d.value, data, len(data))
        return d.value

    @staticmethod
    def write(dptr, data, offset=0):
        ctypes.memmove(dptr + offset, data, len(data))

    @staticmethod
    def read(dptr, n):
        return ctypes.string_at(dptr, n)

    def stream(self):
        s = ctypes.c_void_p()
        self.ok(self.lib.cuStreamCreate(ctypes.byref(s), 0), "cuStreamCreate")
        return s.value


def pattern(seed, n):
    return bytes((seed * 131 + i * 7) & 0xFF for i in range(n))


class StandInEgpud:
    """A stand-in for egpud's watch side: answers "watch" with "ok", records
    every line the client sends, sends what the test gives it."""

    def __init__(self, path):
        self.path = path
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(path)
        self.srv.listen(1)
        self.lines = []
        self.cond = threading.Condition()
        self.conn = None
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.conn, _ = self.srv.accept()
        buf = b""
        first = True
        while True:
            d = self.conn.recv(4096)
            if not d:
                break
            buf += d
            while True:
                # the request ends with "\n"; its words may be NUL-separated
                i = buf.find(b"\n")
                if i < 0:
                    break
                line, buf = buf[:i].decode(errors="replace"), buf[i + 1:]
                if first:
                    first = False
                    self.conn.sendall(b"ok\n")
                with self.cond:
                    self.lines.append(line)
                    self.cond.notify_all()

    def send(self, text):
        self.conn.sendall(text.encode())

    def wait_line(self, prefix, after=0):
        with self.cond:
            ok = self.cond.wait_for(lambda: any(l.startswith(prefix) for l in self.lines[after:]),
                                    timeout=30)
        if not ok:
            raise AssertionError("stand-in egpud: no line %r, got %r" % (prefix, self.lines))
        return [l for l in self.lines[after:] if l.startswith(prefix)][-1]


def words(line):
    return dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)


def main():
    tap = Tap()
    sys.path.insert(0, os.path.join(TOP, "python"))
    os.environ.pop("EGPUHP_LIBEGPU", None)
    os.environ["EGPUHP_LIBCUDA"] = FAKECUDA
    os.environ["FAKECUDA_DEVICES"] = DEV_A + "," + DEV_B
    names = ["import egpu loads the build tree's libegpu.so"]
    if not (os.path.exists(LIBEGPU) and os.path.exists(FAKECUDA)):
        tap.skip_rest(names, "not built")     # the runner's build stage failed: counted there
        print("# %s or %s missing: make -C user all tests" % (LIBEGPU, FAKECUDA))
        tap.n -= 1
        tap.check("libegpu.so and the fake CUDA library are built",
                  lambda: (_ for _ in ()).throw(AssertionError("not built")))
        return tap.done()
    import egpu
    state = {}

    def t_load():
        lib = egpu.load()
        eq(os.path.realpath(lib._name), os.path.realpath(LIBEGPU), "library")
        eq(egpu.kind_name(egpu.LOST), "lost")
        ev = egpu.parse_line("event leaving %s 7 orderly - reason=test" % DEV_A)
        eq((ev.kind, ev.pci, ev.seq, ev.orderly, ev.group), (egpu.LEAVING, DEV_A, 7, True, ""))
        eq(egpu.parse_line("snapshot-interval 5"), None, "a non-event line")
    tap.check(names[0], t_load)

    def t_nocuda():
        code = ("import sys; sys.path.insert(0, %r); import egpu\n"
                "try:\n egpu.SnapshotSet(0)\nexcept egpu.Error as e:\n"
                " print(e.errno, e)\n" % os.path.join(TOP, "python"))
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=dict(os.environ, EGPUHP_LIBCUDA="/nonexistent/libcuda.so.1"))
        out = p.stdout.strip()
        if not out.startswith("%d " % errno.ENOSYS) or "egpu_snap_new" not in out:
            raise AssertionError("got %r %r" % (out, p.stderr))
        print("#   " + out)
    tap.check("without a CUDA driver SnapshotSet() raises ENOSYS with libegpu's message",
              t_nocuda)

    fc = FakeCuda(FAKECUDA)
    sizes = {"weights": 3 * (1 << 20) + 5, "bias": 4096, "moments": 1 << 20}
    data = {n: pattern(i + 1, sz) for i, (n, sz) in enumerate(sizes.items())}
    bufs = {n: fc.alloc(data[n]) for n in sizes}
    stream = fc.stream()

    def t_register():
        s = state["s"] = egpu.SnapshotSet(0)
        for n in sizes:
            s.register(n, bufs[n], sizes[n])
        eq(s.names(), list(sizes), "names")
        inf = s.info()
        eq((inf.buffers, inf.bytes, inf.generation, inf.device), (3, sum(sizes.values()), 0, 0))
        for n in sizes:
            eq(s.dptr(n), bufs[n], "dptr " + n)
    tap.check("fake CUDA: register three buffers; info() counts them, no snapshot yet",
              t_register)

    def t_errors():
        s = state["s"]
        expect_error(errno.ENODATA, s.host_copy, "weights")
        expect_error(errno.ENOENT, s.host_copy, "nothing")
        expect_error(errno.EINVAL, s.register, "two words", bufs["bias"], 16)
        expect_error(errno.EINVAL, s.register, "x" * egpu.snapshot.NAME_MAX, bufs["bias"], 16)
        expect_error(errno.EINVAL, s.register, "null", 0, 16)
        expect_error(errno.EINVAL, s.register, "empty", bufs["bias"], 0)
        expect_error(errno.EEXIST, s.register, "bias", bufs["bias"], 16)
        expect_error(errno.ENOENT, s.unregister, "nothing")
        expect_error(errno.ENOENT, s.mark_dirty, "nothing")
        with egpu.SnapshotSet(0) as empty:
            expect_error(errno.ENODATA, empty.take)
        expect_error(errno.ENODEV, egpu.SnapshotSet, 7)
        try:
            s.take(stream="not a stream")
        except TypeError:
            pass
        else:
            raise AssertionError("a str was taken for a stream")
    tap.check("fake CUDA: bad names, null pointer, zero size, duplicates, unknown names, "
              "no buffers, no such device: each a clear egpu.Error, nothing lost", t_errors)

    def t_snapshot():
        s = state["s"]
        s.take_wait(stream)
        inf = s.info()
        eq(inf.generation > 0, True, "generation")
        eq(inf.last_copied, sum(sizes.values()), "copied")
        for n in sizes:
            v = s.host_copy(n)
            eq(v.readonly, True, "read-only view")
            eq(bytes(v), data[n], "host copy of " + n)
        state["gen1"] = inf.generation
    tap.check("fake CUDA: take_wait on the program's stream; host copies equal the device "
              "buffers byte for byte", t_snapshot)

    def t_double_buffer():
        s = state["s"]
        new = pattern(9, sizes["weights"])
        fc.write(bufs["weights"], new)
        fired = []
        fc.lib.fakecuda_hold_all(1)
        try:
            s.take(stream, done=fired.append)
            eq(s.poll(), True, "in progress while the streams are held")
            eq(s.info().in_progress, 1, "info in_progress")
            eq(bytes(s.host_copy("weights")), data["weights"], "last complete copy kept")
            expect_error(errno.EBUSY, s.take, stream)
            expect_error(errno.EBUSY, s.register, "late", bufs["bias"], 16)
        finally:
            fc.lib.fakecuda_hold_all(0)
        eq(s.wait(), True, "wait")
        eq(fired, [0], "done callback")
        eq(bytes(s.host_copy("weights")), new, "the new snapshot")
        eq(s.info().generation > state["gen1"], True, "generation grew")
        data["weights"] = new
    tap.check("fake CUDA: a snapshot in progress never shows in host_copy (double "
              "buffering); EBUSY meanwhile; done(0) runs in wait()", t_double_buffer)

    def t_inject():
        s = state["s"]
        before = s.info().generation
        fc.write(bufs["bias"], pattern(3, sizes["bias"]))
        fc.lib.fakecuda_fail(b"cuMemcpyDtoHAsync", 1, 999)
        try:
            e = None
            try:
                s.take_wait(stream)
            except egpu.Error as err:
                e = err
            if e is None or e.errno != errno.EIO:
                raise AssertionError("expected EIO, got %r" % e)
            if "cuMemcpyDtoHAsync" not in str(e):
                raise AssertionError("message names no driver call: %s" % e)
            print("#   " + str(e))
        finally:
            fc.lib.fakecuda_fail(b"cuMemcpyDtoHAsync", 0, 0)
        eq(s.info().generation, before, "generation after a failed snapshot")
        eq(bytes(s.host_copy("bias")), data["bias"], "last complete copy after a failure")
        s.take_wait(stream)
        data["bias"] = pattern(3, sizes["bias"])
        eq(bytes(s.host_copy("bias")), data["bias"], "next snapshot")
    tap.check("fake CUDA: an injected CUDA_ERROR_UNKNOWN in the copy raises EIO "
              "naming cuMemcpyDtoHAsync; the last complete snapshot stays", t_inject)

    def t_incremental():
        with egpu.SnapshotSet(0, explicit_dirty=True) as s:
            s.register("weights", bufs["weights"], sizes["weights"])
            s.take_wait(stream)
            eq(s.info().last_copied, sizes["weights"], "first snapshot copies all")
            s.take_wait(stream)
            eq(s.info().last_copied, sizes["weights"], "so does the first into the other slot")
            chunk = egpu.snapshot.CHUNK
            new = pattern(11, 100)
            fc.write(bufs["weights"], new, chunk + 10)
            s.mark_dirty("weights", chunk + 10, 100)
            s.take_wait(stream)
            eq(s.info().last_copied <= chunk, True, "copied %d" % s.info().last_copied)
            want = bytearray(data["weights"])
            want[chunk + 10:chunk + 110] = new
            eq(bytes(s.host_copy("weights")) == bytes(want), True, "incremental copy correct")
            expect_error(errno.EINVAL, s.mark_dirty, "weights", sizes["weights"], 1)
        fc.write(bufs["weights"], data["weights"])     # as the main set last saw it
    tap.check("fake CUDA: explicit_dirty copies only the marked chunk and the copy is "
              "right; a range past the end is EINVAL", t_incremental)

    def t_lost():
        s = state["s"]
        fc.write(bufs["moments"], pattern(21, sizes["moments"]))   # never snapshotted
        fc.lib.fakecuda_hold_all(1)
        s.take(stream)
        fc.lib.fakecuda_lose(0, 46)            # CUDA_ERROR_DEVICE_UNAVAILABLE
        fc.lib.fakecuda_hold_all(0)
        try:
            lost_part(s)
        finally:
            fc.lib.fakecuda_lose(0, 0)

    def lost_part(s):
        try:
            s.wait()
        except egpu.Error as e:
            print("#   snapshot cut short: %s" % e)
        for n in sizes:
            eq(bytes(s.host_copy(n)), data[n], "after LOST, host copy of " + n)
        s.restore(1)
        eq(s.info().device, 1, "device")
        for n in sizes:
            d = s.dptr(n)
            if d in (0, bufs[n]):
                raise AssertionError("restore left %s at %#x" % (n, d))
            eq(fc.read(d, sizes[n]), data[n], "restored " + n)
        fc.use(1)
        s.take_wait(None)                       # snapshots go on from the new memory
    tap.check("fake CUDA: device lost during a snapshot: the last complete one stays; "
              "restore(1) rebuilds every buffer on the other GPU", t_lost)

    def t_restore_into():
        s = state["s"]
        d = fc.alloc(b"\0" * sizes["bias"])
        s.restore_into("bias", d)
        eq(fc.read(d, sizes["bias"]), data["bias"], "restore_into")
        eq(s.dptr("bias"), d, "dptr follows")
        expect_error(errno.EINVAL, s.restore_into, "bias", 0)
        expect_error(errno.ENOENT, s.restore_into, "nothing", d)
        s.free()
        expect_error(errno.EBADF, s.info)
    tap.check("fake CUDA: restore_into program memory; later snapshots read it there; "
              "a freed set raises EBADF", t_restore_into)

    tmp = tempfile.mkdtemp(prefix="egpu-py-")
    sock = os.path.join(tmp, "egpud.sock")

    def t_watch_refused():
        e = expect_error(errno.ENOENT, egpu.Watcher, os.path.join(tmp, "none.sock"), DEV_A)
        print("#   " + str(e))
    tap.check("Watcher on a socket nobody listens on: ENOENT", t_watch_refused)

    def t_watch():
        # device 1: device 0's streams keep the error of its loss above
        fc.use(1)
        wbuf = fc.alloc(data["weights"])
        srv = StandInEgpud(sock)
        w = egpu.Watcher(sock, DEV_B)
        eq(w.fileno() >= 0, True, "fd")
        s = egpu.SnapshotSet(1)
        s.register("weights", wbuf, sizes["weights"])
        s.attach(w)
        first = srv.wait_line("snapshot ")
        kv = words(first)
        eq((kv.get("bytes"), kv.get("buffers"), kv.get("taken-ns")),
           (str(sizes["weights"]), "1", "0"), "attach line %r" % first)
        srv.send("snapshot-interval 250\nsomething-new from=the-future\n")
        eq(w.next(200), None, "no event from non-event lines")
        eq(s.info().interval_ms, 250, "egpud's interval applied")
        new = pattern(33, sizes["weights"])
        fc.write(wbuf, new)
        n = len(srv.lines)
        srv.send("event leaving %s 42 orderly - reason=test\n" % DEV_B)
        ev = w.next(10000)
        eq((ev.kind, ev.pci, ev.seq), (egpu.LEAVING, DEV_B, 42), "event")
        if s.info().generation == 0:
            raise AssertionError("no final snapshot: %s" % s.last_error())
        eq(bytes(s.host_copy("weights")), new, "final snapshot taken before LEAVING returned")
        fin = srv.wait_line("snapshot ", n)
        eq(words(fin).get("final"), "1", "final line %r" % fin)
        w.ack()
        srv.wait_line("ack", n)
        srv.send("event lost %s 43 surprise -\n" % DEV_B)
        ev = w.next(10000)
        eq((ev.kind, ev.surprise), (egpu.LOST, True), "lost")
        eq(bytes(s.host_copy("weights")), new, "host copy after LOST")
        n = len(srv.lines)
        w.close()               # detaches the set first ("snapshot-off")
        srv.wait_line("snapshot-off", n)
        expect_error(errno.EBADF, w.next, 0)
        s.free()
        fc.lib.cuMemFree_v2(wbuf)
    tap.check("stand-in egpud: attach reports the set, snapshot-interval applied, LEAVING "
              "returns after the final snapshot (final=1), ack, LOST, snapshot-off", t_watch)

    def t_leaks():
        import gc
        gc.collect()
        left = fc.lib.fakecuda_live()
        # our own allocations (4 here) are the only live objects left
        eq(left <= len(bufs) + 2, True, "live fake objects %d" % left)
    tap.check("fake CUDA: freed sets leave no pinned memory, stream or event behind", t_leaks)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
