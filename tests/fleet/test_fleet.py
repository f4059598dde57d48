#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Fleet health in the virtual dock (issue 15): egpud's node_exporter
textfile and "egpuctl metrics", read by the real tools, and "egpuctl
health" run the way node-problem-detector runs a custom plugin.

One boot per kernel (the dock's switch enclosure with a display-class GPU,
simulated Thunderbolt routers on rp1):

  - egpud keeps metrics-textfile up to date: a tbsim router is authorized,
    its eGPU hot-added and bound; the file (copied out of the guest) passes
    Debian's `promtool check metrics`, and Debian's
    `prometheus-node-exporter`, reading the directory, serves it on
    loopback (scraped over HTTP here); `egpuctl metrics` prints the same
    families; AER counters come from the functions' real
    aer_dev_correctable files (the enclosure's switch ports have them);
  - health: 0 with the eGPUs ready; the watchdog finds the enclosure GPU
    lost (its switch port stops forwarding config cycles) -> 1 "lost";
    answering again -> 0; the tbsim eGPU yanked and its router unplugged:
    counted as surprise removals, reported absent (exit 0, not named),
    not as an unhealthy device; re-plugged -> named and ready again;
  - egpud stopped: health exits 2 (unknown) with its message on stdout,
    and the textfile says egpuhp_egpud_up 0;
  - contrib/node-problem-detector/egpuhp-health.json is a custom-plugin-monitor
    config whose rule runs exactly that command.

node-problem-detector itself is not packaged by Debian: its side of the
protocol (exit 0 OK, 1 NonOK, other Unknown; the message is stdout, cut to
max_output_length) is what this test holds "egpuctl health" to.
No wall-clock assertions: every wait polls for a state.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "vm"))
sys.path.insert(0, os.path.join(TOP, "tests", "user"))

from dock import main, vmtest  # noqa: E402
from test_user import Sim, wait_driver  # noqa: E402

PROM_DIR = "/var/lib/prometheus/node-exporter"
PROM = PROM_DIR + "/egpuhp.prom"
NPD_CONFIG = os.path.join(TOP, "contrib", "node-problem-detector", "egpuhp-health.json")
UID1 = "c6030000-0060-6c0e-8362-a46b4a7a2b05"

CONF = """[daemon]
load-module = no
metrics-textfile = %s
[authorization]
policy = auto
[driver-rule]
ids = 1234:1111
driver = pci-stub
""" % PROM

DOCK = dict(ports=2, enclosure="vga")


def sample(text, name, **labels):
    """Value of the sample NAME{LABELS...} in exposition TEXT (labels given
    must match, others may be there too), or None."""
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


def egpud_running(vm):
    return vm.run("kill -0 $(cat /tmp/egpud.pid 2>/dev/null) 2>/dev/null")[0] == 0


def start_egpud(vm):
    if egpud_running(vm):
        return
    vm.sh("mkdir -p /etc/egpuhp %s" % PROM_DIR)
    vm.write_file("/etc/egpuhp/egpud.conf", CONF)
    if vm.run("test -d /sys/module/thunderbolt")[0] != 0:
        vm.load_module("thunderbolt")
    if vm.run("test -d /sys/module/tbsim")[0] != 0:
        vm.load_module("tbsim")
    if vm.run("test -d /sys/module/egpuhp")[0] != 0:
        vm.load_egpuhp("track_hotplug=1 watchdog_ms=50")
    vm.sh("egpud -d >> /tmp/egpud.log 2>&1 & echo $! > /tmp/egpud.pid")
    vm.wait_for("egpuctl policy >/dev/null 2>&1", timeout=20)


def metrics_file(vm, cond, timeout=20):
    """Polls the guest's textfile until COND(text) holds; returns the text."""
    deadline = time.monotonic() + timeout
    text = ""
    while True:
        rc, text = vm.run("cat %s" % PROM)
        if rc == 0 and cond(text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError("textfile never reached the state; last:\n%s\negpud log:\n%s" % (
                text, vm.run("tail -20 /tmp/egpud.log")[1]))
        time.sleep(0.2)


def health(vm):
    """(exit status, stdout) of `egpuctl health` as node-problem-detector runs it."""
    rc, out = vm.run("egpuctl health 2>/dev/null")
    return rc, out.strip()


def wait_health(vm, want_rc, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        rc, out = health(vm)
        if rc == want_rc:
            return out
        if time.monotonic() > deadline:
            raise AssertionError("egpuctl health never exited %d; last %d: %s" % (want_rc, rc, out))
        time.sleep(0.2)


def plug_egpu(vm, sim, route=1):
    """A tbsim router carrying an eGPU below rp1: authorized by policy auto,
    then its GPU + audio hot-added and bound by the driver rule."""
    mark = vm.console_mark()
    name = sim.add(route, UID1)
    vm.wait_console(r"tbsim: %s: pcie tunnel up" % name, since=mark, timeout=20)
    dev = vm.plug("rp1", kind="vga")
    assert wait_driver(vm, dev.bdfs, "pci-stub"), vm.sh("tail -20 /tmp/egpud.log")
    return name, dev


# -- host side: the real Prometheus tools --------------------------------------

def promtool_check(text):
    res = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                         text=True)
    return res.returncode, res.stdout + res.stderr


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def node_exporter_scrape(text):
    """Serve TEXT as node_exporter's textfile collector would find it on
    this machine, scrape /metrics once, stop it.  Returns the scrape."""
    d = tempfile.mkdtemp(prefix="egpuhp-textfile-")
    try:
        with open(os.path.join(d, "egpuhp.prom"), "w") as f:
            f.write(text)
        port = free_port()
        proc = subprocess.Popen(
            ["prometheus-node-exporter", "--collector.disable-defaults",
             "--collector.textfile", "--collector.textfile.directory=" + d,
             "--web.listen-address=127.0.0.1:%d" % port],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                                timeout=5) as r:
                        return r.read().decode()
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError("node_exporter did not serve: %s" %
                                             proc.stderr.read() if proc.poll() is not None
                                             else "no answer")
                    time.sleep(0.1)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    finally:
        shutil.rmtree(d)


# -- the tests -------------------------------------------------------------------

@vmtest(boot="fleet", timeout=240, **DOCK)
def test_textfile_promtool_node_exporter(vm):
    start_egpud(vm)
    sim = Sim(vm)
    sim.domain("user", iommu=1)
    name, dev = plug_egpu(vm, sim)
    gpu = dev.bdfs[0]
    text = metrics_file(vm, lambda t: sample(t, "egpuhp_pci_function_info", pci=gpu,
                                             driver="pci-stub") == 1)
    # what egpud knows, as the file says it
    assert sample(text, "egpuhp_egpud_up") == 1, text
    assert sample(text, "egpuhp_module_connected") == 1, text
    assert sample(text, "egpuhp_watchdog_period_seconds") == 0.05, text
    assert sample(text, "egpuhp_router_present", unique_id=UID1) == 1, text
    assert sample(text, "egpuhp_router_authorized", unique_id=UID1) == 1, text
    assert sample(text, "egpuhp_router_info", unique_id=UID1, router=name,
                  vendor_name="Razer", device_name="Core X") == 1, text
    assert sample(text, "egpuhp_pci_function_info", pci=gpu, router_unique_id=UID1,
                  gpu="true", vendor="1234", device="1111") == 1, text
    assert sample(text, "egpuhp_pci_present", pci=gpu) == 1, text
    assert sample(text, "egpuhp_pci_link_width_lanes", pci=gpu) is not None, text
    # AER: the enclosure's switch ports report it; the figure is sysfs' own
    enc_dp = vm.bdf_of("enc-dp")
    want = vm.sh("sed -n 's/^TOTAL_ERR_COR //p' /sys/bus/pci/devices/%s/aer_dev_correctable"
                 % enc_dp).strip()
    assert sample(text, "egpuhp_pci_aer_correctable_errors_total", pci=enc_dp) == int(want), text
    assert sample(text, "egpuhp_pci_aer_correctable_errors_total", pci=gpu) is None, text
    # the real tools
    rc, out = promtool_check(text)
    assert rc == 0, "promtool check metrics: rc %d\n%s\n%s" % (rc, out, text)
    scraped = node_exporter_scrape(text)
    assert sample(scraped, "node_textfile_scrape_error") == 0, scraped[-3000:]
    assert sample(scraped, "egpuhp_router_present", unique_id=UID1) == 1, scraped[-3000:]
    assert sample(scraped, "egpuhp_pci_function_info", pci=gpu, driver="pci-stub") == 1
    assert "# TYPE egpuhp_pci_removals_total counter" in scraped, scraped[-3000:]
    # egpuctl metrics prints the same families (from egpud, over its socket)
    live = vm.sh("egpuctl metrics")
    fam = lambda t: sorted(set(re.findall(r"^# TYPE (\S+)", t, re.M)))  # noqa: E731
    assert fam(live) == fam(text), (fam(live), fam(text))
    rc, out = promtool_check(live)
    assert rc == 0, out
    # nobody's file but egpud's: written 0644, no temporary file left behind
    assert vm.sh("stat -c %%a %s" % PROM).strip() == "644"
    assert vm.sh("ls -A %s" % PROM_DIR).split() == ["egpuhp.prom"]


@vmtest(boot="fleet", timeout=240, **DOCK)
def test_health_lost_absent_replugged(vm):
    start_egpud(vm)
    sim = Sim(vm)
    if vm.run("test -e /sys/bus/thunderbolt/devices/0-1")[0] != 0:
        sim.domain("user", iommu=1)
        plug_egpu(vm, sim)
    gpu = vm.port("rp1").devices[0].bdfs[0]
    enc_gpu = vm.bdf_of("enc-gpu")
    out = wait_health(vm, 0)
    assert out.startswith("ok: 2 eGPUs ready:") and gpu in out and enc_gpu in out, out

    # the enclosure's GPU falls off the bus: its switch port stops
    # forwarding config cycles; the module's watchdog reports it lost
    enc_dp = vm.bdf_of("enc-dp")
    sec = vm.sh("setpci -s %s SECONDARY_BUS" % enc_dp).strip()
    sub = vm.sh("setpci -s %s SUBORDINATE_BUS" % enc_dp).strip()
    vm.sh("setpci -s %s SUBORDINATE_BUS=fe SECONDARY_BUS=fe" % enc_dp)
    try:
        out = wait_health(vm, 1)
        assert out == "problem: %s lost (not answering)" % enc_gpu, out
        text = metrics_file(vm, lambda t: sample(t, "egpuhp_pci_present", pci=enc_gpu) == 0)
        assert sample(text, "egpuhp_pci_lost_total") >= 1, text
        rc, js = vm.run("egpuctl --json health")
        env = json.loads(js)
        assert rc == 1 and env["ok"] is False and env["status"] == 1, js
        assert env["data"]["healthy"] is False, js
        states = {g["pci"]: g["state"] for g in env["data"]["gpus"]}
        assert states == {enc_gpu: "lost", gpu: "ready"}, js
    finally:
        vm.sh("setpci -s %s SECONDARY_BUS=%s SUBORDINATE_BUS=%s" % (enc_dp, sec, sub))
    wait_health(vm, 0)

    # the eGPU on rp1 is pulled and its router unplugged: absent, not unhealthy
    text0 = metrics_file(vm, lambda t: True)
    before = sample(text0, "egpuhp_pci_removals_total", kind="surprise")
    vm.yank("rp1")
    sim.remove(1)
    out = wait_health(vm, 0)
    text = metrics_file(vm, lambda t: sample(t, "egpuhp_router_present", unique_id=UID1) is None
                        and sample(t, "egpuhp_pci_function_info", pci=gpu) is None)
    assert out == "ok: 1 eGPU ready: %s pci-stub" % enc_gpu, out
    assert sample(text, "egpuhp_pci_removals_total", kind="surprise") >= before + 2, text
    rc, out = promtool_check(text)
    assert rc == 0, out

    # re-plugged: named and ready again
    _, dev = plug_egpu(vm, sim)
    out = wait_health(vm, 0)
    assert out.startswith("ok: 2 eGPUs ready:") and dev.bdfs[0] in out, out


@vmtest(boot="fleet", timeout=180, **DOCK)
def test_health_unknown_without_egpud_and_npd_config(vm):
    start_egpud(vm)
    # the contrib config runs "egpuctl health" as node-problem-detector would
    with open(NPD_CONFIG) as f:
        cfg = json.load(f)
    assert cfg["plugin"] == "custom", cfg
    rule = [r for r in cfg["rules"] if r["type"] == "permanent"][0]
    assert rule["condition"] in [c["type"] for c in cfg["conditions"]], cfg
    cmd = " ".join([rule["path"].replace("/usr/bin/", "")] + rule.get("args", []))
    limit = cfg["pluginConfig"]["max_output_length"]
    rc, out = vm.run("%s 2>/dev/null" % cmd)
    assert rc == 0 and out.strip().startswith("ok:"), (cmd, rc, out)
    assert limit >= len("ok: no eGPU connected"), cfg

    pid = vm.sh("cat /tmp/egpud.pid").strip()
    vm.sh("kill %s" % pid)
    vm.wait_for("! kill -0 %s 2>/dev/null" % pid, timeout=20)
    rc, out = health(vm)
    assert rc == 2 and out.startswith("unknown: ") and "cannot reach egpud" in out, (rc, out)
    text = vm.read_file(PROM)
    assert sample(text, "egpuhp_egpud_up") == 0, text
    assert sample(text, "egpuhp_router_present", unique_id=UID1) is None, text
    rc, out = promtool_check(text)
    assert rc == 0, out
    log = vm.sh("cat /tmp/egpud.log")
    assert "metrics-textfile" not in log, log[-2000:]   # no write ever failed


if __name__ == "__main__":
    main()
