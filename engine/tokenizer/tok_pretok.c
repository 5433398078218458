/*
 * tok_pretok.c — pre-tokenizers: cutting text into the words that BPE
 * merges inside of.
 *
 * GGUF byte-level vocabularies follow llama.cpp's unicode_regex_split
 * exactly: the text becomes codepoints (each invalid byte -> U+FFFD), every
 * regex of the vocabulary's tokenizer.ggml.pre type splits every current
 * fragment into its matches and the gaps between them, and regexes using
 * \p{..} run over a "collapsed" copy of the text (one byte per codepoint:
 * ASCII as is, other whitespace as \v, other codepoints as one byte per
 * general category) with the categories in the regex rewritten to those
 * bytes; the others run over the codepoints with ASCII-only classes.
 *
 * tokenizer.json pipelines (Split / ByteLevel / Metaspace steps, see
 * tok_pt_step) follow Hugging Face tokenizers' PreTokenizedString rules.
 */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- piece lists ---- */

bool tok_pieces_add(tok_pieces *p, const char *s, size_t len, bool first) {
    if (len == 0) return true;
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 32;
        tok_piece_span *v = realloc(p->v, nc * sizeof *v);
        if (!v) return false;
        p->v = v;
        p->cap = nc;
    }
    size_t off = p->buf.len;
    if (!tok_buf_put(&p->buf, s, len)) return false;
    p->v[p->n++] = (tok_piece_span){off, len, first};
    return true;
}

void tok_pieces_clear(tok_pieces *p) {
    p->n = 0;
    p->buf.len = 0;
}

void tok_pieces_free(tok_pieces *p) {
    tok_buf_free(&p->buf);
    free(p->v);
    p->v = NULL;
    p->n = p->cap = 0;
}

/* ---- llama.cpp pre-tokenizer types (src/llama-vocab.cpp) ---- */

#define RX_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RX_CONTRACT "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RX_LLAMA3 RX_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2 RX_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_GPT4O_TAIL "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

static const char *const RX_DEFAULT_L[] = {
    "[\\p{P}\\$\\+<=>\\^~\\|]+", RX_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"};
static const char *const RX_LLAMA3_L[] = {RX_LLAMA3};
static const char *const RX_GPT2_L[] = {RX_GPT2};
static const char *const RX_QWEN2_L[] = {RX_QWEN2};
static const char *const RX_FALCON_L[] = {
    "[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]"};
static const char *const RX_STARCODER_L[] = {"\\p{N}", RX_GPT2};
static const char *const RX_DEEPSEEK_CODER_L[] = {
    "[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+", "\\p{N}"};
static const char *const RX_DEEPSEEK_LLM_L[] = {
    "[\r\n]",
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"
    "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}"
    "\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}"
    "\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"
    "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}"
    "\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}"
    "\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}"
    "\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}"
    "\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"
    "\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}"
    "\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}"
    "\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}"
    "\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"
    "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}"
    "\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"
    "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
    "\\s+$",
    "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+",
    "\\p{N}+"};
static const char *const RX_DEEPSEEK3_L[] = {
    "\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"};
static const char *const RX_BLOOM_L[] = {" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+"};
static const char *const RX_VIKING_L[] = {" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+", "\\p{N}"};
static const char *const RX_CHATGLM4_L[] = {RX_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|" RX_GPT4O_TAIL};
static const char *const RX_TEKKEN_L[] = {
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
static const char *const RX_GPT4O_L[] = {
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" RX_CONTRACT "?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" RX_CONTRACT "?|" RX_GPT4O_TAIL};
static const char *const RX_SEED_CODER_L[] = {
    RX_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};

typedef struct {
    const char *names; /* '|'-separated tokenizer.ggml.pre values */
    const char *const *rx;
    size_t n;
    bool ignore_merges, add_bos;
} pre_type;

#define PT(names, list, im, bos) {names, list, sizeof list / sizeof *list, im, bos}
static const pre_type PRE_TYPES[] = {
    PT("default", RX_DEFAULT_L, false, false),
    PT("llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2", RX_LLAMA3_L, true, true),
    PT("dbrx|smaug-bpe", RX_LLAMA3_L, false, false),
    PT("deepseek-llm", RX_DEEPSEEK_LLM_L, false, false),
    PT("deepseek-coder", RX_DEEPSEEK_CODER_L, false, false),
    PT("deepseek-v3|hunyuan-dense", RX_DEEPSEEK3_L, false, false),
    PT("falcon", RX_FALCON_L, false, false),
    PT("mpt|gpt-2|phi-2|jina-es|jina-de|gigachat|jina-v2-es|jina-v2-de|a.x-4.0|mellum|"
       "modern-bert|jina-v1-en|jina-v2-code|roberta-bpe|olmo|jais|trillion|granite-docling|exaone4",
       RX_GPT2_L, false, false),
    PT("starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b", RX_STARCODER_L, false, false),
    PT("qwen2|deepseek-r1-qwen|stablelm2|megrez|hunyuan|kormo", RX_QWEN2_L, false, false),
    PT("poro-chat|bloom|gpt3-finnish", RX_BLOOM_L, false, false),
    PT("viking", RX_VIKING_L, false, false),
    PT("chatglm-bpe|glm4", RX_CHATGLM4_L, false, false),
    PT("tekken", RX_TEKKEN_L, true, true),
    PT("gpt-4o|llama4|minimax-m2", RX_GPT4O_L, false, false),
    PT("seed-coder", RX_SEED_CODER_L, false, false),
};

static bool name_in(const char *names, const char *name) {
    size_t n = strlen(name);
    for (const char *p = names; *p;) {
        const char *bar = strchr(p, '|');
        size_t k = bar ? (size_t)(bar - p) : strlen(p);
        if (k == n && memcmp(p, name, n) == 0) return true;
        if (!bar) break;
        p = bar + 1;
    }
    return false;
}

const char *const *tok_pre_regexes(const char *pre, size_t *n, bool *ignore_merges,
                                   bool *add_bos_default) {
    if (!pre || !*pre) pre = "default"; /* llama.cpp warns and uses 'default' */
    for (size_t i = 0; i < sizeof PRE_TYPES / sizeof *PRE_TYPES; i++) {
        if (!name_in(PRE_TYPES[i].names, pre)) continue;
        *n = PRE_TYPES[i].n;
        *ignore_merges = PRE_TYPES[i].ignore_merges;
        *add_bos_default = PRE_TYPES[i].add_bos;
        return PRE_TYPES[i].rx;
    }
    *n = 0;
    return NULL;
}

/* ---- compiling llama.cpp regexes ---- */

static const struct {
    const char *name;
    uint8_t byte;
    const char *ascii;
} UCATS[] = {
    {"\\p{N}", 0xD1, "0-9"},
    {"\\p{L}", 0xD2, "A-Za-z"},
    {"\\p{P}", 0xD3, "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}"},
    {"\\p{M}", 0xD4, ""},
    {"\\p{S}", 0xD5, "\\$\\+<->^`\\|"},
    {"\\p{Lu}", 0xD2, "A-Za-z"}, {"\\p{Ll}", 0xD2, "A-Za-z"}, {"\\p{Lt}", 0xD2, "A-Za-z"},
    {"\\p{Lm}", 0xD2, "A-Za-z"}, {"\\p{Lo}", 0xD2, "A-Za-z"},
};
#define N_UCATS (sizeof UCATS / sizeof *UCATS)

static int ucat_at(const char *p, size_t n) {
    for (size_t k = 0; k < N_UCATS; k++) {
        size_t l = strlen(UCATS[k].name); /* \p{L} is no prefix of \p{Lu}: the brace differs */
        if (l <= n && memcmp(p, UCATS[k].name, l) == 0) return (int)k;
    }
    return -1;
}

static bool uses_ucat(const char *rx) {
    for (size_t k = 0; k < N_UCATS; k++)
        if (strstr(rx, UCATS[k].name)) return true;
    return false;
}

/* llama.cpp's regex_expr_collapsed: each \p{X} becomes [<byte><ASCII of X>]
 * (without the brackets inside a class). */
static char *collapse_regex(const char *rx) {
    size_t n = strlen(rx);
    tok_buf out = {0};
    bool inside = false, ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        if (rx[i] == '[' && (i == 0 || rx[i - 1] != '\\')) {
            ok = tok_buf_putc(&out, '[');
            inside = true;
            continue;
        }
        if (inside && rx[i] == ']' && rx[i - 1] != '\\') {
            ok = tok_buf_putc(&out, ']');
            inside = false;
            continue;
        }
        int k = rx[i] == '\\' && i + 3 < n && rx[i + 1] == 'p' && rx[i + 2] == '{'
                    ? ucat_at(rx + i, n - i) : -1;
        if (k >= 0) {
            char b = (char)UCATS[k].byte;
            ok = (inside || tok_buf_putc(&out, '[')) && tok_buf_putc(&out, b) &&
                 tok_buf_put(&out, UCATS[k].ascii, strlen(UCATS[k].ascii)) &&
                 (inside || tok_buf_putc(&out, ']'));
            i += strlen(UCATS[k].name) - 1;
            continue;
        }
        ok = tok_buf_putc(&out, rx[i]);
    }
    if (!ok || !tok_buf_putc(&out, '\0')) {
        tok_buf_free(&out);
        return NULL;
    }
    return out.p;
}

bool tok_pre_compile_llama(tokenizer *t, const char *const *rx, size_t n, char *err) {
    if (!(t->pre_rx = calloc(n ? n : 1, sizeof *t->pre_rx))) return ct_err(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        bool ok;
        if (uses_ucat(rx[i])) {
            char *c = collapse_regex(rx[i]);
            if (!c) return ct_err(err, "out of memory");
            ok = tok_rx_compile(&t->pre_rx[i], c, TOK_RX_BYTES, err);
            free(c);
        } else {
            ok = tok_rx_compile(&t->pre_rx[i], rx[i], TOK_RX_WIDE, err);
        }
        if (!ok) return false;
        t->n_pre_rx = i + 1;
    }
    return true;
}

/* ---- llama.cpp split ---- */

typedef struct {
    uint32_t *cp;      /* codepoints */
    size_t n;
    size_t *boff;      /* [n + 1] byte offsets of each codepoint in san */
    tok_buf san;       /* UTF-8 of cp */
    char *collapsed;   /* [n] one byte per codepoint (lazy) */
    tok_buf wide;      /* san with non-ASCII whitespace -> \v (lazy) */
    size_t *woff;      /* [n + 1] offsets into wide */
} llama_text;

static void llama_text_free(llama_text *x) {
    free(x->cp);
    free(x->boff);
    tok_buf_free(&x->san);
    free(x->collapsed);
    tok_buf_free(&x->wide);
    free(x->woff);
}

static bool llama_text_init(llama_text *x, const char *s, size_t len) {
    memset(x, 0, sizeof *x);
    if (!(x->cp = tok_cpts_llama(s, len, &x->n))) return false;
    if (!(x->boff = malloc((x->n + 1) * sizeof *x->boff))) return false;
    for (size_t i = 0; i < x->n; i++) {
        char enc[4];
        x->boff[i] = x->san.len;
        if (!tok_buf_put(&x->san, enc, tok_utf8_encode(x->cp[i], enc))) return false;
    }
    x->boff[x->n] = x->san.len;
    return true;
}

static bool llama_text_views(llama_text *x, const tokenizer *t) {
    for (size_t r = 0; r < t->n_pre_rx; r++) {
        if (t->pre_rx[r].mode == TOK_RX_BYTES && !x->collapsed) {
            if (!(x->collapsed = malloc(x->n ? x->n : 1))) return false;
            for (size_t i = 0; i < x->n; i++) x->collapsed[i] = (char)tok_cpt_collapse(x->cp[i]);
        }
        if (t->pre_rx[r].mode == TOK_RX_WIDE && !x->woff) {
            if (!(x->woff = malloc((x->n + 1) * sizeof *x->woff))) return false;
            for (size_t i = 0; i < x->n; i++) {
                uint32_t c = x->cp[i];
                if (c > 0x7F && tok_is_white_space(c)) c = 0x0B; /* as llama.cpp does */
                if (c >= 0xD800 && c <= 0xDFFF) c = 0xFFFD; /* keep PCRE's UTF-8 valid */
                char enc[4];
                x->woff[i] = x->wide.len;
                if (!tok_buf_put(&x->wide, enc, tok_utf8_encode(c, enc))) return false;
            }
            x->woff[x->n] = x->wide.len;
        }
    }
    return true;
}

/* Codepoint index (in [lo, hi]) whose offset in offs is byte b. */
static size_t cpt_at(const size_t *offs, size_t lo, size_t hi, size_t b) {
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (offs[mid] < b) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

typedef struct {
    size_t *v; /* fragment end positions (codepoint indices) */
    size_t n, cap;
} cuts;

static bool cuts_push(cuts *c, size_t end) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        size_t *v = realloc(c->v, nc * sizeof *v);
        if (!v) return false;
        c->v = v;
        c->cap = nc;
    }
    c->v[c->n++] = end;
    return true;
}

/* Split fragment [a, b) with one regex: matches and the gaps between them. */
static bool split_fragment(const tok_rx *rx, const llama_text *x, size_t a, size_t b, cuts *out,
                           size_t **sp, size_t *cap, char *err) {
    size_t n_sp = 0;
    bool bytes = rx->mode == TOK_RX_BYTES;
    const char *subj = bytes ? x->collapsed + a : x->wide.p + x->woff[a];
    size_t base = bytes ? 0 : x->woff[a], len = bytes ? b - a : x->woff[b] - x->woff[a];
    if (!tok_rx_find_all(rx, subj, len, sp, &n_sp, cap, err)) return false;
    size_t prev = a;
    for (size_t m = 0; m < n_sp; m++) {
        size_t s = (*sp)[2 * m], e = (*sp)[2 * m + 1];
        if (!bytes) {
            s = cpt_at(x->woff, a, b, base + s);
            e = cpt_at(x->woff, a, b, base + e);
        } else {
            s += a;
            e += a;
        }
        if (s > prev && !cuts_push(out, s)) return ct_err(err, "out of memory");
        if (!cuts_push(out, e)) return ct_err(err, "out of memory");
        prev = e;
    }
    if (prev < b && !cuts_push(out, b)) return ct_err(err, "out of memory");
    return true;
}

static bool llama_split(const tokenizer *t, const llama_text *x, cuts *cur, char *err) {
    cuts next = {0};
    size_t *sp = NULL, cap = 0;
    bool ok = cuts_push(cur, x->n) || ct_err(err, "out of memory");
    for (size_t r = 0; ok && r < t->n_pre_rx; r++) {
        next.n = 0;
        size_t start = 0;
        for (size_t f = 0; ok && f < cur->n; f++) {
            ok = split_fragment(&t->pre_rx[r], x, start, cur->v[f], &next, &sp, &cap, err);
            start = cur->v[f];
        }
        cuts tmp = *cur;
        *cur = next;
        next = tmp;
    }
    free(next.v);
    free(sp);
    return ok;
}

bool tok_pretok_llama(const tokenizer *t, const char *text, size_t len, tok_pieces *out,
                      char *err) {
    llama_text x;
    cuts cur = {0};
    tok_buf word = {0};
    bool ok = llama_text_init(&x, text, len) && llama_text_views(&x, t);
    if (!ok) ct_err(err, "out of memory");
    if (ok && x.n > 0) ok = llama_split(t, &x, &cur, err);
    size_t start = 0;
    for (size_t f = 0; ok && x.n > 0 && f < cur.n; f++) {
        size_t a = x.boff[start], b = x.boff[cur.v[f]];
        word.len = 0;
        ok = tok_bytelevel_encode(&word, x.san.p + a, b - a) &&
             tok_pieces_add(out, word.p, word.len, f == 0);
        if (!ok) ct_err(err, "out of memory");
        start = cur.v[f];
    }
    free(cur.v);
    tok_buf_free(&word);
    llama_text_free(&x);
    return ok;
}
