/*
 * testutil.h — helpers shared by the C tests: where the shared model data
 * lives (env CTGI_MODELS, default ../shared/models next to the checkout),
 * scratch directories, and running the ctgi binary.
 */
#ifndef CTGI_TESTUTIL_H
#define CTGI_TESTUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

/* Directory of the shared models (no trailing slash). */
const char *tu_models_dir(void);
/* malloc'd "<models_dir>/<rel>". */
char *tu_model_path(const char *rel);
/* A fresh scratch directory under $TMPDIR (malloc'd path); removed by tu_rmrf. */
char *tu_mkdtemp(void);
void tu_rmrf(const char *path);
/* Path of the built ctgi binary (env CTGI_BIN, default build/ctgi). */
const char *tu_ctgi_bin(void);
/* True when the test runs in a sanitizer stage (make check-asan sets
 * CTGI_ASAN, check-tsan CTGI_TEST_SLOWDOWN): statistical tests then draw
 * fewer samples -- the stage checks memory and threads, the plain stage
 * the statistics at full power. */
bool tu_sanitized(void);
/* Run a shell command, capture stdout (malloc'd) and exit status. */
char *tu_run(const char *cmd, int *status);
/* Copy a file. */
bool tu_copy(const char *from, const char *to);

/* A seeded xorshift64 stream for randomized tests (state must be non-zero):
 * the same seed gives the same schedule on every machine. */
uint64_t tu_rnd(uint64_t *state);
/* Uniform-ish integer in [lo, hi] from tu_rnd. */
int tu_rnd_in(uint64_t *state, int lo, int hi);

#endif
