#!/usr/bin/env bash
# Builds what the container tests run: the base images (base-images.sh), a
# local Garage image standing in for S3 (s3ftpd-test/garage:local) and the
# real Dockerfile's runtime target (s3ftpd:local), with the classic builder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bash "$here/base-images.sh"
garage="$(command -v garage)" || { echo "images: no garage binary (cargo install garage --locked)" >&2; exit 1; }
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$here/garage/Dockerfile" "$here/garage/garage.toml" "$ctx/"
cp "$garage" "$ctx/garage"
DOCKER_BUILDKIT=0 docker build -q -t s3ftpd-test/garage:local "$ctx" >/dev/null
DOCKER_BUILDKIT=0 docker build -q --target runtime -t s3ftpd:local "$root" >/dev/null
echo "images: s3ftpd:local $(docker image inspect s3ftpd:local --format '{{.Size}}') bytes" >&2
