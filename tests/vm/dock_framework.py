# SPDX-License-Identifier: GPL-2.0
"""A tiny test framework for VM tests: @vmtest functions get a booted Dock,
run once per --kernel, and print TAP.  Every test fails when the guest
console shows a kernel problem or the kernel picked up a new taint.

    @vmtest(ports=2)                      # a fresh VM for this test
    def test_a(vm): ...

    @vmtest(boot="hotplug", ports=4)      # tests naming the same boot share one VM
    def test_b(vm): ...

    if __name__ == "__main__":
        main()
"""

import argparse
import os
import signal
import sys
import time
import traceback

import dock

DEFAULT_KERNELS = os.environ.get("EGPUHP_VM_KERNELS", "6.1 6.12").split()


class Skip(Exception):
    """Raise Skip("reason") in a test to report it skipped."""


class TestTimeout(Exception):
    pass


class _Case:
    def __init__(self, fn, boot, timeout, kernels, health_check, dock_kw):
        self.fn, self.name = fn, fn.__name__
        self.health_check = health_check
        self.boot = boot or "__own__" + fn.__name__
        self.timeout, self.kernels, self.dock_kw = timeout, kernels, dock_kw


_CASES = []


def vmtest(fn=None, *, boot=None, timeout=300, kernels=None, health_check=True, **dock_kw):
    """Registers a VM test.  BOOT: a name shared by tests that run one after
    another in one VM (they must ask for the same Dock arguments); TIMEOUT:
    seconds for the test (with the boot when it boots); KERNELS: flavours the
    test applies to (others report SKIP); health_check=False is only for the
    dock's own test of the health check (the VM is discarded after it);
    other arguments go to Dock().  KERNELS and a Dock argument may also be a
    function of the kernel's name (one function object for all tests of a
    boot: they must ask for the same arguments)."""
    def register(f):
        _CASES.append(_Case(f, boot, timeout, kernels, health_check, dock_kw))
        return f
    return register(fn) if fn is not None else register


def _alarm(_signum, _frame):
    raise TestTimeout("test ran past its time limit")


def _groups(cases):
    """Cases grouped by boot, in order of first appearance."""
    order, groups = [], {}
    for c in cases:
        if c.boot not in groups:
            order.append(c.boot)
            groups[c.boot] = []
        groups[c.boot].append(c)
    for boot in order:
        kws = {repr(sorted(c.dock_kw.items())) for c in groups[boot]}
        if len(kws) > 1:
            raise SystemExit("vmtest: tests of boot %r ask for different Dock arguments" % boot)
    return [groups[b] for b in order]


class _Runner:
    def __init__(self, script):
        self.script = script
        self.n = 0
        self.failed = 0

    def report(self, ok, name, kernel, detail="", skip=None):
        self.n += 1
        line = "%s %d - %s [%s]" % ("ok" if ok else "not ok", self.n, name, kernel)
        if skip:
            line += " # SKIP %s" % skip
        print(line)
        if not ok:
            self.failed += 1
            for d in detail.rstrip().splitlines():
                print("#   " + d)
        sys.stdout.flush()

    def run_group(self, group, kernel):
        vm = None
        try:
            for case in group:
                if case.kernels and not (case.kernels(kernel) if callable(case.kernels)
                                         else kernel in case.kernels):
                    self.report(True, case.name, kernel, skip="not for kernel %s" % kernel)
                    continue
                vm = self.run_case(case, kernel, vm)
        finally:
            if vm:
                vm.close()

    def run_case(self, case, kernel, vm):
        """Runs one case; returns the VM to reuse (None when it was closed)."""
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(case.timeout)
        t0 = time.monotonic()
        since = 0
        detail, skip = "", None
        try:
            if vm is None:
                name = "%s-%s-%s" % (self.script, kernel, case.name)
                kw = {k: v(kernel) if callable(v) else v for k, v in case.dock_kw.items()}
                vm = dock.Dock(kernel=kernel, name=name, **kw)
                vm.__enter__()
            else:
                since = vm.console_mark()
            case.fn(vm)
            if case.health_check:
                vm.check_health(since)
            else:
                vm.close()
                vm = None
        except Skip as e:
            skip = str(e) or "skipped"
        except BaseException as e:     # noqa: B036 - a test must never kill the run
            if isinstance(e, KeyboardInterrupt):
                raise
            detail = "%s: %s\n" % (type(e).__name__, e)
            tb = traceback.extract_tb(e.__traceback__)
            detail += "".join(traceback.format_list(tb[-4:]))
            if vm is not None and vm.alive():
                try:
                    bad = vm.console_problems(since)
                    if bad and "kernel problem" not in str(e):
                        detail += "guest console problems:\n  " + "\n  ".join(bad[:10]) + "\n"
                except Exception:       # the report itself must not fail
                    pass
            if vm is not None:
                detail += vm.console_tail(40)
                detail += "full console: %s\n" % getattr(vm, "console_path", "?")
        finally:
            signal.alarm(0)
        elapsed = time.monotonic() - t0
        if skip:
            self.report(True, case.name, kernel, skip=skip)
        else:
            self.report(not detail, "%s (%.1fs)" % (case.name, elapsed), kernel, detail)
        # A failed test may leave the guest in any state: the next test boots afresh.
        if detail and vm is not None:
            vm.close()
            vm = None
        return vm


def main(argv=None):
    ap = argparse.ArgumentParser(description="egpuhp VM tests (TAP output)")
    ap.add_argument("--kernel", action="append", help="test kernel flavour (repeatable)")
    ap.add_argument("-k", dest="pattern", help="run tests whose name contains this")
    ap.add_argument("--list", action="store_true", help="list the tests")
    args = ap.parse_args(argv)
    kernels = args.kernel or DEFAULT_KERNELS
    cases = [c for c in _CASES if not args.pattern or args.pattern in c.name]
    if args.list:
        for c in cases:
            print(c.name)
        return 0
    script = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    runner = _Runner(script)
    print("1..%d" % (len(cases) * len(kernels)))
    sys.stdout.flush()
    for kernel in kernels:
        try:
            dock.kernel_env(kernel)
        except dock.DockError as e:
            for c in cases:
                runner.report(False, c.name, kernel, "cannot get kernel %s: %s" % (kernel, e))
            continue
        for group in _groups(cases):
            runner.run_group(group, kernel)
    print("# %s: %d of %d failed" % (script, runner.failed, runner.n))
    sys.exit(1 if runner.failed else 0)
