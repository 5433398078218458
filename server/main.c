/*
 * main.c — process entry: dispatch `ctgi <command>` to its subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char USAGE[] =
    "usage: ctgi <command> [options]\n"
    "\n"
    "commands:\n"
    "  generate     generate text from a prompt (ctgi generate --help)\n"
    "  tokenize     show a model's tokenization of a text\n"
    "  perplexity   mean cross-entropy / perplexity of a model over a text file\n"
    "  serve        serve a model over HTTP with TGI's API (ctgi serve --help)\n"
    "  chat-template render a chat template over messages (ctgi chat-template --help)\n"
    "  download     fetch a model from the Hugging Face Hub into its cache (ctgi download --help)\n"
    "  health       exit 0 if a running server's GET /health answers 200 (ctgi health --help)\n"
    "\n"
    "models: a GGUF file, or a Hugging Face directory (config.json, model.safetensors\n"
    "or model.safetensors.index.json, tokenizer.json); serve also takes a Hub repo id.\n";

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "generate") == 0) return cli_generate(argc - 1, argv + 1);
    if (strcmp(cmd, "tokenize") == 0) return cli_tokenize(argc - 1, argv + 1);
    if (strcmp(cmd, "perplexity") == 0) return cli_perplexity(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0) return cli_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "chat-template") == 0) return cli_chat_template(argc - 1, argv + 1);
    if (strcmp(cmd, "download") == 0) return cli_download(argc - 1, argv + 1);
    if (strcmp(cmd, "health") == 0) return cli_health(argc - 1, argv + 1);
    fprintf(stderr, "ctgi: unknown command '%s'\n%s", cmd, USAGE);
    return 2;
}
