"""Exercise (lesson 03): score one query against every key.

The learner writes ``query_scores(q, K)``:

    scores[j] = q . K[j]          q (d_k,), K (n_k, d_k)  ->  scores (n_k,)

i.e. the matrix-vector product ``K @ q``.
"""
from __future__ import annotations

import numpy as np

from ._core import Case, Exercise, Mistake, register


def query_scores(q, K):
    """Reference solution. q (d_k,), K (n_k, d_k) -> scores (n_k,), one per key."""
    return K @ q          # row j of K dotted with q: sum_i K[j, i] * q[i]


# ---------------------------------------------------------------- the mistakes the checker names

def _products_not_summed(q, K):
    return K * q                                   # (n_k, d_k): the products, never added up


def _summed_over_keys(q, K):
    return (K * q).sum(axis=0)                     # (d_k,): q[i] * (sum of column i of K)


def _columns_of_K(q, K):
    return K.T @ q                                 # the same as q @ K: only runs when K is square


def _cosine_instead(q, K):
    return K @ q / (np.linalg.norm(K, axis=1) * np.linalg.norm(q))


def _one_total(q, K):
    return np.sum(K @ q)                           # every score added into one number


def _first_key_only(q, K):
    return np.full(K.shape[0], K[0] @ q)           # a loop that always used K[0]


def _loop_over_features(q, K):
    return np.array([q @ K[j] for j in range(len(q))])     # d_k scores (an IndexError when n_k < d_k)


def _scaled(q, K):
    return K @ q / np.sqrt(len(q))                 # lesson 06's scaling, one step early


def _softmax_of_scores(q, K):
    s = K @ q
    e = np.exp(s - s.max())
    return e / e.sum()                             # lesson 04's weights, one step early


MISTAKES = [
    Mistake("You multiplied q and K entry by entry but did not add the products up: each score is a sum over "
            "the d_k features, so the result should have one number per key, shape (n_k,). "
            "Add .sum(axis=1), or use K @ q.", _products_not_summed),
    Mistake("You added the products K * q down the COLUMNS of K (axis 0), giving one number per feature, shape "
            "(d_k,). Each score adds over the features of ONE key, a row of K: use (K * q).sum(axis=1), or K @ q.",
            _summed_over_keys),
    Mistake("You paired q with the COLUMNS of K: q @ K (the same as K.T @ q) needs len(q) == n_k, so it fails "
            "unless K is square, and then it gives the wrong numbers. Each key is a ROW of K, so use K @ q: "
            "(n_k, d_k) @ (d_k,) -> (n_k,).", _columns_of_K),
    Mistake("You divided by the lengths, which gives cosine similarity. Attention scores are plain dot products: "
            "a longer key scores more. Drop the division.", _cosine_instead),
    Mistake("You returned a single number (all the scores added together). Return one score per key: an array of "
            "shape (n_k,).", _one_total),
    Mistake("Every score is q . K[0]: your loop uses the first key each time. Use K[j] for the j-th score.",
            _first_key_only),
    Mistake("Your loop ran over the d_k features (range(len(q)) or range(K.shape[1])) instead of over the n_k keys, so you got d_k scores "
            "(and an IndexError when there are fewer keys than features). There is one score per key: loop over "
            "range(len(K)) (or `for key in K`), or use K @ q.", _loop_over_features),
    Mistake("You divided the scores by sqrt(d_k). That scaling is a later step of attention (lesson 06); "
            "query_scores returns the plain dot products q . K[j]. Drop the division.", _scaled),
    Mistake("You turned the scores into weights with a softmax (they add up to 1). That is the next step "
            "(lesson 04); query_scores returns the raw scores q . K[j], of any size and sign.", _softmax_of_scores),
]


# ---------------------------------------------------------------------------- cases

def cases():
    from ..lessons.dot_product import which_word_example

    rng = np.random.default_rng(3)
    tired = which_word_example("tired")
    return [
        Case((np.array([1.0, 2.0]), np.array([[3.0, 1.0], [0.0, 1.0], [-1.0, 2.0]])),
             label="q (2,), 3 keys of 2 numbers"),
        Case((tired.query, tired.keys), label="the query of it against its sentence (11 keys of 5 features)"),
        Case((rng.normal(size=4), rng.normal(size=(4, 4))), label="a square K: 4 keys of 4 numbers"),
        Case((rng.normal(size=3), rng.normal(size=(6, 3))), label="random q (3,), K (6, 3)"),
        Case((np.array([1.0, -1.0, 2.0]), np.array([[1.0, 0.0, 0.0], [2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])),
             label="a square K: 3 keys of 3 numbers"),
        Case((np.array([0.5, -1.0, 2.0]), np.array([[1.0, 1.0, 1.0]])), label="a single key, K (1, 3)"),
        Case((rng.normal(size=8), 3 * rng.normal(size=(5, 8))), label="long keys, K (5, 8)"),
        Case((np.array([1.0, 0.0]), np.array([[2.0, 0.0], [0.0, 5.0], [-3.0, 0.0], [1.0, 1.0]])),
             label="aligned, perpendicular and opposite keys"),
    ]


register(Exercise(
    lesson="03_dot_product",
    name="query_scores",
    reference=query_scores,
    cases=cases,
    mistakes=MISTAKES,
    signature="query_scores(q, K) -> scores   (q (d_k,), K (n_k, d_k), scores (n_k,))",
))
