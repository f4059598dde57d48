#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A STAND-IN for egpud's watch socket, for GPU tests where egpud cannot
make the event (the lent GPU machine has no hot-plug, and egpud-test has no
"test-inject lost"): it answers a libegpu "watch" with "ok", records the
lines the client sends ("snapshot ...", "ack"), and sends "event lost PCI"
when told.  Results that used it say so.

  standin_egpud.py --socket PATH --pci PCI [--lose-on TEXT] -- PROGRAM ARGS...

runs PROGRAM, copies its output, and sends the LOST once PROGRAM prints a
line containing TEXT (default READY-FOR-LOST); exits with its status, after
printing "stand-in egpud received: LINE" for each line the client sent.
"""
import argparse
import socket
import subprocess
import sys
import threading


class StandInEgpud:
    def __init__(self, path, pci):
        self.pci, self.lines, self.conn = pci, [], None
        self.connected = threading.Event()
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(path)
        self.srv.listen(4)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.conn, _ = self.srv.accept()
        self.connected.set()
        buf, first = b"", True
        while True:
            d = self.conn.recv(4096)
            if not d:
                return
            buf += d
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if first:
                    first = False
                    self.conn.sendall(b"ok\n")
                self.lines.append(line.decode(errors="replace").replace("\0", " "))

    def lose(self):
        self.connected.wait(60)
        self.conn.sendall(("event lost %s 1 surprise -\n" % self.pci).encode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--pci", required=True)
    ap.add_argument("--lose-on", default="READY-FOR-LOST")
    ap.add_argument("prog", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    prog = a.prog[1:] if a.prog[:1] == ["--"] else a.prog
    srv = StandInEgpud(a.socket, a.pci)
    p = subprocess.Popen(prog, stdout=subprocess.PIPE, text=True)
    for line in p.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if a.lose_on in line:
            srv.lose()
    rc = p.wait()
    for line in srv.lines:
        print("stand-in egpud received: %s" % line)
    return rc


if __name__ == "__main__":
    sys.exit(main())
