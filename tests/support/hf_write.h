/*
 * hf_write.h — a GGUF model rewritten as the Hugging Face directory its
 * family publishes (config.json, model.safetensors, tokenizer.json), for
 * tests that load the same weights through both formats.
 *
 * The GGUF is in llama.cpp's layout (what convert_hf_to_gguf.py writes:
 * ../shared/models/synth/arch/); this does the converter's work backwards,
 * written from the transformers modeling code of each model_type:
 *   gpt2         transformer.h.N.{ln_1, attn.c_attn, attn.c_proj, ln_2,
 *                mlp.c_fc, mlp.c_proj}: Conv1D, stored (in, out); the
 *                original checkpoints' names without "transformer."
 *   gpt_bigcode  the same names, nn.Linear; MQA c_attn rows q | k | v
 *   gpt_neox     query_key_value rows per head: [head][q, k, v][head_dim]
 *   bloom        the same per-head interleave; word_embeddings_layernorm
 *   falcon       query_key_value per kv group: [group][its q heads, k, v];
 *                40B layout (GGUF attn_norm_2): ln_attn = attn_norm_2,
 *                ln_mlp = attn_norm, new_decoder_architecture
 *   mpt          Wqkv rows q | k | v; attn_config.clip_qkv / alibi_bias_max
 *   phi3         qkv_proj and gate_up_proj as GGUF fuses them
 *   gemma(2)     RMSNorm gains stored as w (GGUF holds 1 + w); gemma2's
 *                four norms a block
 *   t5           encoder.block.N.layer.{0,1} / decoder.block.N.layer.{0,1,2}
 *                (SelfAttention, EncDecAttention, DenseReluDense wi_0 / wi_1,
 *                or wi without a gate: feed_forward_proj relu), shared,
 *                lm_head; "umt5" when every layer has a relative bias
 * The tokenizer.json is a plain BPE over the GGUF's token strings (no
 * merges, byte fallback): enough to load, not to encode text like the
 * original.  The GELU named in config.json is the tanh form llama.cpp
 * computes, where the family lets config.json choose (mpt cannot:
 * transformers' MptMLP is the exact erf GELU).  gelu_erf asks for "gelu"
 * wherever config.json can say it.
 */
#ifndef CTGI_HF_WRITE_H
#define CTGI_HF_WRITE_H

#include <stdbool.h>

#include "common.h"

typedef struct {
    bool gelu_erf; /* config.json names the exact GELU ("gelu") instead of the tanh form */
    bool f16;      /* matrices stored F16 (rounded to nearest even), vectors F32 */
} hf_write_opts;

/* The GGUF at gguf_path as an HF directory at dir (created); false + err. */
bool hf_write_from_gguf(const char *gguf_path, const char *dir, const hf_write_opts *o, char *err);

/* Only the tokenizer.json (into the existing dir), e.g. beside
 * synth_write_hf's weights for a vocabulary with no tokenizer.json. */
bool hf_write_tokenizer(const char *gguf_path, const char *dir, char *err);

#endif
