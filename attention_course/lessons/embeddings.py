"""Lesson 02: words as vectors.

A toy, hand-made embedding table (each column is a feature we chose and named
ourselves), similarity by dot product and cosine, nearest neighbours, and a
2-D map of the words by projecting onto the two main directions of the table
(numpy's SVD, i.e. principal component analysis).

Real embeddings are learned and their hundreds of dimensions have no names;
the arithmetic below is the same.
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

_TOY_ROWS = {
    #            alive  wild  size  food  royal  machine
    "kitten":   (0.9, -0.6, -0.8,  0.0,  0.0,  0.0),
    "cat":      (0.9, -0.4, -0.5,  0.0,  0.1,  0.0),
    "dog":      (0.9, -0.5, -0.2,  0.0,  0.0,  0.0),
    "wolf":     (0.9,  0.8,  0.0,  0.0,  0.0,  0.0),
    "lion":     (0.9,  0.9,  0.5,  0.0,  0.4,  0.0),
    "mouse":    (0.8,  0.3, -1.0,  0.0,  0.0,  0.0),
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

def plot_map(table: EmbeddingTable, projection: Projection | None = None, ax=None,
             title="The words on a 2-D map"):
    """Scatter of every word at its 2-D coordinates, labelled; returns (fig, ax, coords, projection)."""
    from .. import viz

    coords, projection = project_2d(table.vectors, projection)
    if ax is None:
        fig, ax = viz.new_figure(width=6.0, height=4.6)
    else:
        fig = ax.get_figure(root=True)
    ax.scatter(coords[:, 0], coords[:, 1], s=22, color="#3b75af", zorder=2)
    ax.set_xlabel(f"axis 1 ({describe_axis(projection, table.features, 0)})")
    ax.set_ylabel(f"axis 2 ({describe_axis(projection, table.features, 1)})")
    ax.set_title(title)
    ax.margins(0.15)
    ax.autoscale_view()                      # fix the limits first: label placement measures in pixels
    _label_points(ax, table.words, coords, fontsize=8)
    return fig, ax, coords, projection


def _label_points(ax, words, coords, fontsize=8, **kwargs):
    """Write each word next to its point, nudging labels apart where points are close.

    Deterministic and greedy, in the order given: each label takes the first of a few spots
    around its point (right-above, right-below, left-above, left-below, right, left, above,
    below, then one line further up or down) whose box, estimated in pixels from the axes'
    current limits and size, overlaps no label already placed and no other point; if every
    spot is taken, the one with the least overlap. Words on the same spot (king, queen) end
    up one above the other. Set the axes limits before calling this.
    """
    from matplotlib.textpath import TextPath

    coords = np.asarray(coords, dtype=float).reshape(-1, 2)
    px = ax.get_figure(root=True).dpi / 72.0                  # pixels per point
    points = ax.transData.transform(coords)
    gap, height, dot = 2.5, fontsize * 1.2, 2.5                # points; dot: half a plotted point
    # (horizontal side, vertical side, extra lines): +1 right/above, -1 left/below, 0 centred
    spots = [(1, 1, 0), (1, -1, 0), (-1, 1, 0), (-1, -1, 0), (1, 0, 0), (-1, 0, 0),
             (0, 1, 0), (0, -1, 0), (1, 1, 1), (1, -1, 1)]
    boxes = []                                                # placed labels, pixels (x0, y0, x1, y1)

    def overlap(box, others):
        x0, y0, x1, y1 = box
        return sum(max(0.0, min(x1, b[2]) - max(x0, b[0])) * max(0.0, min(y1, b[3]) - max(y0, b[1]))
                   for b in others)

    for i, (word, (x, y)) in enumerate(zip(words, coords)):
        width = TextPath((0, 0), word, size=fontsize).get_extents().width + 1.0
        obstacles = boxes + [(qx - dot * px, qy - dot * px, qx + dot * px, qy + dot * px)
                             for j, (qx, qy) in enumerate(points) if j != i]
        best = None
        for side, updown, lines in spots:
            dx = side * (gap + (1.0 if updown == 0 else 0.0))
            dy = updown * (gap + lines * height)
            x0 = points[i, 0] + (dx - width * (1 - side) / 2) * px
            y0 = points[i, 1] + (dy - height * (1 - updown) / 2) * px
            box = (x0, y0, x0 + width * px, y0 + height * px)
            cost = overlap(box, obstacles)
            if best is None or cost < best[0]:
                best = (cost, box, dx, dy, side, updown)
            if cost == 0:
                break
        _, box, dx, dy, side, updown = best
        boxes.append(box)
        ax.annotate(word, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=fontsize,
                    ha={1: "left", 0: "center", -1: "right"}[side],
                    va={1: "bottom", 0: "center", -1: "top"}[updown], **kwargs)


def _reachable_box(projection: Projection, low: float = -1.0, high: float = 1.0):
    """The map's bounding box of every vector whose features all lie in [low, high].

    The map is linear, so the extremes are at corners of that feature box (2^d of them);
    per axis the maximum is (centre - mean) . a + half-width * sum|a| and the minimum the
    same with a minus, which is what projecting all corners and taking min/max gives.
    Returns ``(xmin, xmax), (ymin, ymax)``.
    """
    centre = np.full(projection.mean.shape, (low + high) / 2.0)
    middle = projection.transform(centre)
    reach = (high - low) / 2.0 * np.abs(projection.axes).sum(axis=1)
    return tuple((float(m - r), float(m + r)) for m, r in zip(middle, reach))


# --- Widget: move a word's features -------------------------------------------------------------

def feature_explorer(table: EmbeddingTable, word: str = "cat", k: int = 3):
    """Pick a word, move its features with sliders; its neighbours and map position follow.

    The map's axes stay those of the original table, so only the edited word moves.
    Returns an ``attention_course.widgets.Interactive``; ``.set(word=..., size=...)`` drives it.
    """
    import ipywidgets as W
    from matplotlib.transforms import ScaledTranslation

    from .. import viz, widgets

    table.index(word)
    coords, projection = project_2d(table.vectors)
    names = table.features
    for name in names:
        if not name.isidentifier():
            raise ValueError(f"feature_explorer: feature names must be Python identifiers, got {name!r}.")

    def setup(fig):
        ax_map, ax_bars = fig.subplots(1, 2, width_ratios=[1.1, 1.0])
        ax_map.scatter(coords[:, 0], coords[:, 1], s=16, color="0.6", zorder=2)
        # Limits that hold every position the sliders can reach (all features in [-1, 1]),
        # so the edited word never leaves the map; set before the labels, which measure in pixels.
        (x0, x1), (y0, y1) = _reachable_box(projection, -1.0, 1.0)
        ax_map.set_xlim(x0 - 0.1 * (x1 - x0), x1 + 0.2 * (x1 - x0))     # room for a label on the right
        ax_map.set_ylim(y0 - 0.08 * (y1 - y0), y1 + 0.08 * (y1 - y0))
        _label_points(ax_map, table.words, coords, fontsize=7, color="0.35")
        state = {
            "links": [ax_map.plot([], [], "-", color=viz.HIGHLIGHT, linewidth=1, alpha=0.6)[0] for _ in range(k)],
            "before": ax_map.plot([], [], "o", markersize=11, markerfacecolor="none", markeredgecolor="0.2")[0],
            "after": ax_map.plot([], [], "o", markersize=8, color=viz.HIGHLIGHT, zorder=4)[0],
            # just above the dot (an offset in points, whatever the zoom), on a white patch so
            # it stays readable over the grey labels it passes
            "label": ax_map.text(0, 0, "", fontsize=9, fontweight="bold", color=viz.HIGHLIGHT, zorder=5,
                                 ha="center", va="bottom",
                                 transform=ax_map.transData + ScaledTranslation(0, 7 / 72, fig.dpi_scale_trans),
                                 bbox=dict(boxstyle="round,pad=0.1", facecolor="white", edgecolor="none",
                                           alpha=0.8)),
        }
        ax_map.set_xlabel("map axis 1")
        ax_map.set_ylabel("map axis 2")
        ax_map.set_title("Where the word lands (ring: before)")
        state["bars"] = viz.bars(np.zeros(len(table.words)), list(table.words), ax=ax_bars, ylim=(-1.1, 1.25),
                                 title="cosine with each word's original vector", ylabel="cosine similarity")
        return state

    def update(state, word, **features):
        vector = np.array([features[name] for name in names])
        i = table.index(word)
        xy, xy0 = projection.transform(vector), coords[i]
        state["before"].set_data([xy0[0]], [xy0[1]])
        state["after"].set_data([xy[0]], [xy[1]])
        state["label"].set_position((xy[0], xy[1]))
        state["label"].set_text(word)
        bars = state["bars"]
        if not np.any(vector):
            bars.update(np.zeros(len(table.words)))
            for line in state["links"]:
                line.set_data([], [])
            return f"{word}: every feature is 0 - a zero vector has no direction, so it has no cosine with anything."
        cosines = np.array([cosine_similarity(vector, v) for v in table.vectors])
        bars.update(cosines)
        neighbours = nearest_neighbours(table, word, k=k, vector=vector)
        chosen = {table.index(w) for w, _ in neighbours}
        for j, patch in enumerate(bars.patches):
            patch.set_color(viz.HIGHLIGHT if j in chosen else ("0.55" if j == i else "#3b75af"))
        for line, (w, _) in zip(state["links"], neighbours):
            xj, yj = coords[table.index(w)]
            line.set_data([xy[0], xj], [xy[1], yj])
        features_text = ", ".join(f"{name} {features[name]:+.2f}" for name in names)
        near = ", ".join(f"{w} {s:.2f}" for w, s in neighbours)
        return (f"{word} = [{features_text}]\n"
                f"nearest by cosine: {near}\n"
                f"map position ({xy[0]:+.2f}, {xy[1]:+.2f}), was ({xy0[0]:+.2f}, {xy0[1]:+.2f}); "
                f"cosine with its original vector {cosines[i]:.2f}")

    start = table.vector(word)
    word_control = W.Dropdown(options=list(table.words), value=word, description="word")
    sliders = {name: widgets.slider(-1.0, 1.0, 0.05, round(float(x), 2), name) for name, x in zip(names, start)}
    holder = {}

    def sync_sliders(change):                # picking a word loads its features into the sliders
        explorer = holder.get("explorer")
        if explorer is not None:
            explorer.set(**{name: float(x) for name, x in zip(names, table.vector(change["new"]))})

    word_control.observe(sync_sliders, names="value")     # registered first: runs before the redraw
    explorer = widgets.Interactive(setup, update, figsize=(10.0, 4.8), word=word_control, **sliders)
    holder["explorer"] = explorer
    return explorer
