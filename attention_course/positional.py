"""Lesson 10: where a token is — sinusoidal positional encoding and rotary embeddings (RoPE).

    angle(p, i) = p / base^(2i / d)          one angle per position p and feature pair i

Sinusoidal codes write (sin, cos) of that angle into the pair of columns (2i, 2i+1) and are
*added* to the token vectors. RoPE *turns* the pair (x[2i], x[2i+1]) of a query or key by that
angle instead, so a query-key score sees only the offset between the two positions.
"""
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
    An odd d_model gets a last sin column without its cos partner.
    """
    check_positive_ints("sinusoidal_positional_encoding", n_positions=n_positions, d_model=d_model)
    _check_base("sinusoidal_positional_encoding", base)
    pos = np.arange(n_positions)[:, None]                 # (n_positions, 1)
    two_i = np.arange(0, d_model, 2)                       # (ceil(d_model/2),): 0, 2, 4, ...
    angle = pos / base ** (two_i / d_model)                # (n_positions, ceil(d_model/2))
    pe = np.empty((n_positions, d_model))
    pe[:, 0::2] = np.sin(angle)                            # even columns
    pe[:, 1::2] = np.cos(angle[:, : d_model // 2])         # odd columns: the same angle
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
    xp, x, positions, two_i = _rope_args(x, positions, base)
    d = x.shape[-1]
    angle = positions[..., None] / base ** (two_i / d)       # (..., n, d/2): pair i turns by p / base^(2i/d)
    cos, sin = _as_dtype(xp, xp.cos(angle), x), _as_dtype(xp, xp.sin(angle), x)
    even, odd = x[..., 0::2], x[..., 1::2]                   # (..., n, d/2): the two halves of each pair
    turned = xp.stack([even * cos - odd * sin,               # each pair rotated by its angle
                       even * sin + odd * cos], axis=-1)     # (..., n, d/2, 2)
    return turned.reshape(x.shape)                           # pairs back in place: (..., n, d)


# ------------------------------------------------------------------ argument handling

def _check_base(func, base):
    if isinstance(base, bool) or not isinstance(base, numbers.Real) or not (math.isfinite(base) and base > 0):
        raise ValueError(f"{func}: base must be a finite number > 0, got {base!r}.")


def _as_dtype(xp, y, x):
    return y.astype(x.dtype) if xp is np else y.to(x.dtype)


def _rope_args(x, positions, base):
    """Check x, positions and base; return (xp, x as float, positions as float, 2i as float).

    The angles are computed in float64 (float32 on Apple's MPS, which has no float64), so a
    float32 or float16 x at a large position still gets an accurate rotation."""
    f = "apply_rope"
    xp, a = namespace(f, x=x, positions=positions)
    x = as_float(xp, a["x"])
    if x.ndim < 2 or x.shape[-1] % 2:
        raise ValueError(f"{f}: x must be (..., n, d) with an even d (features are turned in pairs), "
                         f"got x {shape_str(x)}.")
    _check_base(f, base)
    n, d = x.shape[-2], x.shape[-1]
    if xp is np:
        exact, device = {"dtype": np.float64}, {}
    else:
        exact = {"dtype": xp.float32 if x.device.type == "mps" else xp.float64}
        device = {"device": x.device}
    two_i = xp.arange(0, d, 2, **exact, **device)            # (d/2,): 0, 2, 4, ...
    if positions is None:
        return xp, x, xp.arange(n, **exact, **device), two_i
    p = a["positions"]
    if not _real_numbers(xp, p):
        raise TypeError(f"{f}: positions must hold integers or floats, got positions of dtype {p.dtype}.")
    p = p.astype(np.float64) if xp is np else p.to(exact["dtype"])
    try:
        fits = np.broadcast_shapes(tuple(p.shape), tuple(x.shape[:-1])) == tuple(x.shape[:-1])
    except ValueError:
        fits = False
    if not fits or p.ndim < 1 or p.shape[-1] != n:
        raise ValueError(f"{f}: positions must be (n,) = ({n},) or broadcast to x's (..., n) = "
                         f"{tuple(x.shape[:-1])}, got positions {shape_str(p)} for x {shape_str(x)}.")
    if not bool(xp.isfinite(p).all()):
        raise ValueError(f"{f}: positions must be finite numbers, got positions {shape_str(p)} with nan or inf.")
    return xp, x, p, two_i


def _real_numbers(xp, a) -> bool:
    """Integers or floats (not bool, not complex)."""
    if xp is np:
        return a.dtype.kind in "iuf"
    return a.is_floating_point() or (not a.is_complex() and a.dtype != xp.bool)
