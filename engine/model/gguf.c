/*
 * gguf.c — the GGUF v2/v3 reader behind gguf.h: maps the file, validates
 * every byte of the header, metadata and tensor infos, and serves typed
 * accessors over the validated data.
 *
 * Trust model: the file is hostile until gguf_open() returns.  Every count,
 * length and offset read from it is checked against the bytes that remain
 * BEFORE it is used for anything (a read, a loop bound, an allocation), and
 * tables grow only as entries are actually parsed, so a 100-byte file
 * claiming 2^63 keys fails after one key instead of asking malloc for
 * exabytes.  After a successful open the accessors do no bounds checks on
 * file data because everything they touch has been validated.
 *
 * Layout (little-endian):
 *   "GGUF" u32 version, u64 n_tensors, u64 n_kv
 *   n_kv x { string key, u32 type, value }
 *     string = u64 len + bytes; array = u32 elem type, u64 n, n elements
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset }
 *   padding to `alignment`, then tensor data (offsets are relative to it)
 * v1 used 32-bit counts and lengths and is rejected; v2 and v3 are the same
 * for little-endian files (v3 only added big-endian files, also rejected).
 */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dtype.h"

#define GGUF_DEFAULT_ALIGNMENT 32
/* Far above any real model (tens of thousands of tensors, a few hundred
 * keys), low enough that a hostile header cannot make us build huge tables
 * from a file that merely claims them. */
#define GGUF_MAX_ENTRIES (1u << 20)

typedef struct {
    gguf_kv pub;
    const uint8_t **elems; /* string arrays: each element's u64 length field */
} kv_entry;

typedef struct {
    gguf_tensor pub;
    uint64_t offset; /* relative to the start of the data section */
} tensor_entry;

struct gguf_file {
    char *path;
    const uint8_t *base;
    size_t size;
    bool mapped; /* base is our mmap (gguf_open), not the caller's buffer */
    uint32_t version;
    uint32_t alignment;
    uint64_t n_kv, n_tensors;
    kv_entry *kv;
    tensor_entry *tensors;
    const kv_entry **kv_sorted;         /* by key, for gguf_find */
    const tensor_entry **tensor_sorted; /* by name, for gguf_find_tensor */
};

/* Parse state: the cursor plus what error messages need. */
typedef struct {
    const char *path;
    char *err;
    const uint8_t *base;
    size_t size, pos;
} parser;

/* ------------------------------------------------------------ cursor */

static uint64_t remaining(const parser *p) { return p->size - p->pos; }

static bool take(parser *p, uint64_t n, const uint8_t **out) {
    if (n > remaining(p)) return false;
    *out = p->base + p->pos;
    p->pos += n;
    return true;
}

static bool rd_u32(parser *p, uint32_t *v) {
    const uint8_t *b;
    if (!take(p, 4, &b)) return false;
    memcpy(v, b, 4);
    return true;
}

static bool rd_u64(parser *p, uint64_t *v) {
    const uint8_t *b;
    if (!take(p, 8, &b)) return false;
    memcpy(v, b, 8);
    return true;
}

static bool rd_str(parser *p, gguf_str *s) {
    const uint8_t *b;
    uint64_t len;
    if (!rd_u64(p, &len) || !take(p, len, &b)) return false;
    s->ptr = (const char *)b;
    s->len = len;
    return true;
}

/* A printable, bounded copy of file text for error messages: names in a
 * broken file may be long or full of control bytes. */
static const char *shown(const char *s, uint64_t len, char buf[72]) {
    size_t n = len < 64 ? (size_t)len : 64, i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (len > 64) memcpy(buf + i, "...", 4);
    else buf[i] = '\0';
    return buf;
}

/* Grow *arr (element size esz, capacity *cap) to hold at least need. */
static bool grow(void **arr, uint64_t *cap, uint64_t need, size_t esz) {
    if (need <= *cap) return true;
    uint64_t ncap = *cap ? *cap * 2 : 16;
    if (ncap < need) ncap = need;
    void *n = realloc(*arr, (size_t)ncap * esz);
    if (!n) return false;
    memset((char *)n + (size_t)*cap * esz, 0, (size_t)(ncap - *cap) * esz);
    *arr = n;
    *cap = ncap;
    return true;
}

/* --------------------------------------------------------- value types */

const char *gguf_type_name(uint32_t type) {
    static const char *const names[] = {
        "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
        "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"};
    return type < sizeof names / sizeof names[0] ? names[type] : "unknown";
}

/* Byte size of a fixed-size value type; 0 for STRING/ARRAY/unknown. */
static size_t scalar_size(uint32_t type) {
    switch (type) {
    case GGUF_T_UINT8: case GGUF_T_INT8: case GGUF_T_BOOL: return 1;
    case GGUF_T_UINT16: case GGUF_T_INT16: return 2;
    case GGUF_T_UINT32: case GGUF_T_INT32: case GGUF_T_FLOAT32: return 4;
    case GGUF_T_UINT64: case GGUF_T_INT64: case GGUF_T_FLOAT64: return 8;
    default: return 0;
    }
}

/* ------------------------------------------------------------ metadata */

/* The elements of an array value.  Strings are walked one by one (each is
 * length-checked) and indexed so gguf_arr_str is O(1). */
static bool parse_array(parser *p, kv_entry *e, uint64_t idx, const char *key) {
    uint32_t et;
    uint64_t n;
    if (!rd_u32(p, &et) || !rd_u64(p, &n))
        return ct_err(p->err, "%s: truncated while reading metadata key %llu ('%s')", p->path,
                      (unsigned long long)idx, key);
    if (et == GGUF_T_ARRAY || et > GGUF_T_FLOAT64)
        return ct_err(p->err, "%s: metadata key '%s': arrays of %s (type %u) are not supported",
                      p->path, key, gguf_type_name(et), et);
    e->pub.arr_type = (gguf_type)et;
    e->pub.arr_n = n;
    e->pub.data = p->base + p->pos;
    if (et != GGUF_T_STRING) {
        uint64_t bytes;
        const uint8_t *b;
        if (!ct_mul_ok(n, scalar_size(et), &bytes) || !take(p, bytes, &b))
            return ct_err(p->err,
                          "%s: metadata key '%s': array of %llu %s extends past end of file "
                          "(size %zu)", p->path, key, (unsigned long long)n,
                          gguf_type_name(et), p->size);
        return true;
    }
    if (n > remaining(p) / 8) /* every string takes at least its 8-byte length */
        return ct_err(p->err,
                      "%s: metadata key '%s': array of %llu strings cannot fit in the %llu "
                      "bytes left in the file", p->path, key, (unsigned long long)n,
                      (unsigned long long)remaining(p));
    e->elems = malloc((size_t)(n ? n : 1) * sizeof *e->elems);
    if (!e->elems) return ct_err(p->err, "%s: out of memory", p->path);
    for (uint64_t i = 0; i < n; i++) {
        gguf_str s;
        e->elems[i] = p->base + p->pos;
        if (!rd_str(p, &s))
            return ct_err(p->err,
                          "%s: metadata key '%s': string %llu of %llu extends past end of "
                          "file (size %zu)", p->path, key, (unsigned long long)i,
                          (unsigned long long)n, p->size);
    }
    return true;
}

static bool parse_kv(parser *p, kv_entry *e, uint64_t idx) {
    uint32_t type;
    char kb[72];
    if (!rd_str(p, &e->pub.key) || !rd_u32(p, &type))
        return ct_err(p->err, "%s: truncated while reading metadata key %llu", p->path,
                      (unsigned long long)idx);
    const char *key = shown(e->pub.key.ptr, e->pub.key.len, kb);
    if (type > GGUF_T_FLOAT64)
        return ct_err(p->err, "%s: metadata key '%s' has unknown value type %u", p->path, key,
                      type);
    e->pub.type = (gguf_type)type;
    if (type == GGUF_T_ARRAY) return parse_array(p, e, idx, key);
    e->pub.data = p->base + p->pos;
    gguf_str s;
    const uint8_t *b;
    bool ok = type == GGUF_T_STRING ? rd_str(p, &s) : take(p, scalar_size(type), &b);
    if (!ok)
        return ct_err(p->err, "%s: truncated while reading metadata key %llu ('%s')", p->path,
                      (unsigned long long)idx, key);
    return true;
}

static bool parse_metadata(parser *p, gguf_file *f, uint64_t n_kv) {
    /* a key needs >= 8 (length) + 4 (type) + 1 (smallest value) bytes */
    if (n_kv > GGUF_MAX_ENTRIES || n_kv > remaining(p) / 13)
        return ct_err(p->err,
                      "%s: header claims %llu metadata keys, more than the remaining %llu "
                      "bytes can hold (truncated or corrupt file)", p->path,
                      (unsigned long long)n_kv, (unsigned long long)remaining(p));
    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        if (!grow((void **)&f->kv, &cap, i + 1, sizeof *f->kv))
            return ct_err(p->err, "%s: out of memory", p->path);
        f->n_kv = i + 1; /* so gguf_close frees a partially built entry */
        if (!parse_kv(p, &f->kv[i], i)) return false;
    }
    return true;
}

/* ------------------------------------------------------------- tensors */

static bool check_dims(parser *p, gguf_tensor *t, const char *name) {
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX)
            return ct_err(p->err, "%s: tensor '%s' has invalid dimension %u = %llu", p->path,
                          name, d, (unsigned long long)t->ne[d]);
        if (!ct_mul_ok(n, t->ne[d], &n) || n > (uint64_t)INT64_MAX)
            return ct_err(p->err, "%s: tensor '%s' element count overflows", p->path, name);
    }
    for (uint32_t d = t->n_dims; d < 4; d++) t->ne[d] = 1;
    t->n_elems = n;
    if (!dt_known(t->type))
        return ct_err(p->err, "%s: tensor '%s' has unknown type id %u", p->path, name, t->type);
    if (t->ne[0] % dt_block_elems(t->type) != 0)
        return ct_err(p->err,
                      "%s: tensor '%s': row length %llu is not a multiple of the %s block "
                      "size %u", p->path, name, (unsigned long long)t->ne[0],
                      dt_name(t->type), dt_block_elems(t->type));
    if (!dt_bytes(t->type, n, &t->nbytes))
        return ct_err(p->err, "%s: tensor '%s' byte size overflows", p->path, name);
    return true;
}

static bool parse_tensor_info(parser *p, tensor_entry *te, uint64_t idx) {
    gguf_tensor *t = &te->pub;
    gguf_str name;
    char nb[72];
    if (!rd_str(p, &name))
        return ct_err(p->err, "%s: truncated while reading the name of tensor %llu", p->path,
                      (unsigned long long)idx);
    const char *shown_name = shown(name.ptr, name.len, nb);
    if (name.len == 0 || name.len >= sizeof t->name || memchr(name.ptr, 0, name.len))
        return ct_err(p->err,
                      "%s: tensor %llu has an invalid name '%s' (%llu bytes; must be 1..%zu "
                      "bytes without NUL)", p->path, (unsigned long long)idx, shown_name,
                      (unsigned long long)name.len, sizeof t->name - 1);
    memcpy(t->name, name.ptr, name.len);
    t->name[name.len] = '\0';
    bool ok = rd_u32(p, &t->n_dims);
    if (ok && (t->n_dims == 0 || t->n_dims > 4))
        return ct_err(p->err, "%s: tensor '%s' has %u dimensions (must be 1..4)", p->path,
                      t->name, t->n_dims);
    for (uint32_t d = 0; ok && d < t->n_dims; d++) ok = rd_u64(p, &t->ne[d]);
    ok = ok && rd_u32(p, &t->type) && rd_u64(p, &te->offset);
    if (!ok)
        return ct_err(p->err, "%s: truncated while reading tensor info %llu ('%s')", p->path,
                      (unsigned long long)idx, t->name);
    return check_dims(p, t, t->name);
}

static bool parse_tensor_infos(parser *p, gguf_file *f, uint64_t n) {
    /* an info needs >= 8 (name length) + 1 (name) + 4 + 8 (one dim) + 4 + 8 */
    if (n > GGUF_MAX_ENTRIES || n > remaining(p) / 33)
        return ct_err(p->err,
                      "%s: header claims %llu tensors, more than the remaining %llu bytes can "
                      "hold (truncated or corrupt file)", p->path, (unsigned long long)n,
                      (unsigned long long)remaining(p));
    uint64_t cap = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!grow((void **)&f->tensors, &cap, i + 1, sizeof *f->tensors))
            return ct_err(p->err, "%s: out of memory", p->path);
        f->n_tensors = i + 1;
        if (!parse_tensor_info(p, &f->tensors[i], i)) return false;
    }
    return true;
}

/* general.alignment must be a power of two; ggml writes it as UINT32. */
static bool read_alignment(parser *p, gguf_file *f) {
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!gguf_find(f, "general.alignment")) return true;
    uint32_t a;
    if (!gguf_get_u32(f, "general.alignment", &a) || a == 0 || (a & (a - 1)) != 0)
        return ct_err(p->err, "%s: general.alignment must be a power of two (UINT32)", p->path);
    f->alignment = a;
    return true;
}

/* Data section starts at the next multiple of the alignment; every tensor
 * must be aligned and lie entirely inside the file. */
static bool place_tensors(parser *p, gguf_file *f) {
    if (f->n_tensors == 0) return true; /* vocab-only files may end right here */
    uint64_t start = (p->pos + f->alignment - 1) / f->alignment * f->alignment;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        tensor_entry *te = &f->tensors[i];
        uint64_t abs, end;
        if (te->offset % f->alignment != 0)
            return ct_err(p->err,
                          "%s: tensor '%s' data offset %llu is not a multiple of the "
                          "alignment %u", p->path, te->pub.name,
                          (unsigned long long)te->offset, f->alignment);
        if (!ct_add_ok(start, te->offset, &abs) || !ct_add_ok(abs, te->pub.nbytes, &end) ||
            end > p->size)
            return ct_err(p->err,
                          "%s: tensor '%s' data [offset %llu, %llu bytes] extends past end of "
                          "file (size %zu)", p->path, te->pub.name,
                          (unsigned long long)(start + te->offset),
                          (unsigned long long)te->pub.nbytes, p->size);
        te->pub.data = p->base + abs;
    }
    return true;
}

/* -------------------------------------------------------- name indexes */

static int cmp_bytes(const char *a, uint64_t alen, const char *b, uint64_t blen) {
    int c = memcmp(a, b, alen < blen ? (size_t)alen : (size_t)blen);
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

static int cmp_kv(const void *a, const void *b) {
    const gguf_str *x = &(*(const kv_entry *const *)a)->pub.key;
    const gguf_str *y = &(*(const kv_entry *const *)b)->pub.key;
    return cmp_bytes(x->ptr, x->len, y->ptr, y->len);
}

static int cmp_tensor(const void *a, const void *b) {
    return strcmp((*(const tensor_entry *const *)a)->pub.name,
                  (*(const tensor_entry *const *)b)->pub.name);
}

/* Sorted pointer arrays for binary search; sorting also exposes duplicate
 * names as neighbours. */
static bool build_indexes(parser *p, gguf_file *f) {
    f->kv_sorted = malloc((size_t)(f->n_kv + 1) * sizeof *f->kv_sorted);
    f->tensor_sorted = malloc((size_t)(f->n_tensors + 1) * sizeof *f->tensor_sorted);
    if (!f->kv_sorted || !f->tensor_sorted) return ct_err(p->err, "%s: out of memory", p->path);
    for (uint64_t i = 0; i < f->n_kv; i++) f->kv_sorted[i] = &f->kv[i];
    for (uint64_t i = 0; i < f->n_tensors; i++) f->tensor_sorted[i] = &f->tensors[i];
    qsort(f->kv_sorted, (size_t)f->n_kv, sizeof *f->kv_sorted, cmp_kv);
    qsort(f->tensor_sorted, (size_t)f->n_tensors, sizeof *f->tensor_sorted, cmp_tensor);
    char kb[72];
    for (uint64_t i = 1; i < f->n_kv; i++)
        if (cmp_kv(&f->kv_sorted[i - 1], &f->kv_sorted[i]) == 0) {
            const gguf_str *k = &f->kv_sorted[i]->pub.key;
            return ct_err(p->err, "%s: duplicate metadata key '%s'", p->path,
                          shown(k->ptr, k->len, kb));
        }
    for (uint64_t i = 1; i < f->n_tensors; i++)
        if (cmp_tensor(&f->tensor_sorted[i - 1], &f->tensor_sorted[i]) == 0)
            return ct_err(p->err, "%s: duplicate tensor name '%s'", p->path,
                          f->tensor_sorted[i]->pub.name);
    return true;
}

/* ---------------------------------------------------------------- open */

static bool parse_header(parser *p, gguf_file *f, uint64_t *n_tensors, uint64_t *n_kv) {
    const uint8_t *magic;
    if (!take(p, 4, &magic))
        return ct_err(p->err, "%s: not a GGUF file (only %zu bytes)", p->path, p->size);
    if (memcmp(magic, "GGUF", 4) != 0)
        return ct_err(p->err, "%s: not a GGUF file (bad magic)", p->path);
    if (!rd_u32(p, &f->version))
        return ct_err(p->err, "%s: truncated while reading the header", p->path);
    uint32_t v = f->version;
    if (v == 1)
        return ct_err(p->err, "%s: GGUF version 1 is not supported (only versions 2 and 3); "
                      "re-convert the model with a current llama.cpp", p->path);
    uint32_t swapped = __builtin_bswap32(v);
    if (swapped >= 2 && swapped <= 3) /* v3 allows big-endian files */
        return ct_err(p->err, "%s: big-endian GGUF files are not supported", p->path);
    if (v != 2 && v != 3)
        return ct_err(p->err, "%s: unsupported GGUF version %u (only versions 2 and 3)",
                      p->path, v);
    if (!rd_u64(p, n_tensors) || !rd_u64(p, n_kv))
        return ct_err(p->err, "%s: truncated while reading the header", p->path);
    return true;
}

static gguf_file *open_image(const uint8_t *base, size_t size, bool mapped, const char *path,
                             char *err) {
    gguf_file *f = calloc(1, sizeof *f);
    char *path_copy = strdup(path);
    if (!f || !path_copy) {
        free(f);
        free(path_copy);
        if (mapped) munmap((void *)base, size);
        ct_err(err, "%s: out of memory", path);
        return NULL;
    }
    f->path = path_copy;
    f->base = base;
    f->size = size;
    f->mapped = mapped;
    parser p = {.path = path, .err = err, .base = base, .size = size, .pos = 0};
    uint64_t n_tensors = 0, n_kv = 0;
    bool ok = parse_header(&p, f, &n_tensors, &n_kv) && parse_metadata(&p, f, n_kv) &&
              parse_tensor_infos(&p, f, n_tensors) && build_indexes(&p, f) &&
              read_alignment(&p, f) && place_tensors(&p, f);
    if (!ok) {
        gguf_close(f);
        return NULL;
    }
    return f;
}

gguf_file *gguf_open_mem(const void *data, size_t size, const char *name, char *err) {
    return open_image(data, size, false, name ? name : "<memory>", err);
}

gguf_file *gguf_open(const char *path, char *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ct_err(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ct_err(err, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    void *map = NULL;
    if (size > 0) { /* mmap of 0 bytes fails; the parser reports the short file */
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            ct_err(err, "%s: mmap failed: %s", path, strerror(errno));
            close(fd);
            return NULL;
        }
    }
    close(fd); /* the mapping keeps the file alive */
    return open_image(map, size, size > 0, path, err);
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    for (uint64_t i = 0; i < f->n_kv; i++) free(f->kv[i].elems);
    free(f->kv);
    free(f->tensors);
    free(f->kv_sorted);
    free(f->tensor_sorted);
    if (f->mapped) munmap((void *)f->base, f->size);
    free(f->path);
    free(f);
}

/* ----------------------------------------------------------- accessors */

uint32_t gguf_version(const gguf_file *f) { return f->version; }
const char *gguf_path(const gguf_file *f) { return f->path; }
uint64_t gguf_n_kv(const gguf_file *f) { return f->n_kv; }
uint64_t gguf_n_tensors(const gguf_file *f) { return f->n_tensors; }

const gguf_kv *gguf_kv_at(const gguf_file *f, uint64_t i) {
    return i < f->n_kv ? &f->kv[i].pub : NULL;
}

const gguf_tensor *gguf_tensor_at(const gguf_file *f, uint64_t i) {
    return i < f->n_tensors ? &f->tensors[i].pub : NULL;
}

static const kv_entry *find_entry(const gguf_file *f, const char *key) {
    if (!f->kv_sorted) return NULL;
    size_t klen = strlen(key), lo = 0, hi = (size_t)f->n_kv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gguf_str *k = &f->kv_sorted[mid]->pub.key;
        int c = cmp_bytes(key, klen, k->ptr, k->len);
        if (c == 0) return f->kv_sorted[mid];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

const gguf_kv *gguf_find(const gguf_file *f, const char *key) {
    const kv_entry *e = find_entry(f, key);
    return e ? &e->pub : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    size_t lo = 0, hi = (size_t)f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->tensor_sorted[mid]->pub.name);
        if (c == 0) return &f->tensor_sorted[mid]->pub;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

/* One numeric value.  Integers are kept as sign + magnitude so every u64
 * and every i64 is represented exactly. */
typedef struct {
    bool is_float, neg;
    uint64_t mag;
    double f;
} num;

static bool load_num(uint32_t type, const uint8_t *p, num *n) {
    memset(n, 0, sizeof *n);
    int64_t s = 0;
    switch (type) {
    case GGUF_T_UINT8: case GGUF_T_BOOL: n->mag = p[0]; return true;
    case GGUF_T_INT8: s = (int8_t)p[0]; break;
    case GGUF_T_UINT16: { uint16_t v; memcpy(&v, p, 2); n->mag = v; return true; }
    case GGUF_T_INT16: { int16_t v; memcpy(&v, p, 2); s = v; break; }
    case GGUF_T_UINT32: { uint32_t v; memcpy(&v, p, 4); n->mag = v; return true; }
    case GGUF_T_INT32: { int32_t v; memcpy(&v, p, 4); s = v; break; }
    case GGUF_T_UINT64: memcpy(&n->mag, p, 8); return true;
    case GGUF_T_INT64: memcpy(&s, p, 8); break;
    case GGUF_T_FLOAT32: { float v; memcpy(&v, p, 4); n->f = v; n->is_float = true; return true; }
    case GGUF_T_FLOAT64: memcpy(&n->f, p, 8); n->is_float = true; return true;
    default: return false;
    }
    n->neg = s < 0;
    n->mag = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
    return true;
}

static bool num_i64(const num *n, int64_t *out) {
    if (n->is_float) return false;
    if (n->neg) {
        if (n->mag > (uint64_t)INT64_MAX + 1) return false;
        *out = n->mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)n->mag;
    } else {
        if (n->mag > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)n->mag;
    }
    return true;
}

static float num_f32(const num *n) {
    if (n->is_float) return (float)n->f;
    return n->neg ? -(float)n->mag : (float)n->mag;
}

static bool scalar(const gguf_file *f, const char *key, num *n) {
    const kv_entry *e = find_entry(f, key);
    return e && load_num(e->pub.type, e->pub.data, n);
}

bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out) {
    num n;
    if (!scalar(f, key, &n) || n.is_float || n.neg || n.mag > UINT32_MAX) return false;
    *out = (uint32_t)n.mag;
    return true;
}

bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out) {
    num n;
    return scalar(f, key, &n) && num_i64(&n, out);
}

bool gguf_get_f32(const gguf_file *f, const char *key, float *out) {
    num n;
    if (!scalar(f, key, &n)) return false;
    *out = num_f32(&n);
    return true;
}

/* BOOL (any nonzero byte is true), or an integer that is 0 or 1. */
bool gguf_get_bool(const gguf_file *f, const char *key, bool *out) {
    const kv_entry *e = find_entry(f, key);
    num n;
    if (!e || !load_num(e->pub.type, e->pub.data, &n) || n.is_float) return false;
    if (e->pub.type != GGUF_T_BOOL && (n.neg || n.mag > 1)) return false;
    *out = n.mag != 0;
    return true;
}

static void str_at(const uint8_t *p, gguf_str *out) {
    memcpy(&out->len, p, 8);
    out->ptr = (const char *)p + 8;
}

bool gguf_get_str(const gguf_file *f, const char *key, gguf_str *out) {
    const kv_entry *e = find_entry(f, key);
    if (!e || e->pub.type != GGUF_T_STRING) return false;
    str_at(e->pub.data, out);
    return true;
}

char *gguf_get_strdup(const gguf_file *f, const char *key) {
    gguf_str s;
    if (!gguf_get_str(f, key, &s)) return NULL;
    char *r = malloc((size_t)s.len + 1);
    if (!r) return NULL;
    memcpy(r, s.ptr, (size_t)s.len);
    r[s.len] = '\0';
    return r;
}

bool gguf_get_arr(const gguf_file *f, const char *key, gguf_type *type, uint64_t *n) {
    const kv_entry *e = find_entry(f, key);
    if (!e || e->pub.type != GGUF_T_ARRAY) return false;
    if (type) *type = e->pub.arr_type;
    if (n) *n = e->pub.arr_n;
    return true;
}

bool gguf_arr_str(const gguf_file *f, const char *key, uint64_t i, gguf_str *out) {
    const kv_entry *e = find_entry(f, key);
    if (!e || e->pub.type != GGUF_T_ARRAY || e->pub.arr_type != GGUF_T_STRING ||
        i >= e->pub.arr_n)
        return false;
    str_at(e->elems[i], out);
    return true;
}

const void *gguf_arr_data(const gguf_file *f, const char *key) {
    const kv_entry *e = find_entry(f, key);
    if (!e || e->pub.type != GGUF_T_ARRAY || e->pub.arr_type == GGUF_T_STRING) return NULL;
    return e->pub.data;
}

static bool arr_num(const gguf_file *f, const char *key, uint64_t i, num *n) {
    const kv_entry *e = find_entry(f, key);
    if (!e || e->pub.type != GGUF_T_ARRAY || i >= e->pub.arr_n) return false;
    size_t es = scalar_size(e->pub.arr_type);
    return es && load_num(e->pub.arr_type, e->pub.data + i * es, n);
}

bool gguf_arr_i64(const gguf_file *f, const char *key, uint64_t i, int64_t *out) {
    num n;
    return arr_num(f, key, i, &n) && num_i64(&n, out);
}

bool gguf_arr_f32(const gguf_file *f, const char *key, uint64_t i, float *out) {
    num n;
    if (!arr_num(f, key, i, &n)) return false;
    *out = num_f32(&n);
    return true;
}
