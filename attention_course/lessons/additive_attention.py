"""Lesson 11 (notebooks/11_additive_attention.ipynb): additive attention, the score that came first.

1. Bahdanau's score w_v . tanh(q W_q + k W_k): a one-hidden-layer network scores each
   (query, key) pair, so queries and keys may have different widths.
2. Luong's multiplicative score q W k^T, the bridge to the (projected) dot product of lessons 05-06.
3. One toy alignment scored both ways: both scorers are fitted (by gradient descent, with the
   package's own differentiable code) to the same hand-written alignment.
4. The cost: additive attention builds an (n_q, n_k, h) tensor; a dot product is one matrix product.

The encoder and decoder states are seeded random vectors and the alignment is written by hand;
a real translator is never shown its alignment, it learns one while learning to translate.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .._backend import check_positive_ints
from ..additive import additive_scores
from ..experiments import one_thread
from ..softmax import softmax

BLUE, RED = "#1f77b4", "#d62728"

# "the European Economic Area" -> "la zone économique européenne": French puts the two adjectives
# after the noun, in the reverse order, so the alignment crosses.
SOURCE = ("the", "European", "Economic", "Area", ".")
TARGET = ("la", "zone", "économique", "européenne", ".")
ALIGNED_TO = (0, 3, 2, 1, 4)          # target word i <-> source word ALIGNED_TO[i]


# ---------------------------------------------------------------- 1. the toy alignment
@dataclass
class Alignment:
    """A toy translation step. ``decoder`` (n_q, d_q): one state per target word (the queries);
    ``encoder`` (n_k, d_k): one state per source word (the keys, and here also the values);
    ``target`` (n_q,): the source word each target word should attend to."""
    source: tuple
    target_words: tuple
    decoder: np.ndarray
    encoder: np.ndarray
    target: np.ndarray

    @property
    def target_matrix(self) -> np.ndarray:
        """The alignment as a 0/1 matrix (n_q, n_k)."""
        m = np.zeros((len(self.target_words), len(self.source)))
        m[np.arange(len(self.target)), self.target] = 1.0
        return m


def toy_alignment(d_q: int = 4, d_k: int = 6, seed: int = 0) -> Alignment:
    """Seeded N(0, 1) states: decoder (5, d_q), encoder (5, d_k); d_q and d_k may differ."""
    check_positive_ints("toy_alignment", d_q=d_q, d_k=d_k)
    rng = np.random.default_rng(seed)
    return Alignment(SOURCE, TARGET, rng.standard_normal((len(TARGET), d_q)),
                     rng.standard_normal((len(SOURCE), d_k)), np.array(ALIGNED_TO))


# ---------------------------------------------------------------- 2. the scores
def multiplicative_scores(q, k, w):
    """Luong's "general" score q_i W k_j^T: q (n_q, d_q), k (n_k, d_k), w (d_q, d_k) -> (n_q, n_k).

    With d_q = d_k and W = I it is the plain dot product q k^T; with W = W_Q W_K^T it is the
    projected dot product (q W_Q)(k W_K)^T of lessons 05-06.
    """
    q, k, w = (np.asarray(a, dtype=float) for a in (q, k, w))
    if q.ndim != 2 or k.ndim != 2 or w.shape != (q.shape[1], k.shape[1]):
        raise ValueError(f"multiplicative_scores: need q (n_q, d_q), k (n_k, d_k), w (d_q, d_k), "
                         f"got q {q.shape}, k {k.shape}, w {w.shape}.")
    return q @ w @ k.T                           # (n_q, d_q) (d_q, d_k) (d_k, n_k) -> (n_q, n_k)


def concatenated_scores(q, k, w_q, w_k, w_v):
    """The additive score written as Bahdanau's network sees it: the pair [q_i, k_j] (d_q + d_k,)
    through one hidden layer tanh([q_i, k_j] @ [[W_q], [W_k]]) and the read-out w_v.
    Loops over the pairs; (n_q, n_k). Equal to ``additive_scores``."""
    q, k = np.asarray(q, dtype=float), np.asarray(k, dtype=float)
    w = np.concatenate([w_q, w_k], axis=0)                     # (d_q + d_k, h)
    return np.array([[np.tanh(np.concatenate([qi, kj]) @ w) @ w_v for kj in k] for qi in q])


# ---------------------------------------------------------------- 3. fitting both scorers
@dataclass
class Fit:
    """A scorer fitted to an alignment. ``params``: numpy arrays by name; ``scores`` (n_q, n_k);
    ``loss``: the final cross-entropy (mean over target words); ``n_params``; ``history`` (steps,)."""
    kind: str
    params: dict
    scores: np.ndarray
    loss: float
    n_params: int
    history: np.ndarray = field(repr=False)

    def weights(self, scale: float = 1.0) -> np.ndarray:
        """softmax over the keys of scale * scores (``scale`` multiplies w_v, or W)."""
        return softmax(scale * self.scores, axis=-1)

    def n_correct(self, alignment: Alignment, scale: float = 1.0) -> int:
        """How many target words give the right source word strictly more weight than any other."""
        w = self.weights(scale)
        right = w[np.arange(len(alignment.target)), alignment.target]
        others = np.where(alignment.target_matrix > 0, -np.inf, w).max(axis=-1)
        return int(np.sum(right > others + 1e-12))


@one_thread(torch=True)      # tiny tensors: a second torch thread only spins against neighbours
def fit(alignment: Alignment, kind: str = "additive", hidden: int = 4, steps: int = 150, lr: float = 0.1,
        seed: int = 0) -> Fit:
    """Fit ``kind`` = "additive" (w_q (d_q, h), w_k (d_k, h), w_v (h,)) or "multiplicative"
    (w (d_q, d_k)) so that softmax(scores) puts each target word's weight on its source word.

    Full-batch Adam (:func:`adam`) on the cross-entropy, float64, seeded N(0, 0.5^2) start; the scores come from
    the package's own functions on torch tensors, so autograd differentiates the lesson's maths.
    """
    import torch

    check_positive_ints("fit", hidden=hidden, steps=steps)
    if kind not in ("additive", "multiplicative"):
        raise ValueError(f"fit: kind must be 'additive' or 'multiplicative', got {kind!r}.")
    q = torch.tensor(alignment.decoder)
    k = torch.tensor(alignment.encoder)
    target = torch.tensor(alignment.target)
    g = torch.Generator().manual_seed(seed)
    d_q, d_k = q.shape[1], k.shape[1]
    shapes = {"w_q": (d_q, hidden), "w_k": (d_k, hidden), "w_v": (hidden,)} if kind == "additive" else \
        {"w": (d_q, d_k)}
    params = {n: (0.5 * torch.randn(*s, generator=g, dtype=torch.float64)).requires_grad_() for n, s in shapes.items()}

    def scores():
        if kind == "additive":
            return additive_scores(q, k, params["w_q"], params["w_k"], params["w_v"])
        return q @ params["w"] @ k.T

    history = adam(list(params.values()), lambda: torch.nn.functional.cross_entropy(scores(), target), steps, lr)
    with torch.no_grad():
        final = scores()
        loss = float(torch.nn.functional.cross_entropy(final, target))
    return Fit(kind, {n: p.detach().numpy() for n, p in params.items()}, final.numpy(), loss,
               sum(p.numel() for p in params.values()), np.array(history))


def adam(params, loss_fn, steps: int, lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> np.ndarray:
    """Full-batch Adam, written out: the update ``torch.optim.Adam(params, lr)`` makes with its
    defaults. ``loss_fn()`` returns a loss tensor (or a vector of independent losses, summed for
    the gradient); returns the losses before each step, (steps,) or (steps, len(vector))."""
    import torch

    b1, b2 = betas
    m = [torch.zeros_like(p) for p in params]              # running mean of the gradients
    v = [torch.zeros_like(p) for p in params]              # running mean of their squares
    history = []
    for t in range(1, steps + 1):
        loss = loss_fn()
        grads = torch.autograd.grad(loss.sum(), params)
        with torch.no_grad():
            for p, g, m_i, v_i in zip(params, grads, m, v):
                m_i.mul_(b1).add_(g, alpha=1 - b1)
                v_i.mul_(b2).addcmul_(g, g, value=1 - b2)
                step = (m_i / (1 - b1 ** t)) / ((v_i / (1 - b2 ** t)).sqrt() + eps)   # bias-corrected
                p.sub_(lr * step)
        history.append(loss.detach().numpy().copy())
    return np.array(history)


@one_thread(torch=True)
def fit_hidden_sizes(alignment: Alignment, hidden_sizes=range(1, 9), restarts: int = 3, steps: int = 150,
                     lr: float = 0.1, seed: int = 0) -> dict:
    """``{h: Fit}``: the additive scorer fitted for every hidden size h, keeping the best of
    ``restarts`` seeded starts (restart r uses seed ``seed + r``, as :func:`fit` would).

    All sizes and restarts train at once, as one batch of independent models: each model's
    units beyond its own h are held at zero, the losses are summed, and Adam works element by
    element, so this equals fitting each (h, restart) on its own with :func:`fit`.
    """
    import torch

    hs = [int(h) for h in hidden_sizes]
    check_positive_ints("fit_hidden_sizes", restarts=restarts, steps=steps, **{f"h={h}": h for h in hs})
    q, k = torch.tensor(alignment.decoder), torch.tensor(alignment.encoder)
    target = torch.tensor(alignment.target)
    h_max, d_q, d_k = max(hs), q.shape[1], k.shape[1]
    models = [(h, r) for h in hs for r in range(restarts)]
    w_q, w_k, w_v = (torch.zeros(len(models), *shape, dtype=torch.float64)
                     for shape in ((d_q, h_max), (d_k, h_max), (h_max,)))
    for m, (h, r) in enumerate(models):                    # the same first draws as fit(..., seed=seed + r)
        g = torch.Generator().manual_seed(seed + r)
        w_q[m, :, :h] = 0.5 * torch.randn(d_q, h, generator=g, dtype=torch.float64)
        w_k[m, :, :h] = 0.5 * torch.randn(d_k, h, generator=g, dtype=torch.float64)
        w_v[m, :h] = 0.5 * torch.randn(h, generator=g, dtype=torch.float64)
    keep = torch.stack([torch.arange(h_max) < h for h, _ in models]).to(torch.float64)   # (M, h_max)
    params = [p.requires_grad_() for p in (w_q, w_k, w_v)]

    def scores():                                           # (M, n_q, n_k): one additive score per model
        q_h = (q @ (w_q * keep[:, None]))[:, :, None, :]                    # (M, n_q, 1, h_max)
        k_h = (k @ (w_k * keep[:, None]))[:, None, :, :]                    # (M, 1, n_k, h_max)
        return torch.tanh(q_h + k_h) @ (w_v * keep)[:, None, :, None]      # (M, n_q, n_k, 1)

    def losses(s):                                          # (M,): the cross-entropy of each model
        n_models, n_q, n_k = s.shape[:3]
        each = torch.nn.functional.cross_entropy(s.reshape(n_models * n_q, n_k), target.repeat(n_models),
                                                 reduction="none")
        return each.reshape(n_models, n_q).mean(dim=1)

    history = adam(params, lambda: losses(scores()), steps, lr)        # (steps, M): each model's loss
    with torch.no_grad():
        final = scores()
        final_losses = losses(final).numpy()
        final = final[..., 0]
    fits = {}
    for h in hs:
        ms = [m for m, (hh, _) in enumerate(models) if hh == h]
        m = min(ms, key=lambda i: final_losses[i])          # the best restart for this h
        fits[h] = Fit("additive", {"w_q": w_q[m, :, :h].detach().numpy().copy(),
                                   "w_k": w_k[m, :, :h].detach().numpy().copy(),
                                   "w_v": w_v[m, :h].detach().numpy().copy()},
                      final[m].numpy().copy(), float(final_losses[m]), h * (d_q + d_k + 1), history[:, m])
    return fits


def same_ranking_for_every_query(scores, tol: float = 1e-9) -> bool:
    """True if no two queries disagree on which of two keys scores higher (differences within
    ``tol`` count as ties). scores (n_q, n_k)."""
    s = np.asarray(scores, dtype=float)
    diff = s[:, :, None] - s[:, None, :]                          # (n_q, n_k, n_k): key j vs key j'
    sign = np.where(np.abs(diff) <= tol, 0, np.sign(diff))
    return not bool(np.any((sign.max(axis=0) > 0) & (sign.min(axis=0) < 0)))


# ---------------------------------------------------------------- 4. the cost
@dataclass
class Cost:
    """The work one scoring function does for n_q queries and n_k keys.

    ``flops``: multiplications + additions (one multiply-add = 2); ``tanh``: tanh evaluations;
    ``largest``: the shape of the largest array it builds."""
    name: str
    flops: int
    tanh: int
    largest: tuple

    @property
    def largest_elements(self) -> int:
        return math.prod(self.largest)


def score_costs(n_q: int, n_k: int, d: int, h: int) -> list:
    """Additive (hidden size h), multiplicative (W (d, d)) and dot-product scores, for queries and
    keys of width d (the dot product needs equal widths)."""
    check_positive_ints("score_costs", n_q=n_q, n_k=n_k, d=d, h=h)
    additive = Cost("additive  w_v . tanh(q W_q + k W_k)",
                    2 * n_q * d * h + 2 * n_k * d * h      # project the queries and the keys
                    + n_q * n_k * h                        # q_h[:, None] + k_h[None]
                    + 2 * n_q * n_k * h,                   # @ w_v
                    n_q * n_k * h, (n_q, n_k, h))
    multiplicative = Cost("multiplicative  q W k^T", 2 * n_q * d * d + 2 * n_q * n_k * d, 0, (n_q, n_k))
    dot = Cost("dot product  q k^T", 2 * n_q * n_k * d, 0, (n_q, n_k))
    return [additive, multiplicative, dot]


def time_scores(ns=(64, 128, 256, 512), d: int = 64, h: int = 64, repeats: int = 3, seed: int = 0) -> dict:
    """Wall-clock seconds (best of ``repeats``) of the additive and the dot-product scores for n
    queries and n keys, float32 numpy, h = d. Returns {"n", "additive", "dot", "agree"}: arrays
    of shape (len(ns),) and whether each additive result had the right shape and finite values."""
    rng = np.random.default_rng(seed)
    out = {"n": np.array(ns), "additive": [], "dot": [], "agree": True}
    w_q, w_k = (rng.standard_normal((d, h)).astype(np.float32) / np.float32(math.sqrt(d)) for _ in range(2))
    w_v = rng.standard_normal(h).astype(np.float32)
    for n in ns:
        q, k = (rng.standard_normal((n, d)).astype(np.float32) for _ in range(2))
        best = {"additive": math.inf, "dot": math.inf}
        for _ in range(repeats):
            t = time.perf_counter()
            s = additive_scores(q, k, w_q, w_k, w_v)
            best["additive"] = min(best["additive"], time.perf_counter() - t)
            t = time.perf_counter()
            s_dot = q @ k.T
            best["dot"] = min(best["dot"], time.perf_counter() - t)
        out["agree"] &= bool(s.shape == s_dot.shape == (n, n) and np.isfinite(s).all())
        for name in ("additive", "dot"):
            out[name].append(best[name])
    out["additive"], out["dot"] = np.array(out["additive"]), np.array(out["dot"])
    return out


# ---------------------------------------------------------------- figures
def plot_scorer(d_q: int = 4, d_k: int = 6, h: int = 3):
    """The additive scorer for one (query, key) pair as a network diagram, every box with its shape:
    q_i (d_q,) -> @ W_q -> (h,) -+-> tanh (h,) -> . w_v -> score ; k_j (d_k,) -> @ W_k -> (h,) -+."""
    from matplotlib.patches import FancyBboxPatch

    from .. import viz

    check_positive_ints("plot_scorer", d_q=d_q, d_k=d_k, h=h)
    fig, ax = viz.new_figure(width=9.6, height=2.9)
    ax.set_xlim(-0.2, 10.4)
    ax.set_ylim(-1.55, 1.6)
    ax.set_axis_off()

    def box(x, y, text, color="0.35", face="white", w=1.45):
        ax.add_patch(FancyBboxPatch((x - w / 2, y - 0.3), w, 0.6, boxstyle="round,pad=0.04", facecolor=face,
                                    edgecolor=color, linewidth=1.3))
        ax.text(x, y, text, ha="center", va="center", fontsize=9)

    def arrow(x0, y0, x1, y1, label=None):
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops={"arrowstyle": "-|>", "color": "0.3", "linewidth": 1.2, "shrinkA": 0, "shrinkB": 0})
        if label:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.1, label, ha="center", va="bottom", fontsize=8.5, color="0.25")

    for y, name, d, w in ((0.9, "q_i", d_q, "W_q"), (-0.9, "k_j", d_k, "W_k")):
        color = BLUE if name == "q_i" else RED
        box(0.75, y, f"{name}\n({d},)", color=color)
        arrow(1.5, y, 3.0, y, f"@ {w} ({d}, {h})")
        box(3.75, y, f"{name} {w}\n({h},)", color=color)
        arrow(4.5, y, 5.15, y * 0.25)
    ax.add_patch(FancyBboxPatch((5.2, -0.28), 0.56, 0.56, boxstyle="circle,pad=0", facecolor="white",
                                edgecolor="0.35", linewidth=1.3))
    ax.text(5.48, 0.0, "+", ha="center", va="center", fontsize=13)
    arrow(5.8, 0.0, 6.35, 0.0)
    box(7.05, 0.0, f"tanh\n({h},)", w=1.3)
    arrow(7.72, 0.0, 8.6, 0.0, f"· w_v ({h},)")
    box(9.55, 0.0, "score\n1 number", face="#f3f3f3", w=1.4)
    ax.text(5.2, -1.45, f"done for every (query, key) pair: an (n_q, n_k, h) hidden tensor; "
                        f"d_q = {d_q} and d_k = {d_k} never meet", ha="center", va="center", fontsize=8.5,
            color="0.3", style="italic")
    ax.set_title("The additive scorer: one hidden layer of h units per (query, key) pair")
    return fig


def plot_alignments(alignment: Alignment, panels: dict):
    """One heatmap per (title -> weights (n_q, n_k)), target words down, source words across;
    the hand-written alignment outlined in red."""
    from .. import viz

    fig, axes = viz.new_figure(len(panels), width=4.4 * len(panels), height=3.8)
    for ax, (title, w) in zip(np.atleast_1d(axes), panels.items()):
        viz.heatmap(w, alignment.target_words, alignment.source, ax=ax, title=title,
                    xlabel="source word (key)", ylabel="target word (query)", colorbar=False)
        _mark_alignment(ax, alignment)
    return fig


def _mark_alignment(ax, alignment):
    """Outline the cell (i, target[i]) of every target word, on top of the heatmap."""
    from matplotlib.patches import Rectangle

    boxes = [Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor=RED, linewidth=2.2, zorder=6)
             for i, j in enumerate(alignment.target)]
    for box in boxes:
        ax.add_patch(box)
        box.set_animated(True)        # drawn with the heatmap's (animated) image, above it, by viz.to_png
    return boxes


def plot_timing(timing: dict):
    """Log-log: seconds for the additive and the dot-product scores against n."""
    from .. import viz

    return viz.log_log(timing["n"], [(timing["additive"], "additive (builds n x n x h)", "o-", RED),
                                     (timing["dot"], "dot product q k^T", "s-", BLUE)],
                       xlabel="n queries = n keys", ylabel="seconds (best of 3)",
                       title="Scoring every pair: additive vs dot product")


# ---------------------------------------------------------------- the widget
def alignment_explorer(alignment: Alignment, fits: dict, hidden: int = 1, scale: float = 1.0):
    """Two sliders: the hidden size h (which fitted additive scorer) and a number s that scales
    w_v (weights = softmax(s * scores)); the heatmap shows the alignment they give.

    ``fits``: ``{h: Fit}`` from :func:`fit_hidden_sizes`. Returns an ``Interactive``.
    """
    from .. import viz, widgets

    hs = sorted(fits)
    if not hs or hidden not in fits:
        raise ValueError(f"alignment_explorer: hidden={hidden!r} is not one of the fitted sizes {hs}.")

    def setup(fig):
        ax = fig.add_subplot()
        hm = viz.heatmap(fits[hidden].weights(scale), alignment.target_words, alignment.source, ax=ax,
                         title="Additive attention weights (outlined: the alignment asked for)",
                         xlabel="source word (key)", ylabel="target word (query)", colorbar_label="attention weight")
        _mark_alignment(ax, alignment)
        return hm

    def update(hm, hidden, scale):
        f = fits[int(hidden)]
        w = f.weights(scale)
        hm.update(w)
        top = ["/".join(alignment.source[j] for j in np.flatnonzero(row >= row.max() - 1e-6)) for row in w]  # ties: a/b
        right = w[np.arange(len(alignment.target)), alignment.target]
        units = f"{int(hidden)} hidden unit{'s' if int(hidden) != 1 else ''}"
        lines = [f"h = {units} ({f.n_params} parameters), w_v scaled by {scale:.2f}",
                 (f"{f.n_correct(alignment, scale)} of {len(alignment.target)} target words give their source "
                  f"word the largest weight; weight on it: mean {right.mean():.2f}")]
        if np.ptp(w, axis=-1).max() < 1e-9:
            lines.append("all weights equal: with w_v = 0 every score is 0")
        else:
            lines.append("largest weight: " + ", ".join(f"{t} -> {s}" for t, s in zip(alignment.target_words, top)))
        if same_ranking_for_every_query(f.scores):
            lines.append("every query ranks the keys in the same order")
        return "\n".join(lines)

    return widgets.Interactive(setup, update, figsize=(6.4, 4.2),
                               hidden=widgets.slider(hs[0], hs[-1], 1, hidden, "hidden size h"),
                               scale=widgets.slider(0.0, 2.0, 0.05, scale, "w_v scale s"))
