#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""egpuhp.ko in the virtual eGPU dock (real kernel under QEMU), per kernel:

boot 1 (cold-plugged enclosure + 3 root ports, egpuhp_testdrv bound to
every function whose removal ordering is checked):
  load with devices present, hot-add, orderly removal, re-plug, surprise
  removal of one function, watchdog off/on (a loss reported once, cleared
  when the GPU answers again, a runtime-suspended GPU never taken for
  lost; slow answers through the testdrv's slow_config: one PCI_SLOW per
  episode, ended by an answer in time), reads without side effects, dump
  after a deliberate gap,
  malformed and unprivileged requests (uid 65534, and root without
  CAP_SYS_ADMIN), surprise removal of the whole
  enclosure (every function, deepest first, all surprise, each event
  before its driver's remove() by the testdrv's timestamps), counters.
boot 2: load/unload during a hot-plug loop with listeners subscribed,
  unload with ADD_QUIRK/RESET/GET requests running,
  EGPUHP_CMD_EJECT of the enclosure's GPU group (other netlink requests
  complete while a driver's remove() holds it), Thunderbolt routers via
  tbsim with both load orders (skipped while tbsim.ko does not exist):
  functions behind a tunnel (tbsim marks its root port external-facing,
  as firmware does) are tracked as removable without track_hotplug and
  linked to their router (router_uid in ADD events and dumps, also for
  functions present at load), not linked while two device routers are
  authorized (ambiguous); last, a load while a device lock holder waits
  for the rescan lock (no deadlock).

Usage: test_kmod.py [--kernel 6.1] [--kernel 6.12]   (TAP on stdout)
"""

import argparse
import os
import sys
import time
import traceback

from kmodlib import (Listener, Tap, bind_testdrv, build_listener, dev_of, guest_json,
                     parse_json_lines, results, testdrv_times)
from dock import Dock, DockError  # noqa: E402  (path set by kmodlib)

EV = {"pci_add", "pci_bound", "pci_unbind", "pci_remove", "pci_lost", "link_change"}
F_SURPRISE, F_ORDERLY, F_PRELOAD = 1, 2, 4
QUIRK_NO_D3 = 1 << 3
TRACK_REMOVABLE, TRACK_HOTPLUG = 2, 3


def kinds(evs, bdf):
    return [e["kind"] for e in evs if dev_of(e) == bdf]


def first(evs, kind, bdf):
    for e in evs:
        if e["kind"] == kind and dev_of(e) == bdf:
            return e
    return None


def removed_before_remove_uevent(listener, bdfs):
    """Every bdf's pci_remove event was received before the kernel's remove uevent."""
    lines = listener.lines()
    seen_event, bad = set(), []
    for l in lines:
        if l.get("type") == "event" and l["kind"] == "pci_remove":
            seen_event.add(dev_of(l))
        elif l.get("type") == "uevent" and l.get("action") == "remove" and l.get("name") in bdfs:
            if l["name"] not in seen_event:
                bad.append(l["name"])
    missing = [b for b in bdfs if not any(l.get("type") == "uevent" and l.get("action") == "remove"
                                          and l.get("name") == b for l in lines)]
    return bad, missing


class GpuDock(Dock):
    """The dock with a display-class function as the enclosure's GPU.

    The dock's enclosure stands in for the GPU with edu (class 0x00ff),
    because no display device can be hot-added and a yanked cold-plugged
    virtio-gpu-pci kills QEMU 7.2.  egpuhp's GPU handling (is_gpu, groups,
    the watchdog) needs class 0x03; QEMU's secondary-vga (1234:1111, class
    0x0380) cold-plugs and is removed by a yank on both test kernels, so
    these tests use it in the enclosure."""

    def _enclosure_args(self):
        args = super()._enclosure_args()
        return [a.replace("edu,id=enc-gpu,", "secondary-vga,id=enc-gpu,") for a in args]


def gpu_present(vm, bdf, want, timeout=15):
    """Waits until a GET of BDF says present == WANT; true if it did."""
    end = time.time() + timeout
    while True:
        d = [l["dev"] for l in guest_json(vm, "--get %s" % bdf) if l.get("type") == "dev"]
        if d and d[0].get("present") == want:
            return True
        if time.time() > end:
            return False
        time.sleep(0.2)


def boot1(t, kernel):
    with GpuDock(kernel=kernel, ports=3, enclosure=True) as vm:
        enc_up, enc_dp = vm.bdf_of("enc-up"), vm.bdf_of("enc-dp")
        gpu, audio = vm.bdf_of("enc-gpu"), vm.bdf_of("enc-audio")
        enc_rp = vm.bdf_of("enc")
        enc_all = [enc_up, enc_dp, gpu, audio]
        vm.load_testdrv()
        bind_testdrv(vm, gpu)
        bind_testdrv(vm, audio)

        # -- module loaded with devices already present --------------------
        vm.load_egpuhp("track_hotplug=1")
        lines = guest_json(vm, "--dump")
        devs = {l["dev"]["name"]: l["dev"] for l in lines if l.get("type") == "dev"}
        res = results(lines)
        t.check(all(r[0] == 0 for r in res.values()) and len(res) == 4,
                "dump commands succeed", lines)
        t.check(set(enc_all) <= set(devs), "preload: enclosure functions are tracked", devs)
        g, a = devs.get(gpu, {}), devs.get(audio, {})
        t.check(g.get("is_gpu") and not a.get("is_gpu") and g.get("group") == gpu
                and a.get("group") == gpu,
                "preload: GPU marked, audio grouped with it", (g, a))
        t.check(all(devs.get(b, {}).get("port") == enc_rp and
                    devs.get(b, {}).get("track") == TRACK_HOTPLUG for b in enc_all),
                "preload: port is the enclosure's root port, track=hotplug", devs)
        t.check(g.get("vendor") == 0x1234 and g.get("device") == 0x1111 and g.get("driver") == "egpuhp_testdrv"
                and g.get("parent") == enc_dp and g.get("present") == 1
                and g.get("class", 0) >> 16 == 3,
                "preload: identity, driver, parent, presence", g)
        t.check(g.get("link", {}).get("cur_speed", 0) > 0 and g["link"].get("cur_width", 0) > 0,
                "preload: link speed/width reported", g)
        info = [l for l in lines if l.get("type") == "info"]
        t.check(info and info[0].get("version") == 1 and info[0].get("module_version")
                and info[0].get("config", {}).get("1") == 1,
                "GET_INFO: version, module version, config", info)
        stats = [l for l in lines if l.get("type") == "stats"]
        dev_lines = [l for l in lines if l.get("type") == "dev"]
        t.check(stats and stats[0]["stats"]["events"] == len(devs) and
                stats[0]["stats"]["no_listener"] == len(devs) and
                all(l["seq"] == len(devs) for l in dev_lines),
                "preload: one ADD per device sent, dump carries the last seq", (stats, len(devs)))
        one = guest_json(vm, "--get %s" % gpu)
        t.check(results(one).get("get", (1,))[0] == 0 and
                any(l.get("dev", {}).get("name") == gpu for l in one),
                "GET_DEV doit by name", one)

        lis = Listener(vm, "main", "--uevent")

        # -- hot-add ---------------------------------------------------------
        dev = vm.plug("rp1", kind="edu")
        edu = dev.bdf
        rp1 = vm.bdf_of("rp1")
        evs = lis.wait_events(lambda e: e["kind"] == "pci_bound" and dev_of(e) == edu)
        add = first(evs, "pci_add", edu)
        t.check(add and not add["preload"] and add["dev"]["vendor"] == 0x1234 and
                add["dev"]["device"] == 0x11e8 and add["dev"]["port"] == rp1 and
                add["dev"]["parent"] == rp1 and add["dev"]["track"] == TRACK_HOTPLUG and
                not add["dev"]["is_gpu"],
                "hot-add: PCI_ADD with identity, port, parent", add)
        t.check(kinds(evs, edu) == ["pci_add", "pci_bound"] and
                first(evs, "pci_bound", edu)["dev"].get("driver") == "egpuhp_testdrv",
                "hot-add: ADD then BOUND with driver", kinds(evs, edu))
        t.check(add and add["dev"].get("link", {}).get("cur_speed", 0) > 0,
                "hot-add: link state at add", add)

        # -- orderly removal ----------------------------------------------------
        if vm.kernel.endswith("-rt"):
            # the dock: pciehp's orderly removal never completes on PREEMPT_RT
            t.skip("orderly removal: UNBIND then REMOVE(orderly)",
                   "orderly removal hangs in pciehp on PREEMPT_RT kernels")
            t.skip("orderly removal: driver found the device present",
                   "orderly removal hangs in pciehp on PREEMPT_RT kernels")
            vm.yank("rp1")
            lis.wait_events(lambda e: e["kind"] == "pci_remove" and dev_of(e) == edu)
        else:
            vm.sh("echo > /sys/kernel/debug/egpuhp_testdrv/events")
            vm.unplug_orderly(dev, method="slot_power")
            evs = lis.wait_events(lambda e: e["kind"] == "pci_remove" and dev_of(e) == edu)
            k = kinds(evs, edu)
            rem = first(evs, "pci_remove", edu)
            t.check(k == ["pci_add", "pci_bound", "pci_unbind", "pci_remove"] and
                    rem["orderly"] and not rem["surprise"] and
                    first(evs, "pci_unbind", edu)["flags"] == 0,
                    "orderly removal: UNBIND then REMOVE(orderly)", k)
            td = testdrv_times(vm).get(edu, [])
            t.check(td and td[0][0] == "remove" and td[0][2].get("present") == "1",
                    "orderly removal: driver found the device present", td)

        # -- re-plug ---------------------------------------------------------------
        mark = len(lis.events())
        dev = vm.plug("rp1", kind="edu")
        evs = lis.wait_events(lambda e: e["kind"] == "pci_bound" and dev_of(e) == dev.bdf, count=2)
        t.check(dev.bdf == edu and kinds(evs[mark:], edu) == ["pci_add", "pci_bound"],
                "re-plug: ADD and BOUND again", kinds(evs[mark:], edu))

        # -- surprise removal of one function --------------------------------------
        vm.sh("echo > /sys/kernel/debug/egpuhp_testdrv/events")
        mark = len(lis.events())
        vm.yank("rp1")
        evs = lis.wait_events(lambda e: e["kind"] == "pci_remove" and dev_of(e) == edu, count=2)
        k = kinds(evs[mark:], edu)
        rem = first(evs[mark:], "pci_remove", edu)
        t.check(k == ["pci_remove"] and rem["surprise"] and not rem["orderly"] and
                rem["dev"].get("present") == 0,
                "surprise removal: one REMOVE(surprise), no UNBIND", k)
        td = testdrv_times(vm).get(edu, [])
        t.check(rem and td and td[0][0] == "remove" and td[0][2].get("present") == "0" and
                rem["ts"] < td[0][1],
                "surprise removal: event stamped before the driver's remove()",
                (rem and rem["ts"], td))
        vm.wait_for("grep -q '\"action\":\"remove\".*%s' %s" % (edu, lis.path), timeout=10)
        bad, missing = removed_before_remove_uevent(lis, [edu])
        t.check(not bad and not missing, "surprise removal: event before the remove uevent",
                (bad, missing))

        # -- watchdog -----------------------------------------------------------------
        # The enclosure's downstream port stops forwarding config cycles to
        # the GPU's bus (secondary/subordinate bus moved): the GPU "falls off
        # the bus" with no hotplug event at all.
        sec = vm.sh("setpci -s %s SECONDARY_BUS" % enc_dp).strip()
        sub = vm.sh("setpci -s %s SUBORDINATE_BUS" % enc_dp).strip()

        def cut():
            vm.sh("setpci -s %s SUBORDINATE_BUS=fe SECONDARY_BUS=fe" % enc_dp)

        def repair():
            vm.sh("setpci -s %s SECONDARY_BUS=%s SUBORDINATE_BUS=%s" % (enc_dp, sec, sub))

        # A runtime-suspended GPU (or one below a suspended port) reads
        # all-ones without being lost: the watchdog must not ask it.  The
        # path is cut while it is suspended; the watchdog ticks meanwhile.
        power = "/sys/bus/pci/devices/%s/power" % gpu
        vm.sh("echo > /sys/kernel/debug/egpuhp_testdrv/events")
        vm.sh("echo auto > %s/control" % power)
        suspended = vm.run("for i in $(seq 100); do grep -q suspended %s/runtime_status && "
                           "exit 0; sleep 0.1; done; exit 1" % power, timeout=30)[0] == 0
        mark = len(lis.events())
        cut()
        vm.sh("egpuhp-listen --set watchdog_ms=50")
        time.sleep(1.5)
        vm.sh("egpuhp-listen --set watchdog_ms=0")
        repair()
        vm.sh("echo on > %s/control" % power)
        vm.wait_for("grep -q active %s/runtime_status" % power, timeout=10)
        lost_susp = [e for e in lis.events()[mark:] if e["kind"] == "pci_lost"]
        t.check(suspended and not lost_susp,
                "watchdog: a runtime-suspended GPU out of reach is not reported lost",
                (suspended, lost_susp, vm.sh("cat %s/runtime_status" % power)))
        resumed = [x[1] for x in testdrv_times(vm).get(gpu, []) if x[0] == "rpm_resume"]

        mark = len(lis.events())
        cut()
        time.sleep(1.5)
        lost_off = [e for e in lis.events()[mark:] if e["kind"] == "pci_lost"]
        vm.sh("egpuhp-listen --set watchdog_ms=50")
        evs = lis.wait_events(lambda e: e["kind"] == "pci_lost", timeout=10)
        time.sleep(0.5)
        evs = lis.events()[mark:]
        lost = [e for e in evs if e["kind"] == "pci_lost"]
        t.check(not lost_off, "watchdog off: no presence reports", lost_off)
        t.check(len(lost) == 1 and dev_of(lost[0]) == gpu and lost[0]["surprise"] and
                lost[0]["dev"].get("present") == 0 and resumed and lost[0]["ts"] > resumed[-1],
                "watchdog on: PCI_LOST once, for the GPU only (after its resume)", (lost, resumed))
        repair()
        t.check(gpu_present(vm, gpu, 1),
                "watchdog: GPU present again once it answers", guest_json(vm, "--get %s" % gpu))
        # the loss was cleared when the GPU answered: a new one is reported
        mark = len(lis.events())
        cut()
        evs = lis.wait_events(lambda e: e["kind"] == "pci_lost", count=len(lost) + 1,
                              timeout=10)
        lost2 = [e for e in evs[mark:] if e["kind"] == "pci_lost"]
        repair()
        t.check(len(lost2) == 1 and dev_of(lost2[0]) == gpu,
                "watchdog: a second loss after a repair is reported anew", lost2)
        t.check(gpu_present(vm, gpu, 1), "watchdog: present again after the second repair",
                guest_json(vm, "--get %s" % gpu))

        # -- slow answers -----------------------------------------------------------
        # The test driver makes every config read of the GPU 50 ms late
        # (slow_config).  watchdog_slow_us = 0 (the default) reports nothing;
        # 20000 reports one PCI_SLOW per slow episode; the first answer in
        # time ends the episode, and the next slow one is reported anew.
        slow_cfg = "/sys/kernel/debug/egpuhp_testdrv/slow_config"
        vm.sh("dmesg -c >/dev/null")
        mark = len(lis.events())
        vm.sh("echo '%s 50' > %s" % (gpu, slow_cfg))
        time.sleep(1)
        slow_off = [e for e in lis.events()[mark:] if e["kind"] == "pci_slow"]
        vm.sh("egpuhp-listen --set watchdog_slow_us=20000")
        evs = lis.wait_events(lambda e: e["kind"] == "pci_slow", timeout=20)
        time.sleep(0.5)
        vm.sh("echo '%s 0' > %s" % (gpu, slow_cfg))
        vm.wait_for("dmesg | grep -q '%s: presence check answered in time again'" % gpu,
                    timeout=20)
        slow = [e for e in lis.events()[mark:] if e["kind"] == "pci_slow"]
        t.check(not slow_off, "slow answers: watchdog_slow_us=0 reports nothing", slow_off)
        t.check(len(slow) == 1 and dev_of(slow[0]) == gpu and slow[0].get("answer_us", 0) > 20000
                and slow[0]["dev"].get("present") == 1,
                "slow answers: PCI_SLOW once per episode, with the read's time", slow)
        log = vm.sh("dmesg")
        t.check("presence check answered slowly" in log and
                log.index("presence check answered slowly") <
                log.index("presence check answered in time again"),
                "slow answers: logged, and ended by an answer in time", log[-2000:])
        mark = len(lis.events())
        vm.sh("echo '%s 50' > %s" % (gpu, slow_cfg))
        evs = lis.wait_events(lambda e: e["kind"] == "pci_slow", count=2, timeout=20)
        vm.sh("echo '%s 0' > %s" % (gpu, slow_cfg))
        slow2 = [e for e in evs[mark:] if e["kind"] == "pci_slow"]
        t.check(len(slow2) == 1 and dev_of(slow2[0]) == gpu,
                "slow answers: a new episode is reported anew", slow2)
        vm.sh("egpuhp-listen --set watchdog_slow_us=0")
        vm.sh("egpuhp-listen --set watchdog_ms=0")

        # -- reads have no side effects ---------------------------------------------
        # With the GPU out of reach, a GET shows it absent, but neither it nor
        # an unprivileged dump stores anything or sends an event: the next
        # event about the GPU (its driver unbound) still has it present.
        mark = len(lis.events())
        vm.sh("setpci -s %s SUBORDINATE_BUS=fe SECONDARY_BUS=fe" % enc_dp)
        got = [l["dev"] for l in guest_json(vm, "--get %s" % gpu) if l.get("type") == "dev"]
        unp = results(guest_json(vm, "--unpriv"))
        vm.sh("setpci -s %s SECONDARY_BUS=%s SUBORDINATE_BUS=%s" % (enc_dp, sec, sub))
        quiet = lis.events()[mark:]
        bind_testdrv(vm, gpu)
        evs = lis.wait_events(lambda e: e["kind"] == "pci_bound" and dev_of(e) == gpu)[mark:]
        unb = first(evs, "pci_unbind", gpu)
        t.check(got and got[0].get("present") == 0 and unp.get("dump_dev", (1,))[0] == 0 and
                not quiet and unb and unb["dev"].get("present") == 1,
                "reads: GET shows the unreachable GPU absent, stores nothing, sends no event",
                (got, unp, quiet, unb))

        # -- dump after a deliberate gap ---------------------------------------------
        gap = Listener(vm, "gap", "--rcvbuf 1 --hold /tmp/gap.go --resync --timeout 4")
        for _ in range(2):
            vm.plug("rp2", kind="edu")
            vm.yank("rp2")
        vm.sh("touch /tmp/gap.go")
        gap.wait_exit(timeout=40)
        gl = gap.lines()
        over = [l for l in gl if l.get("type") == "overrun"]
        resync = [l for l in gl if l.get("type") == "result" and l.get("op") == "resync_dump"]
        rdevs = [l for l in gl if l.get("type") == "dev"]
        now = guest_json(vm, "--stats")
        st = [l for l in now if l.get("type") == "stats"][0]["stats"]
        t.check(over and resync and resync[0]["error"] == 0,
                "gap: overrun seen and resync dump done", gl[-10:])
        t.check(rdevs and {l["dev"]["name"] for l in rdevs} == set(enc_all) and
                all(l["seq"] == st["events"] for l in rdevs),
                "gap: resync dump is the current state at the current seq",
                ([l["dev"]["name"] for l in rdevs], [l.get("seq") for l in rdevs], st))
        t.check(st["mcast_fail"] >= 1, "gap: multicast failure counted", st)

        # -- malformed requests ---------------------------------------------------------
        res = results(guest_json(vm, "--bad"))
        expect = {
            "info_unknown_attr": (-22, "Unsupported attribute"),
            "attr_beyond_max": (-22, ""),
            "version_wrong_size": (-34, ""),
            "get_dev_missing": (-22, "missing"),
            "get_dev_no_name": (-22, "name"),
            "get_dev_name_too_long": (-34, ""),
            "get_dev_name_no_nul": (-22, ""),
            "get_dev_name_malformed": (-22, "malformed PCI function name"),
            "get_dev_unknown": (-19, "no such PCI function"),
            "get_dev_nested_unknown": (-22, "Unsupported attribute"),
            "get_dev_not_nested": (-22, ""),
            "set_track_hotplug_range": (-34, ""),
            "set_watchdog_range": (-22, "watchdog period"),
            # the policy's range, reported by the policy layer in the extack
            "set_watchdog_slow_range": (-34, ""),
            "set_config_missing": (-22, "missing"),
            "get_router_no_name": (-22, "router name"),
            "get_router_unknown": (-19, "no such Thunderbolt router"),
            "eject_untracked": (-19, "not tracked"),
            "cmd_event": (-95, ""),
            "cmd_unknown": (-95, ""),
            "genl_reserved": (-22, ""),
            "info_ok": (0, ""),
        }
        for case, (err, msg) in expect.items():
            got = res.get(case)
            if err in (-22, -34) and got:
                # the policy layer's errno differs between kernel versions
                errs = (-22, -34)
            else:
                errs = (err,)
            ok = got is not None and got[0] in errs and (msg in got[1])
            if err and err not in (-95,) and case not in ("genl_reserved",):
                ok = ok and got[1] != ""
            t.check(ok, "malformed: %s -> %d %r" % (case, err, msg), got)

        # -- unprivileged --------------------------------------------------------------
        res = results(guest_json(vm, "--unpriv"))
        t.check(res.get("info", (1,))[0] == 0 and res.get("dump_dev", (1,))[0] == 0,
                "unprivileged: read-only commands allowed", res)
        t.check(all(res.get(op, (0,))[0] == -1 for op in
                    ("set_config", "set_watchdog_slow", "eject", "add_quirk", "del_quirk", "reset")),
                "unprivileged: every mutating command refused with EPERM", res)
        # root with CAP_NET_ADMIN but without CAP_SYS_ADMIN: still refused
        lines = guest_json(vm, "--netadmin")
        caps = [l for l in lines if l.get("type") == "caps"]
        res = results(lines)
        t.check(caps and caps[0]["uid"] == 0 and caps[0]["net_admin"] == 1 and
                caps[0]["sys_admin"] == 0 and res.get("info", (1,))[0] == 0 and
                all(res.get(op, (0, ""))[0] == -1 and "CAP_SYS_ADMIN" in res[op][1] for op in
                    ("set_config", "set_watchdog_slow", "eject", "add_quirk", "del_quirk", "reset")),
                "CAP_NET_ADMIN without CAP_SYS_ADMIN: every mutating command refused with EPERM",
                lines)

        # -- surprise removal of the cold-plugged enclosure ---------------------------
        vm.sh("echo > /sys/kernel/debug/egpuhp_testdrv/events")
        mark = len(lis.events())
        vm.yank("enc")
        evs = lis.wait_events(lambda e: e["kind"] == "pci_remove" and dev_of(e) in enc_all,
                              count=4)[mark:]
        rems = [e for e in evs if e["kind"] == "pci_remove"]
        order = [dev_of(e) for e in rems]
        t.check(order == [audio, gpu, enc_dp, enc_up],
                "enclosure yank: one REMOVE per function, deepest first", order)
        t.check(rems and all(e["surprise"] and not e["orderly"] for e in rems) and
                not [e for e in evs if e["kind"] == "pci_unbind"],
                "enclosure yank: all flagged surprise, no UNBIND", evs)
        td = testdrv_times(vm)
        ok = True
        for b in (gpu, audio):
            e = first(rems, "pci_remove", b)
            r = [x for x in td.get(b, []) if x[0] == "remove"]
            ok = ok and e is not None and r and e["ts"] < r[0][1] and r[0][2].get("present") == "0"
        t.check(ok, "enclosure yank: each event stamped before its driver's remove()",
                (rems, td))
        vm.wait_for("test $(grep -c '\"action\":\"remove\"' %s) -ge 7" % lis.path, timeout=10)
        bad, missing = removed_before_remove_uevent(lis, enc_all)
        t.check(not bad and not missing, "enclosure yank: every event before its remove uevent",
                (bad, missing))

        # -- sequence numbers and counters ------------------------------------------
        lis.stop()
        seqs = [e["seq"] for e in lis.events()]
        gaps = [l for l in lis.lines() if l.get("type") in ("gap", "overrun")]
        t.check(seqs and seqs == list(range(seqs[0], seqs[0] + len(seqs))) and not gaps,
                "listener saw increasing seq numbers without gaps", (seqs, gaps))
        st = [l for l in guest_json(vm, "--stats") if l.get("type") == "stats"][0]["stats"]
        t.check(st["events"] == seqs[-1] and st["alloc_fail"] == 0 and st["devices"] == 0,
                "stats: events == last seq, no allocation failure, table empty", st)

        rc, out = vm.run("rmmod egpuhp")
        t.check(rc == 0, "unload after the scenarios", out)
        rc, out = vm.run("egpuhp-listen --info")
        t.check(rc != 0 and "family egpuhp not found" in out,
                "family gone after unload", out)
        health(t, vm, "boot 1")


def health(t, vm, what):
    problems = vm.console_problems()
    taint = vm.taint_problems()
    t.check(not problems and not taint,
            "%s: kernel log clean (no WARN/BUG/Oops/lockdep, no new taint)" % what,
            "\n".join(problems + [taint]))


def boot2(t, kernel):
    with GpuDock(kernel=kernel, ports=2, enclosure=True) as vm:
        gpu, audio = vm.bdf_of("enc-gpu"), vm.bdf_of("enc-audio")
        vm.load_testdrv()

        # -- load/unload during a hot-plug loop, listeners subscribed -------------------
        # At least 12 cycles, and on until the host has churned 3 times
        # (/tmp/churn.enough): an order, whatever either side's speed.
        script = ("ok=0; while [ $ok -lt 12 ] || [ ! -e /tmp/churn.enough ]; do "
                  "[ $ok -ge 200 ] && break; "
                  "insmod %s track_hotplug=1 watchdog_ms=20 || break; "
                  "egpuhp-listen --timeout 2 >/dev/null 2>&1 & "
                  "sleep 0.$((RANDOM %% 9 + 1)); egpuhp-listen --dump >/dev/null 2>&1; "
                  "rmmod egpuhp || break; ok=$((ok+1)); done; echo $ok > /tmp/loop.done"
                  % vm.module_path("egpuhp"))
        vm.sh("(%s) >/tmp/loop.log 2>&1 &" % script)
        # The host plugs and yanks meanwhile (the guest agent is not thread
        # safe: the churn runs in this thread, the loop in the guest).
        cycles, errors, end = 0, [], time.time() + 300
        while time.time() < end:
            rc, _ = vm.run("test -s /tmp/loop.done")
            if rc == 0:
                break
            port = "rp1" if cycles % 2 == 0 else "rp2"
            try:
                vm.plug(port, kind="edu")
                vm.yank(port)
            except DockError as e:
                errors.append(str(e))
                break
            cycles += 1
            if cycles == 3:
                vm.sh("touch /tmp/churn.enough")
        rc, done = vm.run("cat /tmp/loop.done")
        done = done.strip()
        t.check(done.isdigit() and 12 <= int(done) < 200 and not errors and cycles >= 3,
                "load/unload x12+ during hot-plug churn with listeners",
                (done, errors, cycles, vm.sh("cat /tmp/loop.log")))
        t.note("%d plug/yank cycles during %s load/unload cycles" % (cycles, done))
        for p in ("rp1", "rp2"):
            if vm.port(p).devices:
                vm.yank(p)

        # -- unload while requests run ----------------------------------------------
        # generic netlink pins the module only for dumps: unloading must wait
        # for running ADD_QUIRK, RESET and GET doits, never tear down under them
        edu = vm.plug("rp1", kind="edu").bdf
        # PREEMPT_RT with pciehp's filter for link changes caused by resets
        # (pci_hp_ignore_link_change(), 6.16+; Debian's 7.2-rt): after a
        # bus reset the yank's presence change is taken for the reset's and
        # handed to pciehp_request(), whose wake-up is lost on PREEMPT_RT
        # (README, Known limits), so the device would stay.  There the
        # requests in flight are ADD_QUIRK and GET only.
        rc, _ = vm.run("grep -qw pci_hp_ignore_link_change /proc/kallsyms")
        resets = not (vm.preempt_rt and rc == 0)
        if not resets:
            t.skip("unload while a RESET request runs",
                   "a surprise removal after a bus reset is lost by pciehp on "
                   "PREEMPT_RT kernels with its reset link-change filter (README)")
        script = ("ok=0; for i in $(seq 10); do "
                  "insmod {ko} track_hotplug=1 || break; "
                  "(while :; do egpuhp-listen --add-quirk 1234:11e8:{nod3:x}:-:-; "
                  + ("egpuhp-listen --reset {edu}; " if resets else "") +
                  "egpuhp-listen --get {edu}; done) "
                  ">/dev/null 2>&1 & p=$!; "
                  "sleep 0.$((RANDOM % 9 + 1)); rmmod egpuhp || break; "
                  "kill $p; wait $p; ok=$((ok+1)); done; echo $ok > /tmp/inflight.done"
                  ).format(ko=vm.module_path("egpuhp"), edu=edu, nod3=QUIRK_NO_D3)
        vm.sh("(%s) >/tmp/inflight.log 2>&1 &" % script)
        vm.wait_for("test -s /tmp/inflight.done", timeout=300)
        done = vm.sh("cat /tmp/inflight.done").strip()
        t.check(done == "10", "unload x10 with ADD_QUIRK, RESET and GET requests running",
                (done, vm.sh("cat /tmp/inflight.log")))
        vm.yank("rp1")

        # -- the table matches the machine after churn --------------------------------
        vm.load_egpuhp("track_hotplug=1")
        bind_testdrv(vm, gpu)
        bind_testdrv(vm, audio)
        present = set(vm.sh("ls /sys/bus/pci/devices").split())
        devs = {l["dev"]["name"] for l in guest_json(vm, "--dump") if l.get("type") == "dev"}
        want = {vm.bdf_of(q) for q in ("enc-up", "enc-dp", "enc-gpu", "enc-audio")}
        t.check(devs == want and devs <= present, "after churn: dump lists exactly the enclosure",
                (devs, want))

        # -- run-time settings ------------------------------------------------------
        vm.sh("egpuhp-listen --set track_hotplug=0")
        st = [l for l in guest_json(vm, "--stats") if l.get("type") == "stats"][0]["stats"]
        info = [l for l in guest_json(vm, "--info") if l.get("type") == "info"][0]
        t.check(st["devices"] == 0 and info["config"].get("1") == 0,
                "SET_CONFIG track_hotplug=0: hotplug-tracked functions dropped", (st, info))
        lis = Listener(vm, "config")
        vm.sh("egpuhp-listen --set track_hotplug=1")
        evs = lis.wait_events(lambda e: e["kind"] == "pci_add", count=len(want))
        adds = [e for e in evs if e["kind"] == "pci_add"]
        t.check({dev_of(e) for e in adds} == want and all(e["preload"] for e in adds),
                "SET_CONFIG track_hotplug=1: present functions announced (preload)", adds)
        lis.stop()
        rc, out = vm.run("rmmod egpuhp && insmod %s watchdog_ms=5" % vm.module_path("egpuhp"))
        loaded = [l.split()[0] for l in vm.sh("cat /proc/modules").splitlines()]
        t.check(rc != 0 and "egpuhp" not in loaded,
                "module parameter watchdog_ms=5 refused", out)
        rc, out = vm.run("insmod %s watchdog_ms=3600001" % vm.module_path("egpuhp"))
        loaded = [l.split()[0] for l in vm.sh("cat /proc/modules").splitlines()]
        t.check(rc != 0 and "egpuhp" not in loaded,
                "module parameter watchdog_ms=3600001 refused (SET_CONFIG's bound)", out)
        vm.load_egpuhp("track_hotplug=1 watchdog_ms=0")
        rc, out = vm.run("echo 3600001 > /sys/module/egpuhp/parameters/watchdog_ms")
        t.check(rc != 0 and vm.sh("cat /sys/module/egpuhp/parameters/watchdog_ms").strip() == "0",
                "watchdog_ms written at run time: out of range refused", out)
        rc, out = vm.run("echo 1000001 > /sys/module/egpuhp/parameters/watchdog_slow_us")
        t.check(rc != 0 and
                vm.sh("cat /sys/module/egpuhp/parameters/watchdog_slow_us").strip() == "0",
                "watchdog_slow_us written at run time: out of range refused", out)

        # -- EJECT: orderly removal of the GPU group, events first -------------------
        # The drivers' remove() waits until released (as a GPU driver with
        # clients does): meanwhile other netlink requests, egpuhp's and
        # nlctrl's (no parallel_ops, so behind genl_mutex), still complete.
        dbg = "/sys/kernel/debug/egpuhp_testdrv"
        vm.sh("echo > %s/events; echo 1 > %s/remove_hold" % (dbg, dbg))
        lis = Listener(vm, "eject")
        vm.sh("(egpuhp-listen --eject %s > /tmp/eject-cmd.json 2>&1; echo $? > /tmp/eject-cmd.rc) "
              ">/dev/null 2>&1 &" % gpu)
        vm.wait_for("grep -q '^remove %s' %s/events" % (audio, dbg), timeout=30)
        # (a request stuck behind genl_mutex cannot even be killed: wait aside)
        vm.sh("(egpuhp-listen --info > /tmp/info-during.json 2>&1; "
              "echo $? > /tmp/info-during.rc) >/dev/null 2>&1 &")
        info_done = vm.run("for i in $(seq 200); do test -s /tmp/info-during.rc && exit 0; "
                           "sleep 0.1; done; exit 1", timeout=60)[0] == 0
        eject_early = vm.run("test -e /tmp/eject-cmd.rc")[0] == 0
        vm.sh("echo 0 > %s/remove_hold" % dbg)
        vm.wait_for("test -s /tmp/eject-cmd.rc", timeout=60)
        out = vm.sh("cat /tmp/info-during.rc /tmp/info-during.json")
        t.check(info_done and not eject_early and out.split()[0] == "0",
                "a removal held inside EJECT does not block other netlink requests",
                (info_done, eject_early, out))
        res = results(parse_json_lines(vm.sh("cat /tmp/eject-cmd.json")))
        t.check(res.get("eject", (1,))[0] == 0, "EJECT of the GPU group accepted", res)
        vm.wait_gone([gpu, audio])
        evs = lis.wait_events(lambda e: e["kind"] == "pci_remove", count=2)
        rems = [e for e in evs if e["kind"] == "pci_remove"]
        t.check([dev_of(e) for e in rems] == [audio, gpu] and
                all(e["orderly"] and not e["surprise"] for e in rems) and
                not [e for e in evs if e["kind"] == "pci_unbind"],
                "EJECT: REMOVE(orderly) for audio then GPU, no UNBIND", evs)
        td = testdrv_times(vm)
        ok = all(td.get(b) and td[b][0][0] == "remove" and td[b][0][2].get("present") == "1"
                 and first(rems, "pci_remove", b) and
                 first(rems, "pci_remove", b)["ts"] < td[b][0][1] for b in (gpu, audio))
        t.check(ok, "EJECT: every event before any driver's remove()", (rems, td))
        last_ev = max(first(rems, "pci_remove", b)["ts"] for b in (gpu, audio)) if ok else 0
        t.check(ok and all(td[b][0][1] > last_ev for b in (gpu, audio)),
                "EJECT: all events precede the first remove()", td)

        # ejecting a bridge takes everything below it, deepest first
        up, dp = vm.bdf_of("enc-up"), vm.bdf_of("enc-dp")
        mark = len(lis.events())
        res = results(guest_json(vm, "--eject %s" % up))
        vm.wait_gone([dp, up])
        evs = lis.wait_events(lambda e: e["kind"] == "pci_remove" and dev_of(e) == up)[mark:]
        t.check(res.get("eject", (1,))[0] == 0 and
                [(e["kind"], dev_of(e), e["orderly"]) for e in evs] ==
                [("pci_remove", dp, True), ("pci_remove", up, True)],
                "EJECT of a bridge: its subtree, deepest first, REMOVE(orderly) only",
                (res, evs))
        lis.stop()

        # -- Thunderbolt routers through tbsim, both load orders ----------------------
        tb_tests(t, vm)

        rc, out = vm.run("rmmod egpuhp")
        t.check(rc == 0, "boot 2: unload", out)
        load_vs_device_lock(t, vm)
        health(t, vm, "boot 2")


def load_vs_device_lock(t, vm):
    """Load while a thread holds a device lock and then wants the rescan
    lock (sriov_numvfs_store()'s order): the load must not hold the rescan
    lock while it waits for device locks.  Last in its boot: a deadlock
    leaves the machine unusable."""
    dbg = "/sys/kernel/debug/egpuhp_testdrv"
    rp = vm.bdf_of("rp1")
    vm.sh("echo > %s/events; echo %s > %s/hold_lock" % (dbg, rp, dbg))
    vm.wait_for("grep -q 'lock_held %s' %s/events" % (rp, dbg), timeout=10)
    vm.sh("(insmod %s; echo $? > /tmp/lockload.rc) >/tmp/lockload.log 2>&1 &"
          % vm.module_path("egpuhp"))
    # insmod waits for the held device lock (state D) before it is let go
    blocked = vm.run("for i in $(seq 200); do p=$(pidof insmod) && "
                     "grep -q '^State:.*D' /proc/$p/status && exit 0; "
                     "test -s /tmp/lockload.rc && exit 1; sleep 0.05; done; exit 1",
                     timeout=30)[0] == 0
    vm.sh("echo 1 > %s/release_lock" % dbg)
    rc = vm.run("for i in $(seq 300); do test -s /tmp/lockload.rc && exit 0; sleep 0.1; done; "
                "exit 1", timeout=60)[0]
    out = vm.sh("cat /tmp/lockload.rc /tmp/lockload.log 2>&1; grep lock_ %s/events" % dbg)
    t.check(blocked and rc == 0 and out.split()[0] == "0" and "lock_done %s" % rp in out,
            "load while a device lock holder waits for the rescan lock: no deadlock",
            (blocked, out))
    if rc == 0:
        vm.run("rmmod egpuhp")


def routers_of(lines):
    return {l["router"]["name"]: l["router"] for l in lines if "router" in l}


def tb_tests(t, vm):
    """Thunderbolt routers (tbsim's fake routers on the real thunderbolt bus)."""
    rc, _ = vm.run("test -f %s" % vm.module_path("tbsim"))
    if rc != 0:
        t.skip("thunderbolt: routers via tbsim", "tbsim.ko was not built")
        return

    # -- egpuhp first, thunderbolt.ko later --------------------------------------
    # Functions behind a tunnel are tracked for being removable, not for
    # sitting below a hotplug port.
    vm.sh("egpuhp-listen --set track_hotplug=0")
    lis = Listener(vm, "tb")
    vm.tb_load()
    evs = lis.wait_events(lambda e: e["kind"] == "router_add")
    host = [e for e in evs if e["kind"] == "router_add"]
    h = host[0]["router"] if host else {}
    t.check(host and h.get("name") == "0-0" and h.get("depth") == 0 and
            h.get("domain") == "domain0" and h.get("security") == "user" and
            h.get("iommu_prot") == 1 and not host[0]["preload"],
            "thunderbolt loaded after egpuhp: host router announced", host)
    vm.tb_add_router(1, port="rp1", functions="edu", generation=3, speed=20, lanes=2)
    evs = lis.wait_events(lambda e: e["kind"] == "router_add" and
                          e["router"]["name"] == "0-1")
    r = [e for e in evs if e["kind"] == "router_add" and e["router"]["name"] == "0-1"]
    r = r[0]["router"] if r else {}
    uid = vm.tb_attr(1, "unique_id")
    t.check(r.get("unique_id") == uid and r.get("vendor") == 0x1234 and
            r.get("device") == 0x11e8 and r.get("vendor_name") == "tbsim" and
            r.get("device_name") == "Virtual eGPU enclosure" and r.get("generation") == 3 and
            r.get("rx_speed") == 20 and r.get("tx_speed") == 20 and r.get("rx_lanes") == 2 and
            r.get("tx_lanes") == 2 and r.get("authorized") == 0 and r.get("depth") == 1 and
            r.get("boot") == 0,
            "router add: unique_id, names, ids, generation, link, authorization", (r, uid))

    # authorization reaches only uevents: egpuhp re-reads routers on request
    vm.tb_authorize(1)
    dev = vm.tb_wait_tunnel(1)
    lines = guest_json(vm, "--router 0-1")
    rr = routers_of(lines).get("0-1", {})
    evs = lis.wait_events(lambda e: e["kind"] == "router_change")
    ch = [e for e in evs if e["kind"] == "router_change"]
    t.check(rr.get("authorized") == 1 and ch and ch[0]["router"]["authorized"] == 1,
            "authorization change: GET_ROUTER re-reads it, ROUTER_CHANGE sent", (rr, ch))
    t.check(dev and first(evs, "pci_add", dev.bdf),
            "tunnel up: the function behind the router is announced", dev)
    rp1, rp2 = vm.bdf_of("rp1"), vm.bdf_of("rp2")
    add = first(evs, "pci_add", dev.bdf) if dev else None
    a = add["dev"] if add else {}
    t.check(a.get("track") == TRACK_REMOVABLE and a.get("port") == rp1 and
            a.get("router_uid") == uid,
            "tunnel below an external-facing port: tracked as removable with "
            "track_hotplug=0, ADD carries the router's unique_id", add)
    d = [l["dev"] for l in guest_json(vm, "--get %s" % dev.bdf) if l.get("type") == "dev"]
    t.check(d and d[0].get("router_uid") == uid and d[0].get("track") == TRACK_REMOVABLE,
            "router linkage in the dump (GET_DEV)", d)

    # two device routers authorized: which one carries a new function is
    # ambiguous, so it is not linked
    vm.tb_add_router(3, port="rp2", functions="edu")
    vm.tb_authorize(3)
    dev3 = vm.tb_wait_tunnel(3)
    evs = lis.wait_events(lambda e: e["kind"] == "pci_add" and dev_of(e) == dev3.bdf)
    a3 = first(evs, "pci_add", dev3.bdf)
    a3 = a3["dev"] if a3 else {}
    t.check(a3.get("track") == TRACK_REMOVABLE and a3.get("port") == rp2 and
            not a3.get("router_uid"),
            "two authorized device routers: the new function is tracked, not linked", a3)
    d = [l["dev"] for l in guest_json(vm, "--dump") if l.get("type") == "dev"]
    linked = {x["name"]: x.get("router_uid", "") for x in d}
    t.check(linked.get(dev.bdf) == uid and linked.get(dev3.bdf) == "",
            "dump: the first function keeps its router, the ambiguous one has none", d)

    bdfs = vm.tb_unplug(1)
    evs = lis.wait_events(lambda e: e["kind"] == "router_remove")
    gone = [e for e in evs if e["kind"] == "router_remove"]
    t.check(gone and gone[0]["router"]["name"] == "0-1" and
            gone[0]["router"].get("unique_id") == uid and
            all(first(evs, "pci_remove", b) and first(evs, "pci_remove", b)["surprise"]
                for b in bdfs),
            "cable pull: ROUTER_REMOVE with its unique_id, PCI REMOVE(surprise)", (gone, bdfs))
    vm.tb_unplug(3)
    lis.stop()

    # -- thunderbolt first, egpuhp later ------------------------------------------
    vm.sh("rmmod egpuhp")
    vm.tb_add_router(2, port="rp2", functions="edu")
    vm.load_egpuhp("track_hotplug=1")
    lines = guest_json(vm, "--dump")
    rs = routers_of([l for l in lines if l.get("type") == "router"])
    st = [l for l in lines if l.get("type") == "stats"][0]["stats"]
    t.check(set(rs) == {"0-0", "0-2"} and rs["0-2"].get("depth") == 1 and
            rs["0-2"].get("authorized") == 0 and st["routers"] == 2,
            "egpuhp loaded after thunderbolt: routers found at load", (rs, st))
    uid2 = vm.tb_attr(2, "unique_id")
    one = routers_of(guest_json(vm, "--router 0-2"))
    t.check(one.get("0-2", {}).get("unique_id") == uid2,
            "GET_ROUTER doit by name", one)
    # functions present at load are linked too (routers are known first)
    vm.tb_authorize(2)
    dev2 = vm.tb_wait_tunnel(2)
    vm.sh("rmmod egpuhp")
    vm.load_egpuhp()
    d = {l["dev"]["name"]: l["dev"] for l in guest_json(vm, "--dump") if l.get("type") == "dev"}
    f2 = d.get(dev2.bdf, {})
    t.check(f2.get("track") == TRACK_REMOVABLE and f2.get("router_uid") == uid2,
            "loaded with the tunnel up (track_hotplug=0): tracked, linked to its router", d)
    vm.tb_unplug(2)
    vm.sh("rmmod egpuhp")
    rc, out = vm.run("rmmod tbsim && rmmod thunderbolt")
    t.check(rc == 0, "egpuhp unloaded: thunderbolt.ko no longer pinned", out)
    vm.load_egpuhp("track_hotplug=1")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", action="append")
    ap.add_argument("--boot", action="append", choices=["1", "2"],
                    help="run only these boots (default: both)")
    args = ap.parse_args(argv)
    kernels = args.kernel or ["6.1", "6.12"]
    boots = [b for n, b in (("1", boot1), ("2", boot2)) if not args.boot or n in args.boot]
    build_listener()
    t = Tap(kernels[0])
    for k in kernels:
        t.kernel = k
        start = time.time()
        for boot in boots:
            try:
                boot(t, k)
            except Exception:  # a crashed scenario is a failure, not a skip
                t.check(False, "%s ran to the end" % boot.__name__, traceback.format_exc())
        t.note("kernel %s: %.0f s" % (k, time.time() - start))
    print("1..%d" % t.n)
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
