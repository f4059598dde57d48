# SPDX-License-Identifier: GPL-2.0
"""The dock's two host-side channels into a running QEMU: QMP (the machine)
and the guest agent on the second serial port (commands run as root)."""

import base64
import json
import socket
import threading
import time


class ChannelError(Exception):
    pass


def _connect_unix(path, timeout, alive):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline or not alive():
                raise ChannelError("cannot connect to %s" % path)
            time.sleep(0.05)


class Qmp:
    """A QMP client: synchronous commands, events collected by a reader thread."""

    def __init__(self, path, alive, timeout=30):
        self._sock = _connect_unix(path, timeout, alive)
        self._file = self._sock.makefile("rb")
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._replies = {}
        self._next_id = 0
        self.events = []
        self._closed = False
        greeting = json.loads(self._file.readline() or b"{}")
        if "QMP" not in greeting:
            raise ChannelError("no QMP greeting")
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.cmd("qmp_capabilities")

    def _read_loop(self):
        try:
            for line in self._file:
                msg = json.loads(line)
                with self._cond:
                    if "event" in msg:
                        self.events.append(msg)
                    elif "id" in msg:
                        self._replies[msg["id"]] = msg
                    self._cond.notify_all()
        except (OSError, ValueError):
            pass
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def cmd(self, name, timeout=30, **args):
        with self._lock:
            self._next_id += 1
            mid = self._next_id
            msg = {"execute": name, "id": mid}
            if args:
                msg["arguments"] = args
            try:
                self._sock.sendall(json.dumps(msg).encode() + b"\n")
            except OSError as e:
                raise ChannelError("QMP %s: %s" % (name, e)) from e
        deadline = time.monotonic() + timeout
        with self._cond:
            while mid not in self._replies:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise ChannelError("QMP %s: no reply" % name)
                self._cond.wait(left)
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise ChannelError("QMP %s %s: %s" % (name, args, reply["error"].get("desc")))
        return reply.get("return")

    def hmp(self, cmdline):
        return self.cmd("human-monitor-command", **{"command-line": cmdline})

    def event_count(self):
        with self._cond:
            return len(self.events)

    def wait_event(self, name, match=None, since=0, timeout=30):
        """The first event NAME (after index SINCE) whose data matches MATCH."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events[since:]:
                    if ev["event"] == name and (match is None or match(ev.get("data", {}))):
                        return ev
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    return None
                self._cond.wait(left)

    def close(self):
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()


class Agent:
    """Client of tests/vm/guest/agent (see there for the line protocol)."""

    def __init__(self, path, alive, timeout=30):
        self._alive = alive
        self._sock = _connect_unix(path, timeout, alive)
        self._buf = b""
        self._next_id = 0
        self.broken = None

    def _read_line(self, deadline):
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self._sock.settimeout(min(left, 0.5))
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout:
                if not self._alive():
                    raise ChannelError("QEMU exited") from None
                continue
            if not chunk:
                raise ChannelError("agent channel closed")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode("ascii", "replace").strip("\r")

    def wait_up(self, timeout):
        deadline = time.monotonic() + timeout
        while self._read_line(deadline) != "@@EGPUHP-AGENT-UP":
            pass

    def run(self, script, timeout):
        """Runs SCRIPT in the guest; returns (exit status, output)."""
        if self.broken:
            raise ChannelError("agent unusable: %s" % self.broken)
        self._next_id += 1
        cid = self._next_id
        payload = base64.b64encode(script.encode())
        deadline = time.monotonic() + timeout
        try:
            self._sock.sendall(b"%d %s\n" % (cid, payload))
            while True:
                line = self._read_line(deadline)
                if line.startswith("@@EGPUHP-BEGIN %d " % cid):
                    rc = int(line.split()[2])
                    break
            chunks = []
            while True:
                line = self._read_line(deadline)
                if line == "@@EGPUHP-END %d" % cid:
                    break
                chunks.append(line)
        except TimeoutError:
            self.broken = "command timed out after %ss: %s" % (timeout, script[:200])
            raise
        except (ChannelError, OSError) as e:
            self.broken = str(e)
            raise ChannelError(str(e)) from None
        out = base64.b64decode("".join(chunks)).decode("utf-8", "replace")
        return rc, out

    def close(self):
        self._sock.close()
