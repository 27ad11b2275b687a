"""Memory per idle logged-in session: RSS of one s3ftpd process holding N
FTP sessions that logged in and then say nothing.

usage: python3 benches/scripts/idle_sessions.py [BINARY] [--sessions N]

Starts BINARY (default target/release/s3ftpd) in demo mode (embedded S3
store in a temporary directory) with the session limits raised to N, opens
N control connections from this process and logs each in (USER/PASS, then
PWD so the session has run a command), waits for RSS to settle, then
closes them all. Prints one line: RSS idle, with the N sessions, per
session, and after they closed (MiB, KiB per session).
"""

import argparse
import resource
import socket
import time

from demo_gateway import demo, rss_mib


def read_reply(f):
    line = f.readline()
    code = line[:3]
    if line[3:4] == b"-":
        while not (line.startswith(code + b" ")):
            line = f.readline()
            if not line:
                break
    return code


def login(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = s.makefile("rb")
    assert read_reply(f) == b"220"
    for cmd, want in ((b"USER demo", b"331"), (b"PASS demo", b"230"), (b"PWD", b"257")):
        s.sendall(cmd + b"\r\n")
        got = read_reply(f)
        assert got == want, (cmd, got)
    return s, f


def settled(pid):
    last = rss_mib(pid)
    for _ in range(20):
        time.sleep(0.5)
        now = rss_mib(pid)
        if abs(now - last) < 0.5:
            return now
        last = now
    return last


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default="target/release/s3ftpd")
    ap.add_argument("--sessions", type=int, default=10000)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 2 * a.sessions + 1000)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    n = str(a.sessions + 100)
    limits = {f"S3FTPD_LIMITS_{k}": n for k in (
        "MAX_SESSIONS", "MAX_SESSIONS_PER_IP", "MAX_UNAUTHENTICATED", "MAX_UNAUTHENTICATED_PER_IP")}
    with demo(a.binary, **limits) as (port, gw):
        idle = settled(gw.pid)
        t0 = time.time()
        held = [login(port) for _ in range(a.sessions)]
        took = time.time() - t0
        full = settled(gw.pid)
        for s, f in held:
            f.close()
            s.close()
        held.clear()
        time.sleep(2)
        after = settled(gw.pid)
    per = (full - idle) * 1024 / a.sessions
    print(f"sessions={a.sessions} logins_took={took:.1f}s idle={idle:.0f}MiB "
          f"with_sessions={full:.0f}MiB per_session={per:.1f}KiB after_close={after:.0f}MiB")


main()
