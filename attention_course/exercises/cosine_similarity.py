"""Exercise (lesson 02): cosine similarity of two word vectors.

The learner writes ``cosine_similarity(a, b) -> float``:

    cos(a, b) = (a . b) / (|a| |b|),   |a| = sqrt(a . a)        a, b (d,) -> a number in [-1, 1]
"""
from __future__ import annotations

import numpy as np

from ._core import Case, Exercise, Mistake, register


def cosine_similarity(a, b):
    """Reference solution. a, b: numpy vectors of shape (d,), neither all zeros -> float."""
    dot = np.sum(a * b)                      # a . b: multiply matching entries, add up
    length_a = np.sqrt(np.sum(a * a))        # |a|
    length_b = np.sqrt(np.sum(b * b))        # |b|
    return float(dot / (length_a * length_b))


# ---------------------------------------------------------------- the mistakes the checker names

def _dot_only(a, b):
    return float(a @ b)


def _over_length_a_only(a, b):
    return float(a @ b / np.linalg.norm(a))


def _over_length_b_only(a, b):
    return float(a @ b / np.linalg.norm(b))


def _squared_lengths(a, b):
    return float(a @ b / ((a @ a) * (b @ b)))


def _sum_of_lengths(a, b):
    return float(a @ b / (np.linalg.norm(a) + np.linalg.norm(b)))


def _sum_of_entries(a, b):
    return float(a @ b / (np.sum(a) * np.sum(b)))


def _distance(a, b):
    return float(np.linalg.norm(a - b))


def _cosine_distance(a, b):
    return 1.0 - cosine_similarity(a, b)             # what scipy.spatial.distance.cosine returns


def _absolute_value(a, b):
    return abs(cosine_similarity(a, b))              # the same as |a . b| / (|a| |b|)


def _times_length_b(a, b):
    return float(a @ b / np.linalg.norm(a) * np.linalg.norm(b))     # / then *, left to right: (a.b / |a|) * |b|


def _not_summed(a, b):
    return a * b / (np.linalg.norm(a) * np.linalg.norm(b))         # (d,): the products, never added up


def _centred(a, b):
    return cosine_similarity(a - a.mean(), b - b.mean())           # Pearson's correlation, np.corrcoef(a, b)[0, 1]


def _angle_radians(a, b):
    return float(np.arccos(np.clip(cosine_similarity(a, b), -1.0, 1.0)))


def _angle_degrees(a, b):
    return float(np.degrees(_angle_radians(a, b)))


DOT_ONLY = ("You returned the dot product a . b. Cosine divides it by both lengths, |a| |b|, "
            "so that only the direction counts.")
ABSOLUTE = ("You took an absolute value (of the dot product or of the cosine), so opposite vectors come out as "
            "similar as identical ones. Keep the sign: cos(a, b) = (a . b) / (|a| |b|) lies between -1 and 1. "
            "(In the formula |a| is the length of the vector a; the dot product a . b gets no bars.)")


def _diagnose(case, value):
    """|a . b|: the dot product AND an absolute value (two catalogue mistakes at once)."""
    a, b = case.args
    try:
        value = float(value)
    except (TypeError, ValueError):
        return []
    dot = float(a @ b)
    if dot < 0 and np.isclose(value, abs(dot), rtol=1e-6, atol=1e-9):
        return [DOT_ONLY, ABSOLUTE]
    return []


def _cases():
    from ..lessons.embeddings import toy_table

    table = toy_table()
    rng = np.random.default_rng(2)
    return [
        Case(args=(table.vector("cat"), table.vector("dog")), label="cat and dog from the lesson's table"),
        Case(args=(table.vector("apple"), table.vector("bus")), label="apple and bus from the lesson's table"),
        Case(args=(np.array([1.0, 2.0, 2.0]), np.array([2.0, 0.0, 1.0])), label="[1, 2, 2] and [2, 0, 1]"),
        Case(args=(np.array([3.0, 4.0]), np.array([6.0, 8.0])), label="parallel vectors of different lengths (answer 1)"),
        Case(args=(np.array([2.0, 0.0]), np.array([0.0, 5.0])), label="perpendicular vectors (answer 0)"),
        Case(args=(np.array([1.0, -2.0, 0.5]), np.array([-2.0, 4.0, -1.0])), label="opposite directions (answer -1)"),
        Case(args=(np.array([-1.0, 3.0, 2.0, -0.5]), np.array([2.0, 1.0, -1.0, 3.0])),
             label="entries that sum to almost nothing"),
        Case(args=(rng.normal(size=6), rng.normal(size=6)), label="two random vectors of length 6"),
        Case(args=(5 * rng.normal(size=10), 0.1 * rng.normal(size=10)), label="a long and a short vector (d = 10)"),
    ]


register(Exercise(
    lesson="02_embeddings",
    name="cosine_similarity",
    reference=cosine_similarity,
    cases=_cases,
    mistakes=[
        Mistake(hint=DOT_ONLY, buggy=_dot_only),
        Mistake(hint="You divided by |a| only; divide by |b| as well.", buggy=_over_length_a_only),
        Mistake(hint="You divided by |b| only; divide by |a| as well.", buggy=_over_length_b_only),
        Mistake(hint="You divided by (a . a)(b . b), the squared lengths. A length is the square root: "
                     "|a| = sqrt(a . a).", buggy=_squared_lengths),
        Mistake(hint="You divided by |a| + |b|; the lengths are multiplied: |a| * |b|.", buggy=_sum_of_lengths),
        Mistake(hint="You divided by sum(a) * sum(b). A vector's length is sqrt(sum of its squared entries), "
                     "not the sum of its entries (which can even be 0 or negative).", buggy=_sum_of_entries),
        Mistake(hint="You computed the distance |a - b|. Cosine similarity is large for similar vectors, "
                     "distance is small; use the dot product divided by the lengths.", buggy=_distance),
        Mistake(hint="You returned 1 - cos(a, b), the cosine DISTANCE (what scipy.spatial.distance.cosine gives): "
                     "0 for vectors pointing the same way. The similarity is cos itself: return "
                     "(a . b) / (|a| |b|).", buggy=_cosine_distance),
        Mistake(hint=ABSOLUTE, buggy=_absolute_value),
        Mistake(hint="You wrote a . b / |a| * |b|: Python divides and multiplies from left to right, so that is "
                     "(a . b / |a|) * |b|, which multiplies by |b|. Put the product of the lengths in parentheses: "
                     "(a . b) / (|a| * |b|).", buggy=_times_length_b),
        Mistake(hint="You returned the products a_i b_i / (|a| |b|), one per entry, shape (d,): they were never added "
                     "up. The dot product is their sum, so return one number: np.sum(a * b) / (|a| |b|), or a @ b "
                     "/ (|a| |b|).", buggy=_not_summed),
        Mistake(hint="You subtracted each vector's mean first: that is Pearson's correlation (np.corrcoef), not cosine "
                     "similarity. Cosine uses the vectors as they are: (a . b) / (|a| |b|).", buggy=_centred),
        Mistake(hint="You returned the angle theta = arccos(cos), in radians. The exercise asks for cos(theta) itself: "
                     "(a . b) / (|a| |b|), a number between -1 and 1, without the arccos.", buggy=_angle_radians),
        Mistake(hint="You returned the angle theta = arccos(cos), in degrees. The exercise asks for cos(theta) itself: "
                     "(a . b) / (|a| |b|), a number between -1 and 1, without the arccos.", buggy=_angle_degrees),
    ],
    diagnose=_diagnose,
    signature="cosine_similarity(a, b) -> float   (a, b: numpy vectors of shape (d,))",
))
