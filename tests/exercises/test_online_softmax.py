"""Exercise online_softmax (lesson 13): learner-style code, right and wrong. Each catalogued mistake,
written independently of the exercise's own buggy functions, gets its own hint and no other's."""
from __future__ import annotations

import math

import numpy as np

from attention_course import exercises as ex

from ._helpers import assert_names, assert_names_nothing, hints_of, named

NAME = "online_softmax"


# ---------------------------------------------------------------- right answers, written differently

def one_element_at_a_time(scores, values, block_size):
    """Correct: Python floats, the update done per score inside each block."""
    best, total = -math.inf, 0.0
    acc = np.zeros(values.shape[1])
    for b in range(0, len(scores), block_size):
        for j in range(b, min(b + block_size, len(scores))):
            new_best = max(best, float(scores[j]))
            shrink = math.exp(best - new_best)
            w = math.exp(float(scores[j]) - new_best)
            total = total * shrink + w
            acc = acc * shrink + w * values[j]
            best = new_best
    return acc / total


def normalised_as_it_goes(scores, values, block_size):
    """Correct: keeps o already divided by l (FlashAttention-1 style), so it divides at every step
    the right way: the old average is re-weighted by its share of the new total."""
    m, l, avg = -np.inf, 0.0, np.zeros(values.shape[-1])
    for i in range(0, len(scores), block_size):
        s, v = scores[i:i + block_size], values[i:i + block_size]
        m_new = max(m, np.max(s))
        p = np.exp(s - m_new)
        l_new = np.exp(m - m_new) * l + p.sum()
        avg = avg * (np.exp(m - m_new) * l / l_new) + (p @ v) / l_new
        m, l = m_new, l_new
    return avg


def blocks_with_helpers(scores, values, block_size):
    """Correct: np.array_split into blocks, np.zeros_like on a row, np.dot for the block's values."""
    n_blocks = -(-len(scores) // block_size)
    m, l, o = -np.inf, 0.0, np.zeros_like(values[0], dtype=float)
    for s, v in zip(np.array_split(scores, np.arange(block_size, len(scores), block_size)),
                    np.array_split(values, np.arange(block_size, len(values), block_size))):
        m_new = np.maximum(m, np.max(s))
        p = np.exp(s - m_new)
        l = l * np.exp(m - m_new) + np.sum(p)
        o = o * np.exp(m - m_new) + np.dot(p, v)
        m = m_new
    assert n_blocks >= 1
    return o / l


def converted_first(scores, values, block_size):
    """Correct: converts its inputs to plain float64 arrays first."""
    scores, values = np.asarray(scores, dtype=np.float64), np.array(values, dtype=np.float64)
    return normalised_as_it_goes(scores, values, block_size)


def test_correct_learners_pass():
    for fn in (one_element_at_a_time, normalised_as_it_goes, blocks_with_helpers, converted_first):
        report = ex.check(NAME, fn)
        assert report.passed, report


# ---------------------------------------------------------------- each mistake, learner-style

def test_running_sum_not_rescaled():
    def online_softmax(scores, values, block_size):
        top, denom, numer = float("-inf"), 0.0, 0.0
        for i in range(0, scores.shape[0], block_size):
            block = scores[i:i + block_size]
            new_top = np.maximum(top, block.max())
            e = np.exp(block - new_top)
            numer = numer * np.exp(top - new_top) + e @ values[i:i + block_size]
            denom += e.sum()                                     # forgot the factor here
            top = new_top
        return numer / denom
    assert_names(NAME, online_softmax, "running sum is not rescaled")


def test_running_output_not_rescaled():
    def online_softmax(scores, values, block_size):
        m, l, o = -np.inf, 0.0, 0
        n_blocks = math.ceil(len(scores) / block_size)
        for b in range(n_blocks):
            s = scores[b * block_size:(b + 1) * block_size]
            v = values[b * block_size:(b + 1) * block_size]
            m2 = max(m, s.max())
            l = l * np.exp(m - m2) + np.exp(s - m2).sum()
            o = o + np.exp(s - m2) @ v                          # forgot the factor here
            m = m2
        return o / l
    assert_names(NAME, online_softmax, "running output is not rescaled")


def test_nothing_rescaled():
    def online_softmax(scores, values, block_size):
        big = -np.inf
        total = 0.0
        out = np.zeros(values.shape[1])
        for start in range(0, len(scores), block_size):
            chunk = scores[start:start + block_size]
            big = max(big, chunk.max())
            weights = np.exp(chunk - big)
            total += weights.sum()
            out += weights @ values[start:start + block_size]
        return out / total
    assert_names(NAME, online_softmax, "Neither the running sum nor the running output")


def test_divided_at_every_step():
    def online_softmax(scores, values, block_size):
        m, l = -np.inf, 0.0
        out = np.zeros(values.shape[-1])
        for start in range(0, len(scores), block_size):
            s = scores[start:start + block_size]
            new_m = np.max([m, *s])
            factor = np.exp(m - new_m)
            e = np.exp(s - new_m)
            l = factor * l + np.sum(e)
            out = factor * out + e @ values[start:start + block_size]
            out = out / l                                        # normalised inside the loop
            m = new_m
        return out
    assert_names(NAME, online_softmax, "divided by the running sum at every step")


def test_each_block_divided_by_the_sum_of_its_time():
    def online_softmax(scores, values, block_size):
        m, l = -np.inf, 0.0
        out = np.zeros(values.shape[-1])
        for start in range(0, len(scores), block_size):
            s = scores[start:start + block_size]
            new_m = max(m, s.max())
            l = np.exp(m - new_m) * l + np.exp(s - new_m).sum()
            weights = np.exp(s - new_m) / l                      # "weights" of this block
            out = np.exp(m - new_m) * out + weights @ values[start:start + block_size]
            m = new_m
        return out
    assert_names(NAME, online_softmax, "each block's contribution")


def test_max_of_one_block_only():
    def online_softmax(scores, values, block_size):
        prev, l, o = None, 0.0, np.zeros(values.shape[-1])
        for start in range(0, len(scores), block_size):
            s = scores[start:start + block_size]
            cur = s.max()                                        # the block's own max
            scale = 0.0 if prev is None else np.exp(prev - cur)
            l = scale * l + np.exp(s - cur).sum()
            o = scale * o + np.exp(s - cur) @ values[start:start + block_size]
            prev = cur
        return o / l
    report = assert_names(NAME, online_softmax, "max of the current block only")
    assert set(report.failed_cases) == {"a large score early, very low ones later",
                                        "a large score in block 1, much lower ones after",
                                        "float32, a large score early, low ones later"}


def test_never_divided():
    def online_softmax(scores, values, block_size):
        running_max, running_sum, running_out = -np.inf, 0.0, np.zeros(values.shape[-1])
        for start in range(0, len(scores), block_size):
            s = scores[start:start + block_size]
            new_max = max(running_max, s.max())
            c = np.exp(running_max - new_max)
            running_sum = c * running_sum + np.exp(s - new_max).sum()
            running_out = c * running_out + np.exp(s - new_max) @ values[start:start + block_size]
            running_max = new_max
        return running_out                                       # forgot / running_sum
    assert_names(NAME, online_softmax, "without dividing by the running sum")


def test_no_max_subtracted():
    def online_softmax(scores, values, block_size):
        e = np.exp(scores)                                       # not online either, and it overflows
        return (e / e.sum()) @ values
    report = assert_names(NAME, online_softmax, "exp of a large score overflows", "works on all the scores at once")
    assert set(report.failed_cases) == {"scores about 1000", "float32, scores about 100",
                                        "scores about -1000 (exp underflows to 0)",
                                        "12 scores, blocks of 4, read one block at a time",
                                        "9 scores, blocks of 2, read one block at a time"}


def test_no_max_subtracted_but_online():
    def online_softmax(scores, values, block_size):
        l, o = 0.0, np.zeros(values.shape[1])
        for i in range(0, len(scores), block_size):
            e = np.exp(scores[i:i + block_size])                 # no shift at all
            l += e.sum()
            o += e @ values[i:i + block_size]
        return o / l
    assert_names(NAME, online_softmax, "exp of a large score overflows")


def test_the_ordinary_softmax_is_not_an_online_softmax():
    def online_softmax(scores, values, block_size):              # right numbers, block_size ignored
        weights = np.exp(scores - np.max(scores))
        weights = weights / np.sum(weights)
        return weights @ values
    report = assert_names(NAME, online_softmax, "works on all the scores at once")
    assert set(report.failed_cases) == {"12 scores, blocks of 4, read one block at a time",
                                        "9 scores, blocks of 2, read one block at a time"}
    assert any("line 2 of online_softmax" in h and "block_size = 4" in h for h in report.hints), report


def test_the_ordinary_softmax_through_the_values_first_is_also_noticed():
    def online_softmax(scores, values, block_size):
        top = max(float(x) for x in scores)                      # a Python loop: fine so far
        e = np.exp(np.asarray([float(x) - top for x in scores]))
        return values.T @ e / e.sum()                            # all n values in one product
    assert_names(NAME, online_softmax, "works on all the scores at once")


def test_the_short_last_block_skipped():
    def online_softmax(scores, values, block_size):
        m, l, o = -np.inf, 0.0, np.zeros(values.shape[1])
        for start in range(0, len(scores) - block_size + 1, block_size):   # off by one block
            s, v = scores[start:start + block_size], values[start:start + block_size]
            m_new = max(m, s.max())
            l = np.exp(m - m_new) * l + np.exp(s - m_new).sum()
            o = np.exp(m - m_new) * o + np.exp(s - m_new) @ v
            m = m_new
        return o / l
    report = assert_names(NAME, online_softmax, "skips the last block when it is shorter")
    assert "one block holds every score" in report.failed_cases


def test_a_running_max_started_at_zero_is_caught_by_very_negative_scores():
    def online_softmax(scores, values, block_size):
        m, l, o = 0.0, 0.0, np.zeros(values.shape[1])             # the math says -inf
        for start in range(0, len(scores), block_size):
            s, v = scores[start:start + block_size], values[start:start + block_size]
            m_new = max(m, s.max())
            l = np.exp(m - m_new) * l + np.exp(s - m_new).sum()
            o = np.exp(m - m_new) * o + np.exp(s - m_new) @ v
            m = m_new
        return o / l
    report = assert_names_nothing(NAME, online_softmax)
    assert report.failed_cases == ["scores about -1000 (exp underflows to 0)"]
    assert any("NaN" in h and "-1000" in h for h in report.hints), report


# ---------------------------------------------------------------- what is not a catalogued mistake

def test_a_max_subtracted_once_per_block_without_rescaling_is_not_called_overflow():
    def online_softmax(scores, values, block_size):            # each block on its own scale, just added
        l, o = 0.0, 0.0
        for i in range(0, len(scores), block_size):
            e = np.exp(scores[i:i + block_size] - scores[i:i + block_size].max())
            l, o = l + e.sum(), o + e @ values[i:i + block_size]
        return o / l
    report = hints_of(NAME, online_softmax)
    assert not report.passed
    assert not any("overflows" in h for h in named(NAME, report)), report


def test_an_unrelated_error_gets_only_the_exception_hint():
    def online_softmax(scores, values, block_size):
        m = scores.maxx()                                        # a typo
        return m
    report = hints_of(NAME, online_softmax)
    assert not report.passed and named(NAME, report) == []
    assert any("AttributeError" in h and "line 2" in h for h in report.hints), report


def test_the_stub_is_not_done_yet():
    def online_softmax(scores, values, block_size):
        raise NotImplementedError
    report = hints_of(NAME, online_softmax)
    assert report.status == "not done" and "solution('online_softmax')" in report.hints[0]


def test_the_exercise_belongs_to_lesson_13_and_its_solution_is_the_reference():
    exercise = ex.get(NAME)
    assert exercise.lesson == "13_cost_and_efficiency"
    source = ex.solution(NAME).source
    assert source.startswith("def online_softmax(scores, values, block_size):") and "o / l" in source
