#!/usr/bin/python3
"""hf_layout_check.py — is an HF directory the same model as a GGUF?

For arch_hf_test.c: converts the Hugging Face directory's tensors into
llama.cpp's GGUF layout the way the families' own code defines them
(transformers' modeling files and llama.cpp's convert_hf_to_gguf.py), with
numpy reshapes, and compares every tensor with the GGUF's.  Shares no code
with ctgi (own safetensors and GGUF readers; arch_ref.py's GGUF reader is
reused).  This is the check on tests/support/hf_write.c, which arch_hf_test
then uses to hold ctgi's HF loader to its GGUF loader.

  gpt2         Conv1D weights are (in, out): GGUF = W.T
  gpt_neox,    query_key_value rows are viewed (n_head, 3, head_dim): q, k, v
  bloom        of head h are rows [h, 0], [h, 1], [h, 2]
  falcon       query_key_value viewed (n_kv, n_head / n_kv + 2, head_dim):
               q = [:, :-2], k = [:, -2], v = [:, -1]; 40B: ln_attn is
               attn_norm_2, ln_mlp attn_norm
  gemma(2)     RMSNorm computes x * (1 + w): GGUF stores 1 + w
  t5, umt5     encoder.block.N.layer.{0 SelfAttention, 1 DenseReluDense},
               decoder.block.N.layer.{0 SelfAttention, 1 EncDecAttention,
               2 DenseReluDense}: enc.blk.N / dec.blk.N; wi_0 (gate) and
               wi_1 (up), or wi (up) without a gate; relative_attention_bias
               (buckets, heads) as stored; shared is token_embd

Usage: hf_layout_check.py MODEL.gguf HF_DIR   (prints "ok N tensors" or fails)
"""
import json
import struct
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from arch_ref import read_gguf  # noqa: E402


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack_from("<Q", data, 0)[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        dt = {"F32": np.float32, "F16": np.float16}[t["dtype"]]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], dtype=dt).astype(np.float64).reshape(t["shape"])
    return out


def strip(hf, prefix):
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in hf.items()}


def convert(cfg, hf, n_layers):
    """HF tensors -> {GGUF name: array}, following each model_type's own code."""
    mt = cfg["model_type"]
    g = {}
    if mt == "gpt2":
        hf = strip(hf, "transformer.")
        g["token_embd.weight"], g["position_embd.weight"] = hf["wte.weight"], hf["wpe.weight"]
        g["output_norm.weight"], g["output_norm.bias"] = hf["ln_f.weight"], hf["ln_f.bias"]
        if "lm_head.weight" in hf:
            g["output.weight"] = hf["lm_head.weight"]
        for l in range(n_layers):
            p, b = "h.%d." % l, "blk.%d." % l
            for gn, hn, conv in (("attn_norm", "ln_1", 0), ("attn_qkv", "attn.c_attn", 1),
                                 ("attn_output", "attn.c_proj", 1), ("ffn_norm", "ln_2", 0),
                                 ("ffn_up", "mlp.c_fc", 1), ("ffn_down", "mlp.c_proj", 1)):
                w = hf[p + hn + ".weight"]
                g[b + gn + ".weight"] = w.T if conv else w  # Conv1D: y = x @ W + b, W (in, out)
                g[b + gn + ".bias"] = hf[p + hn + ".bias"]
        return g
    if mt == "gpt_bigcode":
        hf = strip(hf, "transformer.")
        g["token_embd.weight"], g["position_embd.weight"] = hf["wte.weight"], hf["wpe.weight"]
        g["output_norm.weight"], g["output_norm.bias"] = hf["ln_f.weight"], hf["ln_f.bias"]
        H, D = cfg["n_head"], cfg["n_embd"]
        for l in range(n_layers):
            p, b = "h.%d." % l, "blk.%d." % l
            for gn, hn in (("attn_norm", "ln_1"), ("attn_output", "attn.c_proj"), ("ffn_norm", "ln_2"),
                           ("ffn_up", "mlp.c_fc"), ("ffn_down", "mlp.c_proj")):
                g[b + gn + ".weight"], g[b + gn + ".bias"] = hf[p + hn + ".weight"], hf[p + hn + ".bias"]
            w, bias = hf[p + "attn.c_attn.weight"], hf[p + "attn.c_attn.bias"]
            if not cfg.get("multi_query", True):  # (n_head, 3, head_dim) per head -> q | k | v
                hd = D // H
                w = w.reshape(H, 3, hd, D).transpose(1, 0, 2, 3).reshape(3 * D, D)
                bias = bias.reshape(H, 3, hd).transpose(1, 0, 2).reshape(3 * D)
            g[b + "attn_qkv.weight"], g[b + "attn_qkv.bias"] = w, bias  # MQA: already (D | hd | hd)
        return g
    if mt in ("gpt_neox", "bloom"):
        neox = mt == "gpt_neox"
        if not neox:
            hf = strip(hf, "transformer.")
        H, D = cfg["num_attention_heads"] if neox else cfg["n_head"], cfg["hidden_size"]
        hd = D // H
        pre = "gpt_neox." if neox else ""
        lp = pre + ("layers.%d." if neox else "h.%d.")
        att = "attention." if neox else "self_attention."
        g["token_embd.weight"] = hf[pre + ("embed_in.weight" if neox else "word_embeddings.weight")]
        fn = "final_layer_norm" if neox else "ln_f"
        g["output_norm.weight"], g["output_norm.bias"] = hf[pre + fn + ".weight"], hf[pre + fn + ".bias"]
        out = "embed_out.weight" if neox else "lm_head.weight"
        if out in hf:
            g["output.weight"] = hf[out]
        if not neox:
            g["token_embd_norm.weight"] = hf["word_embeddings_layernorm.weight"]
            g["token_embd_norm.bias"] = hf["word_embeddings_layernorm.bias"]
        for l in range(n_layers):
            p, b = lp % l, "blk.%d." % l
            for gn, hn in (("attn_norm", "input_layernorm"), ("attn_output", att + "dense"),
                           ("ffn_norm", "post_attention_layernorm"), ("ffn_up", "mlp.dense_h_to_4h"),
                           ("ffn_down", "mlp.dense_4h_to_h")):
                g[b + gn + ".weight"], g[b + gn + ".bias"] = hf[p + hn + ".weight"], hf[p + hn + ".bias"]
            w, bias = hf[p + att + "query_key_value.weight"], hf[p + att + "query_key_value.bias"]
            g[b + "attn_qkv.weight"] = w.reshape(H, 3, hd, D).transpose(1, 0, 2, 3).reshape(3 * D, D)
            g[b + "attn_qkv.bias"] = bias.reshape(H, 3, hd).transpose(1, 0, 2).reshape(3 * D)
        return g
    if mt == "falcon":
        hf = strip(hf, "transformer.")
        H, D = cfg["num_attention_heads"], cfg["hidden_size"]
        hd, new = D // H, cfg.get("new_decoder_architecture", False)
        KV = cfg["num_kv_heads"] if new else (1 if cfg.get("multi_query", True) else H)
        g["token_embd.weight"] = hf["word_embeddings.weight"]
        g["output_norm.weight"], g["output_norm.bias"] = hf["ln_f.weight"], hf["ln_f.bias"]
        if "lm_head.weight" in hf:
            g["output.weight"] = hf["lm_head.weight"]
        for l in range(n_layers):
            p, b = "h.%d." % l, "blk.%d." % l
            norms = (("attn_norm_2", "ln_attn"), ("attn_norm", "ln_mlp")) if new else (("attn_norm", "input_layernorm"),)
            for gn, hn in norms:
                g[b + gn + ".weight"], g[b + gn + ".bias"] = hf[p + hn + ".weight"], hf[p + hn + ".bias"]
            for gn, hn in (("attn_output", "self_attention.dense"), ("ffn_up", "mlp.dense_h_to_4h"),
                           ("ffn_down", "mlp.dense_4h_to_h")):
                g[b + gn + ".weight"] = hf[p + hn + ".weight"]
            qkv = hf[p + "self_attention.query_key_value.weight"].reshape(KV, H // KV + 2, hd, D)
            q = qkv[:, :-2].reshape(H * hd, D)
            k = qkv[:, -2].reshape(KV * hd, D)
            v = qkv[:, -1].reshape(KV * hd, D)
            g[b + "attn_qkv.weight"] = np.concatenate([q, k, v])
        return g
    if mt == "mpt":
        hf = strip(hf, "transformer.")
        g["token_embd.weight"], g["output_norm.weight"] = hf["wte.weight"], hf["norm_f.weight"]
        for l in range(n_layers):
            p, b = "blocks.%d." % l, "blk.%d." % l
            for gn, hn in (("attn_norm", "norm_1"), ("attn_qkv", "attn.Wqkv"), ("attn_output", "attn.out_proj"),
                           ("ffn_norm", "norm_2"), ("ffn_up", "ffn.up_proj"), ("ffn_down", "ffn.down_proj")):
                g[b + gn + ".weight"] = hf[p + hn + ".weight"]
        return g
    if mt in ("phi3", "gemma", "gemma2"):
        gain = (lambda w: 1.0 + w) if mt != "phi3" else (lambda w: w)  # GemmaRMSNorm: x * (1 + w)
        g["token_embd.weight"], g["output_norm.weight"] = hf["model.embed_tokens.weight"], gain(hf["model.norm.weight"])
        if "lm_head.weight" in hf:
            g["output.weight"] = hf["lm_head.weight"]
        for l in range(n_layers):
            p, b = "model.layers.%d." % l, "blk.%d." % l
            mats = [("attn_output", "self_attn.o_proj"), ("ffn_down", "mlp.down_proj")]
            if mt == "phi3":
                mats += [("attn_qkv", "self_attn.qkv_proj"), ("ffn_up", "mlp.gate_up_proj")]
            else:
                mats += [("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"), ("attn_v", "self_attn.v_proj"),
                         ("ffn_gate", "mlp.gate_proj"), ("ffn_up", "mlp.up_proj")]
            for gn, hn in mats:
                g[b + gn + ".weight"] = hf[p + hn + ".weight"]
            norms = [("attn_norm", "input_layernorm")]
            if mt == "gemma2":
                norms += [("post_attention_norm", "post_attention_layernorm"),
                          ("ffn_norm", "pre_feedforward_layernorm"), ("post_ffw_norm", "post_feedforward_layernorm")]
            else:
                norms += [("ffn_norm", "post_attention_layernorm")]
            for gn, hn in norms:
                g[b + gn + ".weight"] = gain(hf[p + hn + ".weight"])
        return g
    if mt in ("t5", "umt5"):
        g["token_embd.weight"] = hf["shared.weight"]
        g["enc.output_norm.weight"] = hf["encoder.final_layer_norm.weight"]
        g["dec.output_norm.weight"] = hf["decoder.final_layer_norm.weight"]
        if "lm_head.weight" in hf:
            g["output.weight"] = hf["lm_head.weight"]
        gated = cfg["feed_forward_proj"].startswith("gated-")
        att = ("q", "k", "v", "o")
        for stack, hs, n, ffn_layer in (("enc", "encoder", cfg["num_layers"], 1),
                                        ("dec", "decoder", cfg["num_decoder_layers"], 2)):
            for l in range(n):
                p, b = "%s.block.%d.layer." % (hs, l), "%s.blk.%d." % (stack, l)
                g[b + "attn_norm.weight"] = hf[p + "0.layer_norm.weight"]
                for x in att:
                    g[b + "attn_%s.weight" % x] = hf[p + "0.SelfAttention.%s.weight" % x]
                rb = p + "0.SelfAttention.relative_attention_bias.weight"
                if rb in hf:
                    g[b + "attn_rel_b.weight"] = hf[rb]
                if stack == "dec":
                    g[b + "cross_attn_norm.weight"] = hf[p + "1.layer_norm.weight"]
                    for x in att:
                        g[b + "cross_attn_%s.weight" % x] = hf[p + "1.EncDecAttention.%s.weight" % x]
                f = p + "%d." % ffn_layer
                g[b + "ffn_norm.weight"] = hf[f + "layer_norm.weight"]
                if gated:
                    g[b + "ffn_gate.weight"] = hf[f + "DenseReluDense.wi_0.weight"]
                    g[b + "ffn_up.weight"] = hf[f + "DenseReluDense.wi_1.weight"]
                else:
                    g[b + "ffn_up.weight"] = hf[f + "DenseReluDense.wi.weight"]
                g[b + "ffn_down.weight"] = hf[f + "DenseReluDense.wo.weight"]
        return g
    raise SystemExit("hf_layout_check: model_type %s not handled" % mt)


def main():
    gguf_path, hf_dir = sys.argv[1], sys.argv[2]
    kv, gt = read_gguf(gguf_path)
    cfg = json.load(open(hf_dir + "/config.json"))
    n_layers = kv[kv["general.architecture"] + ".block_count"]
    got = convert(cfg, read_safetensors(hf_dir + "/model.safetensors"), n_layers)
    missing = sorted(set(gt) - set(got))
    extra = sorted(set(got) - set(gt))
    if missing or extra:
        raise SystemExit("hf_layout_check: GGUF tensors not produced %s, produced but not in the GGUF %s" % (missing, extra))
    for name, want in gt.items():
        have = got[name].reshape(want.shape)
        if not np.allclose(have, want, rtol=0, atol=1e-6):
            raise SystemExit("hf_layout_check: %s differs (max %g)" % (name, np.max(np.abs(have - want))))
    print("ok %d tensors" % len(gt))


if __name__ == "__main__":
    main()
