"""Bad input gets a ValueError / TypeError whose message names the arguments and their shapes."""
import re

import numpy as np
import pytest

import attention_course as ac


def raises(exc, *fragments):
    """pytest.raises that also checks every fragment appears (literally) in the message."""
    return pytest.raises(exc, match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


def zeros(*shape):
    return np.zeros(shape)


# --- scaled_dot_product_attention -------------------------------------------------

def test_mismatched_d_k_names_q_and_k_shapes():
    with raises(ValueError, "d_k", "q (2, 3, 4)", "k (2, 5, 6)", "v (2, 5, 7)"):
        ac.scaled_dot_product_attention(zeros(2, 3, 4), zeros(2, 5, 6), zeros(2, 5, 7))


def test_keys_and_values_with_different_counts_are_named():
    with raises(ValueError, "n_k", "k (5, 4)", "v (6, 4)"):
        ac.scaled_dot_product_attention(zeros(3, 4), zeros(5, 4), zeros(6, 4))


def test_vector_instead_of_matrix_names_the_argument_and_suggests_a_fix():
    with raises(ValueError, "q must have at least 2 dimensions", "q (4,)", "q[None, :]"):
        ac.scaled_dot_product_attention(zeros(4), zeros(3, 4), zeros(3, 4))
    with raises(ValueError, "v (3,)"):
        ac.scaled_dot_product_attention(zeros(2, 4), zeros(3, 4), zeros(3))


def test_batch_dimensions_that_do_not_broadcast_are_named():
    with raises(ValueError, "batch dimensions", "q (2, 3, 4)", "k (3, 5, 4)"):
        ac.scaled_dot_product_attention(zeros(2, 3, 4), zeros(3, 5, 4), zeros(3, 5, 4))


def test_mask_that_does_not_broadcast_names_its_shape_and_the_scores_shape():
    with raises(ValueError, "mask of shape (3, 3)", "(2, 4)", "q (2, 8)", "k (4, 8)"):
        ac.scaled_dot_product_attention(zeros(2, 8), zeros(4, 8), zeros(4, 8), mask=np.ones((3, 3), bool))


def test_mask_that_would_grow_the_query_axis_is_rejected():
    # (5, 4) broadcasts with (1, 4) but would invent 4 extra queries
    with raises(ValueError, "mask of shape (5, 4)", "(1, 4)"):
        ac.scaled_dot_product_attention(zeros(1, 8), zeros(4, 8), zeros(4, 8), mask=np.ones((5, 4), bool))


def test_integer_mask_is_a_type_error_naming_its_dtype():
    with raises(TypeError, "mask must be bool", "int64", "mask (2, 4)"):
        ac.scaled_dot_product_attention(zeros(2, 8), zeros(4, 8), zeros(4, 8), mask=np.ones((2, 4), np.int64))


@pytest.mark.parametrize("scale, exc", [("big", TypeError), (True, TypeError), (float("nan"), ValueError),
                                        (float("inf"), ValueError)])
def test_bad_scale_is_rejected_by_name(scale, exc):
    with raises(exc, "scale"):
        ac.scaled_dot_product_attention(zeros(2, 4), zeros(3, 4), zeros(3, 4), scale=scale)


def test_torch_scale_with_numpy_arrays_is_a_type_error():
    torch = pytest.importorskip("torch")
    with raises(TypeError, "scale", "Tensor"):
        ac.scaled_dot_product_attention(zeros(2, 4), zeros(3, 4), zeros(3, 4), scale=torch.tensor(0.5))


def test_non_numeric_input_is_a_type_error_naming_the_argument():
    with raises(TypeError, "scaled_dot_product_attention", "k", "real numbers"):
        ac.scaled_dot_product_attention(zeros(2, 2), [["a", "b"]], zeros(1, 2))
    with raises(TypeError, "q", "could not turn"):
        ac.scaled_dot_product_attention([[1.0, 2.0], [3.0]], zeros(1, 2), zeros(1, 2))


# --- numpy mixed with torch --------------------------------------------------------

def test_numpy_mixed_with_torch_names_which_argument_is_which():
    torch = pytest.importorskip("torch")
    with raises(TypeError, "k is a torch tensor", "q, v are not", "q: numpy (2, 4) float64",
                "k: torch (3, 4) float32 on cpu"):
        ac.scaled_dot_product_attention(zeros(2, 4), torch.zeros(3, 4), zeros(3, 4))


def test_numpy_mask_with_torch_tensors_is_a_type_error():
    torch = pytest.importorskip("torch")
    t = torch.zeros(2, 3, 4)
    with raises(TypeError, "mask is not", "mask: numpy (3, 3) bool"):
        ac.scaled_dot_product_attention(t, t, t, mask=np.ones((3, 3), bool))


def test_tensors_on_different_devices_are_named():
    torch = pytest.importorskip("torch")
    q = torch.zeros(2, 4)
    k = torch.zeros(3, 4, device="meta")                  # a second device that exists without a GPU
    with raises(TypeError, "different devices", "q: torch (2, 4) float32 on cpu", "on meta"):
        ac.scaled_dot_product_attention(q, k, k)


def test_multi_head_attention_with_mixed_backends_is_a_type_error():
    torch = pytest.importorskip("torch")
    x, w = zeros(1, 3, 4), zeros(4, 4)
    with raises(TypeError, "w_o is a torch tensor"):
        ac.multi_head_attention(x, x, x, w, w, w, torch.zeros(4, 4), 2)


# --- softmax ------------------------------------------------------------------------

@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), float("inf")])
def test_temperature_must_be_finite_and_positive(temperature):
    with raises(ValueError, "temperature", "> 0", repr(temperature)):
        ac.softmax(np.array([1.0, 2.0]), temperature=temperature)


@pytest.mark.parametrize("temperature", ["hot", None, True, [1.0]])
def test_temperature_that_is_not_a_number_is_a_type_error(temperature):
    with raises(TypeError, "temperature"):
        ac.softmax(np.array([1.0, 2.0]), temperature=temperature)


def test_softmax_axis_out_of_range_names_the_shape():
    with raises(ValueError, "axis=2", "(2, 3)"):
        ac.softmax(zeros(2, 3), axis=2)


def test_softmax_of_a_scalar_is_rejected():
    with raises(ValueError, "scalar"):
        ac.softmax(3.0)


def test_masked_softmax_mask_that_does_not_broadcast():
    with raises(ValueError, "masked_softmax", "mask of shape (4,)", "scores (2, 3)"):
        ac.masked_softmax(zeros(2, 3), np.ones(4, bool))


# --- masks and positions -------------------------------------------------------------

@pytest.mark.parametrize("n", [-1, 2.5, True, "3"])
def test_causal_mask_needs_a_non_negative_integer(n):
    with raises(ValueError, "causal_mask", "n must be a non-negative integer", repr(n)):
        ac.causal_mask(n)


@pytest.mark.parametrize("lengths, fragment", [([1, 5], "between 0 and n=4"), ([-1], "between 0 and n=4"),
                                               ([[1, 2]], "shape (1, 2)"), ([1.5], "dtype float64")])
def test_padding_mask_rejects_bad_lengths(lengths, fragment):
    with raises(ValueError, "padding_mask", fragment):
        ac.padding_mask(lengths, 4)


@pytest.mark.parametrize("args, name", [((0, 4), "n_positions"), ((4, 0), "d_model"), ((4.0, 4), "n_positions"),
                                        ((4, -2), "d_model")])
def test_positional_encoding_needs_positive_integers(args, name):
    with raises(ValueError, name, "positive integer"):
        ac.sinusoidal_positional_encoding(*args)


# --- heads ---------------------------------------------------------------------------

def test_split_heads_names_d_model_shape_and_num_heads_when_not_divisible():
    with raises(ValueError, "d_model=10", "(2, 3, 10)", "num_heads=3"):
        ac.split_heads(zeros(2, 3, 10), 3)


@pytest.mark.parametrize("num_heads", [0, -2, 2.0, True])
def test_split_heads_needs_a_positive_integer_number_of_heads(num_heads):
    with raises(ValueError, "num_heads must be a positive integer"):
        ac.split_heads(zeros(3, 4), num_heads)


def test_split_and_merge_heads_need_enough_dimensions():
    with raises(ValueError, "split_heads", "shape (4,)"):
        ac.split_heads(zeros(4), 2)
    with raises(ValueError, "merge_heads", "shape (3, 4)"):
        ac.merge_heads(zeros(3, 4))


def test_multi_head_attention_names_a_projection_of_the_wrong_shape():
    x, w = zeros(1, 3, 4), zeros(4, 4)
    with raises(ValueError, "w_k", "w_k (5, 4)", "query (1, 3, 4)"):
        ac.multi_head_attention(x, x, x, w, zeros(5, 4), w, w, 2)


def test_multi_head_attention_names_an_output_projection_that_does_not_fit_the_heads():
    x, w = zeros(1, 3, 4), zeros(4, 4)
    with raises(ValueError, "w_o", "w_o (6, 4)", "w_v (4, 4)"):
        ac.multi_head_attention(x, x, x, w, w, w, zeros(6, 4), 2)


def test_module_rejects_d_model_not_divisible_by_heads():
    pytest.importorskip("torch")
    with raises(ValueError, "d_model=10", "num_heads=3"):
        ac.MultiHeadAttention(10, 3)


def test_from_torch_rejects_other_modules_and_unsupported_settings():
    torch = pytest.importorskip("torch")
    with raises(TypeError, "torch.nn.MultiheadAttention", "Linear"):
        ac.MultiHeadAttention.from_torch(torch.nn.Linear(4, 4))
    with raises(ValueError, "batch_first=False"):
        ac.MultiHeadAttention.from_torch(torch.nn.MultiheadAttention(4, 2))
    with raises(ValueError, "dropout=0.1"):
        ac.MultiHeadAttention.from_torch(torch.nn.MultiheadAttention(4, 2, dropout=0.1, batch_first=True))
    with raises(ValueError, "kdim/vdim"):
        ac.MultiHeadAttention.from_torch(torch.nn.MultiheadAttention(4, 2, kdim=3, vdim=3, batch_first=True))


# --- additive attention ------------------------------------------------------------------

def additive_args(**changes):
    args = dict(q=zeros(2, 3), k=zeros(4, 5), v=zeros(4, 2), w_q=zeros(3, 6), w_k=zeros(5, 6), w_v=zeros(6))
    args.update(changes)
    return args


def test_additive_weights_with_wrong_rows_are_named():
    with raises(ValueError, "w_q must have d_q rows", "q (2, 3)", "w_q (4, 6)"):
        ac.additive_attention(**additive_args(w_q=zeros(4, 6)))


def test_additive_hidden_sizes_must_agree():
    with raises(ValueError, "hidden size h", "w_k (5, 7)", "w_v (6,)"):
        ac.additive_attention(**additive_args(w_k=zeros(5, 7)))


def test_additive_w_v_must_be_a_vector():
    with raises(ValueError, "w_v a vector", "w_v (6, 1)"):
        ac.additive_attention(**additive_args(w_v=zeros(6, 1)))


def test_additive_values_must_match_keys():
    with raises(ValueError, "k (4, 5)", "v (3, 2)"):
        ac.additive_attention(**additive_args(v=zeros(3, 2)))


def test_additive_mask_is_checked():
    with raises(TypeError, "additive_attention", "mask must be bool", "int64"):
        ac.additive_attention(**additive_args(), mask=np.ones((2, 4), np.int64))
    with raises(ValueError, "additive_attention", "mask of shape (3, 4)", "(2, 4)"):
        ac.additive_attention(**additive_args(), mask=np.ones((3, 4), bool))


@pytest.mark.parametrize("d_model, num_heads, name", [(8, 0, "num_heads"), (0, 2, "d_model"), (8, 2.0, "num_heads")])
def test_multihead_module_names_a_bad_size(d_model, num_heads, name):
    import attention_course as ac

    with pytest.raises(ValueError, match=f"MultiHeadAttention: {name} must be a positive integer"):
        ac.MultiHeadAttention(d_model, num_heads)
