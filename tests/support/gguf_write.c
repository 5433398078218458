/*
 * gguf_write.c — the GGUF (gw_*) and safetensors (sw_*) writers declared
 * in gguf_write.h, for tests and benchmark tools.
 *
 * GGUF metadata is serialised straight into a byte buffer as it is added
 * (the format is a plain sequence), tensors are kept as a list and laid out
 * at gw_serialize time.  Nothing is validated on purpose: tests use the
 * writer to produce broken files too.
 */
#include "gguf_write.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------- byte buffer */

typedef struct {
    uint8_t *p;
    size_t len, cap;
    bool oom; /* sticky: one check at the end instead of one per put */
} bytes;

static void put(bytes *b, const void *data, size_t n) {
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n) ncap *= 2;
        uint8_t *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes *b, uint64_t v) { put(b, &v, 8); }

static void put_str(bytes *b, const char *s, uint64_t len) {
    put_u64(b, len);
    put(b, s, (size_t)len);
}

static void put_zeros(bytes *b, size_t n) {
    static const uint8_t zeros[64];
    while (n > 0 && !b->oom) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        put(b, zeros, k);
        n -= k;
    }
}

static bool write_file(const char *path, const void *data, size_t len, char *err) {
    FILE *f = fopen(path, "wb");
    if (!f) return ct_err(err, "%s: %s", path, strerror(errno));
    bool ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    return ok ? true : ct_err(err, "%s: write failed", path);
}

/* -------------------------------------------------------------- GGUF */

#define GW_MAX_DIMS 8 /* more than GGUF allows, so broken files can be built */

typedef struct {
    char *name;
    uint32_t n_dims, type;
    uint64_t ne[GW_MAX_DIMS];
    const void *data; /* NULL for raw infos */
    void *owned;      /* private copy when added with copy=true */
    uint64_t nbytes;
    bool raw;
    uint64_t raw_offset;
} gw_tensor;

struct gw_writer {
    uint32_t version, alignment;
    bytes kv;
    uint64_t n_kv;
    gw_tensor *tensors;
    size_t n_tensors, cap;
};

gw_writer *gw_new(void) {
    gw_writer *w = calloc(1, sizeof *w);
    if (w) {
        w->version = 3;
        w->alignment = 32;
    }
    return w;
}

void gw_free(gw_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].owned);
    }
    free(w->tensors);
    free(w->kv.p);
    free(w);
}

void gw_set_version(gw_writer *w, uint32_t version) { w->version = version; }

/* Key and type of one metadata entry; the caller appends the value. */
static void kv_head(gw_writer *w, const char *key, gguf_type type) {
    put_str(&w->kv, key, strlen(key));
    put_u32(&w->kv, (uint32_t)type);
    w->n_kv++;
}

static bool add_scalar(gw_writer *w, const char *key, gguf_type type, const void *v, size_t n) {
    kv_head(w, key, type);
    put(&w->kv, v, n);
    return !w->kv.oom;
}

bool gw_set_alignment(gw_writer *w, uint32_t alignment) {
    w->alignment = alignment;
    return gw_add_u32(w, "general.alignment", alignment);
}

bool gw_add_u8(gw_writer *w, const char *k, uint8_t v) { return add_scalar(w, k, GGUF_T_UINT8, &v, 1); }
bool gw_add_i8(gw_writer *w, const char *k, int8_t v) { return add_scalar(w, k, GGUF_T_INT8, &v, 1); }
bool gw_add_u16(gw_writer *w, const char *k, uint16_t v) { return add_scalar(w, k, GGUF_T_UINT16, &v, 2); }
bool gw_add_i16(gw_writer *w, const char *k, int16_t v) { return add_scalar(w, k, GGUF_T_INT16, &v, 2); }
bool gw_add_u32(gw_writer *w, const char *k, uint32_t v) { return add_scalar(w, k, GGUF_T_UINT32, &v, 4); }
bool gw_add_i32(gw_writer *w, const char *k, int32_t v) { return add_scalar(w, k, GGUF_T_INT32, &v, 4); }
bool gw_add_u64(gw_writer *w, const char *k, uint64_t v) { return add_scalar(w, k, GGUF_T_UINT64, &v, 8); }
bool gw_add_i64(gw_writer *w, const char *k, int64_t v) { return add_scalar(w, k, GGUF_T_INT64, &v, 8); }
bool gw_add_f32(gw_writer *w, const char *k, float v) { return add_scalar(w, k, GGUF_T_FLOAT32, &v, 4); }
bool gw_add_f64(gw_writer *w, const char *k, double v) { return add_scalar(w, k, GGUF_T_FLOAT64, &v, 8); }

bool gw_add_bool(gw_writer *w, const char *k, bool v) {
    uint8_t b = v ? 1 : 0;
    return add_scalar(w, k, GGUF_T_BOOL, &b, 1);
}

bool gw_add_strn(gw_writer *w, const char *key, const char *v, uint64_t len) {
    kv_head(w, key, GGUF_T_STRING);
    put_str(&w->kv, v, len);
    return !w->kv.oom;
}

bool gw_add_str(gw_writer *w, const char *key, const char *v) {
    return gw_add_strn(w, key, v, strlen(v));
}

static size_t elem_size(gguf_type t) {
    switch (t) {
    case GGUF_T_UINT8: case GGUF_T_INT8: case GGUF_T_BOOL: return 1;
    case GGUF_T_UINT16: case GGUF_T_INT16: return 2;
    case GGUF_T_UINT32: case GGUF_T_INT32: case GGUF_T_FLOAT32: return 4;
    default: return 8; /* UINT64 INT64 FLOAT64 */
    }
}

bool gw_add_arr(gw_writer *w, const char *key, gguf_type elem, const void *data, uint64_t n) {
    kv_head(w, key, GGUF_T_ARRAY);
    put_u32(&w->kv, (uint32_t)elem);
    put_u64(&w->kv, n);
    put(&w->kv, data, (size_t)n * elem_size(elem));
    return !w->kv.oom;
}

bool gw_add_arr_str(gw_writer *w, const char *key, const char *const *strs, uint64_t n) {
    kv_head(w, key, GGUF_T_ARRAY);
    put_u32(&w->kv, GGUF_T_STRING);
    put_u64(&w->kv, n);
    for (uint64_t i = 0; i < n; i++) put_str(&w->kv, strs[i], strlen(strs[i]));
    return !w->kv.oom;
}

static gw_tensor *new_tensor(gw_writer *w, const char *name, uint32_t n_dims,
                             const uint64_t *ne, uint32_t type) {
    if (n_dims > GW_MAX_DIMS) return NULL;
    if (w->n_tensors == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 16;
        gw_tensor *nt = realloc(w->tensors, ncap * sizeof *nt);
        if (!nt) return NULL;
        w->tensors = nt;
        w->cap = ncap;
    }
    gw_tensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return NULL;
    t->n_dims = n_dims;
    t->type = type;
    memcpy(t->ne, ne, n_dims * sizeof *ne);
    w->n_tensors++;
    return t;
}

bool gw_add_tensor(gw_writer *w, const char *name, uint32_t n_dims, const uint64_t *ne,
                   uint32_t type, const void *data, uint64_t nbytes, bool copy) {
    gw_tensor *t = new_tensor(w, name, n_dims, ne, type);
    if (!t) return false;
    t->nbytes = nbytes;
    t->data = data;
    if (copy) {
        if (!(t->owned = malloc(nbytes ? (size_t)nbytes : 1))) return false;
        memcpy(t->owned, data, (size_t)nbytes);
        t->data = t->owned;
    }
    return true;
}

bool gw_add_tensor_raw(gw_writer *w, const char *name, uint32_t n_dims, const uint64_t *ne,
                       uint32_t type, uint64_t offset) {
    gw_tensor *t = new_tensor(w, name, n_dims, ne, type);
    if (!t) return false;
    t->raw = true;
    t->raw_offset = offset;
    return true;
}

static uint64_t align_up(uint64_t v, uint64_t a) { return a ? (v + a - 1) / a * a : v; }

uint8_t *gw_serialize(const gw_writer *w, size_t *len_out) {
    bytes b = {0};
    put(&b, "GGUF", 4);
    put_u32(&b, w->version);
    put_u64(&b, w->n_tensors);
    put_u64(&b, w->n_kv);
    put(&b, w->kv.p, w->kv.len);
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_tensors; i++) { /* infos, with offsets laid out */
        const gw_tensor *t = &w->tensors[i];
        put_str(&b, t->name, strlen(t->name));
        put_u32(&b, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(&b, t->ne[d]);
        put_u32(&b, t->type);
        if (t->raw) {
            put_u64(&b, t->raw_offset);
        } else {
            off = align_up(off, w->alignment);
            put_u64(&b, off);
            off += t->nbytes;
        }
    }
    if (w->n_tensors > 0 && !b.oom) { /* (oom would skew the lengths below) */
        size_t data_start = (size_t)align_up(b.len, w->alignment);
        put_zeros(&b, data_start - b.len);
        for (size_t i = 0; i < w->n_tensors; i++) {
            const gw_tensor *t = &w->tensors[i];
            if (t->raw) continue;
            put_zeros(&b, data_start + (size_t)align_up(b.len - data_start, w->alignment) - b.len);
            put(&b, t->data, (size_t)t->nbytes);
        }
    }
    if (b.oom || w->kv.oom) {
        free(b.p);
        return NULL;
    }
    *len_out = b.len;
    return b.p;
}

bool gw_write(const gw_writer *w, const char *path, char *err) {
    size_t len;
    uint8_t *img = gw_serialize(w, &len);
    if (!img) return ct_err(err, "%s: out of memory", path);
    bool ok = write_file(path, img, len, err);
    free(img);
    return ok;
}

/* ------------------------------------------------------- safetensors */

typedef struct {
    char *name, *dtype;
    uint32_t n_dims;
    uint64_t shape[8];
    void *data;
    uint64_t nbytes;
} sw_tensor;

struct sw_writer {
    sw_tensor *t;
    size_t n, cap;
    json_t *meta; /* NULL until sw_add_meta */
};

sw_writer *sw_new(void) { return calloc(1, sizeof(sw_writer)); }

void sw_free(sw_writer *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->t[i].name);
        free(s->t[i].dtype);
        free(s->t[i].data);
    }
    free(s->t);
    json_decref(s->meta);
    free(s);
}

bool sw_add(sw_writer *s, const char *name, const char *dtype, uint32_t n_dims,
            const uint64_t *shape, const void *data, uint64_t nbytes) {
    if (n_dims > 8) return false;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 16;
        sw_tensor *nt = realloc(s->t, ncap * sizeof *nt);
        if (!nt) return false;
        s->t = nt;
        s->cap = ncap;
    }
    sw_tensor *t = &s->t[s->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->dtype = strdup(dtype);
    t->data = malloc(nbytes ? (size_t)nbytes : 1);
    s->n++; /* counted even if incomplete, so sw_free releases it */
    if (!t->name || !t->dtype || !t->data) return false;
    t->n_dims = n_dims;
    if (n_dims) memcpy(t->shape, shape, n_dims * sizeof *shape);
    if (nbytes) memcpy(t->data, data, (size_t)nbytes);
    t->nbytes = nbytes;
    return true;
}

bool sw_add_meta(sw_writer *s, const char *key, const char *value) {
    if (!s->meta && !(s->meta = json_object())) return false;
    return json_object_set_new(s->meta, key, json_string(value)) == 0;
}

/* The JSON header text (malloc'd by jansson), tensors in call order. */
static char *sw_header(const sw_writer *s) {
    json_t *root = json_object();
    if (!root) return NULL;
    if (s->meta) json_object_set(root, "__metadata__", s->meta);
    uint64_t off = 0;
    for (size_t i = 0; i < s->n; i++) {
        const sw_tensor *t = &s->t[i];
        json_t *shape = json_array();
        for (uint32_t d = 0; d < t->n_dims; d++)
            json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
        json_t *e = json_pack("{s:s, s:o, s:[I, I]}", "dtype", t->dtype, "shape", shape,
                              "data_offsets", (json_int_t)off, (json_int_t)(off + t->nbytes));
        json_object_set_new(root, t->name, e);
        off += t->nbytes;
    }
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}

bool sw_write(const sw_writer *s, const char *path, char *err) {
    char *hdr = sw_header(s);
    if (!hdr) return ct_err(err, "%s: cannot build the JSON header", path);
    bytes b = {0};
    uint64_t hlen = strlen(hdr), padded = (hlen + 7) / 8 * 8;
    put_u64(&b, padded);
    put(&b, hdr, (size_t)hlen);
    for (uint64_t i = hlen; i < padded; i++) put(&b, " ", 1);
    for (size_t i = 0; i < s->n; i++) put(&b, s->t[i].data, (size_t)s->t[i].nbytes);
    free(hdr);
    bool ok = !b.oom ? write_file(path, b.p, b.len, err) : ct_err(err, "%s: out of memory", path);
    free(b.p);
    return ok;
}
