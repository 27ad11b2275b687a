# s3ftpd: FTP/FTPS server whose file system is an S3 bucket.
#
#   docker build -t s3ftpd .
#   docker run -p 2121:2121 -p 50000-50019:50000-50019 -p 9100:9100 \
#     -e S3FTPD_S3_ENDPOINT=http://minio:9000 -e S3FTPD_S3_BUCKET=ftp \
#     -e AWS_ACCESS_KEY_ID=... -e AWS_SECRET_ACCESS_KEY=... \
#     -e S3FTPD_PASSIVE_PUBLIC_HOST=203.0.113.10 \
#     -e S3FTPD_USERS='[{name: alice, password_hash: "$argon2id$...", home: /alice}]' \
#     s3ftpd
#
# Every config key can be set with S3FTPD_<SECTION>_<KEY> (README, "Configuration").

# Builds with the classic builder too (no BuildKit features). Dependencies
# are compiled in a layer of their own, from the manifests and empty stubs,
# so a change to src/ rebuilds s3ftpd alone.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches/distance \
 && echo 'fn main() {}' > src/main.rs && : > src/lib.rs \
 && for b in transfer rename distance/main identity; do echo 'fn main() {}' > benches/$b.rs; done \
 && cargo build --release --locked \
 && rm -rf src benches
COPY src ./src
COPY benches ./benches
# The runtime's whole root file system, assembled here: the stripped
# binary, the shared libraries it links (glibc's loader, libc, libm,
# libgcc_s — `ldd` names them; glibc ≥ 2.34 resolves host names without
# NSS plug-ins, from /etc/hosts and /etc/resolv.conf, which the container
# runtime provides), Debian's CA bundle, a passwd entry for uid 10001, an
# empty /tmp, and the default config.
# touch: the sources are older than the stub build; cargo must see them as new.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && mkdir -p /rootfs/usr/local/bin /rootfs/etc/ssl/certs /rootfs/etc/s3ftpd /rootfs/tmp \
 && strip -o /rootfs/usr/local/bin/s3ftpd target/release/s3ftpd \
 && for lib in $(ldd target/release/s3ftpd | grep -o '/[^ ]*'); do cp --parents -L "$lib" /rootfs/; done \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && echo 's3ftpd:x:10001:10001:s3ftpd:/tmp:/nonexistent' > /rootfs/etc/passwd \
 && echo 's3ftpd:x:10001:' > /rootfs/etc/group \
 && chmod 1777 /rootfs/tmp
COPY deploy/docker/s3ftpd.yaml /rootfs/etc/s3ftpd/s3ftpd.yaml

# No shell, no package manager: only what the binary needs.
FROM scratch AS runtime
COPY --from=build /rootfs/ /
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 10001:10001
# Control, passive range, metrics/health.
EXPOSE 2121 50000-50019 9100
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/s3ftpd", "healthcheck"]
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="s3ftpd" \
      org.opencontainers.image.description="FTP/FTPS server whose file system is an S3 bucket" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/s3ftpd/s3ftpd"
ENTRYPOINT ["/usr/local/bin/s3ftpd"]
CMD ["serve", "-c", "/etc/s3ftpd/s3ftpd.yaml"]
