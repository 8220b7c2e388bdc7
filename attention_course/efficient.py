"""Lesson 13: attention made fast and small — the same maths, arranged for the machine.

- ``efficient_attention``: the contract of ``scaled_dot_product_attention`` (it returns the
  weights too), tuned for a CPU with numpy: scaled q instead of scaled scores, base-2
  exponent, in place, cache-sized row blocks.
- ``tiled_attention``: online softmax over blocks of keys; never holds the (n_q, n_k) weights.
- ``KVCache``: the keys and values of the tokens generated so far, for one-token-at-a-time decoding.

Each is tested equal to the readable ``scaled_dot_product_attention``.
"""
from __future__ import annotations

import math

import numpy as np

from ._backend import as_float, check_attention_shapes, check_scale, common_dtype, namespace

LOG2_E = math.log2(math.e)   # e^x = 2^(x * LOG2_E)
_BLOCK_ELEMENTS = 2 ** 18    # 256 Ki weights (1 MiB of float32): a block that stays in the CPU cache


def efficient_attention(q, k, v, mask=None, scale=None):
    """Scaled dot-product attention tuned for a CPU; returns ``(output, weights)``.

    Same shapes, masks and results as ``scaled_dot_product_attention`` (within float
    rounding), for numpy arrays. The (..., n_q, n_k) weights are the only big array;
    three habits keep them cheap:

    1. In place: ``weights`` is allocated once, by q @ k^T, and every softmax
       step overwrites it (no n_q x n_k temporaries).
    2. Base 2: e^x = 2^(x * log2 e), and ``np.exp2`` is about twice as fast as
       ``np.exp``. So q is multiplied by scale * log2(e) (n_q*d_k multiplications
       instead of n_q*n_k) and the scores come out ready for exp2.
    3. Blocks: the softmax runs over a block of rows at a time (about 1 MiB), so
       its five passes (max, subtract, exp2, sum, divide) find the block in the
       CPU cache instead of streaming the whole array from memory five times.

    torch tensors are handed to ``scaled_dot_product_attention`` (PyTorch has its own kernels).
    """
    f = "efficient_attention"
    xp, a = namespace(f, q=q, k=k, v=v, mask=mask)
    if xp is not np:
        from .attention import scaled_dot_product_attention

        return scaled_dot_product_attention(q, k, v, mask=mask, scale=scale)
    q, k, v = common_dtype(xp, *(as_float(xp, a[name]) for name in ("q", "k", "v")))
    mask = a.get("mask")
    shape = check_attention_shapes(f, q, k, v, mask)
    scale = check_scale(f, scale, q.shape[-1], xp)
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
            s += (mask * factor).astype(s.dtype)


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


def tiled_attention(q, k, v, causal=False, scale=None, block_size=None):
    """Online-softmax attention over blocks of keys -> output (..., n_q, d_v) only (lesson 13)."""
    raise NotImplementedError("tiled_attention: lesson 13 is being written")


class KVCache:
    """The keys and values of the positions decoded so far (lesson 13)."""

    def __init__(self):
        raise NotImplementedError("KVCache: lesson 13 is being written")
