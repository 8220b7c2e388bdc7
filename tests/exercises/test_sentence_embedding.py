"""Exercise sentence_embedding (lesson 14): mean pooling over the real tokens, then length 1."""
from __future__ import annotations

import numpy as np
import pytest

from attention_course import exercises as ex

from ._helpers import assert_flags

NAME = "sentence_embedding"
HINTS = {
    "padding": "averaged over every position, padding included",
    "norm": "not scaled to length 1",
    "first": "took the first token's vector",
    "tokens_first": "scaled each token vector to length 1 and then averaged",
    "tokens_both": "before averaging (and the average after)",
    "batch_axis": "normalised over the wrong axis",
    "whole": "length of the whole (batch, d) array",
    "inverted": "averaged over the padding instead of the real tokens",
    "pooled": "Every text got the same vector",
    "no_axis": "hidden * mask does not line up",
}


def _flags_only(fn, key):
    report = assert_flags(NAME, fn, HINTS[key])
    text = "\n".join(report.hints)
    others = [k for k, fragment in HINTS.items() if k != key and fragment in text]
    assert not others, f"{key} also got the hints of {others}:\n{report}"
    return report


def learner_einsum(hidden, mask):          # correct, written differently
    counts = mask.sum(axis=1)[:, None]
    mean = np.einsum("bnd,bn->bd", hidden, mask) / counts
    return mean / np.sqrt((mean ** 2).sum(axis=1, keepdims=True))


def learner_divides_by_n(hidden, mask):     # also correct: the final scaling removes the 1/n
    mean = (hidden * mask[..., None]).mean(axis=1)
    return mean / np.linalg.norm(mean, axis=1, keepdims=True)


def learner_loop(hidden, mask):             # correct, one text at a time
    rows = []
    for h, m in zip(hidden, mask):
        v = h[m].mean(axis=0)
        rows.append(v / np.linalg.norm(v))
    return np.stack(rows)


@pytest.mark.parametrize("fn", [learner_einsum, learner_divides_by_n, learner_loop])
def test_correct_learners_pass(fn):
    report = ex.check(NAME, fn)
    assert report.passed, report


def test_the_exercise_belongs_to_lesson_14():
    assert ex.get(NAME).lesson == "14_real_model"


def test_padding_included():
    def sentence_embedding(hidden, mask):
        v = hidden.mean(axis=1)
        return v / np.linalg.norm(v, axis=-1, keepdims=True)
    report = _flags_only(sentence_embedding, "padding")
    assert "one text of 4 tokens, no padding" not in report.failed_cases


def test_not_normalised():
    def sentence_embedding(hidden, mask):
        m = mask[:, :, None]
        return (hidden * m).sum(1) / m.sum(1)
    _flags_only(sentence_embedding, "norm")


def test_first_token():
    def sentence_embedding(hidden, mask):
        cls = hidden[:, 0, :]
        return cls / np.linalg.norm(cls, axis=1, keepdims=True)
    _flags_only(sentence_embedding, "first")


def test_tokens_normalised_first():
    def sentence_embedding(hidden, mask):
        unit = hidden / np.linalg.norm(hidden, axis=2, keepdims=True)
        return np.array([u[m].mean(axis=0) for u, m in zip(unit, mask)])
    _flags_only(sentence_embedding, "tokens_first")


def test_tokens_normalised_before_and_after():
    def sentence_embedding(hidden, mask):
        unit = hidden / np.linalg.norm(hidden, axis=-1, keepdims=True)
        v = (unit * mask[..., None]).sum(axis=1)
        return v / np.linalg.norm(v, axis=-1, keepdims=True)
    _flags_only(sentence_embedding, "tokens_both")


def test_normalised_over_the_batch_axis():
    def sentence_embedding(hidden, mask):
        m = mask[..., None]
        v = (hidden * m).sum(axis=1) / m.sum(axis=1)
        return v / np.linalg.norm(v, axis=0, keepdims=True)
    _flags_only(sentence_embedding, "batch_axis")


def test_normalised_by_the_whole_array():
    def sentence_embedding(hidden, mask):
        v = np.array([h[m].mean(axis=0) for h, m in zip(hidden, mask)])
        return v / np.sqrt((v ** 2).sum())
    _flags_only(sentence_embedding, "whole")


def test_inverted_mask():
    def sentence_embedding(hidden, mask):
        pad = (~mask)[..., None]
        v = (hidden * pad).sum(axis=1) / pad.sum(axis=1)
        return v / np.linalg.norm(v, axis=-1, keepdims=True)
    _flags_only(sentence_embedding, "inverted")


def test_texts_pooled_together_by_boolean_indexing():
    def sentence_embedding(hidden, mask):
        real = hidden[mask]                                  # (all real tokens of all texts, d)
        v = real.mean(axis=0)
        v = v / np.linalg.norm(v)
        return np.tile(v, (len(hidden), 1))
    report = _flags_only(sentence_embedding, "pooled")
    assert "one text of 4 tokens, no padding" not in report.failed_cases     # one text: nothing to mix up


def test_mask_multiplied_without_a_last_axis():
    def sentence_embedding(hidden, mask):
        total = (hidden * mask).sum(axis=1)
        mean = total / mask.sum(axis=1, keepdims=True)
        return mean / np.linalg.norm(mean, axis=-1, keepdims=True)
    report = _flags_only(sentence_embedding, "no_axis")
    assert "keepdims=True to that sum" not in "\n".join(report.hints)       # the generic tip would mislead


def test_a_different_broadcast_error_is_not_called_the_missing_mask_axis():
    def sentence_embedding(hidden, mask):
        m = mask[..., None]
        mean = (hidden * m).sum(axis=1) / mask.sum(axis=1)   # (b, d) / (b,): another mistake
        return mean / np.linalg.norm(mean, axis=-1, keepdims=True)
    report = ex.check(NAME, sentence_embedding)
    text = "\n".join(report.hints)
    assert not report.passed and HINTS["no_axis"] not in text and "keepdims" in text


def test_an_unfinished_stub_is_not_done_yet():
    def sentence_embedding(hidden, mask):
        raise NotImplementedError
    report = ex.check(NAME, sentence_embedding)
    assert report.status == "not done" and not report.passed
