"""Lesson 04: softmax — from scores to a probability distribution."""
from __future__ import annotations

import math
import numbers

import numpy as np

from ._backend import as_float, namespace


def softmax(x, axis: int = -1, temperature: float = 1.0):
    """Numerically stable softmax along ``axis``.

    softmax(x)_i = exp((x_i - max x) / T) / sum_j exp((x_j - max x) / T)

    Shapes: x (...) -> same shape; the values along ``axis`` are >= 0 and sum to 1.
    Any finite input gives a finite output, for any temperature T > 0:
    subtracting the maximum first means the largest exponent is exp(0) = 1,
    so nothing overflows (a large T flattens, a small T sharpens toward argmax).
    Works on numpy arrays and torch tensors (returns the same type).
    """
    xp, args = namespace("softmax", x=x)
    x = as_float(xp, args["x"])
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError("softmax: temperature must be a number > 0, "
                        f"got {type(temperature).__name__} {temperature!r}.")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"softmax: temperature must be a finite number > 0, got {temperature!r}.")
    temperature = float(temperature)             # a Python float keeps float32 as float32
    if x.ndim == 0:
        raise ValueError("softmax: x must have at least one dimension, got a scalar.")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"softmax: axis={axis} is out of range for x of shape {tuple(x.shape)}.")
    # overflow can only push a score to -inf, and exp(-inf) = 0 is right
    with np.errstate(over="ignore"):
        if temperature >= 1:
            # T >= 1 shrinks the scores: dividing first cannot overflow
            x = x / temperature
        shifted = x - _row_max(xp, x, axis)      # <= 0 everywhere, 0 at the max
        if temperature < 1:
            # T < 1 stretches them: divide after the shift (0 stays 0);
            # a T the dtype can't hold would be 0, hence the max with its smallest normal number
            shifted = shifted / max(temperature, _tiny(xp, x.dtype))
        e = xp.exp(shifted)                      # in [0, 1]; exactly 1 at the max
    return e / xp.sum(e, axis=axis, keepdims=True)


def _row_max(xp, x, axis):
    """max along ``axis`` (kept as a size-1 axis); constant w.r.t. gradients."""
    m = xp.amax(x, axis=axis, keepdims=True)
    return m if xp.__name__ == "numpy" else m.detach()


def _tiny(xp, dtype) -> float:
    """The smallest positive normal number of ``dtype`` (1.2e-38 for float32)."""
    return float(xp.finfo(dtype).tiny)
