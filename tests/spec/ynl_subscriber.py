#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""An egpuhp subscriber that is not ours: the kernel's own YNL library
(tools/net/ynl/lib of the kernel source) given only docs/egpuhp.yaml.
No egpuhp header, no egpuhp code.  docs/ynl-subscriber.md explains it.

  ynl_subscriber.py [--spec SPEC] [--ynl-lib DIR] [--schema YAML] COMMAND
    listen [--timeout S] [--until-remove BDF]
        subscribe to "events"; one JSON line per notification, after a
        first {"ready": true}; with --until-remove, stop after BDF's
        pci-remove event
    dump
        {"devices": [...], "routers": [...]} of get-dev and get-router dumps
    unprivileged [--uid 65534]
        as that user, try an admin command (set-config) and a get-dev of a
        malformed name; prints {op: {"error": errno, "msg": extack or null}}

--ynl-lib is the directory that holds YNL's lib/ (tools/net/ynl); without
--schema the spec is not validated (so jsonschema is not needed).

The tests import this file for what the results must be:
dump_problems(), unprivileged_problems() and cable_pull_problems() (the
last with surprise_remove_problems()) judge dump, unprivileged and
listen results, in the busybox guest (tests/spec/test_spec.py) and in
the real Debian system (tests/system/test_system.py) alike."""

import argparse
import errno
import json
import os
import select
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SPEC = os.path.join(HERE, "..", "..", "docs", "egpuhp.yaml")
DEFAULT_YNL = os.path.join(HERE, "..", "..", ".cache", "ynl", "tools", "net", "ynl")


def family(spec=DEFAULT_SPEC, ynl_lib=DEFAULT_YNL, schema=""):
    """The egpuhp family as YNL sees it from the spec alone."""
    if ynl_lib not in sys.path:
        sys.path.insert(0, ynl_lib)
    from lib import YnlFamily
    return YnlFamily(spec, schema)


def _plain(v):
    """YNL's decoded values as JSON (flag sets become sorted lists)."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, set):
        return sorted(v)
    if isinstance(v, bytes):
        return v.hex()
    return v


def listen(ynl, timeout, until_remove=None, out=None):
    """Notifications of the "events" group for TIMEOUT seconds (or until
    UNTIL_REMOVE's pci-remove), each as YNL decodes it; OUT (a file) gets
    one JSON line per event as it arrives, after {"ready": true}."""
    ynl.ntf_subscribe("events")
    if out:
        print(json.dumps({"ready": True}), file=out, flush=True)
    got = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([ynl.sock.fileno()], [], [], max(0.0, end - time.monotonic()))
        if not r:
            break
        ynl.check_ntf()
        while ynl.async_msg_queue:
            ev = _plain(ynl.async_msg_queue.pop(0)["msg"])
            got.append(ev)
            if out:
                print(json.dumps(ev, sort_keys=True), file=out, flush=True)
            if until_remove and ev.get("event") == "pci-remove" and \
                    ev.get("dev", {}).get("name") == until_remove:
                return got
    return got


def surprise_remove_problems(events, bdf):
    """What is wrong with BDF's removal in EVENTS (listen()'s result) for a
    cable pull: one pci-remove, flags surprise (not orderly), the function's
    identity, version 1 and a sequence number."""
    rm = [e for e in events if e.get("event") == "pci-remove" and
          e.get("dev", {}).get("name") == bdf]
    if len(rm) != 1:
        return ["%d pci-remove events for %s: %s" % (len(rm), bdf, events)]
    e, bad = rm[0], []
    if "surprise" not in e.get("flags", []) or "orderly" in e.get("flags", []):
        bad.append("flags %s, want surprise" % e.get("flags"))
    if e.get("version") != 1 or not e.get("seq") or not e.get("timestamp-ns"):
        bad.append("version/seq/timestamp-ns missing: %s" % e)
    d = e["dev"]
    if not d.get("vendor") or "class" not in d or "track" not in d:
        bad.append("dev lacks vendor/class/track: %s" % d)
    return bad


def cable_pull_problems(events, bdfs, router):
    """What is wrong with EVENTS (listen()'s result) for a cable pull of
    ROUTER that took the functions BDFS: each function's surprise removal
    (surprise_remove_problems()) and the router's router-remove."""
    bad = [] if bdfs else ["the cable pull took no PCI functions"]
    for b in bdfs:
        bad += surprise_remove_problems(events, b)
    if not any(e.get("event") == "router-remove" and
               e.get("router", {}).get("name") == router for e in events):
        bad.append("no router-remove of %s" % router)
    return bad


def dump_state(ynl):
    """The tracked devices and the Thunderbolt routers (get-dev, get-router dumps)."""
    return {"devices": [_plain(m["dev"]) for m in ynl.dump("get-dev", {})],
            "routers": [_plain(m["router"]) for m in ynl.dump("get-router", {})]}


def dump_problems(state, router, bdfs, sole_router=True):
    """What is wrong with STATE (dump_state()'s result) while the authorized
    ROUTER brings the functions BDFS (the GPU first): every function
    tracked, the GPU linked to the router by its unique id, the router and
    its host router listed.  With SOLE_ROUTER false (other device routers
    were authorized too when the functions were found) the module may leave
    the link unknown (egpuhp_router_sole_uid()), but never names another
    router."""
    devs = {d["name"]: d for d in state["devices"]}
    routers = {r["name"]: r for r in state["routers"]}
    bad = ["%s not in the get-dev dump" % b for b in bdfs if b not in devs]
    r = routers.get(router)
    if not r or not r.get("authorized") or not r.get("unique-id"):
        bad.append("router %s not dumped as authorized with a unique-id: %s" % (router, r))
    elif bdfs and devs.get(bdfs[0], {}).get("router-uid") != r["unique-id"]:
        uid = devs.get(bdfs[0], {}).get("router-uid")
        if sole_router or uid:
            bad.append("%s's router-uid is %r, not %s's unique-id" % (bdfs[0], uid, router))
    host = router.split("-")[0] + "-0"
    if host not in routers:
        bad.append("the host router %s not in the get-router dump" % host)
    return bad


def unprivileged_problems(res):
    """What is wrong with RES (unprivileged_try()'s result): set-config
    refused with EPERM and, unless the spec leaves the check to the
    genetlink core (admin-perm: no message), the module's extack message
    naming CAP_SYS_ADMIN; get-dev of a malformed name refused with EINVAL
    and the module's message."""
    sc, gd = res.get("set-config", {}), res.get("get-dev", {})
    bad = ["the unprivileged child: %s" % res["child"]] if "child" in res else []
    if sc.get("error") != errno.EPERM or \
            not (res.get("admin-perm") or "CAP_SYS_ADMIN" in (sc.get("msg") or "")):
        bad.append("set-config as an unprivileged user: %s" % sc)
    if gd.get("error") != errno.EINVAL or "malformed PCI function name" not in (gd.get("msg") or ""):
        bad.append("get-dev of a malformed name: %s" % gd)
    return bad


def unprivileged_try(spec=DEFAULT_SPEC, ynl_lib=DEFAULT_YNL, uid=65534):
    """As UID (in a child process): an admin command (set-config) and a
    command anyone may send with a malformed name (get-dev of "nonsense");
    returns {op: {"error": errno or 0, "msg": the extack message or None},
    "admin-perm": whether the spec gives set-config the admin-perm flag}."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        res = {}
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            ynl = family(spec, ynl_lib)
            from lib import NlError
            res["admin-perm"] = "admin-perm" in ynl.ops["set-config"].yaml.get("flags", [])
            for op, vals in (("set-config", {"config": {"watchdog-ms": 0}}),
                             ("get-dev", {"dev": {"name": "nonsense"}})):
                try:
                    ynl.do(op, vals)
                    res[op] = {"error": 0, "msg": None}
                except NlError as e:
                    res[op] = {"error": e.error, "msg": (e.nl_msg.extack or {}).get("msg")}
        except Exception as e:  # report, do not hide, a broken child
            res["child"] = {"error": -1, "msg": "child failed: %r" % e}
        os.write(wfd, json.dumps(res).encode())
        os._exit(0)
    os.close(wfd)
    data = b""
    while True:
        chunk = os.read(rfd, 4096)
        if not chunk:
            break
        data += chunk
    os.close(rfd)
    os.waitpid(pid, 0)
    return json.loads(data)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default=DEFAULT_SPEC)
    ap.add_argument("--ynl-lib", default=DEFAULT_YNL)
    ap.add_argument("--schema", default="")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("listen")
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--until-remove")
    sub.add_parser("dump")
    p = sub.add_parser("unprivileged")
    p.add_argument("--uid", type=int, default=65534)
    args = ap.parse_args(argv)
    if args.cmd == "unprivileged":
        print(json.dumps(unprivileged_try(args.spec, args.ynl_lib, args.uid)))
        return 0
    ynl = family(args.spec, args.ynl_lib, args.schema)
    if args.cmd == "listen":
        listen(ynl, args.timeout, args.until_remove, sys.stdout)
    else:
        print(json.dumps(dump_state(ynl), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
