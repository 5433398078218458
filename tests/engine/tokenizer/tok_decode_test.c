/*
 * tok_decode_test.c — decoding, streaming, special-token parsing, hostile
 * input and speed of the tokenizers (engine/tok_*.c).
 *
 *  - round trips: decode(encode(s)) == s for every llama.cpp test string,
 *    through GGUF and tokenizer.json vocabularies, with and without BOS;
 *  - the stream decoder on emoji / CJK split across byte tokens: no chunk
 *    ever ends inside a character, and the chunks + flush == tok_decode;
 *    invalid byte sequences become U+FFFD in both;
 *  - parse_special on/off (llama.cpp: user-defined tokens split even when
 *    off; HF: special tokens only when on);
 *  - 2 MB of random bytes, invalid UTF-8 and pathological runs: no crash;
 *  - reference/perplexity.txt (11 KB): exact token counts and first ids of
 *    llama.cpp (reference/perplexity.json), in milliseconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/gguf.h"
#include "support/testutil.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tok_load.h"

static tokenizer *load(const char *rel) {
    char *p = tu_model_path(rel), err[CT_ERRLEN];
    tokenizer *t = NULL;
    size_t n = strlen(p);
    if (n > 5 && strcmp(p + n - 5, ".gguf") == 0) {
        gguf_file *f = gguf_open(p, err);
        if (f) {
            t = tok_load_gguf(f, err);
            gguf_close(f);
        }
    } else {
        t = tok_load_hf(p, err);
    }
    if (!t) print_error("%s: %s\n", rel, err);
    free(p);
    return t;
}

static int encode(const tokenizer *t, const char *s, size_t n, bool add, bool parse, int32_t **ids) {
    char err[CT_ERRLEN] = "";
    int k = tok_encode(t, s, n, add, parse, ids, err);
    if (k < 0) print_error("encode failed: %s\n", err);
    return k;
}

static bool valid_utf8(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = u[i] < 0x80 ? 1 : (u[i] >> 5) == 6 ? 2 : (u[i] >> 4) == 14 ? 3 : (u[i] >> 3) == 30 ? 4 : 0;
        if (k == 0 || i + k > n) return false;
        for (size_t j = 1; j < k; j++)
            if ((u[i + j] & 0xC0) != 0x80) return false;
        i += k;
    }
    return true;
}

/* Streams ids one by one; checks every chunk and that the whole equals
 * tok_decode.  Returns the streamed text (malloc'd). */
static char *stream_all(const tokenizer *t, const int32_t *ids, size_t n, bool skip, bool cont) {
    tok_stream s;
    tok_stream_init(&s, t, skip);
    if (cont) s.first = false;
    char *out = NULL;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t before = len;
        size_t got = tok_stream_push(&s, ids[i], &out, &len);
        assert_int_equal(got, len - before);
        if (!valid_utf8(out ? out + before : "", got)) fail_msg("chunk %zu is not valid UTF-8", i);
    }
    tok_stream_flush(&s, &out, &len);
    if (!out) out = calloc(1, 1);
    assert_int_equal(strlen(out), len);
    if (!cont) {
        char *d = tok_decode(t, ids, n, skip);
        assert_non_null(d);
        assert_string_equal(out, d);
        free(d);
    }
    return out;
}

/* ---------------------------------------------------------- round trips */

static const char *const RT_STRINGS[] = {
    "Hello world", " Hello world", "  leading and trailing  ", "\n\n\tindent\n", "",
    "Héllo wörld — naïve café, 日本語のテキスト, emoji 🙂🚀; tabs\tand\nnew lines.",
    "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅", "3333333 1234567890", "' era", " (",
    "I'm you're we've they'll", "нещо на Български", "ied 4 ½ months", "\r\n\r\n  x  \n",
    NULL};

static void round_trip(const char *rel, bool add_special) {
    tokenizer *t = load(rel);
    assert_non_null(t);
    for (size_t i = 0; RT_STRINGS[i]; i++) {
        const char *s = RT_STRINGS[i];
        int32_t *ids = NULL;
        int n = encode(t, s, strlen(s), add_special, false, &ids);
        assert_true(n >= 0);
        char *d = tok_decode(t, ids, (size_t)n, true);
        assert_non_null(d);
        if (strcmp(d, s) != 0) fail_msg("%s: '%s' decodes to '%s'", rel, s, d);
        free(d);
        char *st = stream_all(t, ids, (size_t)n, true, false);
        free(st);
        free(ids);
    }
    tok_free(t);
}

static void rt_llama_spm(void **state) { round_trip("vocab/ggml-vocab-llama-spm.gguf", true); }
static void rt_phi3(void **state) { round_trip("vocab/ggml-vocab-phi-3.gguf", false); }
static void rt_gpt2(void **state) { round_trip("vocab/ggml-vocab-gpt-2.gguf", true); }
static void rt_falcon(void **state) { round_trip("vocab/ggml-vocab-falcon.gguf", false); }
static void rt_mpt(void **state) { round_trip("vocab/ggml-vocab-mpt.gguf", false); }
static void rt_starcoder(void **state) { round_trip("vocab/ggml-vocab-starcoder.gguf", false); }
static void rt_deepseek_coder(void **state) { round_trip("vocab/ggml-vocab-deepseek-coder.gguf", true); }
static void rt_deepseek_llm(void **state) { round_trip("vocab/ggml-vocab-deepseek-llm.gguf", true); }
static void rt_refact(void **state) { round_trip("vocab/ggml-vocab-refact.gguf", false); }
static void rt_stories(void **state) { round_trip("stories260K.gguf", true); }
static void rt_hf_llama(void **state) { round_trip("synth/llama-spm-hf", true); }
static void rt_hf_gpt2(void **state) { round_trip("synth/qwen2-bpe-hf", true); }

/* ------------------------------------------------------ decode details */

static void decode_rules(void **state) {
    tokenizer *t = load("vocab/ggml-vocab-llama-spm.gguf");
    assert_non_null(t);
    int32_t ids[] = {1, 15043, 3186}; /* <s> ▁Hello ▁world */
    char *d = tok_decode(t, ids, 3, true);
    assert_string_equal(d, "Hello world"); /* the encode-time space is dropped */
    free(d);
    d = tok_decode(t, ids, 3, false);
    assert_string_equal(d, "<s> Hello world"); /* as HF: the first token is "<s>" */
    free(d);
    char *s = stream_all(t, ids + 1, 2, true, true); /* a continuation keeps its space */
    assert_string_equal(s, " Hello world");
    free(s);
    char buf[16];
    assert_int_equal(tok_token_bytes(t, 15043, false, buf, sizeof buf), 6);
    assert_memory_equal(buf, " Hello", 6);
    assert_int_equal(tok_token_bytes(t, 1, true, buf, sizeof buf), 0);
    assert_int_equal(tok_token_bytes(t, 1, false, buf, sizeof buf), 3);
    assert_int_equal(tok_token_bytes(t, 3 + 0x0A, false, buf, sizeof buf), 1); /* <0x0A> */
    assert_int_equal(buf[0], '\n');
    assert_int_equal(tok_token_bytes(t, -1, false, buf, sizeof buf), 0);
    assert_int_equal(tok_token_bytes(t, 32000, false, buf, sizeof buf), 0);
    tok_free(t);

    t = load("vocab/ggml-vocab-gpt-2.gguf");
    assert_non_null(t);
    int32_t g[] = {15496, 995, 50256}; /* Hello Ġworld <|endoftext|> */
    d = tok_decode(t, g, 3, false);
    assert_string_equal(d, "Hello world<|endoftext|>");
    free(d);
    d = tok_decode(t, g, 3, true);
    assert_string_equal(d, "Hello world");
    free(d);
    tok_free(t);
}

/* Byte tokens of llama-spm: <0xNN> is id 3 + NN. */
static void stream_split_chars(void **state) {
    tokenizer *t = load("vocab/ggml-vocab-llama-spm.gguf");
    assert_non_null(t);
    assert_string_equal(tok_piece(t, 3 + 0xF0), "<0xF0>");
    int32_t emoji[] = {3 + 0xF0, 3 + 0x9F, 3 + 0x99, 3 + 0x82}; /* 🙂 */
    tok_stream s;
    tok_stream_init(&s, t, true);
    char *out = NULL;
    size_t len = 0;
    for (int i = 0; i < 3; i++) assert_int_equal(tok_stream_push(&s, emoji[i], &out, &len), 0);
    assert_int_equal(tok_stream_push(&s, emoji[3], &out, &len), 4);
    assert_string_equal(out, "\xF0\x9F\x99\x82");
    assert_int_equal(tok_stream_flush(&s, &out, &len), 0);
    free(out);

    /* invalid bytes: one U+FFFD per maximal invalid subpart, also at the end */
    int32_t bad[] = {3 + 0xFF, 3 + 0xE6, 3 + 0x41, 3 + 0xE6, 3 + 0x97};
    char *x = stream_all(t, bad, 5, true, true);
    assert_string_equal(x, "\xEF\xBF\xBD\xEF\xBF\xBD" "A\xEF\xBF\xBD");
    free(x);
    x = stream_all(t, bad, 5, true, false);
    free(x);

    /* the text of encode: CJK and emoji fall back to bytes in llama-spm */
    const char *txt = "日本語のテキスト 🙂🚀 😶‍🌫️ ✅ Ünïcödé";
    int32_t *ids;
    int n = encode(t, txt, strlen(txt), true, false, &ids);
    assert_true(n > 0);
    x = stream_all(t, ids, (size_t)n, true, false);
    assert_string_equal(x, txt);
    free(x);
    free(ids);
    tok_free(t);

    /* byte-level: an emoji spread over several tokens */
    t = load("synth/qwen2-bpe-hf");
    assert_non_null(t);
    n = encode(t, txt, strlen(txt), true, false, &ids);
    assert_true(n > 0);
    x = stream_all(t, ids, (size_t)n, true, false);
    assert_string_equal(x, txt);
    free(x);
    free(ids);
    tok_free(t);
}

static bool has_id(const int32_t *ids, int n, int32_t id) {
    for (int i = 0; i < n; i++)
        if (ids[i] == id) return true;
    return false;
}

static void expect_ids(const tokenizer *t, const char *s, bool parse, const int32_t *want, int n_want) {
    int32_t *ids;
    int n = encode(t, s, strlen(s), false, parse, &ids);
    assert_int_equal(n, n_want);
    assert_memory_equal(ids, want, (size_t)n_want * sizeof *ids);
    free(ids);
}

static void special_parsing(void **state) {
    int32_t *ids;
    int n;
    tokenizer *t = load("vocab/ggml-vocab-gpt-2.gguf");
    assert_non_null(t);
    expect_ids(t, "a<|endoftext|>b", true, (int32_t[]){64, 50256, 65}, 3);
    n = encode(t, "a<|endoftext|>b", 15, false, false, &ids);
    assert_true(n > 3 && !has_id(ids, n, 50256));
    free(ids);
    tok_free(t);

    t = load("vocab/ggml-vocab-llama-spm.gguf");
    assert_non_null(t);
    /* after a special token the text gets its SentencePiece space again */
    expect_ids(t, "<s>Hello", true, (int32_t[]){1, 15043}, 2);
    n = encode(t, "<s>Hello", 8, false, false, &ids);
    assert_true(n > 2 && !has_id(ids, n, 1));
    free(ids);
    tok_free(t);

    /* llama.cpp: user-defined tokens split the text even without
     * parse_special, control ones (BOS, and FIM tokens found by text) not */
    t = load("vocab/ggml-vocab-deepseek-coder.gguf");
    assert_non_null(t);
    expect_ids(t, "<|EOT|>", false, (int32_t[]){32021}, 1);
    const char *bos = "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";
    expect_ids(t, bos, true, (int32_t[]){32013}, 1);
    n = encode(t, bos, strlen(bos), false, false, &ids);
    assert_true(n > 1 && !has_id(ids, n, 32013));
    free(ids);
    const char *fim = "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>";
    expect_ids(t, fim, true, (int32_t[]){32016}, 1);
    n = encode(t, fim, strlen(fim), false, false, &ids);
    assert_true(n > 1 && !has_id(ids, n, 32016));
    free(ids);
    tok_free(t);

    /* Phi-3: special tokens eat the whitespace that follows them */
    t = load("vocab/ggml-vocab-phi-3.gguf");
    assert_non_null(t);
    n = encode(t, "<|user|>\n  Hi<|end|>", 20, false, true, &ids);
    assert_true(n >= 3 && ids[0] == 32010 && ids[n - 1] == 32007 && !has_id(ids, n, 13));
    free(ids);
    tok_free(t);

    t = load("synth/qwen2-bpe-hf");
    assert_non_null(t);
    expect_ids(t, "a<|endoftext|>b", true, (int32_t[]){64, 50256, 65}, 3);
    n = encode(t, "a<|endoftext|>b", 15, false, false, &ids);
    assert_true(n > 3 && !has_id(ids, n, 50256));
    free(ids);
    tok_free(t);
}

/* ------------------------------------------------------ hostile input */

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

#define HOSTILE_LEN (2u << 20)

/* kind 0: random bytes; 1: a mix of broken UTF-8, specials and runs. */
static char *hostile(int kind, uint64_t seed) {
    static const char *const bits[] = {
        "\x80", "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xF8\x88\x80\x80\x80", "\xE6\x97",
        "\xFF\xFE", "<|endoftext|>", "<s>", "</s>", "<0xF0>", "   ", "\n\n", "\r\n", "\t",
        "\xF0\x9F\x99\x82", "\xE6\x97\xA5\xE6\x9C\xAC", "'s", "1234567", "\xC2\xA0", "\xE3\x80\x80",
        "\xC2\x85", "<|im_start|>", "\xEF\xBB\xBF", "a", "Z", "\xCC\x81"};
    char *s = malloc(HOSTILE_LEN + 16);
    size_t n = 0;
    while (n < HOSTILE_LEN) {
        uint64_t r = rng_next(&seed);
        if (kind == 0) {
            s[n++] = (char)(r & 0xFF);
            continue;
        }
        const char *b = bits[r % (sizeof bits / sizeof *bits)];
        size_t k = strlen(b);
        memcpy(s + n, b, k);
        n += k;
    }
    return s;
}

static void hostile_through(const char *rel, const char *s, size_t n, bool parse) {
    tokenizer *t = load(rel);
    assert_non_null(t);
    {
        int32_t *ids = NULL;
        double t0 = ct_now();
        int k = encode(t, s, n, true, parse, &ids);
        if (k <= 0) fail_msg("%s: %zu hostile bytes gave %d ids", rel, n, k);
        char *d = tok_decode(t, ids, (size_t)k, false);
        assert_non_null(d);
        print_message("# %s: %zu bytes -> %d ids in %.0f ms\n", rel, n, k, (ct_now() - t0) * 1e3);
        free(d);
        free(ids);
    }
    tok_free(t);
}

static void hostile_input(void **state) {
    static const char *const toks[] = {"vocab/ggml-vocab-gpt-2.gguf", "vocab/ggml-vocab-llama-spm.gguf",
        "vocab/ggml-vocab-deepseek-llm.gguf", "synth/qwen2-bpe-hf", "synth/llama-spm-hf"};
    for (int kind = 0; kind < 2; kind++) {
        char *s = hostile(kind, 0x9E3779B97F4A7C15ull + (uint64_t)kind);
        for (size_t i = 0; i < sizeof toks / sizeof *toks; i++) hostile_through(toks[i], s, HOSTILE_LEN, kind == 1);
        free(s);
    }
}

/* Long runs of one character: worst cases for regexes and merges. */
static void hostile_runs(void **state) {
    static const char *const unit[] = {" ", "\n", "a", "7", "\xF0\x9F\x99\x82", " \t", "'"};
    const size_t n = 256u << 10;
    char *s = malloc(n + 8);
    for (size_t u = 0; u < sizeof unit / sizeof *unit; u++) {
        size_t k = strlen(unit[u]), len = 0;
        while (len + k <= n) {
            memcpy(s + len, unit[u], k);
            len += k;
        }
        hostile_through("vocab/ggml-vocab-gpt-2.gguf", s, len, false);
        hostile_through("synth/llama-spm-hf", s, len, true);
    }
    free(s);
}

/* ------------------------------------------------------------- speed */

static void perplexity_text(void **state) {
    char *p = tu_model_path("reference/perplexity.txt"), err[CT_ERRLEN];
    size_t len;
    char *text = ct_read_file(p, &len, err);
    free(p);
    assert_non_null(text);
    if (len && text[len - 1] == '\n') len--; /* as llama-perplexity -f reads it */
    p = tu_model_path("reference/perplexity.json");
    json_error_t je;
    json_t *ref = json_load_file(p, 0, &je);
    free(p);
    assert_non_null(ref);
    const json_t *models = json_object_get(ref, "models"), *m;
    size_t i;
    int n_checked = 0;
    json_array_foreach(models, i, m) {
        const char *rel = json_string_value(json_object_get(m, "model"));
        /* The reference also lists files that are not shipped (the F32
         * master of llama-spm-256, models/README.md): say so, check the rest. */
        char *path = tu_model_path(rel);
        bool present = access(path, R_OK) == 0;
        free(path);
        if (!present) {
            print_message("# %s: not in the models folder, not checked\n", rel);
            continue;
        }
        n_checked++;
        tokenizer *t = load(rel);
        assert_non_null(t);
        int32_t *ids;
        double t0 = ct_now();
        int n = encode(t, text, len, true, false, &ids);
        double ms = (ct_now() - t0) * 1e3;
        print_message("# %s: %zu bytes -> %d tokens in %.2f ms\n", rel, len, n, ms);
        assert_int_equal(n, json_integer_value(json_object_get(m, "n_tokens")));
        const json_t *first = json_object_get(m, "first_tokens"), *e;
        size_t k;
        json_array_foreach(first, k, e) assert_int_equal(ids[k], json_integer_value(e));
        assert_true(ms < 1000.0); /* milliseconds in practice; generous for sanitizers */
        char *d = tok_decode(t, ids, (size_t)n, true);
        assert_memory_equal(d, text, len);
        assert_int_equal(strlen(d), len);
        free(d);
        free(ids);
        tok_free(t);
    }
    assert_true(n_checked >= 3); /* the three original models are always shipped */
    json_decref(ref);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rt_llama_spm), cmocka_unit_test(rt_phi3), cmocka_unit_test(rt_gpt2),
        cmocka_unit_test(rt_falcon), cmocka_unit_test(rt_mpt), cmocka_unit_test(rt_starcoder),
        cmocka_unit_test(rt_deepseek_coder), cmocka_unit_test(rt_deepseek_llm),
        cmocka_unit_test(rt_refact), cmocka_unit_test(rt_stories), cmocka_unit_test(rt_hf_llama),
        cmocka_unit_test(rt_hf_gpt2), cmocka_unit_test(decode_rules),
        cmocka_unit_test(stream_split_chars), cmocka_unit_test(special_parsing),
        cmocka_unit_test(perplexity_text), cmocka_unit_test(hostile_input),
        cmocka_unit_test(hostile_runs),
    };
    return cmocka_run_group_tests_name("tok_decode", tests, NULL, NULL);
}
