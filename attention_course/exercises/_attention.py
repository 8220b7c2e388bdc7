"""Shared by the attention exercises (scaled_dot_product_attention, lesson 06; masked_attention,
lesson 09): one attention with a switch per mistake, the catalogue of mistakes, a property check
that finds mistakes made together, and the random q, k, v of the cases."""
from __future__ import annotations

import numpy as np

from ._core import Mistake

# ---------------------------------------------------------------- the mistakes the checker names

def _attention(q, k, v, mask=None, *, scale="sqrt_dk", axis=-1, stable=True, normalise=True,
               mask_mode="before", transpose="swap", swap_outputs=False):
    """Attention with one switch per mistake (the buggy variants below)."""
    if transpose == "q":                       # q^T k: the wrong one of the two transposed
        scores = q.swapaxes(-2, -1) @ k
    else:
        scores = q @ (k.swapaxes(-2, -1) if transpose == "swap" else k.T)
    d_k, d_v = q.shape[-1], v.shape[-1]
    scores = scores * {"sqrt_dk": 1 / np.sqrt(d_k), "none": 1.0, "dk": 1 / d_k, "sqrt_dv": 1 / np.sqrt(d_v)}[scale]
    if mask is not None and mask_mode != "after":
        if mask_mode == "before":
            scores = np.where(mask, scores, -np.inf)
        elif mask_mode == "zero":
            scores = np.where(mask, scores, 0.0)
        elif mask_mode == "inverted":
            scores = np.where(mask, -np.inf, scores)
        elif mask_mode == "added":
            scores = scores + mask
    if stable:
        scores = scores - scores.max(axis=axis, keepdims=True)
    e = np.exp(scores)
    weights = e / e.sum(axis=axis, keepdims=True) if normalise else e
    if mask is not None and mask_mode == "after":
        weights = weights * mask
    output = weights @ v
    return (weights, output) if swap_outputs else (output, weights)


def _variant(**switches):
    def buggy(q, k, v, mask=None):
        return _attention(q, k, v, mask, **switches)
    return buggy


MISSING_SCALE = ("Missing the 1/√d_k scaling: divide the scores q @ k^T by np.sqrt(d_k), with d_k = q.shape[-1]. "
                 "Without it large d_k gives large scores and a near one-hot softmax.")
SCALE_BY_DK = ("You divided the scores by d_k instead of √d_k: the scaling is 1/np.sqrt(d_k) (it keeps the scores' "
               "variance near 1 when q and k have unit-variance entries).")
SCALE_BY_DV = "You scaled by √d_v (v's last dimension); the scaling uses d_k, the last dimension of q and k."
QUERY_AXIS = ("Softmax over the query axis instead of the key axis: each query's row of weights must sum to 1, so "
              "normalise along axis=-1 (the keys), not axis=-2.")
NOT_NORMALISED = ("Not normalised: your weights are the exponentials without dividing by their sum along the keys, "
                  "so a row doesn't add up to 1.")
MASK_AFTER = ("Mask applied after the softmax: the hidden keys' weights are set to 0 but the row no longer sums to "
              "1. Hide the scores before the softmax: np.where(mask, scores, -np.inf).")

COMMON_MISTAKES = [
    Mistake(MISSING_SCALE, _variant(scale="none")),
    Mistake(SCALE_BY_DK, _variant(scale="dk")),
    Mistake(SCALE_BY_DV, _variant(scale="sqrt_dv")),
    Mistake(QUERY_AXIS, _variant(axis=-2)),
    Mistake("No max-subtraction in the softmax: large scores overflow exp to inf and inf / inf gives NaN. "
            "Subtract scores.max(axis=-1, keepdims=True) before np.exp.", _variant(stable=False)),
    Mistake(NOT_NORMALISED, _variant(normalise=False)),
    Mistake("k.T reverses ALL axes of a batched array, mixing the batch into the matrix product. Transpose only "
            "the last two axes: k.swapaxes(-2, -1) (or np.swapaxes(k, -2, -1)).", _variant(transpose="T")),
    Mistake("You returned (weights, output); return (output, weights), in that order.", _variant(swap_outputs=True)),
]

# Named by scaled_dot_product_attention (lesson 06); masked_attention may add it to its list too.
Q_TRANSPOSED = Mistake(
    "You transposed q instead of k: q^T @ k pairs the features, giving a (d_k, d_k) matrix (it only runs when "
    "n_q = n_k, and the next @ v only when that is also d_k). Each query must meet each key: "
    "q @ k.swapaxes(-2, -1), (..., n_q, d_k) @ (..., d_k, n_k) -> (..., n_q, n_k).", _variant(transpose="q"))

MASK_MISTAKES = [
    Mistake(MASK_AFTER, _variant(mask_mode="after")),
    Mistake("Hidden scores set to 0 instead of -inf (e.g. scores * mask): exp(0) = 1, so hidden keys still get "
            "weight. Use np.where(mask, scores, -np.inf).", _variant(mask_mode="zero")),
    Mistake("Mask inverted: True means 'may attend', so keep the scores where mask is True and hide them where it "
            "is False: np.where(mask, scores, -np.inf).", _variant(mask_mode="inverted")),
    Mistake("You added the bool mask to the scores: True counts as 1, so visible keys get +1 and hidden ones stay "
            "visible. Use np.where(mask, scores, -np.inf).", _variant(mask_mode="added")),
]


# --------------------------------------------- property checks (find mistakes that come together)

def _fitted_scale(scores, weights, visible):
    """If log(weights) = c * scores + (one constant per row) on the visible keys, return c.

    Softmax along the keys, masked or not, normalised or not, keeps that form, so c
    is the scale the learner used even when other mistakes change the weights.
    None when the weights don't have that form (e.g. softmax over the wrong axis)."""
    s = scores.reshape(-1, scores.shape[-1])
    w = weights.reshape(-1, weights.shape[-1])
    keep = visible.reshape(-1, visible.shape[-1]) & np.isfinite(w) & (w > 1e-300)
    xs, ys = [], []
    for row_s, row_w, row_keep in zip(s, w, keep):
        if row_keep.sum() >= 2:
            x, y = row_s[row_keep], np.log(row_w[row_keep])
            xs.append(x - x.mean())
            ys.append(y - y.mean())
    if not xs:
        return None
    x, y = np.concatenate(xs), np.concatenate(ys)
    if x.size < 3 or not (x @ x) > 0:
        return None
    c = (x @ y) / (x @ x)
    if c < 1e-3:                 # weights that ignore (or invert) the scores: no scale to report
        return None
    return c if np.max(np.abs(y - c * x)) <= 1e-4 * max(1.0, np.max(np.abs(y))) else None


def diagnose(case, value):
    """Hints from what the learner's weights look like (robust to combined mistakes)."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in case.args[:3])
    mask = case.args[3] if len(case.args) > 3 else None
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        return []
    weights = np.asarray(value[1], dtype=np.float64)
    scores = q @ k.swapaxes(-2, -1)
    visible = np.ones(scores.shape, dtype=bool) if mask is None else np.broadcast_to(mask, scores.shape)
    if weights.shape != scores.shape or not np.isfinite(weights).all():
        return []
    hints = []
    d_k, d_v = q.shape[-1], v.shape[-1]
    rows = weights.sum(axis=-1)
    rows_ok = np.allclose(rows, 1.0, atol=1e-5)
    hidden = ~visible
    c = _fitted_scale(scores, weights, visible)
    scale = c
    if c is None and not hidden.any() and not rows_ok:      # a softmax over the queries still shows its scale
        scale = _fitted_scale(scores.swapaxes(-2, -1), weights.swapaxes(-2, -1), visible.swapaxes(-2, -1))
    if scale is not None:
        for factor, hint in ((1.0, MISSING_SCALE), (1 / d_k, SCALE_BY_DK), (d_v ** -0.5, SCALE_BY_DV)):
            if not np.isclose(factor, d_k ** -0.5, rtol=0.05) and np.isclose(scale, factor, rtol=0.01):
                hints.append(hint)
    if c is not None and hidden.any() and np.all(np.abs(weights[hidden]) < 1e-12) and np.any(rows < 1 - 1e-5):
        hints.append(MASK_AFTER)
    if c is not None and not rows_ok and np.allclose(weights.max(axis=-1), 1.0, atol=1e-5):
        hints.append(NOT_NORMALISED)
    if not hidden.any() and not rows_ok and np.allclose(weights.sum(axis=-2), 1.0, atol=1e-5):
        hints.append(QUERY_AXIS)
    return hints


# ---------------------------------------------------------------------------- random q, k, v

def random_qkv(rng, batch, n_q, n_k, d_k, d_v, scale=1.0, dtype=np.float64):
    q = rng.normal(size=(*batch, n_q, d_k)) * scale
    k = rng.normal(size=(*batch, n_k, d_k)) * scale
    v = rng.normal(size=(*batch, n_k, d_v))
    return tuple(a.astype(dtype) for a in (q, k, v))
