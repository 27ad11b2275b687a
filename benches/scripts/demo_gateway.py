"""What the bench scripts share: an s3ftpd process in demo mode (embedded
S3 store in a temporary directory) on a free loopback port, and its RSS."""

import contextlib
import os
import socket
import subprocess
import tempfile
import time


def status_mib(pid, field):
    """A memory figure of process `pid` from /proc/PID/status (VmRSS,
    VmHWM: the peak), MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def rss_mib(pid):
    """Resident memory of process `pid`, MiB."""
    return status_mib(pid, "VmRSS")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@contextlib.contextmanager
def demo(binary, **env):
    """Runs BINARY in demo mode with S3FTPD_* overrides `env`; yields
    (FTP port, process) once the control port answers."""
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        full = dict(os.environ, S3FTPD_LISTEN=f"127.0.0.1:{port}", **env)
        gw = subprocess.Popen([os.path.abspath(binary)], cwd=d, env=full,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            yield port, gw
        finally:
            gw.terminate()
            gw.wait()
