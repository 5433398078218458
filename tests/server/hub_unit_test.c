/*
 * hub_unit_test.c — the Hub client's pure parts: SHA-256 against FIPS 180-4
 * vectors (whole and fed in odd pieces), repo id validation, the settings
 * hub_init reads from the environment (endpoint, cache directory, token,
 * offline, timeouts) and the GGUF choice of hub_pick_gguf.  The network
 * side runs against a fake Hub in hub_test.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub.h"
#include "sha256.h"

static void hex_of(const void *p, size_t n, char out[65]) {
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, p, n);
    sha256_hex(&c, out);
}

static void sha256_vectors(void **state) {
    (void)state;
    char h[65];
    hex_of("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes: padding spills */
    hex_of(two, strlen(two), h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    hex_of(a, 1000000, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* the same million bytes in pieces of 1..97 bytes */
    sha256_ctx c;
    sha256_init(&c);
    for (size_t off = 0, k = 1; off < 1000000; k = k % 97 + 1) {
        size_t n = 1000000 - off < k ? 1000000 - off : k;
        sha256_update(&c, a + off, n);
        off += n;
    }
    char h2[65];
    sha256_hex(&c, h2);
    assert_string_equal(h2, h);
    free(a);
}

static void repo_ids(void **state) {
    (void)state;
    char err[HUB_ERRLEN];
    const char *good[] = {"HuggingFaceTB/SmolLM2-135M-Instruct", "ggml-org/models", "a/b", "org_1/m.v2-x"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) assert_true(hub_repo_id_check(good[i], err));
    const char *bad[] = {"gpt2", "a/b/c", "/b", "a/", "a--b/c", "a/b..c", "-a/b", "a/b.", "a b/c", "a/b?x",
                         "../x", "./models/x.gguf", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        assert_false(hub_repo_id_check(bad[i], err));
        assert_non_null(strstr(err, "not a Hub repo id"));
    }
    char longer[120];
    memset(longer, 'x', sizeof longer);
    memcpy(longer, "org/", 4);
    longer[4 + 97] = '\0'; /* a name of 97 characters */
    assert_false(hub_repo_id_check(longer, err));
    longer[4 + 96] = '\0';
    assert_true(hub_repo_id_check(longer, err));
}

static const char *const VARS[] = {"HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME",
                                   "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE",
                                   "HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT"};

static void clear_env(void) {
    for (size_t i = 0; i < sizeof VARS / sizeof *VARS; i++) unsetenv(VARS[i]);
}

static void settings_from_env(void **state) {
    (void)state;
    char err[HUB_ERRLEN];
    hub h;
    clear_env();
    setenv("HOME", "/home/u", 1);
    assert_int_equal(hub_init(&h, err), HUB_OK);
    assert_string_equal(h.endpoint, "https://huggingface.co");
    assert_string_equal(h.cache, "/home/u/.cache/huggingface/hub");
    assert_false(h.offline);
    assert_int_equal(h.etag_timeout, 10);
    hub_free(&h);

    setenv("XDG_CACHE_HOME", "/xdg", 1);
    setenv("HF_ENDPOINT", "http://127.0.0.1:9/", 1);
    setenv("HF_HUB_OFFLINE", "yes", 1);
    setenv("HF_HUB_ETAG_TIMEOUT", "3", 1);
    assert_int_equal(hub_init(&h, err), HUB_OK);
    assert_string_equal(h.endpoint, "http://127.0.0.1:9");
    assert_string_equal(h.cache, "/xdg/huggingface/hub");
    assert_true(h.offline);
    assert_int_equal(h.etag_timeout, 3);
    hub_free(&h);

    setenv("HF_HOME", "~/hf", 1);
    assert_int_equal(hub_init(&h, err), HUB_OK);
    assert_string_equal(h.cache, "/home/u/hf/hub");
    hub_free(&h);
    setenv("HUGGINGFACE_HUB_CACHE", "/legacy", 1);
    assert_int_equal(hub_init(&h, err), HUB_OK);
    assert_string_equal(h.cache, "/legacy");
    hub_free(&h);
    setenv("HF_HUB_CACHE", "/new", 1);
    assert_int_equal(hub_init(&h, err), HUB_OK);
    assert_string_equal(h.cache, "/new");
    hub_free(&h);

    setenv("HF_ENDPOINT", "ftp://x", 1);
    assert_int_equal(hub_init(&h, err), HUB_E_USAGE);
    assert_non_null(strstr(err, "HF_ENDPOINT"));
    unsetenv("HF_ENDPOINT");
    setenv("HF_HUB_DOWNLOAD_TIMEOUT", "soon", 1);
    assert_int_equal(hub_init(&h, err), HUB_E_USAGE);
    assert_non_null(strstr(err, "HF_HUB_DOWNLOAD_TIMEOUT"));
    clear_env();
}

static void token_sources(void **state) {
    (void)state;
    char err[HUB_ERRLEN], dir[] = "/tmp/hub_unit_XXXXXX", file[64];
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/token", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("hf_from_file\n", f);
    fclose(f);
    hub h;
    clear_env();
    setenv("HF_HOME", dir, 1);
    assert_int_equal(hub_init(&h, err), HUB_OK);
    assert_string_equal(h.token, "hf_from_file"); /* $HF_HOME/token */
    hub_free(&h);
    setenv("HUGGING_FACE_HUB_TOKEN", "hf_legacy", 1);
    assert_int_equal(hub_init(&h, err), HUB_OK);
    assert_string_equal(h.token, "hf_legacy");
    hub_free(&h);
    setenv("HF_TOKEN", "hf_env", 1);
    assert_int_equal(hub_init(&h, err), HUB_OK);
    assert_string_equal(h.token, "hf_env");
    hub_free(&h);
    setenv("HF_TOKEN", "hf_x\r\nX-Injected: 1", 1);
    assert_int_equal(hub_init(&h, err), HUB_E_USAGE);
    assert_non_null(strstr(err, "HF_TOKEN"));
    clear_env();
    setenv("HF_HOME", "/nonexistent-hub-home", 1);
    assert_int_equal(hub_init(&h, err), HUB_OK);
    assert_null(h.token);
    hub_free(&h);
    clear_env();
    unlink(file);
    rmdir(dir);
}

static hub_repo repo_of(const char **files, int n) {
    hub_repo r = {.repo_id = "org/m", .revision = "main", .files = (char **)files, .n_files = n};
    return r;
}

static void gguf_choice(void **state) {
    (void)state;
    char err[HUB_ERRLEN], g[256];
    const char *one[] = {"README.md", "m-F16.gguf"};
    hub_repo r = repo_of(one, 2);
    assert_int_equal(hub_pick_gguf(&r, NULL, g, sizeof g, err), HUB_OK);
    assert_string_equal(g, "m-F16.gguf");

    const char *many[] = {"m-Q8_0.gguf", "sub/m-q4_k_m.gguf", "mmproj-m-Q4_K_M.gguf", "m-Q2_K.gguf"};
    r = repo_of(many, 4);
    assert_int_equal(hub_pick_gguf(&r, NULL, g, sizeof g, err), HUB_OK);
    assert_string_equal(g, "sub/m-q4_k_m.gguf");
    assert_int_equal(hub_pick_gguf(&r, "m-Q2_K.gguf", g, sizeof g, err), HUB_OK);
    assert_string_equal(g, "m-Q2_K.gguf");
    assert_int_equal(hub_pick_gguf(&r, "m-Q3_K.gguf", g, sizeof g, err), HUB_E_NOT_FOUND);
    assert_non_null(strstr(err, "m-Q8_0.gguf, sub/m-q4_k_m.gguf"));
    assert_null(strstr(err, "mmproj"));
    assert_int_equal(hub_pick_gguf(&r, "config.json", g, sizeof g, err), HUB_E_USAGE);

    const char *two[] = {"a-Q4_K_M.gguf", "b-Q4_K_M.gguf"};
    r = repo_of(two, 2);
    assert_int_equal(hub_pick_gguf(&r, NULL, g, sizeof g, err), HUB_E_USAGE);
    assert_non_null(strstr(err, "a-Q4_K_M.gguf, b-Q4_K_M.gguf"));
    assert_non_null(strstr(err, "--model-file"));

    const char *st[] = {"config.json", "model.safetensors", "m.gguf", "tokenizer.json"};
    r = repo_of(st, 4);
    assert_int_equal(hub_pick_gguf(&r, NULL, g, sizeof g, err), HUB_OK);
    assert_string_equal(g, ""); /* safetensors */
    assert_int_equal(hub_pick_gguf(&r, "m.gguf", g, sizeof g, err), HUB_OK);
    assert_string_equal(g, "m.gguf");

    const char *none[] = {"README.md", "pytorch_model.bin"};
    r = repo_of(none, 2);
    assert_int_equal(hub_pick_gguf(&r, NULL, g, sizeof g, err), HUB_E_NOT_FOUND);
    assert_non_null(strstr(err, "README.md, pytorch_model.bin"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha256_vectors), cmocka_unit_test(repo_ids),    cmocka_unit_test(settings_from_env),
        cmocka_unit_test(token_sources),  cmocka_unit_test(gguf_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
