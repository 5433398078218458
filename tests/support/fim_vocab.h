/*
 * fim_vocab.h — hand-built fill-in-the-middle vocabularies for the FIM
 * tests: a tokenizer.json of shared/models/synth (no FIM tokens there) with
 * the family's FIM tokens appended as special added tokens, as the
 * family's own tokenizer.json lists them, written into a directory with
 * the base's tokenizer_config.json.  Only the markers and the
 * pre-tokenization differ from the real vocabularies; the ids below stand
 * in for the real ones (noted), in the same order.
 *
 *   FV_QWEN_CODER  synth/qwen2-bpe-hf (GPT-2 byte-level BPE, no BOS) +
 *                  <|fim_prefix|> 50257, <|fim_middle|> 50258,
 *                  <|fim_suffix|> 50259, <|fim_pad|> 50260,
 *                  <|repo_name|> 50261, <|file_sep|> 50262
 *                  (Qwen2.5-Coder: 151659 … 151664)
 *   FV_CODELLAMA   synth/llama-spm-hf (legacy: Prepend("▁") normalizer, BOS) +
 *                  ▁<PRE> 32000, ▁<SUF> 32001, ▁<MID> 32002, ▁<EOT> 32003
 *                  (CodeLlama: 32007 … 32010)
 *   FV_CODESTRAL   synth/llama-spm-hf with Mistral v3's pipeline (no
 *                  normalizer, Metaspace prepend_scheme "first", BOS) +
 *                  [PREFIX] 32000, [SUFFIX] 32001, [MIDDLE] 32002
 *   FV_CODEGEMMA   synth/llama-spm-hf with Gemma's pipeline (Replace " " →
 *                  "▁" only: no dummy prefix, BOS) + <|fim_prefix|> 32000,
 *                  <|fim_middle|> 32001, <|fim_suffix|> 32002,
 *                  <|file_separator|> 32003 (CodeGemma: 67 … 70)
 */
#ifndef CTGI_FIM_VOCAB_H
#define CTGI_FIM_VOCAB_H

#include <stdbool.h>

typedef enum { FV_QWEN_CODER, FV_CODELLAMA, FV_CODESTRAL, FV_CODEGEMMA } fv_family;

/* Write dir/tokenizer.json and dir/tokenizer_config.json (dir exists). */
bool fv_write(fv_family f, const char *dir);

#endif
