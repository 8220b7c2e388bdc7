"""Lesson 07 (``07_self_and_cross.ipynb``): self-attention, cross-attention, and why attention
runs in parallel.

Self-attention: queries, keys and values all come from ONE sequence x.
Cross-attention: queries come from the decoder's sequence, keys and values from
the encoder's sequence, so the weights are (n_q, n_k) with n_q != n_k in general.
The attention itself is the core's (the notebook calls ``ac.self_attention`` and
``ac.cross_attention``); this module holds the lesson's hand-made sentences, the
position-by-position loop and its timing. The
random q, k, v and the explorer are shared with lesson 06 (``attention_course.experiments``).

The word vectors here are constructed by hand so the lesson can show a clean
pattern; they are not learned. A real pretrained model comes in lesson 14.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .._backend import namespace
from ..attention import scaled_dot_product_attention
from ..experiments import attention_explorer, one_thread, random_qkv  # noqa: F401 (shared with 06)
from ..softmax import softmax


# ---------------------------------------------------------------- self-attention: "it" -> "animal"
ANIMAL_TOKENS = ("The", "animal", "didn't", "cross", "the", "street", "because", "it", "was", "too", "tired")
ANIMAL_FEATURES = ("animate noun", "place noun", "pronoun", "verb", "function word", "state")
ANIMAL_KEY_AXES = ("is a creature", "is a place", "is an action", "is glue")


def animal_sentence(strength: float = 8.0):
    """Hand-built vectors for "The animal didn't cross the street because it was too tired".

    Returns ``(tokens, x, w_q, w_k, w_v)``:
        x   (11, 6)  one feature row per token, features in ANIMAL_FEATURES
        w_q (6, 4)   what each kind of word looks for, in the key axes ANIMAL_KEY_AXES
        w_k (6, 4)   what each kind of word offers
        w_v (6, 6)   identity: a token passes on its own features
    The pronoun's query looks for creatures (strongly) and places (weakly), so "it"
    lands on "animal". This is constructed for the lesson, not learned: the
    pronoun would pick "animal" even if the sentence ended "too wide", where a
    trained model should pick "street".
    """
    #              animate place pronoun verb function state
    x = np.array([[0, 0, 0, 0, 1, 0],      # The
                  [1, 0, 0, 0, 0, 0],      # animal
                  [0, 0, 0, .5, .5, 0],    # didn't
                  [0, 0, 0, 1, 0, 0],      # cross
                  [0, 0, 0, 0, 1, 0],      # the
                  [0, 1, 0, 0, 0, 0],      # street
                  [0, 0, 0, 0, 1, 0],      # because
                  [0, 0, 1, 0, 0, 0],      # it
                  [0, 0, 0, .5, .5, 0],    # was
                  [0, 0, 0, 0, 1, 0],      # too
                  [0, 0, 0, 0, 0, 1]],     # tired
                 dtype=float)
    #                   creature place action glue      (key axes)
    w_q = strength * np.array([[0, 0, 1, 0],        # a noun looks for its verb
                               [0, 0, 1, 0],
                               [1, .35, 0, 0],      # a pronoun looks for a noun, a creature first
                               [.5, .5, 0, 0],      # a verb looks for nouns
                               [0, 0, 0, .5],       # glue words look (weakly) at glue words
                               [1, 0, 0, 0]])       # a state ("tired") looks for a creature
    w_k = np.array([[1, 0, 0, 0],                   # an animate noun offers "creature"
                    [0, 1, 0, 0],                   # a place noun offers "place"
                    [0, 0, 0, .5],                  # a pronoun offers a little glue
                    [0, 0, 1, 0],                   # a verb offers "action"
                    [0, 0, 0, 1],                   # a function word offers "glue"
                    [0, 0, 0, 0]], dtype=float)     # a state offers nothing here
    return list(ANIMAL_TOKENS), x, w_q, w_k, np.eye(x.shape[1])


# ---------------------------------------------------------------- cross-attention: a translation
SOURCE_TOKENS = ("the", "black", "cat", "is", "sleeping")    # English, read by the encoder
TARGET_TOKENS = ("le", "chat", "noir", "dort")               # French, written by the decoder
MEANING_AXES = ("article", "cat", "black", "sleep", "be")


def translation_example(strength: float = 3.0):
    """A hand-built English -> French example for cross-attention.

    Returns ``(source_tokens, target_tokens, encoder_states, decoder_states, w_q, w_k, w_v)``:
        encoder_states (5, 5)  one row per English token, axes MEANING_AXES
        decoder_states (4, 5)  the decoder's state when it writes each French word
        w_q = w_k = strength * I (5, 5), w_v = I (5, 5)
    Constructed by hand, not produced by a trained encoder/decoder. Note the word
    order: French puts "noir" after "chat", and "dort" covers "is sleeping".
    """
    encoder_states = np.array([[1, 0, 0, 0, 0],      # the
                               [0, 0, 1, 0, 0],      # black
                               [0, 1, 0, 0, 0],      # cat
                               [0, 0, 0, .4, 1],     # is
                               [0, 0, 0, 1, .4]],    # sleeping
                              dtype=float)
    decoder_states = np.array([[1, 0, 0, 0, 0],      # le
                               [0, 1, 0, 0, 0],      # chat
                               [0, 0, 1, 0, 0],      # noir
                               [0, 0, 0, .8, .8]],   # dort
                              dtype=float)
    d = encoder_states.shape[1]
    return (list(SOURCE_TOKENS), list(TARGET_TOKENS), encoder_states, decoder_states,
            strength * np.eye(d), strength * np.eye(d), np.eye(d))


# ---------------------------------------------------------------- parallel vs one position at a time
def attention_loop(q, k, v, scale=None):
    """Scaled dot-product attention computed one query position at a time.

    q (n_q, d_k), k (n_k, d_k), v (n_k, d_v) -> (output (n_q, d_v), weights (n_q, n_k)).
    Row i needs only q[i], k and v, never another row's result: the loop has no
    dependency between iterations, which is why one matrix product can do them all.
    """
    q, k, v, scale = _loop_args(q, k, v, scale)
    output = np.empty((q.shape[0], v.shape[1]))           # (n_q, d_v)
    weights = np.empty((q.shape[0], k.shape[0]))          # (n_q, n_k)
    for i in range(q.shape[0]):
        scores_i = (k @ q[i]) * scale           # (n_k,)  this query against every key
        weights[i] = softmax(scores_i)          # (n_k,)
        output[i] = weights[i] @ v              # (d_v,)
    return output, weights


def _loop_args(q, k, v, scale):
    """:func:`attention_loop`'s checks: numpy float arrays q (n_q, d_k), k (n_k, d_k), v (n_k, d_v),
    and the scale (``None`` means 1/sqrt(d_k))."""
    _, a = namespace("attention_loop", q=q, k=k, v=v)
    q, k, v = (np.asarray(a[n], dtype=float) for n in ("q", "k", "v"))
    if q.ndim != 2 or k.ndim != 2 or v.ndim != 2 or q.shape[1] != k.shape[1] or k.shape[0] != v.shape[0]:
        raise ValueError(f"attention_loop: expected q (n_q, d_k), k (n_k, d_k), v (n_k, d_v), "
                         f"got q {q.shape}, k {k.shape}, v {v.shape}.")
    return q, k, v, (1.0 / math.sqrt(q.shape[1]) if scale is None else scale)


@dataclass(frozen=True)
class Timing:
    """Seconds (best of the repeats) for the loop and the matrix version at each n.

    n, loop, matrix (m,); ``agree``: both versions gave the same outputs and weights at every n.
    """

    n: np.ndarray
    loop: np.ndarray
    matrix: np.ndarray
    agree: bool

    @property
    def speedup(self) -> np.ndarray:
        """loop / matrix at each n: how many times faster the one matrix product was."""
        return self.loop / self.matrix


@one_thread
def time_parallel_vs_loop(ns=(16, 32, 64, 128, 256, 512, 1024), d_k: int = 32, repeats: int = 3,
                          seed: int = 0) -> Timing:
    """Wall-clock seconds (best of ``repeats``) for :func:`attention_loop` and for one matrix product.

    Both run on ONE BLAS thread, so the comparison is a Python loop against a single library call,
    not one core against several (on a busy machine extra BLAS threads can make the matrix
    version slower than the loop at n = 128-256). Timings depend on the machine; only their
    trend is meaningful.
    """
    loop_s, matrix_s, agree = [], [], True
    for n in ns:
        q, k, v = random_qkv(n, n, d_k, seed=seed)
        t_loop, (out_l, w_l) = _best_time(attention_loop, (q, k, v), repeats)
        t_mat, (out_m, w_m) = _best_time(scaled_dot_product_attention, (q, k, v), repeats)
        agree = agree and np.allclose(out_l, out_m) and np.allclose(w_l, w_m)
        loop_s.append(t_loop)
        matrix_s.append(t_mat)
    return Timing(n=np.array(ns), loop=np.array(loop_s), matrix=np.array(matrix_s), agree=bool(agree))


def _best_time(fn, args, repeats):
    best, result = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def plot_timing(result: Timing):
    """Log-log plot of :func:`time_parallel_vs_loop`: seconds against n for both versions."""
    from .. import viz

    return viz.log_log(result.n, [(result.loop, "loop: one query position at a time", "o-", "#d62728"),
                                  (result.matrix, "one matrix product for all positions", "s-", "#1f77b4")],
                       xlabel="sequence length n (queries = keys = n)", ylabel="seconds (best run, one BLAS thread)",
                       title="Self-attention: loop vs matrix product")
