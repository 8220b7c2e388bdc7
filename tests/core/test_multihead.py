"""split_heads / merge_heads / multi_head_attention on numpy."""
import numpy as np
import pytest
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
    assert {name: getattr(steps, name).shape for name in expected} == expected
    assert steps["q"] is steps.q                                             # dict-style access still works
    np.testing.assert_array_equal(steps.output, output)
    np.testing.assert_array_equal(steps.weights, weights)
    np.testing.assert_array_equal(steps.merged, ac.merge_heads(steps.heads_out))
    np.testing.assert_array_equal(steps.q_heads, ac.split_heads(query @ ws[0], 4))


def test_steps_table_lists_the_path_with_the_reshapes():
    query, key, value, ws, _ = random_mha(2, batch=(2,), n_q=3, n_k=5, d_model=8)
    *_, steps = ac.multi_head_attention(query, key, value, *ws, 4, return_steps=True)
    lines = steps.table().splitlines()
    assert len(lines) == 12
    by_step = {line.split("  ")[0].strip(): line for line in lines}
    assert "(2, 3, 4, 2)" in by_step["q.reshape: cut d_model into h pieces"]          # (B, n, h, d_head)
    assert "(2, 4, 3, 2)" in by_step["q.swapaxes: heads in front of tokens"]          # (B, h, n, d_head)
    assert "(2, 4, 3, 5)" in by_step["scores = q_h k_h^T / sqrt(d_head)"]             # (B, h, n_q, n_k)
    assert "(2, 3, 8)" in by_step["output = merged @ W_O"]


def test_steps_without_a_key_name_raise_key_error():
    query, key, value, ws, _ = random_mha(2)
    *_, steps = ac.multi_head_attention(query, key, value, *ws, 2, return_steps=True)
    with pytest.raises(KeyError):
        steps["scores"]


def test_each_head_is_scaled_by_the_square_root_of_its_own_width():
    # 2 heads of d_head = 4 on d_model = 8: the scores of head h are q_h . k_h / sqrt(4), not / sqrt(8)
    query, key, value, (w_q, w_k, w_v, w_o), _ = random_mha(7, batch=(), n_q=3, n_k=4, d_model=8)
    _, weights = ac.multi_head_attention(query, key, value, w_q, w_k, w_v, w_o, 2)
    q, k = query @ w_q, key @ w_k
    for h in range(2):
        cols = slice(4 * h, 4 * h + 4)
        scores = q[:, cols] @ k[:, cols].T
        np.testing.assert_allclose(weights[h], ac.softmax(scores / 2.0), rtol=1e-12)
        assert not np.allclose(weights[h], ac.softmax(scores / np.sqrt(8)), atol=1e-3)


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


@pytest.mark.parametrize("shape", [(2, 1, 4), (2, 1, 1, 4)])
def test_a_padding_mask_with_or_without_a_head_axis_hides_the_same_keys(shape):
    query, key, value, ws, _ = random_mha(4, batch=(2,), n_q=3, n_k=4)
    mask = ac.padding_mask([4, 2], 4).reshape(shape)                         # (B, 1, n_k) or (B, 1, 1, n_k)
    _, weights = ac.multi_head_attention(query, key, value, *ws, 3, mask=mask)
    _, expected = ac.multi_head_attention(query, key, value, *ws, 3, mask=ac.padding_mask([4, 2], 4))
    assert weights.shape == (2, 3, 3, 4)
    np.testing.assert_array_equal(weights, expected)
    assert np.all(weights[1, ..., 2:] == 0)


def test_a_mask_with_one_pattern_per_head_is_applied_head_by_head():
    query, key, value, ws, _ = random_mha(8, batch=(2,), n_q=4, n_k=4, d_model=6)
    per_head = np.stack([ac.causal_mask(4), np.ones((4, 4), bool), np.eye(4, dtype=bool)])   # (h=3, 4, 4)
    _, weights = ac.multi_head_attention(query, key, value, *ws, 3, mask=per_head[None])      # (1, 3, 4, 4)
    ref_out, ref_w = per_head_by_hand(query, key, value, *ws, 3)
    assert np.all(weights[:, 0][:, ~ac.causal_mask(4)] == 0)                 # head 0: causal
    assert np.all(weights[:, 1] > 0)                                         # head 1: sees everything
    np.testing.assert_allclose(weights[:, 1], ref_w[:, 1], rtol=1e-12)
    np.testing.assert_allclose(weights[:, 2], np.broadcast_to(np.eye(4), (2, 4, 4)))    # head 2: itself only


def test_a_mask_with_too_many_axes_is_named():
    query, key, value, ws, _ = random_mha(4, batch=(2,), n_q=3, n_k=4)
    with pytest.raises(ValueError, match=r"multi_head_attention: mask \(1, 2, 1, 3, 4\) has more axes"):
        ac.multi_head_attention(query, key, value, *ws, 3, mask=np.ones((1, 2, 1, 3, 4), bool))


def test_a_head_count_that_does_not_divide_the_width_is_named():
    query, key, value, ws, _ = random_mha(4, batch=(2,), n_q=3, n_k=4, d_model=6)
    with pytest.raises(ValueError, match="num_heads=4 heads cannot share"):
        ac.multi_head_attention(query, key, value, *ws, 4)


def test_a_bias_of_the_wrong_length_is_named():
    query, key, value, ws, _ = random_mha(4)
    with pytest.raises(ValueError, match=r"b_v must be a vector of 6 numbers, got b_v \(5,\)"):
        ac.multi_head_attention(query, key, value, *ws, 2, b_v=np.zeros(5))


def test_an_empty_row_gives_zero_weights_and_a_zero_merged_row_in_every_head():
    query, key, value, ws, _ = random_mha(9, batch=(1,), n_q=3, n_k=4)
    mask = np.ones((1, 3, 4), bool)
    mask[0, 1] = False                                                       # query 1 sees nothing
    output, weights, steps = ac.multi_head_attention(query, key, value, *ws, 2, mask=mask, return_steps=True)
    assert np.all(weights[0, :, 1] == 0) and np.all(steps.merged[0, 1] == 0)
    assert np.all(np.isfinite(output))


def test_float32_stays_float32():
    query, key, value, ws, _ = random_mha(6)
    f32 = [a.astype(np.float32) for a in (query, key, value, *ws)]
    output, weights = ac.multi_head_attention(*f32, 2)
    assert output.dtype == weights.dtype == np.float32


def test_numpy_integer_head_count_is_accepted():
    x = np.arange(12.0).reshape(2, 6)
    np.testing.assert_array_equal(ac.split_heads(x, np.int64(3)), ac.split_heads(x, 3))


def test_parameters_do_not_depend_on_the_number_of_heads():
    pytest.importorskip("torch")
    counts = {h: sum(p.numel() for p in ac.MultiHeadAttention(24, h).parameters()) for h in (1, 2, 3, 4, 6, 8)}
    assert set(counts.values()) == {4 * 24 * 24 + 4 * 24}


def test_module_repr_names_its_sizes():
    pytest.importorskip("torch")
    assert repr(ac.MultiHeadAttention(8, 2, bias=False)) == \
        "MultiHeadAttention(d_model=8, num_heads=2, d_head=4, bias=False)"


def test_a_mask_that_does_not_fit_the_scores_is_named_by_multi_head_attention():
    query, key, value, ws, _ = random_mha(4, batch=(2,), n_q=3, n_k=4)
    with pytest.raises(ValueError, match=r"multi_head_attention: mask of shape \(3, 3\).*scores \(\.\.\., h, n_q, n_k\) "
                                         r"= \(2, 3, 3, 4\)"):
        ac.multi_head_attention(query, key, value, *ws, 3, mask=np.ones((3, 3), bool))
    with pytest.raises(TypeError, match="multi_head_attention: mask must be bool"):
        ac.multi_head_attention(query, key, value, *ws, 3, mask=np.ones((3, 4), np.int64))
