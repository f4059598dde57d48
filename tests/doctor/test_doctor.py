#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""egpuctl doctor in the virtual dock, per kernel, in one boot with QEMU's
intel-iommu (real IOMMU groups) and, on the PREEMPT_RT kernels,
pciehp.pciehp_poll_mode=1:

  - without egpuhp and egpud: says so (module, egpud: warn), still checks
    the rest; the IOMMU groups it counts are the guest's
  - an unauthorized router (tbsim: a fake Thunderbolt router, the dock's
    PCIe tunnel behind it): router-authorized fails with "egpuctl authorize
    0-1", exit status 1; authorized: ok, and its GPU + audio appear
  - IOMMU groups: each eGPU function's group and verdict match the guest's
    sysfs (members that are neither bridges nor behind the external port)
  - a device without a reset method (the dock's edu with its methods
    disabled through reset_method): reset-method fails with the
    egpuhp_reset quirk as the fix; then follows the kernel's default again
  - the domain's security levels: dponly / nopcie fail, none warns, user ok
  - PREEMPT_RT: rt-pciehp is ok with poll mode, and pciehp's slot power-off
    (the removal that hangs on -rt without it) completes
  - the module loaded: module ok
Every answer is checked as the JSON envelope of docs/egpuctl-json.md.

Usage: test_doctor.py [--kernel 6.12] ...   (TAP on stdout)
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "vm"))

from dock import vmtest, main  # noqa: E402

POLL = "pciehp.pciehp_poll_mode=1"


def rt_cmdline(kernel):
    """On PREEMPT_RT the workaround the doctor recommends, to prove it works."""
    return POLL if kernel.endswith("-rt") else ""


def is_rt(kernel):
    return kernel.endswith("-rt")


DOCK = dict(boot="doctor", ports=2, iommu=True, cmdline=rt_cmdline, timeout=420)


def doctor(vm, *args):
    """egpuctl --json doctor ARGS: (exit status, envelope), the envelope checked."""
    rc, out = vm.run("egpuctl --json doctor %s" % " ".join(args))
    doc = json.loads(out)
    assert doc["version"] == 1 and doc["verb"] == "doctor", out
    assert doc["status"] == rc and doc["ok"] == (rc == 0), (rc, out)
    assert ("error" in doc and doc["code"] == "failed") == (rc != 0), out
    checks = doc["data"]["checks"]
    assert all({"check", "verdict", "seen"} <= set(c) and
               c["verdict"] in ("ok", "warn", "fail", "n/a") for c in checks), out
    assert (rc == 1) == any(c["verdict"] == "fail" for c in checks), out
    return rc, doc


def finding(doc, check, subject=None):
    for c in doc["data"]["checks"]:
        if c["check"] == check and (subject is None or c.get("subject") == subject):
            return c
    raise AssertionError("no %s finding%s in %s" % (
        check, " for " + subject if subject else "", json.dumps(doc["data"], indent=1)))


def expect(doc, check, verdict, seen="", fix="", subject=None):
    c = finding(doc, check, subject)
    assert c["verdict"] == verdict and seen in c["seen"] and fix in c.get("fix", ""), (
        "%s: expected %s with %r, fix %r; got %s" % (check, verdict, seen, fix,
                                                    json.dumps(c, indent=1)))
    return c


def egpu(vm):
    """The dock's eGPU behind router 0-1 (tbsim), authorized; its Device."""
    if vm.run("test -e /sys/bus/thunderbolt/devices/0-1")[0] != 0:
        vm.tb_set_domain(security="user", iommu=1)
        vm.tb_add_router(1, port="rp1", functions="gpu")
    if vm.tb_attr(1, "authorized") == "0":
        vm.tb_authorize(1)
    return vm.tb_wait_tunnel(1)


@vmtest(**DOCK)
def test_doctor_without_module_and_egpud(vm):
    rc_text, text = vm.run("egpuctl doctor")
    rc, doc = doctor(vm)
    assert rc_text == rc and "ok, " in text.splitlines()[-1], text
    expect(doc, "module", "warn", "not loaded")
    expect(doc, "egpud", "warn", "not running", "systemctl enable --now egpud")
    groups = int(vm.sh("ls /sys/kernel/iommu_groups | wc -l"))
    assert groups > 0, "intel-iommu gave the guest no IOMMU groups"
    expect(doc, "iommu", "ok", "the IOMMU is on (%d groups)" % groups)
    if vm.preempt_rt:
        expect(doc, "rt-pciehp", "ok", POLL)
    else:
        expect(doc, "rt-pciehp", "n/a", "is not PREEMPT_RT")


@vmtest(**DOCK)
def test_doctor_unauthorized_router(vm):
    vm.tb_set_domain(security="user", iommu=1)
    vm.tb_add_router(1, port="rp1", functions="gpu")
    rc, doc = doctor(vm)
    assert rc == 1, doc
    expect(doc, "router-authorized", "fail", "is not authorized", "egpuctl authorize 0-1",
           subject="0-1")
    expect(doc, "thunderbolt-security", "ok", "security level user", subject="domain0")
    rc, doc = doctor(vm, "0-1")
    expect(doc, "router-authorized", "fail", subject="0-1")
    dev = egpu(vm)
    rc, doc = doctor(vm)
    expect(doc, "router-authorized", "ok", "authorized 1", subject="0-1")
    # the functions the tunnel brought are the eGPU's (removable)
    subjects = {c.get("subject") for c in doc["data"]["checks"] if c["check"] == "bar-space"}
    assert subjects == set(dev.bdfs), (subjects, dev.bdfs)


@vmtest(**DOCK)
def test_doctor_iommu_groups(vm):
    dev = egpu(vm)
    rc, doc = doctor(vm)
    for bdf in dev.bdfs:
        group = vm.sh("basename $(readlink /sys/bus/pci/devices/%s/iommu_group)" % bdf).strip()
        hosts = []
        for m in vm.sh("ls /sys/kernel/iommu_groups/%s/devices" % group).split():
            cls = vm.sh("cat /sys/bus/pci/devices/%s/class" % m).strip()
            rem = vm.run("cat /sys/bus/pci/devices/%s/removable" % m)[1].strip()
            if not cls.startswith("0x0604") and rem != "removable":
                hosts.append(m)
        c = finding(doc, "iommu-groups", bdf)
        assert ("IOMMU group %s " % group) in c["seen"], c
        assert c["verdict"] == ("warn" if hosts else "ok"), (hosts, c)
        assert all(h in c["seen"] for h in hosts), (hosts, c)


@vmtest(**DOCK)
def test_doctor_device_without_reset_method(vm):
    """A function whose reset methods are all disabled (the kernel's
    documented "echo > reset_method"; quirks taking the last one do the
    same): reset-method fails with the egpuhp_reset quirk as the fix, and
    follows the kernel again once its default methods are back."""
    dev = egpu(vm)
    edu = dev.bdfs[0]
    attr = "/sys/bus/pci/devices/%s/reset_method" % edu
    before = vm.sh("cat %s" % attr).strip()
    rc, doc = doctor(vm, edu)
    expect(doc, "reset-method", "ok", 'resets by "%s"' % before, subject=edu)
    vm.sh("echo > %s" % attr)
    try:
        assert vm.sh("cat %s" % attr).strip() == "", vm.sh("cat %s" % attr)
        rc, doc = doctor(vm, edu)
        assert rc == 1, doc
        expect(doc, "reset-method", "fail", "has no reset method (reset_method empty)",
               "egpuctl quirks add 1234:11e8:egpuhp_reset=pm/bus", subject=edu)
    finally:
        vm.sh("echo default > %s" % attr)
    # "default" probes the methods again: with the audio function now beside
    # it the bus reset is refused (the kernel listed "bus" when it probed at
    # hot-add, before function 1 was on the bus), so the verdict follows
    # what the kernel says now
    now = vm.sh("cat %s" % attr).strip()
    rc, doc = doctor(vm, edu)
    if now:
        expect(doc, "reset-method", "ok", 'resets by "%s"' % now, subject=edu)
    else:
        expect(doc, "reset-method", "fail", "(reset_method empty)", subject=edu)


@vmtest(**DOCK)
def test_doctor_security_levels(vm):
    if vm.run("test -e /sys/bus/thunderbolt/devices/0-1")[0] == 0:
        vm.tb_unplug(1)
    for level, verdict in (("dponly", "fail"), ("nopcie", "fail"), ("none", "warn"),
                           ("secure", "ok"), ("user", "ok")):
        vm.tb_set_domain(security=level)
        rc, doc = doctor(vm)
        expect(doc, "thunderbolt-security", verdict, "security level %s" % level,
               '"User Authorization"' if verdict != "ok" else "", subject="domain0")
        assert (rc == 1) == (verdict == "fail") or any(
            c["verdict"] == "fail" for c in doc["data"]["checks"]), doc


@vmtest(kernels=is_rt, **DOCK)
def test_doctor_rt_poll_mode_removal(vm):
    """The RT workaround the doctor gives, tried: with poll mode the slot
    power-off that hangs in pciehp_sysfs_disable_slot() completes."""
    rc, doc = doctor(vm)
    expect(doc, "rt-pciehp", "ok", POLL)
    dev = vm.plug("rp2", kind="fn")
    vm.unplug_orderly(dev, method="slot_power")     # waits for the functions to go
    assert not any(vm.guest_has(b) for b in dev.bdfs)


@vmtest(**DOCK)
def test_doctor_module_loaded(vm):
    vm.load_egpuhp()
    rc, doc = doctor(vm)
    expect(doc, "module", "ok", "egpuhp is loaded")
    # Debian's kernels check module signatures: the unsigned test build is
    # taint E, which is only advice here (no EFI).  A kernel built without
    # CONFIG_MODULE_SIG (the debug flavour) has no signature to complain of.
    if "E" in vm.sh("cat /sys/module/egpuhp/taint"):
        expect(doc, "secure-boot", "n/a", "without a valid signature (taint E)")
    else:
        expect(doc, "secure-boot", "ok", "egpuhp is loaded")


if __name__ == "__main__":
    main()
