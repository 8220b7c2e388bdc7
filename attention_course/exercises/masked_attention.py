"""Exercise (lesson 09): attention with a mask.

The learner writes ``scaled_dot_product_attention(q, k, v, mask=None) -> (output, weights)``,
where ``mask`` (broadcastable to (..., n_q, n_k)) is True where a query may attend to a key:
hidden keys get weight 0 and every row of weights still sums to 1.
"""
from __future__ import annotations

import numpy as np

from ._attention import COMMON_MISTAKES, MASK_MISTAKES, diagnose, random_qkv
from ._core import Case, Exercise, register


def masked_attention(q, k, v, mask=None):
    """Reference solution. As scaled_dot_product_attention, plus mask broadcastable to
    (..., n_q, n_k): True = this query may attend to this key."""
    d_k = q.shape[-1]
    scores = q @ k.swapaxes(-2, -1) / np.sqrt(d_k)            # (..., n_q, n_k)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)              # hidden keys: exp(-inf) = 0
    scores = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(scores)
    weights = e / e.sum(axis=-1, keepdims=True)
    return weights @ v, weights


# ---------------------------------------------------------------------------- cases

def _mask_case(rng, batch, n_q, n_k, d_k, d_v, mask, label):
    return Case((*random_qkv(rng, batch, n_q, n_k, d_k, d_v), mask), label=label)


def masked_cases():
    rng = np.random.default_rng(9)
    causal4 = np.tril(np.ones((4, 4), dtype=bool))
    padding = np.arange(5)[None, None, :] < np.array([3, 5])[:, None, None]      # (2, 1, 5)
    scattered = rng.random((3, 6)) < 0.5
    scattered[:, 0] = True                                                        # every row sees a key
    return [
        _mask_case(rng, (), 4, 4, 4, 4, causal4, "causal mask, 4 tokens"),
        _mask_case(rng, (2,), 4, 4, 8, 3, causal4, "causal mask over a batch of 2"),
        _mask_case(rng, (2, 2), 4, 4, 4, 4, causal4, "causal mask, batch 2 x 2 heads"),
        _mask_case(rng, (2,), 3, 5, 4, 4, padding, "padding mask (2, 1, 5)"),
        _mask_case(rng, (), 3, 6, 8, 2, scattered, "scattered mask, 3 queries, 6 keys"),
        Case((*random_qkv(rng, (), 4, 4, 4, 4, scale=30.0), causal4), label="causal mask, huge scores"),
        Case((*random_qkv(rng, (), 4, 4, 8, 8, dtype=np.float32), causal4), label="causal mask, float32"),
        Case((*random_qkv(rng, (), 3, 4, 4, 4), None), label="no mask (mask=None)"),
        Case((*random_qkv(rng, (), 2, 5, 4, 3), np.ones((2, 5), dtype=bool)), label="mask that hides nothing"),
    ]


register(Exercise(
    lesson="09_masking",
    name="masked_attention",
    reference=masked_attention,
    cases=masked_cases,
    mistakes=MASK_MISTAKES + COMMON_MISTAKES,
    diagnose=diagnose,
    output_names=("output", "weights"),
    signature="scaled_dot_product_attention(q, k, v, mask=None) -> (output, weights), mask True = may attend",
))
