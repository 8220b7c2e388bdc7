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
    (lambda v: np.mean(v), "every number in the array into one value"),             # no axis: a scalar
    (lambda v: sum(sum(v)) / v.size, "every number in the array into one value"),     # a Python float
    (lambda v: np.sum(v, axis=0) / len(v[0]), "number of columns d"),
    (lambda v: np.array([sum(col) / v.shape[1] for col in v.T]), "number of columns d"),
])
def test_each_mistake_gets_its_own_hint(learner, fragment):
    assert_names(NAME, learner, fragment)


def test_a_mistake_no_catalogue_entry_describes_names_nothing():
    # dividing by n - 1 agrees with "divided by d" on the 3 x 2 case (n - 1 = d = 2), nowhere else
    assert_names_nothing(NAME, lambda v: v.sum(axis=0) / max(len(v) - 1, 1))


def test_an_unrelated_error_names_nothing():
    def average_vector(vectors):
        n = vectors.shape[0]
        return vectors.sum(axis=0) / len(n)            # len() of an int: TypeError
    report = assert_names_nothing(NAME, average_vector)
    assert len(report.hints) == 1 and "TypeError: object of type 'int' has no len()" in report.hints[0]
