#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Self-tests of the virtual eGPU dock: each event kind really happens in the
guest.  Checks are batched into few boots (suite time matters)."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dock import Dock, DockError, Skip, vmtest, main  # noqa: E402


# Most checks share one boot (suite time); each test sets up what it needs.
SHARED = dict(boot="shared", ports=4, button_ports=("rp4",), enclosure=True)


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


@vmtest(**SHARED, timeout=240)
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


@vmtest(**SHARED)
def test_hot_add_and_surprise_removal(vm):
    vm.load_testdrv()
    dev = vm.plug("rp1", kind="gpu")
    assert len(dev.bdfs) == 2
    cls = vm.sh("cat /sys/bus/pci/devices/%s/class /sys/bus/pci/devices/%s/class"
                % tuple(dev.bdfs)).split()
    assert cls == ["0x00ff00", "0x040300"], cls
    assert "io=ok" in vm.testdrv_events()[-1]
    # Bind the driver to the audio function too, through driver_override.
    audio = dev.bdfs[1]
    vm.sh("echo egpuhp_testdrv > /sys/bus/pci/devices/%s/driver_override && "
          "echo %s > /sys/bus/pci/drivers_probe" % (audio, audio))
    assert vm.testdrv_events()[-1].startswith("probe %s " % audio)
    mark = vm.console_mark()
    bdfs = vm.yank("rp1")
    assert bdfs == dev.bdfs
    assert_saw_gone(vm, dev.bdf)
    r_audio = removal(vm, audio)
    assert r_audio["present"] == "0" and r_audio["vendor"] == "0xffff", r_audio
    # pciehp stops the audio function before the GPU function.
    assert int(r_audio["t"]) <= int(removal(vm, dev.bdf)["t"])
    vm.wait_console(r"pciehp: Slot\(1\): Card not present", since=mark)
    # Re-plug into the same port works and the device works again.
    dev = vm.plug("rp1", kind="gpu")
    assert "probe %s" % dev.bdf in vm.testdrv_events()[-1]
    vm.yank("rp1")
    assert_saw_gone(vm, dev.bdf)


@vmtest(**SHARED)
def test_orderly_removal(vm):
    if vm.preempt_rt:
        raise Skip("orderly removal never completes on PREEMPT_RT kernels (README)")
    vm.load_testdrv()
    for method in ("slot_power", "button"):
        dev = vm.plug("rp2", kind="fn")
        vm.unplug_orderly(dev, method=method)
        assert not vm.guest_has(dev.bdf)
        assert_saw_present(vm, dev.bdf)
    dev = vm.plug("rp2", kind="nvme")
    vm.unplug_orderly(dev, method="slot_power")
    # The display-class GPU: bound through driver_override, VRAM round trip;
    # orderly removal, then at once a re-plug into the same port, then a yank.
    for step in ("slot_power", "yank"):
        dev = vm.plug("rp2", kind="vga")
        assert vm.sh("cat /sys/bus/pci/devices/%s/class" % dev.bdf).strip() == "0x038000"
        vm.sh("echo egpuhp_testdrv > /sys/bus/pci/devices/%s/driver_override && "
              "echo %s > /sys/bus/pci/drivers_probe" % (dev.bdf, dev.bdf))
        assert vm.testdrv_events()[-1].startswith("probe %s " % dev.bdf)
        assert "device=0x1111 io=ok" in vm.testdrv_events()[-1]
        if step == "yank":
            vm.yank("rp2")
            assert_saw_gone(vm, dev.bdf)
        else:
            vm.unplug_orderly(dev, method=step)
            r = removal(vm, dev.bdf)
            assert r["present"] == "1" and r["offline"] == "0", r
    # A port with a power controller: QEMU completes the unplug by itself.
    for method in ("slot_power", "button"):
        dev = vm.plug("rp4", kind="gpu")
        vm.unplug_orderly(dev, method=method)
        assert_saw_present(vm, dev.bdf)
    try:
        vm.yank("rp4")
        raise AssertionError("yank of a port with a power controller must be refused")
    except DockError:
        pass


@vmtest(**SHARED)
def test_enclosure_yank(vm):
    vm.load_testdrv()
    sw = vm.enclosure_switch
    assert len(vm.enclosure.bdfs) == 2 and len(sw.bdfs) == 2
    for b in vm.enclosure.bdfs + sw.bdfs:
        assert vm.guest_has(b), b
    # The GPU leaves the enclosure the orderly way (not on PREEMPT_RT, see
    # README); another is hot-added into the switch's downstream port; then
    # the whole enclosure is yanked.
    enc = vm.enclosure
    if not vm.preempt_rt:
        vm.unplug_orderly(vm.enclosure, method="slot_power")
        assert_saw_present(vm, vm.enclosure.bdf)
        enc = vm.plug("enc-dp", kind="gpu")
    vm.sh("echo > /sys/kernel/debug/egpuhp_testdrv/events")
    gone = vm.yank("enc")
    assert sorted(gone) == sorted(enc.bdfs + sw.bdfs), gone
    for b in enc.bdfs + sw.bdfs:
        assert not vm.guest_has(b), b
    assert_saw_gone(vm, enc.bdf)
    out = vm.sh("lspci -n")
    assert "1234:11e8" not in out, out
    # The rest of the dock still works.
    dev = vm.plug("rp3", kind="fn")
    vm.yank("rp3")
    assert_saw_gone(vm, dev.bdf)


@vmtest(**SHARED, kernels=["6.1", "6.12", "newest"], timeout=240)
def test_rt_flavour_smoke(vm):
    """The -rt flavour of this kernel boots and its dock events work (a
    second VM; the shared one is not touched)."""
    with Dock(kernel=vm.kernel + "-rt", ports=2, name="test_dock-%s-rt-smoke" % vm.kernel,
              log=None) as rt:
        assert rt.preempt_rt, rt.sh("uname -v")
        rt.load_testdrv()
        dev = rt.plug("rp1", kind="gpu")
        rt.yank("rp1")
        assert_saw_gone(rt, dev.bdf)
        # Orderly removal does not work on PREEMPT_RT (see unplug_orderly()).
        dev = rt.plug("rp2", kind="fn")
        for method in ("button", "slot_power"):
            try:
                rt.unplug_orderly(dev, method=method)
                raise AssertionError("%s on PREEMPT_RT should be refused" % method)
            except DockError as e:
                assert "PREEMPT_RT" in str(e)
        rt.yank("rp2")
        assert_saw_gone(rt, dev.bdf)
        rt.tb_add_router("0-1", port="rp2")
        assert rt.tb_authorize("0-1")[0] == 0
        tunnelled = rt.tb_wait_tunnel("0-1")
        assert all(removable(rt, b) == "removable" for b in tunnelled.bdfs), tunnelled
        rt.tb_unplug("0-1", order="pci-first")
        rt.check_health()


@vmtest(ports=1, health_check=False, timeout=120)
def test_health_check_catches_warn_and_taint(vm):
    """The console/taint check that every test relies on really fires."""
    mark = vm.console_mark()
    vm.sh("sleep 0.2")
    assert not vm.console_problems(mark) and not vm.taint_problems()
    vm.load_testdrv()
    assert not vm.taint_problems(), "O/E taint must be accepted"
    vm.sh("echo 1 > /sys/kernel/debug/egpuhp_testdrv/warn")
    vm.wait_console("warning requested through debugfs", since=mark)
    assert any("WARNING:" in line for line in vm.console_problems(mark)), vm.console(mark)
    assert "new bits 0x200" in vm.taint_problems(), vm.taint_problems()
    try:
        vm.check_health(mark)
    except DockError:
        return
    raise AssertionError("check_health() missed the WARN")


KEY = "ab" * 32
OTHER_KEY = "cd" * 32

UEVENT_RECORDER = """#!/bin/sh
[ -n "$AUTHORIZED" ] && echo "$ACTION ${DEVPATH##*/} AUTHORIZED=$AUTHORIZED" >> /tmp/uevents
[ -n "$SYNTH_ARG_RECORDER" ] && echo "recorder $SYNTH_ARG_RECORDER" >> /tmp/uevents
exit 0
"""


def start_uevent_recorder(vm):
    """Records AUTHORIZED= uevents in /tmp/uevents; returns once the listener
    has demonstrably received an event (a synthetic one on /dev/null's
    device, re-sent until it shows up), so no later event can be missed."""
    vm.write_file("/tmp/rec.sh", UEVENT_RECORDER, mode=0o755)
    vm.sh("rm -f /tmp/uevents; (uevent /tmp/rec.sh >/dev/null 2>&1 &)")
    vm.wait_for("echo 'change 00000000-0000-4000-8000-000000000000 RECORDER=up' "
                "> /sys/class/mem/null/uevent; grep -q 'recorder up' /tmp/uevents 2>/dev/null",
                timeout=60)


def fresh_router(vm, route="0-1", port="rp1", **kw):
    """A newly connected, unauthorized router (tests sharing a boot must not
    depend on each other's leftovers)."""
    if vm.run("test -e %s" % vm.tb_path(route))[0] == 0:
        vm.tb_unplug(route)
    vm.tb_add_router(route, port=port, **kw)


def removable(vm, bdf):
    """The PCI core's verdict in sysfs: "removable", "fixed", or "" when it
    does not know (no "removable" file: a plain hotplug slot)."""
    rc, out = vm.run("cat /sys/bus/pci/devices/%s/removable 2>/dev/null" % bdf)
    return out.strip() if rc == 0 else ""


def no_pci_below(vm, port):
    """The guest sees nothing behind PORT."""
    addr = vm.bdf_of(port)
    # Children only, not the port's own service devices (0000:00:10.0:pcie002).
    rc, out = vm.run("ls -d /sys/bus/pci/devices/%s/0000:??:??.? 2>/dev/null" % addr)
    return rc != 0 and not out.strip()


@vmtest(**SHARED, timeout=240)
def test_tbsim_sysfs(vm):
    vm.tb_load(security="user", iommu=1, deauth=1)
    assert vm.tb_attr("domain0", "security") == "user"
    assert vm.tb_attr("domain0", "iommu_dma_protection") == "1"
    assert vm.tb_attr("domain0", "deauthorization") == "1"
    assert "DEVTYPE=thunderbolt_domain" in vm.sh("cat /sys/bus/thunderbolt/devices/domain0/uevent")
    assert vm.tb_attr("0-0", "authorized") == "1"
    uid = "12345678-9abc-4def-8123-456789abcdef"
    vm.tb_add_router("0-1", port="rp1", unique_id=uid, vendor_name="Razer",
                     device_name="Core X", vendor=0x1532, device=0x1234, generation=3,
                     speed=20, lanes=2, nvm="20.1")
    want = {"authorized": "0", "unique_id": uid, "vendor_name": "Razer",
            "device_name": "Core X", "vendor": "0x1532", "device": "0x1234",
            "generation": "3", "rx_speed": "20.0 Gb/s", "tx_speed": "20.0 Gb/s",
            "rx_lanes": "2", "tx_lanes": "2", "boot": "0", "nvm_version": "20.1"}
    for attr, val in want.items():
        got = vm.tb_attr("0-1", attr)
        assert got == val, "%s: %r != %r" % (attr, got, val)
    assert "DEVTYPE=thunderbolt_device" in vm.sh("cat %s/uevent" % vm.tb_path("0-1"))
    # "key" exists only at security level secure
    assert vm.run("test -e %s/key" % vm.tb_path("0-1"))[0] != 0
    # The router hangs below the host router, like the real topology.
    assert vm.sh("readlink -f %s" % vm.tb_path("0-1")).strip().endswith("/domain0/0-0/0-1")


@vmtest(**SHARED)
def test_tbsim_authorization_opens_tunnel(vm):
    start_uevent_recorder(vm)
    fresh_router(vm)
    # Not authorized: no PCI function behind the port.
    assert no_pci_below(vm, "rp1")
    assert vm.tb_device("0-1") is None
    # Invalid values are refused.
    for bad in ("3", "x"):
        rc, out = vm.tb_authorize("0-1", bad)
        assert rc != 0 and "Invalid argument" in out, out
    # Challenge without a key: EINVAL (nothing to challenge with).
    rc, out = vm.tb_authorize("0-1", 2)
    assert rc != 0 and "Invalid argument" in out, out
    rc, out = vm.tb_authorize("0-1", 1)
    assert rc == 0, out
    dev = vm.tb_wait_tunnel("0-1")
    assert dev and len(dev.bdfs) == 2
    assert vm.tb_attr("0-1", "authorized") == "1"
    assert vm.sh("cat /sys/bus/pci/devices/%s/vendor" % dev.bdf).strip() == "0x1234"
    # Authorizing twice: EINVAL, like the real driver.
    rc, out = vm.tb_authorize("0-1", 1)
    assert rc != 0 and "Invalid argument" in out, out
    # De-authorization closes the tunnel: the functions vanish (yank).
    vm.load_testdrv()
    vm.sh("echo > /sys/kernel/debug/egpuhp_testdrv/events; echo 1 > /sys/bus/pci/rescan")
    assert vm.tb_authorize("0-1", 0)[0] == 0
    vm.tb_wait_tunnel("0-1", up=False)
    assert vm.tb_attr("0-1", "authorized") == "0"
    assert no_pci_below(vm, "rp1")
    # Delivery to the listener is asynchronous: wait for the outcome (the
    # bound only stops a hang, it is no latency requirement).
    vm.wait_for("grep -q 'AUTHORIZED=0' /tmp/uevents", timeout=60)
    events = vm.sh("cat /tmp/uevents").split("\n")
    assert "change 0-1 AUTHORIZED=1" in events and "change 0-1 AUTHORIZED=0" in events, events


@vmtest(**SHARED)
def test_tbsim_cable_pull_both_orders(vm):
    for order in ("router-first", "pci-first"):
        fresh_router(vm)
        assert vm.tb_authorize("0-1", 1)[0] == 0
        dev = vm.tb_wait_tunnel("0-1")
        # A daisy-chained router behind it, with its own tunnel.
        vm.tb_add_router("0-301", port="rp2", device_name="Chained")
        assert vm.tb_authorize("0-301", 1)[0] == 0
        chained = vm.tb_wait_tunnel("0-301")
        gone = vm.tb_unplug("0-1", order=order)
        assert sorted(gone) == sorted(dev.bdfs + chained.bdfs), (gone, order)
        for r in ("0-1", "0-301"):
            assert vm.run("test -e %s" % vm.tb_path(r))[0] != 0, (r, order)
        assert no_pci_below(vm, "rp1") and no_pci_below(vm, "rp2")


@vmtest(**SHARED)
def test_tbsim_marks_tunnel_port_external_facing(vm):
    """As firmware's "ExternalFacingPort" does: the root port a router's
    tunnel leads to is external-facing, so the kernel's own code marks the
    functions arriving there removable; other ports stay plain."""
    rp1 = vm.bdf_of("rp1")
    marked = re.compile(r"tbsim: 0-1: %s marked external-facing" % re.escape(rp1))
    before = len(marked.findall(vm.dmesg()))
    fresh_router(vm)
    # tbsim logs it before its "add" write returns: the kernel log has it now.
    assert len(marked.findall(vm.dmesg())) == before + 1, vm.dmesg()
    routers = vm.sh("cat /sys/kernel/debug/tbsim/routers")
    assert "0-1 authorized=0 key=0 device_key=0 port=%s" % rp1 in routers, routers
    assert vm.tb_authorize("0-1", 1)[0] == 0
    dev = vm.tb_wait_tunnel("0-1")
    assert len(dev.bdfs) == 2 and all(removable(vm, b) == "removable" for b in dev.bdfs), \
        [(b, removable(vm, b)) for b in dev.bdfs]
    # A plain hot-plug slot no tunnel leads to: the kernel does not call it removable.
    plain = vm.plug("rp3", kind="fn")
    assert removable(vm, plain.bdf) == "", removable(vm, plain.bdf)
    vm.yank("rp3")
    # external=False: the harness leaves the router's port plain.
    vm.tb_add_router("0-3", port="rp2", external=False)
    assert "port=" not in [ln for ln in vm.sh("cat /sys/kernel/debug/tbsim/routers")
                           .splitlines() if ln.startswith("0-3 ")][0]
    assert vm.tb_authorize("0-3", 1)[0] == 0
    other = vm.tb_wait_tunnel("0-3")
    assert removable(vm, other.bdf) == "", removable(vm, other.bdf)
    vm.tb_unplug("0-3")
    # The router leaves: the port's flag is restored (a plain hot-add is plain again).
    vm.tb_unplug("0-1")
    again = vm.plug("rp1", kind="fn")
    assert removable(vm, again.bdf) == "", removable(vm, again.bdf)
    vm.yank("rp1")
    # Only an existing PCIe root port can be named (firmware marks nothing else).
    for spec, err in (("route=5;port=0000:00:00.0", "Invalid argument"),
                      ("route=5;port=0000:00:1f.7", "No such device"),
                      ("route=5;port=00:10.0", "Invalid argument")):
        rc, out = vm.run("echo '%s' > /sys/kernel/debug/tbsim/add" % spec)
        assert rc != 0 and err in out, (spec, rc, out)
    assert vm.run("test -e %s" % vm.tb_path("0-5"))[0] != 0


@vmtest(**SHARED)
def test_tbsim_deauthorization_off_and_secure_keys(vm):
    vm.tb_set_domain(security="user", deauth=0)
    assert vm.tb_attr("domain0", "deauthorization") == "0"
    vm.tb_add_router("0-1", port="rp1")
    assert vm.tb_authorize("0-1", 1)[0] == 0
    vm.tb_wait_tunnel("0-1")
    rc, out = vm.tb_authorize("0-1", 0)
    assert rc != 0 and "not permitted" in out, out
    vm.tb_unplug("0-1")

    vm.tb_set_domain(security="secure", deauth=1)
    assert vm.tb_attr("domain0", "security") == "secure"
    vm.tb_add_router("0-1", port="rp1")
    assert vm.tb_attr("0-1", "key") == ""
    # First connection: approve with a new key; the device stores it.
    rc, out = vm.tb_authorize("0-1", 1, key=KEY)
    assert rc == 0, out
    vm.tb_wait_tunnel("0-1")
    assert vm.tb_attr("0-1", "key") == KEY
    # The key cannot change while authorized.
    rc, out = vm.run("echo %s > %s/key" % (OTHER_KEY, vm.tb_path("0-1")))
    assert rc != 0 and "busy" in out.lower(), out
    vm.tb_unplug("0-1", order="pci-first")
    # Reconnection: challenge with the stored key works, a wrong key is rejected.
    vm.tb_add_router("0-1", port="rp1", device_key=KEY)
    rc, out = vm.tb_authorize("0-1", 2, key=OTHER_KEY)
    assert rc != 0 and "rejected" in out, out
    assert vm.tb_attr("0-1", "authorized") == "0"
    assert no_pci_below(vm, "rp1")
    rc, out = vm.tb_authorize("0-1", 2, key=KEY)
    assert rc == 0, out
    vm.tb_wait_tunnel("0-1")
    assert vm.tb_attr("0-1", "authorized") == "2"
    vm.tb_unplug("0-1")
    # Security none: routers arrive authorized, the tunnel opens by itself.
    vm.tb_set_domain(security="none")
    vm.tb_add_router("0-1", port="rp1")
    assert vm.tb_attr("0-1", "authorized") == "1"
    vm.tb_wait_tunnel("0-1")
    vm.tb_unplug("0-1")
    # Unloading tbsim is clean (the framework then checks console + taint).
    vm.unload_module("tbsim")
    assert vm.run("test -e /sys/bus/thunderbolt/devices/domain0")[0] != 0


if __name__ == "__main__":
    main()
