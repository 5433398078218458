/*
 * engine_constraint_test.c — constrained requests through the engine's
 * public API (engine_constraint, engine_request.constraint):
 *   - seeded sampling at temperature 1 on a random-weight model and on
 *     stories260K, several seeds, all requests of a regex in one batch:
 *     every output is in the language when it ends with reason EOS and a
 *     prefix of it when it ends by length (PCRE2 decides); finite
 *     languages always end with EOS, as soon as the text is complete and
 *     without an EOS token;
 *   - a free request beside constrained ones produces exactly the tokens
 *     (and logprobs) it produces alone; a constrained one too; also with
 *     a 32000-token vocabulary on two threads, where a step's samplers
 *     (and so the masks of one shared grammar, first visits included) run
 *     on the pool at once;
 *   - ignore_eos: no EOS token is ever drawn, completion still ends it;
 *   - a vocabulary that cannot spell the language (StarCoder's has no
 *     token for the byte 0xF1) ends the request with the constraint's
 *     error, at the first step or later, and the engine carries on;
 *   - refusals: a grammar of another tokenizer, a regex the dialect
 *     refuses; engine_constraint caches.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support/pcre_oracle.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "support/engine_fixture.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static int setup(void **state) { return (*state = ef_fixture_create(1313)) ? 0 : -1; }

static int teardown(void **state) {
    ef_fixture_free(*state);
    return 0;
}

/* 2 the text is in the language, 1 a proper prefix of a string of it, 0 neither. */
static int oracle(const char *re, const char *s, size_t n) {
    pcre2_code *c = pcre_whole(re);
    assert_non_null(c);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    int out = pcre2_match(c, (PCRE2_SPTR)s, n, 0, 0, md, NULL) >= 0 ? 2 : 0;
    if (!out) {
        int r = pcre2_match(c, (PCRE2_SPTR)s, n, 0, PCRE2_PARTIAL_HARD, md, NULL);
        out = r == PCRE2_ERROR_PARTIAL || (n == 0 && r == PCRE2_ERROR_NOMATCH) ? 1 : 0;
    }
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    return out;
}

static cons_grammar *grammar(engine *e, const char *re) {
    char err[CT_ERRLEN] = "";
    cons_grammar *g = engine_constraint(e, re, strlen(re), err);
    if (!g) fail_msg("engine_constraint(%s): %s", re, err);
    return g;
}

static bool is_eos(const model *m, int32_t id) { return model_is_eos(m, id); }

typedef struct {
    const char *re;
    bool finite; /* every string of it is short enough to finish within max_new_tokens */
} lang;

static const lang langs[] = {
    {"[a-z]+ (cat|dog)", false},
    {"\\d{3}-\\d{4}", true},
    {"\\{\"a\": (true|false), \"b\": \\d{1,3}\\}", true},
    {"(yes|no|maybe)", true},
    {" ?[A-Z][a-z]{0,8}( [a-z]{1,8}){0,3}\\.", true},
    {"\\[(\\d{1,2}(, \\d{1,2}){0,4})?\\]", true},
    {"[^\\n]{0,20}\\n", false},
};

/* Every regex, 6 seeds each in one batch, on model m. */
static void run_languages(const model *m, uint64_t seed0) {
    engine_config c = ef_config(512, 16, 8192, true);
    engine *e = ef_engine(m, &c);
    uint64_t rnd = seed0;
    enum { SEEDS = 6 };
    for (size_t l = 0; l < sizeof langs / sizeof langs[0]; l++) {
        cons_grammar *g = grammar(e, langs[l].re);
        static ef_job jobs[SEEDS];
        engine_request reqs[SEEDS];
        static ef_outcome out[SEEDS];
        for (int i = 0; i < SEEDS; i++) {
            ef_job_random(&jobs[i], &rnd, tu_rnd_in(&rnd, 1, 12));
            reqs[i] = jobs[i].r;
            reqs[i].prompt = jobs[i].prompt;
            reqs[i].max_new_tokens = 40;
            reqs[i].sampling.do_sample = true;
            reqs[i].sampling.temperature = 1.0f;
            reqs[i].sampling.seed = seed0 * 100 + (uint64_t)i;
            reqs[i].constraint = g;
        }
        cons_grammar_unref(g); /* the requests hold their own references from submit on */
        ef_run_batch(e, reqs, SEEDS, out);
        int n_eos = 0;
        for (int i = 0; i < SEEDS; i++) {
            const ef_outcome *o = &out[i];
            int v = oracle(langs[l].re, o->text, o->text_len);
            if (o->fin.reason == ENGINE_FINISH_EOS) {
                n_eos++;
                if (v != 2) fail_msg("%s, seed %d: ended EOS with \"%.*s\", not in the language", langs[l].re, i, (int)o->text_len, o->text);
                /* complete texts end without an EOS token; an EOS token only where the text is accepted */
                if (langs[l].finite && o->n > 0) assert_false(is_eos(m, o->ids[o->n - 1]));
            } else {
                assert_int_equal(o->fin.reason, ENGINE_FINISH_LENGTH);
                assert_int_equal(o->n, 40);
                if (v == 0) fail_msg("%s, seed %d: \"%.*s\" is no prefix of the language", langs[l].re, i, (int)o->text_len, o->text);
                assert_false(langs[l].finite);
            }
            for (int k = 0; k + 1 < o->n; k++) assert_false(is_eos(m, o->ids[k]));
        }
        if (n_eos == 0) fail_msg("%s: no request finished", langs[l].re);
    }
    engine_free(e);
}

static void test_outputs_in_language_synth(void **state) {
    ef_fixture *fx = *state;
    run_languages(fx->m, 1);
    run_languages(fx->m, 2);
}

static void test_outputs_in_language_stories(void **state) {
    ef_fixture *fx = *state;
    run_languages(fx->stories, 3);
}

/* ---- batch invariance ------------------------------------------------------------------------------- */

static void test_free_request_unchanged(void **state) {
    ef_fixture *fx = *state;
    uint64_t rnd = 99;
    engine_config c = ef_config(64, 8, 4096, false);
    engine *e = ef_engine(fx->m, &c);
    cons_grammar *g = grammar(e, "\\{\"a\": (true|false), \"b\": \\d{1,3}\\}");
    cons_grammar *g2 = grammar(e, "[a-z]+ (cat|dog)");
    static ef_job jobs[4];
    engine_request reqs[4];
    static ef_outcome batch[4], alone[4];
    for (int i = 0; i < 4; i++) {
        ef_job_random(&jobs[i], &rnd, tu_rnd_in(&rnd, 5, 40));
        reqs[i] = jobs[i].r;
        reqs[i].prompt = jobs[i].prompt;
        reqs[i].max_new_tokens = 30;
        reqs[i].sampling.top_n = 2;
        reqs[i].sampling.do_sample = i % 2 == 0;
        reqs[i].sampling.temperature = 1.0f;
        reqs[i].sampling.seed = 7 + (uint64_t)i;
        reqs[i].constraint = i == 0 ? NULL : i == 3 ? g2 : g; /* request 0 is free */
    }
    ef_run_batch(e, reqs, 4, batch);
    for (int i = 0; i < 4; i++) {
        ef_run_alone(fx->m, &reqs[i], &alone[i]);
        ef_assert_same(&batch[i], &alone[i], i);
    }
    /* the free request did not follow the constraint (it would be a
     * coincidence): its text is not in the language */
    assert_int_not_equal(oracle("\\{\"a\": (true|false), \"b\": \\d{1,3}\\}", batch[0].text, batch[0].text_len), 2);
    cons_grammar_unref(g);
    cons_grammar_unref(g2);
    engine_free(e);
}

/* 12 requests x 32000 logits: the scheduler samples on the pool's two
 * threads; 10 constrained requests share one grammar whose masks are made
 * while they run. */
static void test_pool_threads_share_a_grammar(void **state) {
    char err[CT_ERRLEN] = "", *path = tu_model_path("synth/llama-spm-f32.gguf");
    model *m = model_load(path, err);
    free(path);
    if (!m) fail_msg("%s", err);
    engine_config c = ef_config(1024, 16, 8192, false);
    c.n_threads = 2;
    engine *e = ef_engine(m, &c);
    const char *re = "\\{\"(name|city)\": \"[A-Z][a-z]{1,12}\", \"n\": \\d{1,4}\\}";
    cons_grammar *g = grammar(e, re);
    enum { N = 12 };
    static ef_job jobs[N];
    engine_request reqs[N];
    static ef_outcome batch[N], alone;
    uint64_t rnd = 4242;
    for (int i = 0; i < N; i++) {
        ef_job_random(&jobs[i], &rnd, tu_rnd_in(&rnd, 2, 20));
        for (int k = 0; k < jobs[i].r.n_prompt; k++) jobs[i].prompt[k] = (int32_t)(3 + tu_rnd(&rnd) % 31997);
        reqs[i] = jobs[i].r;
        reqs[i].prompt = jobs[i].prompt;
        reqs[i].max_new_tokens = 32;
        reqs[i].sampling.do_sample = true;
        reqs[i].sampling.temperature = 1.0f;
        reqs[i].sampling.seed = 100 + (uint64_t)i;
        reqs[i].constraint = i < 10 ? g : NULL;
    }
    ef_run_batch(e, reqs, N, batch);
    for (int i = 0; i < N; i++) {
        if (i < 10) {
            assert_int_equal(batch[i].fin.reason, ENGINE_FINISH_EOS);
            assert_int_equal(oracle(re, batch[i].text, batch[i].text_len), 2);
        }
        ef_run_alone(m, &reqs[i], &alone);
        ef_assert_same(&batch[i], &alone, i);
    }
    cons_grammar_unref(g);
    engine_free(e);
    model_free(m);
}

/* ---- EOS -------------------------------------------------------------------------------------------- */

static void test_ignore_eos(void **state) {
    ef_fixture *fx = *state;
    engine_config c = ef_config(512, 8, 4096, false);
    engine *e = ef_engine(fx->stories, &c);
    int n;
    int32_t *ids = ef_encode(fx->stories, "Once upon a time", &n);
    struct {
        const char *re;
        engine_finish want;
    } cases[] = {{"( [a-z]+)+", ENGINE_FINISH_LENGTH}, {"\\d{3}", ENGINE_FINISH_EOS}};
    for (size_t k = 0; k < 2; k++) {
        cons_grammar *g = grammar(e, cases[k].re);
        for (uint64_t seed = 1; seed <= 4; seed++) {
            engine_request r = engine_request_default();
            r.prompt = ids;
            r.n_prompt = n;
            r.max_new_tokens = 24;
            r.ignore_eos = true;
            r.sampling.do_sample = true;
            r.sampling.temperature = 1.0f;
            r.sampling.seed = seed;
            r.constraint = g;
            ef_outcome o;
            ef_run_batch(e, &r, 1, &o);
            for (int i = 0; i < o.n; i++) assert_false(is_eos(fx->stories, o.ids[i]));
            assert_int_equal(o.fin.reason, cases[k].want);
            assert_int_not_equal(oracle(cases[k].re, o.text, o.text_len), 0);
            if (cases[k].want == ENGINE_FINISH_EOS) assert_int_equal(oracle(cases[k].re, o.text, o.text_len), 2);
        }
        cons_grammar_unref(g);
    }
    free(ids);
    engine_free(e);
}

/* ---- a vocabulary that cannot continue ---------------------------------------------------------------- */

static model *starcoder_model(void) {
    char err[CT_ERRLEN] = "", *dir = tu_mkdtemp(), *path = NULL;
    char *vocab = tu_model_path("vocab/ggml-vocab-starcoder.gguf");
    synth_config c = synth_default();
    c.seed = 5;
    c.vocab_gguf = vocab;
    model *m = NULL;
    if (asprintf(&path, "%s/sc.gguf", dir) > 0 && synth_write_gguf(&c, path, err)) m = model_load(path, err);
    if (!m) print_error("starcoder-vocabulary model: %s\n", err);
    tu_rmrf(dir);
    free(dir);
    free(path);
    free(vocab);
    return m;
}

/* Submit r and read it to its end; the ERROR message (or "" after a FINAL). */
static void run_one(engine *e, const engine_request *r, ef_outcome *o, char *message) {
    engine_req *h = ef_submit(e, r);
    memset(o, 0, sizeof *o);
    message[0] = '\0';
    engine_event ev;
    while (engine_next_event(h, &ev, true)) {
        if (ev.kind == ENGINE_EVENT_TOKEN) {
            o->ids[o->n++] = ev.token.id;
        } else if (ev.kind == ENGINE_EVENT_ERROR) {
            o->failed = true;
            snprintf(message, 160, "%s", ev.error.message);
        } else {
            o->fin = ev.final;
            o->fin.text = NULL;
            o->fin.prompt = NULL;
        }
        engine_event_clear(&ev);
    }
    engine_release(h);
}

static void test_vocabulary_cannot_continue(void **state) {
    model *m = starcoder_model();
    assert_non_null(m);
    engine_config c = ef_config(512, 8, 4096, false);
    engine *e = ef_engine(m, &c);
    int32_t prompt[3] = {100, 200, 300};
    char msg[160];
    ef_outcome o;
    const char *res[] = {"\\x{40000}", "ab\\x{40000}"}; /* U+40000 = F1 80 80 80 */
    for (int k = 0; k < 2; k++) {
        cons_grammar *g = grammar(e, res[k]);
        engine_request r = engine_request_default();
        r.prompt = prompt;
        r.n_prompt = 3;
        r.max_new_tokens = 10;
        r.constraint = g;
        run_one(e, &r, &o, msg);
        assert_true(o.failed);
        assert_string_equal(msg, "constraint: no token can continue the text");
        if (k == 0) assert_int_equal(o.n, 0);
        else assert_true(o.n >= 1 && o.n <= 2); /* "ab" or "a", "b" first */
        cons_grammar_unref(g);
    }
    /* the engine goes on: a request it can satisfy */
    cons_grammar *g = grammar(e, "ab|cd");
    engine_request r = engine_request_default();
    r.prompt = prompt;
    r.n_prompt = 3;
    r.constraint = g;
    run_one(e, &r, &o, msg);
    assert_false(o.failed);
    assert_int_equal(o.fin.reason, ENGINE_FINISH_EOS);
    cons_grammar_unref(g);
    engine_free(e);
    model_free(m);
}

/* ---- refusals and the cache ------------------------------------------------------------------------- */

static void test_refusals_and_cache(void **state) {
    ef_fixture *fx = *state;
    engine_config c = ef_config(512, 8, 4096, false);
    engine *e = ef_engine(fx->m, &c), *e2 = ef_engine(fx->stories, &c);
    char err[CT_ERRLEN] = "";
    assert_null(engine_constraint(e, "a(?=b)", 6, err));
    assert_string_equal(err, "regex: lookahead (?= is not supported at offset 1");
    cons_grammar *g = grammar(e, "x+"), *again = grammar(e, "x+");
    assert_ptr_equal(g, again); /* the engine's cache */
    cons_grammar *other = grammar(e2, "x+");
    assert_ptr_not_equal(g, other);
    int32_t prompt[2] = {10, 20};
    engine_request r = engine_request_default();
    r.prompt = prompt;
    r.n_prompt = 2;
    r.constraint = other; /* stories260K's tokenizer object, not the synthetic model's */
    ef_expect_refusal(e, &r, (const char *const[]){"constraint", "another tokenizer", NULL});
    cons_grammar_unref(again);
    cons_grammar_unref(other);
    engine_free(e2);
    engine_free(e); /* a grammar outlives the engine whose cache made it, while referenced */
    e = ef_engine(fx->m, &c);
    r.constraint = g;
    r.max_new_tokens = 8;
    ef_outcome o;
    ef_run_batch(e, &r, 1, &o);
    assert_true(o.n >= 1);
    assert_int_equal(oracle("x+", o.text, o.text_len), 2); /* every token is x's */
    cons_grammar_unref(g);
    engine_free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outputs_in_language_synth),
        cmocka_unit_test(test_outputs_in_language_stories),
        cmocka_unit_test(test_free_request_unchanged),
        cmocka_unit_test(test_pool_threads_share_a_grammar),
        cmocka_unit_test(test_ignore_eos),
        cmocka_unit_test(test_vocabulary_cannot_continue),
        cmocka_unit_test(test_refusals_and_cache),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
