/*
 * safetensors.c — the safetensors reader behind safetensors.h: maps one
 * file or every shard of a model.safetensors.index.json, validates each
 * header (JSON parsed with jansson) and serves lookups by tensor name.
 *
 * File layout: u64 little-endian N, N bytes of JSON header, then the data
 * section.  The header maps each tensor name to
 *   {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
 * (offsets relative to the data section), plus an optional "__metadata__"
 * object of strings, which we ignore.  As with GGUF, every length and
 * offset from the file is checked before it is used.
 *
 * Tensor order (st_tensor_at): shards by file name, then data offset, so it
 * is the same on every run whatever order the JSON objects iterate in.
 */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dtype.h"

/* The safetensors format itself caps the header at 100 MB. */
#define ST_MAX_HEADER (100u << 20)
#define ST_MAX_DIMS 8

typedef struct {
    char *path;
    const uint8_t *base;
    size_t size;
} st_shard;

typedef struct {
    st_tensor pub;
    uint32_t shard;
} st_entry;

struct st_model {
    st_shard *shards;
    uint32_t n_shards;
    st_entry *tensors;
    uint64_t n_tensors, cap;
    const st_entry **by_name; /* sorted by name, for st_find */
};

/* ------------------------------------------------------------- helpers */

static bool map_file(const char *path, const uint8_t **base, size_t *size, char *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ct_err(err, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ct_err(err, "%s: not a regular file", path);
    }
    *size = (size_t)st.st_size;
    *base = NULL;
    if (*size > 0) {
        void *m = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            close(fd);
            return ct_err(err, "%s: mmap failed: %s", path, strerror(errno));
        }
        *base = m;
    }
    close(fd);
    return true;
}

typedef struct {
    const char *name;
    uint32_t type;
} st_dtype;

/* safetensors dtype names that have an engine type.  U8 and BOOL (and the
 * unsigned/FP8 types) have no ggml counterpart and are rejected. */
static const st_dtype k_dtypes[] = {
    {"F32", DT_F32}, {"F16", DT_F16}, {"BF16", DT_BF16}, {"F64", DT_F64},
    {"I8", DT_I8},   {"I16", DT_I16}, {"I32", DT_I32},   {"I64", DT_I64},
};

static bool lookup_dtype(const char *name, uint32_t *type) {
    for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; i++)
        if (strcmp(k_dtypes[i].name, name) == 0) {
            *type = k_dtypes[i].type;
            return true;
        }
    return false;
}

/* A JSON integer that is >= 0 (jansson stores json_int_t = long long). */
static bool json_u64(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* ------------------------------------------------------ header parsing */

static bool parse_shape(const char *path, const char *name, const json_t *shape, st_tensor *t,
                        char *err) {
    if (!json_is_array(shape))
        return ct_err(err, "%s: tensor '%s': \"shape\" is missing or not an array", path, name);
    size_t rank = json_array_size(shape);
    if (rank > ST_MAX_DIMS)
        return ct_err(err, "%s: tensor '%s' has %zu dimensions (at most %d supported)", path,
                      name, rank, ST_MAX_DIMS);
    t->n_dims = (uint32_t)rank;
    t->n_elems = 1; /* rank 0 is a scalar */
    for (size_t d = 0; d < rank; d++) {
        if (!json_u64(json_array_get(shape, d), &t->shape[d]))
            return ct_err(err, "%s: tensor '%s': shape[%zu] is not a non-negative integer",
                          path, name, d);
        if (!ct_mul_ok(t->n_elems, t->shape[d], &t->n_elems))
            return ct_err(err, "%s: tensor '%s' element count overflows", path, name);
    }
    return true;
}

/* Fill t from one header entry; data/dsize is this file's data section. */
static bool parse_entry(const char *path, const char *name, const json_t *v,
                        const uint8_t *data, uint64_t dsize, st_tensor *t, char *err) {
    if (!json_is_object(v))
        return ct_err(err, "%s: header entry '%s' is not an object", path, name);
    const json_t *dt = json_object_get(v, "dtype");
    if (!json_is_string(dt))
        return ct_err(err, "%s: tensor '%s': \"dtype\" is missing or not a string", path, name);
    if (!lookup_dtype(json_string_value(dt), &t->type))
        return ct_err(err, "%s: tensor '%s' has unsupported dtype '%s' (supported: F32 F16 "
                      "BF16 F64 I8 I16 I32 I64)", path, name, json_string_value(dt));
    if (!parse_shape(path, name, json_object_get(v, "shape"), t, err)) return false;
    if (!dt_bytes(t->type, t->n_elems, &t->nbytes))
        return ct_err(err, "%s: tensor '%s' byte size overflows", path, name);
    const json_t *offs = json_object_get(v, "data_offsets");
    uint64_t begin, end;
    if (!json_is_array(offs) || json_array_size(offs) != 2 ||
        !json_u64(json_array_get(offs, 0), &begin) || !json_u64(json_array_get(offs, 1), &end))
        return ct_err(err, "%s: tensor '%s': \"data_offsets\" must be [begin, end] with "
                      "non-negative integers", path, name);
    if (begin > end || end > dsize)
        return ct_err(err, "%s: tensor '%s' data_offsets [%llu, %llu] are outside the data "
                      "section (%llu bytes)", path, name, (unsigned long long)begin,
                      (unsigned long long)end, (unsigned long long)dsize);
    if (end - begin != t->nbytes)
        return ct_err(err, "%s: tensor '%s' occupies %llu bytes but %s x %llu elements need "
                      "%llu", path, name, (unsigned long long)(end - begin),
                      json_string_value(dt), (unsigned long long)t->n_elems,
                      (unsigned long long)t->nbytes);
    t->data = data + begin;
    return true;
}

static bool add_entry(st_model *m, char *err, const char *path, st_entry **out) {
    if (m->n_tensors == m->cap) {
        uint64_t ncap = m->cap ? m->cap * 2 : 64;
        st_entry *n = realloc(m->tensors, (size_t)ncap * sizeof *n);
        if (!n) return ct_err(err, "%s: out of memory", path);
        m->tensors = n;
        m->cap = ncap;
    }
    *out = &m->tensors[m->n_tensors];
    memset(*out, 0, sizeof **out);
    return true;
}

static bool parse_entries(st_model *m, uint32_t si, json_t *root, const uint8_t *data,
                          uint64_t dsize, char *err) {
    const char *path = m->shards[si].path, *name;
    json_t *v;
    json_object_foreach(root, name, v) {
        if (strcmp(name, "__metadata__") == 0) continue;
        st_entry *e = NULL;
        if (!add_entry(m, err, path, &e) ||
            !parse_entry(path, name, v, data, dsize, &e->pub, err))
            return false;
        e->shard = si;
        if (!(e->pub.name = strdup(name))) return ct_err(err, "%s: out of memory", path);
        m->n_tensors++;
    }
    return true;
}

/* Validate shard si (already mapped) and append its tensors. */
static bool parse_shard(st_model *m, uint32_t si, char *err) {
    const st_shard *s = &m->shards[si];
    uint64_t hlen;
    if (s->size < 8)
        return ct_err(err, "%s: not a safetensors file (only %zu bytes)", s->path, s->size);
    memcpy(&hlen, s->base, 8);
    if (hlen > s->size - 8)
        return ct_err(err, "%s: header length %llu extends past end of file (size %zu)",
                      s->path, (unsigned long long)hlen, s->size);
    if (hlen > ST_MAX_HEADER)
        return ct_err(err, "%s: header length %llu exceeds the 100 MB limit", s->path,
                      (unsigned long long)hlen);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)s->base + 8, (size_t)hlen, JSON_REJECT_DUPLICATES,
                              &jerr);
    if (!root)
        return ct_err(err, "%s: header is not valid JSON: %s (line %d, column %d)", s->path,
                      jerr.text, jerr.line, jerr.column);
    bool ok = json_is_object(root);
    if (!ok) ct_err(err, "%s: header is not a JSON object", s->path);
    ok = ok && parse_entries(m, si, root, s->base + 8 + hlen, s->size - 8 - hlen, err);
    json_decref(root);
    return ok;
}

/* --------------------------------------------------------------- model */

static int cmp_order(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    if (x->shard != y->shard) return x->shard < y->shard ? -1 : 1;
    const uint8_t *px = x->pub.data, *py = y->pub.data;
    return px < py ? -1 : px > py;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const st_entry *const *)a)->pub.name,
                  (*(const st_entry *const *)b)->pub.name);
}

/* Sort, build the name index, reject names that appear twice (which can
 * only happen across shards: JSON_REJECT_DUPLICATES covers one header). */
static bool finish(st_model *m, char *err) {
    /* qsort's array must not be NULL even when empty (a header with no tensors) */
    if (m->n_tensors > 1) qsort(m->tensors, (size_t)m->n_tensors, sizeof *m->tensors, cmp_order);
    m->by_name = malloc((size_t)(m->n_tensors + 1) * sizeof *m->by_name);
    if (!m->by_name) return ct_err(err, "%s: out of memory", m->shards[0].path);
    for (uint64_t i = 0; i < m->n_tensors; i++) m->by_name[i] = &m->tensors[i];
    if (m->n_tensors > 1) qsort(m->by_name, (size_t)m->n_tensors, sizeof *m->by_name, cmp_name);
    for (uint64_t i = 1; i < m->n_tensors; i++)
        if (cmp_name(&m->by_name[i - 1], &m->by_name[i]) == 0)
            return ct_err(err, "tensor '%s' appears in both %s and %s", m->by_name[i]->pub.name,
                          m->shards[m->by_name[i - 1]->shard].path,
                          m->shards[m->by_name[i]->shard].path);
    return true;
}

/* Map and parse shard files paths[0..n) (paths are taken over). */
static st_model *open_shards(char **paths, uint32_t n, char *err) {
    st_model *m = calloc(1, sizeof *m);
    if (m) m->shards = calloc(n, sizeof *m->shards);
    if (!m || !m->shards) {
        for (uint32_t i = 0; i < n; i++) free(paths[i]);
        if (m) free(m);
        ct_err(err, "out of memory");
        return NULL;
    }
    m->n_shards = n;
    for (uint32_t i = 0; i < n; i++) m->shards[i].path = paths[i];
    bool ok = true;
    for (uint32_t i = 0; ok && i < n; i++)
        ok = map_file(m->shards[i].path, &m->shards[i].base, &m->shards[i].size, err) &&
             parse_shard(m, i, err);
    if (!ok || !finish(m, err)) {
        st_close(m);
        return NULL;
    }
    return m;
}

st_model *st_open_file(const char *path, char *err) {
    char *p = strdup(path);
    if (!p) {
        ct_err(err, "%s: out of memory", path);
        return NULL;
    }
    return open_shards(&p, 1, err);
}

void st_close(st_model *m) {
    if (!m) return;
    for (uint64_t i = 0; i < m->n_tensors; i++) free((char *)m->tensors[i].pub.name);
    free(m->tensors);
    free(m->by_name);
    for (uint32_t i = 0; i < m->n_shards; i++) {
        if (m->shards[i].base) munmap((void *)m->shards[i].base, m->shards[i].size);
        free(m->shards[i].path);
    }
    free(m->shards);
    free(m);
}

/* ------------------------------------------------------- sharded index */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Distinct shard file names of a weight_map, sorted (borrowed from the
 * JSON).  Names must be plain file names in the same directory. */
static bool shard_names(const char *ipath, json_t *wmap, const char ***out, uint32_t *n,
                        char *err) {
    size_t cnt = json_object_size(wmap), k = 0;
    const char **names = malloc((cnt ? cnt : 1) * sizeof *names);
    if (!names) return ct_err(err, "%s: out of memory", ipath);
    const char *tname;
    json_t *v;
    json_object_foreach(wmap, tname, v) {
        const char *f = json_string_value(v);
        if (!f || !*f || strchr(f, '/') || strcmp(f, "..") == 0 || strcmp(f, ".") == 0) {
            free(names);
            return ct_err(err, "%s: weight_map entry '%s' is not a shard file name", ipath,
                          tname);
        }
        names[k++] = f;
    }
    qsort(names, k, sizeof *names, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || strcmp(names[u - 1], names[i]) != 0) names[u++] = names[i];
    *out = names;
    *n = (uint32_t)u;
    return true;
}

/* Every weight_map entry must name a tensor its shard really holds. */
static bool check_weight_map(const st_model *m, const char *ipath, json_t *wmap, char *err) {
    const char *tname;
    json_t *v;
    json_object_foreach(wmap, tname, v) {
        const st_tensor *t = st_find(m, tname);
        const char *want = json_string_value(v);
        const char *have = t ? m->shards[((const st_entry *)t)->shard].path : NULL;
        const char *base = have ? strrchr(have, '/') : NULL;
        base = base ? base + 1 : have;
        if (!t || strcmp(base, want) != 0)
            return ct_err(err, "%s: weight_map puts tensor '%s' in %s, but that shard does not "
                          "contain it", ipath, tname, want);
    }
    return true;
}

static st_model *open_index(const char *dir, const char *ipath, char *err) {
    json_error_t jerr;
    json_t *root = json_load_file(ipath, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        ct_err(err, "%s: not valid JSON: %s (line %d)", ipath, jerr.text, jerr.line);
        return NULL;
    }
    json_t *wmap = json_object_get(root, "weight_map");
    const char **names = NULL;
    uint32_t n = 0;
    st_model *m = NULL;
    if (!json_is_object(wmap) || json_object_size(wmap) == 0)
        ct_err(err, "%s: missing or empty \"weight_map\" object", ipath);
    else if (shard_names(ipath, wmap, &names, &n, err)) {
        char **paths = calloc(n, sizeof *paths);
        bool ok = paths != NULL;
        for (uint32_t i = 0; ok && i < n; i++)
            if (asprintf(&paths[i], "%s/%s", dir, names[i]) < 0) {
                paths[i] = NULL; /* asprintf leaves it undefined on failure */
                ok = false;
            }
        char sub[CT_ERRLEN];
        if (!ok) {
            for (uint32_t i = 0; paths && i < n; i++) free(paths[i]);
            ct_err(err, "%s: out of memory", ipath);
        } else if (!(m = open_shards(paths, n, sub))) {
            ct_err(err, "%s: while opening its shards: %s", ipath, sub);
        } else if (!check_weight_map(m, ipath, wmap, err)) {
            st_close(m);
            m = NULL;
        }
        free(paths);
    }
    free(names);
    json_decref(root);
    return m;
}

st_model *st_open_dir(const char *dir, char *err) {
    char *single = NULL, *index = NULL;
    st_model *m = NULL;
    struct stat st;
    if (asprintf(&single, "%s/model.safetensors", dir) < 0) single = NULL;
    if (asprintf(&index, "%s/model.safetensors.index.json", dir) < 0) index = NULL;
    if (!single || !index) ct_err(err, "%s: out of memory", dir);
    else if (stat(single, &st) == 0) m = st_open_file(single, err);
    else if (stat(index, &st) == 0) m = open_index(dir, index, err);
    else ct_err(err, "%s: neither model.safetensors nor model.safetensors.index.json found", dir);
    free(single);
    free(index);
    return m;
}

/* ----------------------------------------------------------- accessors */

uint64_t st_n_tensors(const st_model *m) { return m->n_tensors; }

const st_tensor *st_tensor_at(const st_model *m, uint64_t i) {
    return i < m->n_tensors ? &m->tensors[i].pub : NULL;
}

const st_tensor *st_find(const st_model *m, const char *name) {
    size_t lo = 0, hi = (size_t)m->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, m->by_name[mid]->pub.name);
        if (c == 0) return &m->by_name[mid]->pub;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}
