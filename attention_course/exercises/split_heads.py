"""Exercise (lesson 08): split the model dimension into heads.

The learner writes ``split_heads(x, num_heads)``:
(..., n, d_model) -> (..., num_heads, n, d_head), d_head = d_model // num_heads.
Head h owns the columns h*d_head .. (h+1)*d_head - 1 of every token.
"""
from __future__ import annotations

import numpy as np

from ._core import Case, Exercise, Mistake, register


def split_heads(x, num_heads):
    """Reference solution. (..., n, d_model) -> (..., num_heads, n, d_head)."""
    *batch, n, d_model = x.shape
    d_head = d_model // num_heads
    x = x.reshape(*batch, n, num_heads, d_head)      # (..., n, h, d_head): cut each token's row into h pieces
    return x.swapaxes(-3, -2)                        # (..., h, n, d_head): one (n, d_head) matrix per head


# ---------------------------------------------------------------- the mistakes the checker names

def _reshape_only(x, num_heads):
    *batch, n, d_model = x.shape
    return x.reshape(*batch, num_heads, n, d_model // num_heads)


def _no_swap(x, num_heads):
    *batch, n, d_model = x.shape
    return x.reshape(*batch, n, num_heads, d_model // num_heads)


def _strided_heads(x, num_heads):
    *batch, n, d_model = x.shape
    x = x.reshape(*batch, n, d_model // num_heads, num_heads)   # (..., n, d_head, h)
    return np.moveaxis(x, -1, -3)                                # (..., h, n, d_head)


def _last_two_swapped(x, num_heads):
    return _no_swap(x, num_heads).swapaxes(-2, -1)


MISTAKES = [
    Mistake("Heads reshaped without the transpose: reshaping straight to (..., h, n, d_head) gives the right "
            "shape but mixes different tokens into one head. Reshape to (..., n, h, d_head) first, then swap "
            "the two axes: x.swapaxes(-3, -2).", _reshape_only),
    Mistake("Wrong output shape: you stopped at (..., n, h, d_head). Move the head axis in front of the token "
            "axis with x.swapaxes(-3, -2) to get (..., h, n, d_head).", _no_swap),
    Mistake("Each head must own a contiguous block of d_head columns. You split d_model as (d_head, h), which "
            "deals the columns out round-robin; reshape to (..., n, h, d_head) instead.", _strided_heads),
    Mistake("Wrong output shape: you swapped the last two axes, giving (..., n, d_head, h). The head axis must "
            "move in front of the token axis: x.swapaxes(-3, -2).", _last_two_swapped),
]


def cases():
    rng = np.random.default_rng(8)
    shapes = [((4, 8), 2, "4 tokens, d_model = 8, 2 heads"),
              ((5, 6), 3, "5 tokens, 3 heads"),
              ((3, 6), 3, "3 tokens, 3 heads (n = h)"),
              ((2, 4, 12), 3, "a batch of 2"),
              ((2, 3, 5, 8), 4, "two batch axes, 4 heads"),
              ((4, 6), 1, "one head"),
              ((3, 4), 4, "d_head = 1")]
    return [Case((rng.normal(size=shape), h), label=label) for shape, h, label in shapes]


register(Exercise(
    lesson="08_multi_head",
    name="split_heads",
    reference=split_heads,
    cases=cases,
    mistakes=MISTAKES,
    signature="split_heads(x, num_heads) -> (..., num_heads, n, d_model // num_heads)",
))
