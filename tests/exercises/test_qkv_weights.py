"""Exercise qkv_weights (lesson 05): learner-style code, right and wrong; each mistake gets its own
hint and no other mistake's."""
from __future__ import annotations

import math

import numpy as np
import pytest

from attention_course import exercises as ex

from ._helpers import assert_names, assert_names_nothing

NAME = "qkv_weights"


def row_softmax(s, axis=-1):
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def learner(x, w_q, w_k, w_v, *, q_from=None, k_from=None, scale=None, axis=-1, softmax=True, keys_first=False):
    q = x @ (w_q if q_from is None else q_from(w_q, w_k))
    k = x @ (w_k if k_from is None else k_from(w_q, w_k))
    v = x @ w_v
    scores = (k @ q.T if keys_first else q @ k.T) / (math.sqrt(q.shape[1]) if scale is None else scale(x, q))
    return q, k, v, (row_softmax(scores, axis) if softmax else scores)


def test_correct_learners_pass():
    def by_loops(x, w_q, w_k, w_v):
        q, k, v = x @ w_q, x @ w_k, x @ w_v
        n = len(x)
        weights = np.zeros((n, n))
        for i in range(n):
            s = np.array([q[i] @ k[j] for j in range(n)]) / math.sqrt(len(q[i]))
            weights[i] = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
        return q, k, v, weights
    assert ex.check(NAME, by_loops).passed
    assert ex.check(NAME, learner).passed


@pytest.mark.parametrize("slip, fragment", [
    (dict(scale=lambda x, q: 1.0), "without the scaling"),
    (dict(scale=lambda x, q: q.shape[1]), "You divided the scores by d_k"),
    (dict(scale=lambda x, q: math.sqrt(x.shape[1])), "You scaled by sqrt(d_model)"),
    (dict(axis=0), "Your softmax ran over the wrong axis"),
    (dict(softmax=False), "apply the softmax"),
    (dict(keys_first=True), "(not k @ q.T)"),
])
def test_each_mistake_gets_its_own_hint(slip, fragment):
    assert_names(NAME, lambda *a: learner(*a, **slip), fragment)


def test_w_q_and_w_k_swapped():
    assert_names(NAME, lambda *a: learner(*a, q_from=lambda w_q, w_k: w_k, k_from=lambda w_q, w_k: w_q),
                 "q and k look swapped")


def test_every_case_tells_w_q_from_w_k():
    for case in ex.get(NAME).get_cases():
        x, w_q, w_k, _ = case.args
        assert not np.allclose(x @ w_q, x @ w_k), case.label


@pytest.mark.parametrize("transposed", [lambda w: w.T, lambda w: np.transpose(w)], ids=["w.T", "np.transpose"])
def test_multiplied_by_a_transposed_matrix(transposed):
    def qkv_weights(x, w_q, w_k, w_v):
        q = x @ transposed(w_q)
        k = x @ transposed(w_k)
        v = x @ transposed(w_v)
        return q, k, v, row_softmax(q @ k.T / np.sqrt(q.shape[-1]))
    assert_names(NAME, qkv_weights, "You multiplied by a transposed matrix")


def test_no_scaling_and_the_wrong_axis_together():
    assert_names(NAME, lambda *a: learner(*a, scale=lambda x, q: 1.0, axis=0), "without the scaling",
                 "wrong axis")


@pytest.mark.parametrize("failure", [
    lambda: int("three"),
    lambda: np.sofmax,                                # a typo'd attribute
], ids=["int('three')", "typo"])
def test_an_unrelated_error_names_nothing(failure):
    def qkv_weights(x, w_q, w_k, w_v):
        out = learner(x, w_q, w_k, w_v)
        failure()
        return out
    report = assert_names_nothing(NAME, qkv_weights)
    assert len(report.hints) == 1 and "transposed" not in report.hints[0]


def test_a_shape_error_of_another_product_names_nothing():
    def qkv_weights(x, w_q, w_k, w_v):
        q, k, v = x @ w_q, x @ w_k, x @ w_v
        return q, k, v, row_softmax(q @ k / np.sqrt(q.shape[-1]))      # forgot .T on k
    assert_names_nothing(NAME, qkv_weights)


@pytest.mark.parametrize("scale, fragment", [
    (lambda x, q, v: math.sqrt(v.shape[1]), "You scaled by sqrt(d_v)"),
    (lambda x, q, v: 1 / math.sqrt(q.shape[1]), "You multiplied the scores by sqrt(d_k)"),
    (lambda x, q, v: math.sqrt(2), "Your scale is always 1/sqrt(2)"),
], ids=["sqrt(d_v)", "times sqrt(d_k)", "a fixed sqrt(2)"])
def test_other_scales_get_their_own_hint_and_no_catalogue_mistake(scale, fragment):
    def qkv_weights(x, w_q, w_k, w_v):
        q, k, v = x @ w_q, x @ w_k, x @ w_v
        return q, k, v, row_softmax(q @ k.T / scale(x, q, v))
    report = assert_names_nothing(NAME, qkv_weights)
    assert [h for h in report.hints if fragment in h], report
    # sqrt(d_v) = d_k on the case d_k = 2, d_v = 4: that coincidence must not be called 'divided by d_k'
    assert not any("divided the scores by d_k" in h for h in report.hints), report


def test_dividing_after_the_softmax():
    def qkv_weights(x, w_q, w_k, w_v):
        q, k, v = x @ w_q, x @ w_k, x @ w_v
        return q, k, v, row_softmax(q @ k.T) / np.sqrt(k.shape[-1])
    report = assert_names_nothing(NAME, qkv_weights)
    assert any("after the softmax" in h for h in report.hints), report
