"""Lesson 11: additive (Bahdanau-style) attention."""
from __future__ import annotations

from ._backend import as_float, check_mask, namespace, shape_str
from .attention import masked_softmax


def additive_scores(q, k, w_q, w_k, w_v):
    """score(q_i, k_j) = w_v · tanh(q_i @ w_q + k_j @ w_k).

    Shapes: q (..., n_q, d_q), k (..., n_k, d_k), w_q (d_q, h), w_k (d_k, h), w_v (h,)
    -> scores (..., n_q, n_k).
    """
    xp, a = namespace("additive_attention", q=q, k=k, w_q=w_q, w_k=w_k, w_v=w_v)
    q, k, w_q, w_k, w_v = (as_float(xp, a[n]) for n in ("q", "k", "w_q", "w_k", "w_v"))
    _check(q, k, w_q, w_k, w_v)
    q_h = (q @ w_q)[..., :, None, :]       # (..., n_q, 1, h)
    k_h = (k @ w_k)[..., None, :, :]       # (..., 1, n_k, h)
    return xp.tanh(q_h + k_h) @ w_v         # (..., n_q, n_k, h) @ (h,) -> (..., n_q, n_k)


def additive_attention(q, k, v, w_q, w_k, w_v, mask=None):
    """Additive attention; returns ``(output, weights)``.

    Shapes: q (..., n_q, d_q), k (..., n_k, d_k), v (..., n_k, d_v),
    w_q (d_q, h), w_k (d_k, h), w_v (h,), mask broadcastable to (..., n_q, n_k)
    -> output (..., n_q, d_v), weights (..., n_q, n_k).
    Unlike dot-product attention, q and k may have different sizes.
    """
    xp, a = namespace("additive_attention", q=q, k=k, v=v, w_q=w_q, w_k=w_k, w_v=w_v, mask=mask)
    k, v = a["k"], as_float(xp, a["v"])
    if k.ndim < 2 or v.ndim < 2 or v.shape[-2] != k.shape[-2]:
        raise ValueError(f"additive_attention: v must be (..., n_k, d_v) with n_k rows like k, got k {shape_str(k)}, v {shape_str(v)}.")
    scores = additive_scores(a["q"], k, a["w_q"], a["w_k"], a["w_v"])
    mask = a.get("mask")
    check_mask("additive_attention", mask, tuple(scores.shape), f"q {shape_str(a['q'])}, k {shape_str(k)}")
    weights = masked_softmax(scores, mask)
    return weights @ v, weights                       # (..., n_q, d_v), (..., n_q, n_k)


def _check(q, k, w_q, w_k, w_v):
    f = "additive_attention"
    shapes = f"q {shape_str(q)}, k {shape_str(k)}, w_q {shape_str(w_q)}, w_k {shape_str(w_k)}, w_v {shape_str(w_v)}"
    if q.ndim < 2 or k.ndim < 2:
        raise ValueError(f"{f}: q and k must be (..., n, d), got {shapes}.")
    if w_q.ndim != 2 or w_k.ndim != 2 or w_v.ndim != 1:
        raise ValueError(f"{f}: w_q and w_k must be matrices and w_v a vector, got {shapes}.")
    if w_q.shape[0] != q.shape[-1] or w_k.shape[0] != k.shape[-1]:
        raise ValueError(f"{f}: w_q must have d_q rows and w_k d_k rows, got {shapes}.")
    if not (w_q.shape[1] == w_k.shape[1] == w_v.shape[0]):
        raise ValueError(f"{f}: w_q, w_k and w_v must share the hidden size h, got {shapes}.")
