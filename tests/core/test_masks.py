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
