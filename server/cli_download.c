/*
 * cli_download.c — `ctgi download REPO_ID [FILE...]`: fetch from the
 * Hugging Face Hub into its cache (hub.h) and print the local path; and
 * cli_hub_model, the same resolution for `ctgi serve --model-id org/name`.
 * Exit status: 0 ok, 1 error, 2 usage, 3 the Hub cannot be reached.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hub.h"

static const char USAGE[] =
    "usage: ctgi download REPO_ID [FILE...] [options]\n"
    "\n"
    "Download from the Hugging Face Hub into its cache (huggingface_hub's layout, shared\n"
    "with other tools) and print the local path.\n"
    "\n"
    "  --revision R      branch, tag or commit sha (default main)\n"
    "  --model-file F    without FILE: the .gguf file to take from a GGUF repo\n"
    "  --all             every file of the revision\n"
    "  --help            this text\n"
    "\n"
    "Without FILE or --all: what `ctgi serve --model-id REPO_ID` loads: a GGUF file\n"
    "(--model-file, else the only .gguf, else the only Q4_K_M one) or a safetensors model\n"
    "(config.json, tokenizer and generation files, model.safetensors or index + shards);\n"
    "prints the file or directory to load.  With FILE...: those files; prints the file's\n"
    "path (one FILE) or the snapshot directory.\n"
    "\n"
    "environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN, HF_HOME\n"
    "(default ~/.cache/huggingface), HF_HUB_CACHE (default $HF_HOME/hub), HF_HUB_OFFLINE=1\n"
    "(the cache only), HF_HUB_ETAG_TIMEOUT, HF_HUB_DOWNLOAD_TIMEOUT (seconds, default 10),\n"
    "HF_HUB_DISABLE_PROGRESS_BARS.\n"
    "exit status: 0 ok, 1 error (access, not found, disk, checksum, not cached), 2 usage,\n"
    "3 the Hub cannot be reached.\n";

static int exit_code(hub_status s) { return s == HUB_OK ? 0 : s == HUB_E_USAGE ? 2 : s == HUB_E_NETWORK ? 3 : 1; }

static void note_stderr(void *ud, const char *msg) { fprintf(stderr, "ctgi %s: %s\n", (const char *)ud, msg); }

int cli_hub_model(const char *repo_id, const char *revision, const char *model_file, void (*note)(void *, const char *),
                  void *ud, char *path, char *commit, char *err) {
    hub h;
    hub_status s = hub_init(&h, err);
    if (s != HUB_OK) return exit_code(s);
    h.note = note, h.note_ud = ud;
    hub_repo r;
    s = hub_open(&h, repo_id, revision, &r, err);
    if (s == HUB_OK) s = hub_fetch_model(&h, &r, model_file, path, err);
    if (s == HUB_OK) memcpy(commit, r.commit, 41);
    hub_repo_close(&r);
    hub_free(&h);
    return exit_code(s);
}

typedef struct {
    const char *repo, *revision, *model_file;
    const char **files;
    int n_files;
    bool all;
} dl_args;

static int parse(int argc, char **argv, dl_args *a) {
    cli_opts o;
    cli_opts_init(&o, "download", argc, argv);
    while (cli_next(&o)) {
        if (cli_is(&o, "help")) {
            fputs(USAGE, stdout);
            return 1;
        } else if (cli_is(&o, "revision")) a->revision = cli_value(&o);
        else if (cli_is(&o, "model-file")) a->model_file = cli_value(&o);
        else if (cli_is(&o, "all")) a->all = true;
        else if (o.name) cli_unknown(&o);
        else if (!a->repo) a->repo = o.argv[o.i];
        else a->files[a->n_files++] = o.argv[o.i];
    }
    if (o.error) return 2;
    if (!a->repo) {
        fputs(USAGE, stderr);
        return 2;
    }
    if (a->all && (a->n_files || a->model_file)) {
        fputs("ctgi download: --all takes neither FILE nor --model-file\n", stderr);
        return 2;
    }
    if (a->n_files && a->model_file) {
        fputs("ctgi download: give FILE... or --model-file, not both\n", stderr);
        return 2;
    }
    return 0;
}

/* the given files, or all of them; *out = the path to print */
static hub_status fetch_files(hub *h, const hub_repo *r, const dl_args *a, char *out, char *err) {
    int n = a->all ? r->n_files : a->n_files, got = 0;
    for (int i = 0; i < n; i++) {
        bool fetched;
        hub_status s = hub_fetch(h, r, a->all ? r->files[i] : a->files[i], &fetched, err);
        if (s != HUB_OK) return s;
        got += fetched;
    }
    if (n == 1) snprintf(out, PATH_MAX, "%.2000s/%s", r->snapshot, a->all ? r->files[0] : a->files[0]);
    else snprintf(out, PATH_MAX, "%s", r->snapshot);
    if (h->note) {
        char msg[200];
        snprintf(msg, sizeof msg, "%d file(s): %d downloaded, %d already in the cache", n, got, n - got);
        h->note(h->note_ud, msg);
    }
    return HUB_OK;
}

int cli_download(int argc, char **argv) {
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    if (!files) return 1;
    dl_args a = {.files = files};
    int rc = parse(argc, argv, &a);
    if (rc) {
        free(files);
        return rc == 1 ? 0 : rc;
    }
    char err[HUB_ERRLEN], path[PATH_MAX];
    hub h;
    hub_status s = hub_init(&h, err);
    if (s == HUB_OK) {
        h.note = note_stderr, h.note_ud = "download";
        hub_repo r;
        s = hub_open(&h, a.repo, a.revision, &r, err);
        if (s == HUB_OK && (a.all || a.n_files)) s = fetch_files(&h, &r, &a, path, err);
        else if (s == HUB_OK) s = hub_fetch_model(&h, &r, a.model_file, path, err);
        hub_repo_close(&r);
        hub_free(&h);
    }
    free(files);
    if (s != HUB_OK) {
        fprintf(stderr, "ctgi download: %s\n", err);
        return exit_code(s);
    }
    printf("%s\n", path);
    return 0;
}
