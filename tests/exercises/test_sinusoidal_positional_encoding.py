"""Exercise sinusoidal_positional_encoding (lesson 10)."""
from __future__ import annotations

import numpy as np

from attention_course import exercises as ex

from ._helpers import assert_flags, hints_of  # noqa: F401


# ---------------------------------------------------- positional encoding ----

def learner_pe(n_positions, d_model):              # correct, written with loops
    pe = np.zeros((n_positions, d_model))
    for pos in range(n_positions):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            pe[pos, 2 * i] = np.sin(angle)
            pe[pos, 2 * i + 1] = np.cos(angle)
    return pe


def test_positional_encoding_correct_learner_passes():
    assert ex.check("sinusoidal_positional_encoding", learner_pe).passed


def test_positional_encoding_sin_cos_swapped():
    def pe(n_positions, d_model):
        out = learner_pe(n_positions, d_model)
        return out[:, [j + 1 if j % 2 == 0 else j - 1 for j in range(d_model)]]
    assert_flags("sinusoidal_positional_encoding", pe, "sin and cos are swapped")


def test_positional_encoding_wrong_exponent():
    def pe(n_positions, d_model):
        out = np.zeros((n_positions, d_model))
        for pos in range(n_positions):
            for i in range(d_model // 2):
                angle = pos / 10000 ** (i / d_model)
                out[pos, 2 * i], out[pos, 2 * i + 1] = np.sin(angle), np.cos(angle)
        return out
    assert_flags("sinusoidal_positional_encoding", pe, "Wrong exponent: you used i / d_model")


def test_positional_encoding_column_exponent():
    def pe(n_positions, d_model):
        pos = np.arange(n_positions)[:, None]
        j = np.arange(d_model)
        angle = pos / 10000 ** (j / d_model)
        return np.where(j % 2 == 0, np.sin(angle), np.cos(angle))
    assert_flags("sinusoidal_positional_encoding", pe, "Wrong exponent for the cos columns")


def test_positional_encoding_wrong_shape():
    def pe(n_positions, d_model):
        return learner_pe(n_positions, d_model).T
    assert_flags("sinusoidal_positional_encoding", pe, "Wrong output shape", "expected (4, 6), got (6, 4)")


def test_positional_encoding_sines_then_cosines_is_named_as_another_order():
    def pe(n_positions, d_model):
        pos = np.arange(n_positions)[:, None]
        angle = pos / 10000 ** (np.arange(0, d_model, 2) / d_model)
        return np.hstack([np.sin(angle), np.cos(angle)])
    report = assert_flags("sinusoidal_positional_encoding", pe, "all the sines in the first half",
                          "same set of columns in another order", "not the formula asked")
    assert not any("swapped" in h or "Positions start at 1" in h for h in report.hints), report


def test_positional_encoding_positions_starting_at_1():
    def pe(n_positions, d_model):
        out = np.zeros((n_positions, d_model))
        for row in range(n_positions):
            pos = row + 1
            for i in range(0, d_model, 2):
                out[row, i] = np.sin(pos / 10000 ** (i / d_model))
                out[row, i + 1] = np.cos(pos / 10000 ** (i / d_model))
        return out
    report = assert_flags("sinusoidal_positional_encoding", pe, "Positions start at 1")
    assert len([h for h in report.hints if not h.startswith("Your")]) == 1, report


def test_positional_encoding_each_mistake_gets_only_its_own_hint():
    def swapped(n_positions, d_model):
        angle = np.arange(n_positions)[:, None] / 10000 ** (np.arange(0, d_model, 2) / d_model)
        out = np.empty((n_positions, d_model))
        out[:, ::2], out[:, 1::2] = np.cos(angle), np.sin(angle)
        return out
    report = assert_flags("sinusoidal_positional_encoding", swapped, "sin and cos are swapped")
    assert not any("exponent" in h or "first half" in h for h in report.hints), report
