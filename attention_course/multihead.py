"""Lesson 08: multi-head attention, step by step: project -> split -> attend -> merge -> project.

    q, k, v = x W_Q, x W_K, x W_V                      (..., n, d_model)
    split:   (..., n, d_model) -> (..., n, h, d_head) -> (..., h, n, d_head)
    attend:  softmax(q_h k_h^T / sqrt(d_head)) v_h     (..., h, n, d_head), one pattern per head
    merge:   (..., h, n, d_head) -> (..., n, h, d_head) -> (..., n, d_model)
    output = merged W_O                                (..., n, d_model)

with d_head = d_model / h. Every function runs on numpy arrays and on torch tensors.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ._backend import check_mask, check_positive_ints, namespace, shape_str
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
    return x.reshape(*batch, n, h * d_head)                         # (..., n, d_model)


@dataclass
class MultiHeadSteps:
    """Every intermediate of one ``multi_head_attention`` call (``return_steps=True``).

    q, k, v             (..., n, d_model)        the projections
    q_heads, k_heads,   (..., h, n, d_head)      after split_heads (reshape, then transpose)
    v_heads
    weights             (..., h, n_q, n_k)       one attention pattern per head
    heads_out           (..., h, n_q, d_head)    each head's output
    merged              (..., n_q, d_model)      after merge_heads (transpose back, then reshape)
    output              (..., n_q, d_model)      merged @ W_O (+ b_O)

    ``steps.table()`` lists the whole path with every shape, the reshapes included.
    ``steps["q"]`` works too (the same as ``steps.q``).
    """

    num_heads: int
    q: Any
    k: Any
    v: Any
    q_heads: Any
    k_heads: Any
    v_heads: Any
    weights: Any
    heads_out: Any
    merged: Any
    output: Any

    def __getitem__(self, name):
        if name not in {f.name for f in fields(self)}:
            raise KeyError(name)
        return getattr(self, name)

    def table(self) -> str:
        """The path as text: one line per step with its shape (reshape steps included).

        Every shape is read from an array: the stored ones, or (for the two steps that are not
        stored) the very reshape and swap of a stored array that split_heads and merge_heads do."""
        *batch, n_q, d_model = tuple(self.q.shape)
        h = self.num_heads
        cut = self.q.reshape(*batch, n_q, h, d_model // h)              # split_heads' first step (a view)
        back = self.heads_out.swapaxes(-3, -2)                           # merge_heads' first step (a view)
        scores = self.q_heads @ self.k_heads.swapaxes(-2, -1)            # before the scale and the softmax
        rows = [
            ("q = query @ W_Q", tuple(self.q.shape), "(..., n_q, d_model)"),
            ("k = key @ W_K", tuple(self.k.shape), "(..., n_k, d_model)"),
            ("v = value @ W_V", tuple(self.v.shape), "(..., n_k, d_model)"),
            ("q.reshape: cut d_model into h pieces", tuple(cut.shape), "(..., n_q, h, d_head)"),
            ("q.swapaxes: heads in front of tokens", tuple(self.q_heads.shape), "(..., h, n_q, d_head)"),
            ("k, v split the same way", tuple(self.k_heads.shape), "(..., h, n_k, d_head)"),
            ("scores = q_h k_h^T / sqrt(d_head)", tuple(scores.shape), "(..., h, n_q, n_k)"),
            ("weights = softmax(scores)", tuple(self.weights.shape), "(..., h, n_q, n_k)"),
            ("heads_out = weights @ v_h", tuple(self.heads_out.shape), "(..., h, n_q, d_head)"),
            ("swapaxes back: tokens in front", tuple(back.shape), "(..., n_q, h, d_head)"),
            ("merged = reshape: concatenate the heads", tuple(self.merged.shape), "(..., n_q, d_model)"),
            ("output = merged @ W_O", tuple(self.output.shape), "(..., n_q, d_model)"),
        ]
        width = max(len(r[0]) for r in rows)
        shape_width = max(len(str(r[1])) for r in rows)
        return "\n".join(f"{step:<{width}}  {str(shape):<{shape_width}}  {axes}" for step, shape, axes in rows)


def multi_head_attention(query, key, value, w_q, w_k, w_v, w_o, num_heads, mask=None,
                         b_q=None, b_k=None, b_v=None, b_o=None, return_steps=False):
    """Multi-head attention written out step by step; returns ``(output, weights)``.

    Shapes (row-vector convention, ``x @ W``):
        query (..., n_q, d_model), key and value (..., n_k, d_model)
        w_q, w_k, w_v (d_model, d_model); w_o (d_model, d_out); optional biases b_* (d,)
        mask  True = may attend; either broadcastable to (..., n_q, n_k), the same for every
              head (e.g. causal_mask(n) (n, n) or padding_mask(lengths, n) (batch, 1, n)), or
              with a head axis, (..., h or 1, n_q, n_k), one more axis than query
              (e.g. (batch, 1, 1, n_k) as for torch's scaled_dot_product_attention)
        output  (..., n_q, d_out)
        weights (..., num_heads, n_q, n_k)
    With ``return_steps=True`` a third value, a :class:`MultiHeadSteps` holding every
    intermediate, is returned (``steps.table()`` prints the path with every shape).
    """
    a = _multi_head_args(query, key, value, w_q, w_k, w_v, w_o, num_heads, mask, b_q, b_k, b_v, b_o)
    q = _project(a["query"], a["w_q"], a.get("b_q"))          # (..., n_q, d_model)
    k = _project(a["key"], a["w_k"], a.get("b_k"))            # (..., n_k, d_model)
    v = _project(a["value"], a["w_v"], a.get("b_v"))          # (..., n_k, d_model)
    q_heads = split_heads(q, num_heads)                      # (..., h, n_q, d_head)
    k_heads = split_heads(k, num_heads)                      # (..., h, n_k, d_head)
    v_heads = split_heads(v, num_heads)                      # (..., h, n_k, d_head)
    heads_out, weights = scaled_dot_product_attention(       # scale 1/sqrt(d_head): d_k of a head
        q_heads, k_heads, v_heads, mask=a.get("mask"))       # (..., h, n_q, d_head), (..., h, n_q, n_k)
    merged = merge_heads(heads_out)                          # (..., n_q, d_model)
    output = _project(merged, a["w_o"], a.get("b_o"))        # (..., n_q, d_out)
    if return_steps:
        return output, weights, MultiHeadSteps(int(num_heads), q, k, v, q_heads, k_heads, v_heads,
                                               weights, heads_out, merged, output)
    return output, weights


def _project(x, w, b=None):
    """x (..., n, d_in) @ w (d_in, d_out) (+ b (d_out,)) -> (..., n, d_out)."""
    y = x @ w
    return y if b is None else y + b


# ------------------------------------------------------------------ argument handling

def _multi_head_args(query, key, value, w_q, w_k, w_v, w_o, num_heads, mask, b_q, b_k, b_v, b_o):
    f = "multi_head_attention"
    _, a = namespace(f, query=query, key=key, value=value, w_q=w_q, w_k=w_k, w_v=w_v, w_o=w_o, mask=mask,
                     b_q=b_q, b_k=b_k, b_v=b_v, b_o=b_o)
    check_positive_ints(f, num_heads=num_heads)
    for name in ("query", "key", "value"):
        if a[name].ndim < 2:
            raise ValueError(f"{f}: {name} must be (..., n, d_model), got {name} {shape_str(a[name])}.")
    for name, source in (("w_q", "query"), ("w_k", "key"), ("w_v", "value")):
        w = a[name]
        if w.ndim != 2 or w.shape[0] != a[source].shape[-1]:
            raise ValueError(f"{f}: {name} must be (d_model, d_model) matching the inputs' last axis, "
                             f"got {name} {shape_str(w)} for {source} {shape_str(a[source])}, "
                             f"query {shape_str(a['query'])}, w_v {shape_str(a['w_v'])}.")
    if a["w_q"].shape[1] != a["w_k"].shape[1]:
        raise ValueError(f"{f}: w_q and w_k must give queries and keys the same width, got "
                         f"w_q {shape_str(a['w_q'])}, w_k {shape_str(a['w_k'])}.")
    for name in ("w_q", "w_k", "w_v"):
        if a[name].shape[1] % num_heads:
            raise ValueError(f"{f}: {name} {shape_str(a[name])} gives {a[name].shape[1]} columns, which "
                             f"num_heads={num_heads} heads cannot share equally (d_model % num_heads != 0).")
    if a["w_o"].ndim != 2 or a["w_o"].shape[0] != a["w_v"].shape[1]:
        raise ValueError(f"{f}: w_o must have one row per merged head feature, i.e. w_o (d_model, d_out) "
                         f"with d_model = w_v.shape[1]; got w_o {shape_str(a['w_o'])} for w_v "
                         f"{shape_str(a['w_v'])}, query {shape_str(a['query'])}.")
    for name, width in (("b_q", a["w_q"].shape[1]), ("b_k", a["w_k"].shape[1]), ("b_v", a["w_v"].shape[1]),
                        ("b_o", a["w_o"].shape[1])):
        if name in a and tuple(a[name].shape) != (width,):
            raise ValueError(f"{f}: {name} must be a vector of {width} numbers, got {name} {shape_str(a[name])}.")
    if "mask" in a:
        a["mask"] = _mask_for_heads(f, a["mask"], a["query"])
        batch = np.broadcast_shapes(tuple(a["query"].shape[:-2]), tuple(a["key"].shape[:-2]))
        scores = (*batch, int(num_heads), a["query"].shape[-2], a["key"].shape[-2])
        check_mask(f, a["mask"], scores, f"query {shape_str(a['query'])}, key {shape_str(a['key'])}, "
                                         f"{num_heads} heads: scores (..., h, n_q, n_k) = {scores}")
    return a


def _mask_for_heads(func, mask, query):
    """The mask with a head axis, (..., 1 or h, n_q, n_k), to meet the scores (..., h, n_q, n_k).

    A mask with at most as many axes as ``query`` has none: it is the same for every head, so a
    size-1 head axis goes in front of its last two axes. One more axis than ``query``: it has one.
    """
    if mask.ndim > query.ndim + 1:
        raise ValueError(f"{func}: mask {shape_str(mask)} has more axes than (..., heads, n_q, n_k) for "
                         f"query {shape_str(query)}.")
    if mask.ndim <= query.ndim and mask.ndim >= 3:
        return mask[..., None, :, :]                       # (..., 1, n_q, n_k): every head alike
    return mask                                            # (n_q, n_k), (n_k,) or already per head


def _check_heads(func, x, num_heads):
    check_positive_ints(func, num_heads=num_heads)
    if x.ndim < 2:
        raise ValueError(f"{func}: x must be (..., n, d_model), got shape {shape_str(x)}.")
    if x.shape[-1] % num_heads:
        raise ValueError(f"{func}: d_model={x.shape[-1]} (x {shape_str(x)}) is not divisible by num_heads={num_heads}.")
