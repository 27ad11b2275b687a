"""Two builds of the gateway side by side: STOR and RETR of a large file
and LIST of a folder of 1,000 files, through one ftplib session against
BINARY in demo mode (embedded store on loopback), run for each binary in
turn — A B A B … — so that the machine's drift falls on both alike.

usage: python3 benches/scripts/build_ab.py BINARY_A BINARY_B [ROUNDS] [MIB]
       (default 3 rounds, 128 MiB)
Prints, per binary, the median MiB/s of STOR and RETR and the median time
of one LIST, then B/A for each (above 1: B is faster).
"""

import ftplib
import io
import os
import statistics
import sys
import time

from demo_gateway import demo


class Zeros(io.RawIOBase):
    """`size` bytes without holding them: the client streams, as a batch
    job reading a file does."""

    def __init__(self, size):
        self.left = size

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def one_binary(binary, mib, files):
    with demo(binary, S3FTPD_PASSIVE_PORTS="46200-46299",
              S3FTPD_LIMITS_MAX_COMMANDS_PER_SECOND="1000000") as (port, _):
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", port)
        ftp.login("demo", "demo")
        ftp.mkd("/ab")
        ftp.cwd("/ab")
        size = mib * 1024 * 1024
        t = time.perf_counter()
        ftp.storbinary("STOR big.bin", io.BufferedReader(Zeros(size), 1 << 20), blocksize=1 << 20)
        stor = mib / (time.perf_counter() - t)
        t = time.perf_counter()
        ftp.retrbinary("RETR big.bin", lambda _b: None, blocksize=1 << 20)
        retr = mib / (time.perf_counter() - t)
        ftp.mkd("many")
        ftp.cwd("many")
        for i in range(files):
            ftp.storbinary(f"STOR f{i:04}", io.BytesIO(b"x"))
        lists = []
        for _ in range(5):
            t = time.perf_counter()
            ftp.retrlines("LIST", lambda _line: None)
            lists.append(time.perf_counter() - t)
        ftp.quit()
        return stor, retr, statistics.median(lists)


def main():
    a, b = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    mib = int(sys.argv[4]) if len(sys.argv) > 4 else 128
    got = {a: [], b: []}
    for _ in range(rounds):
        for binary in (a, b):
            got[binary].append(one_binary(binary, mib, 1000))
    med = {k: [statistics.median(r[i] for r in v) for i in range(3)] for k, v in got.items()}
    for name, (stor, retr, lst) in ((a, med[a]), (b, med[b])):
        print(f"{name}: STOR {stor:7.1f} MiB/s  RETR {retr:7.1f} MiB/s  LIST 1000 {lst * 1000:6.1f} ms")
    print(f"B/A: STOR {med[b][0] / med[a][0]:.2f}  RETR {med[b][1] / med[a][1]:.2f}  "
          f"LIST {med[a][2] / med[b][2]:.2f} (above 1: B is faster)")


main()
