/*
 * openai_messages.c — the two structured fields of OpenAI requests: chat
 * `messages` normalised for the chat template, and completions `prompt` in
 * its four shapes; plus the 400/422 helpers every openai_*.c file uses.
 *
 * Normalising a message: a deep copy of the client's object (so every
 * member a template might read — name, tool_calls, tool_call_id,
 * reasoning_content, … — survives), with `content` replaced by plain text:
 * a string stays as is, an array of {"type":"text","text"} parts becomes
 * their texts joined by "\n" (as vLLM joins them for string-content
 * templates), null or absent becomes null; and tool_calls[].function.
 * arguments, a JSON string on the wire, becomes the object it holds (when
 * it holds one), as templates read it.  Roles are checked later, by
 * oai_validate, on the normalised copy.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openai_read.h"

bool oai_bad(proto_error *err, const char *param, const char *fmt, ...) {
    if (!err) return false;
    va_list ap;
    va_start(ap, fmt);
    proto_vfail(err, 400, "validation", fmt, ap);
    va_end(ap);
    err->param = param;
    return false;
}

bool oai_unsupported(proto_error *err, const char *param, const char *code, const char *fmt,
                     ...) {
    if (!err) return false;
    va_list ap;
    va_start(ap, fmt);
    proto_vfail(err, 422, "validation", fmt, ap);
    va_end(ap);
    err->param = param;
    err->code = code;
    return false;
}


static bool oom(proto_error *err) {
    return proto_fail(err, 500, "internal", "out of memory reading the body");
}

bool oai_as_400(proto_error *err, const char *param) {
    if (err && err->status == 422) err->status = 400;
    if (err) err->param = param;
    return false;
}

/* ---- messages ------------------------------------------------------------ */

/* The part kinds OpenAI defines that ctgi cannot read yet. */
static const char *unsupported_part(const char *type) {
    if (strcmp(type, "image_url") == 0 || strcmp(type, "input_image") == 0) return "image";
    if (strcmp(type, "input_audio") == 0 || strcmp(type, "audio_url") == 0) return "audio";
    if (strcmp(type, "file") == 0 || strcmp(type, "input_file") == 0) return "file";
    return NULL;
}

/* The text of content part j of message i (borrowed from the document). */
static bool part_text(const ji_doc *d, const json_t *part, size_t i, size_t j, const char **s,
                      size_t *n, proto_error *err) {
    char path[64];
    snprintf(path, sizeof path, "messages[%zu].content[%zu]", i, j);
    if (!json_is_object(part)) {
        ji_type_error(d, part, path, "a content part object", err);
        return oai_as_400(err, "messages");
    }
    const json_t *type = json_object_get(part, "type");
    if (!json_is_string(type))
        return oai_bad(err, "messages", "%s: a content part needs a string `type`", path);
    const char *t = json_string_value(type);
    const char *what = unsupported_part(t);
    if (what)
        return oai_unsupported(err, "messages", "unsupported_value",
                               "%s: %s input is not supported (this server reads text only)",
                               path, what);
    if (strcmp(t, "text") != 0)
        return oai_bad(err, "messages", "%s: unknown content part type \"%.40s\"", path, t);
    const json_t *text = json_object_get(part, "text");
    if (!json_is_string(text))
        return oai_bad(err, "messages", "%s: a text part needs a string `text`", path);
    *s = json_string_value(text);
    *n = json_string_length(text);
    return true;
}

/* content → a new string (or null) in *out. */
static bool content_text(const ji_doc *d, const json_t *content, size_t i, json_t **out,
                         proto_error *err) {
    if (!content || json_is_null(content)) return (*out = json_null()) != NULL || oom(err);
    if (json_is_string(content)) return (*out = json_copy((json_t *)content)) != NULL || oom(err);
    char path[48];
    snprintf(path, sizeof path, "messages[%zu].content", i);
    if (!json_is_array(content)) {
        ji_type_error(d, content, path, "a string or a sequence of content parts", err);
        return oai_as_400(err, "messages");
    }
    size_t total = 0, np = json_array_size(content);
    for (size_t j = 0; j < np; j++) { /* check every part and size the result */
        const char *s;
        size_t n;
        if (!part_text(d, json_array_get(content, j), i, j, &s, &n, err)) return false;
        total += n + 1;
    }
    char *buf = malloc(total + 1), *at = buf;
    if (!buf) return oom(err);
    for (size_t j = 0; j < np; j++) {
        const char *s;
        size_t n;
        part_text(d, json_array_get(content, j), i, j, &s, &n, NULL);
        if (j > 0) *at++ = '\n';
        memcpy(at, s, n);
        at += n;
    }
    *out = json_stringn(buf, (size_t)(at - buf)); /* valid UTF-8: jansson checked the parts */
    free(buf);
    return *out != NULL || oom(err);
}

bool oai_read_messages(const ji_doc *d, const json_t *v, json_t **out, proto_error *err) {
    if (!json_is_array(v)) {
        ji_type_error(d, v, "messages", "a sequence of messages", err);
        return oai_as_400(err, "messages");
    }
    json_t *msgs = json_array();
    if (!msgs) return oom(err);
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *m = json_array_get(v, i);
        json_t *copy = NULL, *text = NULL;
        if (!json_is_object(m)) {
            char path[32];
            snprintf(path, sizeof path, "messages[%zu]", i);
            ji_type_error(d, m, path, "a message object", err);
            json_decref(msgs);
            return oai_as_400(err, "messages");
        }
        if (!content_text(d, json_object_get(m, "content"), i, &text, err)) {
            json_decref(msgs);
            return false;
        }
        copy = json_deep_copy(m);
        if (!copy || json_object_set_new(copy, "content", text) != 0 ||
            !oai_message_tool_calls(copy) ||
            json_array_append_new(msgs, copy) != 0) {
            json_decref(copy);
            json_decref(msgs);
            return oom(err);
        }
    }
    *out = msgs;
    return true;
}

/* ---- prompts --------------------------------------------------------------- */

/* A token id at path: an integer in [0, INT32_MAX]. */
static bool read_id(const ji_doc *d, const json_t *v, const char *path, int32_t *out,
                    proto_error *err) {
    if (!ji_i32(d, v, path, out, err)) return oai_as_400(err, "prompt");
    if (*out < 0) return oai_bad(err, "prompt", "%s: token ids must be >= 0. Given: %d", path,
                                 (int)*out);
    return true;
}

/* An array of ids (one prompt) into p. */
static bool read_ids(const ji_doc *d, const json_t *a, const char *path, oai_prompt *p,
                     proto_error *err) {
    size_t n = json_array_size(a);
    p->ids = calloc(n ? n : 1, sizeof *p->ids);
    if (!p->ids) return oom(err);
    for (size_t k = 0; k < n; k++) {
        char ipath[64];
        snprintf(ipath, sizeof ipath, "%s[%zu]", path, k);
        if (!read_id(d, json_array_get(a, k), ipath, &p->ids[k], err)) return false;
        p->n_ids = (int)k + 1;
    }
    return true;
}

/* Element i of a prompt list whose first element decided the shape. */
static bool read_prompt_item(const ji_doc *d, const json_t *e, size_t i, bool strings,
                             oai_prompt *p, proto_error *err) {
    char path[32];
    snprintf(path, sizeof path, "prompt[%zu]", i);
    if (strings) {
        if (!ji_string(d, e, path, &p->text, &p->text_len, err)) return oai_as_400(err, "prompt");
        return true;
    }
    if (!json_is_array(e)) {
        ji_type_error(d, e, path, "a sequence of token ids", err);
        return oai_as_400(err, "prompt");
    }
    return read_ids(d, e, path, p, err);
}

bool oai_read_prompt(const ji_doc *d, const json_t *v, oai_prompt **out, int *n_out,
                     proto_error *err) {
    if (json_is_string(v) || (json_is_array(v) && json_array_size(v) > 0 &&
                              json_is_integer(json_array_get(v, 0)))) {
        *out = calloc(1, sizeof **out);
        if (!*out) return oom(err);
        *n_out = 1;
        if (json_is_string(v)) return ji_string(d, v, "prompt", &(*out)->text,
                                                &(*out)->text_len, err) || oai_as_400(err, "prompt");
        return read_ids(d, v, "prompt", *out, err);
    }
    if (!json_is_array(v)) {
        ji_type_error(d, v, "prompt", "a string, a sequence of strings or token ids", err);
        return oai_as_400(err, "prompt");
    }
    size_t n = json_array_size(v);
    if (n == 0) return oai_bad(err, "prompt", "`prompt` must not be an empty list");
    *out = calloc(n, sizeof **out);
    if (!*out) return oom(err);
    bool strings = json_is_string(json_array_get(v, 0));
    for (size_t i = 0; i < n; i++) {
        *n_out = (int)i + 1; /* owned so far, for oai_request_free */
        if (!read_prompt_item(d, json_array_get(v, i), i, strings, &(*out)[i], err))
            return false;
    }
    return true;
}
