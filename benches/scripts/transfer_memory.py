"""Memory per transfer of the gateway alone: peak RSS of one `s3ftpd serve`
process (no S3 server, no client inside it) during streamed transfers.

usage: python3 benches/scripts/transfer_memory.py [BINARY] [--mib 1024] [--parallel 4]

Starts Garage (a real S3 server, its own process; `garage` on PATH) and
BINARY (default target/release/s3ftpd) with every default of the
configuration (part_size 8 MiB, upload_concurrency 4,
download_concurrency 4). Then, resetting the process's peak (`VmHWM`,
via /proc/PID/clear_refs) before each phase:
  1. one STOR of --mib MiB streamed from a generator (ftplib);
  2. one RETR of it, read to nothing;
  3. --parallel STORs of --mib/4 MiB at once, from as many sessions.
Prints RSS idle and the peak of each phase (MiB) and, for 3, the peak
above idle per transfer.
"""

import argparse
import ftplib
import os
import sys
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "soak"))

from soak import Garage, free_port, free_range, wait_port  # noqa: E402

from demo_gateway import status_mib as status  # noqa: E402

MIB = 1024 * 1024


def reset_peak(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


class Stream:
    """A file-like generator of `size` bytes (nothing held by the client)."""

    def __init__(self, size):
        self.left = size
        self.chunk = os.urandom(1 << 20)

    def read(self, n=-1):
        n = self.left if n < 0 else min(n, self.left)
        n = min(n, len(self.chunk))
        self.left -= n
        return self.chunk[:n]


def session(port):
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port, timeout=600)
    ftp.login("u", "p")
    return ftp


def stor(port, name, size):
    ftp = session(port)
    ftp.storbinary(f"STOR {name}", Stream(size), blocksize=256 * 1024)
    ftp.quit()


def retr(port, name):
    ftp = session(port)
    got = [0]
    ftp.retrbinary(f"RETR {name}", lambda b: got.__setitem__(0, got[0] + len(b)),
                   blocksize=256 * 1024)
    ftp.quit()
    return got[0]


def start_gateway(binary, tmp, garage):
    port = free_port()
    yaml = os.path.join(tmp, "s3ftpd.yaml")
    with open(yaml, "w") as f:
        f.write(
            f"listen: 127.0.0.1:{port}\npassive: {{ ports: {free_range(50)} }}\n"
            f"s3: {{ endpoint: '{garage.endpoint}', region: garage, bucket: {garage.bucket}, "
            f"access_key_id: '{garage.key}', secret_access_key: '{garage.secret}' }}\n"
            f"users: [ {{ name: u, password: p, home: / }} ]\n")
    os.chmod(yaml, 0o600)
    log = open(os.path.join(tmp, "s3ftpd.log"), "w")
    gw = subprocess.Popen([binary, "serve", "-c", yaml], stdout=log, stderr=log)
    if not wait_port(port):
        raise SystemExit("gateway did not start")
    return gw, port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default=os.path.join(ROOT, "target", "release", "s3ftpd"))
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--parallel", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        garage = Garage(tmp)
        if not wait_port(garage.port):
            raise SystemExit("garage did not start")
        time.sleep(2)  # the default bucket is made once the node is up
        gw, port = start_gateway(os.path.abspath(args.binary), tmp, garage)
        try:
            session(port).quit()
            time.sleep(1)
            idle = status(gw.pid, "VmRSS")
            size = args.mib * MIB
            reset_peak(gw.pid)
            stor(port, "big.bin", size)
            peak_stor = status(gw.pid, "VmHWM")
            time.sleep(1)
            reset_peak(gw.pid)
            assert retr(port, "big.bin") == size
            peak_retr = status(gw.pid, "VmHWM")
            time.sleep(1)
            reset_peak(gw.pid)
            each = size // 4
            threads = [threading.Thread(target=stor, args=(port, f"p{i}.bin", each))
                       for i in range(args.parallel)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            peak_par = status(gw.pid, "VmHWM")
            print(f"RSS idle {idle:.0f} MiB; one STOR of {args.mib} MiB: peak {peak_stor:.0f} MiB; "
                  f"one RETR: peak {peak_retr:.0f} MiB; {args.parallel} STORs of "
                  f"{each // MIB} MiB at once: peak {peak_par:.0f} MiB "
                  f"({(peak_par - idle) / args.parallel:.0f} MiB above idle per transfer)")
        finally:
            gw.terminate()
            gw.wait()
            garage.proc.terminate()
            garage.proc.wait()


if __name__ == "__main__":
    main()
