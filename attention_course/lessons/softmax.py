"""Lesson 04 (``04_softmax.ipynb``): what can go wrong with softmax, and how sharp it is.

The course's softmax itself lives in ``attention_course.softmax`` (``ac.softmax``).
This module holds the lesson's data and experiments around it:

- ``it_scores``: the scores the query of "it" got in lesson 03, the lesson's running example;
- ``naive_softmax``: the textbook formula without subtracting the maximum, which
  overflows to NaN for large scores (the lesson shows why ``ac.softmax`` doesn't);
- ``entropy`` / ``effective_choices`` / ``inverse_sum_squares``: how spread out a distribution
  is (lesson 05 counts with the last one);
- ``logit_gaps``: read scores back from weights (softmax forgets only a constant);
- ``saturation`` / ``plot_saturation`` / ``random_scores``: as scores grow, softmax becomes
  one-hot and its gradient vanishes; why that happens to raw dot products of long vectors.
  These are the experiments lesson 06 runs too (``attention_course.experiments``).
"""
from __future__ import annotations

import numpy as np

from .._backend import as_numbers
from ..experiments import (effective_choices, entropy, inverse_sum_squares, plot_saturation,  # noqa: F401
                           random_scores, saturation, softmax_jacobian_norm)                 # (shared)
from ..softmax import softmax

#: "The animal didn't cross the street because it was too tired", the sentence of lesson 03.
IT_TOKENS = ("the", "animal", "didn't", "cross", "the", "street", "because", "it", "was", "too", "tired")
#: The query of "it" scored against every word there (lesson 03's hand-made vectors).
IT_SCORES = (-0.5, 2.0, -0.4, 0.0, -0.5, 1.0, -0.5, 0.55, -0.4, -0.5, 0.6)


def it_scores():
    """The running example: ``(tokens, scores)``, 11 words and the (11,) scores of "it" against them.

    Lesson 03 computed these as dot products of the query of "it" with each word's key; here
    they are stored so this lesson needs no other lesson's module (a test keeps them equal).
    """
    return list(IT_TOKENS), np.array(IT_SCORES)


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


# --- pictures and the widget (matplotlib/ipywidgets are imported only when these are called) ---------

def plot_scores_and_weights(scores, tokens):
    """Two bar charts side by side: the scores (any sign) and softmax(scores) (all > 0, sum 1).

    Shapes: scores (n,), tokens n labels. Returns the matplotlib figure.
    """
    from .. import viz

    scores = as_numbers("plot_scores_and_weights", "scores", scores, ndim=1)
    tokens = list(tokens)
    if len(tokens) != scores.size:
        raise ValueError(f"plot_scores_and_weights: {scores.size} scores but {len(tokens)} tokens.")
    fig, (ax_s, ax_w) = viz.new_figure(2, width=9.6, height=3.4)
    viz.bars(scores, tokens, ax=ax_s, ylabel="score", title="Scores: any sign, any size")
    weights = softmax(scores)
    viz.bars(weights, tokens, ax=ax_w, ylim=(0, max(0.5, 1.15 * float(weights.max()))), ylabel="weight",
             title=f"softmax(scores): all > 0, sum = {weights.sum():.0f}")
    for ax in (ax_s, ax_w):
        ax.set_xlabel("key word")
    return fig


def _uniform_marks(ax, n):
    """The uniform share 1/n as short red dashes in the gaps between n bars (and at both ends), so
    the line never runs through a bar's printed value (bars of width 0.7 sit at 0..n-1)."""
    gaps = np.arange(-1, n) + 0.5                            # x of each gap's centre
    ax.hlines(np.full(n + 1, 1 / n), gaps - 0.12, gaps + 0.12, color="#c62828", lw=1.5,
              label=f"uniform share: 1/{n}")


def temperature_explorer(scores, tokens, temperature: float = 1.0, t_min: float = 0.05, t_max: float = 5.0):
    """A temperature slider over a bar chart of softmax(scores / T), one bar per token.

    Shapes: scores (n,), tokens n labels. The text under the chart gives the largest
    weight, the "effective number of choices" exp(entropy) (and 1 / sum w^2, lesson 05's
    count), and checks that the order of the weights is still the order of the scores.
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
        _uniform_marks(ax, n)
        ax.legend(loc="upper right", fontsize=8)
        ax.set_xlabel("key word")
        return chart

    def update(chart, temperature):
        w = softmax(scores, temperature=temperature)
        chart.update(w)
        top = int(np.argmax(w))
        same_order = bool(np.all(np.diff(w[order]) <= 1e-12))
        return (f"largest weight {w[top]:.2f} on '{tokens[top]}'; smallest {w.min():.3f}\n"
                f"spread: as if choosing evenly among {float(effective_choices(w)):.1f} of {n} words "
                f"(e^H; 1/sum w^2 = {float(inverse_sum_squares(w)):.1f})\n"
                f"weights in the same order as the scores: {same_order}")

    return widgets.Interactive(setup, update, figsize=(7.2, 3.8),
                               temperature=widgets.slider(t_min, t_max, 0.05, float(temperature), "temperature T"))
