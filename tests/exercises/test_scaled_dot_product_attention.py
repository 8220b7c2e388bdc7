"""Exercise scaled_dot_product_attention (lesson 06): learner-style code, right and wrong, written
without the catalogue; each mistake gets its own hint and no other mistake's."""
from __future__ import annotations

import numpy as np
import pytest

import attention_course as ac
from attention_course import exercises as ex

from ._helpers import assert_flags, assert_names, assert_names_nothing

NAME = "scaled_dot_product_attention"


def learner_attention(q, k, v, mask=None):       # correct, written with einsum and explicit shapes
    d_k = q.shape[-1]
    scores = np.einsum("...qd,...kd->...qk", q, k) / d_k ** 0.5
    if mask is not None:
        scores = np.where(mask, scores, -1e30)
    scores = scores - scores.max(-1, keepdims=True)
    w = np.exp(scores)
    w = w / w.sum(-1, keepdims=True)
    return np.einsum("...qk,...kd->...qd", w, v), w


def _attn(q, k, v, scale, axis=-1, stable=True, normalise=True):
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) * scale
    if stable:
        scores = scores - scores.max(axis=axis, keepdims=True)
    w = np.exp(scores)
    if normalise:
        w = w / w.sum(axis=axis, keepdims=True)
    return w @ v, w


def test_correct_learners_pass():
    assert ex.check(NAME, learner_attention).passed
    assert ex.check(NAME, lambda q, k, v: _attn(q, k, v, q.shape[-1] ** -0.5)).passed
    assert ex.check(NAME, ac.scaled_dot_product_attention).passed


@pytest.mark.parametrize("buggy, hint", [
    (lambda q, k, v: _attn(q, k, v, 1.0), "Missing the 1/√d_k scaling"),
    (lambda q, k, v: _attn(q, k, v, 1 / q.shape[-1]), "divided the scores by d_k instead of √d_k"),
    (lambda q, k, v: _attn(q, k, v, v.shape[-1] ** -0.5), "You scaled by √d_v"),
    (lambda q, k, v: _attn(q, k, v, q.shape[-1] ** -0.5, axis=-2), "Softmax over the query axis"),
    (lambda q, k, v: _attn(q, k, v, q.shape[-1] ** -0.5, stable=False), "No max-subtraction"),
    (lambda q, k, v: _attn(q, k, v, q.shape[-1] ** -0.5, normalise=False), "Not normalised"),
    (lambda q, k, v: _attn(q, k, v, q.shape[-1] ** -0.5)[::-1], "You returned (weights, output)"),
])
def test_each_mistake_gets_its_own_hint(buggy, hint):
    assert_names(NAME, buggy, hint)


def test_k_T_on_a_batch():
    def attention(q, k, v):
        w = ac.softmax(q @ k.T / np.sqrt(q.shape[-1]))
        return w @ v, w
    report = assert_names(NAME, attention, "k.T reverses ALL axes")
    assert set(report.failed_cases) == {"a batch of 2", "batch 2 x 3 heads", "a batch of 2, n_q = n_k = d_k = 3"}
    errors = [h for h in report.hints if "raised ValueError" in h]
    assert len(errors) == len(report.hints) - 1 >= 1
    for error in errors:                             # the named mistake says what to do: no second tip
        assert "In A @ B" not in error and "In a batched A @ B" not in error, error


@pytest.mark.parametrize("transposed", [
    lambda q: q.T,                                   # fine for one sentence, wrong for a batch as well
    lambda q: np.swapaxes(q, -2, -1),
    lambda q: np.transpose(q, (*range(q.ndim - 2), q.ndim - 1, q.ndim - 2)),
])
def test_q_transposed_instead_of_k(transposed):
    def attention(q, k, v):
        scores = transposed(q) @ k / np.sqrt(q.shape[-1])
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        w = e / e.sum(axis=-1, keepdims=True)
        return w @ v, w
    assert_names(NAME, attention, "You transposed q instead of k")


def test_no_scaling_and_softmax_over_queries_together():
    assert_names(NAME, lambda q, k, v: _attn(q, k, v, 1.0, axis=-2), "Missing the 1/√d_k scaling",
                 "Softmax over the query axis")


def test_an_unrelated_error_gets_no_mistake_and_no_tip():
    def attention(q, k, v):
        d_k = int("four")
        w = ac.softmax(q @ np.swapaxes(k, -2, -1) / np.sqrt(d_k))
        return w @ v, w
    report = assert_names_nothing(NAME, attention)
    assert report.hints == [("Your function raised ValueError at line 2 of attention: `d_k = int(\"four\")` "
                             "(10 cases: '3 queries, 3 keys, d_k = 4', 'non-square: 2 queries, 5 keys', 'd_v = 2 "
                             "differs from d_k = 8' and 7 more). For '3 queries, 3 keys, d_k = 4': ValueError: "
                             "invalid literal for int() with base 10: 'four'.")]


def test_a_shape_error_of_its_own_is_not_blamed_on_k_T():
    def attention(q, k, v):                         # k @ q^T: scores transposed, then v does not fit
        w = ac.softmax(k @ np.swapaxes(q, -2, -1) / np.sqrt(q.shape[-1]))
        return w @ v, w
    report = assert_flags(NAME, attention, "raised ValueError")
    assert not any("k.T reverses" in h or "transposed q instead of k" in h for h in report.hints), report


def test_single_output_is_a_type_problem():
    def attention(q, k, v):
        return learner_attention(q, k, v)[0]
    report = assert_flags(NAME, attention, "returned one ndarray; return a tuple (output, weights)")
    assert len(report.hints) == 1


@pytest.mark.parametrize("wrong_d_k", [
    lambda q, k: q.shape[0],                         # n_q for one sentence, the batch size for a batch
    lambda q, k: len(q),
    lambda q, k: k.shape[-2],                        # n_k
])
def test_d_k_read_from_the_wrong_axis_is_named_as_such_and_nothing_else(wrong_d_k):
    # On the case with one query, sqrt(n_q) = 1 looks like no scaling; on a batch of 2 next to
    # d_v = 2, sqrt(2) looks like sqrt(d_v): neither coincidence may name a mistake.
    def attention(q, k, v):
        scores = q @ k.swapaxes(-2, -1) / np.sqrt(wrong_d_k(q, k))
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        w = e / e.sum(axis=-1, keepdims=True)
        return w @ v, w
    report = assert_names_nothing(NAME, attention)
    assert any("square root of the wrong size" in h and "q.shape[-1]" in h for h in report.hints), report


def test_a_real_missing_scale_is_still_named_next_to_a_second_mistake():
    # softmax over the queries hides the scale from the values; the property check still finds it,
    # although the one-query case (n_q = 1) cannot tell "no scale" from "sqrt(n_q)"
    report = assert_names(NAME, lambda q, k, v: _attn(q, k, v, 1.0, axis=-2), "Missing the 1/√d_k scaling",
                          "Softmax over the query axis")
    assert not any("wrong size" in h for h in report.hints), report
