"""Lesson 01: why attention — the fixed-context bottleneck, by experiment.

The task: read a sequence of ``length`` random tokens (each token is a vector
of ``d_token`` numbers), then recover the token at ``position`` (the first,
by default).

Fixed context (an encoder-decoder without attention)
    A linear recurrent encoder reads the tokens left to right into one state
    of ``vector_size`` numbers::

        h_0 = 0,   h_t = h_{t-1} R + e_t B          e_t (d_token,), h_t (vector_size,)

    R (vector_size, vector_size) is a random rotation, so nothing fades on
    purpose: any loss comes from the squeeze alone. B (d_token, vector_size)
    is random. The decoder only gets the final state h_n; we fit the best
    *linear* read-out (least squares on training sequences) from h_n to the
    token vector at ``position`` and answer with the nearest token vector.

Attention
    Keep all ``length`` token vectors (the values) together with a key per
    position (a random unit vector of ``vector_size`` numbers). The decoder asks
    with the key of the position it wants as its query; softmax turns the
    ``length`` scores into weights; the answer is the nearest token vector to
    the weighted average of the values.

What it shows, honestly: a linear read-out of a fixed state recovers the
token perfectly while the input has no more numbers than the state
(length * d_token <= vector_size), then falls toward chance as sequences
grow, because every token must share the same few numbers. Attention does not
beat that limit by magic: it keeps ``length`` vectors instead of one, and the
query chooses among them. (A cleverer non-linear decoder could squeeze out
more from the fixed state; noise and finite precision set the same kind of
limit in practice.) Everything is numpy, seeded and takes milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._backend import check_positive_ints
from ..attention import scaled_dot_product_attention

DEFAULT_VOCAB_SIZE = 16
DEFAULT_D_TOKEN = 8
DEFAULT_SHARPNESS = 10.0


def _check_position(position, length) -> int:
    if isinstance(position, bool) or not isinstance(position, (int, np.integer)) or not 0 <= position < length:
        raise ValueError(f"position must be an integer in [0, {length - 1}] for length={length}, got {position!r}.")
    return int(position)


def token_vectors(vocab_size: int = DEFAULT_VOCAB_SIZE, d_token: int = DEFAULT_D_TOKEN, seed: int = 0) -> np.ndarray:
    """A random vector for each token of the vocabulary: (vocab_size, d_token), rows of length about 1."""
    check_positive_ints("token_vectors", vocab_size=vocab_size, d_token=d_token)
    return np.random.default_rng([seed, vocab_size, d_token]).standard_normal((vocab_size, d_token)) / np.sqrt(d_token)


def random_sequences(n_sequences: int, length: int, vocab_size: int, rng) -> np.ndarray:
    """(n_sequences, length) token ids, uniform over the vocabulary."""
    return rng.integers(vocab_size, size=(n_sequences, length))


@dataclass(frozen=True)
class FixedContextEncoder:
    """h_t = h_{t-1} R + e_t B, read out only at the end.

    rotation (vector_size, vector_size) orthogonal R;  mix (d_token, vector_size) B.
    """

    rotation: np.ndarray
    mix: np.ndarray

    @classmethod
    def random(cls, d_token: int, vector_size: int, seed: int = 0) -> "FixedContextEncoder":
        check_positive_ints("FixedContextEncoder.random", d_token=d_token, vector_size=vector_size)
        rng = np.random.default_rng([seed, d_token, vector_size])
        q, r = np.linalg.qr(rng.standard_normal((vector_size, vector_size)))
        rotation = q * np.sign(np.diag(r))          # a uniformly random rotation
        mix = rng.standard_normal((d_token, vector_size)) / np.sqrt(d_token)
        return cls(rotation, mix)

    @property
    def vector_size(self) -> int:
        return self.rotation.shape[0]

    def encode_step_by_step(self, tokens) -> np.ndarray:
        """The recurrence itself: tokens (N, length, d_token) -> final states (N, vector_size)."""
        tokens = self._check(tokens)
        h = np.zeros((tokens.shape[0], self.vector_size))
        for t in range(tokens.shape[1]):
            h = h @ self.rotation + tokens[:, t] @ self.mix
        return h

    def encode(self, tokens) -> np.ndarray:
        """Same result as ``encode_step_by_step``, computed in one matrix product.

        Unrolled, h_n = sum_t e_t B R^(n-1-t): token t enters through its own
        (d_token, vector_size) matrix, so the whole sequence, flattened to
        length * d_token numbers, is multiplied by one (length * d_token, vector_size) matrix.
        """
        tokens = self._check(tokens)
        n_seq, length, d_token = tokens.shape
        per_step = [self.mix]
        for _ in range(length - 1):
            per_step.append(per_step[-1] @ self.rotation)     # B R^k for k = 0 .. length-1
        stacked = np.stack(per_step[::-1])                    # (length, d_token, vector_size): token t gets B R^(n-1-t)
        return tokens.reshape(n_seq, length * d_token) @ stacked.reshape(length * d_token, self.vector_size)

    def _check(self, tokens) -> np.ndarray:
        tokens = np.asarray(tokens, dtype=float)
        if tokens.ndim != 3 or tokens.shape[2] != self.mix.shape[0] or tokens.shape[1] < 1:
            raise ValueError(f"encode: tokens must be (N, length, d_token={self.mix.shape[0]}), got {tokens.shape}.")
        return tokens


def fit_linear_readout(states, targets) -> np.ndarray:
    """Least-squares read-out: states (N, vector_size), targets (N, d_token) -> W (vector_size + 1, d_token).

    ``apply_readout(states, W)`` = [states, 1] @ W is the best straight-line guess of targets.
    """
    states, targets = np.asarray(states, dtype=float), np.asarray(targets, dtype=float)
    if states.ndim != 2 or targets.ndim != 2 or states.shape[0] != targets.shape[0]:
        raise ValueError(f"fit_linear_readout: need states (N, vector_size) and targets (N, d_token), "
                         f"got {states.shape} and {targets.shape}.")
    w, *_ = np.linalg.lstsq(_with_bias(states), targets, rcond=None)
    return w


def apply_readout(states, w) -> np.ndarray:
    """states (N, vector_size), w (vector_size + 1, d_token) -> guesses (N, d_token)."""
    return _with_bias(np.asarray(states, dtype=float)) @ w


def _with_bias(states):
    return np.concatenate([states, np.ones((states.shape[0], 1))], axis=1)


def nearest_token(guesses, vectors) -> np.ndarray:
    """For each guess (N, d_token), the id of the closest token vector in ``vectors`` (V, d_token) -> (N,)."""
    guesses, vectors = np.asarray(guesses, dtype=float), np.asarray(vectors, dtype=float)
    distances = ((guesses[:, None, :] - vectors[None, :, :]) ** 2).sum(axis=-1)   # (N, V)
    return distances.argmin(axis=1)


def fixed_context_recovery(length: int, vector_size: int, position: int = 0, *,
                           vocab_size: int = DEFAULT_VOCAB_SIZE, d_token: int = DEFAULT_D_TOKEN,
                           n_train: int = 2000, n_test: int = 1000, seed: int = 0) -> float:
    """Fraction of test sequences whose token at ``position`` is recovered from the final state alone."""
    check_positive_ints("fixed_context_recovery", length=length, vector_size=vector_size)
    position = _check_position(position, length)
    vectors = token_vectors(vocab_size, d_token, seed)
    encoder = FixedContextEncoder.random(d_token, vector_size, seed)
    rng = np.random.default_rng([seed, 1, length, vector_size])
    train = random_sequences(n_train, length, vocab_size, rng)
    test = random_sequences(n_test, length, vocab_size, rng)
    w = fit_linear_readout(encoder.encode(vectors[train]), vectors[train[:, position]])
    guesses = apply_readout(encoder.encode(vectors[test]), w)
    return float(np.mean(nearest_token(guesses, vectors) == test[:, position]))


def position_keys(length: int, vector_size: int, seed: int = 0) -> np.ndarray:
    """One random unit-length key per position: (length, vector_size)."""
    rng = np.random.default_rng([seed, 2, length, vector_size])
    keys = rng.standard_normal((length, vector_size))
    return keys / np.linalg.norm(keys, axis=1, keepdims=True)


def attention_recovery(length: int, vector_size: int, position: int = 0, *,
                       vocab_size: int = DEFAULT_VOCAB_SIZE, d_token: int = DEFAULT_D_TOKEN,
                       sharpness: float = DEFAULT_SHARPNESS, n_test: int = 1000, seed: int = 0,
                       return_weights: bool = False):
    """Fraction of test sequences whose token at ``position`` is recovered by attention.

    q = key of ``position`` (1, vector_size); K = position keys (length, vector_size);
    V = the sequence's token vectors (length, d_token);
    weights = softmax(sharpness * q K^T) (1, length); answer = nearest token to weights @ V.
    With ``return_weights=True`` also returns the (length,) weights (the same for every sequence).
    """
    check_positive_ints("attention_recovery", length=length, vector_size=vector_size)
    position = _check_position(position, length)
    vectors = token_vectors(vocab_size, d_token, seed)
    keys = position_keys(length, vector_size, seed)
    test = random_sequences(n_test, length, vocab_size, np.random.default_rng([seed, 3, length, vector_size]))
    query = keys[position][None, None, :]                                   # (1, 1, vector_size)
    context, weights = scaled_dot_product_attention(query, keys[None], vectors[test], scale=sharpness)
    # context (n_test, 1, d_token); weights (n_test, 1, length), identical rows: the keys are shared
    accuracy = float(np.mean(nearest_token(context[:, 0], vectors) == test[:, position]))
    return (accuracy, weights[0, 0]) if return_weights else accuracy


@dataclass(frozen=True)
class RecoveryTable:
    """Results of ``recovery_table``.

    lengths (L,), vector_sizes (S,), fixed (S, L) and attention (S, L) accuracies, chance = 1 / vocab_size.
    """

    lengths: tuple
    vector_sizes: tuple
    fixed: np.ndarray
    attention: np.ndarray
    chance: float
    d_token: int

    def row(self, vector_size):
        """(fixed (L,), attention (L,)) for one vector size."""
        i = self.vector_sizes.index(vector_size)
        return self.fixed[i], self.attention[i]

    def at(self, length, vector_size):
        """(fixed, attention) accuracy at one grid point."""
        fixed, attention = self.row(vector_size)
        j = self.lengths.index(length)
        return float(fixed[j]), float(attention[j])


def recovery_table(lengths, vector_sizes, position: int = 0, *, vocab_size: int = DEFAULT_VOCAB_SIZE,
                   d_token: int = DEFAULT_D_TOKEN, seed: int = 0, **kwargs) -> RecoveryTable:
    """Run both experiments on a grid of sequence lengths x vector sizes."""
    lengths, vector_sizes = tuple(int(n) for n in lengths), tuple(int(s) for s in vector_sizes)
    shape = (len(vector_sizes), len(lengths))
    fixed, attention = np.empty(shape), np.empty(shape)
    common = dict(vocab_size=vocab_size, d_token=d_token, seed=seed)
    for i, size in enumerate(vector_sizes):
        for j, length in enumerate(lengths):
            fixed[i, j] = fixed_context_recovery(length, size, position, **common, **kwargs)
            attention[i, j] = attention_recovery(length, size, position, **common)
    return RecoveryTable(lengths, vector_sizes, fixed, attention, 1.0 / vocab_size, d_token)


# --- A decoder that chooses a different context at each step -----------------------------

ALIGNMENT_FEATURES = ("article", "animal", "colour", "action", "drink")


def toy_alignment():
    """A hand-made translation step by step: English source, French output.

    Returns (source_words (n_k,), target_words (n_q,), keys (n_k, 5), queries (n_q, 5)),
    features named by ``ALIGNMENT_FEATURES``. Each key describes a source word; each
    query is what the decoder looks for while writing that French word (hand-set
    here; a trained model learns them). French puts the colour after the noun, so
    the alignment is not a straight diagonal.
    """
    source = ("the", "black", "cat", "drinks", "milk")
    target = ("le", "chat", "noir", "boit", "du", "lait")
    keys = np.array([
        # article animal colour action drink
        [1.0, 0.0, 0.0, 0.0, 0.0],   # the
        [0.0, 0.0, 1.0, 0.0, 0.0],   # black
        [0.0, 1.0, 0.0, 0.0, 0.0],   # cat
        [0.0, 0.2, 0.0, 1.0, 0.2],   # drinks
        [0.0, 0.0, 0.0, 0.0, 1.0],   # milk
    ])
    queries = np.array([
        [1.0, 0.4, 0.0, 0.0, 0.0],   # le: an article, whose gender depends on the noun (cat)
        [0.0, 1.0, 0.0, 0.0, 0.0],   # chat
        [0.0, 0.3, 1.0, 0.0, 0.0],   # noir: the colour, agreeing with the noun
        [0.0, 0.0, 0.0, 1.0, 0.0],   # boit
        [0.5, 0.0, 0.0, 0.0, 0.6],   # du: "some", before the drink
        [0.0, 0.0, 0.0, 0.0, 1.0],   # lait
    ])
    return source, target, keys, queries


# --- Figures (matplotlib is imported only when you draw) ----------------------------------

def plot_recovery(table: RecoveryTable, ax=None, title="Recovering the first token"):
    """Accuracy vs sequence length: one solid line per vector size (fixed context) and
    dashed lines for attention; the dotted line is chance. Returns the figure."""
    from .. import viz

    if ax is None:
        fig, ax = viz.new_figure(width=7.0, height=3.8)
    else:
        fig = ax.get_figure(root=True)
    colors = _size_colors(len(table.vector_sizes))
    for color, size, fixed, attention in zip(colors, table.vector_sizes, table.fixed, table.attention):
        ax.plot(table.lengths, fixed, "o-", color=color, markersize=3.5, label=f"fixed vector, {size} numbers")
        ax.plot(table.lengths, attention, "--", color=color, linewidth=1.2, alpha=0.8)
    ax.plot([], [], "k--", linewidth=1.2, label="attention (every size)")
    ax.axhline(table.chance, color="0.5", linestyle=":", linewidth=1, label="chance (a random guess)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(table.lengths, [str(n) for n in table.lengths])
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("sequence length (tokens)")
    ax.set_ylabel("first token recovered (fraction)")
    ax.set_title(title)
    ax.legend(fontsize=7.5, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return fig


def _size_colors(n):
    import matplotlib as mpl

    cmap = mpl.colormaps["plasma"]
    return [cmap(0.1 + 0.75 * i / max(n - 1, 1)) for i in range(n)]


def plot_alignment(weights, source, target, ax=None):
    """Heatmap of decoder-step weights (n_target, n_source) with words on both axes."""
    from .. import viz

    return viz.heatmap(weights, list(target), list(source), ax=ax,
                       title="Where each French step looks", xlabel="English word (key)",
                       ylabel="French word being written (query)")


# --- Widget: sequence length and vector size --------------------------------------------------

def recovery_explorer(table: RecoveryTable, length: int = 16, vector_size: int = 32):
    """Sliders for the sequence length and the fixed vector's size, over the curves of ``table``.

    The curves come from ``table`` (one per vector size); the two dots are computed live at the
    chosen length. Returns an ``attention_course.widgets.Interactive``.
    """
    import ipywidgets as W

    from .. import widgets

    if vector_size not in table.vector_sizes:
        raise ValueError(f"recovery_explorer: vector_size must be one of {table.vector_sizes}, got {vector_size}.")
    max_length = max(table.lengths)

    def setup(fig):
        ax = fig.add_subplot()
        fixed, attention = table.row(vector_size)
        state = {
            "fixed": ax.plot(table.lengths, fixed, "o-", color="#7b2a8c", markersize=3, label="fixed vector")[0],
            "attention": ax.plot(table.lengths, attention, "s--", color="#2a9d8f", markersize=3,
                                 label="attention")[0],
            "budget": ax.axvline(vector_size / table.d_token, color="0.4", linestyle="--", linewidth=1,
                                 label="length x d_token = vector size"),
            "fixed_dot": ax.plot([length], [0], "o", color="#7b2a8c", markersize=10, alpha=0.5)[0],
            "attention_dot": ax.plot([length], [1], "s", color="#2a9d8f", markersize=10, alpha=0.5)[0],
        }
        ax.axhline(table.chance, color="0.5", linestyle=":", linewidth=1, label="chance")
        ax.set_xscale("log", base=2)
        ax.set_xticks(table.lengths, [str(n) for n in table.lengths])
        ax.set_xlim(0.8, max_length * 1.25)
        ax.set_ylim(-0.02, 1.08)
        ax.set_xlabel("sequence length (tokens)")
        ax.set_ylabel("first token recovered (fraction)")
        ax.set_title("Squeeze into one vector, or look back?")
        ax.legend(fontsize=7.5, loc="lower left", frameon=False)
        return state

    def update(state, length, vector_size):
        fixed, attention = table.row(vector_size)
        state["fixed"].set_ydata(fixed)
        state["attention"].set_ydata(attention)
        state["budget"].set_xdata([vector_size / table.d_token] * 2)
        f = fixed_context_recovery(length, vector_size, d_token=table.d_token)
        a = attention_recovery(length, vector_size, d_token=table.d_token)
        state["fixed_dot"].set_data([length], [f])
        state["attention_dot"].set_data([length], [a])
        numbers = length * table.d_token
        tokens = "1 token" if length == 1 else f"{length} tokens"
        return (f"{tokens} x {table.d_token} numbers = {numbers} numbers to remember; "
                f"the fixed vector holds {vector_size} ({'fits' if numbers <= vector_size else 'does not fit'}).\n"
                f"first token recovered: fixed vector {f:.0%}, attention {a:.0%} (chance {table.chance:.0%}).\n"
                f"attention keeps {'the token vector and its key' if length == 1 else f'all {length} token vectors and {length} keys'}"
                f" ({length * (table.d_token + vector_size)} numbers).")

    return widgets.Interactive(
        setup, update, figsize=(6.4, 3.8),
        length=widgets.slider(1, max_length, 1, length, "sequence length"),
        vector_size=W.SelectionSlider(options=list(table.vector_sizes), value=vector_size,
                                      description="vector size", style={"description_width": "initial"},
                                      layout=W.Layout(width="420px")),
    )
