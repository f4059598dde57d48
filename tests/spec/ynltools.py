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
