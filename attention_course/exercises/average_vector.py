"""Exercise (lesson 00, warm-up): the average of a set of vectors.

The learner writes ``average_vector(vectors) -> (d,) array``:

    average = (1/n) * sum_j vectors[j]        vectors (n, d) -> (d,)

Attention's output is a *weighted* average of vectors; this warm-up is the plain one.
"""
from __future__ import annotations

import numpy as np

from ._core import Case, Exercise, Mistake, register


def average_vector(vectors):
    """Reference solution. vectors (n, d) -> their average (d,)."""
    return vectors.sum(axis=0) / vectors.shape[0]   # the same as vectors.mean(axis=0)


def _row_means(vectors):
    return vectors.mean(axis=1)


def _sum_only(vectors):
    return vectors.sum(axis=0)


def _mean_of_everything(vectors):
    return vectors.mean()                            # no axis: one number for the whole array


def _divided_by_d(vectors):
    return vectors.sum(axis=0) / vectors.shape[1]    # the number of columns, not of vectors


def _cases():
    rng = np.random.default_rng(0)
    return [
        Case(args=(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]]),), label="three rows [1, 2], [3, 4], [5, 9]"),
        Case(args=(np.array([[2.0, -1.0, 0.5]]),), label="a single vector"),
        Case(args=(np.arange(20.0).reshape(4, 5),), label="4 vectors of size 5"),
        Case(args=(rng.normal(size=(6, 3)),), label="6 random vectors of size 3"),
        Case(args=(np.array([[1e6, -2.0], [3e6, 2.0]]),), label="large and small numbers"),
    ]


register(Exercise(
    lesson="00_welcome",
    name="average_vector",
    reference=average_vector,
    cases=_cases,
    mistakes=[
        Mistake(hint="You averaged along the wrong axis (each row's own mean). Average over the rows: "
                     "axis=0, so the result has one number per column, shape (d,).", buggy=_row_means),
        Mistake(hint="You added the vectors but did not divide by how many there are (n = vectors.shape[0]).",
                buggy=_sum_only),
        Mistake(hint="You averaged every number in the array into one value (a mean with no axis). Average each "
                     "column over the rows: vectors.mean(axis=0), shape (d,).", buggy=_mean_of_everything),
        Mistake(hint="You divided by the number of columns d (vectors.shape[1], len(vectors[0])). Divide by the "
                     "number of vectors, n = vectors.shape[0] = len(vectors).", buggy=_divided_by_d),
    ],
    signature="average_vector(vectors) -> array of shape (d,)   (vectors (n, d))",
))
