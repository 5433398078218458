/*
 * vocab_model.c — writes a small seeded random-weight model that carries a
 * given vocabulary (built as build/tools/vocab_model; the shell and node
 * tests that need a model with a particular tokenizer use it, e.g.
 * tests/server/fim_client_test.sh gives one the StarCoder vocabulary for
 * fill-in-the-middle).
 *
 *   vocab_model OUT.gguf VOCAB.gguf [SEED]
 *       llama, dim 64, 2 layers, 4 heads (2 kv), ffn 128, context 512,
 *       untied output, F32 (synth_default), seed SEED (default 1); the
 *       tokenizer.ggml.* metadata copied from VOCAB.gguf (e.g.
 *       $CTGI_MODELS/vocab/ggml-vocab-starcoder.gguf).  The file is written
 *       at test time from the vocabulary, never kept in the repository.
 */
#include <stdio.h>
#include <stdlib.h>

#include "support/synth_model.h"

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fputs("usage: vocab_model OUT.gguf VOCAB.gguf [SEED]\n", stderr);
        return 2;
    }
    synth_config c = synth_default();
    c.vocab_gguf = argv[2];
    if (argc == 4) c.seed = strtoull(argv[3], NULL, 10);
    char err[CT_ERRLEN];
    if (!synth_write_gguf(&c, argv[1], err)) {
        fprintf(stderr, "vocab_model: %s\n", err);
        return 1;
    }
    return 0;
}
