/*
 * fuzz_gguf.c — libFuzzer target: the GGUF reader (engine/model/gguf.h),
 * the tokenizer built from a GGUF's tokenizer.ggml.* metadata, and the
 * model loader on top of both.
 *
 * The input is a whole GGUF file.  gguf_open_mem validates it; when it
 * opens, every accessor is exercised on every key and tensor (the header
 * promises they are then safe), a tokenizer is built from it and used, and
 * the file is loaded as a model through an in-memory file (memfd) so the
 * metadata-to-config rules and the tensor shape checks see it too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model/gguf.h"
#include "model/model_info.h"
#include "tokenizer/tok_load.h"

static void walk_kvs(const gguf_file *f) {
    for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        char key[512];
        snprintf(key, sizeof key, "%.*s", (int)(kv->key.len < 500 ? kv->key.len : 500), kv->key.ptr);
        uint32_t u;
        int64_t v;
        float x;
        bool b;
        gguf_str s;
        (void)gguf_get_u32(f, key, &u);
        (void)gguf_get_i64(f, key, &v);
        (void)gguf_get_f32(f, key, &x);
        (void)gguf_get_bool(f, key, &b);
        (void)gguf_get_str(f, key, &s);
        free(gguf_get_strdup(f, key));
        gguf_type t;
        uint64_t n;
        if (!gguf_get_arr(f, key, &t, &n)) continue;
        (void)gguf_arr_data(f, key);
        uint64_t last = n ? n - 1 : 0;
        (void)gguf_arr_str(f, key, 0, &s);
        (void)gguf_arr_str(f, key, last, &s);
        (void)gguf_arr_str(f, key, n, &s);
        (void)gguf_arr_i64(f, key, last, &v);
        (void)gguf_arr_f32(f, key, last, &x);
        (void)gguf_arr_i64(f, key, n, &v);
    }
}

static void walk_tensors(const gguf_file *f) {
    volatile uint8_t sink = 0;
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        if (gguf_find_tensor(f, t->name) != t) abort();
        if (t->nbytes) sink ^= ((const uint8_t *)t->data)[t->nbytes - 1]; /* data lies in the file */
    }
    (void)sink;
}

static void use_tokenizer(const gguf_file *f) {
    char err[CT_ERRLEN];
    tokenizer *t = tok_load_gguf(f, err);
    if (!t) return;
    static const char text[] = "Hello world, <s> </s> 12345 \xc3\xa9t\xc3\xa9 \xe2\x96\x81x \xff";
    int32_t *ids = NULL;
    int n = tok_encode(t, text, sizeof text - 1, true, true, &ids, err);
    if (n > 0) free(tok_decode(t, ids, (size_t)n, false));
    free(ids);
    int32_t probe[] = {0, 1, 2, tok_n_vocab(t) - 1, tok_bos(t), tok_eos(t)};
    for (size_t i = 0; i < sizeof probe / sizeof probe[0]; i++) {
        char buf[64];
        (void)tok_piece(t, probe[i]);
        (void)tok_token_bytes(t, probe[i], false, buf, sizeof buf);
    }
    tok_free(t);
}

/* The loader reads a path: hand it the input as an anonymous in-memory file. */
static void load_model(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz.gguf", 0);
    if (fd < 0) return;
    if (write(fd, data, size) == (ssize_t)size) {
        char path[64], err[CT_ERRLEN];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        model_free(model_load(path, err));
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[CT_ERRLEN];
    gguf_file *f = gguf_open_mem(data, size, "fuzz.gguf", err);
    if (!f) return 0;
    (void)gguf_version(f);
    walk_kvs(f);
    walk_tensors(f);
    use_tokenizer(f);
    gguf_close(f);
    load_model(data, size);
    return 0;
}
