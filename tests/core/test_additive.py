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


def test_additive_scores_equal_one_hidden_layer_on_the_concatenated_pair():
    # Bahdanau's network: tanh([q, k] @ [[w_q], [w_k]]) then a linear read-out w_v
    q, k, _, w_q, w_k, w_v = random_problem(8, d_q=3, d_k=2, hidden=5)
    pairs = np.concatenate([np.repeat(q[:, None, :], len(k), 1), np.repeat(k[None, :, :], len(q), 0)], axis=-1)
    hidden = np.tanh(pairs @ np.concatenate([w_q, w_k], axis=0))          # (n_q, n_k, h)
    np.testing.assert_allclose(ac.additive_scores(q, k, w_q, w_k, w_v), hidden @ w_v, rtol=1e-12)


def test_additive_attention_equals_a_torch_linear_tanh_network():
    torch = pytest.importorskip("torch")
    q, k, v, w_q, w_k, w_v = (torch.tensor(a) for a in random_problem(9, n_q=4, n_k=6, d_q=3, d_k=5, hidden=7))
    # independent torch version: nn.functional.linear takes (out, in) weights, no broadcasting tricks
    q_h = torch.nn.functional.linear(q, w_q.T)                             # (n_q, h)
    k_h = torch.nn.functional.linear(k, w_k.T)                             # (n_k, h)
    scores = torch.stack([torch.stack([torch.tanh(q_h[i] + k_h[j]) @ w_v for j in range(6)]) for i in range(4)])
    weights = torch.softmax(scores, dim=-1)
    output, got_weights = ac.additive_attention(q, k, v, w_q, w_k, w_v)
    torch.testing.assert_close(got_weights, weights, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(output, weights @ v, rtol=1e-12, atol=1e-14)


def test_additive_attention_passes_torch_gradcheck_in_float64():
    torch = pytest.importorskip("torch")
    tensors = tuple(torch.tensor(a, requires_grad=True) for a in random_problem(10, n_q=2, n_k=3, hidden=2))
    mask = torch.tensor([[True, False, True], [True, True, True]])
    assert torch.autograd.gradcheck(lambda *a: ac.additive_attention(*a, mask=mask), tensors)


def test_additive_attention_on_torch_promotes_mixed_float_dtypes():
    torch = pytest.importorskip("torch")
    arrays = random_problem(11)
    tensors = [torch.tensor(a, dtype=torch.float32) for a in arrays]
    tensors[2] = tensors[2].double()                                       # v in float64
    output, weights = ac.additive_attention(*tensors)
    assert output.dtype == weights.dtype == torch.float64
    np.testing.assert_allclose(output.numpy(), ac.additive_attention(*arrays)[0], rtol=1e-5)
    out32, w32 = ac.additive_attention(*(torch.tensor(a, dtype=torch.float32) for a in arrays))
    assert out32.dtype == w32.dtype == torch.float32


def test_with_one_hidden_unit_every_query_ranks_the_keys_alike():
    # h = 1: score(i, j) = w_v * tanh(a_i + b_j) is monotone in b_j for every query i
    rng = np.random.default_rng(12)
    q, k = rng.standard_normal((6, 3)), rng.standard_normal((5, 4))
    w_q, w_k, w_v = rng.standard_normal((3, 1)), rng.standard_normal((4, 1)), np.array([1.5])
    orders = {tuple(np.argsort(row)) for row in ac.additive_scores(q, k, w_q, w_k, w_v)}
    assert len(orders) == 1
    w_q, w_k, w_v = rng.standard_normal((3, 4)), rng.standard_normal((4, 4)), rng.standard_normal(4)
    assert len({tuple(np.argsort(row)) for row in ac.additive_scores(q, k, w_q, w_k, w_v)}) > 1   # h = 4: not so


def test_additive_names_batches_that_do_not_broadcast_and_its_own_function():
    rng = np.random.default_rng(13)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 5, 4)), rng.standard_normal((3, 5, 2))
    w = rng.standard_normal((4, 6)), rng.standard_normal((4, 6)), rng.standard_normal(6)
    with pytest.raises(ValueError, match=r"additive_attention: the batch dimensions .* q \(2, 3, 4\), k \(3, 5, 4\)"):
        ac.additive_attention(q, k, v, *w)
    with pytest.raises(ValueError, match=r"additive_scores: the batch dimensions of q and k"):
        ac.additive_scores(q, k, *w)
    with pytest.raises(ValueError, match=r"additive_scores: w_q must have d_q rows"):
        ac.additive_scores(q, k[:2], w[1][:3], w[1], w[2])
    with pytest.raises(TypeError, match=r"additive_scores: q is a torch tensor"):
        torch = pytest.importorskip("torch")
        ac.additive_scores(torch.tensor(q), k, *w)
