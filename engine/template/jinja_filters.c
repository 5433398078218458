/*
 * jinja_filters.c — the scalar and string filters, and filter dispatch.
 *
 * Owns Jinja2 3.1's builtin filters as chat templates use them (trim,
 * upper, title, default, replace, int, round, indent, truncate, urlencode,
 * tojson, ...), with the transformers `tojson` (json.dumps with its
 * ensure_ascii, indent, separators and sort_keys, and no HTML escaping).
 * Sequence filters (sort, map, select, groupby, ...) and tests are in
 * jinja_select.c, wordwrap in jinja_wrap.c.  Case mapping goes through utf8proc so non-ASCII
 * text behaves like Python's str methods (minus special casings like ß).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "jinja_internal.h"

const jv *jarg(const jargs *a, size_t i, const char *name) {
    for (size_t k = 0; name && k < a->nkw; k++)
        if (jname_is(a->kwn[k], a->kwnl[k], name)) return &a->kwv[k];
    return i < a->npos ? &a->pos[i] : NULL;
}

bool jf_items(jrender *, jv, const jargs *, jv *); /* jinja_select.c */

/* ---- case mapping ----------------------------------------------------- */

typedef enum { CASE_UPPER, CASE_LOWER, CASE_CAPITALIZE, CASE_TITLE_JINJA, CASE_TITLE_PY } case_mode;

static bool jinja_word_sep(int32_t c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || c == ' ' || c == '\t' ||
           c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool jcase(jrender *r, jv v, int mode, jv *out);
bool jcase(jrender *r, jv v, int mode, jv *out) {
    if (v.k != JV_STR && !jv_to_str(r, v, &v)) return false;
    jbuf b = jr_buf(r);
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)v.s.p;
    utf8proc_ssize_t left = (utf8proc_ssize_t)v.s.n;
    bool start = true;   /* at a word start (title) / string start (capitalize) */
    while (left > 0) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(p, left, &c);
        if (k <= 0) { jb_put(&b, (const char *)p, 1); p++, left--; continue; } /* keep bad bytes */
        int32_t o = c;
        switch (mode) {
        case CASE_UPPER: o = utf8proc_toupper(c); break;
        case CASE_LOWER: o = utf8proc_tolower(c); break;
        case CASE_CAPITALIZE: o = start ? utf8proc_toupper(c) : utf8proc_tolower(c); start = false; break;
        case CASE_TITLE_JINJA:
            o = start ? utf8proc_toupper(c) : utf8proc_tolower(c);
            start = jinja_word_sep(c);
            break;
        default: { /* Python str.title: a cased char after an uncased one starts a word */
            bool cased = utf8proc_tolower(c) != c || utf8proc_toupper(c) != c;
            o = start ? utf8proc_toupper(c) : utf8proc_tolower(c);
            start = !cased;
        }
        }
        utf8proc_uint8_t enc[4];
        jb_put(&b, (const char *)enc, (size_t)utf8proc_encode_char(o, enc));
        p += k, left -= k;
    }
    return jv_from_buf(r, &b, out);
}

/* ---- strip, replace, indent ------------------------------------------- */

static bool py_space(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

static bool strippable(char c, const jv *chars) {
    return chars ? memchr(chars->s.p, c, chars->s.n) != NULL : py_space((unsigned char)c);
}

/* Python str.strip/lstrip/rstrip(chars): which = 1 left, 2 right, 3 both. */
bool jstrip(jrender *r, jv v, const jv *chars, int which, jv *out);
bool jstrip(jrender *r, jv v, const jv *chars, int which, jv *out) {
    if (v.k != JV_STR && !jv_to_str(r, v, &v)) return false;
    bool custom = chars && chars->k == JV_STR;
    if (chars && !custom && chars->k != JV_NONE && chars->k != JV_UNDEF)
        return jr_fail(r, "strip arg must be None or str");
    size_t a = 0, b = v.s.n;
    /* chars are matched bytewise; fine for the ASCII sets templates use */
    if (which & 1) while (a < b && strippable(v.s.p[a], custom ? chars : NULL)) a++;
    if (which & 2) while (b > a && strippable(v.s.p[b - 1], custom ? chars : NULL)) b--;
    *out = jv_str(v.s.p + a, b - a);
    return true;
}

bool jreplace(jrender *r, jv s, jv old, jv new, int64_t count, jv *out);
bool jreplace(jrender *r, jv s, jv old, jv new, int64_t count, jv *out) {
    if (s.k != JV_STR && !jv_to_str(r, s, &s)) return false;
    if ((old.k != JV_STR && !jv_to_str(r, old, &old)) || (new.k != JV_STR && !jv_to_str(r, new, &new))) return false;
    jbuf b = jr_buf(r);
    size_t i = 0;
    int64_t done = 0;
    if (old.s.n == 0) { /* Python inserts `new` around every character */
        while (i <= s.s.n && (count < 0 || done < count)) {
            jb_put(&b, new.s.p, new.s.n), done++;
            if (i == s.s.n) { i++; break; }
            size_t j = i + 1;
            while (j < s.s.n && ((unsigned char)s.s.p[j] & 0xC0) == 0x80) j++;
            jb_put(&b, s.s.p + i, j - i);
            i = j;
        }
        if (i <= s.s.n) jb_put(&b, s.s.p + i, s.s.n - i);
        return jv_from_buf(r, &b, out);
    }
    while (count < 0 || done < count) {
        const char *hit = memmem(s.s.p + i, s.s.n - i, old.s.p, old.s.n);
        if (!hit) break;
        size_t at = (size_t)(hit - s.s.p);
        jb_put(&b, s.s.p + i, at - i);
        jb_put(&b, new.s.p, new.s.n);
        i = at + old.s.n, done++;
    }
    jb_put(&b, s.s.p + i, s.s.n - i);
    return jv_from_buf(r, &b, out);
}

static bool f_indent(jrender *r, jv v, const jargs *a, jv *out) {
    const jv *w = jarg(a, 0, "width"), *first = jarg(a, 1, "first"), *blank = jarg(a, 2, "blank");
    char pad_buf[256];
    const char *pad = pad_buf;
    size_t padn;
    if (w && w->k == JV_STR) pad = w->s.p, padn = w->s.n;
    else {
        int64_t n = w ? (w->k == JV_INT ? w->i : -1) : 4;
        if (n < 0 || n > 255) return jr_fail(r, "indent: width must be a string or an integer 0..255");
        memset(pad_buf, ' ', (size_t)n), padn = (size_t)n;
    }
    if (v.k != JV_STR && !jv_to_str(r, v, &v)) return false;
    jbuf b = jr_buf(r);
    if (first && jv_truthy(*first)) jb_put(&b, pad, padn);
    /* Jinja2 appends "\n" and splits lines; blank lines get no indent
     * unless blank=True; the first line never does. */
    size_t i = 0;
    bool line0 = true;
    while (i <= v.s.n) {
        size_t j = i;
        while (j < v.s.n && v.s.p[j] != '\n' && v.s.p[j] != '\r') j++;
        if (!line0 && (j > i || (blank && jv_truthy(*blank)))) jb_put(&b, pad, padn);
        jb_put(&b, v.s.p + i, j - i);
        if (j >= v.s.n) break;
        jb_putc(&b, '\n');
        j += (v.s.p[j] == '\r' && j + 1 < v.s.n && v.s.p[j + 1] == '\n') ? 2 : 1;
        i = j, line0 = false;
        if (i == v.s.n) { /* the "\n" Jinja2 appends makes one empty last line */
            if (blank && jv_truthy(*blank)) jb_put(&b, pad, padn);
            break;
        }
    }
    return jv_from_buf(r, &b, out);
}

/* ---- numbers ---------------------------------------------------------- */

/* Python int(str): optional sign, digits with single underscores, spaces around. */
static bool parse_int(const char *p, size_t n, int64_t *out) {
    size_t i = 0;
    while (i < n && py_space((unsigned char)p[i])) i++;
    while (n > i && py_space((unsigned char)p[n - 1])) n--;
    bool neg = false;
    if (i < n && (p[i] == '+' || p[i] == '-')) neg = p[i++] == '-';
    if (i >= n) return false;
    int64_t v = 0;
    for (; i < n; i++) {
        if (p[i] == '_' && i + 1 < n && p[i + 1] != '_' && i > 0 && p[i - 1] >= '0' && p[i - 1] <= '9') continue;
        if (p[i] < '0' || p[i] > '9') return false;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, p[i] - '0', &v)) return false;
    }
    *out = neg ? -v : v;
    return true;
}

static bool parse_float(const char *p, size_t n, double *out) {
    char buf[128];
    if (n >= sizeof buf) return false;
    memcpy(buf, p, n);
    buf[n] = 0;
    char *end;
    *out = strtod(buf, &end);
    while (*end && py_space((unsigned char)*end)) end++;
    return end != buf && !*end;
}

static bool f_int(jrender *r, jv v, const jargs *a, jv *out) {
    const jv *def = jarg(a, 0, "default");
    double f;
    if (v.k == JV_INT || v.k == JV_BIG) { *out = v; return true; }
    if (v.k == JV_BOOL) { *out = jv_int(v.b); return true; }
    if (v.k == JV_FLOAT && isfinite(v.f) && fabs(v.f) < 9.2e18) { *out = jv_int((int64_t)v.f); return true; }
    if (v.k == JV_STR) {
        int64_t i;
        if (parse_int(v.s.p, v.s.n, &i)) { *out = jv_int(i); return true; }
        if (parse_float(v.s.p, v.s.n, &f) && isfinite(f) && fabs(f) < 9.2e18) { *out = jv_int((int64_t)f); return true; }
    }
    *out = def ? *def : jv_int(0);
    (void)r;
    return true;
}

static bool f_float(jrender *r, jv v, const jargs *a, jv *out) {
    const jv *def = jarg(a, 0, "default");
    double f;
    if (v.k == JV_FLOAT) *out = v;
    else if (v.k == JV_INT || v.k == JV_BOOL) *out = jv_float(v.k == JV_INT ? (double)v.i : v.b);
    else if ((v.k == JV_STR || v.k == JV_BIG) && parse_float(v.s.p, v.s.n, &f)) *out = jv_float(f);
    else *out = def ? *def : jv_float(0.0);
    (void)r;
    return true;
}

static bool f_round(jrender *r, jv v, const jargs *a, jv *out) {
    const jv *prec = jarg(a, 0, "precision"), *method = jarg(a, 1, "method");
    int64_t p = prec && prec->k == JV_INT ? prec->i : 0;
    if (v.k == JV_BIG) { *out = v; return true; } /* an integer rounds to itself */
    if (v.k != JV_INT && v.k != JV_FLOAT && v.k != JV_BOOL) return jr_fail(r, "round: expected a number, got %s", jv_type_name(v));
    const char *m = method && method->k == JV_STR ? method->s.p : "common";
    size_t mn = method && method->k == JV_STR ? method->s.n : 6;
    double x = v.k == JV_FLOAT ? v.f : v.k == JV_INT ? (double)v.i : v.b, scale = pow(10.0, (double)p);
    if (jname_is(m, mn, "common")) {
        if (v.k != JV_FLOAT) { *out = v.k == JV_BOOL ? jv_int(v.b) : v; return true; }
        if (p == 0) { *out = jv_float(nearbyint(x)); return true; }
        if (p > 0 && p < 300) {
            char buf[400];
            snprintf(buf, sizeof buf, "%.*f", (int)p, x); /* correctly rounded, half-even */
            *out = jv_float(strtod(buf, NULL));
            return true;
        }
        *out = jv_float(nearbyint(x * scale) / scale);
        return true;
    }
    if (jname_is(m, mn, "floor")) *out = jv_float(floor(x * scale) / scale);
    else if (jname_is(m, mn, "ceil")) *out = jv_float(ceil(x * scale) / scale);
    else return jr_fail(r, "method must be common, ceil or floor");
    return true;
}

static bool f_abs(jrender *r, jv v, const jargs *a, jv *out) {
    (void)a;
    if (v.k == JV_INT && v.i != INT64_MIN) *out = jv_int(v.i < 0 ? -v.i : v.i);
    else if (v.k == JV_BIG) *out = v.s.p[0] == '-' ? (jv){.k = JV_BIG, .s = {v.s.p + 1, v.s.n - 1}} : v;
    else if (v.k == JV_BOOL) *out = jv_int(v.b);
    else if (v.k == JV_FLOAT) *out = jv_float(fabs(v.f));
    else return jr_fail(r, "bad operand type for abs(): '%s'", jv_type_name(v));
    return true;
}

/* ---- misc ------------------------------------------------------------- */

static bool f_default(jrender *r, jv v, const jargs *a, jv *out) {
    const jv *def = jarg(a, 0, "default_value"), *boolean = jarg(a, 1, "boolean");
    bool use = v.k == JV_UNDEF || (boolean && jv_truthy(*boolean) && !jv_truthy(v));
    *out = use ? (def ? *def : jv_str("", 0)) : v;
    (void)r;
    return true;
}

/* transformers' tojson: tojson(x, ensure_ascii=False, indent=None,
 * separators=None, sort_keys=False) = json.dumps with those arguments. */
static bool f_tojson(jrender *r, jv v, const jargs *a, jv *out) {
    const jv *ascii = jarg(a, 0, "ensure_ascii"), *ind = jarg(a, 1, "indent"), *sep = jarg(a, 2, "separators"),
             *sk = jarg(a, 3, "sort_keys");
    jjson_opts o = {.indent = -1, .sort_keys = sk && jv_truthy(*sk), .ascii = ascii && jv_truthy(*ascii)};
    if (ind && ind->k == JV_INT) o.indent = ind->i < 0 ? 0 : ind->i > 64 ? 64 : (int)ind->i;
    else if (ind && ind->k != JV_NONE && ind->k != JV_UNDEF) return jr_fail(r, "tojson: indent must be an integer");
    o.item_sep = o.indent >= 0 ? jv_str(",", 1) : jv_str(", ", 2);
    o.key_sep = jv_str(": ", 2);
    if (sep && sep->k != JV_NONE && sep->k != JV_UNDEF) {
        if (sep->k != JV_LIST || sep->l->n != 2 || sep->l->v[0].k != JV_STR || sep->l->v[1].k != JV_STR)
            return jr_fail(r, "tojson: separators must be a pair of strings (item_separator, key_separator)");
        o.item_sep = sep->l->v[0], o.key_sep = sep->l->v[1];
    }
    jbuf b = jr_buf(r);
    if (!jv_tojson(r, &b, v, &o, 0)) { jb_free(&b); return false; }
    return jv_from_buf(r, &b, out);
}

static bool f_escape(jrender *r, jv v, const jargs *a, jv *out) {
    (void)a;
    if (v.k != JV_STR && !jv_to_str(r, v, &v)) return false;
    jbuf b = jr_buf(r);
    for (size_t i = 0; i < v.s.n; i++) {
        char c = v.s.p[i];
        if (c == '&') jb_puts(&b, "&amp;");
        else if (c == '<') jb_puts(&b, "&lt;");
        else if (c == '>') jb_puts(&b, "&gt;");
        else if (c == '"') jb_puts(&b, "&#34;");
        else if (c == '\'') jb_puts(&b, "&#39;");
        else jb_putc(&b, c);
    }
    return jv_from_buf(r, &b, out);
}

static bool f_center(jrender *r, jv v, const jargs *a, jv *out) {
    const jv *w = jarg(a, 0, "width");
    int64_t width = w && w->k == JV_INT ? w->i : 80;
    if (v.k != JV_STR && !jv_to_str(r, v, &v)) return false;
    int64_t len = (int64_t)ju_len(v.s.p, v.s.n);
    if (width <= len) { *out = v; return true; }
    if ((uint64_t)width > r->lim->max_output) return jr_fail(r, "template exceeded max_output (%zu bytes)", r->lim->max_output);
    int64_t marg = width - len, left = marg / 2 + (marg & width & 1);
    jbuf b = jr_buf(r);
    for (int64_t i = 0; i < left; i++) jb_putc(&b, ' ');
    jb_put(&b, v.s.p, v.s.n);
    for (int64_t i = 0; i < marg - left; i++) jb_putc(&b, ' ');
    return jv_from_buf(r, &b, out);
}

static bool f_wordcount(jrender *r, jv v, const jargs *a, jv *out) {
    (void)a;
    if (v.k != JV_STR && !jv_to_str(r, v, &v)) return false;
    int64_t n = 0;
    bool in = false;
    for (size_t i = 0; i < v.s.n; i++) {
        unsigned char c = (unsigned char)v.s.p[i];
        bool w = c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
        n += w && !in;
        in = w;
    }
    *out = jv_int(n);
    return true;
}

static bool f_format(jrender *r, jv v, const jargs *a, jv *out) {
    if (v.k != JV_STR && !jv_to_str(r, v, &v)) return false;
    return jformat_percent(r, v, a->pos, a->npos, out);
}

static bool f_case(jrender *r, jv v, int mode, jv *out) { return jcase(r, v, mode, out); }
static bool f_upper(jrender *r, jv v, const jargs *a, jv *out) { (void)a; return f_case(r, v, CASE_UPPER, out); }
static bool f_lower(jrender *r, jv v, const jargs *a, jv *out) { (void)a; return f_case(r, v, CASE_LOWER, out); }
static bool f_capitalize(jrender *r, jv v, const jargs *a, jv *out) { (void)a; return f_case(r, v, CASE_CAPITALIZE, out); }
static bool f_title(jrender *r, jv v, const jargs *a, jv *out) { (void)a; return f_case(r, v, CASE_TITLE_JINJA, out); }
static bool f_trim(jrender *r, jv v, const jargs *a, jv *out) { return jstrip(r, v, jarg(a, 0, "chars"), 3, out); }
static bool f_string(jrender *r, jv v, const jargs *a, jv *out) { (void)a; return jv_to_str(r, v, out); }
static bool f_safe(jrender *r, jv v, const jargs *a, jv *out) { (void)a; (void)r; *out = v; return true; }

static bool f_replace(jrender *r, jv v, const jargs *a, jv *out) {
    const jv *old = jarg(a, 0, "old"), *new = jarg(a, 1, "new"), *count = jarg(a, 2, "count");
    if (!old || !new) return jr_fail(r, "replace: needs old and new strings");
    return jreplace(r, v, *old, *new, count && count->k == JV_INT ? count->i : -1, out);
}

/* attr() reads a Python attribute, never an item: a dict's keys are not
 * attributes (Undefined), a namespace's and the loop's are. */
static bool f_attr(jrender *r, jv v, const jargs *a, jv *out) {
    const jv *name = jarg(a, 0, "name");
    if (!name || name->k != JV_STR) return jr_fail(r, "attr: needs a name");
    if (v.k == JV_DICT) { *out = jv_undef_named(name->s.p, name->s.n); return true; }
    return jgetattr(r, v, name->s.p, name->s.n, out);
}

/* Byte length of the first `cps` code points of p[0, n). */
static size_t cp_prefix(const char *p, size_t n, int64_t cps) {
    size_t i = 0;
    for (int64_t c = 0; i < n; i++) {
        if (((unsigned char)p[i] & 0xC0) == 0x80) continue;
        if (c++ == cps) break;
    }
    return i;
}

/* Jinja2's truncate: strings up to length + leeway stay whole; otherwise
 * keep length - len(end) code points, cut back to the last space unless
 * killwords, then append end. */
static bool f_truncate(jrender *r, jv v, const jargs *a, jv *out) {
    const jv *len = jarg(a, 0, "length"), *kill = jarg(a, 1, "killwords"), *end = jarg(a, 2, "end"),
             *lee = jarg(a, 3, "leeway");
    int64_t length = len ? (len->k == JV_INT ? len->i : -1) : 255, leeway = 5;
    jv e = jv_str("...", 3);
    if (v.k != JV_STR) return jr_fail(r, "truncate: object of type '%s' has no len()", jv_type_name(v));
    if (end && !jv_to_str(r, *end, &e)) return false;
    if (lee && lee->k != JV_NONE) leeway = lee->k == JV_INT ? lee->i : -1;
    int64_t elen = (int64_t)ju_len(e.s.p, e.s.n);
    if (length < elen) return jr_fail(r, "expected length >= %lld, got %lld", (long long)elen, (long long)length);
    if (leeway < 0) return jr_fail(r, "expected leeway >= 0, got %lld", (long long)leeway);
    if ((int64_t)ju_len(v.s.p, v.s.n) <= length + leeway) { *out = v; return true; }
    size_t keep = cp_prefix(v.s.p, v.s.n, length - elen);
    if (!(kill && jv_truthy(*kill))) {
        size_t sp = keep;
        while (sp > 0 && v.s.p[sp - 1] != ' ') sp--;
        if (sp > 0) keep = sp - 1;
    }
    jbuf b = jr_buf(r);
    jb_put(&b, v.s.p, keep);
    jb_put(&b, e.s.p, e.s.n);
    return jv_from_buf(r, &b, out);
}

/* Percent-encode UTF-8 as Python's quote(): letters, digits and "_.-~"
 * stay, and "/" too unless for a query string, where " " becomes "+". */
static bool url_quote(jrender *r, jbuf *b, jv v, bool qs) {
    if (v.k != JV_STR && !jv_to_str(r, v, &v)) return false;
    for (size_t i = 0; i < v.s.n; i++) {
        unsigned char c = (unsigned char)v.s.p[i];
        bool keep = (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || strchr("_.-~", c) ||
                    (c == '/' && !qs);
        if (c && keep) jb_putc(b, (char)c);
        else if (c == ' ' && qs) jb_putc(b, '+');
        else jb_printf(b, "%%%02X", c);
    }
    return true;
}

/* urlencode: a string (or scalar) is quoted; a dict or a list of pairs
 * becomes "k=v&k=v". */
static bool f_urlencode(jrender *r, jv v, const jargs *a, jv *out) {
    (void)a;
    jbuf b = jr_buf(r);
    bool ok = true;
    if (v.k != JV_LIST && v.k != JV_DICT && v.k != JV_NS) {
        ok = url_quote(r, &b, v, false);
    } else {
        jlist *items = NULL;
        jv pairs;
        if (v.k == JV_LIST) items = v.l;
        else if (!jf_items(r, v, a, &pairs)) ok = false;
        else items = pairs.l;
        for (size_t i = 0; ok && i < items->n; i++) {
            jv p = items->v[i];
            if (p.k != JV_LIST || p.l->n != 2) { jb_free(&b); return jr_fail(r, "urlencode: expected (key, value) pairs"); }
            if (i) jb_putc(&b, '&');
            ok = url_quote(r, &b, p.l->v[0], true) && jb_putc(&b, '=') && url_quote(r, &b, p.l->v[1], true);
        }
    }
    if (!ok) { jb_free(&b); return r->failed ? false : jr_fail(r, "template exceeded max_output (%zu bytes)", r->lim->max_output); }
    return jv_from_buf(r, &b, out);
}

/* Sequence filters live in jinja_select.c. */
bool jf_length(jrender *, jv, const jargs *, jv *);
bool jf_first(jrender *, jv, const jargs *, jv *);
bool jf_last(jrender *, jv, const jargs *, jv *);
bool jf_join(jrender *, jv, const jargs *, jv *);
bool jf_list(jrender *, jv, const jargs *, jv *);
bool jf_reverse(jrender *, jv, const jargs *, jv *);
bool jf_sort(jrender *, jv, const jargs *, jv *);
bool jf_unique(jrender *, jv, const jargs *, jv *);
bool jf_map(jrender *, jv, const jargs *, jv *);
bool jf_select(jrender *, jv, const jargs *, jv *);
bool jf_reject(jrender *, jv, const jargs *, jv *);
bool jf_selectattr(jrender *, jv, const jargs *, jv *);
bool jf_rejectattr(jrender *, jv, const jargs *, jv *);
bool jf_dictsort(jrender *, jv, const jargs *, jv *);
bool jf_min(jrender *, jv, const jargs *, jv *);
bool jf_max(jrender *, jv, const jargs *, jv *);
bool jf_sum(jrender *, jv, const jargs *, jv *);
bool jf_batch(jrender *, jv, const jargs *, jv *);
bool jf_groupby(jrender *, jv, const jargs *, jv *);
bool jf_slice(jrender *, jv, const jargs *, jv *);
bool jf_wordwrap(jrender *, jv, const jargs *, jv *); /* jinja_wrap.c */

typedef bool (*filter_fn)(jrender *, jv, const jargs *, jv *);
static const struct { const char *name; filter_fn fn; } FILTERS[] = {
    {"trim", f_trim}, {"strip", f_trim}, {"upper", f_upper}, {"lower", f_lower},
    {"capitalize", f_capitalize}, {"title", f_title}, {"length", jf_length}, {"count", jf_length},
    {"first", jf_first}, {"last", jf_last}, {"join", jf_join}, {"default", f_default}, {"d", f_default},
    {"replace", f_replace}, {"string", f_string}, {"int", f_int}, {"float", f_float}, {"abs", f_abs},
    {"round", f_round}, {"list", jf_list}, {"reverse", jf_reverse}, {"sort", jf_sort},
    {"unique", jf_unique}, {"map", jf_map}, {"select", jf_select}, {"reject", jf_reject},
    {"selectattr", jf_selectattr}, {"rejectattr", jf_rejectattr}, {"items", jf_items},
    {"dictsort", jf_dictsort}, {"tojson", f_tojson}, {"indent", f_indent}, {"safe", f_safe},
    {"escape", f_escape}, {"e", f_escape}, {"forceescape", f_escape}, {"center", f_center},
    {"wordcount", f_wordcount}, {"batch", jf_batch}, {"min", jf_min}, {"max", jf_max},
    {"sum", jf_sum}, {"format", f_format}, {"attr", f_attr}, {"truncate", f_truncate},
    {"urlencode", f_urlencode}, {"groupby", jf_groupby}, {"slice", jf_slice}, {"wordwrap", jf_wordwrap},
};

bool jfilter_exists(const char *name, size_t n) {
    for (size_t i = 0; i < sizeof FILTERS / sizeof *FILTERS; i++)
        if (jname_is(name, n, FILTERS[i].name)) return true;
    return false;
}

bool jfilter(jrender *r, const char *name, size_t n, jv v, const jargs *a, jv *out) {
    for (size_t i = 0; i < sizeof FILTERS / sizeof *FILTERS; i++)
        if (jname_is(name, n, FILTERS[i].name)) return FILTERS[i].fn(r, v, a, out);
    return jr_fail(r, "no filter named '%.*s'", (int)n, name);
}
