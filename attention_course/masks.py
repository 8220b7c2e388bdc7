"""Lesson 09: masks. Convention: True = this query MAY attend to this key.

A mask is broadcast against the scores (..., n_q, n_k): row i is query i, column j is key j.
Masks combine with ``&`` (a key is visible only if every mask allows it).

Other libraries spell masks differently; the converters at the end turn theirs into ours:
- ``torch.nn.functional.scaled_dot_product_attention``: bool, True = may attend (the same as ours);
- ``torch.nn.MultiheadAttention``: ``key_padding_mask`` (batch, n_k) and bool ``attn_mask``,
  True = IGNORE (the opposite): :func:`from_key_padding_mask`;
- Hugging Face ``attention_mask`` (batch, n): 1 = real token, 0 = padding: :func:`from_attention_mask`.
"""
from __future__ import annotations

import numpy as np

from ._backend import is_tensor, namespace, shape_str


def causal_mask(n: int, like=None):
    """(n, n) bool mask, True where key index <= query index (no peeking ahead).

    Row i is query position i; it may see keys 0..i. Pass ``like=tensor`` to get a
    torch mask on that tensor's device (default: a numpy array).
    """
    _check_count("causal_mask", "n", n)
    mask = np.tril(np.ones((n, n), dtype=bool))
    return _like(mask, like)


def padding_mask(lengths, n: int, like=None):
    """(batch, 1, n) bool mask: True for real tokens, False for padding keys.

    ``lengths[b]`` is the number of real tokens in sequence b (the rest are padding).
    The size-1 middle axis broadcasts over the query axis, so the mask fits scores
    of shape (batch, n_q, n) directly; ``multi_head_attention`` adds the head axis,
    (batch, 1, 1, n), itself. Padded *queries* are not hidden: their rows are computed
    and later ignored.
    """
    _check_count("padding_mask", "n", n)
    lengths = np.asarray(lengths.cpu() if is_tensor(lengths) else lengths)
    if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"padding_mask: lengths must be a 1-D list of integers, got shape {lengths.shape} dtype {lengths.dtype}.")
    if lengths.size and (lengths.min() < 0 or lengths.max() > n):
        raise ValueError(f"padding_mask: every length must be between 0 and n={n}, got {lengths.tolist()}.")
    mask = np.arange(n)[None, None, :] < lengths[:, None, None]
    return _like(mask, like)


def sliding_window_mask(n: int, window: int, causal: bool = True, like=None):
    """(n, n) bool mask: each query sees only the keys near it.

    ``causal=True``: query i sees keys i - window + 1 .. i (itself and the window - 1 before it);
    ``causal=False``: keys j with |i - j| < window (both sides). ``window >= n`` with
    ``causal=True`` is the plain causal mask.
    """
    _check_count("sliding_window_mask", "n", n)
    _check_count("sliding_window_mask", "window", window)
    if window < 1:
        raise ValueError(f"sliding_window_mask: window must be at least 1 (a query sees itself), got {window!r}.")
    i = np.arange(n)[:, None]                       # (n, 1) query index
    j = np.arange(n)[None, :]                       # (1, n) key index
    near = np.abs(i - j) < window
    return _like(near & (j <= i) if causal else near, like)


# ------------------------------------------------------------------ other libraries' conventions

def from_key_padding_mask(key_padding_mask):
    """``torch.nn.MultiheadAttention``'s ``key_padding_mask`` (batch, n_k), True = padding to
    IGNORE -> our mask (batch, 1, n_k), True = may attend. Numpy or torch in, the same out."""
    m = _bool_2d("from_key_padding_mask", "key_padding_mask", key_padding_mask)
    return ~m[:, None, :]


def from_attention_mask(attention_mask):
    """A Hugging Face ``attention_mask`` (batch, n), 1 = real token, 0 = padding (any integer or
    bool dtype) -> our mask (batch, 1, n), True = may attend. Numpy or torch in, the same out."""
    m = _bool_2d("from_attention_mask", "attention_mask", attention_mask, allow_ints=True)
    return m[:, None, :]


def additive_mask(mask, dtype=None, fill=None):
    """Our bool mask -> an additive float mask: 0 where a key may be attended to, ``fill``
    (default -inf) where it is hidden; to be added to the scores before the softmax.

    ``dtype`` defaults to float32 (numpy ``np.float32`` or ``torch.float32`` to match ``mask``).
    A finite ``fill`` such as -1e9 or ``torch.finfo(dtype).min`` is what many libraries use;
    lesson 09 shows where it differs from -inf (a row with every key hidden, and float16).
    """
    xp, a = namespace("additive_mask", mask=mask)
    mask = a["mask"]
    if not str(mask.dtype).endswith("bool"):
        raise TypeError(f"additive_mask: mask must be bool (True = may attend), got dtype {mask.dtype}.")
    fill = -np.inf if fill is None else float(fill)
    if xp is np:
        dtype = np.float32 if dtype is None else dtype
        return np.where(mask, 0.0, fill).astype(dtype)
    dtype = xp.float32 if dtype is None else dtype
    zero = xp.zeros((), dtype=dtype, device=mask.device)
    return xp.where(mask, zero, xp.full((), fill, dtype=dtype, device=mask.device))


# ------------------------------------------------------------------ helpers

def _bool_2d(func, name, m, allow_ints=False):
    xp, a = namespace(func, **{name: m})
    m = a[name]
    kind = str(m.dtype)
    ints = "int" in kind
    if not (kind.endswith("bool") or (allow_ints and ints)):
        want = "bool or 0/1 integers" if allow_ints else "bool (True = ignore this key)"
        raise TypeError(f"{func}: {name} must be {want}, got dtype {kind}.")
    if m.ndim != 2:
        raise ValueError(f"{func}: {name} must be (batch, n), got {name} {shape_str(m)}.")
    if ints:
        if bool(((m != 0) & (m != 1)).any()):
            raise ValueError(f"{func}: {name} must hold only 0 and 1, got values {sorted(set(m.reshape(-1).tolist()))[:6]}.")
        m = m != 0
    return m


def _check_count(func, name, n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"{func}: {name} must be a non-negative integer, got {n!r}.")


def _like(mask, like):
    if like is None:
        return mask
    if is_tensor(like):
        import torch

        return torch.as_tensor(mask, device=like.device)
    return mask
