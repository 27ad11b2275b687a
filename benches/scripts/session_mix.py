"""The per-command cost of a session: one Python ftplib session against
BINARY in demo mode doing what a sync job does — small uploads, their
SIZE/MDTM checks, listings, downloads, navigation — and printing the time
of each kind. Meant to compare two builds of the gateway (A/B) on one
machine: S3 is the embedded store on loopback, so the figures are the
gateway's own per-command work, not S3's.

usage: python3 benches/scripts/session_mix.py [BINARY] [ROUNDS]
       (default target/release/s3ftpd, 3 rounds)
"""

import ftplib
import io
import os
import sys
import time

from demo_gateway import demo

FILES = 100


def timed(label, fn, results):
    t = time.perf_counter()
    fn()
    results.setdefault(label, []).append(time.perf_counter() - t)


def one_round(ftp, body, results):
    def stor():
        for i in range(FILES):
            ftp.storbinary(f"STOR f{i}.bin", io.BytesIO(body))

    def checks():
        for i in range(FILES):
            ftp.size(f"f{i}.bin")
            ftp.sendcmd(f"MDTM f{i}.bin")

    def nav():
        for _ in range(FILES):
            ftp.cwd("/mix")
            ftp.pwd()
            ftp.voidcmd("NOOP")

    def listings():
        for _ in range(20):
            ftp.retrlines("LIST", lambda _line: None)
            ftp.nlst()

    def retr():
        for i in range(FILES):
            ftp.retrbinary(f"RETR f{i}.bin", lambda _b: None)

    for label, fn in [("stor", stor), ("size+mdtm", checks), ("cwd+pwd+noop", nav),
                      ("list+nlst x20", listings), ("retr", retr)]:
        timed(label, fn, results)


def main():
    args = sys.argv[1:]
    binary = args.pop(0) if args and not args[0].isdigit() else "target/release/s3ftpd"
    rounds = int(args[0]) if args else 3
    # The session sends hundreds of commands a second: lift the per-session
    # command throttle (200/s by default), or the figures measure its waits.
    with demo(binary, S3FTPD_PASSIVE_PORTS="46100-46199",
              S3FTPD_LIMITS_MAX_COMMANDS_PER_SECOND="1000000") as (port, _):
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", port)
        ftp.login("demo", "demo")
        ftp.mkd("/mix")
        ftp.cwd("/mix")
        body = os.urandom(4096)
        results = {}
        for _ in range(rounds):
            one_round(ftp, body, results)
        ftp.quit()
    for label, times in results.items():
        med = sorted(times)[len(times) // 2]
        print(f"{label:>14}: median {med * 1000:7.1f} ms per {FILES if 'x20' not in label else 20}")


main()
