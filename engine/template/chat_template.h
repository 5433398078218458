/*
 * chat_template.h — a model's chat template: which one applies, and turning
 * a list of chat messages into the prompt text the model was trained on.
 *
 * Owns: choosing the template source (an override file, the model's own
 * template, or the plain fallback below), parsing it once with the Jinja
 * interpreter (jinja.h), and rendering it the way TGI and transformers do:
 * the variables are `messages`, `bos_token`, `eos_token`,
 * `add_generation_prompt`, `tools` (none when absent) and any extra
 * kwargs (chat_template_kwargs, e.g. enable_thinking).
 *
 * The rendered text is meant to be tokenized with tok_encode(add_special =
 * false, parse_special = true): a BOS comes only from the template's own
 * `{{ bos_token }}`, never twice.
 *
 * The fallback, for models that ship no template (e.g. stories260K), is a
 * Jinja source rendered by the same interpreter:
 *
 *     {{ bos_token }}                       then, for each message,
 *     "System: <content>\n\n" | "User: <content>\n\n" | "Assistant: <content>\n\n"
 *                                           (another role R: "R: ...", capitalized)
 *     "Assistant:"                          when add_generation_prompt
 *
 * Continuation: when the last message is from the assistant, the prompt
 * continues that message instead of opening a new turn (TGI's behaviour):
 * the template is rendered with add_generation_prompt = false and the
 * output is cut right after the LAST occurrence of that message's content
 * (if the content is not found verbatim — templates often `| trim` it — the
 * content with surrounding whitespace stripped is searched; if neither is
 * found, or the content is empty or not a string, the output is kept whole).
 *
 * A chat_template is read-only once created: one may be rendered from many
 * threads at once.
 */
#ifndef CTGI_CHAT_TEMPLATE_H
#define CTGI_CHAT_TEMPLATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common.h"
#include "model/model_info.h"

typedef struct chat_template chat_template;

/* The fallback template's Jinja source (documented above). */
extern const char CHAT_TEMPLATE_FALLBACK[];

/* The template text of a `chat_template` JSON member (tokenizer_config.json,
 * chat_template.json): a string, or a list of {name, template} from which
 * the entry named "default" is taken (else the first).  NULL otherwise.
 * The result points into v. */
const char *chat_template_from_json(const json_t *v);

/* Resolve the template: override_path (--chat-template FILE; a .jinja text,
 * or a .json with a chat_template member) if given, else m->chat_template
 * (GGUF tokenizer.chat_template, or the HF directory's files, see
 * model_hf.c), else the plain fallback.  m may be NULL.  Parses it once.
 * NULL + err when the override can't be read or any template fails to
 * parse (naming the source). */
chat_template *chat_template_create(const model *m, const char *override_path, char *err);
void chat_template_free(chat_template *ct);

/* Where the template came from: "--chat-template <path>", "gguf",
 * "chat_template.jinja", "chat_template.json", "tokenizer_config.json", or
 * "fallback". */
const char *chat_template_origin(const chat_template *ct);
bool chat_template_is_fallback(const chat_template *ct);
const char *chat_template_source(const chat_template *ct); /* the template text */

typedef struct {
    bool add_generation_prompt;   /* true for a normal chat request */
    const json_t *tools;          /* NULL or a JSON array, passed as `tools` */
    const json_t *kwargs;         /* NULL or an object: extra variables (chat_template_kwargs);
                                     it may not set the variables above (an error) */
    time_t now;                   /* strftime_now clock, 0 = now */
    const char *bos_token;        /* NULL: the model's BOS text ("" without a model / BOS) */
    const char *eos_token;        /* NULL: the model's EOS text ("" without a model / EOS) */
} chat_render_opts;

/* Render messages (a JSON array of message objects {role, content, ...};
 * content already text) with bos_token / eos_token, add_generation_prompt,
 * tools and kwargs; an assistant message last is continued (see above).
 * m may be NULL.  Returns malloc'd NUL-terminated text (*len its length,
 * len may be NULL), or NULL + err ("template error: ..." naming the
 * problem; a raise_exception(msg) in the template gives
 * "template error: msg"). */
char *chat_template_render(const chat_template *ct, const model *m, const json_t *messages,
                           const chat_render_opts *opt, size_t *len, char *err);

#endif
