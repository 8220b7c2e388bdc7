"""Exercise (lesson 15): a decoder block, as in GPT-style language models.

The learner turns lesson 15's encoder block (post-LayerNorm, every token sees every token) into a
decoder block: a causal mask, and the LayerNorm moved in front of each sub-layer (pre-LayerNorm),
so the residual path carries x itself from the input to the output:

    x_hat = LayerNorm_1(x)
    x = x + MultiHead(x_hat, x_hat, x_hat, causal mask)     (..., n, d_model)
    x_hat = LayerNorm_2(x)
    x = x + GELU(x_hat W_1 + b_1) W_2 + b_2                  (..., n, d_ff) -> (..., n, d_model)

``decoder_block(x, p, num_heads) -> (..., n, d_model)``, with ``p`` a ``pretrained.Layer`` (its
``ln1_*`` go before the attention, its ``ln2_*`` before the feed-forward). The learner may call
``ac.multi_head_attention``, ``ac.causal_mask``, ``pretrained.layer_norm`` and ``pretrained.gelu``.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..masks import causal_mask
from ..multihead import multi_head_attention
from ..pretrained import Layer, gelu, layer_norm
from ._core import Case, Exercise, Mistake, register


def decoder_block(x, p, num_heads):
    """Reference solution. x (..., n, d_model); p a pretrained.Layer -> (..., n, d_model)."""
    n = x.shape[-2]
    x_hat = layer_norm(x, p.ln1_gain, p.ln1_bias)                          # normalise first (pre-LN)
    a, _ = multi_head_attention(x_hat, x_hat, x_hat, p.w_q, p.w_k, p.w_v, p.w_o, num_heads,
                                mask=causal_mask(n), b_q=p.b_q, b_k=p.b_k, b_v=p.b_v, b_o=p.b_o)
    x = x + a                                                              # residual: x itself goes on
    x_hat = layer_norm(x, p.ln2_gain, p.ln2_bias)
    return x + gelu(x_hat @ p.w_1 + p.b_1) @ p.w_2 + p.b_2                 # (..., n, d_ff) -> (..., n, d_model)


# ---------------------------------------------------------------- the mistakes the checker names

def _block(x, p, num_heads, *, mask="causal", order="pre", residual="x", norms=("ln1", "ln2"), ff_norm=True,
           ff_residual=True, attention_residual=True, activation="gelu", final_norm=False, biases=True,
           eps=1e-12):
    """The decoder block with one switch per mistake."""
    n = x.shape[-2]
    masks = {"causal": causal_mask(n), "none": None, "upper": np.triu(np.ones((n, n), dtype=bool)),
             "strict": np.tril(np.ones((n, n), dtype=bool), -1)}
    layer_norm_eps = functools.partial(layer_norm, eps=eps)
    norm = {name: (getattr(p, f"{name}_gain"), getattr(p, f"{name}_bias")) for name in ("ln1", "ln2")}
    act = {"gelu": gelu, "relu": lambda z: np.maximum(z, 0.0), "tanh": _gelu_tanh}[activation]
    b = {"b_q": p.b_q, "b_k": p.b_k, "b_v": p.b_v, "b_o": p.b_o} if biases else {}

    def attend(z):
        return multi_head_attention(z, z, z, p.w_q, p.w_k, p.w_v, p.w_o, num_heads, mask=masks[mask], **b)[0]

    def ff(z):
        return act(z @ p.w_1 + p.b_1) @ p.w_2 + p.b_2

    if order == "post":                                  # the encoder's (BERT's) order
        x = layer_norm_eps(x + attend(x), *norm["ln1"])
        return layer_norm_eps(x + ff(x), *norm["ln2"])
    x_hat = layer_norm_eps(x, *norm[norms[0]])
    a = attend(x_hat)
    x = ((x_hat if residual in ("normalised", "normalised_both") else x) + a) if attention_residual else a
    x_hat = layer_norm_eps(x, *norm[norms[1]]) if ff_norm else x
    start = x_hat if residual == "normalised_both" else x
    x = (start + ff(x_hat)) if ff_residual else ff(x_hat)
    return layer_norm_eps(x, *norm["ln2"]) if final_norm else x


def _gelu_tanh(z):
    """GPT-2's approximation of GELU (up to about 5e-4 away from the exact one)."""
    return 0.5 * z * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z ** 3)))


def _variant(**switches):
    def buggy(x, p, num_heads):
        return _block(x, p, num_heads, **switches)
    return buggy


NO_MASK = ("No causal mask: every token also reads the tokens after it, so a language model trained this way "
           "would see the word it must predict. Pass mask=ac.causal_mask(n) (n = x.shape[-2]) to the attention.")
UPPER = ("Wrong triangle: your mask lets each token see itself and the tokens AFTER it. The causal mask is the "
         "lower triangle, ac.causal_mask(n) (True where key j <= query i).")
POST_LN = ("LayerNorm after each residual (LayerNorm(x + sub-layer(x))): that is the encoder's order, BERT's and "
           "MiniLM's. A GPT-style decoder normalises first and adds the sub-layer's output to x itself: "
           "x = x + attention(LayerNorm_1(x)), then x = x + ff(LayerNorm_2(x)).")
DIAGONAL_HIDDEN = ("Your mask hides the diagonal too (np.tril(..., -1), or j < i): each token must see itself as "
                   "well as the tokens before it, or the first token sees nothing at all. The causal mask is "
                   "True where key j <= query i: ac.causal_mask(n).")
RESIDUAL_NORMALISED = ("The residual starts from the normalised x: you computed x_hat = LayerNorm_1(x) and then "
                       "x_hat + attention(x_hat). The residual path carries x itself: x = x + attention(x_hat).")
RESIDUAL_NORMALISED_BOTH = ("Both residuals start from the normalised x (x_hat + attention(x_hat), then "
                            "x_hat + ff(x_hat)): the residual path must carry x itself past each sub-layer, "
                            "x = x + attention(LayerNorm_1(x)), then x = x + ff(LayerNorm_2(x)).")
NORMS_SWAPPED = ("The two LayerNorms are swapped: ln1_gain/ln1_bias belong before the attention, ln2_gain/ln2_bias "
                 "before the feed-forward.")
SAME_NORM = ("The same LayerNorm twice: you normalised the feed-forward's input with ln1_gain/ln1_bias again. "
             "Each sub-layer has its own: ln1_* before the attention, ln2_* before the feed-forward.")
FF_NOT_NORMALISED = ("The feed-forward reads x without its LayerNorm: pre-LayerNorm normalises the input of BOTH "
                     "sub-layers: x_hat = LayerNorm_2(x) (ln2_gain, ln2_bias), then x + ff(x_hat).")
NO_FF_RESIDUAL = ("The feed-forward's residual is missing: you returned ff(LayerNorm_2(x)); add it to x: "
                  "x + ff(LayerNorm_2(x)).")
NO_ATTENTION_RESIDUAL = ("The attention's residual is missing: you replaced x by attention(LayerNorm_1(x)); add it "
                         "to x: x = x + attention(...).")
RELU = ("ReLU instead of GELU in the feed-forward: use pretrained.gelu(x_hat @ p.w_1 + p.b_1) (the exact GELU, "
        "z * Phi(z)), which is what this block's weights are meant for.")
TANH_GELU = ("The tanh approximation of GELU, 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))): GPT-2 uses it, but "
             "it is up to about 5e-4 away from the exact GELU these weights were checked with. Use "
             "pretrained.gelu (z * Phi(z), with erf).")
GPT2_EPS = ("LayerNorm with eps = 1e-5 (GPT-2's value): these weights come with MiniLM's eps = 1e-12, which "
            "pretrained.layer_norm uses by default; with 1e-5 every LayerNorm divides by a slightly larger number. "
            "Call pretrained.layer_norm(x, gain, bias) without an eps.")
NO_BIASES = ("The attention's biases are missing: pass b_q=p.b_q, b_k=p.b_k, b_v=p.b_v, b_o=p.b_o to "
             "ac.multi_head_attention (without them it computes x @ W only).")
FINAL_NORM = ("You normalised the block's output (a LayerNorm after the last residual). In a pre-LayerNorm model "
              "the block ends with x + ff(...); the one final LayerNorm comes after the LAST block of the stack, "
              "not inside each block.")

MISTAKES = [
    Mistake(NO_MASK, _variant(mask="none")),
    Mistake(UPPER, _variant(mask="upper")),
    Mistake(DIAGONAL_HIDDEN, _variant(mask="strict")),
    Mistake(POST_LN, _variant(order="post")),
    Mistake(RESIDUAL_NORMALISED, _variant(residual="normalised")),
    Mistake(RESIDUAL_NORMALISED_BOTH, _variant(residual="normalised_both")),
    Mistake(NORMS_SWAPPED, _variant(norms=("ln2", "ln1"))),
    Mistake(SAME_NORM, _variant(norms=("ln1", "ln1"))),
    Mistake(FF_NOT_NORMALISED, _variant(ff_norm=False)),
    Mistake(NO_FF_RESIDUAL, _variant(ff_residual=False)),
    Mistake(NO_ATTENTION_RESIDUAL, _variant(attention_residual=False)),
    Mistake(RELU, _variant(activation="relu")),
    Mistake(TANH_GELU, _variant(activation="tanh")),
    Mistake(GPT2_EPS, _variant(eps=1e-5)),
    Mistake(NO_BIASES, _variant(biases=False)),
    Mistake(FINAL_NORM, _variant(final_norm=True)),
]


# ---------------------------------------------------------------------------- cases

def random_wide_layer(d_model, d_ff, rng, dtype=np.float64) -> Layer:
    """Random weights for one block (lesson 15's ``random_layer``) with LayerNorm gains and shifts
    far from 1 and 0, so that each LayerNorm (and which one is used where) changes the result."""
    from ..lessons.review import random_layer

    return random_layer(d_model, d_ff, rng, dtype, bias_scale=0.3, gain_scale=0.5)


def cases():
    rng = np.random.default_rng(15)

    def case(batch, n, d_model, h, d_ff, label, dtype=np.float64, scale=1.0):
        x = (scale * rng.standard_normal((*batch, n, d_model))).astype(dtype)
        return Case((x, random_wide_layer(d_model, d_ff, rng, dtype), h), label=label)

    return [
        case((), 5, 8, 2, 16, "5 tokens, d_model 8, 2 heads"),
        case((), 4, 6, 3, 12, "4 tokens, d_model 6, 3 heads"),
        case((2,), 4, 8, 2, 32, "a batch of 2 sentences"),
        case((2, 2), 3, 4, 1, 8, "two batch axes, one head"),
        case((), 6, 12, 4, 24, "6 tokens, 4 heads, large inputs", scale=3.0),
        case((), 1, 8, 2, 16, "a single token (it can only see itself)"),
        case((), 5, 8, 2, 16, "float32", dtype=np.float32),
    ]


register(Exercise(
    lesson="15_review",
    name="decoder_block",
    reference=decoder_block,
    cases=cases,
    mistakes=MISTAKES,
    signature="decoder_block(x, p, num_heads) -> (..., n, d_model): pre-LayerNorm, causal, two residuals",
    rtol=1e-6,
    atol=1e-9,
))
