"""Lesson 13: attention made fast and small — the same maths, arranged for the machine.

- ``efficient_attention``: the contract of ``scaled_dot_product_attention`` (it returns the
  weights too), tuned for a CPU with numpy: scaled q instead of scaled scores, base-2
  exponent, in place, cache-sized blocks of rows, two threads.
- ``readable_tiled_attention`` / ``tiled_attention``: an online softmax over blocks of keys;
  never holds the (n_q, n_k) weights (the readable loop, and the same loop arranged for speed).
- ``KVCache``: the keys and values of the tokens generated so far, for one-token-at-a-time decoding.

Each is tested equal to the readable ``scaled_dot_product_attention``.

Threads: the numpy paths cut the work into independent tasks (one block of query rows of one
head) and run them on ``THREADS`` threads, with BLAS limited to one thread inside each task
(threadpoolctl). One thread per core, each on its own rows, nobody waiting for anybody: on a
2-core machine this beats one product at a time on two BLAS threads, most of all when other
programs share the cores (a BLAS thread that loses its core stalls its partner).
"""
from __future__ import annotations

import importlib
import math
import threading

import numpy as np

from ._backend import (as_float, check_attention_shapes, check_positive_ints, check_scale, common_dtype,
                       describe, namespace)

LOG2_E = math.log2(math.e)   # e^x = 2^(x * LOG2_E)
_BLOCK_ROWS, _BLOCK_ELEMENTS = 256, 2 ** 20   # a block: <= 256 query rows and <= 1 Mi weights (4 MiB of float32)
THREADS = 2                  # threads for the numpy tasks (the course's machines have 2 cores)


def efficient_attention(q, k, v, mask=None, scale=None):
    """Scaled dot-product attention tuned for a CPU; returns ``(output, weights)``.

    Same shapes, masks and results as ``scaled_dot_product_attention`` (within float
    rounding), for numpy arrays. The (..., n_q, n_k) weights are the only big array;
    four habits keep them cheap:

    1. Scale q, not the scores: (q * scale) @ k^T costs n_q * d_k multiplications
       instead of n_q * n_k.
    2. Base 2: e^x = 2^(x * log2 e), and ``np.exp2`` is usually faster than ``np.exp``
       (lesson 13 measures it). So q is multiplied by scale * log2(e) and the scores come
       out ready for exp2.
    3. In place: ``weights`` is allocated once and every softmax step overwrites it
       (no n_q x n_k temporaries).
    4. Blocks: a block of rows at a time (at most 256 rows and 4 MiB of float32 weights):
       its scores, their softmax's five passes (max, subtract, exp2, sum, multiply) and its
       rows of output, all while the block is in the CPU cache, instead of streaming all the
       weights from memory and back for every pass. (Blocks of 256 rows also keep BLAS efficient: each
       product re-packs all of k, and smaller blocks repeat that more often.) The blocks are
       shared between two threads (module docstring).

    torch tensors are handed to ``scaled_dot_product_attention`` (PyTorch has its own kernels).
    """
    f = "efficient_attention"
    xp, a = namespace(f, q=q, k=k, v=v, mask=mask)
    if xp is not np:
        from .attention import scaled_dot_product_attention

        return scaled_dot_product_attention(q, k, v, mask=mask, scale=scale)
    q, k, v = common_dtype(xp, *(as_float(xp, a[name]) for name in ("q", "k", "v")))
    mask = a.get("mask")
    shape = check_attention_shapes(f, q, k, v, mask)
    factor = check_scale(f, scale, q.shape[-1], xp) * LOG2_E      # a Python float: float32 stays float32
    batch, (n_q, n_k) = shape[:-2], shape[-2:]
    weights = empty_weights(shape, q.dtype)
    output = np.zeros((*batch, n_q, v.shape[-1]), dtype=q.dtype)
    if weights.size == 0:
        return output, weights                                     # no queries or no keys
    q, k, v = (np.broadcast_to(x, (*batch, *x.shape[-2:])) for x in (q, k, v))
    mask = None if mask is None else np.broadcast_to(mask, shape)
    rows = _rows_per_block(n_k)

    def block(task):
        h, i = task                                                # head (batch index), first row
        w = weights[h][i:i + rows]                                 # (rows, n_k), a view
        np.matmul(q[h][i:i + rows] * factor, k[h].T, out=w)        # base-2 scores, straight into w
        if mask is not None:
            _apply_mask(w, mask[h][i:i + rows], LOG2_E)
        _softmax_base2_inplace(w)
        np.matmul(w, v[h], out=output[h][i:i + rows])              # (rows, d_v) while w is in the cache

    _run_tasks(block, [(h, i) for h in np.ndindex(*batch) for i in range(0, n_q, rows)])
    return output, weights


def empty_weights(shape, dtype):
    """``np.empty(shape, dtype)`` for the weights, without numpy's huge-page advice.

    numpy asks the kernel for huge pages (madvise MADV_HUGEPAGE) for every big array. The weights
    are fresh memory on every call. On the course's shared 2-core VM, 512 MiB of fresh huge pages
    took anywhere from 0.04 s to 3.0 s depending on the machine's state, ordinary pages 0.2-0.5 s
    (``benchmarks/attention_speed.py`` measures both); at n = 4096, 8 heads the slow case decided
    efficient_attention's time. Ordinary pages cost a little more on a good day and never that
    much.

    The switch is private to numpy (``_set_madvise_hugepage``), so this never depends on it: where
    numpy has no such switch, or it fails or answers something other than the old setting, the
    result is a plain ``np.empty`` and the setting is left as numpy had it. A lock keeps two
    threads from interleaving their switch-off and restore.
    """
    switch = _huge_page_switch()
    if switch is None:
        return np.empty(shape, dtype=dtype)
    with _ADVICE_LOCK:
        try:
            previous = switch(False)               # numpy >= 1.20: returns the old setting
        except Exception:  # noqa: BLE001 - the private switch changed: do without it
            return np.empty(shape, dtype=dtype)
        try:
            return np.empty(shape, dtype=dtype)
        finally:
            if isinstance(previous, (bool, np.bool_)):
                try:
                    switch(bool(previous))
                except Exception:  # noqa: BLE001, S110 - a switch that fails only on restore: leave it
                    pass


_ADVICE_LOCK = threading.Lock()


def _huge_page_switch():
    """numpy's private ``_set_madvise_hugepage(enabled) -> previous``, or None where there is none."""
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):    # numpy 2, numpy 1.x
        try:
            switch = getattr(importlib.import_module(module), "_set_madvise_hugepage", None)
        except Exception:  # noqa: BLE001, S112 - ImportError, or a DeprecationWarning raised as an error
            continue
        if callable(switch):
            return switch
    return None


def _rows_per_block(n_k):
    """Query rows in one block of efficient_attention's weights."""
    return max(1, min(_BLOCK_ROWS, _BLOCK_ELEMENTS // n_k))


def _run_tasks(fn, tasks):
    """``fn(task)`` for every task: on THREADS threads with single-threaded BLAS, or inline if one task."""
    if len(tasks) < 2 or THREADS < 2:
        for task in tasks:
            fn(task)
        return
    with _blas_controller().limit(limits=1, user_api="blas"):
        for _ in _pool().map(fn, tasks):                           # re-raises a task's exception
            pass


_POOL = None    # the thread pool, started on first use
_BLAS = None    # threadpoolctl's view of the BLAS libraries


def _pool():
    """The shared thread pool, (re)started when THREADS changes."""
    global _POOL
    if _POOL is None or _POOL._max_workers != THREADS:
        from concurrent.futures import ThreadPoolExecutor

        if _POOL is not None:
            _POOL.shutdown(wait=False)
        _POOL = ThreadPoolExecutor(THREADS, thread_name_prefix="attention_course")
    return _POOL


def _blas_controller():
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS


def _apply_mask(s, mask, factor=1.0):
    """Hide keys in the scores ``s`` in place: bool mask False -> -inf; additive
    float mask -> s += mask * factor (factor = log2 e for base-2 scores).

    The additive mask is first cast to the scores' dtype, as ``scaled_dot_product_attention``
    does (-1e300 in float32 is -inf there too). A finite mask entry whose base-2 value would
    overflow (finfo.min * log2 e) becomes the lowest finite number instead of -inf: in the
    formula, score + finfo.min is finite, so a row masked that way everywhere gets even weights,
    not zeros (the same for +finfo.max)."""
    if mask.dtype == bool:
        np.copyto(s, -np.inf, where=np.logical_not(mask))  # hidden keys: 2^-inf = 0
        return
    with np.errstate(over="ignore"):                       # -1e300 -> -inf in float32: hidden, as in the formula
        add = mask.astype(s.dtype)
        finite = np.isfinite(add)
        add *= s.dtype.type(factor)
    overflowed = finite & np.isinf(add)
    if overflowed.any():                                   # finfo.min * log2 e: keep it finite
        add[overflowed] = np.copysign(np.finfo(s.dtype).max, add[overflowed])
    s += add


def _softmax_base2_inplace(s):
    """Overwrite base-2 scores ``s`` (rows, n_k) with their softmax weights.

    ``s`` holds scores times log2(e), so 2^s = e^scores and the result is the
    ordinary softmax. Rows that are all -inf (every key hidden) become zeros.
    """
    # numpy works through `s -= m` in chunks of np.getbufsize() numbers; a chunk longer than
    # a row spans several rows of the (rows, 1) column m, which numpy handles through an extra
    # copy. Chunks of at most one row avoid it (lesson 13 measures the gain; per thread).
    old_bufsize = np.setbufsize(_bufsize(s.shape[-1]))
    try:
        m = s.max(axis=-1, keepdims=True)                 # (rows, 1)
        m[m == -np.inf] = 0.0                             # a row with every key hidden stays at -inf
        s -= m                                            # <= 0, so 2^s cannot overflow
        np.exp2(s, out=s)
        total = np.einsum("...k->...", s)[..., None]      # = s.sum(-1, keepdims=True), faster (lesson 13)
        total[total == 0] = 1.0                           # hidden row: 0 / 1 = 0, not 0 / 0 = NaN
        s *= np.reciprocal(total)                         # one multiply per weight
    finally:
        np.setbufsize(old_bufsize)
    return s


def _bufsize(row):
    """numpy's ufunc buffer size for rows of ``row`` elements (see _softmax_base2_inplace)."""
    return min(np.getbufsize(), max(16, row - row % 16))


# ------------------------------------------------------------------ tiled attention: an online softmax

def readable_tiled_attention(q, k, v, causal=False, scale=None, block_size=128):
    """Attention one tile of scores at a time (the online softmax); returns the output only.

    Shapes: q (..., n_q, d_k), k (..., n_k, d_k), v (..., n_k, d_v) -> output (..., n_q, d_v).
    For each block of queries it walks over the blocks of keys, keeping three running numbers
    per query instead of a row of n_k weights:

        m  the largest score seen so far
        l  the sum of exp(score - m) over the keys seen so far
        o  the sum of exp(score - m) * value over the same keys

    When a tile raises the max from m to m_new, everything summed so far is multiplied by
    exp(m - m_new) <= 1, so it is as if it had been computed with m_new from the start.
    At the end o / l is the softmax-weighted average of the values: the attention output.
    No (n_q, n_k) array ever exists: besides the output, the biggest array is one
    (block, block) tile of scores.

    ``causal=True``: query i sits at position n_k - n_q + i (the last n_q positions) and
    sees keys up to its own position; blocks of keys entirely in a query block's future
    are never computed. numpy or torch (differentiable); ``tiled_attention`` is the same
    algorithm arranged for speed.
    """
    xp, q, k, v, scale, b = _tiled_args("readable_tiled_attention", q, k, v, causal, scale, block_size, 128)
    n_q, n_k = q.shape[-2], k.shape[-2]
    if n_q == 0:                                        # no queries: an empty (..., 0, d_v) output
        return (q @ k.swapaxes(-2, -1)) @ v
    first = n_k - n_q                                   # causal: query i is at position first + i
    outputs = []
    for i in range(0, n_q, b):                          # one block of queries ...
        qi = q[..., i:i + b, :] * scale                 # (..., b_q, d_k)
        rows = qi.shape[:-1]                            # (..., b_q)
        m = _full(q, (*rows, 1), -math.inf)             # (..., b_q, 1) running max of the scores
        l = _full(q, (*rows, 1), 0.0)                   # (..., b_q, 1) running sum of exp(score - m)
        o = _full(q, (*rows, v.shape[-1]), 0.0)         # (..., b_q, d_v) running sum of exp(score - m) * v
        end = min(n_k, first + i + b) if causal else n_k    # causal: the keys after that are all future
        for j in range(0, end, b):                      # ... against one block of keys at a time
            s = qi @ k[..., j:j + b, :].swapaxes(-2, -1)     # (..., b_q, b_k) this tile's scores
            if causal:
                s = xp.where(_future(s, first + i, j), -math.inf, s)   # a query sees no later key
            m_new = xp.maximum(m, xp.amax(s, axis=-1, keepdims=True))  # (..., b_q, 1) max so far
            alpha = xp.exp(m - m_new)                   # (..., b_q, 1) <= 1: rescales what was summed
            p = xp.exp(s - m_new)                       # (..., b_q, b_k) <= 1: cannot overflow
            l = alpha * l + xp.sum(p, axis=-1, keepdims=True)
            o = alpha * o + p @ v[..., j:j + b, :]      # (..., b_q, d_v)
            m = m_new
        outputs.append(o / l)                           # divide once, at the end
    return xp.concatenate(outputs, axis=-2)             # (..., n_q, d_v)


def tiled_attention(q, k, v, causal=False, scale=None, block_size=None):
    """Attention by tiles with an online softmax; returns the output (..., n_q, d_v) only.

    The algorithm of ``readable_tiled_attention`` (the idea behind FlashAttention): it never
    holds the (n_q, n_k) weights, so its memory grows like n, not n^2. Shapes as in
    ``scaled_dot_product_attention``; batch axes broadcast. ``causal=True`` hides the
    future: query i is at position n_k - n_q + i (so with n_q = n_k this is
    ``causal_mask(n)``), and tiles wholly in the future are skipped. ``block_size``: rows
    per tile (None: 256 query rows x 512 keys for numpy, 128 for torch).

    - numpy: arranged for a CPU. The work is cut into tasks of one block of queries for one
      head; two threads run the tasks while BLAS runs single-threaded inside each (one
      thread per core, none waiting on the other); scores are base 2 (q is scaled by
      scale * log2 e, then exp2) and every tile is updated in place.
    - torch tensors run ``readable_tiled_attention`` (same maths, differentiable, any
      device); for speed with torch use ``torch.nn.functional.scaled_dot_product_attention``.
    """
    xp, q, k, v, scale, b = _tiled_args("tiled_attention", q, k, v, causal, scale, block_size)
    if xp is not np:
        return readable_tiled_attention(q, k, v, causal, scale, b or 128)
    return _tiled_numpy(q, k, v, causal, scale, (b, b) if b else (_TILE_QUERIES, _TILE_KEYS))


_TILE_QUERIES, _TILE_KEYS = 256, 512   # a (256, 512) float32 tile is 512 KiB: it stays in a 1 MiB L2 cache


def _tiled_numpy(q, k, v, causal, scale, tile):
    """``readable_tiled_attention`` for numpy, split into (head, query block) tasks on a thread pool."""
    b_q, b_k = tile
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    n_q, n_k, d_v = q.shape[-2], k.shape[-2], v.shape[-1]
    q = np.broadcast_to(q, (*batch, *q.shape[-2:]))
    k = np.broadcast_to(k, (*batch, *k.shape[-2:]))
    v = np.broadcast_to(v, (*batch, *v.shape[-2:]))
    out = np.empty((*batch, n_q, d_v), dtype=q.dtype)
    factor = scale * LOG2_E                                     # base-2 scores: e^s = 2^(s log2 e)
    first = n_k - n_q
    tasks = [(h, i) for h in np.ndindex(*batch) for i in range(0, n_q, b_q)]
    if causal:                                                  # longest tasks first: the threads finish together
        tasks.sort(key=lambda t: -t[1])

    def run(task):
        h, i = task
        _tile_rows(q[h][i:i + b_q], k[h], v[h], out[h][i:i + b_q], factor, b_k, first + i if causal else None)

    _run_tasks(run, tasks)
    return out


def _tile_rows(q, k, v, out, factor, b_k, position):
    """One task: queries q (b_q, d_k) against every block of keys; writes out (b_q, d_v).

    ``position``: None, or the causal position of the first query (query r sees keys
    j <= position + r). Base 2 and in place; otherwise the loop of ``readable_tiled_attention``.
    """
    b_q, n_k = len(q), len(k)
    qs = q * factor                                             # (b_q, d_k) base-2 scaled queries
    m = np.full((b_q, 1), -np.inf, dtype=q.dtype)               # running max
    l = np.zeros((b_q, 1), dtype=q.dtype)                       # running sum
    o = np.zeros(out.shape, dtype=q.dtype)                      # running output
    tile = np.empty((b_q, min(b_k, n_k)), dtype=q.dtype)
    end = n_k if position is None else min(n_k, position + b_q)
    old_bufsize = np.setbufsize(_bufsize(tile.shape[1]))     # see _softmax_base2_inplace
    try:
        for j in range(0, end, b_k):
            w = min(b_k, end - j)                               # keys in this tile
            s = tile[:, :w]
            np.matmul(qs, k[j:j + w].T, out=s)                  # (b_q, w) base-2 scores
            if position is not None and j + w - 1 > position:   # the tile crosses the diagonal
                np.copyto(s, -np.inf, where=_future(s, position, j))
            m_new = np.maximum(m, s.max(axis=1, keepdims=True))
            alpha = np.exp2(m - m_new)                          # the first tile: 2^-inf = 0
            s -= m_new
            np.exp2(s, out=s)                                   # p, in the tile's own memory
            l *= alpha
            l += np.einsum("ij->i", s)[:, None]                 # row sums
            o *= alpha
            o += s @ v[j:j + w]
            m = m_new
    finally:
        np.setbufsize(old_bufsize)
    np.divide(o, l, out=out)


def _full(like, shape, value):
    """A numpy array, or a torch tensor on ``like``'s device, of ``like``'s dtype, filled with ``value``."""
    if isinstance(like, np.ndarray):
        return np.full(shape, value, dtype=like.dtype)
    import torch

    return torch.full(shape, value, dtype=like.dtype, device=like.device)


def _future(s, position, first_key):
    """(b_q, b_k) bool, True where key first_key + c comes after query position + r (for tile ``s``)."""
    b_q, b_k = s.shape[-2:]
    if isinstance(s, np.ndarray):
        return np.arange(first_key, first_key + b_k) > np.arange(position, position + b_q)[:, None]
    import torch

    keys = torch.arange(first_key, first_key + b_k, device=s.device)
    return keys > torch.arange(position, position + b_q, device=s.device)[:, None]


def _tiled_args(func, q, k, v, causal, scale, block_size, default=None):
    """Checks for the tiled versions -> (xp, q, k, v, scale, block_size or ``default``)."""
    xp, a = namespace(func, q=q, k=k, v=v)
    q, k, v = common_dtype(xp, *(as_float(xp, a[name]) for name in ("q", "k", "v")))
    check_attention_shapes(func, q, k, v, None)
    shapes = f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
    if not isinstance(causal, (bool, np.bool_)):
        raise TypeError(f"{func}: causal must be True or False, got {causal!r}.")
    if k.shape[-2] == 0:
        raise ValueError(f"{func}: k and v have no rows (n_k = 0): there is nothing to attend to ({shapes}).")
    if causal and q.shape[-2] > k.shape[-2]:
        raise ValueError(f"{func}: causal=True needs n_q <= n_k (the queries are the last n_q of the n_k "
                         f"positions), got {shapes}.")
    if block_size is None:
        block_size = default
    else:
        check_positive_ints(func, block_size=block_size)
        block_size = int(block_size)
    return xp, q, k, v, check_scale(func, scale, q.shape[-1], xp), block_size


# ------------------------------------------------------------------ the KV cache

class KVCache:
    """The keys and values of the positions decoded so far (one attention layer).

        cache = KVCache()
        for t in range(n):                                   # one new token per step
            keys, values = cache.append(k_t, v_t)            # k_t (..., 1, d_k) -> keys (..., t + 1, d_k)
            out_t, _ = scaled_dot_product_attention(q_t, keys, values)

    ``append(k, v)`` takes the new rows, k (..., t, d_k) and v (..., t, d_v) (t >= 0, the same
    leading axes every time), stores them after the earlier ones and returns all the keys and
    values so far. ``len(cache)`` is the number of cached positions; ``keys``, ``values`` and
    ``nbytes`` describe what is stored. numpy arrays or torch tensors (not mixed).

    The storage doubles when it is full, so an append copies only the new rows (plus, now and
    then, one bigger copy); the rows returned are never written again, so earlier results stay
    valid. torch tensors that need gradients are concatenated instead (autograd forbids
    writing into a tensor it has saved).
    """

    def __init__(self):
        self._k = self._v = None        # storage (..., capacity, d): rows [0, len) are filled
        self._n = 0

    def __len__(self):
        return self._n

    @property
    def keys(self):
        """The cached keys (..., len(cache), d_k), or None before the first append."""
        return None if self._k is None else self._k[..., :self._n, :]

    @property
    def values(self):
        """The cached values (..., len(cache), d_v), or None before the first append."""
        return None if self._v is None else self._v[..., :self._n, :]

    @property
    def nbytes(self) -> int:
        """Bytes of the cached keys and values: len(cache) * (d_k + d_v) * (leading axes) * itemsize."""
        if self._k is None:
            return 0
        return sum(int(np.prod(a.shape[:-2], dtype=np.int64)) * self._n * a.shape[-1] * _itemsize(a)
                   for a in (self._k, self._v))

    def append(self, k, v):
        """Store the new rows k (..., t, d_k), v (..., t, d_v); return ``(keys, values)`` so far."""
        xp, k, v = self._check(k, v)
        t = k.shape[-2]
        if xp is not np and xp.is_grad_enabled() and (k.requires_grad or v.requires_grad or
                                                       (self._k is not None and self._k.requires_grad)):
            old_k, old_v = (k[..., :0, :], v[..., :0, :]) if self._k is None else (self.keys, self.values)
            self._k = xp.cat([old_k, k], dim=-2)                     # autograd: no writing in place
            self._v = xp.cat([old_v, v], dim=-2)
        else:
            if self._k is None:
                self._k, self._v = (_grown(xp, a[..., :0, :], max(t, 16)) for a in (k, v))
            elif self._n + t > self._k.shape[-2]:                    # full: double the capacity
                self._k, self._v = (_grown(xp, a[..., :self._n, :], max(2 * self._n, self._n + t))
                                    for a in (self._k, self._v))
            self._k[..., self._n:self._n + t, :] = k
            self._v[..., self._n:self._n + t, :] = v
        self._n += t
        return self.keys, self.values

    def _check(self, k, v):
        f = "KVCache.append"
        xp, a = namespace(f, k=k, v=v)
        k, v = a["k"], a["v"]
        if not (hasattr(k, "dtype") and "float" in str(k.dtype) and "float" in str(v.dtype)):
            k, v = as_float(xp, k), as_float(xp, v)
        shapes = f"k {tuple(k.shape)}, v {tuple(v.shape)}"
        if k.ndim < 2 or v.ndim < 2:
            raise ValueError(f"{f}: k and v must be (..., t, d): the new rows, got {shapes}. "
                             "For one position use k[..., None, :].")
        if k.shape[:-1] != v.shape[:-1]:
            raise ValueError(f"{f}: k and v must have the same leading axes and number of new rows t, got {shapes}.")
        if k.dtype != v.dtype:
            raise TypeError(f"{f}: k and v must have one dtype, got {k.dtype} and {v.dtype}.")
        if self._k is not None:
            cached = f"the cache holds keys {tuple(self.keys.shape)}, values {tuple(self.values.shape)}"
            if (xp is np) != isinstance(self._k, np.ndarray):
                raise TypeError(f"{f}: the cache holds {'numpy arrays' if isinstance(self._k, np.ndarray) else 'torch tensors'}"
                                f"; got {describe(k)}. Use one backend for every append.")
            if xp is not np and k.device != self._k.device:
                raise TypeError(f"{f}: the cache is on {self._k.device}, got k on {k.device}.")
            if k.shape[:-2] != self._k.shape[:-2] or k.shape[-1] != self._k.shape[-1] or v.shape[-1] != self._v.shape[-1]:
                raise ValueError(f"{f}: new rows {shapes} do not fit: {cached} (only the row axis -2 may differ).")
            if k.dtype != self._k.dtype:
                raise TypeError(f"{f}: new rows of dtype {k.dtype} do not match the cached {self._k.dtype}.")
        return xp, k, v


def _grown(xp, a, capacity):
    """A copy of ``a`` (..., n, d) in new storage with room for ``capacity`` rows."""
    if xp is np:
        out = np.empty((*a.shape[:-2], capacity, a.shape[-1]), dtype=a.dtype)
    else:
        out = xp.empty((*a.shape[:-2], capacity, a.shape[-1]), dtype=a.dtype, device=a.device)
    out[..., :a.shape[-2], :] = a
    return out


def _itemsize(a) -> int:
    return a.itemsize if isinstance(a, np.ndarray) else a.element_size()
