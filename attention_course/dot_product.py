"""Lesson 03: the dot product — how attention measures "how much does this key match my query?".

Two views of one number:

    a . b = sum_i a_i * b_i            (algebra: multiply matching entries, add up)
          = |a| |b| cos(theta)         (geometry: lengths times the cosine of the angle)

A query scored against every key at once is one matrix-vector product:

    scores = K @ q        K (n_k, d_k), q (d_k,)  ->  scores (n_k,)

Everything here is numpy; inputs may be lists or arrays.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def _vector(name: str, func: str, x) -> np.ndarray:
    """``x`` as a 1-D float array, or a ValueError that says what was passed."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{func}: {name} must be a list or array of numbers ({exc}).") from None
    if arr.ndim != 1:
        raise ValueError(f"{func}: {name} must be a 1-D vector, got shape {arr.shape}.")
    return arr


def _same_length(func: str, a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{func}: a and b must have the same length, got a {a.shape} and b {b.shape}. "
            "A dot product pairs entry i of a with entry i of b."
        )


def dot(a, b) -> float:
    """Dot product of two vectors: the sum of the products of matching entries.

    Shapes: a (d,), b (d,) -> a float.
    Written as the sum it is, so it can be read; ``a @ b`` gives the same number.
    """
    a, b = _vector("a", "dot", a), _vector("b", "dot", b)
    _same_length("dot", a, b)
    return float(sum(a_i * b_i for a_i, b_i in zip(a, b)))


def norm(a) -> float:
    """Length of a vector: |a| = sqrt(a . a).  Shapes: a (d,) -> a float >= 0."""
    a = _vector("a", "norm", a)
    return math.sqrt(float(a @ a))


def cosine_similarity(a, b) -> float:
    """cos(theta) = a . b / (|a| |b|): the dot product with both lengths divided out.

    Shapes: a (d,), b (d,) -> a float in [-1, 1]. A zero vector has no direction,
    so it raises ValueError.
    """
    a, b = _vector("a", "cosine_similarity", a), _vector("b", "cosine_similarity", b)
    _same_length("cosine_similarity", a, b)
    len_a, len_b = norm(a), norm(b)
    if len_a == 0 or len_b == 0:
        raise ValueError("cosine_similarity: a zero vector has no direction, so its angle is undefined.")
    return float(np.clip((a @ b) / (len_a * len_b), -1.0, 1.0))


def angle_between(a, b, degrees: bool = True) -> float:
    """The angle theta between a and b (0..180 degrees, or 0..pi radians).

    Same as acos(cosine_similarity(a, b)), computed in a form that stays accurate
    for nearly parallel vectors: theta = 2 atan2(| a|b| - b|a| |, | a|b| + b|a| |).
    """
    a, b = _vector("a", "angle_between", a), _vector("b", "angle_between", b)
    _same_length("angle_between", a, b)
    len_a, len_b = norm(a), norm(b)
    if len_a == 0 or len_b == 0:
        raise ValueError("angle_between: a zero vector has no direction, so its angle is undefined.")
    theta = 2 * math.atan2(norm(a * len_b - b * len_a), norm(a * len_b + b * len_a))
    return math.degrees(theta) if degrees else theta


def vector_2d(length: float, angle_deg: float) -> np.ndarray:
    """The 2-D vector with the given length, pointing ``angle_deg`` degrees
    anticlockwise from the x-axis.  Returns shape (2,)."""
    if not (math.isfinite(length) and length >= 0):
        raise ValueError(f"vector_2d: length must be a finite number >= 0, got {length!r}.")
    t = math.radians(angle_deg)
    return np.array([length * math.cos(t), length * math.sin(t)])


def dot_from_geometry(length_a: float, length_b: float, angle_deg: float) -> float:
    """|a| |b| cos(theta): the dot product computed from lengths and the angle alone."""
    return float(length_a * length_b * math.cos(math.radians(angle_deg)))


def query_scores(q, keys) -> np.ndarray:
    """Score one query against every key: scores[j] = q . keys[j].

    Shapes: q (d_k,), keys (n_k, d_k) -> scores (n_k,), one score per key.
    All the dot products at once are the matrix-vector product ``keys @ q``.
    """
    q = _vector("q", "query_scores", q)
    keys = np.asarray(keys, dtype=np.float64)
    if keys.ndim != 2:
        raise ValueError(f"query_scores: keys must be a matrix (n_k, d_k) with one key per row, got shape {keys.shape}.")
    if keys.shape[1] != q.shape[0]:
        raise ValueError(
            f"query_scores: each key must have as many entries as the query: q is {q.shape} "
            f"(d_k = {q.shape[0]}) but keys is {keys.shape} (d_k = {keys.shape[1]})."
        )
    return keys @ q


# --- "Which word is this word about?" -------------------------------------------------
# Hand-made vectors for a small example. Each column is a feature we made up so the
# numbers can be read; real models learn hundreds of unnamed features instead.
FEATURES = ("noun", "living", "place", "action", "grammar")

WORD_FEATURES = {
    #            noun  living place action grammar
    "the":      (0.0,  0.0,  0.0,  0.0,  1.0),
    "animal":   (1.0,  1.0,  0.0,  0.0,  0.0),
    "didn't":   (0.0,  0.0,  0.0,  0.5,  0.8),
    "cross":    (0.0,  0.0,  0.0,  1.0,  0.0),
    "street":   (1.0,  0.0,  1.0,  0.0,  0.0),
    "because":  (0.0,  0.0,  0.0,  0.0,  1.0),
    "it":       (0.8,  0.0,  0.0,  0.0,  0.5),
    "was":      (0.0,  0.0,  0.0,  0.3,  0.8),
    "too":      (0.0,  0.0,  0.0,  0.0,  1.0),
    "tired":    (0.0,  0.6,  0.0,  0.3,  0.0),
    "wide":     (0.0,  0.0,  0.6,  0.0,  0.0),
}

# What "it" is looking for, depending on how the sentence ends: a tired thing is
# alive; a wide thing is a place. Both want a noun and avoid grammar words.
IT_QUERIES = {
    #          noun  living place action grammar
    "tired": (1.0,  1.0,  0.0,  0.0, -0.5),
    "wide":  (1.0,  0.0,  1.0,  0.0, -0.5),
}


@dataclass(frozen=True)
class WhichWord:
    """One query word scored against every word of its sentence.

    tokens   n_k words of the sentence
    keys     (n_k, d_k) one row per word: what that word offers
    query    (d_k,) what ``tokens[query_index]`` is looking for
    features d_k names of the columns
    """

    tokens: tuple
    keys: np.ndarray
    query: np.ndarray
    query_index: int
    features: tuple = FEATURES

    @property
    def scores(self) -> np.ndarray:
        """(n_k,) the query's score against each word."""
        return query_scores(self.query, self.keys)

    @property
    def best(self) -> str:
        """The word with the highest score."""
        return self.tokens[int(np.argmax(self.scores))]


def which_word_example(ending: str = "tired") -> WhichWord:
    """"The animal didn't cross the street because it was too <ending>": the query of
    "it" scored against every word.  ``ending`` is "tired" (it = the animal) or
    "wide" (it = the street)."""
    if ending not in IT_QUERIES:
        raise ValueError(f"which_word_example: ending must be one of {sorted(IT_QUERIES)}, got {ending!r}.")
    tokens = ("the", "animal", "didn't", "cross", "the", "street", "because", "it", "was", "too", ending)
    keys = np.array([WORD_FEATURES[t] for t in tokens], dtype=np.float64)
    return WhichWord(tokens=tokens, keys=keys, query=np.array(IT_QUERIES[ending], dtype=np.float64),
                     query_index=tokens.index("it"))
