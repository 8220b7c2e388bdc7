"""Exercise (lesson 10): the sinusoidal positional encoding.

The learner writes ``sinusoidal_positional_encoding(n_positions, d_model)`` ->
(n_positions, d_model) array (d_model even):

    angle(pos, i)   = pos / 10000^(2i / d_model)
    PE[pos, 2i]     = sin(angle)
    PE[pos, 2i + 1] = cos(angle)
"""
from __future__ import annotations

import numpy as np

from ._core import Case, Exercise, Mistake, register


def sinusoidal_positional_encoding(n_positions, d_model):
    """Reference solution. -> (n_positions, d_model); columns 2i, 2i+1 share one frequency."""
    pos = np.arange(n_positions)[:, None]              # (n_positions, 1)
    two_i = np.arange(0, d_model, 2)                   # (d_model / 2,): 0, 2, 4, ...
    angle = pos / 10000 ** (two_i / d_model)           # (n_positions, d_model / 2)
    pe = np.zeros((n_positions, d_model))
    pe[:, 0::2] = np.sin(angle)                        # even columns
    pe[:, 1::2] = np.cos(angle)                        # odd columns
    return pe


# ---------------------------------------------------------------- the mistakes the checker names

def _encode(n_positions, d_model, exponent="2i/d", swap=False, layout="interleave", first=0, divide=True):
    pos = np.arange(first, first + n_positions)[:, None]
    i = np.arange(d_model // 2)
    power = {"2i/d": 2 * i / d_model, "i/d": i / d_model, "4i/d": 4 * i / d_model}[exponent]
    angle = pos / 10000 ** power if divide else pos * 10000 ** power
    even, odd = (np.cos(angle), np.sin(angle)) if swap else (np.sin(angle), np.cos(angle))
    if layout == "halves":
        return np.concatenate([even, odd], axis=1)
    pe = np.zeros((n_positions, d_model))
    pe[:, 0::2], pe[:, 1::2] = even, odd
    if layout == "own_exponent":                       # each column j uses 10000^(j/d_model)
        pe[:, 1::2] = np.cos(pos / 10000 ** ((2 * i + 1) / d_model))
    return pe


def _variant(**switches):
    def buggy(n_positions, d_model):
        return _encode(n_positions, d_model, **switches)
    return buggy


MISTAKES = [
    Mistake("sin and cos are swapped: your even columns hold cos(angle) and your odd ones sin(angle). The even "
            "columns (0, 2, 4, ...) must hold sin(angle), pe[:, 0::2] = np.sin(angle), and the odd columns "
            "(1, 3, 5, ...) cos(angle), pe[:, 1::2] = np.cos(angle).", _variant(swap=True)),
    Mistake("Wrong exponent: you used i / d_model; the frequency is 1 / 10000^(2i / d_model), where 2i is the "
            "even column index (0, 2, 4, ...).", _variant(exponent="i/d")),
    Mistake("Wrong exponent: you doubled the even column index (4i / d_model); with two_i = 0, 2, 4, ... the "
            "exponent is two_i / d_model.", _variant(exponent="4i/d")),
    Mistake("Wrong exponent for the cos columns: column 2i+1 must use the SAME frequency as column 2i "
            "(10000^(2i / d_model)), not its own column index.", _variant(layout="own_exponent")),
    Mistake("Wrong exponent sign: you multiplied the position by 10000^(2i / d_model); divide by it, so the "
            "frequency falls as i grows.", _variant(divide=False)),
    Mistake("You put all the sines in the first half and all the cosines in the second ([sin | cos]). That is the "
            "same set of columns in another order (some libraries store them so), but not the formula asked here: "
            "interleave them, sin in the even columns pe[:, 0::2] and cos in the odd ones pe[:, 1::2], so each "
            "(sin, cos) pair of one frequency sits side by side.", _variant(layout="halves")),
    Mistake("Positions start at 1: the first row is position 0 (all sines 0, all cosines 1). Use "
            "np.arange(n_positions).", _variant(first=1)),
]


def cases():
    sizes = [(4, 6), (10, 16), (1, 8), (3, 2), (20, 4), (50, 128)]
    return [Case((n, d), label=f"{n} position{'s' if n != 1 else ''}, d_model = {d}") for n, d in sizes]


register(Exercise(
    lesson="10_positional_encoding",
    name="sinusoidal_positional_encoding",
    reference=sinusoidal_positional_encoding,
    cases=cases,
    mistakes=MISTAKES,
    signature="sinusoidal_positional_encoding(n_positions, d_model) -> (n_positions, d_model) array",
))
