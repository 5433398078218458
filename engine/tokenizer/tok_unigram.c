/*
 * tok_unigram.c — the Unigram language-model tokenizer (SentencePiece
 * model_type UNIGRAM: T5, ALBERT, XLM-R, mT5, ...).
 *
 * A text is cut into the sequence of vocabulary pieces whose scores (log
 * probabilities) add up to the most, found by dynamic programming over
 * the byte positions where characters start (Viterbi): best[end] is the
 * best score of a segmentation of s[0..end), reached through a piece
 * s[start..end) that a trie of the pieces finds from each start.  A
 * character for which no one-character piece exists may also be taken as
 * "unknown" at min_score - 10, so every text has a segmentation.  Ties keep
 * the first candidate found (shorter pieces are found first), as both
 * SentencePiece and Hugging Face do.
 *
 * After the best path is read back, runs of unknown characters are fused
 * into one unknown piece, which becomes: (Hugging Face) the piece of that
 * exact text if the vocabulary has one; else its bytes as <0xNN> pieces
 * with byte fallback; else the unk token.
 *
 * The two sources differ in small, deliberate ways:
 *   GGUF ("t5", SentencePiece semantics as llama.cpp implements them):
 *       the trie holds NORMAL and USER_DEFINED pieces (user-defined score
 *       0, as llama.cpp), the minimum is over NORMAL pieces, best scores
 *       kept in float as SentencePiece's EncodeOptimized; byte fallback when the
 *       vocabulary has all 256 BYTE pieces (SentencePiece's
 *       trainer_spec.byte_fallback, which GGUF does not store).
 *   tokenizer.json (Hugging Face tokenizers' Unigram): every model.vocab
 *       entry is in the trie, the minimum is over all of them, arithmetic
 *       in double, byte_fallback as the file says.
 */
#include "tok_internal.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#define UNK_PENALTY 10.0

bool tok_ugm_prepare(tokenizer *t, char *err) {
    double min = DBL_MAX;
    bool any = false;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (!t->text[id]) continue;
        bool in_trie, in_min;
        if (t->hf) { /* model.vocab entries: the ones the vocab map holds */
            in_trie = tok_strmap_get(&t->vocab, t->text[id], t->len[id]) == id;
            in_min = in_trie;
        } else {
            in_trie = (t->attr[id] & (TOK_ATTR_NORMAL | TOK_ATTR_USER_DEFINED)) != 0;
            in_min = (t->attr[id] & TOK_ATTR_NORMAL) != 0;
        }
        if (in_trie && t->len[id] > 0 && !tok_trie_insert(&t->ugm_trie, t->text[id], t->len[id], id))
            return ct_err(err, "out of memory");
        if (in_min && t->ugm_score[id] < min) min = t->ugm_score[id];
        any = any || in_trie;
    }
    if (!any) return ct_err(err, "Unigram vocabulary has no usable pieces");
    if (min == DBL_MAX) min = 0.0;
    t->ugm_unk_score = t->ugm_f32 ? (double)(float)((float)min - (float)UNK_PENALTY) : min - UNK_PENALTY;
    return true;
}

typedef struct {
    int32_t id;    /* piece id; UNK_NODE for an unknown character */
    int32_t start; /* byte offset where the piece starts; -1: not reached */
    double score;
} best_node;

#define UNK_NODE (-2)

/* A candidate path (score cand, double) against the best one so far.
 * SentencePiece keeps each position's best score as a float but adds and
 * compares in double (so does llama.cpp); Hugging Face is double
 * throughout.  The rounding decides between near-equal paths. */
static void relax(const tokenizer *t, best_node *nodes, size_t end, size_t start, int32_t id,
                  double cand) {
    best_node *x = &nodes[end];
    if (x->start < 0 || cand > x->score)
        *x = (best_node){id, (int32_t)start, t->ugm_f32 ? (double)(float)cand : cand};
}

/* Fill nodes[0..n] with the best path ending at each position. */
static void viterbi(const tokenizer *t, const char *s, size_t n, best_node *nodes) {
    const tok_trie *tr = &t->ugm_trie;
    for (size_t i = 0; i <= n; i++) nodes[i] = (best_node){UNK_NODE, -1, 0.0};
    nodes[0].start = 0;
    for (size_t pos = 0; pos < n;) {
        size_t mblen = tok_utf8_len((uint8_t)s[pos]);
        if (mblen > n - pos) mblen = n - pos;
        double base = nodes[pos].score;
        bool single = false;
        int32_t node = 0;
        for (size_t k = pos; tr->token && k < n; k++) {
            int32_t rank, child;
            if (!tok_pairmap_get(&tr->edges, node, (uint8_t)s[k], &rank, &child)) break;
            node = child;
            int32_t id = tr->token[node];
            if (id < 0) continue;
            relax(t, nodes, k + 1, pos, id, t->ugm_score[id] + base);
            if (k + 1 - pos == mblen) single = true;
        }
        if (!single) relax(t, nodes, pos + mblen, pos, UNK_NODE, t->ugm_unk_score + base);
        pos += mblen;
    }
}

/* An unknown character, or the unk piece itself matched in the text: both
 * take part in fusing (SentencePiece IsUnknown, tokenizers' fuse_unk). */
static bool is_unknown(const tokenizer *t, const best_node *x) {
    return x->id == UNK_NODE || (x->id >= 0 && x->id == t->unk);
}

/* A run of unknown characters s[a..b). */
static bool emit_unknown(const tokenizer *t, const char *s, size_t a, size_t b, tok_ids *out,
                         char *err) {
    if (t->hf) {
        int32_t id = tok_strmap_get(&t->vocab, s + a, b - a);
        if (id >= 0 && id < t->n_vocab) return tok_ids_push(out, id) || ct_err(err, "out of memory");
    }
    if (t->byte_fallback) {
        bool all = true;
        for (size_t i = a; i < b; i++) all = all && t->byte_id[(uint8_t)s[i]] >= 0;
        if (all) {
            for (size_t i = a; i < b; i++)
                if (!tok_ids_push(out, t->byte_id[(uint8_t)s[i]])) return ct_err(err, "out of memory");
            return true;
        }
    }
    if (t->unk < 0)
        return ct_err(err, "Unigram: the text has a character the vocabulary lacks, and the model "
                           "has no unk token");
    return tok_ids_push(out, t->unk) || ct_err(err, "out of memory");
}

bool tok_ugm_text(const tokenizer *t, const char *s, size_t n, tok_ids *out, char *err) {
    if (n == 0) return true;
    if (n >= (size_t)INT32_MAX) return ct_err(err, "Unigram: text too long");
    best_node *nodes = malloc((n + 1) * sizeof *nodes);
    int32_t *path = malloc((n + 1) * sizeof *path); /* end offsets, last to first */
    if (!nodes || !path) {
        free(nodes);
        free(path);
        return ct_err(err, "out of memory");
    }
    viterbi(t, s, n, nodes);
    size_t np = 0;
    for (int32_t end = (int32_t)n; end > 0; end = nodes[end].start) path[np++] = end;
    bool ok = true;
    size_t start = 0;
    for (size_t k = np; ok && k-- > 0;) {
        size_t end = (size_t)path[k];
        const best_node *x = &nodes[end];
        if (!is_unknown(t, x)) {
            ok = tok_ids_push(out, x->id) || ct_err(err, "out of memory");
            start = end;
            continue;
        }
        /* fuse the run of unknown characters that starts here */
        while (k > 0 && is_unknown(t, &nodes[path[k - 1]])) end = (size_t)path[--k];
        ok = emit_unknown(t, s, start, end, out, err);
        start = end;
    }
    free(nodes);
    free(path);
    return ok;
}
