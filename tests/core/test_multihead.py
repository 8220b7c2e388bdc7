"""split_heads / merge_heads / multi_head_attention on numpy."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import attention_course as ac
from ._reference import attention as reference_attention

FEW = settings(max_examples=25, deadline=None)
seeds = st.integers(0, 2**32 - 1)


@FEW
@given(seeds, st.lists(st.integers(1, 3), max_size=2), st.integers(1, 5), st.integers(1, 4), st.integers(1, 3))
def test_split_heads_gives_each_head_its_own_columns_for_every_token(seed, batch, n, num_heads, d_head):
    x = np.random.default_rng(seed).standard_normal((*batch, n, num_heads * d_head))
    heads = ac.split_heads(x, num_heads)
    assert heads.shape == (*batch, num_heads, n, d_head)
    for h in range(num_heads):
        np.testing.assert_array_equal(heads[..., h, :, :], x[..., :, h * d_head:(h + 1) * d_head])
    np.testing.assert_array_equal(ac.merge_heads(heads), x)                  # merge undoes split


def test_split_heads_is_not_a_plain_reshape():
    # Reshaping (n, d_model) straight to (h, n, d_head) gives the right shape but
    # mixes tokens into heads; split_heads must keep token t's row in row t of every head.
    x = np.arange(4 * 6).reshape(4, 6)
    wrong = x.reshape(2, 4, 3)
    right = ac.split_heads(x, 2)
    assert right.shape == wrong.shape
    assert not np.array_equal(right, wrong)
    np.testing.assert_array_equal(right[1, 0], [3, 4, 5])                    # token 0, second half


def per_head_by_hand(query, key, value, w_q, w_k, w_v, w_o, num_heads, mask=None, biases=None):
    """Multi-head attention with a Python loop over heads and the slow reference attention."""
    b_q, b_k, b_v, b_o = biases or (0.0, 0.0, 0.0, 0.0)
    d_model = w_q.shape[1]
    d_head = d_model // num_heads
    q, k, v = query @ w_q + b_q, key @ w_k + b_k, value @ w_v + b_v
    outs, weights = [], []
    for h in range(num_heads):
        cols = slice(h * d_head, (h + 1) * d_head)
        out, w = reference_attention(q[..., cols], k[..., cols], v[..., cols], mask=mask)
        outs.append(out)
        weights.append(w)
    return np.concatenate(outs, axis=-1) @ w_o + b_o, np.stack(weights, axis=-3)


def random_mha(seed, batch=(2,), n_q=3, n_k=4, d_model=6, bias=False):
    rng = np.random.default_rng(seed)
    query, key, value = (rng.standard_normal((*batch, n, d_model)) for n in (n_q, n_k, n_k))
    weights = [rng.standard_normal((d_model, d_model)) / np.sqrt(d_model) for _ in range(4)]
    biases = [rng.standard_normal(d_model) for _ in range(4)] if bias else None
    return query, key, value, weights, biases


@FEW
@given(seeds, st.sampled_from([1, 2, 3, 6]), st.integers(1, 4), st.integers(1, 4), st.booleans(),
       st.booleans())
def test_multi_head_attention_equals_a_loop_over_heads(seed, num_heads, n_q, n_k, bias, masked):
    query, key, value, (w_q, w_k, w_v, w_o), biases = random_mha(seed, (2,), n_q, n_k, 6, bias)
    mask = None
    if masked:
        mask = np.random.default_rng(seed).random((2, n_q, n_k)) < 0.6
    kwargs = dict(zip(("b_q", "b_k", "b_v", "b_o"), biases)) if bias else {}
    output, weights = ac.multi_head_attention(query, key, value, w_q, w_k, w_v, w_o, num_heads, mask=mask, **kwargs)
    ref_output, ref_weights = per_head_by_hand(query, key, value, w_q, w_k, w_v, w_o, num_heads,
                                               mask=mask, biases=biases)
    assert output.shape == (2, n_q, 6) and weights.shape == (2, num_heads, n_q, n_k)
    np.testing.assert_allclose(weights, ref_weights, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(output, ref_output, rtol=1e-10, atol=1e-12)


def test_one_head_is_plain_attention_after_projections():
    query, key, value, (w_q, w_k, w_v, w_o), _ = random_mha(1)
    output, weights = ac.multi_head_attention(query, key, value, w_q, w_k, w_v, w_o, 1)
    single_out, single_w = ac.scaled_dot_product_attention(query @ w_q, key @ w_k, value @ w_v)
    np.testing.assert_allclose(weights[:, 0], single_w, rtol=1e-12)
    np.testing.assert_allclose(output, single_out @ w_o, rtol=1e-12)


def test_return_steps_shows_every_shape():
    query, key, value, ws, _ = random_mha(2, batch=(2,), n_q=3, n_k=5, d_model=8)
    output, weights, steps = ac.multi_head_attention(query, key, value, *ws, 4, return_steps=True)
    expected = {"q": (2, 3, 8), "k": (2, 5, 8), "v": (2, 5, 8), "q_heads": (2, 4, 3, 2),
                "k_heads": (2, 4, 5, 2), "v_heads": (2, 4, 5, 2), "heads_out": (2, 4, 3, 2),
                "weights": (2, 4, 3, 5), "merged": (2, 3, 8), "output": (2, 3, 8)}
    assert {name: steps[name].shape for name in expected} == expected
    np.testing.assert_array_equal(steps["output"], output)
    np.testing.assert_array_equal(steps["merged"], ac.merge_heads(steps["heads_out"]))


def test_causal_mask_applies_to_every_head():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 5, 8))
    ws = [rng.standard_normal((8, 8)) for _ in range(4)]
    output, weights = ac.multi_head_attention(x, x, x, *ws, 4, mask=ac.causal_mask(5))
    future = np.triu(np.ones((5, 5), dtype=bool), 1)
    assert np.all(weights[..., future] == 0)
    changed = x.copy()
    changed[0, 3:] += 10                                                    # rewrite the last two tokens
    output2, _ = ac.multi_head_attention(changed, changed, changed, *ws, 4, mask=ac.causal_mask(5))
    np.testing.assert_allclose(output2[0, :3], output[0, :3], rtol=1e-12)


def test_padding_mask_applies_per_sequence_in_a_batch():
    query, key, value, ws, _ = random_mha(4, batch=(2,), n_q=3, n_k=4)
    mask = ac.padding_mask([4, 2], 4)                                        # (2, 1, 4)
    _, weights = ac.multi_head_attention(query, key, value, *ws, 3, mask=mask)
    assert np.all(weights[1, :, :, 2:] == 0) and np.all(weights[0] > 0)


def test_heads_can_attend_differently():
    query, key, value, ws, _ = random_mha(5, batch=(), n_q=4, n_k=4, d_model=8)
    _, weights = ac.multi_head_attention(query, key, value, *ws, 2)
    assert not np.allclose(weights[0], weights[1], atol=1e-3)


def test_float32_stays_float32():
    query, key, value, ws, _ = random_mha(6)
    f32 = [a.astype(np.float32) for a in (query, key, value, *ws)]
    output, weights = ac.multi_head_attention(*f32, 2)
    assert output.dtype == weights.dtype == np.float32


def test_numpy_integer_head_count_is_accepted():
    x = np.arange(12.0).reshape(2, 6)
    np.testing.assert_array_equal(ac.split_heads(x, np.int64(3)), ac.split_heads(x, 3))
