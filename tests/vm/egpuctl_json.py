"""egpuctl --json's one envelope (docs/egpuctl-json.md), for the tests.

envelope(text) checks that text is exactly one envelope and returns it;
data(text) returns its "data" ({} when the verb has none).  Both raise
ValueError when text is not one envelope, so a test that catches the
errors of json.loads() catches these too.
"""

import json

KEYS = ("version", "verb", "ok", "status", "messages")


def envelope(text):
    doc = json.loads(text)
    if not isinstance(doc, dict) or any(k not in doc for k in KEYS):
        raise ValueError("not an egpuctl envelope: %r" % text[:500])
    if doc["version"] != 1 or doc["ok"] != (doc["status"] == 0):
        raise ValueError("inconsistent envelope: %r" % text[:500])
    if not doc["ok"] and not (doc.get("error") and doc.get("code")):
        raise ValueError("failed envelope without error/code: %r" % text[:500])
    return doc


def data(text):
    return envelope(text).get("data", {})
