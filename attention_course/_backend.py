"""One implementation, two backends.

Every function in the package is written once against a tiny "array namespace"
``xp``: ``numpy`` for numpy arrays, ``torch`` for torch tensors. The functions
used (``exp``, ``amax``, ``sum``, ``where``, ``tanh``, ``.mT``, ``@``) have the
same spelling in both libraries, so the maths reads the same either way.

torch is never imported here: a tensor can only exist if the caller already
imported torch, so we look it up in ``sys.modules``.
"""
from __future__ import annotations

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
