#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
# egpuhp-test: once
"""The real-system tier: a Debian 12 system (systemd, udev, dbus, boltd) with
egpuhp installed from its own .debs (DKMS built the module for both kernels
in the image), booted twice in the dock, checked as a user would see it.

Boot 1 (nothing connected at boot): systemd-analyze verify; a Thunderbolt
router appears -> udev loads egpuhp and starts egpud, egpud authorizes by
policy, the GPU functions get their drivers, the gpu-ready hook restarts the
stand-in inference container; restart / reload of egpud and a package
upgrade (apt reinstalls every .deb: DKMS rebuilds the module, the loaded
one stays) change nothing; a storage-like router joins; reboot with both
connected: the shutdown unit de-authorizes the eGPU router only, after
egpud stopped and before the local file systems go.
Boot 2 (the routers present at boot): no stall, both authorized after boot,
the module loaded is the file DKMS rebuilt in the upgrade;
a subscriber that is not ours (the kernel's YNL library, only
docs/egpuhp.yaml) dumps, is refused as nobody and sees the eGPU's cable
pull; then real boltd: owner = auto leaves authorization to boltd,
boltctl enroll, egpuctl import-bolt, re-plug with owner = egpud beside
boltd with auth-mode disabled: challenged with the imported key; never
both writing "authorized".

TAP; run once per "make check" (not per kernel): the guest boots the image's
second kernel (Debian 6.12).  The PCI functions and the routers are the
dock's simulation (QEMU hot-plug, tbsim); everything else is Debian's.
"""

import json
import os
import re
import shlex
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "vm"), os.path.join(HERE, "..", "spec")]
import dock                                        # noqa: E402
import ynl_subscriber                              # noqa: E402
import ynltools                                    # noqa: E402
from dock_system import PACKAGES, SystemDock, system_image   # noqa: E402

RUN_DIR = os.path.join(dock.TOP, "build", "system", "run")
EGPU, STORAGE, BOLTED = "0-1", "0-3", "0-5"
EGPU_UID = "c6030000-0060-6c0e-0301-e0a1b2c3d4e5"
STORAGE_UID = "c6030000-0060-6c0e-0303-e0a1b2c3d4e5"
BOLTED_UID = "c6030000-0060-6c0e-0305-e0a1b2c3d4e5"
UNITS = ("egpuhp-deauthorize.service", "egpud.service")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# The kernel's YNL library and PyYAML (Debian 12's, as the host has them)
# in the image, run by the image's own python3.
SUBSCRIBER = ynltools.guest_subscriber_command("python3 -I")


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self.t0 = time.monotonic()

    def note(self, msg):
        for line in str(msg).splitlines():
            print("# " + line)
        sys.stdout.flush()

    def check(self, name, fn, *args):
        """Runs FN(*ARGS) as one test case; returns its result (None on failure)."""
        self.n += 1
        t = time.monotonic()
        try:
            res = fn(*args)
        except Exception as e:      # noqa: BLE001 - one case must not end the run
            self.failed += 1
            print("not ok %d - %s" % (self.n, name))
            detail = "%s: %s\n" % (type(e).__name__, e)
            detail += "".join(traceback.format_list(traceback.extract_tb(e.__traceback__)[-3:]))
            for d in detail.rstrip().splitlines()[-60:]:
                print("#   " + d)
            sys.stdout.flush()
            return None
        print("ok %d - %s (%.0fs)" % (self.n, name, time.monotonic() - t))
        sys.stdout.flush()
        return res if res is not None else True

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why))
        sys.stdout.flush()


def lines_matching(text, regex):
    pat = re.compile(regex)
    return [line for line in text.splitlines() if pat.search(line)]


def set_owner(vm, owner):
    vm.sh("sed -i 's/^#* *owner *=.*/owner = %s/' /etc/egpuhp/egpud.conf && "
          "grep -qx 'owner = %s' /etc/egpuhp/egpud.conf" % (owner, owner))


def egpud_journal(vm, cursor):
    return vm.journal("-u egpud.service", cursor)


def wait_journal(vm, unit_args, regex, cursor, timeout=60):
    """Waits for a journal line matching REGEX after CURSOR; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        found = lines_matching(vm.journal(unit_args, cursor), regex)
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError("journal (%s) never showed %r; it has:\n%s" % (
                unit_args, regex, vm.journal(unit_args, cursor)[-3000:]))
        time.sleep(1)


def drivers(vm, bdfs):
    """{bdf: driver name or ""} of guest PCI functions."""
    out = {}
    for b in bdfs:
        rc, d = vm.run("basename \"$(readlink /sys/bus/pci/devices/%s/driver)\"" % b)
        out[b] = d.strip() if rc == 0 and "driver" not in d else ""
    return out


def snapshot(vm, routers):
    """What must not change across restart/reload/upgrade."""
    state = {"module": vm.sh("cat /sys/module/egpuhp/refcnt 2>/dev/null; "
                             "test -d /sys/module/egpuhp && echo loaded").strip()}
    for r in routers:
        state[r + " authorized"] = vm.tb_attr(r, "authorized")
        dev = vm.tb_device(r)
        state[r + " functions"] = drivers(vm, dev.bdfs) if dev else None
    return state


def assert_nothing_changed(vm, before, routers, mark, cursor, what):
    after = snapshot(vm, routers)
    assert after == before, "%s changed the state:\nbefore %s\nafter  %s" % (what, before, after)
    con = vm.console(mark)
    moved = lines_matching(con, r"tbsim: 0-[0-9a-f]+: pcie tunnel|Card not present|"
                                r"authorized=|pciehp.*(Link Down|Slot\(\d+\): Card)")
    assert not moved, "%s: the console shows tunnel/PCI changes:\n%s" % (what, "\n".join(moved))
    j = egpud_journal(vm, cursor)
    again = lines_matching(j, r"\bauthorize 0-|\bdeauthoriz|unbind|\blost\b")
    assert not again, "%s: egpud acted again:\n%s" % (what, "\n".join(again))


# -------------------------------------------------------------------------

# The user's upgrade line (README: "apt install ./egpuhp*.deb", and the
# library's packages beside them), --reinstall because the version is the
# same: every package of PACKAGES, egpuhp-dkms too.  That reinstall is
# "make check-dkms-upgrade" (EGPUHP_SYSTEM_DKMS_UPGRADE=1): in the TCG guest
# DKMS's part alone takes longer than the whole tier may in "make check" --
# the old package's prerm ("dkms remove --all") and the new one's install
# each run depmod, which for Debian 6.12's 4,230 xz-compressed modules
# decompresses every one (10.7 s of CPU natively, minutes under TCG), once
# more for 6.1, and the build compiles 16 files against the kernel's
# headers.  "make check" reinstalls the three other packages.
DKMS_UPGRADE = os.environ.get("EGPUHP_SYSTEM_DKMS_UPGRADE") == "1"
UPGRADED = PACKAGES if DKMS_UPGRADE else tuple(p for p in PACKAGES if p != "egpuhp-dkms")
UPGRADE_DEBS = ("./egpuhp*.deb ./libegpu*.deb" if DKMS_UPGRADE else
                " ".join("./%s_*.deb" % p for p in UPGRADED))
DKMS_TREE = "/var/lib/dkms/egpuhp"


def installed_module(vm):
    """The egpuhp.ko the next load of the running kernel gets (modprobe's
    resolution through modules.dep): its path, inode, hash, srcversion,
    version and vermagic."""
    path = vm.sh("modinfo -n egpuhp").strip()
    q = shlex.quote(path)
    return {"path": path,
            "inode": vm.sh("stat -c %%i %s" % q).strip(),
            "sha256": vm.sh("sha256sum %s" % q).split()[0],
            "srcversion": vm.sh("modinfo -F srcversion %s" % q).strip(),
            "version": vm.sh("modinfo -F version %s" % q).strip(),
            "vermagic": vm.sh("modinfo -F vermagic %s" % q).strip()}


def loaded_module(vm):
    """The running egpuhp: srcversion and load address (/proc/modules,
    root sees the real one): the same address is the same instance."""
    return {"srcversion": vm.sh("cat /sys/module/egpuhp/srcversion").strip(),
            "address": vm.sh("awk '$1 == \"egpuhp\" {print $6}' /proc/modules").strip()}


def package_upgrade(tap, vm, before, routers):
    """apt reinstalls egpuhp's .debs (UPGRADE_DEBS) while the eGPU is in
    use: egpud restarts (the package's postinst) and decides nothing anew;
    the running module stays the same instance with the same state.  With
    egpuhp-dkms among them (DKMS_UPGRADE) DKMS rebuilds egpuhp.ko for the
    running kernel and installs it under updates/dkms without unloading
    anything (dkms_rebuilt); returns the rebuilt file's record (boot 2
    checks that it is what loads), else {}."""
    kver = vm.sh("uname -r").strip()
    cur = vm.journal_cursor()
    mark = vm.console_mark()
    old_file, old_loaded = installed_module(vm), loaded_module(vm)
    version = old_file["version"]
    t = time.monotonic()
    out = vm.sh("cd /root/debs && DEBIAN_FRONTEND=noninteractive apt-get install -y "
                "--reinstall %s 2>&1" % UPGRADE_DEBS, timeout=3000 if DKMS_UPGRADE else 900)
    tap.note("apt install --reinstall %s: %.0fs (host clock, QEMU TCG, load %s)" % (
        UPGRADE_DEBS, time.monotonic() - t, " ".join("%.1f" % x for x in os.getloadavg())))
    for p in UPGRADED:
        assert re.search(r"^Unpacking %s(:\w+)? \(%s\) over \(%s\)"
                         % (re.escape(p), re.escape(version), re.escape(version)), out, re.M), \
            "apt did not reinstall %s:\n%s" % (p, out[-3000:])
    new_file = dkms_rebuilt(tap, vm, out, kver, version, old_file, old_loaded) \
        if DKMS_UPGRADE else {}
    if not DKMS_UPGRADE:
        assert installed_module(vm) == old_file, (old_file, installed_module(vm))
    # The running module: never unloaded or loaded again.
    assert loaded_module(vm) == old_loaded, (old_loaded, loaded_module(vm))
    wait_journal(vm, "-u egpud.service", r"0-1: nothing to do \(already authorized", cur,
                 timeout=120)
    reloaded = lines_matching(vm.console(mark), r"egpuhp: loaded, version")
    assert not reloaded, "the module was loaded again:\n" + "\n".join(reloaded)
    assert_nothing_changed(vm, before, routers, mark, cur, "upgrade")
    return new_file


def dkms_rebuilt(tap, vm, out, kver, version, old_file, old_loaded):
    """What the user sees of egpuhp-dkms's reinstall: apt's output OUT,
    dkms status, and the file the next load gets; returns its record."""
    # What dkms printed, in order: the old package's prerm removed every
    # build, the new postinst added the sources again, built them for the
    # running kernel (the newest one too: the same here) and installed.
    said = [r"Deleting module egpuhp-%s completely from the DKMS tree" % re.escape(version),
            r"Loading new egpuhp-%s DKMS files" % re.escape(version),
            r"Building for %s\s*$" % re.escape(kver),
            r"Building initial module for %s\s*$" % re.escape(kver),
            r"^Done\.\s*$",
            r"Installing to /lib/modules/%s/updates/dkms/" % re.escape(kver),
            r"^depmod"]
    pos = 0
    for regex in said:
        m = re.compile(regex, re.M).search(out, pos)
        # the regex last: the failure's report keeps the tail of a long message
        assert m, "apt said:\n%s\ndkms did not say %r after %r" % (
            out[-3000:], regex, out[max(0, pos - 80):pos])
        pos = m.end()
    tap.note("dkms: " + " | ".join(lines_matching(out, r"DKMS|[Bb]uilding|Done\.|Installing|"
                                                       r"Deleting"))[:900])
    status = vm.sh("dkms status egpuhp 2>/dev/null")
    tap.note("dkms status after the upgrade: " + status.strip().replace("\n", "; "))
    assert re.search(r"^egpuhp/%s, %s, x86_64: installed" % (re.escape(version), re.escape(kver)),
                     status, re.M), status
    # The rebuilt file, where the next load looks, from this build.
    new_file = installed_module(vm)
    tap.note("module file: %s (inode %s -> %s, sha256 %s -> %s)" % (
        new_file["path"], old_file["inode"], new_file["inode"],
        old_file["sha256"][:12], new_file["sha256"][:12]))
    assert new_file["path"] == old_file["path"] and re.fullmatch(
        r"/lib/modules/%s/updates/dkms/egpuhp\.ko(\.xz|\.zst|\.gz)?" % re.escape(kver),
        new_file["path"]), (old_file["path"], new_file["path"])
    assert new_file["inode"] != old_file["inode"], "DKMS did not install a new file"
    built = vm.sh("sha256sum %s/%s/%s/x86_64/module/egpuhp.ko*" % (DKMS_TREE, version, kver))
    assert built.split()[0] == new_file["sha256"], \
        "the installed file is not DKMS's new build:\n%s\n%s" % (built, new_file)
    # dkms moves the build's log beside the module before it cleans the build area
    make_log = vm.sh("cat %s/%s/%s/x86_64/log/make.log" % (DKMS_TREE, version, kver))
    assert re.search(r"CC \[M\] .*/kmod/main\.o", make_log) and \
        re.search(r"LD \[M\] .*/kmod/egpuhp\.ko", make_log), make_log[-2000:]
    # Same sources, same module: what the next boot loads is this package's.
    assert new_file["version"] == version and new_file["vermagic"].startswith(kver + " "), new_file
    assert new_file["srcversion"] == old_loaded["srcversion"], (new_file, old_loaded)
    return new_file


def image_checks(tap, img):
    v = img.versions()
    keep = [p for p in sorted(v) if re.match(
        r"(systemd|udev|dbus|bolt|kmod|dkms|gcc-12|linux-image-.*|linux-headers-.*-amd64|"
        r"egpuhp.*|libegpu.*|libnl-3-200|libkmod2|initramfs-tools)$", p)]
    tap.note("image packages: " + ", ".join("%s %s" % (p, v[p].strip()) for p in keep))
    tap.note("image build: %.0fs (0 when reused)" % img.build_seconds)

    def dkms_both():
        st = img.dkms_status()
        tap.note("dkms status (in the chroot, after both kernels): " + st.strip().replace("\n", "; "))
        for k in img.first_kver.split() + [img.kver]:
            assert re.search(r"egpuhp/[^,]+, %s, x86_64: installed" % re.escape(k), st), \
                "DKMS did not install egpuhp for %s:\n%s" % (k, st)
        log = img.image_log()
        # The second kernel's packages triggered the build (DKMS's kernel hook).
        second = log[log.index("linux-image-" + img.kver):]
        assert "dkms: running auto installation service for kernel %s" % img.kver in second, \
            "installing the second kernel did not run DKMS for it"
    tap.check("DKMS: egpuhp-dkms built the module for the image's kernel, and installing "
              "a second kernel + headers built it for that one", dkms_both)


def boot1(tap, img, overlay):
    vm = SystemDock(img, overlay, ports=4, name="test_system-boot1")

    def boot():
        vm.__enter__()
        state = vm.wait_booted()
        tap.note("boot 1: " + vm.sh("systemd-analyze time").strip().splitlines()[0])
        tap.note("boot 1: agent up after %.0fs (host clock, QEMU TCG)" % vm.boot_seconds)
        assert state == "running", "systemd says %s; failed units:\n%s" % (
            state, vm.sh("systemctl --failed --no-legend"))
        assert vm.sh("uname -r").strip() == img.kver
    if not tap.check("boot 1: systemd boots the second kernel (%s) to 'running'" % img.kver, boot):
        vm.close()
        return None

    def dkms_module():
        path = vm.sh("modinfo -n egpuhp").strip()
        # DKMS compresses like the kernel's own modules (xz on Debian 6.12)
        assert re.fullmatch(r"/lib/modules/%s/updates/dkms/egpuhp\.ko(\.xz|\.zst|\.gz)?"
                            % re.escape(img.kver), path), path
    tap.check("boot 1: modprobe resolves egpuhp to updates/dkms (the DKMS build)", dkms_module)

    def verify():
        paths = " ".join("/lib/systemd/system/" + u for u in UNITS)
        # --man=no: the image has no man-db; the pages themselves are checked below
        rc, out = vm.run("systemd-analyze verify --man=no %s" % paths, timeout=120)
        ours = lines_matching(out, r"egpu")
        assert rc == 0 and not ours, "rc=%d:\n%s" % (rc, out)
        for page in re.findall(r"man:([\w.-]+)\((\d)\)", vm.sh("cat %s" % paths)):
            vm.sh("test -f /usr/share/man/man%s/%s.%s.gz" % (page[1], page[0], page[1]))
    tap.check("systemd-analyze verify: %s (and their Documentation= man pages are "
              "installed)" % " ".join(UNITS), verify)

    # The user's configuration: egpud owns authorization, boltd is masked.
    # (Debian's boltd, started by udev with the Thunderbolt domain, enrolls
    # and authorizes new devices by itself when the domain has IOMMU DMA
    # protection ("auto-enroll: yes"), owner = egpud or not.  Boot 2 tests
    # egpud beside a running boltd.)
    set_owner(vm, "egpud")
    vm.sh("systemctl mask --now bolt.service")
    # What a machine without a router looks like: no egpud, no module (the
    # package enabled egpud for boot; take it back to see udev start it).
    vm.sh("systemctl stop egpud.service && modprobe -r egpuhp && ! test -d /sys/module/egpuhp")
    cursor = vm.journal_cursor()
    mark = vm.console_mark()

    def router_appears():
        vm.tb_load(security="user", iommu=1, deauth=1)
        vm.tb_add_router(EGPU, port="rp1", functions="vga", unique_id=EGPU_UID,
                         vendor_name="Razer", device_name="Core X")
        vm.wait_for("systemctl -q is-active egpud.service", timeout=90)
        vm.wait_for("test -d /sys/module/egpuhp", timeout=30)
        wanted_by = vm.sh("systemctl show -p WantedBy --value egpud.service")
        assert re.search(r"\.device\b", wanted_by), \
            "egpud was not pulled in by a device (udev SYSTEMD_WANTS): WantedBy=%s" % wanted_by
        dev = vm.tb_wait_tunnel(EGPU, timeout=120)
        assert vm.tb_attr(EGPU, "authorized") == "1"
        line = wait_journal(vm, "-u egpud.service", r"authorize %s \(policy" % EGPU, cursor)
        tap.note("egpud: " + line)
        return dev
    dev = tap.check("router appears: udev loads egpuhp and starts egpud.service; "
                    "egpud authorizes by policy (iommu)", router_appears)

    def functions_bound():
        vm.wait_for(" && ".join("test -e /sys/bus/pci/devices/%s/driver" % b for b in dev.bdfs),
                    timeout=90)
        d = drivers(vm, dev.bdfs)
        tap.note("drivers: %s" % d)
        assert d[dev.bdfs[0]] == "bochs-drm", d      # secondary-vga's DRM driver
        assert d[dev.bdfs[1]] == "snd_hda_intel", d
    if dev and dev is not True:
        tap.check("the GPU functions get their drivers (udev module autoload: "
                  "bochs-drm, snd_hda_intel)", functions_bound)
    else:
        tap.skip("the GPU functions get their drivers", "no router")

    def hook_restarts_container():
        vm.wait_for("test $(wc -l </var/lib/egpuhp-test/inference.starts) -ge 2", timeout=90)
        starts = vm.read_file("/var/lib/egpuhp-test/inference.starts").splitlines()
        # egpud says which hook it ran for which event (the hook itself can
        # write nothing outside /run/egpuhp and /var/lib/egpuhp: egpud's
        # sandbox, egpud(8))
        hook = vm.journal("-u egpud.service", cursor)
        assert len(starts) == 2, starts
        assert re.search(r"run hook 50-egpuhp-test-restart-inference \(gpu-ready\) for %s"
                         % re.escape(dev.bdfs[0]), hook), hook[-2000:]
        j = vm.journal("-u egpud.service -u egpuhp-test-inference.service", cursor)
        tap.note("inference stand-in starts: %s" % starts)
        assert lines_matching(j, r"Started egpuhp-test-inference"), j[-2000:]
    if dev and dev is not True:
        tap.check("gpu-ready hook restarts the stand-in inference container that had "
                  "started before the GPU", hook_restarts_container)

    def one_line_per_decision():
        j = egpud_journal(vm, cursor)
        decisions = lines_matching(j, r"\b(authorize|defer|deny|leave) 0-1\b|0-1: nothing to do")
        assert len(decisions) == 1, "decisions about 0-1:\n%s\nwhole journal:\n%s" % (
            "\n".join(decisions), j[-3000:])
    tap.check("journalctl -u egpud: one line for the one decision", one_line_per_decision)

    routers = [EGPU]
    before = snapshot(vm, routers) if dev else None
    rebuilt = None

    def unchanged_after(what, action, done_regex):
        cur = vm.journal_cursor()
        m = vm.console_mark()
        action()
        wait_journal(vm, "-u egpud.service", done_regex, cur, timeout=120)
        time.sleep(2)
        assert_nothing_changed(vm, before, routers, m, cur, what)

    if before:
        tap.check("systemctl restart egpud with the eGPU connected: nothing re-authorized, "
                  "unbound or lost", unchanged_after, "restart",
                  lambda: vm.sh("systemctl restart egpud.service"),
                  r"0-1: nothing to do \(already authorized")
        tap.check("systemctl reload egpud (SIGHUP): nothing re-authorized, unbound or lost",
                  unchanged_after, "reload", lambda: vm.sh("systemctl reload egpud.service"),
                  r"reloaded ")
        rebuilt = tap.check("package upgrade with the eGPU connected (apt install --reinstall "
                            "%s: %s)%s: the running module stays loaded; nothing "
                            "re-authorized, unbound or lost"
                            % (UPGRADE_DEBS, ", ".join(UPGRADED),
                               ": DKMS rebuilds egpuhp.ko into updates/dkms" if DKMS_UPGRADE
                               else " (egpuhp-dkms: make check-dkms-upgrade)"),
                            package_upgrade, tap, vm, before, routers)

    def storage_router():
        vm.tb_add_router(STORAGE, port="rp2", functions="nvme", unique_id=STORAGE_UID,
                         vendor_name="tbsim", device_name="Storage enclosure",
                         device=0x1234)
        sdev = vm.tb_wait_tunnel(STORAGE, timeout=120)
        assert vm.tb_attr(STORAGE, "authorized") == "1"
        vm.wait_for("test -e /sys/bus/pci/devices/%s/driver" % sdev.bdf, timeout=60)
    have_storage = tap.check("a second, storage-like router (NVMe behind it) is authorized too",
                             storage_router)

    tap.check("boot 1: console clean (no WARN/BUG/Oops/lockdep/new taint)", vm.check_health, 0)

    if not (dev and dev is not True and have_storage):
        vm.close()
        return None

    # Reboot with both connected: the routers stay (firmware brings them up
    # at the next boot: the stand-in unit reads this file).
    lines = [SystemDock.boot_router_line(EGPU, "0000:00:10.0", unique_id=EGPU_UID,
                                         vendor_name="Razer", device_name="Core X"),
             SystemDock.boot_router_line(STORAGE, "0000:00:11.0", unique_id=STORAGE_UID,
                                         vendor_name="tbsim", device_name="Storage enclosure",
                                         device="0x1234")]
    vm.write_file("/etc/egpuhp-test/boot-routers", "\n".join(lines) + "\n")
    mark = vm.console_mark()

    def reboot_order():
        try:
            vm.run("systemctl reboot", timeout=30)
        except dock.DockError:
            pass                # the agent may go first
        vm.power_cycle_wait(timeout=300)
        con = ANSI.sub("", vm.console(mark))      # systemd colours its status lines
        bad = vm.console_problems(mark)
        assert not bad, "shutdown console problems:\n" + "\n".join(bad)

        def first(regex):
            for i, line in enumerate(con.splitlines()):
                if re.search(regex, line):
                    return i, line
            return None, None
        i_down, l_down = first(r"tbsim: %s: pcie tunnel down" % EGPU)
        i_sdown, l_sdown = first(r"tbsim: %s: pcie tunnel down" % STORAGE)
        i_stop, l_stop = first(r"Stopping egpuhp-deauthorize\.service")
        i_egpud, l_egpud = first(r"Stopped egpud\.service")
        i_localfs, l_localfs = first(r"Stopped target local-fs\.target")
        i_end, _ = first(r"reboot: Restarting system|reboot: Power down")
        tap.note("shutdown (console lines): egpud stopped %s, shutdown unit stopping %s, "
                 "eGPU tunnel down %s, local-fs.target stopped %s"
                 % (i_egpud, i_stop, i_down, i_localfs))
        assert i_stop is not None, \
            "systemd never stopped egpuhp-deauthorize.service at shutdown (its ExecStop " \
            "never ran):\n" + "\n".join(con.splitlines()[-80:])
        assert i_down is not None, "the eGPU router was not de-authorized at shutdown:\n" + \
            "\n".join(con.splitlines()[-80:])
        assert i_sdown is None, "the storage router was de-authorized too: " + l_sdown
        # egpud first (it would re-authorize), then the de-authorization,
        # then the file systems egpuctl runs from.
        assert i_egpud is not None and i_egpud < i_down, \
            "egpud stopped (%s) after the de-authorization (%s)" % (l_egpud, l_down)
        assert i_localfs is None or i_down < i_localfs, \
            "de-authorization (%s) after local-fs.target stopped (%s)" % (l_down, l_localfs)
        assert i_end is None or i_down < i_end
    tap.check("reboot with both connected: the shutdown unit de-authorizes the eGPU router "
              "only, after egpud stopped and before local file systems go", reboot_order)
    vm.close()
    return rebuilt if isinstance(rebuilt, dict) else {}


def _fail(why):
    raise AssertionError(why)


def ynl_subscriber_checks(tap, vm):
    """A subscriber that is not ours, with the eGPU connected: the kernel's
    YNL library given only docs/egpuhp.yaml (tests/spec/ynl_subscriber.py,
    docs/ynl-subscriber.md) subscribes to "events", dumps devices and
    routers, is refused an admin command as nobody, and sees the cable
    pull.  The bounds below are waits (Python parses the spec slowly
    under TCG), not checks."""
    def subscribe():
        pid = ynltools.guest_listen(vm, SUBSCRIBER, timeout=900)
        dev = vm.tb_wait_tunnel(EGPU)
        state = json.loads(vm.sh("%s dump" % SUBSCRIBER, timeout=300))
        # boot 2: the storage router is authorized too, the link may be unknown
        bad = ynl_subscriber.dump_problems(state, EGPU, dev.bdfs, sole_router=False)
        assert not bad, "\n".join(bad) + "\n" + json.dumps(state)[-3000:]
        return pid
    pid = tap.check("YNL subscriber (the kernel's YNL library, only docs/egpuhp.yaml) "
                    "subscribes to events; its get-dev and get-router dumps show the eGPU "
                    "and its router", subscribe)
    if not pid:
        return

    def unprivileged():
        res = json.loads(vm.sh("%s unprivileged --uid 65534" % SUBSCRIBER, timeout=300))
        tap.note("YNL subscriber as nobody: %s" % res)
        bad = ynl_subscriber.unprivileged_problems(res)
        assert not bad, "\n".join(bad)
    tap.check("YNL subscriber as nobody (uid 65534): set-config refused with EPERM and the "
              "module's extack message, a malformed get-dev with EINVAL and its message",
              unprivileged)

    def cable_pull():
        bdfs = vm.tb_unplug(EGPU)
        events, err = ynltools.guest_listened(vm, pid, len(bdfs))
        bad = ynl_subscriber.cable_pull_problems(events, bdfs, EGPU)
        assert not bad, "\n".join(bad) + "\n" + json.dumps(events, indent=1)[-3000:] + \
            "\n" + err
        tap.note("YNL subscriber: %s" % [(e["event"], e.get("dev", e.get("router", {})).get("name"),
                                          e.get("flags")) for e in events])
    tap.check("YNL subscriber on events: the eGPU's cable pull arrives as a surprise pci-remove "
              "of every function, with its attributes, and the router-remove", cable_pull)


def boot2(tap, img, overlay, ynl_missing, rebuilt):
    vm = SystemDock(img, overlay, ports=4, name="test_system-boot2",
                    boot_routers={EGPU: ("rp1", "vga"), STORAGE: ("rp2", "nvme")})

    def boot_connected():
        vm.__enter__()
        state = vm.wait_booted()
        tap.note("boot 2 (eGPU connected): " +
                 vm.sh("systemd-analyze time").strip().splitlines()[0])
        tap.note("boot 2: agent up after %.0fs (host clock, QEMU TCG)" % vm.boot_seconds)
        assert state == "running", "systemd says %s; failed units:\n%s" % (
            state, vm.sh("systemctl --failed --no-legend"))
        assert vm.tb_attr(EGPU, "authorized") != "0"
        vm.tb_wait_tunnel(EGPU, timeout=120)
        vm.tb_wait_tunnel(STORAGE, timeout=120)
        j = vm.journal("-b -u egpud.service")
        assert lines_matching(j, r"authorize %s \(" % EGPU), j[-2000:]
    if not tap.check("boot 2 with the eGPU connected (present before egpud starts): the boot "
                     "finishes ('running'), both routers authorized after boot", boot_connected):
        vm.close()
        return

    def previous_shutdown_journal():
        j = vm.journal("-b -1 -u egpuhp-deauthorize.service -u egpud.service")
        tap.note("previous boot's shutdown (journal):\n" + "\n".join(j.splitlines()[-12:]))
        said = lines_matching(j, r"deauthorize 0-")
        assert lines_matching(j, r"deauthorize %s\b" % EGPU), \
            "egpuctl deauthorize did not report the eGPU router:\n" + j[-3000:]
        assert not lines_matching(j, r"deauthorize %s\b" % STORAGE), "\n".join(said)
    tap.check("the previous boot's journal: the shutdown unit reported de-authorizing the "
              "eGPU router, not the storage router", previous_shutdown_journal)

    def loads_rebuilt():
        now, loaded = installed_module(vm), loaded_module(vm)
        tap.note("boot 2: egpuhp from %s (sha256 %s), srcversion %s" % (
            now["path"], now["sha256"][:12], loaded["srcversion"]))
        assert now == rebuilt, "the module file changed after the upgrade:\n%s\n%s" % (
            rebuilt, now)
        assert loaded["srcversion"] == rebuilt["srcversion"], (loaded, rebuilt)
    if rebuilt:
        tap.check("boot 2 loads the module DKMS rebuilt in the upgrade (the same file, "
                  "its srcversion)", loads_rebuilt)
    elif DKMS_UPGRADE:
        tap.check("boot 2 loads the module DKMS rebuilt in the upgrade", _fail,
                  "the upgrade in boot 1 failed")

    def doctor():
        """egpuctl doctor on the installed system: what it finds, and nothing changed."""
        # what doctor could change: authorization and the module (drivers
        # still bind at this point of the boot: the storage's nvme may arrive)
        def state():
            return {"module": vm.sh("test -d /sys/module/egpuhp && echo loaded").strip(),
                    EGPU: vm.tb_attr(EGPU, "authorized"),
                    STORAGE: vm.tb_attr(STORAGE, "authorized")}
        before = state()
        rc, out = vm.run("egpuctl --json doctor", timeout=120)
        env = json.loads(out)
        data = env["data"]
        checks = {}
        for c in data["checks"]:
            checks.setdefault(c["check"], []).append(c)
            tap.note("doctor: %s %s%s: %s" % (c["verdict"], c["check"],
                                             " " + c["subject"] if c.get("subject") else "",
                                             c.get("seen", "")))
        verdict = {k: [c["verdict"] for c in v] for k, v in checks.items()}
        fails = sum(1 for c in data["checks"] if c["verdict"] == "fail")
        assert env["ok"] == (fails == 0) and rc == (1 if fails else 0), (rc, env["ok"], fails)
        assert verdict.get("module") == ["ok"], checks.get("module")
        assert verdict.get("egpud") == ["ok"], checks.get("egpud")
        # QEMU boots this image without UEFI: no SecureBoot variable, nothing enforced
        sb = checks.get("secure-boot", [])
        assert len(sb) == 1 and sb[0]["verdict"] in ("ok", "n/a") and \
            "no EFI" in sb[0].get("seen", ""), sb
        eg = [c for c in checks.get("router-authorized", []) if c.get("subject") == EGPU]
        assert eg and eg[0]["verdict"] == "ok", checks.get("router-authorized")
        rc_text, text = vm.run("egpuctl doctor", timeout=120)
        assert rc_text == rc and "router-authorized" in text, text[-2000:]
        after = state()
        assert before == after, (before, after)
    tap.check("egpuctl doctor on the installed system (systemd, DKMS module, no UEFI): "
              "module and egpud ok, Secure Boot n/a, the eGPU router authorized; it "
              "changes nothing", doctor)

    if ynl_missing:
        tap.check("YNL subscriber: the kernel's YNL tools are there", _fail, ynl_missing)
    else:
        ynl_subscriber_checks(tap, vm)

    # -- real boltd -------------------------------------------------------
    def bolt_owner_auto():
        for r in (EGPU, STORAGE):
            if vm.run("test -e /sys/bus/thunderbolt/devices/%s" % r)[0] == 0:
                vm.tb_unplug(r)     # still there after the subscriber's cable pull
        # Secure level, no IOMMU protection: boltd waits for an enrollment
        # (with protection it would auto-enroll), egpud's iommu policy too.
        vm.tb_set_domain(security="secure", iommu=0)
        # boltd back: D-Bus activation (boltctl) starts it on the system bus
        vm.sh("systemctl unmask bolt.service && boltctl domains >/dev/null", timeout=120)
        vm.wait_for("systemctl -q is-active bolt.service", timeout=90)
        set_owner(vm, "auto")
        cur = vm.journal_cursor()
        vm.sh("systemctl reload egpud.service")
        wait_journal(vm, "-u egpud.service", r"reloaded ", cur)
        vm.tb_add_router(BOLTED, port="rp3", functions="gpu", unique_id=BOLTED_UID,
                         vendor_name="tbsim", device_name="Bolted eGPU")
        line = wait_journal(vm, "-u egpud.service", r"defer %s \(boltd" % BOLTED, cur)
        tap.note("egpud: " + line)
        vm.wait_for("boltctl info %s" % BOLTED_UID, timeout=60)
        time.sleep(2)
        assert vm.tb_attr(BOLTED, "authorized") == "0"
        return cur
    cur = tap.check("boltd on the system bus, owner = auto: egpud leaves authorization to "
                    "boltd and says so", bolt_owner_auto)
    if not cur:
        tap.check("boot 2: console clean", vm.check_health, 0)
        vm.close()
        return

    def enroll():
        out = vm.sh("boltctl enroll --policy auto %s" % BOLTED_UID, timeout=120)
        tap.note("boltctl enroll: " + out.strip().replace("\n", " | ")[:300])
        vm.tb_wait_tunnel(BOLTED, timeout=120)
        assert vm.tb_attr(BOLTED, "authorized") != "0"
        j = egpud_journal(vm, cur)
        assert not lines_matching(j, r"\bauthorize %s\b" % BOLTED), \
            "egpud wrote authorized although boltd owns it:\n" + j
        bolt = vm.journal("-u bolt.service", cur)
        tap.note("boltd: " + " | ".join(lines_matching(bolt, BOLTED_UID[:8])[-4:])[:600])
        assert vm.run("test -s /var/lib/boltd/keys/%s" % BOLTED_UID)[0] == 0, \
            "boltd stored no key"
    enrolled = tap.check("boltctl enroll: boltd authorizes (secure, key stored); egpud "
                         "writes nothing", enroll)

    def import_bolt():
        out = vm.sh("egpuctl import-bolt")
        tap.note("egpuctl import-bolt: " + out.strip().replace("\n", " | "))
        assert "imported %s" % BOLTED_UID in out, out
    imported = enrolled and tap.check("egpuctl import-bolt takes boltd's device and key",
                                      import_bolt)

    def replug_owner_egpud():
        key = vm.sh("cat /var/lib/boltd/keys/%s" % BOLTED_UID).strip()
        vm.tb_unplug(BOLTED)
        # Authorization is handed to egpud, as egpud.conf(5) says: boltd
        # keeps running (and listing devices) with its authorization off.
        assert vm.sh("boltctl config auth-mode").strip() == "enabled"   # Debian's default
        vm.sh("boltctl config auth-mode disabled && "
              "test \"$(boltctl config auth-mode)\" = disabled", timeout=120)
        set_owner(vm, "egpud")
        c2 = vm.journal_cursor()
        vm.sh("systemctl reload egpud.service")
        wait_journal(vm, "-u egpud.service", r"reloaded ", c2)
        vm.tb_add_router(BOLTED, port="rp3", functions="gpu", unique_id=BOLTED_UID,
                         vendor_name="tbsim", device_name="Bolted eGPU", device_key=key)
        vm.tb_wait_tunnel(BOLTED, timeout=120)
        line = wait_journal(vm, "-u egpud.service",
                            r"authorize %s .*challenged with the stored key" % BOLTED, c2)
        tap.note("egpud: " + line)
        assert vm.sh("systemctl is-active bolt.service").strip() == "active"
        bolt = vm.journal("-u bolt.service", c2)
        tap.note("boltd (auth-mode disabled): " + " | ".join(bolt.splitlines()[-6:])[:800])
        # boltd's own writes log under its "authorize" topic, its policy
        # decisions under "auto-auth"/"auto-enroll" ("... -> ok", "yes");
        # it may still report the device it saw egpud authorize
        acted = lines_matching(bolt, r"\] (authorize: |auto-auth: .*-> ok|auto-enroll: yes)")
        assert not acted, "boltd acted too:\n" + bolt
        j = egpud_journal(vm, cur)
        writes = lines_matching(j, r"\bauthorize %s\b" % BOLTED)
        assert len(writes) == 1, "egpud wrote authorized %d times:\n%s" % (len(writes), j)
    if imported:
        tap.check("re-plug with owner = egpud beside boltd with auth-mode disabled: "
                  "authorized by egpud from the imported key; boltd and egpud never both "
                  "wrote 'authorized'", replug_owner_egpud)

    tap.check("boot 2: console clean (no WARN/BUG/Oops/lockdep/new taint)", vm.check_health, 0)
    vm.close()


def ynl_files():
    """({guest path: host path} of the YNL subscriber, None) or ({}, why not)."""
    try:
        ynltools.ensure()
        return ynltools.guest_files(python=False), None
    except (ynltools.ToolsMissing, OSError, RuntimeError) as e:
        return {}, "YNL tools: %s" % e


def main():
    tap = Tap()
    files, ynl_missing = ynl_files()
    img = tap.check("image: debootstrap Debian 12 + egpuhp's .debs (apt install ./*.deb) + "
                    "a second kernel, on ext4", system_image, sys.stdout, files)
    if img:
        image_checks(tap, img)
        os.makedirs(RUN_DIR, exist_ok=True)
        overlay = os.path.join(RUN_DIR, "overlay.qcow2")
        if os.path.exists(overlay):
            os.unlink(overlay)
        rebuilt = boot1(tap, img, overlay)
        if rebuilt is not None:
            boot2(tap, img, overlay, ynl_missing, rebuilt)
    tap.note("test_system: %.0fs in all" % (time.monotonic() - tap.t0))
    print("1..%d" % tap.n)
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
