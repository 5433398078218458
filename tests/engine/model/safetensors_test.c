/*
 * safetensors_test.c — the safetensors reader (engine/safetensors.c) and
 * the sw_* writer: the real HF directories in shared/models, round trips,
 * sharded checkpoints, and broken headers/offsets/indexes, each of which
 * must fail with a message naming the file and the problem.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/dtype.h"
#include "model/gguf.h"
#include "model/safetensors.h"
#include "support/gguf_write.h"
#include "support/testutil.h"

typedef struct {
    char *dir;
    char path[600]; /* scratch file name inside dir */
} scratch;

static int setup(void **state) {
    scratch *s = calloc(1, sizeof *s);
    s->dir = tu_mkdtemp();
    if (!s->dir) return -1;
    snprintf(s->path, sizeof s->path, "%s/model.safetensors", s->dir);
    *state = s;
    return 0;
}

static int teardown(void **state) {
    scratch *s = *state;
    tu_rmrf(s->dir);
    free(s->dir);
    free(s);
    return 0;
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* A file whose header is the given JSON text, followed by dlen data bytes. */
static void write_raw(const char *path, const char *json, size_t dlen) {
    size_t hl = strlen(json), n = 8 + hl + dlen;
    uint8_t *b = calloc(1, n);
    uint64_t h = hl;
    memcpy(b, &h, 8);
    memcpy(b + 8, json, hl);
    write_bytes(path, b, n);
    free(b);
}

static void expect_fail(const char *path, const char *needle) {
    char err[CT_ERRLEN] = "";
    st_model *m = st_open_file(path, err);
    if (m) {
        st_close(m);
        fail_msg("%s opened although it is invalid (%s)", path, needle);
    }
    if (strncmp(err, path, strlen(path)) != 0) fail_msg("message does not name the file: %s", err);
    if (!strstr(err, needle)) fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

/* ------------------------------------------------------- real files */

static void test_real_llama_hf(void **state) {
    char *dir = tu_model_path("synth/llama-spm-hf"), err[CT_ERRLEN];
    st_model *m = st_open_dir(dir, err);
    if (!m) fail_msg("%s", err);
    assert_int_equal(st_n_tensors(m), 21);
    const st_tensor *t = st_find(m, "model.embed_tokens.weight");
    assert_non_null(t);
    assert_int_equal(t->type, DT_F32);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->shape[0], 32000);
    assert_int_equal(t->shape[1], 64);
    assert_int_equal(t->n_elems, 32000 * 64);
    assert_int_equal(t->nbytes, 32000 * 64 * 4);
    t = st_find(m, "model.layers.1.mlp.down_proj.weight");
    assert_non_null(t);
    assert_int_equal(t->shape[0], 64);
    assert_int_equal(t->shape[1], 256);
    assert_non_null(st_find(m, "lm_head.weight"));
    assert_non_null(st_find(m, "model.norm.weight"));
    assert_null(st_find(m, "model.layers.2.mlp.down_proj.weight"));
    assert_null(st_find(m, "__metadata__"));
    assert_null(st_tensor_at(m, 21));
    for (uint64_t i = 1; i < st_n_tensors(m); i++) /* file order */
        assert_true((const uint8_t *)st_tensor_at(m, i - 1)->data < (const uint8_t *)st_tensor_at(m, i)->data);
    /* the same weights as the F32 GGUF (token_embd is stored unpermuted) */
    char *gp = tu_model_path("synth/llama-spm-f32.gguf");
    gguf_file *g = gguf_open(gp, err);
    assert_non_null(g);
    const gguf_tensor *gt = gguf_find_tensor(g, "token_embd.weight");
    assert_int_equal(gt->nbytes, st_find(m, "model.embed_tokens.weight")->nbytes);
    assert_memory_equal(gt->data, st_find(m, "model.embed_tokens.weight")->data, gt->nbytes);
    gguf_close(g);
    free(gp);
    st_close(m);
    free(dir);
}

static void test_real_other_dirs(void **state) {
    char *dir = tu_model_path("synth/llama-spm-hf-bf16"), err[CT_ERRLEN];
    st_model *m = st_open_dir(dir, err);
    if (!m) fail_msg("%s", err);
    for (uint64_t i = 0; i < st_n_tensors(m); i++) assert_int_equal(st_tensor_at(m, i)->type, DT_BF16);
    assert_int_equal(st_find(m, "model.norm.weight")->nbytes, 128);
    st_close(m);
    free(dir);
    dir = tu_model_path("synth/qwen2-bpe-hf");
    m = st_open_dir(dir, err);
    if (!m) fail_msg("%s", err);
    const st_tensor *b = st_find(m, "model.layers.0.self_attn.q_proj.bias");
    assert_non_null(b);
    assert_int_equal(b->n_dims, 1);
    assert_int_equal(b->shape[0], 64);
    assert_null(st_find(m, "lm_head.weight")); /* tied */
    st_close(m);
    free(dir);
}

/* ------------------------------------------------------- round trip */

static void test_round_trip(void **state) {
    scratch *s = *state;
    float f32[6] = {1, -2, 3.5f, 0, 1e-3f, -7};
    uint16_t f16[4] = {0x3c00, 0xc000, 0x0001, 0x7bff}, bf[2] = {0x3f80, 0x4049};
    float scalar = 42;
    uint64_t s23[2] = {2, 3}, s4[1] = {4}, s211[3] = {2, 1, 1}, s0[2] = {0, 5};
    sw_writer *w = sw_new();
    assert_true(sw_add(w, "w.f32", "F32", 2, s23, f32, sizeof f32));
    assert_true(sw_add(w, "w.f16", "F16", 1, s4, f16, sizeof f16));
    assert_true(sw_add(w, "w.bf16", "BF16", 3, s211, bf, sizeof bf));
    assert_true(sw_add(w, "scalar", "F32", 0, NULL, &scalar, 4));
    assert_true(sw_add(w, "empty", "F32", 2, s0, NULL, 0));
    assert_true(sw_add_meta(w, "format", "pt"));
    char err[CT_ERRLEN];
    assert_true(sw_write(w, s->path, err));
    sw_free(w);
    FILE *fp = fopen(s->path, "rb"); /* header length is a multiple of 8 */
    uint64_t hl;
    assert_int_equal(fread(&hl, 8, 1, fp), 1);
    fclose(fp);
    assert_int_equal(hl % 8, 0);
    st_model *m = st_open_dir(s->dir, err);
    if (!m) fail_msg("%s", err);
    assert_int_equal(st_n_tensors(m), 5);
    const st_tensor *t = st_find(m, "w.f32");
    assert_int_equal(t->type, DT_F32);
    assert_int_equal(t->n_elems, 6);
    assert_memory_equal(t->data, f32, sizeof f32);
    t = st_find(m, "w.f16");
    assert_int_equal(t->type, DT_F16);
    assert_memory_equal(t->data, f16, sizeof f16);
    t = st_find(m, "w.bf16");
    assert_int_equal(t->type, DT_BF16);
    assert_int_equal(t->n_dims, 3);
    assert_int_equal(t->shape[0], 2);
    assert_memory_equal(t->data, bf, sizeof bf);
    t = st_find(m, "scalar");
    assert_int_equal(t->n_dims, 0);
    assert_int_equal(t->n_elems, 1);
    assert_memory_equal(t->data, &scalar, 4);
    t = st_find(m, "empty");
    assert_int_equal(t->n_elems, 0);
    assert_int_equal(t->nbytes, 0);
    assert_string_equal(st_tensor_at(m, 0)->name, "w.f32");
    st_close(m);
}

static void test_integer_dtypes(void **state) {
    scratch *s = *state;
    static const uint8_t z[64];
    const char *names[] = {"F64", "I8", "I16", "I32", "I64"};
    uint32_t types[] = {DT_F64, DT_I8, DT_I16, DT_I32, DT_I64}, sizes[] = {8, 1, 2, 4, 8};
    sw_writer *w = sw_new();
    for (int i = 0; i < 5; i++) {
        uint64_t shape[1] = {3};
        assert_true(sw_add(w, names[i], names[i], 1, shape, z, 3 * sizes[i]));
    }
    char err[CT_ERRLEN];
    assert_true(sw_write(w, s->path, err));
    sw_free(w);
    st_model *m = st_open_file(s->path, err);
    if (!m) fail_msg("%s", err);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(st_find(m, names[i])->type, types[i]);
        assert_int_equal(st_find(m, names[i])->nbytes, 3 * sizes[i]);
    }
    st_close(m);
}

/* ----------------------------------------------------------- broken */

static void test_bad_headers(void **state) {
    scratch *s = *state;
    write_bytes(s->path, "abc", 3);
    expect_fail(s->path, "not a safetensors file (only 3 bytes)");
    uint8_t b[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    write_bytes(s->path, b, 10);
    expect_fail(s->path, "header length 9223372036854775807 extends past end of file (size 10)");
    uint64_t h = 3; /* points exactly one byte past the end */
    memcpy(b, &h, 8);
    write_bytes(s->path, b, 10);
    expect_fail(s->path, "header length 3 extends past end of file");
    write_raw(s->path, "{\"a\": {\"dtype\": \"F32\",", 0);
    expect_fail(s->path, "header is not valid JSON");
    write_raw(s->path, "[1, 2]", 0);
    expect_fail(s->path, "header is not a JSON object");
    write_raw(s->path, "{\"a\": 5}", 0);
    expect_fail(s->path, "header entry 'a' is not an object");
    write_raw(s->path,
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    expect_fail(s->path, "header is not valid JSON: duplicate object key");
}

static void test_bad_entries(void **state) {
    scratch *s = *state;
    struct { const char *json; size_t dlen; const char *needle; } c[] = {
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
         "tensor 'w' data_offsets [0, 8] are outside the data section (4 bytes)"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "outside the data"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
         "tensor 'w' occupies 8 bytes but F32 x 3 elements need 12"},
        {"{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
         "tensor 'w' has unsupported dtype 'F8_E4M3'"},
        {"{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "unsupported dtype 'U8'"},
        {"{\"w\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "dtype 'BOOL'"},
        {"{\"w\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "\"dtype\" is missing"},
        {"{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "\"shape\" is missing"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
         "shape[0] is not a non-negative integer"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "shape[0]"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
         "has 9 dimensions"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
         "element count overflows"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}", 8,
         "byte size overflows"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "\"data_offsets\" must be"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, "\"data_offsets\" must be"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,99999999999999999999]}}", 8,
         "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        write_raw(s->path, c[i].json, c[i].dlen);
        expect_fail(s->path, c[i].needle);
    }
}

/* Every prefix of a small valid file fails cleanly. */
static void test_every_prefix(void **state) {
    scratch *s = *state;
    float v[8] = {0};
    uint64_t shape[2] = {2, 4};
    sw_writer *w = sw_new();
    sw_add(w, "a", "F32", 2, shape, v, sizeof v);
    sw_add(w, "b", "BF16", 1, shape + 1, v, 8);
    char err[CT_ERRLEN];
    assert_true(sw_write(w, s->path, err));
    sw_free(w);
    size_t len;
    char *img = ct_read_file(s->path, &len, err);
    assert_non_null(img);
    for (size_t cut = 0; cut < len; cut++) {
        write_bytes(s->path, img, cut);
        st_model *m = st_open_file(s->path, err);
        if (m) fail_msg("prefix of %zu bytes opened", cut);
        assert_true(strncmp(err, s->path, strlen(s->path)) == 0);
    }
    write_bytes(s->path, img, len);
    st_model *m = st_open_file(s->path, err);
    assert_non_null(m);
    st_close(m);
    free(img);
}

/* ---------------------------------------------------------- sharded */

static void write_shard(const char *dir, const char *file, const char *t1, const char *t2) {
    float v[4] = {1, 2, 3, 4};
    uint64_t shape[1] = {4};
    char path[700], err[CT_ERRLEN];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    sw_writer *w = sw_new();
    sw_add(w, t1, "F32", 1, shape, v, sizeof v);
    if (t2) sw_add(w, t2, "F16", 1, shape, v, 8);
    assert_true(sw_write(w, path, err));
    sw_free(w);
}

static void write_index(const char *dir, const char *json) {
    char path[700];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    write_bytes(path, json, strlen(json));
}

static st_model *open_dir_fails(const char *dir, const char *needle) {
    char err[CT_ERRLEN] = "";
    st_model *m = st_open_dir(dir, err);
    if (m) fail_msg("%s opened although it is invalid", dir);
    if (!strstr(err, needle)) fail_msg("error \"%s\" lacks \"%s\"", err, needle);
    return NULL;
}

static void test_sharded(void **state) {
    scratch *s = *state;
    write_shard(s->dir, "model-00002-of-00002.safetensors", "z.last", "b.second");
    write_shard(s->dir, "model-00001-of-00002.safetensors", "a.first", NULL);
    write_index(s->dir, "{\"metadata\": {\"total_size\": 40}, \"weight_map\": {"
                        "\"z.last\": \"model-00002-of-00002.safetensors\","
                        "\"a.first\": \"model-00001-of-00002.safetensors\","
                        "\"b.second\": \"model-00002-of-00002.safetensors\"}}");
    char err[CT_ERRLEN];
    st_model *m = st_open_dir(s->dir, err);
    if (!m) fail_msg("%s", err);
    assert_int_equal(st_n_tensors(m), 3);
    assert_string_equal(st_tensor_at(m, 0)->name, "a.first"); /* shard 1 first */
    assert_string_equal(st_tensor_at(m, 1)->name, "z.last");  /* then file order */
    assert_string_equal(st_tensor_at(m, 2)->name, "b.second");
    assert_int_equal(st_find(m, "b.second")->type, DT_F16);
    float got[4];
    memcpy(got, st_find(m, "a.first")->data, 16);
    assert_true(got[3] == 4.0f);
    st_close(m);
}

static void test_sharded_broken(void **state) {
    scratch *s = *state;
    write_shard(s->dir, "model-00001-of-00002.safetensors", "a", NULL);
    write_index(s->dir, "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
                        "\"b\": \"model-00002-of-00002.safetensors\"}}");
    open_dir_fails(s->dir, "model-00002-of-00002.safetensors: No such file or directory");
    write_index(s->dir, "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
                        "\"b\": \"model-00001-of-00002.safetensors\"}}");
    open_dir_fails(s->dir, "weight_map puts tensor 'b' in model-00001-of-00002.safetensors, "
                           "but that shard does not contain it");
    write_shard(s->dir, "model-00002-of-00002.safetensors", "a", NULL); /* same name twice */
    write_index(s->dir, "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
                        "\"x\": \"model-00002-of-00002.safetensors\"}}");
    open_dir_fails(s->dir, "tensor 'a' appears in both");
    write_index(s->dir, "{\"weight_map\": {\"a\": \"../model-00001-of-00002.safetensors\"}}");
    open_dir_fails(s->dir, "weight_map entry 'a' is not a shard file name");
    write_index(s->dir, "{\"weight_map\": {\"a\": 5}}");
    open_dir_fails(s->dir, "weight_map entry 'a' is not a shard file name");
    write_index(s->dir, "{\"weight_map\": {}}");
    open_dir_fails(s->dir, "missing or empty \"weight_map\"");
    write_index(s->dir, "{\"weight_map\": ");
    open_dir_fails(s->dir, "model.safetensors.index.json: not valid JSON");
    char *empty = tu_mkdtemp();
    open_dir_fails(empty, "neither model.safetensors nor model.safetensors.index.json found");
    tu_rmrf(empty);
    free(empty);
    open_dir_fails("/nonexistent/dir", "neither");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_llama_hf),
        cmocka_unit_test(test_real_other_dirs),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integer_dtypes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sharded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sharded_broken, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
