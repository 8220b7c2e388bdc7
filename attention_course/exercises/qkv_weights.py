"""Exercise (lesson 05): queries, keys, values and the attention weights of a small sentence.

The learner writes ``qkv_weights(x, w_q, w_k, w_v) -> (q, k, v, weights)``:

    q = x @ w_q,  k = x @ w_k,  v = x @ w_v               (n, d_k), (n, d_k), (n, d_v)
    weights = softmax(q @ k.T / sqrt(d_k), over the keys)   (n, n), each row sums to 1
"""
from __future__ import annotations

import numpy as np

from ._core import Case, Exercise, Mistake, register


def qkv_weights(x, w_q, w_k, w_v):
    """Reference solution.

    x (n, d_model); w_q, w_k (d_model, d_k); w_v (d_model, d_v)
    -> q (n, d_k), k (n, d_k), v (n, d_v), weights (n, n)
    """
    q = x @ w_q                                   # what each token looks for
    k = x @ w_k                                   # what each token offers to be found by
    v = x @ w_v                                   # what each token passes on
    d_k = q.shape[-1]
    scores = q @ k.T / np.sqrt(d_k)               # (n, n): row i = query i against every key
    scores = scores - scores.max(axis=-1, keepdims=True)   # stability: largest score becomes 0
    e = np.exp(scores)
    weights = e / e.sum(axis=-1, keepdims=True)   # softmax over the keys (last axis)
    return q, k, v, weights


# ---------------------------------------------------------------- the mistakes the checker names


def _softmax(scores, axis=-1):
    e = np.exp(scores - scores.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _no_scaling(x, w_q, w_k, w_v):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    return q, k, v, _softmax(q @ k.T)


def _divided_by_d_k(x, w_q, w_k, w_v):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    return q, k, v, _softmax(q @ k.T / q.shape[-1])


def _scaled_by_d_model(x, w_q, w_k, w_v):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    return q, k, v, _softmax(q @ k.T / np.sqrt(x.shape[-1]))


def _softmax_over_queries(x, w_q, w_k, w_v):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    return q, k, v, _softmax(q @ k.T / np.sqrt(q.shape[-1]), axis=0)


def _no_softmax(x, w_q, w_k, w_v):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    return q, k, v, q @ k.T / np.sqrt(q.shape[-1])


def _swapped_q_and_k(x, w_q, w_k, w_v):
    return qkv_weights(x, w_k, w_q, w_v)


def _transposed_w(x, w_q, w_k, w_v):
    q, k, v = x @ w_q.T, x @ w_k.T, x @ w_v.T      # only runs when every W is square
    return q, k, v, _softmax(q @ k.T / np.sqrt(q.shape[-1]))


def _keys_times_queries(x, w_q, w_k, w_v):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    return q, k, v, _softmax(k @ q.T / np.sqrt(q.shape[-1]))


# ---------------------------------------------------------------- cases


def _cases():
    from ..lessons.queries_keys_values import EXERCISE_TOKENS, EXERCISE_W_K, EXERCISE_W_Q, EXERCISE_W_V, EXERCISE_X

    rng = np.random.default_rng(5)

    def random_case(n, d_model, d_k, d_v, label):
        x = rng.normal(size=(n, d_model)).round(2)
        w_q, w_k = rng.normal(size=(d_model, d_k)).round(2), rng.normal(size=(d_model, d_k)).round(2)
        w_v = rng.normal(size=(d_model, d_v)).round(2)
        return Case(args=(x, w_q, w_k, w_v), label=label)

    return [
        Case(args=(EXERCISE_X, EXERCISE_W_Q, EXERCISE_W_K, EXERCISE_W_V),
             label=f"the lesson's sentence \"{' '.join(EXERCISE_TOKENS)}\" (d_model 4, d_k 2, d_v 3)"),
        random_case(4, 3, 3, 3, "4 tokens, square matrices (d_model = d_k = d_v = 3)"),
        random_case(5, 6, 4, 2, "5 tokens, d_model 6, d_k 4, d_v 2"),
        random_case(6, 5, 2, 4, "6 tokens, d_model 5, d_k 2, d_v 4"),
        random_case(1, 3, 2, 2, "a one-token sentence (its weight on itself must be 1)"),
    ]


NO_SCALING = ("Your weights look like softmax(q @ k.T) without the scaling: divide the scores by "
              "sqrt(d_k) before the softmax.")
BY_D_K = "You divided the scores by d_k; the scaling is by the square root, sqrt(d_k)."
BY_D_MODEL = ("You scaled by sqrt(d_model) (x's width); the scale is sqrt(d_k), the length of a query "
              "and of a key: q.shape[-1].")
WRONG_AXIS = ("Your softmax ran over the wrong axis: each ROW (one query, all keys) must sum to 1. "
              "Use axis=-1.")
BY_D_V = ("You scaled by sqrt(d_v), the width of the values; the scale is sqrt(d_k), the length of a query "
          "and of a key: q.shape[-1].")
TIMES_SQRT_D_K = "You multiplied the scores by sqrt(d_k); divide them by it: q @ k.T / sqrt(d_k)."
FIXED_SQRT_2 = ("Your scale is always 1/sqrt(2): right for the lesson's sentence (d_k = 2) but not for other "
                "sizes. Compute d_k from the queries: d_k = q.shape[-1].")
AFTER_SOFTMAX = ("You divided by sqrt(d_k) after the softmax, so each row sums to 1/sqrt(d_k) instead of 1. "
                 "Scale the scores first, then take the softmax.")


def _diagnose(case, value):
    """Name the scale and the softmax axis from the learner's own q and k, so that two
    mistakes made together (e.g. no scaling and the wrong axis) are both named."""
    x = case.args[0]
    try:
        q, k, _, weights = (np.asarray(part, dtype=float) for part in value)
    except (TypeError, ValueError):
        return []
    n = x.shape[0]
    if q.ndim != 2 or q.shape != k.shape or q.shape[0] != n or weights.shape != (n, n):
        return []
    scores, d_k, d_model, d_v = q @ k.T, q.shape[-1], x.shape[-1], case.args[3].shape[-1]
    if np.allclose(weights, _softmax(scores / np.sqrt(d_k)) / np.sqrt(d_k), rtol=1e-6, atol=1e-9):
        return [AFTER_SOFTMAX]
    # every scale a learner might use; when two of them coincide on a case (sqrt(d_v) = d_k when
    # d_v = d_k**2), the case names none of them
    scales = [(None, 1 / np.sqrt(d_k)), (NO_SCALING, 1.0), (BY_D_K, 1 / d_k), (BY_D_MODEL, 1 / np.sqrt(d_model)),
              (BY_D_V, 1 / np.sqrt(d_v)), (TIMES_SQRT_D_K, np.sqrt(d_k)), (FIXED_SQRT_2, 1 / np.sqrt(2))]
    for axis_hint, axis in ((None, -1), (WRONG_AXIS, 0)):
        fits = [hint for hint, scale in scales
                if np.allclose(weights, _softmax(scores * scale, axis=axis), rtol=1e-6, atol=1e-9)]
        if fits:
            scale_hint = fits[0] if len(fits) == 1 else None
            return [h for h in (axis_hint, scale_hint) if h]
    return []


register(Exercise(
    lesson="05_queries_keys_values",
    name="qkv_weights",
    reference=qkv_weights,
    cases=_cases,
    mistakes=[
        Mistake(hint=NO_SCALING, buggy=_no_scaling),
        Mistake(hint=BY_D_K, buggy=_divided_by_d_k),
        Mistake(hint=BY_D_MODEL, buggy=_scaled_by_d_model),
        Mistake(hint=WRONG_AXIS, buggy=_softmax_over_queries),
        Mistake(hint="Your weights are the scaled scores themselves: apply the softmax so each row is "
                     "non-negative and sums to 1.", buggy=_no_softmax),
        Mistake(hint="q and k look swapped: queries come from w_q (q = x @ w_q), keys from w_k "
                     "(k = x @ w_k).",
                buggy=_swapped_q_and_k),
        Mistake(hint="You multiplied by a transposed matrix (x @ w.T). With the row convention it is "
                     "x @ w, where w is (d_model, d_k).", buggy=_transposed_w),
        Mistake(hint="Your weights are transposed: row i must be query i against every key, i.e. q @ k.T "
                     "(not k @ q.T).", buggy=_keys_times_queries),
    ],
    signature="qkv_weights(x, w_q, w_k, w_v) -> (q, k, v, weights)",
    output_names=("q", "k", "v", "weights"),
    diagnose=_diagnose,
))
