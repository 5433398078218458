/*
 * slow_model.c — writes the synthetic model that the serving tests use when
 * a generation must last long enough for the test to act on it (built as
 * build/tools/slow_model; used by tests/server/chat_ui_test.sh, which
 * cannot call tests/server/serve_util.c itself).
 *
 *   slow_model DIR     writes DIR/slow.gguf once (su_slow_model: llama,
 *                      dim 256, 4 layers, 32k vocabulary, context 2048,
 *                      seeded) and prints its path
 *
 * The same file serve_cancel_test.c makes, so the two share one copy in
 * $BUILD/test-models.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "server/serve_util.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fputs("usage: slow_model DIR   (writes DIR/slow.gguf once and prints its path)\n", stderr);
        return 2;
    }
    mkdir(argv[1], 0755); /* an existing folder is fine; a failure shows in su_slow_model */
    char *path = su_slow_model(argv[1]);
    if (!path) {
        fprintf(stderr, "slow_model: could not write %s/slow.gguf\n", argv[1]);
        return 1;
    }
    puts(path);
    free(path);
    return 0;
}
