#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run every egpuhp test and print one summary line.

Stages, each reported as TAP-style results and counted:
  build   userspace (normal + ASan/UBSan), guest test programs, and the
          module plus test modules for every kernel in the matrix
  lint    W=1 + sparse module builds for every Debian kernel we support,
          checkpatch and kernel-doc over kmod/ (tests/lint.sh)
  unit    build/asan/tests/test_* (cmocka, CMOCKA_MESSAGE_OUTPUT=TAP)
  vm      tests/*/test_*.py|sh run once per kernel with --kernel NAME
  once    test files marked "egpuhp-test: once" (e.g. the GPU tests) run
          once, without --kernel

Every test program prints TAP ("ok N - name", "not ok N - name",
"ok N - name # SKIP why").  A program that exits non-zero, times out or
prints no result at all counts as one failure of its own.

The last line is "N passed, N failed" (", N skipped" when some were).
"""

import argparse
import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOGDIR = os.path.join(TOP, "build", "test-logs")
TAP_RE = re.compile(r"^(not ok|ok)\b(?:\s+\d+)?(?:\s*-\s*)?(.*)$")
SKIP_RE = re.compile(r"#\s*SKIP\b\s*(.*)$", re.IGNORECASE)

DEFAULT_KERNELS = "6.1 6.12 6.1-rt 6.12-rt newest newest-rt 6.12-debug"
LINT_KERNELS = "6.1 6.12 6.1-rt 6.12-rt newest newest-rt 6.12-debug"


class Tally:
    def __init__(self):
        self.passed = []
        self.failed = []
        self.skipped = []

    def add(self, status, name, why=""):
        if status == "pass":
            self.passed.append(name)
        elif status == "skip":
            self.skipped.append((name, why))
        else:
            self.failed.append((name, why))
        tag = {"pass": "PASS", "skip": "SKIP", "fail": "FAIL"}[status]
        extra = f" ({why})" if why else ""
        print(f"{tag}: {name}{extra}", flush=True)


def run_logged(cmd, logname, timeout, env=None):
    """Run cmd in its own process group; log to build/test-logs/logname."""
    os.makedirs(LOGDIR, exist_ok=True)
    path = os.path.join(LOGDIR, logname.replace("/", "_") + ".log")
    start = time.monotonic()
    with open(path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=TOP, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, text=True,
                                errors="replace")
        timed_out = False
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        finally:
            # never leave strays (QEMU, daemons) behind
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.write(out)
    return proc.returncode, out, timed_out, time.monotonic() - start, path


def tail(text, lines=40):
    return "\n".join(text.rstrip().splitlines()[-lines:])


def parse_tap(out):
    results = []
    for line in out.splitlines():
        m = TAP_RE.match(line.strip())
        if not m:
            continue
        ok = m.group(1) == "ok"
        desc = m.group(2).strip()
        skip = SKIP_RE.search(desc)
        if skip:
            name = desc[:skip.start()].strip()
            results.append(("skip", name, skip.group(1).strip() or "skipped"))
        else:
            name = re.sub(r"\s*#.*$", "", desc)
            results.append(("pass" if ok else "fail", name, ""))
    return results


def run_tap_program(tally, label, cmd, timeout, env=None):
    rc, out, timed_out, secs, log = run_logged(cmd, label, timeout, env)
    results = parse_tap(out)
    for status, name, why in results:
        tally.add(status, f"{label}: {name}", why)
    problem = None
    if timed_out:
        problem = f"timed out after {timeout}s"
    elif rc != 0 and not any(s == "fail" for s, _, _ in results):
        problem = f"exited {rc} without a failing test line"
    elif not results:
        problem = "printed no test result"
    if problem:
        tally.add("fail", f"{label}: program", f"{problem}; log {log}")
    if problem or any(s == "fail" for s, _, _ in results):
        print(f"---- {label} output tail ({log}) ----\n{tail(out)}\n----",
              flush=True)
    print(f"     {label}: {secs:.0f}s", flush=True)


def stage_build(tally, kernels):
    # 1 h: a -debug flavour builds a kernel (610 s on 2 idle cores, bench/RESULTS.md)
    jobs = f"-j{os.cpu_count() or 1}"
    steps = [("build: kernels fetch", ["tests/vm/kernels.sh", "fetch"] + kernels, 3600),
             ("build: userspace", ["make", jobs, "-C", "user", "all", "tests"], 900)]
    for mk in sorted(os.listdir(os.path.join(TOP, "tests"))):
        if os.path.isfile(os.path.join(TOP, "tests", mk, "Makefile")):
            steps.append((f"build: tests/{mk}", ["make", jobs, "-C", f"tests/{mk}", "all"], 600))
    for k in kernels:
        steps.append((f"build: modules {k}", ["tests/vm/build-modules.sh", k], 900))
    ok = True
    for label, cmd, timeout in steps:
        rc, out, timed_out, secs, log = run_logged(cmd, label, timeout)
        if rc == 0 and not timed_out:
            tally.add("pass", label)
        else:
            ok = False
            tally.add("fail", label, f"rc={rc}{' timeout' if timed_out else ''}; log {log}")
            print(tail(out), flush=True)
    return ok


def stage_lint(tally):
    label = "lint"
    rc, out, timed_out, secs, log = run_logged(
        ["tests/lint.sh", "--tap"], label, 1800,
        dict(os.environ, EGPUHP_LINT_KERNELS=os.environ.get(
            "EGPUHP_LINT_KERNELS", LINT_KERNELS)))
    results = parse_tap(out)
    for status, name, why in results:
        tally.add(status, f"lint: {name}", why)
    if rc != 0 and not any(s == "fail" for s, _, _ in results):
        tally.add("fail", "lint: program", f"exited {rc}; log {log}")
    if rc != 0:
        print(tail(out), flush=True)


def stage_unit(tally):
    d = os.path.join(TOP, "build", "asan", "tests")
    if not os.path.isdir(d):
        tally.add("fail", "unit", "no unit test binaries were built")
        return
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP",
               ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        if name.startswith("test_") and os.access(path, os.X_OK) and os.path.isfile(path):
            run_tap_program(tally, f"unit/{name}", [path], 300, env)


def discover():
    """Test files: tests/<dir>/test_*.py|sh, executable."""
    found = []
    for sub in sorted(os.listdir(os.path.join(TOP, "tests"))):
        d = os.path.join(TOP, "tests", sub)
        if not os.path.isdir(d) or sub in ("unit",):
            continue
        for f in sorted(os.listdir(d)):
            p = os.path.join(d, f)
            if re.match(r"test_.*\.(py|sh)$", f) and os.path.isfile(p):
                with open(p, errors="replace") as fh:
                    once = "egpuhp-test: once" in fh.read(4096)
                found.append((os.path.relpath(p, TOP), once))
    return found


# Longest first, so that two jobs finish together: the real-system tier, the
# debug kernel's runs, the socket fuzzer, then the rest in discovery order.
def _weight(label):
    if label.startswith("tests/system/"):
        return 0
    if "-debug]" in label:
        return 1
    if "socket_fuzz" in label or label.startswith("tests/pkg/test_deb"):
        return 2
    return 3


def stage_tests(tally, kernels, jobs, only):
    work = []
    for rel, once in discover():
        if only and not re.search(only, rel):
            continue
        interp = ["python3"] if rel.endswith(".py") else ["bash"]
        if once:
            work.append((rel, interp + [rel]))
        else:
            for k in kernels:
                work.append((f"{rel}[{k}]", interp + [rel, "--kernel", k]))
    work.sort(key=lambda w: _weight(w[0]))
    # The netlink fuzzer's volume in make check: under TCG with KASAN and
    # lockdep one vCPU handles about 550 messages a second, so the
    # 1,000,000 of "make fuzz-long" (half an hour of a core, bench/RESULTS.md)
    # do not fit beside the rest of the suite in 60 minutes on 2 cores.
    os.environ.setdefault("EGPUHP_FUZZ_MESSAGES", "100000")
    timeout = int(os.environ.get("EGPUHP_TEST_TIMEOUT", "1500"))
    # Each VM is one TCG thread: run as many at once as there are cores.
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futs = [pool.submit(run_tap_program, tally, label, cmd, timeout)
                for label, cmd in work]
        for f in futs:
            f.result()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernels", default=os.environ.get("EGPUHP_KERNELS", DEFAULT_KERNELS),
                    help="kernel flavours the VM tests boot (default: %(default)s)")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("EGPUHP_JOBS", os.cpu_count() or 1)))
    ap.add_argument("--only", default=None, help="regex on test file paths (VM/once tests)")
    ap.add_argument("--no-lint", action="store_true")
    ap.add_argument("--no-unit", action="store_true")
    ap.add_argument("--no-vm", action="store_true")
    args = ap.parse_args()
    kernels = args.kernels.split()

    start = time.monotonic()
    tally = Tally()
    stage_times = []

    def timed(name, fn, *a):
        t0 = time.monotonic()
        print(f"== stage {name}", flush=True)
        r = fn(*a)
        stage_times.append((name, time.monotonic() - t0))
        print(f"== stage {name}: {stage_times[-1][1]:.0f}s", flush=True)
        return r

    print(f"== egpuhp tests: kernels {' '.join(kernels)}, {args.jobs} jobs", flush=True)
    built = timed("build", stage_build, tally, kernels)
    if not args.no_lint:
        timed("lint", stage_lint, tally)
    if not args.no_unit:
        timed("unit", stage_unit, tally)
    if not args.no_vm:
        if built:
            timed("vm", stage_tests, tally, kernels, args.jobs, args.only)
        else:
            tally.add("fail", "vm and gpu tests", "not run: the build failed")

    print(f"== finished in {time.monotonic() - start:.0f}s", flush=True)
    print("time per stage: " + ", ".join(f"{n} {t:.0f}s" for n, t in stage_times),
          flush=True)
    if tally.skipped:
        print("skipped:")
        for name, why in tally.skipped:
            print(f"  {name}: {why}")
    if tally.failed:
        print("failed:")
        for name, why in tally.failed:
            print(f"  {name}" + (f": {why}" if why else ""))
    line = f"{len(tally.passed)} passed, {len(tally.failed)} failed"
    if tally.skipped:
        line += f", {len(tally.skipped)} skipped"
    print(line, flush=True)
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
