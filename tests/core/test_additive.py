"""additive (Bahdanau-style) attention: score formula, weights, masks, backends."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import attention_course as ac
from ._reference import softmax_row

FEW = settings(max_examples=25, deadline=None)


def additive_by_hand(q, k, v, w_q, w_k, w_v, allowed=None):
    """score(i, j) = sum_h w_v[h] * tanh((q_i @ w_q)[h] + (k_j @ w_k)[h]), with loops and math.tanh."""
    n_q, n_k, hidden = len(q), len(k), len(w_v)
    qh = [[sum(q[i][a] * w_q[a][h] for a in range(len(q[i]))) for h in range(hidden)] for i in range(n_q)]
    kh = [[sum(k[j][a] * w_k[a][h] for a in range(len(k[j]))) for h in range(hidden)] for j in range(n_k)]
    scores = [[sum(w_v[h] * math.tanh(qh[i][h] + kh[j][h]) for h in range(hidden)) for j in range(n_k)]
              for i in range(n_q)]
    weights = [softmax_row(scores[i], None if allowed is None else allowed[i]) for i in range(n_q)]
    output = [[sum(weights[i][j] * v[j][c] for j in range(n_k)) for c in range(len(v[0]))] for i in range(n_q)]
    return np.array(scores), np.array(weights), np.array(output)


def random_problem(seed, n_q=3, n_k=4, d_q=2, d_k=5, hidden=3, d_v=2, dtype=np.float64):
    rng = np.random.default_rng(seed)
    shapes = [(n_q, d_q), (n_k, d_k), (n_k, d_v), (d_q, hidden), (d_k, hidden), (hidden,)]
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


@FEW
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.integers(1, 5), st.integers(1, 4),
       st.integers(1, 4), st.integers(1, 4))
def test_additive_attention_matches_the_formula_by_hand(seed, n_q, n_k, d_q, d_k, hidden):
    q, k, v, w_q, w_k, w_v = random_problem(seed, n_q, n_k, d_q, d_k, hidden)
    scores, weights, output = additive_by_hand(q.tolist(), k.tolist(), v.tolist(), w_q.tolist(), w_k.tolist(),
                                               w_v.tolist())
    np.testing.assert_allclose(ac.additive_scores(q, k, w_q, w_k, w_v), scores, rtol=1e-10, atol=1e-12)
    got_output, got_weights = ac.additive_attention(q, k, v, w_q, w_k, w_v)
    np.testing.assert_allclose(got_weights, weights, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_output, output, rtol=1e-10, atol=1e-12)


def test_queries_and_keys_may_have_different_sizes():
    q, k, v, w_q, w_k, w_v = random_problem(1, d_q=7, d_k=3)
    output, weights = ac.additive_attention(q, k, v, w_q, w_k, w_v)
    assert output.shape == (3, 2) and weights.shape == (3, 4)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-12)


def test_scores_are_bounded_by_the_sum_of_abs_w_v():
    q, k, v, w_q, w_k, w_v = random_problem(2)
    scores = ac.additive_scores(q * 100, k * 100, w_q, w_k, w_v)     # tanh saturates at +-1
    assert np.all(np.abs(scores) <= np.abs(w_v).sum() + 1e-12)


@pytest.mark.parametrize("kind", ["bool", "additive"])
def test_additive_attention_mask_hides_keys_and_empty_rows_are_zero(kind):
    q, k, v, w_q, w_k, w_v = random_problem(3)
    keep = np.array([[True, False, True, True], [False] * 4, [True, True, True, False]])
    mask = keep if kind == "bool" else np.where(keep, 0.0, -np.inf)
    output, weights = ac.additive_attention(q, k, v, w_q, w_k, w_v, mask=mask)
    _, ref_weights, ref_output = additive_by_hand(q.tolist(), k.tolist(), v.tolist(), w_q.tolist(),
                                                  w_k.tolist(), w_v.tolist(), keep.tolist())
    np.testing.assert_allclose(weights, ref_weights, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(output, ref_output, rtol=1e-10, atol=1e-15)
    assert np.all(weights[1] == 0) and np.all(output[1] == 0) and np.all(np.isfinite(output))


def test_additive_attention_batches_broadcast():
    rng = np.random.default_rng(4)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 6))
    w_q, w_k, w_v = rng.standard_normal((4, 8)), rng.standard_normal((4, 8)), rng.standard_normal(8)
    output, weights = ac.additive_attention(q, k, v, w_q, w_k, w_v)
    assert output.shape == (2, 3, 6) and weights.shape == (2, 3, 5)
    for b in range(2):
        one_out, one_w = ac.additive_attention(q[b], k[b], v[b], w_q, w_k, w_v)
        np.testing.assert_allclose(output[b], one_out, rtol=1e-12)
        np.testing.assert_allclose(weights[b], one_w, rtol=1e-12)


def test_additive_attention_float32_stays_float32():
    output, weights = ac.additive_attention(*random_problem(5, dtype=np.float32))
    assert output.dtype == weights.dtype == np.float32


def test_additive_attention_on_torch_matches_numpy_and_has_gradients():
    torch = pytest.importorskip("torch")
    arrays = random_problem(6)
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    output, weights = ac.additive_attention(*tensors)
    assert isinstance(output, torch.Tensor) and output.dtype == torch.float64
    np_output, np_weights = ac.additive_attention(*arrays)
    np.testing.assert_allclose(output.detach().numpy(), np_output, rtol=1e-12)
    np.testing.assert_allclose(weights.detach().numpy(), np_weights, rtol=1e-12)
    output.sum().backward()
    for t in tensors:
        assert t.grad is not None and torch.isfinite(t.grad).all()
    assert tensors[2].grad.abs().sum() > 0 and tensors[5].grad.abs().sum() > 0


def test_additive_attention_accepts_nested_lists():
    arrays = random_problem(7)
    output, weights = ac.additive_attention(*[a.tolist() for a in arrays])
    np_output, np_weights = ac.additive_attention(*arrays)
    np.testing.assert_allclose(output, np_output, rtol=1e-12)
    np.testing.assert_allclose(weights, np_weights, rtol=1e-12)
