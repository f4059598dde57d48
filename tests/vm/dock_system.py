# SPDX-License-Identifier: GPL-2.0
"""The dock's second kind of guest: a real Debian 12 system (systemd as PID 1,
udev, dbus, boltd, DKMS) on a disk image, with egpuhp installed from its own
Debian packages, booted with the same QMP hot-plug harness, tbsim and
console/taint checks as the busybox guest.

    img = system_image()                 # cached: rootfs.sh + the .debs + test files
    with SystemDock(img, ports=4) as vm:   # a Dock: sh(), plug(), tb_*(), check_health()
        vm.wait_booted()
        vm.tb_add_router("0-1", port="rp1", functions="vga")

The image (tests/vm/rootfs.sh) holds two kernels, 6.1 and 6.12; DKMS built
egpuhp.ko for both when the packages went in; the guest boots 6.12 (the
second one installed), so egpuhp loads from /lib/modules/K/updates/dkms/.
Each SystemDock boots a copy-on-write overlay of the cached image; reboot()
boots the same overlay again (QEMU runs with -no-reboot, so a guest reboot
ends the QEMU process, like a power cycle that keeps the disk).

What the image has besides Debian and egpuhp's packages is the test
harness's, named egpuhp-test-*: the command agent on ttyS1 (the busybox
guest's agent), a stand-in for firmware that has Thunderbolt routers
present at boot (tbsim loaded before udev's coldplug, routers from
/etc/egpuhp-test/boot-routers), and a stand-in "inference container" unit
(egpuhp-test-inference.service) with a gpu-ready hook that restarts it.
"""

import hashlib
import os
import shlex
import subprocess
import time

import dock
from dock import Dock, DockError, TOP, VMDIR
from dock_tbsim import TbSim, route_name

ROOTFS_SH = os.path.join(VMDIR, "rootfs.sh")
BUILD_DEBS_SH = os.path.join(TOP, "tests", "pkg", "build-debs.sh")
SYSTEM_DIR = os.path.join(TOP, "build", "system")
FLAVOUR = "6.12"            # the second kernel, the one the guest boots
PACKAGES = ("egpuhp", "egpuhp-dkms", "libegpu0", "libegpu-dev")

# -- test-only files put into the image ------------------------------------

AGENT_UNIT = """\
# egpuhp test harness: the host's command channel on ttyS1.
[Unit]
Description=egpuhp test harness command agent (ttyS1)
DefaultDependencies=no
After=local-fs.target systemd-tmpfiles-setup.service

[Service]
ExecStartPre=/bin/sh -c 'test -e /run/boot-taint || cat /proc/sys/kernel/tainted >/run/boot-taint'
ExecStart=/bin/sh -c 'exec /usr/bin/egpuhp-agent </dev/ttyS1 >/dev/ttyS1 2>/dev/null'
Restart=always
RestartSec=1

[Install]
WantedBy=sysinit.target
"""

# Firmware on a real machine brings the Thunderbolt routers up before the
# OS runs; tbsim needs loading.  Loaded before udev's coldplug so that udev
# (and egpud through it) sees the routers as present at boot.
TBSIM_UNIT = """\
# egpuhp test harness: stand-in for firmware that has routers at boot (tbsim).
[Unit]
Description=egpuhp test harness: simulated Thunderbolt routers present at boot
DefaultDependencies=no
ConditionPathExists=/etc/egpuhp-test/boot-routers
After=sys-kernel-debug.mount systemd-modules-load.service
Before=systemd-udev-trigger.service egpud.service bolt.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'modprobe thunderbolt && modprobe tbsim security=user iommu=1 deauth=1 && \\
  while read -r r; do printf "%%s" "$r" >/sys/kernel/debug/tbsim/add || exit 1; done \\
  </etc/egpuhp-test/boot-routers'

[Install]
WantedBy=sysinit.target
"""

# The seed's container race (an inference container started before the
# eGPU was there): a unit that counts its starts.
INFERENCE_UNIT = """\
# egpuhp test harness: stand-in for an inference container (docker compose ... ollama).
[Unit]
Description=egpuhp test harness: stand-in inference container

[Service]
ExecStart=/bin/sh -c 'echo "start $(cat /proc/uptime)" >>/var/lib/egpuhp-test/inference.starts; exec sleep infinity'

[Install]
WantedBy=multi-user.target
"""

INFERENCE_HOOK = """\
#!/bin/sh
# egpuhp test harness: a GPU arrived -> restart what started without it.
[ "$EGPUHP_EVENT" = gpu-ready ] || exit 0
exec systemctl restart egpuhp-test-inference.service
"""

# Part of the image's cache key: bump when _add_test_files() changes.
IMAGE_LAYOUT = 3

# Timers that would only compete for the CPU during the tests.
MASKED = ("apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer",
          "fstrim.timer", "man-db.timer", "dpkg-db-backup.timer",
          "systemd-tmpfiles-clean.timer")


def _run(cmd, what, timeout=1800, log=None):
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise DockError("%s failed (rc %d):\n%s" % (what, res.returncode,
                                                     (res.stdout + res.stderr)[-3000:]))
    return res.stdout


def _sha(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class SystemImage:
    """A ready disk image: disk.img (ext4), the boot kernel and its initrd."""

    def __init__(self, d):
        self.dir = d
        self.disk = os.path.join(d, "disk.img")
        with open(os.path.join(d, "boot.env")) as f:
            env = dict(line.strip().split("=", 1) for line in f if "=" in line)
        self.kver = env["KVER"]
        self.first_kver = env["FIRST_KVER"]
        self.vmlinuz = os.path.join(d, "boot", "vmlinuz-" + self.kver)
        self.initrd = os.path.join(d, "boot", "initrd.img-" + self.kver)
        self.debs = env["DEBS"]
        self.build_seconds = float(env.get("BUILD_SECONDS", "0"))

    def versions(self):
        """{package: version} of everything installed in the image."""
        with open(os.path.join(self.dir, "versions")) as f:
            return dict(line.split(None, 1) for line in f.read().strip().splitlines())

    def dkms_status(self):
        with open(os.path.join(self.dir, "dkms-status")) as f:
            return f.read()

    def image_log(self):
        with open(os.path.join(self.dir, "image.log"), errors="replace") as f:
            return f.read()


def _package_debs():
    """The directory of egpuhp's .debs, built from a clean copy of the tree."""
    return _run([BUILD_DEBS_SH], "building the Debian packages").strip().splitlines()[-1]


def _add_test_files(root, kver, debs, extra_files):
    """Installs the harness's files into the image tree ROOT (see the module
    doc), and EXTRA_FILES ({guest path: host path}) a test asked for."""
    def put(rel, text, mode=0o644):
        path = os.path.join(root, rel.lstrip("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode())
        os.chmod(path, mode)

    def enable(unit, target):
        wants = os.path.join(root, "etc/systemd/system", target + ".wants")
        os.makedirs(wants, exist_ok=True)
        os.symlink("/etc/systemd/system/" + unit, os.path.join(wants, unit))

    put("/usr/bin/egpuhp-agent", _file_bytes(os.path.join(VMDIR, "guest", "agent")), 0o755)
    put("/etc/systemd/system/egpuhp-test-agent.service", AGENT_UNIT)
    enable("egpuhp-test-agent.service", "sysinit.target")
    put("/etc/systemd/system/egpuhp-test-tbsim.service", TBSIM_UNIT)
    enable("egpuhp-test-tbsim.service", "sysinit.target")
    put("/etc/systemd/system/egpuhp-test-inference.service", INFERENCE_UNIT)
    enable("egpuhp-test-inference.service", "multi-user.target")
    put("/etc/egpuhp/hooks.d/50-egpuhp-test-restart-inference", INFERENCE_HOOK, 0o755)
    os.makedirs(os.path.join(root, "var/lib/egpuhp-test"), exist_ok=True)
    # A persistent journal: the shutdown of one boot is read in the next.
    os.makedirs(os.path.join(root, "var/log/journal"), exist_ok=True)
    for unit in MASKED:
        link = os.path.join(root, "etc/systemd/system", unit)
        if not os.path.lexists(link):
            os.symlink("/dev/null", link)
    # The dock's test modules (tbsim, egpuhp_testdrv) for the boot kernel;
    # egpuhp itself comes from DKMS only.
    extra = os.path.join(root, "lib/modules", kver, "extra")
    os.makedirs(extra, exist_ok=True)
    built = os.path.join(TOP, "build", "kernels", FLAVOUR)
    for m in ("tbsim", "egpuhp_testdrv"):
        src = os.path.join(built, m + ".ko")
        if not os.path.exists(src):
            raise DockError("%s.ko was not built for %s (tests/vm/build-modules.sh)" % (m, FLAVOUR))
        put(os.path.join("/lib/modules", kver, "extra", m + ".ko"), _file_bytes(src))
    _run(["chroot", root, "depmod", "-a", kver], "depmod in the image")
    for guest, host in sorted(extra_files.items()):
        put(guest, _file_bytes(host), os.stat(host).st_mode & 0o755 | 0o644)
    # The packages again, for the upgrade test inside the guest.
    for p in PACKAGES:
        for f in os.listdir(debs):
            if f.startswith(p + "_") and f.endswith(".deb"):
                put("/root/debs/" + f, _file_bytes(os.path.join(debs, f)))


def system_image(log=None, extra_files=None):
    """Builds (or reuses) the system image for the current tree, with
    EXTRA_FILES ({guest path: host path}) in it; a SystemImage."""
    t0 = time.monotonic()
    extra_files = extra_files or {}
    debs = _package_debs()
    ok, blog = dock.build_modules(FLAVOUR)
    if not ok:
        raise DockError("test modules did not build for %s:\n%s" % (FLAVOUR, blog[-2000:]))
    env = dock.kernel_env(FLAVOUR)
    kver = env["KVER"]
    base_key = _run([ROOTFS_SH, "key"], "rootfs.sh key").strip()
    key = _sha(base_key, os.path.basename(debs), kver,
               AGENT_UNIT, TBSIM_UNIT, INFERENCE_UNIT, INFERENCE_HOOK, MASKED,
               _file_bytes(os.path.join(VMDIR, "guest", "agent")), IMAGE_LAYOUT,
               *[p for guest, host in sorted(extra_files.items())
                 for p in (guest, _file_bytes(host))],
               *[_file_bytes(os.path.join(TOP, "build", "kernels", FLAVOUR, m + ".ko"))
                 for m in ("tbsim", "egpuhp_testdrv")])
    out = os.path.join(SYSTEM_DIR, key)
    if os.path.exists(os.path.join(out, "ok")):
        return SystemImage(out)
    os.makedirs(SYSTEM_DIR, exist_ok=True)
    pkgdir = os.path.join(SYSTEM_DIR, "debs-" + os.path.basename(debs))
    os.makedirs(pkgdir, exist_ok=True)
    for f in os.listdir(debs):
        if f.endswith(".deb") and f.split("_")[0] in PACKAGES:
            dst = os.path.join(pkgdir, f)
            if not os.path.exists(dst):
                os.link(os.path.join(debs, f), dst)
    if log:
        print("# system: building the image %s (rootfs.sh image)" % key, file=log, flush=True)
    _run([ROOTFS_SH, "image", out, pkgdir], "rootfs.sh image")
    _add_test_files(os.path.join(out, "root"), kver, pkgdir, extra_files)
    first = [k for k in os.listdir(os.path.join(out, "root", "lib", "modules")) if k != kver]
    _run([ROOTFS_SH, "finish", out], "rootfs.sh finish")
    with open(os.path.join(out, "boot.env"), "w") as f:
        f.write("KVER=%s\nFIRST_KVER=%s\nDEBS=%s\nBUILD_SECONDS=%.0f\n" % (
            kver, " ".join(sorted(first)), pkgdir, time.monotonic() - t0))
    open(os.path.join(out, "ok"), "w").close()
    # Older images of this tree are of no further use.
    for d in os.listdir(SYSTEM_DIR):
        p = os.path.join(SYSTEM_DIR, d)
        if d != key and len(d) == 16 and os.path.isdir(p):
            subprocess.run(["rm", "-rf", p])
    return SystemImage(out)


class SystemDock(Dock):
    """A Dock whose guest is the Debian system of IMAGE, booted from OVERLAY
    (a qcow2 over the image, created when missing; the same overlay again is
    the next boot of the same machine)."""

    def __init__(self, image, overlay, boot_routers=None, mem_mb=1536, **kw):
        kw.setdefault("boot_timeout", float(os.environ.get("EGPUHP_SYSTEM_BOOT_TIMEOUT", 420)))
        # vCPUs (QEMU runs one TCG thread each): "make check-dkms-upgrade"
        # gives DKMS's make -j$(nproc) two
        kw.setdefault("smp", int(os.environ.get("EGPUHP_SYSTEM_SMP", "1")))
        kw.setdefault("cmdline", "")
        # unit names (not descriptions) in systemd's console status lines
        kw["cmdline"] = "root=/dev/vda rw systemd.status_unit_format=name " + kw["cmdline"]
        super().__init__(kernel=FLAVOUR, mem_mb=mem_mb, **kw)
        self.image = image
        self.overlay = overlay
        if not os.path.exists(overlay):
            _run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw",
                  "-b", image.disk, overlay], "qemu-img create")
        # Routers the stand-in firmware brings up at boot: the harness must
        # know where their tunnels lead before the guest authorizes them.
        if boot_routers:
            self._tb = TbSim(self)
            self._tb.loaded = True
            for route, (port, functions) in boot_routers.items():
                with self._tb.cond:
                    self._tb.routes[route_name(route)] = {
                        "port": port, "kind": functions, "device": None, "tunnel": False}

    def _boot_initrd(self, env):
        return self.image.initrd

    def _qemu_cmd(self, initrd):
        cmd = super()._qemu_cmd(initrd)
        cmd[cmd.index("-kernel") + 1] = self.image.vmlinuz
        return cmd + ["-drive", "file=%s,if=virtio,format=qcow2,cache=unsafe" % self.overlay]

    @staticmethod
    def boot_router_line(route, port_bdf, **fields):
        """A line of /etc/egpuhp-test/boot-routers (tbsim's "add" format)."""
        items = [("route", route_name(route))] + sorted(fields.items()) + [("port", port_bdf)]
        return ";".join("%s=%s" % kv for kv in items)

    def wait_booted(self, timeout=300):
        """Waits until systemd says the boot finished; returns its state
        ("running", or "degraded" with failed units)."""
        rc, out = self.run("timeout %d systemctl is-system-running --wait" % timeout,
                           timeout=timeout + 30)
        return out.strip().splitlines()[-1] if out.strip() else "rc=%d" % rc

    def journal(self, args="", since_cursor=None):
        c = " --after-cursor=%s" % shlex.quote(since_cursor) if since_cursor else ""
        return self.sh("journalctl --no-pager -q -o short-monotonic %s%s" % (args, c),
                       timeout=120)

    def journal_cursor(self):
        out = self.sh("journalctl -q -n 0 --show-cursor --no-pager", timeout=60)
        for line in out.splitlines():
            if line.startswith("-- cursor: "):
                return line[len("-- cursor: "):].strip()
        return None

    def power_cycle_wait(self, timeout=300):
        """Waits until QEMU ended after a guest reboot/poweroff (-no-reboot)."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                raise DockError("the guest did not go down in %ds\n%s" % (
                    timeout, self.console_tail()))
            time.sleep(0.5)
