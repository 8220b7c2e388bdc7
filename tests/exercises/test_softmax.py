"""Exercise softmax (lesson 04): learner-style code, right and wrong, written without the catalogue;
each mistake gets its own hint and no other mistake's, and the cases are hard enough that only a shift
by the max survives them."""
from __future__ import annotations

import numpy as np
import pytest

import attention_course as ac
from attention_course import exercises as ex

from ._helpers import assert_flags, assert_names, assert_names_nothing

NAME = "softmax"


def learner_softmax(x, axis=-1):            # correct, written with logsumexp instead of max-division
    m = np.max(x, axis=axis, keepdims=True)
    log_total = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return np.exp(x - log_total)


def learner_softmax_float64(x, axis=-1):    # correct; upcasts float32 (allowed)
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - np.amax(x, axis, keepdims=True))
    return e / np.sum(e, axis, keepdims=True)


@pytest.mark.parametrize("fn", [learner_softmax, learner_softmax_float64, ac.softmax])
def test_correct_learners_pass(fn):
    report = ex.check(NAME, fn)
    assert report.passed, report
    assert "correct on all" in repr(report) and "✓" in report._repr_html_()


def test_some_rows_overflow_every_shift_but_the_max():
    """The cases themselves: rows spanning more than exp can take (709 in float64, 88 in float32)."""
    spans = {np.dtype(np.float64): 709.8, np.dtype(np.float32): 88.8}
    wide = [c for c in ex.get(NAME).get_cases()
            if not c.kwargs and np.all(np.ptp(c.args[0], axis=-1) > spans[c.args[0].dtype])]
    assert {c.args[0].dtype for c in wide} == set(spans)
    with np.errstate(all="ignore"):
        for c in wide:
            x = c.args[0]
            assert np.isfinite(learner_softmax(x)).all()
            for shift in (x.min(axis=-1, keepdims=True), x.mean(axis=-1, keepdims=True)):
                e = np.exp(x - shift)
                assert np.isnan(e / e.sum(axis=-1, keepdims=True)).any()


def _shifted(by):
    def softmax(x, axis=-1):
        e = np.exp(x - by(x, axis))
        return e / e.sum(axis=axis, keepdims=True)
    return softmax


@pytest.mark.parametrize("by", [
    lambda x, axis: np.min(x, axis=axis, keepdims=True),
    lambda x, axis: np.mean(x, axis=axis, keepdims=True),
    lambda x, axis: np.expand_dims(np.median(x, axis=axis), axis),
], ids=["min", "mean", "median"])
def test_a_shift_by_anything_but_the_max(by):
    report = assert_names(NAME, _shifted(by), "You shifted the scores by their minimum or mean")
    assert set(report.failed_cases) <= {"rows spanning 3000", "float32 rows spanning 300"}


def test_no_max_subtraction():
    def softmax(x, axis=-1):
        exps = np.exp(x)
        return exps / np.sum(exps, axis=axis, keepdims=True)
    assert_names(NAME, softmax, "No max-subtraction")


def test_wrong_axis():
    def softmax(x, axis=-1):
        z = x - x.max(axis=0)
        return np.exp(z) / np.exp(z).sum(axis=0)
    assert_names(NAME, softmax, "Softmax over the wrong axis")


def test_not_normalised():
    def softmax(x, axis=-1):
        return np.exp(x - np.max(x, axis=axis, keepdims=True))
    assert_names(NAME, softmax, "Not normalised")


def test_global_max_and_whole_array():
    def global_max(x, axis=-1):
        e = np.exp(x - np.max(x))
        return e / e.sum(axis=axis, keepdims=True)

    def whole(x, axis=-1):
        e = np.exp(x - np.max(x))
        return e / np.sum(e)
    assert_names(NAME, global_max, "maximum of the whole array")
    assert_names(NAME, whole, "normalised over the whole array")


def test_ignoring_axis():
    def softmax(x, axis=-1):
        return learner_softmax(x)
    report = assert_names(NAME, softmax, "ignores its axis argument")
    assert set(report.failed_cases) == {"axis=0", "axis=1 of a batch"}


def test_divided_by_the_sum_of_the_scores():
    def softmax(x, axis=-1):
        return x / np.sum(x, axis=axis, keepdims=True)
    assert_names(NAME, softmax, "without exponentiating them first")


@pytest.mark.parametrize("log_softmax", [
    lambda x, axis=-1: np.log(learner_softmax(x, axis)),          # -inf where the softmax underflows to 0
    lambda x, axis=-1: x - x.max(axis, keepdims=True) - np.log(np.exp(x - x.max(axis, keepdims=True))
                                                               .sum(axis, keepdims=True)),
], ids=["log of softmax", "x minus logsumexp"])
def test_log_softmax_returned(log_softmax):
    assert_names(NAME, log_softmax, "You returned the log-softmax")


def test_an_unrelated_error_inside_a_right_softmax_names_nothing():
    def softmax(x, axis=-1):
        n = int("three")
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True) * n / 3
    report = assert_names_nothing(NAME, softmax)
    assert len(report.hints) == 1 and "`n = int(\"three\")`" in report.hints[0]


def test_a_typo_in_a_numpy_name_names_nothing():
    def softmax(x, axis=-1):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.summ(axis=axis, keepdims=True)
    report = assert_names_nothing(NAME, softmax)
    assert report.hints == [report.hints[0]] and "has no attribute 'summ'" in report.hints[0]


def test_an_exception_mentioning_broadcast_gets_no_keepdims_tip():
    def softmax(x, axis=-1):
        raise ValueError("I could not broadcast my idea")
    report = assert_flags(NAME, softmax, "I could not broadcast my idea.")
    assert "keepdims" not in " ".join(report.hints)


def test_axis_passed_to_the_max_only():
    def softmax(x, axis=-1):
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    report = assert_names(NAME, softmax, "You passed axis to the max but not to the sum")
    assert set(report.failed_cases) == {"axis=0", "axis=1 of a batch"}


def test_axis_passed_to_the_sum_only():
    def softmax(x, axis=-1):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)
    report = assert_names(NAME, softmax, "You passed axis to the sum but not to the max")
    assert set(report.failed_cases) == {"axis=0", "axis=1 of a batch"}


def test_whole_array_sum_after_the_right_row_max():
    def softmax(x, axis=-1):                # the max is right; only the sum forgets its axis
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum()
    assert_names(NAME, softmax, "normalised over the whole array")


def test_a_row_that_happens_to_sum_to_one_is_not_called_whole_array():
    def softmax(x, axis=-1):                # right along the axis, then every value halved
        return learner_softmax(x, axis) / 2
    report = assert_names_nothing(NAME, softmax)
    assert not any("whole array" in h for h in report.hints)
