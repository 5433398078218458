/*
 * synth_arch.c — an architecture's template GGUF scaled to new dimensions
 * with seeded random values (synth_arch.h).  Owns the role of each tensor
 * name (which dimensions its shape is made of), the key rewrites, and the
 * streaming writer (header first through gw_serialize over data-less
 * tensor infos, then one tensor at a time: a 134M model needs one tensor's
 * memory).
 */
#include "synth_arch.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf_write.h"
#include "model/dtype.h"
#include "model/gguf.h"
#include "synth_model.h"

enum { ALIGN = 32 };

typedef struct {
    const gguf_tensor *t; /* the template's tensor */
    uint32_t n_dims, type;
    uint64_t ne[2];
    uint64_t offset, nbytes;
    float mean, std;
} plan_t;

/* A layer tensor's stack prefix ("blk", T5's "enc.blk" / "dec.blk"),
 * layer and the rest of its name; false for a tensor outside the layers. */
static bool layer_name(const char *name, char *stack, size_t cap, int *l, const char **rest) {
    const char *b = strstr(name, "blk.");
    int off = 0;
    if (!b || (b != name && b != name + 4) || sscanf(b, "blk.%d.%n", l, &off) != 1 || off == 0) return false;
    snprintf(stack, cap, "%.*s", (int)(b - name) + 3, name);
    *rest = b + off;
    return true;
}

/* The new shape of template tensor t, by its role; false for a name this
 * does not know (the template has something new). */
static bool shape_of(const synth_arch_config *c, uint32_t ffn0, const gguf_tensor *t, int vocab, plan_t *p) {
    const char *n = t->name, *dot, *rest;
    int l;
    char stack[16];
    if (layer_name(t->name, stack, sizeof stack, &l, &rest)) n = rest;
    uint64_t q = (uint64_t)c->n_heads * c->head_dim, kv = (uint64_t)c->n_kv_heads * c->head_dim, d = (uint64_t)c->dim;
    uint64_t f = (uint64_t)c->ffn_dim;
    bool bias = (dot = strrchr(n, '.')) && !strcmp(dot, ".bias");
    char base[64];
    snprintf(base, sizeof base, "%.*s", dot ? (int)(dot - n) : (int)strlen(n), n);
    uint64_t rows = 0, cols = 0; /* rows 0: a vector of cols */
    /* phi3's fused gate/up: the template's ffn_up has twice its ffn rows (ffn0) */
    bool fused_up = !strcmp(base, "ffn_up") && t->ne[t->n_dims > 1 ? 1 : 0] == 2 * (uint64_t)ffn0;
    if (!strcmp(base, "token_embd") || !strcmp(base, "output")) rows = (uint64_t)vocab, cols = d;
    else if (!strcmp(base, "position_embd")) rows = (uint64_t)c->ctx_len, cols = d;
    else if (!strcmp(base, "attn_q_norm") || !strcmp(base, "attn_k_norm")) cols = (uint64_t)c->head_dim;
    else if (strstr(base, "norm")) cols = d;
    else if (!strcmp(base, "attn_qkv")) rows = q + 2 * kv, cols = d;
    else if (!strcmp(base, "attn_q") || !strcmp(base, "cross_attn_q")) rows = q, cols = d;
    else if (!strcmp(base, "attn_k") || !strcmp(base, "attn_v") || !strcmp(base, "cross_attn_k") ||
             !strcmp(base, "cross_attn_v"))
        rows = kv, cols = d;
    else if (!strcmp(base, "attn_output") || !strcmp(base, "attn_o") || !strcmp(base, "cross_attn_o")) rows = d, cols = q;
    else if (!strcmp(base, "attn_rel_b")) rows = t->n_dims > 1 ? t->ne[1] : 0, cols = (uint64_t)c->n_heads; /* buckets x heads */
    else if (!strcmp(base, "ffn_up")) rows = fused_up ? 2 * f : f, cols = d;
    else if (!strcmp(base, "ffn_gate")) rows = f, cols = d;
    else if (!strcmp(base, "ffn_down")) rows = d, cols = f;
    else return false;
    if (bias) cols = rows ? rows : cols, rows = 0;
    p->t = t;
    p->n_dims = rows ? 2 : 1;
    p->ne[0] = cols;
    p->ne[1] = rows ? rows : 1;
    bool matrix = rows && strcmp(base, "token_embd") && strcmp(base, "position_embd") && strcmp(base, "attn_rel_b");
    p->type = matrix ? c->type : DT_F32;
    if (!strcmp(base, "token_embd") || !strcmp(base, "position_embd")) p->type = c->type == DT_F32 ? DT_F32 : DT_F16;
    p->mean = !rows && strstr(base, "norm") && !bias ? 1.0f : 0.0f;
    p->std = rows ? (matrix ? (float)(1.0 / sqrt((double)cols)) : 1.0f) : (bias ? 0.01f : 0.1f);
    return true;
}

/* Keys whose values change with the shape. */
static bool put_key(gw_writer *w, const synth_arch_config *c, const gguf_file *tf, uint64_t i, const char *arch,
                    char *err) {
    const gguf_kv *kv = gguf_kv_at(tf, i);
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
    size_t an = strlen(arch);
    if (!strncmp(key, "tokenizer.", 10)) return true; /* from the vocab file */
    if (strncmp(key, arch, an) != 0 || key[an] != '.') return synth_gguf_copy_kv(w, tf, i, err);
    const char *k = key + an + 1;
    uint32_t tv = 0, tkl = 0;
    char tk[256];
    snprintf(tk, sizeof tk, "%s.attention.key_length", arch);
    uint32_t hd0 = gguf_get_u32(tf, tk, &tkl) ? tkl : 0;
    const struct { const char *k; int v; } R[] = {
        {"embedding_length", c->dim}, {"block_count", c->n_layers}, {"feed_forward_length", c->ffn_dim},
        {"attention.head_count", c->n_heads}, {"attention.head_count_kv", c->n_kv_heads},
        {"attention.key_length", c->head_dim}, {"attention.value_length", c->head_dim},
        {"context_length", c->ctx_len}, {"attention.sliding_window", c->sliding_window},
    };
    for (size_t r = 0; r < sizeof R / sizeof R[0]; r++)
        if (!strcmp(k, R[r].k) && !(R[r].v <= 0 && !strcmp(k, "attention.sliding_window")))
            return gw_add_u32(w, key, (uint32_t)R[r].v) || ct_err(err, "synth_arch: out of memory");
    if (!strcmp(k, "rope.dimension_count") && gguf_get_u32(tf, key, &tv)) {
        /* the template's rotated share of a head, at the new head_dim */
        char e[256], h[256];
        uint32_t emb = 0, heads = 1;
        snprintf(e, sizeof e, "%s.embedding_length", arch);
        snprintf(h, sizeof h, "%s.attention.head_count", arch);
        gguf_get_u32(tf, e, &emb);
        gguf_get_u32(tf, h, &heads);
        uint32_t hd = hd0 ? hd0 : emb / heads, rot = (uint32_t)((uint64_t)tv * (uint64_t)c->head_dim / hd) & ~1u;
        return gw_add_u32(w, key, rot) || ct_err(err, "synth_arch: out of memory");
    }
    return synth_gguf_copy_kv(w, tf, i, err);
}

static uint64_t next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static double normal(uint64_t *s) { /* Box-Muller */
    double u = ((next(s) >> 11) + 0.5) * 0x1.0p-53, v = ((next(s) >> 11) + 0.5) * 0x1.0p-53;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static bool write_data(FILE *out, const plan_t *p, uint64_t seed, char *err) {
    uint64_t n = p->ne[0] * p->ne[1], s = seed ^ (0x9e3779b97f4a7c15ull * (p->offset + 1));
    if (!s) s = 1;
    float *x = malloc(n * sizeof(float));
    void *enc = p->type == DT_F32 ? (void *)x : malloc(p->nbytes ? p->nbytes : 1);
    bool ok = x && enc;
    for (uint64_t i = 0; ok && i < n; i++) x[i] = (float)(p->mean + p->std * normal(&s));
    if (ok && p->type != DT_F32) ok = synth_quantize(p->type, x, enc, n);
    ok = ok && fwrite(enc, 1, p->nbytes, out) == p->nbytes;
    if (enc != x) free(enc);
    free(x);
    return ok || ct_err(err, "synth_arch: cannot write tensor '%s'", p->t->name);
}

bool synth_arch_write(const synth_arch_config *c, const char *path, char *err) {
    gguf_file *tf = gguf_open(c->template_gguf, err), *vf = tf ? gguf_open(c->vocab_gguf, err) : NULL;
    if (!vf) {
        if (tf) gguf_close(tf);
        return false;
    }
    char *arch = gguf_get_strdup(tf, "general.architecture");
    gguf_type ty;
    uint64_t vocab = 0;
    gguf_get_arr(vf, "tokenizer.ggml.tokens", &ty, &vocab);
    uint64_t nt = gguf_n_tensors(tf), off = 0;
    plan_t *pl = calloc(nt ? nt : 1, sizeof *pl);
    gw_writer *w = gw_new();
    bool ok = arch && pl && w && vocab > 0;
    if (!ok) ct_err(err, "synth_arch: %s: no architecture or vocabulary", c->template_gguf);
    for (uint64_t i = 0; ok && i < gguf_n_kv(tf); i++) ok = put_key(w, c, tf, i, arch, err);
    for (uint64_t i = 0; ok && i < gguf_n_kv(vf); i++) {
        const gguf_kv *kv = gguf_kv_at(vf, i);
        if (kv->key.len >= 10 && !memcmp(kv->key.ptr, "tokenizer.", 10)) ok = synth_gguf_copy_kv(w, vf, i, err);
    }
    char fk[160];
    uint32_t ffn0 = 0;
    snprintf(fk, sizeof fk, "%s.feed_forward_length", arch ? arch : "");
    gguf_get_u32(tf, fk, &ffn0);
    /* the template's layers are blk.0 .. blk.(L-1) (T5: enc.blk.*, dec.blk.*):
     * layer 0's tensors are the pattern for every layer */
    int n_plan = 0;
    for (uint64_t i = 0; ok && i < nt; i++) {
        const gguf_tensor *t = gguf_tensor_at(tf, i);
        int l = -1;
        const char *rest;
        char stack[16];
        if (layer_name(t->name, stack, sizeof stack, &l, &rest) && l != 0) continue;
        plan_t p;
        if (!shape_of(c, ffn0, t, (int)vocab, &p)) ok = ct_err(err, "synth_arch: unknown tensor role '%s'", t->name);
        else pl[n_plan++] = p;
    }
    /* every layer: tensor infos in layer order, names renumbered */
    plan_t *all = ok ? calloc((size_t)n_plan * (size_t)c->n_layers + 1, sizeof *all) : NULL;
    char (*names)[128] = ok ? calloc((size_t)n_plan * (size_t)c->n_layers + 1, sizeof *names) : NULL;
    int n_all = 0;
    ok = ok && all && names;
    for (int i = 0; ok && i < n_plan; i++) {
        const char *rest;
        char stack[16];
        int l0;
        bool layer = layer_name(pl[i].t->name, stack, sizeof stack, &l0, &rest);
        /* T5's relative bias lives in layer 0 only (later layers reuse it) */
        int n_copies = !layer ? 1 : strstr(rest, "attn_rel_b") ? 1 : c->n_layers;
        for (int l = 0; l < n_copies; l++) {
            plan_t *p = &all[n_all];
            *p = pl[i];
            if (layer) snprintf(names[n_all], sizeof names[0], "%.15s.%d.%.70s", stack, l, rest);
            else snprintf(names[n_all], sizeof names[0], "%.90s", pl[i].t->name);
            if (!dt_bytes(p->type, p->ne[0] * p->ne[1], &p->nbytes) || p->ne[0] % dt_block_elems(p->type))
                ok = ct_err(err, "synth_arch: '%s': rows of %llu do not fit %s", names[n_all],
                            (unsigned long long)p->ne[0], dt_name(p->type));
            off = (off + ALIGN - 1) / ALIGN * ALIGN;
            p->offset = off;
            off += p->nbytes;
            ok = ok && gw_add_tensor_raw(w, names[n_all], p->n_dims, p->ne, p->type, p->offset);
            n_all++;
        }
    }
    size_t hlen = 0;
    uint8_t *hdr = ok ? gw_serialize(w, &hlen) : NULL;
    FILE *out = hdr ? fopen(path, "wb") : NULL;
    if (ok && !out) ok = ct_err(err, "%s: %s", path, strerror(errno));
    ok = ok && fwrite(hdr, 1, hlen, out) == hlen;
    static const char zeros[ALIGN];
    uint64_t pos = 0;
    for (int i = 0; ok && i < n_all; i++) {
        ok = fwrite(zeros, 1, all[i].offset - pos, out) == all[i].offset - pos && write_data(out, &all[i], c->seed, err);
        pos = all[i].offset + all[i].nbytes;
    }
    if (out && fclose(out) != 0) ok = false;
    if (!ok && !err[0]) ct_err(err, "%s: write failed", path);
    free(hdr);
    free(all);
    free(names);
    free(pl);
    free(arch);
    gw_free(w);
    gguf_close(vf);
    gguf_close(tf);
    return ok;
}
