"""Exercise (lesson 04): softmax, numerically stable, along an axis.

The learner writes ``softmax(x, axis=-1)`` -> an array shaped like x whose values
along ``axis`` are >= 0 and sum to 1.
"""
from __future__ import annotations

import numpy as np

from ._core import Case, Exercise, Mistake, register


def softmax(x, axis=-1):
    """Reference solution. x (...) -> same shape; sums to 1 along ``axis``."""
    shifted = x - x.max(axis=axis, keepdims=True)   # the largest value becomes 0: exp can't overflow
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------- the mistakes the checker names

def _no_max_subtraction(x, axis=-1):
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def _shifted_by_min(x, axis=-1):
    e = np.exp(x - x.min(axis=axis, keepdims=True))       # the same NaNs as x - mean or median on the cases
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _global_max(x, axis=-1):
    e = np.exp(x - x.max())
    return e / e.sum(axis=axis, keepdims=True)


def _wrong_axis(x, axis=-1):
    return softmax(x, axis=0)


def _ignores_axis(x, axis=-1):
    return softmax(x, axis=-1)


def _axis_in_the_max_only(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _axis_in_the_sum_only(x, axis=-1):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _whole_array(x, axis=-1):
    e = np.exp(x - x.max())
    return e / e.sum()


def _not_normalised(x, axis=-1):
    return np.exp(x - x.max(axis=axis, keepdims=True))


def _divided_by_sum_of_scores(x, axis=-1):
    return x / x.sum(axis=axis, keepdims=True)


WHOLE_ARRAY = ("You normalised over the whole array: the values add up to 1 all together instead of along each "
               "row. Sum along one axis: e.sum(axis=axis, keepdims=True).")

MISTAKES = [
    Mistake("No max-subtraction: exp of a large score overflows to inf, and inf / inf gives NaN. "
            "Subtract the maximum along the axis first: x - x.max(axis=axis, keepdims=True) "
            "(softmax doesn't change when you shift all the scores by the same number).", _no_max_subtraction),
    Mistake("You shifted the scores by their minimum or mean (or anything else) instead of their maximum. Any "
            "shift leaves softmax unchanged, but only the max makes every exponent <= 0: after another shift, a "
            "row that spans more than about 88 (float32) or 709 (float64) overflows exp to inf, and inf / inf "
            "gives NaN. Subtract x.max(axis=axis, keepdims=True).", _shifted_by_min),
    Mistake("You subtracted the maximum of the whole array, not of each row: a row far below the overall "
            "maximum underflows to exp(...) = 0 everywhere and 0 / 0 gives NaN. Use "
            "x.max(axis=axis, keepdims=True).", _global_max),
    Mistake("Softmax over the wrong axis: your values sum to 1 down the columns (axis 0) instead of along the "
            "last axis. Use axis=-1 (the default) for both the max and the sum.", _wrong_axis),
    Mistake("Your function ignores its axis argument: with axis=0 the columns should sum to 1. Pass axis=axis "
            "to both the max and the sum.", _ignores_axis),
    Mistake("You passed axis to the max but not to the sum: the sum runs along the last axis whatever axis is "
            "asked for, so with axis=0 your rows sum to 1 instead of your columns. Use axis=axis in both.",
            _axis_in_the_max_only),
    Mistake("You passed axis to the sum but not to the max: with axis=0 you subtract each row's maximum but "
            "normalise each column, and a shift that changes along the column does not cancel. Use "
            "x.max(axis=axis, keepdims=True).", _axis_in_the_sum_only),
    Mistake(WHOLE_ARRAY, _whole_array),
    Mistake("Not normalised: you return the exponentials without dividing by their sum, so the values don't "
            "add up to 1. Divide by e.sum(axis=axis, keepdims=True).", _not_normalised),
    Mistake("You divided the scores by their sum without exponentiating them first: softmax is exp(x_i) / "
            "sum_j exp(x_j), which is always positive (your version goes negative for negative scores).",
            _divided_by_sum_of_scores),
    Mistake("You returned the log-softmax, x - log(sum(exp(x))): those are log-probabilities (all <= 0). "
            "Softmax is their exponential: return e / e.sum(axis=axis, keepdims=True).", _log_softmax),
]


def _diagnose(case, value):
    """Whole-array normalisation, whatever was subtracted first (the catalogue's buggy function
    subtracts the global max; a learner with the right row max and ``e / e.sum()`` behaves the same
    way): the output sums to 1 over the whole array, unevenly shared between the slices along the axis."""
    x, axis = case.args[0], case.kwargs.get("axis", -1)
    v = np.asarray(value, dtype=float)
    if v.shape != x.shape or x.ndim < 2 or x.shape[axis] == x.size or not np.all(np.isfinite(v)) or np.any(v < 0):
        return []
    sums = v.sum(axis=axis)                 # one sum per slice along the axis
    # the slices share the total unevenly (a function that scales every slice by the same factor,
    # 1/2 on a case with two rows, also totals 1, but is a different mistake)
    if np.isclose(v.sum(), 1.0, rtol=1e-6) and np.ptp(sums) > 1e-6 * sums.max():
        return [WHOLE_ARRAY]
    return []


# ---------------------------------------------------------------------------- cases

def cases():
    rng = np.random.default_rng(4)
    return [
        Case((np.array([1.0, 2.0, 3.0]),), label="one row [1, 2, 3]"),
        Case((np.array([-1.0, 0.0, 2.0, -3.0]),), label="negative scores"),
        Case((rng.normal(size=(3, 4)),), label="3 x 4 scores"),
        Case((rng.normal(size=(5, 2)),), label="5 x 2 scores"),
        Case((rng.normal(size=(2, 3, 4)),), label="a batch of 2 x 3 x 4"),
        Case((rng.normal(size=(3, 4)),), {"axis": 0}, label="axis=0"),
        Case((rng.normal(size=(2, 3, 4)),), {"axis": 1}, label="axis=1 of a batch"),
        Case((np.array([[1000.0, 1001.0, 1002.0], [999.0, 1000.0, 998.0]]),), label="huge scores (about 1000)"),
        Case((np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1001.0, -998.0]]),),
             label="rows on very different scales"),
        Case((np.array([[5.0, 5.0, 5.0, 5.0]]),), label="all scores equal"),
        Case((rng.normal(size=(4, 6)).astype(np.float32),), label="float32"),
        Case(((rng.normal(size=(2, 5)) * 30 + 100).astype(np.float32),), label="float32, scores about 100"),
        # Rows spanning far more than 709 (float64) or 88 (float32), two of three scores far below the max:
        # only a shift by the max keeps exp finite (x - min, x - mean, x - median all overflow here; the
        # scores themselves don't: exp(x) alone is fine).
        Case((np.array([[-3000.0, -2999.0, 0.0], [0.0, -2500.0, -2498.0]]),), label="rows spanning 3000"),
        Case((np.array([[-300.0, -295.0, 5.0], [10.0, -280.0, -270.0]], dtype=np.float32),),
             label="float32 rows spanning 300"),
    ]


register(Exercise(
    lesson="04_softmax",
    name="softmax",
    reference=softmax,
    cases=cases,
    mistakes=MISTAKES,
    signature="softmax(x, axis=-1) -> array shaped like x, summing to 1 along axis",
    diagnose=_diagnose,
))
