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
 && for b in transfer rename distance/main; do echo 'fn main() {}' > benches/$b.rs; done \
 && cargo build --release --locked \
 && rm -rf src benches
COPY src ./src
COPY benches ./benches
# touch: the sources are older than the stub build; cargo must see them as new.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && strip -o /usr/local/bin/s3ftpd target/release/s3ftpd

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin s3ftpd
COPY --from=build /usr/local/bin/s3ftpd /usr/local/bin/s3ftpd
COPY deploy/docker/s3ftpd.yaml /etc/s3ftpd/s3ftpd.yaml
USER 10001:10001
# Control, passive range, metrics/health.
EXPOSE 2121 50000-50019 9100
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:9100/healthz || exit 1
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="s3ftpd" \
      org.opencontainers.image.description="FTP/FTPS server whose file system is an S3 bucket" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/s3ftpd/s3ftpd"
ENTRYPOINT ["/usr/local/bin/s3ftpd"]
CMD ["serve", "-c", "/etc/s3ftpd/s3ftpd.yaml"]
