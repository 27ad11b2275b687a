"""FTP sessions against the balancer, from the clients container.

  drive.py spread N          N sessions at once: upload 64 KiB, download, compare
  drive.py long N MIB        N sessions at once, each uploading MIB MiB over ~10 s
  drive.py hold REPLICA      a session on REPLICA; on a line from stdin, STOR

Prints one JSON object per session: replica (from its banner), ok, detail,
name, sha256 of what was sent.
"""

import ftplib
import hashlib
import io
import json
import os
import sys
import threading
import time

HOST = "haproxy"


def session():
    ftp = ftplib.FTP()
    banner = ftp.connect(HOST, 21, timeout=60)
    ftp.login("u", "p")
    return ftp, banner.split()[1]


def spread(i, out):
    name = f"spread/{os.getpid()}-{i}.bin"
    body = os.urandom(64 * 1024)
    r = {"name": name, "sha256": hashlib.sha256(body).hexdigest(), "replica": None}
    try:
        ftp, r["replica"] = session()
        ftp.storbinary("STOR " + name, io.BytesIO(body))
        got = io.BytesIO()
        ftp.retrbinary("RETR " + name, got.write)
        r["ok"] = got.getvalue() == body
        r["detail"] = "identical" if r["ok"] else "bytes differ"
        ftp.quit()
    except Exception as e:  # noqa: BLE001 - reported per session
        r["ok"], r["detail"] = False, repr(e)
    out.append(r)


class Slow(io.RawIOBase):
    """Yields `body` in 256 KiB reads spread over `seconds`."""

    def __init__(self, body, seconds):
        self.body, self.pos = body, 0
        self.pause = seconds / max(1, len(body) // (256 * 1024))

    def readable(self):
        return True

    def read(self, n=-1):
        if self.pos >= len(self.body):
            return b""
        time.sleep(self.pause)
        chunk = self.body[self.pos:self.pos + 256 * 1024]
        self.pos += len(chunk)
        return chunk


def long(i, mib, out):
    name = f"long/{os.getpid()}-{i}.bin"
    body = os.urandom(mib * 1024 * 1024)
    r = {"name": name, "sha256": hashlib.sha256(body).hexdigest(), "replica": None}
    try:
        ftp, r["replica"] = session()
        resp = ftp.storbinary("STOR " + name, Slow(body, 10), blocksize=256 * 1024)
        r["ok"], r["detail"] = resp.startswith("226"), resp
    except Exception as e:  # noqa: BLE001
        r["ok"], r["detail"] = False, repr(e)
    out.append(r)


def hold(replica):
    while True:
        ftp, got = session()
        if got == replica:
            break
        ftp.quit()
    print(json.dumps({"replica": got, "ready": True}), flush=True)
    sys.stdin.readline()
    name = f"held/{os.getpid()}.bin"
    try:
        resp = ftp.storbinary("STOR " + name, io.BytesIO(b"x" * 100_000))
        r = {"ok": resp.startswith("226"), "detail": resp}
    except Exception as e:  # noqa: BLE001
        r = {"ok": False, "detail": repr(e)}
    r.update(name=name, replica=got)
    print(json.dumps(r), flush=True)


def main():
    mode = sys.argv[1]
    if mode == "hold":
        return hold(sys.argv[2])
    n = int(sys.argv[2])
    out = []
    if mode == "spread":
        threads = [threading.Thread(target=spread, args=(i, out)) for i in range(n)]
    else:
        mib = int(sys.argv[3])
        threads = [threading.Thread(target=long, args=(i, mib, out)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in out:
        print(json.dumps(r))


main()
