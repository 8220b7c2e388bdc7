"""causal_mask and padding_mask: the True = may attend convention, shapes, backends."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import attention_course as ac

FEW = settings(max_examples=25, deadline=None)


@FEW
@given(st.integers(0, 12))
def test_causal_mask_lets_each_query_see_itself_and_the_past_only(n):
    mask = ac.causal_mask(n)
    assert isinstance(mask, np.ndarray) and mask.dtype == bool and mask.shape == (n, n)
    for i in range(n):
        for j in range(n):
            assert mask[i, j] == (j <= i)


def test_causal_mask_first_query_sees_only_the_first_key():
    mask = ac.causal_mask(4)
    assert mask[0].tolist() == [True, False, False, False]
    assert mask[3].tolist() == [True, True, True, True]
    assert mask.sum() == 4 * 5 // 2


@FEW
@given(st.lists(st.integers(0, 6), min_size=1, max_size=5))
def test_padding_mask_marks_real_tokens_true_and_padding_false(lengths):
    n = 6
    mask = ac.padding_mask(lengths, n)
    assert mask.dtype == bool and mask.shape == (len(lengths), 1, n)
    for b, length in enumerate(lengths):
        assert mask[b, 0].tolist() == [j < length for j in range(n)]


def test_padding_mask_broadcasts_over_queries_in_attention():
    x = np.random.default_rng(0).standard_normal((3, 5, 4))
    mask = ac.padding_mask([5, 3, 1], 5)
    _, weights = ac.scaled_dot_product_attention(x, x, x, mask=mask)
    assert weights.shape == (3, 5, 5)
    assert np.all(weights[1, :, 3:] == 0) and np.all(weights[2, :, 1:] == 0)
    np.testing.assert_allclose(weights[2, :, 0], 1.0)      # only one real token to look at


def test_causal_and_padding_masks_combine_with_and():
    mask = ac.causal_mask(4) & ac.padding_mask([2], 4)      # (1, 4, 4)
    assert mask.shape == (1, 4, 4)
    assert mask[0].tolist() == [[True, False, False, False],
                                [True, True, False, False],
                                [True, True, False, False],
                                [True, True, False, False]]


def test_masks_like_a_tensor_are_torch_bool_on_its_device():
    torch = pytest.importorskip("torch")
    like = torch.zeros(2, device="cpu")
    causal = ac.causal_mask(3, like=like)
    padding = ac.padding_mask(torch.tensor([1, 3]), 3, like=like)
    for mask in (causal, padding):
        assert isinstance(mask, torch.Tensor) and mask.dtype == torch.bool and mask.device == like.device
    assert causal.tolist() == ac.causal_mask(3).tolist()
    assert padding.tolist() == ac.padding_mask([1, 3], 3).tolist()


def test_masks_like_a_numpy_array_stay_numpy():
    assert isinstance(ac.causal_mask(2, like=np.zeros(2)), np.ndarray)


# --- sliding windows -------------------------------------------------------------------------

@FEW
@given(st.integers(0, 9), st.integers(1, 10), st.booleans())
def test_sliding_window_mask_shows_only_the_nearby_keys(n, window, causal):
    mask = ac.masks.sliding_window_mask(n, window, causal=causal)
    assert mask.dtype == bool and mask.shape == (n, n)
    for i in range(n):
        for j in range(n):
            near = abs(i - j) < window
            assert mask[i, j] == (near and (j <= i or not causal))


def test_a_causal_window_as_wide_as_the_sequence_is_the_causal_mask():
    np.testing.assert_array_equal(ac.masks.sliding_window_mask(5, 5), ac.causal_mask(5))
    np.testing.assert_array_equal(ac.masks.sliding_window_mask(5, 1), np.eye(5, dtype=bool))   # itself only


@pytest.mark.parametrize("window", [0, -1, 1.5, True])
def test_sliding_window_mask_names_a_bad_window(window):
    with pytest.raises(ValueError, match="sliding_window_mask: window"):
        ac.masks.sliding_window_mask(4, window)


# --- other libraries' conventions -------------------------------------------------------------

def test_a_torch_key_padding_mask_is_inverted_and_gets_a_query_axis():
    ignore = np.array([[False, False, True], [False, True, True]])            # True = padding (torch)
    mask = ac.masks.from_key_padding_mask(ignore)
    assert mask.shape == (2, 1, 3)
    np.testing.assert_array_equal(mask, ac.padding_mask([2, 1], 3))


def test_a_hugging_face_attention_mask_keeps_its_ones():
    real = np.array([[1, 1, 0, 0], [1, 1, 1, 1]])                             # 1 = real token (HF)
    np.testing.assert_array_equal(ac.masks.from_attention_mask(real), ac.padding_mask([2, 4], 4))
    np.testing.assert_array_equal(ac.masks.from_attention_mask(real.astype(bool)), ac.padding_mask([2, 4], 4))


def test_converters_name_what_is_wrong():
    with pytest.raises(ValueError, match=r"from_attention_mask: attention_mask must hold only 0 and 1"):
        ac.masks.from_attention_mask(np.array([[1, 2]]))
    with pytest.raises(TypeError, match="from_key_padding_mask: key_padding_mask must be bool"):
        ac.masks.from_key_padding_mask(np.array([[0, 1]]))
    with pytest.raises(ValueError, match=r"must be \(batch, n\), got attention_mask \(3,\)"):
        ac.masks.from_attention_mask(np.array([1, 1, 0]))


def test_additive_mask_is_zero_where_visible_and_fill_where_hidden():
    mask = ac.causal_mask(3)
    additive = ac.masks.additive_mask(mask)
    assert additive.dtype == np.float32
    assert np.all(additive[mask] == 0) and np.all(additive[~mask] == -np.inf)
    assert np.all(ac.masks.additive_mask(mask, fill=-1e9, dtype=np.float64)[~mask] == -1e9)
    with pytest.raises(TypeError, match="additive_mask: mask must be bool"):
        ac.masks.additive_mask(additive)


def test_an_additive_mask_gives_the_same_attention_as_the_bool_mask():
    rng = np.random.default_rng(1)
    q, k, v = rng.standard_normal((3, 4, 5, 8))
    mask = ac.masks.sliding_window_mask(5, 2)
    expected = ac.scaled_dot_product_attention(q, k, v, mask=mask)
    got = ac.scaled_dot_product_attention(q, k, v, mask=ac.masks.additive_mask(mask, dtype=np.float64))
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(e, g)


def test_the_three_conventions_give_the_same_attention_as_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 4, 5, 8, dtype=torch.float64)                # (B=2, h=4, n=5, d=8)
    lengths = torch.tensor([5, 3])
    ours = ac.padding_mask(lengths, 5, like=q)[:, None]                      # (B, 1, 1, n_k)
    expected, _ = ac.scaled_dot_product_attention(q, k, v, mask=ours)
    # torch's scaled_dot_product_attention: the same convention as ours
    torch.testing.assert_close(F.scaled_dot_product_attention(q, k, v, attn_mask=ours), expected)
    # nn.MultiheadAttention's key_padding_mask: True = ignore
    key_padding_mask = torch.arange(5)[None, :] >= lengths[:, None]
    converted = ac.masks.from_key_padding_mask(key_padding_mask)
    assert converted.dtype == torch.bool and converted.tolist() == ours[:, 0].tolist()
    # Hugging Face attention_mask: 1 = real token
    attention_mask = (torch.arange(5)[None, :] < lengths[:, None]).long()
    assert ac.masks.from_attention_mask(attention_mask).tolist() == ours[:, 0].tolist()
    additive = ac.masks.additive_mask(ac.masks.from_attention_mask(attention_mask), dtype=torch.float64)
    got, _ = ac.scaled_dot_product_attention(q, k, v, mask=additive[:, None])
    torch.testing.assert_close(got, expected)


def test_nn_multihead_attention_with_a_key_padding_mask_equals_ours_with_the_converted_mask():
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)
    theirs = torch.nn.MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64).eval()
    ours = ac.MultiHeadAttention.from_torch(theirs)
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    key_padding_mask = torch.tensor([[False] * 5, [False, False, True, True, True]])
    with torch.no_grad():
        expected, expected_w = theirs(x, x, x, key_padding_mask=key_padding_mask, average_attn_weights=False)
        got, got_w = ours(x, x, x, mask=ac.masks.from_key_padding_mask(key_padding_mask))
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got_w, expected_w)


def test_sliding_window_and_converters_on_a_torch_like():
    torch = pytest.importorskip("torch")
    like = torch.zeros(1)
    mask = ac.masks.sliding_window_mask(4, 2, like=like)
    assert isinstance(mask, torch.Tensor) and mask.tolist() == ac.masks.sliding_window_mask(4, 2).tolist()
    additive = ac.masks.additive_mask(mask)
    assert additive.dtype == torch.float32 and additive[0, 1] == -float("inf") and additive[1, 0] == 0
