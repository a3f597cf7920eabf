#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""An independent reference for the functional mode's Llama forward pass.

Reads a model folder (config.json, model.safetensors) with numpy alone and
computes, in float64, the logits at every position of one token sequence:
Hugging Face Llama semantics (RMSNorm, rotate_half RoPE, grouped-query
causal attention, SwiGLU), with K and V rounded to bf16 as lightloop's KV
cache stores them.

  llama_reference.py MODEL_DIR TOKENS(comma-separated) OUT
writes OUT as raw little-endian float64, [len(TOKENS)][vocab_size].
"""
import json
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        chunk = data[b:end]
        if e["dtype"] == "F32":
            a = np.frombuffer(chunk, dtype="<f4")
        elif e["dtype"] == "F16":
            a = np.frombuffer(chunk, dtype="<f2").astype(np.float32)
        elif e["dtype"] == "BF16":
            a = (np.frombuffer(chunk, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{name}: dtype {e['dtype']}")
        out[name] = a.reshape(e["shape"]).astype(np.float64)
    return out


def to_bf16(x):
    """float64 -> float32 -> bf16 (round to nearest even) -> float64."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16
    return u.astype(np.uint32).view(np.float32).astype(np.float64)


def rms_norm(x, w, eps):
    return w * (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps))


def rope(x, positions, theta):
    """x: [tokens, heads, d]; pairs (i, i + d/2), as HF's rotate_half."""
    d = x.shape[-1]
    inv_freq = theta ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    angles = np.outer(positions, inv_freq)  # [tokens, d/2]
    cos = np.concatenate([np.cos(angles)] * 2, axis=-1)[:, None, :]
    sin = np.concatenate([np.sin(angles)] * 2, axis=-1)[:, None, :]
    rotated = np.concatenate([-x[..., d // 2:], x[..., :d // 2]], axis=-1)
    return x * cos + rotated * sin


def forward(cfg, w, tokens):
    h, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    kv_heads = cfg.get("num_key_value_heads", heads)
    d = cfg.get("head_dim", h // heads)
    eps, theta = cfg.get("rms_norm_eps", 1e-5), cfg.get("rope_theta", 10000.0)
    n = len(tokens)
    pos = np.arange(n, dtype=np.float64)
    x = w["model.embed_tokens.weight"][tokens]
    causal = np.triu(np.full((n, n), -np.inf), k=1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = rope((a @ w[p + "self_attn.q_proj.weight"].T).reshape(n, heads, d), pos, theta)
        k = to_bf16(rope((a @ w[p + "self_attn.k_proj.weight"].T).reshape(n, kv_heads, d), pos, theta))
        v = to_bf16((a @ w[p + "self_attn.v_proj.weight"].T).reshape(n, kv_heads, d))
        group = heads // kv_heads
        k = np.repeat(k, group, axis=1)
        v = np.repeat(v, group, axis=1)
        scores = np.einsum("thd,shd->hts", q, k) / np.sqrt(d) + causal
        probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs /= probs.sum(axis=-1, keepdims=True)
        attn = np.einsum("hts,shd->thd", probs, v).reshape(n, heads * d)
        x = x + attn @ w[p + "self_attn.o_proj.weight"].T
        m = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = m @ w[p + "mlp.gate_proj.weight"].T
        up = m @ w[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1.0 + np.exp(-gate)) * up) @ w[p + "mlp.down_proj.weight"].T
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return rms_norm(x, w["model.norm.weight"], eps) @ head.T


def main():
    model_dir, tokens, out = sys.argv[1], [int(t) for t in sys.argv[2].split(",")], sys.argv[3]
    with open(f"{model_dir}/config.json") as f:
        cfg = json.load(f)
    logits = forward(cfg, read_safetensors(f"{model_dir}/model.safetensors"), np.array(tokens))
    logits.astype("<f8").tofile(out)


if __name__ == "__main__":
    main()
