#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Self-tests of the virtual eGPU dock: each event kind really happens in the
guest.  Checks are batched into few boots (suite time matters)."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dock import DockError, vmtest, main  # noqa: E402


def removal(vm, bdf):
    """The last remove() record of egpuhp_testdrv for BDF, as a dict."""
    for line in reversed(vm.testdrv_events()):
        if line.startswith("remove %s " % bdf):
            return dict(kv.split("=") for kv in line.split()[2:])
    raise AssertionError("egpuhp_testdrv recorded no remove() of %s: %s" % (
        bdf, vm.testdrv_events()))


def assert_saw_gone(vm, bdf):
    r = removal(vm, bdf)
    assert r["present"] == "0" and r["vendor"] == "0xffff" and r["offline"] == "1", \
        "driver did not see %s already gone at remove(): %s" % (bdf, r)


def assert_saw_present(vm, bdf):
    r = removal(vm, bdf)
    assert r["present"] == "1" and r["vendor"] == "0x1234" and r["offline"] == "0", \
        "driver saw %s gone in an orderly removal: %s" % (bdf, r)


@vmtest(boot="pci", ports=3, enclosure=True, timeout=240)
def test_boot_and_guest_channel(vm):
    assert vm.kver in vm.sh("uname -r")
    rc, out = vm.run("echo out; echo err >&2; exit 3")
    assert rc == 3 and "out" in out and "err" in out, (rc, out)
    try:
        vm.sh("false")
        raise AssertionError("sh() did not raise on failure")
    except DockError:
        pass
    # 8-bit clean, multi-line output through the channel.
    vm.write_file("/tmp/blob", bytes(range(256)) * 64)
    assert vm.sh("md5sum /tmp/blob").split()[0] == \
        __import__("hashlib").md5(bytes(range(256)) * 64).hexdigest()
    for n in (1, 2, 3):
        vm.wait_slot("rp%d" % n)
    vm.load_testdrv()


@vmtest(boot="pci", ports=3, enclosure=True)
def test_hot_add_and_surprise_removal(vm):
    dev = vm.plug("rp1", kind="gpu")
    assert len(dev.bdfs) == 2
    cls = vm.sh("cat /sys/bus/pci/devices/%s/class /sys/bus/pci/devices/%s/class"
                % tuple(dev.bdfs)).split()
    assert cls == ["0x00ff00", "0x040300"], cls
    assert "io=ok" in vm.testdrv_events()[-1]
    mark = vm.console_mark()
    bdfs = vm.yank("rp1")
    assert bdfs == dev.bdfs
    assert_saw_gone(vm, dev.bdf)
    vm.wait_console(r"pciehp: Slot\(1\): Card not present", since=mark)
    # Re-plug into the same port works and the device works again.
    dev = vm.plug("rp1", kind="gpu")
    assert "probe %s" % dev.bdf in vm.testdrv_events()[-1]
    vm.yank("rp1")
    assert_saw_gone(vm, dev.bdf)


@vmtest(boot="pci", ports=3, enclosure=True)
def test_orderly_removal(vm):
    for method in ("slot_power", "button"):
        dev = vm.plug("rp2", kind="fn")
        vm.unplug_orderly(dev, method=method)
        assert not vm.guest_has(dev.bdf)
        assert_saw_present(vm, dev.bdf)
    dev = vm.plug("rp2", kind="nvme")
    vm.unplug_orderly(dev, method="slot_power")


@vmtest(boot="pci", ports=3, enclosure=True)
def test_enclosure_yank(vm):
    enc = vm.enclosure
    sw = vm.enclosure_switch
    assert len(enc.bdfs) == 2 and len(sw.bdfs) == 2
    for b in enc.bdfs + sw.bdfs:
        assert vm.guest_has(b), b
    vm.sh("echo > /sys/kernel/debug/egpuhp_testdrv/events")
    vm.yank("enc")
    for b in enc.bdfs + sw.bdfs:
        assert not vm.guest_has(b), b
    assert_saw_gone(vm, enc.bdf)
    out = vm.sh("lspci -n")
    assert "1234:11e8" not in out, out
    # The rest of the dock still works.
    dev = vm.plug("rp3", kind="fn")
    vm.yank("rp3")
    assert_saw_gone(vm, dev.bdf)


if __name__ == "__main__":
    main()
