# workspace-server alone: multi-stage, non-root (uid/gid 1000), health-checked.
#
#   docker build -t workspace-server .               # with a registry: builds from source
#
# Without a registry (docs/deployment.md): make `debian:bookworm-slim` locally
# (scripts/lib/images.sh), put a host-built binary at prebuilt/workspace-server, and
#   docker build --build-arg RUST_IMAGE=debian:bookworm-slim -t workspace-server .
ARG RUST_IMAGE=rust:1-bookworm
ARG BASE_IMAGE=debian:bookworm-slim

# Builds from source, unless a binary built elsewhere sits at prebuilt/workspace-server in the
# context (then any local image with a shell will do as RUST_IMAGE).
FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN set -eu; \
    if [ -f prebuilt/workspace-server ]; then \
      cp prebuilt/workspace-server /workspace-server; \
    else \
      cargo build --release --locked && cp target/release/workspace-server /workspace-server; \
    fi; \
    chmod 0755 /workspace-server

FROM ${BASE_IMAGE}
# uid/gid 1000 belong to the server's user, whoever had them in the base.
RUN set -eu; \
    if getent passwd 1000 >/dev/null; then userdel -r "$(getent passwd 1000 | cut -d: -f1)" 2>/dev/null || userdel "$(getent passwd 1000 | cut -d: -f1)"; fi; \
    if getent group 1000 >/dev/null; then groupdel "$(getent group 1000 | cut -d: -f1)"; fi; \
    groupadd -g 1000 workspace && useradd -u 1000 -g 1000 -m -s /usr/sbin/nologin workspace; \
    mkdir -p /data /plugins && chown 1000:1000 /data /plugins
COPY --from=build /workspace-server /usr/local/bin/workspace-server
COPY migrations /usr/share/workspace-server/migrations
ENV BIND_ADDR=0.0.0.0 PORT=8080 DATA_DIR=/data PLUGINS_DIR=/plugins
VOLUME /data
EXPOSE 8080
USER 1000:1000
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 CMD ["workspace-server", "healthcheck"]
ENTRYPOINT ["workspace-server"]
