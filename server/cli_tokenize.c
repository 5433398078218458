/*
 * cli_tokenize.c — `ctgi tokenize`: show how a model's tokenizer splits a
 * text (ids and pieces), or tokenize a JSON array of strings in one process
 * (--batch, used by the tokenizer oracle tests).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model/model_info.h"

static const char USAGE[] =
    "usage: ctgi tokenize --model PATH [options] TEXT\n"
    "  --model PATH       GGUF file, Hugging Face directory, or tokenizer.json\n"
    "  --no-special       add no BOS/EOS (as llama.cpp's vocab test vectors expect)\n"
    "  --parse-special    recognise special-token text such as <|endoftext|>\n"
    "  --json             print {\"ids\", \"pieces\", \"text\"} as JSON\n"
    "  --batch FILE       tokenize every string of a JSON array; prints a JSON array\n";

typedef struct {
    const char *model, *text, *batch;
    bool add_special, parse_special, json;
} tok_args;

/* {"ids": [...], "pieces": [...], "text": decoded} for one string. */
static json_t *tokenize_one(const tokenizer *t, const char *text, size_t len, const tok_args *a,
                            bool with_pieces, char *err) {
    int32_t *ids = NULL;
    int n = tok_encode(t, text, len, a->add_special, a->parse_special, &ids, err);
    if (n < 0) return NULL;
    json_t *o = json_object(), *jids = json_array(), *pieces = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(jids, json_integer(ids[i]));
        const char *p = tok_piece(t, ids[i]);
        if (with_pieces) json_array_append_new(pieces, json_stringn_nocheck(p ? p : "", p ? strlen(p) : 0));
    }
    char *dec = tok_decode(t, ids, (size_t)n, false);
    json_object_set_new(o, "ids", jids);
    if (with_pieces) json_object_set_new(o, "pieces", pieces);
    else json_decref(pieces);
    json_object_set_new(o, "text", json_stringn_nocheck(dec ? dec : "", dec ? strlen(dec) : 0));
    free(dec);
    free(ids);
    return o;
}

static int run_batch(const tokenizer *t, const tok_args *a) {
    json_error_t je;
    json_t *arr = json_load_file(a->batch, JSON_ALLOW_NUL, &je);
    if (!json_is_array(arr)) {
        fprintf(stderr, "ctgi tokenize: %s: expected a JSON array of strings (%s)\n", a->batch, je.text);
        json_decref(arr);
        return 1;
    }
    json_t *out = json_array(), *s;
    size_t i;
    char err[CT_ERRLEN];
    int rc = 0;
    json_array_foreach(arr, i, s) {
        json_t *r = json_is_string(s) ? tokenize_one(t, json_string_value(s), json_string_length(s), a, false, err)
                                      : NULL;
        if (!r) {
            fprintf(stderr, "ctgi tokenize: item %zu: %s\n", i, json_is_string(s) ? err : "not a string");
            rc = 1;
            break;
        }
        json_array_append_new(out, r);
    }
    if (rc == 0) {
        json_dumpf(out, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
        putchar('\n');
    }
    json_decref(out);
    json_decref(arr);
    return rc;
}

static int run_one(const tokenizer *t, const tok_args *a) {
    char err[CT_ERRLEN];
    json_t *r = tokenize_one(t, a->text, strlen(a->text), a, true, err);
    if (!r) {
        fprintf(stderr, "ctgi tokenize: %s\n", err);
        return 1;
    }
    if (a->json) {
        json_dumpf(r, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
        putchar('\n');
    } else {
        json_t *ids = json_object_get(r, "ids"), *pieces = json_object_get(r, "pieces");
        for (size_t i = 0; i < json_array_size(ids); i++)
            printf("%6lld -> '%s'\n", (long long)json_integer_value(json_array_get(ids, i)),
                   json_string_value(json_array_get(pieces, i)));
        printf("%zu tokens\n", json_array_size(ids));
    }
    json_decref(r);
    return 0;
}

int cli_tokenize(int argc, char **argv) {
    tok_args a = {.add_special = true};
    cli_opts o;
    cli_opts_init(&o, "tokenize", argc, argv);
    while (cli_next(&o)) {
        if (cli_is(&o, "help")) { fputs(USAGE, stdout); return 0; }
        else if (cli_is(&o, "model")) a.model = cli_value(&o);
        else if (cli_is(&o, "no-special")) a.add_special = false;
        else if (cli_is(&o, "parse-special")) a.parse_special = true;
        else if (cli_is(&o, "json")) a.json = true;
        else if (cli_is(&o, "batch")) a.batch = cli_value(&o);
        else if (!o.name && !a.text) a.text = o.argv[o.i];
        else cli_unknown(&o);
    }
    if (o.error) return 2;
    if (!a.model || (!a.text && !a.batch)) {
        fputs(USAGE, stderr);
        return 2;
    }
    char err[CT_ERRLEN];
    tokenizer *t = model_load_tokenizer(a.model, err);
    if (!t) {
        fprintf(stderr, "ctgi tokenize: %s\n", err);
        return 1;
    }
    int rc = a.batch ? run_batch(t, &a) : run_one(t, &a);
    tok_free(t);
    return rc;
}
