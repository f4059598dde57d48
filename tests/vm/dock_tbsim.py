# SPDX-License-Identifier: GPL-2.0
"""Simulated Thunderbolt routers (tests/vm/modules/tbsim.c) tied to the dock
like a real eGPU: until a router is authorized no PCI function appears;
authorizing it opens the PCIe tunnel (the harness hot-adds the enclosure's
functions into the router's port); de-authorizing closes it (the harness
yanks them); a cable pull removes router and PCI subtree together.
As firmware does on real machines, the root port a router's tunnel leads
to is marked external-facing (tbsim sets pdev->external_facing on it), so
the guest kernel marks the functions that arrive there untrusted and
removable.

The guest module prints "tbsim: 0-1: pcie tunnel up|down" on the console;
a console watcher queues these for a worker thread that acts over QMP only
(the guest agent belongs to the test's thread)."""

import queue
import shlex
import threading
import time

DEBUGFS = "/sys/kernel/debug/tbsim"
SYSFS = "/sys/bus/thunderbolt/devices"


def route_name(route):
    """"0-1", "1", 1 -> "0-1"."""
    if isinstance(route, int):
        return "0-%x" % route
    route = str(route)
    return route if route.startswith("0-") else "0-" + route


def _route_int(name):
    return int(name[2:], 16)


def _parent(route):
    for shift in range(56, -1, -8):
        if route >> shift:
            return route & ~(0xff << shift)
    return 0


def _is_below(route, top):
    while route:
        if route == top:
            return True
        route = _parent(route)
    return False


class TbSim:
    def __init__(self, vm):
        self.vm = vm
        self.loaded = False
        self.routes = {}            # "0-1" -> {"port", "kind", "device", "tunnel"}
        self.held = set()           # routes whose closing tunnel keeps its functions for now
        self.cond = threading.Condition()
        self.queue = queue.Queue()
        self.worker = threading.Thread(target=self._work, daemon=True)
        self.worker.start()
        vm.watch_console(r"tbsim: (0-[0-9a-f]+): pcie tunnel (up|down)",
                         lambda m: self.queue.put((m.group(1), m.group(2) == "up")))

    def stop(self):
        self.queue.put(None)

    # -- background: tunnel events -> PCI hot-plug -------------------------
    def _work(self):
        while True:
            item = self.queue.get()
            if item is None:
                self.queue.task_done()
                return
            route, up = item
            try:
                self._tunnel(route, up)
            except Exception as e:      # reported by check_health()
                self.vm.bg_errors.append("tbsim %s tunnel %s: %s" % (
                    route, "up" if up else "down", e))
            finally:
                with self.cond:
                    info = self.routes.get(route)
                    if info is not None:
                        info["tunnel"] = up
                    self.cond.notify_all()
                self.queue.task_done()

    def _tunnel(self, route, up):
        info = self.routes.get(route)
        if not info or not info["port"] or not self.vm.alive():
            return
        if up and not info["device"]:
            info["device"] = self.vm.plug(info["port"], kind=info["kind"], wait=False)
        elif not up and info["device"]:
            with self.cond:
                while route in self.held:
                    self.cond.wait(0.2)
            info["gone"] = info["device"].bdfs
            info["device"] = None
            self.vm.yank(info["port"], wait=False)

    # -- API (reached as vm.tb_*) -----------------------------------------
    def load(self, security="user", iommu=1, deauth=1, boot_acl=0):
        """modprobe thunderbolt; insmod tbsim with the domain's initial settings."""
        self.vm.sh("modprobe thunderbolt")
        self.vm.load_module("tbsim", "security=%s iommu=%d deauth=%d boot_acl=%d" % (
            security, int(iommu), int(deauth), int(boot_acl)))
        self.loaded = True

    def set_domain(self, security=None, iommu=None, deauth=None, boot_acl=None):
        """Domain settings (security: none user secure dponly usbonly nopcie).
        Only while no device routers exist (the module recreates domain0)."""
        if not self.loaded:
            self.load(security=security or "user", iommu=1 if iommu is None else iommu,
                      deauth=1 if deauth is None else deauth, boot_acl=boot_acl or 0)
            return
        fields = []
        for key, val in (("security", security), ("iommu", iommu), ("deauth", deauth),
                         ("boot_acl", boot_acl)):
            if val is not None:
                fields.append("%s=%s" % (key, int(val) if key != "security" else val))
        self.vm.sh("printf '%%s' %s > %s/domain" % (shlex.quote(";".join(fields)), DEBUGFS))

    def add_router(self, route, port=None, functions="gpu", unique_id=None,
                   vendor_name="tbsim", device_name="Virtual eGPU enclosure", vendor=0x1234,
                   device=0x11e8, generation=3, speed=20, lanes=2, boot=False, nvm=None,
                   device_key=None, external=True):
        """Connects a router.  PORT ("rp1"): where its PCIe tunnel leads; the
        harness plugs FUNCTIONS (a dock device kind) there when it is
        authorized.  DEVICE_KEY (64 hex digits): a key the device already
        holds from an earlier approval (for challenge tests).  EXTERNAL:
        tbsim marks PORT external-facing as firmware would (root ports
        only: the kernel honours the flag on root ports; a port inside a
        switch is left alone); False leaves it a plain hotplug port."""
        if not self.loaded:
            self.load()
        name = route_name(route)
        fields = {"route": name, "vendor_name": vendor_name, "device_name": device_name,
                  "vendor": "0x%x" % vendor, "device": "0x%x" % device,
                  "generation": generation, "speed": speed, "lanes": lanes,
                  "boot": int(bool(boot))}
        if unique_id:
            fields["unique_id"] = unique_id
        if nvm:
            fields["nvm"] = nvm
        if device_key:
            fields["device_key"] = device_key
        if port is not None:
            p = self.vm.port(port)      # validates the name
            if external and p.parent == "pcie.0":
                fields["port"] = self.vm.bdf_of(p.id) or "0000:00:%02x.0" % p.addr
        with self.cond:
            self.routes[name] = {"port": port, "kind": functions, "device": None,
                                 "tunnel": False}
        cmd = ";".join("%s=%s" % kv for kv in fields.items())
        rc, out = self.vm.run("printf '%%s' %s > %s/add" % (shlex.quote(cmd), DEBUGFS))
        if rc != 0:
            with self.cond:
                self.routes.pop(name, None)
            raise AssertionError("tbsim add %s failed: %s" % (name, out.strip()))
        return self.path(name)

    def path(self, route):
        return "%s/%s" % (SYSFS, route_name(route))

    def attr(self, route, name):
        """A router's sysfs attribute, stripped ("0-0" for the host router,
        "domain0" for the domain)."""
        base = SYSFS + "/" + (route if route == "domain0" else route_name(route))
        return self.vm.sh("cat %s/%s" % (base, name)).strip()

    def authorize(self, route, value=1, key=None):
        """Writes KEY (if any) then VALUE to the router's "authorized" file, as
        bolt would.  Returns (rc, output): tests check refusals."""
        p = self.path(route)
        script = ""
        if key is not None:
            script += "echo %s > %s/key || exit $?\n" % (shlex.quote(key), p)
        script += "echo %s > %s/authorized" % (value, p)
        return self.vm.run(script)

    def device(self, route):
        """The dock Device the router's tunnel brought in (None while closed)."""
        return self.routes[route_name(route)]["device"]

    def wait_tunnel(self, route, up=True, timeout=30):
        """Waits until the harness has opened (closed) the router's tunnel and
        the guest sees its PCI functions (sees them gone).  Returns the Device."""
        name = route_name(route)
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.routes[name]["tunnel"] != up or (up and not self.queue.empty()):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("tunnel of %s never went %s\n%s" % (
                        name, "up" if up else "down", self.vm.console_tail(15)))
                self.cond.wait(min(left, 0.2))
        self.queue.join()
        self.vm.check_background()
        info = self.routes[name]
        if up:
            if info["device"]:
                self.vm.wait_present(info["device"].bdfs, timeout=timeout)
            return info["device"]
        self.vm.wait_gone(info.get("gone", []), timeout=timeout)
        return None

    def set_link(self, route, speed=None, lanes=None):
        """Re-trains a connected router's link: its rx/tx speed (Gb/s per
        lane) and/or lanes change and a KOBJ_CHANGE uevent follows."""
        fields = ["route=%s" % route_name(route)]
        if speed is not None:
            fields.append("speed=%d" % speed)
        if lanes is not None:
            fields.append("lanes=%d" % lanes)
        self.vm.sh("printf '%%s' '%s' > %s/link" % (";".join(fields), DEBUGFS))

    def hold_down(self, route, hold=True):
        """HOLD: a closing tunnel of ROUTE keeps its PCI functions until
        hold_down(ROUTE, False), which lets the harness yank them.  On real
        hardware the de-authorization's uevent and pciehp's removal of the
        functions race; this fixes the order where software sees the
        de-authorization while the functions are still there."""
        name = route_name(route)
        with self.cond:
            if hold:
                self.held.add(name)
            else:
                self.held.discard(name)
            self.cond.notify_all()

    def remove_router(self, route):
        """Removes the router (and routers below it) without touching PCI."""
        self.vm.sh("echo %s > %s/remove" % (route_name(route), DEBUGFS))

    def unplug(self, route, order="router-first", timeout=30):
        """Cable pull: the router (with routers below it) disappears and the
        PCI subtree behind its tunnel is yanked, ORDER "router-first" or
        "pci-first".  Returns the guest addresses that went away."""
        if order not in ("router-first", "pci-first"):
            raise ValueError("order must be router-first or pci-first")
        name = route_name(route)
        self.queue.join()               # no tunnel change still in flight
        top = _route_int(name)
        infos = [i for r, i in self.routes.items() if _is_below(_route_int(r), top)]
        ports = [i["port"] for i in infos if i["device"]]
        bdfs = [b for i in infos if i["device"] for b in i["device"].bdfs]
        if order == "router-first":
            self.remove_router(name)
        for port in ports:
            self.vm.yank(port, wait=False)
        if order == "pci-first":
            self.remove_router(name)
        with self.cond:
            for r in [r for r in self.routes if _is_below(_route_int(r), top)]:
                del self.routes[r]
        self.vm.wait_gone(bdfs, timeout=timeout)
        self.vm.wait_for("! test -e %s" % self.path(name), timeout=timeout)
        return bdfs
