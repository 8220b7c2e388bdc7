"""Lessons 05–07: scaled dot-product attention, and where its queries, keys and values come from.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + mask) V

Every function here reads as its formula and runs unchanged on numpy arrays and on torch
tensors; the argument checks live in ``_backend``. The CPU-tuned version of the same maths is
``attention_course.efficient.efficient_attention`` (lesson 13).
"""
from __future__ import annotations

import numpy as np

from ._backend import (as_float, check_attention_shapes, check_mask, check_projections, check_scale,
                       common_dtype, namespace, shape_str)


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
    q, k, v, mask, scale = _attention_args(q, k, v, mask, scale)
    scores = q @ k.swapaxes(-2, -1) * scale      # (..., n_q, n_k): every query against every key
    weights = masked_softmax(scores, mask)       # (..., n_q, n_k): each row sums to 1
    output = weights @ v                         # (..., n_q, d_v): weighted averages of the values
    return output, weights


def masked_softmax(scores, mask=None):
    """Softmax over the last axis (the keys) after hiding the keys the mask forbids.

    Shapes: scores (..., n_q, n_k); mask broadcastable to it, bool (True = may attend)
    or additive float (0 / -inf) -> weights of the broadcast shape. ``scores`` is not changed.
    A row where every key is hidden gets all-zero weights instead of 0 / 0 = NaN.
    """
    xp, scores, mask = _masked_softmax_args(scores, mask)
    if scores.shape[-1] == 0:                            # no keys at all: nothing to weigh
        return scores
    if mask is not None:
        scores = _hide(xp, scores, mask)                 # hidden keys score -inf: exp(-inf) = 0
    m = xp.amax(scores, axis=-1, keepdims=True)          # the row's largest score
    m = xp.where(m == -xp.inf, 0.0, m)                   # a fully hidden row has no largest score
    e = xp.exp(scores - m)                               # <= 1: cannot overflow
    total = xp.sum(e, axis=-1, keepdims=True)
    return e / xp.where(total == 0, 1.0, total)          # a fully hidden row: 0 / 1 = 0


# ------------------------------------------------------------------ Q, K, V from the embeddings

def project_qkv(x, w_q, w_k, w_v):
    """Project embeddings into queries, keys and values; returns ``(q, k, v)``.

    Shapes: x (..., n, d_model); w_q, w_k (d_model, d_k); w_v (d_model, d_v)
            -> q, k (..., n, d_k); v (..., n, d_v).
    Row i of each is a different view of token i: what it looks for (q), what it offers
    to be found by (k), and what it passes on when found (v).
    """
    x, w_q, w_k, w_v = _projection_args("project_qkv", x=x, w_q=w_q, w_k=w_k, w_v=w_v)
    q = x @ w_q                                  # (..., n, d_k)
    k = x @ w_k                                  # (..., n, d_k)
    v = x @ w_v                                  # (..., n, d_v)
    return q, k, v


def self_attention(x, w_q, w_k, w_v, mask=None):
    """Self-attention of one sequence; returns ``(output, weights)``.

    x (..., n, d_model); w_q, w_k (d_model, d_k); w_v (d_model, d_v).
    q = x w_q, k = x w_k, v = x w_v, all from the same x.
    output (..., n, d_v); weights (..., n, n).
    """
    x, w_q, w_k, w_v = _projection_args("self_attention", x=x, w_q=w_q, w_k=w_k, w_v=w_v)
    q = x @ w_q                                  # (..., n, d_k)  queries, from x
    k = x @ w_k                                  # (..., n, d_k)  keys, from the same x
    v = x @ w_v                                  # (..., n, d_v)  values, from the same x
    return scaled_dot_product_attention(q, k, v, mask=mask)


def cross_attention(decoder_states, encoder_states, w_q, w_k, w_v, mask=None):
    """Cross-attention: the decoder asks, the encoder answers; returns ``(output, weights)``.

    decoder_states (..., n_q, d_model), encoder_states (..., n_k, d_model);
    w_q, w_k (d_model, d_k); w_v (d_model, d_v).
    output (..., n_q, d_v): one context vector per decoder position;
    weights (..., n_q, n_k): row i says which source tokens decoder position i reads.
    """
    dec, enc, w_q, w_k, w_v = _projection_args("cross_attention", decoder_states=decoder_states,
                                               encoder_states=encoder_states, w_q=w_q, w_k=w_k, w_v=w_v)
    q = dec @ w_q                                # (..., n_q, d_k)  queries: from the decoder
    k = enc @ w_k                                # (..., n_k, d_k)  keys: from the encoder
    v = enc @ w_v                                # (..., n_k, d_v)  values: from the encoder
    return scaled_dot_product_attention(q, k, v, mask=mask)


# ------------------------------------------------------------------ argument handling

def _attention_args(q, k, v, mask, scale, func="scaled_dot_product_attention"):
    """Check and convert the arguments: one backend, one float dtype, shapes that fit."""
    xp, a = namespace(func, q=q, k=k, v=v, mask=mask)
    q, k, v = common_dtype(xp, *(as_float(xp, a[name]) for name in ("q", "k", "v")))
    mask = a.get("mask")
    check_attention_shapes(func, q, k, v, mask)
    return q, k, v, mask, check_scale(func, scale, q.shape[-1], xp)


def _projection_args(func, **arrays):
    """The states and w_q, w_k, w_v, checked (``_backend.check_projections``), in the order given."""
    _, a = check_projections(func, **arrays)
    return tuple(a[name] for name in arrays)


def _masked_softmax_args(scores, mask):
    f = "masked_softmax"
    xp, a = namespace(f, scores=scores, mask=mask)
    scores, mask = as_float(xp, a["scores"]), a.get("mask")
    if scores.ndim < 1:
        raise ValueError(f"{f}: scores must have at least one dimension (..., n_k), got a scalar.")
    check_mask(f, mask, tuple(scores.shape), f"scores {shape_str(scores)}")
    return xp, scores, mask


def _hide(xp, scores, mask):
    """Bool mask: False -> -inf. Float mask: added (0 keeps a key, -inf or a large negative hides it)."""
    if str(mask.dtype).endswith("bool"):
        return xp.where(mask, scores, -xp.inf)
    with np.errstate(over="ignore"):                     # e.g. -1e300 in float32 -> -inf: still hidden
        return scores + (mask.astype(scores.dtype) if xp is np else mask.to(scores.dtype))
