# SPDX-License-Identifier: GPL-2.0
"""What the tests that need the debug kernel (tests/fuzz, tests/fault) share:
which flavours are debug kernels, a main() that reports SKIP with a
reason for the others without booting a VM for them, the time each phase of
a test took, and where their JSON results go."""

import json
import os
import sys
import time

import dock

DEBUG_FLAVOURS = ["6.12-debug"]


class Phases:
    """Seconds per phase: done(NAME) ends the phase running since the last."""

    def __init__(self):
        self.seconds = {}
        self._t = time.monotonic()

    def done(self, name):
        now = time.monotonic()
        self.seconds[name] = round(now - self._t, 1)
        self._t = now


def write_result(subdir, name, result):
    """Writes RESULT as build/SUBDIR/NAME.json; returns the path."""
    out = os.path.join(dock.TOP, "build", subdir, name + ".json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as fh:
        json.dump(result, fh, indent=1, sort_keys=True)
    return out


def main(test_name, reason):
    kernels = [a for i, a in enumerate(sys.argv) if i and sys.argv[i - 1] == "--kernel"]
    if kernels and not any(k in DEBUG_FLAVOURS for k in kernels):
        print("1..1\nok 1 - %s [%s] # SKIP %s" % (test_name, " ".join(kernels), reason))
        return 0
    return dock.main()
