"""Exercise (lesson 09): the padding mask.

The learner writes ``padding_mask(lengths, n) -> (batch, 1, n) bool array``: entry [b, 0, j] is
True when key j of sequence b is a real token (j < lengths[b]) and False on its padding. The
size-1 middle axis is the query axis: the same keys are hidden for every query.
"""
from __future__ import annotations

import numpy as np

from ._core import Case, Exercise, Mistake, register


def padding_mask(lengths, n):
    """Reference solution. lengths (batch,) -> (batch, 1, n) bool, True on real tokens."""
    lengths = np.asarray(lengths)
    real = np.arange(n)[None, :] < lengths[:, None]          # (batch, n): key j is a real token
    return real[:, None, :]                                  # (batch, 1, n): hide padding KEYS (columns)


# ---------------------------------------------------------------- the mistakes the checker names

def _real(lengths, n):
    return np.arange(n)[None, :] < np.asarray(lengths)[:, None]


def _query_axis(lengths, n):
    return _real(lengths, n)[:, :, None]                     # (batch, n, 1): hides rows (queries)


def _true_hides(lengths, n):
    return ~_real(lengths, n)[:, None, :]


def _one_too_many(lengths, n):
    return (np.arange(n)[None, :] <= np.asarray(lengths)[:, None])[:, None, :]


def _no_query_axis(lengths, n):
    return _real(lengths, n)


def _with_head_axis(lengths, n):
    return _real(lengths, n)[:, None, None, :]               # (batch, 1, 1, n): what multi-head scores need


def _query_axis_with_head_axis(lengths, n):
    return _real(lengths, n)[:, None, :, None]               # (batch, 1, n, 1): the lesson's query-axis bug


MISTAKES = [
    Mistake("Mask on the query axis: your mask is (batch, n, 1), so it hides the padded QUERIES (rows) and leaves "
            "the padding KEYS (columns) visible: every real token still attends to the padding, and with -inf a "
            "padded query's whole row is hidden. Put the size-1 axis in the middle: (batch, 1, n).", _query_axis),
    Mistake("True on the padding: in this course True means 'may attend', so real tokens (j < length) are True and "
            "padding is False. Flip the comparison.", _true_hides),
    Mistake("One padding position too many is visible: a sequence of length L has real tokens 0 .. L-1, so use "
            "j < length, not j <= length.", _one_too_many),
    Mistake("Missing the query axis: a (batch, n) mask broadcasts against scores (batch, n_q, n_k) as if its batch "
            "axis were the query axis. Return (batch, 1, n), e.g. mask[:, None, :].", _no_query_axis),
    Mistake("Right values, one axis too many: (batch, 1, 1, n) is the shape that multi-head scores (batch, h, n_q, "
            "n_k) need, and multi_head_attention adds that head axis itself. This function returns (batch, 1, n), "
            "for scores (batch, n_q, n_k): mask[:, None, :].", _with_head_axis),
    Mistake("Mask on the query axis: your mask is (batch, 1, n, 1), the lesson's wrong mask: it hides the padded "
            "QUERIES (rows) and leaves the padding KEYS (columns) visible. Return (batch, 1, n), with the tokens "
            "on the last (key) axis.", _query_axis_with_head_axis),
]


def cases():
    return [
        Case(([3, 5], 5), label="lengths [3, 5], n = 5"),
        Case(([1, 4, 2], 4), label="lengths [1, 4, 2], n = 4"),
        Case(([2], 6), label="one sequence of 2 real tokens, n = 6"),
        Case(([0, 3], 3), label="an empty sequence (length 0)"),
        Case(([4, 4], 4), label="no padding at all"),
        Case((np.array([2, 1, 3, 3]), 3), label="lengths as a numpy array"),
    ]


register(Exercise(
    lesson="09_masking",
    name="padding_mask",
    reference=padding_mask,
    cases=cases,
    mistakes=MISTAKES,
    signature="padding_mask(lengths, n) -> (batch, 1, n) bool array, True on real tokens (j < lengths[b])",
))
