"""Lesson 10: where a token is — sinusoidal positional encoding and rotary embeddings (RoPE)."""
from __future__ import annotations

import math
import numbers

import numpy as np

from ._backend import as_float, check_positive_ints, namespace, shape_str


def sinusoidal_positional_encoding(n_positions: int, d_model: int, base: float = 10000.0, dtype=np.float64):
    """(n_positions, d_model) array of position codes.

        angle(pos, i)   = pos / base^(2i / d_model)
        PE[pos, 2i]     = sin(angle)
        PE[pos, 2i + 1] = cos(angle)

    Column pairs (2i, 2i+1) turn at a frequency that falls geometrically with i:
    the first pair changes every position, the last pair barely moves.
    """
    check_positive_ints("sinusoidal_positional_encoding", n_positions=n_positions, d_model=d_model)
    pos = np.arange(n_positions)[:, None]                 # (n_positions, 1)
    two_i = np.arange(0, d_model, 2)                       # (ceil(d_model/2),)
    angle = pos / base ** (two_i / d_model)                # (n_positions, ceil(d_model/2))
    pe = np.empty((n_positions, d_model))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d_model // 2])
    return pe.astype(dtype, copy=False)


def apply_rope(x, positions=None, base: float = 10000.0):
    """Rotary position embedding (RoPE): turn each pair of features by an angle set by the position.

        angle(p, i) = p / base^(2i / d)
        (x[2i], x[2i+1]) at position p  ->  (x[2i] cos - x[2i+1] sin,  x[2i] sin + x[2i+1] cos)

    Shapes: x (..., n, d) with d even -> the same shape; ``positions`` (n,) or broadcastable to
    (..., n), default 0..n-1. Applied to queries and keys (not values): the score
    apply_rope(q)[m] . apply_rope(k)[n] then depends on the offset m - n only.
    numpy in -> numpy out; torch in -> torch out (same device, differentiable).
    """
    xp, x, positions = _rope_args(x, positions, base)
    d = x.shape[-1]
    two_i = xp.arange(0, d, 2, dtype=xp.float64)            # (d/2,): 0, 2, 4, ...
    angle = positions[..., None] / base ** (two_i / d)       # (..., n, d/2), in float64
    cos, sin = _as_dtype(xp, xp.cos(angle), x), _as_dtype(xp, xp.sin(angle), x)
    even, odd = x[..., 0::2], x[..., 1::2]                   # (..., n, d/2): the two halves of each pair
    turned = xp.stack([even * cos - odd * sin,               # each pair rotated by its angle
                       even * sin + odd * cos], axis=-1)     # (..., n, d/2, 2)
    return turned.reshape(x.shape)                           # pairs back in place: (..., n, d)


def _as_dtype(xp, y, x):
    return y.astype(x.dtype) if xp is np else y.to(x.dtype)


def _rope_args(x, positions, base):
    f = "apply_rope"
    xp, a = namespace(f, x=x, positions=positions)
    x = as_float(xp, a["x"])
    if x.ndim < 2 or x.shape[-1] % 2:
        raise ValueError(f"{f}: x must be (..., n, d) with an even d (features are turned in pairs), "
                         f"got x {shape_str(x)}.")
    if isinstance(base, bool) or not isinstance(base, numbers.Real) or not (math.isfinite(base) and base > 0):
        raise ValueError(f"{f}: base must be a finite number > 0, got {base!r}.")
    n = x.shape[-2]
    if positions is None:
        positions = xp.arange(n, dtype=xp.float64) if xp is np else xp.arange(n, dtype=xp.float64, device=x.device)
    else:
        positions = a["positions"]
        positions = positions.astype(np.float64) if xp is np else positions.to(xp.float64)
        try:
            np.broadcast_shapes(tuple(positions.shape), tuple(x.shape[:-1]))
        except ValueError:
            positions = None
        if positions is None or positions.ndim < 1 or positions.shape[-1] != n:
            raise ValueError(f"{f}: positions must be (n,) = ({n},) or broadcast to x's (..., n) = "
                             f"{tuple(x.shape[:-1])}, got positions {shape_str(a['positions'])}.")
    return xp, x, positions
