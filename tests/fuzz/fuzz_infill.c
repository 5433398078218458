/*
 * fuzz_infill.c — libFuzzer target: llama.cpp /infill bodies
 * (proto/llamacpp.h) and the fill-in-the-middle prompts built from them
 * (server/fim.h).
 *
 * The first input byte picks the vocabulary (StarCoder: repository and file
 * tokens, no BOS; DeepSeek-Coder: BOS, neither) and the token budget (0 =
 * uncut, else 3..66); the rest is the body.  A body that parses becomes a
 * prompt the way server/infill.c builds it, whose invariants are checked
 * (abort on a violation): at most `budget` tokens, the prefix's span inside
 * the prompt, the family's layout (the middle marker last), every stop id a
 * marker; then the answers are encoded.  A body that does not parse has
 * its error envelope encoded, plain and as an SSE event.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fim.h"
#include "llamacpp.h"
#include "model/model_info.h"

static tokenizer *vocab(int which) {
    static tokenizer *t[2];
    static const char *const names[2] = {"ggml-vocab-starcoder.gguf", "ggml-vocab-deepseek-coder.gguf"};
    if (t[which]) return t[which];
    const char *dir = getenv("CTGI_MODELS");
    char path[1024], err[CT_ERRLEN];
    snprintf(path, sizeof path, "%s/vocab/%s", dir ? dir : "../shared/models", names[which]);
    if (!(t[which] = model_load_tokenizer(path, err))) {
        fprintf(stderr, "fuzz_infill: %s\n", err);
        exit(1);
    }
    return t[which];
}

static void check_prompt(const tokenizer *t, const fim_prompt *p, int budget) {
    tok_fim_ids f;
    if (!tok_fim(t, &f)) abort();
    if (budget > 0 && p->n > budget) abort();
    if (p->prefix_at < 1 || p->n_prefix < 0 || p->prefix_at + p->n_prefix > p->n) abort();
    if (p->ids[p->prefix_at - 1] != f.pre || p->ids[p->n - 1] != f.mid) abort();
    for (int i = 0; i < p->n_stops; i++)
        if (p->stops[i] != f.pre && p->stops[i] != f.suf && p->stops[i] != f.mid && p->stops[i] != f.pad &&
            p->stops[i] != f.rep && p->stops[i] != f.sep && p->stops[i] != f.eot)
            abort();
}

static void answers(const lcpp_infill *r, const fim_prompt *p) {
    lcpp_final f = {.content = {r->prefix, r->prefix_len}, .tokens = p->ids, .n_tokens = p->n, .model = "m",
                    .tokens_evaluated = (uint32_t)p->n, .prompt = {r->suffix, r->suffix_len},
                    .stopping_word = r->n_stop ? (proto_str){r->stop[0], r->stop_len[0]} : (proto_str){"", 0},
                    .stop_type = LCPP_STOP_WORD, .settings = r, .timings = {1, 2, 0.5, 3, 0}};
    size_t n;
    free(lcpp_encode_final(&f, false, &n));
    free(lcpp_encode_final(&f, true, &n));
    free(lcpp_encode_partial(f.content, p->ids, p->n, 1, 2, &n));
    sampler_params sp = lcpp_sampler_params(r, 9);
    char err[256];
    if (!sampler_params_validate(&sp, 50000, err)) abort(); /* the parser's ranges are the sampler's */
}

static void errors(const proto_error *e) {
    size_t n;
    (void)lcpp_http_status(e);
    free(lcpp_encode_error(e, false, &n));
    free(lcpp_encode_error(e, true, &n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const tokenizer *t = vocab(data[0] & 1);
    int budget = (data[0] >> 1) % 64 ? (data[0] >> 1) % 64 + 2 : 0;
    lcpp_infill r;
    proto_error err = {0};
    if (!lcpp_parse_infill((const char *)data + 1, size - 1, &r, &err)) {
        errors(&err);
        return 0;
    }
    fim_file *files = calloc((size_t)r.n_extra + 1, sizeof *files);
    if (!files) abort();
    for (int i = 0; i < r.n_extra; i++)
        files[i] = (fim_file){r.extra[i].filename, r.extra[i].filename_len, r.extra[i].text, r.extra[i].text_len};
    fim_input in = {.prefix = r.prefix, .prefix_len = r.prefix_len, .suffix = r.suffix, .suffix_len = r.suffix_len,
                    .files = files, .n_files = r.n_extra, .repo = true, .budget = budget};
    fim_prompt p;
    if (fim_build(t, &in, &p, &err)) {
        check_prompt(t, &p, budget);
        answers(&r, &p);
        fim_prompt_free(&p);
    } else {
        if (err.status != 400) abort(); /* both vocabularies have FIM tokens: only a budget under the markers fails */
        errors(&err);
    }
    free(files);
    lcpp_infill_free(&r);
    return 0;
}
