"""Exercise (lesson 07): cross-attention, where the decoder's sequence and the encoder's differ in length.

The learner writes ``cross_attention(decoder_states, encoder_states, w_q, w_k, w_v) -> (output, weights)``:

    q = decoder_states @ w_q          (n_q, d_k)   the decoder asks
    k = encoder_states @ w_k          (n_k, d_k)   the encoder's labels
    v = encoder_states @ w_v          (n_k, d_v)   the encoder's content
    weights = softmax(q @ k.T / sqrt(d_k), over the keys)   (n_q, n_k)
    output  = weights @ v                                   (n_q, d_v)
"""
from __future__ import annotations

import numpy as np

from ._core import Case, Exercise, Mistake, register


def cross_attention(decoder_states, encoder_states, w_q, w_k, w_v):
    """Reference solution.

    decoder_states (n_q, d_model), encoder_states (n_k, d_model);
    w_q, w_k (d_model, d_k); w_v (d_model, d_v)
    -> output (n_q, d_v), weights (n_q, n_k)
    """
    q = decoder_states @ w_q                      # (n_q, d_k)  queries: from the decoder
    k = encoder_states @ w_k                      # (n_k, d_k)  keys: from the encoder
    v = encoder_states @ w_v                      # (n_k, d_v)  values: from the encoder, row j with key j
    d_k = q.shape[-1]
    scores = q @ k.T / np.sqrt(d_k)               # (n_q, n_k)
    scores = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(scores)
    weights = e / e.sum(axis=-1, keepdims=True)   # each row (one decoder position) sums to 1
    return weights @ v, weights                   # (n_q, d_v), (n_q, n_k)


# ---------------------------------------------------------------- the mistakes the checker names


def _softmax(scores, axis=-1):
    e = np.exp(scores - scores.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _attend(q, k, v, scale=None, axis=-1):
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    weights = _softmax(q @ k.T * scale, axis=axis)
    return weights @ v, weights


def _self_attention_instead(dec, enc, w_q, w_k, w_v):
    return _attend(dec @ w_q, dec @ w_k, dec @ w_v)


def _queries_from_encoder(dec, enc, w_q, w_k, w_v):
    return _attend(enc @ w_q, dec @ w_k, dec @ w_v)


def _no_scaling(dec, enc, w_q, w_k, w_v):
    return _attend(dec @ w_q, enc @ w_k, enc @ w_v, scale=1.0)


def _scaled_by_d_model(dec, enc, w_q, w_k, w_v):
    return _attend(dec @ w_q, enc @ w_k, enc @ w_v, scale=1 / np.sqrt(dec.shape[-1]))


def _softmax_over_queries(dec, enc, w_q, w_k, w_v):
    return _attend(dec @ w_q, enc @ w_k, enc @ w_v, axis=0)


def _w_q_and_w_k_swapped(dec, enc, w_q, w_k, w_v):
    return _attend(dec @ w_k, enc @ w_q, enc @ w_v)


def _weights_transposed(dec, enc, w_q, w_k, w_v):
    output, weights = cross_attention(dec, enc, w_q, w_k, w_v)
    return output, weights.T


# ---------------------------------------------------------------- cases


def _cases():
    from ..lessons.self_and_cross import translation_example

    src, tgt, enc, dec, w_q, w_k, w_v = translation_example()
    rng = np.random.default_rng(7)

    def random_case(n_q, n_k, d_model, d_k, d_v, label):
        dec = rng.normal(size=(n_q, d_model)).round(2)
        enc = rng.normal(size=(n_k, d_model)).round(2)
        w_q, w_k = rng.normal(size=(d_model, d_k)).round(2), rng.normal(size=(d_model, d_k)).round(2)
        w_v = rng.normal(size=(d_model, d_v)).round(2)
        return Case(args=(dec, enc, w_q, w_k, w_v), label=label)

    d_model, d_k = w_q.shape
    # The lesson's w_q and w_k are equal, so that case cannot tell them apart: the same sentences
    # again with three different matrices.
    own_w_q, own_w_k = rng.normal(size=(d_model, d_k)).round(2), rng.normal(size=(d_model, d_k)).round(2)
    own_w_v = rng.normal(size=w_v.shape).round(2)
    return [
        Case(args=(dec, enc, w_q, w_k, w_v),
             label=f"the lesson's translation: {len(tgt)} French positions over {len(src)} English tokens"),
        Case(args=(dec, enc, own_w_q, own_w_k, own_w_v),
             label="the lesson's sentences with different w_q, w_k and w_v"),
        random_case(3, 7, 6, 4, 2, "3 decoder positions, 7 encoder tokens, d_model 6, d_k 4, d_v 2"),
        random_case(6, 2, 4, 3, 5, "more decoder positions (6) than encoder tokens (2), d_v 5"),
        random_case(1, 5, 3, 2, 3, "a single decoder step (n_q = 1) over 5 encoder tokens"),
    ]


register(Exercise(
    lesson="07_self_and_cross",
    name="cross_attention",
    reference=cross_attention,
    cases=_cases,
    mistakes=[
        Mistake(hint="Your keys and values come from the decoder, so this is self-attention: in cross-attention "
                     "k = encoder_states @ w_k and v = encoder_states @ w_v, and the weights are (n_q, n_k).",
                buggy=_self_attention_instead),
        Mistake(hint="The roles are swapped: the queries must come from the decoder (decoder_states @ w_q) and "
                     "the keys and values from the encoder.", buggy=_queries_from_encoder),
        Mistake(hint="Your weights look like softmax(q @ k.T) without the scaling: divide the scores by "
                     "sqrt(d_k) before the softmax.", buggy=_no_scaling),
        Mistake(hint="You scaled by sqrt(d_model), the width of the states; the scale is sqrt(d_k), the width "
                     "of a query: q.shape[-1].", buggy=_scaled_by_d_model),
        Mistake(hint="Your softmax ran over the decoder positions (axis 0): each ROW, one decoder position "
                     "against every encoder token, must sum to 1. Use axis=-1.", buggy=_softmax_over_queries),
        Mistake(hint="Your weights are transposed: they must be (n_q, n_k), one row per decoder position, "
                     "i.e. built from q @ k.T.", buggy=_weights_transposed),
        Mistake(hint="w_q and w_k look swapped: the queries are decoder_states @ w_q and the keys are "
                     "encoder_states @ w_k.", buggy=_w_q_and_w_k_swapped),
    ],
    signature="cross_attention(decoder_states, encoder_states, w_q, w_k, w_v) -> (output, weights)",
    output_names=("output", "weights"),
))
