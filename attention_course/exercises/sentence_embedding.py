"""Exercise (lesson 14): a sentence embedding by mean pooling with the padding mask.

The learner writes ``sentence_embedding(hidden, mask) -> (batch, d)``: for each text, the
average of its token vectors over its real tokens only (padding left out), scaled to length 1.
``hidden`` (batch, n, d) are the last layer's token vectors; ``mask`` (batch, n) is True on real
tokens. In a real model the padding positions hold non-zero vectors too, so the cases fill them
with large numbers.
"""
from __future__ import annotations

import numpy as np

from ._core import Case, Exercise, Mistake, register


def sentence_embedding(hidden, mask):
    """Reference solution. hidden (batch, n, d), mask (batch, n) bool -> (batch, d), rows of length 1."""
    m = mask[..., None].astype(hidden.dtype)                   # (batch, n, 1): 1 on real tokens, 0 on padding
    mean = (hidden * m).sum(axis=1) / m.sum(axis=1)            # (batch, d) / (batch, 1)
    return mean / np.linalg.norm(mean, axis=-1, keepdims=True)  # each row: length 1


# ---------------------------------------------------------------- the mistakes the checker names

def _unit(x, axis=-1):
    return x / np.linalg.norm(x, axis=axis, keepdims=True)


def _padding_included(hidden, mask):
    return _unit(hidden.mean(axis=1))


def _not_normalised(hidden, mask):
    m = mask[..., None]
    return (hidden * m).sum(axis=1) / m.sum(axis=1)


def _first_token(hidden, mask):
    return _unit(hidden[:, 0])


def _tokens_normalised_first(hidden, mask):
    m = mask[..., None]
    return (_unit(hidden) * m).sum(axis=1) / m.sum(axis=1)


def _tokens_normalised_before_and_after(hidden, mask):
    return _unit(_tokens_normalised_first(hidden, mask))


def _normalised_over_the_batch(hidden, mask):
    m = mask[..., None]
    return _unit((hidden * m).sum(axis=1) / m.sum(axis=1), axis=0)


def _normalised_by_the_whole_array(hidden, mask):
    mean = _not_normalised(hidden, mask)
    return mean / np.linalg.norm(mean)


def _padding_averaged(hidden, mask):
    m = ~mask[..., None]
    return _unit((hidden * m).sum(axis=1) / m.sum(axis=1))


def _texts_pooled_together(hidden, mask):
    pooled = _unit(hidden[mask].mean(axis=0))                  # hidden[mask]: (all real tokens, d)
    return np.broadcast_to(pooled, (hidden.shape[0], hidden.shape[-1])).copy()


def _mask_without_axis(hidden, mask):
    return _unit((hidden * mask).sum(axis=1) / mask.sum(axis=1))  # (b, n, d) * (b, n): does not line up


MISTAKES = [
    Mistake("You averaged over every position, padding included (e.g. hidden.mean(axis=1)): a short text then "
            "depends on the padding vectors, i.e. on how long the other texts in its batch are. Multiply by the "
            "mask and divide by the number of real tokens: (hidden * m).sum(axis=1) / m.sum(axis=1) with "
            "m = mask[..., None].", _padding_included),
    Mistake("The averages are right but not scaled to length 1: divide each row by its length, "
            "np.linalg.norm(mean, axis=-1, keepdims=True).", _not_normalised),
    Mistake("You took the first token's vector (hidden[:, 0], the [CLS] position) instead of the average over "
            "the real tokens. This model was trained with mean pooling, so its [CLS] vector is not its "
            "sentence embedding.", _first_token),
    Mistake("You scaled each token vector to length 1 and then averaged: an average of unit vectors is shorter "
            "than 1, and it gives short and long token vectors the same say. Average the raw vectors first, "
            "then scale the average once.", _tokens_normalised_first),
    Mistake("You scaled each token vector to length 1 before averaging (and the average after): the direction "
            "changes, because long token vectors should count more than short ones. Average the raw vectors, "
            "then scale once.", _tokens_normalised_before_and_after),
    Mistake("You normalised over the wrong axis: each column (one feature across the batch) has length 1, not "
            "each row. Use np.linalg.norm(..., axis=-1, keepdims=True).", _normalised_over_the_batch),
    Mistake("You divided by the length of the whole (batch, d) array (np.linalg.norm without axis), so the rows "
            "together have length 1 instead of each row. Use np.linalg.norm(..., axis=-1, keepdims=True).",
            _normalised_by_the_whole_array),
    Mistake("You averaged over the padding instead of the real tokens: in this course the mask is True on the "
            "REAL tokens (True = may be attended to), so multiply by mask, not by ~mask.", _padding_averaged),
    Mistake("Every text got the same vector: hidden[mask] keeps the real tokens of ALL the texts in one "
            "(total, d) array, so its mean pools the whole batch together. Keep the batch axis: "
            "m = mask[..., None], then (hidden * m).sum(axis=1) / m.sum(axis=1), or loop over the texts.",
            _texts_pooled_together),
    Mistake("hidden * mask does not line up: hidden is (batch, n, d) and mask (batch, n), and numpy matches "
            "shapes from the right (d against n). Give the mask a last axis of size 1, m = mask[..., None] "
            "(batch, n, 1), then multiply: each token's whole vector is kept or zeroed.", _mask_without_axis),
]


# ---------------------------------------------------------------------------- cases

def _texts(rng, lengths, n, d, dtype=np.float64, padding=25.0):
    """Token vectors for texts of the given lengths, padded to n; padding positions hold large numbers."""
    lengths = np.asarray(lengths)
    hidden = rng.normal(size=(len(lengths), n, d)) * rng.uniform(0.5, 3.0, size=(len(lengths), n, 1))
    mask = np.arange(n) < lengths[:, None]
    hidden = np.where(mask[..., None], hidden, padding + rng.normal(size=hidden.shape))
    return hidden.astype(dtype), mask


def cases():
    rng = np.random.default_rng(14)
    return [
        Case(_texts(rng, [4], 4, 3), label="one text of 4 tokens, no padding"),
        Case(_texts(rng, [5, 2], 5, 4), label="2 texts, the second padded (3 padding positions)"),
        Case(_texts(rng, [3, 6, 1], 6, 8), label="3 texts of 3, 6 and 1 tokens"),
        Case(_texts(rng, [2], 5, 3), label="one text of 2 tokens padded to 5"),
        Case(_texts(rng, [4, 3], 4, 6, np.float32), label="float32"),
        Case(_texts(rng, [7, 7, 2, 5], 7, 5), label="a batch of 4"),
    ]


register(Exercise(
    lesson="14_real_model",
    name="sentence_embedding",
    reference=sentence_embedding,
    cases=cases,
    mistakes=MISTAKES,
    signature="sentence_embedding(hidden, mask) -> (batch, d), the mean of the real tokens' vectors, length 1",
))
