/*
 * fuzz_hf_config.c — libFuzzer target: a Hugging Face model directory's
 * config.json (engine/model/model_hf.c) through model_load.
 *
 * Once per process a tiny model directory is written to a temporary
 * directory: a byte-level BPE tokenizer.json of 8 tokens and a
 * model.safetensors of a llama with hidden size 8, one layer, 2 heads
 * (1 KV head), head_dim 4, FFN 16, vocabulary 8, all weights zero.  Each
 * input becomes its config.json and the directory is loaded, so every
 * field's type and range checks and the agreement between the config and
 * the tensor shapes are exercised.  The seed corpus holds the config that
 * matches the fixture and variations of it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/model_info.h"

static const char TOKENIZER[] =
    "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":7,\"content\":\"<|end|>\",\"single_word\":false,"
    "\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}],"
    "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
    "\"trim_offsets\":true,\"use_regex\":true},\"post_processor\":null,"
    "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true},"
    "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":null,"
    "\"end_of_word_suffix\":null,\"fuse_unk\":false,\"byte_fallback\":false,"
    "\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"\\u0120\":3,\"ab\":4,\"\\u0120a\":5,\"abc\":6,\"<|end|>\":7},"
    "\"merges\":[\"a b\",\"\\u0120 a\",\"ab c\"]}}";

typedef struct {
    const char *name;
    int rows, cols; /* cols 0: a vector */
} fx_tensor;

static const fx_tensor TENSORS[] = {
    {"model.embed_tokens.weight", 8, 8},
    {"model.layers.0.input_layernorm.weight", 8, 0},
    {"model.layers.0.self_attn.q_proj.weight", 8, 8},
    {"model.layers.0.self_attn.k_proj.weight", 4, 8},
    {"model.layers.0.self_attn.v_proj.weight", 4, 8},
    {"model.layers.0.self_attn.o_proj.weight", 8, 8},
    {"model.layers.0.post_attention_layernorm.weight", 8, 0},
    {"model.layers.0.mlp.gate_proj.weight", 16, 8},
    {"model.layers.0.mlp.up_proj.weight", 16, 8},
    {"model.layers.0.mlp.down_proj.weight", 8, 16},
    {"model.norm.weight", 8, 0},
    {"lm_head.weight", 8, 8},
};
#define N_TENSORS (sizeof TENSORS / sizeof TENSORS[0])

static bool write_file(const char *dir, const char *name, const void *p, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* model.safetensors: u64 header length, the JSON header, zeroed F32 data. */
static bool write_weights(const char *dir) {
    char hdr[4096];
    size_t h = 0, off = 0;
    h += (size_t)snprintf(hdr + h, sizeof hdr - h, "{");
    for (size_t i = 0; i < N_TENSORS; i++) {
        const fx_tensor *t = &TENSORS[i];
        size_t n = (size_t)t->rows * (t->cols ? (size_t)t->cols : 1) * 4;
        char shape[32];
        if (t->cols) snprintf(shape, sizeof shape, "%d,%d", t->rows, t->cols);
        else snprintf(shape, sizeof shape, "%d", t->rows);
        h += (size_t)snprintf(hdr + h, sizeof hdr - h, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%s],"
                              "\"data_offsets\":[%zu,%zu]}", i ? "," : "", t->name, shape, off, off + n);
        off += n;
    }
    h += (size_t)snprintf(hdr + h, sizeof hdr - h, "}");
    size_t total = 8 + h + off;
    uint8_t *buf = calloc(1, total);
    if (!buf) return false;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(buf + 8, hdr, h);
    bool ok = write_file(dir, "model.safetensors", buf, total);
    free(buf);
    return ok;
}

static const char *fixture_dir(void) {
    static char dir[256];
    if (dir[0]) return dir;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/ctgi-fuzz-hf-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(dir) || !write_file(dir, "tokenizer.json", TOKENIZER, sizeof TOKENIZER - 1) ||
        !write_weights(dir)) {
        fprintf(stderr, "fuzz_hf_config: cannot write the fixture in %s\n", dir);
        exit(2);
    }
    return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *dir = fixture_dir();
    if (!write_file(dir, "config.json", data, size)) abort();
    char err[CT_ERRLEN];
    model_free(model_load(dir, err));
    return 0;
}
