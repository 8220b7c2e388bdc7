"""Lessons 02–03: vectors — the dot product, the length, and the cosine of the angle between two.

    a . b     = sum_i a_i * b_i
    |a|       = sqrt(a . a)
    cos(a, b) = a . b / (|a| |b|)

numpy only; inputs may be lists or arrays of shape (d,).
"""
from __future__ import annotations

import math

import numpy as np

from ._backend import as_numbers


def dot(a, b) -> float:
    """Dot product of two vectors: the sum of the products of matching entries.

    Shapes: a (d,), b (d,) -> a float.
    Written as the sum it is, so it can be read; ``a @ b`` gives the same number.
    """
    a, b = _two_vectors("dot", a, b)
    return float(sum(a_i * b_i for a_i, b_i in zip(a, b)))


def norm(a) -> float:
    """Length of a vector: |a| = sqrt(a . a).  Shapes: a (d,) -> a float >= 0."""
    a = as_numbers("norm", "a", a, ndim=1)
    return math.sqrt(float(a @ a))


def cosine_similarity(a, b) -> float:
    """cos(theta) = a . b / (|a| |b|): the dot product with both lengths divided out.

    Shapes: a (d,), b (d,) -> a float in [-1, 1]. A zero vector has no direction,
    so it raises ValueError.
    """
    a, b = _two_vectors("cosine_similarity", a, b)
    len_a, len_b = norm(a), norm(b)
    if len_a == 0 or len_b == 0:
        raise ValueError("cosine_similarity: a zero vector has no direction, so its angle is undefined.")
    return float(np.clip((a @ b) / (len_a * len_b), -1.0, 1.0))


def _two_vectors(func: str, a, b):
    """a and b as float vectors of the same length (d,), or an error naming ``func``."""
    a, b = as_numbers(func, "a", a, ndim=1), as_numbers(func, "b", b, ndim=1)
    if a.shape != b.shape:
        raise ValueError(
            f"{func}: a and b must have the same length, got a {a.shape} and b {b.shape}. "
            "A dot product pairs entry i of a with entry i of b."
        )
    return a, b
