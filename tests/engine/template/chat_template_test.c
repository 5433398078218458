/*
 * chat_template_test.c — engine/chat_template.c: where a model's template
 * comes from and how it is rendered.
 *
 *   - origin: GGUF tokenizer.chat_template; for a Hugging Face directory
 *     chat_template.jinja, then chat_template.json, then
 *     tokenizer_config.json (string, or list with a "default" entry); the
 *     documented fallback when there is none; an override file (.jinja
 *     text or .json with a chat_template member) wins over all;
 *   - the fallback's exact text, bos_token / eos_token from the model's
 *     tokenizer (or given), tools, kwargs, the strftime_now clock;
 *   - continuation of an assistant message: the cut after the last
 *     occurrence of its content (verbatim, else stripped);
 *   - errors: unreadable / malformed override, a parse error in a model's
 *     template, raise_exception, bad arguments — a message, never a crash;
 *   - `ctgi chat-template`: byte-exact output, exit codes, --ids with one BOS.
 * Expected strings are written by hand from the templates' meaning (the
 * golden comparison with @huggingface/jinja is chat_template_golden_test.sh).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "template/chat_template.h"
#include "model/dtype.h"
#include "model/model.h"
#include "support/synth_model.h"
#include "support/testutil.h"

typedef struct {
    char *dir;       /* scratch directory */
    char *stories;   /* stories260K.gguf: no chat template, BOS <s>, EOS </s> */
    char *hf;        /* a synthetic HF directory (template files added per test) */
} fixture;

static char *path_in(const fixture *fx, const char *name) {
    size_t n = strlen(fx->dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", fx->dir, name);
    return p;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static json_t *js(const char *text) {
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j) fail_msg("bad JSON in test: %s: %s", text, je.text);
    return j;
}

/* Render messages (JSON text) with ct and compare with want. */
static void expect_render(const chat_template *ct, const model *m, const char *messages,
                          const chat_render_opts *opt, const char *want) {
    json_t *msgs = js(messages);
    char err[CT_ERRLEN] = "";
    size_t n = 0;
    char *out = chat_template_render(ct, m, msgs, opt, &n, err);
    json_decref(msgs);
    if (!out) fail_msg("render failed: %s", err);
    if (strcmp(out, want) != 0 || n != strlen(want)) {
        print_error("want: [%s]\ngot:  [%s]\n", want, out);
        free(out);
        fail();
    }
    free(out);
}

/* Render must fail with an error containing want. */
static void expect_render_error(const chat_template *ct, const char *messages, const chat_render_opts *opt,
                                const char *want) {
    json_t *msgs = js(messages);
    char err[CT_ERRLEN] = "";
    char *out = chat_template_render(ct, NULL, msgs, opt, NULL, err);
    json_decref(msgs);
    if (out) {
        print_error("rendered [%s] where an error was expected\n", out);
        free(out);
        fail();
    }
    if (!strstr(err, want)) fail_msg("error '%s' does not contain '%s'", err, want);
}

static chat_template *override(const fixture *fx, const char *name, const char *text) {
    char *p = path_in(fx, name);
    write_text(p, text);
    char err[CT_ERRLEN] = "";
    chat_template *ct = chat_template_create(NULL, p, err);
    if (!ct) fail_msg("chat_template_create(%s): %s", p, err);
    free(p);
    return ct;
}

static const char CONV[] = "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"},"
                           "{\"role\":\"assistant\",\"content\":\"Hello.\"},{\"role\":\"user\",\"content\":\"Bye\"}]";

/* ---- fallback, bos/eos ---------------------------------------------------------- */

static void test_fallback(void **state) {
    (void)state;
    char err[CT_ERRLEN];
    chat_template *ct = chat_template_create(NULL, NULL, err);
    assert_non_null(ct);
    assert_true(chat_template_is_fallback(ct));
    assert_string_equal(chat_template_origin(ct), "fallback");
    assert_string_equal(chat_template_source(ct), CHAT_TEMPLATE_FALLBACK);
    chat_render_opts o = {.add_generation_prompt = true, .bos_token = "<s>"};
    expect_render(ct, NULL, CONV, &o,
                  "<s>System: Be brief.\n\nUser: Hi\n\nAssistant: Hello.\n\nUser: Bye\n\nAssistant:");
    o.add_generation_prompt = false;
    expect_render(ct, NULL, CONV, &o, "<s>System: Be brief.\n\nUser: Hi\n\nAssistant: Hello.\n\nUser: Bye\n\n");
    /* no model, no bos given: "" */
    expect_render(ct, NULL, "[{\"role\":\"tool\",\"content\":\"42\"}]", NULL, "Tool: 42\n\n");
    chat_template_free(ct);
}

static void test_model_bos_eos(void **state) {
    fixture *fx = *state;
    char err[CT_ERRLEN];
    model *m = model_load(fx->stories, err);
    if (!m) fail_msg("%s", err);
    chat_template *ct = chat_template_create(m, NULL, err);
    assert_non_null(ct);
    assert_true(chat_template_is_fallback(ct)); /* stories260K ships no template */
    chat_render_opts o = {.add_generation_prompt = true};
    expect_render(ct, m, "[{\"role\":\"user\",\"content\":\"Hi\"}]", &o, "<s>User: Hi\n\nAssistant:");
    chat_template_free(ct);

    char *p = path_in(fx, "tokens.jinja");
    write_text(p, "{{ bos_token }}|{{ eos_token }}");
    ct = chat_template_create(m, p, err);
    assert_non_null(ct);
    expect_render(ct, m, "[]", NULL, "<s>|</s>");
    o = (chat_render_opts){.bos_token = "B", .eos_token = ""};
    expect_render(ct, m, "[]", &o, "B|");
    expect_render(ct, NULL, "[]", NULL, "|"); /* no model: "" */
    chat_template_free(ct);
    free(p);
    model_free(m);
}

/* ---- continuation ------------------------------------------------------------------- */

static void test_continuation(void **state) {
    fixture *fx = *state;
    char err[CT_ERRLEN];
    chat_template *ct = chat_template_create(NULL, NULL, err);
    chat_render_opts o = {.add_generation_prompt = true, .bos_token = "<s>"};
    /* the generation prompt is off and the "\n\n" after the content is cut */
    expect_render(ct, NULL,
                  "[{\"role\":\"user\",\"content\":\"Tell a story\"},{\"role\":\"assistant\",\"content\":\"Once upon\"}]",
                  &o, "<s>User: Tell a story\n\nAssistant: Once upon");
    /* the LAST occurrence: the user said the same words */
    expect_render(ct, NULL, "[{\"role\":\"user\",\"content\":\"yes\"},{\"role\":\"assistant\",\"content\":\"yes\"}]", &o,
                  "<s>User: yes\n\nAssistant: yes");
    chat_template_free(ct);

    /* a template that trims the content: the stripped content is found */
    ct = override(fx, "trim.jinja",
                  "{% for m in messages %}[{{ m.role }}]{{ m.content | trim }}</t>{% endfor %}"
                  "{% if add_generation_prompt %}[assistant]{% endif %}");
    expect_render(ct, NULL, "[{\"role\":\"user\",\"content\":\"Q\"},{\"role\":\"assistant\",\"content\":\" Sure, \"}]",
                  &o, "[user]Q</t>[assistant]Sure,");
    /* content not in the output at all: kept whole */
    chat_template_free(ct);
    ct = override(fx, "nocontent.jinja", "{% for m in messages %}<{{ m.role }}>{% endfor %}");
    expect_render(ct, NULL, "[{\"role\":\"user\",\"content\":\"Q\"},{\"role\":\"assistant\",\"content\":\"A\"}]", &o,
                  "<user><assistant>");
    /* a user message last: a normal prompt (the generation prompt stays on) */
    chat_template_free(ct);
    ct = override(fx, "gen.jinja", "{% if add_generation_prompt %}on{% else %}off{% endif %}");
    expect_render(ct, NULL, "[{\"role\":\"user\",\"content\":\"Q\"}]", &o, "on");
    chat_template_free(ct);
}

/* ---- origins ------------------------------------------------------------------------- */

static void test_gguf_origin(void **state) {
    fixture *fx = *state;
    char err[CT_ERRLEN];
    char *p = path_in(fx, "with-template.gguf");
    const char *src = "{{ bos_token }}[gguf]{% for m in messages %}{{ m['content'] }}{% endfor %}";
    synth_gguf_edit e = {.add_key = "tokenizer.chat_template", .add_str = src};
    if (!synth_gguf_rewrite(fx->stories, p, &e, err)) fail_msg("%s", err);
    model *m = model_load(p, err);
    if (!m) fail_msg("%s", err);
    chat_template *ct = chat_template_create(m, NULL, err);
    assert_non_null(ct);
    assert_string_equal(chat_template_origin(ct), "gguf");
    assert_false(chat_template_is_fallback(ct));
    assert_string_equal(chat_template_source(ct), src);
    expect_render(ct, m, "[{\"role\":\"user\",\"content\":\"hi\"}]", NULL, "<s>[gguf]hi");
    chat_template_free(ct);
    model_free(m);

    /* a parse error in the model's template fails creation, naming the source */
    e.add_str = "{% for m in messages %}never closed";
    if (!synth_gguf_rewrite(fx->stories, p, &e, err)) fail_msg("%s", err);
    m = model_load(p, err);
    if (!m) fail_msg("%s", err);
    err[0] = '\0';
    assert_null(chat_template_create(m, NULL, err));
    if (!strstr(err, "gguf")) fail_msg("error '%s' does not name the source", err);
    model_free(m);
    free(p);
}

static void hf_file(const fixture *fx, const char *name, const char *text) {
    size_t n = strlen(fx->hf) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", fx->hf, name);
    write_text(p, text);
    free(p);
}

/* Load the HF directory and check which template applies. */
static void expect_hf_origin(const fixture *fx, const char *origin, const char *want) {
    char err[CT_ERRLEN];
    model *m = model_load(fx->hf, err);
    if (!m) fail_msg("%s", err);
    chat_template *ct = chat_template_create(m, NULL, err);
    if (!ct) fail_msg("%s", err);
    assert_string_equal(chat_template_origin(ct), origin);
    expect_render(ct, m, "[]", NULL, want);
    chat_template_free(ct);
    model_free(m);
}

static void test_hf_origin_order(void **state) {
    fixture *fx = *state;
    expect_hf_origin(fx, "fallback", "<s>"); /* no options: no generation prompt */
    /* tokenizer_config.json: its chat_template string */
    char tc[4096];
    snprintf(tc, sizeof tc, "%s/tokenizer_config.json", fx->hf);
    json_error_t je;
    json_t *cfg = json_load_file(tc, 0, &je);
    assert_non_null(cfg);
    json_object_set_new(cfg, "chat_template", json_string("tokenizer_config"));
    assert_int_equal(json_dump_file(cfg, tc, 0), 0);
    expect_hf_origin(fx, "tokenizer_config.json", "tokenizer_config");
    /* the list form: the entry named "default", wherever it is */
    json_object_set_new(cfg, "chat_template",
                        js("[{\"name\":\"tool_use\",\"template\":\"tool_use\"},{\"name\":\"default\",\"template\":\"default\"}]"));
    assert_int_equal(json_dump_file(cfg, tc, 0), 0);
    json_decref(cfg);
    expect_hf_origin(fx, "tokenizer_config.json", "default");
    /* chat_template.json wins over tokenizer_config.json */
    hf_file(fx, "chat_template.json", "{\"chat_template\": \"from json {{ eos_token }}\"}");
    expect_hf_origin(fx, "chat_template.json", "from json </s>");
    /* chat_template.jinja wins over both */
    hf_file(fx, "chat_template.jinja", "from jinja {{ bos_token }}");
    expect_hf_origin(fx, "chat_template.jinja", "from jinja <s>");
}

static void test_override(void **state) {
    fixture *fx = *state;
    char err[CT_ERRLEN];
    char *p = path_in(fx, "ovr.jinja");
    write_text(p, "override {{ messages | length }}");
    model *m = model_load(fx->hf, err); /* has chat_template.jinja after test_hf_origin_order, or not */
    if (!m) fail_msg("%s", err);
    chat_template *ct = chat_template_create(m, p, err);
    assert_non_null(ct);
    char want[4200];
    snprintf(want, sizeof want, "--chat-template %s", p);
    assert_string_equal(chat_template_origin(ct), want);
    expect_render(ct, m, CONV, NULL, "override 4");
    chat_template_free(ct);
    free(p);

    p = path_in(fx, "ovr.json");
    write_text(p, "{\"chat_template\": \"json override {{ bos_token }}\", \"other\": 1}");
    ct = chat_template_create(m, p, err);
    assert_non_null(ct);
    assert_string_equal(chat_template_source(ct), "json override {{ bos_token }}");
    expect_render(ct, m, "[]", NULL, "json override <s>");
    chat_template_free(ct);
    free(p);
    model_free(m);
}

static void expect_create_error(const fixture *fx, const char *name, const char *text, const char *want) {
    char *p = path_in(fx, name);
    if (text) write_text(p, text);
    char err[CT_ERRLEN] = "";
    chat_template *ct = chat_template_create(NULL, p, err);
    if (ct) {
        chat_template_free(ct);
        fail_msg("%s: created where an error was expected", name);
    }
    if (!strstr(err, want) || !strstr(err, name)) fail_msg("%s: error '%s' does not contain '%s'", name, err, want);
    free(p);
}

static void test_bad_override(void **state) {
    fixture *fx = *state;
    expect_create_error(fx, "missing.jinja", NULL, "missing.jinja");
    expect_create_error(fx, "nomember.json", "{\"template\": \"x\"}", "chat_template");
    expect_create_error(fx, "notjson.json", "{\"chat_template\": ", "--chat-template");
    expect_create_error(fx, "number.json", "{\"chat_template\": 3}", "chat_template");
    expect_create_error(fx, "syntax.jinja", "{% if x %}unterminated", "--chat-template");
    expect_create_error(fx, "syntax2.jinja", "{{ 1 + }}", "--chat-template");
}

/* ---- variables and render errors ---------------------------------------------------- */

static void test_variables(void **state) {
    fixture *fx = *state;
    chat_template *ct = override(fx, "vars.jinja",
                                 "{% if tools is none %}no tools{% else %}{{ tools | length }} tools: "
                                 "{{ tools[0].function.name }}{% endif %}|{{ greeting | default('-') }}|"
                                 "{{ strftime_now('%Y-%m-%d') }}");
    json_t *tools = js("[{\"type\":\"function\",\"function\":{\"name\":\"f\"}},{\"type\":\"function\",\"function\":{\"name\":\"g\"}}]");
    json_t *kw = js("{\"greeting\":\"hey\"}");
    chat_render_opts o = {.now = 1721952000}; /* 2024-07-26 (UTC, TZ is set in main) */
    expect_render(ct, NULL, "[]", &o, "no tools|-|2024-07-26");
    o.tools = tools;
    o.kwargs = kw;
    expect_render(ct, NULL, "[]", &o, "2 tools: f|hey|2024-07-26");
    chat_template_free(ct);

    ct = override(fx, "raise.jinja", "{% if messages | length > 1 %}{{ raise_exception('only one message, please') }}{% endif %}ok");
    expect_render(ct, NULL, "[{\"role\":\"user\",\"content\":\"a\"}]", NULL, "ok");
    expect_render_error(ct, CONV, NULL, "template error: only one message, please");
    expect_render_error(ct, "{\"role\":\"user\"}", NULL, "messages must be a JSON array");
    json_t *bad_kw = js("{\"bos_token\":\"<evil>\"}");
    o = (chat_render_opts){.kwargs = bad_kw};
    expect_render_error(ct, "[]", &o, "may not set 'bos_token'");
    o = (chat_render_opts){.kwargs = tools};
    expect_render_error(ct, "[]", &o, "chat_template_kwargs must be a JSON object");
    o = (chat_render_opts){.tools = kw};
    expect_render_error(ct, "[]", &o, "tools must be a JSON array");
    chat_template_free(ct);

    ct = override(fx, "runtime.jinja", "{{ messages[0].content.no_such_method() }}");
    expect_render_error(ct, "[{\"role\":\"user\",\"content\":\"a\"}]", NULL, "template error: ");
    chat_template_free(ct);
    json_decref(bad_kw);
    json_decref(tools);
    json_decref(kw);
}

/* ---- ctgi chat-template ------------------------------------------------------------- */

static char *run_cli(const char *args, int *status) {
    char cmd[8192 + 512];
    snprintf(cmd, sizeof cmd, "%s chat-template %s 2>/dev/null", tu_ctgi_bin(), args);
    char *out = tu_run(cmd, status);
    assert_non_null(out);
    return out;
}

static void test_cli(void **state) {
    fixture *fx = *state;
    char *msgs = path_in(fx, "cli-messages.json");
    write_text(msgs, "[{\"role\":\"user\",\"content\":\"Hello \\\"world\\\"\"}]");
    char args[8192];
    int st;
    snprintf(args, sizeof args, "--model %s --messages %s", fx->stories, msgs);
    char *out = run_cli(args, &st);
    assert_int_equal(st, 0);
    assert_string_equal(out, "<s>User: Hello \"world\"\n\nAssistant:"); /* no added newline */
    free(out);

    /* ids: the template's <s> becomes BOS (id 1 in stories260K) exactly once */
    snprintf(args, sizeof args, "--model %s --messages %s --ids", fx->stories, msgs);
    out = run_cli(args, &st);
    assert_int_equal(st, 0);
    if (strncmp(out, "1 ", 2) != 0 || strstr(out, " 1 ")) fail_msg("ids '%s': want one leading BOS 1", out);
    free(out);

    snprintf(args, sizeof args, "--model %s --messages %s --json --no-generation-prompt", fx->stories, msgs);
    out = run_cli(args, &st);
    assert_int_equal(st, 0);
    json_t *j = js(out);
    assert_string_equal(json_string_value(json_object_get(j, "text")), "<s>User: Hello \"world\"\n\n");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "ids"), 0)), 1);
    json_decref(j);
    free(out);

    char *raise = path_in(fx, "cli-raise.jinja");
    write_text(raise, "{{ raise_exception('no thanks') }}");
    snprintf(args, sizeof args, "--template %s --messages %s", raise, msgs);
    free(run_cli(args, &st));
    assert_int_equal(st, 1);
    snprintf(args, sizeof args, "--messages %s", msgs); /* neither --model nor --template */
    free(run_cli(args, &st));
    assert_int_equal(st, 2);
    snprintf(args, sizeof args, "--template %s --messages %s --ids", raise, msgs); /* --ids needs a model */
    free(run_cli(args, &st));
    assert_int_equal(st, 2);
    snprintf(args, sizeof args, "--template %s --messages %s/none.json", raise, fx->dir);
    free(run_cli(args, &st));
    assert_int_equal(st, 1);
    free(raise);
    free(msgs);
}

/* ---- fixture ---------------------------------------------------------------------- */

static int group_setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    char err[CT_ERRLEN];
    fx->dir = tu_mkdtemp();
    fx->stories = tu_model_path("stories260K.gguf");
    fx->hf = path_in(fx, "hf");
    *state = fx;
    char *vocab = tu_model_path("vocab/ggml-vocab-llama-spm.gguf");
    char *tok = tu_model_path("synth/llama-spm-hf/tokenizer.json");
    synth_config c = synth_default();
    c.vocab_gguf = vocab;
    c.tokenizer_json = tok; /* its tokenizer_config.json (no chat_template) comes along */
    c.weight_type = DT_F16;
    c.n_layers = 1;
    bool ok = synth_write_hf(&c, fx->hf, err);
    if (!ok) fprintf(stderr, "chat_template_test setup: %s\n", err);
    free(vocab);
    free(tok);
    return ok ? 0 : -1;
}

static int group_teardown(void **state) {
    fixture *fx = *state;
    tu_rmrf(fx->dir);
    free(fx->dir);
    free(fx->stories);
    free(fx->hf);
    free(fx);
    return 0;
}

int main(void) {
    setenv("TZ", "UTC", 1); /* strftime_now reads local time, as transformers' does */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fallback),        cmocka_unit_test(test_model_bos_eos),
        cmocka_unit_test(test_continuation),    cmocka_unit_test(test_gguf_origin),
        cmocka_unit_test(test_hf_origin_order), cmocka_unit_test(test_override),
        cmocka_unit_test(test_bad_override),    cmocka_unit_test(test_variables),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests_name("chat_template", tests, group_setup, group_teardown);
}
