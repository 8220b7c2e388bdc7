"""Exercise (lesson 06): scaled dot-product attention.

The learner writes ``scaled_dot_product_attention(q, k, v) -> (output, weights)``:

    scores  = q @ k^T / sqrt(d_k)       (..., n_q, n_k)
    weights = softmax(scores) over keys (..., n_q, n_k)   each row sums to 1
    output  = weights @ v               (..., n_q, d_v)
"""
from __future__ import annotations

import numpy as np

from ._attention import COMMON_MISTAKES, Q_TRANSPOSED, diagnose, random_qkv
from ._core import Case, Exercise, register


def scaled_dot_product_attention(q, k, v):
    """Reference solution. q (..., n_q, d_k), k (..., n_k, d_k), v (..., n_k, d_v)
    -> output (..., n_q, d_v), weights (..., n_q, n_k)."""
    d_k = q.shape[-1]
    scores = q @ k.swapaxes(-2, -1) / np.sqrt(d_k)            # (..., n_q, n_k)
    scores = scores - scores.max(axis=-1, keepdims=True)      # stable softmax over the keys
    e = np.exp(scores)
    weights = e / e.sum(axis=-1, keepdims=True)               # each row sums to 1
    return weights @ v, weights                               # (..., n_q, d_v), (..., n_q, n_k)


# ---------------------------------------------------------------------------- cases

def cases():
    rng = np.random.default_rng(5)
    return [
        Case(random_qkv(rng, (), 3, 3, 4, 4), label="3 queries, 3 keys, d_k = 4"),
        Case(random_qkv(rng, (), 2, 5, 4, 3), label="non-square: 2 queries, 5 keys"),
        Case(random_qkv(rng, (), 4, 3, 8, 2), label="d_v = 2 differs from d_k = 8"),
        Case(random_qkv(rng, (), 1, 4, 16, 16), label="one query, d_k = 16"),
        Case(random_qkv(rng, (2,), 3, 5, 4, 6), label="a batch of 2"),
        Case(random_qkv(rng, (2, 3), 4, 4, 8, 8), label="batch 2 x 3 heads"),
        Case(random_qkv(rng, (), 3, 4, 4, 4, scale=30.0), label="huge scores"),
        Case(random_qkv(rng, (), 3, 4, 8, 5, dtype=np.float32), label="float32"),
        Case(random_qkv(rng, (), 4, 4, 4, 3), label="n_q = n_k = d_k = 4"),
        Case(random_qkv(rng, (2,), 3, 3, 3, 2), label="a batch of 2, n_q = n_k = d_k = 3"),
    ]


register(Exercise(
    lesson="06_scaled_dot_product",
    name="scaled_dot_product_attention",
    reference=scaled_dot_product_attention,
    cases=cases,
    mistakes=[*COMMON_MISTAKES, Q_TRANSPOSED],
    diagnose=diagnose,
    output_names=("output", "weights"),
    signature="scaled_dot_product_attention(q, k, v) -> (output, weights)",
))
