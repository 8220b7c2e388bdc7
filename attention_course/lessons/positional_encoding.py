"""Lesson 10 (notebooks/10_positional_encoding.ipynb): where a token is.

1. Attention is order-blind: permute the tokens and the outputs are permuted the same way,
   so "dog bites man" and "man bites dog" give the same set of outputs. Adding a position
   code to each token breaks the tie.
2. Sinusoidal codes: each pair of columns is a clock hand turning at its own speed; the
   dot product PE[p] . PE[q] depends only on p - q; PE[p + k] = M_k PE[p] with one
   block-diagonal rotation M_k for every p.
3. Learned absolute positions (a table with one row per position) stop at the table's length.
4. Rotary embeddings (RoPE) turn q and k instead of adding a vector: the score of a query
   at m and a key at n depends only on m - n.

Every vector here is seeded or built from a formula; nothing is trained.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._backend import check_positive_ints
from ..attention import scaled_dot_product_attention, self_attention
from ..positional import apply_rope, sinusoidal_positional_encoding

BASE = 10000.0
BLUE, ORANGE, GREY = "#3b75af", "#ff7f0e", "0.55"


# ---------------------------------------------------------------- 1. attention is order-blind
def word_vectors(words=("dog", "bites", "man"), d_model: int = 8, seed: int = 0) -> dict:
    """A made-up embedding per word: ``{word: (d_model,) array}``, seeded N(0, 1) entries.

    They stand for any embeddings; what matters here is only that a word always gets the same
    vector, wherever it stands in the sentence.
    """
    check_positive_ints("word_vectors", d_model=d_model)
    rng = np.random.default_rng(seed)
    return {w: rng.standard_normal(d_model) for w in dict.fromkeys(words)}


def attention_weights(d_model: int = 8, d_k: int = 4, seed: int = 1):
    """Seeded projections ``(w_q, w_k, w_v)`` of one self-attention layer: (d_model, d_k) each,
    w_v (d_model, d_model), entries N(0, 1/d_model)."""
    check_positive_ints("attention_weights", d_model=d_model, d_k=d_k)
    rng = np.random.default_rng(seed)
    scale = 1 / math.sqrt(d_model)
    return (rng.standard_normal((d_model, d_k)) * scale, rng.standard_normal((d_model, d_k)) * scale,
            rng.standard_normal((d_model, d_model)) * scale)


def sentence_matrix(sentence: str, vectors: dict, with_positions: bool = False):
    """The sentence's token vectors stacked: (n, d_model); ``with_positions`` adds PE[0..n-1]."""
    tokens = sentence.split()
    missing = [t for t in tokens if t not in vectors]
    if missing:
        raise ValueError(f"sentence_matrix: no vector for {missing}; known words: {sorted(vectors)}.")
    x = np.stack([vectors[t] for t in tokens])                       # (n, d_model)
    if with_positions:
        x = x + sinusoidal_positional_encoding(*x.shape)             # token + its position's code
    return x


@dataclass
class OrderTest:
    """Self-attention of two orderings of the same words.

    ``outputs_a`` (n, d), ``outputs_b`` (n, d): one row per token of each sentence.
    ``word_gap``: for each word, the largest |difference| between its output row in the two
    sentences. ``sentence_gap``: the same for the mean of the rows (a whole-sentence summary).
    """
    tokens_a: list
    tokens_b: list
    outputs_a: np.ndarray
    outputs_b: np.ndarray
    word_gap: dict
    sentence_gap: float

    @property
    def same_set_of_outputs(self) -> bool:
        """Every word's output row is the same (to 1e-12) in both sentences."""
        return max(self.word_gap.values()) < 1e-12


def compare_orders(a: str = "dog bites man", b: str = "man bites dog", with_positions: bool = False,
                   d_model: int = 8, seed: int = 0) -> OrderTest:
    """Run the same self-attention layer on two sentences made of the same words, once each."""
    vectors = word_vectors(tuple(a.split()) + tuple(b.split()), d_model=d_model, seed=seed)
    if sorted(a.split()) != sorted(b.split()) or len(set(a.split())) != len(a.split()):
        raise ValueError(f"compare_orders: the two sentences must reorder the same distinct words, got {a!r}, {b!r}.")
    w_q, w_k, w_v = attention_weights(d_model, seed=seed + 1)
    out_a, _ = self_attention(sentence_matrix(a, vectors, with_positions), w_q, w_k, w_v)
    out_b, _ = self_attention(sentence_matrix(b, vectors, with_positions), w_q, w_k, w_v)
    ta, tb = a.split(), b.split()
    gap = {w: float(np.abs(out_a[ta.index(w)] - out_b[tb.index(w)]).max()) for w in ta}
    return OrderTest(ta, tb, out_a, out_b, gap, float(np.abs(out_a.mean(0) - out_b.mean(0)).max()))


def permutation_gap(n: int = 6, d: int = 8, seed: int = 0, with_positions: bool = False) -> float:
    """max |attention(P x) - P attention(x)| for a random order P of n random tokens.

    About 1e-16 without positions (attention is permutation-equivariant); clearly larger when
    each token gets the code of the place it lands on.
    """
    check_positive_ints("permutation_gap", n=n, d=d)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    order = rng.permutation(n)
    pe = sinusoidal_positional_encoding(n, d) if with_positions else np.zeros((n, d))
    y, y_perm = x + pe, x[order] + pe                                # positions stay where they are
    out, _ = scaled_dot_product_attention(y, y, y)
    out_perm, _ = scaled_dot_product_attention(y_perm, y_perm, y_perm)
    return float(np.abs(out_perm - out[order]).max())


# ---------------------------------------------------------------- 2. sinusoidal codes
def frequencies(d_model: int, base: float = BASE) -> np.ndarray:
    """omega_i = 1 / base^(2i / d_model) for i = 0 .. d_model/2 - 1: (d_model/2,) radians per position."""
    check_positive_ints("frequencies", d_model=d_model)
    return 1.0 / base ** (np.arange(0, d_model, 2) / d_model)


def wavelengths(d_model: int, base: float = BASE) -> np.ndarray:
    """Positions per full turn of each pair: 2 pi / omega_i = 2 pi base^(2i / d_model), (d_model/2,)."""
    return 2 * np.pi / frequencies(d_model, base)


def shift_matrix(k, d_model: int, base: float = BASE) -> np.ndarray:
    """M_k (d_model, d_model), block-diagonal, with PE[p + k] = M_k @ PE[p] for every p.

    Block i acts on the column pair (sin, cos) of frequency omega_i:
        [ sin((p+k) w) ]   [  cos(k w)  sin(k w) ] [ sin(p w) ]
        [ cos((p+k) w) ] = [ -sin(k w)  cos(k w) ] [ cos(p w) ]
    (the angle-addition formulas). It is built from k and d_model only: p does not appear.
    """
    check_positive_ints("shift_matrix", d_model=d_model)
    if d_model % 2:
        raise ValueError(f"shift_matrix: d_model must be even (pairs of columns), got {d_model}.")
    m = np.zeros((d_model, d_model))
    for i, w in enumerate(frequencies(d_model, base)):
        c, s = math.cos(k * w), math.sin(k * w)
        m[2 * i:2 * i + 2, 2 * i:2 * i + 2] = [[c, s], [-s, c]]
    return m


def shift_errors(offsets=(1, 5, 20, 100), d_model: int = 16, n_positions: int = 1000) -> dict:
    """For each k: max over p of |M_k PE[p] - PE[p + k]|, p = 0 .. n_positions - 1.

    One matrix per k, checked at every p: ``{k: max error}``.
    """
    pe = sinusoidal_positional_encoding(n_positions + max(offsets), d_model)
    return {k: float(np.abs(pe[:n_positions] @ shift_matrix(k, d_model).T - pe[k:k + n_positions]).max())
            for k in offsets}


@dataclass
class DotProfile:
    """PE[p] . PE[q] for all p, q < n: ``matrix`` (n, n); grouped by the offset p - q:
    ``offsets`` (2n-1,), ``values`` (2n-1,) (one per offset), ``spread`` (2n-1,) (max - min over
    the pairs with that offset), ``formula`` (2n-1,) = sum_i cos(offset * omega_i)."""
    matrix: np.ndarray
    offsets: np.ndarray
    values: np.ndarray
    spread: np.ndarray
    formula: np.ndarray

    def at(self, offset: int) -> float:
        """The value at the offset ``offset`` (p - q, or m - n for a score grid)."""
        where = np.flatnonzero(self.offsets == offset)
        if where.size == 0:
            n = self.matrix.shape[0]
            raise ValueError(f"at: offset must be an integer from -{n - 1} to {n - 1}, got {offset!r}.")
        return float(self.values[where[0]])


def dot_profile(n_positions: int = 64, d_model: int = 32) -> DotProfile:
    """Dot products of every pair of codes, grouped by the distance between the positions."""
    check_positive_ints("dot_profile", n_positions=n_positions, d_model=d_model)
    if d_model % 2:
        raise ValueError(f"dot_profile: d_model must be even (whole sin/cos pairs), got {d_model}.")
    pe = sinusoidal_positional_encoding(n_positions, d_model)
    matrix = pe @ pe.T                                               # (n, n)
    # sin(pw) sin(qw) + cos(pw) cos(qw) = cos((p - q) w), summed over the pairs
    return _by_offset(matrix, lambda k: np.cos(np.multiply.outer(k, frequencies(d_model))).sum(-1))


def _by_offset(matrix, formula=None) -> DotProfile:
    n = matrix.shape[0]
    offsets = np.arange(-(n - 1), n)
    diagonals = [np.diagonal(matrix, -k) for k in offsets]           # entries (p, q) with p - q = k
    values = np.array([d[0] for d in diagonals])
    spread = np.array([np.ptp(d) for d in diagonals])
    return DotProfile(matrix, offsets, values, spread,
                      formula(offsets) if formula is not None else np.full(len(offsets), np.nan))


# ---------------------------------------------------------------- 3. learned absolute positions
def learned_position_table(max_len: int = 8, d_model: int = 4, seed: int = 0):
    """A learned position table as in BERT and GPT-2: ``torch.nn.Embedding(max_len, d_model)``,
    one trainable row per position 0 .. max_len - 1 (seeded; untrained here)."""
    import torch

    check_positive_ints("learned_position_table", max_len=max_len, d_model=d_model)
    torch.manual_seed(seed)
    return torch.nn.Embedding(max_len, d_model)


# ---------------------------------------------------------------- 4. RoPE
@dataclass
class ScoreGrid:
    """Scores of one query vector placed at every position m against one key vector placed at
    every position n: ``scores`` (n_pos, n_pos); ``profile`` groups them by m - n."""
    scores: np.ndarray
    profile: DotProfile

    @property
    def worst_spread(self) -> float:
        """The largest difference between two scores with the same offset m - n."""
        return float(self.profile.spread.max())

    def at(self, offset: int) -> float:
        """The score at m - n = ``offset``."""
        return self.profile.at(offset)


def score_grid(kind: str = "rope", n_positions: int = 48, d: int = 16, seed: int = 0) -> ScoreGrid:
    """``kind="rope"``: scores apply_rope(q)[m] . apply_rope(k)[n];
    ``kind="added"``: scores (q + PE[m]) . (k + PE[n]), the sinusoidal code added to both;
    ``kind="none"``: q . k at every (m, n), no positions at all."""
    if kind not in ("rope", "added", "none"):
        raise ValueError(f"score_grid: kind must be 'rope', 'added' or 'none', got {kind!r}.")
    q, k = query_key(d, seed)
    qs, ks = np.tile(q, (n_positions, 1)), np.tile(k, (n_positions, 1))     # (n_pos, d): the same vector everywhere
    if kind == "rope":
        qs, ks = apply_rope(qs), apply_rope(ks)                               # turned by their positions
    elif kind == "added":
        pe = sinusoidal_positional_encoding(n_positions, d)
        qs, ks = qs + pe, ks + pe
    scores = qs @ ks.T                                                        # (m, n)
    return ScoreGrid(scores, _by_offset(scores))


def query_key(d: int = 16, seed: int = 0):
    """One seeded query vector and one key vector, (d,) each, N(0, 1) entries."""
    check_positive_ints("query_key", d=d)
    rng = np.random.default_rng(seed)
    return rng.standard_normal(d), rng.standard_normal(d)


def relative_check(n_pairs: int = 10000, max_position: int = 4096, d: int = 64, seed: int = 0) -> float:
    """max over random (m, n, shift) of |score(m, n) - score(m + shift, n + shift)| with RoPE,
    for ``n_pairs`` random position pairs up to ``max_position`` (and random q, k per pair)."""
    check_positive_ints("relative_check", n_pairs=n_pairs, max_position=max_position, d=d)
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((2, n_pairs, 1, d))
    m, n = rng.integers(0, max_position, (2, n_pairs, 1))
    shift = rng.integers(-max_position, max_position, (n_pairs, 1))
    s = (apply_rope(q, m) * apply_rope(k, n)).sum((-2, -1))
    s_shift = (apply_rope(q, m + shift) * apply_rope(k, n + shift)).sum((-2, -1))
    return float(np.abs(s - s_shift).max())


def rope_by_complex_numbers(x, positions=None, base: float = BASE):
    """RoPE as complex multiplication: pair i is z_i = x[2i] + 1j x[2i+1]; at position p it
    becomes z_i * exp(1j p omega_i) (a turn by p omega_i). x (..., n, d) -> the same shape."""
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape[-2:]
    p = np.arange(n) if positions is None else np.asarray(positions, dtype=np.float64)
    z = x[..., 0::2] + 1j * x[..., 1::2]                                       # (..., n, d/2) complex
    z = z * np.exp(1j * p[..., None] * frequencies(d, base))                    # each pair turned
    return np.stack([z.real, z.imag], axis=-1).reshape(x.shape)               # back to interleaved reals


# ---------------------------------------------------------------- figures
def plot_orders(result: OrderTest, title: str):
    """The outputs of both sentences side by side, one row per token (labelled), one column per
    output feature; one shared colour scale. Without positions B's rows are A's rows reordered."""
    from .. import viz

    fig, axes = viz.new_figure(2, width=10.0, height=2.5)
    lim = float(max(np.abs(result.outputs_a).max(), np.abs(result.outputs_b).max()))
    features = [str(j) for j in range(result.outputs_a.shape[1])]
    panels = ((result.tokens_a, result.outputs_a), (result.tokens_b, result.outputs_b))
    for i, (ax, (tokens, out)) in enumerate(zip(axes, panels)):
        viz.heatmap(out, tokens, features, ax=ax, vmin=-lim, vmax=lim, cmap="RdBu_r", fmt="{:.2f}",
                    xlabel="output feature", ylabel="token" if i == 0 else "", title=f'"{" ".join(tokens)}"',
                    colorbar=i == 1, colorbar_label="output value")
        ax.tick_params(axis="x", labelrotation=0)
    fig.suptitle(title, fontsize=10)
    return fig


def plot_encoding(n_positions: int = 64, d_model: int = 32):
    """Heatmap of PE (positions down, columns across), red = +1, blue = -1."""
    from .. import viz

    pe = sinusoidal_positional_encoding(n_positions, d_model)
    fig, ax = viz.new_figure(width=7.6, height=5.2)
    hm = viz.heatmap(pe, None, None, ax=ax, annotate=False, vmin=-1, vmax=1, cmap="RdBu_r",
                     colorbar_label="PE[p, j]", xlabel="column j (even j: sin, odd j: cos)", ylabel="position p",
                     title=f"Sinusoidal codes PE[p, j], {n_positions} positions x d_model = {d_model}")
    ax.xaxis.set_major_locator(_ticks(8))
    ax.yaxis.set_major_locator(_ticks(8))
    ax.tick_params(axis="x", labelrotation=0)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("center")
    return hm.fig


def _ticks(n):
    import matplotlib as mpl

    return mpl.ticker.MaxNLocator(n, integer=True)


class Clocks:
    """Clock faces on one Axes; a hand for the pair (s, c) = (sin a, cos a) points at angle a,
    measured clockwise from 12 o'clock (so position 0, where sin = 0 and cos = 1, is 12 o'clock).

    ``centres`` (n, 2) in data units; ``update(*hands)`` takes one (n, 2) array of (sin, cos)
    per hand colour given at construction.
    """

    def __init__(self, ax, centres, colors=(BLUE,), radius=0.42, widths=None):
        from matplotlib.collections import LineCollection
        from matplotlib.patches import Circle

        from .. import viz

        self.centres = np.asarray(centres, dtype=float)
        self.radius = radius
        faces = [Circle(tuple(c), radius, facecolor="white", edgecolor="0.6", linewidth=1.0) for c in self.centres]
        for face in faces:
            ax.add_patch(face)
        ticks = LineCollection([[(x, y + radius), (x, y + 0.8 * radius)] for x, y in self.centres],
                               colors="0.6", linewidths=1.0)
        ax.add_collection(ticks)
        viz.static(*faces, ticks)
        widths = widths or [2.6] * len(colors)
        self.hands = []
        for color, width in zip(colors, widths):
            lines = LineCollection([], colors=color, linewidths=width, capstyle="round", zorder=3)
            ax.add_collection(lines)
            self.hands.append(lines)
        ax.set_aspect("equal")
        ax.set_axis_off()

    def update(self, *hands):
        for lines, sc in zip(self.hands, hands):
            sc = np.asarray(sc, dtype=float)
            tips = self.centres + 0.9 * self.radius * sc                  # x = sin, y = cos
            lines.set_segments(np.stack([self.centres, tips], axis=1))
        return self


def plot_clocks(positions=(0, 1, 2, 3, 10, 50), d_model: int = 16):
    """A grid of clocks: one row per position p, one column per pair i; hand i shows
    (PE[p, 2i], PE[p, 2i+1]) = (sin, cos) of p * omega_i."""
    from .. import viz

    positions = list(positions)
    pe = sinusoidal_positional_encoding(max(positions) + 1, d_model)
    n_pairs, n_rows = d_model // 2, len(positions)
    fig, ax = viz.new_figure(width=1.0 + 0.85 * n_pairs, height=1.2 + 0.8 * n_rows)
    centres = np.array([(i, -r) for r in range(n_rows) for i in range(n_pairs)], dtype=float)
    clocks = Clocks(ax, centres)
    hands = np.array([[pe[p, 2 * i], pe[p, 2 * i + 1]] for p in positions for i in range(n_pairs)])
    clocks.update(hands)
    for r, p in enumerate(positions):
        ax.text(-0.65, -r, f"p = {p}", ha="right", va="center")
    for i, lam in enumerate(wavelengths(d_model)):
        ax.text(i, 0.62, f"pair {i}\n{_fmt_length(lam)}", ha="center", va="bottom", fontsize=7.5)
    ax.set_xlim(-1.5, n_pairs - 0.45)
    ax.set_ylim(-n_rows + 0.45, 1.25)
    ax.set_title("Each column pair is a clock hand (its wavelength, in positions, above it)")
    return fig


def _fmt_length(lam):
    return f"{lam:.1f}" if lam < 100 else f"{lam:,.0f}"


def plot_dot_profile(profile: DotProfile, d_model: int):
    """Left: the matrix PE[p] . PE[q] (sequential colours: all positive here). Right: the same numbers
    against p - q, with the formula."""
    from .. import viz

    fig, (ax_m, ax_p) = viz.new_figure(2, width=10.0, height=4.0)
    viz.heatmap(profile.matrix, None, None, ax=ax_m, annotate=False, vmin=None, vmax=None, cmap="viridis",
                colorbar_label="PE[p] . PE[q]", xlabel="position q", ylabel="position p", title="PE[p] . PE[q]")
    for axis in (ax_m.xaxis, ax_m.yaxis):
        axis.set_major_locator(_ticks(8))
    ax_m.tick_params(axis="x", labelrotation=0)
    n = profile.matrix.shape[0]
    p, q = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    ax_p.plot((p - q).ravel(), profile.matrix.ravel(), "o", color=BLUE, markersize=3, alpha=0.3,
              label=f"all {n * n} pairs (p, q)")
    ax_p.plot(profile.offsets, profile.formula, "-", color=ORANGE, linewidth=1.2,
              label="sum_i cos((p - q) w_i)")
    ax_p.set_xlabel("offset p - q")
    ax_p.set_ylabel("PE[p] . PE[q]")
    ax_p.set_title(f"Same offset, same value (d_model = {d_model})")
    ax_p.legend(fontsize=8, loc="lower center")
    return fig


def plot_shift_matrix(k: int, d_model: int = 8):
    """M_k as a heatmap: 2x2 rotation blocks on the diagonal, zeros elsewhere (printed to 2 decimals)."""
    from .. import viz

    fig, ax = viz.new_figure(width=5.4, height=4.4)
    labels = [f"{'sin' if j % 2 == 0 else 'cos'}{j // 2}" for j in range(d_model)]
    shown = np.round(shift_matrix(k, d_model), 2) + 0.0            # + 0.0: no "-0.00"
    viz.heatmap(shown, labels, labels, ax=ax, vmin=-1, vmax=1, cmap="RdBu_r", colorbar_label="entry of M_k",
                xlabel="column of PE[p]", ylabel="column of PE[p + k]", title=f"M_k for k = {k}")
    return fig


def _frame(ax, n):
    """A grey square around an (n, n) heatmap, so its white (zero) cells do not melt into the page.

    Drawn with the animated layer above the heatmap's image (``viz.to_png`` paints animated
    artists over the static background, so a static frame would be hidden under the image)."""
    from matplotlib.patches import Rectangle

    frame = Rectangle((-0.5, -0.5), n, n, fill=False, edgecolor="0.45", linewidth=1.0, clip_on=False, zorder=6)
    ax.add_patch(frame)
    frame.set_animated(True)
    return frame


def plot_score_grids(grids: dict):
    """One heatmap per ScoreGrid: {title: grid}; stripes along the diagonals = depends on m - n only.
    Sequential colours (the scores have no meaningful zero here), each panel on its own scale."""
    from .. import viz

    fig, axes = viz.new_figure(len(grids), width=4.6 * len(grids), height=4.2)
    for ax, (title, grid) in zip(np.atleast_1d(axes), grids.items()):
        viz.heatmap(grid.scores, None, None, ax=ax, annotate=False, vmin=None, vmax=None, cmap="viridis",
                    colorbar_label="score", xlabel="key position n", ylabel="query position m", title=title)
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(_ticks(6))
        ax.tick_params(axis="x", labelrotation=0)
    return fig


# ---------------------------------------------------------------- the widget
def position_explorer(d_model: int = 16, position: int = 3, offset: int = 2, max_position: int = 100,
                      max_offset: int = 50):
    """Two sliders: the position p (the code PE[p] as bars and as clock hands) and the offset k
    (the rotation M_k, and the hands of M_k PE[p], which land on PE[p + k]).

    Returns an ``attention_course.widgets.Interactive`` with controls ``position`` and ``offset``.
    """
    from .. import viz, widgets

    check_positive_ints("position_explorer", d_model=d_model, max_position=max_position, max_offset=max_offset)
    if d_model % 2:
        raise ValueError(f"position_explorer: d_model must be even, got {d_model}.")
    pe = sinusoidal_positional_encoding(max_position + max_offset + 1, d_model)
    mats = np.stack([shift_matrix(k, d_model) for k in range(max_offset + 1)])     # (max_offset + 1, d, d)
    n_pairs = d_model // 2
    omega = frequencies(d_model)

    def setup(fig):
        grid = fig.add_gridspec(2, 2, width_ratios=[1.6, 1.0], height_ratios=[1.25, 1.0])
        ax_bars, ax_m, ax_clocks = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, :])
        labels = [f"{'s' if j % 2 == 0 else 'c'}{j // 2}" for j in range(d_model)]
        bars = viz.bars(pe[position], labels, ax=ax_bars, ylim=(-1.3, 1.3), title="PE[p] as bars")
        ax_bars.set_xlabel("column (s_i = sin, c_i = cos of pair i)")
        heat = viz.heatmap(mats[offset], None, None, ax=ax_m, annotate=False, vmin=-1, vmax=1, cmap="RdBu_r",
                           xlabel="", ylabel="", title="M_k (red +1, blue -1, white 0)", colorbar=False)
        ax_m.set_xticks([])
        ax_m.set_yticks([])
        _frame(ax_m, d_model)
        centres = np.column_stack([np.arange(n_pairs) * 1.15, np.zeros(n_pairs)])
        clocks = Clocks(ax_clocks, centres, colors=(BLUE, ORANGE), widths=(3.0, 1.6))
        for i, c in enumerate(centres):
            viz.static(ax_clocks.text(c[0], -0.62, f"pair {i}", ha="center", va="top", fontsize=8))
        ax_clocks.set_xlim(-0.6, centres[-1, 0] + 0.6)
        ax_clocks.set_ylim(-0.8, 0.5)
        ax_clocks.set_title("hands: blue = PE[p], orange = M_k PE[p] (= PE[p + k])", fontsize=9)
        return {"bars": bars, "heat": heat, "clocks": clocks}

    def update(state, position, offset):
        p, k = int(position), int(offset)
        code = pe[p]
        moved = mats[k] @ code                                       # (d,): the code turned by M_k
        state["bars"].update(code)
        state["heat"].update(mats[k])
        state["clocks"].update(code.reshape(n_pairs, 2), moved.reshape(n_pairs, 2))
        same = bool(np.abs(moved - pe[p + k]).max() < 1e-12)
        turns = np.degrees(k * omega)                                # k * omega_i, in degrees
        return (f"p = {p}, k = {k}:  M_k PE[p] equals PE[p + k] (to 1e-12): {same}\n"
                f"M_k turns pair 0 by {turns[0]:.1f} degrees ({turns[0] % 360:.1f} after whole turns), "
                f"pair 1 by {turns[1]:.1f}, pair {n_pairs - 1} by {turns[-1]:.3f}")

    return widgets.Interactive(setup, update, figsize=(10.0, 5.0),
                               position=widgets.slider(0, max_position, 1, position, "position p"),
                               offset=widgets.slider(0, max_offset, 1, offset, "offset k"))
