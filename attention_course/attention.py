"""Lessons 05–06: scaled dot-product attention.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + mask) V
"""
from __future__ import annotations

import math

import numpy as np

from ._backend import as_float, namespace, shape_str


def scaled_dot_product_attention(q, k, v, mask=None, scale=None):
    """Scaled dot-product attention; returns ``(output, weights)``.

    Shapes:
        q       (..., n_q, d_k)   one row per query
        k       (..., n_k, d_k)   one row per key
        v       (..., n_k, d_v)   one row per value (row j belongs to key j)
        mask    broadcastable to (..., n_q, n_k): bool (True = may attend) or
                additive float (0 = keep, -inf = hide)
        output  (..., n_q, d_v)   each row is a weighted average of the rows of v
        weights (..., n_q, n_k)   each row sums to 1 (all zeros if the mask hides every key)

    ``scale=None`` means 1/sqrt(d_k). numpy in -> numpy out; torch in -> torch out
    (same device, differentiable).
    """
    xp, a = namespace("scaled_dot_product_attention", q=q, k=k, v=v, mask=mask)
    q, k, v = (as_float(xp, a[name]) for name in ("q", "k", "v"))
    q, k, v = _common_dtype(xp, q, k, v)
    mask = a.get("mask")
    scores_shape = _check_shapes(q, k, v, mask)
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])   # a Python float keeps float32 as float32
    scores = (q * scale) @ k.mT                # (..., n_q, n_k); scaling q is n_q*d_k work, not n_q*n_k
    weights = masked_softmax(scores, mask, shape=scores_shape)
    return weights @ v, weights


def masked_softmax(scores, mask=None, shape=None):
    """Softmax over the last axis (keys) after applying ``mask``.

    Rows where every key is hidden get all-zero weights instead of NaN.
    numpy scores are overwritten in place (the n_q x n_k array is the big one);
    torch scores are left untouched so autograd can see every step.
    """
    xp, a = namespace("masked_softmax", scores=scores, mask=mask)
    scores, mask = a["scores"], a.get("mask")
    if xp is np:
        return _masked_softmax_numpy(scores, mask, shape or scores.shape)
    if mask is not None:
        scores = xp.where(mask, scores, -xp.inf) if mask.dtype == xp.bool else scores + mask
    m = xp.amax(scores, axis=-1, keepdims=True).detach()
    m = xp.where(xp.isfinite(m), m, 0.0)                 # fully hidden row: max is -inf
    e = xp.exp(scores - m)
    total = xp.sum(e, axis=-1, keepdims=True)
    return e / xp.where(total == 0, 1.0, total)          # 0 / 1 = 0 for hidden rows


def _masked_softmax_numpy(scores, mask, shape):
    if scores.shape != tuple(shape):                     # the mask adds batch axes
        scores = np.broadcast_to(scores, shape).copy()
    if mask is not None:
        if mask.dtype == bool:
            np.copyto(scores, -np.inf, where=~mask)
        else:
            scores += mask.astype(scores.dtype, copy=False)
    m = scores.max(axis=-1, keepdims=True)
    m[~np.isfinite(m)] = 0.0
    scores -= m
    np.exp(scores, out=scores)
    total = scores.sum(axis=-1, keepdims=True)
    total[total == 0] = 1.0
    scores *= np.reciprocal(total)                       # one multiply per weight
    return scores


def _common_dtype(xp, *arrays):
    if xp is np:
        dtype = np.result_type(*arrays)
        return tuple(x.astype(dtype, copy=False) for x in arrays)
    dtype = arrays[0].dtype
    for x in arrays[1:]:
        dtype = xp.promote_types(dtype, x.dtype)
    return tuple(x.to(dtype) for x in arrays)


def _check_shapes(q, k, v, mask):
    """Validate shapes; return the shape of the scores/weights (..., n_q, n_k)."""
    f = "scaled_dot_product_attention"
    shapes = f"q {shape_str(q)}, k {shape_str(k)}, v {shape_str(v)}"
    for name, x in (("q", q), ("k", k), ("v", v)):
        if x.ndim < 2:
            raise ValueError(
                f"{f}: {name} must have at least 2 dimensions (..., n, d), got {name} {shape_str(x)}. "
                f"For a single vector use {name}[None, :]."
            )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{f}: q and k must have the same last dimension d_k, got {shapes}.")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{f}: k and v must have the same number of rows n_k (one value per key), got {shapes}.")
    try:
        batch = np.broadcast_shapes(tuple(q.shape[:-2]), tuple(k.shape[:-2]), tuple(v.shape[:-2]))
    except ValueError:
        raise ValueError(f"{f}: the batch dimensions (all but the last two) do not broadcast: {shapes}.") from None
    shape = (*batch, q.shape[-2], k.shape[-2])
    if mask is None:
        return shape
    kind = str(mask.dtype)
    if not (kind.endswith("bool") or "float" in kind):
        raise TypeError(
            f"{f}: mask must be bool (True = may attend) or float (additive, 0 / -inf), got dtype {kind}."
        )
    try:
        full = np.broadcast_shapes(tuple(mask.shape), shape)
    except ValueError:
        full = None
    if full is None or full[-2:] != shape[-2:]:
        raise ValueError(
            f"{f}: mask of shape {shape_str(mask)} does not broadcast to the scores' shape "
            f"{shape} = (..., n_q, n_k) for {shapes}."
        )
    return full
