"""Three replicas behind haproxy, in containers (docker-compose.yml here).

usage: python3 tests/docker/replicas/run.py   (after tests/docker/images.sh)

1. 30 sessions spread over the three replicas upload and download: all
   bytes identical, every replica served some.
2. `docker kill` of replica 2 during 15 slow uploads: the sessions on the
   other two finish (226, bytes in S3 identical); the killed replica's
   uploads leave no object; new sessions land on live replicas only; after
   its restart no multipart upload is left (abandoned_after: 30s).
3. `docker network disconnect` of replica 3 from S3: its session gets a 4xx
   and leaves nothing; its /readyz turns 503, so the balancer sends new
   sessions elsewhere; reconnected, it serves again.
Exit 0 when every check holds; prints what failed otherwise.
"""

import hashlib
import json
import os
import random
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = f"s3ftpdreplicas{random.randrange(16**6):06x}"
KEY = "GK0123456789abcdef01234567"
SECRET = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
problems = []


def sh(*args, check=True, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r.stdout.strip()


def compose(*args, **kw):
    return sh("docker-compose", "-f", os.path.join(HERE, "docker-compose.yml"), "-p", PROJECT,
              *args, **kw)


def container(service):
    return compose("ps", "-q", service)


def drive(*args):
    out = sh("docker", "exec", container("clients"), "python3", "/drive.py", *args)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        problems.append(what)


def wait(cond, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.5)
    check(False, f"{what} within {seconds} s")
    return False


def s3():
    import boto3
    from botocore.config import Config
    port = compose("port", "s3", "9000").rsplit(":", 1)[1]
    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                        config=Config(s3={"addressing_style": "path"}))


def stored_sha(client, name):
    try:
        body = client.get_object(Bucket="ftp", Key=name)["Body"].read()
        return hashlib.sha256(body).hexdigest()
    except client.exceptions.NoSuchKey:
        return None


def spread_ok(n, avoid=None):
    results = drive("spread", str(n))
    bad = [r for r in results if not r["ok"]]
    replicas = {r["replica"] for r in results}
    check(not bad, f"{n} sessions upload and download identical bytes {bad[:1]}")
    if avoid:
        check(avoid not in replicas, f"no new session lands on {avoid} (got {sorted(replicas)})")
    return replicas


def healthy(service):
    return sh("docker", "inspect", "-f", "{{.State.Health.Status}}", container(service),
              check=False) == "healthy"


def main():
    compose("build", "-q")
    compose("up", "-d")
    try:
        for r in ("s3ftpd-1", "s3ftpd-2", "s3ftpd-3"):
            wait(lambda r=r: healthy(r), 90, f"{r} healthy")
        wait(lambda: sh("docker", "exec", container("clients"), "python3", "-c",
                        "import socket; socket.create_connection(('haproxy', 21), 2)",
                        check=False) == "", 60, "balancer answers")
        client = s3()
        # 1. Spread.
        replicas = spread_ok(30)
        check(replicas == {"replica-1", "replica-2", "replica-3"},
              f"sessions spread over three replicas (got {sorted(replicas)})")

        # 2. A replica killed during transfers.
        clients = container("clients")
        slow = subprocess.Popen(["docker", "exec", clients, "python3", "/drive.py", "long", "15", "16"],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(4)
        sh("docker", "kill", container("s3ftpd-2"))
        out, _ = slow.communicate(timeout=180)
        results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        on_dead = [r for r in results if r["replica"] == "replica-2"]
        on_live = [r for r in results if r["replica"] in ("replica-1", "replica-3")]
        check(len(results) == 15 and on_dead and on_live, f"slow uploads reached every replica ({len(results)})")
        bad = [r for r in on_live if not (r["ok"] and stored_sha(client, r["name"]) == r["sha256"])]
        check(not bad, f"{len(on_live)} uploads on live replicas completed, bytes identical {bad[:2]}")
        check(all(not r["ok"] and stored_sha(client, r["name"]) is None for r in on_dead),
              f"{len(on_dead)} uploads on the killed replica failed and left no object")
        time.sleep(3)
        spread_ok(12, avoid="replica-2")
        compose("start", "s3ftpd-2")
        wait(lambda: not client.list_multipart_uploads(Bucket="ftp").get("Uploads"), 90,
             "the killed replica's multipart uploads aborted after its restart")
        wait(lambda: healthy("s3ftpd-2"), 90, "replica-2 healthy again")

        # 3. A replica cut off from S3.
        held = subprocess.Popen(["docker", "exec", "-i", clients, "python3", "/drive.py", "hold", "replica-3"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        json.loads(held.stdout.readline())
        back = f"{PROJECT}_back"
        sh("docker", "network", "disconnect", back, container("s3ftpd-3"))
        held.stdin.write("go\n")
        held.stdin.flush()
        r = json.loads(held.stdout.readline())
        held.wait(timeout=60)
        check(not r["ok"] and re.search(r"\b4\d\d ", r["detail"]) is not None,
              f"the cut-off replica's session gets a 4xx: {r['detail'][:80]}")
        check(stored_sha(client, r["name"]) is None, "and leaves no object")
        time.sleep(8)  # /readyz: probe every 2 s with a 2 s timeout; haproxy: 2 failed checks 1 s apart
        spread_ok(12, avoid="replica-3")
        sh("docker", "network", "connect", back, container("s3ftpd-3"))
        time.sleep(8)
        replicas = spread_ok(15)
        check("replica-3" in replicas, f"reconnected replica-3 serves again (got {sorted(replicas)})")
    finally:
        if problems:
            for s in ("s3ftpd-1", "s3ftpd-2", "s3ftpd-3", "haproxy"):
                print(f"--- {s} log (tail)", file=sys.stderr)
                print(compose("logs", "--tail", "15", s, check=False), file=sys.stderr)
        compose("down", "-v", "--timeout", "5", check=False)
    print(f"replicas: {len(problems)} problems")
    return 1 if problems else 0


sys.exit(main())
