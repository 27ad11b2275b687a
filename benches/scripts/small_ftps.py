"""Small FTPS uploads with and without tls.strict_eof: 200 STORs of 4 KiB
in one Python ftplib FTP_TLS session (PROT P) against BINARY in demo mode
with a self-signed certificate (made here with openssl), for each setting.
With strict_eof the end of a TLS upload is proven by the client's
close_notify, so the upload commits without uploads.commit_grace.

usage: python3 benches/scripts/small_ftps.py [BINARY] [ROUNDS]
       (default target/release/s3ftpd, 3 rounds: on, off, on, off, ...)
"""

import ftplib
import io
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

from demo_gateway import demo

FILES = 200


class Client(ftplib.FTP_TLS):
    """What FTPS clients such as curl and lftp do: data connections resume
    the control connection's TLS session, and every socket sends at once
    (TCP_NODELAY: stock Python leaves Nagle on, and its TLS handshake then
    waits 40 ms for a delayed ACK)."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size


def run(binary, strict, cert, key):
    env = dict(S3FTPD_PASSIVE_PORTS="46300-46399", S3FTPD_TLS_CERT=cert, S3FTPD_TLS_KEY=key,
               S3FTPD_TLS_STRICT_EOF=strict)
    with demo(binary, **env) as (port, _):
        ftp = Client(context=ssl._create_unverified_context())
        ftp.connect("127.0.0.1", port)
        ftp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ftp.login("demo", "demo")
        ftp.prot_p()
        body = os.urandom(4096)
        t = time.perf_counter()
        for i in range(FILES):
            ftp.storbinary(f"STOR s{i}.bin", io.BytesIO(body))
        took = time.perf_counter() - t
        ftp.quit()
    return FILES / took


def main():
    args = sys.argv[1:]
    binary = args.pop(0) if args and not args[0].isdigit() else "target/release/s3ftpd"
    rounds = int(args[0]) if args else 3
    with tempfile.TemporaryDirectory() as d:
        cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-subj", "/CN=localhost", "-days", "1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        got = {"true": [], "false": []}
        for _ in range(rounds):
            for strict in ("true", "false"):
                got[strict].append(run(binary, strict, cert, key))
    for strict, rates in got.items():
        print(f"tls.strict_eof={strict:5}: {statistics.median(rates):6.1f} files/s "
              f"(median of {len(rates)}: {', '.join(f'{r:.1f}' for r in rates)})")
    print(f"strict/lenient: {statistics.median(got['true']) / statistics.median(got['false']):.2f}")


main()
