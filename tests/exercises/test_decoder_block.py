"""Exercise decoder_block (lesson 15): learner-style code, right and wrong, written independently of the
exercise's buggy functions (plain numpy attention, a hand-written LayerNorm); each mistake must get its own
hint and no other mistake's."""
from __future__ import annotations

import math

import numpy as np
import pytest

import attention_course as ac
from attention_course import exercises as ex
from attention_course import pretrained

from ._helpers import assert_names, hints_of

NAME = "decoder_block"
HINTS = [m.hint for m in ex.get(NAME).mistakes]


def ln(x, g, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    return g * (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) + b


def gelu(z):
    return pretrained.gelu(z)


def attention(h, p, num_heads, future="hidden", biases=True):
    """Multi-head self-attention as a loop over heads; future = 'hidden' | 'visible' | 'only' | 'past only'."""
    n, d = h.shape[-2], h.shape[-1]
    dh = d // num_heads
    b = (p.b_q, p.b_k, p.b_v, p.b_o) if biases else (0.0, 0.0, 0.0, 0.0)
    q, k, v = h @ p.w_q + b[0], h @ p.w_k + b[1], h @ p.w_v + b[2]
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    allowed = {"hidden": j <= i, "visible": np.ones((n, n), bool), "only": j >= i, "past only": j < i}[future]
    outs = []
    for head in range(num_heads):
        c = slice(head * dh, (head + 1) * dh)
        s = q[..., c] @ np.swapaxes(k[..., c], -1, -2) / math.sqrt(dh)
        s = np.where(allowed, s, -np.inf)
        top = s.max(-1, keepdims=True)
        e = np.exp(s - np.where(np.isinf(top), 0.0, top))              # a row that sees nothing: all zeros
        outs.append((e / np.maximum(e.sum(-1, keepdims=True), 1e-300)) @ v[..., c])
    return np.concatenate(outs, -1) @ p.w_o + b[3]


def ff(h, p, act=gelu):
    return act(h @ p.w_1 + p.b_1) @ p.w_2 + p.b_2


def learner(x, p, num_heads):
    x = x + attention(ln(x, p.ln1_gain, p.ln1_bias), p, num_heads)
    return x + ff(ln(x, p.ln2_gain, p.ln2_bias), p)


def test_correct_learners_pass():
    assert ex.check(NAME, learner).passed

    def with_the_package(x, p, num_heads):
        n = x.shape[-2]
        h = pretrained.layer_norm(x, p.ln1_gain, p.ln1_bias)
        a, _ = ac.multi_head_attention(h, h, h, p.w_q, p.w_k, p.w_v, p.w_o, num_heads, mask=ac.causal_mask(n),
                                       b_q=p.b_q, b_k=p.b_k, b_v=p.b_v, b_o=p.b_o)
        x = x + a
        return x + pretrained.gelu(pretrained.layer_norm(x, p.ln2_gain, p.ln2_bias) @ p.w_1 + p.b_1) @ p.w_2 + p.b_2
    assert ex.check(NAME, with_the_package).passed


def test_the_stub_is_not_done_yet():
    def stub(x, p, num_heads):
        raise NotImplementedError
    report = hints_of(NAME, stub)
    assert not report.passed and "not done yet" in str(report)


def written(*, future="hidden", order="pre", residual_from="x", first=("ln1", "ln2"), ff_norm=True,
            ff_residual=True, attention_residual=True, act=gelu, biases=True, last_norm=False, eps=1e-12):
    """A learner's decoder block, written out; each keyword is one way to get it wrong.
    residual_from: "x" (right), "x_hat" (the attention's residual from the normalised x), "x_hat both"."""
    def block(x, p, num_heads):
        norms = {"ln1": (p.ln1_gain, p.ln1_bias, eps), "ln2": (p.ln2_gain, p.ln2_bias, eps)}
        if order == "post":
            x = ln(x + attention(x, p, num_heads), *norms["ln1"])
            return ln(x + ff(x, p, act), *norms["ln2"])
        x_hat = ln(x, *norms[first[0]])
        a = attention(x_hat, p, num_heads, future=future, biases=biases)
        x = (x_hat if residual_from.startswith("x_hat") else x) + a if attention_residual else a
        x_hat = ln(x, *norms[first[1]]) if ff_norm else x
        start = x_hat if residual_from == "x_hat both" else x
        x = start + ff(x_hat, p, act) if ff_residual else ff(x_hat, p, act)
        return ln(x, *norms["ln2"]) if last_norm else x
    return block


def relu(z):
    return np.where(z > 0, z, 0.0)


def gelu_tanh(z):
    return z / 2 * (1 + np.tanh(0.7978845608 * (z + 0.044715 * z ** 3)))


def test_the_written_block_is_right_when_nothing_is_wrong():
    assert ex.check(NAME, written()).passed


@pytest.mark.parametrize("fragment, fn", [
    ("No causal mask", written(future="visible")),
    ("Wrong triangle", written(future="only")),
    ("Your mask hides the diagonal too", written(future="past only")),
    ("LayerNorm after each residual", written(order="post")),
    ("The residual starts from the normalised x", written(residual_from="x_hat")),
    ("Both residuals start from the normalised x", written(residual_from="x_hat both")),
    ("The two LayerNorms are swapped", written(first=("ln2", "ln1"))),
    ("The same LayerNorm twice", written(first=("ln1", "ln1"))),
    ("The feed-forward reads x without its LayerNorm", written(ff_norm=False)),
    ("The feed-forward's residual is missing", written(ff_residual=False)),
    ("The attention's residual is missing", written(attention_residual=False)),
    ("ReLU instead of GELU", written(act=relu)),
    ("The tanh approximation of GELU", written(act=gelu_tanh)),
    ("LayerNorm with eps = 1e-5", written(eps=1e-5)),
    ("The attention's biases are missing", written(biases=False)),
    ("You normalised the block's output", written(last_norm=True)),
])
def test_each_mistake_gets_its_own_hint(fragment, fn):
    assert_names(NAME, fn, fragment)


def test_every_catalogued_mistake_has_a_learner_style_test():
    tested = {"No causal mask", "Wrong triangle", "Your mask hides the diagonal too", "LayerNorm after each residual",
              "The residual starts from the normalised x", "Both residuals start from the normalised x",
              "The two LayerNorms are swapped", "The same LayerNorm twice", "LayerNorm with eps = 1e-5",
              "The feed-forward reads x without its LayerNorm", "The feed-forward's residual is missing",
              "The attention's residual is missing", "ReLU instead of GELU", "The tanh approximation of GELU",
              "The attention's biases are missing", "You normalised the block's output"}
    for hint in HINTS:
        assert any(hint.startswith(t) for t in tested), hint


def test_an_unrelated_bug_gets_the_generic_error_and_no_mistake_name():
    def typo(x, p, num_heads):
        n = int("x")                                                  # not a decoder mistake at all
        return x[..., :n, :]
    report = hints_of(NAME, typo)
    assert not report.passed and "ValueError" in str(report) and "int(" in str(report)
    assert not any(h in report.hints for h in HINTS)


def test_a_mask_of_the_wrong_size_gets_the_error_and_no_mistake_name():
    def wrong_size(x, p, num_heads):
        h = pretrained.layer_norm(x, p.ln1_gain, p.ln1_bias)
        a, _ = ac.multi_head_attention(h, h, h, p.w_q, p.w_k, p.w_v, p.w_o, num_heads,
                                       mask=ac.causal_mask(x.shape[-1]))            # d_model, not n
        return x + a
    report = hints_of(NAME, wrong_size)
    assert not report.passed and "ValueError" in str(report)
    assert not any(h in report.hints for h in HINTS)
