# ctgi — build, test, bench, run.
#
#   make            build build/ctgi (release flags)
#   make test       install test deps, build, run every test (TAP; "N passed, N failed"),
#                   fuzz targets included (tests/fuzz/fuzz_test.sh), then the same
#                   suite under ASan+UBSan, the threaded tests under TSan and the
#                   engine and proto tests under memcheck (tests/stages.sh)
#   make test-sanitizers  the ASan+UBSan, TSan and memcheck stages below together
#                   (tests/stages.sh; one final "N passed, N failed" over them)
#   make test-asan  the suite built with AddressSanitizer + UBSan (build-asan/)
#   make test-tsan  the threaded tests built with ThreadSanitizer (build-tsan/)
#   make test-valgrind  the engine and proto unit tests under valgrind memcheck
#                   (build-valgrind/, baseline -march)
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

.PHONY: all deps test-deps test test-sanitizers test-asan test-tsan test-valgrind bench run clean tests tools \
        fuzz fuzz-build fuzz-targets check-plain check-asan check-tsan check-valgrind

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

# The README's test command.  Installs what is missing, builds, runs all:
# the plain suite, then the ASan+UBSan, TSan and valgrind stages (each
# check-STAGE builds its own tree and runs tests/run.sh over it).
test: test-deps
	MAKE="$(MAKE)" tests/stages.sh plain asan tsan valgrind

test-sanitizers: test-deps
	MAKE="$(MAKE)" tests/stages.sh asan tsan valgrind

test-asan: test-deps
	MAKE="$(MAKE)" tests/stages.sh asan
test-tsan: test-deps
	MAKE="$(MAKE)" tests/stages.sh tsan
test-valgrind: test-deps
	MAKE="$(MAKE)" tests/stages.sh valgrind

# ---- the stages --------------------------------------------------------------------------
# Builds in the stages run -j$(JOBS) even under a plain `make test` (CI).
JOBS ?= $(shell nproc)
# Left out of the ASan stage: tests that never run this tree's build (the
# container image, built from source by podman; the include rule; the fuzz
# targets, built with ASan in build-fuzz/ by the plain stage), and
# baseline_arch_test.sh, which would rerun the plain stage's -march test
# programs and two more golden runs (minutes); every kernel set it forces
# runs under ASan in wmat_test, which checks each set the CPU has.
SAN_SKIP := tests/docker/container_test\.sh|tests/include_rule_test\.sh|tests/engine/kernels/baseline_arch_test\.sh|tests/fuzz/fuzz_test\.sh

check-plain:
	$(MAKE) -j$(JOBS) tests
	BUILD=$(BUILD) tests/run.sh

ASAN_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
check-asan:
	$(MAKE) -j$(JOBS) BUILD=build-asan OPT=-O1 SAN="$(ASAN_SAN)" tests
	BUILD=build-asan CTGI_ASAN=1 CTGI_TEST_SKIP='$(SAN_SKIP)' ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1 tests/run.sh

# ThreadSanitizer: the tests with threads of ours -- the engine thread and
# the compute pool (engine, engine_prompt, engine_spec, sched, t5_sched, pool, model/lora: LoRA rows split over the pool), the grammar shared by
# threads (constraint/mask_test, constraint/engine_constraint_test: lock-free
# masks and transitions, samplers on the pool) and everything that
# starts `ctgi serve` (loop thread, model loading thread, libuv workers):
# tests/server/ and tests/scripts/run_test.sh.  Any report fails the test
# (exitcode 66); tests/tsan.supp names third-party internals only.
TSAN_C    := tests/engine/engine_test tests/engine/engine_prompt_test tests/engine/engine_spec_test tests/engine/sched_test \
             tests/engine/t5_sched_test tests/engine/pool_test tests/engine/constraint/mask_test \
             tests/engine/constraint/engine_constraint_test tests/engine/model/lora_test \
             $(patsubst %.c,%,$(wildcard tests/server/*_test.c))
TSAN_ONLY := tests/engine/(engine|engine_prompt|engine_spec|sched|t5_sched|pool|constraint/mask|constraint/engine_constraint|model/lora)_test$$|tests/server/|tests/scripts/run_test\.sh
TSAN_OPTS := halt_on_error=1:exitcode=66:second_deadlock_stack=1:suppressions=$(abspath tests/tsan.supp)
check-tsan:
	$(MAKE) -j$(JOBS) BUILD=build-tsan OPT=-O1 SAN="-fsanitize=thread" \
	    build-tsan/ctgi tools $(addprefix build-tsan/,$(TSAN_C))
	BUILD=build-tsan TSAN_OPTIONS='$(TSAN_OPTS)' CTGI_TEST_SLOWDOWN=4 tests/run.sh '$(TSAN_ONLY)'

# valgrind memcheck over the engine and proto unit tests (C programs only;
# the ctgi they start, e.g. chat_template_test's CLI case, runs natively).
# valgrind runs no AVX-512: the tree is built for x86-64-v2 and the int8
# kernels are held to AVX2 (valgrind's CPUID reports no AVX-512 anyway).
# Left out, for time only (each is minutes under ASan, tens of minutes under
# memcheck; the ASan stage runs them, with LeakSanitizer): the golden tests
# (golden_test, golden_quant_test, arch_golden_test, t5_test: whole reference models), model_test
# (every quantized type of the synthetic models), perplexity_test (a whole
# perplexity pass), tok_decode_test (every token of every vocabulary),
# matmul_test (large products), engine_spec_test (8000 sampled requests for the law of
# speculative sampling: 3-5 minutes under ASan); and pool_test (20000 back-to-back
# hand-offs: valgrind runs one thread at a time, so each one spins out the
# pool's whole spin budget; TSan and ASan run it).  Left out as third-party:
# tokenizer_test, tok_fim_test and tok_unigram_test, whose pre-tokenizer
# regexes run PCRE2's JIT code, which memcheck flags (uninitialised reads
# at unnamed JIT addresses, no symbols to suppress by); ASan runs them.
VG_ONLY := /tests/(engine|proto)/.*_test$$
VG_SKIP := /(golden_test|golden_quant_test|arch_golden_test|t5_test|model_test|perplexity_test|tok_decode_test|matmul_test|engine_spec_test|pool_test|tokenizer_test|tok_fim_test|tok_unigram_test)$$
VG_CMD  := valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
           --show-leak-kinds=definite
check-valgrind:
	$(MAKE) -j$(JOBS) BUILD=build-valgrind ARCH_FLAGS=-march=x86-64-v2 build-valgrind/ctgi \
	    $(filter build-valgrind/tests/engine/% build-valgrind/tests/proto/%,$(patsubst $(BUILD)/%,build-valgrind/%,$(TEST_BIN)))
	BUILD=build-valgrind CTGI_KERNELS=avx2 CTGI_TEST_JOBS=2 CTGI_TEST_WRAP='$(VG_CMD)' CTGI_TEST_SKIP='$(VG_SKIP)' \
	    tests/run.sh '$(VG_ONLY)'

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
# clang at -O1 may not vectorize a loop marked `omp simd` (constraint/mask.c): not an error here
WARN += -Wno-pass-failed
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
	rm -rf build build-asan build-tsan build-valgrind build-fuzz build-x86-64 build-x86-64-v2 build-x86-64*.log

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
