"""softmax: known values, probability properties, stability, temperature."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import attention_course as ac

FEW = settings(max_examples=40, deadline=None)

# Finite floats over the whole float64 range, and moderate ones for exact comparisons.
any_finite = st.floats(allow_nan=False, allow_infinity=False)
moderate = st.floats(-50, 50, allow_nan=False)
temperatures = st.floats(1e-300, 1e300)


def hand_softmax(xs, temperature=1.0):
    """softmax from the definition, with math.exp on small inputs (no max-shift needed)."""
    e = [math.exp(x / temperature) for x in xs]
    return [x / sum(e) for x in e]


def test_softmax_of_2_1_01_matches_exponentials_computed_by_hand():
    # e^2 = 7.389..., e^1 = 2.718..., e^0.1 = 1.105...; total 11.212...
    expected = hand_softmax([2.0, 1.0, 0.1])
    got = ac.softmax(np.array([2.0, 1.0, 0.1]))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(got, [0.659, 0.242, 0.099], atol=5e-4)


def test_published_softmax_of_2_1_01_is_wrong():
    published = np.array([0.71, 0.26, 0.03])   # appears in the source notes
    got = ac.softmax(np.array([2.0, 1.0, 0.1]))
    assert np.abs(got - published).max() > 0.05
    # Not a rounding or temperature slip either: no temperature reproduces it.
    for t in np.geomspace(0.05, 20, 400):
        assert np.abs(ac.softmax(np.array([2.0, 1.0, 0.1]), temperature=t) - published).max() > 0.01


@FEW
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6), elements=moderate),
       st.integers(-1, 0))
def test_softmax_is_a_probability_distribution_along_axis(x, axis):
    p = ac.softmax(x, axis=axis)
    assert p.shape == x.shape
    assert np.all(p >= 0) and np.all(p <= 1)
    np.testing.assert_allclose(p.sum(axis=axis), 1.0, rtol=1e-12)


@FEW
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=6), elements=moderate),
       st.floats(-1e3, 1e3))
def test_softmax_is_shift_invariant(x, c):
    np.testing.assert_allclose(ac.softmax(x + c), ac.softmax(x), rtol=1e-9, atol=1e-15)


@FEW
@given(hnp.arrays(np.float64, st.integers(1, 8), elements=moderate))
def test_softmax_matches_hand_formula(x):
    np.testing.assert_allclose(ac.softmax(x), hand_softmax(list(x)), rtol=1e-9, atol=1e-300)


@FEW
@given(st.sampled_from([np.float32, np.float64]), st.data(), temperatures)
def test_softmax_is_finite_for_huge_and_tiny_scores_and_temperatures(dtype, data, t):
    info = np.finfo(dtype)
    values = st.floats(float(info.min), float(info.max), width=np.dtype(dtype).itemsize * 8)
    x = data.draw(hnp.arrays(dtype, st.integers(1, 8), elements=values))
    p = ac.softmax(x, temperature=t)
    assert p.dtype == dtype
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    assert p.sum() == pytest.approx(1.0, rel=1e-5 if dtype == np.float32 else 1e-12)
    assert p[np.argmax(x)] == p.max()   # the largest score keeps the largest weight


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_float32_with_temperatures_outside_float32_range_gives_the_limits(backend):
    # 1e-300 and 1e300 round to 0 and inf in float32; the limits are argmax and uniform.
    x = np.array([[0.0, -1.0, 0.0], [3e38, -3e38, 1.0]], dtype=np.float32)
    if backend == "torch":
        torch = pytest.importorskip("torch")
        x = torch.from_numpy(x)
    sharp, flat = ac.softmax(x, temperature=1e-300), ac.softmax(x, temperature=1e300)
    if backend == "torch":
        sharp, flat = sharp.numpy(), flat.numpy()
    np.testing.assert_allclose(sharp, [[0.5, 0, 0.5], [1, 0, 0]], atol=1e-7)
    np.testing.assert_allclose(flat, np.full((2, 3), 1 / 3), rtol=1e-6)


def test_softmax_survives_scores_that_would_overflow_exp():
    p = ac.softmax(np.array([1000.0, 999.0, -1000.0]))
    np.testing.assert_allclose(p, hand_softmax([1.0, 0.0, -2000.0]), rtol=1e-12)


@FEW
@given(hnp.arrays(np.float64, st.integers(1, 8), elements=moderate), st.floats(0.05, 20))
def test_temperature_divides_the_scores(x, t):
    np.testing.assert_allclose(ac.softmax(x, temperature=t), ac.softmax(x / t), rtol=1e-9, atol=1e-300)


def test_low_temperature_approaches_argmax_and_high_temperature_approaches_uniform():
    x = np.array([0.5, 2.0, 1.0, -1.0])
    np.testing.assert_allclose(ac.softmax(x, temperature=1e-3), [0, 1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(ac.softmax(x, temperature=1e6), np.full(4, 0.25), atol=1e-5)
    # in between, sharper as T falls
    top = [ac.softmax(x, temperature=t)[1] for t in (4.0, 2.0, 1.0, 0.5)]
    assert top == sorted(top)


def test_softmax_along_axis_0_is_the_transpose_of_axis_minus_1():
    x = np.random.default_rng(0).standard_normal((3, 5))
    np.testing.assert_allclose(ac.softmax(x, axis=0), ac.softmax(x.T, axis=-1).T, rtol=1e-12)


@pytest.mark.parametrize("temperature", [1.0, np.float64(0.5), np.float32(2.0), 3])
def test_float32_stays_float32_whatever_the_temperature_type(temperature):
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    p = ac.softmax(x, temperature=temperature)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p, [hand_softmax([1.0, 2.0, 3.0], float(temperature))], rtol=1e-6)


def test_integer_and_list_inputs_become_floats():
    p = ac.softmax([1, 2, 3])
    assert isinstance(p, np.ndarray) and p.dtype == np.float64
    np.testing.assert_allclose(p, hand_softmax([1, 2, 3]), rtol=1e-12)


def test_masked_softmax_without_mask_equals_softmax():
    x = np.random.default_rng(1).standard_normal((4, 6))
    np.testing.assert_allclose(ac.masked_softmax(x), ac.softmax(x), rtol=1e-12)


def test_masked_softmax_leaves_its_input_unchanged():
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    before = x.copy()
    mask = np.array([True, False, True, True])
    w = ac.masked_softmax(x, mask)
    np.testing.assert_array_equal(x, before)
    assert w.dtype == np.float32 and np.all(w[:, 1] == 0)
    np.testing.assert_allclose(w[:, [0, 2, 3]], ac.softmax(x[:, [0, 2, 3]]), rtol=1e-6)


def test_masked_softmax_bool_and_additive_masks_agree():
    x = np.random.default_rng(3).standard_normal((2, 5))
    keep = np.array([[True, True, False, True, False], [False] * 5])
    additive = np.where(keep, 0.0, -np.inf)
    np.testing.assert_array_equal(ac.masked_softmax(x, keep), ac.masked_softmax(x, additive))
    np.testing.assert_array_equal(ac.masked_softmax(x, keep)[1], np.zeros(5))


def test_softmax_on_torch_returns_torch_matching_torch_softmax():
    torch = pytest.importorskip("torch")
    x = torch.randn(3, 7, generator=torch.Generator().manual_seed(0))
    p = ac.softmax(x, axis=0, temperature=0.5)
    assert isinstance(p, torch.Tensor) and p.dtype == torch.float32
    torch.testing.assert_close(p, torch.softmax(x / 0.5, dim=0))
