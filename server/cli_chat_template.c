/*
 * cli_chat_template.c — `ctgi chat-template`: render a chat template over a
 * JSON list of messages and print the prompt byte-exact (no added newline),
 * optionally with its token ids.  Used to inspect a model's prompt format
 * and by the golden test against @huggingface/jinja.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/chat_template.h"
#include "cli.h"
#include "model/model_info.h"

static const char USAGE[] =
    "usage: ctgi chat-template (--model PATH | --template FILE) --messages FILE.json [options]\n"
    "  --model PATH             the model whose template, BOS/EOS and tokenizer to use\n"
    "  --template FILE          a .jinja template, or a .json with a chat_template member\n"
    "                           (overrides the model's, as `ctgi serve --chat-template`)\n"
    "  --messages FILE.json     a JSON array of {\"role\", \"content\", ...} messages\n"
    "  --no-generation-prompt   render with add_generation_prompt = false\n"
    "  --tools FILE.json        a JSON array passed as `tools`\n"
    "  --kwargs FILE.json       a JSON object of extra template variables\n"
    "  --bos TEXT, --eos TEXT   bos_token / eos_token (default: the model's, else \"\")\n"
    "  --now UNIX_SECONDS       the clock strftime_now reads (default: now)\n"
    "  --ids                    print the token ids (needs --model) instead of the text\n"
    "  --json                   print {\"text\": ..., \"ids\": [...]} (ids with --model)\n";

typedef struct {
    const char *model, *tmpl, *messages, *tools, *kwargs, *bos, *eos;
    uint64_t now;
    bool no_gen, ids, json;
} ct_args;

/* Parse argv into a; 0 ok, 2 usage error (message printed). */
static int parse_args(int argc, char **argv, ct_args *a, bool *help) {
    cli_opts o;
    cli_opts_init(&o, "chat-template", argc, argv);
    while (cli_next(&o)) {
        if (cli_is(&o, "help")) { *help = true; return 0; }
        else if (cli_is(&o, "model")) a->model = cli_value(&o);
        else if (cli_is(&o, "template")) a->tmpl = cli_value(&o);
        else if (cli_is(&o, "messages")) a->messages = cli_value(&o);
        else if (cli_is(&o, "tools")) a->tools = cli_value(&o);
        else if (cli_is(&o, "kwargs")) a->kwargs = cli_value(&o);
        else if (cli_is(&o, "bos")) a->bos = cli_value(&o);
        else if (cli_is(&o, "eos")) a->eos = cli_value(&o);
        else if (cli_is(&o, "now")) cli_u64(&o, &a->now);
        else if (cli_is(&o, "no-generation-prompt")) a->no_gen = true;
        else if (cli_is(&o, "ids")) a->ids = true;
        else if (cli_is(&o, "json")) a->json = true;
        else cli_unknown(&o);
    }
    if (o.error) return 2;
    if ((!a->model && !a->tmpl) || !a->messages) {
        fputs(USAGE, stderr);
        return 2;
    }
    if (a->ids && !a->model) {
        fprintf(stderr, "ctgi chat-template: --ids needs --model (the tokenizer)\n");
        return 2;
    }
    return 0;
}

/* A JSON file that must be of the given type (JSON_ARRAY / JSON_OBJECT). */
static json_t *load_json_as(const char *path, json_type type, const char *what) {
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        fprintf(stderr, "ctgi chat-template: %s: %s (line %d)\n", path, je.text, je.line);
        return NULL;
    }
    if (json_typeof(j) != type) {
        fprintf(stderr, "ctgi chat-template: %s: expected %s\n", path, what);
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Print the result: text, ids, or both as JSON.  0 ok, 1 error. */
static int print_result(const ct_args *a, const model *m, const char *text, size_t n) {
    json_t *ids = NULL;
    if (m) {
        char err[CT_ERRLEN];
        int32_t *v = NULL;
        int k = tok_encode(model_tokenizer(m), text, n, false, true, &v, err);
        if (k < 0) {
            fprintf(stderr, "ctgi chat-template: tokenize: %s\n", err);
            return 1;
        }
        ids = json_array();
        for (int i = 0; i < k; i++) json_array_append_new(ids, json_integer(v[i]));
        free(v);
    }
    if (a->json) {
        json_t *o = json_object();
        json_object_set_new(o, "text", json_stringn_nocheck(text, n));
        if (ids) json_object_set(o, "ids", ids);
        json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
        putchar('\n');
        json_decref(o);
    } else if (a->ids) {
        for (size_t i = 0; i < json_array_size(ids); i++)
            printf("%s%lld", i ? " " : "", (long long)json_integer_value(json_array_get(ids, i)));
        putchar('\n');
    } else {
        fwrite(text, 1, n, stdout);
    }
    json_decref(ids);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* Load the inputs, render, print.  0 ok, 1 error. */
static int run(const ct_args *a) {
    char err[CT_ERRLEN];
    model *m = NULL;
    chat_template *ct = NULL;
    json_t *msgs = NULL, *tools = NULL, *kwargs = NULL;
    int rc = 1;
    if (a->model && !(m = model_load(a->model, err))) {
        fprintf(stderr, "ctgi chat-template: %s\n", err);
        goto done;
    }
    if (!(ct = chat_template_create(m, a->tmpl, err))) {
        fprintf(stderr, "ctgi chat-template: %s\n", err);
        goto done;
    }
    if (!(msgs = load_json_as(a->messages, JSON_ARRAY, "a JSON array of messages"))) goto done;
    if (a->tools && !(tools = load_json_as(a->tools, JSON_ARRAY, "a JSON array of tools"))) goto done;
    if (a->kwargs && !(kwargs = load_json_as(a->kwargs, JSON_OBJECT, "a JSON object"))) goto done;
    chat_render_opts opt = {.add_generation_prompt = !a->no_gen, .tools = tools, .kwargs = kwargs,
                            .now = (time_t)a->now, .bos_token = a->bos, .eos_token = a->eos};
    size_t n = 0;
    char *text = chat_template_render(ct, m, msgs, &opt, &n, err);
    if (!text) {
        fprintf(stderr, "ctgi chat-template: %s\n", err);
        goto done;
    }
    rc = print_result(a, m, text, n);
    free(text);
done:
    json_decref(msgs);
    json_decref(tools);
    json_decref(kwargs);
    chat_template_free(ct);
    model_free(m);
    return rc;
}

int cli_chat_template(int argc, char **argv) {
    ct_args a = {0};
    bool help = false;
    int rc = parse_args(argc, argv, &a, &help);
    if (help) {
        fputs(USAGE, stdout);
        return 0;
    }
    return rc ? rc : run(&a);
}
