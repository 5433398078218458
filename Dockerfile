# ctgi — a two-stage Debian 12 image: the build stage compiles build/ctgi
# from this checkout, the runtime stage carries only the binary, its shared
# libraries and an entry point.  docs/deploy.md has the whole story.
#
#   docker build -t ctgi:latest .
#   docker run -p 8080:8080 -v /path/to/models:/models:ro \
#       -e MODEL_ID=/models/model.gguf ctgi:latest           # serve on :8080
#   docker run -v /path/to/models:/models:ro ctgi:latest generate \
#       --model /models/model.gguf --prompt "Hello"          # any other command
#
# The image runs on any x86-64-v2 CPU: the code outside the kernels is built
# for that baseline, and the kernels pick AVX2, AVX-512 or AMX at run time.

FROM debian:bookworm-slim AS build
# The build packages come from the same list as a host build's.
COPY scripts/install-deps.sh /src/scripts/install-deps.sh
RUN apt-get update \
    && /src/scripts/install-deps.sh \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ARG ARCH_FLAGS=-march=x86-64-v2
# BUILD=/out: objects from a host checkout can never be linked in, even if
# .dockerignore were bypassed.
RUN make -j"$(nproc)" BUILD=/out ARCH_FLAGS="$ARCH_FLAGS" /out/ctgi \
    && /out/ctgi --help >/dev/null

FROM debian:bookworm-slim
# Run-time libraries of exactly what the Makefile links (-lopenblas from
# /usr/lib/<multiarch>/openblas-pthread, found through the binary's rpath).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libmicrohttpd12 libjansson4 libopenblas0-pthread libuv1 libpcre2-8-0 \
        libutf8proc2 libxxhash0 libcurl4 ca-certificates \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 1000 ctgi \
    && useradd --uid 1000 --gid 1000 --home-dir /data --no-create-home --shell /usr/sbin/nologin ctgi \
    && mkdir -p /data /models \
    && chown 1000:1000 /data
COPY --from=build /out/ctgi /usr/local/bin/ctgi
COPY docker/entrypoint.sh /usr/local/bin/ctgi-entrypoint
# Fails the build if a library is missing from the list above.
RUN if ldd /usr/local/bin/ctgi | grep 'not found'; then exit 1; fi \
    && ctgi --help >/dev/null

# MODEL_ID: a GGUF file or Hugging Face directory (mounted, e.g. under
# /models), or a Hub repo id fetched into HF_HOME.  Every `ctgi serve` option
# can be set the same way (MAX_BATCH_SIZE, API_KEY, ...; ctgi serve --help).
ENV MODEL_ID="" \
    PORT=8080 \
    HF_HOME=/data
VOLUME /data
EXPOSE 8080
USER 1000:1000
WORKDIR /data
# SIGTERM: stop accepting, let requests finish (GRACEFUL_TERMINATION_TIMEOUT,
# 90 s by default; give `docker stop -t` / the orchestrator more than that).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=600s --retries=3 \
    CMD ["/usr/local/bin/ctgi", "health"]
ENTRYPOINT ["/usr/local/bin/ctgi-entrypoint"]
CMD []
