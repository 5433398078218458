#!/usr/bin/python3
"""t5_ref.py — an independent float64 forward pass of T5 for t5_test.c.

Shares no code with ctgi: arch_ref.py's GGUF reader, then the encoder-
decoder written here in numpy float64 from its published definition
(transformers' modeling_t5.py, llama.cpp's build_t5_enc / build_t5_dec),
recomputing everything at every step (no cache of any kind):

  encoder  x = embedding[ids]; per layer: x += o(attn(rms(x))) with
           bidirectional attention, q.k unscaled plus the relative bias
           rel_b[bucket(j - i), head] (the layer's own attn_rel_b, else
           layer 0's); x += mlp(rms(x)); out = rms(x, enc.output_norm)
  decoder  x = embedding[[start] + generated]; per layer: causal self-
           attention with the decoder's (causal) buckets; x += o(attn(q =
           rms(x) Wq, k = out Wk, v = out Wv)) with no mask and no bias;
           x += mlp(rms(x)); z = rms(x, dec.output_norm) @ output.T, or with
           no output.weight (tied) (z * dim^-0.5) @ token_embd.T
  mlp      gelu_tanh(gate h) * (up h) when the file has ffn_gate (flan-t5's
           gated-gelu), else relu(up h) (t5's relu); then down
  rms      x / sqrt(mean(x^2) + eps) * g (T5LayerNorm: no mean, no bias)

The buckets follow transformers' _relative_position_bucket in numpy
float32, as torch computes it (log of float32, the ratio, truncation), and
are printed for the test to hold ctgi's tables to.

Usage: t5_ref.py MODEL.gguf --ids 1,2,3 [-n 16]
Prints JSON: {"buckets": {"enc": [...], "dec": [...]} for offsets
-300..300, "greedy": {"ids": [...], "top10": [[[id, logit, p], ...] per step],
"margin": [...]}, "start": decoder start id}; step k's top10 are the logits
that chose ids[k] (step 0: after the start token alone).
"""
import json
import math
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from arch_ref import read_gguf  # noqa: E402

MAX_DISTANCE = 128  # llama.cpp's fixed value; transformers' default


def bucket(rel, n_buckets, bidirectional):
    """transformers' T5Attention._relative_position_bucket for one offset,
    in float32 like torch."""
    ret = 0
    if bidirectional:
        n_buckets //= 2
        ret += n_buckets if rel > 0 else 0
        rel = abs(rel)
    else:
        rel = -min(rel, 0)
    max_exact = n_buckets // 2
    if rel < max_exact:
        return ret + rel
    f = np.float32(np.log(np.float32(rel) / np.float32(max_exact)))
    f = f / np.float32(math.log(MAX_DISTANCE / max_exact)) * np.float32(n_buckets - max_exact)
    large = max_exact + int(f)
    return ret + min(large, n_buckets - 1)


def rms(x, g, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


class T5:
    def __init__(self, path):
        kv, self.t = read_gguf(path)
        assert kv["general.architecture"] == "t5"
        self.dim = kv["t5.embedding_length"]
        self.n_enc = kv["t5.block_count"]
        self.n_dec = kv.get("t5.decoder_block_count", self.n_enc)
        self.H = kv["t5.attention.head_count"]
        self.hd = kv.get("t5.attention.key_length", self.dim // self.H)
        self.eps = kv["t5.attention.layer_norm_rms_epsilon"]
        self.nb = kv["t5.attention.relative_buckets_count"]
        self.start = kv.get("t5.decoder_start_token_id", kv.get("tokenizer.ggml.bos_token_id"))
        self.gated = "enc.blk.0.ffn_gate.weight" in self.t

    def rel_b(self, stack, l):
        own = "%s.blk.%d.attn_rel_b.weight" % (stack, l)
        return self.t[own] if own in self.t else self.t["%s.blk.0.attn_rel_b.weight" % stack]

    def mlp(self, p, h):
        W = lambda n: self.t[p + n + ".weight"]
        if self.gated:
            m = gelu_tanh(h @ W("ffn_gate").T) * (h @ W("ffn_up").T)
        else:
            m = np.maximum(h @ W("ffn_up").T, 0.0)
        return m @ W("ffn_down").T

    def attend(self, q, k, v, bias):
        """q (Tq, H*hd), k/v (Tk, H*hd), bias (H, Tq, Tk) incl. -inf masks."""
        Tq, Tk, H, hd = q.shape[0], k.shape[0], self.H, self.hd
        q, k, v = q.reshape(Tq, H, hd), k.reshape(Tk, H, hd), v.reshape(Tk, H, hd)
        out = np.zeros((Tq, H, hd))
        for h in range(H):
            s = q[:, h, :] @ k[:, h, :].T + bias[h]  # T5: no 1/sqrt(hd)
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            out[:, h, :] = s @ v[:, h, :]
        return out.reshape(Tq, H * hd)

    def pos_bias(self, rel_b, T, causal):
        i, j = np.arange(T)[:, None], np.arange(T)[None, :]
        b = np.vectorize(lambda r: bucket(int(r), self.nb, not causal))(j - i)
        out = rel_b[b].transpose(2, 0, 1)  # rel_b (buckets, H) -> (H, T, T)
        if causal:
            out = np.where(j <= i, out, -np.inf)
        return out

    def encode(self, ids):
        x = self.t["token_embd.weight"][ids]
        for l in range(self.n_enc):
            p = "enc.blk.%d." % l
            W = lambda n: self.t[p + n + ".weight"]
            h = rms(x, W("attn_norm"), self.eps)
            bias = self.pos_bias(self.rel_b("enc", l), len(ids), False)
            x = x + self.attend(h @ W("attn_q").T, h @ W("attn_k").T, h @ W("attn_v").T, bias) @ W("attn_o").T
            x = x + self.mlp(p, rms(x, W("ffn_norm"), self.eps))
        return rms(x, self.t["enc.output_norm.weight"], self.eps)

    def decode(self, enc, ids):
        x = self.t["token_embd.weight"][ids]
        T = len(ids)
        for l in range(self.n_dec):
            p = "dec.blk.%d." % l
            W = lambda n: self.t[p + n + ".weight"]
            h = rms(x, W("attn_norm"), self.eps)
            bias = self.pos_bias(self.rel_b("dec", l), T, True)
            x = x + self.attend(h @ W("attn_q").T, h @ W("attn_k").T, h @ W("attn_v").T, bias) @ W("attn_o").T
            h = rms(x, W("cross_attn_norm"), self.eps)
            none = np.zeros((self.H, T, enc.shape[0]))
            x = x + self.attend(h @ W("cross_attn_q").T, enc @ W("cross_attn_k").T, enc @ W("cross_attn_v").T,
                                none) @ W("cross_attn_o").T
            x = x + self.mlp(p, rms(x, W("ffn_norm"), self.eps))
        x = rms(x, self.t["dec.output_norm.weight"], self.eps)
        if "output.weight" in self.t:
            return x @ self.t["output.weight"].T
        return (x * self.dim ** -0.5) @ self.t["token_embd.weight"].T  # tied: T5ForConditionalGeneration


def top10(z):
    """[[id, logit, probability], ...]: the 10 largest logits, p the softmax
    over the whole vocabulary."""
    p = np.exp(z - z.max())
    p /= p.sum()
    order = sorted(range(len(z)), key=lambda i: (-z[i], i))[:10]
    return [[int(i), float(z[i]), float(p[i])] for i in order]


def main():
    args = sys.argv[1:]
    path, ids, n = args[0], [], 16
    for i, a in enumerate(args):
        if a == "--ids":
            ids = [int(s) for s in args[i + 1].split(",")]
        if a == "-n":
            n = int(args[i + 1])
    m = T5(path)
    enc = m.encode(ids)
    out = {"start": m.start, "greedy": {"ids": [], "top10": [], "margin": []},
           "buckets": {"enc": [bucket(d, m.nb, True) for d in range(-300, 301)],
                       "dec": [bucket(d, m.nb, False) for d in range(-300, 301)]}}
    seq = [m.start]
    for _ in range(n):
        z = m.decode(enc, seq)[-1]
        t = top10(z)
        out["greedy"]["ids"].append(t[0][0])
        out["greedy"]["top10"].append(t)
        out["greedy"]["margin"].append(t[0][1] - t[1][1])
        seq.append(t[0][0])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
