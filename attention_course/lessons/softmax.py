"""Lesson 04 helpers: what can go wrong with softmax, and how sharp it is.

The course's softmax itself lives in ``attention_course.softmax`` (``ac.softmax``).
This module holds the lesson's experiments around it:

- ``naive_softmax``: the textbook formula without subtracting the maximum, which
  overflows to NaN for large scores (the lesson shows why ``ac.softmax`` doesn't);
- ``entropy`` / ``effective_choices``: how spread out a distribution is;
- ``logit_gaps``: read scores back from weights (softmax forgets only a constant);
- ``softmax_jacobian`` / ``saturation``: as scores grow, softmax becomes one-hot
  and its gradient vanishes;
- ``max_weight_by_dimension``: why that happens to raw dot products of long
  vectors, and why dividing by sqrt(d_k) (lesson 06) keeps it in check.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._backend import as_numbers
from ..softmax import softmax, softmax_jacobian  # noqa: F401 (the core's)


def naive_softmax(x, axis: int = -1) -> np.ndarray:
    """softmax(x)_i = exp(x_i) / sum_j exp(x_j), exactly as written, with NO max subtracted.

    Shapes: x (...) -> same shape. Correct for small scores, but exp(x) overflows to
    inf once x is above about 709 (float64) or 88 (float32), and inf / inf = NaN.
    numpy warns when that happens (wrap calls in ``np.errstate`` to silence it).
    For teaching only: use ``ac.softmax``.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


def entropy(p, axis: int = -1) -> np.ndarray:
    """Shannon entropy H(p) = -sum_i p_i ln p_i, in nats (0 * ln 0 counts as 0).

    Shapes: p (..., n) -> (...). 0 for a one-hot row; ln(n) for a uniform row.
    """
    p = as_numbers("entropy", "p", p)
    if np.any(p < 0):
        raise ValueError("entropy: probabilities must be >= 0.")
    terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(axis=axis)


def effective_choices(p, axis: int = -1) -> np.ndarray:
    """exp(H(p)): "as if choosing evenly among this many items".

    1 for a one-hot row, n for a uniform row over n items. Shapes: (..., n) -> (...).
    """
    return np.exp(entropy(p, axis=axis))


def logit_gaps(weights) -> np.ndarray:
    """The scores that produce ``weights``, up to a constant: ln(w_i) - max_j ln(w_j).

    softmax ignores a constant added to every score, so weights pin down only the
    GAPS between scores. Shapes: weights (n,) -> (n,), max entry 0. Needs weights > 0.
    """
    w = as_numbers("logit_gaps", "weights", weights, ndim=1)
    if np.any(w <= 0):
        raise ValueError("logit_gaps: every weight must be > 0 (ln 0 is -infinity).")
    log_w = np.log(w)
    return log_w - log_w.max()


@dataclass(frozen=True)
class Saturation:
    """Softmax of ``scale * scores`` for several scales.

    scales     (m,)
    weights    (m, n)   softmax(scale * scores), one row per scale
    max_weight (m,)     the largest weight in each row
    gradient   (m,)     largest |entry| of the softmax Jacobian in each row
    """

    scales: np.ndarray
    weights: np.ndarray
    max_weight: np.ndarray
    gradient: np.ndarray


def saturation(scores, scales) -> Saturation:
    """Multiply the same scores by growing ``scales`` and watch softmax saturate.

    Shapes: scores (n,), scales (m,) -> Saturation with weights (m, n).
    """
    scores = as_numbers("saturation", "scores", scores, ndim=1)
    scales = as_numbers("saturation", "scales", scales, ndim=1)
    weights = softmax(scales[:, None] * scores[None, :], axis=-1)
    gradient = np.array([np.abs(softmax_jacobian(w)).max() for w in weights])
    return Saturation(scales=scales, weights=weights, max_weight=weights.max(axis=-1), gradient=gradient)


@dataclass(frozen=True)
class DimensionSweep:
    """Dot products of random vectors for several sizes d_k.

    dims            (m,) the d_k values
    score_std       (m,) standard deviation of q . k (grows like sqrt(d_k))
    max_weight      (m,) mean over queries of the largest softmax weight, raw scores
    max_weight_scaled (m,) the same with scores divided by sqrt(d_k)
    """

    dims: np.ndarray
    score_std: np.ndarray
    max_weight: np.ndarray
    max_weight_scaled: np.ndarray


def max_weight_by_dimension(dims, n_keys: int = 8, n_queries: int = 400, seed: int = 0) -> DimensionSweep:
    """Random queries and keys with independent N(0, 1) entries, d_k entries each.

    For each d_k: scores = q . k for ``n_queries`` queries against ``n_keys`` keys,
    then the mean largest softmax weight with and without dividing by sqrt(d_k).
    Without the division the scores spread out like sqrt(d_k) and softmax heads to
    one-hot; with it the spread (and the typical largest weight) stays put.
    """
    dims = np.asarray(dims, dtype=int)
    if dims.ndim != 1 or np.any(dims < 1):
        raise ValueError(f"max_weight_by_dimension: dims must be a list of sizes >= 1, got {dims!r}.")
    if n_keys < 2 or n_queries < 2:
        raise ValueError("max_weight_by_dimension: need n_keys >= 2 and n_queries >= 2.")
    rng = np.random.default_rng(seed)
    std, raw, scaled = [], [], []
    for d_k in dims:
        q = rng.standard_normal((n_queries, d_k))        # (n_queries, d_k)
        k = rng.standard_normal((n_keys, d_k))           # (n_keys, d_k)
        scores = q @ k.T                                 # (n_queries, n_keys)
        std.append(scores.std())
        raw.append(softmax(scores, axis=-1).max(axis=-1).mean())
        scaled.append(softmax(scores / math.sqrt(d_k), axis=-1).max(axis=-1).mean())
    return DimensionSweep(dims=dims, score_std=np.array(std), max_weight=np.array(raw),
                          max_weight_scaled=np.array(scaled))


# --- pictures and the widget (matplotlib/ipywidgets are imported only when these are called) ---------

def temperature_explorer(scores, tokens, temperature: float = 1.0, t_min: float = 0.05, t_max: float = 5.0):
    """A temperature slider over a bar chart of softmax(scores / T), one bar per token.

    Shapes: scores (n,), tokens n labels. The text under the chart gives the largest
    weight, the "effective number of choices" exp(entropy), and checks that the order
    of the weights is still the order of the scores.
    """
    from .. import viz, widgets

    scores = as_numbers("temperature_explorer", "scores", scores, ndim=1)
    tokens = list(tokens)
    if len(tokens) != scores.size:
        raise ValueError(f"temperature_explorer: {scores.size} scores but {len(tokens)} tokens.")
    n = scores.size
    order = np.argsort(-scores, kind="stable")

    def setup(fig):
        ax = fig.add_subplot()
        chart = viz.bars(softmax(scores, temperature=temperature), tokens, ax=ax, ylim=(0, 1.08),
                         ylabel="weight", title="softmax(scores / T)")
        ax.axhline(1 / n, color="#c62828", ls="--", lw=1, label=f"uniform: 1/{n}")
        ax.legend(loc="upper right", fontsize=8)
        ax.set_xlabel("key word")
        return chart

    def update(chart, temperature):
        w = softmax(scores, temperature=temperature)
        chart.update(w)
        top = int(np.argmax(w))
        same_order = bool(np.all(np.diff(w[order]) <= 1e-12))
        return (f"largest weight {w[top]:.2f} on '{tokens[top]}'; smallest {w.min():.3f}\n"
                f"spread: as if choosing evenly among {float(effective_choices(w)):.1f} of {n} words\n"
                f"weights in the same order as the scores: {same_order}")

    return widgets.Interactive(setup, update, figsize=(7.2, 3.8),
                               temperature=widgets.slider(t_min, t_max, 0.05, float(temperature), "temperature T"))


def plot_saturation(sat: Saturation, labels=None):
    """Two panels: each weight against the scale factor, and the softmax gradient size (log)."""
    from .. import viz

    fig, (left, right) = viz.new_figure(2, width=9.6, height=3.6)
    labels = labels or [f"score {s:g}" for s in range(sat.weights.shape[1])]
    for j, label in enumerate(labels):
        left.plot(sat.scales, sat.weights[:, j], marker="o", ms=3, label=label)
    left.set_xscale("log")
    left.set_ylim(-0.02, 1.02)
    left.set_xlabel("scale factor c (scores multiplied by c)")
    left.set_ylabel("softmax weight")
    left.set_title("Bigger scores: softmax heads to one-hot")
    left.legend(loc="center right", fontsize=8)
    right.plot(sat.scales, sat.gradient, marker="o", ms=3, color="#c62828")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("scale factor c")
    right.set_ylabel("largest |∂ weight / ∂ score|")
    right.set_title("...and its gradient vanishes")
    return fig
