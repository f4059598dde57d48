#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
# egpuhp-test: once
"""The dock's checks of a debug kernel's reports, on sample text (no VM):
the console patterns catch what lockdep, KASAN, the atomic-sleep check, RCU
and kmemleak print, and not kmemleak's plain "N new suspected leaks" note;
a kmemleak report fails the test only for leaks whose backtrace names
egpuhp, tbsim or egpuhp_testdrv, or a module address nobody can name any
more (a module unloaded since)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vm"))
import dock  # noqa: E402

MUST_FAIL = [
    "[   12.3] BUG: KASAN: slab-use-after-free in egpuhp_tb_refresh+0x4c/0x120 [egpuhp]",
    "[   12.3] WARNING: possible circular locking dependency detected",
    "[   12.3] WARNING: suspicious RCU usage",
    "[   12.3] BUG: sleeping function called from invalid context at kernel/locking/mutex.c:283",
    "[   12.3] kmemleak: Kernel memory leak detector disabled",
    "[   12.3] kmemleak: Cannot allocate a kmemleak_object structure",
    "[   12.3] WARNING: CPU: 0 PID: 1 at lib/debugobjects.c:514 debug_print_object+0x9d/0xc0",
]
MUST_PASS = [
    "[   12.3] kmemleak: 3 new suspected memory leaks (see /sys/kernel/debug/kmemleak)",
    "[   12.3] kmemleak: 1 new suspected memory leak (see /sys/kernel/debug/kmemleak)",
    "[   12.3] FAULT_INJECTION: forcing a failure.",
    "[    0.9] kmemleak: Kernel memory leak detector initialized (mem pool available: 15236)",
    "[   12.3] pcieport 0000:00:10.0: pciehp: Slot(1): Card not present",
]

REPORT = """unreferenced object 0xffff888004a1b2c0 (size 64):
  comm "insmod", pid 77, jiffies 4294901234
  hex dump (first 32 bytes):
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................
  backtrace (crc 1a2b3c4d):
    __kmalloc_cache_noprof+0x2c5/0x3a0
    egpuhp_devtab_add+0x51/0x2d0 [egpuhp]
    do_one_initcall+0x8a/0x2f0
unreferenced object 0xffff888004a1c000 (size 32):
  comm "swapper/0", pid 1, jiffies 4294890000
  backtrace (crc 00000001):
    __kmalloc_noprof+0x1f0/0x3a0
    acpi_ut_initialize_buffer+0x3c/0x60
unreferenced object 0xffff888004a1d000 (size 128):
  comm "rmmod", pid 90, jiffies 4294909999
  backtrace (crc 00000002):
    __kmalloc_cache_noprof+0x2c5/0x3a0
    0xffffffffc0012345
    do_syscall_64+0x5d/0x170
unreferenced object 0xffff888004a1e000 (size 16):
  comm "sh", pid 91, jiffies 4294909999
  backtrace (crc 00000003):
    kstrdup+0x2f/0x60
    tbsim_add_store+0x40/0x200 [tbsim]
"""

checks = []
for line in MUST_FAIL:
    checks.append((bool(dock.BAD_CONSOLE.search(line)), "console check catches: " + line[10:]))
for line in MUST_PASS:
    checks.append((not dock.BAD_CONSOLE.search(line), "console check lets pass: " + line[10:]))
leaks, ours = dock.kmemleak_leaks(REPORT)
checks.append((len(leaks) == 4, "kmemleak report parsed into 4 objects (%d)" % len(leaks)))
checks.append((len(ours) == 3 and "egpuhp_devtab_add" in ours[0] and "0xffffffffc0012345"
               in ours[1] and "tbsim_add_store" in ours[2],
               "kmemleak: egpuhp, unloaded-module and tbsim leaks fail, ACPI's does not: %s" % ours))
checks.append((dock.kmemleak_leaks("")[0] == [], "empty kmemleak report: no leak"))

print("1..%d" % len(checks))
for i, (ok, name) in enumerate(checks, 1):
    print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
sys.exit(0 if all(ok for ok, _ in checks) else 1)
