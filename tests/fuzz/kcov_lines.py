# SPDX-License-Identifier: GPL-2.0
"""Maps KCOV program counters of egpuhp.ko to kmod/ source lines, and lists
the module's allocation call sites (tests/fuzz and tests/fault share it).

KCOV records the return address of each __sanitizer_cov_trace_pc() call the
compiler put at the start of a basic block.  The module the guest loads is
built without debug information (the debug kernel has no DEBUG_INFO, to keep
its build short), so the lines come from a second build of the same sources
with -g: GCC's code does not depend on -g, and line_table() refuses a -g
build whose .text differs from the loaded one byte for byte.
"""

import os
import re
import shutil
import subprocess

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KERNELS_SH = os.path.join(TOP, "tests", "vm", "kernels.sh")


class CoverageError(Exception):
    pass


def _run(cmd, **kw):
    res = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if res.returncode != 0:
        raise CoverageError("%s failed:\n%s%s" % (" ".join(cmd), res.stdout[-2000:],
                                                  res.stderr[-2000:]))
    return res.stdout


def section_size(ko, name):
    """Size of section NAME of an ELF object (0 when absent)."""
    for line in _run(["readelf", "-SW", ko]).splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)", line)
        if m and m.group(1) == name:
            return int(m.group(2), 16)
    return 0


def _text_bytes(ko):
    out = ko + ".text.bin"
    _run(["objcopy", "-O", "binary", "--only-section=.text", ko, out])
    with open(out, "rb") as f:
        data = f.read()
    os.unlink(out)
    return data


def debug_build(flavour):
    """egpuhp.ko of FLAVOUR built again with -g; returns its path."""
    src = os.path.join(TOP, "build", "kernels", flavour, "src")
    loaded = os.path.join(TOP, "build", "kernels", flavour, "egpuhp.ko")
    if not os.path.exists(loaded):
        raise CoverageError("no %s (run tests/vm/build-modules.sh %s)" % (loaded, flavour))
    work = os.path.join(TOP, "build", "fuzz", flavour + "-g")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    for part in ("kmod", "include"):
        shutil.copytree(os.path.join(src, part), os.path.join(work, part),
                        ignore=shutil.ignore_patterns("*.o", "*.ko", ".*.cmd", "*.mod*"))
    shutil.copy(os.path.join(src, "Kbuild"), work)
    headers = _run([KERNELS_SH, "path", flavour, "headers"]).strip()
    _run(["make", "-s", "-C", headers, "M=" + work, "KCFLAGS=-g", "modules"])
    ko = os.path.join(work, "kmod", "egpuhp.ko")
    if _text_bytes(ko) != _text_bytes(loaded):
        raise CoverageError("the -g build's .text differs from the loaded egpuhp.ko")
    return ko


def cov_sites(ko):
    """.text offsets KCOV can report: the return address of every
    __sanitizer_cov_trace_pc call."""
    out = _run(["objdump", "-dr", "--no-show-raw-insn", "-j", ".text", ko])
    sites, insns, pending = [], [], False
    for line in out.splitlines():
        m = re.match(r"\s+([0-9a-f]+):\s+(\S.*)$", line)
        if not m:
            continue
        addr, rest = int(m.group(1), 16), m.group(2)
        if rest.startswith("R_X86_64"):
            if "__sanitizer_cov_trace_pc" in rest:
                pending = True
            continue
        if pending:
            sites.append(addr)      # the instruction after the call
            pending = False
        insns.append(addr)
    return sites


# What a call from egpuhp's code may allocate through, by callee:
#   the allocators failslab and fail_page_alloc fail directly;
ALLOCATORS = (r"__kmalloc\w*|kmalloc\w*|kzalloc\w*|kmem_cache_alloc\w*|__alloc_skb|"
              r"alloc_skb\w*|kmemdup\w*|kstrdup\w*|krealloc\w*|kvmalloc\w*|"
              r"__kvmalloc\w*|alloc_pages\w*|get_free_pages\w*|__get_free_pages|"
              r"netlink_alloc\w*|kasprintf|kvasprintf|devm_kmalloc|__kmalloc_cache\w*")
#   kernel interfaces that allocate inside (their first allocation fails);
ALLOCATING_APIS = (r"alloc_workqueue\w*|genl_register_family|xa_store|"
                   r"register_ftrace_function|sysfs_update_group")
#   egpuhp's own helpers that allocate (a call of one is a path of its own:
#   the caller's error handling is what the failure tests).
ALLOCATING_HELPERS = r"egpuhp_nl_reply_new|egpuhp_dev_alloc"


def alloc_call_sites(ko):
    """Every call from egpuhp's .text or .init.text that may allocate: a
    list of dicts with "site" ("func+0xoff" of the return address, as a
    stack trace names that frame), "section", "offset" (of the return
    address in that section), "callee" and "kind" (allocator, api or
    helper).  Calls only (PLT32): a mov of kmalloc_caches is no allocation."""
    kinds = [("allocator", re.compile(r"R_X86_64_PLT32\s+(%s)[-+]" % ALLOCATORS)),
             ("api", re.compile(r"R_X86_64_PLT32\s+(%s)[-+]" % ALLOCATING_APIS)),
             ("helper", re.compile(r"R_X86_64_PLT32\s+(%s)[-+]" % ALLOCATING_HELPERS))]
    out = _run(["objdump", "-dr", "--no-show-raw-insn", "-j", ".text", "-j", ".init.text", ko])
    section, func, func_addr, sites, pending = None, None, 0, [], None
    for line in out.splitlines():
        m = re.match(r"Disassembly of section (\S+):", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"([0-9a-f]+) <([^>]+)>:$", line)
        if m:
            func, func_addr = m.group(2), int(m.group(1), 16)
            continue
        m = re.match(r"\s+([0-9a-f]+):\s+(\S.*)$", line)
        if not m or func is None:
            continue
        addr, rest = int(m.group(1), 16), m.group(2)
        if rest.startswith("R_X86_64"):
            for kind, rx in kinds:
                a = rx.search(rest)
                if a:
                    pending = (kind, a.group(1))
                    break
            continue
        if pending:
            sites.append({"site": "%s+0x%x" % (func, addr - func_addr), "section": section,
                          "offset": addr, "callee": pending[1], "kind": pending[0]})
            pending = None
    return sites


def alloc_sites(ko):
    """Return addresses ("func+0xoff") of calls from egpuhp's code into an
    allocator that failslab or fail_page_alloc can fail."""
    return set(s["site"] for s in alloc_call_sites(ko) if s["kind"] == "allocator")


def line_table(ko_g, offsets):
    """{offset: (file, line)} for .text OFFSETS, kmod/ files only."""
    if not offsets:
        return {}
    out = _run(["addr2line", "-e", ko_g, "-j", ".text"] + ["0x%x" % o for o in offsets])
    table = {}
    for off, loc in zip(offsets, out.splitlines()):
        m = re.match(r"(.*?/kmod/[^/:]+\.c):(\d+)", loc)
        if m:
            table[off] = (os.path.basename(m.group(1)), int(m.group(2)))
    return table


def coverage(flavour, hit_offsets):
    """Line coverage of kmod/*.c: dict with totals, percent and per-file
    figures.  HIT_OFFSETS: .text offsets the guest's KCOV saw."""
    ko_g = debug_build(flavour)
    sites = cov_sites(ko_g)
    all_lines = line_table(ko_g, sites)
    instrumented = set(all_lines.values())
    hit = set(all_lines[o] for o in hit_offsets if o in all_lines)
    # A PC KCOV saw that is not a call site would mean the mapping is off.
    stray = [o for o in hit_offsets if o not in set(sites)]
    per_file = {}
    for f, ln in instrumented:
        d = per_file.setdefault(f, {"lines": 0, "hit": 0})
        d["lines"] += 1
        d["hit"] += (f, ln) in hit
    return {"lines": len(instrumented), "hit": len(hit),
            "percent": round(100.0 * len(hit) / max(1, len(instrumented)), 1),
            "stray_pcs": len(stray), "per_file": per_file}
