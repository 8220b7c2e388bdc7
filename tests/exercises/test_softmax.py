"""Exercise softmax (lesson 04)."""
from __future__ import annotations

import numpy as np
import pytest

from attention_course import exercises as ex

from ._helpers import assert_flags, hints_of  # noqa: F401


# ---------------------------------------------------------------- softmax ----

def learner_softmax(x, axis=-1):            # correct, written with logsumexp instead of max-division
    m = np.max(x, axis=axis, keepdims=True)
    log_total = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return np.exp(x - log_total)


def learner_softmax_float64(x, axis=-1):    # correct; upcasts float32 (allowed)
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - np.amax(x, axis, keepdims=True))
    return e / np.sum(e, axis, keepdims=True)


@pytest.mark.parametrize("fn", [learner_softmax, learner_softmax_float64])
def test_softmax_correct_learner_passes(fn):
    report = ex.check("softmax", fn)
    assert report.passed, report
    assert "correct on all" in repr(report) and "✓" in report._repr_html_()


def test_softmax_no_max_subtraction():
    def softmax(x, axis=-1):
        exps = np.exp(x)
        return exps / np.sum(exps, axis=axis, keepdims=True)
    assert_flags("softmax", softmax, "No max-subtraction")


def test_softmax_wrong_axis():
    def softmax(x, axis=-1):
        z = x - x.max(axis=0)
        return np.exp(z) / np.exp(z).sum(axis=0)
    assert_flags("softmax", softmax, "Softmax over the wrong axis")


def test_softmax_not_normalised():
    def softmax(x, axis=-1):
        return np.exp(x - np.max(x, axis=axis, keepdims=True))
    assert_flags("softmax", softmax, "Not normalised")


def test_softmax_global_max_and_whole_array():
    def global_max(x, axis=-1):
        e = np.exp(x - np.max(x))
        return e / e.sum(axis=axis, keepdims=True)

    def whole(x, axis=-1):
        e = np.exp(x - np.max(x))
        return e / np.sum(e)
    assert_flags("softmax", global_max, "maximum of the whole array")
    assert_flags("softmax", whole, "normalised over the whole array")


def test_softmax_ignoring_axis():
    def softmax(x, axis=-1):
        return learner_softmax(x)
    report = assert_flags("softmax", softmax, "ignores its axis argument")
    assert set(report.failed_cases) == {"axis=0", "axis=1 of a batch"}
