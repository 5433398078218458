/*
 * gguf_test.c — the GGUF reader (engine/gguf.c) and the test writer
 * (tests/support/gguf_write.c).
 *
 * Real files: the synthetic llama models in shared/models.  Round trips:
 * every metadata type through gw_* and back.  Hostile files: every prefix
 * of a small file, and hand-built headers with absurd counts, lengths,
 * dimensions, types and offsets; each must give an error message naming
 * the file, never a crash (this suite also runs under ASan/UBSan, and the
 * prefix test uses exact-size heap copies so any over-read is caught).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/dtype.h"
#include "model/gguf.h"
#include "support/gguf_write.h"
#include "support/testutil.h"

/* ----------------------------------------------------------- helpers */

static gguf_file *open_model(const char *rel) {
    char *p = tu_model_path(rel), err[CT_ERRLEN];
    gguf_file *f = gguf_open(p, err);
    if (!f) print_error("%s\n", err);
    free(p);
    return f;
}

static bool str_eq(gguf_str s, const char *want) {
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

/* Open an in-memory image that must fail; returns the message. */
static const char *open_fails(const void *img, size_t len, char *err) {
    err[0] = '\0';
    gguf_file *f = gguf_open_mem(img, len, "bad.gguf", err);
    if (f) {
        gguf_close(f);
        fail_msg("bad.gguf opened although it is invalid");
    }
    if (strncmp(err, "bad.gguf: ", 10) != 0) fail_msg("message does not name the file: %s", err);
    return err;
}

static void expect_error(const gw_writer *w, const char *needle) {
    size_t len;
    char err[CT_ERRLEN];
    uint8_t *img = gw_serialize(w, &len);
    assert_non_null(img);
    open_fails(img, len, err);
    if (!strstr(err, needle)) fail_msg("error \"%s\" lacks \"%s\"", err, needle);
    free(img);
}

/* Hand-built files for what the writer cannot express. */
typedef struct {
    uint8_t b[512];
    size_t n;
} raw;

static void r_put(raw *r, const void *p, size_t n) {
    assert_true(r->n + n <= sizeof r->b);
    memcpy(r->b + r->n, p, n);
    r->n += n;
}
static void r_u32(raw *r, uint32_t v) { r_put(r, &v, 4); }
static void r_u64(raw *r, uint64_t v) { r_put(r, &v, 8); }
static void r_str(raw *r, const char *s) {
    r_u64(r, strlen(s));
    r_put(r, s, strlen(s));
}
static void r_header(raw *r, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    r->n = 0;
    r_put(r, "GGUF", 4);
    r_u32(r, version);
    r_u64(r, n_tensors);
    r_u64(r, n_kv);
}

static void expect_raw_error(const raw *r, const char *needle) {
    char err[CT_ERRLEN];
    uint8_t *copy = malloc(r->n); /* exact size: over-reads hit ASan */
    memcpy(copy, r->b, r->n);
    open_fails(copy, r->n, err);
    if (!strstr(err, needle)) fail_msg("error \"%s\" lacks \"%s\"", err, needle);
    free(copy);
}

/* ------------------------------------------------------- real files */

static void check_llama_vocab(const gguf_file *f) {
    gguf_type et;
    uint64_t n;
    gguf_str s;
    assert_true(gguf_get_arr(f, "tokenizer.ggml.tokens", &et, &n));
    assert_int_equal(et, GGUF_T_STRING);
    assert_int_equal(n, 32000);
    assert_true(gguf_arr_str(f, "tokenizer.ggml.tokens", 0, &s) && str_eq(s, "<unk>"));
    assert_true(gguf_arr_str(f, "tokenizer.ggml.tokens", 1, &s) && str_eq(s, "<s>"));
    assert_true(gguf_arr_str(f, "tokenizer.ggml.tokens", 3, &s) && str_eq(s, "<0x00>"));
    assert_true(gguf_arr_str(f, "tokenizer.ggml.tokens", 260, &s) && str_eq(s, "\xe2\x96\x81t"));
    assert_true(gguf_arr_str(f, "tokenizer.ggml.tokens", 1000, &s) && str_eq(s, "ied"));
    assert_true(gguf_arr_str(f, "tokenizer.ggml.tokens", 31999, &s) && str_eq(s, "\xe7\xbb\x99"));
    assert_false(gguf_arr_str(f, "tokenizer.ggml.tokens", 32000, &s));
    assert_null(gguf_arr_data(f, "tokenizer.ggml.tokens")); /* strings are not packed */
    float sc;
    assert_true(gguf_arr_f32(f, "tokenizer.ggml.scores", 260, &sc) && sc == -1.0f);
    assert_true(gguf_arr_f32(f, "tokenizer.ggml.scores", 262, &sc) && sc == -3.0f);
    int64_t tt;
    assert_true(gguf_arr_i64(f, "tokenizer.ggml.token_type", 0, &tt) && tt == 2);
    assert_true(gguf_arr_i64(f, "tokenizer.ggml.token_type", 3, &tt) && tt == 6);
    assert_false(gguf_arr_i64(f, "tokenizer.ggml.scores", 0, &tt)); /* floats are not ints */
    assert_non_null(gguf_arr_data(f, "tokenizer.ggml.scores"));
    bool b;
    assert_true(gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b) && b);
    assert_true(gguf_get_bool(f, "tokenizer.ggml.add_eos_token", &b) && !b);
}

static void check_llama_hparams(const gguf_file *f) {
    uint32_t u;
    float e;
    gguf_str s;
    assert_int_equal(gguf_version(f), 3);
    assert_true(gguf_get_str(f, "general.architecture", &s) && str_eq(s, "llama"));
    assert_true(gguf_get_u32(f, "llama.embedding_length", &u) && u == 64);
    assert_true(gguf_get_u32(f, "llama.block_count", &u) && u == 2);
    assert_true(gguf_get_u32(f, "llama.attention.head_count_kv", &u) && u == 2);
    assert_true(gguf_get_u32(f, "llama.context_length", &u) && u == 512);
    assert_true(gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &e) && e == 1e-5f);
    assert_true(gguf_get_f32(f, "llama.rope.freq_base", &e) && e == 10000.0f);
    assert_false(gguf_get_u32(f, "general.architecture", &u)); /* a string */
    assert_false(gguf_get_u32(f, "no.such.key", &u));
    assert_null(gguf_find(f, "no.such.key"));
    assert_null(gguf_find(f, "llama"));            /* prefix of a key */
    assert_null(gguf_find(f, "llama.block_count.")); /* key plus more */
    char *arch = gguf_get_strdup(f, "general.architecture");
    assert_string_equal(arch, "llama");
    free(arch);
    assert_null(gguf_get_strdup(f, "llama.block_count"));
}

static void test_real_q8_0(void **state) {
    gguf_file *f = open_model("synth/llama-spm-q8_0.gguf");
    assert_non_null(f);
    check_llama_hparams(f);
    check_llama_vocab(f);
    gguf_str s;
    assert_true(gguf_get_str(f, "general.name", &s) && str_eq(s, "llama-spm-q8_0"));
    assert_int_equal(gguf_n_kv(f), 25);
    assert_int_equal(gguf_n_tensors(f), 21);
    const gguf_tensor *t = gguf_tensor_at(f, 0);
    assert_string_equal(t->name, "output.weight"); /* file order is kept */
    t = gguf_find_tensor(f, "token_embd.weight");
    assert_non_null(t);
    assert_int_equal(t->type, DT_Q8_0);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 32000);
    assert_int_equal(t->ne[2], 1);
    assert_int_equal(t->n_elems, 64 * 32000);
    assert_int_equal(t->nbytes, 32000 * 2 * 34);
    assert_int_equal((uintptr_t)t->data % 32, 0);
    t = gguf_find_tensor(f, "blk.1.ffn_down.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 256);
    assert_int_equal(t->ne[1], 64);
    t = gguf_find_tensor(f, "output_norm.weight");
    assert_non_null(t);
    assert_int_equal(t->type, DT_F32);
    assert_int_equal(t->n_dims, 1);
    assert_null(gguf_find_tensor(f, "blk.2.ffn_down.weight"));
    assert_null(gguf_tensor_at(f, 21));
    assert_null(gguf_kv_at(f, 25));
    const gguf_kv *kv = gguf_kv_at(f, 0);
    assert_true(kv->key.len == 20 && memcmp(kv->key.ptr, "general.architecture", 20) == 0);
    gguf_close(f);
}

static void test_real_f16(void **state) {
    gguf_file *f = open_model("synth/llama-spm-f16.gguf");
    assert_non_null(f);
    check_llama_hparams(f);
    check_llama_vocab(f);
    assert_int_equal(gguf_n_tensors(f), 21);
    const gguf_tensor *t = gguf_tensor_at(f, 0);
    assert_string_equal(t->name, "token_embd.weight");
    assert_int_equal(t->type, DT_F16);
    assert_int_equal(t->nbytes, 64 * 32000 * 2);
    uint64_t n_f16 = 0, bytes = 0;
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        t = gguf_tensor_at(f, i);
        n_f16 += t->type == DT_F16;
        bytes += t->nbytes;
        assert_true(t->type == DT_F16 || (t->type == DT_F32 && t->n_dims == 1));
    }
    assert_int_equal(n_f16, 16);
    struct stat st;
    char *p = tu_model_path("synth/llama-spm-f16.gguf");
    assert_int_equal(stat(p, &st), 0);
    assert_true(bytes < (uint64_t)st.st_size);
    assert_string_equal(gguf_path(f), p);
    free(p);
    gguf_close(f);
}

/* stories260K: converted by llama.cpp, all F32. */
static void test_real_stories(void **state) {
    gguf_file *f = open_model("stories260K.gguf");
    assert_non_null(f);
    uint32_t u;
    assert_true(gguf_get_u32(f, "llama.context_length", &u) && u == 512);
    assert_true(gguf_get_u32(f, "llama.embedding_length", &u) && u == 64);
    uint64_t n;
    assert_true(gguf_get_arr(f, "tokenizer.ggml.tokens", NULL, &n) && n == 512);
    const gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 512);
    gguf_close(f);
}

/* ------------------------------------------------------- round trip */

/* A writer with every metadata type, numeric arrays of every type, a
 * string array and tensors of several types and ranks. */
static gw_writer *full_writer(uint8_t *tdata, size_t tsize) {
    gw_writer *w = gw_new();
    assert_non_null(w);
    gw_add_u8(w, "t.u8", 250);
    gw_add_i8(w, "t.i8", -5);
    gw_add_u16(w, "t.u16", 65535);
    gw_add_i16(w, "t.i16", -32768);
    gw_add_u32(w, "t.u32", 4000000000u);
    gw_add_i32(w, "t.i32", -2000000000);
    gw_add_f32(w, "t.f32", 0.15625f);
    gw_add_bool(w, "t.bool", true);
    gw_add_str(w, "t.str", "héllo");
    gw_add_u64(w, "t.u64", UINT64_MAX);
    gw_add_i64(w, "t.i64", INT64_MIN);
    gw_add_f64(w, "t.f64", 1e300);
    gw_add_strn(w, "t.nul", "a\0b", 3);
    gw_add_str(w, "t.empty", "");
    uint8_t a8[3] = {1, 2, 255};
    int16_t a16[2] = {-7, 300};
    uint32_t a32[4] = {1, 2, 3, 4000000000u};
    int32_t ai32[2] = {-1, 5};
    float af[3] = {0.5f, -1.25f, 3e38f};
    double ad[2] = {-0.25, 1e-300};
    uint64_t a64[2] = {0, UINT64_MAX};
    int64_t ai64[2] = {INT64_MIN, 42};
    bool ab[3] = {true, false, true};
    gw_add_arr(w, "a.u8", GGUF_T_UINT8, a8, 3);
    gw_add_arr(w, "a.i8", GGUF_T_INT8, a8, 3);
    gw_add_arr(w, "a.u16", GGUF_T_UINT16, a16, 2);
    gw_add_arr(w, "a.i16", GGUF_T_INT16, a16, 2);
    gw_add_arr(w, "a.u32", GGUF_T_UINT32, a32, 4);
    gw_add_arr(w, "a.i32", GGUF_T_INT32, ai32, 2);
    gw_add_arr(w, "a.f32", GGUF_T_FLOAT32, af, 3);
    gw_add_arr(w, "a.bool", GGUF_T_BOOL, ab, 3);
    gw_add_arr(w, "a.u64", GGUF_T_UINT64, a64, 2);
    gw_add_arr(w, "a.i64", GGUF_T_INT64, ai64, 2);
    gw_add_arr(w, "a.f64", GGUF_T_FLOAT64, ad, 2);
    gw_add_arr(w, "a.empty", GGUF_T_FLOAT32, af, 0);
    const char *strs[4] = {"zero", "", "two", "\xe2\x96\x81three"};
    gw_add_arr_str(w, "a.str", strs, 4);
    for (size_t i = 0; i < tsize; i++) tdata[i] = (uint8_t)(i * 31 + 7);
    uint64_t ne_a[1] = {5}, ne_b[3] = {64, 2, 3}, ne_c[2] = {256, 1}, ne_d[4] = {2, 1, 1, 3};
    gw_add_tensor(w, "a.f32", 1, ne_a, DT_F32, tdata, 20, false);
    gw_add_tensor(w, "b.q8_0", 3, ne_b, DT_Q8_0, tdata + 20, 12 * 34, true);
    gw_add_tensor(w, "c.q4_k", 2, ne_c, DT_Q4_K, tdata + 500, 144, false);
    gw_add_tensor(w, "d.f16", 4, ne_d, DT_F16, tdata + 700, 12, false);
    return w;
}

static void check_scalars(const gguf_file *f) {
    uint32_t u;
    int64_t i;
    float x;
    bool b;
    gguf_str s;
    assert_true(gguf_get_u32(f, "t.u8", &u) && u == 250);
    assert_true(gguf_get_i64(f, "t.u8", &i) && i == 250);
    assert_false(gguf_get_u32(f, "t.i8", &u)); /* negative */
    assert_true(gguf_get_i64(f, "t.i8", &i) && i == -5);
    assert_true(gguf_get_u32(f, "t.u16", &u) && u == 65535);
    assert_true(gguf_get_i64(f, "t.i16", &i) && i == -32768);
    assert_true(gguf_get_u32(f, "t.u32", &u) && u == 4000000000u);
    assert_true(gguf_get_i64(f, "t.i32", &i) && i == -2000000000);
    assert_true(gguf_get_f32(f, "t.i32", &x) && x == -2e9f);
    assert_true(gguf_get_f32(f, "t.f32", &x) && x == 0.15625f);
    assert_false(gguf_get_u32(f, "t.f32", &u)); /* floats are not integers */
    assert_true(gguf_get_bool(f, "t.bool", &b) && b);
    assert_true(gguf_get_u32(f, "t.bool", &u) && u == 1);
    assert_true(gguf_get_str(f, "t.str", &s) && str_eq(s, "héllo"));
    assert_false(gguf_get_u32(f, "t.u64", &u));   /* does not fit */
    assert_false(gguf_get_i64(f, "t.u64", &i));
    assert_true(gguf_get_f32(f, "t.u64", &x) && x == 18446744073709551616.0f);
    assert_true(gguf_get_i64(f, "t.i64", &i) && i == INT64_MIN);
    assert_true(gguf_get_f32(f, "t.f64", &x) && isinf(x)); /* 1e300 overflows f32 */
    assert_false(gguf_get_bool(f, "t.u32", &b));           /* not 0/1 */
    assert_true(gguf_get_bool(f, "t.u8", &b) == false);
    assert_true(gguf_get_str(f, "t.nul", &s) && s.len == 3 && memcmp(s.ptr, "a\0b", 3) == 0);
    assert_true(gguf_get_str(f, "t.empty", &s) && s.len == 0);
    char *d = gguf_get_strdup(f, "t.empty");
    assert_string_equal(d, "");
    free(d);
    assert_false(gguf_get_str(f, "t.u8", &s));
    assert_false(gguf_get_arr(f, "t.u8", NULL, NULL));
}

static void check_arrays(const gguf_file *f) {
    int64_t i;
    float x;
    gguf_type et;
    uint64_t n;
    gguf_str s;
    assert_true(gguf_get_arr(f, "a.u8", &et, &n) && et == GGUF_T_UINT8 && n == 3);
    assert_true(gguf_arr_i64(f, "a.u8", 2, &i) && i == 255);
    assert_true(gguf_arr_i64(f, "a.i8", 2, &i) && i == -1);
    assert_true(gguf_arr_i64(f, "a.u16", 0, &i) && i == 65529); /* -7 as u16 */
    assert_true(gguf_arr_i64(f, "a.i16", 0, &i) && i == -7);
    assert_true(gguf_arr_i64(f, "a.u32", 3, &i) && i == 4000000000);
    assert_true(gguf_arr_i64(f, "a.i32", 0, &i) && i == -1);
    assert_true(gguf_arr_f32(f, "a.f32", 2, &x) && x == 3e38f);
    assert_true(gguf_arr_f32(f, "a.f64", 0, &x) && x == -0.25f);
    assert_true(gguf_arr_i64(f, "a.bool", 2, &i) && i == 1);
    assert_false(gguf_arr_i64(f, "a.u64", 1, &i)); /* UINT64_MAX does not fit */
    assert_true(gguf_arr_i64(f, "a.i64", 0, &i) && i == INT64_MIN);
    assert_false(gguf_arr_i64(f, "a.i64", 2, &i)); /* out of range */
    assert_true(gguf_get_arr(f, "a.empty", &et, &n) && et == GGUF_T_FLOAT32 && n == 0);
    assert_false(gguf_arr_f32(f, "a.empty", 0, &x));
    const uint8_t *packed = gguf_arr_data(f, "a.u32");
    uint32_t v;
    memcpy(&v, packed + 12, 4);
    assert_int_equal(v, 4000000000u);
    assert_true(gguf_get_arr(f, "a.str", &et, &n) && et == GGUF_T_STRING && n == 4);
    assert_true(gguf_arr_str(f, "a.str", 0, &s) && str_eq(s, "zero"));
    assert_true(gguf_arr_str(f, "a.str", 1, &s) && s.len == 0);
    assert_true(gguf_arr_str(f, "a.str", 3, &s) && str_eq(s, "\xe2\x96\x81three"));
    assert_false(gguf_arr_str(f, "a.str", 4, &s));
    assert_false(gguf_arr_str(f, "a.u8", 0, &s));
    assert_false(gguf_arr_f32(f, "a.str", 0, &x));
    assert_false(gguf_arr_f32(f, "t.f32", 0, &x)); /* not an array */
}

static void check_tensors(const gguf_file *f, const uint8_t *tdata, uint32_t align) {
    assert_int_equal(gguf_n_tensors(f), 4);
    const gguf_tensor *t = gguf_find_tensor(f, "b.q8_0");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 3);
    assert_int_equal(t->ne[2], 3);
    assert_int_equal(t->ne[3], 1);
    assert_int_equal(t->n_elems, 384);
    assert_int_equal(t->nbytes, 12 * 34);
    assert_memory_equal(t->data, tdata + 20, 12 * 34);
    t = gguf_find_tensor(f, "d.f16");
    assert_int_equal(t->n_dims, 4);
    assert_int_equal(t->n_elems, 6);
    assert_memory_equal(t->data, tdata + 700, 12);
    t = gguf_find_tensor(f, "c.q4_k");
    assert_int_equal(t->type, DT_Q4_K);
    assert_memory_equal(t->data, tdata + 500, 144);
    const uint8_t *base = gguf_find_tensor(f, "a.f32")->data;
    assert_memory_equal(base, tdata, 20);
    for (uint64_t i = 0; i < 4; i++) /* all offsets aligned relative to the first */
        assert_int_equal(((const uint8_t *)gguf_tensor_at(f, i)->data - base) % align, 0);
}

static void test_round_trip(void **state) {
    uint8_t tdata[1024];
    gw_writer *w = full_writer(tdata, sizeof tdata);
    char *dir = tu_mkdtemp(), path[512], err[CT_ERRLEN];
    snprintf(path, sizeof path, "%s/rt.gguf", dir);
    assert_true(gw_write(w, path, err));
    gw_free(w); /* tensors added without copy are no longer needed either */
    gguf_file *f = gguf_open(path, err);
    if (!f) fail_msg("%s", err);
    assert_int_equal(gguf_version(f), 3);
    assert_int_equal(gguf_n_kv(f), 27);
    check_scalars(f);
    check_arrays(f);
    check_tensors(f, tdata, 32);
    const gguf_kv *kv = gguf_kv_at(f, 8); /* insertion order is kept */
    assert_int_equal(kv->type, GGUF_T_STRING);
    assert_true(kv->key.len == 5 && memcmp(kv->key.ptr, "t.str", 5) == 0);
    gguf_close(f);
    tu_rmrf(dir);
    free(dir);
}

/* Non-default alignment and the v2 header. */
static void test_alignment_and_v2(void **state) {
    uint8_t tdata[1024];
    gw_writer *w = full_writer(tdata, sizeof tdata);
    assert_true(gw_set_alignment(w, 256));
    gw_set_version(w, 2);
    size_t len;
    uint8_t *img = gw_serialize(w, &len);
    char err[CT_ERRLEN];
    gguf_file *f = gguf_open_mem(img, len, "v2.gguf", err);
    if (!f) fail_msg("%s", err);
    assert_int_equal(gguf_version(f), 2);
    uint32_t a;
    assert_true(gguf_get_u32(f, "general.alignment", &a) && a == 256);
    check_scalars(f);
    check_tensors(f, tdata, 256);
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++)
        assert_int_equal(((const uint8_t *)gguf_tensor_at(f, i)->data - img) % 256, 0);
    gguf_close(f);
    free(img);
    gw_free(w);
}

/* A file without tensors (like llama.cpp's vocab-only files) may end right
 * after its metadata. */
static void test_no_tensors(void **state) {
    gw_writer *w = gw_new();
    gw_add_str(w, "general.architecture", "llama");
    size_t len;
    uint8_t *img = gw_serialize(w, &len);
    char err[CT_ERRLEN];
    gguf_file *f = gguf_open_mem(img, len, "vocab.gguf", err);
    assert_non_null(f);
    assert_int_equal(gguf_n_tensors(f), 0);
    assert_null(gguf_find_tensor(f, "x"));
    gguf_close(f);
    free(img);
    gw_free(w);
    char *p = tu_model_path("vocab/ggml-vocab-llama-spm.gguf");
    f = gguf_open(p, err);
    if (!f) fail_msg("%s", err);
    uint64_t n;
    assert_true(gguf_get_arr(f, "tokenizer.ggml.tokens", NULL, &n) && n == 32000);
    gguf_close(f);
    free(p);
}

/* ----------------------------------------------------------- broken */

/* Every prefix of a complete small file must be rejected with a message.
 * Each prefix lives in its own exact-size heap block. */
static void test_every_prefix(void **state) {
    uint8_t tdata[1024];
    gw_writer *w = full_writer(tdata, sizeof tdata);
    size_t len;
    uint8_t *img = gw_serialize(w, &len);
    gw_free(w);
    char err[CT_ERRLEN];
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, img, cut);
        open_fails(p, cut, err);
        free(p);
    }
    gguf_file *f = gguf_open_mem(img, len, "whole.gguf", err);
    assert_non_null(f);
    gguf_close(f);
    free(img);
}

static uint64_t rnd(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Touch everything an opened file exposes: under ASan any pointer the
 * reader failed to validate shows up as an over-read. */
static unsigned walk(const gguf_file *f) {
    unsigned sum = 0;
    for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        char key[300];
        if (kv->key.len >= sizeof key || memchr(kv->key.ptr, 0, kv->key.len)) continue;
        memcpy(key, kv->key.ptr, kv->key.len);
        key[kv->key.len] = '\0';
        uint32_t u;
        float x;
        gguf_str str;
        sum += gguf_get_u32(f, key, &u) + gguf_get_f32(f, key, &x);
        if (gguf_get_str(f, key, &str) && str.len) sum += (uint8_t)str.ptr[str.len - 1];
        for (uint64_t k = 0; kv->type == GGUF_T_ARRAY && k < kv->arr_n; k++) {
            if (gguf_arr_str(f, key, k, &str) && str.len) sum += (uint8_t)str.ptr[str.len - 1];
            sum += gguf_arr_f32(f, key, k, &x);
        }
    }
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        if (t->nbytes) sum += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    return sum;
}

/* Random corruption of 1-4 bytes (header, metadata or tensor infos) must
 * either be rejected with a message or give a file whose every accessor
 * stays in bounds. */
static void test_random_corruption(void **state) {
    uint8_t tdata[1024];
    gw_writer *w = full_writer(tdata, sizeof tdata);
    size_t len;
    uint8_t *img = gw_serialize(w, &len);
    gw_free(w);
    char err[CT_ERRLEN];
    gguf_file *clean = gguf_open_mem(img, len, "clean.gguf", err);
    assert_non_null(clean);
    /* corrupt only the structure: header, metadata, tensor infos */
    size_t meta_end = (size_t)((const uint8_t *)gguf_tensor_at(clean, 0)->data - img);
    gguf_close(clean);
    uint64_t seed = 12345;
    int opened = 0;
    for (int it = 0; it < 4000; it++) {
        uint8_t *p = malloc(len);
        memcpy(p, img, len);
        int n = 1 + (int)(rnd(&seed) % 4);
        for (int k = 0; k < n; k++) {
            uint64_t r = rnd(&seed);
            size_t at = (size_t)(r % meta_end);
            p[at] = (r >> 40) % 3 == 0 ? 0xff : (uint8_t)(r >> 32);
        }
        err[0] = '\0';
        gguf_file *f = gguf_open_mem(p, len, "fuzz.gguf", err);
        if (f) {
            opened++;
            (void)walk(f);
            gguf_close(f);
        } else {
            assert_true(strncmp(err, "fuzz.gguf: ", 11) == 0);
        }
        free(p);
    }
    assert_true(opened > 0 && opened < 4000); /* both outcomes were exercised */
    free(img);
}

/* The same through real files (mmap path) at a few cut points. */
static void test_truncated_files(void **state) {
    uint8_t tdata[1024];
    gw_writer *w = full_writer(tdata, sizeof tdata);
    size_t len;
    uint8_t *img = gw_serialize(w, &len);
    gw_free(w);
    char *dir = tu_mkdtemp(), path[512], err[CT_ERRLEN];
    snprintf(path, sizeof path, "%s/cut.gguf", dir);
    size_t cuts[] = {0, 3, 4, 23, 24, 100, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        FILE *fp = fopen(path, "wb");
        fwrite(img, 1, cuts[i], fp);
        fclose(fp);
        gguf_file *f = gguf_open(path, err);
        assert_null(f);
        assert_true(strncmp(err, path, strlen(path)) == 0);
    }
    assert_null(gguf_open(dir, err)); /* a directory */
    assert_non_null(strstr(err, "not a regular file"));
    snprintf(path, sizeof path, "%s/missing.gguf", dir);
    assert_null(gguf_open(path, err));
    assert_non_null(strstr(err, "No such file"));
    tu_rmrf(dir);
    free(dir);
    free(img);
}

static void test_bad_header(void **state) {
    char err[CT_ERRLEN];
    raw r;
    r_header(&r, 3, 0, 0);
    memcpy(r.b, "GGUG", 4);
    expect_raw_error(&r, "not a GGUF file (bad magic)");
    r_header(&r, 1, 0, 0);
    expect_raw_error(&r, "version 1 is not supported");
    r_header(&r, 99, 0, 0);
    expect_raw_error(&r, "unsupported GGUF version 99");
    r_header(&r, 0, 0, 0);
    expect_raw_error(&r, "unsupported GGUF version 0");
    r_header(&r, 0x03000000, 0, 0);
    expect_raw_error(&r, "big-endian");
    open_fails("GG", 2, err);
    assert_non_null(strstr(err, "not a GGUF file"));
    r_header(&r, 3, 0, 0);
    r.n = 20;
    expect_raw_error(&r, "truncated while reading the header");
    r_header(&r, 3, 0, 0); /* smallest valid file: no keys, no tensors */
    gguf_file *f = gguf_open_mem(r.b, r.n, "min.gguf", err);
    assert_non_null(f);
    gguf_close(f);
}

static void test_huge_counts(void **state) {
    raw r;
    r_header(&r, 3, 0, UINT64_C(1) << 63);
    r_str(&r, "k");
    r_u32(&r, GGUF_T_UINT8);
    r_put(&r, "x", 1);
    expect_raw_error(&r, "header claims 9223372036854775808 metadata keys, more than");
    r_header(&r, 3, UINT64_MAX, 0);
    expect_raw_error(&r, "header claims 18446744073709551615 tensors, more than");
    r_header(&r, 3, 0, 1); /* key length 2^63 */
    r_u64(&r, UINT64_C(1) << 63);
    r_put(&r, "abcdefgh", 8);
    expect_raw_error(&r, "truncated while reading metadata key 0");
    r_header(&r, 3, 0, 2); /* second key's string value length huge */
    r_str(&r, "a");
    r_u32(&r, GGUF_T_UINT32);
    r_u32(&r, 7);
    r_str(&r, "b");
    r_u32(&r, GGUF_T_STRING);
    r_u64(&r, UINT64_MAX);
    r_put(&r, "abcdefghijklmnop", 16);
    expect_raw_error(&r, "truncated while reading metadata key 1 ('b')");
    r_header(&r, 3, 0, 1); /* u32 array whose byte size overflows */
    r_str(&r, "arr");
    r_u32(&r, GGUF_T_ARRAY);
    r_u32(&r, GGUF_T_UINT32);
    r_u64(&r, UINT64_C(1) << 62);
    r_put(&r, "abcdefghijklmnop", 16);
    expect_raw_error(&r, "array of 4611686018427387904 UINT32 extends past end of file");
    r_header(&r, 3, 0, 1); /* string array count too big to even index */
    r_str(&r, "toks");
    r_u32(&r, GGUF_T_ARRAY);
    r_u32(&r, GGUF_T_STRING);
    r_u64(&r, UINT64_C(1) << 60);
    r_str(&r, "a");
    expect_raw_error(&r, "strings cannot fit");
    r_header(&r, 3, 0, 1); /* plausible count, last string cut short */
    r_str(&r, "toks");
    r_u32(&r, GGUF_T_ARRAY);
    r_u32(&r, GGUF_T_STRING);
    r_u64(&r, 3);
    r_str(&r, "a");
    r_str(&r, "b");
    r_u64(&r, 100);
    r_put(&r, "cc", 2);
    expect_raw_error(&r, "string 2 of 3 extends past end of file");
}

static void test_bad_values(void **state) {
    raw r;
    r_header(&r, 3, 0, 1);
    r_str(&r, "k");
    r_u32(&r, 13);
    r_u32(&r, 0);
    expect_raw_error(&r, "metadata key 'k' has unknown value type 13");
    r_header(&r, 3, 0, 1);
    r_str(&r, "nested");
    r_u32(&r, GGUF_T_ARRAY);
    r_u32(&r, GGUF_T_ARRAY);
    r_u64(&r, 0);
    expect_raw_error(&r, "arrays of ARRAY");
    r_header(&r, 3, 0, 1);
    r_str(&r, "k\n\x01");
    r_u32(&r, 200);
    expect_raw_error(&r, "'k?\?' has unknown value type 200"); /* control bytes masked */
    gw_writer *w = gw_new();
    gw_add_u32(w, "dup", 1);
    gw_add_str(w, "other", "x");
    gw_add_u8(w, "dup", 2);
    expect_error(w, "duplicate metadata key 'dup'");
    gw_free(w);
    w = gw_new();
    gw_add_u32(w, "general.alignment", 48);
    expect_error(w, "general.alignment must be a power of two");
    gw_free(w);
    w = gw_new();
    gw_add_str(w, "general.alignment", "32");
    expect_error(w, "general.alignment");
    gw_free(w);
    w = gw_new();
    gw_add_u32(w, "general.alignment", 0);
    expect_error(w, "general.alignment");
    gw_free(w);
}

static void test_bad_tensors(void **state) {
    static const uint8_t zeros[4096];
    gw_writer *w = gw_new();
    uint64_t ne[4] = {64, 4, 1, 1};
    gw_add_tensor(w, "ok", 2, ne, DT_F32, zeros, 1024, false);
    gw_add_tensor_raw(w, "blk.0.attn_q.weight", 2, ne, DT_F32, 4096);
    expect_error(w, "tensor 'blk.0.attn_q.weight' data [offset ");
    expect_error(w, "1024 bytes] extends past end of file (size ");
    gw_free(w);

    struct { const char *needle; uint32_t n_dims; uint64_t ne[5]; uint32_t type; uint64_t off; } c[] = {
        {"element count overflows", 2, {UINT64_C(1) << 40, UINT64_C(1) << 40}, DT_F32, 0},
        {"byte size overflows", 2, {UINT64_C(1) << 31, UINT64_C(1) << 31}, DT_F32, 0},
        {"extends past end of file", 2, {UINT64_C(1) << 40, UINT64_C(1) << 20}, DT_F32, 0},
        {"invalid dimension 0 = 18446744073709551615", 1, {UINT64_MAX}, DT_F32, 0},
        {"invalid dimension 1 = 0", 2, {4, 0}, DT_F32, 0},
        {"has unknown type id 99", 1, {32}, 99, 0},
        {"has unknown type id 4", 1, {32}, 4, 0},
        {"row length 33 is not a multiple of the Q8_0 block size 32", 2, {33, 2}, DT_Q8_0, 0},
        {"row length 128 is not a multiple of the Q4_K block size 256", 1, {128}, DT_Q4_K, 0},
        /* a K-quant matrix of 64-wide rows: 4 x 64 = 256 elements would fill one
         * block, but a block must not straddle rows */
        {"tensor 't': row length 64 is not a multiple of the Q4_K block size 256", 2, {64, 4}, DT_Q4_K, 0},
        {"tensor 't': row length 96 is not a multiple of the IQ4_XS block size 256", 2, {96, 8}, DT_IQ4_XS, 0},
        {"data offset 1 is not a multiple of the alignment 32", 1, {4}, DT_F32, 1},
        {"has 5 dimensions", 5, {1, 1, 1, 1, 1}, DT_F32, 0},
        {"has 0 dimensions", 0, {0}, DT_F32, 0},
        {"data [offset ", 1, {4}, DT_F32, UINT64_MAX - 31}, /* offset + start wraps */
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        w = gw_new();
        gw_add_tensor(w, "fine", 1, ne, DT_F32, zeros, 256, false);
        gw_add_tensor_raw(w, "t", c[i].n_dims, c[i].ne, c[i].type, c[i].off);
        expect_error(w, c[i].needle);
        gw_free(w);
    }
    w = gw_new();
    gw_add_tensor(w, "same", 1, ne, DT_F32, zeros, 256, false);
    gw_add_tensor(w, "other", 1, ne, DT_F32, zeros, 256, false);
    gw_add_tensor(w, "same", 1, ne, DT_F32, zeros, 256, false);
    expect_error(w, "duplicate tensor name 'same'");
    gw_free(w);
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    w = gw_new();
    gw_add_tensor(w, longname, 1, ne, DT_F32, zeros, 256, false);
    expect_error(w, "invalid name 'xxxx");
    gw_free(w);
    w = gw_new();
    gw_add_tensor(w, "", 1, ne, DT_F32, zeros, 256, false);
    expect_error(w, "tensor 0 has an invalid name ''");
    gw_free(w);
}

/* Tensors that share or overlap bytes are allowed (read-only views); a
 * tensor ending exactly at end of file is fine. */
static void test_tensor_edges(void **state) {
    static const uint8_t zeros[256];
    gw_writer *w = gw_new();
    uint64_t ne[1] = {64};
    gw_add_tensor(w, "a", 1, ne, DT_F32, zeros, 256, false);
    gw_add_tensor_raw(w, "alias", 1, ne, DT_F32, 0);
    size_t len;
    uint8_t *img = gw_serialize(w, &len);
    char err[CT_ERRLEN];
    uint8_t *exact = malloc(len);
    memcpy(exact, img, len);
    gguf_file *f = gguf_open_mem(exact, len, "edge.gguf", err);
    if (!f) fail_msg("%s", err);
    assert_ptr_equal(gguf_find_tensor(f, "a")->data, gguf_find_tensor(f, "alias")->data);
    assert_ptr_equal((const uint8_t *)gguf_find_tensor(f, "a")->data + 256, exact + len);
    gguf_close(f);
    free(exact);
    free(img);
    gw_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_q8_0),
        cmocka_unit_test(test_real_f16),
        cmocka_unit_test(test_real_stories),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_alignment_and_v2),
        cmocka_unit_test(test_no_tensors),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_random_corruption),
        cmocka_unit_test(test_truncated_files),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_bad_tensors),
        cmocka_unit_test(test_tensor_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
