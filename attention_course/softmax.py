"""Lesson 04: softmax — from scores to a probability distribution."""
from __future__ import annotations

import math
import numbers

import numpy as np

from ._backend import as_float, as_numbers, namespace


def softmax(x, axis: int = -1, temperature: float = 1.0):
    """Numerically stable softmax along ``axis``.

        softmax(x)_i = exp((x_i - max x) / T) / sum_j exp((x_j - max x) / T)

    Shapes: x (...) -> same shape; the values along ``axis`` are >= 0 and sum to 1.
    Subtracting the maximum first makes the largest exponent exp(0) = 1, so nothing
    overflows and any finite input gives a finite output, for any temperature T > 0
    (a large T flattens, a small T sharpens toward the argmax).
    Works on numpy arrays and torch tensors (returns the same type).
    """
    xp, x, t = _softmax_args(x, axis, temperature)
    with np.errstate(over="ignore"):      # a gap stretched past the dtype's range is -inf: exp(-inf) = 0 is right
        x = x / max(t, 1.0)                                    # a T >= 1 shrinks the scores first
        shifted = (x - _row_max(xp, x, axis)) / min(t, 1.0)    # a T < 1 stretches the gaps: <= 0, 0 at the max
    e = xp.exp(shifted)                                        # in [0, 1]
    return e / xp.sum(e, axis=axis, keepdims=True)


def softmax_jacobian(p) -> np.ndarray:
    """d softmax_i / d score_j = p_i (delta_ij - p_j) = diag(p) - p p^T.

    Shapes: p (..., n), each row a softmax output -> (..., n, n). All entries are
    small when p is nearly one-hot: a saturated softmax passes almost no gradient back.
    """
    p = as_numbers("softmax_jacobian", "p", p)
    return p[..., :, None] * np.eye(p.shape[-1]) - p[..., :, None] * p[..., None, :]


def _row_max(xp, x, axis):
    """max along ``axis`` (kept as a size-1 axis); constant w.r.t. gradients."""
    m = xp.amax(x, axis=axis, keepdims=True)
    return m if xp is np else m.detach()


def _softmax_args(x, axis, temperature):
    """Check the arguments; return ``(xp, x as floats, T as a Python float x's dtype can hold)``."""
    xp, args = namespace("softmax", x=x)
    x = as_float(xp, args["x"])
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError("softmax: temperature must be a number > 0, "
                        f"got {type(temperature).__name__} {temperature!r}.")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"softmax: temperature must be a finite number > 0, got {temperature!r}.")
    if x.ndim == 0:
        raise ValueError("softmax: x must have at least one dimension, got a scalar.")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"softmax: axis={axis} is out of range for x of shape {tuple(x.shape)}.")
    # A Python float keeps float32 as float32. A T smaller than the dtype's smallest normal number
    # would round to 0 (and 0 / 0 = NaN at the max): use that smallest number instead, the same limit.
    return xp, x, max(float(temperature), float(xp.finfo(x.dtype).tiny))
