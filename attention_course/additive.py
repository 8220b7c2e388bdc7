"""Lesson 11: additive (Bahdanau-style) attention — a small network scores each (query, key) pair.

    score(q_i, k_j) = w_v · tanh(q_i @ w_q + k_j @ w_k)
    weights         = softmax over the keys j of the scores
    output          = weights @ v

Unlike the dot product, the query and the key need not have the same width: each is first
projected to the hidden size h.
"""
from __future__ import annotations

import numpy as np

from ._backend import as_float, check_mask, common_dtype, namespace, shape_str
from .attention import masked_softmax

_NAMES = ("q", "k", "w_q", "w_k", "w_v")


def additive_scores(q, k, w_q, w_k, w_v):
    """score(q_i, k_j) = w_v · tanh(q_i @ w_q + k_j @ w_k).

    Shapes: q (..., n_q, d_q), k (..., n_k, d_k), w_q (d_q, h), w_k (d_k, h), w_v (h,)
    -> scores (..., n_q, n_k). On the way it builds an (..., n_q, n_k, h) tensor: one
    hidden layer of h units for every (query, key) pair.
    """
    xp, (q, k, w_q, w_k, w_v) = _score_args("additive_scores", q, k, w_q, w_k, w_v)
    q_h = (q @ w_q)[..., :, None, :]        # (..., n_q, 1, h): each query projected once
    k_h = (k @ w_k)[..., None, :, :]        # (..., 1, n_k, h): each key projected once
    return xp.tanh(q_h + k_h) @ w_v          # (..., n_q, n_k, h) @ (h,) -> (..., n_q, n_k)


def additive_attention(q, k, v, w_q, w_k, w_v, mask=None):
    """Additive attention; returns ``(output, weights)``.

    Shapes: q (..., n_q, d_q), k (..., n_k, d_k), v (..., n_k, d_v),
    w_q (d_q, h), w_k (d_k, h), w_v (h,), mask broadcastable to (..., n_q, n_k)
    (bool, True = may attend, or additive float) -> output (..., n_q, d_v), weights (..., n_q, n_k).
    Unlike dot-product attention, q and k may have different widths (d_q != d_k).
    numpy in -> numpy out; torch in -> torch out (same device, differentiable).
    """
    q, k, v, w_q, w_k, w_v, mask = _attention_args(q, k, v, w_q, w_k, w_v, mask)
    scores = additive_scores(q, k, w_q, w_k, w_v)     # (..., n_q, n_k)
    weights = masked_softmax(scores, mask)            # (..., n_q, n_k): each row sums to 1
    return weights @ v, weights                       # (..., n_q, d_v), (..., n_q, n_k)


# ------------------------------------------------------------------ argument handling

def _score_args(func, q, k, w_q, w_k, w_v):
    xp, a = namespace(func, q=q, k=k, w_q=w_q, w_k=w_k, w_v=w_v)
    arrays = common_dtype(xp, *(as_float(xp, a[n]) for n in _NAMES))
    _check_shapes(func, *arrays)
    return xp, arrays


def _attention_args(q, k, v, w_q, w_k, w_v, mask):
    f = "additive_attention"
    xp, a = namespace(f, q=q, k=k, v=v, w_q=w_q, w_k=w_k, w_v=w_v, mask=mask)
    q, k, v, w_q, w_k, w_v = common_dtype(xp, *(as_float(xp, a[n]) for n in ("q", "k", "v", "w_q", "w_k", "w_v")))
    _check_shapes(f, q, k, w_q, w_k, w_v)
    if v.ndim < 2 or v.shape[-2] != k.shape[-2]:
        raise ValueError(f"{f}: v must be (..., n_k, d_v) with n_k rows like k (one value per key), "
                         f"got k {shape_str(k)}, v {shape_str(v)}.")
    shapes = f"q {shape_str(q)}, k {shape_str(k)}, v {shape_str(v)}"
    try:
        batch = np.broadcast_shapes(tuple(q.shape[:-2]), tuple(k.shape[:-2]), tuple(v.shape[:-2]))
    except ValueError:
        raise ValueError(f"{f}: the batch dimensions (all but the last two) do not broadcast: {shapes}.") from None
    mask = a.get("mask")
    check_mask(f, mask, (*batch, q.shape[-2], k.shape[-2]), shapes)
    return q, k, v, w_q, w_k, w_v, mask


def _check_shapes(f, q, k, w_q, w_k, w_v):
    shapes = (f"q {shape_str(q)}, k {shape_str(k)}, w_q {shape_str(w_q)}, w_k {shape_str(w_k)}, "
              f"w_v {shape_str(w_v)}")
    if q.ndim < 2 or k.ndim < 2:
        raise ValueError(f"{f}: q and k must be (..., n, d), got {shapes}. For a single vector use q[None, :].")
    if w_q.ndim != 2 or w_k.ndim != 2 or w_v.ndim != 1:
        raise ValueError(f"{f}: w_q and w_k must be matrices (d, h) and w_v a vector (h,), got {shapes}.")
    if w_q.shape[0] != q.shape[-1] or w_k.shape[0] != k.shape[-1]:
        raise ValueError(f"{f}: w_q must have d_q rows and w_k d_k rows (d_q = q.shape[-1], d_k = k.shape[-1]), "
                         f"got {shapes}.")
    if not (w_q.shape[1] == w_k.shape[1] == w_v.shape[0]):
        raise ValueError(f"{f}: w_q, w_k and w_v must share the hidden size h, got {shapes}.")
    try:
        np.broadcast_shapes(tuple(q.shape[:-2]), tuple(k.shape[:-2]))
    except ValueError:
        raise ValueError(f"{f}: the batch dimensions of q and k (all but the last two) do not broadcast: "
                         f"{shapes}.") from None
