/*
 * tok_gguf.c — building a tokenizer from a GGUF file's tokenizer.ggml.*
 * metadata, with llama.cpp's defaults and fix-ups (src/llama-vocab.cpp,
 * llama_vocab::impl::load):
 *
 *  - model "llama" -> SentencePiece merges by score (BOS 1, EOS 2, UNK 0,
 *    add_bos true, space prefix true); "gpt2" -> byte-level BPE with
 *    tokenizer.ggml.merges (BOS = EOS = 11 unless given) and the regexes of
 *    tokenizer.ggml.pre; "t5" -> Unigram (EOS 1, UNK 2, add_eos true,
 *    tokenizer.ggml.precompiled_charsmap, add_space_prefix and
 *    remove_extra_whitespaces as SentencePiece's normalizer flags, byte
 *    fallback when all 256 byte pieces exist); "bert" -> WordPiece on the
 *    converter's "▁word" / "piece" spelling (CLS 101 as BOS, UNK 100, SEP
 *    102 appended with add_special) behind BERT's uncased normalizer and
 *    pre-tokenizer; other models (rwkv, ...) are refused.
 *  - token types: 1 normal, 2 unknown, 3 control, 4 user-defined,
 *    5 unused, 6 byte.
 *  - end-of-generation and FIM tokens recognised by their text are marked
 *    CONTROL (so they are only parsed with parse_special), and Phi-3 files
 *    get RSTRIP on their special tokens, as llama.cpp does; the FIM
 *    markers tok_fim reports are found by tok_fim.c.
 */
#include "tok_hf.h"
#include "tok_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint16_t attr_of_type(int32_t type) {
    switch (type) {
    case 1: return TOK_ATTR_NORMAL;
    case 2: return TOK_ATTR_UNKNOWN;
    case 3: return TOK_ATTR_CONTROL;
    case 4: return TOK_ATTR_USER_DEFINED;
    case 5: return TOK_ATTR_UNUSED;
    case 6: return TOK_ATTR_BYTE;
    default: return 0; /* undefined */
    }
}

static bool load_tokens(tokenizer *t, const gguf_file *f, char *err) {
    gguf_type st = 0, tt = 0;
    uint64_t ns = 0, nt = 0;
    const float *scores = NULL;
    const int32_t *iscores = NULL, *types = NULL;
    if (gguf_get_arr(f, "tokenizer.ggml.scores", &st, &ns)) {
        if ((st != GGUF_T_FLOAT32 && st != GGUF_T_INT32) || ns < (uint64_t)t->n_vocab)
            return ct_err(err, "tokenizer.ggml.scores: expected %d float32 scores", t->n_vocab);
        if (st == GGUF_T_FLOAT32) scores = gguf_arr_data(f, "tokenizer.ggml.scores");
        else iscores = gguf_arr_data(f, "tokenizer.ggml.scores");
    }
    if (gguf_get_arr(f, "tokenizer.ggml.token_type", &tt, &nt)) {
        if (tt != GGUF_T_INT32 || nt < (uint64_t)t->n_vocab)
            return ct_err(err, "tokenizer.ggml.token_type: expected %d int32 types", t->n_vocab);
        types = gguf_arr_data(f, "tokenizer.ggml.token_type");
    }
    for (int32_t i = 0; i < t->n_vocab; i++) {
        gguf_str s;
        char empty[32];
        if (!gguf_arr_str(f, "tokenizer.ggml.tokens", (uint64_t)i, &s))
            return ct_err(err, "tokenizer.ggml.tokens[%d] unreadable", i);
        if (s.len == 0) { /* llama.cpp renames empty tokens */
            s.len = (uint64_t)snprintf(empty, sizeof empty, "[EMPTY_%d]", i);
            s.ptr = empty;
        }
        float sc = 0.0f;
        if (scores) memcpy(&sc, scores + i, sizeof sc);
        else if (iscores) {
            int32_t v;
            memcpy(&v, iscores + i, sizeof v);
            sc = (float)v;
        }
        int32_t ty = 1;
        if (types) memcpy(&ty, types + i, sizeof ty);
        uint16_t attr = types ? attr_of_type(ty) : TOK_ATTR_NORMAL;
        if (!tok_set_token(t, i, s.ptr, s.len, sc, attr)) return ct_err(err, "out of memory");
        int r = tok_strmap_put(&t->vocab, t->text[i], t->len[i], i);
        if (r < 0) return ct_err(err, "out of memory");
        if (r == 0)
            return ct_err(err, "duplicate token in vocabulary: '%s' has ids %d and %d", t->text[i],
                          tok_strmap_get(&t->vocab, t->text[i], t->len[i]), i);
    }
    return true;
}

/* Id of a merge part: a token, or a merge-only string (id >= n_vocab). */
static int32_t merge_string_id(tokenizer *t, const char *s, size_t n) {
    int32_t id = tok_strmap_get(&t->vocab, s, n);
    if (id >= 0) return id;
    if (t->n_x == t->cap_x) {
        int32_t nc = t->cap_x ? t->cap_x * 2 : 64;
        const char **x = realloc(t->xtext, (size_t)nc * sizeof *x);
        if (!x) return -1;
        t->xtext = x;
        uint32_t *l = realloc(t->xlen, (size_t)nc * sizeof *l);
        if (!l) return -1;
        t->xlen = l;
        t->cap_x = nc;
    }
    char *p = tok_arena_dup(&t->arena, s, n);
    if (!p) return -1;
    id = t->n_vocab + t->n_x;
    if (tok_strmap_put(&t->vocab, p, n, id) < 0) return -1;
    t->xtext[t->n_x] = p;
    t->xlen[t->n_x++] = (uint32_t)n;
    return id;
}

static bool load_merges(tokenizer *t, const gguf_file *f, char *err) {
    gguf_type mt;
    uint64_t nm;
    if (!gguf_get_arr(f, "tokenizer.ggml.merges", &mt, &nm) || mt != GGUF_T_STRING)
        return ct_err(err, "tokenizer.ggml.merges: missing or not a string array");
    if (nm > INT32_MAX) return ct_err(err, "tokenizer.ggml.merges: too many merges");
    if (!tok_pairmap_init(&t->merges, (size_t)nm)) return ct_err(err, "out of memory");
    tok_buf both = {0};
    bool ok = true;
    for (uint64_t i = 0; ok && i < nm; i++) {
        gguf_str s;
        if (!gguf_arr_str(f, "tokenizer.ggml.merges", i, &s)) {
            ok = ct_err(err, "tokenizer.ggml.merges[%llu] unreadable", (unsigned long long)i);
            break;
        }
        /* llama.cpp: split at the first space after the first byte */
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
        if (!sp) continue; /* would be the pair ("", ""), which never applies */
        size_t la = (size_t)(sp - s.ptr), lb = s.len - la - 1;
        both.len = 0;
        ok = tok_buf_put(&both, s.ptr, la) && tok_buf_put(&both, sp + 1, lb);
        int32_t a = ok ? merge_string_id(t, s.ptr, la) : -1;
        int32_t b = a >= 0 ? merge_string_id(t, sp + 1, lb) : -1;
        int32_t r = b >= 0 ? merge_string_id(t, both.p, both.len) : -1;
        ok = r >= 0 && tok_pairmap_put(&t->merges, a, b, (int32_t)i, r) >= 0;
        if (!ok) ct_err(err, "out of memory");
    }
    tok_buf_free(&both);
    return ok;
}

/* Tokens llama.cpp recognises by their text (end of generation, FIM). */
static const char *const EOG_TEXTS[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", "[e~[", NULL};
static const char *const FIM_TEXTS[][9] = {
    {"tokenizer.ggml.fim_pre_token_id", "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
     "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>", "<PRE>", "\xE2\x96\x81<PRE>",
     "<|code_prefix|>", "<|prefix|>"},
    {"tokenizer.ggml.fim_suf_token_id", "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
     "<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>", "<SUF>", "\xE2\x96\x81<SUF>",
     "<|code_suffix|>", "<|suffix|>"},
    {"tokenizer.ggml.fim_mid_token_id", "<|fim_middle|>", "<fim-middle>", "<fim_middle>",
     "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", "<MID>", "\xE2\x96\x81<MID>",
     "<|code_middle|>", "<|middle|>"},
    {"tokenizer.ggml.fim_pad_token_id", "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]",
     NULL},
    {"tokenizer.ggml.fim_rep_token_id", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
     "<reponame>", NULL},
    {"tokenizer.ggml.fim_sep_token_id", "<|file_sep|>", NULL},
};

static int32_t find_text(const tokenizer *t, const char *s) {
    return tok_lookup(t, s, strlen(s));
}

static void mark_by_text(tokenizer *t, const gguf_file *f) {
    for (size_t i = 0; EOG_TEXTS[i]; i++) {
        int32_t id = find_text(t, EOG_TEXTS[i]);
        if (id >= 0) t->attr[id] |= TOK_ATTR_CONTROL;
    }
    for (size_t c = 0; c < sizeof FIM_TEXTS / sizeof *FIM_TEXTS; c++) {
        uint32_t v;
        if (gguf_get_u32(f, FIM_TEXTS[c][0], &v)) continue; /* given by id: no guessing */
        int32_t best = -1;
        for (size_t k = 1; k < 9 && FIM_TEXTS[c][k]; k++) {
            int32_t id = find_text(t, FIM_TEXTS[c][k]);
            if (id >= 0 && (best < 0 || id < best)) best = id;
        }
        if (best >= 0) t->attr[best] |= TOK_ATTR_CONTROL;
    }
    /* gpt-oss: these always render (and are matched) as plain added tokens */
    static const char *const user[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"};
    for (size_t i = 0; i < 4; i++) {
        int32_t id = find_text(t, user[i]);
        if (id >= 0) t->attr[id] = TOK_ATTR_USER_DEFINED;
    }
}

/* FIM markers: the ids the file gives (FIM_TEXTS' keys), the rest by text. */
static void find_fim(tokenizer *t, const gguf_file *f) {
    int32_t given[6];
    for (size_t c = 0; c < 6; c++) {
        uint32_t v;
        given[c] = gguf_get_u32(f, FIM_TEXTS[c][0], &v) && v < (uint32_t)t->n_vocab ? (int32_t)v : -1;
    }
    tok_fim_detect(t, given);
}

/* llama.cpp: Phi-3 strips the whitespace right of its special tokens. */
static void phi3_rstrip(tokenizer *t, const gguf_file *f) {
    char *name = gguf_get_strdup(f, "general.name");
    bool phi3 = false;
    if (name) {
        for (char *p = name; *p; p++) *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
        phi3 = strstr(name, "phi-3") || strstr(name, "phi3");
        free(name);
    }
    if (!phi3) return;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->attr[i] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN))
            t->attr[i] |= TOK_ATTR_RSTRIP;
    int32_t id = find_text(t, "</s>");
    if (id >= 0) t->attr[id] |= TOK_ATTR_RSTRIP;
    static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
    for (size_t k = 0; k < 3; k++)
        if ((id = find_text(t, keep[k])) >= 0) t->attr[id] &= (uint16_t)~TOK_ATTR_RSTRIP;
}

/* llama.cpp's cache_special_tokens: longest text first (ties by id). */

typedef struct {
    int32_t id;
    uint32_t len;
} spec_key;

static int spec_cmp(const void *a, const void *b) {
    const spec_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static bool build_specials(tokenizer *t) {
    size_t n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->attr[i] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN)) n++;
    spec_key *k = malloc((n ? n : 1) * sizeof *k);
    t->spec_order = malloc((n ? n : 1) * sizeof *t->spec_order);
    t->spec_rank = malloc((size_t)t->n_vocab * sizeof *t->spec_rank);
    if (!k || !t->spec_order || !t->spec_rank) {
        free(k);
        return false;
    }
    n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        t->spec_rank[i] = -1;
        if (t->attr[i] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN))
            k[n++] = (spec_key){i, t->len[i]};
    }
    qsort(k, n, sizeof *k, spec_cmp);
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        t->spec_order[i] = k[i].id;
        t->spec_rank[k[i].id] = (int32_t)i;
        ok = tok_trie_insert(&t->trie_raw, t->text[k[i].id], k[i].len, k[i].id);
    }
    t->n_spec = (int32_t)n;
    free(k);
    return ok;
}

static void byte_ids(tokenizer *t) {
    bool all = true;
    for (int b = 0; b < 256; b++) {
        char hex[8], raw[4];
        int n = snprintf(hex, sizeof hex, "<0x%02X>", b);
        int32_t id = tok_lookup(t, hex, (size_t)n);
        if (t->type == TOK_TYPE_UGM || t->type == TOK_TYPE_WPM) {
            /* SentencePiece's byte pieces are BYTE-typed */
            t->byte_id[b] = id >= 0 && (t->attr[id] & TOK_ATTR_BYTE) ? id : -1;
            all = all && t->byte_id[b] >= 0;
            continue;
        }
        if (id < 0 && t->type == TOK_TYPE_SPM) { /* llama.cpp: then the byte itself */
            raw[0] = (char)b;
            id = tok_lookup(t, raw, 1);
        }
        if (id < 0 && t->type == TOK_TYPE_BPE)
            id = tok_lookup(t, raw, tok_utf8_encode(tok_byte_to_cp((uint8_t)b), raw));
        t->byte_id[b] = id;
    }
    /* GGUF does not store trainer_spec.byte_fallback; a vocabulary with
     * every byte piece was trained with it */
    if (t->type == TOK_TYPE_UGM) t->byte_fallback = all;
}

/* Unigram: the Viterbi's scores (the GGUF's float scores) and trie. */
static bool setup_unigram_scores(tokenizer *t, char *err) {
    if (t->unk < 0 && !t->byte_fallback)
        return ct_err(err, "t5 tokenizer: no unknown token id (tokenizer.ggml.unknown_token_id)");
    if (!(t->ugm_score = malloc((size_t)t->n_vocab * sizeof *t->ugm_score))) return ct_err(err, "out of memory");
    for (int32_t i = 0; i < t->n_vocab; i++) /* llama.cpp: user-defined pieces score 0 */
        t->ugm_score[i] = (t->attr[i] & TOK_ATTR_USER_DEFINED) ? 0.0 : t->score[i];
    return tok_ugm_prepare(t, err);
}

static void read_id(const gguf_file *f, const char *key, int32_t n_vocab, int32_t *id) {
    if (*id >= n_vocab) *id = -1; /* a default out of range is disabled */
    uint32_t v;
    if (gguf_get_u32(f, key, &v) && v < (uint32_t)n_vocab) *id = (int32_t)v;
}

static void read_flag(const gguf_file *f, const char *key, bool *flag) {
    bool v;
    if (gguf_get_bool(f, key, &v)) *flag = v;
}

/* "t5": the SentencePiece normalizer's rules. */
static bool setup_t5(tokenizer *t, const gguf_file *f, char *err) {
    t->type = TOK_TYPE_UGM;
    t->bos = -1, t->eos = 1, t->unk = 2;
    t->add_eos = true;
    t->ugm_f32 = true;
    gguf_type ct;
    uint64_t n;
    if (!gguf_get_arr(f, "tokenizer.ggml.precompiled_charsmap", &ct, &n)) return true;
    if (ct != GGUF_T_UINT8 && ct != GGUF_T_INT8)
        return ct_err(err, "tokenizer.ggml.precompiled_charsmap: expected a byte array");
    if (!(t->charsmap = calloc(1, sizeof *t->charsmap))) return ct_err(err, "out of memory");
    return tok_charsmap_load(t->charsmap, gguf_arr_data(f, "tokenizer.ggml.precompiled_charsmap"),
                             (size_t)n, err);
}

/* "bert": BERT's uncased pipeline around the WordPiece model, set up as the
 * equivalent tokenizer.json sections. */
static bool setup_bert(tokenizer *t, char *err) {
    t->type = TOK_TYPE_WPM;
    t->bos = 101, t->eos = -1, t->unk = 100, t->sep = 102;
    t->add_bos = true;
    strcpy(t->wp_word_prefix, "\xE2\x96\x81");
    t->wp_max_chars = 100;
    json_t *norm = json_pack("{s:s, s:b, s:b, s:b, s:b}", "type", "BertNormalizer", "clean_text", 1,
                             "handle_chinese_chars", 1, "strip_accents", 1, "lowercase", 1);
    json_t *pre = json_pack("{s:s}", "type", "BertPreTokenizer");
    bool ok = norm && pre ? tok_hf_normalizer(t, norm, err) && tok_hf_pretokenizer(t, pre, err)
                          : ct_err(err, "out of memory");
    json_decref(norm);
    json_decref(pre);
    return ok;
}

static bool setup_model(tokenizer *t, const gguf_file *f, const char *model, char *err) {
    if (strcmp(model, "llama") == 0) {
        t->type = TOK_TYPE_SPM;
        t->bos = 1, t->eos = 2, t->unk = 0;
        t->add_bos = true, t->add_space_prefix = true;
        return true;
    }
    if (strcmp(model, "t5") == 0) return setup_t5(t, f, err);
    if (strcmp(model, "bert") == 0) return setup_bert(t, err);
    if (strcmp(model, "gpt2") != 0)
        return ct_err(err, "unsupported tokenizer model '%s' (supported: llama, gpt2, t5, bert)", model);
    t->type = TOK_TYPE_BPE;
    t->bos = t->eos = 11;
    char *pre = gguf_get_strdup(f, "tokenizer.ggml.pre");
    size_t n = 0;
    const char *const *rx = tok_pre_regexes(pre, &n, &t->ignore_merges, &t->add_bos);
    bool ok = rx ? tok_pre_compile_llama(t, rx, n, err)
                 : ct_err(err, "unknown pre-tokenizer type: '%s'", pre ? pre : "");
    free(pre);
    return ok;
}

tokenizer *tok_load_gguf(const gguf_file *f, char *err) {
    gguf_type tt;
    uint64_t n;
    char *model = gguf_get_strdup(f, "tokenizer.ggml.model");
    if (!model) return ct_err(err, "no tokenizer.ggml.model in the GGUF file"), NULL;
    if (!gguf_get_arr(f, "tokenizer.ggml.tokens", &tt, &n) || tt != GGUF_T_STRING || n > INT32_MAX / 2) {
        free(model);
        return ct_err(err, "tokenizer.ggml.tokens: missing or not a string array"), NULL;
    }
    if (n == 0) {
        free(model);
        return ct_err(err, "tokenizer.ggml.tokens is empty"), NULL;
    }
    tokenizer *t = tok_alloc((int32_t)n);
    bool ok = t || ct_err(err, "out of memory");
    ok = ok && setup_model(t, f, model, err) && load_tokens(t, f, err);
    if (ok && t->type == TOK_TYPE_BPE) ok = load_merges(t, f, err);
    free(model);
    if (ok) {
        read_id(f, "tokenizer.ggml.bos_token_id", t->n_vocab, &t->bos);
        read_id(f, "tokenizer.ggml.eos_token_id", t->n_vocab, &t->eos);
        read_id(f, "tokenizer.ggml.unknown_token_id", t->n_vocab, &t->unk);
        read_id(f, "tokenizer.ggml.seperator_token_id", t->n_vocab, &t->sep); /* sic */
        uint32_t v;
        if (t->type == TOK_TYPE_WPM && !gguf_get_u32(f, "tokenizer.ggml.bos_token_id", &v))
            read_id(f, "tokenizer.ggml.cls_token_id", t->n_vocab, &t->bos);
        read_flag(f, "tokenizer.ggml.remove_extra_whitespaces", &t->remove_extra_ws);
        read_flag(f, "tokenizer.ggml.add_bos_token", &t->add_bos);
        read_flag(f, "tokenizer.ggml.add_eos_token", &t->add_eos);
        read_flag(f, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);
        if (t->add_bos && t->bos < 0) ok = ct_err(err, "add_bos_token is true, but no BOS id");
        if (t->add_eos && t->eos < 0) ok = ct_err(err, "add_eos_token is true, but no EOS id");
        if (ok && t->type == TOK_TYPE_WPM && (t->unk < 0 || t->sep < 0))
            ok = ct_err(err, "bert tokenizer: no %s token id in the vocabulary",
                        t->unk < 0 ? "unknown ([UNK])" : "separator ([SEP])");
    }
    if (ok) {
        mark_by_text(t, f);
        find_fim(t, f);
        phi3_rstrip(t, f);
        byte_ids(t);
        ok = build_specials(t) || ct_err(err, "out of memory");
    }
    if (ok && t->type == TOK_TYPE_UGM) ok = setup_unigram_scores(t, err);
    if (ok) {
        t->dec.bytelevel = t->type == TOK_TYPE_BPE;
        t->dec.byte_tokens = true;
        if (t->type != TOK_TYPE_BPE) strcpy(t->dec.space_from, "\xE2\x96\x81");
        t->dec.strip_leading = t->add_space_prefix || t->type == TOK_TYPE_WPM ? 1 : 0;
        t->dec.wp_cleanup = t->type == TOK_TYPE_WPM; /* " ." -> "." ..., as llama.cpp's clean_spaces */
        ok = tok_decoder_build(t, err);
    }
    if (!ok) {
        tok_free(t);
        return NULL;
    }
    return t;
}
