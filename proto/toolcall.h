/*
 * toolcall.h — OpenAI tool calling on top of a model's own tool-call
 * format: which format a chat template speaks, the constraint that forces
 * a well-formed call (tool_choice "required" or a named function), and
 * the parser that turns generated text back into message.tool_calls —
 * whole (non-stream) and incrementally (stream deltas).
 *
 * Formats (../shared/reference/structured-output.md §2):
 *   TC_HERMES   Hermes 2 Pro / Qwen2.5: <tool_call>\n{"name": N, "arguments": {..}}\n</tool_call>
 *               (several blocks = parallel calls; text may precede them)
 *   TC_LLAMA3   Llama 3.1/3.2/3.3: {"name": N, "parameters": {..}} (or "arguments"),
 *               optionally after <|python_tag|>, several joined by ';'
 *   TC_MISTRAL  Mistral: [TOOL_CALLS][{"name": N, "arguments": {..}}, ...]
 *               (and the v11 form [TOOL_CALLS]name{..})
 *   TC_GENERIC  any other template: {"tool_call": {"name": N, "arguments": {..}}}
 *               or {"tool_calls": [...]}; a plain {"name":..,"arguments":..}
 *               object is accepted too.  The server tells the model about
 *               the tools in a system note when the template ignores `tools`.
 * Output that does not parse as the format's calls is plain content: never
 * an error.  Markers (<tool_call>, [TOOL_CALLS], <|python_tag|>; and
 * </tool_call>, Llama's <|eom_id|> / <|eot_id|>) never reach `content`:
 * give the parsers the text with special tokens kept, they strip them.
 */
#ifndef CTGI_TOOLCALL_H
#define CTGI_TOOLCALL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { TC_GENERIC, TC_HERMES, TC_LLAMA3, TC_MISTRAL } tc_format;

/* The format a chat template's source speaks (llama.cpp's detection order
 * where it applies), first match wins:
 *   "<tool_call>"                                   -> TC_HERMES
 *   "<|start_header_id|>" and "<function="          -> TC_GENERIC (Functionary
 *                                                      v3.1: not a format here)
 *   "<|python_tag|>", or "<|start_header_id|>" with
 *   "ipython" or "tools"                            -> TC_LLAMA3
 *   "[TOOL_CALLS]" or "[AVAILABLE_TOOLS]"           -> TC_MISTRAL
 *   anything else, NULL included                    -> TC_GENERIC */
tc_format tc_detect_format(const char *template_src);
const char *tc_format_name(tc_format f); /* "generic", "hermes", "llama3", "mistral" */

typedef struct {
    char *id;        /* "call_" + 24 alphanumerics; 9 alphanumerics for TC_MISTRAL */
    char *name;
    char *arguments; /* the arguments object's JSON text as the model wrote it (it parses;
                        "{}" when the format has none; the decoded text when the model
                        wrote the object inside a JSON string) */
} tc_call;

typedef struct {
    char *content;      /* text outside the calls (markers removed), NULL if none */
    size_t content_len; /* its bytes */
    tc_call *calls;     /* (n_calls) */
    int n_calls;
} tc_result;

/* Whether a template's source reads `tools` (TGI's test: the word occurs).
 * When it does not, the model learns of the tools only from tc_tools_note. */
bool tc_template_reads_tools(const char *template_src);

/* The note that tells a model whose template ignores `tools` which tools
 * it has and how to call them in TC_GENERIC's shape (the server adds it to
 * the system message, or sends it as one): the answer format
 * {"tool_call": {"name", "arguments"}} (with parallel also
 * {"tool_calls": [...]}), then one line per tool, its `function` object as
 * JSON.  tools: OpenAI tool objects.  malloc'd; NULL on OOM. */
char *tc_tools_note(const json_t *tools, bool parallel);

/* Parse a finished generation.  Returns the number of calls found (0: the
 * whole text is content).  Ids come from rng_state (a per-request seed;
 * advanced by one draw per character of each id).  -1 only on allocation
 * failure (*out is then empty).
 *
 * Whitespace right before a call's marker and right after a call is not
 * content (a model writes "\n" between blocks); a call whose JSON is
 * malformed or cut off is content (its marker removed). */
int tc_parse(tc_format f, const char *text, size_t len, uint64_t *rng_state, tc_result *out);
void tc_result_clear(tc_result *r);

/* The constraint (constraint.h's regex dialect) that makes the model emit
 * one call (or, with parallel, one or more) in format f to one of the
 * given tools (a JSON array of OpenAI tool objects, already filtered to
 * the allowed ones), their arguments validating against each tool's
 * `parameters` schema.  NULL + err (CT_ERRLEN) naming the tool and the
 * schema keyword when a schema cannot be compiled. */
char *tc_constraint_regex(tc_format f, const json_t *tools, bool parallel, char *err);

/* Incremental parsing for streams: feed the text of each token as it is
 * generated; get back what may be sent now.  Text that could still be the
 * start of a call marker is held back until it is decided; so is a
 * whitespace run (until the next byte says whether a call follows it),
 * a call from its marker until its name is known and its arguments object
 * has begun, and (LLAMA3 / GENERIC) an output that begins with '{' until
 * its first key says whether it is a call. */
typedef enum {
    TC_EV_CONTENT,   /* text: content delta */
    TC_EV_CALL_OPEN, /* index, id, name: a call begins (arguments "" in the wire delta) */
    TC_EV_CALL_ARGS, /* index, text: a fragment of that call's arguments */
} tc_event_kind;

typedef struct {
    tc_event_kind kind;
    int index;              /* the call's index (0, 1, ...); 0 for content */
    char *id, *name, *text; /* owned by the event; NULL where not applicable */
    size_t len;             /* bytes of text */
} tc_event;

typedef struct tc_stream tc_stream;
tc_stream *tc_stream_new(tc_format f, uint64_t seed);
void tc_stream_free(tc_stream *s);
/* Feed text (final: the generation ended; flush everything).  Appends the
 * events that can be sent to *evs (n, cap; realloc'd; events already in
 * the array are left alone).  The concatenated arguments of a call are
 * exactly tc_parse's `arguments` for it, and the calls (ids included, with
 * seed = tc_parse's *rng_state) and content are the same as tc_parse of
 * the whole text, however the text was cut into pieces — with one
 * exception: a call whose arguments object began but never closed
 * properly (max_tokens cut it, or the model broke the JSON) was already
 * opened and partly sent; the stream keeps it (its arguments are then a
 * JSON prefix, as OpenAI's own are when cut by length) and the text after
 * the break comes as content, where tc_parse makes the call content.
 * Pieces should end on UTF-8 character boundaries (the engine's streaming
 * decoder does), so that no event splits a character.  Feeding after the
 * final piece does nothing.  false on allocation failure. */
bool tc_stream_feed(tc_stream *s, const char *text, size_t len, bool final, tc_event **evs, int *n,
                    int *cap);
void tc_events_clear(tc_event *evs, int n);

#endif
