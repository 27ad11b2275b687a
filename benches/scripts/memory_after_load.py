"""Memory after load: RSS of an s3ftpd process idle, at the peak of 40
concurrent uploads, and while it settles afterwards.

usage: python3 benches/scripts/memory_after_load.py [BINARY] [--uploads N] [--mib M] [--settle S]

Starts BINARY (default target/release/s3ftpd) in demo mode (embedded S3
store in a temporary directory) and uploads N files of M MiB at once with
Python's ftplib; prints one line of figures (MiB). The embedded store runs
in the same process, so its buffers count too.
"""

import argparse
import ftplib
import io
import os
import threading
import time

from demo_gateway import demo, rss_mib


def upload(port, name, body):
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port, timeout=120)
    ftp.login("demo", "demo")
    ftp.storbinary("STOR " + name, io.BytesIO(body), blocksize=256 * 1024)
    ftp.quit()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default="target/release/s3ftpd")
    ap.add_argument("--uploads", type=int, default=40)
    ap.add_argument("--mib", type=int, default=24)
    ap.add_argument("--settle", type=int, default=60)
    a = ap.parse_args()
    with demo(a.binary, S3FTPD_PASSIVE_PORTS="45000-45199") as (port, gw):
        time.sleep(1)
        idle = rss_mib(gw.pid)
        body = os.urandom(a.mib * 1024 * 1024)
        peak = [idle]
        done = threading.Event()

        def watch():
            while not done.is_set():
                peak[0] = max(peak[0], rss_mib(gw.pid))
                time.sleep(0.05)

        w = threading.Thread(target=watch)
        w.start()
        threads = [threading.Thread(target=upload, args=(port, f"f{i}.bin", body))
                   for i in range(a.uploads)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.time() - t0
        done.set()
        w.join()
        after = {}
        start = time.time()
        for mark in sorted({1, 10, 60, a.settle}):
            time.sleep(max(0, start + mark - time.time()))
            after[mark] = rss_mib(gw.pid)
        print(f"uploads={a.uploads}x{a.mib}MiB took={took:.1f}s idle={idle:.0f} peak={peak[0]:.0f} "
              + " ".join(f"after{m}s={v:.0f}" for m, v in after.items())
              + f" retained={after[a.settle] - idle:.0f}")


main()
