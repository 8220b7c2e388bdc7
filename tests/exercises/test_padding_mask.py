"""Exercise padding_mask (lesson 09): learner-style code, right and wrong."""
from __future__ import annotations

import numpy as np

from attention_course import exercises as ex

from ._helpers import assert_flags

EXERCISE = ex.get("padding_mask")
CATALOGUE = [m.hint for m in EXERCISE.mistakes]


def named(report):
    return [h for h in CATALOGUE if h in report.hints]


def test_correct_learners_pass():
    def with_loops(lengths, n):
        mask = np.zeros((len(lengths), 1, n), dtype=bool)
        for b, length in enumerate(lengths):
            mask[b, 0, :length] = True
        return mask

    def with_broadcasting(lengths, n):
        return np.expand_dims(np.arange(n) < np.array(lengths)[:, None], 1)
    assert ex.check("padding_mask", with_loops).passed
    assert ex.check("padding_mask", with_broadcasting).passed


def test_the_package_passes():
    import attention_course as ac
    assert ex.check("padding_mask", ac.padding_mask).passed


def test_mask_on_the_query_axis():
    def padding_mask(lengths, n):
        real = np.arange(n)[None, :] < np.array(lengths)[:, None]
        return real[:, :, np.newaxis]                       # (batch, n, 1)
    report = assert_flags("padding_mask", padding_mask, "Mask on the query axis")
    assert "Wrong output shape" not in "\n".join(report.hints)        # the named mistake already says it
    assert named(report) == [EXERCISE.mistakes[0].hint]


def test_true_on_the_padding():
    def padding_mask(lengths, n):
        return (np.arange(n) >= np.array(lengths)[:, None])[:, None, :]
    report = assert_flags("padding_mask", padding_mask, "True on the padding")
    assert named(report) == [EXERCISE.mistakes[1].hint]


def test_one_too_many():
    def padding_mask(lengths, n):
        return np.array([[[j <= length for j in range(n)]] for length in lengths])
    report = assert_flags("padding_mask", padding_mask, "One padding position too many")
    assert named(report) == [EXERCISE.mistakes[2].hint]


def test_missing_query_axis():
    def padding_mask(lengths, n):
        return np.arange(n) < np.array(lengths).reshape(-1, 1)
    report = assert_flags("padding_mask", padding_mask, "Missing the query axis")
    assert named(report) == [EXERCISE.mistakes[3].hint]


def test_integers_instead_of_bools_is_a_dtype_problem():
    def padding_mask(lengths, n):
        return (np.arange(n) < np.array(lengths)[:, None])[:, None, :].astype(int)
    report = assert_flags("padding_mask", padding_mask, "return a bool array")
    assert named(report) == []


def test_the_multi_head_shape_is_one_axis_too_many_here():
    def padding_mask(lengths, n):
        real = np.arange(n) < np.array(lengths)[:, None]
        return real.reshape(len(lengths), 1, 1, n)               # (batch, 1, 1, n), as for multi-head scores
    report = assert_flags("padding_mask", padding_mask, "one axis too many")
    assert named(report) == [EXERCISE.mistakes[4].hint]


def test_the_lessons_wrong_mask_with_a_head_axis_is_the_query_axis_mistake():
    def padding_mask(lengths, n):
        real = np.stack([np.arange(n) < length for length in lengths])
        return real[:, np.newaxis, :, np.newaxis]                # (batch, 1, n, 1)
    report = assert_flags("padding_mask", padding_mask, "Mask on the query axis", "(batch, 1, n, 1)")
    assert named(report) == [EXERCISE.mistakes[5].hint]
