# SPDX-License-Identifier: GPL-2.0
"""What the tests that need the debug kernel (tests/fuzz, tests/fault) share:
which flavours are debug kernels, and a main() that reports SKIP with a
reason for the others without booting a VM for them."""

import sys

import dock

DEBUG_FLAVOURS = ["6.12-debug"]


def main(test_name, reason):
    kernels = [a for i, a in enumerate(sys.argv) if i and sys.argv[i - 1] == "--kernel"]
    if kernels and not any(k in DEBUG_FLAVOURS for k in kernels):
        print("1..1\nok 1 - %s [%s] # SKIP %s" % (test_name, " ".join(kernels), reason))
        return 0
    return dock.main()
