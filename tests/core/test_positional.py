"""sinusoidal_positional_encoding: the formula, its geometry, and why attention needs it."""
import math

import numpy as np
import pytest
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


def test_sinusoidal_dot_product_is_a_sum_of_cosines_of_the_offset():
    d = 12
    pe = ac.sinusoidal_positional_encoding(40, d)
    omega = 1 / 10000 ** (np.arange(0, d, 2) / d)
    p, q = np.meshgrid(np.arange(40), np.arange(40), indexing="ij")
    expected = np.cos((p - q)[..., None] * omega).sum(-1)          # sum_i cos((p - q) w_i)
    np.testing.assert_allclose(pe @ pe.T, expected, atol=1e-12)


def test_odd_d_model_keeps_a_last_sine_column():
    pe = ac.sinusoidal_positional_encoding(5, 5)
    np.testing.assert_allclose(pe, pe_by_hand(5, 5), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("base", [0, -1.0, float("inf"), float("nan"), True, "10000"])
def test_encoding_rejects_a_bad_base(base):
    with pytest.raises(ValueError, match="sinusoidal_positional_encoding: base must be a finite number > 0"):
        ac.sinusoidal_positional_encoding(4, 4, base=base)


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


# ------------------------------------------------------------------ rotary embeddings (RoPE)

def rope_by_complex_numbers(x, positions, base=10000.0):
    """RoPE written independently: pair i as the complex number x[2i] + 1j x[2i+1], multiplied by
    exp(1j * p * base^(-2i/d)) (a turn by that angle), then split back into interleaved reals."""
    x = np.asarray(x, dtype=np.float64)
    d = x.shape[-1]
    z = x[..., 0::2] + 1j * x[..., 1::2]
    freq = np.array([base ** (-2 * i / d) for i in range(d // 2)])
    turned = z * np.exp(1j * np.asarray(positions, dtype=np.float64)[..., None] * freq)
    out = np.empty_like(x)
    out[..., 0::2], out[..., 1::2] = turned.real, turned.imag
    return out


def test_rope_known_values_by_hand():
    # d = 2: one pair, angle = p (radians). (1, 0) at position p -> (cos p, sin p).
    x = np.tile([1.0, 0.0], (3, 1))
    np.testing.assert_allclose(ac.apply_rope(x), [[1, 0], [math.cos(1), math.sin(1)], [math.cos(2), math.sin(2)]],
                               atol=1e-15)
    # d = 4: pair 0 turns by p, pair 1 by p / 10000^(2/4) = p / 100. (0, 1) turns to (-sin, cos).
    x = np.array([[0.0, 1.0, 3.0, 4.0]])
    got = ac.apply_rope(x, positions=[2])
    a, b = 2.0, 2.0 / 100
    want = [-math.sin(a), math.cos(a), 3 * math.cos(b) - 4 * math.sin(b), 3 * math.sin(b) + 4 * math.cos(b)]
    np.testing.assert_allclose(got[0], want, rtol=1e-14)


def test_rope_at_position_zero_changes_nothing():
    x = np.random.default_rng(0).standard_normal((1, 8))
    np.testing.assert_array_equal(ac.apply_rope(x), x)


@FEW
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.sampled_from([2, 4, 8, 16]),
       st.sampled_from([10000.0, 100.0, 2.0]))
def test_rope_equals_multiplying_complex_numbers(seed, n, d, base):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, n, d))
    positions = rng.integers(0, 5000, size=n)
    np.testing.assert_allclose(ac.apply_rope(x, positions, base=base), rope_by_complex_numbers(x, positions, base),
                               rtol=1e-10, atol=1e-12)


def test_rope_default_positions_are_0_to_n_minus_1():
    x = np.random.default_rng(1).standard_normal((3, 5, 6))
    np.testing.assert_array_equal(ac.apply_rope(x), ac.apply_rope(x, np.arange(5)))


def test_rope_keeps_every_pairs_length():
    x = np.random.default_rng(2).standard_normal((7, 10))
    y = ac.apply_rope(x, np.arange(7) * 37)
    np.testing.assert_allclose(np.hypot(y[:, 0::2], y[:, 1::2]), np.hypot(x[:, 0::2], x[:, 1::2]), rtol=1e-12)


def test_rope_score_depends_only_on_the_offset_for_many_positions():
    rng = np.random.default_rng(3)
    d = 16
    q, k = rng.standard_normal(d), rng.standard_normal(d)
    positions = np.arange(64)
    q_rot = ac.apply_rope(np.tile(q, (64, 1)), positions)            # q placed at every position m
    k_rot = ac.apply_rope(np.tile(k, (64, 1)), positions)            # k placed at every position n
    scores = q_rot @ k_rot.T                                          # (m, n)
    by_offset = {}
    for m in range(64):
        for n in range(64):
            by_offset.setdefault(m - n, []).append(scores[m, n])
    assert len(by_offset) == 127
    for offset, values in by_offset.items():                          # 4096 pairs, 127 offsets
        np.testing.assert_allclose(values, values[0], rtol=1e-9, atol=1e-9)
    # and the offset matters: not all diagonals are the same
    assert np.ptp([v[0] for v in by_offset.values()]) > 0.5


@FEW
@given(st.integers(0, 2**32 - 1), st.integers(0, 3000), st.integers(0, 3000), st.integers(-500, 500))
def test_rope_score_is_unchanged_when_both_positions_shift(seed, m, n, shift):
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((1, 8)), rng.standard_normal((1, 8))
    a = ac.apply_rope(q, [m]) @ ac.apply_rope(k, [n]).T
    b = ac.apply_rope(q, [m + shift]) @ ac.apply_rope(k, [n + shift]).T
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_adding_sinusoidal_codes_to_q_and_k_does_not_give_a_relative_score():
    # the contrast the lesson draws: (q + PE[m]) . (k + PE[n]) also depends on m and n themselves
    rng = np.random.default_rng(4)
    pe = ac.sinusoidal_positional_encoding(40, 8)
    q, k = rng.standard_normal(8), rng.standard_normal(8)
    scores = (q + pe) @ (k + pe).T
    diagonal = [scores[m, m - 3] for m in range(3, 40)]
    assert np.ptp(diagonal) > 0.5


def test_rope_positions_broadcast_over_a_batch():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4))
    positions = np.array([[0, 1, 2], [10, 20, 30]])
    out = ac.apply_rope(x, positions)
    for b in range(2):
        np.testing.assert_allclose(out[b], ac.apply_rope(x[b], positions[b]), rtol=1e-14)


def test_rope_dtypes():
    x32 = np.random.default_rng(6).standard_normal((4, 8)).astype(np.float32)
    assert ac.apply_rope(x32).dtype == np.float32
    # the angles are computed in float64: far positions keep float32 accuracy
    far = np.array([100000, 123457, 999999, 5])
    np.testing.assert_allclose(ac.apply_rope(x32, far), rope_by_complex_numbers(x32, far), rtol=1e-5, atol=1e-5)
    assert ac.apply_rope(np.ones((2, 2), dtype=np.int64)).dtype == np.float64


def test_rope_on_torch_matches_numpy_stays_float32_and_has_gradients():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(7).standard_normal((2, 5, 6))
    positions = np.array([3, 1, 4, 1, 5])
    t = torch.tensor(x, requires_grad=True)
    out = ac.apply_rope(t, torch.tensor(positions))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out.shape == t.shape
    np.testing.assert_allclose(out.detach().numpy(), ac.apply_rope(x, positions), rtol=1e-13, atol=1e-15)
    out.pow(2).sum().backward()                       # a rotation keeps lengths: d|y|^2/dx = 2x
    np.testing.assert_allclose(t.grad.numpy(), 2 * x, rtol=1e-12)
    assert ac.apply_rope(torch.zeros(3, 4)).dtype == torch.float32
    assert ac.apply_rope(torch.zeros(3, 4, dtype=torch.float16)).dtype == torch.float16


def test_rope_passes_torch_gradcheck_in_float64():
    torch = pytest.importorskip("torch")
    x = torch.randn(2, 4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    positions = torch.tensor([0, 3, 7, 100])
    assert torch.autograd.gradcheck(lambda a: ac.apply_rope(a, positions), (x,))
    assert torch.autograd.gradgradcheck(lambda a: ac.apply_rope(a, positions), (x,))


def test_rope_scores_in_torch_depend_only_on_the_offset():
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(1, 8, dtype=torch.float64, generator=g), torch.randn(1, 8, dtype=torch.float64, generator=g)
    pos = torch.arange(50)
    scores = ac.apply_rope(q.expand(50, 8), pos) @ ac.apply_rope(k.expand(50, 8), pos).T
    for offset in range(-49, 50):
        diagonal = torch.diagonal(scores, -offset)
        assert torch.allclose(diagonal, diagonal[0].expand_as(diagonal), atol=1e-10)


@pytest.mark.parametrize("x, fragment", [
    (np.zeros((3, 5)), "even d"), (np.zeros(4), "x (4,)"), (np.zeros((3, 7)), "x (3, 7)")])
def test_rope_names_a_bad_x(x, fragment):
    with pytest.raises(ValueError, match=r"apply_rope: x must be \(\.\.\., n, d\)") as info:
        ac.apply_rope(x)
    assert fragment in str(info.value)


@pytest.mark.parametrize("positions, fragment", [
    (np.arange(4), "positions (4,) for x (3, 6)"), (np.zeros((2, 3)), "positions (2, 3) for x (3, 6)"),
    (np.float64(2.0), "positions ()")])
def test_rope_names_positions_of_the_wrong_shape(positions, fragment):
    with pytest.raises(ValueError, match="apply_rope: positions must be") as info:
        ac.apply_rope(np.zeros((3, 6)), positions)
    assert fragment in str(info.value)


def test_rope_rejects_non_finite_or_non_numeric_positions_and_a_bad_base():
    with pytest.raises(ValueError, match="positions must be finite"):
        ac.apply_rope(np.zeros((2, 4)), [0.0, np.nan])
    with pytest.raises(TypeError, match="positions must hold integers or floats"):
        ac.apply_rope(np.zeros((2, 4)), [True, False])
    with pytest.raises(ValueError, match="apply_rope: base must be a finite number > 0, got 0"):
        ac.apply_rope(np.zeros((2, 4)), base=0)


def test_rope_names_mixed_backends():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="apply_rope: x is a torch tensor but positions is not"):
        ac.apply_rope(torch.zeros(2, 4), np.arange(2))


@pytest.mark.gpu
def test_rope_on_gpu_stays_on_gpu_and_matches_cpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU: torch.cuda.is_available() is False")
    x = torch.randn(2, 5, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    out = ac.apply_rope(x.cuda())
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), ac.apply_rope(x), rtol=1e-12, atol=1e-12)
    out = ac.apply_rope(x.cuda(), torch.tensor([4, 3, 2, 1, 0], device="cuda"))
    torch.testing.assert_close(out.cpu(), ac.apply_rope(x, torch.tensor([4, 3, 2, 1, 0])), rtol=1e-12, atol=1e-12)
