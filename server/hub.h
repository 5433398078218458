/*
 * hub.h — models from the Hugging Face Hub, in the Hub's own cache layout
 * (the one huggingface_hub writes, so the files are shared with it):
 *
 *   {cache}/models--{org}--{name}/
 *       refs/{revision}                   the commit sha the revision resolved to
 *       blobs/{etag}                      file contents (LFS: etag = sha256)
 *       blobs/{etag}.incomplete           a download in progress (resumed with Range)
 *       snapshots/{commit}/{path}         symlink -> ../../blobs/{etag} (relative)
 *   {cache}/.locks/models--{org}--{name}/{etag}.lock   flock while a blob downloads
 *
 * Environment (read by hub_init): HF_ENDPOINT (default https://huggingface.co),
 * HF_TOKEN (else HUGGING_FACE_HUB_TOKEN, else the file HF_TOKEN_PATH or
 * $HF_HOME/token), HF_HUB_CACHE (else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub;
 * HF_HOME defaults to $XDG_CACHE_HOME/huggingface, then ~/.cache/huggingface),
 * HF_HUB_OFFLINE, HF_HUB_ETAG_TIMEOUT (seconds for a metadata request, 10),
 * HF_HUB_DOWNLOAD_TIMEOUT (seconds a transfer may stall, 10),
 * HF_HUB_DISABLE_PROGRESS_BARS.
 *
 * Online, a repo's listing (`GET /api/models/{repo}/revision/{rev}`) gives
 * the commit; a file already in snapshots/{commit} is a cache hit with no
 * further request.  Otherwise `HEAD /{repo}/resolve/{commit}/{file}` gives
 * the etag and size (from the first response, before any redirect to a
 * CDN), and the file is fetched into its blob, resumed after a dropped
 * connection, checked (size; sha256 for LFS files) and linked.  If the
 * endpoint cannot be reached at all, a revision already in the cache is
 * used instead (with a warning).  Offline, only refs + snapshots are read.
 *
 * Every call returns a hub_status and, when not HUB_OK, a one-line message
 * in err (HUB_ERRLEN bytes) naming the repo/file and what to do.
 */
#ifndef CTGI_HUB_H
#define CTGI_HUB_H

#include <limits.h>
#include <stdbool.h>

#define HUB_ERRLEN 1024

typedef enum {
    HUB_OK = 0,
    HUB_E_USAGE,     /* not a repo id; a bad revision or file name */
    HUB_E_AUTH,      /* 401 / 403: private or gated repo, bad or missing HF_TOKEN */
    HUB_E_NOT_FOUND, /* 404: repo, revision or file */
    HUB_E_NETWORK,   /* the endpoint cannot be reached, or a transfer kept failing */
    HUB_E_DISK,      /* the cache cannot be written (disk full, permissions) */
    HUB_E_CHECKSUM,  /* a download's size or sha256 differs from the Hub's (the blob is deleted) */
    HUB_E_OFFLINE,   /* HF_HUB_OFFLINE and the cache does not hold it */
    HUB_E_PROTOCOL,  /* an answer the client does not understand */
} hub_status;

/* Progress and notes ("fetched X", "using the cache") for the caller to print. */
typedef void (*hub_note_fn)(void *ud, const char *msg);

typedef struct {
    char endpoint[512];      /* no trailing '/' */
    char cache[PATH_MAX];
    char *token;             /* owned; NULL = anonymous */
    bool offline;
    bool progress;           /* draw a progress bar on stderr (a terminal, not disabled) */
    long etag_timeout;       /* seconds */
    long download_timeout;   /* seconds */
    hub_note_fn note;        /* NULL = silent */
    void *note_ud;
} hub;

/* The settings from the environment; HUB_E_USAGE if one is malformed. */
hub_status hub_init(hub *h, char *err);
void hub_free(hub *h);

/* "org/name": one '/', each part [A-Za-z0-9._-]{1,96} not starting or ending
 * with '-' or '.', without "--" or "..".  false + message otherwise. */
bool hub_repo_id_check(const char *id, char *err);

/* One revision of a repo, resolved to its commit. */
typedef struct {
    char *repo_id;
    char *revision;
    char commit[41];
    char dir[PATH_MAX];      /* {cache}/models--org--name */
    char snapshot[PATH_MAX]; /* {dir}/snapshots/{commit} */
    char **files;            /* the revision's files: the Hub's listing, or (from the cache) the snapshot's */
    int n_files;
    bool from_cache;         /* offline, or the endpoint unreachable: no downloads possible */
} hub_repo;

/* Resolve repo_id at revision (NULL = "main"): the listing online, refs +
 * snapshots offline; records refs/{revision} online. */
hub_status hub_open(hub *h, const char *repo_id, const char *revision, hub_repo *r, char *err);
void hub_repo_close(hub_repo *r);
bool hub_repo_has(const hub_repo *r, const char *file);

/* Make snapshot/{file} present: a cache hit, or download + verify + link.
 * *fetched (may be NULL) says whether bytes were transferred. */
hub_status hub_fetch(hub *h, const hub_repo *r, const char *file, bool *fetched, char *err);

/* What a server needs from a repo (hub_model.c): a GGUF file (model_file,
 * else the only .gguf, else the one Q4_K_M .gguf), or a safetensors model
 * (config.json, tokenizer and generation files present, model.safetensors
 * or the index and its shards).  path: the file or snapshot directory to
 * load (PATH_MAX bytes). */
hub_status hub_fetch_model(hub *h, const hub_repo *r, const char *model_file, char *path, char *err);

/* The choice hub_fetch_model makes, without fetching: the GGUF file (into
 * gguf) or "" for a safetensors repo; HUB_E_USAGE / HUB_E_NOT_FOUND with
 * the choices listed otherwise. */
hub_status hub_pick_gguf(const hub_repo *r, const char *model_file, char *gguf, size_t cap, char *err);

/* "text" for a status (exit codes: cli_download.c). */
const char *hub_status_name(hub_status s);

#endif
