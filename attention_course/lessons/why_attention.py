"""Lesson 01: why attention — the fixed-context bottleneck, by experiment.

The task: read a sequence of ``length`` random tokens (each token is a vector
of ``d_token`` numbers), then recover the token at ``position`` (the first,
by default).

Fixed context (an encoder-decoder without attention)
    A linear recurrent encoder reads the tokens left to right into one state
    of ``vector_size`` numbers (d_h in the notebook)::

        h_0 = 0,   h_t = h_{t-1} R + e_t B          e_t (d_token,), h_t (d_h,)

    R (d_h, d_h) is a random orthogonal matrix (a rotation, possibly with a
    mirror flip): it keeps every length, so nothing fades on purpose and any
    loss comes from the squeeze alone. B (d_token, d_h) is random. The decoder only
    gets the final state h_n; we fit the best *linear* read-out (least squares
    on training sequences) from h_n to the token vector at ``position`` and
    answer with the nearest token vector.

Attention
    Keep all ``length`` token vectors (the values V) together with a key per
    position (a random unit vector of ``key_size`` numbers, d_k). The query is
    handed to the decoder: the key of the position it wants (an oracle; in a
    trained model the query is computed, in Bahdanau's decoder from its own
    state). softmax(beta q K^T) turns the ``length`` scores into weights; the
    answer is the token vector nearest to the weighted average of the values.

What it shows, honestly: a linear read-out of a fixed state recovers the
token perfectly while the input has no more numbers than the state
(length * d_token <= d_h) — a little beyond, the nearest token can still be
the right one — then falls toward chance as sequences grow,
because every token must share the same few numbers. Attention does not beat
that limit by magic: it keeps ``length`` vectors and keys instead of one
state, and the query chooses among them. (A cleverer non-linear decoder could
squeeze out more from the fixed state.) Everything is numpy, seeded, and runs
with one BLAS thread: these matrices are small, and on a shared machine more
threads only fight each other.
"""
from __future__ import annotations

import functools
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .._backend import check_positive_ints
from ..softmax import softmax

DEFAULT_VOCAB_SIZE = 16
DEFAULT_D_TOKEN = 8
DEFAULT_KEY_SIZE = 16
DEFAULT_SHARPNESS = 10.0
N_TRAIN, N_TEST = 2000, 1000

_threads = None


@contextmanager
def one_blas_thread():
    """Run the block with numpy's BLAS on one thread (small matrices: threads only add contention)."""
    global _threads
    if _threads is None:
        from threadpoolctl import ThreadpoolController

        _threads = ThreadpoolController()
    with _threads.limit(limits=1, user_api="blas"):
        yield


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

    rotation (vector_size, vector_size) orthogonal R (it keeps lengths);  mix (d_token, vector_size) B.
    """

    rotation: np.ndarray
    mix: np.ndarray

    @classmethod
    def random(cls, d_token: int, vector_size: int, seed: int = 0) -> "FixedContextEncoder":
        check_positive_ints("FixedContextEncoder.random", d_token=d_token, vector_size=vector_size)
        rng = np.random.default_rng([seed, d_token, vector_size])
        q, r = np.linalg.qr(rng.standard_normal((vector_size, vector_size)))
        rotation = q * np.sign(np.diag(r))          # a uniformly random orthogonal matrix (det +1 or -1)
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


def experiment_sequences(length: int, n_train: int = N_TRAIN, n_test: int = N_TEST, *,
                         vocab_size: int = DEFAULT_VOCAB_SIZE, seed: int = 0):
    """Token ids for one length: (train (n_train, length), test (n_test, length)), the same for every
    vector size and for both decoders, so their scores are compared on the same sequences."""
    check_positive_ints("experiment_sequences", length=length, n_train=n_train, n_test=n_test)
    train = random_sequences(n_train, length, vocab_size, np.random.default_rng([seed, 1, length]))
    test = random_sequences(n_test, length, vocab_size, np.random.default_rng([seed, 3, length]))
    return train, test


def fixed_context_recovery(length: int, vector_size: int, position: int = 0, *,
                           vocab_size: int = DEFAULT_VOCAB_SIZE, d_token: int = DEFAULT_D_TOKEN,
                           n_train: int = N_TRAIN, n_test: int = N_TEST, seed: int = 0) -> float:
    """Fraction of test sequences whose token at ``position`` is recovered from the final state alone."""
    check_positive_ints("fixed_context_recovery", length=length, vector_size=vector_size)
    position = _check_position(position, length)
    vocab = token_vectors(vocab_size, d_token, seed)                       # (V, d_token)
    encoder = FixedContextEncoder.random(d_token, vector_size, seed)
    train, test = experiment_sequences(length, n_train, n_test, vocab_size=vocab_size, seed=seed)
    with one_blas_thread():
        w = fit_linear_readout(encoder.encode(vocab[train]), vocab[train[:, position]])   # (d_h + 1, d_token)
        guess = apply_readout(encoder.encode(vocab[test]), w)                             # (n_test, d_token)
    return float(np.mean(nearest_token(guess, vocab) == test[:, position]))


def position_keys(length: int, key_size: int = DEFAULT_KEY_SIZE, seed: int = 0) -> np.ndarray:
    """One random unit-length key per position: (length, key_size)."""
    check_positive_ints("position_keys", length=length, key_size=key_size)
    rng = np.random.default_rng([seed, 2, length, key_size])
    keys = rng.standard_normal((length, key_size))
    return keys / np.linalg.norm(keys, axis=1, keepdims=True)


def attention_recovery(length: int, key_size: int = DEFAULT_KEY_SIZE, position: int = 0, *,
                       vocab_size: int = DEFAULT_VOCAB_SIZE, d_token: int = DEFAULT_D_TOKEN,
                       sharpness: float = DEFAULT_SHARPNESS, n_test: int = N_TEST, seed: int = 0,
                       return_weights: bool = False):
    """Fraction of test sequences whose token at ``position`` is recovered by attention.

    q = key of ``position`` (key_size,), handed to the decoder; K = position keys (length, key_size);
    V = each sequence's token vectors (length, d_token); weights = softmax(sharpness * q K^T) (length,),
    the same for every sequence; answer = nearest token to weights @ V.
    With ``return_weights=True`` also returns the (length,) weights.
    """
    check_positive_ints("attention_recovery", length=length, key_size=key_size)
    position = _check_position(position, length)
    vocab = token_vectors(vocab_size, d_token, seed)                       # (V, d_token)
    keys = position_keys(length, key_size, seed)                           # K (length, d_k)
    _, test = experiment_sequences(length, 1, n_test, vocab_size=vocab_size, seed=seed)
    with one_blas_thread():
        weights = softmax(sharpness * keys @ keys[position])               # (length,)
        context = weights @ vocab[test]                                    # (n_test, d_token)
    accuracy = float(np.mean(nearest_token(context, vocab) == test[:, position]))
    return (accuracy, weights) if return_weights else accuracy


@dataclass(frozen=True)
class RecoveryTable:
    """Results of ``recovery_table``.

    lengths (L,), vector_sizes (S,); fixed (S, L) accuracies of the fixed vector, one row per size;
    attention (L,) accuracies of attention with keys of ``key_size`` numbers (it has no fixed vector);
    chance = 1 / vocab_size.
    """

    lengths: tuple
    vector_sizes: tuple
    fixed: np.ndarray
    attention: np.ndarray
    chance: float
    d_token: int
    key_size: int

    def row(self, vector_size) -> np.ndarray:
        """The fixed vector's accuracies (L,) for one vector size."""
        if vector_size not in self.vector_sizes:
            raise ValueError(f"RecoveryTable: vector_size must be one of {self.vector_sizes}, got {vector_size}.")
        return self.fixed[self.vector_sizes.index(vector_size)]

    def at(self, length, vector_size):
        """(fixed, attention) accuracy at one grid point."""
        j = self.lengths.index(length)
        return float(self.row(vector_size)[j]), float(self.attention[j])


def recovery_table(lengths, vector_sizes, position: int = 0, *, key_size: int = DEFAULT_KEY_SIZE,
                   vocab_size: int = DEFAULT_VOCAB_SIZE, d_token: int = DEFAULT_D_TOKEN, seed: int = 0,
                   n_train: int = N_TRAIN, n_test: int = N_TEST) -> RecoveryTable:
    """Run both experiments on a grid of sequence lengths x fixed-vector sizes."""
    lengths, vector_sizes = tuple(int(n) for n in lengths), tuple(int(s) for s in vector_sizes)
    common = dict(vocab_size=vocab_size, d_token=d_token, seed=seed, n_test=n_test)
    fixed = np.array([[fixed_context_recovery(n, size, position, n_train=n_train, **common) for n in lengths]
                      for size in vector_sizes])
    attention = np.array([attention_recovery(n, key_size, position, **common) for n in lengths])
    return RecoveryTable(lengths, vector_sizes, fixed, attention, 1.0 / vocab_size, d_token, key_size)


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

FIXED_COLOR, ATTENTION_COLOR = "#7b2a8c", "black"


def plot_recovery(table: RecoveryTable, ax=None, title="Recovering the first token"):
    """Accuracy vs sequence length: a solid line per fixed-vector size, one dashed black line for
    attention, a dotted line for chance. Returns the figure."""
    from .. import viz

    sizes = table.vector_sizes
    chart = viz.lines(table.lengths, np.vstack([table.fixed, table.attention]),
                      [f"fixed vector, d_h = {s}" for s in sizes] + [f"attention (d_k = {table.key_size})"],
                      ax=ax if ax is not None else viz.new_figure(width=7.0, height=3.8)[1], title=title,
                      styles=["o-"] * len(sizes) + ["--"], colors=_size_colors(len(sizes)) + [ATTENTION_COLOR],
                      xlabel="sequence length n (tokens)", ylabel="first token recovered (fraction)",
                      ylim=(-0.02, 1.05), logx=True, xticks=table.lengths, legend=None)
    chart.ax.axhline(table.chance, color="0.5", linestyle=":", linewidth=1, label="chance (a random guess)")
    chart.ax.legend(fontsize=7.5, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return chart.fig


def _size_colors(n):
    import matplotlib as mpl

    cmap = mpl.colormaps["plasma"]
    return [cmap(0.1 + 0.75 * i / max(n - 1, 1)) for i in range(n)]


def plot_alignment(weights, source, target, ax=None):
    """Heatmap of decoder-step weights (n_target, n_source) with words on both axes."""
    from .. import viz

    return viz.heatmap(weights, list(target), list(source), ax=ax,
                       title="Where each French step looks", xlabel="English word (key)",
                       ylabel="French word being written (query)", colorbar_label="attention weight")


# --- Widget: sequence length and vector size --------------------------------------------------

def recovery_explorer(table: RecoveryTable, length: int = 16, vector_size: int = 32):
    """Sliders for the sequence length and the fixed vector's size d_h, over the curves of ``table``.

    The curves come from ``table``; the two dots are computed live at the chosen length.
    Returns an ``attention_course.widgets.Interactive``.
    """
    import ipywidgets as W

    from .. import viz, widgets

    table.row(vector_size)                                      # a size the table has, or a ValueError
    d_token, d_k = table.d_token, table.key_size

    @functools.lru_cache(maxsize=None)                          # a point seen once is not recomputed
    def live(length, vector_size):
        return (fixed_context_recovery(length, vector_size, d_token=d_token),
                attention_recovery(length, d_k, d_token=d_token))

    def setup(fig):
        chart = viz.lines(table.lengths, [table.row(vector_size), table.attention], ["fixed vector", "attention"],
                          ax=fig.add_subplot(), title="Squeeze into one vector, or look back?",
                          styles=["o-", "s--"], colors=[FIXED_COLOR, ATTENTION_COLOR], dots=True,
                          xlabel="sequence length n (tokens)", ylabel="first token recovered (fraction)",
                          ylim=(-0.02, 1.08), logx=True, xticks=table.lengths, legend=None)
        budget = chart.ax.axvline(1, color="0.4", linestyle="-.", linewidth=1, label="n × d_token = d_h")
        chart.ax.axhline(table.chance, color="0.5", linestyle=":", linewidth=1, label="chance")
        chart.ax.set_xlim(0.8, max(table.lengths) * 1.25)
        chart.ax.legend(fontsize=7.5, loc="lower left", frameon=False)
        return chart, budget

    def update(state, length, vector_size):
        chart, budget = state
        chart.update([table.row(vector_size), table.attention])
        budget.set_xdata([vector_size / d_token] * 2)
        f, a = live(length, vector_size)
        chart.mark(length, [f, a])
        numbers, tokens = length * d_token, "1 token" if length == 1 else f"{length} tokens"
        return (f"{tokens} x {d_token} numbers = {numbers} numbers to remember; the fixed vector holds "
                f"d_h = {vector_size} ({'fits' if numbers <= vector_size else 'does not fit'}).\n"
                f"first token recovered: fixed vector {f:.0%}, attention {a:.0%} (chance {table.chance:.0%}).\n"
                f"attention keeps {length} token vector{'s' * (length > 1)} and {length} key{'s' * (length > 1)}: "
                f"{length} x ({d_token} + {d_k}) = {length * (d_token + d_k)} numbers.")

    return widgets.Interactive(
        setup, update, figsize=(6.4, 3.8),
        length=widgets.slider(1, max(table.lengths), 1, length, "sequence length n"),
        vector_size=W.SelectionSlider(options=list(table.vector_sizes), value=vector_size,
                                      description="fixed vector size d_h", style={"description_width": "initial"},
                                      layout=W.Layout(width="420px")),
    )
