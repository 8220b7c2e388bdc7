"""Lesson 13's core: efficient_attention, tiled_attention (readable and fast) and KVCache, each
checked against the slow reference or the readable scaled_dot_product_attention."""
import math
import re
import tracemalloc

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import attention_course as ac
from attention_course import efficient

from ._reference import attention as reference_attention

FEW = settings(max_examples=25, deadline=None)
seeds = st.integers(0, 2**32 - 1)


def raises(exc, *fragments):
    """pytest.raises that also checks every fragment appears (literally) in the message."""
    return pytest.raises(exc, match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


def random_qkv(seed, batch=(), n_q=4, n_k=5, d_k=3, d_v=2, dtype=np.float64, k_batch=None):
    rng = np.random.default_rng(seed)
    kb = batch if k_batch is None else k_batch
    return (rng.standard_normal((*batch, n_q, d_k)).astype(dtype),
            rng.standard_normal((*kb, n_k, d_k)).astype(dtype),
            rng.standard_normal((*kb, n_k, d_v)).astype(dtype))


def causal_keep(n_q, n_k):
    """Query i at position n_k - n_q + i sees keys 0 .. n_k - n_q + i (written independently)."""
    return np.array([[j <= n_k - n_q + i for j in range(n_k)] for i in range(n_q)], dtype=bool)


# ================================================================ efficient_attention

@FEW
@given(seeds, st.lists(st.integers(1, 3), max_size=2), st.integers(1, 7), st.integers(1, 7),
       st.integers(1, 5), st.integers(1, 4), st.sampled_from([None, "bool", "additive", "batched bool"]))
def test_efficient_attention_matches_slow_reference(seed, batch, n_q, n_k, d_k, d_v, mask_kind):
    q, k, v = random_qkv(seed, tuple(batch), n_q, n_k, d_k, d_v)
    mask = None
    rng = np.random.default_rng(seed + 1)
    if mask_kind == "batched bool":                                    # adds a batch axis of 2
        mask = rng.random((2, *[1] * len(batch), 1, n_k)) < 0.6
    elif mask_kind:
        keep = rng.random((n_q, n_k)) < 0.6
        mask = keep if mask_kind == "bool" else np.where(keep, rng.standard_normal((n_q, n_k)), -np.inf)
    output, weights = ac.efficient_attention(q, k, v, mask=mask)
    ref_output, ref_weights = reference_attention(q, k, v, mask=mask)
    np.testing.assert_allclose(weights, ref_weights, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(output, ref_output, rtol=1e-10, atol=1e-12)


def test_large_inputs_computed_in_blocks_match_reference():
    # 300 query rows > the 256 rows of a block, two heads: four blocks shared by the threads.
    q, k, v = random_qkv(7, (2,), n_q=300, n_k=1000, d_k=8, d_v=3)
    mask = np.random.default_rng(8).random((300, 1000)) < 0.9
    mask[5] = False                                         # one query sees nothing
    output, weights = ac.efficient_attention(q, k, v, mask=mask)
    scores = q @ k.swapaxes(-1, -2) / math.sqrt(8)           # textbook numpy, natural exp
    scores = np.where(mask, scores, -np.inf)
    top = scores.max(-1, keepdims=True)
    e = np.exp(scores - np.where(np.isfinite(top), top, 0))
    total = e.sum(-1, keepdims=True)
    expected = e / np.where(total == 0, 1, total)
    np.testing.assert_allclose(weights, expected, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(output, expected @ v, rtol=1e-10, atol=1e-12)
    assert np.all(weights[:, 5] == 0) and np.all(output[:, 5] == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["bool", "additive"])
def test_efficient_attention_fully_masked_rows_give_zeros_not_nan(kind, dtype):
    q, k, v = random_qkv(3, (2,), n_q=3, n_k=4, dtype=dtype)
    keep = np.ones((2, 3, 4), dtype=bool)
    keep[0, 1] = False                                      # batch 0, query 1 sees nothing
    mask = keep if kind == "bool" else np.where(keep, 0.0, -np.inf).astype(dtype)
    output, weights = ac.efficient_attention(q, k, v, mask=mask)
    assert np.all(np.isfinite(output)) and np.all(np.isfinite(weights))
    assert np.all(weights[0, 1] == 0) and np.all(output[0, 1] == 0)
    _, ref_weights = ac.scaled_dot_product_attention(q, k, v, mask=mask)
    np.testing.assert_allclose(weights, ref_weights, rtol=1e-5, atol=1e-7)
    assert output.dtype == weights.dtype == dtype


def test_efficient_attention_float32_stays_float32_and_matches_within_float32_rounding():
    q, k, v = random_qkv(5, (2, 3), n_q=40, n_k=50, d_k=16, d_v=8, dtype=np.float32)
    additive = np.zeros((40, 50))                           # a float64 mask must not promote
    additive[:, 1] = -np.inf
    for mask in (None, additive, additive == 0):
        output, weights = ac.efficient_attention(q, k, v, mask=mask, scale=0.3)
        assert output.dtype == weights.dtype == np.float32
        ref_output, ref_weights = reference_attention(q, k, v, mask=mask, scale=0.3)
        np.testing.assert_allclose(weights, ref_weights, rtol=2e-5, atol=1e-7)
        np.testing.assert_allclose(output, ref_output, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_efficient_attention_huge_scores_give_finite_one_hot_weights(dtype):
    q = np.array([[1e4, 0.0], [-1e4, 0.0]], dtype=dtype)
    k = np.array([[1.0, 0.0], [0.9, 0.0], [-1.0, 0.0]], dtype=dtype)
    v = np.array([[1.0], [2.0], [3.0]], dtype=dtype)
    output, weights = ac.efficient_attention(q, k, v)
    assert np.all(np.isfinite(weights))
    np.testing.assert_allclose(weights, [[1, 0, 0], [0, 0, 1]], atol=1e-300)
    np.testing.assert_allclose(output, [[1.0], [3.0]])


def test_empty_weights_is_an_empty_array_and_restores_the_huge_page_setting():
    before = numpy_settings()
    w = efficient.empty_weights((3, 1024, 1024), np.float32)         # 12 MiB: numpy would advise huge pages
    assert w.shape == (3, 1024, 1024) and w.dtype == np.float32 and w.flags.c_contiguous and w.flags.owndata
    assert numpy_settings() == before


@pytest.mark.parametrize("switch", ["missing", "raises", "new return type", "fails on restore"])
def test_empty_weights_and_efficient_attention_work_whatever_numpys_private_switch_does(monkeypatch, switch):
    # _set_madvise_hugepage is private to numpy: if it disappears or changes, nothing may break.
    calls = []

    def raises(enabled):
        raise TypeError("_set_madvise_hugepage() takes no arguments")

    def new_return_type(enabled):                           # returns None, no longer the previous setting
        calls.append(enabled)

    def fails_on_restore(enabled):
        calls.append(enabled)
        if len(calls) > 1:
            raise RuntimeError("cannot restore")
        return True

    fake = {"missing": None, "raises": raises, "new return type": new_return_type,
            "fails on restore": fails_on_restore}[switch]
    monkeypatch.setattr(efficient, "_huge_page_switch", lambda: fake)
    w = efficient.empty_weights((2, 300, 400), np.float32)
    assert w.shape == (2, 300, 400) and w.dtype == np.float32 and w.flags.c_contiguous
    if switch == "new return type":
        assert calls == [False]                             # a setting it does not understand is not "restored"
    q, k, v = random_qkv(30, (2,), n_q=300, n_k=40, d_k=8, d_v=3, dtype=np.float32)
    output, weights = ac.efficient_attention(q, k, v)
    ref_output, ref_weights = ac.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(weights, ref_weights, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(output, ref_output, rtol=1e-5, atol=1e-6)


def test_the_private_switch_lookup_never_raises(monkeypatch):
    import importlib

    def no_module(name):
        raise ImportError(name)

    monkeypatch.setattr(importlib, "import_module", no_module)
    assert efficient._huge_page_switch() is None
    assert efficient.empty_weights((3, 4), np.float64).shape == (3, 4)


def test_empty_weights_from_many_threads_leaves_numpys_setting_as_it_was():
    from concurrent.futures import ThreadPoolExecutor

    before = numpy_settings()
    with ThreadPoolExecutor(4) as pool:
        shapes = list(pool.map(lambda i: efficient.empty_weights((64, 1024, 64), np.float32).shape, range(40)))
    assert shapes == [(64, 1024, 64)] * 40 and numpy_settings() == before


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_efficient_attention_equals_the_formula_for_a_finfo_min_additive_mask(dtype):
    # The Hugging Face convention: hidden keys get finfo.min, not -inf. A row hidden everywhere that
    # way is not "nothing to attend to" in the formula (score + finfo.min is finite): even weights.
    rng = np.random.default_rng(31)
    q, k, v = (rng.standard_normal((2, 5, 4)).astype(dtype) for _ in range(3))
    keep = rng.random((5, 6)) < 0.5
    keep[2], keep[3] = False, True
    k, v = np.concatenate([k, k[:, :1]], axis=1), np.concatenate([v, v[:, :1]], axis=1)
    for fill in (np.finfo(dtype).min, np.finfo(np.float64).min, -np.inf, -1e30):
        mask = np.where(keep, 0.0, fill).astype(np.result_type(dtype, np.asarray(fill).dtype))
        with np.errstate(all="raise"):
            output, weights = ac.efficient_attention(q, k, v, mask=mask)
        ref_output, ref_weights = ac.scaled_dot_product_attention(q, k, v, mask=mask)
        np.testing.assert_allclose(weights, ref_weights, rtol=2e-6, atol=1e-7, err_msg=str(fill))
        np.testing.assert_allclose(output, ref_output, rtol=2e-6, atol=1e-6, err_msg=str(fill))


@FEW
@given(seeds, st.integers(1, 2), st.integers(1, 700), st.integers(1, 700), st.integers(1, 9),
       st.sampled_from([np.float32, np.float64]), st.sampled_from([None, "bool", "additive"]),
       st.floats(0.0, 0.5))
@example(4, 2, 600, 700, 8, np.float32, "bool", 0.1)        # 3 blocks of rows per head, two threads
@example(5, 1, 257, 5, 3, np.float64, "additive", 0.3)
def test_efficient_attention_equals_the_readable_version_across_blocks(seed, heads, n_q, n_k, d, dtype, kind,
                                                                      hidden_rows):
    # Shapes that cross the 256-row blocks and the thread pool; masks that hide whole rows.
    q, k, v = random_qkv(seed, (heads,), n_q, n_k, d, d, dtype=dtype)
    rng = np.random.default_rng(seed + 2)
    mask = None
    if kind:
        keep = rng.random((n_q, n_k)) < 0.7
        keep[rng.random(n_q) < hidden_rows] = False         # some queries see nothing
        mask = keep if kind == "bool" else np.where(keep, rng.standard_normal((n_q, n_k)), -np.inf)
    output, weights = ac.efficient_attention(q, k, v, mask=mask)
    ref_output, ref_weights = ac.scaled_dot_product_attention(q, k, v, mask=mask)
    tol = {"rtol": 2e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-12}
    assert output.dtype == weights.dtype == dtype
    np.testing.assert_allclose(weights, ref_weights, **tol)
    np.testing.assert_allclose(output, ref_output, **tol)


def test_efficient_attention_no_keys_or_no_queries():
    output, weights = ac.efficient_attention(*random_qkv(10, n_k=0))
    assert weights.shape == (4, 0) and output.shape == (4, 2) and np.all(output == 0)
    output, weights = ac.efficient_attention(*random_qkv(10, n_q=0))
    assert weights.shape == (0, 5) and output.shape == (0, 2)


def test_efficient_attention_same_answer_on_one_thread_or_two(monkeypatch):
    q, k, v = random_qkv(12, (3,), n_q=600, n_k=300, d_k=8, d_v=4, dtype=np.float32)
    two = ac.efficient_attention(q, k, v)
    monkeypatch.setattr(efficient, "THREADS", 1)
    one = ac.efficient_attention(q, k, v)
    for a, b in zip(one, two):                              # every block is computed the same way
        np.testing.assert_array_equal(a, b)


def numpy_settings():
    from threadpoolctl import threadpool_info

    try:
        from numpy._core import multiarray
    except ImportError:                                     # numpy 1.x
        from numpy.core import multiarray
    advice = getattr(multiarray, "_get_madvise_hugepage", lambda: None)()
    return np.getbufsize(), np.geterr(), [i["num_threads"] for i in threadpool_info()], advice


def test_efficient_attention_does_not_change_inputs_or_settings():
    q, k, v = random_qkv(11, (2,), n_q=600, n_k=700, dtype=np.float32)
    mask = np.zeros((600, 700))
    copies = [a.copy() for a in (q, k, v, mask)]
    before = numpy_settings()
    ac.efficient_attention(q, k, v, mask=mask)
    assert numpy_settings() == before
    for original, after in zip(copies, (q, k, v, mask)):
        np.testing.assert_array_equal(original, after)


def test_efficient_attention_bad_input_is_named():
    z = np.zeros
    with raises(ValueError, "efficient_attention", "d_k", "q (2, 3, 4)", "k (2, 5, 6)"):
        ac.efficient_attention(z((2, 3, 4)), z((2, 5, 6)), z((2, 5, 7)))
    with raises(ValueError, "efficient_attention", "mask of shape (3, 3)", "(2, 4)"):
        ac.efficient_attention(z((2, 8)), z((4, 8)), z((4, 8)), mask=np.ones((3, 3), bool))
    with raises(TypeError, "efficient_attention", "mask must be bool", "int64"):
        ac.efficient_attention(z((2, 8)), z((4, 8)), z((4, 8)), mask=np.ones((2, 4), np.int64))
    torch = pytest.importorskip("torch")
    with raises(TypeError, "efficient_attention", "q is a torch tensor", "k, v are not"):
        ac.efficient_attention(torch.zeros(2, 8), z((4, 8)), z((4, 8)))


def test_efficient_attention_hands_torch_tensors_to_the_readable_version():
    torch = pytest.importorskip("torch")
    q, k, v = (torch.from_numpy(a) for a in random_qkv(13, (2,), n_q=5, n_k=6, d_k=4, d_v=3))
    mask = torch.from_numpy(np.random.default_rng(13).random((5, 6)) < 0.7)
    output, weights = ac.efficient_attention(q, k, v, mask=mask)
    assert isinstance(output, torch.Tensor) and isinstance(weights, torch.Tensor)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(output, expected, rtol=1e-10, atol=1e-12)


# ================================================================ tiled_attention

@FEW
@given(seeds, st.lists(st.integers(1, 3), max_size=2), st.integers(1, 9), st.integers(0, 6), st.integers(1, 5),
       st.integers(1, 4), st.booleans(), st.integers(1, 4), st.booleans())
def test_tiled_attention_matches_slow_reference(seed, batch, n_q, extra_keys, d_k, d_v, causal, block, fast):
    n_k = n_q + extra_keys                                  # causal needs n_q <= n_k
    q, k, v = random_qkv(seed, tuple(batch), n_q, n_k, d_k, d_v)
    f = ac.tiled_attention if fast else efficient.readable_tiled_attention
    output = f(q, k, v, causal=causal, block_size=block)
    ref_output, _ = reference_attention(q, k, v, mask=causal_keep(n_q, n_k) if causal else None)
    assert output.shape == ref_output.shape and output.dtype == np.float64
    np.testing.assert_allclose(output, ref_output, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", [(2, 4, 700, 32), (1, 3, 1030, 16), (5, 64, 8)])
def test_fast_tiled_attention_equals_the_readable_loop_in_float32(shape, causal):
    q, k, v = random_qkv(14, shape[:-2], n_q=shape[-2], n_k=shape[-2], d_k=shape[-1], d_v=shape[-1],
                         dtype=np.float32)
    fast = ac.tiled_attention(q, k, v, causal=causal)               # default tiles, two threads
    readable = efficient.readable_tiled_attention(q, k, v, causal=causal)
    assert fast.dtype == readable.dtype == np.float32
    np.testing.assert_allclose(fast, readable, rtol=1e-5, atol=2e-6)
    mask = ac.causal_mask(shape[-2]) if causal else None
    np.testing.assert_allclose(fast, ac.scaled_dot_product_attention(q, k, v, mask=mask)[0], rtol=1e-5, atol=2e-6)


@settings(max_examples=12, deadline=None)
@given(seeds, st.lists(st.integers(1, 2), max_size=2), st.integers(1, 800), st.integers(0, 900),
       st.sampled_from([8, 64]), st.booleans(), st.sampled_from([None, 37, 300]),
       st.sampled_from([np.float32, np.float64]))
@example(1, [2], 300, 800, 64, True, None, np.float32)      # 2 query tiles x 3 key tiles, causal, n_q < n_k
@example(2, [], 777, 0, 8, True, None, np.float64)          # square causal, a short last tile
@example(3, [1, 2], 513, 600, 8, False, 300, np.float32)
def test_fast_tiled_attention_equals_the_readable_loop_across_real_tiles(seed, batch, n_q, extra_keys, d, causal,
                                                                       block, dtype):
    # The default tiles (256 queries x 512 keys), the thread pool, and causal n_q < n_k at real sizes.
    n_k = n_q + extra_keys
    q, k, v = random_qkv(seed, tuple(batch), n_q, n_k, d, d, dtype=dtype)
    fast = ac.tiled_attention(q, k, v, causal=causal, block_size=block)
    readable = efficient.readable_tiled_attention(q, k, v, causal=causal, block_size=block or 128)
    assert fast.shape == readable.shape == (*batch, n_q, d) and fast.dtype == readable.dtype == dtype
    tol = {"rtol": 1e-4, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-12}
    np.testing.assert_allclose(fast, readable, **tol)


@pytest.mark.parametrize("f", [ac.tiled_attention, efficient.readable_tiled_attention], ids=["fast", "readable"])
def test_tiled_attention_with_no_queries_returns_an_empty_output(f):
    q, k, v = random_qkv(32, (3,), n_q=0, n_k=5, d_k=4, d_v=2)
    for causal in (False, True):
        output = f(q, k[:1], v, causal=causal)               # k's batch axis broadcasts
        assert output.shape == (3, 0, 2) and output.dtype == np.float64


def test_tiled_attention_broadcasts_batch_axes_like_the_formula():
    q, k, v = random_qkv(15, (2, 1), n_q=7, n_k=9, d_k=4, d_v=3, k_batch=(1, 3))
    for f in (ac.tiled_attention, efficient.readable_tiled_attention):
        output = f(q, k, v, causal=True, block_size=2)
        assert output.shape == (2, 3, 7, 3)
        np.testing.assert_allclose(output, reference_attention(q, k, v, mask=causal_keep(7, 9))[0], rtol=1e-10)


@pytest.mark.parametrize("f", [ac.tiled_attention, efficient.readable_tiled_attention], ids=["fast", "readable"])
def test_tiled_attention_huge_scores_stay_finite(f):
    rng = np.random.default_rng(16)
    q = rng.standard_normal((40, 8)).astype(np.float32) * 1e3          # scores of 1e5 and more
    k, v = rng.standard_normal((2, 60, 8)).astype(np.float32)
    output = f(q, k, v, block_size=7)
    assert np.all(np.isfinite(output))
    winner = np.argmax(q @ k.T, axis=1)                                # the softmax is one-hot
    np.testing.assert_allclose(output, v[winner], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("f", [ac.tiled_attention, efficient.readable_tiled_attention], ids=["fast", "readable"])
def test_causal_tiled_attention_never_reads_tiles_in_the_future(f):
    # NaN in every key and value after the first block: the first block of queries must not touch
    # them (a computed tile would give 0 * NaN = NaN even where the mask hides the key).
    q, k, v = random_qkv(17, (2,), n_q=12, n_k=12, d_k=4, d_v=3)
    k[:, 4:], v[:, 4:] = np.nan, np.nan
    with np.errstate(invalid="ignore"):
        output = f(q, k, v, causal=True, block_size=4)
    ref_output, _ = reference_attention(q[:, :4], k[:, :4], v[:, :4], mask=causal_keep(4, 4))
    np.testing.assert_allclose(output[:, :4], ref_output, rtol=1e-10)
    assert np.isnan(output[:, 4:]).all()                               # later queries do see them


def test_tiled_attention_never_holds_the_weights():
    q, k, v = random_qkv(18, (1,), n_q=2048, n_k=2048, d_k=16, d_v=16, dtype=np.float32)
    weights_bytes = 2048 * 2048 * 4                                    # 16 MiB of float32
    for f in (ac.tiled_attention, efficient.readable_tiled_attention):
        f(q[:, :8], k[:, :8], v[:, :8])                                # warm up outside the trace
        tracemalloc.start()
        try:
            f(q, k, v)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < weights_bytes / 8, f"{f.__name__}: peak {peak / 2**20:.1f} MiB"


def test_tiled_attention_same_answer_on_one_thread_or_two(monkeypatch):
    q, k, v = random_qkv(19, (3,), n_q=600, n_k=900, d_k=8, d_v=4, dtype=np.float32)
    two = ac.tiled_attention(q, k, v, causal=True)
    monkeypatch.setattr(efficient, "THREADS", 1)
    np.testing.assert_array_equal(ac.tiled_attention(q, k, v, causal=True), two)


def test_tiled_attention_does_not_change_inputs_or_settings():
    q, k, v = random_qkv(20, (2,), n_q=600, n_k=700, dtype=np.float32)
    copies = [a.copy() for a in (q, k, v)]
    before = numpy_settings()
    ac.tiled_attention(q, k, v)
    efficient.readable_tiled_attention(q, k, v)
    assert numpy_settings() == before
    for original, after in zip(copies, (q, k, v)):
        np.testing.assert_array_equal(original, after)


@pytest.mark.parametrize("f", [ac.tiled_attention, efficient.readable_tiled_attention], ids=["fast", "readable"])
def test_tiled_attention_bad_input_is_named(f):
    z = np.zeros
    name = f.__name__
    with raises(ValueError, name, "d_k", "q (2, 3, 4)", "k (2, 5, 6)"):
        f(z((2, 3, 4)), z((2, 5, 6)), z((2, 5, 7)))
    with raises(ValueError, name, "causal=True needs n_q <= n_k", "q (6, 4)", "k (5, 4)"):
        f(z((6, 4)), z((5, 4)), z((5, 4)), causal=True)
    with raises(ValueError, name, "n_k = 0"):
        f(z((6, 4)), z((0, 4)), z((0, 4)))
    for bad in (0, -2, 2.5, True):
        with raises(ValueError, name, "block_size"):
            f(z((3, 4)), z((5, 4)), z((5, 4)), block_size=bad)
    with raises(TypeError, name, "causal must be True or False"):
        f(z((3, 4)), z((5, 4)), z((5, 4)), causal="yes")
    torch = pytest.importorskip("torch")
    with raises(TypeError, name, "q is a torch tensor"):
        f(torch.zeros(3, 4), z((5, 4)), z((5, 4)))


def test_tiled_attention_on_torch_equals_torch_sdpa_and_is_differentiable():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    g = torch.Generator().manual_seed(21)
    q = torch.randn(2, 3, 10, 8, generator=g, dtype=torch.float64, requires_grad=True)
    k, v = torch.randn(2, 2, 3, 14, 8, generator=g, dtype=torch.float64).unbind(0)
    keep = torch.from_numpy(causal_keep(10, 14))
    for causal, mask in ((False, None), (True, keep)):
        output = ac.tiled_attention(q, k, v, causal=causal, block_size=3)
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        torch.testing.assert_close(output, expected, rtol=1e-10, atol=1e-12)
        (grad,) = torch.autograd.grad(output.square().sum(), q)
        (expected_grad,) = torch.autograd.grad(expected.square().sum(), q)
        torch.testing.assert_close(grad, expected_grad, rtol=1e-9, atol=1e-11)
    square = ac.tiled_attention(q[..., :8, :].detach().float(), k[..., :8, :].float(), v[..., :8, :].float(),
                                causal=True)
    assert square.dtype == torch.float32
    torch.testing.assert_close(square, F.scaled_dot_product_attention(
        q[..., :8, :].detach().float(), k[..., :8, :].float(), v[..., :8, :].float(), is_causal=True),
        rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
def test_tiled_attention_on_cuda_stays_on_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    q, k, v = (torch.randn(2, 4, 300, 16, device="cuda", dtype=torch.float64) for _ in range(3))
    output = ac.tiled_attention(q, k, v, causal=True, block_size=64)
    assert output.device.type == "cuda"
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(output, expected, rtol=1e-10, atol=1e-12)


# ================================================================ KVCache

def decode(q, k, v, cache, step=1):
    """Feed k, v to the cache ``step`` positions at a time; attend with the matching queries."""
    outputs = []
    n = k.shape[-2]
    for t in range(0, n, step):
        new = min(step, n - t)                              # positions t .. t + new - 1
        keys, values = cache.append(k[..., t:t + new, :], v[..., t:t + new, :])
        assert keys.shape[-2] == len(cache) == t + new
        mask = causal_keep(new, t + new)                    # each new query sees itself and the past
        outputs.append(ac.scaled_dot_product_attention(q[..., t:t + new, :], keys, values, mask=mask)[0])
    return np.concatenate(outputs, axis=-2)


@pytest.mark.parametrize("step", [1, 3])
def test_decoding_with_the_cache_equals_full_causal_attention(step):
    q, k, v = random_qkv(22, (2, 4), n_q=37, n_k=37, d_k=8, d_v=8)
    full, _ = ac.scaled_dot_product_attention(q, k, v, mask=ac.causal_mask(37))
    decoded = decode(q, k, v, ac.KVCache(), step)
    np.testing.assert_allclose(decoded, full, rtol=1e-13, atol=1e-15)


def test_the_cache_changes_the_cost_not_the_numbers():
    # Recomputing every key and value at every step gives bit-for-bit what the cache gives.
    q, k, v = random_qkv(23, (3,), n_q=50, n_k=50, d_k=16, d_v=16, dtype=np.float32)
    cache = ac.KVCache()
    for t in range(50):
        keys, values = cache.append(k[:, t:t + 1], v[:, t:t + 1])
        with_cache = ac.scaled_dot_product_attention(q[:, t:t + 1], keys, values)[0]
        recomputed = ac.scaled_dot_product_attention(q[:, t:t + 1], k[:, :t + 1], v[:, :t + 1])[0]
        np.testing.assert_array_equal(with_cache, recomputed)


def test_cache_holds_everything_appended_and_earlier_results_stay_valid():
    _, k, v = random_qkv(24, (2,), n_k=100, d_k=3, d_v=5)
    cache = ac.KVCache()
    assert len(cache) == 0 and cache.keys is None and cache.nbytes == 0
    snapshots = []
    for t in range(0, 100, 7):                              # grows past its capacity several times
        keys, values = cache.append(k[:, t:t + 7], v[:, t:t + 7])
        snapshots.append((keys.shape[-2], keys.copy(), keys, values))
    for n, copy, keys, _ in snapshots:                      # earlier returned views never change
        np.testing.assert_array_equal(keys, copy)
        np.testing.assert_array_equal(keys, k[:, :n])
    np.testing.assert_array_equal(cache.keys, k)
    np.testing.assert_array_equal(cache.values, v)
    assert len(cache) == 100
    assert cache.nbytes == 2 * 100 * (3 + 5) * 8            # batch 2, n 100, d_k + d_v, float64
    cache.append(k[:, :0], v[:, :0])                        # no new rows: nothing changes
    assert len(cache) == 100


def test_cache_copies_what_it_is_given():
    _, k, v = random_qkv(25, n_k=4)
    cache = ac.KVCache()
    cache.append(k, v)
    k[:] = 0.0
    assert not np.all(cache.keys == 0)


def test_cache_memory_follows_the_formula():
    layers, kv_heads, d_head, n = 3, 2, 16, 40
    caches = [ac.KVCache() for _ in range(layers)]
    rng = np.random.default_rng(26)
    for _ in range(n):
        for c in caches:
            c.append(*rng.standard_normal((2, 1, kv_heads, 1, d_head)).astype(np.float32))
    assert sum(c.nbytes for c in caches) == 2 * layers * kv_heads * d_head * n * 4


def test_cache_bad_input_is_named():
    cache = ac.KVCache()
    with raises(ValueError, "KVCache.append", "k (4,)"):
        cache.append(np.zeros(4), np.zeros(4))
    with raises(ValueError, "KVCache.append", "same leading axes", "k (2, 3, 4)", "v (2, 2, 4)"):
        cache.append(np.zeros((2, 3, 4)), np.zeros((2, 2, 4)))
    cache.append(np.zeros((2, 3, 4)), np.zeros((2, 3, 5)))
    with raises(ValueError, "KVCache.append", "do not fit", "keys (2, 3, 4)", "k (3, 1, 4)"):
        cache.append(np.zeros((3, 1, 4)), np.zeros((3, 1, 5)))
    with raises(ValueError, "KVCache.append", "do not fit", "k (2, 1, 6)"):
        cache.append(np.zeros((2, 1, 6)), np.zeros((2, 1, 5)))
    with raises(TypeError, "KVCache.append", "float32", "float64"):
        cache.append(np.zeros((2, 1, 4), np.float32), np.zeros((2, 1, 5), np.float32))
    torch = pytest.importorskip("torch")
    with raises(TypeError, "KVCache.append", "numpy arrays"):
        cache.append(torch.zeros(2, 1, 4, dtype=torch.float64), torch.zeros(2, 1, 5, dtype=torch.float64))
    assert len(cache) == 3                                  # a refused append stores nothing


def test_cache_on_torch_decodes_like_torch_and_keeps_gradients():
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(27)
    q, k, v = torch.randn(3, 2, 4, 9, 8, generator=g, dtype=torch.float64).unbind(0)
    full = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    cache = ac.KVCache()
    rows = []
    for t in range(9):
        keys, values = cache.append(k[..., t:t + 1, :], v[..., t:t + 1, :])
        rows.append(ac.scaled_dot_product_attention(q[..., t:t + 1, :], keys, values)[0])
    torch.testing.assert_close(torch.cat(rows, dim=-2), full, rtol=1e-12, atol=1e-14)
    k.requires_grad_(True)
    cache = ac.KVCache()
    for t in range(3):
        keys, values = cache.append(k[..., t:t + 1, :], v[..., t:t + 1, :])
    keys.sum().backward()
    assert torch.all(k.grad[..., :3, :] == 1) and torch.all(k.grad[..., 3:, :] == 0)
