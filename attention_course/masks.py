"""Lesson 09: masks. Convention: True = this query MAY attend to this key."""
from __future__ import annotations

import numpy as np

from ._backend import is_tensor


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
    of shape (batch, n_q, n) directly.
    """
    _check_count("padding_mask", "n", n)
    lengths = np.asarray(lengths.cpu() if is_tensor(lengths) else lengths)
    if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"padding_mask: lengths must be a 1-D list of integers, got shape {lengths.shape} dtype {lengths.dtype}.")
    if lengths.size and (lengths.min() < 0 or lengths.max() > n):
        raise ValueError(f"padding_mask: every length must be between 0 and n={n}, got {lengths.tolist()}.")
    mask = np.arange(n)[None, None, :] < lengths[:, None, None]
    return _like(mask, like)


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
