"""Exercise cosine_similarity (lesson 02): learner-style code, right and wrong; each mistake gets its
own hint and no other mistake's."""
from __future__ import annotations

import math

import numpy as np
import pytest

from attention_course import exercises as ex

from ._helpers import assert_names, assert_names_nothing

NAME = "cosine_similarity"


def length(a):
    return math.sqrt(sum(x * x for x in a))


def test_correct_learners_pass():
    def by_loops(a, b):
        return sum(x * y for x, y in zip(a, b)) / (length(a) * length(b))
    for fn in (by_loops, lambda a, b: np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b)):
        assert ex.check(NAME, fn).passed


@pytest.mark.parametrize("learner, fragment", [
    (lambda a, b: np.dot(a, b), "You returned the dot product a . b"),
    (lambda a, b: np.dot(a, b) / length(a), "divided by |a| only"),
    (lambda a, b: np.dot(a, b) / length(b), "divided by |b| only"),
    (lambda a, b: np.dot(a, b) / (np.sum(a ** 2) * np.sum(b ** 2)), "the squared lengths"),
    (lambda a, b: np.dot(a, b) / (length(a) + length(b)), "You divided by |a| + |b|"),
    (lambda a, b: np.dot(a, b) / (a.sum() * b.sum()), "You divided by sum(a) * sum(b)"),
    (lambda a, b: length(a - b), "You computed the distance |a - b|"),
])
def test_each_mistake_gets_its_own_hint(learner, fragment):
    assert_names(NAME, learner, fragment)


@pytest.mark.parametrize("learner", [
    lambda a, b: 1 - np.dot(a, b) / (length(a) * length(b)),
    lambda a, b: 1.0 - sum(x * y for x, y in zip(a, b)) / np.linalg.norm(a) / np.linalg.norm(b),
], ids=["1 - cos", "1 - cos by a loop"])
def test_cosine_distance_instead_of_similarity(learner):
    assert_names(NAME, learner, "the cosine DISTANCE (what scipy.spatial.distance.cosine gives)")


@pytest.mark.parametrize("learner", [
    lambda a, b: abs(np.dot(a, b)) / (length(a) * length(b)),        # |a . b| / (|a| |b|)
    lambda a, b: np.abs(np.dot(a, b) / (length(a) * length(b))),     # |cos|
], ids=["abs of the dot product", "abs of the cosine"])
def test_an_absolute_value(learner):
    report = assert_names(NAME, learner, "You took an absolute value")
    assert set(report.failed_cases) == {"apple and bus from the lesson's table", "opposite directions (answer -1)",
                                        "entries that sum to almost nothing"}


@pytest.mark.parametrize("learner", [
    lambda a, b: np.dot(a, b) / np.linalg.norm(a) * np.linalg.norm(b),
    lambda a, b: sum(x * y for x, y in zip(a, b)) / length(a) * length(b),
], ids=["numpy", "loops"])
def test_divided_then_multiplied_by_a_length(learner):
    assert_names(NAME, learner, "Python divides and multiplies from left to right")


@pytest.mark.parametrize("learner", [
    lambda a, b: a * b / (np.linalg.norm(a) * np.linalg.norm(b)),
    lambda a, b: np.array([x * y for x, y in zip(a, b)]) / (length(a) * length(b)),
], ids=["a * b", "a list of products"])
def test_products_never_added_up(learner):
    assert_names(NAME, learner, "they were never added up")


def centred_cosine(a, b):
    a, b = a - np.mean(a), b - np.mean(b)
    return a @ b / np.sqrt(a @ a) / np.sqrt(b @ b)


@pytest.mark.parametrize("learner", [centred_cosine, lambda a, b: float(np.corrcoef(a, b)[0, 1])],
                         ids=["means subtracted", "np.corrcoef"])
def test_pearson_correlation_instead_of_cosine(learner):
    assert_names(NAME, learner, "Pearson's correlation")


@pytest.mark.parametrize("learner, unit", [
    (lambda a, b: math.acos(np.dot(a, b) / (length(a) * length(b))), "in radians"),
    (lambda a, b: np.degrees(np.arccos(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))), "in degrees"),
], ids=["math.acos", "np.degrees(np.arccos)"])
def test_the_angle_instead_of_its_cosine(learner, unit):
    assert_names(NAME, learner, f"arccos(cos), {unit}")


def test_absolute_dot_product_alone_gets_both_hints():
    assert_names(NAME, lambda a, b: abs(np.dot(a, b)), "You returned the dot product a . b",
                 "You took an absolute value")


def test_an_unrelated_error_names_nothing():
    def cosine_similarity(a, b):
        return np.dot(a, b) / (np.linalg.norm(a) * np.linalg.nrom(b))
    report = assert_names_nothing(NAME, cosine_similarity)
    assert len(report.hints) == 1 and "has no attribute 'nrom'" in report.hints[0]
