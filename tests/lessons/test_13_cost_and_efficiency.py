"""Lesson 13: the cost experiments measure what the lesson says, the CPU steps and the toy decoder give
the formula's numbers, the online-softmax trace and its widget are right, the KV-cache sizes follow
the formula. No test here depends on how fast the machine is."""
import math
import re
import types

import numpy as np
import pytest

import attention_course as ac
from attention_course.lessons import cost_and_efficiency as lesson

from .._threads import pool_thread_counts


# ---------------------------------------------------------------- 1. the cost

def test_loglog_slope_recovers_a_power_law():
    n = np.array([10, 20, 40, 80])
    assert lesson.loglog_slope(n, 3.0 * n**2) == pytest.approx(2.0)
    assert lesson.loglog_slope(n, 5.0 * n) == pytest.approx(1.0)


def test_attention_memory_grows_like_n_squared_and_the_rnn_like_n():
    cost = lesson.attention_cost(sizes=(256, 512, 1024), repeats=1)
    rnn = lesson.rnn_cost(sizes=(256, 512, 1024), repeats=1)
    assert cost.slopes()[1] == pytest.approx(2.0, abs=0.05)
    assert rnn.slopes()[1] == pytest.approx(1.0, abs=0.05)
    weights = 4 * cost.n**2                                       # one (n, n) float32 array
    ratio = cost.peak / weights
    assert np.all((ratio > 2.9) & (ratio < 3.2)), ratio           # the lesson: three (n, n) arrays at the peak
    assert np.all(cost.seconds > 0) and np.all(rnn.seconds > 0)


def test_peak_bytes_counts_what_a_call_allocates():
    def allocates(a):
        return np.ones((len(a), 1000))                            # 8 bytes * 1000 per row
    assert 8000 * 50 <= lesson.peak_bytes(allocates, np.zeros((50, 3))) < 8000 * 50 + 4096


def test_rnn_pass_is_sequential_and_causal():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 8))
    w_x, w_h = rng.standard_normal((2, 8, 8)) / 3
    h = lesson.rnn_pass(x, w_x, w_h)
    expected, prev = [], np.zeros(8)                              # the recurrence, written out
    for t in range(12):
        prev = np.tanh(x[t] @ w_x + prev @ w_h)
        expected.append(prev)
    np.testing.assert_allclose(h, expected, rtol=1e-12)
    changed = x.copy()
    changed[5] += 1.0
    h2 = lesson.rnn_pass(changed, w_x, w_h)
    np.testing.assert_array_equal(h2[:5], h[:5])                  # the past does not see the change
    assert np.all(np.abs(h2[5:] - h[5:]).max(axis=1) > 0)         # every later step does


class FakeClock:
    """A clock that moves only when a timed function says it took time: a test of which call
    counts must not depend on how busy the machine running it is."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def spend(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()                                            # the lesson's own `time`, not the real module
    monkeypatch.setattr(lesson, "time", types.SimpleNamespace(perf_counter=fake, process_time=fake))
    return fake


def test_best_seconds_keeps_the_fastest_call(clock):
    delays = iter([0.03, 0.02, 0.001, 0.02])                     # the warm-up call, then three timed ones
    assert lesson.best_seconds(lambda: clock.spend(next(delays)), repeats=3) == pytest.approx(0.001)
    assert next(delays, "used up") == "used up"                   # one warm-up + 3 timed calls, no more


def test_best_seconds_without_warm_up_times_the_first_call(clock):
    delays = iter([0.001, 0.03])
    assert lesson.best_seconds(lambda: clock.spend(next(delays)), repeats=2, warm_up=False) == pytest.approx(0.001)


def test_best_in_turns_times_every_function_and_keeps_each_ones_fastest(clock):
    calls = []
    costs = {1: iter([9.0, 0.5, 0.1, 0.3]), 2: iter([9.0, 0.2, 0.4, 0.25])}   # warm-up, then 3 rounds

    def one():
        calls.append(1)
        clock.spend(next(costs[1]))

    def two():
        calls.append(2)
        clock.spend(next(costs[2]))
    wall, cpu = lesson.best_in_turns([one, two], repeats=3, with_cpu=True)
    assert calls == [1, 2] * 4                                   # a warm-up round, then 3 rounds in turns
    np.testing.assert_allclose(wall, [0.1, 0.2])                 # each function's own fastest round
    np.testing.assert_allclose(cpu, [0.1, 0.2])                  # the CPU time of those same calls


def test_cost_counts_the_multiply_adds_the_lesson_states():
    cost = lesson.attention_cost(sizes=(64, 2048), repeats=1)
    rnn = lesson.rnn_cost(sizes=(64, 2048), repeats=1)
    assert cost.multiply_adds[-1] == 2 * 2048**2 * 64 == 536_870_912           # "about 537 million"
    assert rnn.multiply_adds[-1] == 2 * 2048 * 64**2 == 16_777_216             # "about 17 million"
    assert cost.multiply_adds[-1] / rnn.multiply_adds[-1] == 32
    np.testing.assert_allclose(cost.rate(), cost.multiply_adds / cost.seconds)


def test_time_split_names_the_three_lines_of_the_formula():
    split = lesson.time_split(n=128, heads=1, repeats=1)
    assert len(split.names) == 3 and split.seconds.shape == (3,) and np.all(split.seconds > 0)
    assert "softmax" in split.names[1]


def test_figures_have_their_titles():
    cost = lesson.attention_cost(sizes=(64, 128, 256), repeats=1)
    rnn = lesson.rnn_cost(sizes=(64, 128, 256), repeats=1)
    assert [ax.get_title() for ax in lesson.plot_cost(cost, rnn).axes] == ["Time (best of several calls)",
                                                                          "Memory (tracemalloc peak)"]
    titles = [ax.get_title() for ax in lesson.plot_intuition().axes]
    assert "n x n" in titles[0] and "RNN" in titles[1]


# ---------------------------------------------------------------- 2. the CPU steps

@pytest.mark.parametrize("n, heads", [(300, 2), (7, 3), (1000, 1)])
def test_every_cpu_step_gives_the_textbook_output_and_weights(n, heads):
    q, k, v = lesson.random_qkv(n, heads, d=16, seed=n)
    ref_out, ref_w = ac.scaled_dot_product_attention(q, k, v)
    for name, step in lesson.CPU_STEPS:
        out, w = step(q, k, v)
        assert out.dtype == w.dtype == np.float32, name
        np.testing.assert_allclose(w, ref_w, rtol=1e-5, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-6, err_msg=name)
    assert lesson.steps_agree()


def test_softmax_base2_is_the_softmax_of_base2_scores():
    s = np.random.default_rng(1).standard_normal((4, 6))
    np.testing.assert_allclose(lesson.softmax_base2(s * math.log2(math.e)), ac.softmax(s), rtol=1e-12)
    hidden = np.full((1, 3), -np.inf)
    assert np.all(lesson.softmax_base2(hidden) == 0)


def test_numpy_habits_times_each_habit_against_the_plain_way():
    habits = lesson.numpy_habits(rows=16, n_k=64, repeats=2)
    assert len(habits.names) == 3 and habits.plain.shape == habits.habit.shape == (3,)
    assert np.all(habits.plain > 0) and np.all(habits.habit > 0)
    assert "exp2" in habits.names[0] and "buffer" in habits.names[1] and "einsum" in habits.names[2]
    assert "gain" in habits.table()


def test_the_habits_compute_the_same_numbers_as_the_plain_way():
    from attention_course import efficient

    s = np.random.default_rng(3).uniform(-20, 0, (8, 40)).astype(np.float32)
    np.testing.assert_allclose(np.exp2(s * math.log2(math.e)), np.exp(s), rtol=1e-5)
    np.testing.assert_allclose(np.einsum("...k->...", s), s.sum(-1), rtol=1e-5)
    w = s * math.log2(math.e)
    np.testing.assert_allclose(efficient._softmax_base2_inplace(w.copy()), ac.softmax(s), rtol=1e-5, atol=1e-8)


def test_step_times_table_lists_every_step():
    times = lesson.StepTimes(64, 2, tuple(name for name, _ in lesson.CPU_STEPS), np.linspace(6e-3, 1e-3, 6))
    table = times.table()
    assert all(name in table for name, _ in lesson.CPU_STEPS) and "6.00x" in table and "cores" not in table
    times.cpu = 2 * times.seconds                                 # two cores busy all the time
    assert "cores busy" in times.table() and "2.0" in times.table().splitlines()[-1]


def test_time_cpu_steps_measures_wall_and_cpu_time_of_every_step():
    times = lesson.time_cpu_steps(n=64, heads=1, repeats=1)
    assert times.seconds.shape == times.cpu.shape == (6,) and np.all(times.seconds > 0) and np.all(times.cpu >= 0)


# ---------------------------------------------------------------- 3. the online softmax

def test_the_trace_follows_its_definitions_and_ends_at_the_exact_output():
    scores, values = lesson.one_query_example()
    trace = lesson.online_softmax_trace(scores, values, block_size=4)
    assert trace.n_blocks == 4
    for b in range(4):
        seen = scores[:4 * (b + 1)]
        assert trace.m[b] == seen.max()
        np.testing.assert_allclose(trace.l[b], np.exp(seen - trace.m[b]).sum(), rtol=1e-12)
        np.testing.assert_allclose(trace.o[b], np.exp(seen - trace.m[b]) @ values[:len(seen)], rtol=1e-12)
    assert np.all(trace.alpha <= 1) and np.all(np.diff(trace.m) >= 0)
    assert trace.alpha[0] == 0.0                                  # the math: exp(m_0 - m_1) with m_0 = -inf
    for b in range(1, 4):
        assert trace.alpha[b] == pytest.approx(math.exp(trace.m[b - 1] - trace.m[b]))
    np.testing.assert_allclose(trace.running_output(3), trace.exact, rtol=1e-12)
    w = np.exp(scores - scores.max())
    np.testing.assert_allclose(trace.exact, (w / w.sum()) @ values, rtol=1e-12)


def test_the_example_raises_the_max_in_blocks_2_and_3_only_as_the_lesson_says():
    trace = lesson.online_softmax_trace(*lesson.one_query_example(), block_size=4)
    raised = [b + 1 for b in range(1, 4) if trace.m[b] > trace.m[b - 1]]
    assert raised == [2, 3]
    assert "multiplied by" in trace.summary(1) and "nothing to rescale" in trace.summary(3)


def test_the_trace_handles_a_short_last_block_and_rejects_bad_shapes():
    rng = np.random.default_rng(2)
    scores, values = rng.standard_normal(10) * 3, rng.standard_normal((10, 3))
    trace = lesson.online_softmax_trace(scores, values, block_size=4)
    assert trace.n_blocks == 3
    np.testing.assert_allclose(trace.running_output(2), ac.exercises.get("online_softmax").reference(
        scores, values, 4), rtol=1e-12)
    with pytest.raises(ValueError, match="online_softmax_trace"):
        lesson.online_softmax_trace(scores, values[:5], block_size=4)
    with pytest.raises(ValueError, match="block_size"):
        lesson.online_softmax_trace(scores, values, block_size=0)


def test_online_softmax_explorer_default_view_and_extremes():
    trace = lesson.online_softmax_trace(*lesson.one_query_example(), block_size=4)
    explorer = lesson.online_softmax_explorer(trace, block=2)
    assert explorer.text.startswith("after block 2 of 4") and "0.449" in explorer.text
    assert explorer.png.startswith(b"\x89PNG")
    ends = explorer.check_extremes()
    assert [r["values"]["block"] for r in ends] == [1, 4]
    assert "alpha = 0 multiplies l = 0" in ends[0]["text"]
    final = re.search(r"o / l = \[(.*?)\]", ends[-1]["text"]).group(1)
    exact = re.search(r"exact output .*? = \[(.*?)\]", ends[-1]["text"]).group(1)
    assert final == exact                                          # the last block lands on the exact output


def test_the_explorer_shows_the_terms_of_the_running_sum_shrinking_by_alpha():
    trace = lesson.online_softmax_trace(*lesson.one_query_example(), block_size=4)
    explorer = lesson.online_softmax_explorer(trace, block=2)
    _, _, terms, before, l_text, *_ = explorer.state
    heights = np.array([p.get_height() for p in terms])
    outlines = np.array([p.get_height() for p in before])
    assert heights.sum() == pytest.approx(trace.l[1])             # the bars add up to l
    np.testing.assert_allclose(heights[:4], trace.alpha[1] * outlines[:4])   # old bars = alpha x outline
    assert np.all(heights[8:] == 0) and np.all(outlines[4:] == 0)
    assert "l = sum of the bars = 2.756" in l_text.get_text() and "0.449" in l_text.get_text()
    explorer.set(block=4)                                         # block 4 raises nothing
    assert "no new max" in l_text.get_text()
    outlines = np.array([p.get_height() for p in before])
    np.testing.assert_allclose([p.get_height() for p in terms][:12], outlines[:12])


def test_causal_fraction_counts_the_scores_on_or_below_the_diagonal_tiles():
    assert lesson.causal_fraction(2048) == 36 / 64                # 8 blocks of 256: 1 + 2 + ... + 8 of 8 x 8
    for n, b in ((1000, 256), (7, 3), (5, 8)):
        per_row = [min(n, (r // b + 1) * b) for r in range(n)]    # keys up to the end of the row's block
        assert lesson.causal_fraction(n, tile_rows=b) == pytest.approx(sum(per_row) / n**2)
    assert lesson.causal_fraction(1, tile_rows=4) == 1.0


def test_tiled_peak_memory_grows_like_n_and_is_far_below_the_naive_one():
    table = lesson.memory_table(sizes=(512, 1024, 2048), heads=1)
    assert lesson.loglog_slope(table.n, table.naive) == pytest.approx(2.0, abs=0.05)
    assert lesson.loglog_slope(table.n, table.tiled) < 1.2
    assert table.naive[-1] > 16 * table.tiled[-1]
    assert "naive / tiled" in table.table()


# ---------------------------------------------------------------- 4. the KV cache

@pytest.mark.parametrize("heads, kv_heads", [(4, 4), (8, 2), (8, 1)])
def test_decoding_with_the_cache_equals_full_causal_attention_and_recomputing(heads, kv_heads):
    layer = lesson.toy_layer(d_model=32, heads=heads, kv_heads=kv_heads, seed=3)
    x = np.random.default_rng(4).standard_normal((20, 32))
    with_cache, cache = lesson.decode_with_cache(layer, x)
    full = lesson.full_causal(layer, x)
    assert with_cache.shape == full.shape == (20, heads, 32 // heads)
    np.testing.assert_allclose(with_cache, full, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(lesson.decode_recompute(layer, x), full, rtol=1e-12, atol=1e-14)
    assert len(cache) == 20 and cache.keys.shape == (kv_heads, 20, 32 // heads)
    assert cache.nbytes == lesson.kv_cache_bytes(1, kv_heads, 32 // heads, 20, bytes_per_value=8)


def test_grouped_query_attention_shares_key_value_heads():
    rng = np.random.default_rng(5)
    q = rng.standard_normal((6, 5, 4))
    k, v = rng.standard_normal((2, 2, 7, 4))                      # two key/value heads
    shared = lesson.grouped_query_attention(q, k, v)
    for h in range(6):                                            # query head h reads key/value head h // 3
        expected, _ = ac.scaled_dot_product_attention(q[h], k[h // 3], v[h // 3])
        np.testing.assert_allclose(shared[h], expected, rtol=1e-12)
    same, _ = ac.scaled_dot_product_attention(q[:2], k, v)
    np.testing.assert_allclose(lesson.grouped_query_attention(q[:2], k, v), same, rtol=1e-12)  # kv = heads
    with pytest.raises(ValueError, match="must divide"):
        lesson.grouped_query_attention(q[:5], k, v)


def test_grouped_query_attention_equals_torch_enable_gqa():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    q = rng.standard_normal((8, 5, 4))
    k, v = rng.standard_normal((2, 2, 9, 4))
    mask = rng.random((5, 9)) < 0.7
    mask[:, 0] = True
    expected = torch.nn.functional.scaled_dot_product_attention(
        torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v), attn_mask=torch.from_numpy(mask),
        enable_gqa=True)
    np.testing.assert_allclose(lesson.grouped_query_attention(q, k, v, mask=mask), expected.numpy(), rtol=1e-12)


def test_toy_layer_rejects_heads_that_do_not_divide():
    with pytest.raises(ValueError, match="kv_heads must divide heads"):
        lesson.toy_layer(d_model=64, heads=8, kv_heads=3)
    with pytest.raises(ValueError, match="heads must divide d_model"):
        lesson.toy_layer(d_model=60, heads=8)


def test_kv_cache_bytes_is_the_formula():
    assert lesson.kv_cache_bytes(32, 8, 128, 4096, 2) == 512 * 2**20            # the quiz's Mistral-shaped answer
    assert lesson.kv_cache_bytes(1, 1, 1, 1, 1) == 2
    with pytest.raises(ValueError, match="kv_cache_bytes"):
        lesson.kv_cache_bytes(0, 8, 128, 4096)


def test_published_shapes_agree_with_the_widths_their_sources_give():
    for m in lesson.PUBLISHED:
        assert m.heads % m.kv_heads == 0, m.name
        width = re.search(r"\b(?:dim|n_embd|hidden) (\d+)", m.source)
        assert width and m.heads * m.d_head == int(width.group(1)), m.name


def test_kv_table_fills_each_models_context_and_shows_gqa_shrinking_the_cache():
    table = lesson.kv_table()
    rows = {line.split("  ")[0].strip(): line for line in table.splitlines()[1:]}
    assert rows["GPT-2 small"].split()[-4:] == ["36", "MiB", "36", "MiB"]   # 1024 positions, no GQA
    assert "1.25 GiB" in rows["Llama 2 70B"] and rows["Llama 2 70B"].rstrip().endswith("10 GiB")
    assert "512 MiB" in rows["Mistral 7B"] and "8192*" in rows["Mistral 7B"]   # the window caps it at 4096
    assert "2 GiB" in rows["Llama 2 7B"] and "16 MiB" in rows["Falcon 7B"]     # Falcon: 2048 positions
    for m in lesson.PUBLISHED:                                    # nothing computed beyond a model's context
        assert m.cached_positions <= m.context and str(m.context) in m.source, m.name
    mistral = next(m for m in lesson.PUBLISHED if m.name == "Mistral 7B")
    assert mistral.cached_positions == 4096 and "window_size 4096" in mistral.source


def test_decode_times_table_structure():
    times = lesson.time_decoding(sizes=(8, 16), repeats=1)
    assert times.with_cache.shape == times.recompute.shape == (2,)
    assert "speed-up" in times.table()


def test_the_memory_table_measures_on_one_thread_and_gives_the_callers_back(monkeypatch):
    from threadpoolctl import threadpool_limits

    seen, peak_bytes = [], lesson.peak_bytes

    def recording_peak_bytes(*args):
        seen.append(pool_thread_counts())
        return peak_bytes(*args)
    monkeypatch.setattr(lesson, "peak_bytes", recording_peak_bytes)
    with threadpool_limits(limits=2):
        lesson.memory_table(sizes=(64,))
        assert pool_thread_counts() == {2}
    assert seen == [{1}, {1}]
