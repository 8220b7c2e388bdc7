"""Lesson 00: welcome — a first clickable picture, a first slider, and a self-test.

A ten-word sentence with hand-made vectors (five named features per word), so the welcome page
can show what the course's widgets do without borrowing any later lesson's material:

    scores  = strength * Q K^T        Q (n, 5) what each word looks for, K (n, 5) what each offers
    weights = softmax(scores)         (n, n), each row sums to 1

``self_test()`` checks that the course's attention and PyTorch's give the same numbers here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..attention import scaled_dot_product_attention
from ..softmax import softmax

FEATURES = ("noun", "alive", "place", "action", "grammar")
DEFAULT_STRENGTH = 3.0

# (word, key: what the word offers, query: what the word looks for), in sentence order.
_SENTENCE = (
    #              noun alive place action grammar      noun alive place action grammar
    ("the",     (0.0, 0.0, 0.0, 0.0, 1.0),   (1.0, 0.5, 0.0, 0.0, 0.0)),   # its noun: cat
    ("cat",     (1.0, 1.0, 0.0, 0.0, 0.0),   (0.0, 0.0, 0.0, 1.0, 0.0)),   # what it did: sat
    ("sat",     (0.0, 0.0, 0.0, 1.0, 0.0),   (1.0, 1.0, 0.3, 0.0, 0.0)),   # who sat: cat
    ("on",      (0.0, 0.0, 0.5, 0.0, 0.5),   (0.5, 0.0, 1.0, 0.0, 0.0)),   # on what: mat
    ("the",     (0.0, 0.0, 0.0, 0.0, 1.0),   (1.0, 0.0, 0.5, 0.0, 0.0)),   # its noun: mat
    ("mat",     (1.0, 0.0, 1.0, 0.0, 0.0),   (0.0, 0.0, 0.0, 1.0, 0.2)),   # what happened on it: sat
    ("because", (0.0, 0.0, 0.0, 0.0, 1.0),   (0.0, 0.0, 0.0, 1.0, 0.0)),   # the event it explains: sat
    ("it",      (0.5, 0.0, 0.0, 0.0, 0.5),   (1.0, 1.0, 0.0, 0.0, -0.5)),  # something alive: cat
    ("was",     (0.0, 0.0, 0.0, 0.5, 0.5),   (0.5, 0.5, 0.0, 0.0, 0.0)),   # its subject: cat
    ("tired",   (0.0, 0.5, 0.0, 0.5, 0.0),   (1.0, 1.0, 0.0, 0.0, 0.0)),   # who is tired: cat
)


@dataclass(frozen=True)
class Sentence:
    """A sentence with a hand-made key and query per word.

    tokens   n words;  keys (n, 5) what each word offers;  queries (n, 5) what each word looks for;
    features the 5 column names.
    """

    tokens: tuple
    keys: np.ndarray
    queries: np.ndarray
    features: tuple = FEATURES

    def index(self, word: str) -> int:
        """Position of the first ``word`` in the sentence."""
        if word not in self.tokens:
            raise ValueError(f"{word!r} is not in the sentence {' '.join(self.tokens)!r}.")
        return self.tokens.index(word)


def demo_sentence() -> Sentence:
    """"the cat sat on the mat because it was tired", with its hand-made keys and queries."""
    tokens = tuple(word for word, _, _ in _SENTENCE)
    keys = np.array([key for _, key, _ in _SENTENCE])
    queries = np.array([query for _, _, query in _SENTENCE])
    return Sentence(tokens, keys, queries)


def demo_weights(strength: float = DEFAULT_STRENGTH, sentence: Sentence | None = None) -> np.ndarray:
    """Attention weights (n, n) = softmax(strength * Q K^T), row i: where word i looks."""
    sentence = demo_sentence() if sentence is None else sentence
    strength = float(strength)
    if not np.isfinite(strength) or strength < 0:
        raise ValueError(f"demo_weights: strength must be a finite number >= 0, got {strength!r}.")
    return softmax(strength * sentence.queries @ sentence.keys.T, axis=-1)


def click_explorer(selected: str = "it"):
    """The clickable picture: every word's attention weights; ``selected`` starts highlighted."""
    from ..widgets import AttentionExplorer

    sentence = demo_sentence()
    return AttentionExplorer(sentence.tokens, demo_weights(sentence=sentence),
                             title="Where each word looks (hand-made vectors)", selected=sentence.index(selected))


def demo_explorer(strength: float = DEFAULT_STRENGTH, word: str = "it"):
    """One slider, **strength**, multiplies every score; the bars show where ``word`` looks."""
    from .. import viz, widgets

    sentence = demo_sentence()
    i, even = sentence.index(word), 1 / len(sentence.tokens)
    best = int(np.argmax(demo_weights(sentence=sentence)[i]))

    def setup(fig):
        chart = viz.bars(demo_weights(strength, sentence)[i], sentence.tokens, ax=fig.add_subplot(), ylim=(0, 1),
                         title=f"Where {word!r} looks", ylabel="attention weight")
        chart.ax.set_xlabel("word of the sentence")
        return chart

    def update(chart, strength):
        w = demo_weights(strength, sentence)[i]
        chart.update(w)
        return (f"strength {strength:.2f}: {word!r} gives {w[best]:.2f} of its attention to "
                f"{sentence.tokens[best]!r} (an even share is {even:.2f})")

    return widgets.Interactive(setup, update, figsize=(6.0, 3.4),
                               strength=widgets.slider(0.0, 6.0, 0.25, float(strength), "strength"))


@dataclass(frozen=True)
class SelfTest:
    """The course's ``scaled_dot_product_attention`` next to PyTorch's on the same random arrays."""

    shape: tuple
    agree: bool

    def __str__(self):
        return f"attention on q, k, v of shape {self.shape}: the course and PyTorch agree: {self.agree}"


def self_test(seed: int = 0, atol: float = 1e-6) -> SelfTest:
    """Random float32 q, k, v of shape (2, 5, 8) through both implementations; agree within ``atol``."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((2, 5, 8)).astype(np.float32) for _ in range(3))
    ours, _ = scaled_dot_product_attention(q, k, v)
    theirs = F.scaled_dot_product_attention(torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v))
    return SelfTest(q.shape, bool(np.allclose(ours, theirs.numpy(), atol=atol)))
