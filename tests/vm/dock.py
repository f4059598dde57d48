# SPDX-License-Identifier: GPL-2.0
"""The virtual eGPU dock: a real Debian kernel in QEMU (q35) with hot-plug
root ports, driven from the host over QMP, with a root shell in the guest.

    from dock import Dock, vmtest, main
    with Dock(kernel="6.12", ports=4) as vm:
        vm.load_egpuhp()
        dev = vm.plug("rp1", kind="gpu")
        vm.yank("rp1")

See tests/vm/README.md for the whole API.
"""

import atexit
import base64
import ctypes
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time

from dock_channels import Agent, ChannelError, Qmp
from dock_initramfs import TOP, VMDIR, InitramfsBuilder

KERNELS_SH = os.path.join(VMDIR, "kernels.sh")
BUILD_MODULES_SH = os.path.join(VMDIR, "build-modules.sh")
LOG_DIR = os.path.join(TOP, "build", "vm", "logs")

TAINT_OOT = 4096        # O: out-of-tree module
TAINT_UNSIGNED = 8192   # E: unsigned module

# Console lines that fail every test.
BAD_CONSOLE = re.compile(
    r"WARNING:|BUG:|kernel BUG|Oops|general protection|"
    r"possible circular locking|inconsistent lock state|"
    r"cut here|Kernel panic|UBSAN:|KASAN:|blocked for more than \d+ seconds|"
    r"possible recursive locking|suspicious RCU usage|"
    # 6.17+: work queued on system_wq (deprecated) is logged, not warned
    r"enqueued on deprecated workqueue|"
    # kmemleak's own failures (it disables itself); its boot banner is not
    # one, and its "N new suspected memory leaks" line is judged by
    # debug_problems() from the backtraces
    r"kmemleak: (?!\d+ new suspected memory leak|Kernel memory leak detector initialized)")

# Modules whose appearance in a kmemleak backtrace fails the test.
KMEMLEAK_OURS = re.compile(r"\[(egpuhp|tbsim|egpuhp_testdrv)\]")
# A backtrace entry the kernel could not name: a module unloaded since.
KMEMLEAK_UNNAMED = re.compile(r"^\s+(\[<[0-9a-f]+>\] )?0xffffffff[a-f][0-9a-f]{7}$")

def kmemleak_leaks(report):
    """(every object, those of egpuhp or the test modules) in the text of
    /sys/kernel/debug/kmemleak; the latter as one line each."""
    leaks = [b for b in re.split(r"\n(?=unreferenced object)", report.strip())
             if b.startswith("unreferenced object")]
    ours = []
    for leak in leaks:
        lines = leak.splitlines()
        trace = lines[next((i for i, l in enumerate(lines) if "backtrace" in l), len(lines)):]
        if any(KMEMLEAK_OURS.search(l) or KMEMLEAK_UNNAMED.match(l) for l in trace):
            ours.append("kmemleak: " + " | ".join(l.strip() for l in lines[:1] + trace))
    return leaks, ours


# Functions of each device kind: (QEMU driver, PCI function, properties).
# "gpu" is QEMU's edu device (1234:11e8, class 0x00ff, egpuhp_testdrv binds
# it by itself) standing in for the GPU, plus an HD audio function like a
# GPU's HDMI audio.  "vga" is the display-class variant: secondary-vga
# (1234:1111, class 0x0380) + audio.  virtio-gpu-pci/virtio-vga/ati-vga/
# cirrus-vga refuse hot-add; yanking a cold-plugged virtio-gpu-pci kills QEMU
# 7.2; re-adding a VRAM device before QEMU freed the previous one's RAM block
# aborts QEMU (plug() waits for that).
KINDS = {
    "fn": [("edu", 0, {})],
    "edu": [("edu", 0, {})],
    "gpu": [("edu", 0, {"multifunction": "on"}),
            ("ich9-intel-hda", 1, {})],
    "edu-audio": [("edu", 0, {"multifunction": "on"}),
                  ("ich9-intel-hda", 1, {})],
    "vga": [("secondary-vga", 0, {"multifunction": "on"}),
            ("ich9-intel-hda", 1, {})],
    "nvme": [("nvme", 0, {"serial": "egpuhp"})],
    "testdev": [("pci-testdev", 0, {})],
    "virtio-rng": [("virtio-rng-pci", 0, {})],
}

ENCLOSURE_SLOT = 20
ROOT_PORT_ADDR = 0x10

# How long to wait for the end of a reset a cable pull landed in.  A pull
# inside pciehp_reset_slot(), between the secondary bus reset and the
# kernel's first read of the function after it, is not acted on until the
# kernel has polled the vanished function for up to 60 s
# (pci_bridge_wait_for_secondary_bus() -> pci_dev_wait(),
# PCIE_RESET_READY_POLL_MS): pciehp holds its reset_lock for the whole
# reset, so it cannot mark the function disconnected meanwhile.  Seen in
# 6.12-debug's console (test_quirks, test_nlfuzz); 6.1 failed test_quirks
# the same way in CI.  The margin is for a loaded two-core machine.
PULL_IN_RESET_TIMEOUT = 150


class DockError(Exception):
    pass


class GuestCommandError(DockError):
    def __init__(self, cmd, rc, output):
        self.cmd, self.rc, self.output = cmd, rc, output
        super().__init__("guest command failed (rc=%d): %s\n%s" % (rc, cmd, output))


# ---------------------------------------------------------------------------
# Kernels and modules (once per process and flavour)

_kernel_envs = {}
_module_builds = {}
_build_noted = set()


def kernel_env(flavour):
    """KVER/VMLINUZ/HEADERS/MODULES of a test kernel, fetched on first use."""
    if flavour not in _kernel_envs:
        res = subprocess.run([KERNELS_SH, "fetch", flavour], capture_output=True, text=True)
        if res.returncode != 0:
            raise DockError("kernels.sh fetch %s failed:\n%s" % (flavour, res.stderr))
        env = {}
        root = subprocess.run([KERNELS_SH, "path", flavour, "root"], capture_output=True,
                              text=True).stdout.strip()
        with open(os.path.join(os.path.dirname(root), "env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                env[k] = v.strip('"')
        _kernel_envs[flavour] = env
    return _kernel_envs[flavour]


def build_modules(flavour):
    """Builds egpuhp.ko and the test modules; returns (ok, log)."""
    if flavour not in _module_builds:
        if os.environ.get("EGPUHP_VM_NO_BUILD"):
            _module_builds[flavour] = (True, "build skipped (EGPUHP_VM_NO_BUILD)")
        else:
            res = subprocess.run([BUILD_MODULES_SH, flavour], capture_output=True, text=True)
            _module_builds[flavour] = (res.returncode == 0, res.stdout + res.stderr)
    return _module_builds[flavour]


# ---------------------------------------------------------------------------
# QEMU process hygiene: every QEMU dies with us, whatever happens.

_live_docks = set()
_dock_count = 0


def _kill_all_docks():
    for d in list(_live_docks):
        d.kill()


def _on_signal(signum, _frame):
    _kill_all_docks()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


atexit.register(_kill_all_docks)
for _sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    if signal.getsignal(_sig) in (signal.SIG_DFL, signal.default_int_handler):
        signal.signal(_sig, _on_signal)

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    _libc.prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG


# ---------------------------------------------------------------------------

class Device:
    """Functions plugged into one port together (a GPU + its audio, or one fn)."""

    def __init__(self, port, kind, ids, bdfs):
        self.port, self.kind, self.ids, self.bdfs = port, kind, ids, bdfs

    @property
    def bdf(self):
        return self.bdfs[0]

    def __repr__(self):
        return "Device(%s, %s, %s)" % (self.port, self.kind, self.bdfs)


class Port:
    def __init__(self, qid, slot, addr=None, parent="pcie.0", surprise=True,
                 kind="pcie-root-port"):
        self.id, self.slot, self.addr, self.parent = qid, slot, addr, parent
        self.surprise = surprise        # power_controller_present=off
        self.kind = kind
        self.devices = []               # Device objects plugged (or cold-plugged) here
        self.exp_cap = None

    def qemu_args(self):
        props = ["%s" % self.kind, "id=%s" % self.id, "bus=%s" % self.parent,
                 "chassis=1", "slot=%d" % self.slot]
        if self.addr is not None:
            props.append("addr=0x%x.0" % self.addr)
        if self.surprise:
            props.append("power_controller_present=off")
        return ["-device", ",".join(props)]


class Dock:
    """One guest VM with its dock.  Use as a context manager."""

    def __init__(self, kernel="6.12", ports=4, enclosure=False, mem_mb=1024, smp=1,
                 extra_files=None, extra_modules=None, cmdline="", name=None,
                 boot_timeout=None, button_ports=(), interactive=False, log=None,
                 iommu=False):
        self.kernel = kernel
        # QEMU's intel-iommu (DMA remapping only; interrupt remapping would
        # need kernel-irqchip=split) and the guest's intel_iommu=on: real
        # IOMMU groups in sysfs
        self.iommu = iommu
        self.mem_mb, self.smp = mem_mb, smp
        self.extra_files = extra_files or {}
        self.extra_modules = extra_modules or []
        self.cmdline = cmdline
        global _dock_count
        _dock_count += 1
        self.name = name or "dock-%s-%d-%d" % (kernel, os.getpid(), _dock_count)
        self.interactive = interactive
        self.boot_timeout = boot_timeout or float(os.environ.get("EGPUHP_VM_BOOT_TIMEOUT", 120))
        self.accel = os.environ.get("EGPUHP_VM_ACCEL", "tcg")
        self.log = log if log is not None else sys.stderr
        self.proc = None
        self.qmp = None
        self.agent = None
        self.boot_taint = 0
        self.kmemleak_reports = []      # every object kmemleak reported (debug kernels)
        self.preempt_rt = False
        self.kver = None
        self._agent_lock = threading.Lock()
        self._console = []
        self._console_len = 0
        self._console_lock = threading.Lock()
        self._console_file = None
        self._line_buf = ""
        self._watchers = []
        self._tmp = None
        self._plug_serial = 0
        self._qmp_lock = threading.RLock()
        self.ports = {}
        for i in range(1, ports + 1):
            qid = "rp%d" % i
            self.ports[qid] = Port(qid, slot=i, addr=ROOT_PORT_ADDR + i - 1,
                                   surprise=qid not in button_ports)
        self.enclosure = None
        self.enclosure_kind = enclosure if enclosure in ("gpu", "vga") else "gpu"
        if enclosure:
            self._add_enclosure()
        self._tb = None             # TbSim once tb_load() ran
        self.bg_errors = []         # failures of background (console-driven) actions

    # -- topology ----------------------------------------------------------
    def _add_enclosure(self):
        """root port "enc" -> switch "enc-up" -> downstream port "enc-dp" -> GPU + audio.
        enclosure=True or "gpu": edu as the GPU; "vga": secondary-vga."""
        rp = Port("enc", slot=ENCLOSURE_SLOT, addr=ROOT_PORT_ADDR - 1)
        dp = Port("enc-dp", slot=ENCLOSURE_SLOT + 1, parent="enc-up", surprise=False,
                  kind="xio3130-downstream")
        self.ports["enc"] = rp
        self.ports["enc-dp"] = dp
        gpu = Device("enc-dp", self.enclosure_kind, ["enc-gpu", "enc-audio"], [])
        switch = Device("enc", "switch", ["enc-up", "enc-dp"], [])
        dp.devices.append(gpu)
        rp.devices.append(switch)
        self.enclosure = gpu
        self.enclosure_switch = switch

    def _resolve_cold_plugged(self):
        """Guest addresses of cold-plugged devices (the guest numbers the buses)."""
        if not self.enclosure:
            return
        addrs = self._qdev_addresses()
        for dev in (self.enclosure_switch, self.enclosure):
            dev.bdfs = [addrs[i] for i in dev.ids]
        self.wait_present(self.enclosure.bdfs)

    def _enclosure_args(self):
        if not self.enclosure:
            return []
        return (self.ports["enc"].qemu_args() +
                ["-device", "x3130-upstream,id=enc-up,bus=enc"] +
                self.ports["enc-dp"].qemu_args() +
                ["-device", "%s,id=enc-gpu,bus=enc-dp,addr=0.0,multifunction=on"
                 % ("secondary-vga" if self.enclosure_kind == "vga" else "edu"),
                 "-device", "ich9-intel-hda,id=enc-audio,bus=enc-dp,addr=0.1"])

    # -- life cycle --------------------------------------------------------
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _qemu_cmd(self, initrd):
        env = kernel_env(self.kernel)
        append = ("console=ttyS0,115200 loglevel=7 edd=off panic=-1 mitigations=off "
                  "nmi_watchdog=0 tsc=reliable pcie_ports=native " + self.cmdline)
        if self.iommu:
            append += " intel_iommu=on"
        if self.interactive:
            append += " egpuhp.shell=1"
        accel = "kvm" if self.accel == "kvm" else "tcg"
        cmd = ["qemu-system-x86_64", "-machine", "q35,accel=%s" % accel,
               "-m", str(self.mem_mb), "-smp", str(self.smp),
               "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
               "-kernel", env["VMLINUZ"], "-initrd", initrd, "-append", append,
               "-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"]
        if self.iommu:
            # first: QEMU gives each PCI device its DMA address space when
            # it is created
            cmd[3:3] = ["-device", "intel-iommu,intremap=off"]
        # KVM: no "-cpu host" (QEMU 7.2 aborts here setting MSR 0x10a).
        if self.interactive:
            cmd += ["-serial", "mon:stdio"]
        else:
            cmd += ["-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con"]
        cmd += ["-chardev", "socket,id=agent,path=%s/agent.sock,server=on,wait=off" % self._tmp,
                "-serial", "chardev:agent",
                "-qmp", "unix:%s/qmp.sock,server=on,wait=off" % self._tmp]
        for p in self.ports.values():
            if p.parent == "pcie.0" and p.id != "enc":
                cmd += p.qemu_args()
        cmd += self._enclosure_args()
        return cmd

    def start(self):
        t0 = time.monotonic()
        ok, blog = build_modules(self.kernel)
        self._module_log = blog
        if not ok and self.kernel not in _build_noted:
            _build_noted.add(self.kernel)
            self._note("module build had errors (tests needing those modules will fail):\n"
                       + "\n".join(blog.strip().splitlines()[-5:]))
        env = kernel_env(self.kernel)
        initrd = self._boot_initrd(env)
        self.kver = env["KVER"]
        self._tmp = tempfile.mkdtemp(prefix="egpudock-")
        os.makedirs(LOG_DIR, exist_ok=True)
        self.console_path = os.path.join(LOG_DIR, "%s.console" % self.name)
        self._console_file = open(self.console_path, "w")
        cmd = self._qemu_cmd(initrd)
        self.qemu_cmdline = cmd
        with open(os.path.join(self._tmp, "qemu.stderr"), "w") as err:
            self.proc = subprocess.Popen(
                cmd, stdin=None if self.interactive else subprocess.DEVNULL,
                stdout=None if self.interactive else subprocess.PIPE, stderr=err,
                start_new_session=not self.interactive, preexec_fn=_die_with_parent)
        _live_docks.add(self)
        if not self.interactive:
            self._reader = threading.Thread(target=self._console_loop, daemon=True)
            self._reader.start()
        try:
            self.qmp = Qmp(os.path.join(self._tmp, "qmp.sock"), self.alive)
            self.agent = Agent(os.path.join(self._tmp, "agent.sock"), self.alive)
            self.agent.wait_up(self.boot_timeout)
        except (ChannelError, TimeoutError) as e:
            raise DockError("guest did not come up: %s\n%s%s" % (
                e, self.qemu_stderr(), self.console_tail())) from None
        self.boot_taint = int(self.sh("cat /run/boot-taint").strip())
        self.preempt_rt = "PREEMPT_RT" in self.sh("uname -v")
        self._resolve_cold_plugged()
        self.boot_seconds = time.monotonic() - t0

    def _boot_initrd(self, env):
        """The initramfs QEMU boots with: the busybox guest's.  (The real-system
        guest, dock_system.SystemDock, boots its disk's own initrd instead.)"""
        return InitramfsBuilder(self.kernel, env, self.extra_files, self.extra_modules).build()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def qemu_stderr(self):
        try:
            with open(os.path.join(self._tmp, "qemu.stderr")) as f:
                txt = f.read()
            return "QEMU stderr: %s\n" % txt if txt.strip() else ""
        except OSError:
            return ""

    def kill(self):
        """Stops QEMU at once (the whole process group)."""
        if self.proc and self.proc.poll() is None:
            try:
                if self.interactive:
                    self.proc.kill()
                else:
                    os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        _live_docks.discard(self)

    def close(self):
        if self._tb:
            self._tb.stop()
        self.kill()
        for ch in (self.qmp, self.agent):
            if ch:
                try:
                    ch.close()
                except OSError:
                    pass
        if getattr(self, "_reader", None):
            self._reader.join(timeout=5)
        if self._console_file:
            self._console_file.close()
            self._console_file = None
        if self._tmp:
            subprocess.run(["rm", "-rf", self._tmp])
            self._tmp = None

    def _note(self, msg):
        if self.log:
            for line in msg.splitlines():
                print("# dock: %s" % line, file=self.log)
            self.log.flush()

    # -- console -----------------------------------------------------------
    def _console_loop(self):
        fd = self.proc.stdout.fileno()
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            text = data.decode("utf-8", "replace").replace("\r", "")
            with self._console_lock:
                self._console.append(text)
                self._console_len += len(text)
            if self._console_file:
                self._console_file.write(text)
                self._console_file.flush()
            self._line_buf += text
            *lines, self._line_buf = self._line_buf.split("\n")
            for line in lines:
                for pattern, callback in list(self._watchers):
                    m = pattern.search(line)
                    if m:
                        callback(m)

    def watch_console(self, regex, callback):
        """Calls CALLBACK(match) (in the console thread: keep it short) for each line."""
        self._watchers.append((re.compile(regex), callback))

    def console(self, since=0):
        """The guest console text so far (from offset SINCE, see console_mark())."""
        with self._console_lock:
            text = "".join(self._console)
            self._console = [text]
        return text[since:]

    def console_mark(self):
        with self._console_lock:
            return self._console_len

    def console_tail(self, lines=40):
        tail = self.console().splitlines()[-lines:]
        return "console tail:\n" + "\n".join("  " + line for line in tail) + "\n"

    def wait_console(self, regex, since=0, timeout=30):
        """Waits for a console line matching REGEX; returns the match."""
        pat = re.compile(regex)
        deadline = time.monotonic() + timeout
        while True:
            m = pat.search(self.console(since))
            if m:
                return m
            if time.monotonic() > deadline or not self.alive():
                raise DockError("console never showed %r\n%s" % (regex, self.console_tail()))
            time.sleep(0.05)

    def console_problems(self, since=0):
        """Console lines that show a kernel problem (WARN, BUG, Oops, lockdep...),
        and on a debug kernel what debug_problems() finds."""
        bad = [l for l in self.console(since).splitlines() if BAD_CONSOLE.search(l)]
        return bad + self.debug_problems()

    def debug_problems(self):
        """On kernels with lockdep and kmemleak (the -debug flavours): lockdep
        must still be on (it turns itself off after its first report, hiding
        everything after it), and a kmemleak scan must find no leak whose
        backtrace names egpuhp, tbsim or egpuhp_testdrv, or a module unloaded
        since (its addresses stay unnamed).  Other leaks are noted only.
        kmemleak reports an object once it is 5 s old, so a leak from the last
        seconds of a boot can go unseen; leaks are cleared once reported."""
        if not self.alive():
            return []
        rc, out = self.run("cat /proc/lockdep_stats 2>/dev/null | grep debug_locks:; "
                           "test -e /sys/kernel/debug/kmemleak", timeout=30)
        m = re.search(r"debug_locks:\s*(\d+)", out)
        bad = []
        if m and m.group(1) == "0":
            bad.append("lockdep is off (debug_locks=0 in /proc/lockdep_stats): "
                       "an earlier report or a lockdep failure")
        if rc != 0:
            return bad
        rc, out = self.run("echo scan > /sys/kernel/debug/kmemleak && "
                           "cat /sys/kernel/debug/kmemleak && "
                           "echo clear > /sys/kernel/debug/kmemleak", timeout=300)
        if rc != 0:
            return bad + ["kmemleak scan failed: %s" % out.strip()[:200]]
        leaks, ours = kmemleak_leaks(out)
        if leaks:
            self.kmemleak_reports.extend(leaks)
            self._note("kmemleak: %d unreferenced object(s), %d from egpuhp or the "
                       "test modules" % (len(leaks), len(ours)))
        return bad + ours

    def taint_problems(self):
        """Taint bits beyond those set at boot and O/E; empty string when fine."""
        rc, out = self.run("cat /proc/sys/kernel/tainted", timeout=30)
        if rc != 0:
            return "cannot read taint"
        taint = int(out.strip())
        extra = taint & ~(self.boot_taint | TAINT_OOT | TAINT_UNSIGNED)
        return "" if not extra else "kernel tainted 0x%x (boot 0x%x, new bits 0x%x)" % (
            taint, self.boot_taint, extra)

    def check_background(self):
        """Raises DockError when a console-driven action (tbsim tunnels) failed."""
        if self.bg_errors:
            raise DockError("dock background action failed: %s" % "; ".join(self.bg_errors))

    def check_health(self, since=0):
        """Raises DockError when the console or the taint shows a problem."""
        self.check_background()
        bad = self.console_problems(since)
        if bad:
            raise DockError("guest console shows a kernel problem:\n  " + "\n  ".join(bad[:20]))
        taint = self.taint_problems()
        if taint:
            raise DockError(taint)

    # -- guest commands ----------------------------------------------------
    def run(self, cmd, timeout=60):
        """Runs CMD as root in the guest; returns (rc, combined output)."""
        if not self.alive():
            raise DockError("QEMU is not running\n" + self.qemu_stderr() + self.console_tail())
        try:
            with self._agent_lock:
                return self.agent.run(cmd, timeout)
        except TimeoutError:
            raise DockError("guest command timed out after %ss: %s\n%s" % (
                timeout, cmd, self.console_tail())) from None
        except ChannelError as e:
            raise DockError("guest agent lost (%s) running: %s\n%s%s" % (
                e, cmd, self.qemu_stderr(), self.console_tail())) from None

    def sh(self, cmd, timeout=60):
        """Runs CMD as root in the guest; returns its output, raises on rc != 0."""
        rc, out = self.run(cmd, timeout)
        if rc != 0:
            raise GuestCommandError(cmd, rc, out)
        return out

    def wait_for(self, cond, timeout=10, interval=0.1):
        """Waits (inside the guest) until shell condition COND succeeds."""
        script = ("end=$(( $(date +%%s) + %d ))\n"
                  "until %s\ndo\n  [ $(date +%%s) -ge $end ] && exit 124\n"
                  "  sleep %s\ndone\n") % (int(timeout + 0.999), "{ %s ; } >/dev/null 2>&1" % cond,
                                         interval)
        rc, out = self.run(script, timeout=timeout + 30)
        if rc != 0:
            raise DockError("timed out after %ss waiting for: %s\n%s" % (
                timeout, cond, self.console_tail(15)))

    def write_file(self, guest_path, data, mode=0o644):
        """Writes DATA (str or bytes) to a guest file."""
        if isinstance(data, str):
            data = data.encode()
        b64 = base64.b64encode(data).decode()
        self.sh("mkdir -p %s && printf '%%s' %s | base64 -d > %s && chmod %o %s" % (
            shlex.quote(os.path.dirname(guest_path) or "/"), b64,
            shlex.quote(guest_path), mode, shlex.quote(guest_path)))

    def read_file(self, guest_path):
        return self.sh("cat %s" % shlex.quote(guest_path))

    def dmesg(self):
        return self.sh("dmesg")

    # -- modules -----------------------------------------------------------
    def module_path(self, name):
        return "/lib/modules/%s/extra/%s.ko" % (self.kver, name)

    def load_module(self, name, params=""):
        """insmod a dock-built module (egpuhp, tbsim, egpuhp_testdrv) or modprobe another."""
        if name in ("egpuhp", "tbsim", "egpuhp_testdrv"):
            rc, _ = self.run("test -f %s" % self.module_path(name))
            if rc != 0:
                raise DockError("%s.ko was not built for %s; build log:\n%s" % (
                    name, self.kernel, self._module_log))
            return self.sh("insmod %s %s" % (self.module_path(name), params))
        return self.sh("modprobe %s %s" % (name, params))

    def unload_module(self, name):
        return self.sh("rmmod %s" % name)

    def load_egpuhp(self, params=""):
        return self.load_module("egpuhp", params)

    def load_testdrv(self):
        """Loads egpuhp_testdrv unless it is loaded already."""
        if self.run("test -d /sys/module/egpuhp_testdrv")[0] != 0:
            self.load_module("egpuhp_testdrv")

    def testdrv_events(self):
        """Lines recorded by egpuhp_testdrv (probe/remove with presence state)."""
        return self.sh("cat /sys/kernel/debug/egpuhp_testdrv/events").splitlines()

    # -- PCI topology helpers ---------------------------------------------
    def port(self, port):
        if isinstance(port, Port):
            return port
        if port not in self.ports:
            raise DockError("no port %r (have %s)" % (port, ", ".join(self.ports)))
        return self.ports[port]

    def _qdev_addresses(self):
        """qdev id -> guest BDF for every device with an id, from query-pci."""
        found = {}

        def walk(devices):
            for d in devices:
                if d.get("qdev_id"):
                    found[d["qdev_id"]] = "0000:%02x:%02x.%d" % (
                        d["bus"], d["slot"], d["function"])
                bridge = d.get("pci_bridge")
                if bridge and bridge.get("devices"):
                    walk(bridge["devices"])
        with self._qmp_lock:
            for bus in self.qmp.cmd("query-pci"):
                walk(bus["devices"])
        return found

    def bdf_of(self, qdev_id):
        return self._qdev_addresses().get(qdev_id)

    def guest_has(self, bdf):
        rc, _ = self.run("test -e /sys/bus/pci/devices/%s" % bdf)
        return rc == 0

    def wait_reset_settle(self, pid, timeout=120):
        """Waits until task PID (a number or a shell expression) sleeps in the
        settle msleep() of egpuhp's bus step (reset_settle_ms), past the
        kernel's bus reset before it, or has ended.  A cable pull aimed there
        lands after the kernel has read the function again, so pciehp acts on
        it at once (PULL_IN_RESET_TIMEOUT says what happens otherwise)."""
        self.wait_for("s=$(cat /proc/%s/stack 2>/dev/null); "
                      "case $s in *reset_slot*|*secondary_bus*) false;; *msleep*) true;; "
                      "*) ! kill -0 %s 2>/dev/null;; esac" % (pid, pid), timeout=timeout)

    def wait_gone(self, bdfs, timeout=20):
        if bdfs:
            self.wait_for(" && ".join("! test -e /sys/bus/pci/devices/%s" % b for b in bdfs),
                          timeout=timeout)

    def wait_present(self, bdfs, timeout=20):
        if bdfs:
            self.wait_for(" && ".join("test -e /sys/bus/pci/devices/%s" % b for b in bdfs),
                          timeout=timeout)

    def wait_slot(self, port, timeout=20):
        self.wait_for("test -d /sys/bus/pci/slots/%d" % self.port(port).slot, timeout=timeout)

    # -- hot-plug ------------------------------------------------------------
    def plug(self, port, kind="fn", functions=None, wait=True, timeout=30):
        """Hot-adds a device of KIND (see KINDS) into PORT; returns a Device.
        FUNCTIONS overrides KIND: [(qemu driver, function, {props})...].
        wait=False: QMP only (no guest commands), returns once QEMU added it."""
        p = self.port(port)
        funcs = functions or KINDS.get(kind)
        if not funcs:
            raise DockError("unknown device kind %r (have %s)" % (kind, ", ".join(KINDS)))
        if p.devices:
            raise DockError("port %s is occupied by %s" % (p.id, p.devices))
        if wait:
            self.wait_slot(p)
        self._wait_ram_freed(p)
        with self._qmp_lock:
            self._plug_serial += 1
            ids = []
            # Functions other than 0 first: adding function 0 announces the slot.
            for driver, fn, props in sorted(funcs, key=lambda f: -f[1]):
                qid = "%s-%s%d-f%d" % (p.id, kind, self._plug_serial, fn)
                args = {"driver": driver, "id": qid, "bus": p.id, "addr": "0.%d" % fn}
                for k, v in props.items():
                    args[k] = "%s%d" % (v, self._plug_serial) if k == "serial" else v
                self.qmp.cmd("device_add", **args)
                ids.insert(0, qid)
            addrs = self._qdev_addresses()
            dev = Device(p.id, kind, ids, [addrs[i] for i in ids])
            p.devices.append(dev)
        if wait:
            self.wait_present(dev.bdfs, timeout=timeout)
        return dev

    def _wait_ram_freed(self, p, timeout=15):
        """QEMU frees the RAM block (VRAM) of an unplugged device a little
        later (~0.5 s after an orderly removal); adding a new one below the
        same port before that aborts QEMU ("RAMBlock ... already registered")."""
        if p.parent != "pcie.0":
            return
        prefix = "0000:00:%02x.0:" % p.addr
        deadline = time.monotonic() + timeout
        while True:
            with self._qmp_lock:
                blocks = self.qmp.hmp("info ramblock")
            if not any(line.strip().startswith(prefix) for line in blocks.splitlines()):
                return
            if time.monotonic() > deadline:
                raise DockError("QEMU still holds RAM of a removed device below %s" % p.id)
            time.sleep(0.1)

    def _devices_below(self, p):
        devs = list(p.devices)
        for d in p.devices:
            for qid in d.ids:
                if qid in self.ports:
                    devs += self._devices_below(self.ports[qid])
        return devs

    def _forget_below(self, p):
        for d in p.devices:
            for qid in d.ids:
                if qid in self.ports:
                    self._forget_below(self.ports[qid])
        p.devices = []

    def _wait_deleted(self, ids, timeout):
        """Waits until QEMU's PCI tree no longer holds any of IDS.  (query-pci,
        not DEVICE_DELETED: QEMU 7.2 sends no event for an unplugged
        ich9-intel-hda although the device is gone.)"""
        deadline = time.monotonic() + timeout
        while True:
            left = set(ids) & set(self._qdev_addresses())
            if not left:
                return
            if time.monotonic() > deadline:
                raise DockError("QEMU never removed %s\n%s" % (sorted(left),
                                                               self.console_tail(15)))
            time.sleep(0.05)

    def unplug_orderly(self, dev, method="button", timeout=30):
        """Orderly removal: the attention button (QMP device_del, pciehp waits 5 s)
        or the guest powering the slot off (/sys/bus/pci/slots/N/power)."""
        p = self.port(dev.port)
        below = self._devices_below(p)
        ids = [i for d in below for i in d.ids]
        bdfs = [b for d in below for b in d.bdfs]
        if method not in ("button", "slot_power"):
            raise DockError("unknown orderly removal method %r" % method)
        polled = "pciehp.pciehp_poll_mode=1" in self.cmdline.split()
        if self.preempt_rt and not (method == "slot_power" and polled):
            # Found by the dock's self-test on Debian 6.1-rt and 6.12-rt: a
            # guest "echo 0 > slots/N/power" sleeps in pciehp_sysfs_disable_slot()
            # forever (uninterruptible) and after an attention button press
            # ("will power off in 5 sec") the slot is never disabled.  Likely
            # cause (not proven): both go
            # through pciehp_request() -> irq_wake_thread(), whose wake-up of
            # the force-threaded handler never reaches pciehp_ist().  Surprise
            # removal works.  Fail clearly instead of wedging the guest.
            # In poll mode pciehp_request() wakes nothing and the poll thread
            # runs pciehp_ist(): tests/doctor/test_doctor.py removes a device
            # by slot power that way on -rt (the button is not tried there).
            raise DockError("orderly removal (%s) never completes on PREEMPT_RT "
                            "kernels (pciehp_request() wake-up lost); use yank()" % method)
        if method == "button":
            with self._qmp_lock:
                self.qmp.cmd("device_del", id=dev.ids[0])
            self.wait_gone(bdfs, timeout=timeout)
        else:
            self.sh("echo 0 > /sys/bus/pci/slots/%d/power" % p.slot)
            self.wait_gone(bdfs, timeout=timeout)
        if p.surprise:
            # Without a power controller QEMU keeps the (now unused) device
            # until the slot is powered off: finish the unplug from the host.
            self._slot_power_off(p)
        self._wait_deleted(ids, timeout)
        self._forget_below(p)

    def yank(self, port, wait=True, timeout=30, hands_off=0.0):
        """Surprise removal: everything below PORT vanishes at once (cable pull).
        HANDS_OFF: seconds to leave QEMU and the guest alone after the pull
        before polling for the result.  Timing measurements want it: under TCG
        each QMP query-pci holds QEMU's global lock, and every config access
        the guest's pciehp makes during the removal waits for that lock -- a
        stall of the test rig, not of the removal (nothing polls a real bus)."""
        p = self.port(port)
        if not p.surprise:
            raise DockError("port %s has a power controller: it cannot be yanked" % p.id)
        below = self._devices_below(p)
        ids = [i for d in below for i in d.ids]
        bdfs = [b for d in below for b in d.bdfs]
        self._slot_power_off(p)
        if hands_off:
            time.sleep(hands_off)
        self._wait_deleted(ids, timeout)
        self._forget_below(p)
        if wait:
            self.wait_gone(bdfs, timeout=timeout)
        return bdfs

    # -- config space from the host (port I/O through the HMP) -------------
    # HMP sizes as in its "x" command: b = 8, h = 16, w = 32 bits.
    def _inl(self, port, size="w"):
        out = self.qmp.hmp("i /%s 0x%x" % (size, port))
        m = re.search(r"=\s*0x([0-9a-fA-F]+)", out)
        if not m:
            raise DockError("unexpected HMP answer: %r" % out)
        return int(m.group(1), 16)

    def _cfg_addr(self, bdf_tuple, reg):
        bus, dev, fn = bdf_tuple
        return 0x80000000 | (bus << 16) | (dev << 11) | (fn << 8) | (reg & 0xfc)

    def _cfg_read(self, bdf_tuple, reg, size):
        self.qmp.hmp("o /w 0xcf8 0x%x" % self._cfg_addr(bdf_tuple, reg))
        return self._inl(0xcfc + (reg & 3), {1: "b", 2: "h", 4: "w"}[size])

    def _cfg_write(self, bdf_tuple, reg, size, value):
        self.qmp.hmp("o /w 0xcf8 0x%x" % self._cfg_addr(bdf_tuple, reg))
        self.qmp.hmp("o /%s 0x%x 0x%x" % ({1: "b", 2: "h", 4: "w"}[size],
                                           0xcfc + (reg & 3), value))

    def _port_location(self, p):
        for bus in self.qmp.cmd("query-pci"):
            stack = list(bus["devices"])
            while stack:
                d = stack.pop()
                if d.get("qdev_id") == p.id:
                    return d["bus"], d["slot"], d["function"]
                if d.get("pci_bridge") and d["pci_bridge"].get("devices"):
                    stack += d["pci_bridge"]["devices"]
        raise DockError("port %s not found in query-pci" % p.id)

    def _slot_power_off(self, p):
        """Sets Power Controller Control + power indicator off in the port's Slot
        Control register, with the guest stopped and its 0xcf8 latch restored:
        QEMU then unplugs everything below the port (see shared/README.md)."""
        with self._qmp_lock:
            self.qmp.cmd("stop")
            try:
                loc = self._port_location(p)
                saved = self._inl(0xcf8)
                if p.exp_cap is None:
                    ptr = self._cfg_read(loc, 0x34, 1) & 0xfc
                    while ptr:
                        hdr = self._cfg_read(loc, ptr, 2)
                        if hdr & 0xff == 0x10:
                            p.exp_cap = ptr
                            break
                        ptr = (hdr >> 8) & 0xfc
                    if p.exp_cap is None:
                        raise DockError("port %s has no PCIe capability" % p.id)
                sltctl = self._cfg_read(loc, p.exp_cap + 0x18, 2)
                self._cfg_write(loc, p.exp_cap + 0x18, 2, sltctl | 0x0700)
                self.qmp.hmp("o /w 0xcf8 0x%x" % saved)
            finally:
                self.qmp.cmd("cont")


# -- Thunderbolt ------------------------------------------------------------
from dock_tbsim import TbSim  # noqa: E402


def _tb_method(name):
    def method(self, *args, **kw):
        if self._tb is None:
            if name != "tb_load":
                self.tb_load()
            else:
                self._tb = TbSim(self)
        return getattr(self._tb, name[3:])(*args, **kw)
    method.__name__ = name
    method.__doc__ = getattr(TbSim, name[3:]).__doc__
    return method


for _name in ("tb_load", "tb_set_domain", "tb_add_router", "tb_authorize", "tb_wait_tunnel",
              "tb_unplug", "tb_set_link", "tb_hold_down", "tb_remove_router", "tb_path",
              "tb_attr", "tb_device"):
    setattr(Dock, _name, _tb_method(_name))


# The test framework lives in its own file; tests import it from here.
from dock_framework import Skip, main, vmtest  # noqa: E402,F401
