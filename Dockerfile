# smrelay: build on Debian 12 with the -dev packages, run on bookworm-slim
# with the runtime libraries only.
#   podman build -t localhost/smrelay:latest .
#   podman run -d --name smrelay -p 8080:8080 --env-file smrelay.env \
#     -v smrelay-state:/var/lib/smrelay -v /etc/smrelay/ssh:/etc/smrelay/ssh:ro \
#     localhost/smrelay:latest
# (deploy/README.md; the agent image the sessions run in is container-image/.)

FROM docker.io/library/debian:bookworm AS build
# The build dependencies come from the one list the README and CI use.
COPY deploy/install-build-deps.sh /tmp/install-build-deps.sh
RUN /tmp/install-build-deps.sh
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMRELAY_TESTS=OFF \
    && cmake --build /build -j"$(nproc)" --target smrelay \
    && install -D -s -m 0755 /build/relay/smrelay /out/smrelay

FROM docker.io/library/debian:bookworm-slim
# The libraries `smrelay` links (readelf -d: libtsm, libpcre2-8, libcjson,
# libssh, libcurl (openssl flavour), libwebsockets, libuv, libidn2; libc,
# libm, libresolv are in libc6); their own dependencies follow from the
# packages. ca-certificates: TLS to Mattermost and OPNsense. curl: the
# HEALTHCHECK's HTTP client (same libcurl4 the daemon uses, so it adds
# one small binary). tini: PID 1 (below).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       ca-certificates curl libcjson1 libcurl4 libidn2-0 libpcre2-8-0 libssh-4 \
       libtsm4 libuv1 libwebsockets17 tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 smrelay \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/smrelay \
       --no-create-home --shell /usr/sbin/nologin smrelay \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/smrelay
COPY --from=build /out/smrelay /usr/local/bin/smrelay

# Listen on every address: in a container, loopback is unreachable from
# outside (Mattermost's button callbacks and the probes come over the
# network). Outside containers the daemon's default stays 127.0.0.1:8080.
ENV SM_STATE_DIR=/var/lib/smrelay \
    SM_LISTEN_ADDR=:8080
VOLUME ["/var/lib/smrelay"]
EXPOSE 8080

# Numeric: Kubernetes' runAsNonRoot can only verify a numeric USER.
USER 10001:10001

# /healthz answers while the process serves requests (readiness, /readyz,
# is Kubernetes' business: it depends on the VMs and Mattermost).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "--max-time", "4", "http://127.0.0.1:8080/healthz"]

# tini as PID 1: reaps the children of the firewall's command backend and
# forwards SIGTERM (smrelay stops cleanly on it; its sessions live on the
# VMs and are reattached by the next start). `docker run --init` would do
# the same; with tini in the image every runtime and Kubernetes get it.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["smrelay", "serve"]
