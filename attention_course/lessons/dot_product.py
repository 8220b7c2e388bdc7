"""Lesson 03: the dot product — how attention measures "how much does this key match my query?".

Two views of one number:

    a . b = sum_i a_i * b_i            (algebra: multiply matching entries, add up)
          = |a| |b| cos(theta)         (geometry: lengths times the cosine of the angle)

A query scored against every key at once is one matrix-vector product, and every query
against every key one matrix product:

    scores = K @ q        K (n_k, d_k), q (d_k,)  ->  scores (n_k,)
    S = Q @ K.T           Q (n_q, d_k), K (n_k, d_k) -> S (n_q, n_k), row i = K @ q_i

Everything here is numpy; inputs may be lists or arrays.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._backend import as_numbers
from ..vectors import _two_vectors, cosine_similarity, dot, norm  # noqa: F401 (the core's, shown in this lesson)


def angle_between(a, b, degrees: bool = True) -> float:
    """The angle theta between a and b (0..180 degrees, or 0..pi radians).

    Same as acos(cosine_similarity(a, b)), computed in a form that stays accurate
    for nearly parallel vectors: theta = 2 atan2(| a|b| - b|a| |, | a|b| + b|a| |).
    """
    a, b = _two_vectors("angle_between", a, b)
    len_a, len_b = norm(a), norm(b)
    if len_a == 0 or len_b == 0:
        raise ValueError("angle_between: a zero vector has no direction, so its angle is undefined.")
    theta = 2 * math.atan2(norm(a * len_b - b * len_a), norm(a * len_b + b * len_a))
    return math.degrees(theta) if degrees else theta


def vector_2d(length: float, angle_deg: float) -> np.ndarray:
    """The 2-D vector with the given length, pointing ``angle_deg`` degrees
    anticlockwise from the x-axis.  Returns shape (2,)."""
    if not (math.isfinite(length) and length >= 0):
        raise ValueError(f"vector_2d: length must be a finite number >= 0, got {length!r}.")
    if not math.isfinite(angle_deg):
        raise ValueError(f"vector_2d: angle_deg must be a finite number of degrees, got {angle_deg!r}.")
    t = math.radians(angle_deg)
    return np.array([length * math.cos(t), length * math.sin(t)])


def dot_from_geometry(length_a: float, length_b: float, angle_deg: float) -> float:
    """|a| |b| cos(theta): the dot product computed from lengths and the angle alone."""
    return float(length_a * length_b * math.cos(math.radians(angle_deg)))


def query_scores(q, keys) -> np.ndarray:
    """Score one query against every key: scores[j] = q . keys[j].

    Shapes: q (d_k,), keys (n_k, d_k) -> scores (n_k,), one score per key.
    """
    q, keys = _query_and_keys(q, keys)
    return keys @ q                    # (n_k, d_k) @ (d_k,) -> (n_k,): row j of keys dotted with q


def _query_and_keys(q, keys):
    q = as_numbers("query_scores", "q", q, ndim=1)
    keys = as_numbers("query_scores", "keys", keys)
    if keys.ndim != 2:
        raise ValueError("query_scores: keys must be a matrix (n_k, d_k) with one key per row, "
                         f"got shape {keys.shape}.")
    if keys.shape[1] != q.shape[0]:
        raise ValueError(
            f"query_scores: each key must have as many entries as the query: q is {q.shape} "
            f"(d_k = {q.shape[0]}) but keys is {keys.shape} (d_k = {keys.shape[1]})."
        )
    return q, keys


# --- "Which word is this word about?" -------------------------------------------------
# Hand-made vectors for a small example. Each column is a feature we made up so the
# numbers can be read; real models learn hundreds of unnamed features instead.
FEATURES = ("noun", "living", "place", "action", "grammar")

WORD_FEATURES = {
    #            noun  living place action grammar
    "the":      (0.0,  0.0,  0.0,  0.0,  1.0),
    "animal":   (1.0,  1.0,  0.0,  0.0,  0.0),
    "didn't":   (0.0,  0.0,  0.0,  0.5,  0.8),
    "cross":    (0.0,  0.0,  0.0,  1.0,  0.0),
    "street":   (1.0,  0.0,  1.0,  0.0,  0.0),
    "because":  (0.0,  0.0,  0.0,  0.0,  1.0),
    "it":       (0.8,  0.0,  0.0,  0.0,  0.5),
    "was":      (0.0,  0.0,  0.0,  0.3,  0.8),
    "too":      (0.0,  0.0,  0.0,  0.0,  1.0),
    "tired":    (0.0,  0.6,  0.0,  0.3,  0.0),
    "wide":     (0.0,  0.0,  0.6,  0.0,  0.0),
}

# What "it" is looking for, depending on how the sentence ends: a tired thing is
# alive; a wide thing is a place. Both want a noun and avoid grammar words.
IT_QUERIES = {
    #          noun  living place action grammar
    "tired": (1.0,  1.0,  0.0,  0.0, -0.5),
    "wide":  (1.0,  0.0,  1.0,  0.0, -0.5),
}


@dataclass(frozen=True)
class WhichWord:
    """One query word scored against every word of its sentence.

    tokens   n_k words of the sentence
    keys     (n_k, d_k) one row per word: what that word offers
    query    (d_k,) what ``tokens[query_index]`` is looking for
    features d_k names of the columns
    """

    tokens: tuple
    keys: np.ndarray
    query: np.ndarray
    query_index: int
    features: tuple = FEATURES

    @property
    def scores(self) -> np.ndarray:
        """(n_k,) the query's score against each word."""
        return query_scores(self.query, self.keys)

    @property
    def best(self) -> str:
        """The word with the highest score."""
        return self.tokens[int(np.argmax(self.scores))]


def which_word_example(ending: str = "tired") -> WhichWord:
    """"The animal didn't cross the street because it was too <ending>": the query of
    "it" scored against every word.  ``ending`` is "tired" (it = the animal) or
    "wide" (it = the street)."""
    if ending not in IT_QUERIES:
        raise ValueError(f"which_word_example: ending must be one of {sorted(IT_QUERIES)}, got {ending!r}.")
    tokens = ("the", "animal", "didn't", "cross", "the", "street", "because", "it", "was", "too", ending)
    keys = np.array([WORD_FEATURES[t] for t in tokens], dtype=np.float64)
    return WhichWord(tokens=tokens, keys=keys, query=np.array(IT_QUERIES[ending], dtype=np.float64),
                     query_index=tokens.index("it"))


# What a few other words look for (hand-made, like everything here): "didn't" looks for its
# action, "cross" for the thing crossed, the last word for what it describes.
OTHER_QUERIES = {
    #             noun  living place action grammar
    "didn't":   (0.0,  0.0,  0.0,  1.0,  0.0),
    "cross":    (0.5,  0.0,  1.0,  0.0,  0.0),
    "tired":    (0.5,  1.0,  0.0,  0.0,  0.0),
    "wide":     (0.5,  0.0,  1.0,  0.0,  0.0),
}


@dataclass(frozen=True)
class AllQueries:
    """Several query words of one sentence, each scored against every word at once.

    tokens (n_k,) the sentence;  keys (n_k, d_k);  query_words (n_q,);  queries (n_q, d_k), row i is
    what ``query_words[i]`` looks for.  ``scores`` = queries @ keys.T, (n_q, n_k).
    """

    tokens: tuple
    keys: np.ndarray
    query_words: tuple
    queries: np.ndarray
    features: tuple = FEATURES

    @property
    def scores(self) -> np.ndarray:
        """(n_q, n_k): entry [i, j] = query i . key j."""
        return self.queries @ self.keys.T             # (n_q, d_k) @ (d_k, n_k) -> (n_q, n_k)


def all_queries_example(ending: str = "tired") -> AllQueries:
    """Four query words of "The animal didn't cross the street because it was too <ending>":
    didn't, cross, it and the last word, with the same keys as ``which_word_example``."""
    one = which_word_example(ending)
    words = ("didn't", "cross", "it", ending)
    queries = np.array([IT_QUERIES[ending] if w == "it" else OTHER_QUERIES[w] for w in words], dtype=np.float64)
    return AllQueries(one.tokens, one.keys, words, queries)


# --- pictures and the widget (matplotlib/ipywidgets are imported only when these are called) ---------

def _sign_words(value: float, length_a: float = 1.0, length_b: float = 1.0, tol: float = 1e-9) -> str:
    if length_a == 0 or length_b == 0:
        return "zero: a vector of length 0 scores 0 against anything"
    if value > tol:
        return "positive: b leans the same way as a"
    if value < -tol:
        return "negative: b leans away from a"
    return "zero: b is perpendicular to a"


def _f(x: float) -> str:
    """x with 2 decimals, never '-0.00'."""
    return f"{round(float(x), 9) + 0.0:.2f}"


BLUE, GREEN, GREY, RED, SHADOW = "#3b75af", "#2e7d32", "#757575", "#c62828", "#e69f00"


WINDS = (("tailwind", "helps (+)", ((0.1, 0.4), (0.9, 0.4))),
         ("crosswind", "neither (0)", ((0.5, 0.85), (0.5, 0.12))),
         ("headwind", "holds you back (−)", ((0.9, 0.4), (0.1, 0.4))))
"""(name, effect, (tail, head)) of each wind in the intuition picture; you always walk from (0, 0) to (1, 0)."""


def plot_wind(winds=WINDS):
    """The intuition: three panels, in each you walk east (black) and a wind of the same strength blows
    (coloured): with you, across you, against you. Returns the Figure."""
    from .. import viz

    fig, axes = viz.new_figure(len(winds), width=2.6 * len(winds), height=2.2)
    for ax, (name, effect, (tail, head)), color in zip(np.atleast_1d(axes), winds, [GREEN, GREY, RED]):
        ax.annotate("", xy=(1.0, 0.0), xytext=(0.0, 0.0), arrowprops=dict(arrowstyle="-|>", lw=2.5, color="black"))
        ax.annotate("", xy=head, xytext=tail, arrowprops=dict(arrowstyle="-|>", lw=2.5, color=color))
        ax.text(0.5, -0.12, "you walk", ha="center", va="top", fontsize=8)
        (x0, y0), (x1, y1) = tail, head
        ax.text(max(x0, x1) + 0.06, (y0 + y1) / 2, "wind", ha="left", va="center", fontsize=8, color=color)
        ax.set_xlim(-0.15, 1.3)
        ax.set_ylim(-0.35, 0.95)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(f"{name}: {effect}", fontsize=9, color=color)
    return fig


def plot_sign_and_size(angles=(30, 90, 150), lengths=(0.5, 1.0, 2.0)):
    """Two panels: arrows b at a few angles to a fixed unit a, labelled with a . b;
    and a . b against the angle for b of several lengths. Returns the Figure."""
    from .. import viz

    fig, (left, right) = viz.new_figure(2, width=9.6, height=3.8)
    a = vector_2d(1.0, 0.0)
    bs = [vector_2d(1.0, angle) for angle in angles]
    viz.arrows([a, *bs], ["a", *(f"{angle}°\na·b = {dot(a, b):+.2f}" for angle, b in zip(angles, bs))], ax=left,
               colors=["black", GREEN, GREY, RED][:1 + len(angles)], xlim=(-1.5, 1.6), ylim=(-0.4, 1.6),
               title="Unit vectors b at three angles to a")
    theta = np.linspace(0, 360, 361)
    viz.lines(theta, [[dot_from_geometry(1.0, length, t) for t in theta] for length in lengths],
              [f"|b| = {length:g}" for length in lengths], ax=right, styles=[":", "-", "--"][:len(lengths)],
              colors=[BLUE] * len(lengths), xticks=range(0, 361, 90), title="a · b = |a||b| cos θ",
              xlabel="angle θ between a and b (degrees)", ylabel="a · b   (|a| = 1)", legend=None)
    right.axhline(0, color="0.3", lw=0.8)
    right.axvspan(90, 270, color=RED, alpha=0.08, label="negative (90° < θ < 270°)")
    right.legend(loc="upper center", fontsize=8)
    return fig


def plot_query_scores(*examples: WhichWord):
    """One bar chart per example: the query word's score against every word (query word in orange)."""
    from .. import viz

    fig, axes = viz.new_figure(len(examples), width=5.2 * len(examples), height=3.6)
    axes = np.atleast_1d(axes)
    for ax, ex in zip(axes, examples):
        chart = viz.bars(ex.scores, list(ex.tokens), ax=ax, ylim=(-1.0, 2.5), ylabel="score  q · k",
                         title=f"'it' in '... too {ex.tokens[-1]}'")
        chart.patches[ex.query_index].set_color(viz.HIGHLIGHT)
        chart.patches[int(np.argmax(ex.scores))].set_color(GREEN)
        ax.set_xlabel("key word (green: highest score, orange: the query word itself)")
    return fig


def plot_all_scores(ex: AllQueries):
    """Heatmap of every query word's scores against every word: (n_q, n_k), colours centred on 0."""
    from .. import viz

    n_q, n_k = ex.scores.shape
    return viz.heatmap(ex.scores, ex.query_words, ex.tokens, vmin=-2, vmax=2, cmap="RdBu_r",
                       title=f"Q Kᵀ: {n_q} queries x {n_k} keys", xlabel=f"key word ({n_k} keys)",
                       ylabel=f"query word ({n_q} queries)", colorbar_label="score  q · k")


_SHADOW_OFFSET = 0.25


def dot_product_explorer(angle: float = 60.0, length_a: float = 2.0, length_b: float = 1.5):
    """Sliders for the angle between a and b and for both lengths.

    Left: the two arrows and b's shadow on a's direction (signed length |b| cos θ), drawn just below
    a's line. Right: a . b against the angle for the current lengths, a dot at the current angle.
    The text under it works the product out both ways: sum of products and |a||b| cos θ.
    """
    from .. import viz, widgets

    theta = np.linspace(0, 360, 181)

    def setup(fig):
        left, right = fig.subplots(1, 2)
        plane = viz.arrows([[1, 0], [0, 1]], ["a", "b"], ax=left, colors=["black", BLUE], limit=3.7,
                           title="a (black) and b (blue)")
        (shadow,) = left.plot([], [], color=SHADOW, lw=7, solid_capstyle="butt", zorder=2,
                              label="b's shadow on a: |b| cos θ (drawn just below)")
        (drop,) = left.plot([], [], ":", color="0.4")
        left.legend(loc="lower left", fontsize=7)
        curve = viz.lines(theta, np.zeros_like(theta), ax=right, colors=[BLUE], dots=True, ylim=(-9.5, 9.5),
                          xticks=range(0, 361, 90), xlabel="angle θ (degrees)", ylabel="a · b",
                          title="a · b = |a||b| cos θ", legend=None)
        right.axhline(0, color="0.3", lw=0.8)
        right.set_xlim(0, 360)
        return plane, shadow, drop, curve

    def update(state, angle, length_a, length_b):
        plane, shadow, drop, curve = state
        a, b = vector_2d(length_a, 0.0), vector_2d(length_b, angle)
        plane.update([a, b])
        shadow.set_data([0, b[0]], [-_SHADOW_OFFSET, -_SHADOW_OFFSET])
        drop.set_data([b[0], b[0]], [-_SHADOW_OFFSET, b[1]])
        curve.update(length_a * length_b * np.cos(np.radians(theta)))
        value = dot(a, b)
        curve.mark(angle, [value])
        geometry = dot_from_geometry(length_a, length_b, angle)
        return (f"a = [{_f(a[0])}, {_f(a[1])}],  b = [{_f(b[0])}, {_f(b[1])}]\n"
                f"sum of products:  {_f(a[0])} × {_f(b[0])} + {_f(a[1])} × {_f(b[1])} = {_f(value)}\n"
                f"|a||b| cos θ:     {_f(length_a)} × {_f(length_b)} × cos({angle:g}°) = {_f(geometry)}\n"
                f"sign: {_sign_words(value, length_a, length_b)}")

    return widgets.Interactive(
        setup, update, figsize=(9.0, 4.0),
        angle=widgets.slider(0, 360, 5, int(angle), "angle θ (°)"),
        length_a=widgets.slider(0.0, 3.0, 0.1, float(length_a), "|a|"),
        length_b=widgets.slider(0.0, 3.0, 0.1, float(length_b), "|b|"),
    )
