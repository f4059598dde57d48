#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
# egpuhp-test: once
"""egpuctl doctor as a program, on the fixture trees (no VM; egpuhp-test: once):
the exit status says whether a check failed, --json is the envelope of
docs/egpuctl-json.md with the findings in data.checks, text and JSON agree,
a DEV|ROUTER that does not exist is code not-found, a bad option is a usage
error, and the tree is left as it was (doctor only reads).

Usage: test_doctor_cli.py   (TAP on stdout)
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
EGPUCTL = os.path.join(TOP, "build", "user", "egpuctl")
FIXTURES = os.path.join(HERE, "fixtures")

n = failed = 0


def ok(cond, name, diag=""):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, name), flush=True)
    if not cond:
        failed += 1
        for line in str(diag).splitlines()[-20:]:
            print("# " + line, flush=True)


def assemble(case, dst):
    """base, the case's files over it, minus what CASE.remove lists (as
    tests/unit/test_doctor.c does)."""
    os.makedirs(dst)
    subprocess.run(["cp", "-a", os.path.join(FIXTURES, "base") + "/.", dst], check=True)
    over = os.path.join(FIXTURES, case)
    if case != "base" and os.path.isdir(over):
        subprocess.run(["cp", "-a", over + "/.", dst], check=True)
    rm = os.path.join(FIXTURES, case + ".remove")
    if os.path.exists(rm):
        subprocess.run(["xargs", "rm", "-rf"], stdin=open(rm), cwd=dst, check=True)


def digest(root):
    h = hashlib.sha256()
    for d, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for f in sorted(files + [x for x in dirs if os.path.islink(os.path.join(d, x))]):
            p = os.path.join(d, f)
            h.update(p.encode())
            h.update(os.readlink(p).encode() if os.path.islink(p) else open(p, "rb").read())
    return h.hexdigest()


def doctor(root, *args, env_root=False):
    env = dict(os.environ)
    argv = [EGPUCTL, "--json", "doctor"] + list(args)
    if env_root:
        env["EGPUHP_DOCTOR_ROOT"] = root
    else:
        argv[3:3] = ["--root", root]
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    return p.returncode, p.stdout, p.stderr


def main():
    if not os.access(EGPUCTL, os.X_OK):
        print("1..1\nnot ok 1 - %s is built (make -C user)" % EGPUCTL)
        return 1
    tmp = tempfile.mkdtemp(prefix="egpu-doctor-cli-")
    try:
        cases = sorted(c[:-7] if c.endswith(".remove") else c
                       for c in os.listdir(FIXTURES) if c != "mkfixtures.py" and
                       not c.startswith("."))
        for case in sorted(set(cases)):
            root = os.path.join(tmp, case)
            assemble(case, root)
            before = digest(root)
            rc, out, err = doctor(root)
            try:
                doc = json.loads(out)
                checks = doc["data"]["checks"]
                fails = [c for c in checks if c["verdict"] == "fail"]
                good = (doc["version"] == 1 and doc["verb"] == "doctor" and
                        doc["status"] == rc and doc["ok"] == (rc == 0) and
                        rc == (1 if fails else 0) and
                        (doc.get("code") == "failed") == bool(fails) and
                        doc["data"]["fail"] == len(fails) and
                        doc["data"]["ok"] + doc["data"]["warn"] + doc["data"]["fail"] +
                        doc["data"]["na"] == len(checks) and
                        all(c["verdict"] in ("ok", "warn", "fail", "n/a") and c["seen"]
                            for c in checks) and
                        all(c.get("fix") for c in checks if c["verdict"] == "fail"))
            except (ValueError, KeyError, TypeError) as e:
                good, doc = False, repr(e)
            ok(good, "%s: exit status %d and the JSON envelope agree" % (case, rc), out + err)
            p = subprocess.run([EGPUCTL, "doctor", "--root", root], capture_output=True,
                               text=True, timeout=60)
            last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
            ok(p.returncode == rc and isinstance(doc, dict) and last ==
               "%d ok, %d warn, %d fail, %d n/a" % tuple(doc["data"][k] for k in
                                                         ("ok", "warn", "fail", "na")),
               "%s: text output says the same" % case, p.stdout + p.stderr)
            ok(digest(root) == before, "%s: doctor changed nothing in the tree" % case)
        root = os.path.join(tmp, "base")
        rc, out, _ = doctor(root, env_root=True)
        ok(rc == 0 and json.loads(out)["data"]["root"] == root,
           "$EGPUHP_DOCTOR_ROOT roots the paths like --root", out)
        rc, out, _ = doctor(root, "0000:05:00.1")
        subj = {c.get("subject") for c in json.loads(out)["data"]["checks"]
                if c["check"] == "bar-space"}
        ok(rc == 0 and subj == {"0000:05:00.0", "0000:05:00.1"},
           "DEV: the functions of its slot", out)
        rc, out, _ = doctor(root, "0-7")
        doc = json.loads(out)
        ok(rc == 1 and doc["code"] == "not-found" and "0-7" in doc["error"],
           "an unknown DEV|ROUTER: not-found, status 1", out)
        rc, out, _ = doctor(root, "--bogus")
        ok(rc == 2 and json.loads(out)["code"] == "usage", "a bad option: usage, status 2", out)
        rc, out, _ = doctor(root, "0-1", "0000:05:00.0")
        ok(rc == 2 and json.loads(out)["code"] == "usage", "two targets: usage, status 2", out)
    finally:
        shutil.rmtree(tmp)
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
