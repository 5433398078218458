# ctgi — build and run in a Debian 12 container.
#   docker build -t ctgi .
#   docker run -p 8080:8080 -v /path/to/models:/models ctgi generate --model /models/model.gguf --prompt "Hello"
FROM debian:12-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        gcc make libc6-dev libmicrohttpd-dev libjansson-dev libopenblas-dev libopenblas-pthread-dev \
        libuv1-dev libpcre2-dev libutf8proc-dev libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# -march=x86-64-v2: the image must run on CPUs other than the build host's
RUN make ARCH_FLAGS=-march=x86-64-v2 build/ctgi

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        libmicrohttpd12 libjansson4 libopenblas0-pthread libuv1 libpcre2-8-0 libutf8proc2 libcurl4 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/ctgi /usr/local/bin/ctgi
COPY docker/entrypoint.sh /usr/local/bin/ctgi-entrypoint
ENTRYPOINT ["/usr/local/bin/ctgi-entrypoint"]
CMD ["--help"]
