/*
 * jinja_lex.c — template source to tokens.
 *
 * Owns Jinja2's lexical rules: newline normalisation (\r\n and \r become
 * \n, one trailing newline is dropped as keep_trailing_newline=False
 * does), the three tag kinds, whitespace control (`-` strips all
 * whitespace on that side, `+` disables lstrip_blocks / trim_blocks),
 * lstrip_blocks and trim_blocks exactly as Jinja2's lexer applies them,
 * `{% raw %}`, and the tokens inside tags (names, numbers, strings with
 * Python escapes, operators with bracket balancing so `}}` inside a dict
 * literal does not end the tag).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jinja_internal.h"

typedef struct {
    const char *s;  /* normalised source */
    size_t n, pos;
    int line;
    const jinja_options *opt;
    jarena *a;
    jtoks *toks;
    char *err;
    bool line_starting; /* the previous tag's text ended with a newline */
} lexer;

static bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool emit(lexer *L, jtok t) {
    if (L->toks->n == L->toks->cap) {
        size_t cap = L->toks->cap ? L->toks->cap * 2 : 64;
        jtok *v = realloc(L->toks->v, cap * sizeof *v);
        if (!v) return ct_err(L->err, "template: out of memory");
        L->toks->v = v;
        L->toks->cap = cap;
    }
    t.line = t.line ? t.line : L->line;
    L->toks->v[L->toks->n++] = t;
    return true;
}

static bool emit_simple(lexer *L, jtok_kind k, const char *p, size_t n) {
    jtok t = {.kind = k, .p = p, .n = n};
    return emit(L, t);
}

static int count_nl(const char *p, size_t n) {
    int c = 0;
    for (size_t i = 0; i < n; i++) c += p[i] == '\n';
    return c;
}

/* Emit template text [p, p+n) after the whitespace control of the tag that
 * follows it: sign is that tag's '-', '+' or 0; lstrip applies to blocks
 * and comments, not to `{{`. */
static bool emit_text(lexer *L, const char *p, size_t n, char sign, bool lstrip_ok) {
    int lines = count_nl(p, n);
    size_t keep = n;
    if (sign == '-') {
        while (keep > 0 && is_ws(p[keep - 1])) keep--;
    } else if (sign != '+' && lstrip_ok && L->opt->lstrip_blocks) {
        size_t l = n;
        while (l > 0 && p[l - 1] != '\n') l--;
        if (l > 0 || L->line_starting) {
            size_t k = l;
            while (k < n && is_ws(p[k])) k++;
            if (k == n && n > l) keep = l;
        }
    }
    bool ok = keep == 0 || emit_simple(L, JT_DATA, p, keep);
    L->line += lines;
    return ok;
}

/* After a block or comment end: `-` eats all following whitespace,
 * trim_blocks one newline, `+` nothing. */
static void after_block_end(lexer *L, char sign) {
    if (sign == '-') {
        while (L->pos < L->n && is_ws(L->s[L->pos])) L->line += L->s[L->pos++] == '\n';
    } else if (sign != '+' && L->opt->trim_blocks && L->pos < L->n && L->s[L->pos] == '\n') {
        L->pos++;
        L->line++;
    }
    L->line_starting = L->pos > 0 && L->s[L->pos - 1] == '\n';
}

static bool lex_comment(lexer *L) {
    const char *end = memmem(L->s + L->pos, L->n - L->pos, "#}", 2);
    if (!end) return ct_err(L->err, "template syntax error (line %d): missing end of comment tag", L->line);
    size_t e = (size_t)(end - L->s);
    char sign = 0;
    if (e > L->pos && (L->s[e - 1] == '-' || L->s[e - 1] == '+')) sign = L->s[e - 1];
    L->line += count_nl(L->s + L->pos, e - L->pos);
    L->pos = e + 2;
    after_block_end(L, sign);
    return true;
}

/* If s[at..] is `{%[-+]? raw [-+]?%}`-like for word, return the end offset
 * (after `%}`) and the signs; 0 if it is not. */
static size_t match_word_tag(const lexer *L, size_t at, const char *word, char *open_sign,
                             char *close_sign) {
    size_t i = at + 2, wl = strlen(word);
    *open_sign = 0;
    if (i < L->n && (L->s[i] == '-' || L->s[i] == '+')) *open_sign = L->s[i++];
    while (i < L->n && is_ws(L->s[i])) i++;
    if (L->n - i < wl || memcmp(L->s + i, word, wl) != 0) return 0;
    i += wl;
    size_t j = i;
    while (j < L->n && is_ws(L->s[j])) j++;
    *close_sign = 0;
    if (j < L->n && (L->s[j] == '-' || L->s[j] == '+')) *close_sign = L->s[j++];
    if (j + 1 < L->n && L->s[j] == '%' && L->s[j + 1] == '}') return j + 2;
    return 0;
}

static bool lex_raw(lexer *L, size_t body, char close_sign) {
    L->pos = body;
    after_block_end(L, close_sign);
    for (size_t at = L->pos; at + 1 < L->n; at++) {
        if (L->s[at] != '{' || L->s[at + 1] != '%') continue;
        char os, cs;
        size_t end = match_word_tag(L, at, "endraw", &os, &cs);
        if (!end) continue;
        if (!emit_text(L, L->s + L->pos, at - L->pos, os, true)) return false;
        L->pos = end;
        after_block_end(L, cs);
        return true;
    }
    return ct_err(L->err, "template syntax error (line %d): missing end of raw directive", L->line);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 63));
        o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* Python unicode-escape decoding of a string literal's body. */
static bool decode_string(lexer *L, const char *p, size_t n, jtok *t) {
    char *o = ja_alloc(L->a, n + 1);
    if (!o) return ct_err(L->err, "template: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\\' || i + 1 >= n) { o[k++] = p[i]; continue; }
        char c = p[++i];
        const char *simple = strchr("\\'\"abfnrtv\n", c);
        if (simple && c) {
            static const char map[] = "\\'\"\a\b\f\n\r\t\v";
            if (c != '\n') o[k++] = map[simple - "\\'\"abfnrtv\n"];
            continue;
        }
        int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
        if (digits) {
            uint32_t cp = 0;
            for (int d = 0; d < digits; d++) {
                int h = i + 1 + (size_t)d < n ? hexval(p[i + 1 + d]) : -1;
                if (h < 0) return ct_err(L->err, "template syntax error (line %d): bad \\%c escape in string", L->line, c);
                cp = cp * 16 + (uint32_t)h;
            }
            if (cp > 0x10FFFF) return ct_err(L->err, "template syntax error (line %d): bad \\U escape", L->line);
            i += (size_t)digits;
            k += put_utf8(o + k, cp); /* at most digits+2 source bytes -> fits */
            continue;
        }
        if (c >= '0' && c <= '7') {
            uint32_t cp = (uint32_t)(c - '0');
            for (int d = 0; d < 2 && i + 1 < n && p[i + 1] >= '0' && p[i + 1] <= '7'; d++)
                cp = cp * 8 + (uint32_t)(p[++i] - '0');
            k += put_utf8(o + k, cp);
            continue;
        }
        o[k++] = '\\';
        o[k++] = c;
    }
    o[k] = 0;
    t->p = o;
    t->n = k;
    return true;
}

static bool lex_number(lexer *L, jtok *t) {
    const char *s = L->s;
    size_t i = L->pos, n = L->n;
    char buf[128];
    size_t k = 0;
    bool is_float = false, after_dot = L->pos > 0 && s[L->pos - 1] == '.';
    while (i < n && (isdigit((unsigned char)s[i]) || (s[i] == '_' && i + 1 < n && isdigit((unsigned char)s[i + 1])))) {
        if (s[i] != '_' && k < sizeof buf - 1) buf[k++] = s[i];
        i++;
    }
    if (!after_dot && i + 1 < n && s[i] == '.' && isdigit((unsigned char)s[i + 1])) {
        is_float = true;
        if (k < sizeof buf - 1) buf[k++] = '.';
        for (i++; i < n && (isdigit((unsigned char)s[i]) || s[i] == '_'); i++)
            if (s[i] != '_' && k < sizeof buf - 1) buf[k++] = s[i];
    }
    if (!after_dot && i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (s[j] == '+' || s[j] == '-')) j++;
        if (j < n && isdigit((unsigned char)s[j])) {
            is_float = true;
            for (; i < j; i++) if (k < sizeof buf - 1) buf[k++] = s[i];
            for (; i < n && isdigit((unsigned char)s[i]); i++) if (k < sizeof buf - 1) buf[k++] = s[i];
        }
    }
    buf[k] = 0;
    t->p = s + L->pos;
    t->n = i - L->pos;
    L->pos = i;
    if (is_float) {
        t->kind = JT_FLOAT;
        t->f = strtod(buf, NULL);
        return true;
    }
    if (buf[0] == '0' && strspn(buf, "0") != k) /* Jinja2 reads "012" as 0 then 12 */
        return ct_err(L->err, "template syntax error (line %d): leading zeros in an integer literal", L->line);
    t->kind = JT_INT;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    t->i = v;
    if (!errno) return true;
    /* Beyond int64: Python has big ints, so keep the exact digits (see
     * JV_BIG); only a literal longer than buf is refused. */
    if (k >= sizeof buf - 1)
        return ct_err(L->err, "template syntax error (line %d): integer literal too long", L->line);
    size_t z = 0;
    while (z + 1 < k && buf[z] == '0') z++;
    t->kind = JT_BIG;
    if (!(t->p = ja_strdup(L->a, buf + z, k - z))) return ct_err(L->err, "template: out of memory");
    t->n = k - z;
    return true;
}

static const char *const OPS[] = {
    "//", "**", "==", "!=", "<=", ">=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")",
    "{", "}", "<", ">", "=", ".", ":", "|", ",", ";", NULL,
};

static bool lex_op(lexer *L, char *stack, int *depth) {
    for (int i = 0; OPS[i]; i++) {
        size_t m = strlen(OPS[i]);
        if (L->n - L->pos < m || memcmp(L->s + L->pos, OPS[i], m) != 0) continue;
        char c = OPS[i][0];
        if (m == 1 && (c == '(' || c == '[' || c == '{')) {
            if (*depth >= 64) return ct_err(L->err, "template syntax error (line %d): brackets nested too deeply", L->line);
            stack[(*depth)++] = c == '(' ? ')' : c == '[' ? ']' : '}';
        } else if (m == 1 && (c == ')' || c == ']' || c == '}')) {
            if (*depth == 0) return ct_err(L->err, "template syntax error (line %d): unexpected '%c'", L->line, c);
            if (stack[--(*depth)] != c)
                return ct_err(L->err, "template syntax error (line %d): unexpected '%c', expected '%c'", L->line, c, stack[*depth]);
        }
        if (!emit_simple(L, JT_OP, L->s + L->pos, m)) return false;
        L->pos += m;
        return true;
    }
    return ct_err(L->err, "template syntax error (line %d): unexpected character '%c'", L->line, L->s[L->pos]);
}

/* The tokens of one `{{ }}` (block=false) or `{% %}` tag up to its end. */
static bool lex_tag(lexer *L, bool block) {
    char stack[64];
    int depth = 0;
    const char *close = block ? "%}" : "}}";
    while (L->pos < L->n) {
        const char *s = L->s + L->pos;
        size_t left = L->n - L->pos;
        if (depth == 0) {
            char sign = 0;
            size_t m = 0;
            if (left >= 3 && (s[0] == '-' || (block && s[0] == '+')) && memcmp(s + 1, close, 2) == 0) sign = s[0], m = 3;
            else if (left >= 2 && memcmp(s, close, 2) == 0) m = 2;
            if (m) {
                L->pos += m;
                if (!emit_simple(L, block ? JT_BLOCK_END : JT_VAR_END, s, m)) return false;
                if (block) after_block_end(L, sign);
                else {
                    if (sign == '-') after_block_end(L, '-');
                    L->line_starting = L->s[L->pos - 1] == '\n';
                }
                return true;
            }
        }
        char c = s[0];
        if (is_ws(c)) { L->line += c == '\n'; L->pos++; continue; }
        jtok t = {.line = L->line};
        if (isdigit((unsigned char)c)) {
            if (!lex_number(L, &t) || !emit(L, t)) return false;
        } else if (isalpha((unsigned char)c) || c == '_') {
            size_t i = 1;
            while (i < left && (isalnum((unsigned char)s[i]) || s[i] == '_')) i++;
            if (!emit_simple(L, JT_NAME, s, i)) return false;
            L->pos += i;
        } else if (c == '\'' || c == '"') {
            size_t i = 1;
            while (i < left && s[i] != c) i += s[i] == '\\' ? 2 : 1;
            if (i >= left) return ct_err(L->err, "template syntax error (line %d): unterminated string", L->line);
            t.kind = JT_STRING;
            if (!decode_string(L, s + 1, i - 1, &t) || !emit(L, t)) return false;
            L->line += count_nl(s, i);
            L->pos += i + 1;
        } else if (!lex_op(L, stack, &depth)) {
            return false;
        }
    }
    return ct_err(L->err, "template syntax error (line %d): unexpected end of template, expected '%s'", L->line, close);
}

/* Copy with \r\n and \r turned into \n and one trailing newline dropped. */
static char *normalize(jarena *a, const char *src, size_t len, size_t *out_n) {
    char *o = ja_alloc(a, len + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            if (i + 1 < len && src[i + 1] == '\n') i++;
            o[k++] = '\n';
        } else {
            o[k++] = src[i];
        }
    }
    if (k > 0 && o[k - 1] == '\n') k--;
    o[k] = 0;
    *out_n = k;
    return o;
}

bool jlex(const char *src, size_t len, const jinja_options *opt, jarena *a, jtoks *toks,
          char *err) {
    lexer L = {.opt = opt, .a = a, .toks = toks, .err = err, .line = 1, .line_starting = true};
    L.s = normalize(a, src, len, &L.n);
    if (!L.s) return ct_err(err, "template: out of memory");
    while (L.pos < L.n) {
        const char *open = NULL;
        for (const char *p = L.s + L.pos; (p = memchr(p, '{', L.n - (size_t)(p - L.s))); p++) {
            if ((size_t)(p - L.s) + 1 < L.n && (p[1] == '{' || p[1] == '%' || p[1] == '#')) { open = p; break; }
        }
        if (!open) {
            if (!emit_text(&L, L.s + L.pos, L.n - L.pos, 0, false)) return false;
            break;
        }
        size_t at = (size_t)(open - L.s);
        char kind = open[1];
        char sign = at + 2 < L.n && (open[2] == '-' || open[2] == '+') ? open[2] : 0;
        char os = 0, cs = 0;
        size_t raw_end = kind == '%' ? match_word_tag(&L, at, "raw", &os, &cs) : 0;
        if (!emit_text(&L, L.s + L.pos, at - L.pos, sign, kind != '{')) return false;
        L.pos = at + 2 + (sign ? 1 : 0);
        bool ok;
        if (raw_end) ok = lex_raw(&L, raw_end, cs);
        else if (kind == '#') ok = lex_comment(&L);
        else {
            ok = emit_simple(&L, kind == '{' ? JT_VAR_BEGIN : JT_BLOCK_BEGIN, open, 2) &&
                 lex_tag(&L, kind == '%');
        }
        if (!ok) return false;
    }
    return emit_simple(&L, JT_EOF, "", 0);
}
