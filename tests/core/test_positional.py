"""sinusoidal_positional_encoding: the formula, its geometry, and why attention needs it."""
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import attention_course as ac

FEW = settings(max_examples=25, deadline=None)


def pe_by_hand(n_positions, d_model, base=10000.0):
    """PE[pos, 2i] = sin(pos / base^(2i/d)), PE[pos, 2i+1] = cos(same angle), with math."""
    pe = [[0.0] * d_model for _ in range(n_positions)]
    for pos in range(n_positions):
        for col in range(d_model):
            two_i = col - col % 2
            angle = pos / base ** (two_i / d_model)
            pe[pos][col] = math.sin(angle) if col % 2 == 0 else math.cos(angle)
    return pe


@FEW
@given(st.integers(1, 12), st.integers(1, 9))
def test_encoding_follows_the_sin_cos_formula(n_positions, d_model):
    pe = ac.sinusoidal_positional_encoding(n_positions, d_model)
    assert pe.shape == (n_positions, d_model) and pe.dtype == np.float64
    np.testing.assert_allclose(pe, pe_by_hand(n_positions, d_model), rtol=1e-12, atol=1e-15)


def test_position_zero_is_alternating_zeros_and_ones():
    np.testing.assert_array_equal(ac.sinusoidal_positional_encoding(1, 6)[0], [0, 1, 0, 1, 0, 1])


def test_known_value_position_1_first_pair():
    pe = ac.sinusoidal_positional_encoding(3, 4)
    assert pe[1, 0] == math.sin(1.0) and pe[1, 1] == math.cos(1.0)
    np.testing.assert_allclose(pe[2, 2:], [math.sin(2 / 100), math.cos(2 / 100)], rtol=1e-14)


def test_each_sin_cos_pair_lies_on_the_unit_circle():
    pe = ac.sinusoidal_positional_encoding(50, 16)
    np.testing.assert_allclose(pe[:, 0::2] ** 2 + pe[:, 1::2] ** 2, 1.0, rtol=1e-12)


@FEW
@given(st.integers(0, 40), st.integers(0, 40))
def test_a_shift_by_k_is_the_same_rotation_at_every_position(pos, k):
    d = 8
    pe = ac.sinusoidal_positional_encoding(81, d)
    for i in range(d // 2):
        w = 1 / 10000 ** (2 * i / d)
        c, s = math.cos(w * k), math.sin(w * k)
        sin_p, cos_p = pe[pos, 2 * i], pe[pos, 2 * i + 1]
        # sin(a + b) = sin a cos b + cos a sin b; cos(a + b) = cos a cos b - sin a sin b
        np.testing.assert_allclose(pe[pos + k, 2 * i], sin_p * c + cos_p * s, atol=1e-12)
        np.testing.assert_allclose(pe[pos + k, 2 * i + 1], cos_p * c - sin_p * s, atol=1e-12)


def test_dot_product_of_codes_depends_only_on_the_distance():
    pe = ac.sinusoidal_positional_encoding(60, 16)
    for k in (1, 5, 17):
        dots = [pe[p] @ pe[p + k] for p in range(0, 60 - k)]
        np.testing.assert_allclose(dots, dots[0], rtol=1e-10)


def test_every_position_gets_a_different_code():
    pe = ac.sinusoidal_positional_encoding(200, 32)
    distances = np.linalg.norm(pe[:, None] - pe[None], axis=-1)
    assert np.all(distances[~np.eye(200, dtype=bool)] > 1e-3)


def test_first_pair_turns_fastest_last_pair_slowest():
    pe = ac.sinusoidal_positional_encoding(10, 8)
    change = np.abs(np.diff(pe, axis=0)).mean(axis=0)
    assert change[0] > change[2] > change[4] > change[6]


def test_dtype_and_base_options():
    pe32 = ac.sinusoidal_positional_encoding(5, 4, dtype=np.float32)
    assert pe32.dtype == np.float32
    np.testing.assert_allclose(pe32, ac.sinusoidal_positional_encoding(5, 4), rtol=1e-6)
    np.testing.assert_allclose(ac.sinusoidal_positional_encoding(5, 4, base=100.0), pe_by_hand(5, 4, base=100.0),
                               rtol=1e-12, atol=1e-15)


def test_adding_positions_breaks_permutation_equivariance():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 8))
    perm = np.array([1, 0, 2, 3, 5, 4])
    pe = ac.sinusoidal_positional_encoding(6, 8)
    plain, _ = ac.scaled_dot_product_attention(x, x, x)
    plain_p, _ = ac.scaled_dot_product_attention(x[perm], x[perm], x[perm])
    np.testing.assert_allclose(plain_p, plain[perm], rtol=1e-10)          # order-blind without positions
    y, y_p = x + pe, x[perm] + pe                                           # the positions do not move
    with_pos, _ = ac.scaled_dot_product_attention(y, y, y)
    with_pos_p, _ = ac.scaled_dot_product_attention(y_p, y_p, y_p)
    assert not np.allclose(with_pos_p, with_pos[perm], atol=1e-3)
