"""Small uploads against uploads.commit_grace: 200 STORs of 4 KiB in one
Python ftplib session against BINARY in demo mode, for each grace given.

usage: python3 benches/scripts/small_stor.py [BINARY] [GRACE ...]
       (default target/release/s3ftpd, graces 0ms 10ms 20ms 50ms)
"""

import ftplib
import io
import os
import sys
import time

from demo_gateway import demo


def run(binary, grace, files=200):
    with demo(binary, S3FTPD_PASSIVE_PORTS="46000-46099", S3FTPD_UPLOADS_COMMIT_GRACE=grace) as (port, _):
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", port)
        ftp.login("demo", "demo")
        body = os.urandom(4096)
        t = time.time()
        for i in range(files):
            ftp.storbinary(f"STOR s{i}.bin", io.BytesIO(body))
        took = time.time() - t
        ftp.quit()
    print(f"commit_grace={grace}: {files} STOR of 4 KiB in {took:.2f} s = {files / took:.0f} files/s")


args = sys.argv[1:]
binary = args.pop(0) if args and not args[0][0].isdigit() else "target/release/s3ftpd"
for g in args or ["0ms", "10ms", "20ms", "50ms"]:
    run(binary, g)
