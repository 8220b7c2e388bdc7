"""One implementation, two backends.

Every function in the package is written once against a tiny "array namespace"
``xp``: ``numpy`` for numpy arrays, ``torch`` for torch tensors. The functions
used (``exp``, ``amax``, ``sum``, ``where``, ``tanh``, ``.mT``, ``@``) have the
same spelling in both libraries, so the maths reads the same either way.

torch is never imported here: a tensor can only exist if the caller already
imported torch, so we look it up in ``sys.modules``.
"""
from __future__ import annotations

import math
import numbers
import sys

import numpy as np


def is_tensor(x) -> bool:
    """True if ``x`` is a ``torch.Tensor`` (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def describe(x) -> str:
    """A short description such as ``numpy (2, 3) float32`` for error messages."""
    if is_tensor(x):
        return f"torch {tuple(x.shape)} {str(x.dtype).replace('torch.', '')} on {x.device}"
    if isinstance(x, np.ndarray):
        return f"numpy {x.shape} {x.dtype}"
    return type(x).__name__


def namespace(func: str, **arrays):
    """Check that all non-None ``arrays`` share one backend; return ``(xp, arrays)``.

    Lists and other array-likes are converted to numpy arrays. Mixing numpy with
    torch, or torch tensors on different devices, raises ``TypeError`` naming the
    arguments.
    """
    given = {name: a for name, a in arrays.items() if a is not None}
    tensors = [name for name, a in given.items() if is_tensor(a)]
    if tensors and len(tensors) != len(given):
        others = [name for name in given if name not in tensors]
        detail = ", ".join(f"{n}: {describe(given[n])}" for n in given)
        raise TypeError(
            f"{func}: {', '.join(tensors)} {'is a torch tensor' if len(tensors) == 1 else 'are torch tensors'} "
            f"but {', '.join(others)} {'is' if len(others) == 1 else 'are'} not ({detail}). "
            "Use one backend for all arguments, e.g. torch.as_tensor(x) or t.cpu().numpy()."
        )
    if tensors:
        devices = {str(a.device) for a in given.values()}
        if len(devices) > 1:
            detail = ", ".join(f"{n}: {describe(a)}" for n, a in given.items())
            raise TypeError(f"{func}: arguments are on different devices ({detail}); move them to one device.")
        import torch

        return torch, given
    converted = {}
    for name, a in given.items():
        try:
            converted[name] = np.asarray(a)
        except Exception as exc:  # e.g. ragged lists
            raise TypeError(f"{func}: could not turn {name} ({describe(a)}) into an array: {exc}") from None
        if converted[name].dtype.kind not in "biuf":
            raise TypeError(f"{func}: {name} must hold real numbers (got a {converted[name].dtype} array from {describe(a)}).")
    return np, converted


def as_numbers(func: str, name: str, x, ndim: int | None = None) -> np.ndarray:
    """``x`` (a list or array of real numbers) as a float64 numpy array, for the numpy-only lessons.

    ``ndim=None`` accepts any number of dimensions but 0. The errors name ``func`` and ``name``:
    TypeError if ``x`` is not numbers, ValueError if it has the wrong number of dimensions.
    """
    if is_tensor(x):
        raise TypeError(f"{func}: {name} is a torch tensor ({describe(x)}); this lesson's functions work on numpy "
                        "arrays and lists: pass t.detach().cpu().numpy().")
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{func}: {name} must be a list or array of numbers ({exc}).") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{func}: {name} must be a {ndim}-D array, got shape {arr.shape}.")
    if arr.ndim == 0:
        raise ValueError(f"{func}: {name} must have at least one dimension, got a scalar.")
    return arr


def check_positive_ints(func: str, **values) -> None:
    """Raise a ValueError naming ``func`` and the argument unless every value is an
    integer >= 1 (Python or numpy; a bool is not an integer here)."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{func}: {name} must be a positive integer, got {value!r}.")


def as_float(xp, x):
    """Integers and booleans become floats; float16/32/64 are kept as they are."""
    if xp is np:
        return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)
    return x if x.is_floating_point() else x.to(xp.get_default_dtype())


def shape_str(x) -> str:
    return str(tuple(x.shape))


# ------------------------------------------------------------------ checks shared by the core modules

def common_dtype(xp, *arrays):
    """The arrays converted to one floating dtype (numpy's / torch's promotion rules)."""
    if xp is np:
        dtype = np.result_type(*arrays)
        return tuple(x.astype(dtype, copy=False) for x in arrays)
    dtype = arrays[0].dtype
    for x in arrays[1:]:
        dtype = xp.promote_types(dtype, x.dtype)
    return tuple(x.to(dtype) for x in arrays)


def check_scale(func, scale, d_k, xp):
    """``scale=None`` -> 1/sqrt(d_k); a number -> a Python float (so float32 stays float32).
    With torch inputs a tensor scale is kept as it is (it may be learnable)."""
    if scale is None:
        return 1.0 / math.sqrt(d_k) if d_k else 1.0
    if is_tensor(scale):
        if xp is np:
            raise TypeError(f"{func}: scale is a torch.Tensor but q, k, v are numpy arrays; "
                            "pass a number (e.g. float(scale)).")
        return scale
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError(f"{func}: scale must be a number such as 1/sqrt(d_k), got {type(scale).__name__} {scale!r}.")
    if not math.isfinite(scale):
        raise ValueError(f"{func}: scale must be finite, got {scale!r}.")
    return float(scale)


def check_attention_shapes(func, q, k, v, mask):
    """Validate q (..., n_q, d_k), k (..., n_k, d_k), v (..., n_k, d_v) and the mask;
    return the shape of the scores/weights (..., n_q, n_k) (the mask may add batch axes)."""
    shapes = f"q {shape_str(q)}, k {shape_str(k)}, v {shape_str(v)}"
    for name, x in (("q", q), ("k", k), ("v", v)):
        if x.ndim < 2:
            raise ValueError(
                f"{func}: {name} must have at least 2 dimensions (..., n, d), got {name} {shape_str(x)}. "
                f"For a single vector use {name}[None, :]."
            )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{func}: q and k must have the same last dimension d_k, got {shapes}.")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{func}: k and v must have the same number of rows n_k (one value per key), got {shapes}.")
    try:
        batch = np.broadcast_shapes(tuple(q.shape[:-2]), tuple(k.shape[:-2]), tuple(v.shape[:-2]))
    except ValueError:
        raise ValueError(f"{func}: the batch dimensions (all but the last two) do not broadcast: {shapes}.") from None
    return check_mask(func, mask, (*batch, q.shape[-2], k.shape[-2]), shapes)


def check_mask(func, mask, shape, shapes):
    """Check a mask's dtype and that it broadcasts to ``shape`` without growing its
    last two axes; return the broadcast shape (the mask may add batch axes).
    ``shapes`` describes the other arguments for the error message."""
    if mask is None:
        return tuple(shape)
    kind = str(mask.dtype)
    if not (kind.endswith("bool") or "float" in kind):
        raise TypeError(
            f"{func}: mask must be bool (True = may attend) or float (additive, 0 / -inf), "
            f"got mask {shape_str(mask)} of dtype {kind}."
        )
    try:
        full = np.broadcast_shapes(tuple(mask.shape), tuple(shape))
    except ValueError:
        full = None
    tail = min(2, len(shape))                      # the (n_q, n_k) axes may not grow
    if full is None or full[len(full) - tail:] != tuple(shape)[len(shape) - tail:]:
        raise ValueError(
            f"{func}: mask of shape {shape_str(mask)} does not broadcast to the scores' shape "
            f"{tuple(shape)} = (..., n_q, n_k) for {shapes}."
        )
    return full


def check_projections(func, **arrays):
    """Checks for a Q/K/V projection; returns ``(xp, arrays)``.

    ``arrays`` are the states, then w_q, w_k, w_v: one state ``x`` (self-attention) or two
    (queries from the first, keys and values from the second). Every state is (..., n, d_model),
    every w is (d_model, d) with rows = its state's last axis, and w_q, w_k give the same d_k.
    """
    xp, a = namespace(func, **arrays)
    states = [name for name in arrays if not name.startswith("w_")]
    for name in states:
        if a[name].ndim < 2:
            raise ValueError(f"{func}: {name} must be (..., n, d_model), got shape {shape_str(a[name])}.")
    for name in ("w_q", "w_k", "w_v"):
        w = a[name]
        source = states[0] if (name == "w_q" or len(states) == 1) else states[1]
        if w.ndim != 2 or w.shape[0] != a[source].shape[-1]:
            raise ValueError(f"{func}: {name} must be (d_model, d) with d_model = {source}.shape[-1] = "
                             f"{a[source].shape[-1]}, got {name} {shape_str(w)}.")
    if a["w_q"].shape[1] != a["w_k"].shape[1]:
        raise ValueError(f"{func}: w_q and w_k must give queries and keys the same width d_k, got "
                         f"w_q {shape_str(a['w_q'])}, w_k {shape_str(a['w_k'])}.")
    return xp, a
