#!/usr/bin/env bash
# Builds s3ftpd-test/tests:prebuilt, the image of the compose stack's test
# profile in CI (tests/docker/compose.prebuilt.yml), from the integration
# suite compiled on this host for the `external` backend (the stack's S3):
# only s3ftpd and the suite are compiled again, not their dependencies, as
# the shipped tests/docker/Dockerfile.test would. The host and the image
# are both Debian bookworm, so the binaries run unchanged.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# build.rs compiles the other backends' tests as ignored.
suite="$(S3FTPD_TEST_BACKENDS=external cargo test --locked --test it --no-run --message-format=json \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "it" and m.get("executable"):
        print(m["executable"])')"
[ -x "$suite" ] || { echo "prebuilt: no test executable" >&2; exit 1; }
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
# The work tree as git sees it (tracked and new files, nothing ignored).
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$ctx"
# Beside the sources, not under target/ (which .dockerignore leaves out);
# the Dockerfile puts them where the suite looks for them.
mkdir -p "$ctx/prebuilt"
cp target/debug/s3ftpd "$ctx/prebuilt/s3ftpd"
cp "$suite" "$ctx/prebuilt/it"
DOCKER_BUILDKIT=0 docker build -q -f "$ctx/tests/docker/Dockerfile.prebuilt" --build-arg SRC="$root" \
  -t s3ftpd-test/tests:prebuilt "$ctx" >/dev/null
echo "prebuilt: s3ftpd-test/tests:prebuilt ($suite)" >&2
