"""Exercise scaled_dot_product_attention (lesson 06); the cases parametrized over both names also
cover masked_attention."""
from __future__ import annotations

import numpy as np
import pytest

from attention_course import exercises as ex

from ._helpers import assert_flags, hints_of  # noqa: F401


from .test_softmax import learner_softmax


# ----------------------------------------------------- scaled dot-product ----

def learner_attention(q, k, v, mask=None):       # correct, written with einsum and explicit shapes
    d_k = q.shape[-1]
    scores = np.einsum("...qd,...kd->...qk", q, k) / d_k ** 0.5
    if mask is not None:
        scores = np.where(mask, scores, -1e30)
    scores = scores - scores.max(-1, keepdims=True)
    w = np.exp(scores)
    w = w / w.sum(-1, keepdims=True)
    return np.einsum("...qk,...kd->...qd", w, v), w


def _attn(q, k, v, scale, mask=None, axis=-1, stable=True, normalise=True):
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) * scale
    if mask is not None:
        scores = np.where(mask, scores, -1e9)      # the mask done right, the rest as the parameters say
    if stable:
        scores = scores - scores.max(axis=axis, keepdims=True)
    w = np.exp(scores)
    if normalise:
        w = w / w.sum(axis=axis, keepdims=True)
    return w @ v, w


@pytest.mark.parametrize("name", ["scaled_dot_product_attention", "masked_attention"])
def test_attention_correct_learner_passes(name):
    assert ex.check(name, learner_attention).passed
    assert ex.check(name, lambda q, k, v, mask=None: _attn(q, k, v, q.shape[-1] ** -0.5, mask)).passed


def test_attention_package_function_passes():
    import attention_course as ac
    assert ex.check("scaled_dot_product_attention", ac.scaled_dot_product_attention).passed
    assert ex.check("masked_attention", ac.scaled_dot_product_attention).passed


@pytest.mark.parametrize("name", ["scaled_dot_product_attention", "masked_attention"])
@pytest.mark.parametrize("buggy, hint", [
    (lambda q, k, v, mask=None: _attn(q, k, v, 1.0, mask), "Missing the 1/√d_k scaling"),
    (lambda q, k, v, mask=None: _attn(q, k, v, 1 / q.shape[-1], mask), "divided the scores by d_k instead of √d_k"),
    (lambda q, k, v, mask=None: _attn(q, k, v, q.shape[-1] ** -0.5, mask, axis=-2), "Softmax over the query axis"),
    (lambda q, k, v, mask=None: _attn(q, k, v, q.shape[-1] ** -0.5, mask, stable=False), "No max-subtraction"),
    (lambda q, k, v, mask=None: _attn(q, k, v, q.shape[-1] ** -0.5, mask, normalise=False), "Not normalised"),
    (lambda q, k, v, mask=None: _attn(q, k, v, q.shape[-1] ** -0.5, mask)[::-1], "You returned (weights, output)"),
])
def test_attention_mistakes(name, buggy, hint):
    assert_flags(name, buggy, hint)


def test_attention_k_T_on_a_batch():
    def attention(q, k, v):
        w = learner_softmax(q @ k.T / np.sqrt(q.shape[-1]))
        return w @ v, w
    assert_flags("scaled_dot_product_attention", attention, "k.T reverses ALL axes", "raised ValueError")


def test_attention_single_output_is_a_type_problem():
    def attention(q, k, v):
        return learner_attention(q, k, v)[0]
    assert_flags("scaled_dot_product_attention", attention, "returned one ndarray; return a tuple (output, weights)")
