"""Exercise (lesson 09): attention with a mask.

The learner writes ``scaled_dot_product_attention(q, k, v, mask=None) -> (output, weights)``,
where ``mask`` (broadcastable to (..., n_q, n_k)) is True where a query may attend to a key:
hidden keys get weight 0, every row of weights still sums to 1, and a row whose keys are all
hidden gets all-zero weights (and a zero output), not NaN.
"""
from __future__ import annotations

import numpy as np

from ._attention import COMMON_MISTAKES, MASK_MISTAKES, diagnose, random_qkv
from ._core import Case, Exercise, Mistake, register


def masked_attention(q, k, v, mask=None):
    """Reference solution. As scaled_dot_product_attention, plus mask broadcastable to
    (..., n_q, n_k): True = this query may attend to this key."""
    d_k = q.shape[-1]
    scores = q @ k.swapaxes(-2, -1) / np.sqrt(d_k)            # (..., n_q, n_k)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)              # hidden keys: exp(-inf) = 0
    m = scores.max(axis=-1, keepdims=True)
    m = np.where(np.isinf(m), 0.0, m)                         # a row with every key hidden has no max
    e = np.exp(scores - m)
    total = e.sum(axis=-1, keepdims=True)
    weights = e / np.where(total == 0, 1.0, total)            # such a row: 0 / 1 = 0, not 0 / 0 = NaN
    return weights @ v, weights


# ---------------------------------------------------------------- the mistakes only masks have

def _naive(q, k, v, mask=None, fill=-np.inf):
    scores = q @ k.swapaxes(-2, -1) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, fill)
    scores = scores - scores.max(axis=-1, keepdims=True)      # -inf - (-inf) = NaN on an empty row
    e = np.exp(scores)
    weights = e / e.sum(axis=-1, keepdims=True)
    return weights @ v, weights


def _softmax(scores):
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _nan_on_empty_rows(q, k, v, mask=None):
    return _naive(q, k, v, mask)


def _large_negative_fill(q, k, v, mask=None):
    return _naive(q, k, v, mask, fill=-1e9)


def _mask_ignored(q, k, v, mask=None):
    return masked_attention(q, k, v)                          # the mask is accepted, then never used


def _none_hides_everything(q, k, v, mask=None):
    # np.where(None, scores, -np.inf): None counts as False, so with mask=None every key is hidden
    return masked_attention(q, k, v, mask=np.zeros((), dtype=bool) if mask is None else mask)


NAN_ON_EMPTY_ROW = ("NaN on an empty row: when a query may attend to no key at all (e.g. a padded query under a causal "
                    "mask), its row max is -inf, so scores - max = -inf - (-inf) = NaN (and the sum would be 0 / 0). "
                    "Give such a row zero weights: replace an infinite max by 0 (np.where(np.isinf(m), 0, m)) and "
                    "divide by np.where(total == 0, 1, total).")
LARGE_NEGATIVE = ("A row with every key hidden gets weight spread over the hidden keys: hiding with a finite number "
                  "such as -1e9 leaves all of them equal, so the softmax gives each 1/n_k. Hide with -np.inf and "
                  "give a row with nothing to attend to zero weights.")

MASK_IGNORED = ("The mask is never used: your weights are those of attention without a mask, so every query still "
                "sees the keys it should not. Hide the scores where mask is False: np.where(mask, scores, -np.inf), "
                "when mask is not None.")
NONE_HIDES_ALL = ("mask=None hides every key: np.where(None, scores, -np.inf) treats None as False, so all weights are "
                  "0. Apply the mask only when there is one: if mask is not None: scores = np.where(mask, ...).")

EMPTY_ROW_MISTAKES = [
    Mistake(NAN_ON_EMPTY_ROW, _nan_on_empty_rows),
    Mistake(LARGE_NEGATIVE, _large_negative_fill),
    Mistake(MASK_IGNORED, _mask_ignored),
    Mistake(NONE_HIDES_ALL, _none_hides_everything),
]


def _empty_rows_of(q, k, mask):
    """Bool (..., n_q): the query rows whose keys the mask hides entirely (None without a mask)."""
    if mask is None:
        return None
    shape = np.broadcast_shapes(np.shape(q)[:-1] + (np.shape(k)[-2],), np.shape(mask))
    return ~np.broadcast_to(mask, shape).any(axis=-1)


def _empty_rows(case):
    """(rows (..., n_q), visible (..., n_q, n_k)): the query rows whose keys are all hidden and the
    broadcast mask; None when there are none."""
    mask = case.args[3] if len(case.args) > 3 else None
    rows = _empty_rows_of(case.args[0], case.args[1], mask)
    if rows is None or not rows.any():
        return None
    shape = rows.shape + (np.shape(case.args[1])[-2],)
    return rows, np.broadcast_to(mask, shape)


def diagnose_masked(case, value):
    """The shared checks on cases without empty rows; on cases with them, what the empty rows hold."""
    empty = _empty_rows(case)
    if empty is None:
        return diagnose(case, value)
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        return []
    rows, visible = empty
    weights = np.asarray(value[1], dtype=np.float64)
    if weights.shape != rows.shape + (case.args[1].shape[-2],):
        return []
    elsewhere = weights[~rows][~visible[~rows]]              # hidden keys of the rows that see something
    if not (elsewhere.size and np.all(np.abs(np.nan_to_num(elsewhere, nan=1.0)) < 1e-12)):
        return []        # no hidden key elsewhere to compare with, or hidden keys get weight: another mistake
    at_empty = weights[rows]                                 # (m, n_k): the rows with nothing to attend to
    if np.isnan(at_empty).all(axis=-1).any():
        return [NAN_ON_EMPTY_ROW]
    if not np.isfinite(at_empty).all():
        return []
    q, k = (np.asarray(a, dtype=np.float64) for a in case.args[:2])
    scores = q @ k.swapaxes(-2, -1) / np.sqrt(q.shape[-1])
    unmasked = np.broadcast_to(_softmax(scores), weights.shape)[rows]
    uniform = np.full_like(at_empty, 1.0 / at_empty.shape[-1])
    if any(np.allclose(at_empty, like, rtol=1e-4, atol=1e-6) for like in (uniform, unmasked)):
        return [LARGE_NEGATIVE]                              # -1e9 filled in, or added to the scores
    return []


def _zero_empty_rows(buggy):
    """The shared mistake as a learner who handles empty rows right would make it: a row of weights
    that is NaN all along (its keys all hidden, by the mask or by the mistake) becomes zeros, and so
    does its output row (the shared variants compute such rows as 0 / 0)."""
    def fn(q, k, v, mask=None):
        result = buggy(q, k, v, mask)
        if mask is None or not (isinstance(result, tuple) and len(result) == 2):
            return result
        out, weights = result
        swapped = np.shape(out)[-1] != np.shape(q)[-1] and np.shape(weights)[-1] == np.shape(v)[-1]
        if swapped:                                          # (weights, output): the swap mistake
            out, weights = weights, out
        empty = np.isnan(weights).all(axis=-1, keepdims=True)
        if np.shape(weights)[-1] == 0 or not empty.any():
            return result
        weights = np.where(empty, 0.0, weights).astype(weights.dtype)
        out = np.where(empty, 0.0, out).astype(out.dtype)
        return (weights, out) if swapped else (out, weights)
    fn.__name__ = getattr(buggy, "__name__", "buggy")
    return fn


def _safe(mistakes):
    return [Mistake(m.hint, _zero_empty_rows(m.buggy)) for m in mistakes]


# ---------------------------------------------------------------------------- cases

def _mask_case(rng, batch, n_q, n_k, d_k, d_v, mask, label):
    return Case((*random_qkv(rng, batch, n_q, n_k, d_k, d_v), mask), label=label)


def masked_cases():
    rng = np.random.default_rng(9)
    causal4 = np.tril(np.ones((4, 4), dtype=bool))
    padding = np.arange(5)[None, None, :] < np.array([3, 5])[:, None, None]      # (2, 1, 5)
    scattered = rng.random((3, 6)) < 0.5
    scattered[:, 0] = True                                                        # every row sees a key
    left_padded = np.tril(np.ones((4, 4), dtype=bool)) & (np.arange(4) >= np.array([[0], [2]]))[:, None, :]
    one_empty = rng.random((3, 5)) < 0.6
    one_empty[:, 1] = True
    one_empty[1] = False                                                          # query 1 sees nothing
    return [
        _mask_case(rng, (), 4, 4, 4, 4, causal4, "causal mask, 4 tokens"),
        _mask_case(rng, (2,), 4, 4, 8, 3, causal4, "causal mask over a batch of 2"),
        _mask_case(rng, (2, 2), 4, 4, 4, 4, causal4, "causal mask, batch 2 x 2 heads"),
        _mask_case(rng, (2,), 3, 5, 4, 4, padding, "padding mask (2, 1, 5)"),
        _mask_case(rng, (), 3, 6, 8, 2, scattered, "scattered mask, 3 queries, 6 keys"),
        Case((*random_qkv(rng, (), 4, 4, 4, 4, scale=30.0), causal4), label="causal mask, huge scores"),
        Case((*random_qkv(rng, (), 4, 4, 8, 8, dtype=np.float32), causal4), label="causal mask, float32"),
        Case((*random_qkv(rng, (), 3, 4, 4, 4), None), label="no mask (mask=None)"),
        Case((*random_qkv(rng, (), 2, 5, 4, 3), np.ones((2, 5), dtype=bool)), label="mask that hides nothing"),
        _mask_case(rng, (2,), 4, 4, 4, 4, left_padded,
                   "left padding + causal: the first queries of sequence 2 see nothing"),
        _mask_case(rng, (), 3, 5, 4, 2, one_empty, "a query row with every key hidden"),
        _mask_case(rng, (2,), 3, 4, 4, 3, np.arange(4)[None, None, :] < np.array([4, 0])[:, None, None],
                   "a sequence of length 0 (all padding)"),
    ]


register(Exercise(
    lesson="09_masking",
    name="masked_attention",
    reference=masked_attention,
    cases=masked_cases,
    mistakes=_safe(MASK_MISTAKES) + EMPTY_ROW_MISTAKES + _safe(COMMON_MISTAKES),
    diagnose=diagnose_masked,
    output_names=("output", "weights"),
    signature="scaled_dot_product_attention(q, k, v, mask=None) -> (output, weights), mask True = may attend; "
              "a row with every key hidden gets zero weights",
))
