/*
 * lora_write.c — seeded LoRA adapters as PEFT folders and GGUF LoRA files,
 * and the merged-weights copies of their base (lora_write.h).
 */
#include "support/lora_write.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/dtype.h"
#include "model/gguf.h"
#include "model/safetensors.h"
#include "support/gguf_write.h"
#include "support/testutil.h"

static const char *PEFT_MOD[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                  "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
static const char *PEFT_SHORT[7] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
static const char *GGUF_MOD[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

struct lw_adapter {
    synth_config base;
    lw_config c;
    int rows[7], cols[7];
    float *a[64][7], *b[64][7]; /* [layer][target]: A (r, cols), B (rows, r), HF layout */
};

/* The value stored in dtype (the adapter's tensors hold exactly these). */
static float round_to(const char *dtype, float v) {
    if (!strcmp(dtype, "F16")) return dt_f16_to_f32(dt_f32_to_f16(v));
    if (!strcmp(dtype, "BF16")) return dt_bf16_to_f32(dt_f32_to_bf16(v));
    return v;
}

lw_adapter *lw_make(const synth_config *base, const lw_config *c) {
    lw_adapter *a = calloc(1, sizeof *a);
    if (!a || base->n_layers > 64) {
        free(a);
        return NULL;
    }
    a->base = *base;
    a->c = *c;
    int q = base->n_heads * base->head_dim, kv = base->n_kv_heads * base->head_dim;
    int rows[7] = {q, kv, kv, base->dim, base->ffn_dim, base->ffn_dim, base->dim};
    int cols[7] = {base->dim, base->dim, base->dim, q, base->dim, base->dim, base->ffn_dim};
    memcpy(a->rows, rows, sizeof rows);
    memcpy(a->cols, cols, sizeof cols);
    uint64_t rnd = c->seed * 0x9E3779B97F4A7C15ull + 7;
    for (int l = 0; l < base->n_layers; l++)
        for (int t = 0; t < 7; t++) {
            if (!(c->targets & 1u << t)) continue;
            size_t na = (size_t)c->r * cols[t], nb = (size_t)rows[t] * c->r;
            a->a[l][t] = malloc(na * sizeof(float));
            a->b[l][t] = malloc(nb * sizeof(float));
            for (size_t i = 0; i < na; i++)
                a->a[l][t][i] = round_to(c->dtype, c->amp * (2.0f * (float)(tu_rnd(&rnd) >> 40) / (1 << 24) - 1.0f));
            for (size_t i = 0; i < nb; i++)
                a->b[l][t][i] = round_to(c->dtype, c->amp * (2.0f * (float)(tu_rnd(&rnd) >> 40) / (1 << 24) - 1.0f));
        }
    return a;
}

void lw_free(lw_adapter *a) {
    if (!a) return;
    for (int l = 0; l < 64; l++)
        for (int t = 0; t < 7; t++) {
            free(a->a[l][t]);
            free(a->b[l][t]);
        }
    free(a);
}

double lw_scale(const lw_adapter *a) {
    return a->c.rslora ? a->c.alpha / sqrt((double)a->c.r) : (double)a->c.alpha / a->c.r;
}

/* Row n of the file's q/k matrix holds HF row perm(n): convert_hf_to_gguf's
 * w.reshape(n_head, 2, hd/2, K).swapaxes(1, 2): file (h, j, t) <- HF (h, t, j). */
static int file_to_hf_row(int n, int hd) {
    int h = n / hd, i = n % hd, j = i / 2, t = i % 2;
    return h * hd + t * (hd / 2) + j;
}

static bool permuted(const lw_adapter *a, int t) { return !strcmp(a->base.arch, "llama") && (t == 0 || t == 1); }

/* ---- PEFT ------------------------------------------------------------------------ */

/* n f32 values as dtype's bytes (malloc'd). */
static void *encode(const char *dtype, const float *v, size_t n, size_t *bytes) {
    bool half = strcmp(dtype, "F32") != 0;
    *bytes = n * (half ? 2 : 4);
    void *out = malloc(*bytes);
    for (size_t i = 0; out && i < n; i++) {
        if (!half) ((float *)out)[i] = v[i];
        else ((uint16_t *)out)[i] = !strcmp(dtype, "F16") ? dt_f32_to_f16(v[i]) : dt_f32_to_bf16(v[i]);
    }
    return out;
}

bool lw_write_peft(const lw_adapter *a, const char *dir, const char *extra_json, char *err) {
    mkdir(dir, 0755);
    char p[1024], mods[256] = "";
    size_t n = 0;
    for (int t = 0; t < 7; t++)
        if (a->c.targets & 1u << t) n += (size_t)snprintf(mods + n, sizeof mods - n, "%s\"%s\"", n ? ", " : "", PEFT_SHORT[t]);
    snprintf(p, sizeof p, "%s/adapter_config.json", dir);
    FILE *f = fopen(p, "w");
    if (!f) return ct_err(err, "cannot write %s", p);
    fprintf(f,
            "{\"peft_type\": \"LORA\", \"task_type\": \"CAUSAL_LM\", \"r\": %d, \"lora_alpha\": %g, "
            "\"lora_dropout\": 0.05, \"use_rslora\": %s, \"bias\": \"none\", \"fan_in_fan_out\": false, "
            "\"target_modules\": [%s], \"base_model_name_or_path\": \"synth\"%s%s}\n",
            a->c.r, a->c.alpha, a->c.rslora ? "true" : "false", mods, extra_json ? ", " : "",
            extra_json ? extra_json : "");
    fclose(f);
    sw_writer *s = sw_new();
    bool ok = s != NULL;
    for (int l = 0; ok && l < a->base.n_layers; l++)
        for (int t = 0; ok && t < 7; t++) {
            if (!a->a[l][t]) continue;
            char name[256];
            size_t bytes;
            uint64_t sa[2] = {(uint64_t)a->c.r, (uint64_t)a->cols[t]}, sb[2] = {(uint64_t)a->rows[t], (uint64_t)a->c.r};
            void *d = encode(a->c.dtype, a->a[l][t], sa[0] * sa[1], &bytes);
            snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.lora_A.weight", l, PEFT_MOD[t]);
            ok = d && sw_add(s, name, a->c.dtype, 2, sa, d, bytes);
            free(d);
            d = encode(a->c.dtype, a->b[l][t], sb[0] * sb[1], &bytes);
            snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.lora_B.weight", l, PEFT_MOD[t]);
            ok = ok && d && sw_add(s, name, a->c.dtype, 2, sb, d, bytes);
            free(d);
        }
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    ok = ok && sw_write(s, p, err);
    sw_free(s);
    return ok;
}

/* ---- GGUF LoRA ------------------------------------------------------------------------ */

bool lw_write_gguf(const lw_adapter *a, const char *path, char *err) {
    if (a->c.rslora) return ct_err(err, "rslora adapters have no GGUF form");
    gw_writer *w = gw_new();
    bool ok = w && gw_add_str(w, "general.architecture", a->base.arch) && gw_add_str(w, "general.type", "adapter") &&
              gw_add_str(w, "adapter.type", "lora") && gw_add_f32(w, "adapter.lora.alpha", a->c.alpha);
    int hd = a->base.head_dim;
    /* the tensors in the adapter's dtype, as convert_lora_to_gguf.py's --outtype writes them */
    uint32_t type = !strcmp(a->c.dtype, "F16") ? DT_F16 : !strcmp(a->c.dtype, "BF16") ? DT_BF16 : DT_F32;
    for (int l = 0; ok && l < a->base.n_layers; l++)
        for (int t = 0; ok && t < 7; t++) {
            if (!a->a[l][t]) continue;
            int r = a->c.r, rows = a->rows[t];
            float *b = malloc((size_t)rows * r * sizeof *b);
            for (int n = 0; b && n < rows; n++) {
                int src = permuted(a, t) ? file_to_hf_row(n, hd) : n;
                memcpy(b + (size_t)n * r, a->b[l][t] + (size_t)src * r, (size_t)r * sizeof *b);
            }
            char name[256];
            uint64_t na[2] = {(uint64_t)a->cols[t], (uint64_t)r}, nb[2] = {(uint64_t)r, (uint64_t)rows};
            size_t bytes_a = 0, bytes_b = 0;
            void *ea = b ? encode(a->c.dtype, a->a[l][t], (size_t)r * a->cols[t], &bytes_a) : NULL;
            void *eb = b ? encode(a->c.dtype, b, (size_t)rows * r, &bytes_b) : NULL;
            snprintf(name, sizeof name, "blk.%d.%s.weight.lora_a", l, GGUF_MOD[t]);
            ok = ea && eb && gw_add_tensor(w, name, 2, na, type, ea, bytes_a, true);
            snprintf(name, sizeof name, "blk.%d.%s.weight.lora_b", l, GGUF_MOD[t]);
            ok = ok && gw_add_tensor(w, name, 2, nb, type, eb, bytes_b, true);
            free(ea);
            free(eb);
            free(b);
        }
    ok = ok && gw_write(w, path, err);
    gw_free(w);
    return ok;
}

/* ---- merged copies ---------------------------------------------------------------------- */

/* w (rows, cols) += scale * B' A in double, B' = B with rows read through
 * the file's order when perm. */
static void merge_into(const lw_adapter *a, int l, int t, float *w, bool perm) {
    int r = a->c.r, rows = a->rows[t], cols = a->cols[t];
    double s = lw_scale(a);
    for (int n = 0; n < rows; n++) {
        const float *b = a->b[l][t] + (size_t)(perm ? file_to_hf_row(n, a->base.head_dim) : n) * r;
        for (int k = 0; k < cols; k++) {
            double d = 0;
            for (int j = 0; j < r; j++) d += (double)b[j] * a->a[l][t][(size_t)j * cols + k];
            w[(size_t)n * cols + k] = (float)((double)w[(size_t)n * cols + k] + s * d);
        }
    }
}

/* "blk.L.attn_q.weight" / "model.layers.L.self_attn.q_proj.weight" -> (l, t). */
static bool target_of(const char *name, bool gguf, int *l, int *t) {
    for (*t = 0; *t < 7; (*t)++) {
        char want[256];
        for (*l = 0; *l < 64; (*l)++) {
            if (gguf) snprintf(want, sizeof want, "blk.%d.%s.weight", *l, GGUF_MOD[*t]);
            else snprintf(want, sizeof want, "model.layers.%d.%s.weight", *l, PEFT_MOD[*t]);
            if (!strcmp(name, want)) return true;
        }
    }
    return false;
}

bool lw_merge_gguf(const lw_adapter *a, const char *base_gguf, const char *out_gguf, char *err) {
    gguf_file *g = gguf_open(base_gguf, err);
    if (!g) return false;
    gw_writer *w = gw_new();
    bool ok = w != NULL;
    for (uint64_t i = 0; ok && i < gguf_n_kv(g); i++) ok = synth_gguf_copy_kv(w, g, i, err);
    for (uint64_t i = 0; ok && i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        int l, tg;
        if (!target_of(t->name, true, &l, &tg) || !a->a[l][tg]) {
            ok = gw_add_tensor(w, t->name, t->n_dims, t->ne, t->type, t->data, t->nbytes, true);
            continue;
        }
        if (t->type != DT_F32) {
            ok = ct_err(err, "%s: only F32 bases are merged", t->name);
            break;
        }
        float *m = malloc(t->nbytes);
        memcpy(m, t->data, t->nbytes);
        merge_into(a, l, tg, m, permuted(a, tg));
        ok = gw_add_tensor(w, t->name, t->n_dims, t->ne, t->type, m, t->nbytes, true);
        free(m);
    }
    ok = ok && gw_write(w, out_gguf, err);
    gw_free(w);
    gguf_close(g);
    return ok;
}

bool lw_merge_hf(const lw_adapter *a, const char *base_dir, const char *out_dir, char *err) {
    mkdir(out_dir, 0755);
    const char *files[] = {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"};
    char p[1024], q[1024];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", base_dir, files[i]);
        snprintf(q, sizeof q, "%s/%s", out_dir, files[i]);
        struct stat sb;
        if (stat(p, &sb) == 0 && !tu_copy(p, q)) return ct_err(err, "cannot copy %s", p);
    }
    snprintf(p, sizeof p, "%s/model.safetensors", base_dir);
    st_model *st = st_open_file(p, err);
    if (!st) return false;
    sw_writer *s = sw_new();
    bool ok = s != NULL;
    for (uint64_t i = 0; ok && i < st_n_tensors(st); i++) {
        const st_tensor *t = st_tensor_at(st, i);
        if (t->type != DT_F32) {
            ok = ct_err(err, "%s: only F32 bases are merged", t->name);
            break;
        }
        float *m = malloc(t->nbytes);
        memcpy(m, t->data, t->nbytes);
        int l, tg;
        if (target_of(t->name, false, &l, &tg) && a->a[l][tg]) merge_into(a, l, tg, m, false);
        ok = sw_add(s, t->name, "F32", t->n_dims, t->shape, m, t->nbytes);
        free(m);
    }
    snprintf(q, sizeof q, "%s/model.safetensors", out_dir);
    ok = ok && sw_write(s, q, err);
    sw_free(s);
    st_close(st);
    return ok;
}
