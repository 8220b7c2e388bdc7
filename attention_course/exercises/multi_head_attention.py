"""Exercise (lesson 08): multi-head self-attention, the whole path.

The learner writes ``multi_head_attention(x, w_q, w_k, w_v, w_o, num_heads) -> (output, weights)``:

    q, k, v = x @ w_q, x @ w_k, x @ w_v               (..., n, d_model)
    split each: reshape (..., n, h, d_head), then swap to (..., h, n, d_head)
    weights = softmax(q k^T / sqrt(d_head))           (..., h, n, n)
    heads = weights @ v                               (..., h, n, d_head)
    merge: swap back (..., n, h, d_head), reshape (..., n, d_model)
    output = merged @ w_o                             (..., n, d_model)
"""
from __future__ import annotations

import numpy as np

from ._core import Case, Exercise, Mistake, register


def multi_head_attention(x, w_q, w_k, w_v, w_o, num_heads):
    """Reference solution. x (..., n, d_model); w_* (d_model, d_model)
    -> output (..., n, d_model), weights (..., num_heads, n, n)."""
    *batch, n, d_model = x.shape
    d_head = d_model // num_heads

    def split(t):                                              # (..., n, d_model) -> (..., h, n, d_head)
        return t.reshape(*batch, n, num_heads, d_head).swapaxes(-3, -2)

    q, k, v = split(x @ w_q), split(x @ w_k), split(x @ w_v)   # (..., h, n, d_head) each
    scores = q @ k.swapaxes(-2, -1) / np.sqrt(d_head)          # (..., h, n, n)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / weights.sum(axis=-1, keepdims=True)    # each row of each head sums to 1
    heads = weights @ v                                        # (..., h, n, d_head)
    merged = heads.swapaxes(-3, -2).reshape(*batch, n, d_model)  # (..., n, h, d_head) -> (..., n, d_model)
    return merged @ w_o, weights


# ---------------------------------------------------------------- the mistakes the checker names

def _softmax(scores, axis=-1):
    e = np.exp(scores - scores.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _mha(x, w_q, w_k, w_v, w_o, num_heads, *, split="right", merge="right", scale="d_head", w_o_used=True,
         shared=False, average=False, axis=-1):
    """Multi-head attention with one switch per mistake."""
    *batch, n, d_model = x.shape
    h, d_head = num_heads, d_model // num_heads

    def split_fn(t):
        if split == "no_transpose":                       # reshape straight to (..., h, n, d_head)
            return t.reshape(*batch, h, n, d_head)
        if split == "strided":                            # d_model cut as (d_head, h): columns dealt round-robin
            return np.moveaxis(t.reshape(*batch, n, d_head, h), -1, -3)
        return t.reshape(*batch, n, h, d_head).swapaxes(-3, -2)

    def merge_fn(t):
        if merge == "no_transpose":                       # reshape (..., h, n, d_head) straight to (..., n, d_model)
            return t.reshape(*batch, n, d_model)
        if merge == "strided":
            return np.moveaxis(t, -3, -1).reshape(*batch, n, d_model)
        return t.swapaxes(-3, -2).reshape(*batch, n, d_model)

    q, k, v = split_fn(x @ w_q), split_fn(x @ w_k), split_fn(x @ w_v)
    if shared:                                            # head 0's columns reused by every head
        q, k, v = (np.repeat(t[..., :1, :, :], h, axis=-3) for t in (q, k, v))
    factor = {"d_head": d_head, "d_model": d_model, "none": 1}[scale]
    weights = _softmax(q @ k.swapaxes(-2, -1) / np.sqrt(factor), axis=axis)   # axis=-2: over the queries
    merged = merge_fn(weights @ v)
    output = merged @ w_o if w_o_used else merged
    return output, (weights.mean(axis=-3) if average else weights)


def _variant(**switches):
    def buggy(x, w_q, w_k, w_v, w_o, num_heads):
        return _mha(x, w_q, w_k, w_v, w_o, num_heads, **switches)
    return buggy


NO_TRANSPOSE = ("Heads reshaped without the transpose: reshaping (..., n, d_model) straight to (..., h, n, d_head) "
                "gives the right shape, but each 'head' then holds pieces of different tokens (head 0 gets the "
                "first tokens only). Reshape to (..., n, h, d_head), then swap: .swapaxes(-3, -2); to merge, swap "
                "back before reshaping to (..., n, d_model).")
MERGE_NO_TRANSPOSE = ("Heads merged without transposing back: your weights are right, but reshaping (..., h, n, d_head) "
                      "straight to (..., n, d_model) glues rows of different tokens together. Swap the head and "
                      "token axes back first: heads.swapaxes(-3, -2).reshape(..., n, d_model).")
STRIDED = ("Split along the wrong axis: you cut d_model as (d_head, h), so head 0 gets columns 0, h, 2h, ... "
           "(dealt round-robin). Each head owns a contiguous block of d_head columns: reshape to "
           "(..., n, h, d_head), with h before d_head.")
NO_W_O = ("W_O forgotten: after merging the heads, multiply by the output projection: output = merged @ w_o. "
          "It is what mixes the heads' results together.")
SCALE_D_MODEL = ("Scaled by √d_model instead of √d_head: each head's scores are dot products of d_head numbers, "
                 "so divide by np.sqrt(d_head) with d_head = d_model // num_heads.")
NO_SCALE = "Missing the scaling: divide each head's scores q k^T by np.sqrt(d_head), with d_head = d_model // num_heads."
SHARED = ("Every head uses the same projection (the first d_head columns of W_Q, W_K, W_V), so all heads compute the "
          "same pattern. Head i must use its own block of columns i*d_head .. (i+1)*d_head - 1.")
SOFTMAX_AXIS = ("Softmax over the wrong axis: each query's weights must sum to 1 over the keys, the last axis of the "
                "scores (..., h, n_q, n_k). Take the max and the sum with axis=-1, keepdims=True; yours sum to 1 "
                "down the columns (over the queries).")
AVERAGED = ("Your weights are averaged over the heads, shape (..., n, n), like torch's average_attn_weights=True. "
            "Return one pattern per head: weights of shape (..., num_heads, n, n).")

MISTAKES = [
    Mistake(NO_TRANSPOSE, _variant(split="no_transpose", merge="no_transpose")),
    Mistake(MERGE_NO_TRANSPOSE, _variant(merge="no_transpose")),
    Mistake(STRIDED, _variant(split="strided", merge="strided")),
    Mistake(NO_W_O, _variant(w_o_used=False)),
    Mistake(SCALE_D_MODEL, _variant(scale="d_model")),
    Mistake(NO_SCALE, _variant(scale="none")),
    Mistake(SHARED, _variant(shared=True)),
    Mistake(AVERAGED, _variant(average=True)),
    Mistake(SOFTMAX_AXIS, _variant(axis=-2)),
]

# The mistakes that already show in the weights, whatever happens after the attention: a learner
# whose weights are exactly one of these is told so even if the merge or W_O is right (or wrong).
WEIGHT_MISTAKES = [
    (NO_TRANSPOSE, {"split": "no_transpose"}),
    (STRIDED, {"split": "strided"}),
    (SCALE_D_MODEL, {"scale": "d_model"}),
    (NO_SCALE, {"scale": "none"}),
    (SHARED, {"shared": True}),
    (SOFTMAX_AXIS, {"axis": -2}),
]


def _close(a, b):
    return np.allclose(a, b, rtol=1e-5, atol=1e-8)


def diagnose(case, value):
    """From the weights alone: a split or scale mistake (whatever the merge does). Right weights but
    a wrong output (and none of the single mistakes): the problem is after the attention."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        return []
    try:
        out, weights = (np.asarray(v, dtype=np.float64) for v in value)
    except (TypeError, ValueError):
        return []
    ref_out, ref_w = multi_head_attention(*case.args)
    if weights.shape != ref_w.shape or not np.all(np.isfinite(weights)):
        return []
    if not _close(weights, ref_w):
        found = []
        for hint, switches in WEIGHT_MISTAKES:
            bug_w = _mha(*case.args, **switches)[1]
            if not _close(bug_w, ref_w) and _close(weights, bug_w):
                found.append(hint)
        return found
    if out.shape != ref_out.shape or not np.all(np.isfinite(out)):
        return []
    if not _close(out, ref_out):
        singles = [_variant(merge="no_transpose"), _variant(w_o_used=False)]
        if not any(_close(out, bug(*case.args)[0]) for bug in singles):
            return ["Your weights are right (the heads are split and scaled correctly); the output is not: look at "
                    "what comes after the attention: heads.swapaxes(-3, -2), the reshape to (..., n, d_model), "
                    "then @ w_o."]
    return []


def cases():
    rng = np.random.default_rng(8)

    def case(batch, n, d_model, h, label):
        x = rng.normal(size=(*batch, n, d_model))
        ws = [rng.normal(size=(d_model, d_model)) / np.sqrt(d_model) * 2.0 for _ in range(4)]
        return Case((x, *ws, h), label=label)

    return [
        case((), 4, 8, 2, "4 tokens, d_model = 8, 2 heads"),
        case((), 5, 6, 3, "5 tokens, d_model = 6, 3 heads"),
        case((), 3, 8, 4, "3 tokens, 4 heads of d_head = 2"),
        case((2,), 4, 8, 2, "a batch of 2"),
        case((2, 3), 3, 6, 2, "two batch axes"),
        case((), 6, 12, 4, "6 tokens, d_model = 12, 4 heads"),
        case((), 4, 4, 1, "one head (d_head = d_model)"),
        case((), 3, 4, 4, "d_head = 1"),
    ]


register(Exercise(
    lesson="08_multi_head",
    name="multi_head_attention",
    reference=multi_head_attention,
    cases=cases,
    mistakes=MISTAKES,
    diagnose=diagnose,
    output_names=("output", "weights"),
    signature="multi_head_attention(x, w_q, w_k, w_v, w_o, num_heads) -> (output (..., n, d_model), "
              "weights (..., num_heads, n, n))",
    tips={r"cannot reshape array": " Check the reshape: (..., n, d_model) has n * d_model numbers, so it can become "
                                   "(..., n, num_heads, d_head) with d_head = d_model // num_heads."},
))
