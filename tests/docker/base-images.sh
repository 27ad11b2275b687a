#!/usr/bin/env bash
# Makes the images the Dockerfile starts FROM, without any image registry:
#
#   debian:bookworm-slim   debootstrap --variant=minbase of Debian bookworm
#   rust:1.95-bookworm     the same Debian + gcc/make/binutils + this host's
#                          Rust toolchain (the Dockerfile's version; the host
#                          runs bookworm too, so its rustc runs unchanged) and
#                          the extra certificate authorities the host trusts
#
# so that the *real* Dockerfile builds unchanged with the classic builder.
# The root file systems are cached as tarballs under ~/.cache/s3ftpd-docker
# (S3FTPD_DOCKER_CACHE); an image that already exists is left alone.
# Needs root (debootstrap, chroot) and Debian's mirror (DEBIAN_MIRROR).
set -euo pipefail

cache="${S3FTPD_DOCKER_CACHE:-$HOME/.cache/s3ftpd-docker}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm
here="$(cd "$(dirname "$0")/../.." && pwd)"
rust_tag="$(sed -n 's/^FROM rust:\([0-9.]*\)-bookworm.*/\1/p' "$here/Dockerfile" | head -n1)"
[ -n "$rust_tag" ] || { echo "base-images: no 'FROM rust:X.Y-bookworm' in the Dockerfile" >&2; exit 1; }
mkdir -p "$cache"
path_env='PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

have() { docker image inspect "$1" >/dev/null 2>&1; }
say() { printf 'base-images: %s\n' "$*" >&2; }

# --- debian:bookworm-slim ------------------------------------------------------
slim_tar="$cache/$suite-minbase.tar"
if [ ! -s "$slim_tar" ]; then
  command -v debootstrap >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  say "debootstrap $suite (minbase) from $mirror"
  tmp="$(mktemp -d)"
  debootstrap --variant=minbase "$suite" "$tmp/root" "$mirror" >"$tmp/log" 2>&1 \
    || { tail -20 "$tmp/log" >&2; exit 1; }
  # As the official slim image: the same sources, no package caches.
  printf 'deb %s %s main\ndeb %s %s-updates main\n' "$mirror" "$suite" "$mirror" "$suite" \
    >"$tmp/root/etc/apt/sources.list"
  rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"*
  tar -C "$tmp/root" -cf "$slim_tar.part" . && mv "$slim_tar.part" "$slim_tar"
  rm -rf "$tmp"
fi
if ! have debian:$suite-slim; then
  say "importing debian:$suite-slim"
  docker import --change "ENV $path_env" --change 'CMD ["bash"]' "$slim_tar" "debian:$suite-slim" >/dev/null
fi

# --- rust:X.Y-bookworm -----------------------------------------------------------
sysroot="$(rustc +"$rust_tag" --print sysroot 2>/dev/null || rustc --print sysroot)"
host_version="$("$sysroot/bin/rustc" --version | awk '{print $2}')"
case "$host_version" in
  "$rust_tag" | "$rust_tag".*) ;;
  *) say "the Dockerfile wants Rust $rust_tag, this host has $host_version"; exit 1 ;;
esac
rust_tar="$cache/$suite-rust-$host_version.tar"
if [ ! -s "$rust_tar" ]; then
  say "builder root: gcc and Rust $host_version from $sysroot"
  tmp="$(mktemp -d)"
  mkdir "$tmp/root"
  tar -C "$tmp/root" -xf "$slim_tar"
  cp /etc/resolv.conf "$tmp/root/etc/resolv.conf"
  mount -t proc proc "$tmp/root/proc"
  trap 'umount "$tmp/root/proc" 2>/dev/null || true' EXIT
  chroot "$tmp/root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc g++ libc6-dev make binutils pkg-config ca-certificates curl git perl >/dev/null && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb'
  umount "$tmp/root/proc"
  trap - EXIT
  # Certificate authorities this host trusts beyond Debian's (a TLS-inspecting
  # egress proxy, say), so cargo in the builder reaches crates.io as the host does.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$tmp/root/usr/local/share/ca-certificates/"
    chroot "$tmp/root" update-ca-certificates >/dev/null 2>&1
  fi
  mkdir -p "$tmp/root/usr/local/rust" "$tmp/root/usr/local/cargo/bin"
  cp -a "$sysroot/bin" "$sysroot/lib" "$tmp/root/usr/local/rust/"
  [ -d "$sysroot/libexec" ] && cp -a "$sysroot/libexec" "$tmp/root/usr/local/rust/"
  for tool in "$tmp/root/usr/local/rust/bin/"*; do
    ln -s "../../rust/bin/$(basename "$tool")" "$tmp/root/usr/local/cargo/bin/"
  done
  : >"$tmp/root/etc/resolv.conf"
  tar -C "$tmp/root" -cf "$rust_tar.part" . && mv "$rust_tar.part" "$rust_tar"
  rm -rf "$tmp"
fi
if ! have "rust:$rust_tag-$suite"; then
  say "importing rust:$rust_tag-$suite"
  docker import --change "ENV $path_env" --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'CMD ["bash"]' "$rust_tar" "rust:$rust_tag-$suite" >/dev/null
fi
say "ready: debian:$suite-slim rust:$rust_tag-$suite"
