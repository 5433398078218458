/*
 * tok_hf.c — building a tokenizer from a Hugging Face tokenizer.json (model
 * BPE: vocab, merges as "a b" strings or ["a", "b"] pairs, unk_token,
 * byte_fallback, fuse_unk, ignore_merges; Unigram: [piece, score] vocab,
 * unk_id, byte_fallback; WordPiece: vocab, unk_token,
 * continuing_subword_prefix, max_input_chars_per_word; added_tokens with their special /
 * lstrip / rstrip / single_word / normalized flags), plus the BOS/EOS
 * tokens named by tokenizer_config.json (or ids in config.json).  The
 * pipeline sections are read by tok_hf_pipe.c.
 *
 * BOS/EOS: tok_add_bos() is true when the post-processor puts the BOS token
 * first (e.g. TemplateProcessing "<s> $A").  For transformers' Llama/Gemma
 * tokenizer classes an explicit add_bos_token / add_eos_token in
 * tokenizer_config.json rebuilds that template, as transformers does.
 */
#include "tok_hf.h"
#include "tok_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *jstr(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool jbool(const json_t *o, const char *key, bool dflt) {
    const json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static json_t *load_json(const char *path, bool required, char *err) {
    json_error_t je;
    struct stat st;
    if (!required && stat(path, &st) != 0) return NULL;
    /* tokenizer_config's model_max_length can exceed int64: read ints as reals */
    json_t *j = json_load_file(path, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &je);
    if (!j) ct_err(err, "%s: %s (line %d)", path, je.text, je.line);
    return j;
}

static bool id_ok(double v, int32_t n) {
    return v >= 0 && v < (double)n && v == (double)(int32_t)v;
}

/* Number of ids: one past the largest id of the vocab and added tokens.
 * The vocab is {piece: id} (BPE, WordPiece) or [[piece, score]...]
 * (Unigram: the id is the position). */
static int32_t count_ids(const json_t *vocab, const json_t *added, char *err) {
    double max = json_is_array(vocab) ? (double)json_array_size(vocab) - 1 : -1;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)vocab, k, v) {
        if (!json_is_number(v)) return ct_err(err, "model.vocab['%s']: not an id", k), -1;
        if (json_number_value(v) > max) max = json_number_value(v);
    }
    size_t i;
    json_array_foreach(added, i, v) {
        const json_t *id = json_object_get(v, "id");
        if (!json_is_number(id)) return ct_err(err, "added_tokens[%zu]: no id", i), -1;
        if (json_number_value(id) > max) max = json_number_value(id);
    }
    if (max < 0) return ct_err(err, "model.vocab is empty"), -1;
    if (max >= INT32_MAX / 2) return ct_err(err, "model.vocab: no usable ids"), -1;
    return (int32_t)max + 1;
}

static bool load_vocab(tokenizer *t, const json_t *vocab, char *err) {
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)vocab, k, v) {
        double d = json_number_value(v);
        if (!id_ok(d, t->n_vocab)) return ct_err(err, "model.vocab['%s']: bad id", k);
        int32_t id = (int32_t)d;
        size_t len = strlen(k); /* jansson keys: NUL-free unless JSON_ALLOW_NUL matters */
        if (!tok_set_token(t, id, k, len, 0.0f, TOK_ATTR_NORMAL) ||
            tok_strmap_put(&t->vocab, t->text[id], len, id) < 0)
            return ct_err(err, "out of memory");
    }
    return true;
}

static bool merge_parts(const json_t *m, const char **a, size_t *la, const char **b, size_t *lb) {
    if (json_is_array(m) && json_array_size(m) == 2) {
        *a = json_string_value(json_array_get(m, 0));
        *b = json_string_value(json_array_get(m, 1));
        if (!*a || !*b) return false;
        *la = strlen(*a);
        *lb = strlen(*b);
        return true;
    }
    const char *s = json_string_value(m), *sp = s ? strchr(s, ' ') : NULL;
    if (!sp || strchr(sp + 1, ' ')) return false; /* "a b": exactly one space */
    *a = s;
    *la = (size_t)(sp - s);
    *b = sp + 1;
    *lb = strlen(*b);
    return true;
}

static bool load_merges(tokenizer *t, const json_t *merges, char *err) {
    size_t n = json_array_size(merges), i;
    if (!tok_pairmap_init(&t->merges, n)) return ct_err(err, "out of memory");
    tok_buf both = {0};
    const json_t *m;
    bool ok = true;
    json_array_foreach(merges, i, m) {
        const char *a, *b;
        size_t la, lb;
        if (!merge_parts(m, &a, &la, &b, &lb)) {
            ok = ct_err(err, "model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", i);
            break;
        }
        both.len = 0;
        if (!tok_buf_put(&both, a, la) || !tok_buf_put(&both, b, lb)) {
            ok = ct_err(err, "out of memory");
            break;
        }
        int32_t ia = tok_strmap_get(&t->vocab, a, la), ib = tok_strmap_get(&t->vocab, b, lb);
        int32_t ir = tok_strmap_get(&t->vocab, both.p, both.len);
        if (ia < 0 || ib < 0 || ir < 0) {
            ok = ct_err(err, "model.merges[%zu]: '%s' + '%s' is not in the vocabulary", i, a, b);
            break;
        }
        if (!tok_pairmap_set(&t->merges, ia, ib, (int32_t)i, ir)) {
            ok = ct_err(err, "out of memory");
            break;
        }
    }
    tok_buf_free(&both);
    return ok;
}

static void hf_byte_ids(tokenizer *t) {
    for (int b = 0; b < 256; b++) {
        char hex[8];
        int n = snprintf(hex, sizeof hex, "<0x%02X>", b);
        int32_t id = tok_strmap_get(&t->vocab, hex, (size_t)n);
        t->byte_id[b] = id < t->n_vocab ? id : -1;
    }
}

/* Unigram: "vocab": [[piece, score], ...] (id = position), "unk_id". */
static bool load_unigram(tokenizer *t, const json_t *model, char *err) {
    const json_t *vocab = json_object_get(model, "vocab"), *e;
    if (!json_is_array(vocab) || json_array_size(vocab) == 0)
        return ct_err(err, "Unigram model.vocab: missing or empty");
    t->type = TOK_TYPE_UGM;
    if (!(t->ugm_score = calloc((size_t)t->n_vocab, sizeof *t->ugm_score))) return ct_err(err, "out of memory");
    size_t i;
    json_array_foreach(vocab, i, e) {
        const char *piece = json_string_value(json_array_get(e, 0));
        const json_t *sc = json_array_get(e, 1);
        if (!json_is_array(e) || json_array_size(e) != 2 || !piece || !json_is_number(sc))
            return ct_err(err, "Unigram model.vocab[%zu]: expected [piece, score]", i);
        size_t len = strlen(piece);
        if (!tok_set_token(t, (int32_t)i, piece, len, (float)json_number_value(sc), TOK_ATTR_NORMAL) ||
            tok_strmap_put(&t->vocab, t->text[i], len, (int32_t)i) < 0)
            return ct_err(err, "out of memory");
        t->ugm_score[i] = json_number_value(sc);
    }
    const json_t *unk = json_object_get(model, "unk_id");
    if (json_is_number(unk)) {
        if (!id_ok(json_number_value(unk), (int32_t)json_array_size(vocab)))
            return ct_err(err, "Unigram unk_id %g is not a vocabulary position", json_number_value(unk));
        t->unk = (int32_t)json_number_value(unk);
    } else if (unk && !json_is_null(unk)) {
        return ct_err(err, "Unigram unk_id: not a number");
    }
    t->byte_fallback = jbool(model, "byte_fallback", false);
    hf_byte_ids(t);
    return tok_ugm_prepare(t, err);
}

/* WordPiece: "vocab": {piece: id}, "unk_token", "continuing_subword_prefix",
 * "max_input_chars_per_word". */
static bool load_wordpiece(tokenizer *t, const json_t *model, char *err) {
    t->type = TOK_TYPE_WPM;
    if (json_object_size(json_object_get(model, "vocab")) == 0) return ct_err(err, "WordPiece model.vocab is empty");
    if (!load_vocab(t, json_object_get(model, "vocab"), err)) return false;
    const char *unk = jstr(model, "unk_token"), *cp = jstr(model, "continuing_subword_prefix");
    if (!unk) unk = "[UNK]";
    if ((t->unk = tok_strmap_get(&t->vocab, unk, strlen(unk))) < 0)
        return ct_err(err, "WordPiece unk_token '%s' is not in model.vocab", unk);
    if (!cp) cp = "##";
    if (strlen(cp) >= sizeof t->wp_cont_prefix)
        return ct_err(err, "WordPiece continuing_subword_prefix too long");
    strcpy(t->wp_cont_prefix, cp);
    const json_t *mx = json_object_get(model, "max_input_chars_per_word");
    double m = json_is_number(mx) ? json_number_value(mx) : 100;
    t->wp_max_chars = m <= 0 ? 0 : m >= 4e9 ? UINT32_MAX : (uint32_t)m;
    return true;
}

static bool load_model(tokenizer *t, const json_t *model, char *err) {
    const char *ty = jstr(model, "type");
    if (ty && strcmp(ty, "Unigram") == 0) return load_unigram(t, model, err);
    if (ty && strcmp(ty, "WordPiece") == 0) return load_wordpiece(t, model, err);
    if (ty && strcmp(ty, "BPE") != 0)
        return ct_err(err, "unsupported tokenizer.json model type '%s' (supported: BPE, Unigram, WordPiece)", ty);
    const char *cp = jstr(model, "continuing_subword_prefix"), *ew = jstr(model, "end_of_word_suffix");
    if ((cp && *cp) || (ew && *ew))
        return ct_err(err, "BPE continuing_subword_prefix / end_of_word_suffix are not supported");
    if (!load_vocab(t, json_object_get(model, "vocab"), err)) return false;
    t->byte_fallback = jbool(model, "byte_fallback", false);
    t->fuse_unk = jbool(model, "fuse_unk", false);
    t->ignore_merges = jbool(model, "ignore_merges", false);
    const char *unk = jstr(model, "unk_token");
    if (unk) t->unk = tok_strmap_get(&t->vocab, unk, strlen(unk));
    hf_byte_ids(t);
    const json_t *merges = json_object_get(model, "merges");
    if (!json_is_array(merges)) return ct_err(err, "model.merges: missing");
    return load_merges(t, merges, err);
}

static bool load_added(tokenizer *t, const json_t *added, char *err) {
    const json_t *a;
    size_t i;
    tok_buf norm = {0};
    bool ok = true;
    json_array_foreach(added, i, a) {
        int32_t id = (int32_t)json_number_value(json_object_get(a, "id"));
        const char *c = jstr(a, "content");
        if (!c || !*c) {
            ok = ct_err(err, "added_tokens[%zu]: no content", i);
            break;
        }
        bool special = jbool(a, "special", false);
        bool normalized = jbool(a, "normalized", !special);
        uint16_t attr = (special ? TOK_ATTR_CONTROL : TOK_ATTR_USER_DEFINED) | TOK_ATTR_ADDED |
                        (jbool(a, "lstrip", false) ? TOK_ATTR_LSTRIP : 0) |
                        (jbool(a, "rstrip", false) ? TOK_ATTR_RSTRIP : 0) |
                        (jbool(a, "single_word", false) ? TOK_ATTR_SINGLE_WORD : 0) |
                        (normalized ? TOK_ATTR_NORMALIZED : 0);
        if (!tok_set_token(t, id, c, strlen(c), 0.0f, attr)) {
            ok = ct_err(err, "out of memory");
            break;
        }
        /* normalized tokens are looked for in normalized text */
        if (normalized && t->n_norm) {
            ok = tok_normalize(t, c, strlen(c), &norm, err) &&
                 (tok_trie_insert(&t->trie_norm, norm.p, norm.len, id) || ct_err(err, "out of memory"));
        } else {
            ok = tok_trie_insert(normalized ? &t->trie_norm : &t->trie_raw, c, strlen(c), id) ||
                 ct_err(err, "out of memory");
        }
        if (!ok) break;
    }
    tok_buf_free(&norm);
    return ok;
}

/* Id of a token text: added tokens first, then the model vocabulary. */
static int32_t find_id(const tokenizer *t, const char *s) {
    if (!s) return -1;
    size_t n = strlen(s);
    for (int32_t i = 0; i < t->n_vocab; i++)
        if ((t->attr[i] & TOK_ATTR_ADDED) && t->len[i] == n && memcmp(t->text[i], s, n) == 0) return i;
    return tok_strmap_get(&t->vocab, s, n);
}

/* tokenizer_config's "bos_token": a string or {"content": ...}. */
static const char *config_token(const json_t *cfg, const char *key) {
    const json_t *v = json_object_get(cfg, key);
    return json_is_object(v) ? jstr(v, "content") : json_string_value(v);
}

/* config.json's bos_token_id / eos_token_id: a number or a list (first). */
static int32_t config_id(const json_t *cfg, const char *key, int32_t n_vocab) {
    const json_t *v = json_object_get(cfg, key);
    if (json_is_array(v)) v = json_array_get(v, 0);
    return json_is_number(v) && id_ok(json_number_value(v), n_vocab) ? (int32_t)json_number_value(v) : -1;
}

static bool ids_have(const int32_t *v, size_t n, int32_t id) {
    for (size_t i = 0; i < n; i++)
        if (v[i] == id) return true;
    return false;
}

static bool apply_config(tokenizer *t, const json_t *cfg, const json_t *mcfg, char *err) {
    t->bos = find_id(t, config_token(cfg, "bos_token"));
    t->eos = find_id(t, config_token(cfg, "eos_token"));
    if (t->bos < 0) t->bos = config_id(mcfg, "bos_token_id", t->n_vocab);
    if (t->eos < 0) t->eos = config_id(mcfg, "eos_token_id", t->n_vocab);
    const char *cls = jstr(cfg, "tokenizer_class");
    static const char *const llama_like[] = {"LlamaTokenizer", "LlamaTokenizerFast",
        "CodeLlamaTokenizer", "CodeLlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast"};
    bool rebuild = false;
    for (size_t i = 0; cls && i < sizeof llama_like / sizeof *llama_like; i++)
        rebuild = rebuild || strcmp(cls, llama_like[i]) == 0;
    const json_t *ab = json_object_get(cfg, "add_bos_token"), *ae = json_object_get(cfg, "add_eos_token");
    if (rebuild && (json_is_boolean(ab) || json_is_boolean(ae))) {
        t->n_post_prefix = t->n_post_suffix = 0;
        if (json_is_true(ab) && t->bos < 0) return ct_err(err, "add_bos_token is true, but no bos_token");
        if (json_is_true(ae) && t->eos < 0) return ct_err(err, "add_eos_token is true, but no eos_token");
        int32_t *p = realloc(t->post_prefix, sizeof *p), *s = realloc(t->post_suffix, sizeof *s);
        if (p) t->post_prefix = p;
        if (s) t->post_suffix = s;
        if (!p || !s) return ct_err(err, "out of memory");
        if (json_is_true(ab)) t->post_prefix[t->n_post_prefix++] = t->bos;
        if (json_is_true(ae)) t->post_suffix[t->n_post_suffix++] = t->eos;
    }
    if (t->bos < 0 && t->n_post_prefix == 1) t->bos = t->post_prefix[0];
    t->add_bos = t->bos >= 0 && ids_have(t->post_prefix, t->n_post_prefix, t->bos);
    t->add_eos = t->eos >= 0 && ids_have(t->post_suffix, t->n_post_suffix, t->eos);
    return true;
}

static bool check_ids(const tokenizer *t, char *err) {
    for (size_t i = 0; i < t->n_post_prefix; i++)
        if (t->post_prefix[i] < 0 || t->post_prefix[i] >= t->n_vocab)
            return ct_err(err, "post_processor: token id %d out of range", t->post_prefix[i]);
    for (size_t i = 0; i < t->n_post_suffix; i++)
        if (t->post_suffix[i] < 0 || t->post_suffix[i] >= t->n_vocab)
            return ct_err(err, "post_processor: token id %d out of range", t->post_suffix[i]);
    return true;
}

static tokenizer *build(const json_t *tj, const json_t *cfg, const json_t *mcfg, char *err) {
    const json_t *model = json_object_get(tj, "model"), *added = json_object_get(tj, "added_tokens");
    const json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab) && !json_is_array(vocab))
        return ct_err(err, "tokenizer.json: no model.vocab"), NULL;
    int32_t n = count_ids(json_object_get(model, "vocab"), added, err);
    if (n < 0) return NULL;
    tokenizer *t = tok_alloc(n);
    if (!t) return ct_err(err, "out of memory"), NULL;
    t->hf = true;
    t->type = TOK_TYPE_BPE;
    bool ok = load_model(t, model, err) &&
              tok_hf_normalizer(t, json_object_get(tj, "normalizer"), err) &&
              tok_hf_pretokenizer(t, json_object_get(tj, "pre_tokenizer"), err) &&
              load_added(t, added, err) &&
              tok_hf_postprocessor(t, json_object_get(tj, "post_processor"), err) &&
              tok_hf_decoder(t, json_object_get(tj, "decoder"), err) &&
              apply_config(t, cfg, mcfg, err) && check_ids(t, err);
    for (int32_t i = 0; ok && i < n; i++) /* ids nobody uses: an empty piece */
        if (!t->text[i] && !tok_set_token(t, i, "", 0, 0.0f, TOK_ATTR_UNUSED)) ok = ct_err(err, "out of memory");
    ok = ok && tok_decoder_build(t, err);
    if (ok) tok_fim_detect(t, NULL);
    if (!ok) {
        tok_free(t);
        return NULL;
    }
    return t;
}

tokenizer *tok_load_hf(const char *path, char *err) {
    struct stat st;
    if (!path || stat(path, &st) != 0) return ct_err(err, "%s: not found", path ? path : "(null)"), NULL;
    size_t n = strlen(path);
    char *dir = malloc(n + 32), *file = malloc(n + 32);
    if (!dir || !file) {
        free(dir);
        free(file);
        return ct_err(err, "out of memory"), NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(dir, n + 32, "%s", path);
        snprintf(file, n + 32, "%s/tokenizer.json", path);
    } else {
        snprintf(file, n + 32, "%s", path);
        snprintf(dir, n + 32, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        else strcpy(dir, ".");
    }
    char *cfg_path = malloc(strlen(dir) + 32), *mcfg_path = malloc(strlen(dir) + 32);
    tokenizer *t = NULL;
    json_t *tj = NULL, *cfg = NULL, *mcfg = NULL;
    if (cfg_path && mcfg_path) {
        sprintf(cfg_path, "%s/tokenizer_config.json", dir);
        sprintf(mcfg_path, "%s/config.json", dir);
        tj = load_json(file, true, err);
        if (tj) cfg = load_json(cfg_path, false, err);
        if (tj) mcfg = load_json(mcfg_path, false, err);
        if (tj) t = build(tj, cfg, mcfg, err);
    } else {
        ct_err(err, "out of memory");
    }
    json_decref(tj);
    json_decref(cfg);
    json_decref(mcfg);
    free(cfg_path);
    free(mcfg_path);
    free(dir);
    free(file);
    return t;
}
