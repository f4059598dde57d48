#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""What docs/egpuhp.yaml declares about requests, as ynl-gen-c reads it,
printed as JSON for test_spec.py (run by Debian's python3 with YNL's lib on
the path; argv: YNL_DIR STAGED_SPEC).

For every operation: its value, flags and, per mode (do, dump), the
request policy: attribute -> {type, min/max or mask, max-len, nested}.
Limits are ynl-gen-c's own (TypeScalar fills min/max in from an enum).  A
nest's policy is its attribute set, or the subset "<set>-request" where
the spec has one (a subset of the set whose name ends in "-request"): YNL
6.12 gives an attribute one nested set for requests and replies alike, so
the spec names the request-only subset that way."""

import importlib.util
import json
import sys

BITS = {"u8": 8, "u16": 16, "u32": 32, "u64": 64, "s8": 8, "s16": 16, "s32": 32, "s64": 64}


def load(ynl_dir, spec):
    sys.path.insert(0, ynl_dir)
    mod_spec = importlib.util.spec_from_file_location("ynl_gen_c", ynl_dir + "/ynl-gen-c.py")
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod.Family(spec, [])


def describe(fam, attr):
    base = getattr(attr, "base_type", attr)     # multi-attr wraps the real type
    ty = attr.type
    checks = base.checks
    out = {}
    if ty in ("u8", "u16", "u32", "u64"):
        out["type"] = ty
        if getattr(base, "is_bitfield", False) or "flags-mask" in checks:
            if "enum" in base.attr:
                out["mask"] = fam.consts[base.attr["enum"]].get_mask(as_flags=True)
            else:
                flags = fam.consts[checks["flags-mask"]]
                out["mask"] = (1 << len(flags["entries"])) - 1
        else:
            out["min"] = base.get_limit("min", 0)
            out["max"] = base.get_limit("max", (1 << BITS[ty]) - 1)
    elif ty in ("s8", "s16", "s32", "s64"):
        out["type"] = ty
        out["min"] = base.get_limit("min", -(1 << (BITS[ty] - 1)))
        out["max"] = base.get_limit("max", (1 << (BITS[ty] - 1)) - 1)
    elif ty == "string":
        out["type"] = "string" if checks.get("unterminated-ok") else "nul-string"
        if "max-len" in checks:
            out["max-len"] = base.get_limit("max-len")
    elif ty == "binary":
        out["type"] = "binary"
        for k in ("min-len", "max-len"):
            if k in checks:
                out[k] = base.get_limit(k)
    elif ty == "flag":
        out["type"] = "flag"
    elif ty == "nest":
        out["type"] = "nested"
        out["nested"] = nest_policy(fam, attr["nested-attributes"])
    else:
        out["type"] = ty
    return out


def nest_policy(fam, set_name):
    subs = [s for s in fam.attr_sets.values()
            if s.subset_of == set_name and s.name.endswith("-request")]
    if len(subs) > 1:
        raise ValueError("more than one request subset of %s" % set_name)
    if subs:
        set_name = subs[0].name
    return {str(a.value): dict(describe(fam, a), name=name)
            for name, a in fam.attr_sets[set_name].items() if a.type not in ("unused", "pad")}


def main():
    fam = load(sys.argv[1], sys.argv[2])
    ops = {}
    for name, op in fam.msgs.items():
        entry = {"value": op.value, "flags": list(op.yaml.get("flags", [])),
                 "async": op.is_async, "reserved": op.is_resv, "modes": {}}
        for mode in ("do", "dump"):
            if mode not in op.yaml:
                continue
            req = op.yaml[mode].get("request", {}).get("attributes", [])
            aset = fam.attr_sets[op.yaml["attribute-set"]]
            entry["modes"][mode] = {str(aset[a].value): dict(describe(fam, aset[a]), name=a)
                                    for a in req}
        ops[name] = entry
    print(json.dumps({"name": fam.name, "version": fam.yaml.get("version", 1),
                      "definitions": fam.yaml.get("definitions", []),
                      "mcgrps": [g["name"] for g in fam.yaml.get("mcast-groups", {}).get("list", [])],
                      "ops": ops}, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
