"""Exercise additive_attention (lesson 11): a correct learner passes, each learner-style mistake gets its own hint."""
from __future__ import annotations

import numpy as np

import attention_course as ac
from attention_course import exercises as ex

from ._helpers import assert_flags

HINTS = {
    "tanh": "Every query got the same weights",
    "sum": "You summed the hidden units",
    "axis": "Softmax over the queries",
    "same": "q and k were added on the same axis",
    "outside": "tanh applied after w_v",
}


def only(report, key):
    others = [k for k, fragment in HINTS.items() if k != key and any(fragment in h for h in report.hints)]
    assert others == [], (others, report)


def softmax_rows(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def learner_additive(q, k, v, w_q, w_k, w_v):     # correct, with loops over the pairs
    scores = np.zeros((len(q), len(k)))
    for i in range(len(q)):
        for j in range(len(k)):
            scores[i, j] = w_v @ np.tanh(q[i] @ w_q + k[j] @ w_k)
    weights = softmax_rows(scores)
    return weights @ v, weights


def test_a_correct_learner_passes_and_the_reference_equals_the_package():
    assert ex.check("additive_attention", learner_additive).passed
    exercise = ex.get("additive_attention")
    for case in exercise.get_cases():
        out, w = exercise.reference(*case.args)
        ref_out, ref_w = ac.additive_attention(*case.args)
        np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(w, ref_w, rtol=1e-5, atol=1e-6)


def test_tanh_forgotten():
    def additive(q, k, v, w_q, w_k, w_v):
        scores = ((q @ w_q)[:, None, :] + (k @ w_k)[None, :, :]) @ w_v
        weights = softmax_rows(scores)
        return weights @ v, weights
    only(assert_flags("additive_attention", additive, HINTS["tanh"], "when tanh is forgotten"), "tanh")


def test_tanh_forgotten_and_summed_is_still_named_for_the_missing_tanh():
    def additive(q, k, v, w_q, w_k, w_v):
        scores = ((q @ w_q)[:, None, :] + (k @ w_k)[None, :, :]).sum(-1)
        weights = softmax_rows(scores)
        return weights @ v, weights
    assert_flags("additive_attention", additive, HINTS["tanh"])


def test_tanh_on_each_side_before_the_sum_is_described_by_what_it_does():
    def additive(q, k, v, w_q, w_k, w_v):
        hidden = np.tanh(q @ w_q)[:, None, :] + np.tanh(k @ w_k)[None, :, :]     # tanh applied, in the wrong place
        weights = softmax_rows(hidden @ w_v)
        return weights @ v, weights
    report = assert_flags("additive_attention", additive, HINTS["tanh"], "applied to q_h and k_h separately")
    only(report, "tanh")


def test_summed_over_h_instead_of_w_v():
    def additive(q, k, v, w_q, w_k, w_v):
        hidden = np.tanh(np.expand_dims(q @ w_q, 1) + np.expand_dims(k @ w_k, 0))
        weights = softmax_rows(np.sum(hidden, axis=2))
        return weights @ v, weights
    only(assert_flags("additive_attention", additive, HINTS["sum"]), "sum")


def test_softmax_over_the_queries():
    def additive(q, k, v, w_q, w_k, w_v):
        scores = np.tanh((q @ w_q)[:, None] + (k @ w_k)[None]) @ w_v
        e = np.exp(scores - scores.max(axis=0, keepdims=True))
        weights = e / e.sum(axis=0, keepdims=True)
        return weights @ v, weights
    only(assert_flags("additive_attention", additive, HINTS["axis"]), "axis")


def test_q_and_k_broadcast_on_the_same_axis():
    def additive(q, k, v, w_q, w_k, w_v):
        scores = np.tanh(q @ w_q + k @ w_k) @ w_v
        weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        return weights @ v, weights
    only(assert_flags("additive_attention", additive, HINTS["same"]), "same")


def test_tanh_after_the_read_out():
    def additive(q, k, v, w_q, w_k, w_v):
        scores = np.tanh(((q @ w_q)[:, None, :] + (k @ w_k)[None, :, :]) @ w_v)
        weights = softmax_rows(scores)
        return weights @ v, weights
    only(assert_flags("additive_attention", additive, HINTS["outside"]), "outside")


def test_both_projections_expanded_on_one_axis_gets_the_broadcasting_tip():
    def additive(q, k, v, w_q, w_k, w_v):
        hidden = np.tanh((q @ w_q)[:, None, :] + (k @ w_k)[:, None, :])
        weights = softmax_rows((hidden @ w_v))
        return weights @ v, weights
    report = ex.check("additive_attention", additive)
    assert not report.passed
    assert any("Your function raised ValueError" in h for h in report.hints), report
    assert any("q_h[:, None, :] + k_h[None, :, :]" in h for h in report.hints), report


def test_the_stub_is_not_done_yet():
    def additive(q, k, v, w_q, w_k, w_v):
        raise NotImplementedError
    assert ex.check("additive_attention", additive).status == "not done"
