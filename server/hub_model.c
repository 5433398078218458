/*
 * hub_model.c — which files of a Hub repo make a model ctgi can load (see
 * hub.h): a GGUF repo gives one .gguf (--model-file, else the only one,
 * else the only Q4_K_M one; mmproj files are never chosen by themselves);
 * a safetensors repo (model.safetensors or its index at the top level)
 * gives config.json, the tokenizer / generation / chat-template files it
 * has, and the weights (the index's shards).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hub.h"
#include "hub_http.h"

/* the files a safetensors model may bring besides config.json and weights */
static const char *const EXTRAS[] = {"tokenizer.json",          "tokenizer_config.json", "generation_config.json",
                                     "special_tokens_map.json", "chat_template.jinja",   "chat_template.json"};

static bool ends_with_ci(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

static bool contains_ci(const char *s, const char *needle) {
    for (size_t k = strlen(needle); *s; s++)
        if (strncasecmp(s, needle, k) == 0) return true;
    return false;
}

static bool is_gguf(const char *name) {
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    return ends_with_ci(name, ".gguf") && strncasecmp(base, "mmproj", 6) != 0;
}

/* "a, b, c" of the repo's .gguf files (or all files when none), shortened */
static void list_choices(const hub_repo *r, bool gguf_only, char *out, size_t cap) {
    size_t o = 0;
    out[0] = '\0';
    int shown = 0;
    for (int i = 0; i < r->n_files && o + 8 < cap; i++) {
        if (gguf_only && !is_gguf(r->files[i])) continue;
        if (shown == 24) {
            hub_fmt(out + o, cap - o, ", ...");
            return;
        }
        int n = snprintf(out + o, cap - o, "%s%s", shown ? ", " : "", r->files[i]);
        o += n > 0 ? (size_t)n : 0;
        shown++;
    }
    if (o >= cap) out[cap - 1] = '\0';
}

static bool is_safetensors_repo(const hub_repo *r) {
    return hub_repo_has(r, "model.safetensors") || hub_repo_has(r, "model.safetensors.index.json");
}

hub_status hub_pick_gguf(const hub_repo *r, const char *model_file, char *gguf, size_t cap, char *err) {
    char choices[600];
    gguf[0] = '\0';
    if (model_file && *model_file) {
        if (!ends_with_ci(model_file, ".gguf")) {
            hub_fmt(err, HUB_ERRLEN, "--model-file (MODEL_FILE) '%.200s' is not a .gguf file", model_file);
            return HUB_E_USAGE;
        }
        if (!hub_repo_has(r, model_file)) {
            list_choices(r, true, choices, sizeof choices);
            hub_fmt(err, HUB_ERRLEN, "%s (revision %s) has no file '%.200s'%s; its GGUF files: %s", r->repo_id,
                     r->revision, model_file, r->from_cache ? " in the cache" : "", choices[0] ? choices : "none");
            return r->from_cache ? HUB_E_OFFLINE : HUB_E_NOT_FOUND;
        }
        hub_fmt(gguf, cap, "%s", model_file);
        return HUB_OK;
    }
    if (is_safetensors_repo(r)) return HUB_OK;
    int n = 0, n_q4km = 0;
    const char *only = NULL, *q4km = NULL;
    for (int i = 0; i < r->n_files; i++) {
        if (!is_gguf(r->files[i])) continue;
        n++, only = r->files[i];
        if (contains_ci(r->files[i], "q4_k_m")) n_q4km++, q4km = r->files[i];
    }
    if (n == 1 || n_q4km == 1) {
        hub_fmt(gguf, cap, "%s", n == 1 ? only : q4km);
        return HUB_OK;
    }
    if (n == 0) {
        list_choices(r, false, choices, sizeof choices);
        hub_fmt(err, HUB_ERRLEN, "%s (revision %s%s) has neither a .gguf file nor model.safetensors; files: %s",
                 r->repo_id, r->revision, r->from_cache ? ", in the cache" : "", choices[0] ? choices : "none");
        return r->from_cache ? HUB_E_OFFLINE : HUB_E_NOT_FOUND;
    }
    list_choices(r, true, choices, sizeof choices);
    hub_fmt(err, HUB_ERRLEN, "%s has %d GGUF files%s; choose one with --model-file (MODEL_FILE): %s", r->repo_id,
             n, n_q4km ? " and several Q4_K_M ones" : " and none is Q4_K_M", choices);
    return HUB_E_USAGE;
}

/* The index's shards (weight_map values), each fetched once. */
static hub_status fetch_shards(hub *h, const hub_repo *r, const char *index, char *err) {
    char path[PATH_MAX * 2];
    hub_fmt(path, sizeof path, "%s/%s", r->snapshot, index);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    json_t *map = json_object_get(j, "weight_map");
    if (!json_is_object(map) || json_object_size(map) == 0) {
        hub_fmt(err, HUB_ERRLEN, "%s/%s: no weight_map (%s)", r->repo_id, index, j ? "not an index" : je.text);
        json_decref(j);
        return HUB_E_PROTOCOL;
    }
    json_t *done = json_object(), *v;
    const char *k;
    hub_status s = HUB_OK;
    json_object_foreach(map, k, v) {
        const char *shard = json_string_value(v);
        if (!shard) {
            hub_fmt(err, HUB_ERRLEN, "%s/%s: weight_map[%s] is not a file name", r->repo_id, index, k);
            s = HUB_E_PROTOCOL;
            break;
        }
        if (json_object_get(done, shard)) continue;
        json_object_set_new(done, shard, json_true());
        if ((s = hub_fetch(h, r, shard, NULL, err)) != HUB_OK) break;
    }
    json_decref(done);
    json_decref(j);
    return s;
}

hub_status hub_fetch_model(hub *h, const hub_repo *r, const char *model_file, char *path, char *err) {
    char gguf[PATH_MAX];
    hub_status s = hub_pick_gguf(r, model_file, gguf, sizeof gguf, err);
    if (s != HUB_OK) return s;
    if (gguf[0]) {
        if ((s = hub_fetch(h, r, gguf, NULL, err)) != HUB_OK) return s;
        hub_fmt(path, PATH_MAX, "%.2000s/%s", r->snapshot, gguf);
        return HUB_OK;
    }
    if (!hub_repo_has(r, "config.json")) {
        hub_fmt(err, HUB_ERRLEN, "%s (revision %s%s) has model weights but no config.json", r->repo_id,
                 r->revision, r->from_cache ? ", in the cache" : "");
        return r->from_cache ? HUB_E_OFFLINE : HUB_E_NOT_FOUND;
    }
    if ((s = hub_fetch(h, r, "config.json", NULL, err)) != HUB_OK) return s;
    for (size_t i = 0; i < sizeof EXTRAS / sizeof EXTRAS[0]; i++)
        if (hub_repo_has(r, EXTRAS[i]) && (s = hub_fetch(h, r, EXTRAS[i], NULL, err)) != HUB_OK) return s;
    const char *index = "model.safetensors.index.json";
    if (hub_repo_has(r, "model.safetensors")) s = hub_fetch(h, r, "model.safetensors", NULL, err);
    else if ((s = hub_fetch(h, r, index, NULL, err)) == HUB_OK) s = fetch_shards(h, r, index, err);
    if (s != HUB_OK) return s;
    hub_fmt(path, PATH_MAX, "%s", r->snapshot);
    return HUB_OK;
}
