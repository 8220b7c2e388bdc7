"""Exercise split_heads (lesson 08)."""
from __future__ import annotations

import numpy as np

from attention_course import exercises as ex

from ._helpers import assert_flags, hints_of  # noqa: F401


# ------------------------------------------------------------- split heads ----

def test_split_heads_correct_learners_pass():
    def by_stacking(x, num_heads):
        d_head = x.shape[-1] // num_heads
        return np.stack([x[..., h * d_head:(h + 1) * d_head] for h in range(num_heads)], axis=-3)
    assert ex.check("split_heads", by_stacking).passed


def test_split_heads_without_transpose():
    def split_heads(x, num_heads):
        *batch, n, d_model = x.shape
        return np.reshape(x, (*batch, num_heads, n, d_model // num_heads))
    report = assert_flags("split_heads", split_heads, "Heads reshaped without the transpose")
    assert "Wrong output shape" not in "\n".join(report.hints)


def test_split_heads_forgot_the_swap():
    def split_heads(x, num_heads):
        return x.reshape(x.shape[:-1] + (num_heads, -1))
    report = assert_flags("split_heads", split_heads, "you stopped at (..., n, h, d_head)")
    assert "Wrong output shape (" not in "\n".join(report.hints)     # the named mistake already says it
    assert "Heads reshaped without the transpose" not in "\n".join(report.hints)


def test_split_heads_columns_dealt_round_robin():
    def split_heads(x, num_heads):
        return np.stack([x[..., h::num_heads] for h in range(num_heads)], axis=-3)
    report = assert_flags("split_heads", split_heads, "contiguous block of d_head columns")
    assert "Heads reshaped without the transpose" not in "\n".join(report.hints)
