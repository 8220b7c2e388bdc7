"""scaled_dot_product_attention and masked_softmax on numpy: worked example,
agreement with a slow reference, and the properties attention must have."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import attention_course as ac
from ._reference import attention as reference_attention

FEW = settings(max_examples=30, deadline=None)
seeds = st.integers(0, 2**32 - 1)

# The worked example of seed document 003 ("The dog ate his dinner", 3 words).
EMBEDDINGS = np.array([[1.0, 2.0, 3.0],     # dog
                       [0.5, 1.0, 1.5],     # ate
                       [2.0, 1.0, 0.5]])    # dinner
W_Q = np.array([[0.6, -0.2], [0.1, 0.5], [-0.3, 0.4]])
W_K = np.array([[0.2, 0.3], [-0.4, 0.7], [0.5, -0.1]])
W_V = np.array([[0.9, 0.1], [0.2, 0.8], [-0.1, 0.6]])


def worked_example_qkv():
    return EMBEDDINGS @ W_Q, EMBEDDINGS @ W_K, EMBEDDINGS @ W_V


def test_worked_example_dog_attends_as_the_document_says():
    q, k, v = worked_example_qkv()
    output, weights = ac.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(weights[0], [0.448, 0.172, 0.380], atol=1e-3)
    np.testing.assert_allclose(output[0], [1.275, 2.363], atol=1e-3)


def test_worked_example_matches_a_computation_by_hand():
    # every step written out with math, from the document's own intermediate numbers
    q_dog, keys = [-0.10, 2.00], [[0.90, 1.40], [0.45, 0.70], [0.25, 1.25]]
    values = [[1.0, 3.5], [0.5, 1.75], [1.95, 1.3]]
    scores = [sum(a * b for a, b in zip(q_dog, key)) for key in keys]        # 2.71, 1.355, 2.475
    assert scores == pytest.approx([2.71, 1.36, 2.48], abs=0.0051)           # the document rounds to 2 decimals
    e = [math.exp(s / math.sqrt(2)) for s in scores]
    w = [x / sum(e) for x in e]
    out = [sum(w[j] * values[j][c] for j in range(3)) for c in range(2)]
    q, k, v = worked_example_qkv()
    np.testing.assert_allclose(q[0], q_dog, atol=1e-12)
    np.testing.assert_allclose(k, keys, atol=1e-12)
    np.testing.assert_allclose(v, values, atol=1e-12)
    output, weights = ac.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(weights[0], w, rtol=1e-12)
    np.testing.assert_allclose(output[0], out, rtol=1e-12)


def test_worked_example_weights_need_the_sqrt_dk_scaling():
    # The document's softmax step silently divided the scores by sqrt(d_k) = sqrt(2):
    # without it the weights for "dog" are about [0.488, 0.126, 0.386].
    q, k, v = worked_example_qkv()
    _, unscaled = ac.scaled_dot_product_attention(q, k, v, scale=1.0)
    assert np.abs(unscaled[0] - [0.448, 0.172, 0.380]).max() > 0.03
    e = [math.exp(s) for s in (2.71, 1.355, 2.475)]
    np.testing.assert_allclose(unscaled[0], [x / sum(e) for x in e], rtol=1e-12)


def random_qkv(seed, batch=(), n_q=4, n_k=5, d_k=3, d_v=2, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal((*batch, n, d)).astype(dtype)
                 for n, d in ((n_q, d_k), (n_k, d_k), (n_k, d_v)))


@FEW
@given(seeds, st.lists(st.integers(1, 3), max_size=2), st.integers(1, 6), st.integers(1, 6),
       st.integers(1, 5), st.integers(1, 4), st.sampled_from([None, "bool", "additive"]))
def test_attention_matches_slow_reference(seed, batch, n_q, n_k, d_k, d_v, mask_kind):
    q, k, v = random_qkv(seed, tuple(batch), n_q, n_k, d_k, d_v)
    mask = None
    if mask_kind:
        keep = np.random.default_rng(seed + 1).random((n_q, n_k)) < 0.6
        mask = keep if mask_kind == "bool" else np.where(keep, 0.0, -np.inf)
    output, weights = ac.scaled_dot_product_attention(q, k, v, mask=mask)
    ref_output, ref_weights = reference_attention(q, k, v, mask=mask)
    np.testing.assert_allclose(weights, ref_weights, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(output, ref_output, rtol=1e-10, atol=1e-12)


@FEW
@given(seeds, st.integers(1, 8), st.integers(1, 8), st.sampled_from([np.float32, np.float64]))
def test_weights_rows_sum_to_one(seed, n_q, n_k, dtype):
    q, k, v = random_qkv(seed, (2,), n_q, n_k, dtype=dtype)
    q = q * 10                                              # sharp rows too
    _, weights = ac.scaled_dot_product_attention(q, k, v)
    assert weights.shape == (2, n_q, n_k) and weights.dtype == dtype
    assert np.all(weights >= 0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5 if dtype == np.float32 else 1e-12)


@FEW
@given(seeds, st.integers(2, 7), st.integers(2, 5))
def test_self_attention_without_positions_is_permutation_equivariant(seed, n, d_model):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d_model))
    w_q, w_k, w_v = (rng.standard_normal((d_model, d_model)) for _ in range(3))
    perm = rng.permutation(n)
    out, weights = ac.scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_v)
    out_p, weights_p = ac.scaled_dot_product_attention(x[perm] @ w_q, x[perm] @ w_k, x[perm] @ w_v)
    np.testing.assert_allclose(out_p, out[perm], rtol=1e-9, atol=1e-12)             # outputs move with tokens
    np.testing.assert_allclose(weights_p, weights[perm][:, perm], rtol=1e-9, atol=1e-12)


@FEW
@given(seeds, st.integers(2, 8), st.data())
def test_causal_mask_hides_future_tokens(seed, n, data):
    t = data.draw(st.integers(0, n - 2), label="last position kept")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4))
    changed = x.copy()
    changed[t + 1:] = rng.standard_normal((n - t - 1, 4)) * 5      # rewrite the future
    mask = ac.causal_mask(n)
    out, weights = ac.scaled_dot_product_attention(x, x, x, mask=mask)
    out2, _ = ac.scaled_dot_product_attention(changed, changed, changed, mask=mask)
    np.testing.assert_allclose(out2[:t + 1], out[:t + 1], rtol=1e-12, atol=1e-15)
    assert np.all(weights[np.triu_indices(n, 1)] == 0)
    # control: without the mask the past does see the change
    free, _ = ac.scaled_dot_product_attention(x, x, x)
    free2, _ = ac.scaled_dot_product_attention(changed, changed, changed)
    assert not np.allclose(free2[:t + 1], free[:t + 1])


@FEW
@given(seeds, st.integers(1, 6), st.integers(2, 7), st.sampled_from(["bool", "additive"]))
def test_masked_keys_get_zero_weight(seed, n_q, n_k, kind):
    q, k, v = random_qkv(seed, (3,), n_q, n_k)
    keep = np.random.default_rng(seed).random((3, n_q, n_k)) < 0.5
    keep[..., 0] = True                                     # every query sees at least one key
    mask = keep if kind == "bool" else np.where(keep, 0.0, -np.inf)
    _, weights = ac.scaled_dot_product_attention(q, k, v, mask=mask)
    assert np.all(weights[~keep] == 0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-12)
    # a hidden key's value cannot leak into the output
    v2 = v + np.where(keep.any(1, keepdims=True).swapaxes(-1, -2), 0.0, 100.0)
    np.testing.assert_allclose(ac.scaled_dot_product_attention(q, k, v2, mask=mask)[0],
                               ac.scaled_dot_product_attention(q, k, v, mask=mask)[0], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["bool", "additive"])
def test_fully_masked_rows_give_zero_weights_and_zero_output(kind, dtype):
    q, k, v = random_qkv(3, (2,), n_q=3, n_k=4, dtype=dtype)
    keep = np.ones((2, 3, 4), dtype=bool)
    keep[0, 1] = False                                      # batch 0, query 1 sees nothing
    keep[1, :, 2] = False
    mask = keep if kind == "bool" else np.where(keep, 0.0, -np.inf).astype(dtype)
    output, weights = ac.scaled_dot_product_attention(q, k, v, mask=mask)
    assert np.all(np.isfinite(output)) and np.all(np.isfinite(weights))
    assert np.all(weights[0, 1] == 0) and np.all(output[0, 1] == 0)
    np.testing.assert_allclose(np.delete(weights[0], 1, axis=0).sum(-1), 1.0, rtol=1e-6)
    assert output.dtype == weights.dtype == dtype


def test_scale_none_means_one_over_sqrt_dk():
    q, k, v = random_qkv(4, d_k=9)
    default = ac.scaled_dot_product_attention(q, k, v)
    explicit = ac.scaled_dot_product_attention(q, k, v, scale=1 / 3)
    np.testing.assert_allclose(default[1], explicit[1], rtol=1e-12)
    unscaled = ac.scaled_dot_product_attention(q, k, v, scale=1.0)
    assert not np.allclose(default[1], unscaled[1])
    np.testing.assert_allclose(unscaled[1], reference_attention(q, k, v, scale=1.0)[1], rtol=1e-10)


@pytest.mark.parametrize("scale", [None, 0.5, np.float64(0.5)])
def test_float32_stays_float32(scale):
    q, k, v = random_qkv(5, (2,), dtype=np.float32)
    additive = np.zeros((4, 5))                              # float64 mask
    additive[:, 1] = -np.inf
    for mask in (None, additive, additive == 0):
        output, weights = ac.scaled_dot_product_attention(q, k, v, mask=mask, scale=scale)
        assert output.dtype == weights.dtype == np.float32
    ref = reference_attention(q, k, v, mask=additive, scale=scale)
    np.testing.assert_allclose(output, ref[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weights, ref[1], rtol=1e-5, atol=1e-6)


def test_mixed_precision_promotes_to_float64():
    q, k, v = random_qkv(6)
    output, weights = ac.scaled_dot_product_attention(q.astype(np.float32), k, v)
    assert output.dtype == weights.dtype == np.float64


def test_lists_and_integers_are_accepted():
    output, weights = ac.scaled_dot_product_attention([[1, 0]], [[1, 0], [0, 1]], [[1, 2], [3, 4]])
    assert weights.dtype == np.float64
    e = [math.exp(1 / math.sqrt(2)), 1.0]
    np.testing.assert_allclose(weights, [[e[0] / sum(e), e[1] / sum(e)]], rtol=1e-12)


def test_mask_may_add_batch_axes_and_broadcast_over_queries():
    q, k, v = random_qkv(7, n_q=2, n_k=3)
    per_batch = np.array([[[True, True, False]], [[False, True, True]]])   # (2, 1, 3)
    output, weights = ac.scaled_dot_product_attention(q, k, v, mask=per_batch)
    assert output.shape == (2, 2, 2) and weights.shape == (2, 2, 3)
    ref = reference_attention(q, k, v, mask=per_batch)
    np.testing.assert_allclose(weights, ref[1], rtol=1e-12)
    np.testing.assert_allclose(output, ref[0], rtol=1e-12)


def test_padding_mask_ignores_what_is_in_the_padding():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 4, 3))
    mask = ac.padding_mask([2, 4], 4)
    out, weights = ac.scaled_dot_product_attention(x, x, x, mask=mask)
    garbage = x.copy()
    garbage[0, 2:] = 1e3                                     # overwrite sequence 0's padding tokens
    out2, _ = ac.scaled_dot_product_attention(x, garbage, garbage, mask=mask)
    np.testing.assert_allclose(out2, out, rtol=1e-12)
    assert np.all(weights[0, :, 2:] == 0)


def test_numpy_attention_does_not_change_its_inputs():
    q, k, v = random_qkv(9, dtype=np.float32)
    mask = np.ones((4, 5), dtype=bool)
    copies = [a.copy() for a in (q, k, v, mask)]
    ac.scaled_dot_product_attention(q, k, v, mask=mask)
    for before, after in zip(copies, (q, k, v, mask)):
        np.testing.assert_array_equal(before, after)


def test_huge_scores_give_finite_one_hot_weights():
    q = np.array([[1e4, 0.0]])
    k = np.array([[1.0, 0.0], [0.9, 0.0], [-1.0, 0.0]])
    v = np.array([[1.0], [2.0], [3.0]])
    output, weights = ac.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(weights, [[1.0, 0.0, 0.0]], atol=1e-300)
    np.testing.assert_allclose(output, [[1.0]])


def test_no_keys_gives_empty_weights_and_zero_output():
    q, k, v = random_qkv(10, n_k=0)
    output, weights = ac.scaled_dot_product_attention(q, k, v)
    assert weights.shape == (4, 0) and output.shape == (4, 2)
    assert np.all(output == 0)


def test_numpy_settings_are_left_as_they_were():
    q, k, v = random_qkv(11, (2,), n_q=600, n_k=700)           # big enough for the blocked softmax
    before = (np.getbufsize(), np.geterr())
    ac.scaled_dot_product_attention(q, k, v, mask=np.zeros((600, 700)))
    assert (np.getbufsize(), np.geterr()) == before


def test_masked_softmax_mask_may_add_batch_axes():
    scores = np.random.default_rng(12).standard_normal((2, 3))
    keep = np.array([[[True, True, True]], [[True, False, False]]])     # (2, 1, 3)
    weights = ac.masked_softmax(scores, keep)
    assert weights.shape == (2, 2, 3)
    np.testing.assert_allclose(weights[0], ac.softmax(scores), rtol=1e-12)
    np.testing.assert_array_equal(weights[1], [[1, 0, 0], [1, 0, 0]])
