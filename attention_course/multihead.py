"""Lesson 08: multi-head attention, step by step: project -> split -> attend -> merge -> project."""
from __future__ import annotations

from ._backend import check_positive_ints, namespace, shape_str
from .attention import scaled_dot_product_attention


def split_heads(x, num_heads: int):
    """(..., n, d_model) -> (..., num_heads, n, d_head), with d_head = d_model // num_heads.

    Two steps: reshape the last axis into (num_heads, d_head), then swap the
    head axis in front of the token axis so each head is its own (n, d_head) matrix.
    Skipping the swap gives the right shape but mixes tokens between heads.
    """
    x = namespace("split_heads", x=x)[1]["x"]
    _check_heads("split_heads", x, num_heads)
    *batch, n, d_model = x.shape
    x = x.reshape(*batch, n, num_heads, d_model // num_heads)   # (..., n, h, d_head)
    return x.swapaxes(-3, -2)                                     # (..., h, n, d_head)


def merge_heads(x):
    """(..., num_heads, n, d_head) -> (..., n, num_heads * d_head): the inverse of split_heads."""
    x = namespace("merge_heads", x=x)[1]["x"]
    if x.ndim < 3:
        raise ValueError(f"merge_heads: x must be (..., num_heads, n, d_head), got shape {shape_str(x)}.")
    *batch, h, n, d_head = x.shape
    x = x.swapaxes(-3, -2)                                          # (..., n, h, d_head)
    return x.reshape(*batch, n, h * d_head)


def multi_head_attention(query, key, value, w_q, w_k, w_v, w_o, num_heads, mask=None,
                         b_q=None, b_k=None, b_v=None, b_o=None, return_steps=False):
    """Multi-head attention written out step by step; returns ``(output, weights)``.

    Shapes (row-vector convention, ``x @ W``):
        query (..., n_q, d_model), key and value (..., n_k, d_model)
        w_q, w_k, w_v, w_o (d_model, d_model); optional biases b_* (d_model,)
        mask  broadcastable to (..., n_q, n_k) — the same mask for every head
        output  (..., n_q, d_model)
        weights (..., num_heads, n_q, n_k)
    With ``return_steps=True`` a third value, a dict of every intermediate array,
    is returned so a lesson can print each shape.
    """
    xp, a = namespace("multi_head_attention", query=query, key=key, value=value, w_q=w_q, w_k=w_k,
                      w_v=w_v, w_o=w_o, mask=mask, b_q=b_q, b_k=b_k, b_v=b_v, b_o=b_o)
    for name in ("w_q", "w_k", "w_v", "w_o"):
        w, x = a[name], a["value" if name == "w_v" else "key" if name == "w_k" else "query"]
        d_in = a["w_v"].shape[-1] if name == "w_o" else x.shape[-1]     # w_o maps the merged heads
        if w.ndim != 2 or w.shape[0] != d_in:
            raise ValueError(f"multi_head_attention: {name} must be (d_model, d_model) matching the inputs' last axis, "
                             f"got {name} {shape_str(w)} for query {shape_str(a['query'])}, "
                             f"w_v {shape_str(a['w_v'])}.")
    steps = {}
    steps["q"] = _project(a["query"], a["w_q"], a.get("b_q"))      # (..., n_q, d_model)
    steps["k"] = _project(a["key"], a["w_k"], a.get("b_k"))        # (..., n_k, d_model)
    steps["v"] = _project(a["value"], a["w_v"], a.get("b_v"))      # (..., n_k, d_model)
    for name in ("q", "k", "v"):
        steps[name + "_heads"] = split_heads(steps[name], num_heads)  # (..., h, n, d_head)
    mask = a.get("mask")
    if mask is not None and mask.ndim >= 3:
        mask = mask[..., None, :, :]                                 # same mask for every head
    steps["heads_out"], steps["weights"] = scaled_dot_product_attention(
        steps["q_heads"], steps["k_heads"], steps["v_heads"], mask=mask)  # (..., h, n_q, d_head)
    steps["merged"] = merge_heads(steps["heads_out"])                # (..., n_q, d_model)
    steps["output"] = _project(steps["merged"], a["w_o"], a.get("b_o"))
    if return_steps:
        return steps["output"], steps["weights"], steps
    return steps["output"], steps["weights"]


def _project(x, w, b=None):
    """x (..., n, d_in) @ w (d_in, d_out) (+ b (d_out,)) -> (..., n, d_out)."""
    y = x @ w
    return y if b is None else y + b


def _check_heads(func, x, num_heads):
    check_positive_ints(func, num_heads=num_heads)
    if x.ndim < 2:
        raise ValueError(f"{func}: x must be (..., n, d_model), got shape {shape_str(x)}.")
    if x.shape[-1] % num_heads:
        raise ValueError(f"{func}: d_model={x.shape[-1]} (x {shape_str(x)}) is not divisible by num_heads={num_heads}.")
