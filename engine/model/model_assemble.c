/*
 * model_assemble.c — the weights of a model, whatever its file format:
 * every tensor found by its canonical (GGUF) name through the format's
 * weight_source, its shape and type checked, vectors converted to f32,
 * matrices kept in their file's type and packed for the kernels, and the
 * architecture's variations resolved into one layer_weights layout:
 *   - interleaved-RoPE q/k rows (GGUF llama) moved into rotate-half order;
 *   - fused projections split by row maps: attn_qkv into wq/wk/wv (rows
 *     q|k|v, or per kv group in HF's neox/bloom/falcon/bigcode layouts),
 *     phi3's ffn_up of 2*ffn rows into gate and up; biases likewise;
 *   - HF Conv1D matrices (gpt2, stored (in, out)) transposed;
 *   - HF gemma's RMSNorm gains w stored, 1 + w used;
 *   - falcon's norms: attn_norm_2 (40B layout) feeds attention, attn_norm
 *     the MLP; without it (7B) both read attn_norm;
 *   - optional biases, norms of the output head, learned positions;
 *   - T5: the encoder stack (enc.blk.N.*, enc.output_norm) beside the
 *     decoder's (dec.blk.N.*, with cross_attn_*), out-projections named
 *     attn_o, the relative position bias of layer 0 shared by the later
 *     layers that have none of their own.
 *
 * Each F16/BF16/quantized matrix is repacked once into the group layout of
 * the products (the same bytes, reordered; rows picked by a row map move
 * whole), all of them into one arena (2 MiB aligned, huge pages
 * requested: mm_alloc; packed on several threads), and its pages of the
 * read-only file mapping are then dropped (madvise DONTNEED: they leave
 * the resident set; the page cache may keep the file, reclaimable).  So
 * resident memory is one copy of the weights at the file's size.  F32
 * matrices are converted into matmul.h's packed panels the same way.  The
 * token (and position) embedding is read a row at a time straight from the
 * mapping (only the rows of tokens seen become resident); a tied output
 * head is a packed copy of it.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dtype.h"
#include "kernels/matmul.h"
#include "kernels/wmat.h"
#include "model_load.h"

/* ---- row maps -------------------------------------------------------------- */

/* Undoing GGUF's interleaved-RoPE row order of a head-major q/k matrix or
 * bias: row n (Hugging Face order) is file row map[n] — file row 2j+t of a
 * head holds row t*(hd/2)+j.  Rows move whole, so quantized rows need no
 * conversion (wmat_pack takes the map) and f32 ones are gathered. */
static int *unpermute_map(int N, int n_heads) {
    int *map = malloc((size_t)N * sizeof *map), hd = N / n_heads, half = hd / 2;
    if (!map) return NULL;
    for (int h = 0; h < n_heads; h++)
        for (int j = 0; j < half; j++)
            for (int t = 0; t < 2; t++) map[h * hd + t * half + j] = h * hd + 2 * j + t;
    return map;
}

/* Rows [r0, r0 + n) of a tensor. */
static int *range_map(int r0, int n) {
    int *map = malloc((size_t)n * sizeof *map);
    for (int i = 0; map && i < n; i++) map[i] = r0 + i;
    return map;
}

/* Part `part` (0 q, 1 k, 2 v) of a fused qkv of n_heads query and n_kv
 * key/value heads of hd rows.  Concatenated: q rows, then k, then v.
 * Grouped: per kv group g, its qpg query heads, then its k head, then its
 * v head; query head h belongs to group h / qpg. */
static int *qkv_map(int part, int n_heads, int n_kv, int hd, bool grouped) {
    int q = n_heads * hd, kv = n_kv * hd, qpg = n_heads / n_kv, n = part == 0 ? q : kv;
    if (!grouped) return range_map(part == 0 ? 0 : part == 1 ? q : q + kv, n);
    int *map = malloc((size_t)n * sizeof *map);
    for (int r = 0; map && r < n; r++) {
        int head = r / hd, g = part == 0 ? head / qpg : head;
        int in_group = part == 0 ? head % qpg : qpg + part - 1;
        map[r] = (g * (qpg + 2) + in_group) * hd + r % hd;
    }
    return map;
}

/* dst row n = src row map[n] (map NULL: n), for n rows of row_bytes. */
static void gather_rows(const void *src, size_t row_bytes, const int *map, int n, void *dst) {
    for (int i = 0; i < n; i++)
        memcpy((uint8_t *)dst + (size_t)i * row_bytes, (const uint8_t *)src + (size_t)(map ? map[i] : i) * row_bytes,
               row_bytes);
}

/* ---- the loader ---------------------------------------------------------------- */

/* One typed matrix to repack (wmat_pack), its destination already
 * allocated: the packing of all of them runs on several threads at the end
 * of the load (pack_all). */
typedef struct {
    uint32_t type;
    int N, K;
    const uint8_t *src;     /* the source rows */
    int *map;               /* row map (owned) or NULL */
    const uint8_t *release; /* file pages dropped after packing (NULL: none) */
    size_t release_bytes;
    size_t offset;          /* of the packed matrix in the weight arena */
    wmat *out;              /* where the model holds it */
} pack_job;

typedef struct {
    model *m;
    const weight_source *src;
    char *err;
    uint64_t type_params[DT_COUNT]; /* matrix parameters by type (m->dtype) */
    pack_job *jobs;
    int n_jobs, cap_jobs;
    size_t arena_bytes; /* the typed matrices together, each 64-byte aligned */
    void **scratch;     /* transposed copies, read by pack jobs, freed with the loader */
    int n_scratch, cap_scratch;
    const char *blk;      /* the layers' name prefix: "blk" (T5: "enc.blk", "dec.blk") */
    const char *attn_out; /* the attention out-projection: "attn_output" (T5: "attn_o") */
} loader;

static void loader_free(loader *L) {
    for (int i = 0; i < L->n_jobs; i++) free(L->jobs[i].map);
    free(L->jobs);
    for (int i = 0; i < L->n_scratch; i++) free(L->scratch[i]);
    free(L->scratch);
}

/* Looks tensor `name` up and checks its shape (rows, cols) — rows = 0 for
 * a vector.  False if absent (err set unless optional) or misshapen. */
static bool find_tensor(loader *L, const char *name, uint64_t rows, uint64_t cols, bool optional, wsrc *w,
                        bool *present) {
    memset(w, 0, sizeof *w);
    if (present) *present = false;
    if (!L->src->find(L->src->ctx, name, w)) {
        /* the source names the tensor in its own convention when it can */
        if (!optional) ct_err(L->err, "%s: missing tensor '%s'", L->m->path, w->name[0] ? w->name : name);
        return false;
    }
    if (present) *present = true;
    uint64_t n = 1;
    for (uint32_t i = 0; i < w->n_dims; i++) n *= w->ne[i];
    uint64_t e0 = w->transposed ? rows : cols, e1 = w->transposed ? cols : rows; /* expected ne[0], ne[1] */
    bool shape_ok = rows ? (w->n_dims == 2 && w->ne[0] == e0 && w->ne[1] == e1) : (n == cols && w->ne[0] == cols);
    if (!shape_ok)
        return ct_err(L->err, "tensor '%s' has shape [%llu, %llu], expected [%llu, %llu]", w->name,
                      (unsigned long long)(w->n_dims > 1 ? w->ne[1] : 1), (unsigned long long)w->ne[0],
                      (unsigned long long)(rows ? e1 : 1), (unsigned long long)e0);
    return true;
}

static bool present(loader *L, const char *name) {
    wsrc w;
    memset(&w, 0, sizeof w);
    return L->src->find(L->src->ctx, name, &w);
}

/* Vector `name` of src_n values, as f32: n of them, entry i = value map[i]
 * (map NULL: the first n in order); gain: an RMSNorm gain the source may
 * store as w for 1 + w.  NULL if absent (err set unless optional). */
static float *load_vec(loader *L, const char *name, uint64_t src_n, uint64_t n, const int *map, bool optional,
                       bool gain) {
    wsrc w;
    if (!find_tensor(L, name, 0, src_n, optional, &w, NULL)) return NULL;
    if (!dt_convertible(w.type)) {
        ct_err(L->err, "tensor '%s' has unsupported type %s", w.name, dt_name(w.type));
        return NULL;
    }
    L->m->n_params += n;
    float *all = malloc(src_n * sizeof(float)), *buf = model_own(L->m, malloc(n * sizeof(float)));
    if (!all || !buf) {
        free(all);
        ct_err(L->err, "out of memory converting '%s'", w.name);
        return NULL;
    }
    if (!dt_to_f32(w.type, w.data, all, src_n)) {
        free(all);
        ct_err(L->err, "tensor '%s': conversion from %s failed", w.name, dt_name(w.type));
        return NULL;
    }
    gather_rows(all, sizeof(float), map, (int)n, buf);
    free(all);
    if (gain && L->src->norm_plus_one)
        for (uint64_t i = 0; i < n; i++) buf[i] += 1.0f;
    return buf;
}

static float *opt_vec(loader *L, const char *name, uint64_t n) { return load_vec(L, name, n, n, NULL, true, false); }

/* Drops the pages wholly inside [p, p + bytes) of a read-only file mapping
 * from the resident set (the data was copied; nothing reads it again: a
 * later read of a page shared with a part still to be packed re-reads the
 * file). */
static void release_mapped(const void *p, size_t bytes) {
    if (!p) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)p, e = a + bytes;
    uintptr_t lo = (a + page - 1) / page * page, hi = e / page * page;
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_DONTNEED); /* advice: failure only costs memory */
}

/* HF Conv1D: the stored (cols, rows) matrix as a (rows, cols) copy (float
 * types only: a quantized block cannot be transposed); w then points at it. */
static bool transpose_source(loader *L, wsrc *w, int N, int K) {
    size_t es = w->type == DT_F32 ? 4 : (w->type == DT_F16 || w->type == DT_BF16) ? 2 : 0;
    if (!es) return ct_err(L->err, "tensor '%s': a transposed (Conv1D) matrix of type %s", w->name, dt_name(w->type));
    uint8_t *t = malloc((size_t)N * K * es);
    if (L->n_scratch == L->cap_scratch) {
        int cap = L->cap_scratch ? 2 * L->cap_scratch : 16;
        void **s = realloc(L->scratch, (size_t)cap * sizeof *s);
        if (s) L->scratch = s, L->cap_scratch = cap;
    }
    if (!t || L->n_scratch == L->cap_scratch) {
        free(t);
        return ct_err(L->err, "out of memory transposing '%s'", w->name);
    }
    const uint8_t *s = w->data; /* s[k][n] -> t[n][k] */
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++) memcpy(t + ((size_t)n * K + k) * es, s + ((size_t)k * N + n) * es, es);
    release_mapped(w->data, (size_t)N * K * es);
    L->scratch[L->n_scratch++] = t;
    w->data = t;
    w->transposed = false;
    w->copied = true;
    return true;
}

static bool add_job(loader *L) {
    if (L->n_jobs < L->cap_jobs) return true;
    int cap = L->cap_jobs ? 2 * L->cap_jobs : 64;
    pack_job *j = realloc(L->jobs, (size_t)cap * sizeof *j);
    if (!j) return false;
    L->jobs = j;
    L->cap_jobs = cap;
    return true;
}

typedef struct {
    loader *L;
    atomic_int next;
} pack_run;

/* Takes jobs until none is left: pack, then drop the file's pages. */
static void *pack_worker(void *arg) {
    pack_run *r = arg;
    for (int i; (i = atomic_fetch_add(&r->next, 1)) < r->L->n_jobs;) {
        const pack_job *j = &r->L->jobs[i];
        wmat_pack(j->type, j->N, j->K, j->src, j->map, (uint8_t *)j->out->data);
        release_mapped(j->release, j->release_bytes);
    }
    return NULL;
}

/* Packs every queued matrix into one arena, on up to one thread per core (8 at most): the
 * load is bound by moving the bytes and by the kernel zeroing the new
 * pages, which both scale with threads (a 1.1 GB Q8_0 file: 3.7 s on one
 * thread).  Threads that cannot start leave their share to the others. */
static bool pack_all(loader *L) {
    if (!L->n_jobs) return true;
    /* one allocation for all of them: huge pages round it up once, not
     * once per matrix (~150 MB on a 22-layer model) */
    uint8_t *arena = model_own(L->m, mm_alloc(L->arena_bytes));
    if (!arena) return ct_err(L->err, "out of memory: %.2f GB of weights", L->arena_bytes / 1e9);
    for (int i = 0; i < L->n_jobs; i++) L->jobs[i].out->data = arena + L->jobs[i].offset;
    pack_run r = {L, 0};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int n = (int)(cpus < 1 ? 1 : cpus > 8 ? 8 : cpus);
    if (n > L->n_jobs) n = L->n_jobs;
    pthread_t t[8];
    int started = 0;
    for (int i = 1; i < n; i++)
        if (pthread_create(&t[started], NULL, pack_worker, &r) == 0) started++;
    pack_worker(&r);
    for (int i = 0; i < started; i++) pthread_join(t[i], NULL);
    return true;
}

/* Rows map[0, N) (NULL: 0..N-1) of the found matrix w (K columns, type
 * checked) as a packed (N, K) matrix; takes ownership of map.  The file
 * rows read are dropped from memory once packed unless keep_mapping (the
 * embedding of a tied head is read again) or they are a transposed copy. */
static bool pack_rows(loader *L, const wsrc *w, int N, int K, int *map, bool keep_mapping, wmat *out) {
    uint64_t row_bytes = 0;
    dt_bytes(w->type, (uint64_t)K, &row_bytes);
    int lo = 0, hi = N; /* the source rows read, for the release */
    if (map) {
        lo = hi = map[0];
        for (int i = 0; i < N; i++) lo = map[i] < lo ? map[i] : lo, hi = map[i] + 1 > hi ? map[i] + 1 : hi;
    }
    const uint8_t *rel = keep_mapping || w->copied ? NULL : (const uint8_t *)w->data + (size_t)lo * row_bytes;
    if (w->type == DT_F32) { /* matmul.h's panels, packed now (rows copied out of any alignment) */
        float *rows = malloc((size_t)N * K * sizeof(float));
        float *packed = model_own(L->m, mm_alloc(mm_packed_size(N, K) * sizeof(float)));
        if (!rows || !packed) {
            free(rows);
            free(map);
            return ct_err(L->err, "out of memory loading '%s'", w->name);
        }
        gather_rows(w->data, (size_t)K * sizeof(float), map, N, rows);
        free(map);
        mm_pack(rows, N, K, packed);
        free(rows);
        *out = (wmat){DT_F32, N, K, (const uint8_t *)packed};
        release_mapped(rel, (size_t)(hi - lo) * row_bytes);
        return true;
    }
    size_t bytes = wmat_bytes(w->type, N, K);
    if (!bytes) {
        free(map);
        return ct_err(L->err, "tensor '%s': rows of %d values of type %s are not a multiple of %d", w->name, K,
                      dt_name(w->type), WM_QB);
    }
    if (!add_job(L)) {
        free(map);
        return ct_err(L->err, "out of memory loading '%s'", w->name);
    }
    L->jobs[L->n_jobs++] = (pack_job){w->type, N, K, w->data, map, rel, (size_t)(hi - lo) * row_bytes,
                                      L->arena_bytes, out};
    L->arena_bytes += (bytes + 63) / 64 * 64;
    *out = (wmat){w->type, N, K, NULL}; /* data: pack_all */
    return true;
}

/* Matrix `name` of src_rows x K found, its type checked and its parameters
 * counted; transposed into a copy when the source stores it so. */
static bool find_matrix(loader *L, const char *name, int src_rows, int K, bool optional, wsrc *w, bool *found) {
    if (!find_tensor(L, name, (uint64_t)src_rows, (uint64_t)K, optional, w, found)) return false;
    uint64_t row_bytes = 0;
    if (!dt_bytes(w->type, (uint64_t)K, &row_bytes))
        return ct_err(L->err, "tensor '%s': type %s cannot hold rows of %d values (block size %u)", w->name,
                      dt_name(w->type), K, dt_block_elems(w->type));
    if (w->type != DT_F32 && !wmat_supported(w->type))
        return ct_err(L->err, "tensor '%s' has type %s, which ctgi does not compute with (supported: F32 F16 "
                      "BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL)", w->name, dt_name(w->type));
    L->m->n_params += (uint64_t)src_rows * K;
    if (w->type < DT_COUNT) L->type_params[w->type] += (uint64_t)src_rows * K;
    return !w->transposed || transpose_source(L, w, src_rows, K);
}

/* Matrix `name` (N, K) in its file's type; permute_heads > 0: q/k rows of
 * that many heads to un-permute when the source interleaves them.
 * keep_mapping: its file pages are still read afterwards. */
static bool load_matrix(loader *L, const char *name, int N, int K, int permute_heads, bool optional,
                        bool keep_mapping, wmat *out, bool *found) {
    wsrc w;
    if (!find_matrix(L, name, N, K, optional, &w, found)) return false;
    int *map = NULL;
    if (permute_heads > 0 && L->src->qk_interleaved && !(map = unpermute_map(N, permute_heads)))
        return ct_err(L->err, "out of memory loading '%s'", w.name);
    return pack_rows(L, &w, N, K, map, keep_mapping, out);
}

/* One matrix stored as parts of a bigger one: rows maps[i] of `name`
 * (src_rows, K) into outs[i] (rows[i] rows each). */
static bool load_split(loader *L, const char *name, int src_rows, int K, int n, int *const *maps, const int *rows,
                       wmat *const *outs) {
    wsrc w;
    bool ok = find_matrix(L, name, src_rows, K, false, &w, NULL);
    for (int i = 0; i < n; i++) {
        if (ok && !maps[i]) ok = ct_err(L->err, "out of memory loading '%s'", name);
        if (ok) ok = pack_rows(L, &w, rows[i], K, maps[i], false, outs[i]);
        else free(maps[i]);
    }
    return ok;
}

/* ---- one layer ------------------------------------------------------------------- */

/* Layer l's tensor `suffix` in the stack being loaded ("blk.3.attn_q.weight";
 * T5: "enc.blk.3..." / "dec.blk.3..."). */
#define BLK(L, buf, l, suffix) (snprintf(buf, sizeof buf, "%s.%d.%s", (L)->blk, l, suffix), buf)

/* The block's input norms.  Sequential blocks: attn_norm, then ffn_norm.
 * Parallel blocks read both from the same x: gptneox has attn_norm and
 * ffn_norm; falcon-7B one attn_norm for both (ffn_norm NULL); falcon-40B
 * attn_norm_2 for attention and attn_norm for the MLP. */
static bool load_norms(loader *L, int l, layer_weights *w) {
    const model_config *c = &L->m->cfg;
    char n[96];
    if (!(w->attn_norm = load_vec(L, BLK(L, n, l, "attn_norm.weight"), c->dim, c->dim, NULL, false, true)))
        return false;
    w->attn_norm_b = opt_vec(L, BLK(L, n, l, "attn_norm.bias"), c->dim);
    if (arch_get(c->arch)->attn_norm_2) {
        if (!present(L, BLK(L, n, l, "attn_norm_2.weight"))) return true; /* 7B: one norm for both branches */
        w->ffn_norm = w->attn_norm;
        w->ffn_norm_b = w->attn_norm_b;
        w->attn_norm = load_vec(L, n, c->dim, c->dim, NULL, false, true);
        w->attn_norm_b = opt_vec(L, BLK(L, n, l, "attn_norm_2.bias"), c->dim);
        return w->attn_norm != NULL;
    }
    if (!(w->ffn_norm = load_vec(L, BLK(L, n, l, "ffn_norm.weight"), c->dim, c->dim, NULL, false, true))) return false;
    w->ffn_norm_b = opt_vec(L, BLK(L, n, l, "ffn_norm.bias"), c->dim);
    if (arch_get(c->arch)->post_norms &&
        (!(w->post_attn_norm = load_vec(L, BLK(L, n, l, "post_attention_norm.weight"), c->dim, c->dim, NULL, false,
                                        true)) ||
         !(w->post_ffn_norm = load_vec(L, BLK(L, n, l, "post_ffw_norm.weight"), c->dim, c->dim, NULL, false, true))))
        return false;
    return true;
}

/* q, k, v: separate matrices (q/k un-permuted for interleaved RoPE), or one
 * fused attn_qkv split into them; biases when the file has them (required
 * where the architecture says so). */
static bool load_qkv(loader *L, int l, layer_weights *w) {
    const model_config *c = &L->m->cfg;
    int hd = c->head_dim, q = c->n_heads * hd, kv = c->n_kv_heads * hd;
    bool need_bias = arch_get(c->arch)->qkv_bias, grouped = L->src->qkv_grouped;
    char n[96];
    if (present(L, BLK(L, n, l, "attn_qkv.weight"))) {
        int *maps[3], rows[3] = {q, kv, kv};
        wmat *outs[3] = {&w->wq, &w->wk, &w->wv};
        for (int i = 0; i < 3; i++) maps[i] = qkv_map(i, c->n_heads, c->n_kv_heads, hd, grouped);
        if (!load_split(L, n, q + 2 * kv, c->dim, 3, maps, rows, outs)) return false;
        if (!present(L, BLK(L, n, l, "attn_qkv.bias"))) return need_bias ? ct_err(L->err, "missing tensor '%s'", n) : true;
        float **dst[3] = {&w->bq, &w->bk, &w->bv};
        for (int i = 0; i < 3; i++) {
            int *map = qkv_map(i, c->n_heads, c->n_kv_heads, hd, grouped);
            if (!map) return ct_err(L->err, "out of memory");
            *dst[i] = load_vec(L, n, (uint64_t)(q + 2 * kv), (uint64_t)rows[i], map, false, false);
            free(map);
            if (!*dst[i]) return false;
        }
        return true;
    }
    const struct { wmat *dst; float **bias; const char *m, *b; int rows, perm; } P[] = {
        {&w->wq, &w->bq, "attn_q.weight", "attn_q.bias", q, c->n_heads},
        {&w->wk, &w->bk, "attn_k.weight", "attn_k.bias", kv, c->n_kv_heads},
        {&w->wv, &w->bv, "attn_v.weight", "attn_v.bias", kv, 0},
    };
    for (int i = 0; i < 3; i++) {
        if (!load_matrix(L, BLK(L, n, l, P[i].m), P[i].rows, c->dim, P[i].perm, false, false, P[i].dst, NULL))
            return false;
        int *map = P[i].perm > 0 && L->src->qk_interleaved ? unpermute_map(P[i].rows, P[i].perm) : NULL;
        bool opt = !need_bias;
        *P[i].bias = load_vec(L, BLK(L, n, l, P[i].b), (uint64_t)P[i].rows, (uint64_t)P[i].rows, map, opt, false);
        free(map);
        if (!*P[i].bias && !opt) return false;
    }
    return true;
}

/* The MLP's matrices: gate and up (gated), or a fused up of 2*ffn rows
 * (gate first: phi3), or up alone (FFN_GELU); then down; biases optional. */
static bool load_ffn(loader *L, int l, layer_weights *w) {
    const model_config *c = &L->m->cfg;
    int f = c->ffn_dim;
    char n[96];
    bool gated = c->ffn != FFN_GELU && c->ffn != FFN_RELU;
    if (gated && !model_is_encdec(c) && !present(L, BLK(L, n, l, "ffn_gate.weight"))) {
        int *maps[2] = {range_map(0, f), range_map(f, f)}, rows[2] = {f, f};
        wmat *outs[2] = {&w->w_gate, &w->w_up};
        if (!load_split(L, BLK(L, n, l, "ffn_up.weight"), 2 * f, c->dim, 2, maps, rows, outs)) return false;
        if (present(L, BLK(L, n, l, "ffn_up.bias"))) { /* gate's f values, then up's */
            int *mu = range_map(f, f);
            if (!mu) return ct_err(L->err, "out of memory");
            w->b_gate = load_vec(L, n, 2 * (uint64_t)f, f, NULL, false, false);
            w->b_up = w->b_gate ? load_vec(L, n, 2 * (uint64_t)f, f, mu, false, false) : NULL;
            free(mu);
            if (!w->b_up) return false;
        }
    } else {
        if (gated && !load_matrix(L, BLK(L, n, l, "ffn_gate.weight"), f, c->dim, 0, false, false, &w->w_gate, NULL))
            return false;
        if (gated) w->b_gate = opt_vec(L, BLK(L, n, l, "ffn_gate.bias"), f);
        if (!load_matrix(L, BLK(L, n, l, "ffn_up.weight"), f, c->dim, 0, false, false, &w->w_up, NULL)) return false;
        w->b_up = opt_vec(L, BLK(L, n, l, "ffn_up.bias"), f);
    }
    if (!load_matrix(L, BLK(L, n, l, "ffn_down.weight"), c->dim, f, 0, false, false, &w->w_down, NULL)) return false;
    w->b_down = opt_vec(L, BLK(L, n, l, "ffn_down.bias"), c->dim);
    return true;
}

static bool load_layer(loader *L, int l, layer_weights *w) {
    const model_config *c = &L->m->cfg;
    char n[96];
    if (!load_norms(L, l, w) || !load_qkv(L, l, w)) return false;
    if (c->qk_norm &&
        (!(w->q_norm = load_vec(L, BLK(L, n, l, "attn_q_norm.weight"), c->head_dim, c->head_dim, NULL, false, true)) ||
         !(w->k_norm = load_vec(L, BLK(L, n, l, "attn_k_norm.weight"), c->head_dim, c->head_dim, NULL, false, true))))
        return false;
    char sfx[64];
    snprintf(sfx, sizeof sfx, "%s.weight", L->attn_out);
    if (!load_matrix(L, BLK(L, n, l, sfx), c->dim, c->n_heads * c->head_dim, 0, false, false, &w->wo, NULL))
        return false;
    snprintf(sfx, sizeof sfx, "%s.bias", L->attn_out);
    w->bo = opt_vec(L, BLK(L, n, l, sfx), c->dim);
    return load_ffn(L, l, w);
}

/* ---- T5 ------------------------------------------------------------------------------ */

/* A small f32 table (rows, cols) (T5's relative bias: buckets x heads), or
 * NULL: absent (err set unless optional) or misshapen. */
static float *load_table(loader *L, const char *name, int rows, int cols, bool optional) {
    wsrc w;
    if (!find_tensor(L, name, (uint64_t)rows, (uint64_t)cols, optional, &w, NULL)) return NULL;
    size_t n = (size_t)rows * cols;
    float *buf = model_own(L->m, malloc(n * sizeof(float)));
    if (!buf) {
        ct_err(L->err, "out of memory converting '%s'", w.name);
        return NULL;
    }
    if (w.transposed || !dt_convertible(w.type) || !dt_to_f32(w.type, w.data, buf, n)) {
        ct_err(L->err, "tensor '%s' has unsupported type %s", w.name, dt_name(w.type));
        return NULL;
    }
    L->m->n_params += n;
    return buf;
}

/* Layer l of a T5 stack: its relative position bias (its own attn_rel_b,
 * which layer 0 must have; later layers without one use layer 0's, as
 * transformers' T5 and llama.cpp do, and umt5 gives every layer its own),
 * and in the decoder the cross-attention's norm and projections. */
static bool load_t5_extras(loader *L, int l, layer_weights *w, const layer_weights *first, bool decoder) {
    const model_config *c = &L->m->cfg;
    int q = c->n_heads * c->head_dim, kv = c->n_kv_heads * c->head_dim;
    char n[96];
    const float *own = load_table(L, BLK(L, n, l, "attn_rel_b.weight"), c->rel_buckets, c->n_heads, l > 0);
    if (!own && (l == 0 || L->err[0])) return false;
    w->rel_bias = own ? own : first->rel_bias;
    if (!decoder) return true;
    const struct { wmat *dst; const char *name; int rows, cols; } P[] = {
        {&w->wq_cross, "cross_attn_q", q, c->dim}, {&w->wk_cross, "cross_attn_k", kv, c->dim},
        {&w->wv_cross, "cross_attn_v", kv, c->dim}, {&w->wo_cross, NULL, c->dim, q},
    };
    if (!(w->cross_norm = load_vec(L, BLK(L, n, l, "cross_attn_norm.weight"), c->dim, c->dim, NULL, false, true)))
        return false;
    for (int i = 0; i < 4; i++) {
        char sfx[64];
        if (P[i].name) snprintf(sfx, sizeof sfx, "%s.weight", P[i].name);
        else snprintf(sfx, sizeof sfx, "cross_%s.weight", L->attn_out);
        if (!load_matrix(L, BLK(L, n, l, sfx), P[i].rows, P[i].cols, 0, false, false, P[i].dst, NULL)) return false;
    }
    return true;
}

/* Every layer of one T5 stack (prefix "enc.blk" or "dec.blk"). */
static bool load_t5_stack(loader *L, const char *prefix, layer_weights *ws, int n_layers, bool decoder) {
    L->blk = prefix;
    for (int l = 0; l < n_layers; l++)
        if (!load_layer(L, l, &ws[l]) || !load_t5_extras(L, l, &ws[l], &ws[0], decoder)) return false;
    return true;
}

/* ---- embeddings and head ------------------------------------------------------------ */

/* An embedding table (rows, dim) read a row at a time from the file. */
static bool load_rows(loader *L, const char *name, int rows, const uint8_t **data, uint32_t *type, size_t *row_bytes) {
    model *m = L->m;
    wsrc w;
    if (!find_tensor(L, name, (uint64_t)rows, (uint64_t)m->cfg.dim, false, &w, NULL)) return false;
    uint64_t rb = 0;
    if (!dt_bytes(w.type, (uint64_t)m->cfg.dim, &rb))
        return ct_err(L->err, "tensor '%s': type %s cannot hold rows of %d values", w.name, dt_name(w.type),
                      m->cfg.dim);
    if (!dt_convertible(w.type)) return ct_err(L->err, "tensor '%s' has unsupported type %s", w.name, dt_name(w.type));
    if (w.transposed) return ct_err(L->err, "tensor '%s': a transposed embedding", w.name);
    *data = w.data;
    *type = w.type;
    *row_bytes = rb;
    m->n_params += (uint64_t)rows * m->cfg.dim;
    return true;
}

/* Learned absolute positions: as many rows as the file has (the context
 * is cut to them: no row, no position). */
static bool load_positions(loader *L) {
    model *m = L->m;
    wsrc w;
    memset(&w, 0, sizeof w);
    if (!L->src->find(L->src->ctx, "position_embd.weight", &w))
        return ct_err(L->err, "%s: missing tensor '%s'", m->path, w.name[0] ? w.name : "position_embd.weight");
    uint64_t rows = w.n_dims == 2 ? w.ne[1] : 0;
    if (rows < 1 || rows > (1u << 24))
        return ct_err(L->err, "tensor '%s' has shape [%llu, %llu], expected [positions, %d]", w.name,
                      (unsigned long long)rows, (unsigned long long)w.ne[0], m->cfg.dim);
    m->n_pos_embd = (int)rows;
    if (m->cfg.ctx_len > m->n_pos_embd) m->cfg.ctx_len = m->n_pos_embd;
    return load_rows(L, "position_embd.weight", m->n_pos_embd, &m->pos_embd, &m->pos_embd_type,
                     &m->pos_embd_row_bytes);
}

/* "Q4_K+Q6_K": the matrices' types, most parameters first. */
static char *type_summary(const loader *L) {
    char buf[128] = "";
    bool used[DT_COUNT] = {false};
    for (;;) {
        int best = -1;
        for (int t = 0; t < DT_COUNT; t++)
            if (!used[t] && L->type_params[t] && (best < 0 || L->type_params[t] > L->type_params[best])) best = t;
        if (best < 0) break;
        used[best] = true;
        size_t len = strlen(buf);
        snprintf(buf + len, sizeof buf - len, "%s%s", len ? "+" : "", dt_name((uint32_t)best));
    }
    return strdup(buf[0] ? buf : "F32");
}

/* The output head: its own matrix, or (tied, or none stored) a packed
 * copy of the embedding, whose file rows stay for lookups. */
static bool load_head(loader *L) {
    model *m = L->m;
    model_config *c = &m->cfg;
    const char *norm = model_is_encdec(c) ? "dec.output_norm" : "output_norm";
    char n[64];
    snprintf(n, sizeof n, "%s.weight", norm);
    if (!(m->out_norm = load_vec(L, n, c->dim, c->dim, NULL, false, true))) return false;
    snprintf(n, sizeof n, "%s.bias", norm);
    m->out_norm_b = opt_vec(L, n, c->dim);
    bool found = false;
    if (!c->tied_output && !load_matrix(L, "output.weight", c->vocab, c->dim, 0, true, false, &m->output, &found) &&
        found)
        return false;
    if (found) return true;
    if (!load_matrix(L, "token_embd.weight", c->vocab, c->dim, 0, false, true, &m->output, NULL)) return false;
    m->n_params -= (uint64_t)c->vocab * c->dim; /* counted once, as the embedding */
    c->tied_output = true;
    return true;
}

/* Finds, checks and converts every tensor; typed matrices are queued. */
static bool assemble(loader *L) {
    model *m = L->m;
    model_config *c = &m->cfg;
    if (!load_rows(L, "token_embd.weight", c->vocab, &m->tok_embd, &m->tok_embd_type, &m->tok_embd_row_bytes))
        return false;
    if (c->pos == POS_LEARNED && !load_positions(L)) return false;
    if (arch_get(c->arch)->embd_norm &&
        (!(m->embd_norm = load_vec(L, "token_embd_norm.weight", c->dim, c->dim, NULL, false, true)) ||
         !(m->embd_norm_b = load_vec(L, "token_embd_norm.bias", c->dim, c->dim, NULL, false, false))))
        return false;
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) return ct_err(L->err, "out of memory");
    if (model_is_encdec(c)) {
        L->attn_out = "attn_o";
        if (!(m->enc_layers = calloc((size_t)c->n_enc_layers, sizeof *m->enc_layers)))
            return ct_err(L->err, "out of memory");
        if (!load_t5_stack(L, "enc.blk", m->enc_layers, c->n_enc_layers, false) ||
            !(m->enc_out_norm = load_vec(L, "enc.output_norm.weight", c->dim, c->dim, NULL, false, true)) ||
            !load_t5_stack(L, "dec.blk", m->layers, c->n_layers, true))
            return false;
    } else {
        for (int l = 0; l < c->n_layers; l++)
            if (!load_layer(L, l, &m->layers[l])) return false;
    }
    if (!load_head(L)) return false;
    free(m->dtype);
    m->dtype = type_summary(L);
    return m->dtype != NULL || ct_err(L->err, "out of memory");
}

bool model_assemble(model *m, const weight_source *src, char *err) {
    loader L = {.m = m, .src = src, .err = err, .blk = "blk", .attn_out = "attn_output"};
    err[0] = '\0';
    bool ok = assemble(&L) && pack_all(&L);
    loader_free(&L);
    return ok;
}
