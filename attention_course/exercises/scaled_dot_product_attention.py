"""Exercise (lesson 06): scaled dot-product attention.

The learner writes ``scaled_dot_product_attention(q, k, v) -> (output, weights)``:

    scores  = q @ k^T / sqrt(d_k)       (..., n_q, n_k)
    weights = softmax(scores) over keys (..., n_q, n_k)   each row sums to 1
    output  = weights @ v               (..., n_q, d_v)
"""
from __future__ import annotations

import numpy as np

from ._attention import (COMMON_MISTAKES, MISSING_SCALE, Q_TRANSPOSED, SCALE_BY_DK, SCALE_BY_DV, _fitted_scale,
                         diagnose as _diagnose_weights, random_qkv)
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


# ---------------------------------------------------------------- which size the scale came from

WRONG_SIZE = ("You divided the scores by the square root of the wrong size: d_k is the length of each query and "
              "key, q.shape[-1]. q.shape[0] and len(q) count the queries (or the batch once there are batch "
              "axes), k.shape[-2] counts the keys.")


def diagnose(case, value):
    """``_attention.diagnose``, keeping only the scale hints this case can back up, plus WRONG_SIZE.

    The scale the learner used is read off their weights. When it is also 1/sqrt of another size
    of the case (n_q, n_k or a batch axis: 1 when n_q = 1, 1/sqrt(2) for a batch of 2 next to
    d_v = 2), the case cannot tell which size was used, so its scale hints are dropped; when it
    is 1/sqrt of such a size and of nothing the catalogue knows, the hint is WRONG_SIZE.
    """
    hints = list(_diagnose_weights(case, value))
    q, k, v = (np.asarray(a, dtype=np.float64) for a in case.args[:3])
    weights = np.asarray(value[1], dtype=np.float64) if isinstance(value, (tuple, list)) and len(value) == 2 else None
    scores = q @ k.swapaxes(-2, -1)                                         # (..., n_q, n_k)
    if weights is None or weights.shape != scores.shape or not np.isfinite(weights).all():
        return hints
    visible = np.ones(scores.shape, dtype=bool)
    scale = _fitted_scale(scores, weights, visible)
    if scale is None and not np.allclose(weights.sum(axis=-1), 1.0, atol=1e-5):   # softmax over the queries
        scale = _fitted_scale(scores.swapaxes(-2, -1), weights.swapaxes(-2, -1), visible.swapaxes(-2, -1))
    if scale is None:
        return hints
    d_k, d_v = q.shape[-1], v.shape[-1]
    other_sizes = {*q.shape[:-1], k.shape[-2]} - {d_k}                       # batch axes, n_q, n_k
    if not any(np.isclose(scale, s ** -0.5, rtol=0.01) for s in other_sizes):
        return hints
    known = {MISSING_SCALE: 1.0, SCALE_BY_DK: 1 / d_k, SCALE_BY_DV: d_v ** -0.5}
    hints = [h for h in hints if not (h in known and np.isclose(scale, known[h], rtol=0.01))]
    if not any(np.isclose(scale, f, rtol=0.01) for f in (*known.values(), d_k ** -0.5)):
        hints.append(WRONG_SIZE)
    return hints


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
