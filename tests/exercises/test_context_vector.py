"""Exercise context_vector (lesson 01): learner-style code, right and wrong; each mistake gets its own
hint and no other mistake's."""
from __future__ import annotations

import numpy as np
import pytest

from attention_course import exercises as ex

from ._helpers import assert_names, assert_names_nothing

NAME = "context_vector"


def test_correct_learners_pass():
    def by_loop(weights, values):
        out = 0
        for j in range(len(weights)):
            out = out + weights[j] * values[j]
        return np.asarray(out, dtype=float)
    for fn in (by_loop, lambda w, v: w @ v, lambda w, v: np.einsum("j,jd->d", w, v), lambda w, v: v.T @ w):
        assert ex.check(NAME, fn).passed


@pytest.mark.parametrize("learner, fragment", [
    (lambda w, v: np.mean(v, axis=0), "averaged the values equally"),
    (lambda w, v: v[w.argmax()], "only the value with the largest weight"),
    (lambda w, v: (w @ v) / w.shape[0], "divided the weighted sum by n"),
    (lambda w, v: np.sum(v * w[:, None], axis=-1), "one number per position"),
    (lambda w, v: v[len(v) - 1], "returned the last value"),
    (lambda w, v: v[0], "returned the first value"),
    (lambda w, v: np.multiply(w, v), "You wrote weights * values"),
    (lambda w, v: w.reshape(1, -1) * v, "You wrote weights * values"),               # a row of weights: the same
    (lambda w, v: v * w.reshape(-1, 1), "never added the products up"),
    (lambda w, v: np.stack([w_j * v_j for w_j, v_j in zip(w, v)]), "never added the products up"),
    (lambda w, v: (np.exp(w) / np.exp(w).sum()) @ v, "applied softmax to the weights again"),
])
def test_each_mistake_gets_its_own_hint(learner, fragment):
    assert_names(NAME, learner, fragment)


@pytest.mark.parametrize("learner", [
    lambda w, v: v @ w,
    lambda w, v: np.dot(v, w),                        # np.dot words the failure differently from @
    lambda w, v: np.array([row @ w for row in v]),    # the same, one row at a time
], ids=["values @ weights", "np.dot(values, weights)", "row by row"])
def test_values_times_weights(learner):
    report = assert_names(NAME, learner, "You computed values @ weights")
    assert set(report.failed_cases) == {c.label for c in ex.get(NAME).get_cases()}


def test_an_unrelated_error_names_nothing():
    def context_vector(weights, values):
        context = weights @ values
        return context.tolist().as_array()
    report = assert_names_nothing(NAME, context_vector)
    assert len(report.hints) == 1 and "AttributeError: 'list' object has no attribute 'as_array'" in report.hints[0]


def test_a_shape_error_of_another_product_names_nothing():
    def context_vector(weights, values):
        return weights @ values @ weights                 # (d_v,) @ (n,): a product that does not fit
    report = assert_names_nothing(NAME, context_vector)      # it fails on the same two sizes as values @ weights
    assert any("In A @ B the last axis of A" in h for h in report.hints)
