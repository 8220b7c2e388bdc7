"""Lesson 06: why scaled dot-product attention divides by sqrt(d_k) — the experiments.

Two effects, measured on random vectors whose entries are independent N(0, 1):

1. the variance of a dot product q . k equals d_k (it grows with the dimension),
   while the variance of q . k / sqrt(d_k) stays 1;
2. large scores saturate the softmax: one weight approaches 1, and the softmax's
   gradient (its Jacobian d weights / d scores) collapses toward 0.

Everything is seeded. To keep the experiments cheap and the curves smooth, the
vectors for a small d_k are the first d_k coordinates of the same draws used for
a larger d_k (the first d_k coordinates of an N(0, I) vector are again N(0, I)).
"""
from __future__ import annotations

import math

import numpy as np

from .._backend import check_positive_ints
from ..attention import scaled_dot_product_attention
from ..softmax import softmax, softmax_jacobian  # J = diag(w) - w w^T, lesson 04

D_K_VALUES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


# ---------------------------------------------------------------- 1. variance of q . k
def random_queries_keys(n_pairs: int, d_k_max: int, seed: int = 0):
    """Draw ``n_pairs`` query and key vectors with N(0, 1) entries.

    Returns ``(q, k)``, each of shape (n_pairs, d_k_max). Use the first ``d_k``
    columns for an experiment at dimension ``d_k``.
    """
    check_positive_ints("random_queries_keys", n_pairs=n_pairs, d_k_max=d_k_max)
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_pairs, d_k_max)), rng.standard_normal((n_pairs, d_k_max))


def prefix_scores(q, k):
    """Dot products of every pair for every dimension at once.

    q, k (n_pairs, d_max) -> scores (n_pairs, d_max) where
    ``scores[:, d - 1] = sum(q[:, :d] * k[:, :d], axis=1)``, the dot product
    using only the first d coordinates (a running sum of products).
    """
    q, k = np.asarray(q, dtype=float), np.asarray(k, dtype=float)
    if q.ndim != 2 or q.shape != k.shape:
        raise ValueError(f"prefix_scores: q and k must both be (n_pairs, d_max), got q {q.shape}, k {k.shape}.")
    return np.cumsum(q * k, axis=1)


def score_samples(d_k: int, n_samples: int = 2000, scaled: bool = False, seed: int = 0):
    """``n_samples`` scores q . k of random N(0, 1) vectors of dimension ``d_k``.

    Returns shape (n_samples,). ``scaled=True`` divides each score by sqrt(d_k).
    """
    check_positive_ints("score_samples", d_k=d_k, n_samples=n_samples)
    q, k = random_queries_keys(n_samples, d_k, seed)
    scores = np.sum(q * k, axis=1)
    return scores / math.sqrt(d_k) if scaled else scores


def score_variance(d_ks=D_K_VALUES, n_samples: int = 4000, seed: int = 0) -> dict:
    """Sample variance of q . k and of q . k / sqrt(d_k) for each ``d_k``.

    Returns ``{"d_k": (m,), "unscaled": (m,), "scaled": (m,)}`` as numpy arrays.
    Theory: Var(q . k) = d_k (a sum of d_k products, each of variance 1), so
    Var(q . k / sqrt(d_k)) = 1.
    """
    d_ks = _check_d_ks("score_variance", d_ks)
    q, k = random_queries_keys(n_samples, int(d_ks.max()), seed)
    scores = prefix_scores(q, k)[:, d_ks - 1]            # (n_samples, m)
    unscaled = scores.var(axis=0)
    return {"d_k": d_ks, "unscaled": unscaled, "scaled": unscaled / d_ks}


# ---------------------------------------------------------------- 2. saturation and gradient
def softmax_jacobian_norm(weights):
    """Frobenius norm of the softmax Jacobian: (..., n) weights -> (...) norms.

    Clearly above 0 while the weights are spread out (sqrt(n - 1) / n for uniform
    weights); exactly 0 for a one-hot row.
    """
    return np.linalg.norm(softmax_jacobian(weights), axis=(-2, -1))


def softmax_jacobian_autograd(scores):
    """The same Jacobian computed by torch autograd through the package's ``softmax``.

    scores: a 1-D array or tensor (n,) -> numpy (n, n). Used to check
    :func:`softmax_jacobian` against automatic differentiation.
    """
    import torch

    s = torch.as_tensor(np.asarray(scores, dtype=np.float64) if not torch.is_tensor(scores) else scores,
                        dtype=torch.float64)
    if s.ndim != 1:
        raise ValueError(f"softmax_jacobian_autograd: scores must be 1-D (n,), got shape {tuple(s.shape)}.")
    return torch.autograd.functional.jacobian(softmax, s).numpy()


def random_attention_scores(n_trials: int, n_keys: int, d_k_max: int, seed: int = 0):
    """One random query and ``n_keys`` random keys per trial, N(0, 1) entries.

    Returns ``(q, k)`` with q (n_trials, 1, d_k_max) and k (n_trials, n_keys, d_k_max).
    """
    check_positive_ints("random_attention_scores", n_trials=n_trials, n_keys=n_keys, d_k_max=d_k_max)
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n_trials, 1, d_k_max))
    k = rng.standard_normal((n_trials, n_keys, d_k_max))
    return q, k


def saturation(d_ks=D_K_VALUES, n_keys: int = 16, n_trials: int = 400, seed: int = 0) -> dict:
    """Softmax saturation and gradient size against d_k, unscaled vs scaled.

    For every d_k and every trial: one random query, ``n_keys`` random keys,
    weights = softmax(q . k) ("unscaled") or softmax(q . k / sqrt(d_k)) ("scaled").
    Returns numpy arrays of shape (m,) for m = len(d_ks):

        "d_k"
        "max_weight_unscaled", "max_weight_scaled"   mean over trials of the largest weight
        "grad_norm_unscaled", "grad_norm_scaled"     median over trials of ||d weights / d scores||_F
        "grad_q25_unscaled", "grad_q75_unscaled", ... the 25th and 75th percentiles

    The median is reported because a few trials where two scores happen to tie
    keep a large gradient and would dominate a mean.
    """
    d_ks = _check_d_ks("saturation", d_ks)
    q, k = random_attention_scores(n_trials, n_keys, int(d_ks.max()), seed)
    out = {"d_k": d_ks}
    rows = {name: {"max": [], "med": [], "q25": [], "q75": []} for name in ("unscaled", "scaled")}
    for d_k in d_ks:
        for name, scale in (("unscaled", 1.0), ("scaled", None)):
            _, w = scaled_dot_product_attention(q[..., :d_k], k[..., :d_k], k[..., :1], scale=scale)
            w = w[:, 0, :]                                   # (n_trials, n_keys)
            norms = softmax_jacobian_norm(w)                 # (n_trials,)
            rows[name]["max"].append(w.max(axis=-1).mean())
            q25, med, q75 = np.percentile(norms, [25, 50, 75])
            rows[name]["med"].append(med)
            rows[name]["q25"].append(q25)
            rows[name]["q75"].append(q75)
    for name, r in rows.items():
        out[f"max_weight_{name}"] = np.array(r["max"])
        out[f"grad_norm_{name}"] = np.array(r["med"])
        out[f"grad_q25_{name}"] = np.array(r["q25"])
        out[f"grad_q75_{name}"] = np.array(r["q75"])
    return out


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


# ---------------------------------------------------------------- the d_k slider
class ScoreSpread:
    """The data behind the d_k slider, computed once so a slider move is cheap.

    ``scores`` (n_samples, d_k_max): q . k of random pairs using the first d_k coordinates
    (column d_k - 1). ``query_scores`` (n_queries, n_keys, d_k_max): the scores of
    ``n_queries`` random queries against ``n_keys`` random keys each, likewise for every d_k.
    """

    def __init__(self, d_k_max: int = 512, n_samples: int = 4000, n_queries: int = 500, n_keys: int = 8,
                 seed: int = 0):
        check_positive_ints("ScoreSpread", d_k_max=d_k_max, n_samples=n_samples, n_queries=n_queries, n_keys=n_keys)
        self.d_k_max = d_k_max
        self.scores = prefix_scores(*random_queries_keys(n_samples, d_k_max, seed))
        q, k = random_attention_scores(n_queries, n_keys, d_k_max, seed + 1)
        self.query_scores = np.cumsum(k * q, axis=-1)        # (n_queries, n_keys, d_k_max)

    def at(self, d_k: int) -> dict:
        """Everything the slider shows for one ``d_k``.

        "raw", "scaled": (n_samples,) scores q . k and q . k / sqrt(d_k);
        "sorted_raw", "sorted_scaled": (n_keys,) each query's softmax weights sorted from
        largest to smallest, then averaged over the queries.
        """
        if not (isinstance(d_k, (int, np.integer)) and 1 <= d_k <= self.d_k_max):
            raise ValueError(f"ScoreSpread.at: d_k must be an integer in 1..{self.d_k_max}, got {d_k!r}.")
        raw = self.scores[:, d_k - 1]
        s = self.query_scores[:, :, d_k - 1]                  # (n_queries, n_keys)
        ranked = {name: -np.sort(-softmax(s * scale), axis=-1).mean(axis=0)
                  for name, scale in (("raw", 1.0), ("scaled", 1 / math.sqrt(d_k)))}
        return {"raw": raw, "scaled": raw / math.sqrt(d_k),
                "sorted_raw": ranked["raw"], "sorted_scaled": ranked["scaled"]}


def score_explorer(d_k: int = 64, d_k_max: int = 512, seed: int = 0):
    """The lesson's slider: histograms of raw and scaled scores, and one query's weights, vs d_k.

    Returns an ``attention_course.widgets.Interactive`` with one control, ``d_k``.
    """
    from .. import widgets

    data = ScoreSpread(d_k_max=d_k_max, seed=seed)
    edges = np.linspace(-60, 60, 121)
    red, blue = "#d62728", "#1f77b4"

    def setup(fig):
        ax_h, ax_w = fig.subplots(1, 2)
        zeros = np.zeros(len(edges) - 1)
        raw = ax_h.stairs(zeros, edges, fill=True, color=red, alpha=0.45, label="q . k")
        scaled = ax_h.stairs(zeros, edges, fill=True, color=blue, alpha=0.6, label="q . k / sqrt(d_k)")
        ax_h.set_ylim(0, 0.6)
        ax_h.set_xlim(edges[0], edges[-1])
        ax_h.set_xlabel("score (values beyond +-60 not shown)")
        ax_h.set_ylabel("density")
        ax_h.set_title("Scores of 4000 random pairs")
        ax_h.legend(fontsize=8, loc="upper left")
        n_keys = data.query_scores.shape[1]
        x = np.arange(n_keys)
        bars_raw = ax_w.bar(x - 0.2, np.zeros(n_keys), width=0.4, color=red, label="softmax(q . k)")
        bars_scaled = ax_w.bar(x + 0.2, np.zeros(n_keys), width=0.4, color=blue, label="softmax(q . k / sqrt(d_k))")
        ax_w.set_ylim(0, 1.05)
        ax_w.set_xticks(x, [str(j + 1) for j in x])
        ax_w.set_xlabel("rank of the key (1 = the query's top key)")
        ax_w.set_ylabel("attention weight (mean)")
        ax_w.set_title(f"Weights by rank, {data.query_scores.shape[0]} queries x {n_keys} keys")
        ax_w.legend(fontsize=8, loc="upper right")         # rank 1, the tallest bar, is on the left
        return {"raw": raw, "scaled": scaled, "bars_raw": bars_raw, "bars_scaled": bars_scaled}

    def update(state, d_k):
        r = data.at(int(d_k))
        state["raw"].set_data(np.histogram(r["raw"], edges, density=True)[0])
        state["scaled"].set_data(np.histogram(r["scaled"], edges, density=True)[0])
        for bars, w in ((state["bars_raw"], r["sorted_raw"]), (state["bars_scaled"], r["sorted_scaled"])):
            for bar, h in zip(bars, w):
                bar.set_height(h)
        return (f"Var(q . k) = {r['raw'].var():.1f} (theory: d_k = {int(d_k)}),  "
                f"Var(q . k / sqrt(d_k)) = {r['scaled'].var():.2f} (theory: 1)\n"
                f"top key's weight (mean over queries): {r['sorted_raw'][0]:.2f} raw, "
                f"{r['sorted_scaled'][0]:.2f} scaled")

    return widgets.Interactive(setup, update, figsize=(9.6, 3.6),
                               d_k=widgets.slider(1, d_k_max, 1, d_k, "d_k"))


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


# ---------------------------------------------------------------- helpers
def _check_d_ks(func, d_ks):
    d_ks = np.asarray(d_ks)
    if d_ks.ndim != 1 or d_ks.size == 0 or not np.issubdtype(d_ks.dtype, np.integer) or (d_ks < 1).any():
        raise ValueError(f"{func}: d_ks must be a non-empty 1-D list of positive integers, got {d_ks!r}.")
    return d_ks


# ---------------------------------------------------------------- figures
def plot_score_variance(result):
    """Log-log plot of :func:`score_variance`'s result: Var(q.k) vs d_k, unscaled and scaled."""
    from .. import viz

    fig, ax = viz.new_figure(width=5.6, height=3.6)
    d = result["d_k"]
    ax.loglog(d, d, color="0.6", linestyle="--", label="theory: Var = d_k")
    ax.loglog(d, result["unscaled"], "o-", color="#d62728", label="measured: q . k")
    ax.loglog(d, np.ones_like(d, dtype=float), color="0.6", linestyle=":", label="theory: Var = 1")
    ax.loglog(d, result["scaled"], "s-", color="#1f77b4", label="measured: q . k / sqrt(d_k)")
    _d_k_ticks(ax, d)
    ax.set_xlabel("d_k (length of each query and key)")
    ax.set_ylabel("variance of the score")
    ax.set_title("Dot products grow with d_k; scaled ones do not")
    ax.legend(fontsize=8)
    return fig


def plot_saturation(result):
    """Two panels from :func:`saturation`: mean largest weight, and median gradient norm, vs d_k."""
    from .. import viz

    fig, (ax_w, ax_g) = viz.new_figure(2, width=9.6, height=3.6)
    d = result["d_k"]
    styles = {"unscaled": ("o-", "#d62728", "softmax(q . k)"), "scaled": ("s-", "#1f77b4", "softmax(q . k / sqrt(d_k))")}
    for name, (marker, color, label) in styles.items():
        ax_w.plot(d, result[f"max_weight_{name}"], marker, color=color, label=label)
        floor = 1e-8                                   # a log axis cannot show 0
        ax_g.fill_between(d, np.maximum(result[f"grad_q25_{name}"], floor), np.maximum(result[f"grad_q75_{name}"], floor),
                          color=color, alpha=0.15, linewidth=0)
        ax_g.plot(d, np.maximum(result[f"grad_norm_{name}"], floor), marker, color=color, label=label)
    for ax in (ax_w, ax_g):
        _d_k_ticks(ax, d)
        ax.set_xlabel("d_k")
        ax.legend(fontsize=8)
    ax_w.set_ylim(0, 1.02)
    ax_w.set_ylabel("largest weight (mean over trials)")
    ax_w.set_title("Unscaled scores pile the weight on one key")
    ax_g.set_yscale("log")
    ax_g.set_ylim(1e-5, 1)
    ax_g.set_ylabel("||d weights / d scores|| (median, 25-75% band)")
    ax_g.set_title("...and the softmax's gradient collapses")
    return fig


def _d_k_ticks(ax, d_ks):
    ax.set_xscale("log", base=2)
    ax.set_xticks(d_ks, [str(int(d)) for d in d_ks])
    ax.minorticks_off()
