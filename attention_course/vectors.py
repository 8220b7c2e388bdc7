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
    a, b = _rescaled("cosine_similarity", a), _rescaled("cosine_similarity", b)
    return float(np.clip((a @ b) / (norm(a) * norm(b)), -1.0, 1.0))


def _rescaled(func: str, a: np.ndarray) -> np.ndarray:
    """a divided by its largest |entry|: the same direction (so the same cosine), but a length
    between 1 and sqrt(d), so a . a can neither overflow (1e200) nor underflow (1e-200)."""
    largest = np.max(np.abs(a)) if a.size else 0.0
    if largest == 0:
        raise ValueError(f"{func}: a zero vector has no direction, so its angle is undefined.")
    return a / largest


def _two_vectors(func: str, a, b):
    """a and b as float vectors of the same length (d,), or an error naming ``func``."""
    a, b = as_numbers(func, "a", a, ndim=1), as_numbers(func, "b", b, ndim=1)
    if a.shape != b.shape:
        raise ValueError(
            f"{func}: a and b must have the same length, got a {a.shape} and b {b.shape}. "
            "A dot product pairs entry i of a with entry i of b."
        )
    return a, b
