"""Exercise cross_attention (lesson 07): learner-style code, right and wrong; each mistake gets its
own hint and no other mistake's."""
from __future__ import annotations

import numpy as np
import pytest

from attention_course import exercises as ex

from ._helpers import assert_names, assert_names_nothing

NAME = "cross_attention"


def softmax(s, axis=-1):
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def learner(dec, enc, w_q, w_k, w_v, *, q_in=None, kv_in=None, swap=False, scale=None, axis=-1, flip=False):
    q_states = dec if q_in is None else q_in(dec, enc)
    kv_states = enc if kv_in is None else kv_in(dec, enc)
    if swap:
        w_q, w_k = w_k, w_q
    q, k, v = q_states @ w_q, kv_states @ w_k, kv_states @ w_v
    s = q @ k.T / (np.sqrt(k.shape[-1]) if scale is None else scale(dec, q))
    w = softmax(s, axis)
    out = w @ v
    return out, (w.T if flip else w)


def test_correct_learners_pass():
    assert ex.check(NAME, learner).passed


@pytest.mark.parametrize("slip, fragment", [
    (dict(kv_in=lambda dec, enc: dec), "so this is self-attention"),
    (dict(q_in=lambda dec, enc: enc, kv_in=lambda dec, enc: dec), "The roles are swapped"),
    (dict(scale=lambda dec, q: 1.0), "without the scaling"),
    (dict(scale=lambda dec, q: np.sqrt(dec.shape[-1])), "You scaled by sqrt(d_model)"),
    (dict(axis=0), "Your softmax ran over the decoder positions"),
    (dict(flip=True), "Your weights are transposed"),
])
def test_each_mistake_gets_its_own_hint(slip, fragment):
    assert_names(NAME, lambda *a: learner(*a, **slip), fragment)


def test_w_q_and_w_k_swapped():
    report = assert_names(NAME, lambda *a: learner(*a, swap=True), "w_q and w_k look swapped")
    assert "the lesson's sentences with different w_q, w_k and w_v" in report.failed_cases


def test_the_cases_tell_w_q_from_w_k():
    cases = ex.get(NAME).get_cases()
    differ = [c for c in cases if not np.allclose(c.args[2], c.args[3])]
    assert len(differ) >= 3 and any(c.label.startswith("the lesson's") for c in differ)


def test_an_unrelated_error_names_nothing():
    def cross_attention(decoder_states, encoder_states, w_q, w_k, w_v):
        out, w = learner(decoder_states, encoder_states, w_q, w_k, w_v)
        return out, w, undefined_name  # noqa: F821
    report = assert_names_nothing(NAME, cross_attention)
    assert report.hints == [report.hints[0]] and "NameError: name 'undefined_name' is not defined" in report.hints[0]
