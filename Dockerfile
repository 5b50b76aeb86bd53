# spaces-archive: a multi-stage build. The build stage compiles the release binary;
# the runtime stage is Debian slim with CA certificates, the binary and a non-root
# user. Data lives on the /data volume; /healthz is checked by `spaces-archive health`.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY askama.toml ./
COPY migrations migrations
COPY benches benches
COPY tests tests
RUN cargo build --release --locked --bin spaces-archive \
 && strip target/release/spaces-archive

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin archiver \
 && mkdir -p /data \
 && chown archiver:archiver /data
COPY --from=build /src/target/release/spaces-archive /usr/local/bin/spaces-archive
USER archiver
ENV SPACES_ARCHIVE_DATA_DIR=/data \
    SPACES_ARCHIVE_METRICS_ADDR=0.0.0.0:9464 \
    SPACES_ARCHIVE_HEALTH_ADDR=127.0.0.1:9464
VOLUME ["/data"]
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["spaces-archive", "health"]
ENTRYPOINT ["spaces-archive"]
CMD ["run"]
