"""Exercise masked_attention (lesson 09): learner-style code, right and wrong; each mask mistake gets
its own hint (and no other mask mistake's), mistakes made together get both."""
from __future__ import annotations

import numpy as np

from attention_course import exercises as ex

from ._helpers import assert_flags

EXERCISE = ex.get("masked_attention")
CATALOGUE = [m.hint for m in EXERCISE.mistakes]
MASK_IGNORED = next(h for h in CATALOGUE if h.startswith("The mask is never used"))
NONE_HIDES_ALL = next(h for h in CATALOGUE if h.startswith("mask=None hides every key"))


def safe_softmax(s):
    """Softmax over the keys that gives a row of -inf all zeros (written with logsumexp)."""
    m = s.max(axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    total = np.exp(s - m).sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        log_total = m + np.log(total)
    return np.where(total > 0, np.exp(s - log_total), 0.0)


def naive_softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def attention(q, k, v, mask=None, *, hide=-np.inf, softmax=safe_softmax, after=False, invert=False, scale=None):
    scores = np.einsum("...qd,...kd->...qk", q, k) * (q.shape[-1] ** -0.5 if scale is None else scale)
    if mask is not None and not after:
        keep = ~np.asarray(mask) if invert else np.asarray(mask)
        scores = np.where(keep, scores, hide)
    w = softmax(scores)
    if mask is not None and after:
        w = w * mask
    return w @ v, w


def named(report):
    return [h for h in CATALOGUE if h in report.hints]


def test_correct_learners_pass():
    assert ex.check("masked_attention", attention).passed

    def with_a_loop(q, k, v, mask=None):                      # row by row, empty rows skipped
        scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
        visible = np.ones(scores.shape, bool) if mask is None else np.broadcast_to(mask, scores.shape)
        w = np.zeros_like(scores)
        for idx in np.ndindex(scores.shape[:-1]):
            keep = visible[idx]
            if keep.any():
                e = np.exp(scores[idx][keep] - scores[idx][keep].max())
                w[idx][keep] = e / e.sum()
        return w @ v, w
    assert ex.check("masked_attention", with_a_loop).passed


def test_the_package_passes():
    import attention_course as ac
    assert ex.check("masked_attention", ac.scaled_dot_product_attention).passed


def test_mask_applied_after_softmax():
    report = assert_flags("masked_attention", lambda *a: attention(*a, after=True), "Mask applied after the softmax")
    assert named(report) == [EXERCISE.mistakes[0].hint]


def test_hidden_scores_set_to_zero():
    def zeroed(q, k, v, mask=None):
        scores = q @ np.swapaxes(k, -2, -1) / np.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores * mask
        w = safe_softmax(scores)
        return w @ v, w
    report = assert_flags("masked_attention", zeroed, "Hidden scores set to 0 instead of -inf")
    assert EXERCISE.mistakes[1].hint in named(report)


def test_true_meaning_hide():
    report = assert_flags("masked_attention", lambda *a: attention(*a, invert=True), "Mask inverted")
    assert named(report) == [EXERCISE.mistakes[2].hint]


def test_nan_on_an_empty_row():
    report = assert_flags("masked_attention", lambda *a: attention(*a, softmax=naive_softmax), "NaN on an empty row")
    assert named(report) == [ex.get("masked_attention").mistakes[4].hint]
    assert set(report.failed_cases) == {c.label for c in EXERCISE.get_cases() if "see" in c.label
                                        or "hidden" in c.label or "length 0" in c.label}


def test_a_large_negative_number_instead_of_minus_infinity():
    report = assert_flags("masked_attention", lambda *a: attention(*a, hide=-1e9, softmax=naive_softmax),
                          "hiding with a finite number such as -1e9")
    assert named(report) == [EXERCISE.mistakes[5].hint]


def test_added_large_negative_is_caught_by_the_empty_row_check():
    def added(q, k, v, mask=None):                            # scores + (1 - mask) * -1e9: shift-invariant softmax
        scores = q @ np.swapaxes(k, -2, -1) / np.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores + (1.0 - np.asarray(mask, float)) * -1e9
        w = naive_softmax(scores)
        return w @ v, w
    assert_flags("masked_attention", added, "hiding with a finite number such as -1e9")


def test_mask_after_softmax_and_missing_scale_together():
    report = assert_flags("masked_attention", lambda *a: attention(*a, after=True, scale=1.0),
                          "Mask applied after the softmax", "Missing the 1/√d_k scaling")
    assert "NaN on an empty row" not in "\n".join(report.hints)


def test_nan_and_missing_scale_together():
    assert_flags("masked_attention", lambda *a: attention(*a, softmax=naive_softmax, scale=1.0),
                 "NaN on an empty row", "Missing the 1/√d_k scaling")


def test_mask_none_not_handled():
    def attention_without_none(q, k, v, mask=None):
        w = safe_softmax(np.where(mask, q @ np.swapaxes(k, -2, -1) / np.sqrt(q.shape[-1]), -np.inf))
        return w @ v, w
    report = assert_flags("masked_attention", attention_without_none, "mask=None hides every key")
    assert report.failed_cases == ["no mask (mask=None)"]
    assert [h for h in CATALOGUE if h in report.hints] == [NONE_HIDES_ALL], report


def test_a_mask_that_is_accepted_and_never_used():
    def attention_ignoring_the_mask(q, k, v, mask=None):
        w = naive_softmax(q @ np.swapaxes(k, -2, -1) / np.sqrt(q.shape[-1]))      # forgot the mask entirely
        return w @ v, w
    report = assert_flags("masked_attention", attention_ignoring_the_mask, "The mask is never used")
    assert [h for h in CATALOGUE if h in report.hints] == [MASK_IGNORED], report
