"""Exercise average_vector (lesson 00, the warm-up): learner-style code, right and wrong; each mistake
gets its own hint and no other mistake's."""
from __future__ import annotations

import numpy as np
import pytest

from attention_course import exercises as ex

from ._helpers import assert_names, assert_names_nothing

NAME = "average_vector"


def test_correct_learners_pass():
    def by_loop(vectors):
        total = np.zeros(len(vectors[0]))
        for row in vectors:
            total = total + row
        return total / len(vectors)
    for fn in (by_loop, lambda v: np.mean(v, axis=0), lambda v: np.average(v, axis=0)):
        assert ex.check(NAME, fn).passed


@pytest.mark.parametrize("learner, fragment", [
    (lambda v: np.mean(v, axis=-1), "wrong axis"),
    (lambda v: np.sum(v, axis=0), "did not divide"),
    (lambda v: np.ones(v.shape[1]) * np.mean(v), "every number in the array into one value"),
])
def test_each_mistake_gets_its_own_hint(learner, fragment):
    assert_names(NAME, learner, fragment)


def test_an_unrelated_error_names_nothing():
    def average_vector(vectors):
        n = vectors.shape[0]
        return vectors.sum(axis=0) / len(n)            # len() of an int: TypeError
    report = assert_names_nothing(NAME, average_vector)
    assert len(report.hints) == 1 and "TypeError: object of type 'int' has no len()" in report.hints[0]
