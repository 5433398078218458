#!/usr/bin/env python3
"""seeds_gguf.py — write the GGUF seeds of tests/fuzz/corpus/gguf/ (run by hand).

tiny-llama.gguf: a whole llama (hidden 8, 1 layer, 2 heads, 1 KV head,
FFN 16) with an 8-token SentencePiece vocabulary, F32 weights (F16 for one
matrix); gpt2-tok.gguf: only a byte-level BPE tokenizer.
"""
import struct, sys, os

T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR = 4, 5, 6, 7, 8, 9

def s(x):
    b = x.encode()
    return struct.pack('<Q', len(b)) + b

def kv(key, t, val):
    out = s(key) + struct.pack('<I', t)
    if t == T_U32: out += struct.pack('<I', val)
    elif t == T_F32: out += struct.pack('<f', val)
    elif t == T_BOOL: out += struct.pack('<B', val)
    elif t == T_STR: out += s(val)
    elif t == T_ARR:
        et, items = val
        out += struct.pack('<IQ', et, len(items))
        for it in items:
            out += s(it) if et == T_STR else struct.pack({T_F32: '<f', T_I32: '<i'}[et], it)
    return out

def gguf(kvs, tensors):
    head = b'GGUF' + struct.pack('<IQQ', 3, len(tensors), len(kvs)) + b''.join(kvs)
    data, infos = b'', b''
    for name, ne, typ in tensors:
        n = 1
        for d in ne: n *= d
        size = n * (4 if typ == 0 else 2)
        infos += s(name) + struct.pack('<I', len(ne)) + b''.join(struct.pack('<Q', d) for d in ne)
        infos += struct.pack('<IQ', typ, len(data))
        data += bytes(size) + bytes((-size) % 32)
    out = head + infos
    out += bytes((-len(out)) % 32)
    return out + data

spm = ['<unk>', '<s>', '</s>', '<0x0A>', '\u2581', 'a', '\u2581a', 'b']
tiny = gguf([
    kv('general.architecture', T_STR, 'llama'), kv('general.name', T_STR, 'tiny'),
    kv('llama.embedding_length', T_U32, 8), kv('llama.block_count', T_U32, 1),
    kv('llama.feed_forward_length', T_U32, 16), kv('llama.attention.head_count', T_U32, 2),
    kv('llama.attention.head_count_kv', T_U32, 1), kv('llama.context_length', T_U32, 64),
    kv('llama.attention.layer_norm_rms_epsilon', T_F32, 1e-5), kv('llama.rope.freq_base', T_F32, 10000.0),
    kv('tokenizer.ggml.model', T_STR, 'llama'),
    kv('tokenizer.ggml.tokens', T_ARR, (T_STR, spm)),
    kv('tokenizer.ggml.scores', T_ARR, (T_F32, [0, 0, 0, 0, -1, -2, -3, -4])),
    kv('tokenizer.ggml.token_type', T_ARR, (T_I32, [2, 3, 3, 6, 1, 1, 1, 1])),
    kv('tokenizer.ggml.bos_token_id', T_U32, 1), kv('tokenizer.ggml.eos_token_id', T_U32, 2),
    kv('tokenizer.ggml.add_bos_token', T_BOOL, 1),
    kv('tokenizer.chat_template', T_STR, "{% for m in messages %}{{ m['content'] }}{% endfor %}"),
], [
    ('token_embd.weight', [8, 8], 0), ('blk.0.attn_norm.weight', [8], 0),
    ('blk.0.attn_q.weight', [8, 8], 0), ('blk.0.attn_k.weight', [8, 4], 0),
    ('blk.0.attn_v.weight', [8, 4], 0), ('blk.0.attn_output.weight', [8, 8], 1),
    ('blk.0.ffn_norm.weight', [8], 0), ('blk.0.ffn_gate.weight', [8, 16], 0),
    ('blk.0.ffn_up.weight', [8, 16], 0), ('blk.0.ffn_down.weight', [16, 8], 0),
    ('output_norm.weight', [8], 0), ('output.weight', [8, 8], 0),
])
gpt2 = gguf([
    kv('tokenizer.ggml.model', T_STR, 'gpt2'), kv('tokenizer.ggml.pre', T_STR, 'gpt-2'),
    kv('tokenizer.ggml.tokens', T_ARR, (T_STR, ['a', 'b', 'ab', '\u0120', '\u0120a', '<|endoftext|>'])),
    kv('tokenizer.ggml.token_type', T_ARR, (T_I32, [1, 1, 1, 1, 1, 3])),
    kv('tokenizer.ggml.merges', T_ARR, (T_STR, ['a b', '\u0120 a'])),
], [])
d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus', 'gguf')
open(os.path.join(d, 'tiny-llama.gguf'), 'wb').write(tiny)
open(os.path.join(d, 'gpt2-tok.gguf'), 'wb').write(gpt2)
