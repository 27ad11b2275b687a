"""Uploads standard input with Python's ftplib, the way a batch job does.

usage: stor_stdin.py PORT NAME plain|tls control-first|data-first

Prints "150 rchar=N" once the server accepted STOR (N: bytes it has read
so far, from /proc/self/io), then sends what arrives on stdin. Tests kill it with SIGKILL halfway. Its kernel then closes its
sockets in file-descriptor order: "data-first" keeps a second descriptor
of the control socket at fd 200, so the data connection's FIN leaves first.
"""

import ftplib
import os
import ssl
import sys


def main():
    port, name, mode, order = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    if mode == "tls":
        ftp = ftplib.FTP_TLS(context=ssl._create_unverified_context())
    else:
        ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port, timeout=30)
    ftp.login("u", "p")
    if mode == "tls":
        ftp.prot_p()
    ftp.voidcmd("TYPE I")
    if order == "data-first":
        os.dup2(ftp.sock.fileno(), 200)
    conn = ftp.transfercmd("STOR " + name)
    # The bytes read so far (modules included), before any of stdin.
    with open("/proc/self/io") as io:
        rchar = next(line.split()[1] for line in io if line.startswith("rchar:"))
    print("150 rchar=" + rchar, flush=True)
    while True:
        block = sys.stdin.buffer.read1(65536)
        if not block:
            break
        conn.sendall(block)
    if mode == "tls":
        conn.unwrap()
    conn.close()
    print(ftp.voidresp(), flush=True)
    ftp.quit()


main()
