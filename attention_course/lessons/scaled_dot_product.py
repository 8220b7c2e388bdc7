"""Lesson 06 (``06_scaled_dot_product.ipynb``): why scaled dot-product attention divides by
sqrt(d_k) — the experiments, the explorers and a gradient through attention.

Two effects, measured on random vectors whose entries are independent N(0, 1):

1. the variance of a dot product q . k equals d_k (it grows with the dimension),
   while the variance of q . k / sqrt(d_k) stays 1;
2. large scores saturate the softmax: one weight approaches 1, and the softmax's
   gradient (its Jacobian d weights / d scores) collapses toward 0.

The random queries and keys, their scores at every d_k and the saturation experiment and plot
are the ones lesson 04 uses too (``attention_course.experiments``, re-exported here, like the
core's ``softmax_jacobian``, so the notebook imports only this module). Everything
is seeded. The vectors for a small d_k are the first d_k coordinates of the same draws used
for a larger d_k (the first d_k coordinates of an N(0, I) vector are again N(0, I)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._backend import check_positive_ints
from ..attention import scaled_dot_product_attention
from ..experiments import (RED, BLUE, attention_explorer, one_thread, plot_saturation,  # noqa: F401 (shared)
                           random_qkv, random_scores, saturation, softmax_jacobian_norm)
from ..softmax import softmax, softmax_jacobian  # noqa: F401 (the notebook checks the formula with it)

D_K_VALUES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


# ---------------------------------------------------------------- 1. variance of q . k
@dataclass(frozen=True)
class ScoreVariance:
    """Sample variances of random scores, one per d_k: raw q . k and scaled q . k / sqrt(d_k).

    d_k (m,), raw (m,), scaled (m,). Theory: raw = d_k, scaled = 1.
    """

    d_k: np.ndarray
    raw: np.ndarray
    scaled: np.ndarray


def score_variance(d_ks=D_K_VALUES, n_samples: int = 4000, seed: int = 0) -> ScoreVariance:
    """Var(q . k) and Var(q . k / sqrt(d_k)) over ``n_samples`` random pairs, for each d_k.

    Var(q . k) = d_k in theory: a sum of d_k products q_i k_i, each of variance 1.
    """
    scores = random_scores(d_ks, n_trials=n_samples, n_keys=1, seed=seed)    # raw (m, n_samples, 1)
    raw = scores.raw.var(axis=(1, 2))
    return ScoreVariance(d_k=scores.d_k, raw=raw, scaled=raw / scores.d_k)


def plot_score_variance(result: ScoreVariance):
    """Log-log plot of :func:`score_variance`: Var(q.k) vs d_k, unscaled and scaled, with theory."""
    from .. import viz

    d = result.d_k
    return viz.log_log(d, [(d, "theory: Var = d_k", "--", "0.6"),
                           (result.raw, "measured: q . k", "o-", RED),
                           (1.0, "theory: Var = 1", ":", "0.6"),
                           (result.scaled, "measured: q . k / sqrt(d_k)", "s-", BLUE)],
                       xlabel="d_k (length of each query and key)", ylabel="variance of the score",
                       title="Dot products grow with d_k; scaled ones do not")


# ---------------------------------------------------------------- 2. the d_k slider
def weights_by_rank(scores) -> np.ndarray:
    """Each row's softmax weights sorted largest first, then averaged over the rows.

    scores (n_queries, n_keys) -> (n_keys,): entry r is the mean weight of each query's
    (r+1)-th best key. Sums to 1.
    """
    return -np.sort(-softmax(np.asarray(scores, dtype=float), axis=-1), axis=-1).mean(axis=0)


def score_explorer(d_k: int = 64, d_k_max: int = 512, seed: int = 0):
    """The d_k slider: histograms of raw and scaled scores, and the weights by rank, raw vs scaled.

    Left: 4000 random pairs' q . k and q . k / sqrt(d_k). Middle and right: 500 random queries,
    each against 8 keys of its own, their weights sorted by rank and averaged. Returns an
    ``attention_course.widgets.Interactive`` with one control, ``d_k``.
    """
    from .. import viz, widgets

    check_positive_ints("score_explorer", d_k=d_k, d_k_max=d_k_max)
    d_ks = np.arange(1, d_k_max + 1)
    pairs = random_scores(d_ks, n_trials=4000, seed=seed)                       # (d_k_max, 4000, 1)
    queries = random_scores(d_ks, n_trials=500, n_keys=8, seed=seed + 1)        # (d_k_max, 500, 8)
    edges = np.linspace(-60, 60, 121)
    ranks = [str(r) for r in range(1, 9)]

    def setup(fig):
        ax_h, ax_raw, ax_scaled = fig.subplots(1, 3, width_ratios=[1.5, 1, 1])
        hist = {name: ax_h.stairs(np.zeros(edges.size - 1), edges, fill=True, color=color, alpha=alpha, label=label)
                for name, color, alpha, label in (("raw", RED, 0.45, "q . k"),
                                                  ("scaled", BLUE, 0.6, "q . k / sqrt(d_k)"))}
        ax_h.set(xlim=(edges[0], edges[-1]), ylim=(0, 0.6), ylabel="density", title="Scores of 4000 random pairs",
                 xlabel="score (values beyond +-60 not shown)")
        ax_h.legend(fontsize=8, loc="upper left")
        bars = {name: viz.bars(np.zeros(8), ranks, ax=ax, ylim=(0, 1.08), color=color, title=title,
                               ylabel="mean weight (500 queries)" if name == "raw" else None)
                for name, ax, color, title in (("raw", ax_raw, RED, "softmax(q . k)"),
                                               ("scaled", ax_scaled, BLUE, "softmax(q . k / sqrt(d_k))"))}
        for ax in (ax_raw, ax_scaled):
            ax.set_xlabel("rank of the key (1 = top)")
        return hist, bars

    def update(state, d_k):
        hist, bars = state
        raw = pairs.at(d_k)[:, 0]                                   # (4000,)
        for name, scale in (("raw", 1.0), ("scaled", 1 / math.sqrt(d_k))):
            hist[name].set_data(np.histogram(raw * scale, edges, density=True)[0])
            bars[name].update(weights_by_rank(queries.at(d_k) * scale))
        return (f"Var(q . k) = {raw.var():.1f} (theory: d_k = {d_k}),  "
                f"Var(q . k / sqrt(d_k)) = {raw.var() / d_k:.2f} (theory: 1)\n"
                f"top key's weight (mean over queries): {bars['raw'].values[0]:.2f} raw, "
                f"{bars['scaled'].values[0]:.2f} scaled")

    return widgets.Interactive(setup, update, figsize=(10.4, 3.6), d_k=widgets.slider(1, d_k_max, 1, d_k, "d_k"))


def softmax_jacobian_autograd(scores):
    """The softmax Jacobian computed by torch autograd through the package's ``softmax``.

    scores: a 1-D array or tensor (n,) -> numpy (n, n). Used to check the formula
    ``softmax_jacobian`` (J = diag(w) - w w^T) against automatic differentiation.
    """
    import torch

    s = torch.as_tensor(np.asarray(scores, dtype=np.float64) if not torch.is_tensor(scores) else scores,
                        dtype=torch.float64)
    if s.ndim != 1:
        raise ValueError(f"softmax_jacobian_autograd: scores must be 1-D (n,), got shape {tuple(s.shape)}.")
    return torch.autograd.functional.jacobian(softmax, s).numpy()


# ---------------------------------------------------------------- 3. a sentence for the explorer
RIVER_TOKENS = ("the", "river", "bank", "was", "muddy", "after", "the", "rain")
RIVER_FEATURES = ("water", "ground", "weather", "grammar")


def river_sentence(strength: float = 2.0):
    """A hand-built sentence for the attention explorer: tokens, q, k, v.

    Each token gets a 4-number feature vector (water, ground, weather, grammar).
    These vectors are constructed by hand for the lesson, not learned.
    q = k = strength * features (so words with shared features score high),
    v = features. Returns ``(tokens, q, k, v)`` with q, k, v of shape (8, 4).
    """
    x = np.array([
        [0.0, 0.0, 0.0, 1.0],   # the
        [1.0, 0.3, 0.0, 0.0],   # river
        [0.6, 1.0, 0.0, 0.0],   # bank
        [0.0, 0.0, 0.0, 1.0],   # was
        [0.6, 0.9, 0.2, 0.0],   # muddy
        [0.0, 0.0, 0.1, 0.8],   # after
        [0.0, 0.0, 0.0, 1.0],   # the
        [0.7, 0.0, 1.0, 0.0],   # rain
    ])
    return list(RIVER_TOKENS), strength * x, strength * x, x.copy()


def river_explorer(selected: str = "bank"):
    """The river sentence's weights, one query at a time, with a toggle: scaled or unscaled scores.

    Both patterns come from ``scaled_dot_product_attention`` on :func:`river_sentence`, with
    ``scale=None`` (1/sqrt(d_k) = 1/2 here) and with ``scale=1.0``. Returns a
    ``widgets.Interactive`` with the controls ``query`` (a token's index) and ``scores``.
    """
    tokens, q, k, v = river_sentence()
    _, scaled = scaled_dot_product_attention(q, k, v)                # (8, 8)
    _, unscaled = scaled_dot_product_attention(q, k, v, scale=1.0)   # (8, 8)
    return attention_explorer(tokens, {"scaled (÷ √d_k)": scaled, "unscaled": unscaled},
                              selected=tokens.index(selected), title="river bank: attention weights")


# ---------------------------------------------------------------- 4. attention is differentiable
def weight_gradient_wrt_query(q, k, i: int, j: int, scale=None):
    """d weights[i, j] / d q[i], worked out by hand: (d_k,) numpy array.

    With s_m = scale * q_i . k_m and w = softmax(s):
        d w_j / d q_i = scale * w_j * (k_j - sum_m w_m k_m)
    i.e. move q_i toward key j and away from the weighted average of all keys.
    q (n_q, d_k), k (n_k, d_k); ``scale=None`` means 1/sqrt(d_k).
    """
    q, k = np.asarray(q, dtype=float), np.asarray(k, dtype=float)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    w = softmax(scale * (k @ q[i]))                       # (n_k,)
    return scale * w[j] * (k[j] - w @ k)


def nudge_query(q, k, v, i: int, j: int, steps: int = 5, lr: float = 1.0):
    """Gradient ascent on weights[i, j] through the package's torch path.

    Each step: weights = scaled_dot_product_attention(q, k, v) on torch tensors,
    ``weights[i, j].backward()``, then q[i] += lr * gradient (only query i moves).
    q (n_q, d_k), k (n_k, d_k), v (n_k, d_v) numpy arrays.
    Returns ``(history, q_new)``: history (steps + 1,) the weight before each step
    and after the last; q_new the updated queries as numpy.
    """
    import torch

    check_positive_ints("nudge_query", steps=steps)
    q_t = torch.tensor(np.asarray(q, dtype=float), requires_grad=True)
    k_t, v_t = torch.tensor(np.asarray(k, dtype=float)), torch.tensor(np.asarray(v, dtype=float))
    history = []
    for step in range(steps + 1):
        _, weights = scaled_dot_product_attention(q_t, k_t, v_t)
        history.append(float(weights[i, j].detach()))
        if step == steps:
            break
        weights[i, j].backward()
        with torch.no_grad():
            q_t[i] += lr * q_t.grad[i]
        q_t.grad = None
    return np.array(history), q_t.detach().numpy()
