"""Bandwidth limits: how close the measured rate comes to the limit, for
one session and for four sessions of one account sharing it, uploads and
downloads. Each measurement moves about SECONDS seconds' worth of bytes at
the limit (Python ftplib, BINARY in demo mode, loopback); the rate is all
bytes over the wall time from the first command to the last 226.

usage: python3 benches/scripts/bandwidth.py [BINARY] [SECONDS]
       (default target/release/s3ftpd, 5 s per measurement)
"""

import ftplib
import io
import sys
import threading
import time

from demo_gateway import demo

LIMITS = ["8Mbit/s", "40Mbit/s", "200Mbit/s"]


def bytes_per_second(limit):
    number = float(limit.removesuffix("Mbit/s"))
    return number * 1e6 / 8


def session(port):
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port)
    ftp.login("demo", "demo")
    return ftp


def measure(port, sessions, up, total):
    each = total // sessions
    body = b"\x5a" * each
    clients = [session(port) for _ in range(sessions)]
    # Downloads read the files the uploads just before them wrote.
    done = []

    def work(i, ftp):
        if up:
            ftp.storbinary(f"STOR bw{i}.bin", io.BytesIO(body), blocksize=256 * 1024)
        else:
            got = []
            ftp.retrbinary(f"RETR bw{i}.bin", got.append, blocksize=256 * 1024)
            assert sum(map(len, got)) == each
        done.append(i)

    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(clients)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    took = time.perf_counter() - t
    for c in clients:
        c.quit()
    assert len(done) == sessions
    return each * sessions / took


def main():
    args = sys.argv[1:]
    binary = args.pop(0) if args and not args[0].replace(".", "").isdigit() else "target/release/s3ftpd"
    seconds = float(args[0]) if args else 5.0
    print(f"{'limit':>10} {'sessions':>8} {'direction':>9} {'measured':>14} {'measured/limit':>14}")
    for limit in LIMITS:
        users = (f"[{{ name: demo, password: demo, home: /, upload_bandwidth: {limit}, "
                 f"download_bandwidth: {limit} }}]")
        rate = bytes_per_second(limit)
        total = int(rate * seconds)
        with demo(binary, S3FTPD_USERS=users, S3FTPD_PASSIVE_PORTS="46400-46499") as (port, _):
            for sessions in (1, 4):
                for up in (True, False):
                    got = measure(port, sessions, up, total)
                    print(f"{limit:>10} {sessions:>8} {'up' if up else 'down':>9} "
                          f"{got / 1e6 * 8:>9.2f} Mbit/s {got / rate:>14.3f}")


main()
