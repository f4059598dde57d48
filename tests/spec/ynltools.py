# SPDX-License-Identifier: GPL-2.0
"""The kernel's YNL tools (tools/net/ynl of Debian's linux-source-6.12),
unpacked once into .cache/ynl/ with the schemas they validate against, and
docs/egpuhp.yaml staged where ynl-gen-c expects a spec to be (it looks for
the schema two directories up and for the kernel tree's MAINTAINERS).

They run under Debian's /usr/bin/python3 with python3-yaml and
python3-jsonschema (tests/debian-packages.txt), not under whatever python
runs the tests."""

import fcntl
import glob
import json
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
SPEC = os.path.join(TOP, "docs", "egpuhp.yaml")
CACHE = os.path.join(TOP, ".cache", "ynl")
PYTHON = "/usr/bin/python3"
SRC_DIR = "linux-source-6.12"
MEMBERS = ["MAINTAINERS", "tools/net/ynl/ynl-gen-c.py", "tools/net/ynl/cli.py",
           "tools/net/ynl/lib/*.py", "Documentation/netlink/*.yaml"]
YNL = os.path.join(CACHE, "tools", "net", "ynl")
GEN_C = os.path.join(YNL, "ynl-gen-c.py")
LIB = os.path.join(YNL, "lib")
SCHEMA = os.path.join(CACHE, "Documentation", "netlink", "genetlink-legacy.yaml")
STAGED_SPEC = os.path.join(CACHE, "Documentation", "netlink", "specs", "egpuhp.yaml")
# Where a guest has YNL's lib/, PyYAML and tests/spec/ynl_subscriber.py, and the spec.
GUEST_YNL = "/usr/lib/ynl"
GUEST_SPEC = "/usr/share/egpuhp/egpuhp.yaml"


class ToolsMissing(Exception):
    pass


def _complete():
    return all(os.path.isfile(p) for p in (GEN_C, os.path.join(LIB, "ynl.py"),
                                           os.path.join(LIB, "nlspec.py"), SCHEMA,
                                           os.path.join(CACHE, "MAINTAINERS")))


def ensure():
    """Unpacks the tools if needed and stages the spec; returns CACHE.
    Raises ToolsMissing saying what is missing."""
    if not os.path.exists(PYTHON):
        raise ToolsMissing("%s not found (Debian's python3)" % PYTHON)
    res = subprocess.run([PYTHON, "-c", "import yaml, jsonschema"], capture_output=True, text=True)
    if res.returncode != 0:
        raise ToolsMissing("%s lacks yaml/jsonschema (apt-get install python3-yaml "
                           "python3-jsonschema): %s" % (PYTHON, res.stderr.strip()))
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _complete():
            tarballs = sorted(glob.glob("/usr/src/linux-source-6.12.tar.*"))
            if not tarballs:
                raise ToolsMissing("YNL tools not found: /usr/src/linux-source-6.12.tar.* "
                                   "is not installed (apt-get install linux-source-6.12)")
            res = subprocess.run(
                ["tar", "-xf", tarballs[0], "-C", CACHE, "--strip-components=1", "--wildcards",
                 "--exclude", SRC_DIR + "/Documentation/netlink/specs"]
                + [SRC_DIR + "/" + m for m in MEMBERS], capture_output=True, text=True)
            if res.returncode != 0 or not _complete():
                raise ToolsMissing("YNL tools not found in %s: %s" % (tarballs[0],
                                                                    res.stderr.strip()[-500:]))
        os.makedirs(os.path.dirname(STAGED_SPEC), exist_ok=True)
        shutil.copyfile(SPEC, STAGED_SPEC)
    return CACHE


def gen_c(mode, kind, out):
    """ynl-gen-c.py --mode MODE --header|--source on the staged spec -> OUT."""
    return subprocess.run([PYTHON, GEN_C, "--mode", mode, "--" + kind, "--spec", STAGED_SPEC,
                           "-o", out], capture_output=True, text=True, cwd=YNL)


def guest_subscriber_command(python):
    """The shell command that runs ynl_subscriber.py in a guest that has
    guest_files() (PYTHON: the interpreter and its options)."""
    return "%s %s/ynl_subscriber.py --spec %s --ynl-lib %s" % (python, GUEST_YNL, GUEST_SPEC,
                                                               GUEST_YNL)


def guest_files(python):
    """guest path -> host path for a subscriber in a guest: PyYAML and YNL's
    lib/ in GUEST_YNL, the subscriber, the spec; with PYTHON, also Debian's
    python3 with the stdlib modules the subscriber loads (as the host's
    python3 -S -I loads them), for a guest that has no Python of its own.
    Call ensure() first."""
    code = ("import sys, os, json\n"
            "sys.path[:0] = [sys.argv[1], sys.argv[2], '/usr/lib/python3/dist-packages']\n"
            "import ynl_subscriber, lib, traceback, linecache, tokenize, textwrap, signal\n"
            "import encodings.ascii, encodings.latin_1, locale, io, contextlib\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n"
            "        ynl_subscriber.main(['--help'])\n"
            "    except SystemExit:\n"
            "        pass\n"
            "    try:\n"
            "        ynl_subscriber.family(sys.argv[3], sys.argv[2])\n"
            "    except Exception:\n"
            "        pass\n"
            "    json.dumps(ynl_subscriber._plain({'a': {1}}))\n"
            "print(json.dumps(sorted({m.__file__ for m in list(sys.modules.values())\n"
            "    if getattr(m, '__file__', None) and os.path.isfile(m.__file__)})))\n")
    # the modules the code paths above load (argparse's gettext needs
    # locale, YnlFamily parses the spec before it finds no egpuhp family here)
    res = subprocess.run([PYTHON, "-S", "-I", "-c", code, HERE, YNL, SPEC],
                         capture_output=True, text=True, check=True)
    files = {GUEST_SPEC: SPEC}
    if python:
        files["/usr/bin/python3"] = os.path.realpath(PYTHON)
    for f in json.loads(res.stdout):
        if f.startswith("/usr/lib/python3/dist-packages/yaml/"):
            files[GUEST_YNL + f[len("/usr/lib/python3/dist-packages"):]] = f
        elif f.startswith(YNL + "/lib/"):
            files[GUEST_YNL + f[len(YNL):]] = f
        elif f == os.path.join(HERE, "ynl_subscriber.py"):
            files[GUEST_YNL + "/ynl_subscriber.py"] = f
        elif f.startswith("/usr/lib/python3."):
            if python:
                files[f] = f
        else:
            raise RuntimeError("the subscriber loads %s: no place for it in the guest" % f)
    return files


LISTEN_OUT = "/tmp/ynl-listen.json"
LISTEN_ERR = "/tmp/ynl-listen.err"


def guest_listen(vm, command, timeout=600):
    """Starts "COMMAND listen" (guest_subscriber_command()) in the
    background in the dock guest VM for at most TIMEOUT seconds and waits
    until it has subscribed; returns its pid.  Python and YAML's
    pure-Python parser of the spec start slowly under TCG on a loaded host:
    the bound is a wait, not a check."""
    pid = vm.sh("%s listen --timeout %d >%s 2>%s & echo $!"
                % (command, timeout, LISTEN_OUT, LISTEN_ERR)).strip()
    try:
        vm.wait_for("grep -q ready %s" % LISTEN_OUT, timeout=300)
    except Exception:
        raise RuntimeError("the subscriber did not start:\n" +
                           vm.sh("cat %s" % LISTEN_ERR)) from None
    return pid


def guest_listened(vm, pid, removes):
    """Waits until the listener PID (guest_listen()) has printed REMOVES
    pci-remove events and a router-remove, stops it; returns (its events,
    its standard error)."""
    vm.wait_for("test $(grep -c '\"pci-remove\"' %s) -ge %d" % (LISTEN_OUT, removes),
                timeout=120)
    vm.wait_for("grep -q '\"router-remove\"' %s" % LISTEN_OUT, timeout=60)
    vm.run("kill %s" % pid)
    lines = [json.loads(line) for line in vm.sh("cat %s" % LISTEN_OUT).splitlines()
             if line.startswith("{")]
    return [e for e in lines if "event" in e], vm.sh("cat %s" % LISTEN_ERR)
