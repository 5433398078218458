/*
 * toolcall_machine.c — the one reader of generated text that tc_parse and
 * tc_stream share: it goes through the text once, byte by byte, and emits
 * content, call-open and arguments events.  Its decisions depend only on
 * the bytes (never on where a chunk ended): when it needs to see further
 * it stops and waits for more text, so a stream fed in any pieces and a
 * whole parse give the same events.
 *
 * Two modes.  Content: bytes go out as content, except
 *   - a marker of the format (<tool_call>, [TOOL_CALLS], <|python_tag|>)
 *     opens a region; a stray </tool_call> is dropped, so are Llama's end
 *     tokens <|eom_id|> and <|eot_id|> (when the text given keeps special
 *     tokens); a byte that may begin a marker is held until the marker is
 *     complete or ruled out;
 *   - LLAMA3 / GENERIC: a '{' before any other non-space byte opens a
 *     region (the model answered with a call);
 *   - whitespace is held until the next byte: dropped when a call follows
 *     it, dropped right after a call, content otherwise.
 * Region: the JSON of the calls, read with the strict scanner; per format
 * (dc = the depth of the call objects inside the region's JSON root):
 *   HERMES   <tool_call> ws {call} ws </tool_call>                   dc 0
 *   LLAMA3   {call} (ws ; ws {call})*                                 dc 0
 *   MISTRAL  [TOOL_CALLS] ws [{call}, ...]                            dc 1
 *            [TOOL_CALLS]name([ARGS])?{arguments}                     (v11)
 *   GENERIC  {"tool_call": {call}} | {"tool_calls": [{call}, ...]}    dc 1 / 2
 *            | {call}                                                 dc 0
 * A call object has "name" (a string), the arguments under "arguments"
 * or "parameters" (an object, or a string holding one), optionally
 * "type": "function" and "id" (ignored); any other key, a duplicate, a
 * wrong type ends the region.  Arguments may be absent (-> "{}") except
 * in LLAMA3 and bare GENERIC objects, where a JSON answer would otherwise
 * pass for a call.
 *
 * A call opens (its id is drawn, CALL_OPEN goes out) once its name is
 * known and its arguments began as an object (or are complete); then the
 * arguments' bytes go out as they are read, up to the object's closing
 * brace.  It is accepted when the arguments are complete.
 *
 * When a region goes wrong at byte p (or the text ends in it): if it
 * produced no call, its text after the marker is read again as content
 * (so the malformed call comes out as text, minus the marker); otherwise
 * the calls stay and content resumes at p.  A call that opened but whose
 * arguments never completed is taken back when `retract` (tc_parse: the
 * text is content); a stream cannot take back what it sent, so there the
 * call stays with the arguments sent so far.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "toolcall_internal.h"

enum { M_CONTENT, M_PRE, M_JSON, M_POST, M_NAME };
enum { K_NONE, K_NAME, K_ARGS, K_TYPE, K_ID, K_IGNORE };
enum { STEP_GO, STEP_WAIT, STEP_OOM };

#define DC_GENERIC_ROOT (-1) /* generic: the first key decides */
#define DC_ARGS_ROOT (-2)    /* mistral v11: the root object is the arguments */
#define TC_MAX_NAME 256

static const char HERMES_OPEN[] = "<tool_call>", HERMES_CLOSE[] = "</tool_call>";
static const char PYTHON_TAG[] = "<|python_tag|>", MISTRAL_TAG[] = "[TOOL_CALLS]";
static const char ARGS_TAG[] = "[ARGS]";

static bool is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void tcm_init(tc_machine *m, tc_format f, uint64_t seed, bool retract) {
    memset(m, 0, sizeof *m);
    m->f = f;
    m->rng = seed;
    m->retract = retract;
    m->at_start = true;
}

static void call_reset(tc_callst *c) {
    free(c->name);
    free(c->args_str);
    memset(c, 0, sizeof *c);
}

void tcm_free(tc_machine *m) {
    call_reset(&m->c);
    free(m->ws);
    m->ws = NULL;
}

/* ---- events ------------------------------------------------------------------ */

static bool grow_events(tc_sink *o) {
    if (*o->n < *o->cap) return true;
    int cap = *o->cap ? *o->cap * 2 : 8;
    tc_event *e = realloc(*o->evs, (size_t)cap * sizeof *e);
    if (!e) return false;
    *o->evs = e;
    *o->cap = cap;
    return true;
}

/* The capacity of a text of length len: the next power of two above it
 * (implied by the length, so growing is amortized O(1) per byte). */
static size_t cap_for(size_t len) {
    size_t c = 16;
    while (c < len + 1) c *= 2;
    return c;
}

/* Append s[0, n) to text *t of length *len. */
static bool append(char **t, size_t *len, const char *s, size_t n) {
    char *p = *t;
    if (!p || cap_for(*len + n) > cap_for(*len)) {
        p = realloc(*t, cap_for(*len + n));
        if (!p) return false;
    }
    memcpy(p + *len, s, n);
    *len += n;
    p[*len] = '\0';
    *t = p;
    return true;
}

/* Content or arguments text; merged into the previous event of the same
 * kind and call when that one was not handed out yet. */
static bool emit_text(tc_machine *m, tc_event_kind kind, int index, const char *s, size_t n) {
    tc_sink *o = m->out;
    if (n == 0) return true;
    if (*o->n > o->floor) {
        tc_event *last = &(*o->evs)[*o->n - 1];
        if (last->kind == kind && last->index == index)
            return append(&last->text, &last->len, s, n) || !(m->oom = true);
    }
    if (!grow_events(o)) return !(m->oom = true);
    tc_event *e = &(*o->evs)[*o->n];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->index = index;
    if (!append(&e->text, &e->len, s, n)) return !(m->oom = true);
    (*o->n)++;
    return true;
}

static bool emit_open(tc_machine *m, int index, const char *id, const char *name) {
    tc_sink *o = m->out;
    if (!grow_events(o)) return !(m->oom = true);
    tc_event *e = &(*o->evs)[*o->n];
    memset(e, 0, sizeof *e);
    e->kind = TC_EV_CALL_OPEN;
    e->index = index;
    e->id = strdup(id);
    e->name = strdup(name);
    if (!e->id || !e->name) {
        free(e->id);
        free(e->name);
        return !(m->oom = true);
    }
    (*o->n)++;
    return true;
}

static bool emit_content(tc_machine *m, const char *s, size_t n) {
    if (m->ws_len) { /* held whitespace goes first */
        size_t k = m->ws_len;
        m->ws_len = 0;
        if (!emit_text(m, TC_EV_CONTENT, 0, m->ws, k)) return false;
    }
    return emit_text(m, TC_EV_CONTENT, 0, s, n);
}

/* ---- calls ------------------------------------------------------------------------- */

/* The call opens: its id, CALL_OPEN, the arguments known so far. */
static bool commit(tc_machine *m) {
    tc_callst *c = &m->c;
    if (c->committed) return true;
    c->committed = true;
    c->ev_mark = *m->out->n;
    c->rng_mark = m->rng;
    c->index = m->n_calls++;
    char id[32];
    tc_make_id(m->f, &m->rng, id);
    if (!emit_open(m, c->index, id, c->name)) return false;
    c->args_sent = c->args_a;
    if (c->args_str) return emit_text(m, TC_EV_CALL_ARGS, c->index, c->args_str, c->args_str_len);
    return true;
}

/* Send the arguments object's bytes read so far (up to `end`). */
static bool args_flush(tc_machine *m, size_t end) {
    tc_callst *c = &m->c;
    if (!c->committed || !c->args_obj || end <= c->args_sent) return true;
    size_t from = c->args_sent;
    c->args_sent = end;
    return emit_text(m, TC_EV_CALL_ARGS, c->index, m->buf + from, end - from);
}

static bool accept(tc_machine *m) {
    tc_callst *c = &m->c;
    if (!commit(m)) return false;
    if (c->args_obj && !args_flush(m, c->args_b)) return false;
    if (!c->have_args && !emit_text(m, TC_EV_CALL_ARGS, c->index, "{}", 2)) return false;
    c->accepted = true;
    m->r.calls++;
    return true;
}

/* A JSON string s[0, n) (with its quotes) decoded; NULL if it holds a NUL
 * (never for names) or on OOM.  *len its length. */
static char *decode_string(const char *s, size_t n, bool allow_nul, size_t *len) {
    json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    char *out = NULL;
    if (json_is_string(v)) {
        *len = json_string_length(v);
        if (allow_nul || strlen(json_string_value(v)) == *len) {
            out = malloc(*len + 1);
            if (out) memcpy(out, json_string_value(v), *len + 1);
        }
    }
    json_decref(v);
    return out;
}

/* The arguments given as a JSON string: its text must be one object
 * (surrounding whitespace trimmed). */
static bool string_args(tc_machine *m, size_t end) {
    tc_callst *c = &m->c;
    size_t n;
    char *s = decode_string(m->buf + c->val_a, end - c->val_a, true, &n);
    if (!s) return false;
    size_t a = 0;
    while (a < n && is_ws((unsigned char)s[a])) a++;
    while (n > a && is_ws((unsigned char)s[n - 1])) n--;
    if (!tj_is_object(s + a, n - a)) {
        free(s);
        return false;
    }
    memmove(s, s + a, n - a);
    s[n - a] = '\0';
    c->args_str = s;
    c->args_str_len = n - a;
    return true;
}

static int key_of(const char *k, size_t n) {
    static const struct {
        const char *s;
        int key;
    } KEYS[] = {{"name", K_NAME}, {"arguments", K_ARGS}, {"parameters", K_ARGS},
                {"type", K_TYPE}, {"id", K_ID}};
    for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0]; i++)
        if (strlen(KEYS[i].s) == n && memcmp(KEYS[i].s, k, n) == 0) return KEYS[i].key;
    return K_NONE;
}

/* A key of the call object ([a, b) with its quotes). */
static bool call_key(tc_machine *m, size_t a, size_t b) {
    tc_callst *c = &m->c;
    if (c->accepted) {
        c->key = K_IGNORE;
        return true;
    }
    int k = key_of(m->buf + a + 1, b - a - 2);
    if (k == K_NONE || (k == K_NAME && c->have_name) || (k == K_TYPE && c->have_type) ||
        (k == K_ARGS && (c->have_args || c->args_obj)))
        return false;
    c->key = k;
    return true;
}

/* A member's value begins at pos with byte ch. */
static bool member_begin(tc_machine *m, size_t pos, int ch) {
    tc_callst *c = &m->c;
    c->val_a = pos;
    switch (c->key) {
    case K_NAME:
    case K_TYPE: return ch == '"';
    case K_ARGS:
        if (ch == '{') {
            c->args_obj = c->args_open = true;
            c->args_a = pos;
            return !c->have_name || commit(m);
        }
        return ch == '"';
    default: return true;
    }
}

static bool member_end(tc_machine *m, size_t end) {
    tc_callst *c = &m->c;
    int k = c->key;
    c->key = K_NONE;
    size_t n;
    if (k == K_NAME) {
        c->name = decode_string(m->buf + c->val_a, end - c->val_a, false, &n);
        if (!c->name || n == 0 || n > TC_MAX_NAME) return false;
        c->have_name = true;
        return !c->have_args || accept(m);
    }
    if (k == K_TYPE) {
        char *t = decode_string(m->buf + c->val_a, end - c->val_a, false, &n);
        bool ok = t && strcmp(t, "function") == 0;
        free(t);
        c->have_type = true;
        return ok;
    }
    if (k != K_ARGS) return true;
    if (c->args_obj) {
        c->args_open = false;
        c->args_b = end;
    } else if (!string_args(m, end))
        return false;
    c->have_args = true;
    return !c->have_name || accept(m);
}

/* The call object closed. */
static bool call_end(tc_machine *m) {
    tc_callst *c = &m->c;
    bool may_omit = m->f == TC_HERMES || m->f == TC_MISTRAL || m->r.dc > 0;
    bool ok = c->accepted || (c->have_name && !c->have_args && may_omit && accept(m));
    call_reset(c);
    return ok;
}

static void call_start(tc_machine *m) {
    call_reset(&m->c);
    m->c.active = true;
}

/* ---- the region's JSON ------------------------------------------------------------- */

/* Generic: the wrapper's key (depth 1) decides where the calls are. */
static bool generic_key(tc_machine *m, size_t a, size_t b, bool *is_call_key) {
    tc_region *r = &m->r;
    const char *k = m->buf + a + 1;
    size_t n = b - a - 2;
    *is_call_key = false;
    if (r->dc != DC_GENERIC_ROOT) return false; /* the wrapper has one key */
    if (n == 9 && memcmp(k, "tool_call", 9) == 0) r->dc = 1;
    else if (n == 10 && memcmp(k, "tool_calls", 10) == 0) r->dc = 2;
    else {
        r->dc = 0; /* a bare call: the root object is the call */
        call_start(m);
        *is_call_key = true;
        return true;
    }
    return true;
}

/* Values at depths above the calls: the wrappers' shapes. */
static bool wrapper_begin(tc_machine *m, int depth, int ch) {
    if (m->f == TC_GENERIC && m->r.dc == 2 && depth == 1) return ch == '[';
    return true; /* the roots were checked when the region began */
}

static bool on_json(void *ctx, tj_event ev, int depth, size_t a, size_t b) {
    tc_machine *m = ctx;
    int dc = m->r.dc;
    if (dc == DC_ARGS_ROOT) { /* mistral v11 */
        if (depth != 0) return true;
        if (ev == TJ_BEGIN) return member_begin(m, a, (int)b);
        return member_end(m, a);
    }
    if (ev == TJ_KEY && depth == 1 && (dc == DC_GENERIC_ROOT || (m->f == TC_GENERIC && dc > 0))) {
        bool is_call_key;
        if (!generic_key(m, a, b, &is_call_key)) return false;
        if (!is_call_key) return true;
        dc = 0;
    }
    if (dc < 0) return true; /* the generic root's own BEGIN */
    if (depth < dc) return ev != TJ_BEGIN || wrapper_begin(m, depth, (int)b);
    if (depth == dc) {
        if (ev == TJ_BEGIN) {
            if (b != '{') return false;
            call_start(m);
            return true;
        }
        return ev != TJ_END || call_end(m);
    }
    if (depth > dc + 1) return true; /* inside a member's value */
    if (ev == TJ_KEY) return call_key(m, a, b);
    if (ev == TJ_BEGIN) return member_begin(m, a, (int)b);
    return member_end(m, a);
}

/* ---- regions ------------------------------------------------------------------------ */

/* The region ends at p: the way it went wrong, or the text ended in it. */
static void region_fail(tc_machine *m, size_t p) {
    tc_callst *c = &m->c;
    if (c->committed && !c->accepted) {
        if (m->retract) {
            tc_sink *o = m->out;
            for (int i = c->ev_mark; i < *o->n; i++) {
                tc_event *e = &(*o->evs)[i];
                free(e->id);
                free(e->name);
                free(e->text);
            }
            *o->n = c->ev_mark;
            m->rng = c->rng_mark;
            m->n_calls = c->index;
        } else
            m->r.calls++; /* sent: it stays */
    }
    call_reset(c);
    m->mode = M_CONTENT;
    if (m->r.calls == 0) {
        m->pos = m->r.restart; /* read the region again as content */
        return;
    }
    m->pos = p;
    m->after_call = true;
    m->ws_len = 0;
}

/* The region ended well at p. */
static void region_end(tc_machine *m, size_t p) {
    if (m->r.calls == 0) return region_fail(m, p);
    m->mode = M_CONTENT;
    m->pos = p;
    m->after_call = true;
    m->ws_len = 0;
}

static void region_begin(tc_machine *m, size_t restart, size_t pos, int mode, int dc) {
    memset(&m->r, 0, sizeof m->r);
    m->r.restart = restart;
    m->r.dc = dc;
    m->pos = pos;
    m->mode = mode;
    m->at_start = false;
    tj_reset(&m->j);
}

typedef enum { MATCH_NO, MATCH_PART, MATCH_FULL } match;

static match match_at(const tc_machine *m, size_t pos, const char *lit) {
    size_t n = strlen(lit), have = m->len - pos;
    size_t k = have < n ? have : n;
    if (memcmp(m->buf + pos, lit, k) != 0) return MATCH_NO;
    return k == n ? MATCH_FULL : MATCH_PART;
}

/* The JSON of the region starts at pos (the byte is read by M_JSON). */
static void json_begin(tc_machine *m, int dc) {
    m->r.dc = dc;
    m->mode = M_JSON;
    tj_reset(&m->j);
}

/* After a marker (or LLAMA3's ';'): whitespace, then the JSON. */
static int step_pre(tc_machine *m) {
    unsigned char ch = (unsigned char)m->buf[m->pos];
    if (is_ws(ch)) {
        m->pos++;
        return STEP_GO;
    }
    if (m->f == TC_MISTRAL && ch == '[') json_begin(m, 1);
    else if (m->f == TC_MISTRAL && m->r.calls == 0) {
        m->r.name_a = m->pos;
        m->mode = M_NAME;
    } else if (ch == '{' && m->f != TC_MISTRAL) json_begin(m, 0);
    else region_fail(m, m->pos);
    return STEP_GO;
}

/* Mistral v11: name, optional [ARGS], then the arguments object. */
static int step_name(tc_machine *m) {
    unsigned char ch = (unsigned char)m->buf[m->pos];
    size_t n = m->pos - m->r.name_a;
    tc_callst *c = &m->c;
    if (!m->r.args_tag && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                           (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.')) {
        if (n >= TC_MAX_NAME) region_fail(m, m->pos);
        else m->pos++;
        return STEP_GO;
    }
    if (!m->r.args_tag && ch == '[' && n > 0) {
        match k = match_at(m, m->pos, ARGS_TAG);
        if (k == MATCH_PART && !m->final) return STEP_WAIT;
        if (k != MATCH_FULL) region_fail(m, m->pos);
        else {
            m->r.args_tag = true;
            m->pos += sizeof ARGS_TAG - 1;
        }
        return STEP_GO;
    }
    if (ch != '{' || n == 0) {
        region_fail(m, m->pos);
        return STEP_GO;
    }
    call_start(m);
    size_t name_len = m->r.args_tag ? n - (sizeof ARGS_TAG - 1) : n;
    c->name = strndup(m->buf + m->r.name_a, name_len);
    if (!c->name) return STEP_OOM;
    c->have_name = true;
    c->key = K_ARGS;
    json_begin(m, DC_ARGS_ROOT);
    return STEP_GO;
}

static int step_json(tc_machine *m) {
    tj_result r = tj_step(&m->j, m->buf, m->pos, on_json, m);
    if (m->oom) return STEP_OOM;
    if (r == TJ_BAD || r == TJ_STOP) {
        region_fail(m, m->pos);
        return STEP_GO;
    }
    if (r == TJ_TAKEN) m->pos++;
    tc_callst *c = &m->c;
    if (c->args_open && !args_flush(m, m->pos)) return STEP_OOM;
    if (tj_done(&m->j)) m->mode = M_POST;
    return STEP_GO;
}

/* After the region's JSON: HERMES's closing tag, LLAMA3's ';'. */
static int step_post(tc_machine *m) {
    unsigned char ch = (unsigned char)m->buf[m->pos];
    if (m->f == TC_HERMES || m->f == TC_LLAMA3) {
        if (is_ws(ch)) {
            m->pos++;
            return STEP_GO;
        }
    }
    if (m->f == TC_LLAMA3) {
        if (ch != ';') region_end(m, m->pos);
        else {
            m->pos++;
            m->mode = M_PRE;
        }
        return STEP_GO;
    }
    if (m->f != TC_HERMES) {
        region_end(m, m->pos);
        return STEP_GO;
    }
    match k = match_at(m, m->pos, HERMES_CLOSE);
    if (k == MATCH_PART && !m->final) return STEP_WAIT;
    if (k == MATCH_FULL) region_end(m, m->pos + sizeof HERMES_CLOSE - 1);
    else region_fail(m, m->pos);
    return STEP_GO;
}

/* ---- content ------------------------------------------------------------------------- */

/* A marker of the format at pos: region (opens one) or dropped. */
static int step_marker(tc_machine *m, bool *handled) {
    static const struct {
        tc_format f;
        const char *lit;
        bool region;
    } MARKERS[] = {{TC_HERMES, HERMES_OPEN, true},
                   {TC_HERMES, HERMES_CLOSE, false},
                   {TC_LLAMA3, PYTHON_TAG, true},
                   {TC_LLAMA3, "<|eom_id|>", false},
                   {TC_LLAMA3, "<|eot_id|>", false},
                   {TC_MISTRAL, MISTRAL_TAG, true}};
    *handled = false;
    for (size_t i = 0; i < sizeof MARKERS / sizeof MARKERS[0]; i++) {
        if (MARKERS[i].f != m->f) continue;
        match k = match_at(m, m->pos, MARKERS[i].lit);
        if (k == MATCH_PART && !m->final) return *handled = true, STEP_WAIT;
        if (k != MATCH_FULL) continue;
        *handled = true;
        size_t after = m->pos + strlen(MARKERS[i].lit);
        if (MARKERS[i].region) region_begin(m, after, after, M_PRE, 0);
        else m->pos = after;
        return STEP_GO;
    }
    return STEP_GO;
}

static bool hold_ws(tc_machine *m, char ch) {
    if (m->ws_len + 1 >= m->ws_cap) {
        size_t cap = m->ws_cap ? m->ws_cap * 2 : 32;
        char *p = realloc(m->ws, cap);
        if (!p) return false;
        m->ws = p;
        m->ws_cap = cap;
    }
    m->ws[m->ws_len++] = ch;
    return true;
}

static int step_content(tc_machine *m) {
    unsigned char ch = (unsigned char)m->buf[m->pos];
    if (ch == '<' || ch == '[') {
        bool handled;
        int r = step_marker(m, &handled);
        if (handled) return r;
    }
    bool trigger = m->f == TC_LLAMA3 || m->f == TC_GENERIC;
    if (ch == '{' && m->at_start && trigger) {
        region_begin(m, m->pos, m->pos, M_JSON, m->f == TC_GENERIC ? DC_GENERIC_ROOT : 0);
        return STEP_GO;
    }
    if (is_ws(ch)) {
        m->pos++;
        if (m->after_call) return STEP_GO;
        return hold_ws(m, (char)ch) ? STEP_GO : STEP_OOM;
    }
    /* a run of bytes that are plain content */
    size_t end = m->pos + 1;
    while (end < m->len && !is_ws((unsigned char)m->buf[end]) && m->buf[end] != '<' &&
           m->buf[end] != '[')
        end++;
    m->at_start = m->after_call = false;
    size_t from = m->pos;
    m->pos = end;
    return emit_content(m, m->buf + from, end - from) ? STEP_GO : STEP_OOM;
}

bool tcm_run(tc_machine *m, const char *buf, size_t len, bool final, tc_sink *out) {
    m->buf = buf;
    m->len = len;
    m->final = final;
    m->out = out;
    for (;;) {
        if (m->pos >= len) {
            if (!final) return true;
            if (m->mode == M_CONTENT) break;
            region_fail(m, len); /* the text ended inside a region */
            continue;
        }
        int r;
        switch (m->mode) {
        case M_CONTENT: r = step_content(m); break;
        case M_PRE: r = step_pre(m); break;
        case M_JSON: r = step_json(m); break;
        case M_POST: r = step_post(m); break;
        default: r = step_name(m); break;
        }
        if (r == STEP_OOM || m->oom) return false;
        if (r == STEP_WAIT) return true;
    }
    /* the end: held whitespace is content (no call follows it) */
    return emit_content(m, "", 0);
}
