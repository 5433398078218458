# ctgi — build, test, bench, run.
#
#   make            build build/ctgi (release flags)
#   make test       install test deps, build, run every test (TAP; "N passed, N failed")
#   make test-asan  the same suite built with AddressSanitizer + UBSan (build-asan/)
#   make fuzz       libFuzzer targets (tests/fuzz/, clang, build-fuzz/): each seed
#                   corpus, then FUZZ_TIME seconds (default 60) of fuzzing per target
#   make bench      engine benchmarks (printed tables)
#   make run        install deps, build, serve a model with the chat page on
#                   http://127.0.0.1:8080 (MODEL_ID, else SmolLM2-135M-Instruct
#                   from the Hub, else offline a model in ../shared/models)
#
# OpenBLAS is pinned to one variant at link time (see docs/ARCHITECTURE.md and
# ../shared/reference/runtime-notes.md §2.5): the engine owns its thread pool and
# calls BLAS single-threaded, so the variant's own threads must never start.

BUILD      ?= build
CC         ?= gcc
# Computed on first use, not at parse time: on a bare machine `make run` /
# `make test` first install the compiler (deps), then build in a sub-make.
MA          = $(eval MA := $(shell $(CC) -print-multiarch))$(MA)
BLAS_V     ?= pthread
BLAS_INC    = /usr/include/$(MA)/openblas-$(BLAS_V)
BLAS_LIB    = /usr/lib/$(MA)/openblas-$(BLAS_V)
ARCH_FLAGS ?= -march=native
OPT        ?= -O2
SAN        ?=
SHARED_DIR ?= $(abspath ../shared)
CTGI_MODELS ?= $(SHARED_DIR)/models
export CTGI_MODELS

WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS   = -std=c17 $(OPT) -g $(ARCH_FLAGS) -fopenmp-simd $(WARN) -D_GNU_SOURCE -pthread \
           -I. -Iengine -Iproto -Iserver -I$(BLAS_INC) $(SAN) $(EXTRA_CFLAGS)
LDFLAGS  = -pthread -L$(BLAS_LIB) -Wl,-rpath,$(BLAS_LIB) -Wl,--disable-new-dtags $(SAN)
LDLIBS  := -lopenblas -ljansson -lpcre2-8 -lutf8proc -lxxhash -lmicrohttpd -luv -lcurl -lm

ENGINE_SRC := $(sort $(shell find engine -name '*.c'))
PROTO_SRC  := $(wildcard proto/*.c)
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))
LIB_OBJ    := $(patsubst %.c,$(BUILD)/%.o,$(ENGINE_SRC) $(PROTO_SRC) $(SERVER_SRC))
MAIN_OBJ   := $(BUILD)/server/main.o

TEST_SRC   := $(sort $(shell find tests/engine tests/server tests/proto -name '*_test.c'))
TEST_SUPPORT_SRC := $(wildcard tests/support/*.c) tests/server/serve_util.c
TEST_SUPPORT_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(TEST_SUPPORT_SRC))
# the tools link without cmocka: leave out the support that asserts with it
TOOL_SUPPORT_OBJ := $(filter-out $(BUILD)/tests/support/engine_fixture.o $(BUILD)/tests/support/golden.o $(BUILD)/tests/support/golden_native.o,$(TEST_SUPPORT_OBJ))
TEST_BIN   := $(patsubst %.c,$(BUILD)/%,$(TEST_SRC))

TOOL_SRC   := $(wildcard scripts/*.c)
TOOL_BIN   := $(patsubst scripts/%.c,$(BUILD)/tools/%,$(TOOL_SRC))

.PHONY: all deps test-deps test test-asan bench run clean tests tools fuzz fuzz-build fuzz-targets

all: $(BUILD)/ctgi

$(BUILD)/ctgi: $(MAIN_OBJ) $(BUILD)/libctgi.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libctgi.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# proto/openapi.c embeds this file with .incbin (the compiler's .d cannot see it)
$(BUILD)/proto/openapi.o: proto/openapi.json
# server/ui.c embeds the chat page's files the same way
$(BUILD)/server/ui.o: $(wildcard server/ui/*)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libctgi.a $(TEST_SUPPORT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(TEST_SUPPORT_OBJ) $(BUILD)/libctgi.a $(LDFLAGS) $(LDLIBS) -lcmocka

# The sampler's portable code compiled into the test without AVX2, checked
# bit for bit against the library's build (sampler_portable_test.c).
PORTABLE_FLAGS := -mno-avx2 -mno-fma -mno-avx512f
$(BUILD)/tests/engine/sampling/sampler_portable_test: tests/engine/sampling/sampler_portable_test.c \
		$(wildcard engine/sampling/sampler*.[ch]) $(BUILD)/libctgi.a $(TEST_SUPPORT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PORTABLE_FLAGS) -Itests -o $@ $< $(TEST_SUPPORT_OBJ) $(BUILD)/libctgi.a $(LDFLAGS) $(LDLIBS) -lcmocka

$(BUILD)/tests/support/%.o: tests/support/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -MMD -MP -c -o $@ $<

$(BUILD)/tools/%: scripts/%.c $(BUILD)/libctgi.a $(TOOL_SUPPORT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(TOOL_SUPPORT_OBJ) $(BUILD)/libctgi.a $(LDFLAGS) $(LDLIBS)

tests: $(BUILD)/ctgi $(TEST_BIN) $(TOOL_BIN)
tools: $(TOOL_BIN)

deps:
	scripts/install-deps.sh

test-deps:
	scripts/install-deps.sh --test

# The README's test command.  Installs what is missing, builds, runs all.
test: test-deps
	$(MAKE) tests
	BUILD=$(BUILD) tests/run.sh

test-asan: test-deps
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" tests
	BUILD=build-asan CTGI_ASAN=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run.sh

# Fuzzing: the library built by clang with libFuzzer's coverage hooks and
# ASan + UBSan into build-fuzz/, one binary per tests/fuzz/fuzz_*.c.
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME  ?= 60
FUZZ_SAN   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_BIN   := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

# The kernels are left uninstrumented: they take minutes to compile with
# ASan and their inputs are not what the targets fuzz.
ifeq ($(FUZZ),1)
SAN := -fsanitize=fuzzer-no-link $(FUZZ_SAN)
$(BUILD)/engine/kernels/%.o: SAN :=
endif

fuzz-build:
	$(MAKE) FUZZ=1 BUILD=$(FUZZ_BUILD) CC=clang OPT=-O1 fuzz-targets

fuzz-targets: $(FUZZ_BIN)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(BUILD)/libctgi.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -Itests/fuzz -o $@ $< $(BUILD)/libctgi.a $(LDFLAGS) $(LDLIBS)

fuzz: test-deps
	FUZZ_TIME=$(FUZZ_TIME) FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/fuzz_test.sh

bench: deps
	$(MAKE) all tools
	BUILD=$(BUILD) scripts/bench.sh

run: deps
	$(MAKE) all
	BUILD=$(BUILD) scripts/run.sh

clean:
	rm -rf build build-asan build-fuzz build-x86-64 build-x86-64-v2 build-x86-64*.log

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
