"""Exercise apply_rope (lesson 10): a correct learner passes, each learner-style mistake gets its own hint."""
from __future__ import annotations

import math

import numpy as np

import attention_course as ac
from attention_course import exercises as ex

from ._helpers import assert_flags

HINTS = {
    "sign": "Rotation by the wrong sign",
    "halves": "You paired feature i with feature i + d/2",
    "one": "Every pair turned by the same angle",
    "i/d": "Wrong exponent: you used i / d",
    "rows": "ignored `positions`",
    "overwrite": "computed from the already-turned even ones",
}


def only(report, key):
    """The hint of mistake `key` and no other mistake's."""
    others = [k for k, fragment in HINTS.items() if k != key and any(fragment in h for h in report.hints)]
    assert others == [], (others, report)


def learner_rope(x, positions):                  # correct, written with loops over rows and pairs
    out = np.zeros(x.shape)
    d = x.shape[-1]
    for j, p in enumerate(positions):
        for i in range(d // 2):
            theta = p / 10000 ** (2 * i / d)
            a, b = x[..., j, 2 * i], x[..., j, 2 * i + 1]
            out[..., j, 2 * i] = a * math.cos(theta) - b * math.sin(theta)
            out[..., j, 2 * i + 1] = a * math.sin(theta) + b * math.cos(theta)
    return out


def test_a_correct_learner_passes_and_the_reference_equals_the_package():
    assert ex.check("apply_rope", learner_rope).passed
    for case in ex.get("apply_rope").get_cases():
        x, positions = case.args
        np.testing.assert_allclose(ex.get("apply_rope").reference(x, positions), ac.apply_rope(x, positions),
                                   rtol=1e-6, atol=1e-6)


def test_a_complex_number_learner_passes():
    def rope(x, positions):
        d = x.shape[-1]
        z = x[..., 0::2] + 1j * x[..., 1::2]
        z = z * np.exp(1j * np.outer(positions, 1 / 10000 ** (np.arange(0, d, 2) / d)))
        return np.stack([z.real, z.imag], axis=-1).reshape(x.shape)
    assert ex.check("apply_rope", rope).passed


def test_rotation_by_the_wrong_sign():
    def rope(x, positions):
        d = x.shape[-1]
        theta = np.outer(positions, 1 / 10000 ** (np.arange(0, d, 2) / d))
        a, b = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = a * np.cos(theta) + b * np.sin(theta)          # turned clockwise
        out[..., 1::2] = -a * np.sin(theta) + b * np.cos(theta)
        return out
    only(assert_flags("apply_rope", rope, HINTS["sign"]), "sign")


def test_halves_paired_instead_of_neighbours():
    def rope(x, positions):
        d = x.shape[-1]
        theta = np.outer(positions, 1 / 10000 ** (np.arange(0, d, 2) / d))
        cos, sin = np.concatenate([np.cos(theta)] * 2, -1), np.concatenate([np.sin(theta)] * 2, -1)
        rotated_half = np.concatenate([-x[..., d // 2:], x[..., : d // 2]], axis=-1)
        return x * cos + rotated_half * sin
    only(assert_flags("apply_rope", rope, HINTS["halves"]), "halves")


def test_one_frequency_for_every_pair():
    def rope(x, positions):
        theta = np.asarray(positions, dtype=float)[:, None]            # the same angle for all pairs
        a, b = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = a * np.cos(theta) - b * np.sin(theta)
        out[..., 1::2] = a * np.sin(theta) + b * np.cos(theta)
        return out
    only(assert_flags("apply_rope", rope, HINTS["one"]), "one")


def test_one_other_frequency_for_every_pair_is_found_by_the_diagnosis():
    def rope(x, positions):
        d = x.shape[-1]
        theta = np.asarray(positions, dtype=float)[:, None] / 10000 ** (2 / d)     # pair 1's frequency for all
        a, b = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = a * np.cos(theta) - b * np.sin(theta)
        out[..., 1::2] = a * np.sin(theta) + b * np.cos(theta)
        return out
    only(assert_flags("apply_rope", rope, HINTS["one"]), "one")


def test_exponent_i_over_d():
    def rope(x, positions):
        d = x.shape[-1]
        out = x.astype(float).copy()
        for i in range(d // 2):
            theta = np.asarray(positions) / 10000 ** (i / d)
            a, b = x[..., 2 * i].copy(), x[..., 2 * i + 1].copy()
            out[..., 2 * i] = a * np.cos(theta) - b * np.sin(theta)
            out[..., 2 * i + 1] = a * np.sin(theta) + b * np.cos(theta)
        return out
    only(assert_flags("apply_rope", rope, HINTS["i/d"]), "i/d")


def test_positions_ignored():
    def rope(x, positions):
        n, d = x.shape[-2:]
        theta = np.arange(n)[:, None] / 10000 ** (np.arange(0, d, 2) / d)
        a, b = x[..., 0::2], x[..., 1::2]
        return np.stack([a * np.cos(theta) - b * np.sin(theta), a * np.sin(theta) + b * np.cos(theta)],
                        -1).reshape(x.shape)
    only(assert_flags("apply_rope", rope, HINTS["rows"]), "rows")


def test_odd_features_from_the_overwritten_even_ones_and_the_input_changed():
    def rope(x, positions):
        d = x.shape[-1]
        theta = np.outer(positions, 1 / 10000 ** (np.arange(0, d, 2) / d))
        even, odd = x[..., 0::2], x[..., 1::2]          # views into x
        x[..., 0::2] = even * np.cos(theta) - odd * np.sin(theta)
        x[..., 1::2] = even * np.sin(theta) + odd * np.cos(theta)      # 'even' is already turned here
        return x
    report = assert_flags("apply_rope", rope, HINTS["overwrite"], "changed its input x in place")
    only(report, "overwrite")


def test_the_stub_is_not_done_yet():
    def rope(x, positions):
        raise NotImplementedError
    report = ex.check("apply_rope", rope)
    assert report.status == "not done"
