/*
 * toolcall_regex.c — tc_constraint_regex: the regex (constraint.h's
 * dialect) that forces a model to call one of the given tools in its own
 * format, with arguments valid for that tool's `parameters` schema
 * (json_schema.h).  The shapes, one call (CALL) or with `parallel` one or
 * more:
 *   HERMES   <tool_call>\n{"name": "f", "arguments": A}\n</tool_call>   (\n between blocks)
 *   LLAMA3   {"name": "f", "parameters": A}                             ("; " between)
 *   MISTRAL  [TOOL_CALLS][{"name": "f", "arguments": A}]                (", " between)
 *   GENERIC  {"tool_call": CALL}  /  {"tool_calls": [CALL, ...]}
 * with an optional space after each ':' and ',' of the wrapper, and A the
 * tool's arguments: its schema's regex, `{}` for a tool without
 * `parameters`, any object for an empty schema {}.  These are the shapes
 * tc_parse reads.  Note that the markers must then be spelled by ordinary
 * tokens: the constraint engine allows no special token but EOS.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constraint/constraint.h"
#include "constraint/json_schema.h"
#include "proto.h"
#include "toolcall.h"

typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} rx;

static void raw(rx *r, const char *s) {
    if (!r->oom && !proto_cat(&r->s, &r->len, &r->cap, s, strlen(s))) r->oom = true;
}

/* A literal: every metacharacter escaped. */
static void lit(rx *r, const char *s) {
    if (!r->oom && !cons_regex_escape(s, strlen(s), &r->s, &r->len, &r->cap)) r->oom = true;
}

/* The arguments regex of one tool (malloc'd), or NULL + err. */
static char *args_regex(const json_t *fn, const char *name, char *err) {
    const json_t *params = json_object_get(fn, "parameters");
    js_opts o = js_opts_default();
    char e[CT_ERRLEN];
    char *re;
    if (!params || json_is_null(params)) return strdup("\\{\\}");
    if (json_is_object(params) && json_object_size(params) == 0) re = js_any_json_regex(true, &o, e);
    else re = js_schema_to_regex(params, &o, e);
    if (!re) ct_err(err, "tool \"%.64s\": %s", name, e);
    return re;
}

/* A JSON string literal of name, as the model must write it. */
static char *json_name(const char *name) {
    json_t *s = json_string(name);
    char *out = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    json_decref(s);
    return out;
}

/* One call to any of the tools: (?:{"name": "f", "arguments": A}|...). */
static bool one_call(rx *r, tc_format f, const json_t *tools, char *err) {
    const char *args_key = f == TC_LLAMA3 ? "\"parameters\":" : "\"arguments\":";
    raw(r, "(?:");
    for (size_t i = 0; i < json_array_size(tools); i++) {
        const json_t *fn = json_object_get(json_array_get(tools, i), "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!json_is_object(fn) || !name)
            return ct_err(err, "tools[%zu]: not a function tool with a name", i);
        char *a = args_regex(fn, name, err);
        if (!a) return false; /* err names the tool */
        char *q = json_name(name);
        if (!q) {
            free(a);
            r->oom = true; /* reported by the caller */
            return true;
        }
        if (i > 0) raw(r, "|");
        lit(r, "{\"name\":");
        raw(r, " ?");
        lit(r, q);
        lit(r, ",");
        raw(r, " ?");
        lit(r, args_key);
        raw(r, " ?(?:");
        raw(r, a);
        raw(r, ")");
        lit(r, "}");
        free(a);
        free(q);
    }
    raw(r, ")");
    return true;
}

/* CALL, or CALL(?:sep CALL)* when parallel. */
static bool calls(rx *r, tc_format f, const json_t *tools, bool parallel, const char *open,
                  const char *close, const char *sep, char *err) {
    size_t start = r->len;
    lit(r, open);
    if (!one_call(r, f, tools, err)) return false;
    lit(r, close);
    if (!parallel || r->oom) return true;
    char *first = strndup(r->s + start, r->len - start);
    if (!first) return !(r->oom = true);
    raw(r, "(?:");
    raw(r, sep);
    raw(r, first);
    raw(r, ")*");
    free(first);
    return true;
}

char *tc_constraint_regex(tc_format f, const json_t *tools, bool parallel, char *err) {
    if (!json_is_array(tools) || json_array_size(tools) == 0) {
        ct_err(err, "no tools to call");
        return NULL;
    }
    rx r = {0};
    bool ok = true;
    switch (f) {
    case TC_HERMES: ok = calls(&r, f, tools, parallel, "<tool_call>\n", "\n</tool_call>", "\\n", err); break;
    case TC_LLAMA3: ok = calls(&r, f, tools, parallel, "", "", "; ", err); break;
    case TC_MISTRAL:
        lit(&r, "[TOOL_CALLS][");
        ok = calls(&r, f, tools, parallel, "", "", ", ?", err);
        lit(&r, "]");
        break;
    case TC_GENERIC:
        lit(&r, parallel ? "{\"tool_calls\":" : "{\"tool_call\":");
        raw(&r, " ?");
        if (parallel) lit(&r, "[");
        ok = calls(&r, f, tools, parallel, "", "", ", ?", err);
        if (parallel) lit(&r, "]");
        lit(&r, "}");
        break;
    }
    if (ok && r.oom) ok = ct_err(err, "out of memory building the tool-call constraint");
    if (!ok) {
        free(r.s);
        return NULL;
    }
    return r.s;
}
