# smrelay — multi-stage image: build and test on Debian 12, run on bookworm-slim.
# Until the daemon exists the image's command replays the bundled Claude Code
# recording through the vt engine and prints what the chat would receive.
FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libtsm-dev libssh-dev libcurl4-openssl-dev \
      libwebsockets-dev libcjson-dev libpcre2-dev libcriterion-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMRELAY_TESTS=OFF \
    && cmake --build /build -j"$(nproc)" --target smrelay

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      libtsm4 libpcre2-8-0 libcjson1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/smrelay --create-home smrelay
COPY --from=build /build/relay/smrelay /usr/local/bin/smrelay
COPY --from=build /src/tests/fixtures/tty/claude-network-request.raw \
                  /src/tests/fixtures/tty/claude-network-request.timing /usr/share/smrelay/
USER smrelay
CMD ["smrelay", "replay", "--cols", "100", "--rows", "30", \
     "--timing", "/usr/share/smrelay/claude-network-request.timing", \
     "/usr/share/smrelay/claude-network-request.raw"]
