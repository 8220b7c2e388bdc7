"""Lesson 10: sinusoidal positional encoding."""
from __future__ import annotations

import numpy as np

from ._backend import check_positive_ints


def sinusoidal_positional_encoding(n_positions: int, d_model: int, base: float = 10000.0, dtype=np.float64):
    """(n_positions, d_model) array of position codes.

        angle(pos, i)   = pos / base^(2i / d_model)
        PE[pos, 2i]     = sin(angle)
        PE[pos, 2i + 1] = cos(angle)

    Column pairs (2i, 2i+1) turn at a frequency that falls geometrically with i:
    the first pair changes every position, the last pair barely moves.
    """
    check_positive_ints("sinusoidal_positional_encoding", n_positions=n_positions, d_model=d_model)
    pos = np.arange(n_positions)[:, None]                 # (n_positions, 1)
    two_i = np.arange(0, d_model, 2)                       # (ceil(d_model/2),)
    angle = pos / base ** (two_i / d_model)                # (n_positions, ceil(d_model/2))
    pe = np.empty((n_positions, d_model))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d_model // 2])
    return pe.astype(dtype, copy=False)
