"""Exercise query_scores (lesson 03): learner-style code, right and wrong; each mistake gets its own
hint and no other mistake's."""
from __future__ import annotations

import numpy as np
import pytest

from attention_course import exercises as ex

from ._helpers import assert_names, assert_names_nothing

NAME = "query_scores"


def test_correct_learners_pass():
    def by_loop(q, K):
        return np.array([sum(q[i] * key[i] for i in range(len(q))) for key in K])
    for fn in (by_loop, lambda q, K: K @ q, lambda q, K: q @ K.T, lambda q, K: np.einsum("jd,d->j", K, q)):
        assert ex.check(NAME, fn).passed


@pytest.mark.parametrize("learner, fragment", [
    (lambda q, K: np.array([q * key for key in K]), "did not add the products up"),
    (lambda q, K: np.einsum("ji,i->i", K, q), "down the COLUMNS of K (axis 0)"),
    (lambda q, K: np.array([q @ key / np.sqrt(q @ q) / np.sqrt(key @ key) for key in K]), "cosine similarity"),
    (lambda q, K: (K @ q).sum(), "a single number"),
    (lambda q, K: np.array([q @ K[0] for _ in K]), "your loop uses the first key each time"),
])
def test_each_mistake_gets_its_own_hint(learner, fragment):
    assert_names(NAME, learner, fragment)


@pytest.mark.parametrize("learner", [
    lambda q, K: K.T @ q,
    lambda q, K: q @ K,
    lambda q, K: np.dot(q, K),
    lambda q, K: np.matmul(K.transpose(), q),
], ids=["K.T @ q", "q @ K", "np.dot(q, K)", "np.matmul(K.transpose(), q)"])
def test_q_paired_with_the_columns_of_K(learner):
    report = assert_names(NAME, learner, "You paired q with the COLUMNS of K")
    (error,) = [h for h in report.hints if "raised ValueError" in h]
    assert "In A @ B" not in error                  # the named mistake says what to do


def loop_over_features(q, K):
    scores = []
    for j in range(len(q)):                         # should be range(len(K))
        scores.append(sum(q[i] * K[j][i] for i in range(len(q))))
    return np.array(scores)


@pytest.mark.parametrize("learner", [
    loop_over_features,
    lambda q, K: np.array([np.dot(q, K[j]) for j in range(K.shape[1])]),
], ids=["range(len(q))", "range(K.shape[1])"])
def test_a_loop_over_the_features_instead_of_the_keys(learner):
    assert_names(NAME, learner, "Your loop ran over the d_k features")


@pytest.mark.parametrize("learner", [
    lambda q, K: K @ q / np.sqrt(len(q)),
    lambda q, K: np.array([q @ key for key in K]) / K.shape[1] ** 0.5,
], ids=["/ sqrt(len(q))", "/ K.shape[1] ** 0.5"])
def test_scaled_one_lesson_early(learner):
    assert_names(NAME, learner, "You divided the scores by sqrt(d_k)")


@pytest.mark.parametrize("learner", [
    lambda q, K: np.exp(K @ q) / np.sum(np.exp(K @ q)),
    lambda q, K: np.exp(K @ q - np.max(K @ q)) / np.exp(K @ q - np.max(K @ q)).sum(),
], ids=["softmax", "stable softmax"])
def test_softmax_one_lesson_early(learner):
    assert_names(NAME, learner, "You turned the scores into weights with a softmax")


def test_an_unrelated_error_names_nothing():
    def query_scores(q, K):
        scores = K @ q
        return scores[len(scores)]                  # IndexError
    report = assert_names_nothing(NAME, query_scores)
    assert len(report.hints) == 1 and "IndexError" in report.hints[0] and "is out of bounds" in report.hints[0]


def test_a_product_that_fails_for_another_reason_names_nothing():
    def query_scores(q, K):
        return K @ K @ q                            # (n_k, d_k) @ (n_k, d_k): fits only when K is square
    assert_names_nothing(NAME, query_scores)
