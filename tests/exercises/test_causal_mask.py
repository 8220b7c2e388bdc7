"""Exercise causal_mask (lesson 09)."""
from __future__ import annotations

import numpy as np

from attention_course import exercises as ex

from ._helpers import assert_flags, hints_of  # noqa: F401


# ------------------------------------------------------------ causal mask ----

def test_causal_mask_correct_learners_pass():
    def by_comparison(n):
        i = np.arange(n)
        return i[:, None] >= i[None, :]

    def by_loops(n):
        m = np.zeros((n, n), dtype=bool)
        for query in range(n):
            for key in range(query + 1):
                m[query, key] = True
        return m
    assert ex.check("causal_mask", by_comparison).passed
    assert ex.check("causal_mask", by_loops).passed


def test_causal_mask_wrong_triangle():
    def causal_mask(n):
        i = np.arange(n)
        return i[None, :] >= i[:, None]            # key >= query: the future
    assert_flags("causal_mask", causal_mask, "Wrong triangle", "future")


def test_causal_mask_diagonal_hidden():
    def causal_mask(n):
        i = np.arange(n)
        return i[None, :] < i[:, None]
    assert_flags("causal_mask", causal_mask, "The diagonal is hidden")


def test_causal_mask_float_is_a_dtype_problem():
    def causal_mask(n):
        return np.tril(np.ones((n, n)))
    report = assert_flags("causal_mask", causal_mask, "dtype float64; return a bool array")
    assert len(report.hints) == 1                  # the values are right: nothing else to say


def test_causal_mask_true_marks_the_hidden_keys():
    def causal_mask(n):
        i = np.arange(n)
        return i[None, :] > i[:, None]             # True on the future: the keys to hide
    report = assert_flags("causal_mask", causal_mask, "marks the hidden (future) keys with True")
    assert "Wrong triangle" not in "\n".join(report.hints)


def test_causal_mask_nothing_hidden():
    report = assert_flags("causal_mask", lambda n: np.full((n, n), True), "Nothing is hidden")
    assert "Wrong triangle" not in "\n".join(report.hints)
