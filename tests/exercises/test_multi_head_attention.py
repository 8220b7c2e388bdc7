"""Exercise multi_head_attention (lesson 08): learner-style code, right and wrong, written independently
of the exercise's buggy functions; each mistake must get its own hint and no other mistake's."""
from __future__ import annotations

import numpy as np
import pytest

from attention_course import exercises as ex

from ._helpers import assert_flags

EXERCISE = ex.get("multi_head_attention")
CATALOGUE = [m.hint for m in EXERCISE.mistakes]
SOFTMAX_AXIS = next(h for h in CATALOGUE if h.startswith("Softmax over the wrong axis"))


def softmax_rows(s):
    m = s.max(axis=-1, keepdims=True)
    log_total = m + np.log(np.exp(s - m).sum(axis=-1, keepdims=True))
    return np.exp(s - log_total)


def loop_over_heads(x, w_q, w_k, w_v, w_o, num_heads, *, cols=None, scale=None, use_w_o=True, average=False):
    """Correct unless told otherwise: a Python loop over heads with column slices."""
    d_model = x.shape[-1]
    d_head = d_model // num_heads
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    outs, pats = [], []
    for h in range(num_heads):
        c = slice(h * d_head, (h + 1) * d_head) if cols is None else cols(h, d_head, num_heads)
        s = q[..., c] @ np.swapaxes(k[..., c], -1, -2) / (np.sqrt(d_head) if scale is None else scale)
        a = softmax_rows(s)
        outs.append(a @ v[..., c])
        pats.append(a)
    merged = np.concatenate(outs, axis=-1)
    weights = np.stack(pats, axis=-3)
    if average:
        weights = weights.mean(axis=-3)
    return (merged @ w_o if use_w_o else merged), weights


def only_hint(report, hint):
    named = [h for h in CATALOGUE if h in report.hints]
    assert named == [hint], report


def test_correct_learners_pass():
    assert ex.check("multi_head_attention", loop_over_heads).passed

    def with_einsum(x, w_q, w_k, w_v, w_o, num_heads):
        *b, n, d = x.shape
        split = lambda t: np.einsum("...nhd->...hnd", t.reshape(*b, n, num_heads, d // num_heads))  # noqa: E731
        q, k, v = split(x @ w_q), split(x @ w_k), split(x @ w_v)
        a = softmax_rows(np.einsum("...qd,...kd->...qk", q, k) / np.sqrt(d // num_heads))
        merged = np.einsum("...hnd->...nhd", a @ v).reshape(*b, n, d)
        return merged @ w_o, a
    assert ex.check("multi_head_attention", with_einsum).passed


def test_the_package_passes():
    import attention_course as ac
    assert ex.check("multi_head_attention",
                    lambda x, w_q, w_k, w_v, w_o, h: ac.multi_head_attention(x, x, x, w_q, w_k, w_v, w_o, h)).passed


def test_reshape_without_transpose():
    def mha(x, w_q, w_k, w_v, w_o, num_heads):
        *b, n, d = x.shape
        q, k, v = (np.reshape(x @ w, (*b, num_heads, n, d // num_heads)) for w in (w_q, w_k, w_v))
        a = softmax_rows(q @ np.swapaxes(k, -1, -2) / np.sqrt(d // num_heads))
        return np.reshape(a @ v, (*b, n, d)) @ w_o, a
    only_hint(assert_flags("multi_head_attention", mha, "Heads reshaped without the transpose"),
              EXERCISE.mistakes[0].hint)


def test_merge_without_transposing_back():
    def mha(x, w_q, w_k, w_v, w_o, num_heads):
        *b, n, d = x.shape
        dh = d // num_heads
        q, k, v = (np.stack([(x @ w)[..., i * dh:(i + 1) * dh] for i in range(num_heads)], axis=-3)
                   for w in (w_q, w_k, w_v))
        a = softmax_rows(q @ np.swapaxes(k, -1, -2) / np.sqrt(dh))
        return (a @ v).reshape(*b, n, d) @ w_o, a
    report = assert_flags("multi_head_attention", mha, "Heads merged without transposing back")
    only_hint(report, EXERCISE.mistakes[1].hint)


def test_split_along_the_wrong_axis_columns_round_robin():
    def mha(x, w_q, w_k, w_v, w_o, num_heads):
        out, a = loop_over_heads(x, w_q, w_k, w_v, w_o, num_heads, use_w_o=False,
                                 cols=lambda h, dh, nh: slice(h, None, nh))       # columns h, h + nh, ...
        merged = np.empty_like(out)
        dh = x.shape[-1] // num_heads
        for h in range(num_heads):                                                 # put them back where they were
            merged[..., h::num_heads] = out[..., h * dh:(h + 1) * dh]
        return merged @ w_o, a
    only_hint(assert_flags("multi_head_attention", mha, "Split along the wrong axis"), EXERCISE.mistakes[2].hint)


def test_w_o_forgotten():
    mha = lambda *args: loop_over_heads(*args, use_w_o=False)                    # noqa: E731
    only_hint(assert_flags("multi_head_attention", mha, "W_O forgotten"), EXERCISE.mistakes[3].hint)


def test_scaled_by_sqrt_d_model():
    mha = lambda x, *rest: loop_over_heads(x, *rest, scale=np.sqrt(x.shape[-1]))  # noqa: E731
    only_hint(assert_flags("multi_head_attention", mha, "Scaled by √d_model instead of √d_head"),
              EXERCISE.mistakes[4].hint)


def test_no_scaling():
    mha = lambda *args: loop_over_heads(*args, scale=1.0)                         # noqa: E731
    only_hint(assert_flags("multi_head_attention", mha, "Missing the scaling"), EXERCISE.mistakes[5].hint)


def test_the_same_projection_for_every_head():
    def mha(x, w_q, w_k, w_v, w_o, num_heads):
        dh = x.shape[-1] // num_heads
        q, k, v = x @ w_q[:, :dh], x @ w_k[:, :dh], x @ w_v[:, :dh]               # one small projection, reused
        heads, pats = [], []
        for _ in range(num_heads):
            a = softmax_rows(q @ np.swapaxes(k, -1, -2) / np.sqrt(dh))
            heads.append(a @ v)
            pats.append(a)
        return np.concatenate(heads, axis=-1) @ w_o, np.stack(pats, axis=-3)
    only_hint(assert_flags("multi_head_attention", mha, "Every head uses the same projection"),
              EXERCISE.mistakes[6].hint)


def test_weights_averaged_over_heads():
    mha = lambda *args: loop_over_heads(*args, average=True)                      # noqa: E731
    report = assert_flags("multi_head_attention", mha, "averaged over the heads")
    assert "Wrong output shape" not in "\n".join(report.hints)        # the named mistake already says it
    only_hint(report, EXERCISE.mistakes[7].hint)


def test_merge_without_transpose_and_no_w_o_together_point_after_the_attention():
    def mha(x, w_q, w_k, w_v, w_o, num_heads):
        *b, n, d = x.shape
        dh = d // num_heads
        q, k, v = (np.swapaxes((x @ w).reshape(*b, n, num_heads, dh), -3, -2) for w in (w_q, w_k, w_v))
        a = softmax_rows(q @ np.swapaxes(k, -1, -2) / np.sqrt(dh))
        return (a @ v).reshape(*b, n, d), a                                         # two mistakes at once
    report = assert_flags("multi_head_attention", mha, "Your weights are right")
    assert not [h for h in CATALOGUE if h in report.hints], report


def test_a_reshape_that_cannot_work_gets_the_reshape_tip():
    def mha(x, w_q, w_k, w_v, w_o, num_heads):
        *b, n, d = x.shape
        q = (x @ w_q).reshape(*b, n, num_heads, d)                                # d_model kept whole per head
        return q, q
    report = assert_flags("multi_head_attention", mha, "raised ValueError", "Check the reshape")
    assert not [h for h in CATALOGUE if h in report.hints], report


def test_softmax_over_the_queries():
    def mha(x, w_q, w_k, w_v, w_o, num_heads):
        *b, n, d = x.shape
        dh = d // num_heads
        q, k, v = (np.swapaxes((x @ w).reshape(*b, n, num_heads, dh), -3, -2) for w in (w_q, w_k, w_v))
        s = q @ np.swapaxes(k, -1, -2) / np.sqrt(dh)
        e = np.exp(s - s.max(axis=-2, keepdims=True))
        a = e / e.sum(axis=-2, keepdims=True)                                    # columns sum to 1, not rows
        return np.swapaxes(a @ v, -3, -2).reshape(*b, n, d) @ w_o, a
    only_hint(assert_flags("multi_head_attention", mha, "Softmax over the wrong axis"), SOFTMAX_AXIS)


def test_a_split_without_transpose_is_named_even_when_the_merge_is_right():
    def mha(x, w_q, w_k, w_v, w_o, num_heads):
        *b, n, d = x.shape
        dh = d // num_heads
        q, k, v = ((x @ w).reshape(*b, num_heads, n, dh) for w in (w_q, w_k, w_v))   # the shortcut
        a = softmax_rows(q @ np.swapaxes(k, -1, -2) / np.sqrt(dh))
        merged = np.swapaxes(a @ v, -3, -2).reshape(*b, n, d)                       # the merge as taught
        return merged @ w_o, a
    only_hint(assert_flags("multi_head_attention", mha, "Heads reshaped without the transpose"),
              EXERCISE.mistakes[0].hint)


def test_a_round_robin_split_is_named_even_when_the_merge_is_the_usual_one():
    def mha(x, w_q, w_k, w_v, w_o, num_heads):
        *b, n, d = x.shape
        dh = d // num_heads
        q, k, v = (np.einsum("...ndh->...hnd", (x @ w).reshape(*b, n, dh, num_heads)) for w in (w_q, w_k, w_v))
        a = softmax_rows(q @ np.swapaxes(k, -1, -2) / np.sqrt(dh))
        return np.swapaxes(a @ v, -3, -2).reshape(*b, n, d) @ w_o, a
    only_hint(assert_flags("multi_head_attention", mha, "Split along the wrong axis"), EXERCISE.mistakes[2].hint)


def test_two_mistakes_in_the_weights_and_after_them_name_the_one_the_weights_show():
    def mha(x, w_q, w_k, w_v, w_o, num_heads):                                       # sqrt(d_model), and no W_O
        return loop_over_heads(x, w_q, w_k, w_v, w_o, num_heads, scale=np.sqrt(x.shape[-1]), use_w_o=False)
    only_hint(assert_flags("multi_head_attention", mha, "Scaled by √d_model"), EXERCISE.mistakes[4].hint)


def test_a_full_width_head_copied_h_times_names_no_catalogued_mistake():
    def mha(x, w_q, w_k, w_v, w_o, num_heads):
        q, k, v = x @ w_q, x @ w_k, x @ w_v                                          # never split at all
        a = softmax_rows(q @ np.swapaxes(k, -1, -2) / np.sqrt(x.shape[-1] // num_heads))
        return (a @ v) @ w_o, np.stack([a] * num_heads, axis=-3)
    report = assert_flags("multi_head_attention", mha, "values differ")
    assert not [h for h in CATALOGUE if h in report.hints], report


@pytest.mark.parametrize("mistake", EXERCISE.mistakes, ids=lambda m: m.hint[:30])
def test_each_buggy_variant_is_told_apart_from_the_others(mistake):
    report = ex.check("multi_head_attention", mistake.buggy)
    only_hint(report, mistake.hint)
