#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Requested eject end to end in the virtual dock (egpud/eject.h).

One boot per kernel, tests in order:
  - GPU + audio (display-class secondary-vga + HDA, egpuhp_testdrv bound to
    both) with two libegpu programs watching: one acks LEAVING, one closes.
    `egpuctl eject` -> both saw LEAVING before the driver's remove()
    (CLOCK_BOOTTIME), the grace period ended early, the module's REMOVE
    events are orderly and precede remove(), the functions are gone, the
    evacuate step says "no GPU workloads" (no CUDA in the VM), success.
  - refusals: unknown device (clear error, nothing changed), unprivileged
    eject (refused, says why), a router that carries no PCI function.
  - eject through a tbsim router (--router) with a program that never lets
    go: the grace period (--timeout) runs out and the eject goes on;
    functions removed in order, router de-authorized afterwards; --json.
  - eject by router name (`egpuctl eject 0-1`): tbsim marks the tunnel's
    root port external-facing as firmware does, so egpuhp links the
    functions to their router; they are removed audio first, then the
    router is de-authorized.
  - the shutdown command without egpud (egpuctl deauthorize --all): only
    the eGPU's router is de-authorized, not a dock beside it; without the
    module too, only a sole device router with a display function behind it.
  - a DRM client (a process holding /dev/dri/cardN of bochs-drm) cannot be
    checkpointed: the eject is refused naming it, nothing changes; with
    --force the eject goes on and says what was left in place.
  - a program protecting itself by snapshots (egpuhp-snapw speaks the watch
    connection's snapshot lines, no CUDA in the VM): egpud sends it the
    configured snapshot-interval, `egpuctl workloads` shows "snapshot 3.2 s
    old, 9.5 GB" (text and JSON) although it holds no GPU node, and the
    eject waits for its final snapshot and ack and reports "snapshot" for it
    instead of a driver checkpoint.

Usage: test_eject.py [--kernel 6.12] ...   (TAP on stdout)
"""

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "vm"))

from dock import vmtest, main, Skip, DockError  # noqa: E402
import egpuctl_json  # noqa: E402

WATCH = "egpuhp-eject-watch"
NOBODY = "egpuhp-eject-nobody"
SNAPW = "egpuhp-snapw"
GRACE_MS = 8000     # long: the watchers must end it early

CONF = """[daemon]
load-module = no
eject-grace-ms = %d

[authorization]
policy = manual
owner = egpud

[workloads]
snapshot-interval-ms = 7000
""" % GRACE_MS

# bochs: a real DRM driver for the display-class GPU (loaded by the last test)
BOOT = dict(boot="eject", ports=4, timeout=170, extra_modules=["bochs"])


def need_helpers():
    for name in (WATCH, NOBODY, SNAPW):
        if not os.path.exists(os.path.join(TOP, "build", "guest", "bin", name)):
            raise Skip("build/guest/bin/%s missing (make -C tests/eject)" % name)


def start_egpud(vm):
    if vm.run("test -s /tmp/egpud.pid && kill -0 $(cat /tmp/egpud.pid)")[0] == 0:
        return
    vm.sh("mkdir -p /etc/egpuhp")
    vm.write_file("/etc/egpuhp/egpud.conf", CONF)
    vm.sh("egpud -d >> /tmp/egpud.log 2>&1 & echo $! > /tmp/egpud.pid")
    vm.wait_for("egpuctl policy >/dev/null 2>&1", timeout=60)


def egpud_log(vm):
    return vm.run("cat /tmp/egpud.log")[1]


def bind_testdrv(vm, bdfs):
    vm.load_testdrv()
    for b in bdfs:
        vm.sh("echo egpuhp_testdrv > /sys/bus/pci/devices/%s/driver_override && "
              "echo %s > /sys/bus/pci/drivers_probe" % (b, b))
    vm.wait_for(" && ".join("[ -e /sys/bus/pci/drivers/egpuhp_testdrv/%s ]" % b
                            for b in bdfs), timeout=15)


def remove_times(vm, bdfs):
    """bdf -> (t, present) of egpuhp_testdrv's remove() lines."""
    out = {}
    for line in vm.testdrv_events():
        m = re.match(r"remove (\S+) t=(\d+) present=(\d)", line)
        if m and m.group(1) in bdfs:
            out[m.group(1)] = (int(m.group(2)), m.group(3) == "1")
    return out


def watch_lines(vm, path):
    rc, out = vm.run("cat %s" % path)
    return out.splitlines()


def events_of(lines, kind):
    """[(t, pci, flags)] of watcher lines "t=NS KIND PCI SEQ FLAGS"."""
    res = []
    for ln in lines:
        m = re.match(r"t=(\d+) (\S+) (\S+) (\d+) (\S+)", ln)
        if m and m.group(2) == kind:
            res.append((int(m.group(1)), m.group(3), m.group(5)))
    return res


def start_watcher(vm, pci, mode, out):
    vm.sh("%s %s %s > %s 2>&1 & echo $! > %s.pid" % (WATCH, pci, mode, out, out))
    vm.wait_for("grep -q watching %s" % out, timeout=10)


@vmtest(**BOOT)
def test_eject_gpu_audio_with_watchers(vm):
    need_helpers()
    vm.load_egpuhp("track_hotplug=1")
    start_egpud(vm)
    dev = vm.plug("rp1", kind="vga")
    gpu, audio = dev.bdfs[0], dev.bdfs[1]
    bind_testdrv(vm, [gpu, audio])
    listing = egpuctl_json.data(vm.sh("egpuctl --json list"))
    fns = {f["name"]: f for f in listing["functions"]}
    assert gpu in fns and audio in fns, listing
    vm.sh("egpuctl --json monitor > /tmp/mon.json 2>/dev/null & echo $! > /tmp/mon.pid")
    vm.wait_for("test -e /tmp/mon.json", timeout=5)
    start_watcher(vm, gpu, "ack", "/tmp/w-ack.out")       # the eGPU group
    start_watcher(vm, audio, "close", "/tmp/w-close.out")  # one function

    rc, out = vm.run("egpuctl eject %s" % gpu, timeout=90)
    assert rc == 0, "egpuctl eject failed (%d):\n%s\n%s" % (rc, out, egpud_log(vm))
    assert "safe to unplug: %s %s" % (gpu, audio) in out or \
        "safe to unplug: %s %s" % (audio, gpu) in out, out
    assert re.search(r"evacuate\s+skipped .*no GPU workloads on %s" % re.escape(gpu), out), out
    assert re.search(r"notify\s+ok .*2 watchers told LEAVING: 1 acked, 1 closed$", out, re.M), out
    m = re.search(r"notify\s+ok\s+(\d+) ms", out)
    assert m and int(m.group(1)) < GRACE_MS, "grace period not ended early:\n" + out
    assert re.search(r"remove\s+ok .*2 functions removed", out), out
    assert re.search(r"deauthorize\s+skipped .*no Thunderbolt router", out), out

    # the functions are gone, through orderly remove() with the device present
    vm.wait_gone([gpu, audio])
    rt = remove_times(vm, [gpu, audio])
    assert set(rt) == {gpu, audio}, vm.testdrv_events()
    assert all(present for _, present in rt.values()), vm.testdrv_events()
    first_remove = min(t for t, _ in rt.values())

    # libegpu programs were told LEAVING before any driver let go
    vm.wait_for("grep -q removed /tmp/w-ack.out", timeout=10)
    ack = watch_lines(vm, "/tmp/w-ack.out")
    leaving = events_of(ack, "leaving")
    assert {p for _, p, _ in leaving} == {gpu, audio}, ack
    assert all(t < first_remove for t, _, _ in leaving), (ack, rt)
    assert all("orderly" in f for _, _, f in leaving), ack
    assert "ack 0" in ack, ack
    removed = events_of(ack, "removed")
    assert {p for _, p, _ in removed} == {gpu, audio} and \
        all(f == "orderly" for _, _, f in removed), ack
    cl = watch_lines(vm, "/tmp/w-close.out")
    lv = events_of(cl, "leaving")
    assert [p for _, p, _ in lv] == [audio] and lv[0][0] < first_remove and "closed" in cl, cl

    # the module's REMOVE events: orderly, stamped before remove()
    vm.run("kill $(cat /tmp/mon.pid)")
    objs = [json.loads(ln) for ln in vm.sh("cat /tmp/mon.json").splitlines() if ln.strip()]
    rem = {o["dev"]["name"]: o for o in objs
           if o.get("event") == "pci-remove" and o.get("dev", {}).get("name") in (gpu, audio)}
    assert set(rem) == {gpu, audio}, objs
    for b, o in rem.items():
        assert "orderly" in o["flags"] and "surprise" not in o["flags"], o
        assert o["timestamp_ns"] < rt[b][0], (o, rt)
    assert not [o for o in objs if o.get("event") == "pci-lost"], objs

    log = egpud_log(vm)
    assert re.search(r"eject %s: 2 functions, 2 watchers told LEAVING" % re.escape(gpu), log), log
    assert "eject %s: safe to unplug" % gpu in log, log
    assert vm.run("kill -0 $(cat /tmp/egpud.pid)")[0] == 0, "egpud died:\n" + log


def tb_router(vm):
    """tbsim router 0-1 with a GPU + audio enclosure behind it, authorized."""
    if vm.run("test -e /sys/bus/thunderbolt/devices/0-1")[0] != 0:
        vm.tb_load(security="user", iommu=1, deauth=1)
        vm.tb_add_router("0-1", port="rp2", functions="vga")
    elif vm.tb_attr("0-1", "authorized") != "0":
        return vm.tb_device("0-1")
    rc, out = vm.tb_authorize("0-1", 1)
    assert rc == 0, out
    return vm.tb_wait_tunnel("0-1")


@vmtest(**BOOT)
def test_eject_refusals(vm):
    need_helpers()
    start_egpud(vm)
    dev = tb_router(vm)
    before = vm.sh("ls /sys/bus/pci/devices")
    # unknown device
    rc, out = vm.run("egpuctl eject 0000:00:1f.7")
    assert rc == 1 and "0000:00:1f.7 is not a PCI function egpuhp tracks" in out, (rc, out)
    rc, out = vm.run("egpuctl eject nonsense")
    assert rc == 1 and "neither a PCI function" in out, (rc, out)
    rc, out = vm.run("egpuctl eject")
    assert rc == 2 and "usage" in out, (rc, out)
    rc, out = vm.run("egpuctl eject %s --timeout soon" % dev.bdf)
    assert rc == 2, (rc, out)
    # unprivileged
    rc, out = vm.run("%s egpuctl eject %s" % (NOBODY, dev.bdf))
    assert rc == 1 and "refused" in out and "needs root" in out, (rc, out)
    # a router that carries no PCI function egpuhp knows: refused (never a
    # blind de-authorization), pointing at --router
    vm.tb_add_router("0-3", device_name="Empty dock")
    for _ in range(30):     # until egpud's view has the new router
        rc, out = vm.run("egpuctl eject 0-3")
        if "neither a PCI function" not in out:
            break
        vm.sh("sleep 0.3")
    vm.tb_remove_router("0-3")
    assert rc == 1 and "egpuhp knows no PCI function it carries" in out and \
        "--router 0-3" in out, (rc, out)
    # nothing changed
    assert vm.sh("ls /sys/bus/pci/devices") == before
    assert vm.tb_attr("0-1", "authorized").strip() == "1"
    log = egpud_log(vm)
    assert "refused eject from uid 65534" in log, log
    assert "eject 0000:00:1f.7 refused" in log, log


@vmtest(**BOOT)
def test_eject_through_router(vm):
    need_helpers()
    start_egpud(vm)
    dev = tb_router(vm)
    bind_testdrv(vm, dev.bdfs)
    vm.sh("egpuctl --json monitor > /tmp/mon2.json 2>/dev/null & echo $! > /tmp/mon2.pid")
    vm.wait_for("test -e /tmp/mon2.json", timeout=5)
    # a program that never lets go: the eject goes on after --timeout
    start_watcher(vm, dev.bdf, "ignore", "/tmp/w-ignore.out")
    rc, out = vm.run("egpuctl --json eject %s --router 0-1 --timeout 700" % dev.bdf, timeout=90)
    assert rc == 0, "eject failed (%d):\n%s\n%s" % (rc, out, egpud_log(vm))
    env = egpuctl_json.envelope(out)
    rep = env["data"]
    steps = {s["step"]: s for s in rep["steps"]}
    assert env["ok"] and rep["safe_to_unplug"] and rep["router"] == "0-1", env
    assert sorted(rep["functions"]) == sorted(dev.bdfs), rep
    assert steps["notify"]["outcome"] == "ok" and steps["notify"]["ms"] >= 650 and \
        "0 acked, 0 closed, 1 still watching" in steps["notify"]["detail"], rep
    assert steps["evacuate"]["outcome"] == "skipped" and \
        "no GPU workloads" in steps["evacuate"]["detail"], rep
    assert steps["remove"]["outcome"] == "ok", rep
    assert steps["deauthorize"]["outcome"] == "ok", rep
    assert vm.tb_attr("0-1", "authorized").strip() == "0"
    vm.wait_gone(dev.bdfs)
    rt = remove_times(vm, dev.bdfs)
    assert set(rt) == set(dev.bdfs) and all(p for _, p in rt.values()), vm.testdrv_events()
    vm.run("kill $(cat /tmp/mon2.pid)")
    objs = [json.loads(ln) for ln in vm.sh("cat /tmp/mon2.json").splitlines() if ln.strip()]
    rem = [o for o in objs if o.get("event") == "pci-remove"]
    assert {o["dev"]["name"] for o in rem} == set(dev.bdfs), objs
    assert all("orderly" in o["flags"] and o["timestamp_ns"] < rt[o["dev"]["name"]][0]
               for o in rem), (objs, rt)
    ign = watch_lines(vm, "/tmp/w-ignore.out")
    lv = events_of(ign, "leaving")
    assert {p for _, p, _ in lv} == set(dev.bdfs) and \
        all(t < min(x for x, _ in rt.values()) for t, _, _ in lv), (ign, rt)
    # the PCI removal came before the router went away
    try:
        vm.tb_wait_tunnel("0-1", up=False)
    except DockError:
        pass
    log = egpud_log(vm)
    assert "deauthorize: router 0-1 de-authorized" in log, log
    assert vm.run("kill -0 $(cat /tmp/egpud.pid)")[0] == 0, "egpud died:\n" + log


@vmtest(**BOOT)
def test_eject_by_router_name(vm):
    need_helpers()
    start_egpud(vm)
    dev = tb_router(vm)
    gpu, audio = dev.bdfs
    bind_testdrv(vm, dev.bdfs)
    uid = vm.tb_attr("0-1", "unique_id")
    listing = egpuctl_json.data(vm.sh("egpuctl --json list"))
    r = [x for x in listing["routers"] if x["name"] == "0-1"]
    assert r and sorted(f["name"] for f in r[0]["functions"]) == sorted(dev.bdfs), listing
    assert all(f["router_uid"] == uid and f["track"] == "removable"
               for f in listing["functions"] if f["name"] in dev.bdfs), listing
    vm.sh("egpuctl --json monitor > /tmp/mon3.json 2>/dev/null & echo $! > /tmp/mon3.pid")
    vm.wait_for("test -e /tmp/mon3.json", timeout=5)
    rc, out = vm.run("egpuctl --json eject 0-1", timeout=90)
    assert rc == 0, "eject 0-1 failed (%d):\n%s\n%s" % (rc, out, egpud_log(vm))
    env = egpuctl_json.envelope(out)
    rep = env["data"]
    steps = {s["step"]: s for s in rep["steps"]}
    assert env["ok"] and rep["safe_to_unplug"] and rep["router"] == "0-1", env
    assert sorted(rep["functions"]) == sorted(dev.bdfs), rep
    assert steps["remove"]["outcome"] == "ok" and steps["deauthorize"]["outcome"] == "ok", rep
    assert vm.tb_attr("0-1", "authorized").strip() == "0"
    vm.wait_gone(dev.bdfs)
    # removed in order: the audio function before the GPU, each found present
    rt = remove_times(vm, dev.bdfs)
    assert set(rt) == set(dev.bdfs) and all(p for _, p in rt.values()), vm.testdrv_events()
    assert rt[audio][0] < rt[gpu][0], rt
    vm.run("kill $(cat /tmp/mon3.pid)")
    objs = [json.loads(ln) for ln in vm.sh("cat /tmp/mon3.json").splitlines() if ln.strip()]
    rem = [o for o in objs if o.get("event") == "pci-remove"]
    assert [o["dev"]["name"] for o in rem] == [audio, gpu], objs
    assert all("orderly" in o["flags"] and o["timestamp_ns"] < rt[o["dev"]["name"]][0]
               for o in rem), (objs, rt)
    vm.tb_wait_tunnel("0-1", up=False)
    log = egpud_log(vm)
    assert "deauthorize: router 0-1 de-authorized" in log, log
    assert vm.run("kill -0 $(cat /tmp/egpud.pid)")[0] == 0, "egpud died:\n" + log


@vmtest(**BOOT)
def test_shutdown_deauthorizes_only_egpu_routers(vm):
    """egpuctl deauthorize --all without egpud (the shutdown unit's fallback):
    the eGPU's router goes, a dock without a GPU (an SSD, say) stays; with
    no module either, a display-class function behind a Thunderbolt port
    proves an eGPU is there, and only a sole device router is taken."""
    need_helpers()
    start_egpud(vm)
    tb_router(vm)                                   # 0-1: GPU + audio at rp2
    vm.tb_add_router("0-3", device_name="Thunderbolt SSD")
    rc, out = vm.tb_authorize("0-3", 1)
    assert rc == 0, out
    vm.sh("kill $(cat /tmp/egpud.pid)")
    vm.wait_for("! kill -0 $(cat /tmp/egpud.pid) 2>/dev/null", timeout=10)
    # egpud gone, the module links the GPU to 0-1
    rc, out = vm.run("egpuctl deauthorize --all 2>&1")
    assert rc == 0 and "deauthorize 0-1" in out and "carrying an eGPU" in out, (rc, out)
    assert "0-3" not in out and vm.tb_attr("0-3", "authorized") == "1", out
    assert vm.tb_attr("0-1", "authorized") == "0", out
    vm.tb_wait_tunnel("0-1", up=False)
    # no module: two device routers, and nothing says which has the GPU
    tb_router(vm)
    vm.unload_module("egpuhp")
    try:
        rc, out = vm.run("egpuctl deauthorize --all 2>&1")
        assert rc == 0 and "cannot tell which carries the eGPU" in out, (rc, out)
        assert vm.tb_attr("0-1", "authorized") == "1" and \
            vm.tb_attr("0-3", "authorized") == "1", out
        # the SSD unplugged: the sole router left carries the display function
        vm.tb_remove_router("0-3")
        vm.wait_for("! test -e /sys/bus/thunderbolt/devices/0-3", timeout=10)
        rc, out = vm.run("egpuctl deauthorize --all 2>&1")
        assert rc == 0 and "deauthorize 0-1" in out, (rc, out)
        assert vm.tb_attr("0-1", "authorized") == "0", out
        vm.tb_wait_tunnel("0-1", up=False)
    finally:
        vm.load_egpuhp("track_hotplug=1")


@vmtest(**BOOT)
def test_eject_refused_for_drm_client(vm):
    need_helpers()
    start_egpud(vm)
    vm.load_module("bochs")
    dev = vm.plug("rp3", kind="vga")
    vm.wait_for("ls /sys/bus/pci/devices/%s/drm/ | grep -q '^card'" % dev.bdf, timeout=15)
    card = [n for n in vm.sh("ls /sys/bus/pci/devices/%s/drm/" % dev.bdf).split()
            if n.startswith("card")][0]
    vm.wait_for("test -c /dev/dri/%s" % card, timeout=10)
    vm.sh("sleep 1000 3</dev/dri/%s & echo $! > /tmp/holder.pid" % card)
    pid = int(vm.sh("cat /tmp/holder.pid"))
    vm.wait_for("ls -l /proc/%d/fd | grep -q /dev/dri/%s" % (pid, card), timeout=10)
    try:
        rc, out = vm.run("egpuctl eject %s" % dev.bdf, timeout=90)
        assert rc == 1, (rc, out)
        assert "eject refused: pid %d (sleep) holds /dev/dri/%s (drm-card)" % (pid, card) in out, out
        assert "--force" in out and "stopped at evacuate: nothing was changed" in out, out
        assert re.search(r"remove\s", out) is None, out
        assert all(vm.guest_has(b) for b in dev.bdfs)
        assert os.path.basename(vm.sh("readlink /sys/bus/pci/devices/%s/driver" % dev.bdf)
                                .strip()) == "bochs-drm"
        rc, out = vm.run("egpuctl eject %s --force" % dev.bdf, timeout=90)
        assert rc == 0, "eject --force failed (%d):\n%s\n%s" % (rc, out, egpud_log(vm))
        assert "--force: left in place: pid %d (sleep)" % pid in out, out
        assert "safe to unplug" in out, out
        vm.wait_gone(dev.bdfs)
    finally:
        vm.run("kill %d" % pid)
    log = egpud_log(vm)
    assert "eject %s stopped at evacuate" % dev.bdf in log, log


@vmtest(**BOOT)
def test_eject_leaves_snapshot_protected_program_to_its_snapshot(vm):
    need_helpers()
    if vm.run("test -d /sys/module/egpuhp")[0] != 0:     # run alone
        vm.load_egpuhp("track_hotplug=1")
    start_egpud(vm)
    dev = vm.plug("rp4", kind="vga")
    gpu = dev.bdfs[0]
    for b in dev.bdfs:      # bochs-drm (loaded by the DRM test) may have taken it
        vm.sh("if [ -e /sys/bus/pci/devices/%s/driver ]; then "
              "echo %s > /sys/bus/pci/devices/%s/driver/unbind; fi" % (b, b, b))
    bind_testdrv(vm, dev.bdfs)
    vm.sh("%s %s > /tmp/snapw.out 2>&1 & echo $! > /tmp/snapw.pid" % (SNAPW, gpu))
    pid = int(vm.sh("cat /tmp/snapw.pid"))
    vm.wait_for("grep -q watching /tmp/snapw.out", timeout=10)
    # attached: egpud sends the period of its configuration
    vm.wait_for("grep -q 'got: snapshot-interval 7000' /tmp/snapw.out", timeout=10)

    out = vm.sh("egpuctl workloads")
    m = re.search(r"^%s\s+%d\s+egpuhp-snapw\s+-\s+\(none seen\)\s+-\s+"
                  r"snapshot (\d+\.\d) s old, 9\.5 GB$" % (re.escape(gpu), pid), out, re.M)
    assert m and float(m.group(1)) >= 3.2, out
    assert re.search(r"^\s+%d\s+egpuhp-snapw\s+running, snapshot \d+\.\d s old, 9\.5 GB "
                     r"\(no GPU device node seen\)$" % pid, out, re.M), out
    data = egpuctl_json.data(vm.sh("egpuctl --json workloads"))
    mine = [w for w in data["workloads"] if w["pid"] == pid]
    assert len(mine) == 1, data
    assert mine[0]["snapshot_bytes"] == 9500000000 and mine[0]["snapshot_buffers"] == 3, mine
    assert mine[0]["snapshot_age_ms"] >= 3200 and mine[0]["node"] is None, mine
    assert mine[0]["pci"] == gpu, mine

    rc, out = vm.run("egpuctl eject %s" % gpu, timeout=90)
    assert rc == 0, "egpuctl eject failed (%d):\n%s\n%s" % (rc, out, egpud_log(vm))
    assert re.search(r"notify\s+ok .*1 watcher told LEAVING: 1 acked, 0 closed; "
                     r"1 protected by snapshots: 1 final snapshot$", out, re.M), out
    assert re.search(r"evacuate\s+skipped .*no GPU workloads to checkpoint on %s; 1 left "
                     r"to its own snapshot \(pid %d\)" % (re.escape(gpu), pid), out), out
    assert re.search(r"^pid %d: snapshot: 9500000000 bytes, final snapshot \d+ ms after "
                     r"LEAVING \(no driver checkpoint\)$" % pid, out, re.M), out
    assert "safe to unplug" in out and "egpuctl restore %d" % pid not in out, out
    vm.wait_gone(dev.bdfs)
    snapw = vm.sh("cat /tmp/snapw.out")
    assert re.search(r"got: event leaving %s .*\nfinal sent" % re.escape(gpu), snapw), snapw
    log = egpud_log(vm)
    assert "watcher pid %d protects itself by snapshots: 3 buffers, 9500000000 bytes" % pid \
        in log, log
    assert re.search(r"eject %s: pid %d: snapshot: 9500000000 bytes, final snapshot \d+ ms "
                     r"after LEAVING: no driver checkpoint" % (re.escape(gpu), pid), log), log
    vm.run("kill %d" % pid)


if __name__ == "__main__":
    main()
