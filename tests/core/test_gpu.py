"""CUDA versions of the torch-backend tests: marked ``gpu``, skipped without a CUDA GPU.

Run them on a machine with a GPU: ``python -m pytest -n 0 -m gpu tests/test_gpu.py``.
To dry-run their logic without one, set ATTENTION_COURSE_GPU_TEST_DEVICE=cpu.
Tight comparisons use float64; float32 ones allow for TF32 matmuls (about 1e-3).
"""
import math
import os

import numpy as np
import pytest

import attention_course as ac

torch = pytest.importorskip("torch")
F = torch.nn.functional

DEVICE = torch.device(os.environ.get("ATTENTION_COURSE_GPU_TEST_DEVICE", "cuda"))
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(DEVICE.type == "cuda" and not torch.cuda.is_available(),
                       reason="no CUDA GPU: torch.cuda.is_available() is False"),
]
F32 = {"rtol": 2e-3, "atol": 2e-3}


def cpu_randn(seed, *shape, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def on_device(*tensors):
    return tuple(t.to(DEVICE) for t in tensors)


def assert_on_device(*tensors):
    for t in tensors:
        assert t.device.type == DEVICE.type, f"expected a tensor on {DEVICE}, got one on {t.device}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_attention_on_gpu_stays_on_gpu_and_matches_cpu(dtype):
    q, k, v = (cpu_randn(i, 2, 4, 5, 8, dtype=dtype) for i in range(3))
    mask = ac.causal_mask(5)
    cpu_out, cpu_w = ac.scaled_dot_product_attention(q, k, v, mask=torch.from_numpy(mask))
    gq, gk, gv = on_device(q, k, v)
    out, w = ac.scaled_dot_product_attention(gq, gk, gv, mask=ac.causal_mask(5, like=gq))
    assert_on_device(out, w)
    assert out.dtype == w.dtype == dtype
    tol = F32 if dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-12}
    torch.testing.assert_close(out.cpu(), cpu_out, **tol)
    torch.testing.assert_close(w.cpu(), cpu_w, **tol)


@pytest.mark.parametrize("mask_kind", [None, "bool", "causal"])
def test_attention_on_gpu_equals_torch_sdpa_on_gpu(mask_kind):
    q, k, v = on_device(*(cpu_randn(i, 2, 3, 6, 4) for i in range(3)))
    mask, kwargs = None, {}
    if mask_kind == "bool":
        mask = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0)).to(DEVICE) < 0.5
        mask[..., 0] = True
        kwargs = {"attn_mask": mask}
    elif mask_kind == "causal":
        mask, kwargs = ac.causal_mask(6, like=q), {"is_causal": True}
    out, _ = ac.scaled_dot_product_attention(q, k, v, mask=mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, **kwargs), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["bool", "additive"])
def test_fully_masked_rows_on_gpu_are_zero_with_finite_gradients(kind):
    q, k, v = (t.requires_grad_() for t in on_device(*(cpu_randn(i, 3, 4) for i in range(3))))
    keep = torch.ones(3, 3, dtype=torch.bool, device=DEVICE)
    keep[2] = False
    mask = keep if kind == "bool" else torch.where(keep, 0.0, -math.inf).double()
    out, w = ac.scaled_dot_product_attention(q, k, v, mask=mask)
    assert torch.all(w[2] == 0).item() and torch.all(out[2] == 0).item()
    out.sum().backward()
    for t in (q, k, v):
        assert_on_device(t.grad)
        assert torch.isfinite(t.grad).all().item()


def test_gradcheck_on_gpu_in_float64():
    q, k, v = (t.requires_grad_() for t in on_device(*(cpu_randn(i, 2, 3, 4) for i in range(3))))
    mask = ac.padding_mask([3, 1], 3, like=q)
    assert torch.autograd.gradcheck(lambda q, k, v: ac.scaled_dot_product_attention(q, k, v, mask=mask), (q, k, v))


def test_softmax_on_gpu_matches_cpu():
    x = cpu_randn(0, 4, 7)
    got = ac.softmax(x.to(DEVICE), temperature=0.5)
    assert_on_device(got)
    torch.testing.assert_close(got.cpu(), ac.softmax(x, temperature=0.5), rtol=1e-12, atol=1e-14)


def test_masks_like_a_gpu_tensor_are_on_the_gpu():
    like = torch.zeros(1, device=DEVICE)
    causal = ac.causal_mask(4, like=like)
    padding = ac.padding_mask(torch.tensor([2, 4], device=DEVICE), 4, like=like)
    assert_on_device(causal, padding)
    assert causal.dtype == padding.dtype == torch.bool
    assert causal.cpu().numpy().tolist() == ac.causal_mask(4).tolist()
    assert padding.cpu().numpy().tolist() == ac.padding_mask([2, 4], 4).tolist()


def test_additive_attention_on_gpu_matches_cpu():
    shapes = [(3, 2), (4, 5), (4, 2), (2, 6), (5, 6), (6,)]
    arrays = [cpu_randn(i, *s) for i, s in enumerate(shapes)]
    out, w = ac.additive_attention(*on_device(*arrays))
    assert_on_device(out, w)
    cpu_out, cpu_w = ac.additive_attention(*arrays)
    torch.testing.assert_close(out.cpu(), cpu_out, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(w.cpu(), cpu_w, rtol=1e-10, atol=1e-12)


def test_multi_head_attention_function_on_gpu_matches_cpu():
    x = cpu_randn(0, 2, 5, 8)
    ws = [cpu_randn(1 + i, 8, 8) for i in range(4)]
    cpu_out, cpu_w = ac.multi_head_attention(x, x, x, *ws, 4, mask=ac.padding_mask([5, 3], 5, like=x))
    gx = x.to(DEVICE)
    out, w = ac.multi_head_attention(gx, gx, gx, *on_device(*ws), 4, mask=ac.padding_mask([5, 3], 5, like=gx))
    assert_on_device(out, w)
    torch.testing.assert_close(out.cpu(), cpu_out, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(w.cpu(), cpu_w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_from_torch_on_gpu_matches_torch_on_gpu(dtype):
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(8, 2, batch_first=True).to(device=DEVICE, dtype=dtype).eval()
    with torch.no_grad():
        theirs.in_proj_bias.normal_()
        theirs.out_proj.bias.normal_()
    ours = ac.MultiHeadAttention.from_torch(theirs)
    assert_on_device(*ours.parameters())
    assert all(p.dtype == dtype for p in ours.parameters())
    query, key = (t.to(dtype) for t in on_device(cpu_randn(1, 2, 4, 8), cpu_randn(2, 2, 6, 8)))
    mask = ac.padding_mask([6, 3], 6, like=query)
    with torch.no_grad():
        expected, expected_w = theirs(query, key, key, key_padding_mask=~mask[:, 0], average_attn_weights=False)
        out, w = ours(query, key, key, mask=mask)
    assert_on_device(out, w)
    tol = F32 if dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-12}
    torch.testing.assert_close(out, expected, **tol)
    torch.testing.assert_close(w, expected_w, **tol)


def test_module_trains_on_gpu():
    torch.manual_seed(0)
    m = ac.MultiHeadAttention(8, 2).to(DEVICE)
    x = torch.randn(2, 4, 8, device=DEVICE)
    out, _ = m(x, x, x, mask=ac.causal_mask(4, like=x))
    out.square().mean().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.device.type == DEVICE.type, name


@pytest.mark.skipif(DEVICE.type != "cuda", reason="needs a real CUDA device")
def test_get_device_finds_the_gpu():
    assert ac.get_device().type == "cuda"
    assert "gpu" in ac.environment_report()


@pytest.mark.skipif(DEVICE.type != "cuda", reason="needs a real CUDA device")
def test_cpu_and_gpu_tensors_mixed_is_a_type_error():
    q = torch.zeros(2, 4)
    with pytest.raises(TypeError, match="different devices"):
        ac.scaled_dot_product_attention(q, q.to(DEVICE), q)
    with pytest.raises(TypeError, match="is a torch tensor"):
        ac.scaled_dot_product_attention(np.zeros((2, 4)), q.to(DEVICE), q.to(DEVICE))
