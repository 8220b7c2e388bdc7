"""Exercise (lesson 10): rotary position embedding (RoPE).

The learner writes ``apply_rope(x, positions)``: x (..., n, d) with d even, positions (n,)
integers -> x with each pair (x[..., 2i], x[..., 2i+1]) of the row at position p turned by

    angle(p, i) = p / 10000^(2i / d)
    (a, b) -> (a cos(angle) - b sin(angle),  a sin(angle) + b cos(angle))
"""
from __future__ import annotations

import numpy as np

from ._core import Case, Exercise, Mistake, register


def apply_rope(x, positions):
    """Reference solution. x (..., n, d), positions (n,) -> the same shape, each pair turned."""
    d = x.shape[-1]
    two_i = np.arange(0, d, 2)                              # (d/2,): 0, 2, 4, ...
    angle = positions[:, None] / 10000 ** (two_i / d)       # (n, d/2): one angle per position and pair
    cos, sin = np.cos(angle), np.sin(angle)
    even, odd = x[..., 0::2], x[..., 1::2]                  # (..., n, d/2): the two halves of each pair
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin                 # each pair rotated by its angle
    out[..., 1::2] = even * sin + odd * cos
    return out


# ---------------------------------------------------------------- the mistakes the checker names

def _rope(x, positions, *, sign=1.0, pairing="neighbours", freq="2i/d", rows=False, overwrite=False):
    """RoPE with one switch per mistake (the buggy variants below)."""
    d = x.shape[-1]
    p = np.arange(x.shape[-2]) if rows else positions
    i = np.arange(d // 2)
    power = {"2i/d": 2 * i / d, "i/d": i / d, "one": 0 * i}[freq]
    angle = sign * p[:, None] / 10000.0 ** power            # (n, d/2)
    cos, sin = np.cos(angle), np.sin(angle)
    if pairing == "halves":                                  # feature i with feature i + d/2
        a, b = x[..., : d // 2], x[..., d // 2:]
        return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)
    out = np.array(x, dtype=np.float64)
    even, odd = x[..., 0::2], x[..., 1::2]
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = (out[..., 0::2] if overwrite else even) * sin + odd * cos
    return out


def _variant(**switches):
    def buggy(x, positions):
        return _rope(x, positions, **switches)
    return buggy


ONE_FREQUENCY = ("Every pair turned by the same angle: each pair i has its own frequency, angle = p / 10000^(2i/d) "
                 "with 2i = 0, 2, 4, ... (angle = positions[:, None] / 10000 ** (np.arange(0, d, 2) / d), shape "
                 "(n, d/2)). The first pair turns by 1 radian per position, the last one barely moves.")

MISTAKES = [
    Mistake("Rotation by the wrong sign: you turned each pair by -angle. Use (a cos - b sin, a sin + b cos) for the "
            "pair (a, b) = (x[..., 2i], x[..., 2i+1]). (Scores would still depend only on the offset m - n, but "
            "mirrored: a key k positions before the query would score as one k positions after it does now.)", _variant(sign=-1.0)),
    Mistake("You paired feature i with feature i + d/2 (the two halves, as the 'rotate_half' code of some libraries "
            "does). That is another valid layout of RoPE, but not the one asked here: pair each even feature with "
            "its neighbour, (x[..., 2i], x[..., 2i+1]), i.e. x[..., 0::2] with x[..., 1::2].",
            _variant(pairing="halves")),
    Mistake(ONE_FREQUENCY, _variant(freq="one")),
    Mistake("Wrong exponent: you used i / d; the frequency of pair i is 1 / 10000^(2i/d), where 2i = 0, 2, 4, ... is "
            "the index of the pair's first feature (np.arange(0, d, 2) / d).", _variant(freq="i/d")),
    Mistake("You turned row j by the angle of position j (0, 1, 2, ...) and ignored `positions`: the angle uses the "
            "position given for each row, positions[:, None] / 10000 ** (np.arange(0, d, 2) / d).",
            _variant(rows=True)),
    Mistake("The odd features were computed from the already-turned even ones: you wrote the new x[..., 2i] first "
            "and then used it for x[..., 2i+1]. Compute both from the original values (even, odd = x[..., 0::2], "
            "x[..., 1::2]) and write the results into a new array.", _variant(overwrite=True)),
]


def diagnose(case, value):
    """One frequency for every pair, whatever that frequency: in each row, all pairs turned by
    one angle (found from x and the learner's output, which must keep each pair's length)."""
    x = np.asarray(case.args[0], dtype=np.float64)
    y = np.asarray(value, dtype=np.float64) if isinstance(value, np.ndarray) else None
    if y is None or y.shape != x.shape or x.shape[-1] < 4 or not np.isfinite(y).all():
        return []
    a, b, c, e = x[..., 0::2], x[..., 1::2], y[..., 0::2], y[..., 1::2]
    if not np.allclose(np.hypot(a, b), np.hypot(c, e), rtol=1e-5, atol=1e-6):
        return []
    turn = np.exp(1j * (np.arctan2(e, c) - np.arctan2(b, a)))          # each pair's turn as a unit complex number
    same = np.allclose(turn, turn[..., :1], atol=1e-5)                   # every pair of a row turned alike
    moved = not np.allclose(turn, 1.0, atol=1e-5)
    return [ONE_FREQUENCY] if same and moved else []


def cases():
    rng = np.random.default_rng(10)

    def case(shape, positions, label, dtype=np.float64):
        return Case((rng.standard_normal(shape).astype(dtype), np.array(positions)), label=label)

    return [
        case((4, 2), [0, 1, 2, 3], "d = 2 (one pair), positions 0..3"),
        case((5, 8), np.arange(5), "5 rows, d = 8, positions 0..4"),
        case((3, 6), [7, 2, 30], "positions [7, 2, 30]"),
        case((2, 4, 8), [10, 11, 12, 13], "a batch of 2, positions 10..13"),
        case((4, 16), [0, 1, 500, 4000], "d = 16, far positions [0, 1, 500, 4000]"),
        case((6, 8), np.arange(6), "float32, positions 0..5", dtype=np.float32),
        case((1, 4), [3], "one row at position 3"),
    ]


register(Exercise(
    lesson="10_positional_encoding",
    name="apply_rope",
    reference=apply_rope,
    cases=cases,
    mistakes=MISTAKES,
    diagnose=diagnose,
    signature="apply_rope(x, positions) -> x turned, same shape (..., n, d); positions (n,)",
))
