/*
 * tok_hf_pipe.c — reading the pipeline sections of a tokenizer.json into a
 * tokenizer: normalizer, pre_tokenizer, post_processor and decoder.
 * Unsupported component types are refused with an error naming them (a
 * silently different pipeline would give wrong ids).
 */
#include "tok_hf.h"

#include <stdlib.h>
#include <string.h>

static const char *jstr(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool jbool(const json_t *o, const char *key, bool dflt) {
    const json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* pattern {"String": s} or {"Regex": r} */
static bool read_pattern(const json_t *pat, tok_rx *rx, bool *has_rx, char **lit, size_t *lit_len,
                         char *err) {
    const char *s = jstr(pat, "String"), *r = jstr(pat, "Regex");
    if (r) {
        if (!tok_rx_compile(rx, r, TOK_RX_HF, err)) return false;
        *has_rx = true;
        return true;
    }
    if (!s) return ct_err(err, "pattern: expected String or Regex");
    *lit_len = strlen(s);
    return (*lit = dup_n(s, *lit_len)) != NULL || ct_err(err, "out of memory");
}

/* ---- normalizer ---- */

/* Standard base64 (padding optional, no whitespace): a malloc'd buffer
 * of *n bytes, or NULL if s is not base64 (or out of memory). */
static uint8_t *base64_decode(const char *s, size_t *n) {
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == '=') len--;
    uint8_t *out = malloc(len * 3 / 4 + 1);
    if (!out) return NULL;
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
              : c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63 : -1;
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (uint8_t)(acc >> bits);
        }
    }
    *n = k;
    return out;
}

static bool norm_precompiled(tok_norm_step *st, const json_t *j, char *err) {
    const json_t *v = json_object_get(j, "precompiled_charsmap");
    if (json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
        return true; /* no rules (some converted files): the text is kept */
    const char *b64 = json_string_value(v);
    if (!b64) return ct_err(err, "Precompiled normalizer without 'precompiled_charsmap'");
    size_t n = 0;
    uint8_t *blob = base64_decode(b64, &n);
    if (!blob) return ct_err(err, "Precompiled normalizer: precompiled_charsmap is not base64");
    st->cm = calloc(1, sizeof *st->cm);
    bool ok = st->cm ? tok_charsmap_load(st->cm, blob, n, err) : ct_err(err, "out of memory");
    free(blob);
    return ok;
}

static bool norm_bert(tok_norm_step *st, const json_t *j) {
    st->clean_text = jbool(j, "clean_text", true);
    st->chinese = jbool(j, "handle_chinese_chars", true);
    st->lowercase = jbool(j, "lowercase", true);
    /* strip_accents: null follows lowercase */
    st->strip_accents = jbool(j, "strip_accents", st->lowercase);
    return true;
}

static tok_norm_step *new_norm(tokenizer *t, tok_norm_kind kind, char *err) {
    tok_norm_step *v = realloc(t->norm, (t->n_norm + 1) * sizeof *v);
    if (!v) return ct_err(err, "out of memory"), NULL;
    t->norm = v;
    tok_norm_step *s = &v[t->n_norm++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    return s;
}

bool tok_hf_normalizer(tokenizer *t, const json_t *j, char *err) {
    if (!j || json_is_null(j)) return true;
    const char *ty = jstr(j, "type");
    if (!ty) return ct_err(err, "normalizer without a type");
    if (strcmp(ty, "Sequence") == 0) {
        const json_t *arr = json_object_get(j, "normalizers"), *e;
        size_t i;
        json_array_foreach(arr, i, e) if (!tok_hf_normalizer(t, e, err)) return false;
        return true;
    }
    static const struct { const char *name; tok_norm_kind kind; } simple[] = {
        {"NFC", TOK_NORM_NFC}, {"NFD", TOK_NORM_NFD}, {"NFKC", TOK_NORM_NFKC},
        {"NFKD", TOK_NORM_NFKD}, {"Lowercase", TOK_NORM_LOWERCASE},
        {"StripAccents", TOK_NORM_STRIP_ACCENTS}, {"Strip", TOK_NORM_STRIP},
        {"Prepend", TOK_NORM_PREPEND}, {"Replace", TOK_NORM_REPLACE},
        {"Precompiled", TOK_NORM_PRECOMPILED}, {"BertNormalizer", TOK_NORM_BERT},
    };
    for (size_t k = 0; k < sizeof simple / sizeof *simple; k++) {
        if (strcmp(ty, simple[k].name) != 0) continue;
        tok_norm_step *s = new_norm(t, simple[k].kind, err);
        if (!s) return false;
        if (s->kind == TOK_NORM_STRIP) {
            s->left = jbool(j, "strip_left", true);
            s->right = jbool(j, "strip_right", true);
        } else if (s->kind == TOK_NORM_PREPEND) {
            const char *p = jstr(j, "prepend");
            if (!p) return ct_err(err, "Prepend normalizer without 'prepend'");
            s->a_len = strlen(p);
            if (!(s->a = dup_n(p, s->a_len))) return ct_err(err, "out of memory");
        } else if (s->kind == TOK_NORM_REPLACE) {
            const char *c = jstr(j, "content");
            if (!c) return ct_err(err, "Replace normalizer without 'content'");
            s->b_len = strlen(c);
            if (!(s->b = dup_n(c, s->b_len))) return ct_err(err, "out of memory");
            return read_pattern(json_object_get(j, "pattern"), &s->rx, &s->has_rx, &s->a, &s->a_len, err);
        } else if (s->kind == TOK_NORM_PRECOMPILED) {
            return norm_precompiled(s, j, err);
        } else if (s->kind == TOK_NORM_BERT) {
            return norm_bert(s, j);
        }
        return true;
    }
    return ct_err(err, "unsupported normalizer type '%s'", ty);
}

/* ---- pre-tokenizer ---- */

static tok_pt_step *new_pt(tokenizer *t, tok_pt_kind kind, char *err) {
    tok_pt_step *v = realloc(t->pt, (t->n_pt + 1) * sizeof *v);
    if (!v) return ct_err(err, "out of memory"), NULL;
    t->pt = v;
    tok_pt_step *s = &v[t->n_pt++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->behavior = TOK_SPLIT_ISOLATED;
    return s;
}

static bool behavior_of(const char *b, tok_split_behavior *out) {
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious",
                                        "MergedWithNext", "Contiguous"};
    for (int i = 0; i < 5; i++)
        if (b && strcmp(b, names[i]) == 0) {
            *out = (tok_split_behavior)i;
            return true;
        }
    return false;
}

/* A Split step with a fixed regex (Digits, Whitespace, Punctuation, ...). */
static bool rx_split(tokenizer *t, const char *rx, tok_split_behavior b, bool invert, char *err) {
    tok_pt_step *s = new_pt(t, TOK_PT_SPLIT, err);
    if (!s) return false;
    s->behavior = b;
    s->invert = invert;
    return (s->has_rx = tok_rx_compile(&s->rx, rx, TOK_RX_HF, err));
}

#define RX_PUNCT "[\\p{P}!-/:-@\\[-`{-~]"
#define RX_GPT2_HF "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

static bool pt_split(tokenizer *t, const json_t *j, char *err) {
    tok_pt_step *s = new_pt(t, TOK_PT_SPLIT, err);
    if (!s) return false;
    const char *b = jstr(j, "behavior");
    if (!behavior_of(b, &s->behavior)) return ct_err(err, "Split: unknown behavior '%s'", b ? b : "");
    s->invert = jbool(j, "invert", false);
    return read_pattern(json_object_get(j, "pattern"), &s->rx, &s->has_rx, &s->literal,
                        &s->literal_len, err);
}

static bool pt_metaspace(tokenizer *t, const json_t *j, char *err) {
    tok_pt_step *s = new_pt(t, TOK_PT_METASPACE, err);
    if (!s) return false;
    const char *r = jstr(j, "replacement");
    if (!r) r = "\xE2\x96\x81";
    if (strlen(r) >= sizeof s->repl) return ct_err(err, "Metaspace: replacement too long");
    strcpy(s->repl, r);
    const char *scheme = jstr(j, "prepend_scheme");
    if (scheme) s->prepend = strcmp(scheme, "never") == 0 ? 0 : strcmp(scheme, "first") == 0 ? 1 : 2;
    else s->prepend = jbool(j, "add_prefix_space", true) ? 2 : 0; /* older files */
    s->split = jbool(j, "split", true);
    return true;
}

bool tok_hf_pretokenizer(tokenizer *t, const json_t *j, char *err) {
    if (!j || json_is_null(j)) return true;
    const char *ty = jstr(j, "type");
    if (!ty) return ct_err(err, "pre_tokenizer without a type");
    if (strcmp(ty, "Sequence") == 0) {
        const json_t *arr = json_object_get(j, "pretokenizers"), *e;
        size_t i;
        json_array_foreach(arr, i, e) if (!tok_hf_pretokenizer(t, e, err)) return false;
        return true;
    }
    if (strcmp(ty, "Split") == 0) return pt_split(t, j, err);
    if (strcmp(ty, "Metaspace") == 0) return pt_metaspace(t, j, err);
    if (strcmp(ty, "ByteLevel") == 0) {
        tok_pt_step *s = new_pt(t, TOK_PT_BYTELEVEL, err);
        if (!s) return false;
        s->add_prefix_space = jbool(j, "add_prefix_space", true);
        if (jbool(j, "use_regex", true))
            return (s->has_rx = tok_rx_compile(&s->rx, RX_GPT2_HF, TOK_RX_HF, err));
        return true;
    }
    if (strcmp(ty, "Digits") == 0)
        return rx_split(t, "\\p{N}",
                        jbool(j, "individual_digits", false) ? TOK_SPLIT_ISOLATED : TOK_SPLIT_CONTIGUOUS,
                        false, err);
    if (strcmp(ty, "Whitespace") == 0) return rx_split(t, "\\w+|[^\\w\\s]+", TOK_SPLIT_REMOVED, true, err);
    if (strcmp(ty, "WhitespaceSplit") == 0) return rx_split(t, "\\s", TOK_SPLIT_REMOVED, false, err);
    if (strcmp(ty, "Punctuation") == 0) {
        tok_split_behavior b = TOK_SPLIT_ISOLATED;
        const char *bn = jstr(j, "behavior");
        if (bn && !behavior_of(bn, &b)) return ct_err(err, "Punctuation: unknown behavior '%s'", bn);
        return rx_split(t, RX_PUNCT, b, false, err);
    }
    if (strcmp(ty, "BertPreTokenizer") == 0)
        return rx_split(t, "\\s", TOK_SPLIT_REMOVED, false, err) &&
               rx_split(t, RX_PUNCT, TOK_SPLIT_ISOLATED, false, err);
    return ct_err(err, "unsupported pre_tokenizer type '%s'", ty);
}

/* ---- post-processor ---- */

static bool add_ids(int32_t **v, size_t *n, const int32_t *ids, size_t k, bool front) {
    int32_t *p = realloc(*v, (*n + k + 1) * sizeof *p);
    if (!p) return false;
    if (front) {
        memmove(p + k, p, *n * sizeof *p);
        memcpy(p, ids, k * sizeof *p);
    } else {
        memcpy(p + *n, ids, k * sizeof *p);
    }
    *v = p;
    *n += k;
    return true;
}

static bool template_ids(const json_t *special, const char *name, int32_t *ids, size_t *k) {
    const json_t *ent = json_object_get(special, name), *arr = json_object_get(ent, "ids"), *e;
    size_t i;
    *k = 0;
    if (!json_is_array(arr) || json_array_size(arr) > 16) return false;
    json_array_foreach(arr, i, e) ids[(*k)++] = (int32_t)json_number_value(e);
    return true;
}

/* One processor: what it puts before and after the sequence. */
static bool post_one(const json_t *j, int32_t *pre, size_t *np, int32_t *suf, size_t *ns, char *err) {
    const char *ty = jstr(j, "type");
    *np = *ns = 0;
    if (!ty || strcmp(ty, "ByteLevel") == 0) return true;
    if (strcmp(ty, "RobertaProcessing") == 0 || strcmp(ty, "BertProcessing") == 0) {
        const json_t *cls = json_object_get(j, "cls"), *sep = json_object_get(j, "sep");
        pre[(*np)++] = (int32_t)json_number_value(json_array_get(cls, 1));
        suf[(*ns)++] = (int32_t)json_number_value(json_array_get(sep, 1));
        return true;
    }
    if (strcmp(ty, "TemplateProcessing") != 0)
        return ct_err(err, "unsupported post_processor type '%s'", ty);
    const json_t *single = json_object_get(j, "single"), *sp = json_object_get(j, "special_tokens"), *e;
    bool after = false;
    size_t i;
    json_array_foreach(single, i, e) {
        if (json_object_get(e, "Sequence")) {
            after = true;
            continue;
        }
        const char *name = jstr(json_object_get(e, "SpecialToken"), "id");
        int32_t ids[16];
        size_t k;
        if (!name || !template_ids(sp, name, ids, &k))
            return ct_err(err, "TemplateProcessing: unknown special token '%s'", name ? name : "");
        for (size_t q = 0; q < k; q++) {
            if ((after ? *ns : *np) >= 64) return ct_err(err, "TemplateProcessing: too many tokens");
            if (after) suf[(*ns)++] = ids[q];
            else pre[(*np)++] = ids[q];
        }
    }
    return true;
}

bool tok_hf_postprocessor(tokenizer *t, const json_t *j, char *err) {
    if (!j || json_is_null(j)) return true;
    const char *ty = jstr(j, "type");
    if (ty && strcmp(ty, "Sequence") == 0) {
        const json_t *arr = json_object_get(j, "processors"), *e;
        size_t i;
        json_array_foreach(arr, i, e) if (!tok_hf_postprocessor(t, e, err)) return false;
        return true;
    }
    int32_t pre[64], suf[64];
    size_t np, ns;
    if (!post_one(j, pre, &np, suf, &ns, err)) return false;
    /* a later processor wraps what the earlier ones produced */
    if (!add_ids(&t->post_prefix, &t->n_post_prefix, pre, np, true) ||
        !add_ids(&t->post_suffix, &t->n_post_suffix, suf, ns, false))
        return ct_err(err, "out of memory");
    return true;
}

/* ---- decoder ---- */

bool tok_hf_decoder(tokenizer *t, const json_t *j, char *err) {
    if (!j || json_is_null(j)) return true;
    const char *ty = jstr(j, "type");
    if (!ty) return true;
    if (strcmp(ty, "Sequence") == 0) {
        const json_t *arr = json_object_get(j, "decoders"), *e;
        size_t i;
        json_array_foreach(arr, i, e) if (!tok_hf_decoder(t, e, err)) return false;
    } else if (strcmp(ty, "ByteLevel") == 0) {
        t->dec.bytelevel = true;
    } else if (strcmp(ty, "ByteFallback") == 0) {
        t->dec.byte_tokens = true;
    } else if (strcmp(ty, "Metaspace") == 0) {
        const char *r = jstr(j, "replacement"), *scheme = jstr(j, "prepend_scheme");
        if (!r) r = "\xE2\x96\x81";
        if (strlen(r) < sizeof t->dec.space_from) strcpy(t->dec.space_from, r);
        bool prepend = scheme ? strcmp(scheme, "never") != 0 : jbool(j, "add_prefix_space", true);
        t->dec.strip_leading = prepend ? 1 : 0;
    } else if (strcmp(ty, "Replace") == 0) {
        const char *from = jstr(json_object_get(j, "pattern"), "String"), *to = jstr(j, "content");
        if (from && to && strcmp(to, " ") == 0 && strlen(from) < sizeof t->dec.space_from)
            strcpy(t->dec.space_from, from);
    } else if (strcmp(ty, "WordPiece") == 0) {
        const char *pre = jstr(j, "prefix");
        if (!pre) pre = "##";
        if (strlen(pre) >= sizeof t->dec.wp_prefix) return ct_err(err, "WordPiece decoder: prefix too long");
        t->dec.wordpiece = true;
        strcpy(t->dec.wp_prefix, pre);
        t->dec.wp_cleanup = jbool(j, "cleanup", true);
    } else if (strcmp(ty, "Strip") == 0) {
        const char *c = jstr(j, "content");
        const json_t *start = json_object_get(j, "start");
        if (c && strcmp(c, " ") == 0 && json_is_number(start))
            t->dec.strip_leading = (int)json_number_value(start);
    }
    /* Fuse, BPEDecoder, CTC: nothing to do for byte output */
    return true;
}
