"""Lesson 02: words as vectors.

An embedding is a lookup table: a matrix E (n_words, d) whose row ``E[token_id]`` is a word's
vector. Indexing a row is the same as multiplying a one-hot row by E, and it is exactly what
``torch.nn.Embedding`` does; in a model E is learned, here it is filled by hand. The toy table
has six features we chose and named ourselves. Then: similarity by dot product and cosine
(E E^T holds every pairwise dot product, the same product as attention's Q K^T), nearest
neighbours, and a 2-D map of the words (the table's two main directions, by numpy's SVD).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..vectors import cosine_similarity, dot  # looked at closely in lesson 03

FEATURES = ("alive", "wild", "size", "food", "royal", "machine")
"""The meaning of each column of ``TOY_TABLE``; every value lies in [-1, 1].

alive: +1 living creature, 0 not applicable; wild: -1 tame ... +1 wild;
size: -1 tiny ... +1 huge; food: +1 you eat it; royal: +1 belongs to royalty;
machine: +1 built, has an engine or wheels."""

_TOY_ROWS = {       # in groups, so that each group is one block of the cosine matrix
    #            alive  wild  size  food  royal  machine
    "kitten":   (0.9, -0.6, -0.8,  0.0,  0.0,  0.0),
    "cat":      (0.9, -0.4, -0.5,  0.0,  0.1,  0.0),
    "dog":      (0.9, -0.5, -0.2,  0.0,  0.0,  0.0),
    "mouse":    (0.8,  0.3, -1.0,  0.0,  0.0,  0.0),
    "wolf":     (0.9,  0.8,  0.0,  0.0,  0.0,  0.0),
    "lion":     (0.9,  0.9,  0.5,  0.0,  0.4,  0.0),
    "king":     (0.8,  0.0,  0.1,  0.0,  1.0,  0.0),
    "queen":    (0.8,  0.0,  0.1,  0.0,  1.0,  0.0),
    "crown":    (0.0,  0.0, -0.6,  0.0,  0.9,  0.0),
    "apple":    (0.0,  0.0, -0.6,  0.9,  0.0,  0.0),
    "bread":    (0.0,  0.0, -0.4,  0.9,  0.0,  0.1),
    "cheese":   (0.0,  0.0, -0.5,  0.8,  0.0,  0.0),
    "bicycle":  (0.0,  0.0, -0.1,  0.0,  0.0,  0.6),
    "car":      (0.0,  0.0,  0.3,  0.0,  0.0,  1.0),
    "bus":      (0.0,  0.0,  0.8,  0.0,  0.0,  1.0),
}


@dataclass(frozen=True)
class EmbeddingTable:
    """A vocabulary and its vectors.

    words    tuple of n_words strings
    vectors  (n_words, d) float array, row i is the vector of ``words[i]``
    features tuple of d names, one per column
    """

    words: tuple
    vectors: np.ndarray
    features: tuple

    def __post_init__(self):
        vectors = np.asarray(self.vectors, dtype=float)
        if vectors.ndim != 2 or vectors.shape != (len(self.words), len(self.features)):
            raise ValueError(
                f"EmbeddingTable: vectors must have shape (n_words, d) = ({len(self.words)}, {len(self.features)}), "
                f"got {vectors.shape}.")
        if len(set(self.words)) != len(self.words):
            raise ValueError("EmbeddingTable: words must be unique.")
        vectors.setflags(write=False)
        object.__setattr__(self, "vectors", vectors)
        object.__setattr__(self, "words", tuple(self.words))
        object.__setattr__(self, "features", tuple(self.features))

    def index(self, word: str) -> int:
        """Row number of ``word``; a ``KeyError`` lists the known words if it is missing."""
        try:
            return self.words.index(word)
        except ValueError:
            raise KeyError(f"{word!r} is not in the table; known words: {', '.join(self.words)}") from None

    def ids(self, words) -> np.ndarray:
        """Token ids (row numbers in ``vectors``) of ``words``: (len(words),) ints."""
        return np.array([self.index(w) for w in words], dtype=np.int64)

    def vector(self, word: str) -> np.ndarray:
        """The (d,) vector of ``word`` (a copy, safe to modify)."""
        return self.vectors[self.index(word)].copy()

    def with_vector(self, word: str, vector) -> "EmbeddingTable":
        """A new table in which ``word`` has ``vector`` (d,) instead; this table is unchanged."""
        vector = np.asarray(vector, dtype=float)
        if vector.shape != (len(self.features),):
            raise ValueError(f"with_vector: vector must have shape ({len(self.features)},), got {vector.shape}.")
        vectors = self.vectors.copy()
        vectors[self.index(word)] = vector
        return EmbeddingTable(self.words, vectors, self.features)

    def rows(self):
        """(word, vector) pairs, for printing."""
        return list(zip(self.words, self.vectors))

    def to_text(self) -> str:
        """The table as aligned text: one row per word, one column per feature."""
        width = max(len(w) for w in self.words)
        cols = [max(len(f), 5) for f in self.features]
        head = " " * width + "  " + "  ".join(f"{f:>{c}}" for f, c in zip(self.features, cols))
        lines = [f"{w:<{width}}  " + "  ".join(f"{x:>{c}.2f}" for x, c in zip(v, cols)) for w, v in self.rows()]
        return "\n".join([head, *lines])


def toy_table() -> EmbeddingTable:
    """The lesson's hand-made table: 15 words x 6 named features (see ``FEATURES``)."""
    return EmbeddingTable(tuple(_TOY_ROWS), np.array(list(_TOY_ROWS.values())), FEATURES)


def one_hot(ids, vocab_size: int) -> np.ndarray:
    """One row per id with a single 1 in column ``id``: ids (n,) -> (n, vocab_size) floats.

    ``one_hot(ids, n_words) @ E`` picks the rows ``E[ids]``: a lookup is a matrix product."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer) or np.any((ids < 0) | (ids >= vocab_size)):
        raise ValueError(f"one_hot: ids must be a 1-D array of integers in [0, {vocab_size - 1}], got {ids!r}.")
    return np.eye(vocab_size)[ids]


def torch_embedding(table: "EmbeddingTable"):
    """A ``torch.nn.Embedding(n_words, d)`` whose weight is the table's E (float64, trainable)."""
    import torch

    return torch.nn.Embedding.from_pretrained(torch.tensor(table.vectors), freeze=False)


def cosine_matrix(vectors) -> np.ndarray:
    """All pairwise cosines: vectors (n, d) -> (n, n), entry [i, j] = cos(row i, row j)."""
    vectors = np.asarray(vectors, dtype=float)
    if vectors.ndim != 2:
        raise ValueError(f"cosine_matrix: vectors must be (n, d), got shape {vectors.shape}.")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("cosine_matrix: a row is the zero vector, which has no direction.")
    unit = vectors / norms
    return np.clip(unit @ unit.T, -1.0, 1.0)


def nearest_neighbours(table: EmbeddingTable, word: str, k: int = 3, vector=None, measure: str = "cosine"):
    """The ``k`` words most similar to ``word`` (``word`` itself excluded), best first.

    ``vector`` (d,) replaces the word's own vector (to ask "what if the word moved here?").
    ``measure`` is "cosine" or "dot". Returns a list of (word, similarity) pairs.
    """
    if measure not in ("cosine", "dot"):
        raise ValueError(f"nearest_neighbours: measure must be 'cosine' or 'dot', got {measure!r}.")
    i = table.index(word)
    query = table.vectors[i] if vector is None else np.asarray(vector, dtype=float)
    if query.shape != (table.vectors.shape[1],):
        raise ValueError(f"nearest_neighbours: vector must have shape ({table.vectors.shape[1]},), got {query.shape}.")
    if not 1 <= k <= len(table.words) - 1:
        raise ValueError(f"nearest_neighbours: k must be between 1 and {len(table.words) - 1}, got {k}.")
    score = cosine_similarity if measure == "cosine" else dot
    scored = [(w, score(query, v)) for j, (w, v) in enumerate(table.rows()) if j != i]
    scored.sort(key=lambda pair: -pair[1])      # stable: ties keep table order
    return scored[:k]


@dataclass(frozen=True)
class Projection:
    """A linear map from d dimensions down to k, found by SVD.

    mean      (d,)    subtracted first, so the map is centred on the table
    axes      (k, d)  orthonormal rows: the k directions along which the table varies most
    explained (k,)    fraction of the table's total variance each axis keeps
    """

    mean: np.ndarray
    axes: np.ndarray
    explained: np.ndarray

    def transform(self, vectors) -> np.ndarray:
        """vectors (n, d) or (d,) -> coordinates (n, k) or (k,): (x - mean) @ axes.T"""
        vectors = np.asarray(vectors, dtype=float)
        if vectors.shape[-1] != self.mean.shape[0]:
            raise ValueError(f"Projection.transform: vectors must end in d={self.mean.shape[0]}, got {vectors.shape}.")
        return (vectors - self.mean) @ self.axes.T


def fit_projection(vectors, k: int = 2) -> Projection:
    """Principal axes of ``vectors`` (n, d) by SVD of the centred table.

    centred = vectors - mean = U S V^T; the first k rows of V^T are the axes.
    Each axis's sign is fixed (its largest entry is positive) so the map does
    not flip between numpy versions.
    """
    vectors = np.asarray(vectors, dtype=float)
    if vectors.ndim != 2 or vectors.shape[0] < 2:
        raise ValueError(f"fit_projection: vectors must be (n, d) with n >= 2, got shape {vectors.shape}.")
    if not 1 <= k <= min(vectors.shape):
        raise ValueError(f"fit_projection: k must be between 1 and {min(vectors.shape)}, got {k}.")
    mean = vectors.mean(axis=0)
    _, s, vt = np.linalg.svd(vectors - mean, full_matrices=False)
    axes = vt[:k].copy()
    signs = np.sign(axes[np.arange(k), np.argmax(np.abs(axes), axis=1)])
    axes *= signs[:, None]
    variance = s ** 2
    total = variance.sum()
    explained = variance[:k] / total if total > 0 else np.zeros(k)
    return Projection(mean, axes, explained)


def project_2d(vectors, projection: Projection | None = None):
    """2-D map coordinates of ``vectors`` (n, d) -> ``(coords (n, 2), projection)``.

    With ``projection=None`` the axes are fitted to ``vectors``; pass an earlier
    projection to place new vectors on an existing map.
    """
    projection = fit_projection(vectors, k=2) if projection is None else projection
    return projection.transform(vectors), projection


def describe_axis(projection: Projection, features, axis: int, top: int = 2) -> str:
    """Which named features an axis mostly mixes, e.g. '+0.71 machine, -0.52 alive'."""
    weights = projection.axes[axis]
    order = np.argsort(-np.abs(weights))[:top]
    return ", ".join(f"{weights[j]:+.2f} {features[j]}" for j in order)


# --- Figures (matplotlib is imported only when you draw) ----------------------------------

DIAL_WORDS = ("kitten", "dog", "mouse", "wolf", "lion")
_SCALES = {"alive": "0 no … 1 living", "wild": "−1 tame … +1 wild", "size": "−1 tiny … +1 huge",
           "food": "0 no … 1 you eat it", "royal": "0 no … 1 royal", "machine": "0 no … 1 built"}


def plot_two_dials(table: EmbeddingTable, features=("wild", "size"), words=DIAL_WORDS):
    """Two of the table's features of a few words, as arrows from the origin: words whose dials are set
    alike point the same way. Pets in blue, wild animals in red, anything else grey. Returns the Figure."""
    from .. import viz

    columns = [table.features.index(f) for f in features]
    vectors = np.array([table.vector(w)[columns] for w in words])        # (len(words), 2)
    colors = ["#3b75af" if w in ("kitten", "cat", "dog") else "#c62828" if w in ("wolf", "lion") else "0.45"
              for w in words]
    fig, ax = viz.new_figure(width=4.6, height=4.2)
    viz.arrows(vectors, list(words), ax=ax, colors=colors, limit=1.3, title="Two of the dials, for five animals",
               xlabel=f"{features[0]} ({_SCALES[features[0]]})", ylabel=f"{features[1]} ({_SCALES[features[1]]})")
    return fig


def _axis_label(projection: Projection, features, axis: int) -> str:
    return (f"map axis {axis + 1}: {projection.explained[axis]:.0%} of the variance "
            f"({describe_axis(projection, features, axis)})")


def plot_map(table: EmbeddingTable, projection: Projection | None = None, ax=None,
             title="The words on a 2-D map"):
    """Every word at its 2-D coordinates, labelled; returns (fig, ax, coords, projection).

    Each axis label says how much of the table's variance that axis keeps and which features it mixes most."""
    from .. import viz

    coords, projection = project_2d(table.vectors, projection)
    chart = viz.scatter(coords, table.words, ax=ax if ax is not None else viz.new_figure(width=6.4, height=4.6)[1],
                        title=title, xlabel=_axis_label(projection, table.features, 0),
                        ylabel=_axis_label(projection, table.features, 1))
    return chart.fig, chart.ax, coords, projection


# --- Widget: move a word's features -------------------------------------------------------------

def feature_explorer(table: EmbeddingTable, word: str = "cat", k: int = 3):
    """Pick a word, move its features with sliders; its neighbours and map position follow.

    The map's axes stay those of the original table, so only the edited word moves (a position
    beyond the map's edge is drawn on the edge). *Reset* puts the current word back to its row of
    the table. Returns an ``attention_course.widgets.Interactive``; ``.set(word=..., size=...)`` drives it.
    """
    import ipywidgets as W

    from .. import viz, widgets

    table.index(word)
    coords, projection = project_2d(table.vectors)
    names = table.features
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    lo, hi = lo - 0.45 * (hi - lo), hi + 0.45 * (hi - lo)          # the map: the words and room around them

    def setup(fig):
        ax_map, ax_bars = fig.subplots(1, 2, width_ratios=[1.15, 1.0])
        word_map = viz.scatter(coords, table.words, ax=ax_map, xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]),
                               title="Where the word lands (ring: before)", color="0.6", size=16, fontsize=7,
                               label_color="0.35", xlabel="map axis 1", ylabel="map axis 2")
        bars = viz.bars(np.zeros(len(table.words)), list(table.words), ax=ax_bars, ylim=(-1.1, 1.25),
                        title="cosine with each word's original vector", ylabel="cosine similarity")
        return word_map, bars

    def update(state, word, **features):
        word_map, bars = state
        vector, i = np.array([features[name] for name in names]), table.index(word)
        xy = projection.transform(vector)
        hide_own_label(word_map, i)                               # the word is labelled in orange, at its dot
        word_map.move(np.clip(xy, lo, hi), word, origin=coords[i])
        edge = " (beyond the map's edge: drawn on it)" if np.any((xy < lo) | (xy > hi)) else ""
        if not np.any(vector):
            bars.update(np.zeros(len(table.words)))
            word_map.link([])
            return f"{word}: every feature is 0 - a zero vector has no direction, so it has no cosine with anything."
        cosines = np.array([cosine_similarity(vector, v) for v in table.vectors])
        neighbours = nearest_neighbours(table, word, k=k, vector=vector)
        chosen = [table.index(w) for w, _ in neighbours]
        bars.update(cosines)
        for j, patch in enumerate(bars.patches):
            patch.set_color(viz.HIGHLIGHT if j in chosen else ("0.55" if j == i else "#3b75af"))
        word_map.link(chosen)
        return (f"{word} = [{', '.join(f'{name} {features[name]:+.2f}' for name in names)}]\n"
                f"nearest by cosine: {', '.join(f'{w} {s:.2f}' for w, s in neighbours)}\n"
                f"map position ({xy[0]:+.2f}, {xy[1]:+.2f}){edge}, was ({coords[i][0]:+.2f}, {coords[i][1]:+.2f}); "
                f"cosine with its original vector {cosines[i]:.2f}")

    def hide_own_label(word_map, i):
        texts = word_map.texts                                    # the grey labels, one per word
        texts.set_items([("" if j == i else w) for j, w in enumerate(table.words)], coords, texts.colors,
                        va=texts.vas, offset=texts.offsets, ha=texts.has)

    def features_of(w):
        return {name: round(float(x), 2) for name, x in zip(names, table.vector(w))}

    word_control = W.Dropdown(options=list(table.words), value=word, description="word")
    sliders = {name: widgets.slider(-1.0, 1.0, 0.05, x, name) for name, x in features_of(word).items()}
    explorer = None

    def load_word(change):                   # picking a word loads its features (and makes them the reset point)
        if explorer is not None:
            explorer.defaults.update(word=change["new"], **features_of(change["new"]))
            explorer.set(**features_of(change["new"]))

    word_control.observe(load_word, names="value")       # registered first: runs before the redraw
    explorer = widgets.Interactive(setup, update, figsize=(10.0, 4.8), reset=True, word=word_control, **sliders)
    return explorer
