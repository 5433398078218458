#!/usr/bin/python3
"""arch_ref.py — an independent float64 forward pass for arch_ref_test.c.

Shares no code with ctgi: its own GGUF reader (F32/F16 tensors), its own
forward pass in numpy float64, written from the architectures' published
definitions (Hugging Face modeling code, llama.cpp's graphs), recomputing
the whole sequence at every step (no KV cache).  Architectures:

  llama   RMSNorm, SwiGLU, GQA; GGUF q/k rows are stored for interleaved
          ("NORM") RoPE, so RoPE here rotates pairs (2i, 2i+1) of the file's
          rows, not the rotate-half the engine uses after un-permuting them;
          `attention.sliding_window` (Mistral): key j visible from query i
          iff 0 <= i - j < window, on every layer
  qwen3   llama with rotate-half (NEOX) RoPE and an RMSNorm of every q and k
          head (attn_q_norm / attn_k_norm) before RoPE
  gemma2  embeddings * sqrt(dim), GeGLU (tanh GELU), attention soft-capping,
          post-attention / post-FFN norms, window on even layers, final
          soft-capping
  gptneox LayerNorm with bias, fused qkv (q|k|v rows) with bias, partial
          rotate-half RoPE (rope.dimension_count), parallel residual,
          GELU MLP with biases
  mpt     LayerNorm without bias, fused qkv clamped to +-clamp_kqv, no
          positions but ALiBi (slopes 2^(-max_bias (h+1) / n_heads), n_heads
          a power of 2 here), GELU MLP, tied output

--gelu erf computes GELU exactly, 0.5 x (1 + erf(x / sqrt 2)), as the HF
families whose config says "gelu" do (and MPT always); the default is the
tanh form llama.cpp uses.

Usage: arch_ref.py MODEL.gguf --ids 1,2,3 [-n 16] [--gelu erf]
Prints JSON: {"prompt_top10": [[[id, logit], ...] per prompt position],
"greedy": {"ids": [...], "top10": [...], "margin": [...]}}, greedy step k's
top10 being the logits that chose ids[k] (step 0: the last prompt position).
"""
import json
import math
import struct
import sys

import numpy as np

# ---- GGUF ---------------------------------------------------------------------

SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, data):
        self.d, self.o = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.o)[0]
        self.o += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.d[self.o:self.o + n].decode("utf-8", "replace")
        self.o += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return [self.value(et) for _ in range(n)]
        return self.take(SCALAR[t])


def read_gguf(path):
    data = open(path, "rb").read()
    r = Reader(data)
    assert data[:4] == b"GGUF", "not a GGUF file"
    r.o = 4
    version, n_t, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
    assert version in (2, 3)
    kv = {}
    for _ in range(n_kv):
        k = r.string()
        kv[k] = r.value(r.take("<I"))
    infos = []
    for _ in range(n_t):
        name, nd = r.string(), r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        infos.append((name, ne, r.take("<I"), r.take("<Q")))
    align = kv.get("general.alignment", 32)
    base = (r.o + align - 1) // align * align
    tensors = {}
    for name, ne, t, off in infos:
        n = int(np.prod(ne))
        dt = {0: np.float32, 1: np.float16}[t]
        a = np.frombuffer(data, dtype=dt, count=n, offset=base + off).astype(np.float64)
        tensors[name] = a.reshape(list(reversed(ne)))  # (rows, cols): ne[0] is the row length
    return kv, tensors


# ---- the forward pass ---------------------------------------------------------------


def rms_norm(x, g, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def layer_norm(x, g, b, eps):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


_erf = np.vectorize(math.erf)


def gelu_erf(x):
    return 0.5 * x * (1 + _erf(x / np.sqrt(2)))


GELU = gelu_tanh


def silu(x):
    return x / (1 + np.exp(-x))


def rope_neox(x, pos, n_rot, theta):
    """x: (T, heads, hd); rotate pairs (i, i + n_rot/2) of the first n_rot dims."""
    half = n_rot // 2
    inv = theta ** (-np.arange(half) * 2.0 / n_rot)
    ang = pos[:, None] * inv[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    y = x.copy()
    a, b = x[..., :half], x[..., half:n_rot]
    y[..., :half] = a * c - b * s
    y[..., half:n_rot] = a * s + b * c
    return y


def rope_interleaved(x, pos, n_rot, theta):
    """llama.cpp's NORM mode: rotate pairs (2i, 2i + 1)."""
    half = n_rot // 2
    inv = theta ** (-np.arange(half) * 2.0 / n_rot)
    ang = pos[:, None] * inv[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    y = x.copy()
    a, b = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
    y[..., 0:n_rot:2] = a * c - b * s
    y[..., 1:n_rot:2] = a * s + b * c
    return y


class Model:
    def __init__(self, path):
        kv, self.t = read_gguf(path)
        a = self.arch = kv["general.architecture"]
        self.dim = kv[a + ".embedding_length"]
        self.n_layers = kv[a + ".block_count"]
        self.n_head = kv[a + ".attention.head_count"]
        self.n_kv = kv.get(a + ".attention.head_count_kv", self.n_head)
        self.hd = kv.get(a + ".attention.key_length", self.dim // self.n_head)
        self.n_rot = kv.get(a + ".rope.dimension_count", self.hd)
        self.theta = kv.get(a + ".rope.freq_base", 10000.0)
        self.eps = kv.get(a + ".attention.layer_norm_rms_epsilon", kv.get(a + ".attention.layer_norm_epsilon"))
        self.window = kv.get(a + ".attention.sliding_window", 0)
        self.attn_cap = kv.get(a + ".attn_logit_softcapping", 0.0)
        self.final_cap = kv.get(a + ".final_logit_softcapping", 0.0)
        self.clamp = kv.get(a + ".attention.clamp_kqv", 0.0)
        self.max_bias = kv.get(a + ".attention.max_alibi_bias", 0.0)
        assert a in ("llama", "qwen3", "gemma2", "gptneox", "mpt"), "unsupported architecture " + a

    def w(self, name):
        return self.t[name]

    def layer_window(self, l):
        if self.arch == "gemma2":
            return self.window if l % 2 == 0 else 0
        return self.window

    def attention(self, q, k, v, l):
        """q: (T, H, hd), k/v: (T, KV, hd) -> (T, H * hd)."""
        T, H, hd = q.shape
        g = H // self.n_kv
        i, j = np.arange(T)[:, None], np.arange(T)[None, :]
        allowed = j <= i
        win = self.layer_window(l)
        if win:
            allowed &= (i - j) < win
        out = np.zeros((T, H, hd))
        for h in range(H):
            s = q[:, h, :] @ k[:, h // g, :].T / np.sqrt(hd)
            if self.attn_cap:
                s = self.attn_cap * np.tanh(s / self.attn_cap)
            if self.arch == "mpt":  # ALiBi: a bias of slope * (j - i)
                assert H & (H - 1) == 0
                s = s + 2.0 ** (-self.max_bias * (h + 1) / H) * (j - i)
            s = np.where(allowed, s, -np.inf)
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            out[:, h, :] = s @ v[:, h // g, :]
        return out.reshape(T, H * hd)

    def logits(self, ids):
        T, pos = len(ids), np.arange(len(ids), dtype=np.float64)
        x = self.w("token_embd.weight")[ids]
        if self.arch == "gemma2":
            x = x * np.sqrt(self.dim)
        for l in range(self.n_layers):
            x = self.block(x, pos, l)
        if self.arch in ("gptneox", "mpt"):
            x = layer_norm(x, self.w("output_norm.weight"), self.t.get("output_norm.bias", 0.0), self.eps)
        else:
            x = rms_norm(x, self.w("output_norm.weight"), self.eps)
        out = self.t.get("output.weight", self.w("token_embd.weight"))
        z = x @ out.T
        if self.final_cap:
            z = self.final_cap * np.tanh(z / self.final_cap)
        return z

    def block(self, x, pos, l):
        p = "blk.%d." % l
        W = lambda n: self.w(p + n)
        T, H, KV, hd = x.shape[0], self.n_head, self.n_kv, self.hd
        if self.arch == "mpt":
            h = layer_norm(x, W("attn_norm.weight"), 0.0, self.eps)
            qkv = h @ W("attn_qkv.weight").T
            if self.clamp:
                qkv = np.clip(qkv, -self.clamp, self.clamp)
            q, k, v = qkv[:, :H * hd], qkv[:, H * hd:(H + KV) * hd], qkv[:, (H + KV) * hd:]
            q, k, v = q.reshape(T, H, hd), k.reshape(T, KV, hd), v.reshape(T, KV, hd)
            x = x + self.attention(q, k, v, l) @ W("attn_output.weight").T
            h = layer_norm(x, W("ffn_norm.weight"), 0.0, self.eps)
            return x + GELU(h @ W("ffn_up.weight").T) @ W("ffn_down.weight").T
        if self.arch == "gptneox":
            h = layer_norm(x, W("attn_norm.weight"), W("attn_norm.bias"), self.eps)
            qkv = h @ W("attn_qkv.weight").T + W("attn_qkv.bias")
            q, k, v = qkv[:, :H * hd], qkv[:, H * hd:(H + KV) * hd], qkv[:, (H + KV) * hd:]
        else:
            h = rms_norm(x, W("attn_norm.weight"), self.eps)
            q, k, v = h @ W("attn_q.weight").T, h @ W("attn_k.weight").T, h @ W("attn_v.weight").T
        q, k, v = q.reshape(T, H, hd), k.reshape(T, KV, hd), v.reshape(T, KV, hd)
        if self.arch == "qwen3":
            q = rms_norm(q, W("attn_q_norm.weight"), self.eps)
            k = rms_norm(k, W("attn_k_norm.weight"), self.eps)
        rope = rope_interleaved if self.arch == "llama" else rope_neox
        q, k = rope(q, pos, self.n_rot, self.theta), rope(k, pos, self.n_rot, self.theta)
        att = self.attention(q, k, v, l) @ W("attn_output.weight").T
        if self.arch == "gptneox":
            att = att + W("attn_output.bias")
            h2 = layer_norm(x, W("ffn_norm.weight"), W("ffn_norm.bias"), self.eps)
            m = GELU(h2 @ W("ffn_up.weight").T + W("ffn_up.bias")) @ W("ffn_down.weight").T + W("ffn_down.bias")
            return x + att + m
        if self.arch == "gemma2":
            att = rms_norm(att, W("post_attention_norm.weight"), self.eps)
        x = x + att
        h = rms_norm(x, W("ffn_norm.weight"), self.eps)
        act = GELU if self.arch == "gemma2" else silu
        m = (act(h @ W("ffn_gate.weight").T) * (h @ W("ffn_up.weight").T)) @ W("ffn_down.weight").T
        if self.arch == "gemma2":
            m = rms_norm(m, W("post_ffw_norm.weight"), self.eps)
        return x + m


def top10(z):
    order = sorted(range(len(z)), key=lambda i: (-z[i], i))[:10]
    return [[int(i), float(z[i])] for i in order]


def main():
    global GELU
    args = sys.argv[1:]
    path, ids, n = args[0], [], 16
    for i, a in enumerate(args):
        if a == "--ids":
            ids = [int(s) for s in args[i + 1].split(",")]
        if a == "-n":
            n = int(args[i + 1])
        if a == "--gelu" and args[i + 1] == "erf":
            GELU = gelu_erf
    m = Model(path)
    z = m.logits(ids)
    out = {"prompt_top10": [top10(row) for row in z], "greedy": {"ids": [], "top10": [], "margin": []}}
    seq = list(ids)
    for _ in range(n):
        row = z[-1]
        t = top10(row)
        out["greedy"]["ids"].append(t[0][0])
        out["greedy"]["top10"].append(t)
        out["greedy"]["margin"].append(t[0][1] - t[1][1])
        seq.append(t[0][0])
        z = m.logits(seq)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
