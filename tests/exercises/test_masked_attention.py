"""Exercise masked_attention (lesson 09)."""
from __future__ import annotations

import numpy as np


from ._helpers import assert_flags, hints_of  # noqa: F401


from .test_scaled_dot_product_attention import learner_attention
from .test_softmax import learner_softmax



def test_mask_applied_after_softmax():
    def attention(q, k, v, mask=None):
        out, w = learner_attention(q, k, v)
        if mask is not None:
            w = w * mask
        return w @ v, w
    assert_flags("masked_attention", attention, "Mask applied after the softmax")


def test_hidden_scores_set_to_zero():
    def attention(q, k, v, mask=None):
        scores = q @ np.swapaxes(k, -2, -1) / np.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores * mask
        w = learner_softmax(scores)
        return w @ v, w
    assert_flags("masked_attention", attention, "Hidden scores set to 0 instead of -inf")


def test_mask_inverted():
    def attention(q, k, v, mask=None):
        scores = q @ np.swapaxes(k, -2, -1) / np.sqrt(q.shape[-1])
        if mask is not None:
            scores = np.where(~np.asarray(mask), scores, -np.inf)
        w = learner_softmax(scores)
        return w @ v, w
    assert_flags("masked_attention", attention, "Mask inverted")


def test_mask_after_softmax_and_missing_scale_together():
    def attention(q, k, v, mask=None):
        scores = q @ np.swapaxes(k, -2, -1)
        w = learner_softmax(scores)
        if mask is not None:
            w = np.where(mask, w, 0.0)
        return w @ v, w
    assert_flags("masked_attention", attention, "Mask applied after the softmax", "Missing the 1/√d_k scaling")


def test_mask_none_not_handled():
    def attention(q, k, v, mask=None):
        scores = np.where(mask, q @ np.swapaxes(k, -2, -1) / np.sqrt(q.shape[-1]), -np.inf)
        w = learner_softmax(scores)
        return w @ v, w
    report = assert_flags("masked_attention", attention, "'no mask (mask=None)'")
    assert report.failed_cases == ["no mask (mask=None)"]
