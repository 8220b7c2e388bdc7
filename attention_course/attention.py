"""Lessons 05–06: scaled dot-product attention.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + mask) V
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ._backend import as_float, is_tensor, namespace, shape_str

LOG2_E = math.log2(math.e)   # e^x = 2^(x * LOG2_E)
_BLOCK_ELEMENTS = 2 ** 18    # 256 Ki weights (1 MiB of float32): a block that stays in the CPU cache


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
    f = "scaled_dot_product_attention"
    xp, a = namespace(f, q=q, k=k, v=v, mask=mask)
    q, k, v = (as_float(xp, a[name]) for name in ("q", "k", "v"))
    q, k, v = _common_dtype(xp, q, k, v)
    mask = a.get("mask")
    scores_shape = _check_shapes(q, k, v, mask)
    scale = _check_scale(f, scale, q.shape[-1], xp)
    if xp is np:
        return _attention_numpy(q, k, v, mask, scale, scores_shape)
    scores = (q * scale) @ k.mT                # (..., n_q, n_k); scaling q is n_q*d_k work, not n_q*n_k
    weights = masked_softmax(scores, mask)
    return weights @ v, weights


def masked_softmax(scores, mask=None, shape=None):
    """Softmax over the last axis (keys) after applying ``mask``; returns new weights.

    Shapes: scores (..., n_q, n_k); mask broadcastable to it, bool (True = may
    attend) or additive float (0 / -inf) -> weights of the broadcast shape (the
    mask may add batch axes; ``shape`` may name it). ``scores`` is left unchanged.
    Rows where every key is hidden get all-zero weights instead of NaN.
    """
    f = "masked_softmax"
    xp, a = namespace(f, scores=scores, mask=mask)
    scores, mask = as_float(xp, a["scores"]), a.get("mask")
    if scores.ndim < 1:
        raise ValueError(f"{f}: scores must have at least one dimension (..., n_k), got a scalar.")
    full = _check_mask(f, mask, tuple(scores.shape), f"scores {shape_str(scores)}")
    if shape is not None:
        full = tuple(shape)
    if xp is np:
        weights = np.multiply(np.broadcast_to(scores, full), LOG2_E)  # a new array, in base 2 (see below)
        if mask is not None:
            _apply_mask(weights, mask, LOG2_E)
        return _softmax_base2_by_blocks(weights)
    if mask is not None:
        scores = xp.where(mask, scores, -xp.inf) if mask.dtype == xp.bool else scores + mask.to(scores.dtype)
    if scores.shape[-1] == 0:                            # no keys at all: nothing to weigh
        return scores
    m = xp.amax(scores, axis=-1, keepdims=True).detach()
    m = xp.where(m == -xp.inf, 0.0, m)                   # fully hidden row: max is -inf
    e = xp.exp(scores - m)
    total = xp.sum(e, axis=-1, keepdims=True)
    return e / xp.where(total == 0, 1.0, total)          # 0 / 1 = 0 for hidden rows


def _attention_numpy(q, k, v, mask, scale, shape):
    """The numpy path: the same maths, arranged to be fast on a CPU.

    The (..., n_q, n_k) weights are the only big array; three habits keep them cheap:

    1. In place: ``weights`` is allocated once, by q @ k^T, and every softmax
       step overwrites it (no n_q x n_k temporaries).
    2. Base 2: e^x = 2^(x * log2 e), and ``np.exp2`` is about twice as fast as
       ``np.exp``. So q is multiplied by scale * log2(e) (n_q*d_k multiplications
       instead of n_q*n_k) and the scores come out ready for exp2.
    3. Blocks: the softmax runs over a block of rows at a time (about 1 MiB), so
       its five passes (max, subtract, exp2, sum, divide) find the block in the
       CPU cache instead of streaming the whole array from memory five times.
    """
    weights = np.empty(shape, dtype=q.dtype)
    np.matmul(q * (scale * LOG2_E), k.swapaxes(-1, -2), out=weights)  # base-2 scores (Python float: float32 stays)
    if mask is not None:
        _apply_mask(weights, mask, LOG2_E)
    _softmax_base2_by_blocks(weights)
    return weights @ v, weights


def _softmax_base2_by_blocks(weights):
    """``_softmax_base2_inplace`` over (..., n_k), one block of rows at a time."""
    n_k = weights.shape[-1]
    if weights.size == 0:
        return weights
    rows = weights.reshape(-1, n_k)                        # (all query rows, n_k), a view
    block = max(1, _BLOCK_ELEMENTS // n_k)                 # rows per block
    # numpy copies a row-broadcast operand (the (rows, 1) max and total) through
    # an internal buffer when rows are shorter than the buffer; a buffer no longer
    # than a row lets `s -= m` work in place, about 2.5x faster.
    old_bufsize = np.setbufsize(min(np.getbufsize(), max(16, n_k - n_k % 16)))
    try:
        for start in range(0, len(rows), block):
            _softmax_base2_inplace(rows[start:start + block])
    finally:
        np.setbufsize(old_bufsize)
    return weights


def _apply_mask(s, mask, factor=1.0):
    """Hide keys in the scores ``s`` in place: bool mask False -> -inf; additive
    float mask -> s += mask * factor (factor = log2 e for base-2 scores)."""
    if mask.dtype == bool:
        np.copyto(s, -np.inf, where=np.logical_not(mask))  # hidden keys: 2^-inf = 0
    else:
        with np.errstate(over="ignore"):                    # e.g. finfo.min * log2(e) -> -inf: still "hidden"
            s += mask * factor


def _softmax_base2_inplace(s):
    """Overwrite base-2 scores ``s`` (..., n_k) with their softmax weights.

    ``s`` holds scores times log2(e), so 2^s = e^scores and the result is the
    ordinary softmax. Rows that are all -inf (every key hidden) become zeros.
    """
    m = s.max(axis=-1, keepdims=True)                     # (..., 1)
    m[m == -np.inf] = 0.0                                 # a row with every key hidden stays at -inf
    s -= m                                                # <= 0, so 2^s cannot overflow
    np.exp2(s, out=s)
    total = np.einsum("...k->...", s)[..., None]          # = s.sum(-1, keepdims=True), but ~3x faster
    total[total == 0] = 1.0                               # hidden row: 0 / 1 = 0, not 0 / 0 = NaN
    s *= np.reciprocal(total)                             # one multiply per weight
    return s


def _check_scale(func, scale, d_k, xp):
    """``scale=None`` -> 1/sqrt(d_k); a number -> a Python float (so float32 stays float32)."""
    if scale is None:
        return 1.0 / math.sqrt(d_k) if d_k else 1.0
    if is_tensor(scale) and xp is not np:                 # torch path: may be learnable, keep as is
        return scale
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError(f"{func}: scale must be a number such as 1/sqrt(d_k), got {type(scale).__name__} {scale!r}.")
    if not math.isfinite(scale):
        raise ValueError(f"{func}: scale must be finite, got {scale!r}.")
    return float(scale)


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
    return _check_mask(f, mask, shape, shapes)


def _check_mask(func, mask, shape, shapes):
    """Check a mask's dtype and that it broadcasts to ``shape`` without growing its
    last two axes; return the broadcast shape (the mask may add batch axes)."""
    if mask is None:
        return shape
    kind = str(mask.dtype)
    if not (kind.endswith("bool") or "float" in kind):
        raise TypeError(
            f"{func}: mask must be bool (True = may attend) or float (additive, 0 / -inf), "
            f"got mask {shape_str(mask)} of dtype {kind}."
        )
    try:
        full = np.broadcast_shapes(tuple(mask.shape), shape)
    except ValueError:
        full = None
    tail = min(2, len(shape))                      # the (n_q, n_k) axes may not grow
    if full is None or full[len(full) - tail:] != shape[len(shape) - tail:]:
        raise ValueError(
            f"{func}: mask of shape {shape_str(mask)} does not broadcast to the scores' shape "
            f"{shape} = (..., n_q, n_k) for {shapes}."
        )
    return full
