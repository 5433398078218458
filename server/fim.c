/*
 * fim.c — fill-in-the-middle prompts (see fim.h for the layouts).
 *
 * The parts are tokenized one by one (prefix, suffix, each file's name and
 * text), as llama.cpp's format_prompt_infill and the families' reference
 * code do, so a marker never merges with the text beside it.  With a
 * budget the parts are cut the way llama.cpp cuts them, by tokens: the
 * prefix keeps its end and the suffix its start (the text next to the
 * hole), the suffix gets a quarter of the room left by the markers (more if
 * the prefix is short), and the files fill what remains, keeping their end
 * (nearest the hole's own file).
 */
#include "fim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing id list. */
typedef struct {
    int32_t *v;
    int n, cap;
} ids;

static bool ids_push(ids *a, const int32_t *v, int n) {
    if (a->n + n > a->cap) {
        int cap = a->cap ? a->cap : 64;
        while (cap < a->n + n) cap *= 2;
        int32_t *nv = realloc(a->v, (size_t)cap * sizeof *nv);
        if (!nv) return false;
        a->v = nv;
        a->cap = cap;
    }
    if (n > 0) memcpy(a->v + a->n, v, (size_t)n * sizeof *v);
    a->n += n;
    return true;
}

static bool ids_push1(ids *a, int32_t id) { return ids_push(a, &id, 1); }

/* Mistral's layout: the suffix first and no middle marker. */
static bool suffix_first(const tokenizer *t, const tok_fim_ids *f) {
    const char *p = tok_piece(t, f->pre);
    return p && strcmp(p, "[PREFIX]") == 0;
}

bool fim_supported(const tokenizer *t) {
    tok_fim_ids f;
    return tok_fim(t, &f) && (f.mid >= 0 || suffix_first(t, &f));
}

/* Append the tokens of s[0..n) (cont: as a continuation) to a. */
static bool encode_into(const tokenizer *t, const char *s, size_t n, bool cont, ids *a, proto_error *err) {
    char msg[CT_ERRLEN];
    int32_t *v = NULL;
    int k = cont ? tok_encode_cont(t, s, n, false, &v, msg) : tok_encode(t, s, n, false, false, &v, msg);
    if (k < 0) return proto_fail(err, 400, "validation", "tokenizer error: %s", msg);
    bool ok = ids_push(a, v, k);
    free(v);
    return ok || proto_fail(err, 500, "generation", "out of memory");
}

/* The repository-level header and the files (llama.cpp's extra tokens). */
static bool files_into(const tokenizer *t, const tok_fim_ids *f, const fim_input *in, ids *a, proto_error *err) {
    static const char snippet[] = "\n\n--- snippet ---\n\n";
    bool ok = true;
    if (in->repo && f->rep >= 0) {
        static const char repo[] = "myproject\n";
        ok = (ids_push1(a, f->rep) || proto_fail(err, 500, "generation", "out of memory")) &&
             encode_into(t, repo, sizeof repo - 1, false, a, err);
    }
    for (int i = 0; ok && i < in->n_files; i++) {
        const fim_file *fl = &in->files[i];
        if (f->sep >= 0) {
            const char *name = fl->name ? fl->name : "tmp";
            size_t len = fl->name ? fl->name_len : 3;
            char *line = malloc(len + 2);
            ok = line && ids_push1(a, f->sep);
            if (!ok) {
                free(line);
                return proto_fail(err, 500, "generation", "out of memory");
            }
            memcpy(line, name, len);
            line[len] = '\n';
            ok = encode_into(t, line, len + 1, false, a, err);
            free(line);
        } else {
            ok = encode_into(t, snippet, sizeof snippet - 1, false, a, err);
        }
        ok = ok && encode_into(t, fl->text, fl->text_len, false, a, err);
    }
    if (ok && in->repo && f->sep >= 0) {
        static const char file[] = "filename\n";
        ok = (ids_push1(a, f->sep) || proto_fail(err, 500, "generation", "out of memory")) &&
             encode_into(t, file, sizeof file - 1, false, a, err);
    }
    return ok;
}

static int min_int(int a, int b) { return a < b ? a : b; }

/* Cut prefix (keep its end), suffix (keep its start) and files (keep their
 * end) to budget tokens besides `fixed` ones. */
static bool fit(int budget, int fixed, ids *pre, ids *suf, ids *files, bool *cut, proto_error *err) {
    int room = budget - fixed;
    if (room < 0)
        return proto_fail(err, 400, "validation", "the prompt may have %d tokens, fewer than the %d the "
                          "infill markers need", budget, fixed);
    int s = min_int(suf->n, room / 4);
    int p = min_int(pre->n, room - s);
    s = min_int(suf->n, room - p);
    int x = min_int(files->n, room - p - s);
    *cut = p < pre->n || s < suf->n || x < files->n;
    if (p > 0) memmove(pre->v, pre->v + (pre->n - p), (size_t)p * sizeof *pre->v);
    pre->n = p;
    suf->n = s;
    if (x > 0) memmove(files->v, files->v + (files->n - x), (size_t)x * sizeof *files->v);
    files->n = x;
    return true;
}

static void add_stop(fim_prompt *out, const tokenizer *t, int32_t id) {
    if (id < 0 || id == tok_eos(t) || out->n_stops == (int)(sizeof out->stops / sizeof *out->stops)) return;
    for (int i = 0; i < out->n_stops; i++)
        if (out->stops[i] == id) return;
    out->stops[out->n_stops++] = id;
}

/* out->ids = [BOS] files + the hole's layout. */
static bool assemble(const tokenizer *t, const tok_fim_ids *f, const ids *pre, const ids *suf,
                     const ids *files, fim_prompt *out) {
    ids a = {0};
    bool ok = true;
    if (tok_add_bos(t) && tok_bos(t) >= 0) ok = ids_push1(&a, tok_bos(t));
    ok = ok && ids_push(&a, files->v, files->n);
    if (suffix_first(t, f)) {
        ok = ok && ids_push1(&a, f->suf) && ids_push(&a, suf->v, suf->n) && ids_push1(&a, f->pre);
        out->prefix_at = a.n;
        ok = ok && ids_push(&a, pre->v, pre->n);
    } else {
        ok = ok && ids_push1(&a, f->pre);
        out->prefix_at = a.n;
        ok = ok && ids_push(&a, pre->v, pre->n) && ids_push1(&a, f->suf) && ids_push(&a, suf->v, suf->n) &&
             ids_push1(&a, f->mid);
    }
    if (!ok) {
        free(a.v);
        return false;
    }
    out->ids = a.v;
    out->n = a.n;
    out->n_prefix = pre->n;
    return true;
}

bool fim_build(const tokenizer *t, const fim_input *in, fim_prompt *out, proto_error *err) {
    memset(out, 0, sizeof *out);
    tok_fim_ids f;
    if (!fim_supported(t)) {
        proto_fail(err, 422, "validation", "this model has no fill-in-the-middle tokens: its vocabulary has no "
                   "prefix/suffix/middle markers (such as <fim_prefix>, <|fim_prefix|>, <PRE>, [PREFIX])");
        return false;
    }
    tok_fim(t, &f);
    ids pre = {0}, suf = {0}, files = {0};
    bool ok = in->prefix ? encode_into(t, in->prefix, in->prefix_len, false, &pre, err)
                         : ids_push(&pre, in->prefix_ids, in->n_prefix_ids) ||
                               proto_fail(err, 500, "generation", "out of memory");
    ok = ok && encode_into(t, in->suffix ? in->suffix : "", in->suffix ? in->suffix_len : 0, true, &suf, err) &&
         files_into(t, &f, in, &files, err);
    int fixed = (tok_add_bos(t) && tok_bos(t) >= 0) + 2 + !suffix_first(t, &f);
    if (ok && in->budget > 0) ok = fit(in->budget, fixed, &pre, &suf, &files, &out->truncated, err);
    if (ok && !assemble(t, &f, &pre, &suf, &files, out)) ok = proto_fail(err, 500, "generation", "out of memory");
    free(pre.v);
    free(suf.v);
    free(files.v);
    if (!ok) {
        fim_prompt_free(out);
        return false;
    }
    const int32_t markers[] = {f.pre, f.suf, f.mid, f.pad, f.rep, f.sep, f.eot};
    for (size_t i = 0; i < sizeof markers / sizeof *markers; i++) add_stop(out, t, markers[i]);
    return true;
}

void fim_prompt_free(fim_prompt *p) {
    free(p->ids);
    memset(p, 0, sizeof *p);
}
