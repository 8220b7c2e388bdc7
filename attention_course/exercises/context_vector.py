"""Exercise (lesson 01): the context vector of one decoder step.

The learner writes ``context_vector(weights, values) -> (d_v,) array``:

    context = sum_j weights[j] * values[j] = weights @ values       weights (n,), values (n, d_v) -> (d_v,)
"""
from __future__ import annotations

import numpy as np

from ._core import Case, Exercise, Mistake, register


def context_vector(weights, values):
    """Reference solution. weights (n,) summing to 1; values (n, d_v) -> context (d_v,)."""
    context = np.zeros(values.shape[1])
    for w_j, v_j in zip(weights, values):     # one term per input position
        context = context + w_j * v_j
    return context                            # the same as weights @ values


# ---------------------------------------------------------------- the mistakes the checker names

def _plain_average(weights, values):
    return values.mean(axis=0)


def _hard_pick(weights, values):
    return values[np.argmax(weights)].copy()


def _divided_by_n(weights, values):
    return weights @ values / len(weights)


def _summed_features(weights, values):
    return (weights[:, None] * values).sum(axis=1)


def _last_value(weights, values):
    return values[-1].copy()


def _values_times_weights(weights, values):
    return values @ weights                   # only runs when n = d_v, and then mixes the features


def _broadcast_on_features(weights, values):
    return weights * values                   # (n,) lines up with the last axis, d_v: runs only when n = d_v


def _products_not_added(weights, values):
    return weights[:, None] * values          # every w_j v_j, but never summed: (n, d_v)


def _softmax_again(weights, values):
    e = np.exp(weights - weights.max())
    return (e / e.sum()) @ values             # softmax of weights that already add up to 1


def _first_value(weights, values):
    return values[0].copy()


def _cases():
    from ..lessons.why_attention import toy_alignment

    _, _, keys, _ = toy_alignment()
    rng = np.random.default_rng(11)

    def random_weights(n):
        w = rng.random(n) ** 3
        return w / w.sum()

    return [
        Case(args=(np.array([0.1, 0.7, 0.2]), np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])),
             label="the quiz's three values [1, 0], [0, 1], [1, 1] with weights [0.1, 0.7, 0.2]"),
        Case(args=(np.array([0.25, 0.05, 0.1, 0.6]), np.arange(12.0).reshape(4, 3)),
             label="4 positions, values of size 3"),
        Case(args=(random_weights(5), keys), label="the lesson's five English key vectors as values"),
        Case(args=(random_weights(7), rng.normal(size=(7, 4))), label="7 positions, random values of size 4"),
        Case(args=(np.array([1.0]), np.array([[2.0, -1.0, 0.5]])), label="a single position (weight 1)"),
        Case(args=(np.array([0.5, 0.5]), np.array([[2.0, 0.0, 4.0, 1.0, 3.0], [0.0, 2.0, 0.0, 1.0, 1.0]])),
             label="2 positions with values of size 5"),
        Case(args=(np.array([0.2, 0.3, 0.5]), np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [4.0, 0.0, 1.0]])),
             label="3 positions, values of size 3"),
    ]


register(Exercise(
    lesson="01_why_attention",
    name="context_vector",
    reference=context_vector,
    cases=_cases,
    mistakes=[
        Mistake(hint="You averaged the values equally, ignoring the weights: that is one fixed summary for every "
                     "step. Multiply each value by its weight before adding.", buggy=_plain_average),
        Mistake(hint="You returned only the value with the largest weight (a hard choice). Attention blends "
                     "every value, each multiplied by its weight.", buggy=_hard_pick),
        Mistake(hint="You divided the weighted sum by n. The weights already sum to 1, so weights @ values is "
                     "already the weighted average.", buggy=_divided_by_n),
        Mistake(hint="You added up across the features of each value, giving one number per position (shape (n,)). "
                     "Add across the positions instead: the result has one entry per feature, shape (d_v,).",
                buggy=_summed_features),
        Mistake(hint="You returned the last value, like a decoder that only sees the encoder's final state. "
                     "Use every value, weighted.", buggy=_last_value),
        Mistake(hint="You computed values @ weights: that pairs the weights with the features of each value, and "
                     "only runs when n = d_v. The weights belong to the positions, the rows of values: "
                     "weights @ values, (n,) @ (n, d_v) -> (d_v,).", buggy=_values_times_weights),
        Mistake(hint="You wrote weights * values: numpy lines up the LAST axes, so the n weights meet the d_v "
                     "features of each value instead of one weight per position (it only runs when n = d_v). "
                     "Give the weights their own axis, weights[:, None] * values, then add over the positions "
                     "with .sum(axis=0).", buggy=_broadcast_on_features),
        Mistake(hint="You multiplied each value by its weight but never added the products up: the result still "
                     "has one row per position, shape (n, d_v). Add over the positions, .sum(axis=0), to get "
                     "shape (d_v,).", buggy=_products_not_added),
        Mistake(hint="You applied softmax to the weights again. They already are weights (positive, adding up "
                     "to 1); a second softmax pulls them toward equal shares. Use them as they are.",
                buggy=_softmax_again),
        Mistake(hint="You returned the first value, values[0]. The lesson's decoder does want the first token, "
                     "but it gets it through the weights: the context blends every value, each multiplied by "
                     "its weight.", buggy=_first_value),
    ],
    signature="context_vector(weights, values) -> array of shape (d_v,)   (weights (n,), values (n, d_v))",
))
