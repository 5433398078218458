/*
 * cli.h — the `ctgi` command line: subcommands and a tiny option reader
 * shared by them.  Each subcommand lives in its own cli_<name>.c and returns
 * the process exit status (0 ok, 1 runtime error, 2 usage error).
 */
#ifndef CTGI_CLI_H
#define CTGI_CLI_H

#include <stdbool.h>
#include <stdint.h>

int cli_generate(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_perplexity(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_chat_template(int argc, char **argv);
int cli_download(int argc, char **argv);

/* A Hub repo for a command that loads a model (cli_download.c): resolve
 * repo_id at revision (NULL = main), fetch what the model needs into the
 * Hub cache (hub.h) and set path (PATH_MAX bytes: the file or directory to
 * load) and commit (41 bytes).  note gets progress lines (may be NULL).
 * Returns 0, else the exit status (1 error, 2 usage, 3 the Hub cannot be
 * reached) with the message in err (HUB_ERRLEN bytes). */
int cli_hub_model(const char *repo_id, const char *revision, const char *model_file, void (*note)(void *, const char *),
                  void *ud, char *path, char *commit, char *err);
int cli_health(int argc, char **argv);

/* Option reader: walks argv[1..]; options are "--name value" or "--name=value"
 * or flags "--name"; anything else is positional. */
typedef struct {
    int argc;
    char **argv;
    int i;
    const char *name;   /* current option name without dashes, or NULL for positional */
    const char *value;  /* inline "=value" if given */
    const char *cmd;    /* subcommand name, for messages */
    bool error;
} cli_opts;

void cli_opts_init(cli_opts *o, const char *cmd, int argc, char **argv);
/* Advance; false at the end. */
bool cli_next(cli_opts *o);
bool cli_is(const cli_opts *o, const char *name);
/* The option's value (inline or the next argument); NULL + message if missing. */
const char *cli_value(cli_opts *o);
bool cli_int(cli_opts *o, long lo, long hi, long *out);
bool cli_float(cli_opts *o, double lo, double hi, double *out);
bool cli_u64(cli_opts *o, uint64_t *out);
void cli_unknown(cli_opts *o);
/* Print "ctgi <cmd>: <message>" to stderr, set error. */
void cli_fail(cli_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
