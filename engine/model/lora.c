/*
 * lora.c — LoRA adapters: loading PEFT folders and llama.cpp GGUF LoRA
 * files into pairs (A, B) beside the base model's weights (F16 and BF16
 * matrices kept in their type, the others widened to F32), and the
 * adapter registry of a model (model_info.h's model_lora_*).
 *
 * An adapter changes a product W x into W x + scale * B (A x), A (r, cols),
 * B (rows, r).  The forward pass adds that term after the base product
 * (forward_lora.c); nothing here touches the base weights, so one
 * base serves every adapter at once.
 *
 * Layouts.  PEFT stores A as lora_A.weight (r, in) and B as lora_B.weight
 * (out, r) in the Hugging Face layout, which is the one the model holds
 * (model.h "RoPE layout"), whatever file the base came from.  llama.cpp's
 * convert_lora_to_gguf.py runs the base converter's tensor edits on the
 * pair: for llama-family q/k, the interleaved-RoPE row permutation lands on
 * B's rows (A's columns are the input, x, which no converter permutes), so
 * a GGUF LoRA of such an architecture has its q/k B rows undone here as
 * model_assemble undoes the base's.  GGUF ne order: lora_a ne = (cols, r),
 * lora_b ne = (r, rows), the same bytes as A (r, cols) and B (rows, r).
 * B is held transposed (model.h lora_pair.bt).
 * Scale: PEFT lora_alpha / r (use_rslora: / sqrt(r)); GGUF
 * adapter.lora.alpha / r per pair, 1 when the file has no alpha (what
 * llama.cpp computes; its converter writes lora_alpha as it is).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dtype.h"
#include "gguf.h"
#include "model_load.h"
#include "safetensors.h"

/* The products an adapter may target, in lora_target order: PEFT's module
 * name, llama.cpp's tensor name and the short name /info shows. */
static const struct {
    const char *peft, *peft_parent, *gguf, *shown;
} TARGETS[LORA_N_TARGETS] = {
    {"q_proj", "self_attn", "attn_q", "q"},       {"k_proj", "self_attn", "attn_k", "k"},
    {"v_proj", "self_attn", "attn_v", "v"},       {"o_proj", "self_attn", "attn_output", "o"},
    {"gate_proj", "mlp", "ffn_gate", "gate"},     {"up_proj", "mlp", "ffn_up", "up"},
    {"down_proj", "mlp", "ffn_down", "down"},
};

/* The base matrix a target adapts in layer l (data NULL: the model has none). */
static const wmat *base_matrix(const model *m, int l, int t) {
    const layer_weights *w = &m->layers[l];
    const wmat *all[LORA_N_TARGETS] = {&w->wq, &w->wk, &w->wv, &w->wo, &w->w_gate, &w->w_up, &w->w_down};
    return all[t];
}

static void adapter_free(lora_adapter *a, int n_layers) {
    if (a->w)
        for (int i = 0; i < n_layers * LORA_N_TARGETS; i++) {
            free(a->w[i].a);
            free(a->w[i].bt);
        }
    free(a->w);
    free(a->name);
    free(a->path);
}

void lora_free_all(model *m) {
    for (int i = 0; i < m->n_loras; i++) adapter_free(&m->loras[i], m->cfg.n_layers);
    free(m->loras);
    m->loras = NULL;
    m->n_loras = 0;
}

/* ---- one pair --------------------------------------------------------------- */

/* A tensor of either file as lora.c needs it: rows x cols of type at data. */
typedef struct {
    const char *name;
    uint32_t type;
    uint64_t rows, cols;
    const void *data;
} lsrc;

/* n f32 values of a tensor (any type dt_to_f32 converts). */
static float *to_f32(const lsrc *s, char *err) {
    size_t n = (size_t)(s->rows * s->cols);
    float *out = malloc(n * sizeof *out);
    if (!out) {
        ct_err(err, "out of memory loading '%s'", s->name);
        return NULL;
    }
    if (!dt_convertible(s->type) || !dt_to_f32(s->type, s->data, out, n)) {
        ct_err(err, "adapter tensor '%s': type %s is not supported", s->name, dt_name(s->type));
        free(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(out[i])) {
            ct_err(err, "adapter tensor '%s' holds a non-finite value", s->name);
            free(out);
            return NULL;
        }
    return out;
}

/* The type a matrix read from a tensor of `type` is held in: its own when
 * it is F16 or BF16 (every value then narrows back exactly), else F32. */
static uint32_t held_type(uint32_t type) { return type == DT_F16 || type == DT_BF16 ? type : DT_F32; }

/* The n values of v (malloc'd, taken over) held in `type` (held_type):
 * v itself for F32, else a 16-bit copy, each value exactly representable
 * in it, and v freed.  NULL: out of memory (v freed). */
static void *hold(float *v, size_t n, uint32_t type) {
    if (type == DT_F32) return v;
    uint16_t *out = malloc(n * sizeof *out);
    if (out)
        for (size_t i = 0; i < n; i++) out[i] = type == DT_F16 ? dt_f32_to_f16(v[i]) : dt_f32_to_bf16(v[i]);
    free(v);
    return out;
}

/* Undo GGUF's interleaved-RoPE order of B's rows (n_heads heads of hd
 * rows, r floats each): HF row h*hd + t*half + j is file row h*hd + 2j + t. */
static bool unpermute_rows(float *b, int rows, int n_heads, int r) {
    int hd = rows / n_heads, half = hd / 2;
    float *tmp = malloc((size_t)rows * r * sizeof *tmp);
    if (!tmp) return false;
    for (int h = 0; h < n_heads; h++)
        for (int j = 0; j < half; j++)
            for (int t = 0; t < 2; t++)
                memcpy(tmp + (size_t)(h * hd + t * half + j) * r, b + (size_t)(h * hd + 2 * j + t) * r,
                       (size_t)r * sizeof *tmp);
    memcpy(b, tmp, (size_t)rows * r * sizeof *tmp);
    free(tmp);
    return true;
}

/* A (r, cols) and B (rows, r) of target t in layer l, checked against the
 * base's matrix and rank_want (0: any), into a->w. */
static bool add_pair(const model *m, lora_adapter *a, int l, int t, const lsrc *A, const lsrc *B, int rank_want,
                     float alpha, bool rslora, bool permuted_qk, char *err) {
    const wmat *w = base_matrix(m, l, t);
    if (!w->data)
        return ct_err(err, "adapter tensor '%s': the base model has no %s projection", A->name, TARGETS[t].peft);
    if (A->rows != B->cols)
        return ct_err(err, "adapter tensors '%s' (rank %llu) and '%s' (rank %llu) disagree on the rank", A->name,
                      (unsigned long long)A->rows, B->name, (unsigned long long)B->cols);
    if (rank_want > 0 && A->rows != (uint64_t)rank_want)
        return ct_err(err, "adapter tensor '%s' has rank %llu, the adapter's r is %d", A->name,
                      (unsigned long long)A->rows, rank_want);
    if (A->rows == 0 || A->rows > 4096)
        return ct_err(err, "adapter tensor '%s': rank %llu out of range", A->name, (unsigned long long)A->rows);
    if (A->cols != (uint64_t)w->cols)
        return ct_err(err, "adapter tensor '%s' is (%llu, %llu), layer %d's %s takes %d inputs", A->name,
                      (unsigned long long)A->rows, (unsigned long long)A->cols, l, TARGETS[t].peft, w->cols);
    if (B->rows != (uint64_t)w->rows)
        return ct_err(err, "adapter tensor '%s' is (%llu, %llu), layer %d's %s has %d outputs", B->name,
                      (unsigned long long)B->rows, (unsigned long long)B->cols, l, TARGETS[t].peft, w->rows);
    lora_pair *p = &a->w[l * LORA_N_TARGETS + t];
    if (p->a) return ct_err(err, "adapter tensor '%s' appears twice", A->name);
    int r = (int)A->rows;
    float *a32 = to_f32(A, err);
    if (!a32) return false;
    p->a_type = held_type(A->type);
    if (!(p->a = hold(a32, (size_t)r * w->cols, p->a_type))) return ct_err(err, "out of memory loading '%s'", A->name);
    float *b = to_f32(B, err);
    if (!b) return false;
    if (permuted_qk && (t == LORA_Q || t == LORA_K) &&
        !unpermute_rows(b, w->rows, t == LORA_Q ? m->cfg.n_heads : m->cfg.n_kv_heads, r)) {
        free(b);
        return ct_err(err, "out of memory loading '%s'", B->name);
    }
    float *bt = malloc((size_t)w->rows * r * sizeof *bt);
    if (!bt) {
        free(b);
        return ct_err(err, "out of memory loading '%s'", B->name);
    }
    for (int n = 0; n < w->rows; n++)
        for (int k = 0; k < r; k++) bt[(size_t)k * w->rows + n] = b[(size_t)n * r + k];
    free(b);
    p->bt_type = held_type(B->type);
    if (!(p->bt = hold(bt, (size_t)w->rows * r, p->bt_type))) return ct_err(err, "out of memory loading '%s'", B->name);
    p->r = r;
    p->scale = alpha == 0 && !rslora && rank_want == 0 ? 1.0f : rslora ? alpha / sqrtf((float)r) : alpha / (float)r;
    a->targets |= 1u << t;
    if (r > a->rank) a->rank = r;
    return true;
}

/* ---- PEFT folders ----------------------------------------------------------------- */

typedef struct {
    int r;
    float alpha;
    bool rslora;
} peft_config;

static int target_by_peft(const char *s, size_t n) {
    for (int t = 0; t < LORA_N_TARGETS; t++)
        if (strlen(TARGETS[t].peft) == n && !strncmp(TARGETS[t].peft, s, n)) return t;
    return -1;
}

/* A key that must be absent, null, false, empty or equal to ok_str. */
static bool refuse_set(json_t *cfg, const char *key, const char *ok_str, const char *what, const char *path,
                       char *err) {
    json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v) || json_is_false(v)) return true;
    if ((json_is_object(v) && json_object_size(v) == 0) || (json_is_array(v) && json_array_size(v) == 0)) return true;
    if (ok_str && json_is_string(v) && !strcmp(json_string_value(v), ok_str)) return true;
    return ct_err(err, "%s/adapter_config.json: %s (%s) is not supported", path, key, what);
}

static bool peft_read_config(const char *dir, peft_config *pc, char *err) {
    char p[4096];
    snprintf(p, sizeof p, "%s/adapter_config.json", dir);
    json_error_t je;
    json_t *cfg = json_load_file(p, 0, &je);
    if (!cfg) return ct_err(err, "%s: %s (line %d)", p, je.text, je.line);
    bool ok = false;
    json_t *r = json_object_get(cfg, "r"), *al = json_object_get(cfg, "lora_alpha"),
           *pt = json_object_get(cfg, "peft_type"), *tm = json_object_get(cfg, "target_modules");
    if (!json_is_object(cfg)) ct_err(err, "%s: not a JSON object", p);
    else if (pt && (!json_is_string(pt) || strcmp(json_string_value(pt), "LORA")))
        ct_err(err, "%s: peft_type %s is not supported (LORA)", p, json_is_string(pt) ? json_string_value(pt) : "?");
    else if (!json_is_integer(r) || json_integer_value(r) < 1 || json_integer_value(r) > 4096)
        ct_err(err, "%s: r must be an integer in [1, 4096]", p);
    else if (al && !json_is_number(al)) ct_err(err, "%s: lora_alpha must be a number", p);
    else if (refuse_set(cfg, "use_dora", NULL, "DoRA", dir, err) &&
             refuse_set(cfg, "fan_in_fan_out", NULL, "transposed Conv1D weights", dir, err) &&
             refuse_set(cfg, "bias", "none", "LoRA biases", dir, err) &&
             refuse_set(cfg, "rank_pattern", NULL, "per-module ranks", dir, err) &&
             refuse_set(cfg, "alpha_pattern", NULL, "per-module alphas", dir, err) &&
             refuse_set(cfg, "modules_to_save", NULL, "fully trained modules", dir, err)) {
        ok = true;
        /* a list names modules; a string is PEFT's regex (or "all-linear"):
         * then the tensors present say what is targeted */
        for (size_t i = 0; json_is_array(tm) && i < json_array_size(tm); i++) {
            json_t *e = json_array_get(tm, i);
            const char *s = json_is_string(e) ? json_string_value(e) : "";
            if (target_by_peft(s, strlen(s)) < 0) {
                ok = ct_err(err,
                            "%s: target module '%s' is not supported (q_proj, k_proj, v_proj, o_proj, gate_proj, "
                            "up_proj, down_proj)", p, s);
                break;
            }
        }
        if (ok && tm && !json_is_array(tm) && !json_is_string(tm))
            ok = ct_err(err, "%s: target_modules must be a list or a string", p);
    }
    if (ok) {
        pc->r = (int)json_integer_value(r);
        pc->alpha = al ? (float)json_number_value(al) : 8.0f; /* PEFT's default */
        pc->rslora = json_is_true(json_object_get(cfg, "use_rslora"));
    }
    json_decref(cfg);
    return ok;
}

/* "base_model.model.model.layers.N.<parent>.<module>.lora_<A|B>[.default].weight"
 * -> layer, target, is_b; false for any other name. */
static bool peft_parse_name(const char *name, int n_layers, int *layer, int *target, bool *is_b) {
    const char *pre = "base_model.model.model.layers.";
    if (strncmp(name, pre, strlen(pre))) return false;
    const char *s = name + strlen(pre);
    char *end;
    long l = strtol(s, &end, 10);
    if (end == s || *end != '.' || l < 0 || l >= n_layers) return false;
    s = end + 1;
    const char *dot = strchr(s, '.');
    if (!dot) return false;
    const char *mod = dot + 1, *dot2 = strchr(mod, '.');
    if (!dot2) return false;
    int t = target_by_peft(mod, (size_t)(dot2 - mod));
    if (t < 0 || strlen(TARGETS[t].peft_parent) != (size_t)(dot - s) || strncmp(s, TARGETS[t].peft_parent, dot - s))
        return false;
    const char *tail = dot2 + 1;
    if (!strcmp(tail, "lora_A.weight") || !strcmp(tail, "lora_A.default.weight")) *is_b = false;
    else if (!strcmp(tail, "lora_B.weight") || !strcmp(tail, "lora_B.default.weight")) *is_b = true;
    else return false;
    *layer = (int)l;
    *target = t;
    return true;
}

static lsrc st_src(const st_tensor *t) {
    return (lsrc){t->name, t->type, t->n_dims == 2 ? t->shape[0] : 0, t->n_dims == 2 ? t->shape[1] : 0, t->data};
}

static bool load_peft(const model *m, lora_adapter *a, const char *dir, char *err) {
    peft_config pc = {0};
    if (!peft_read_config(dir, &pc, err)) return false;
    char p[4096];
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    st_model *st = st_open_file(p, err);
    if (!st) return false;
    a->alpha = pc.alpha;
    int L = m->cfg.n_layers;
    /* each A with its B: index the B tensors by (layer, target) first */
    const st_tensor **bs = calloc((size_t)L * LORA_N_TARGETS, sizeof *bs), **as = calloc((size_t)L * LORA_N_TARGETS, sizeof *as);
    bool ok = bs && as;
    if (!ok) ct_err(err, "out of memory");
    for (uint64_t i = 0; ok && i < st_n_tensors(st); i++) {
        const st_tensor *t = st_tensor_at(st, i);
        int l, tg;
        bool is_b;
        if (!peft_parse_name(t->name, L, &l, &tg, &is_b))
            ok = ct_err(err,
                        "%s: tensor '%s' is not the lora_A/lora_B of a q/k/v/o/gate/up/down projection of layers "
                        "0..%d", p, t->name, L - 1);
        else if (t->n_dims != 2) ok = ct_err(err, "%s: tensor '%s' is not a matrix", p, t->name);
        else if (t->type != DT_F32 && t->type != DT_F16 && t->type != DT_BF16)
            ok = ct_err(err, "%s: tensor '%s' is %s (F32, F16 or BF16 expected)", p, t->name, dt_name(t->type));
        else if ((is_b ? bs : as)[l * LORA_N_TARGETS + tg])
            ok = ct_err(err, "%s: tensor '%s' appears twice", p, t->name);
        else (is_b ? bs : as)[l * LORA_N_TARGETS + tg] = t;
    }
    for (int i = 0; ok && i < L * LORA_N_TARGETS; i++) {
        if (!as[i] != !bs[i])
            ok = ct_err(err, "%s: '%s' has no %s", p, as[i] ? as[i]->name : bs[i]->name, as[i] ? "lora_B" : "lora_A");
        else if (as[i]) {
            lsrc A = st_src(as[i]), B = st_src(bs[i]);
            ok = add_pair(m, a, i / LORA_N_TARGETS, i % LORA_N_TARGETS, &A, &B, pc.r, pc.alpha, pc.rslora, false, err);
        }
    }
    if (ok && !a->targets) ok = ct_err(err, "%s: no LoRA tensors", p);
    free(as);
    free(bs);
    st_close(st);
    return ok;
}

/* ---- GGUF LoRA ------------------------------------------------------------------------ */

/* "blk.N.<gguf target>.weight.lora_<a|b>" -> layer, target, is_b. */
static bool gguf_parse_name(const char *name, int n_layers, int *layer, int *target, bool *is_b) {
    if (strncmp(name, "blk.", 4)) return false;
    char *end;
    long l = strtol(name + 4, &end, 10);
    if (end == name + 4 || *end != '.' || l < 0 || l >= n_layers) return false;
    const char *mod = end + 1;
    for (int t = 0; t < LORA_N_TARGETS; t++) {
        size_t n = strlen(TARGETS[t].gguf);
        if (strncmp(mod, TARGETS[t].gguf, n)) continue;
        const char *tail = mod + n;
        if (!strcmp(tail, ".weight.lora_a")) *is_b = false;
        else if (!strcmp(tail, ".weight.lora_b")) *is_b = true;
        else continue;
        *layer = (int)l;
        *target = t;
        return true;
    }
    return false;
}

static lsrc gguf_src(const gguf_tensor *t) {
    /* ggml order: ne[0] is the row length */
    return (lsrc){t->name, t->type, t->n_dims == 2 ? t->ne[1] : 0, t->n_dims == 2 ? t->ne[0] : 0, t->data};
}

/* The metadata an adapter must carry: general.type "adapter", adapter.type
 * "lora" and the base's architecture. */
static bool gguf_check_kind(const model *m, gguf_file *g, const char *path, char *err) {
    char *type = gguf_get_strdup(g, "general.type"), *atype = gguf_get_strdup(g, "adapter.type"),
         *arch = gguf_get_strdup(g, "general.architecture");
    const char *base = arch_get(m->cfg.arch)->name;
    bool ok = false;
    if (!type || strcmp(type, "adapter"))
        ct_err(err, "%s: general.type is '%s', not 'adapter' (a model, not a LoRA adapter?)", path, type ? type : "");
    else if (!atype || strcmp(atype, "lora"))
        ct_err(err, "%s: adapter.type '%s' is not supported (lora)", path, atype ? atype : "");
    else if (!arch || strcmp(arch, base))
        ct_err(err, "%s: an adapter for architecture '%s', the base model is '%s'", path, arch ? arch : "", base);
    else ok = true;
    free(type);
    free(atype);
    free(arch);
    return ok;
}

static bool load_gguf(const model *m, lora_adapter *a, const char *path, char *err) {
    gguf_file *g = gguf_open(path, err);
    if (!g) return false;
    bool ok = gguf_check_kind(m, g, path, err);
    float alpha = 0;
    if (gguf_find(g, "adapter.lora.alpha") && !gguf_get_f32(g, "adapter.lora.alpha", &alpha))
        ok = ok && ct_err(err, "%s: adapter.lora.alpha is not a number", path);
    if (ok && (!isfinite(alpha) || alpha < 0)) ok = ct_err(err, "%s: adapter.lora.alpha %g out of range", path, alpha);
    a->alpha = alpha;
    int L = m->cfg.n_layers;
    const gguf_tensor **as = calloc((size_t)L * LORA_N_TARGETS, sizeof *as),
                      **bs = calloc((size_t)L * LORA_N_TARGETS, sizeof *bs);
    if (ok && !(as && bs)) ok = ct_err(err, "out of memory");
    for (uint64_t i = 0; ok && i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        int l, tg;
        bool is_b;
        if (!gguf_parse_name(t->name, L, &l, &tg, &is_b))
            ok = ct_err(err,
                        "%s: tensor '%s' is not the lora_a/lora_b of an attn_q/attn_k/attn_v/attn_output/ffn_gate/"
                        "ffn_up/ffn_down of layers 0..%d", path, t->name, L - 1);
        else if (t->n_dims != 2) ok = ct_err(err, "%s: tensor '%s' is not a matrix", path, t->name);
        else if ((is_b ? bs : as)[l * LORA_N_TARGETS + tg]) ok = ct_err(err, "%s: tensor '%s' appears twice", path, t->name);
        else (is_b ? bs : as)[l * LORA_N_TARGETS + tg] = t;
    }
    bool permuted = arch_get(m->cfg.arch)->gguf_qk_permuted;
    for (int i = 0; ok && i < L * LORA_N_TARGETS; i++) {
        if (!as[i] != !bs[i])
            ok = ct_err(err, "%s: '%s' has no %s", path, as[i] ? as[i]->name : bs[i]->name, as[i] ? "lora_b" : "lora_a");
        else if (as[i]) {
            lsrc A = gguf_src(as[i]), B = gguf_src(bs[i]);
            ok = add_pair(m, a, i / LORA_N_TARGETS, i % LORA_N_TARGETS, &A, &B, 0, alpha, false, permuted, err);
        }
    }
    if (ok && !a->targets) ok = ct_err(err, "%s: no LoRA tensors", path);
    free(as);
    free(bs);
    gguf_close(g);
    return ok;
}

/* ---- the registry ------------------------------------------------------------------------ */

static bool name_ok(const model *m, const char *name, char *err) {
    if (!name || !*name) return ct_err(err, "a LoRA adapter needs a name");
    if (strlen(name) > 200) return ct_err(err, "LoRA adapter name '%.40s...' is too long", name);
    for (const char *c = name; *c; c++)
        if (*c == ',' || *c == '=' || iscntrl((unsigned char)*c))
            return ct_err(err, "LoRA adapter name '%s' may not hold ',', '=' or control characters", name);
    if (model_lora_find(m, name)) return ct_err(err, "two LoRA adapters are named '%s'", name);
    return true;
}

int model_lora_load(model *m, const char *name, const char *path, char *err) {
    if (!name_ok(m, name, err)) return 0;
    /* an encoder-decoder's LoRA would also target its encoder and
     * cross-attention, which this loader does not map */
    if (model_is_encdec(&m->cfg))
        return ct_err(err, "LoRA adapter '%s': adapters on an encoder-decoder model (t5) are not supported", name),
               0;
    struct stat sb;
    if (stat(path, &sb) != 0) return ct_err(err, "LoRA adapter '%s': cannot open %s", name, path), 0;
    lora_adapter *grown = realloc(m->loras, (size_t)(m->n_loras + 1) * sizeof *grown);
    if (!grown) return ct_err(err, "out of memory"), 0;
    m->loras = grown;
    lora_adapter *a = &m->loras[m->n_loras];
    memset(a, 0, sizeof *a);
    a->name = strdup(name);
    a->path = strdup(path);
    a->w = calloc((size_t)m->cfg.n_layers * LORA_N_TARGETS, sizeof *a->w);
    bool ok = a->name && a->path && a->w;
    if (!ok) ct_err(err, "out of memory");
    char e2[CT_ERRLEN];
    if (ok) {
        a->format = S_ISDIR(sb.st_mode) ? "peft" : "gguf";
        ok = S_ISDIR(sb.st_mode) ? load_peft(m, a, path, e2) : load_gguf(m, a, path, e2);
        if (!ok) ct_err(err, "LoRA adapter '%s': %s", name, e2);
    }
    if (!ok) {
        adapter_free(a, m->cfg.n_layers);
        return 0;
    }
    return ++m->n_loras;
}

int model_lora_count(const model *m) { return m->n_loras; }

int model_lora_find(const model *m, const char *name) {
    for (int i = 0; name && i < m->n_loras; i++)
        if (!strcmp(m->loras[i].name, name)) return i + 1;
    return 0;
}

model_lora_info model_lora_get(const model *m, int id) {
    model_lora_info in = {0};
    if (id < 1 || id > m->n_loras) return in;
    const lora_adapter *a = &m->loras[id - 1];
    in.name = a->name;
    in.path = a->path;
    in.format = a->format;
    in.rank = a->rank;
    in.alpha = a->alpha;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int t = 0; t < LORA_N_TARGETS; t++)
            if (a->w[l * LORA_N_TARGETS + t].a) {
                in.n_layers++;
                break;
            }
    size_t n = 0;
    for (int t = 0; t < LORA_N_TARGETS; t++)
        if (a->targets & 1u << t)
            n += (size_t)snprintf(in.targets + n, sizeof in.targets - n, "%s%s", n ? "," : "", TARGETS[t].shown);
    return in;
}
