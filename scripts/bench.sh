#!/usr/bin/env bash
# bench.sh — the `make bench` driver: runs build/tools/bench_engine, which
# generates (once) the seeded random bench models, measures the machine's
# limits (memory bandwidth, sgemm/sgemv on the models' shapes) and the
# engine's prefill and decode, then build/tools/bench_quant (typed weights), then
# build/tools/bench_serving: the engine
# API under 1/4/16/64 concurrent requests (throughput, time to first token,
# inter-token latency, KV memory) and a shared-system-prompt workload with
# prefix caching on and off, then build/tools/bench_arch (decode and prefill,
# one row per model architecture), build/tools/bench_sampler (what choosing a
# token costs), build/tools/bench_constraint (what constrained decoding
# costs), build/tools/bench_structured (JSON Schema compile times, and 16
# concurrent streams with half / all of them under a nested schema against
# none), then build/tools/bench_http: `ctgi serve` over
# HTTP/SSE at the same concurrencies beside the engine alone on the same
# prompts.  Prints the tables.  Nothing is asserted.
#
#   BUILD=build scripts/bench.sh [bench_engine options...]
#   CTGI_BENCH_ARGS="--quick --models small" make bench
#
# Environment:
#   CTGI_BENCH_MODELS  model cache (default: bench-models/ at the repo root, gitignored)
#   CTGI_BENCH_ARGS    extra options for bench_engine (--threads N, --models
#                      small|large|all, --quick, --no-micro)
#   CTGI_BENCH_SERVING_ARGS  extra options for bench_serving (--threads N,
#                      --quick, --all-requests, --concurrency 1,4,16,64, ...);
#                      CTGI_BENCH_SERVING=0 skips it
#   CTGI_MODELS        shared models (the llama vocab is read from here)
#   CTGI_BENCH_QUANT_ARGS  options for bench_quant (typed weights: --types, --models,
#                      --quick, --threads); CTGI_BENCH_QUANT=0 skips it;
#                      CTGI_LLAMA_BENCH=path to llama.cpp's llama-bench adds its
#                      numbers on the same files
#   CTGI_LLAMA_SERVER  path to llama.cpp's llama-server: bench_http runs it on the same
#                      file beside ctgi (with CTGI_BENCH_HTTP_ARGS="--type q8_0" etc.)
#   CTGI_BENCH_ARCH=0  skips bench_arch (decode and prefill per architecture on a seeded
#                      110-140M model of each family's shape); CTGI_BENCH_ARCH_ARGS passes it
#                      options (--quick, --arches gpt2,falcon,..., --threads N, --keep)
#   CTGI_BENCH_SAMPLER=0  skips bench_sampler (sampler cost per call / step / decode share)
#   CTGI_BENCH_CONSTRAINT=0  skips bench_constraint (constrained decoding: regex compile,
#                      first-visit and cached token masks, per-step cost); CTGI_BENCH_CONSTRAINT_ARGS
#                      passes it options (--quick, --vocab PATH)
#   CTGI_BENCH_STRUCTURED=0  skips bench_structured (schema compile table; engine tokens/s
#                      with 0, 8 and 16 of 16 streams under a JSON schema; the constraint's
#                      per-step cost); CTGI_BENCH_STRUCTURED_ARGS passes it options (--quick,
#                      --reps N, --gen N, --type q8_0, --no-compile, --no-engine, ...)
#   CTGI_BENCH_LORA=0  skips bench_lora (decode through LoRA adapters beside the base);
#                      CTGI_BENCH_LORA_ARGS passes it options (--quick, --models, --rank R, --type T)
#   CTGI_BENCH_HTTP_ARGS  options for bench_http (`ctgi serve` over HTTP/SSE beside the
#                      engine alone: --concurrency 1,4,16,64, --quick, --no-engine, ...);
#                      CTGI_BENCH_HTTP=0 skips it
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
TOOL=$BUILD/tools/bench_engine
SERVING=$BUILD/tools/bench_serving
CACHE=${CTGI_BENCH_MODELS:-$PWD/bench-models}
export CTGI_MODELS=${CTGI_MODELS:-$(cd .. && pwd)/shared/models}
# The engine's pool owns the cores and calls BLAS single-threaded; set before
# the process starts so OpenBLAS does not even create its worker threads.
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

for t in "$TOOL" "$SERVING"; do
    if [ ! -x "$t" ]; then
        echo "bench.sh: $t not built (run: make bench)" >&2
        exit 1
    fi
done

mkdir -p "$CACHE"
need_kb=$((6 * 1024 * 1024)) # the two F32 models take ~5 GB
if ! ls "$CACHE"/*.gguf >/dev/null 2>&1; then
    avail_kb=$(df -Pk "$CACHE" | awk 'NR == 2 { print $4 }')
    if [ -n "$avail_kb" ] && [ "$avail_kb" -lt "$need_kb" ]; then
        echo "bench.sh: warning: only $((avail_kb / 1024)) MiB free under $CACHE; the bench models need ~5 GB" >&2
    fi
fi

echo "bench: model cache $CACHE (generated once; delete the directory to regenerate)"
echo "bench: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GB RAM", $2 / 1048576 }' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086 # CTGI_BENCH_ARGS is a list of options
"$TOOL" --cache-dir "$CACHE" ${CTGI_BENCH_ARGS:-} "$@"
# Weights in their file's type: F16/BF16/Q8_0/Q4_K_M/Q4_0 files against the
# bandwidth limit and, with CTGI_LLAMA_BENCH=path/to/llama-bench, llama.cpp.
if [ "${CTGI_BENCH_QUANT:-1}" != 0 ] && [ -x "$BUILD/tools/bench_quant" ]; then
    echo
    # shellcheck disable=SC2086 # CTGI_BENCH_QUANT_ARGS is a list of options
    "$BUILD/tools/bench_quant" --cache-dir "$CACHE" ${CTGI_BENCH_QUANT_ARGS:-}
fi
if [ "${CTGI_BENCH_SERVING:-1}" != 0 ]; then
    echo
    # shellcheck disable=SC2086 # CTGI_BENCH_SERVING_ARGS is a list of options
    "$SERVING" --cache-dir "$CACHE" ${CTGI_BENCH_SERVING_ARGS:-}
fi

# Architectures: one row per family (decode / prefill tok/s on a 134M-class model of its
# shape, against llama of the same size) (scripts/bench_arch.c).
if [ "${CTGI_BENCH_ARCH:-1}" != 0 ] && [ -x "$BUILD/tools/bench_arch" ]; then
    echo
    # shellcheck disable=SC2086 # CTGI_BENCH_ARCH_ARGS is a list of options
    "$BUILD/tools/bench_arch" --cache-dir "$CACHE" ${CTGI_BENCH_ARCH_ARGS:-}
fi

# The samplers: cost per call, per step, share of a decode step (scripts/bench_sampler.c).
if [ "${CTGI_BENCH_SAMPLER:-1}" != 0 ] && [ -x "$BUILD/tools/bench_sampler" ]; then
    echo
    "$BUILD/tools/bench_sampler" --cache-dir "$CACHE"
fi

# Constrained decoding: compile, token masks first visit / cached, per-step cost
# (scripts/bench_constraint.c).
if [ "${CTGI_BENCH_CONSTRAINT:-1}" != 0 ] && [ -x "$BUILD/tools/bench_constraint" ]; then
    echo
    # shellcheck disable=SC2086 # CTGI_BENCH_CONSTRAINT_ARGS is a list of options
    "$BUILD/tools/bench_constraint" ${CTGI_BENCH_CONSTRAINT_ARGS:-}
fi

# Structured output: JSON Schema compile, then 16 concurrent streams free / half /
# all under a nested schema (scripts/bench_structured.c).
if [ "${CTGI_BENCH_STRUCTURED:-1}" != 0 ] && [ -x "$BUILD/tools/bench_structured" ]; then
    echo
    # shellcheck disable=SC2086 # CTGI_BENCH_STRUCTURED_ARGS is a list of options
    "$BUILD/tools/bench_structured" --cache-dir "$CACHE" ${CTGI_BENCH_STRUCTURED_ARGS:-}
fi

# Speculative decoding by prompt lookup: copy-heavy and free generation, 1 and 16
# streams, with and without --speculate (scripts/bench_spec.c).
if [ "${CTGI_BENCH_SPEC:-1}" != 0 ] && [ -x "$BUILD/tools/bench_spec" ]; then
    echo
    # shellcheck disable=SC2086 # CTGI_BENCH_SPEC_ARGS is a list of options
    "$BUILD/tools/bench_spec" --cache-dir "$CACHE" ${CTGI_BENCH_SPEC_ARGS:-}
fi

# LoRA adapters: one stream and 16 through one, three and no adapters beside the
# base alone (scripts/bench_lora.c).
if [ "${CTGI_BENCH_LORA:-1}" != 0 ] && [ -x "$BUILD/tools/bench_lora" ]; then
    echo
    # shellcheck disable=SC2086 # CTGI_BENCH_LORA_ARGS is a list of options
    "$BUILD/tools/bench_lora" --cache-dir "$CACHE" ${CTGI_BENCH_LORA_ARGS:-}
fi

# HTTP serving: `ctgi serve` driven over SSE at several concurrencies, beside the
# engine alone on the same prompts (scripts/bench_http.c).
if [ "${CTGI_BENCH_HTTP:-1}" != 0 ] && [ -x "$BUILD/tools/bench_http" ]; then
    # shellcheck disable=SC2086 # CTGI_BENCH_HTTP_ARGS is a list of options
    CTGI_BIN="$PWD/$BUILD/ctgi" "$BUILD/tools/bench_http" --cache-dir "$CACHE" ${CTGI_BENCH_HTTP_ARGS:-}
fi
echo
echo "bench: models cached in $CACHE"
