"""Lesson 08: ``MultiHeadAttention`` as a ``torch.nn.Module`` (imports torch).

It holds W_Q, W_K, W_V, W_O as (d_model, d_model) parameters in the package's
row-vector convention and calls the very same ``multi_head_attention`` function
the numpy lesson steps through.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ._backend import check_positive_ints
from .multihead import multi_head_attention


class MultiHeadAttention(nn.Module):
    """Multi-head attention with ``num_heads`` heads over ``d_model`` features.

    forward(query (batch, n_q, d_model), key (batch, n_k, d_model), value (batch, n_k, d_model),
            mask, True = may attend: broadcastable to (batch, n_q, n_k) (the same for every head,
            e.g. causal_mask(n) or padding_mask(lengths, n)), or (batch, 1 or heads, n_q, n_k))
      -> output (batch, n_q, d_model), weights (batch, num_heads, n_q, n_k)

    Same parameters whatever ``num_heads``: four (d_model, d_model) matrices (+ four biases);
    each head uses d_head = d_model // num_heads of their columns.
    """

    def __init__(self, d_model: int, num_heads: int, bias: bool = True):
        super().__init__()
        check_positive_ints("MultiHeadAttention", d_model=d_model, num_heads=num_heads)
        if d_model % num_heads:
            raise ValueError(f"MultiHeadAttention: d_model={d_model} is not divisible by num_heads={num_heads}.")
        self.d_model, self.num_heads = d_model, num_heads
        bound = 1 / math.sqrt(d_model)
        for name in ("w_q", "w_k", "w_v", "w_o"):
            setattr(self, name, nn.Parameter(torch.empty(d_model, d_model).uniform_(-bound, bound)))
        for name in ("b_q", "b_k", "b_v", "b_o"):
            setattr(self, name, nn.Parameter(torch.zeros(d_model)) if bias else None)

    @property
    def d_head(self) -> int:
        return self.d_model // self.num_heads

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, num_heads={self.num_heads}, d_head={self.d_head}, "
                f"bias={self.b_q is not None}")

    def forward(self, query, key, value, mask=None):
        return multi_head_attention(query, key, value, self.w_q, self.w_k, self.w_v, self.w_o,
                                    self.num_heads, mask=mask,
                                    b_q=self.b_q, b_k=self.b_k, b_v=self.b_v, b_o=self.b_o)

    @classmethod
    def from_torch(cls, m: "nn.MultiheadAttention") -> "MultiHeadAttention":
        """Copy the weights of a ``torch.nn.MultiheadAttention(batch_first=True)``.

        PyTorch stores the three input projections stacked in ``in_proj_weight``
        (3*d_model, d_model) and applies them as ``x @ W.T``; we transpose each block.
        Note PyTorch's boolean ``attn_mask`` means the opposite of ours: True = hidden.
        """
        if not isinstance(m, nn.MultiheadAttention):
            raise TypeError(f"MultiHeadAttention.from_torch expects torch.nn.MultiheadAttention, got {type(m).__name__}.")
        unsupported = [name for name, bad in (
            ("batch_first=False (use batch_first=True)", not m.batch_first),
            ("kdim/vdim different from embed_dim", not m._qkv_same_embed_dim),
            ("add_bias_kv=True", m.bias_k is not None),
            ("add_zero_attn=True", m.add_zero_attn),
            (f"dropout={m.dropout} (use 0.0)", m.dropout != 0.0)) if bad]
        if unsupported:
            raise ValueError("MultiHeadAttention.from_torch: unsupported settings: " + "; ".join(unsupported) + ".")
        d = m.embed_dim
        w = m.in_proj_weight.detach()
        b = m.in_proj_bias
        ours = cls(d, m.num_heads, bias=b is not None).to(device=w.device, dtype=w.dtype)
        with torch.no_grad():
            for i, name in enumerate(("q", "k", "v")):
                getattr(ours, "w_" + name).copy_(w[i * d:(i + 1) * d].T)
                if b is not None:
                    getattr(ours, "b_" + name).copy_(b[i * d:(i + 1) * d])
            ours.w_o.copy_(m.out_proj.weight.T)
            if ours.b_o is not None:
                ours.b_o.copy_(m.out_proj.bias if m.out_proj.bias is not None else torch.zeros(d))
        return ours
