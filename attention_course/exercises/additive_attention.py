"""Exercise (lesson 11): additive (Bahdanau) attention.

The learner writes ``additive_attention(q, k, v, w_q, w_k, w_v) -> (output, weights)`` for
q (n_q, d_q), k (n_k, d_k), v (n_k, d_v), w_q (d_q, h), w_k (d_k, h), w_v (h,):

    score[i, j] = w_v · tanh(q[i] @ w_q + k[j] @ w_k)        (n_q, n_k)
    weights     = softmax of each row (over the keys)        (n_q, n_k)
    output      = weights @ v                                (n_q, d_v)
"""
from __future__ import annotations

import numpy as np

from ._core import Case, Exercise, Mistake, register


def additive_attention(q, k, v, w_q, w_k, w_v):
    """Reference solution. -> (output (n_q, d_v), weights (n_q, n_k))."""
    q_h = q @ w_q                                           # (n_q, h)
    k_h = k @ w_k                                           # (n_k, h)
    hidden = np.tanh(q_h[:, None, :] + k_h[None, :, :])     # (n_q, n_k, h): one hidden layer per pair
    scores = hidden @ w_v                                   # (n_q, n_k)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = e / e.sum(axis=-1, keepdims=True)             # each row sums to 1 over the keys
    return weights @ v, weights


# ---------------------------------------------------------------- the mistakes the checker names

def _softmax(s, axis=-1):
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _additive(q, k, v, w_q, w_k, w_v, *, tanh="inside", readout="w_v", axis=-1, pairs="grid"):
    """Additive attention with one switch per mistake (the buggy variants below)."""
    q_h, k_h = q @ w_q, k @ w_k
    pre = q_h[:, None, :] + k_h[None, :, :] if pairs == "grid" else q_h + k_h   # "same": (n, h), i meets i
    hidden = np.tanh(pre) if tanh == "inside" else pre
    scores = hidden @ w_v if readout == "w_v" else hidden.sum(axis=-1)
    if tanh == "outside":
        scores = np.tanh(scores)
    weights = _softmax(scores, axis=axis)
    return weights @ v, weights


def _variant(**switches):
    def buggy(q, k, v, w_q, w_k, w_v):
        return _additive(q, k, v, w_q, w_k, w_v, **switches)
    return buggy


NO_TANH = ("Every query got the same weights: your score is a query part plus a key part (as w_v · (q_h + k_h) = "
           "w_v · q_h + w_v · k_h is), and the softmax over the keys cancels the query part. That is what happens "
           "when tanh is forgotten, or applied to q_h and k_h separately: apply np.tanh to the sum "
           "q_h[:, None, :] + k_h[None, :, :], then take the product with w_v.")

MISTAKES = [
    Mistake(NO_TANH, _variant(tanh="none")),
    Mistake("You summed the hidden units (.sum(axis=-1)) instead of projecting them with w_v: the score is "
            "hidden @ w_v, a weighted sum with the learned weights w_v (h,), not a plain sum.",
            _variant(readout="sum")),
    Mistake("Softmax over the queries instead of the keys: each query's row of weights must sum to 1, so normalise "
            "along axis=-1 (the keys), not axis=0.", _variant(axis=0)),
    Mistake("q and k were added on the same axis: q @ w_q + k @ w_k pairs query i with key i only (and fails when "
            "n_q != n_k). Give them different new axes so every query meets every key: "
            "q_h[:, None, :] + k_h[None, :, :] has shape (n_q, n_k, h).", _variant(pairs="same")),
    Mistake("tanh applied after w_v: the non-linearity belongs inside, on each hidden unit, "
            "np.tanh(q_h[:, None, :] + k_h[None, :, :]) @ w_v; tanh(... @ w_v) squashes the finished score.",
            _variant(tanh="outside")),
]


def diagnose(case, value):
    """Weights that are the same for every query (while the reference's are not): the query's
    part of the score was cancelled by the softmax, which happens when tanh is missing or is
    applied to each side before the sum (any score that splits into a query part plus a key part)."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        return []
    q, k, v, w_q, w_k, w_v = (np.asarray(a, dtype=np.float64) for a in case.args)
    weights = np.asarray(value[1], dtype=np.float64) if isinstance(value[1], np.ndarray) else None
    if weights is None or weights.shape != (len(q), len(k)) or len(q) < 2 or not np.isfinite(weights).all():
        return []
    _, expected = additive_attention(q, k, v, w_q, w_k, w_v)
    if np.allclose(weights, weights[:1], atol=1e-9) and not np.allclose(expected, expected[:1], atol=1e-6):
        return [NO_TANH]
    return []


def cases():
    rng = np.random.default_rng(11)

    def case(n_q, n_k, d_q, d_k, h, d_v, label, scale=1.0, dtype=np.float64):
        shapes = [(n_q, d_q), (n_k, d_k), (n_k, d_v), (d_q, h), (d_k, h), (h,)]
        args = [rng.standard_normal(s) for s in shapes]
        args[0], args[1] = args[0] * scale, args[1] * scale
        return Case(tuple(a.astype(dtype) for a in args), label=label)

    return [
        case(3, 4, 2, 5, 3, 2, "3 queries, 4 keys, d_q = 2, d_k = 5"),
        case(4, 4, 3, 3, 5, 2, "4 queries, 4 keys, h = 5"),
        case(1, 6, 4, 2, 4, 3, "one query, 6 keys"),
        case(5, 2, 3, 4, 1, 2, "h = 1 hidden unit"),
        case(3, 3, 2, 2, 8, 4, "3 queries, 3 keys, h = 8"),
        case(2, 5, 3, 3, 6, 2, "large inputs (tanh saturates)", scale=10.0),
        case(4, 3, 2, 3, 4, 2, "float32", dtype=np.float32),
    ]


register(Exercise(
    lesson="11_additive_attention",
    name="additive_attention",
    reference=additive_attention,
    cases=cases,
    mistakes=MISTAKES,
    diagnose=diagnose,
    output_names=("output", "weights"),
    # two arrays with the same last axis h that do not broadcast: q_h and k_h lined up on the same axis
    tips={r"could not be broadcast together with shapes \((?:\d+,\s*)+(\d+)\)\s*\((?:\d+,\s*)+\1\)":
          "q @ w_q is (n_q, h) and k @ w_k is (n_k, h): to score every query against every key give them "
          "different new axes, q_h[:, None, :] + k_h[None, :, :] -> (n_q, n_k, h)."},
    signature="additive_attention(q, k, v, w_q, w_k, w_v) -> (output (n_q, d_v), weights (n_q, n_k))",
))
