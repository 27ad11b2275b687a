"""Soak test: real clients, real signals, a real S3 server, then the books.

usage: python3 tests/soak/soak.py [--seconds 900] [--workers 6] [--binary PATH] [--seed N]

Starts Garage and `s3ftpd serve` on loopback, then for --seconds:
- workers upload (curl, lftp, Python ftplib, all reading stdin) files of
  1 KiB to 12 MiB to names of their own, overwriting them; a third of the
  clients are killed with SIGKILL halfway through their data; workers also
  download and check what they get;
- a chaos thread freezes Garage (SIGSTOP, 1-5 s, then SIGCONT) and restarts
  the gateway (SIGKILL or SIGTERM, then a fresh start) every 5-15 s.
Then it stops, lets the gateway sweep abandoned uploads, and checks S3
directly (boto3): every name holds its last acknowledged (226) content,
byte for byte, or (only where the client had sent everything and the
gateway or S3 died before the 226) a later complete version; no killed
client's bytes are visible; the bystander objects are unchanged; no
multipart upload is left. Exit 0 when the books balance, 1 otherwise.
"""

import argparse
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

T0 = time.time()
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STOR_STDIN = os.path.join(ROOT, "tests", "clients", "stor_stdin.py")
MIB = 1024 * 1024


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def free_range(n):
    while True:
        first = free_port()
        if first + n > 65535:
            continue
        held = []
        try:
            for p in range(first, first + n):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                held.append(s)
            return f"{first}-{first + n - 1}"
        except OSError:
            pass
        finally:
            for s in held:
                s.close()


def wait_port(port, seconds=30):
    end = time.time() + seconds
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Garage:
    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "garage")
        os.makedirs(self.dir)
        rpc, self.port = free_port(), free_port()
        self.key = "GK" + os.urandom(12).hex()
        self.secret = os.urandom(32).hex()
        self.bucket = "soak"
        conf = os.path.join(self.dir, "garage.toml")
        with open(conf, "w") as f:
            f.write(
                f'metadata_dir = "{self.dir}/meta"\ndata_dir = "{self.dir}/data"\n'
                f'db_engine = "sqlite"\nreplication_factor = 1\n'
                f'rpc_bind_addr = "127.0.0.1:{rpc}"\nrpc_public_addr = "127.0.0.1:{rpc}"\n'
                f'rpc_secret = "{os.urandom(32).hex()}"\n'
                f'[s3_api]\ns3_region = "garage"\napi_bind_addr = "127.0.0.1:{self.port}"\n'
            )
        env = dict(os.environ, GARAGE_DEFAULT_ACCESS_KEY=self.key,
                   GARAGE_DEFAULT_SECRET_KEY=self.secret, GARAGE_DEFAULT_BUCKET=self.bucket,
                   RUST_LOG="warn")
        self.proc = subprocess.Popen(
            ["garage", "-c", conf, "server", "--single-node", "--default-bucket"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "log"), "w"))
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def client(self):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="garage",
                            aws_access_key_id=self.key, aws_secret_access_key=self.secret,
                            config=Config(s3={"addressing_style": "path"},
                                          retries={"max_attempts": 10}))

    def signal(self, sig):
        self.proc.send_signal(sig)


class Gateway:
    def __init__(self, binary, tmp, garage):
        self.binary = binary
        self.port, self.metrics = free_port(), free_port()
        self.yaml = os.path.join(tmp, "s3ftpd.yaml")
        self.log = open(os.path.join(tmp, "s3ftpd.log"), "a")
        with open(self.yaml, "w") as f:
            f.write(
                f"listen: 127.0.0.1:{self.port}\npassive: {{ ports: {free_range(100)} }}\n"
                f"metrics: {{ listen: 127.0.0.1:{self.metrics} }}\n"
                f"limits: {{ data_timeout: 10s, max_sessions_per_ip: 200 }}\n"
                f"uploads: {{ abandoned_after: 10s }}\n"
                f"s3: {{ endpoint: '{garage.endpoint}', region: garage, bucket: {garage.bucket}, "
                f"access_key_id: '{garage.key}', secret_access_key: '{garage.secret}', "
                f"prefix: soak, part_size: 5MiB, timeout: 3s }}\n"
                f"users: [ {{ name: u, password: p, home: / }} ]\n")
        os.chmod(self.yaml, 0o600)
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen([self.binary, "serve", "-c", self.yaml],
                                     stdout=self.log, stderr=self.log)
        if not wait_port(self.port):
            raise SystemExit("gateway did not start")

    def restart(self, sig):
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.start()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Books:
    """What each name may hold: attempts in order, per worker-owned name."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attempts = {}  # name -> [(sha, complete, acked)]
        self.history = {}  # name -> [description of each attempt, in order]
        self.counts = {"acked": 0, "killed": 0, "failed": 0, "downloads": 0, "bad_downloads": 0}
        self.problems = []

    def record(self, name, sha, complete, acked, killed, what):
        with self.lock:
            self.attempts.setdefault(name, []).append((sha, complete, acked))
            self.history.setdefault(name, []).append(what)
            key = "acked" if acked else "killed" if killed else "failed"
            self.counts[key] += 1

    def allowed(self, name):
        """Contents the object may have now (None: absent)."""
        tries = self.attempts.get(name, [])
        last = max((i for i, t in enumerate(tries) if t[2]), default=-1)
        ok = {tries[last][0]} if last >= 0 else {None}
        ok |= {t[0] for t in tries[last + 1:] if t[1] and not t[2]}
        return ok


def upload(kind, port, name, body, kill_at):
    """Runs one client; returns (complete_data_sent, acked, killed, exit code)."""
    if kind == "curl":
        cmd = ["curl", "-sS", "--max-time", "60", "-T", "-", f"ftp://u:p@127.0.0.1:{port}/{name}"]
    elif kind == "lftp":
        # ftp:rest-stor no, as the README recommends for s3ftpd (lftp's
        # answer to a refused resume is tested in tests/it/frozen_s3.rs).
        cmd = ["lftp", "-c", f"set net:max-retries 1; set net:timeout 20; set ftp:ssl-allow no; "
               f"set ftp:rest-stor no; "
               f"open -u u,p -p {port} 127.0.0.1; put /dev/stdin -o {name}"]
    else:
        cmd = [sys.executable, STOR_STDIN, str(port), name, "plain", "control-first"]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    sent, complete, killed = 0, False, False
    try:
        while sent < len(body):
            if kill_at is not None and sent >= kill_at:
                time.sleep(random.uniform(0.05, 0.3))
                p.kill()
                killed = True
                break
            chunk = body[sent:sent + 256 * 1024]
            p.stdin.write(chunk)
            sent += len(chunk)
        if not killed:
            p.stdin.close()
            complete = True
    except (BrokenPipeError, OSError):
        pass
    try:
        code = p.wait(timeout=90)
    except subprocess.TimeoutExpired:
        p.kill()
        code = p.wait()
    try:
        p.stdin.close()
    except OSError:
        pass
    return complete, (code == 0 and complete and not killed), killed, code


def download(port, name):
    r = subprocess.run(["curl", "-sS", "--max-time", "60", f"ftp://u:p@127.0.0.1:{port}/{name}"],
                       capture_output=True)
    return r.returncode, hashlib.sha256(r.stdout).hexdigest(), len(r.stdout)


def worker(i, args, gateway, books, deadline):
    rnd = random.Random(args.seed * 1000 + i)
    names = [f"w{i}/f{k}.bin" for k in range(4)]
    kinds = ["curl", "lftp", "python"]
    while time.time() < deadline:
        name = rnd.choice(names)
        if rnd.random() < 0.25 and name in books.attempts:
            with books.lock:
                allowed = books.allowed(name)
            start = time.time()
            code, sha, size = download(gateway.port, name)
            if code == 0:
                with books.lock:
                    books.counts["downloads"] += 1
                    if sha not in allowed:
                        books.counts["bad_downloads"] += 1
                        books.problems.append(
                            f"{name}: a download at {start - T0:.2f}-{time.time() - T0:.2f}s gave "
                            f"{size} bytes (sha={sha[:12]}) never acknowledged; attempts:\n    "
                            + "\n    ".join(books.history.get(name, [])))
            continue
        size = rnd.choice([1024, 100 * 1024, 2 * MIB, 7 * MIB, 12 * MIB])
        body = rnd.randbytes(size)
        kill_at = int(size * rnd.uniform(0.2, 0.8)) if rnd.random() < 0.33 else None
        kind = rnd.choice(kinds)
        start = time.time()
        complete, acked, killed, code = upload(kind, gateway.port, name, body, kill_at)
        sha = hashlib.sha256(body).hexdigest()
        what = (f"{start - T0:7.2f}-{time.time() - T0:7.2f}s {kind:6} {size:>8} bytes "
                f"sha={sha[:12]} exit={code} complete={complete} acked={acked} killed={killed}")
        books.record(name, sha, complete, acked, killed, what)


def chaos(args, garage, gateway, deadline, log):
    rnd = random.Random(args.seed)
    while time.time() < deadline - 5:
        time.sleep(rnd.uniform(5, 15))
        if time.time() >= deadline - 5:
            return
        if rnd.random() < 0.5:
            pause = rnd.uniform(1, 5)
            log.append(f"{time.time() - T0:7.2f}s SIGSTOP garage {pause:.1f}s")
            garage.signal(signal.SIGSTOP)
            time.sleep(pause)
            garage.signal(signal.SIGCONT)
        else:
            sig = rnd.choice([signal.SIGKILL, signal.SIGTERM])
            log.append(f"{time.time() - T0:7.2f}s restart gateway ({sig.name})")
            gateway.restart(sig)


def verify(s3, bucket, books, bystanders):
    problems = list(books.problems)
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="soak/"):
        for o in page.get("Contents", []):
            objects[o["Key"][len("soak/"):]] = o["Key"]
    for name in books.attempts:
        allowed = books.allowed(name)
        if name in objects:
            body = s3.get_object(Bucket=bucket, Key=objects[name])["Body"].read()
            got = hashlib.sha256(body).hexdigest()
        else:
            got = None
        if got not in allowed:
            problems.append(f"{name}: holds {'nothing' if got is None else str(len(body)) + ' bytes'} "
                            f"(sha={str(got)[:12]}) never acknowledged (allowed: {len(allowed)} versions); "
                            "attempts:\n    " + "\n    ".join(books.history.get(name, [])))
    for name, sha in bystanders.items():
        body = s3.get_object(Bucket=bucket, Key="soak/" + name)["Body"].read()
        if hashlib.sha256(body).hexdigest() != sha:
            problems.append(f"bystander {name} changed")
    # The gateway's own folder (time indexes, its conditional-write probe)
    # is not an upload.
    stray = [k for k in objects if k not in books.attempts and k not in bystanders
             and not k.endswith("/") and not k.startswith(".s3ftpd/")]
    problems += [f"unexpected object {k}" for k in stray]
    return problems


def open_uploads(s3, bucket):
    return len(s3.list_multipart_uploads(Bucket=bucket, Prefix="soak/").get("Uploads", []))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=900)
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "s3ftpd"))
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    for tool in ("garage", "curl", "lftp"):
        if not shutil.which(tool):
            raise SystemExit(f"soak needs {tool} on PATH")
    random.seed(args.seed)
    tmp = tempfile.mkdtemp(prefix="s3ftpd-soak-")
    garage = Garage(tmp)
    gateway = None
    try:
        s3 = garage.client()
        for _ in range(200):
            try:
                s3.head_bucket(Bucket=garage.bucket)
                break
            except Exception:
                time.sleep(0.1)
        bystanders = {}
        for k in range(5):
            body = os.urandom(1000 + k)
            s3.put_object(Bucket=garage.bucket, Key=f"soak/keep/b{k}.bin", Body=body)
            bystanders[f"keep/b{k}.bin"] = hashlib.sha256(body).hexdigest()
        gateway = Gateway(args.binary, tmp, garage)
        books = Books()
        deadline = time.time() + args.seconds
        events = []
        threads = [threading.Thread(target=worker, args=(i, args, gateway, books, deadline))
                   for i in range(args.workers)]
        threads.append(threading.Thread(target=chaos, args=(args, garage, gateway, deadline, events)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        garage.signal(signal.SIGCONT)
        # Abandoned uploads (a killed gateway's) go within abandoned_after (10 s) + a sweep.
        end = time.time() + 60
        while open_uploads(s3, garage.bucket) and time.time() < end:
            time.sleep(1)
        left = open_uploads(s3, garage.bucket)
        problems = verify(s3, garage.bucket, books, bystanders)
        if left:
            problems.append(f"{left} multipart uploads left")
        c = books.counts
        print(f"soak seed={args.seed} seconds={args.seconds} workers={args.workers}: "
              f"uploads acknowledged={c['acked']} killed={c['killed']} failed={c['failed']} "
              f"downloads checked={c['downloads']} chaos events={len(events)} "
              f"({sum('SIGSTOP' in e for e in events)} S3 freezes, "
              f"{sum('restart' in e for e in events)} gateway restarts) "
              f"names={len(books.attempts)} problems={len(problems)}")
        for p in problems:
            print("PROBLEM:", p)
        if problems:
            print(f"times are seconds after {time.strftime('%H:%M:%S', time.gmtime(T0))} UTC; "
                  "chaos events:\n  " + "\n  ".join(events))
            gateway.log.flush()
            with open(gateway.log.name, errors="replace") as f:
                lines = f.readlines()
            for p in problems:
                name = p.split(":", 1)[0]
                if name in books.attempts:
                    hits = [l.rstrip() for l in lines if name in l]
                    print(f"gateway log for {name} ({len(hits)} lines, last 80):")
                    print("  " + "\n  ".join(hits[-80:]))
            keep = os.environ.get("SOAK_KEEP_LOG")
            if keep:
                shutil.copy(gateway.log.name, keep)
                print(f"gateway log kept in {keep}")
        return 1 if problems else 0
    finally:
        if gateway:
            gateway.stop()
        garage.signal(signal.SIGCONT)
        garage.proc.kill()
        garage.proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
