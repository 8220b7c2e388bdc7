"""Lesson 05: queries, keys and values — a dictionary lookup made soft.

A Python ``dict`` answers a query only when it equals a key exactly. Attention
asks a softer question: how well does the query match *each* key? Those
matches become weights (a softmax), and the answer is the weighted average of
the values. This module holds the lesson's pieces:

- ``hard_lookup`` / ``soft_lookup``: the exact-match lookup next to the weighted one;
- the "sous la table" vectors (French keys, English values) designed for the lesson;
- Nadaraya–Watson kernel regression, attention pooling with numbers for keys (the data set
  follows the one in *Dive into Deep Learning*, d2l.ai, "Attention Pooling: Nadaraya–Watson
  Kernel Regression": y = 2 sin x + x^0.8 plus N(0, 0.5^2) noise on [0, 5]);
- why projections: with Q = K = X the scores are symmetric and a word matches itself best;
- a published worked example, "dog ate dinner" (embeddings and matrices), as named constants;
- the exercise's sentence, "birds eat seeds".

The projections themselves are the core's ``ac.project_qkv``.

Row-vector convention throughout: ``Q = X @ W_Q`` with X (n, d_model), W_Q (d_model, d_k).
"""
from __future__ import annotations

import math

import numpy as np

from .._backend import namespace
from ..attention import project_qkv  # noqa: F401 (the core's; notebooks call ac.project_qkv)
from ..experiments import effective_choices, inverse_sum_squares  # noqa: F401 (lesson 04's counts too)
from ..softmax import softmax

# --------------------------------------------------------------------------------------------
# Hard and soft lookup
# --------------------------------------------------------------------------------------------


def hard_lookup(query, keys, values):
    """Exact-match lookup, like ``dict[query]``; returns ``(value, weights)``.

    Shapes: query (d_k,), keys (n, d_k), values (n, d_v) -> value (d_v,), weights (n,).
    ``weights`` is one-hot: 1 on the key that equals ``query`` exactly, 0 elsewhere, so
    ``value = weights @ values`` is that key's row. If no key equals the query, this raises
    ``KeyError``, exactly as a dictionary does for a near miss.
    """
    query, keys, values = _check_lookup("hard_lookup", query, keys, values)
    hits = np.flatnonzero(np.all(keys == query, axis=-1))
    if hits.size == 0:
        raise KeyError(f"hard_lookup: no key equals the query {np.round(query, 3).tolist()}")
    weights = np.zeros(keys.shape[0])
    weights[hits[0]] = 1.0                      # the first match wins, as with duplicate keys in a list
    return weights @ values, weights


def soft_lookup(query, keys, values, scale=1.0):
    """Weighted lookup (attention for one query); returns ``(value, weights)``.

        scores  = scale * keys @ query          (n,)   how well the query matches each key
        weights = softmax(scores)               (n,)   >= 0, sum to 1
        value   = weights @ values              (d_v,) the weighted average of the values

    Shapes: query (d_k,), keys (n, d_k), values (n, d_v). ``scale=1.0`` is the plain dot
    product; lesson 06 explains why transformers use ``scale = 1/sqrt(d_k)``.
    """
    query, keys, values = _check_lookup("soft_lookup", query, keys, values, scale=scale)
    scores = scale * (keys @ query)             # (n,)
    weights = softmax(scores)                   # (n,)
    return weights @ values, weights            # (d_v,), (n,)


def nearest(vector, vectors, labels):
    """The label of the row of ``vectors`` closest to ``vector`` (Euclidean distance).

    Shapes: vector (d,), vectors (n, d), labels: n strings.
    """
    vector, vectors = np.asarray(vector, dtype=float), np.asarray(vectors, dtype=float)
    if vectors.ndim != 2 or vector.shape != vectors.shape[1:] or len(labels) != vectors.shape[0]:
        raise ValueError(
            f"nearest: expected vector (d,), vectors (n, d) and n labels, got vector {vector.shape}, "
            f"vectors {vectors.shape} and {len(labels)} labels."
        )
    return labels[int(np.argmin(np.linalg.norm(vectors - vector, axis=-1)))]


def _check_lookup(func, query, keys, values, scale=1.0):
    if not (isinstance(scale, (int, float)) and math.isfinite(scale)):
        raise ValueError(f"{func}: scale must be a finite number, got {scale!r}.")
    _, a = namespace(func, query=query, keys=keys, values=values)
    query, keys, values = (np.asarray(a[name], dtype=float) for name in ("query", "keys", "values"))
    if query.ndim != 1 or keys.ndim != 2 or values.ndim != 2:
        raise ValueError(
            f"{func}: expected query (d_k,), keys (n, d_k), values (n, d_v), got query {query.shape}, "
            f"keys {keys.shape}, values {values.shape}."
        )
    if keys.shape[1] != query.shape[0]:
        raise ValueError(f"{func}: query {query.shape} and keys {keys.shape} must share d_k (keys' last axis).")
    if keys.shape[0] != values.shape[0]:
        raise ValueError(f"{func}: keys {keys.shape} and values {values.shape} need one value row per key.")
    return query, keys, values


# --------------------------------------------------------------------------------------------
# "sous la table": a tiny translation dictionary as vectors (designed by hand for the lesson)
# --------------------------------------------------------------------------------------------

FRENCH = ("chat", "est", "sous", "la", "table")
ENGLISH = ("cat", "is", "under", "the", "table")

#: Keys: one row per French word, 4 hand-made features (noun-ness, verb-ness, place-word, article-ness).
FRENCH_KEYS = np.array([
    [2.0, 0.0, 0.0, 0.5],   # chat
    [0.0, 2.0, 0.0, 0.0],   # est
    [0.0, 0.5, 2.0, 0.0],   # sous
    [0.0, 0.0, 0.5, 1.5],   # la
    [1.0, 0.0, 0.0, 1.5],   # table
])

#: Values: one row per English word, a point on a 2-D "meaning map" (so the answer can be drawn).
ENGLISH_VALUES = np.array([
    [2.0, 2.5],     # cat
    [-1.5, 1.0],    # is
    [0.5, -2.0],    # under
    [-2.0, -1.0],   # the
    [2.5, -0.5],    # table
])

#: The decoder's query while translating "sous": close to the key of "sous", but not equal to it.
SOUS_QUERY = np.array([0.2, 0.3, 1.6, 0.2])


def plot_soft_lookup(query=SOUS_QUERY, scale: float = 1.0):
    """Two panels: the weights the query gives each French key, and where the weighted value
    lands among the English values on their 2-D map. Returns the matplotlib figure."""
    from .. import viz

    value, weights = soft_lookup(query, FRENCH_KEYS, ENGLISH_VALUES, scale=scale)
    fig, (ax_w, ax_m) = viz.new_figure(2, width=9.6, height=3.8)
    viz.bars(weights, [f"{fr}\n({en})" for fr, en in zip(FRENCH, ENGLISH)], ax=ax_w, ylim=(0, 1),
             title="Weights: softmax(query . key)", ylabel="weight")
    ax_w.set_xlabel("French key (its English value)")
    for v, w in zip(ENGLISH_VALUES, weights):              # line thickness = weight
        ax_m.plot([value[0], v[0]], [value[1], v[1]], color="#1f77b4", linewidth=0.5 + 8 * w, alpha=0.35)
    ax_m.plot(*ENGLISH_VALUES.T, "o", color="0.3", markersize=6)
    for word, v in zip(ENGLISH, ENGLISH_VALUES):           # each label on the far side from its line
        away = (v - value) / max(np.linalg.norm(v - value), 1e-9)
        ax_m.annotate(word, v, textcoords="offset points", xytext=9 * away, fontsize=9,
                      ha="left" if away[0] >= 0 else "right", va="bottom" if away[1] >= 0 else "top")
    ax_m.plot(*value, "*", color="#d62728", markersize=15, label="weighted value (the answer)")
    ax_m.set_xlim(-3, 3.5)
    ax_m.set_ylim(-3, 3.3)
    ax_m.set_xlabel("meaning feature 1")
    ax_m.set_ylabel("meaning feature 2")
    ax_m.set_title("English values and the blend")
    ax_m.legend(fontsize=8, loc="upper left")
    return fig


# --------------------------------------------------------------------------------------------
# Nadaraya–Watson kernel regression: attention pooling with numbers as keys
# --------------------------------------------------------------------------------------------


def true_function(x):
    """The curve the regression data is drawn from: f(x) = 2 sin(x) + x^0.8 (x >= 0).

    The function, the interval [0, 5] and the noise level follow the Nadaraya–Watson example in
    *Dive into Deep Learning* (Zhang, Lipton, Li, Smola; d2l.ai).
    """
    x = np.asarray(x, dtype=float)
    return 2.0 * np.sin(x) + x ** 0.8


def regression_data(n_train: int = 40, noise: float = 0.5, seed: int = 0):
    """Noisy samples of ``true_function``; returns ``(x_train, y_train)``, each (n_train,).

    x_train is sorted, uniform on [0, 5]; y_train = f(x_train) + Normal(0, noise).
    """
    if n_train < 1:
        raise ValueError(f"regression_data: n_train must be >= 1, got {n_train}.")
    rng = np.random.default_rng(seed)
    x_train = np.sort(rng.uniform(0.0, 5.0, n_train))
    y_train = true_function(x_train) + rng.normal(0.0, noise, n_train)
    return x_train, y_train


def gaussian_kernel_weights(x_query, x_train, bandwidth):
    """Attention weights of the Gaussian kernel; shape (m, n), each row sums to 1.

        weights[i, j] = softmax_j( -(x_query[i] - x_train[j])^2 / (2 h^2) )

    Each query x attends to the training inputs x_j (the keys): the closer x_j, the larger
    the weight. The bandwidth h sets how close is close. Shapes: x_query (m,), x_train (n,).
    """
    x_query, x_train, h = _check_kernel_args("gaussian_kernel_weights", x_query, x_train, bandwidth)
    distances = x_query[:, None] - x_train[None, :]         # (m, n)
    scores = -distances ** 2 / (2.0 * h ** 2)               # (m, n): close is good
    return softmax(scores, axis=-1)                         # (m, n), each row sums to 1


def nadaraya_watson(x_query, x_train, y_train, bandwidth):
    """Nadaraya–Watson kernel regression; returns ``(y_hat, weights)``.

        y_hat[i] = sum_j weights[i, j] * y_train[j]

    queries = x_query (m,), keys = x_train (n,), values = y_train (n,);
    weights from ``gaussian_kernel_weights`` (m, n); y_hat (m,).
    """
    x_train, y_train = _check_1d("nadaraya_watson", x_train=x_train, y_train=y_train)
    if x_train.shape != y_train.shape:
        raise ValueError(
            f"nadaraya_watson: x_train {x_train.shape} and y_train {y_train.shape} need one y per x."
        )
    weights = gaussian_kernel_weights(x_query, x_train, bandwidth)
    return weights @ y_train, weights


def _check_kernel_args(func, x_query, x_train, bandwidth):
    x_query, x_train = _check_1d(func, x_query=x_query, x_train=x_train)
    if not (isinstance(bandwidth, (int, float)) and math.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"{func}: bandwidth must be a finite number > 0, got {bandwidth!r}.")
    return x_query, x_train, bandwidth


def _check_1d(func, **arrays):
    out = []
    for name, a in arrays.items():
        a = np.asarray(a, dtype=float)
        if a.ndim != 1 or a.size == 0:
            raise ValueError(f"{func}: {name} must be a non-empty 1-D array, got shape {a.shape}.")
        out.append(a)
    return out


def bandwidth_explorer(bandwidth: float = 0.3, n_train: int = 40, seed: int = 0,
                       queries=(1.0, 2.5, 4.0)):
    """The lesson's slider: the Nadaraya–Watson fit and the attention weights of a few queries vs h.

    Left: training points, the true curve and the fitted curve. Right: the weights that three
    query points give the training inputs (each set sums to 1). Returns an
    ``attention_course.widgets.Interactive`` with one control, ``bandwidth``.
    """
    from .. import widgets

    x_train, y_train = regression_data(n_train=n_train, seed=seed)
    grid = np.linspace(0.0, 5.0, 201)
    queries = np.asarray(queries, dtype=float)

    def setup(fig):
        ax_fit, ax_w = fig.subplots(1, 2)
        return _FitPanel(ax_fit, grid, x_train, y_train, queries), _WeightsPanel(ax_w, x_train, queries)

    def update(state, bandwidth):
        fit, weights = state
        y_hat, _ = nadaraya_watson(grid, x_train, y_train, bandwidth)          # (201,)
        y_q, w_q = nadaraya_watson(queries, x_train, y_train, bandwidth)       # (3,), (3, n_train)
        fit.update(y_hat, y_q)
        weights.update(w_q)
        train_fit, _ = nadaraya_watson(x_train, x_train, y_train, bandwidth)
        middle = w_q[len(queries) // 2]
        return (f"mean squared error: on the training points {np.mean((train_fit - y_train) ** 2):.3f}, "
                f"against the true curve {np.mean((y_hat - true_function(grid)) ** 2):.3f}\n"
                f"query x = {queries[len(queries) // 2]:g}: largest weight {middle.max():.2f}, it averages about "
                f"{float(inverse_sum_squares(middle)):.1f} of the {n_train} training points (1/sum a^2; "
                f"lesson 04's e^H: {float(effective_choices(middle)):.1f})")

    return widgets.Interactive(setup, update, figsize=(9.6, 3.6),
                               bandwidth=widgets.slider(0.02, 2.0, 0.02, bandwidth, "bandwidth h"))


QUERY_COLORS = ("#2ca02c", "#ff7f0e", "#9467bd")


class _FitPanel:
    """Training points, the true curve, the prediction (moves) and the queries' predictions (move)."""

    def __init__(self, ax, grid, x_train, y_train, queries):
        ax.plot(grid, true_function(grid), "--", color="0.45", linewidth=1, label="true curve f(x)")
        ax.plot(x_train, y_train, "o", color="0.25", markersize=3.5, label="training points (x_i, y_i)")
        (self.fit,) = ax.plot(grid, np.zeros_like(grid), color="#1f77b4", linewidth=2, label="prediction")
        self.marks = [ax.plot([], [], "o", color=c, markersize=7)[0] for c in QUERY_COLORS[:len(queries)]]
        self.queries = queries
        ax.set(xlim=(0, 5), ylim=(y_train.min() - 1.0, y_train.max() + 1.0), xlabel="x (query)", ylabel="y",
               title="Nadaraya-Watson: a weighted average of y_i")
        ax.legend(fontsize=7, loc="lower left")

    def update(self, y_hat, y_queries):
        self.fit.set_ydata(y_hat)
        for mark, xq, yq in zip(self.marks, self.queries, y_queries):
            mark.set_data([xq], [yq])


class _WeightsPanel:
    """One line of weights over the training inputs per query; the axis top follows the tallest."""

    def __init__(self, ax, x_train, queries):
        self.ax, self.top = ax, None
        self.lines = [ax.plot(x_train, np.zeros_like(x_train), "o-", color=c, markersize=3, linewidth=1.2,
                              label=f"query x = {xq:g}")[0] for c, xq in zip(QUERY_COLORS, queries)]
        ax.set(xlim=(0, 5), xlabel="training input x_i (key)", ylabel="attention weight")
        # the legend in one row above the plot (inside, it hid the x = 4 peak at small bandwidths)
        ax.set_title("Weights of three queries", pad=19)
        ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False,
                  borderaxespad=0.2, handlelength=1.5, columnspacing=1.2)

    def update(self, weights):
        for line, w in zip(self.lines, weights):
            line.set_ydata(w)
        top = _nice_ceiling(weights.max())
        if top != self.top:                          # rescale only when the weights outgrow the axis
            self.ax.set_ylim(0, top)
            self.top = top


def _nice_ceiling(x: float) -> float:
    """The smallest of 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.05 that is above ``x`` (an axis top)."""
    for top in (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.05):
        if x * 1.08 <= top:
            return top
    return 1.05


# --------------------------------------------------------------------------------------------
# Why projections: "the cat sat" with and without W_Q (designed by hand for the lesson)
# --------------------------------------------------------------------------------------------

PROJECTION_TOKENS = ("the", "cat", "sat")
PROJECTION_FEATURES = ("noun", "verb", "article")

#: Embeddings X (3, 3), one row per word, features in PROJECTION_FEATURES.
PROJECTION_X = np.array([
    [0.3, 0.0, 1.0],    # the: an article (a little noun-like)
    [1.0, 0.2, 0.0],    # cat: a noun
    [0.1, 1.0, 0.0],    # sat: a verb
])

#: W_Q (3, 3): what each kind of word looks for. A noun looks for a verb; a verb and an article
#: look for a noun. Row = the word's feature, column = the feature it asks for.
PROJECTION_W_Q = np.array([
    [0.0, 1.0, 0.0],    # noun -> asks for "verb"
    [1.0, 0.0, 0.0],    # verb -> asks for "noun"
    [1.0, 0.0, 0.0],    # article -> asks for "noun"
])

#: W_K (3, 3): what each word offers to be found by: simply its own features.
PROJECTION_W_K = np.eye(3)


def best_matches(scores, tokens):
    """For each row of ``scores`` (n, n) the token it scores highest; a tie is written "a|b"."""
    scores = np.asarray(scores, dtype=float)
    out = []
    for row in scores:
        tied = np.flatnonzero(np.isclose(row, row.max(), rtol=1e-9, atol=1e-12))
        out.append("|".join(tokens[j] for j in tied))
    return out


# --------------------------------------------------------------------------------------------
# A published worked example, "The dog ate his dinner", cut to three words
# --------------------------------------------------------------------------------------------

WORKED_TOKENS = ("dog", "ate", "dinner")

#: Embeddings, one row per token: X (3, d_model=3).
WORKED_X = np.array([
    [1.0, 2.0, 3.0],    # dog
    [0.5, 1.0, 1.5],    # ate
    [2.0, 1.0, 0.5],    # dinner
])

#: Projection matrices, each (d_model=3, 2).
WORKED_W_Q = np.array([[0.6, -0.2], [0.1, 0.5], [-0.3, 0.4]])
WORKED_W_K = np.array([[0.2, 0.3], [-0.4, 0.7], [0.5, -0.1]])
WORKED_W_V = np.array([[0.9, 0.1], [0.2, 0.8], [-0.1, 0.6]])

#: What the published example prints for "dog" (rounded there; compare, don't trust).
PUBLISHED_DOG_SCORES = (2.71, 1.36, 2.48)
PUBLISHED_DOG_WEIGHTS = (0.448, 0.172, 0.380)
PUBLISHED_DOG_OUTPUT = (1.275, 2.363)

# --------------------------------------------------------------------------------------------
# The lesson's exercise: a new small sentence, "birds eat seeds"
# --------------------------------------------------------------------------------------------

EXERCISE_TOKENS = ("birds", "eat", "seeds")

#: Embeddings X (3, d_model=4).
EXERCISE_X = np.array([
    [1.0, 0.0, 2.0, 1.0],   # birds
    [0.0, 1.0, 1.0, 0.0],   # eat
    [2.0, 1.0, 0.0, 1.0],   # seeds
])

#: W_Q, W_K (d_model=4, d_k=2) and W_V (d_model=4, d_v=3): d_v need not equal d_k.
EXERCISE_W_Q = np.array([[0.5, 0.0], [0.0, 1.0], [1.0, 0.5], [0.0, -0.5]])
EXERCISE_W_K = np.array([[1.0, 0.5], [0.5, 0.0], [0.0, 1.0], [0.5, 0.5]])
EXERCISE_W_V = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.5]])
