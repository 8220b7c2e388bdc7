"""Slow, obvious reference implementations the package is checked against.

Written from the formulas with explicit Python loops over query rows, in
float64 and natural-base exp, so they share no code (and no tricks: base 2,
blocks, in-place work) with ``attention_course``.
"""
from __future__ import annotations

import math

import numpy as np


def softmax_row(scores, allowed=None):
    """softmax of one row of Python floats; keys with allowed[j] False get 0.

    A row with nothing allowed gets all zeros (the package's convention).
    """
    allowed = [True] * len(scores) if allowed is None else list(allowed)
    kept = [s for s, ok in zip(scores, allowed) if ok and s != -math.inf]
    if not kept:
        return [0.0] * len(scores)
    top = max(kept)
    e = [math.exp(s - top) if ok and s != -math.inf else 0.0 for s, ok in zip(scores, allowed)]
    total = sum(e)
    return [x / total for x in e]


def attention(q, k, v, mask=None, scale=None):
    """Reference scaled dot-product attention -> (output, weights), float64 numpy.

    q (..., n_q, d_k), k (..., n_k, d_k), v (..., n_k, d_v); mask bool
    (True = may attend) or additive float, broadcastable to (..., n_q, n_k).
    """
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    n_q, d_k = q.shape[-2:]
    n_k = k.shape[-2]
    scale = 1.0 / math.sqrt(d_k) if scale is None else float(scale)
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    if mask is not None:
        mask = np.asarray(mask)
        batch = np.broadcast_shapes(batch, mask.shape[:-2]) if mask.ndim > 2 else batch
        mask = np.broadcast_to(mask, (*batch, n_q, n_k))
    q = np.broadcast_to(q, (*batch, n_q, d_k))
    k = np.broadcast_to(k, (*batch, n_k, d_k))
    v = np.broadcast_to(v, (*batch, n_k, v.shape[-1]))
    weights = np.zeros((*batch, n_q, n_k))
    for index in np.ndindex(*batch):
        for i in range(n_q):
            scores = [scale * float(np.dot(q[index][i], k[index][j])) for j in range(n_k)]
            allowed = [True] * n_k
            if mask is not None:
                row = mask[index][i]
                if row.dtype == bool:
                    allowed = [bool(x) for x in row]
                else:
                    scores = [s + float(m) for s, m in zip(scores, row)]
            weights[index][i] = softmax_row(scores, allowed)
    return weights @ v, weights
