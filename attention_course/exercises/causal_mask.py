"""Exercise (lesson 09): the causal mask.

The learner writes ``causal_mask(n) -> (n, n) bool array``: True where query i may
attend to key j, i.e. j <= i (itself and the past, never the future).
"""
from __future__ import annotations

import numpy as np

from ._core import Case, Exercise, Mistake, register


def causal_mask(n):
    """Reference solution. (n, n) bool; row i = query i, True for keys 0..i."""
    return np.tril(np.ones((n, n), dtype=bool))      # lower triangle, diagonal included


# ---------------------------------------------------------------- the mistakes the checker names

def _upper_triangle(n):
    return np.triu(np.ones((n, n), dtype=bool))


def _diagonal_hidden(n):
    return np.tril(np.ones((n, n), dtype=bool), k=-1)


def _marks_the_hidden(n):
    return np.triu(np.ones((n, n), dtype=bool), k=1)


def _nothing_hidden(n):
    return np.ones((n, n), dtype=bool)


MISTAKES = [
    Mistake("Wrong triangle: your mask lets query i see the keys after it (the future) and hides the past. "
            "Row i must be True for keys 0..i: the LOWER triangle, np.tril.", _upper_triangle),
    Mistake("The diagonal is hidden: each token must be allowed to attend to itself (key j = i), so keep the "
            "diagonal: np.tril(..., k=0), or j <= i rather than j < i.", _diagonal_hidden),
    Mistake("Your mask marks the hidden (future) keys with True; in this course True means 'may attend'. "
            "Return the opposite: True on and below the diagonal.", _marks_the_hidden),
    Mistake("Nothing is hidden: every entry is True, so every query still sees the future keys.", _nothing_hidden),
]


def cases():
    return [Case((n,), label=f"n = {n}") for n in (1, 2, 3, 4, 7)]


register(Exercise(
    lesson="09_masking",
    name="causal_mask",
    reference=causal_mask,
    cases=cases,
    mistakes=MISTAKES,
    signature="causal_mask(n) -> (n, n) bool array, True where key j <= query i",
))
