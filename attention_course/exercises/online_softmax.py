"""Exercise (lesson 13): the online softmax, for one query.

The learner writes ``online_softmax(scores, values, block_size)`` -> (d_v,): the attention
output softmax(scores) @ values of one query, reading ``scores`` (n,) and ``values`` (n, d_v)
``block_size`` entries at a time and keeping only three running quantities: the largest score
so far m, the sum l of exp(score - m) and the sum o of exp(score - m) * value. When a block
raises the max, l and o are multiplied by exp(m_old - m_new); o / l is taken once, at the end.

Values alone cannot tell an online softmax from the ordinary one, so two cases hand over their
arrays as ``_OneBlockAtATime``: any numpy operation on more than block_size keys of them raises
a ValueError that names the line (``ALL_AT_ONCE_ERROR``), and the mistake ``_all_at_once`` is
named when a learner's function raises it too.
"""
from __future__ import annotations

import numpy as np

from ._core import Case, Exercise, Mistake, register


def online_softmax(scores, values, block_size):
    """Reference solution. scores (n,), values (n, d_v) -> softmax(scores) @ values, (d_v,)."""
    m = -np.inf                                  # running max
    l = 0.0                                      # running sum of exp(score - m)
    o = np.zeros(values.shape[-1])               # running sum of exp(score - m) * value
    for start in range(0, len(scores), block_size):
        s = scores[start:start + block_size]     # this block's scores
        v = values[start:start + block_size]     # and values
        m_new = max(m, s.max())
        alpha = np.exp(m - m_new)                # <= 1: shrinks what was summed with the old max
        p = np.exp(s - m_new)
        l = alpha * l + p.sum()
        o = alpha * o + p @ v
        m = m_new
    return o / l                                 # divide once, at the end


# ---------------------------------------------------------------- the mistakes the checker names

def _blocks(scores, values, block_size):
    for start in range(0, len(scores), block_size):
        yield scores[start:start + block_size], values[start:start + block_size]


def _sum_not_rescaled(scores, values, block_size):
    m, l, o = -np.inf, 0.0, np.zeros(values.shape[-1])
    for s, v in _blocks(scores, values, block_size):
        m_new = max(m, s.max())
        alpha, p = np.exp(m - m_new), np.exp(s - m_new)
        l = l + p.sum()                          # not rescaled
        o = alpha * o + p @ v
        m = m_new
    return o / l


def _output_not_rescaled(scores, values, block_size):
    m, l, o = -np.inf, 0.0, np.zeros(values.shape[-1])
    for s, v in _blocks(scores, values, block_size):
        m_new = max(m, s.max())
        alpha, p = np.exp(m - m_new), np.exp(s - m_new)
        l = alpha * l + p.sum()
        o = o + p @ v                            # not rescaled
        m = m_new
    return o / l


def _nothing_rescaled(scores, values, block_size):
    m, l, o = -np.inf, 0.0, np.zeros(values.shape[-1])
    for s, v in _blocks(scores, values, block_size):
        m = max(m, s.max())
        p = np.exp(s - m)
        l = l + p.sum()                          # neither is rescaled
        o = o + p @ v
    return o / l


def _divided_every_step(scores, values, block_size):
    m, l, o = -np.inf, 0.0, np.zeros(values.shape[-1])
    for s, v in _blocks(scores, values, block_size):
        m_new = max(m, s.max())
        alpha, p = np.exp(m - m_new), np.exp(s - m_new)
        l = alpha * l + p.sum()
        o = (alpha * o + p @ v) / l              # divided inside the loop ...
        m = m_new
    return o                                     # ... and not at the end


def _block_divided_every_step(scores, values, block_size):
    m, l, o = -np.inf, 0.0, np.zeros(values.shape[-1])
    for s, v in _blocks(scores, values, block_size):
        m_new = max(m, s.max())
        alpha, p = np.exp(m - m_new), np.exp(s - m_new)
        l = alpha * l + p.sum()
        o = alpha * o + (p / l) @ v              # each block divided by the sum so far
        m = m_new
    return o


def _block_max_only(scores, values, block_size):
    m, l, o = -np.inf, 0.0, np.zeros(values.shape[-1])
    for s, v in _blocks(scores, values, block_size):
        m_new = s.max()                          # this block's max, not the max so far
        alpha, p = np.exp(m - m_new), np.exp(s - m_new)
        l = alpha * l + p.sum()
        o = alpha * o + p @ v
        m = m_new
    return o / l


def _no_max_subtracted(scores, values, block_size):
    l, o = 0.0, np.zeros(values.shape[-1])
    for s, v in _blocks(scores, values, block_size):
        p = np.exp(s)                            # no max subtracted: overflows for large scores
        l = l + p.sum()
        o = o + p @ v
    return o / l


def _never_divided(scores, values, block_size):
    m, l, o = -np.inf, 0.0, np.zeros(values.shape[-1])
    for s, v in _blocks(scores, values, block_size):
        m_new = max(m, s.max())
        alpha, p = np.exp(m - m_new), np.exp(s - m_new)
        l = alpha * l + p.sum()
        o = alpha * o + p @ v
        m = m_new
    return o


def _all_at_once(scores, values, block_size):
    w = np.exp(scores - scores.max())            # the ordinary softmax: every score at once
    return (w / w.sum()) @ values


def _short_last_block_skipped(scores, values, block_size):
    m, l, o = -np.inf, 0.0, np.zeros(values.shape[-1])
    for b in range(len(scores) // block_size):   # only the full blocks: a shorter last one is lost
        s, v = scores[b * block_size:(b + 1) * block_size], values[b * block_size:(b + 1) * block_size]
        m_new = max(m, s.max())
        alpha, p = np.exp(m - m_new), np.exp(s - m_new)
        l = alpha * l + p.sum()
        o = alpha * o + p @ v
        m = m_new
    return o / l


class _OneBlockAtATime(np.ndarray):
    """scores or values that refuse any numpy operation on more than ``block_size`` keys at once.

    Two cases pass their arrays this way, so a function that works on the whole row (the ordinary
    softmax) is told so. Slices of at most ``block_size`` keys, single scores and rows of values
    work as usual; the results of operations are plain arrays."""

    block_size = None      # keys allowed in one operation
    row = 1                # numbers per key: 1 for scores, d_v for values

    def __array_finalize__(self, obj):
        self.block_size = getattr(obj, "block_size", None)
        self.row = getattr(obj, "row", 1)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        for x in (*inputs, *kwargs.get("out", ())):
            if isinstance(x, _OneBlockAtATime) and x.block_size and x.size > x.block_size * x.row:
                raise ValueError(ALL_AT_ONCE_ERROR.format(keys=x.size // x.row, block_size=x.block_size))
        plain = tuple(x.view(np.ndarray) if isinstance(x, _OneBlockAtATime) else x for x in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(x.view(np.ndarray) if isinstance(x, _OneBlockAtATime) else x
                                  for x in kwargs["out"])
        return getattr(ufunc, method)(*plain, **kwargs)


def _one_block_at_a_time(scores, values, block_size):
    """The case's arrays, wrapped so that the checker notices an operation on more than block_size keys."""
    wrapped = []
    for a, row in ((scores, 1), (values, values.shape[-1])):
        a = a.view(_OneBlockAtATime)
        a.block_size, a.row = block_size, row
        wrapped.append(a)
    return (*wrapped, block_size)


ALL_AT_ONCE_ERROR = ("this line works on {keys} keys at once, but an online softmax reads at most block_size = "
                     "{block_size} scores and values at a time")
SUM_NOT_RESCALED = (
    "The running sum is not rescaled when the max grows. Every term of l is exp(score - m) for the max m of "
    "its time; when a block raises the max to m_new, the old terms must become exp(score - m_new), i.e. "
    "l = exp(m - m_new) * l + p.sum(). Without that factor the earlier keys count too much in l and your "
    "weights add up to less than 1.")
OUTPUT_NOT_RESCALED = (
    "The running output is not rescaled when the max grows. o holds exp(score - m) * value for the old max m; "
    "when a block raises the max to m_new, multiply it by exp(m - m_new) before adding the new block: "
    "o = exp(m - m_new) * o + p @ v_block (the same factor as for l).")
NOTHING_RESCALED = (
    "Neither the running sum nor the running output is rescaled when the max grows: the earlier blocks were "
    "summed as exp(score - m) with an older, smaller m, so they count too much. When a block raises the max "
    "to m_new, multiply both by alpha = exp(m - m_new) before adding the block: l = alpha * l + p.sum(), "
    "o = alpha * o + p @ v_block.")
DIVIDED_EVERY_STEP = (
    "You divided by the running sum at every step (o = (...) / l inside the loop). The next block rescales o "
    "by exp(m - m_new) but adds terms that are not divided, and the earlier blocks are divided again by every "
    "later sum. Keep o as a plain sum of exp(score - m) * value and divide o / l once, after the last block.")
BLOCK_DIVIDED_EVERY_STEP = (
    "You divided each block's contribution by the running sum of its time ((p / l) @ v inside the loop). "
    "Later blocks make l bigger, but the earlier contributions keep their old, smaller divisor. Keep o as a "
    "plain sum of exp(score - m) * value and divide o / l once, after the last block.")
BLOCK_MAX_ONLY = (
    "Your max is the max of the current block only; it must be the max of everything seen so far: "
    "m_new = max(m, block.max()). When a block's max is lower than an earlier one, exp(m - m_new) has a "
    "large positive exponent: it overflows to inf and the result becomes NaN (see the cases with a large "
    "score early).")
NO_MAX_SUBTRACTED = (
    "exp of a large score overflows: exp(1000) is inf in float64, exp(100) in float32, and inf / inf is NaN; "
    "exp of a very negative one underflows: exp(-1000) is 0, and 0 / 0 is NaN. Subtract the running max before "
    "exponentiating, p = exp(block - m_new) with m_new = max(m, block.max()), so the largest exponent is 0 "
    "(and rescale l and o by exp(m - m_new) when the max grows).")
ALL_AT_ONCE = (
    "Your function works on all the scores at once, like the ordinary softmax(scores) @ values: that needs the "
    "whole row of n scores in memory, which is what tiled attention avoids. Read the scores and values "
    "block_size at a time (for start in range(0, len(scores), block_size): s = scores[start:start + block_size]) "
    "and keep only m, l and o between blocks.")
SHORT_LAST_BLOCK_SKIPPED = (
    "Your loop skips the last block when it is shorter than block_size (e.g. range(len(scores) // block_size) "
    "or range(0, len(scores) - block_size + 1, block_size)): those scores never count, and when every score "
    "fits in one short block nothing is read at all (0 / 0). Use range(0, len(scores), block_size); the slice "
    "scores[start:start + block_size] simply comes out shorter at the end.")
NEVER_DIVIDED = (
    "You returned the running output without dividing by the running sum: o is a sum of exp(score - m) * value, "
    "not yet an average. Return o / l after the loop, so the weights add up to 1.")

MISTAKES = [
    Mistake(SUM_NOT_RESCALED, _sum_not_rescaled),
    Mistake(OUTPUT_NOT_RESCALED, _output_not_rescaled),
    Mistake(NOTHING_RESCALED, _nothing_rescaled),
    Mistake(DIVIDED_EVERY_STEP, _divided_every_step),
    Mistake(BLOCK_DIVIDED_EVERY_STEP, _block_divided_every_step),
    Mistake(BLOCK_MAX_ONLY, _block_max_only),
    Mistake(NO_MAX_SUBTRACTED, _no_max_subtracted),
    Mistake(NEVER_DIVIDED, _never_divided),
    Mistake(ALL_AT_ONCE, _all_at_once),
    Mistake(SHORT_LAST_BLOCK_SKIPPED, _short_last_block_skipped),
]


# ---------------------------------------------------------------------------- cases

def cases():
    rng = np.random.default_rng(13)

    def values(n, d=2, dtype=np.float64):
        return rng.normal(size=(n, d)).astype(dtype)

    rising = np.sort(rng.normal(size=8)) * 2
    return [
        Case((np.array([1.0, 3.0, 0.5, 2.0, 4.0, -1.0]), values(6), 2), label="6 scores, blocks of 2"),
        Case((rng.normal(size=8) * 2, values(8), 4), label="8 scores, blocks of 4"),
        Case((rng.normal(size=10) * 2, values(10, 3), 3), label="10 scores, blocks of 3 (the last block is short)"),
        Case((rising, values(8), 2), label="scores that grow block by block"),
        Case((rng.normal(size=7) * 2, values(7), 1), label="one score at a time (block_size=1)"),
        Case((rng.normal(size=5), values(5), 8), label="one block holds every score"),
        Case((rng.normal(size=9) + 1000.0, values(9), 3), label="scores about 1000"),
        # a drop of more than 709 (float64) or 88 (float32) between two blocks' maxima, with every
        # score small enough that exp(score) itself does not overflow:
        Case((np.array([300.0, 1.0, 0.0, 2.0, -500.0, -490.0, -505.0, -501.0]), values(8), 4),
             label="a large score early, very low ones later"),
        Case((np.array([0.0, 400.0, 5.0, -3.0, -400.0, -420.0]), values(6), 2),
             label="a large score in block 1, much lower ones after"),
        Case((np.array([60.0, 3.0, -40.0, -35.0, 2.0, 4.0], dtype=np.float32), values(6, 2, np.float32), 2),
             label="float32, a large score early, low ones later"),
        Case((rng.normal(size=12).astype(np.float32) * 3, values(12, 4, np.float32), 5), label="float32, 12 scores"),
        Case((rng.normal(size=6).astype(np.float32) + 100, values(6, 2, np.float32), 4),
             label="float32, scores about 100"),
        Case((rng.normal(size=8) - 1000.0, values(8), 3), label="scores about -1000 (exp underflows to 0)"),
        # the same kind of data, handed over so that an operation on more than block_size keys is noticed:
        Case(_one_block_at_a_time(rng.normal(size=12) * 2, values(12, 3), 4),
             label="12 scores, blocks of 4, read one block at a time"),
        Case(_one_block_at_a_time(rng.normal(size=9) * 2, values(9), 2),
             label="9 scores, blocks of 2, read one block at a time"),
    ]


register(Exercise(
    lesson="13_cost_and_efficiency",
    name="online_softmax",
    reference=online_softmax,
    cases=cases,
    mistakes=MISTAKES,
    signature="online_softmax(scores, values, block_size) -> softmax(scores) @ values, shape (d_v,)",
))
