# SPDX-License-Identifier: GPL-2.0
"""Builds (and caches) the dock guest's initramfs for one test kernel.

Contents: busybox-static, a few host tools with their shared libraries
(kmod, setpci, lspci), the guest kernel modules the tests need (decompressed,
with a fresh depmod), egpuhp.ko and the dock's test modules, the userspace
programs from build/user/, every file in build/guest/bin/, and the test's own
extra files.  The archive is an uncompressed newc cpio (cheaper to unpack
under TCG than to decompress); it is rebuilt only when an input changes.
"""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VMDIR = os.path.join(TOP, "tests", "vm")

# Guest kernel modules (with their dependencies).  Names that a kernel does
# not have are skipped.
GUEST_MODULES = [
    "thunderbolt", "vfio-pci", "pci-stub", "nvme", "virtio_console",
    "snd-hda-intel", "aer_inject", "pci_hotplug", "dummy",
]

HOST_TOOLS = {
    "/bin/kmod": "bin/kmod",
    "/usr/bin/setpci": "usr/bin/setpci",
    "/usr/bin/lspci": "usr/bin/lspci",
}
KMOD_LINKS = ["insmod", "rmmod", "modprobe", "lsmod", "modinfo", "depmod"]
DOCK_MODULES = ["egpuhp.ko", "tbsim.ko", "egpuhp_testdrv.ko"]
USER_PROGRAMS = {"egpud": "usr/sbin/egpud", "egpuctl": "usr/bin/egpuctl",
                 "libegpu.so": "usr/lib/libegpu.so"}
# Bump when the layout logic below changes.
LAYOUT_VERSION = "3"


class InitramfsError(Exception):
    pass


def _run(cmd, **kw):
    res = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if res.returncode != 0:
        raise InitramfsError("%s failed: %s" % (" ".join(cmd), res.stderr.strip()))
    return res.stdout


def _is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _shared_libs(path):
    """Absolute paths of the shared libraries a host ELF needs (with the loader)."""
    if not _is_elf(path):
        return []
    res = subprocess.run(["ldd", path], capture_output=True, text=True)
    if res.returncode != 0:      # static binary: "not a dynamic executable"
        return []
    libs = []
    for line in res.stdout.splitlines():
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if m:
            libs.append(m.group(1))
    return libs


def _module_index(modules_dir):
    """name -> relative path of every module of the unpacked kernel."""
    dep = os.path.join(modules_dir, "modules.dep")
    if not os.path.exists(dep):
        kver = os.path.basename(modules_dir)
        root = os.path.dirname(os.path.dirname(os.path.dirname(modules_dir)))
        _run(["depmod", "-b", root, kver])
    index, deps = {}, {}
    with open(dep) as f:
        for line in f:
            mod, _, rest = line.partition(":")
            name = re.sub(r"\.ko(\.xz|\.zst|\.gz)?$", "", os.path.basename(mod))
            name = name.replace("-", "_")
            index[name] = mod
            deps[mod] = rest.split()
    return index, deps


def _module_closure(modules_dir, names):
    index, deps = _module_index(modules_dir)
    want, todo = set(), []
    for n in names:
        rel = index.get(n.replace("-", "_"))
        if rel:
            todo.append(rel)
    while todo:
        rel = todo.pop()
        if rel in want:
            continue
        want.add(rel)
        todo.extend(deps.get(rel, []))
    return sorted(want)


def _decompressed_name(rel):
    return re.sub(r"\.ko\.(xz|zst|gz)$", ".ko", rel)


def _copy_module(src, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if src.endswith(".xz"):
        tool = ["xz", "-dc", src]
    elif src.endswith(".zst"):
        tool = ["zstd", "-qdc", src]
    elif src.endswith(".gz"):
        tool = ["gzip", "-dc", src]
    else:
        shutil.copy2(src, dst)
        return
    with open(dst, "wb") as out:
        subprocess.run(tool, stdout=out, check=True)


class InitramfsBuilder:
    """Collects the inputs of one guest image; build() returns the cpio path."""

    def __init__(self, flavour, kenv, extra_files=None, extra_modules=None):
        self.flavour = flavour
        self.kver = kenv["KVER"]
        self.modules_dir = kenv["MODULES"]
        self.extra_files = dict(extra_files or {})
        self.extra_modules = list(extra_modules or [])
        self.ko_dir = os.path.join(TOP, "build", "kernels", flavour)
        self.cache_dir = os.path.join(TOP, "build", "vm", flavour)

    # -- inputs ------------------------------------------------------------
    def _user_inputs(self):
        found = {}
        for name, dest in USER_PROGRAMS.items():
            p = os.path.join(TOP, "build", "user", name)
            if os.path.isfile(p):
                found[dest] = p
        gdir = os.path.join(TOP, "build", "guest", "bin")
        if os.path.isdir(gdir):
            for name in sorted(os.listdir(gdir)):
                p = os.path.join(gdir, name)
                if os.path.isfile(p):
                    found["usr/bin/" + name] = p
        return found

    def _ko_inputs(self):
        found = {}
        for name in DOCK_MODULES:
            p = os.path.join(self.ko_dir, name)
            if os.path.isfile(p):
                found["lib/modules/%s/extra/%s" % (self.kver, name)] = p
        return found

    def _file_inputs(self):
        files = {"init": os.path.join(VMDIR, "guest", "init"),
                 "usr/bin/egpuhp-agent": os.path.join(VMDIR, "guest", "agent"),
                 "bin/busybox": "/bin/busybox"}
        files.update({dest: src for src, dest in HOST_TOOLS.items()})
        if os.path.exists("/usr/share/misc/pci.ids"):
            files["usr/share/misc/pci.ids"] = "/usr/share/misc/pci.ids"
        files.update(self._ko_inputs())
        files.update(self._user_inputs())
        for guest, host in self.extra_files.items():
            if not os.path.exists(host):
                raise InitramfsError("extra file %s does not exist" % host)
            files[guest.lstrip("/")] = os.path.abspath(host)
        return files

    def _key(self, files):
        h = hashlib.sha256()
        h.update(("%s %s %s %s\n" % (LAYOUT_VERSION, self.kver,
                                     GUEST_MODULES, self.extra_modules)).encode())
        for dest in sorted(files):
            st = os.stat(files[dest])
            h.update(("%s %s %d %d\n" % (dest, files[dest], st.st_size,
                                         st.st_mtime_ns)).encode())
        return h.hexdigest()[:16]

    # -- build -------------------------------------------------------------
    def build(self):
        files = self._file_inputs()
        key = self._key(files)
        os.makedirs(self.cache_dir, exist_ok=True)
        out = os.path.join(self.cache_dir, "initramfs-%s.cpio" % key)
        if os.path.exists(out):
            os.utime(out)
            return out
        stage = tempfile.mkdtemp(prefix="stage-", dir=self.cache_dir)
        try:
            self._populate(stage, files)
            tmp = out + ".tmp%d" % os.getpid()
            with open(tmp, "wb") as f:
                names = subprocess.run(["find", ".", "-mindepth", "1"], cwd=stage,
                                       capture_output=True, check=True).stdout
                subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"],
                               cwd=stage, input=names, stdout=f, check=True)
            os.replace(tmp, out)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        self._prune(keep=out)
        return out

    def _prune(self, keep, max_kept=6, min_age=1800):
        """Keep the newest few images of this flavour (tests with extra files
        add some); never delete one used in the last MIN_AGE seconds (another
        test process may be about to boot it)."""
        def mtime(p):
            try:
                return os.stat(p).st_mtime
            except OSError:         # pruned by another test process
                return 0
        imgs = [os.path.join(self.cache_dir, n) for n in os.listdir(self.cache_dir)
                if n.startswith("initramfs-") and n.endswith(".cpio")]
        imgs.sort(key=mtime, reverse=True)
        now = time.time()
        for p in imgs[max_kept:]:
            if p != keep and now - mtime(p) > min_age:
                try:
                    os.unlink(p)
                except OSError:
                    pass

    def _populate(self, stage, files):
        for d in ["bin", "sbin", "usr/bin", "usr/sbin", "usr/lib", "lib64", "dev",
                  "proc", "sys", "tmp", "run", "root", "etc/dock-init.d",
                  "lib/modules/%s/extra" % self.kver]:
            os.makedirs(os.path.join(stage, d), exist_ok=True)
        if os.geteuid() == 0:
            os.mknod(os.path.join(stage, "dev/console"), 0o600 | 0o020000, os.makedev(5, 1))

        libs = set()
        for dest, src in files.items():
            path = os.path.join(stage, dest)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            shutil.copy2(src, path)
            libs.update(_shared_libs(src))
        for name in KMOD_LINKS:
            os.symlink("/bin/kmod", os.path.join(stage, "sbin", name))
        for lib in sorted(libs):
            path = os.path.join(stage, lib.lstrip("/"))
            if not os.path.exists(path):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                shutil.copy2(os.path.realpath(lib), path)
        if libs:
            with open(os.path.join(stage, "etc/ld.so.conf"), "w") as f:
                f.write("/usr/lib\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n")
        with open(os.path.join(stage, "etc/passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n")
        with open(os.path.join(stage, "etc/group"), "w") as f:
            f.write("root:x:0:\n")

        # Guest kernel modules: decompressed, then a depmod for the guest tree.
        mdir = os.path.join(stage, "lib/modules", self.kver)
        for rel in _module_closure(self.modules_dir, GUEST_MODULES + self.extra_modules):
            _copy_module(os.path.join(self.modules_dir, rel),
                         os.path.join(mdir, _decompressed_name(rel)))
        for meta in ["modules.builtin", "modules.builtin.modinfo", "modules.order"]:
            src = os.path.join(self.modules_dir, meta)
            if os.path.exists(src):
                shutil.copy2(src, os.path.join(mdir, meta))
        _run(["depmod", "-b", stage, self.kver])
