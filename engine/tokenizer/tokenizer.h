/*
 * tokenizer.h — text <-> token ids, exactly as the model's own tokenizer.
 *
 * Four algorithms behind one contract:
 *   - SentencePiece-style BPE with scores and byte fallback (GGUF
 *     tokenizer.ggml.model = "llama"; tokenizer.json BPE with byte_fallback);
 *   - byte-level BPE with ranked merges and pre-tokenizer regexes (GGUF
 *     "gpt2" with tokenizer.ggml.pre; tokenizer.json ByteLevel/Split);
 *   - Unigram, Viterbi over piece scores (GGUF "t5"; tokenizer.json
 *     Unigram), with SentencePiece's precompiled charsmap normalizer;
 *   - WordPiece (GGUF "bert"; tokenizer.json WordPiece), BERT's pipeline.
 * Added/special tokens are matched before the model runs (when
 * parse_special), BOS/EOS are added per the model files' rules, and the
 * normalizer the tokenizer declares is applied.
 *
 * A tokenizer is immutable after loading and safe to use from many threads.
 */
#ifndef CTGI_TOKENIZER_H
#define CTGI_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef struct tokenizer tokenizer;

/* Loading: tok_load.h (engine-internal: it reads the model files);
 * outside engine/, model_load_tokenizer (model/model_info.h). */
void tok_free(tokenizer *t);

int32_t tok_n_vocab(const tokenizer *t);
int32_t tok_bos(const tokenizer *t); /* -1 if none */
int32_t tok_eos(const tokenizer *t); /* -1 if none */
bool tok_add_bos(const tokenizer *t);
bool tok_add_eos(const tokenizer *t);

/* Encode len bytes of UTF-8 text.  add_special: add BOS/EOS per the
 * tokenizer's rules (GGUF add_bos/add_eos; tokenizer.json post-processor).
 * parse_special: recognise special-token text (e.g. "<|endoftext|>") as
 * those tokens.  Non-special added tokens (GGUF USER_DEFINED, tokenizer.json
 * added_tokens with special=false) are always recognised, as llama.cpp and
 * HF tokenizers do.  Invalid UTF-8 never fails: GGUF vocabularies treat it
 * as llama.cpp does (SentencePiece: byte tokens; byte-level: U+FFFD per bad
 * byte), tokenizer.json ones see U+FFFD per maximal invalid subsequence.
 * Returns the number of ids and a malloc'd array in *ids (caller frees), or
 * -1 with err filled (out of memory, regex engine failure). */
int tok_encode(const tokenizer *t, const char *text, size_t len, bool add_special,
               bool parse_special, int32_t **ids, char *err);

/* tok_encode(t, text, len, false, parse_special, ids, err) for text that
 * continues earlier text: no SentencePiece space prefix at its start (GGUF
 * add_space_prefix; tokenizer.json Metaspace prepend_scheme "first" or a
 * Prepend normalizer), as SentencePiece encodes without its dummy prefix.
 * Same ids as tok_encode for vocabularies that add none (Metaspace "always"
 * and ByteLevel add_prefix_space prefix every piece: kept).  CodeLlama and
 * Codestral encode the suffix of an infill so. */
int tok_encode_cont(const tokenizer *t, const char *text, size_t len, bool parse_special,
                    int32_t **ids, char *err);

/* The vocabulary string of an id as stored (e.g. "▁the", "Ġthe", "<0x0A>"),
 * NULL for an out-of-range id. */
const char *tok_piece(const tokenizer *t, int32_t id);

/* True for control/special tokens (BOS, EOS, <|im_start|>, ...). */
bool tok_is_special(const tokenizer *t, int32_t id);

/* The bytes a token stands for in decoded text (▁ -> ' ', <0xNN> -> byte,
 * byte-level unicode -> bytes; special tokens -> their text unless
 * skip_special).  Writes up to cap bytes, returns the full length. */
size_t tok_token_bytes(const tokenizer *t, int32_t id, bool skip_special, char *buf,
                       size_t cap);

/* Decode a sequence into a malloc'd NUL-terminated string, applying the
 * tokenizer's decoder rules (e.g. SentencePiece drops the space that starts
 * the text). Invalid UTF-8 from byte tokens becomes U+FFFD. */
char *tok_decode(const tokenizer *t, const int32_t *ids, size_t n, bool skip_special);

/* Fill-in-the-middle: the vocabulary's markers, -1 for one it lacks. */
typedef struct {
    int32_t pre; /* before the prefix: <fim_prefix>, <|fim_prefix|>, ▁<PRE>, <｜fim▁begin｜>, [PREFIX] */
    int32_t suf; /* before the suffix: <fim_suffix>, <|fim_suffix|>, ▁<SUF>, <｜fim▁hole｜>, [SUFFIX] */
    int32_t mid; /* the middle follows: <fim_middle>, <|fim_middle|>, ▁<MID>, <｜fim▁end｜>, [MIDDLE] */
    int32_t pad; /* <fim_pad>, <|fim_pad|> */
    int32_t rep; /* a repository's name follows: <|repo_name|>, <repo_name>, <reponame> */
    int32_t sep; /* a file's name and text follow: <|file_sep|>, <file_sep>, <|file_separator|> */
    int32_t eot; /* ends an infilled middle where that is not EOS: CodeLlama's ▁<EOT> */
} tok_fim_ids;

/* Fills *out; true when the vocabulary has a prefix and a suffix marker.
 * Ids come from GGUF tokenizer.ggml.fim_{pre,suf,mid,pad,rep,sep}_token_id
 * where given, else from the tokens' texts: those llama.cpp recognises plus
 * Mistral's [PREFIX]/[SUFFIX]/[MIDDLE], StarCoder 2's <repo_name>/<file_sep>,
 * CodeGemma's <|file_separator|> and CodeLlama's ▁<EOT> (the lowest id when
 * several texts of one role are present).  Found once, at load. */
bool tok_fim(const tokenizer *t, tok_fim_ids *out);

/* Incremental decoder for streaming: push ids one by one and receive only
 * complete UTF-8 sequences; bytes of a character split across tokens are
 * held until the character is complete (or proven invalid -> U+FFFD).
 * The concatenation of all outputs plus tok_stream_flush() equals
 * tok_decode() of the whole sequence.  To decode a continuation (tokens
 * generated after a prompt) set `first = false` after tok_stream_init: the
 * SentencePiece space that starts a word is then kept, as llama-server and
 * TGI output it. */
typedef struct {
    const tokenizer *t;
    bool skip_special;
    bool first;        /* at the start of the text: drop the encode-time space */
    char pending[8];   /* bytes of an incomplete UTF-8 character */
    size_t n_pending;
} tok_stream;

void tok_stream_init(tok_stream *s, const tokenizer *t, bool skip_special);
/* Appends the newly complete text to *out (malloc'd/realloc'd buffer of
 * length *out_len, NUL-terminated); returns the number of bytes appended. */
size_t tok_stream_push(tok_stream *s, int32_t id, char **out, size_t *out_len);
size_t tok_stream_flush(tok_stream *s, char **out, size_t *out_len);

#endif
