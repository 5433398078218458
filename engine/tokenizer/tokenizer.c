/*
 * tokenizer.c — the public face of the tokenizer: encoding (splitting off
 * special tokens, then running the vocabulary's pipeline on each text
 * fragment), accessors, construction helpers shared by the two loaders
 * (tok_gguf.c, tok_hf.c) and tok_free.  Decoding lives in tok_decode.c.
 *
 * Encoding pipelines:
 *   GGUF SPM   special split (llama.cpp) -> " " prefix after a special
 *              token / at the start, ' ' -> "▁" -> score merges.
 *   GGUF BPE   special split (llama.cpp) -> llama.cpp regex split ->
 *              byte-level -> rank merges.
 *   GGUF UGM   special split (llama.cpp) -> SentencePiece normalizer
 *              (charsmap, dummy prefix, whitespace) -> Unigram Viterbi.
 *   GGUF WPM   special split (llama.cpp) -> BertNormalizer ->
 *              BertPreTokenizer -> WordPiece on "▁word" pieces; [CLS] ...
 *              [SEP] with add_special.
 *   HF         invalid UTF-8 -> U+FFFD -> added tokens (raw) -> normalizer ->
 *              added tokens (normalized) -> pre-tokenizer -> the model (BPE,
 *              Unigram or WordPiece), then the post-processor's special
 *              tokens.
 */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- construction ---- */

tokenizer *tok_alloc(int32_t n_vocab) {
    tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    size_t n = n_vocab > 0 ? (size_t)n_vocab : 1;
    t->n_vocab = n_vocab;
    t->text = calloc(n, sizeof *t->text);
    t->len = calloc(n, sizeof *t->len);
    t->score = calloc(n, sizeof *t->score);
    t->attr = calloc(n, sizeof *t->attr);
    t->bos = t->eos = t->unk = t->sep = -1;
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    t->fim = (tok_fim_ids){-1, -1, -1, -1, -1, -1, -1}; /* none until a loader finds them (tok_fim_detect) */
    if (!t->text || !t->len || !t->score || !t->attr || !tok_strmap_init(&t->vocab, n)) {
        tok_free(t);
        return NULL;
    }
    return t;
}

bool tok_set_token(tokenizer *t, int32_t id, const char *s, size_t len, float score,
                   uint16_t attr) {
    char *p = tok_arena_dup(&t->arena, s, len);
    if (!p) return false;
    t->text[id] = p;
    t->len[id] = (uint32_t)len;
    t->score[id] = score;
    t->attr[id] = attr;
    if (len > t->max_token_len) t->max_token_len = (uint32_t)len;
    return true;
}

int32_t tok_lookup(const tokenizer *t, const char *s, size_t len) {
    int32_t id = tok_strmap_get(&t->vocab, s, len);
    return id < t->n_vocab ? id : -1;
}

void tok_free(tokenizer *t) {
    if (!t) return;
    free(t->text);
    free(t->len);
    free(t->score);
    free(t->attr);
    tok_arena_free(&t->arena);
    tok_strmap_free(&t->vocab);
    free(t->xtext);
    free(t->xlen);
    tok_pairmap_free(&t->merges);
    tok_trie_free(&t->trie_raw);
    tok_trie_free(&t->trie_norm);
    free(t->spec_order);
    free(t->spec_rank);
    for (size_t i = 0; i < t->n_pre_rx; i++) tok_rx_free(&t->pre_rx[i]);
    free(t->pre_rx);
    for (size_t i = 0; i < t->n_norm; i++) tok_norm_step_free(&t->norm[i]);
    free(t->norm);
    for (size_t i = 0; i < t->n_pt; i++) tok_pt_step_free(&t->pt[i]);
    free(t->pt);
    free(t->post_prefix);
    free(t->post_suffix);
    free(t->ugm_score);
    tok_trie_free(&t->ugm_trie);
    tok_charsmap_free(t->charsmap);
    free(t->charsmap);
    free(t->dec_bytes);
    free(t->dec_off);
    free(t->dec_first_bytes);
    free(t->dec_first_off);
    free(t);
}

/* ---- accessors ---- */

int32_t tok_n_vocab(const tokenizer *t) { return t->n_vocab; }
int32_t tok_bos(const tokenizer *t) { return t->bos; }
int32_t tok_eos(const tokenizer *t) { return t->eos; }
bool tok_add_bos(const tokenizer *t) { return t->add_bos; }
bool tok_add_eos(const tokenizer *t) { return t->add_eos; }

const char *tok_piece(const tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab ? t->text[id] : NULL;
}

bool tok_is_special(const tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && (t->attr[id] & TOK_ATTR_SPECIAL);
}

/* ---- GGUF pipelines ---- */

static bool encode_spm_text(const tokenizer *t, const char *s, size_t n, bool prefix,
                            tok_ids *out) {
    tok_buf b = {0};
    bool ok = !prefix || tok_buf_put(&b, "\xE2\x96\x81", 3);
    for (size_t i = 0; ok && i < n; i++)
        ok = s[i] == ' ' ? tok_buf_put(&b, "\xE2\x96\x81", 3) : tok_buf_putc(&b, s[i]);
    ok = ok && tok_spm_text(t, b.p ? b.p : "", b.len, out);
    tok_buf_free(&b);
    return ok;
}

/* One pre-tokenized piece through the tokenizer's model. */
static bool encode_piece(const tokenizer *t, const char *s, size_t n, tok_ids *out, char *err) {
    switch (t->type) {
    case TOK_TYPE_UGM: return tok_ugm_text(t, s, n, out, err);
    case TOK_TYPE_WPM: return tok_wpm_word(t, s, n, out) || ct_err(err, "out of memory");
    case TOK_TYPE_BPE:
    case TOK_TYPE_SPM: break;
    }
    return tok_bpe_word_hf(t, s, n, out) || ct_err(err, "out of memory");
}

/* GGUF Unigram / WordPiece: one text fragment between special tokens.
 * lead: it may take SentencePiece's dummy prefix (not the start of a
 * continuation, tok_encode_cont). */
static bool encode_gguf_fragment(const tokenizer *t, const char *s, size_t n, bool lead,
                                 tok_ids *out, char *err) {
    tok_buf norm = {0};
    tok_pieces pc = {0};
    bool ok;
    if (t->type == TOK_TYPE_UGM) {
        ok = (tok_spm_normalize(t, s, n, t->add_space_prefix && lead, &norm) || ct_err(err, "out of memory")) &&
             tok_ugm_text(t, norm.p, norm.len, out, err);
    } else { /* WordPiece: the BERT pipeline the loader set up */
        tok_buf clean = {0};
        ok = (tok_utf8_lossy(&clean, s, n) && tok_buf_put(&clean, "", 0)) || ct_err(err, "out of memory");
        ok = ok && tok_normalize(t, clean.p, clean.len, &norm, err) &&
             tok_pretok_hf(t, norm.p, norm.len, true, &pc, err);
        for (size_t k = 0; ok && k < pc.n; k++)
            ok = encode_piece(t, pc.buf.p + pc.v[k].off, pc.v[k].len, out, err);
        tok_buf_free(&clean);
    }
    tok_buf_free(&norm);
    tok_pieces_free(&pc);
    return ok;
}

/* lead: the text starts a text (tok_encode), else it continues one
 * (tok_encode_cont: no space prefix at its start). */
static bool encode_gguf(const tokenizer *t, const char *s, size_t n, bool parse_special, bool lead,
                        tok_ids *out, char *err) {
    tok_frags fr = {0};
    tok_pieces pc = {0};
    bool ok = tok_partition_llama(t, s, n, parse_special, &fr) || ct_err(err, "out of memory");
    bool prev_special = lead; /* llama.cpp: a space prefix at the start and after specials */
    for (size_t i = 0; ok && i < fr.n; i++) {
        const tok_frag *f = &fr.v[i];
        if (f->token >= 0) {
            ok = tok_ids_push(out, f->token) || ct_err(err, "out of memory");
            prev_special = true;
            continue;
        }
        if (t->type == TOK_TYPE_UGM || t->type == TOK_TYPE_WPM) {
            /* llama.cpp: every fragment gets the dummy prefix */
            ok = encode_gguf_fragment(t, s + f->off, f->len, lead || i > 0, out, err);
            continue;
        }
        if (t->type == TOK_TYPE_SPM) {
            ok = encode_spm_text(t, s + f->off, f->len, t->add_space_prefix && prev_special, out) ||
                 ct_err(err, "out of memory");
            prev_special = false;
            continue;
        }
        tok_pieces_clear(&pc);
        ok = tok_pretok_llama(t, s + f->off, f->len, &pc, err);
        for (size_t k = 0; ok && k < pc.n; k++)
            ok = tok_bpe_word_gguf(t, pc.buf.p + pc.v[k].off, pc.v[k].len, out) ||
                 ct_err(err, "out of memory");
    }
    tok_pieces_free(&pc);
    tok_frags_free(&fr);
    return ok;
}

/* ---- HF pipeline ---- */

static bool encode_hf_normalized(const tokenizer *t, const char *s, size_t n, bool first,
                                 bool parse_special, tok_ids *out, char *err) {
    tok_frags fr = {0};
    tok_pieces pc = {0};
    bool ok = tok_partition_hf(t, &t->trie_norm, s, n, parse_special, &fr) ||
              ct_err(err, "out of memory");
    for (size_t i = 0; ok && i < fr.n; i++) {
        const tok_frag *f = &fr.v[i];
        if (f->token >= 0) {
            ok = tok_ids_push(out, f->token) || ct_err(err, "out of memory");
            continue;
        }
        tok_pieces_clear(&pc);
        ok = tok_pretok_hf(t, s + f->off, f->len, first && f->off == 0, &pc, err);
        for (size_t k = 0; ok && k < pc.n; k++)
            ok = encode_piece(t, pc.buf.p + pc.v[k].off, pc.v[k].len, out, err);
    }
    tok_pieces_free(&pc);
    tok_frags_free(&fr);
    return ok;
}

/* The Prepend normalizer's text (the dummy prefix of legacy Llama files),
 * or NULL. */
static const tok_norm_step *prepend_step(const tokenizer *t) {
    for (size_t i = 0; i < t->n_norm; i++)
        if (t->norm[i].kind == TOK_NORM_PREPEND) return &t->norm[i];
    return NULL;
}

static bool encode_hf(const tokenizer *t, const char *s, size_t n, bool parse_special, bool lead,
                      tok_ids *out, char *err) {
    tok_buf clean = {0}, norm = {0};
    tok_frags fr = {0};
    /* the HF libraries take strings: invalid UTF-8 arrives as U+FFFD */
    bool ok = (tok_utf8_lossy(&clean, s, n) && tok_buf_put(&clean, "", 0)) ||
              ct_err(err, "out of memory");
    ok = ok && (tok_partition_hf(t, &t->trie_raw, clean.p, clean.len, parse_special, &fr) ||
                ct_err(err, "out of memory"));
    for (size_t i = 0; ok && i < fr.n; i++) {
        const tok_frag *f = &fr.v[i];
        if (f->token >= 0) {
            ok = tok_ids_push(out, f->token) || ct_err(err, "out of memory");
            continue;
        }
        ok = tok_normalize(t, clean.p + f->off, f->len, &norm, err);
        const tok_norm_step *pre = !lead && f->off == 0 ? prepend_step(t) : NULL;
        size_t skip = 0; /* a continuation: the Prepend normalizer's text is not there */
        if (ok && pre && norm.len >= pre->a_len && memcmp(norm.p, pre->a, pre->a_len) == 0) skip = pre->a_len;
        ok = ok && encode_hf_normalized(t, norm.p + skip, norm.len - skip, lead && f->off == 0,
                                        parse_special, out, err);
    }
    tok_frags_free(&fr);
    tok_buf_free(&clean);
    tok_buf_free(&norm);
    return ok;
}

/* ---- encode ---- */

static bool push_all(tok_ids *out, const int32_t *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!tok_ids_push(out, v[i])) return false;
    return true;
}

static int encode(const tokenizer *t, const char *text, size_t len, bool add_special,
                  bool parse_special, bool lead, int32_t **ids, char *err) {
    *ids = NULL;
    if (!t || (!text && len)) return ct_err(err, "tok_encode: no tokenizer or text"), -1;
    if (len > (size_t)INT32_MAX / 2) return ct_err(err, "tok_encode: text too long"), -1;
    tok_ids out = {0};
    bool ok = true;
    if (add_special) {
        if (t->hf) ok = push_all(&out, t->post_prefix, t->n_post_prefix);
        else if (t->add_bos) ok = t->bos >= 0 && tok_ids_push(&out, t->bos);
    }
    if (!ok) ct_err(err, "out of memory");
    if (ok && len > 0)
        ok = t->hf ? encode_hf(t, text, len, parse_special, lead, &out, err)
                   : encode_gguf(t, text, len, parse_special, lead, &out, err);
    if (ok && add_special) {
        if (t->hf) ok = push_all(&out, t->post_suffix, t->n_post_suffix);
        else if (t->type == TOK_TYPE_WPM) ok = t->sep < 0 || tok_ids_push(&out, t->sep); /* llama.cpp: [SEP] */
        else if (t->add_eos) ok = t->eos >= 0 && tok_ids_push(&out, t->eos);
        if (!ok) ct_err(err, "out of memory");
    }
    if (ok && out.n > (size_t)INT32_MAX) ok = ct_err(err, "tok_encode: too many tokens");
    if (!ok) {
        free(out.v);
        return -1;
    }
    if (!out.v && !(out.v = malloc(sizeof *out.v))) return ct_err(err, "out of memory"), -1;
    *ids = out.v;
    return (int)out.n;
}

int tok_encode(const tokenizer *t, const char *text, size_t len, bool add_special,
               bool parse_special, int32_t **ids, char *err) {
    return encode(t, text, len, add_special, parse_special, true, ids, err);
}

int tok_encode_cont(const tokenizer *t, const char *text, size_t len, bool parse_special,
                    int32_t **ids, char *err) {
    return encode(t, text, len, false, parse_special, false, ids, err);
}
