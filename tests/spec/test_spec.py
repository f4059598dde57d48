#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""docs/egpuhp.yaml against the kernel's YNL tools, our uapi header and the
policies the running module reports.  egpuhp-test: once

  1. the YNL tools (Debian's linux-source-6.12) are there
  2. the spec validates against genetlink-legacy.yaml (jsonschema)
  3. ynl-gen-c renders --mode uapi --header, --mode kernel --header/--source
  4. the rendered kernel policies compile against the 6.12 headers (W=1)
  5. header equality: every enumerator and #define (name, value, enum it
     belongs to) of YNL's uapi header is in include/uapi/linux/egpuhp.h and
     vice versa; the header's X-macro tables name the spec's entries
  6. in the dock (6.12): the family's version, multicast groups, operations
     and their flags (CTRL_CMD_GETFAMILY) and every operation's do/dump
     request policy (CTRL_CMD_GETPOLICY: types, ranges, masks, string
     lengths, nested policies) equal what the spec declares
  7. in the same guest, a subscriber that is not ours (the kernel's YNL
     library with only the spec; Debian's python3 brought into the guest):
     dumps of devices and routers, an unprivileged user refused, a cable
     pull's surprise pci-remove events with their attributes

Usage: test_spec.py [--kernel 6.12] [--no-vm]   (TAP on stdout)
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "kmod"))
import ynltools  # noqa: E402
from kmodlib import Tap  # noqa: E402  (also puts tests/vm on the path)

HEADER = os.path.join(TOP, "include", "uapi", "linux", "egpuhp.h")
WORK = os.path.join(TOP, "build", "spec")


# ---- header parsing and values --------------------------------------------

def header_names(text):
    """name -> enum tag ("" for a #define or an anonymous enum), plus the
    function-like macros, of a C header."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = text.replace("\\\n", " ")
    names, macros = {}, []
    for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+(\w+)(\(?)", text, flags=re.M):
        if m.group(2):
            macros.append(m.group(1))
        else:
            names[m.group(1)] = ""
    body = re.sub(r"^[ \t]*#[^\n]*", "", text, flags=re.M)
    for m in re.finditer(r"\benum\s*(\w*)\s*\{(.*?)\}", body, flags=re.S):
        for item in m.group(2).split(","):
            item = item.strip()
            if item:
                names[re.match(r"\w+", item).group(0)] = m.group(1)
    return names, macros


def header_values(include, names, xmacros=(), cflags=()):
    """name -> value as the compiler sees it (int, or "string"), and the
    (macro, value, text) rows of the X-macro tables XMACROS."""
    prog = ['#include <stdio.h>', '#include "%s"' % include,
            'static void pi(const char *n, long long v) { printf("v %s %lld\\n", n, v); }',
            'static void ps(const char *n, const char *v) { printf("s %s %s\\n", n, v); }',
            '#define P(n) _Generic((n), char *: ps, const char *: ps, default: pi)(#n, n)',
            '#define XROW(v, s) printf("x %s %lld %s\\n", xname, (long long)(v), s);',
            'int main(void) {', 'const char *xname = "";', '(void)xname;']
    prog += ["P(%s);" % n for n in sorted(names) if not n.startswith("_UAPI")]
    prog += ['xname = "%s"; %s(XROW)' % (x, x) for x in xmacros]
    prog += ["return 0; }"]
    d = tempfile.mkdtemp(dir=WORK)
    src, exe = os.path.join(d, "values.c"), os.path.join(d, "values")
    with open(src, "w") as f:
        f.write("\n".join(prog) + "\n")
    res = subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Werror", *cflags, "-o", exe, src],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError("compiling the values of %s failed:\n%s" % (include, res.stderr))
    out = subprocess.run([exe], capture_output=True, text=True, check=True).stdout
    vals, rows = {}, []
    for line in out.splitlines():
        kind, rest = line.split(" ", 1)
        if kind == "x":
            x, v, s = rest.split(" ", 2)
            rows.append((x, int(v), s))
        else:
            n, v = rest.split(" ", 1)
            vals[n] = int(v) if kind == "v" else v
    shutil.rmtree(d)
    return vals, rows


def header_diff(ynl_h, ours_h):
    """Lines naming every difference between YNL's header and ours."""
    with open(ynl_h) as f:
        ynl_names, _ = header_names(f.read())
    with open(ours_h) as f:
        our_names, our_macros = header_names(f.read())
    ynl_vals, _ = header_values(ynl_h, ynl_names)
    our_vals, rows = header_values(ours_h, our_names, our_macros)
    diff = []
    for n in sorted(set(ynl_names) - set(our_names)):
        diff.append("only in YNL's header: %s = %s" % (n, ynl_vals.get(n, "")))
    for n in sorted(set(our_names) - set(ynl_names)):
        diff.append("only in include/uapi/linux/egpuhp.h: %s = %s" % (n, our_vals.get(n, "")))
    for n in sorted(set(ynl_names) & set(our_names)):
        if ynl_vals.get(n) != our_vals.get(n):
            diff.append("%s: YNL %s, ours %s" % (n, ynl_vals.get(n), our_vals.get(n)))
        if ynl_names[n] != our_names[n]:
            diff.append("%s: in %s in YNL's header, in %s in ours" % (
                n, "enum " + ynl_names[n] if ynl_names[n] else "no named enum",
                "enum " + our_names[n] if our_names[n] else "no named enum"))
    return diff, rows, our_vals


def xmacro_diff(rows, spec):
    """The header's quirk text tables against the spec's enum entries."""
    import_defs = {d["name"]: d for d in spec["definitions"]}

    def entries(name):
        return [e if isinstance(e, str) else e["name"] for e in import_defs[name]["entries"]]
    diff = []
    actions = [(v, s) for x, v, s in rows if x == "EGPUHP_QUIRK_ACTIONS"]
    want = [(1 << i, e.replace("-", "_")) for i, e in enumerate(entries("quirk-actions"))]
    if actions != want:
        diff.append("EGPUHP_QUIRK_ACTIONS %s, spec quirk-actions %s" % (actions, want))
    methods = entries("reset-method")
    for x, v, s in rows:
        if x == "EGPUHP_QUIRK_RESET_METHODS" and (v >= len(methods) or
                                                  methods[v].replace("-", "_") != s):
            diff.append("EGPUHP_QUIRK_RESET_METHODS row (%d, %s): spec reset-method %d is %s"
                        % (v, s, v, methods[v] if v < len(methods) else "absent"))
    known = {"EGPUHP_QUIRK_ACTIONS", "EGPUHP_QUIRK_RESET_METHODS"}
    for x in sorted({x for x, _, _ in rows} - known):
        diff.append("function-like macro %s: no check against the spec" % x)
    return diff


# ---- kernel build of the rendered policies ----------------------------------

def kbuild(tap, gen_dir, kernel):
    res = subprocess.run([os.path.join(TOP, "tests", "vm", "kernels.sh"), "path", kernel,
                          "headers"], capture_output=True, text=True)
    kdir = res.stdout.strip()
    if res.returncode != 0 or not os.path.isdir(kdir):
        tap.check(False, "YNL kernel policies compile against %s headers" % kernel,
                  "no %s headers tree (tests/vm/kernels.sh fetch %s): %s" % (kernel, kernel,
                                                                             res.stderr))
        return
    d = os.path.join(WORK, "kbuild")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "include", "uapi", "linux"))
    shutil.copy(os.path.join(gen_dir, "egpuhp-nl.c"), d)
    shutil.copy(os.path.join(gen_dir, "egpuhp-nl.h"), d)
    shutil.copy(os.path.join(gen_dir, "egpuhp.h"), os.path.join(d, "include", "uapi", "linux"))
    with open(os.path.join(d, "Kbuild"), "w") as f:
        f.write("obj-m := egpuhp-nl.o\nccflags-y := -I$(src)/include\n")
    # Not W=1: for a genetlink-legacy family ynl-gen-c 6.12 renders no
    # family struct, so its static multicast group table is unused
    # (-Wunused-const-variable, a W=1 warning of the generator's output).
    res = subprocess.run(["nice", "-n", "10", "make", "-C", kdir, "M=" + d, "egpuhp-nl.o"],
                         capture_output=True, text=True)
    out = res.stdout + res.stderr
    findings = [l for l in out.splitlines() if re.search(r"warning:|error:|Error \d", l)]
    tap.check(res.returncode == 0 and not findings and
              os.path.exists(os.path.join(d, "egpuhp-nl.o")),
              "YNL kernel policies compile against %s headers (no warnings)" % kernel, out)


# ---- the running module's policies ----------------------------------------

TYPE_KEYS = ("type", "min", "max", "mask", "min-len", "max-len")


def parse_policy_dump(text):
    """egpuhp-genl-policy output -> (family info, ops, op policies, policies)."""
    fam = {"mcgrps": [], "ops": {}}
    oppol, pols = {}, {}
    for line in text.splitlines():
        w = line.split()
        if not w:
            continue
        if w[0] == "family":
            fam["name"], fam["version"] = w[1], int(w[3])
        elif w[0] == "mcgrp":
            fam["mcgrps"].append(w[1])
        elif w[0] == "op":
            fam["ops"][int(w[1])] = int(w[3], 16)
        elif w[0] == "oppolicy":
            oppol[int(w[1])] = {"do": int(w[3]), "dump": int(w[5])}
        elif w[0] == "attr":
            desc = {"type": w[4]}
            rest = w[5:]
            i = 0
            while i < len(rest):
                key = rest[i]
                if key == "policy":
                    desc["policy"], desc["maxtype"] = int(rest[i + 1]), int(rest[i + 3])
                    i += 4
                    continue
                desc[key] = int(rest[i + 1], 0)
                i += 2
            pols.setdefault(int(w[1]), {})[w[2]] = desc
    return fam, oppol, pols


def kernel_tree(pols, idx, depth=0):
    """Policy IDX with its nested policies resolved, in spec_model's form."""
    out = {}
    for attr, d in pols.get(idx, {}).items():
        e = {k: d[k] for k in TYPE_KEYS if k in d}
        if "policy" in d and depth < 8:
            e["nested"] = kernel_tree(pols, d["policy"], depth + 1)
        out[attr] = e
    return out


def tree_diff(path, spec, kern):
    diff = []
    for a in sorted(set(spec) | set(kern), key=int):
        s, k = spec.get(a), kern.get(a)
        where = "%s.%s" % (path, s["name"] if s else a)
        if s is None:
            diff.append("%s: the kernel accepts attribute %s (%s), the spec does not"
                        % (where, a, k))
            continue
        if k is None:
            diff.append("%s: in the spec (%s), the kernel refuses it" % (where, s))
            continue
        for key in TYPE_KEYS:
            if s.get(key) != k.get(key):
                diff.append("%s: %s: spec %s, kernel %s" % (where, key, s.get(key), k.get(key)))
        if "nested" in s or "nested" in k:
            diff += tree_diff(where, s.get("nested", {}), k.get("nested", {}))
    return diff


GENL_ADMIN_PERM, GENL_CMD_CAP_DO, GENL_CMD_CAP_DUMP, GENL_UNS_ADMIN_PERM = 1, 2, 4, 0x10


def policy_diff(model, text):
    fam, oppol, pols = parse_policy_dump(text)
    diff = []
    if fam.get("name") != model["name"] or fam.get("version") != model["version"]:
        diff.append("family %s version %s, spec %s version %s" % (
            fam.get("name"), fam.get("version"), model["name"], model["version"]))
    if sorted(fam["mcgrps"]) != sorted(model["mcgrps"]):
        diff.append("multicast groups: kernel %s, spec %s" % (fam["mcgrps"], model["mcgrps"]))
    calls = {op["value"]: (name, op) for name, op in model["ops"].items()
             if not op["async"] and not op["reserved"]}
    for cmd in sorted(set(calls) | set(fam["ops"])):
        if cmd not in calls:
            diff.append("kernel op %d is not in the spec" % cmd)
            continue
        name, op = calls[cmd]
        if cmd not in fam["ops"]:
            diff.append("%s (%d): in the spec, not in the kernel" % (name, cmd))
            continue
        flags = fam["ops"][cmd]
        want = {"admin-perm": GENL_ADMIN_PERM, "uns-admin-perm": GENL_UNS_ADMIN_PERM}
        for f, bit in want.items():
            if (f in op["flags"]) != bool(flags & bit):
                diff.append("%s: %s: spec %s, kernel %s" % (name, f, f in op["flags"],
                                                            bool(flags & bit)))
        for mode, bit in (("do", GENL_CMD_CAP_DO), ("dump", GENL_CMD_CAP_DUMP)):
            if (mode in op["modes"]) != bool(flags & bit):
                diff.append("%s: %s: spec %s, kernel %s" % (name, mode, mode in op["modes"],
                                                            bool(flags & bit)))
            if mode not in op["modes"]:
                continue
            idx = oppol.get(cmd, {}).get(mode, -1)
            kern = kernel_tree(pols, idx) if idx >= 0 else {}
            diff += tree_diff("%s %s" % (name, mode), op["modes"][mode], kern)
    return diff


GUEST_SUBSCRIBER = ynltools.guest_subscriber_command("python3 -S -I")


def subscriber_checks(t, vm):
    """YNL's library, given only the spec, in the guest: a cable pull's
    surprise REMOVE, dumps of devices and routers, an unprivileged user."""
    import ynl_subscriber
    k = vm.kernel
    vm.tb_load()
    vm.tb_add_router(1, port="rp1", functions="gpu")
    pid = ynltools.guest_listen(vm, GUEST_SUBSCRIBER)
    vm.tb_authorize(1)
    dev = vm.tb_wait_tunnel(1)

    state = json.loads(vm.sh("%s dump" % GUEST_SUBSCRIBER, timeout=300))
    bad = ynl_subscriber.dump_problems(state, "0-1", dev.bdfs)
    t.check(not bad, "[%s] YNL subscriber: get-dev and get-router dumps show the enclosure "
            "and its router" % k, "\n".join(bad) + "\n" + json.dumps(state))

    res = json.loads(vm.sh("%s unprivileged --uid 65534" % GUEST_SUBSCRIBER, timeout=300))
    bad = ynl_subscriber.unprivileged_problems(res)
    t.check(not bad, "[%s] YNL subscriber as uid 65534: set-config refused (EPERM%s), get-dev "
            "of a bad name refused with the module's extack message"
            % (k, "" if res.get("admin-perm") else " and a reason"), "\n".join(bad))
    t.note("unprivileged set-config: %s" % res.get("set-config"))

    bdfs = vm.tb_unplug(1)
    events, err = ynltools.guest_listened(vm, pid, len(bdfs))
    bad = ynl_subscriber.cable_pull_problems(events, bdfs, "0-1")
    t.check(not bad,
            "[%s] YNL subscriber on \"events\": the cable pull's surprise pci-remove of "
            "every function, with its attributes, and the router-remove" % k,
            "\n".join(bad) + "\n" + json.dumps(events, indent=1)[-3000:] + "\n" + err)


def vm_checks(t, model, kernel):
    from dock import Dock
    with Dock(kernel=kernel, ports=1, extra_files=ynltools.guest_files(python=True)) as vm:
        vm.load_egpuhp()
        text = vm.sh("egpuhp-genl-policy egpuhp")
        diff = policy_diff(model, text)
        t.check(not diff, "[%s] ops, flags, groups and request policies of the running "
                "module equal the spec" % kernel, "\n".join(diff) + "\n" + text)
        try:
            subscriber_checks(t, vm)
        except Exception:
            t.check(False, "[%s] YNL subscriber checks ran to the end" % kernel,
                    traceback.format_exc())
        problems = vm.console_problems() + [p for p in [vm.taint_problems()] if p]
        t.check(not problems, "[%s] kernel log clean (no WARN/BUG/Oops, no new taint)"
                % kernel, "\n".join(problems))


# ---- main ---------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default="6.12")
    ap.add_argument("--no-vm", action="store_true", help="skip the running-kernel comparison")
    args = ap.parse_args(argv)
    t = Tap("spec")
    os.makedirs(WORK, exist_ok=True)
    try:
        ynltools.ensure()
    except ynltools.ToolsMissing as e:
        t.check(False, "YNL tools (tools/net/ynl of linux-source-6.12) found", str(e))
        print("1..%d" % t.n)
        return 1
    t.check(True, "YNL tools (tools/net/ynl of linux-source-6.12) found")

    res = subprocess.run([ynltools.PYTHON, "-c",
                          "import sys, yaml, jsonschema; "
                          "jsonschema.validate(yaml.safe_load(open(sys.argv[1])), "
                          "yaml.safe_load(open(sys.argv[2])))", ynltools.SPEC, ynltools.SCHEMA],
                         capture_output=True, text=True)
    t.check(res.returncode == 0, "docs/egpuhp.yaml validates against genetlink-legacy.yaml",
            res.stderr)

    gen = os.path.join(WORK, "gen")
    shutil.rmtree(gen, ignore_errors=True)
    os.makedirs(gen)
    rendered = True
    for mode, kind, out in (("uapi", "header", "egpuhp.h"), ("kernel", "header", "egpuhp-nl.h"),
                            ("kernel", "source", "egpuhp-nl.c")):
        res = ynltools.gen_c(mode, kind, os.path.join(gen, out))
        ok = res.returncode == 0 and os.path.exists(os.path.join(gen, out))
        rendered &= ok
        t.check(ok, "ynl-gen-c --mode %s --%s renders" % (mode, kind), res.stdout + res.stderr)

    if rendered:
        kbuild(t, gen, args.kernel)
    else:
        t.check(False, "YNL kernel policies compile against %s headers" % args.kernel,
                "ynl-gen-c failed")

    res = subprocess.run([ynltools.PYTHON, os.path.join(HERE, "spec_model.py"), ynltools.YNL,
                          ynltools.STAGED_SPEC], capture_output=True, text=True)
    model = json.loads(res.stdout) if res.returncode == 0 else None
    t.check(model is not None, "ynl-gen-c's model of the spec loads", res.stderr)

    if rendered and model:
        try:
            diff, rows, _ = header_diff(os.path.join(gen, "egpuhp.h"), HEADER)
            diff += xmacro_diff(rows, model)
        except Exception:
            diff = [traceback.format_exc()]
        t.check(not diff, "YNL's uapi header equals include/uapi/linux/egpuhp.h "
                "(names, values, enums)", "\n".join(diff))
    else:
        t.check(False, "YNL's uapi header equals include/uapi/linux/egpuhp.h "
                "(names, values, enums)", "nothing rendered")

    if args.no_vm:
        t.skip("policies of the running module equal the spec", "--no-vm")
    elif model:
        try:
            subprocess.run(["make", "-s", "-C", HERE, "all"], check=True)
            vm_checks(t, model, args.kernel)
        except Exception:
            t.check(False, "[%s] policies of the running module read" % args.kernel,
                    traceback.format_exc())
    print("1..%d" % t.n)
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
