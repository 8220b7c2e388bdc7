"""The torch backend: same answers as PyTorch's own attention, autograd, dtypes."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import attention_course as ac

torch = pytest.importorskip("torch")
F = torch.nn.functional

FEW = settings(max_examples=20, deadline=None)
seeds = st.integers(0, 2**32 - 1)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def randn(seed, *shape, dtype=torch.float64):
    return torch.randn(*shape, generator=gen(seed), dtype=dtype)


def random_mask(seed, shape, kind):
    """A bool or additive mask in which every query row keeps at least one key."""
    keep = torch.rand(shape, generator=gen(seed)) < 0.5
    keep[..., 0] = True
    if kind == "bool":
        return keep
    bias = torch.randn(shape, generator=gen(seed + 1), dtype=torch.float64)   # any additive bias, -inf = hide
    return torch.where(keep, bias, -math.inf)


@FEW
@given(seeds, st.integers(1, 3), st.integers(1, 4), st.integers(1, 6), st.integers(1, 6), st.integers(1, 5),
       st.integers(1, 4), st.sampled_from([None, "bool", "additive", "causal"]),
       st.sampled_from([None, 0.3, 1.0]))
def test_attention_equals_torch_scaled_dot_product_attention(seed, batch, heads, n_q, n_k, d_k, d_v, mask_kind,
                                                             scale):
    if mask_kind == "causal":
        n_k = n_q
    q, k, v = randn(seed, batch, heads, n_q, d_k), randn(seed + 1, batch, heads, n_k, d_k), \
        randn(seed + 2, batch, heads, n_k, d_v)
    mask, torch_kwargs = None, {}
    if mask_kind == "causal":
        mask, torch_kwargs = ac.causal_mask(n_q, like=q), {"is_causal": True}
    elif mask_kind:
        mask = random_mask(seed + 3, (batch, 1, n_q, n_k), mask_kind)          # broadcasts over heads
        torch_kwargs = {"attn_mask": mask}
    output, weights = ac.scaled_dot_product_attention(q, k, v, mask=mask, scale=scale)
    expected = F.scaled_dot_product_attention(q, k, v, scale=scale, **torch_kwargs)
    torch.testing.assert_close(output, expected, rtol=1e-10, atol=1e-12)
    # PyTorch does not return weights; softmax(q k^T * scale + mask) is their definition
    s = 1 / math.sqrt(d_k) if scale is None else scale
    scores = q @ k.transpose(-1, -2) * s
    if mask is not None:
        scores = scores.masked_fill(~mask, -math.inf) if mask.dtype == torch.bool else scores + mask
    torch.testing.assert_close(weights, torch.softmax(scores, dim=-1), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_in_torch_out_with_the_same_dtype(dtype):
    q, k, v = (randn(i, 2, 3, 4, dtype=dtype) for i in range(3))
    output, weights = ac.scaled_dot_product_attention(q, k, v)
    for t in (output, weights):
        assert isinstance(t, torch.Tensor) and t.dtype == dtype and t.device == q.device


def test_float32_stays_float32_with_a_float64_additive_mask():
    q, k, v = (randn(i, 3, 4, dtype=torch.float32) for i in range(3))
    mask = torch.zeros(3, 3, dtype=torch.float64)
    mask[:, 2] = -math.inf
    output, weights = ac.scaled_dot_product_attention(q, k, v, mask=mask)
    assert output.dtype == weights.dtype == torch.float32
    assert torch.all(weights[:, 2] == 0)


@FEW
@given(seeds, st.integers(1, 5), st.integers(1, 5), st.sampled_from([None, "bool", "additive"]))
def test_numpy_and_torch_backends_agree(seed, n_q, n_k, mask_kind):
    q, k, v = randn(seed, 2, n_q, 3), randn(seed + 1, 2, n_k, 3), randn(seed + 2, 2, n_k, 2)
    mask = None if mask_kind is None else random_mask(seed, (2, n_q, n_k), mask_kind)
    t_out, t_w = ac.scaled_dot_product_attention(q, k, v, mask=mask)
    n_out, n_w = ac.scaled_dot_product_attention(q.numpy(), k.numpy(), v.numpy(),
                                                 mask=None if mask is None else mask.numpy())
    np.testing.assert_allclose(t_out.numpy(), n_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t_w.numpy(), n_w, rtol=1e-10, atol=1e-12)


def test_scale_may_be_a_learnable_tensor_on_torch():
    q, k, v = (randn(i, 3, 4) for i in range(3))
    scale = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    output, _ = ac.scaled_dot_product_attention(q, k, v, scale=scale)
    torch.testing.assert_close(output, ac.scaled_dot_product_attention(q, k, v, scale=0.5)[0])
    assert torch.autograd.gradcheck(lambda s: ac.scaled_dot_product_attention(q, k, v, scale=s)[0], (scale,))


@pytest.mark.parametrize("kind", ["bool", "additive"])
def test_fully_masked_rows_are_zero_with_finite_gradients_on_torch(kind):
    q, k, v = (randn(i, 2, 3, 4).requires_grad_() for i in range(3))
    keep = torch.ones(2, 3, 3, dtype=torch.bool)
    keep[0, 1] = False                                       # batch 0, query 1 sees nothing
    mask = keep if kind == "bool" else torch.where(keep, 0.0, -math.inf).double()
    output, weights = ac.scaled_dot_product_attention(q, k, v, mask=mask)
    assert torch.all(weights[0, 1] == 0) and torch.all(output[0, 1] == 0)
    assert torch.isfinite(output).all() and torch.isfinite(weights).all()
    (output.sum() + weights.square().sum()).backward()
    for t in (q, k, v):
        assert torch.isfinite(t.grad).all()
    assert torch.all(q.grad[0, 1] == 0)                      # nothing flows back from an empty row


@pytest.mark.parametrize("mask_kind", [None, "bool", "additive", "empty row"])
def test_gradcheck_through_attention_in_float64(mask_kind):
    q, k, v = (randn(i, 2, 3, 4).requires_grad_() for i in range(3))
    mask = None
    if mask_kind in ("bool", "additive"):
        mask = random_mask(5, (2, 3, 3), mask_kind)
    elif mask_kind == "empty row":
        mask = torch.ones(3, 3, dtype=torch.bool)
        mask[1] = False

    def f(q, k, v):
        return ac.scaled_dot_product_attention(q, k, v, mask=mask)

    assert torch.autograd.gradcheck(f, (q, k, v))


def test_gradcheck_through_softmax_with_temperature():
    x = randn(0, 3, 5).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: ac.softmax(x, temperature=0.7), (x,))
    assert torch.autograd.gradcheck(lambda x: ac.softmax(x, axis=0, temperature=2.5), (x,))


def test_gradcheck_through_multi_head_attention_inputs_and_weights():
    query, key = randn(0, 2, 3, 4).requires_grad_(), randn(1, 2, 5, 4).requires_grad_()
    w_q, w_k, w_v, w_o = (randn(10 + i, 4, 4).requires_grad_() for i in range(4))
    b_o = randn(20, 4).requires_grad_()
    mask = ac.padding_mask([5, 2], 5, like=query)

    def f(query, key, w_q, w_k, w_v, w_o, b_o):
        return ac.multi_head_attention(query, key, key, w_q, w_k, w_v, w_o, 2, mask=mask, b_o=b_o)

    assert torch.autograd.gradcheck(f, (query, key, w_q, w_k, w_v, w_o, b_o))


def test_gradcheck_through_additive_attention():
    q, k, v = randn(0, 2, 3).requires_grad_(), randn(1, 4, 5).requires_grad_(), randn(2, 4, 2).requires_grad_()
    w_q, w_k, w_v = randn(3, 3, 6).requires_grad_(), randn(4, 5, 6).requires_grad_(), randn(5, 6).requires_grad_()
    assert torch.autograd.gradcheck(lambda *a: ac.additive_attention(*a), (q, k, v, w_q, w_k, w_v))


def make_torch_mha(seed, d_model, heads, bias=True, dtype=torch.float64):
    torch.manual_seed(seed)
    m = torch.nn.MultiheadAttention(d_model, heads, bias=bias, batch_first=True, dtype=dtype)
    if bias:                                     # PyTorch starts biases at 0; make them count
        with torch.no_grad():
            m.in_proj_bias.normal_()
            m.out_proj.bias.normal_()
    return m.eval()


@FEW
@given(seeds, st.integers(1, 3), st.sampled_from([(4, 1), (4, 2), (6, 3), (8, 4)]), st.integers(1, 5),
       st.integers(1, 5), st.booleans(), st.sampled_from([None, "attn_mask", "padding", "causal"]))
def test_from_torch_matches_torch_multihead_attention(seed, batch, dims, n_q, n_k, bias, mask_kind):
    d_model, heads = dims
    if mask_kind == "causal":
        n_k = n_q
    theirs = make_torch_mha(seed, d_model, heads, bias)
    ours = ac.MultiHeadAttention.from_torch(theirs)
    query, key, value = randn(seed, batch, n_q, d_model), randn(seed + 1, batch, n_k, d_model), \
        randn(seed + 2, batch, n_k, d_model)
    mask, kwargs = None, {}
    if mask_kind == "attn_mask":
        mask = random_mask(seed, (n_q, n_k), "bool")
        kwargs = {"attn_mask": ~mask}                         # PyTorch: True = hidden
    elif mask_kind == "padding":
        lengths = torch.randint(1, n_k + 1, (batch,), generator=gen(seed))
        mask = ac.padding_mask(lengths, n_k, like=query)      # (batch, 1, n_k)
        kwargs = {"key_padding_mask": ~mask[:, 0]}
    elif mask_kind == "causal":
        mask = ac.causal_mask(n_q, like=query)
        kwargs = {"attn_mask": ~mask}
    with torch.no_grad():
        expected, expected_w = theirs(query, key, value, need_weights=True, average_attn_weights=False, **kwargs)
        output, weights = ours(query, key, value, mask=mask)
    assert weights.shape == (batch, heads, n_q, n_k)
    torch.testing.assert_close(output, expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(weights, expected_w, rtol=1e-10, atol=1e-12)


def test_from_torch_float32_matches_and_stays_float32():
    theirs = make_torch_mha(0, 8, 2, dtype=torch.float32)
    ours = ac.MultiHeadAttention.from_torch(theirs)
    x = randn(1, 2, 5, 8, dtype=torch.float32)
    with torch.no_grad():
        expected, _ = theirs(x, x, x)
        output, weights = ours(x, x, x)
    assert output.dtype == weights.dtype == torch.float32
    torch.testing.assert_close(output, expected, rtol=1e-5, atol=1e-6)


def test_from_torch_copies_weights_rather_than_sharing_them():
    theirs = make_torch_mha(1, 4, 2)
    ours = ac.MultiHeadAttention.from_torch(theirs)
    x = randn(2, 1, 3, 4)
    before, _ = ours(x, x, x)
    with torch.no_grad():
        theirs.in_proj_weight.add_(1.0)
    after, _ = ours(x, x, x)
    torch.testing.assert_close(after, before)


def test_module_trains_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    m = ac.MultiHeadAttention(8, 2)
    x = torch.randn(2, 4, 8)
    output, weights = m(x, x, x, mask=ac.causal_mask(4, like=x))
    assert output.shape == (2, 4, 8) and weights.shape == (2, 2, 4, 4)
    output.square().mean().backward()
    names = {name for name, p in m.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert names == {"w_q", "w_k", "w_v", "w_o", "b_q", "b_k", "b_v", "b_o"}


def test_module_without_bias_has_no_bias_parameters():
    m = ac.MultiHeadAttention(4, 2, bias=False)
    assert {name for name, _ in m.named_parameters()} == {"w_q", "w_k", "w_v", "w_o"}
    ours = ac.MultiHeadAttention.from_torch(make_torch_mha(2, 4, 2, bias=False))
    assert ours.b_q is None and ours.b_o is None


def test_get_device_is_cpu_without_cuda_and_cuda_with_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert ac.get_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert ac.get_device() == torch.device("cuda")


def test_environment_report_names_versions_and_device():
    report = ac.environment_report()
    assert report["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert report["numpy"] == np.__version__
    assert report["device"] == str(ac.get_device())
    assert {"python", "attention_course", "matplotlib", "ipywidgets", "platform"} <= set(report)
