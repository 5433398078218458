/*
 * openai_tools.c — the tool-calling fields of a chat request: `tools`
 * (checked and kept for the chat template and the constraint),
 * `tool_choice` (none / auto / required / one named function), their
 * cross-checks, and the history: an assistant message's
 * tool_calls[].function.arguments parsed from OpenAI's JSON string into an
 * object, as templates read it (Qwen2.5, Llama 3.1: `arguments | tojson`,
 * `| items`).
 *
 * Errors are 400 with param "tools" / "tool_choice" and the path in the
 * message, in OpenAI's words where OpenAI has them ("Missing required
 * parameter: 'tools[0].function'."); wrong JSON types use json_in's serde
 * wording.  A valid request for what ctgi does not do (custom tools,
 * tool_choice "allowed_tools") is 422 unsupported_value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openai_read.h"

#define TOOL_NAME_MAX 64

static bool oom(proto_error *err) {
    return proto_fail(err, 500, "internal", "out of memory reading the body");
}

static bool type_400(const ji_doc *d, const json_t *v, const char *path, const char *expected,
                     const char *param, proto_error *err) {
    ji_type_error(d, v, path, expected, err);
    return oai_as_400(err, param);
}

static bool missing(proto_error *err, const char *param, const char *path) {
    return oai_bad(err, param, "Missing required parameter: '%s'.", path);
}

/* An optional member of type `is` (null counts as absent). */
static bool optional(const ji_doc *d, const json_t *o, const char *key, bool (*is)(const json_t *),
                     const char *path, const char *expected, proto_error *err) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v) || is(v)) return true;
    char p[96];
    snprintf(p, sizeof p, "%s.%s", path, key);
    return type_400(d, v, p, expected, "tools", err);
}

static bool is_string(const json_t *v) { return json_is_string(v); }
static bool is_object(const json_t *v) { return json_is_object(v); }
static bool is_bool(const json_t *v) { return json_is_boolean(v); }

/* function.name: [a-zA-Z0-9_-]{1,64}, as OpenAI checks it. */
static bool check_name(const char *name, size_t n, const char *path, proto_error *err) {
    bool ok = n > 0;
    for (size_t i = 0; i < n && ok; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-';
    }
    if (!ok)
        return oai_bad(err, "tools", "Invalid '%s.name': string does not match pattern. Expected "
                       "a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", path);
    if (n > TOOL_NAME_MAX)
        return oai_bad(err, "tools", "Invalid '%s.name': string too long. Expected a string with "
                       "maximum length %d, but got a string with length %zu instead.", path,
                       TOOL_NAME_MAX, n);
    return true;
}

/* `parameters`: an object whose `type`, when a string, is "object". */
static bool check_parameters(const json_t *fn, const char *name, proto_error *err) {
    const json_t *t = json_object_get(json_object_get(fn, "parameters"), "type");
    if (!json_is_string(t) || strcmp(json_string_value(t), "object") == 0) return true;
    return oai_bad(err, "tools", "Invalid schema for function '%s': schema must be a JSON Schema "
                   "of 'type: \"object\"', got 'type: \"%.40s\"'.", name, json_string_value(t));
}

/* tools[i].type: "function" (a custom tool is 422). */
static bool check_type(const ji_doc *d, const json_t *tool, const char *path, proto_error *err) {
    const json_t *type = json_object_get(tool, "type");
    char p[64];
    snprintf(p, sizeof p, "%s.type", path);
    if (!type) return missing(err, "tools", p);
    if (!json_is_string(type)) return type_400(d, type, p, "a string", "tools", err);
    const char *t = json_string_value(type);
    if (strcmp(t, "function") == 0) return true;
    if (strcmp(t, "custom") == 0)
        return oai_unsupported(err, "tools", "unsupported_value",
                               "%s: custom tools are not supported (only \"function\")", p);
    return oai_bad(err, "tools", "Invalid value for '%s': \"%.40s\". Supported values are: "
                   "'function'.", p, t);
}

/* One tool, checked; *name is its function's name (borrowed). */
static bool check_tool(const ji_doc *d, const json_t *tool, size_t i, const char **name,
                       proto_error *err) {
    char path[48], fpath[64];
    snprintf(path, sizeof path, "tools[%zu]", i);
    snprintf(fpath, sizeof fpath, "%s.function", path);
    if (!json_is_object(tool)) return type_400(d, tool, path, "a tool object", "tools", err);
    if (!check_type(d, tool, path, err)) return false;
    const json_t *fn = json_object_get(tool, "function");
    if (!fn) return missing(err, "tools", fpath);
    if (!json_is_object(fn)) return type_400(d, fn, fpath, "a function object", "tools", err);
    const json_t *nm = json_object_get(fn, "name");
    char npath[80];
    snprintf(npath, sizeof npath, "%s.name", fpath);
    if (!nm) return missing(err, "tools", npath);
    if (!json_is_string(nm)) return type_400(d, nm, npath, "a string", "tools", err);
    *name = json_string_value(nm);
    return check_name(*name, json_string_length(nm), fpath, err) &&
           optional(d, fn, "description", is_string, fpath, "a string", err) &&
           optional(d, fn, "parameters", is_object, fpath, "a JSON Schema object", err) &&
           optional(d, fn, "strict", is_bool, fpath, "a boolean", err) &&
           check_parameters(fn, *name, err);
}

/* The copy given to the template: `parameters` always an object; a tool
 * without them takes no arguments (additionalProperties false, so the
 * forced-call constraint admits only {}). */
static json_t *tool_copy(const json_t *tool) {
    json_t *c = json_deep_copy(tool);
    json_t *fn = json_object_get(c, "function");
    const json_t *p = json_object_get(fn, "parameters");
    if (c && (!p || json_is_null(p)) &&
        json_object_set_new(fn, "parameters", json_pack("{s:s,s:{},s:b}", "type", "object",
                                                        "properties", "additionalProperties", 0)) != 0) {
        json_decref(c);
        return NULL;
    }
    return c;
}

bool oai_read_tools(const ji_doc *d, const json_t *v, json_t **out, bool *has, proto_error *err) {
    if (!json_is_array(v)) return type_400(d, v, "tools", "a sequence", "tools", err);
    size_t n = json_array_size(v);
    *has = n > 0;
    if (n == 0) return true;
    json_t *tools = json_array();
    if (!tools) return oom(err);
    for (size_t i = 0; i < n; i++) {
        const json_t *tool = json_array_get(v, i);
        const char *name = NULL;
        if (!check_tool(d, tool, i, &name, err)) goto fail;
        for (size_t k = 0; k < i; k++)
            if (strcmp(oai_tool_name(json_array_get(tools, k)), name) == 0) {
                oai_bad(err, "tools", "tools[%zu].function.name: \"%s\" is already the name of "
                        "tools[%zu] (function names must be unique)", i, name, k);
                goto fail;
            }
        if (json_array_append_new(tools, tool_copy(tool)) != 0) {
            oom(err);
            goto fail;
        }
    }
    *out = tools;
    return true;
fail:
    json_decref(tools);
    *has = false;
    return false;
}

/* ---- tool_choice ---------------------------------------------------------------- */

static bool choice_object(const ji_doc *d, const json_t *v, oai_request *r, proto_error *err) {
    const char *P = "tool_choice";
    const json_t *type = json_object_get(v, "type");
    if (!type) return missing(err, P, "tool_choice.type");
    if (!json_is_string(type)) return type_400(d, type, "tool_choice.type", "a string", P, err);
    const char *t = json_string_value(type);
    if (strcmp(t, "allowed_tools") == 0)
        return oai_unsupported(err, P, "unsupported_value", "`tool_choice` of type "
                               "\"allowed_tools\" is not supported: name one function, or send "
                               "\"auto\" or \"required\" with only the allowed tools");
    if (strcmp(t, "function") != 0)
        return oai_bad(err, P, "Invalid value for 'tool_choice.type': \"%.40s\". Supported "
                       "values are: 'function'.", t);
    const json_t *fn = json_object_get(v, "function");
    if (!fn) return missing(err, P, "tool_choice.function");
    if (!json_is_object(fn))
        return type_400(d, fn, "tool_choice.function", "a function object", P, err);
    const json_t *nm = json_object_get(fn, "name");
    if (!nm) return missing(err, P, "tool_choice.function.name");
    if (!ji_string(d, nm, "tool_choice.function.name", &r->tool_choice_name, NULL, err))
        return oai_as_400(err, P);
    r->tool_choice = OAI_TOOL_CHOICE_FUNCTION;
    return true;
}

bool oai_read_tool_choice(const ji_doc *d, const json_t *v, oai_request *r, proto_error *err) {
    static const struct {
        const char *s;
        oai_tool_choice c;
    } MODES[] = {{"none", OAI_TOOL_CHOICE_NONE},
                 {"auto", OAI_TOOL_CHOICE_AUTO},
                 {"required", OAI_TOOL_CHOICE_REQUIRED}};
    r->has_tool_choice = true;
    if (json_is_object(v)) return choice_object(d, v, r, err);
    if (!json_is_string(v))
        return type_400(d, v, "tool_choice", "\"none\", \"auto\", \"required\" or a named function",
                        "tool_choice", err);
    for (size_t i = 0; i < sizeof MODES / sizeof MODES[0]; i++)
        if (strcmp(json_string_value(v), MODES[i].s) == 0) {
            r->tool_choice = MODES[i].c;
            return true;
        }
    return oai_bad(err, "tool_choice", "Invalid value for 'tool_choice': \"%.40s\". Supported "
                   "values are: 'none', 'auto', 'required', or {\"type\": \"function\", "
                   "\"function\": {\"name\": \"...\"}}.", json_string_value(v));
}

void oai_tools_resolve(oai_request *r) {
    if (!r->has_tool_choice || (r->tool_choice == OAI_TOOL_CHOICE_AUTO && !r->tools))
        r->tool_choice = r->tools ? OAI_TOOL_CHOICE_AUTO : OAI_TOOL_CHOICE_NONE;
}

/* ---- validation and use ----------------------------------------------------------- */

const char *oai_tool_name(const json_t *tool) {
    return json_string_value(json_object_get(json_object_get(tool, "function"), "name"));
}

static const json_t *find_tool(const oai_request *r, const char *name) {
    for (size_t i = 0; i < json_array_size(r->tools); i++) {
        const json_t *t = json_array_get(r->tools, i);
        if (strcmp(oai_tool_name(t), name) == 0) return t;
    }
    return NULL;
}

bool oai_validate_tools(const oai_request *r, proto_error *err) {
    bool forced = r->tool_choice == OAI_TOOL_CHOICE_REQUIRED ||
                  r->tool_choice == OAI_TOOL_CHOICE_FUNCTION;
    if (forced && !r->tools)
        return oai_bad(err, "tool_choice", "Invalid value for 'tool_choice': 'tool_choice' is only "
                       "allowed when 'tools' are specified.");
    if (r->tool_choice == OAI_TOOL_CHOICE_FUNCTION && !find_tool(r, r->tool_choice_name))
        return oai_bad(err, "tool_choice", "Invalid value for 'tool_choice': no function named "
                       "\"%.64s\" in 'tools'.", r->tool_choice_name);
    return true;
}

const json_t *oai_template_tools(const oai_request *r) {
    return r->tool_choice == OAI_TOOL_CHOICE_NONE ? NULL : r->tools;
}

json_t *oai_forced_tools(const oai_request *r) {
    if (r->tool_choice == OAI_TOOL_CHOICE_REQUIRED) return json_incref(r->tools);
    if (r->tool_choice != OAI_TOOL_CHOICE_FUNCTION) return NULL;
    const json_t *t = find_tool(r, r->tool_choice_name);
    json_t *one = t ? json_array() : NULL;
    if (one && json_array_append(one, (json_t *)t) != 0) {
        json_decref(one);
        return NULL;
    }
    return one;
}

/* ---- history --------------------------------------------------------------------- */

bool oai_message_tool_calls(json_t *msg) {
    json_t *calls = json_object_get(msg, "tool_calls");
    for (size_t i = 0; i < json_array_size(calls); i++) {
        json_t *fn = json_object_get(json_array_get(calls, i), "function");
        const json_t *a = json_object_get(fn, "arguments");
        if (!json_is_string(a)) continue;
        json_t *obj = json_loadb(json_string_value(a), json_string_length(a), 0, NULL);
        if (!json_is_object(obj)) { /* not an object: the string stays */
            json_decref(obj);
            continue;
        }
        if (json_object_set_new(fn, "arguments", obj) != 0) return false;
    }
    return true;
}
