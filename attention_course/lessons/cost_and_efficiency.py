"""Lesson 13: what attention costs, and how to pay less — the experiments.

1. The cost measured: time and peak memory of ``scaled_dot_product_attention`` against n,
   next to an RNN-style pass of n dependent steps; where the time goes.
2. What a CPU wants: ``efficient_attention`` built up one step at a time, each step timed.
3. Tiled attention: the online softmax traced for one query (the widget), peak memory of the
   naive and the tiled version.
4. The KV cache: a toy decoder run with and without it; the cache's size by formula, for the
   toy and for published models; grouped-query attention (heads sharing keys and values).

Timings depend on the machine; the lesson prints them in cells nbval does not compare. Peak
memory (tracemalloc) and every equality are deterministic.
"""
from __future__ import annotations

import inspect
import math
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np

from .._backend import check_positive_ints
from ..attention import masked_softmax, scaled_dot_product_attention
from ..efficient import (LOG2_E, KVCache, _rows_per_block, _softmax_base2_inplace, efficient_attention,
                         empty_weights, readable_tiled_attention)
from ..experiments import one_thread
from ..masks import causal_mask
from ..softmax import softmax

SIZES = (128, 256, 512, 1024, 2048)


# ================================================================ helpers: inputs, clocks, memory

def random_qkv(n: int, heads: int = 1, d: int = 64, seed: int = 0, dtype=np.float32):
    """q, k, v of shape (heads, n, d), entries N(0, 1), seeded."""
    check_positive_ints("random_qkv", n=n, heads=heads, d=d)
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal((heads, n, d)).astype(dtype) for _ in range(3))


def one_blas_thread():
    """A context in which numpy's BLAS uses one thread (a fair clock for one core)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def best_seconds(fn, *args, repeats: int = 3, warm_up: bool = True) -> float:
    """The fastest of ``repeats`` wall-clock timings of ``fn(*args)`` (after one warm-up call).

    Other programs on the machine can only slow a call down, never speed it up, so the fastest
    run is the closest to what the code itself costs. It still varies from run to run."""
    check_positive_ints("best_seconds", repeats=repeats)
    if warm_up:
        fn(*args)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return float(min(times))


def best_in_turns(fns, repeats: int = 5, with_cpu: bool = False):
    """The fastest of ``repeats`` timings of each function in ``fns`` (no arguments), taken in turns:
    one call of each per round, so a moment of load on the machine hits them all alike.

    Returns the wall-clock seconds (len(fns),); with ``with_cpu=True`` also the CPU seconds of
    those fastest calls (all threads of this process: CPU / wall = cores kept busy)."""
    check_positive_ints("best_in_turns", repeats=repeats)
    for fn in fns:                                   # warm up
        fn()
    wall, cpu = np.full(len(fns), np.inf), np.zeros(len(fns))
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            t, c = time.perf_counter() - t0, time.process_time() - c0
            if t < wall[i]:
                wall[i], cpu[i] = t, c
    return (wall, cpu) if with_cpu else wall


def peak_bytes(fn, *args) -> int:
    """Peak bytes numpy allocates while ``fn(*args)`` runs (tracemalloc; the inputs excluded).

    Deterministic: it counts allocations, not time. A small call first warms up imports and
    caches outside the trace."""
    small = tuple(a[..., :2, :] if isinstance(a, np.ndarray) and a.ndim >= 2 else a for a in args)
    fn(*small)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = fn(*args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return int(peak - before)


def loglog_slope(x, y) -> float:
    """Slope of the least-squares line through (log x, log y): y ~ x^slope."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def mib(nbytes) -> str:
    return f"{nbytes / 2**20:.1f} MiB"


def source(fn) -> str:
    """The source code of ``fn`` (to print in the lesson)."""
    return inspect.getsource(fn).rstrip("\n")


# ================================================================ 1. the cost, measured

def plot_intuition(sizes=(4, 8)):
    """Left: the n x n scores of attention for two n (every token against every token, all at once).
    Right: an RNN's chain of n steps, each waiting for the one before."""
    from matplotlib.patches import FancyArrowPatch, Rectangle

    from .. import viz

    fig, (ax_a, ax_r) = viz.new_figure(2, width=9.6, height=3.4)
    x0 = 0.0
    for n in sizes:
        for i in range(n):
            for j in range(n):
                ax_a.add_patch(Rectangle((x0 + j, n - 1 - i), 0.9, 0.9, color="#3b75af", alpha=0.75))
        ax_a.text(x0 + n / 2, -0.9, f"n = {n}: {n * n} scores", ha="center", va="top")
        x0 += n + 2
    ax_a.set_xlim(-0.5, x0 - 1.5)
    ax_a.set_ylim(-2.2, max(sizes) + 0.3)
    ax_a.set_aspect("equal")
    ax_a.set_axis_off()
    ax_a.set_title("Attention: every pair at once (n x n)")
    n = max(sizes)
    for t in range(n):
        ax_r.add_patch(Rectangle((1.6 * t, 0), 1.0, 1.0, color="#c62828", alpha=0.75))
        ax_r.text(1.6 * t + 0.5, 0.5, f"h{t + 1}", ha="center", va="center", color="white", fontsize=8)
        if t:
            ax_r.add_patch(FancyArrowPatch((1.6 * t - 0.55, 0.5), (1.6 * t - 0.05, 0.5), arrowstyle="->",
                                           mutation_scale=10, color="0.3"))
    ax_r.text(1.6 * n / 2 - 0.3, -0.6, f"n = {n}: {n} steps, each waits for the last", ha="center", va="top")
    ax_r.set_xlim(-0.4, 1.6 * n)
    ax_r.set_ylim(-2.2, 3.0)
    ax_r.set_aspect("equal")
    ax_r.set_axis_off()
    ax_r.set_title("RNN: one step after another (n)")
    return fig


@dataclass
class Cost:
    """Measurements against the sequence length: n (m,), seconds (m,), peak (m,) bytes."""
    name: str
    n: np.ndarray
    seconds: np.ndarray
    peak: np.ndarray

    multiply_adds: np.ndarray | None = None      # (m,) the arithmetic one call does

    def slopes(self, last: int = 3) -> tuple[float, float]:
        """log-log slopes (time, memory) over the ``last`` sizes (small n are dominated by overheads)."""
        return loglog_slope(self.n[-last:], self.seconds[-last:]), loglog_slope(self.n[-last:], self.peak[-last:])

    def rate(self) -> np.ndarray:
        """Multiply-adds per second at each n (work / time)."""
        return self.multiply_adds / self.seconds


def attention_cost(sizes=SIZES, heads: int = 1, d: int = 64, repeats: int = 5) -> Cost:
    """Time (one BLAS thread, best of ``repeats``) and peak memory of ``scaled_dot_product_attention`` for each n."""
    seconds, peaks = [], []
    for n in sizes:
        q, k, v = random_qkv(n, heads, d)
        with one_blas_thread():
            seconds.append(best_seconds(scaled_dot_product_attention, q, k, v, repeats=repeats))
        peaks.append(peak_bytes(scaled_dot_product_attention, q, k, v))
    n = np.array(sizes)
    return Cost("attention", n, np.array(seconds), np.array(peaks), 2 * heads * n**2 * d)   # q k^T and w v


def rnn_pass(x, w_x, w_h):
    """An RNN-style pass: h_t = tanh(x_t w_x + h_{t-1} w_h), one step per token.

    x (n, d), w_x (d, d), w_h (d, d) -> the hidden states (n, d). Step t needs h_{t-1}:
    the n steps must run one after the other, however many cores there are.
    """
    h = np.zeros(w_h.shape[1], dtype=x.dtype)
    states = np.empty((len(x), w_h.shape[1]), dtype=x.dtype)
    for t in range(len(x)):                      # n dependent steps
        h = np.tanh(x[t] @ w_x + h @ w_h)        # (d,): waits for the previous h
        states[t] = h
    return states


def rnn_cost(sizes=SIZES, d: int = 64, repeats: int = 5) -> Cost:
    """Time and peak memory of ``rnn_pass`` for each n (same d as the attention)."""
    rng = np.random.default_rng(1)
    w_x, w_h = (rng.standard_normal((d, d)).astype(np.float32) / math.sqrt(d) for _ in range(2))
    seconds, peaks = [], []
    for n in sizes:
        x = rng.standard_normal((n, d)).astype(np.float32)
        with one_blas_thread():
            seconds.append(best_seconds(rnn_pass, x, w_x, w_h, repeats=repeats))
        peaks.append(peak_bytes(lambda x: rnn_pass(x, w_x, w_h), x))
    n = np.array(sizes)
    return Cost("RNN-style pass", n, np.array(seconds), np.array(peaks), 2 * n * d * d)      # x_t W_x and h W_h


def plot_cost(attention: Cost, rnn: Cost):
    """Two log-log panels: time and peak memory against n, attention and the RNN pass."""
    from .. import viz

    fig, (ax_t, ax_m) = viz.new_figure(2, width=9.6, height=3.8)
    for cost, colour in ((attention, "#3b75af"), (rnn, "#c62828")):
        s_t, s_m = cost.slopes()
        ax_t.loglog(cost.n, cost.seconds * 1e3, "o-", color=colour, label=f"{cost.name} (slope {s_t:.1f})")
        ax_m.loglog(cost.n, cost.peak / 2**20, "o-", color=colour, label=f"{cost.name} (slope {s_m:.2f})")
    for ax, what in ((ax_t, "time per call (ms)"), (ax_m, "peak memory (MiB)")):
        ax.set_xlabel("sequence length n")
        ax.set_ylabel(what)
        ax.set_xticks(attention.n, [str(n) for n in attention.n])
        ax.minorticks_off()
        ax.legend(loc="upper left", fontsize=8, title="slopes over the last 3 sizes", title_fontsize=8)
    ax_t.set_title("Time (best of several calls)")
    ax_m.set_title("Memory (tracemalloc peak)")
    return fig


@dataclass
class TimeSplit:
    """Seconds spent in each step of the formula: names (3,), seconds (3,)."""
    n: int
    names: tuple
    seconds: np.ndarray


def time_split(n: int = 1024, heads: int = 2, d: int = 64, repeats: int = 5) -> TimeSplit:
    """Where ``scaled_dot_product_attention``'s time goes: the two products and the softmax (one BLAS thread)."""
    q, k, v = random_qkv(n, heads, d)
    scale = 1 / math.sqrt(d)
    scores = q @ k.swapaxes(-2, -1) * scale
    weights = masked_softmax(scores)
    steps = (("scores = q @ k^T * scale", lambda: q @ k.swapaxes(-2, -1) * scale),
             ("weights = softmax(scores)", lambda: masked_softmax(scores)),
             ("output = weights @ v", lambda: weights @ v))
    with one_blas_thread():
        seconds = best_in_turns([f for _, f in steps], repeats=repeats)
    return TimeSplit(n, tuple(name for name, _ in steps), seconds)


def plot_split(split: TimeSplit):
    from .. import viz

    ms = split.seconds * 1e3
    chart = viz.bars(ms, ["q @ k^T", "softmax", "weights @ v"], title=f"Where the time goes (n = {split.n})",
                     ylabel="ms per call", fmt="{:.1f}")
    return chart.fig


# ================================================================ 2. what a CPU wants, step by step

def step_textbook(q, k, v):
    """Step 0: the formula as written (``scaled_dot_product_attention``)."""
    return scaled_dot_product_attention(q, k, v)


def step_scale_q(q, k, v):
    """Step 1: scale the n x d queries, not the n x n scores (the softmax is the textbook's)."""
    scores = (q * (1 / math.sqrt(q.shape[-1]))) @ k.swapaxes(-2, -1)   # n*d multiplications, not n*n
    weights = masked_softmax(scores)
    return weights @ v, weights


def softmax_base2(s):
    """The textbook's softmax with 2^x instead of e^x: for base-2 scores s = scores * log2(e)."""
    m = s.max(axis=-1, keepdims=True)
    m = np.where(m == -np.inf, 0.0, m)                  # a row with every key hidden has no max
    e = np.exp2(s - m)
    total = e.sum(axis=-1, keepdims=True)
    return e / np.where(total == 0, 1.0, total)


def step_base_2(q, k, v):
    """Step 2: e^s = 2^(s log2 e): fold log2 e into the scale of q and use exp2."""
    scores = (q * (LOG2_E / math.sqrt(q.shape[-1]))) @ k.swapaxes(-2, -1)   # base-2 scores
    weights = softmax_base2(scores)
    return weights @ v, weights


def step_in_place(q, k, v):
    """Step 3: one (n, n) array; every pass of the softmax overwrites it (no n x n temporaries)."""
    w = (q * (LOG2_E / math.sqrt(q.shape[-1]))) @ k.swapaxes(-2, -1)      # the only n x n allocation
    _softmax_base2_inplace(w)
    return w @ v, w


def step_blocks(q, k, v):
    """Step 4: a block of rows at a time: its scores, softmax and output while it is in the cache."""
    w = empty_weights((*q.shape[:-1], k.shape[-2]), q.dtype)              # (heads, n_q, n_k)
    out = np.empty((*q.shape[:-1], v.shape[-1]), dtype=q.dtype)           # (heads, n_q, d_v)
    factor, rows = LOG2_E / math.sqrt(q.shape[-1]), _rows_per_block(k.shape[-2])
    for h in range(q.shape[0]):                                           # every head ...
        for i in range(0, q.shape[1], rows):                              # ... a block of rows at a time
            block = w[h, i:i + rows]                                      # (rows, n_k), a view
            np.matmul(q[h, i:i + rows] * factor, k[h].T, out=block)
            _softmax_base2_inplace(block)
            np.matmul(block, v[h], out=out[h, i:i + rows])
    return out, w


CPU_STEPS = (
    ("0 textbook", step_textbook),
    ("1 scale q", step_scale_q),
    ("2 base 2", step_base_2),
    ("3 in place", step_in_place),
    ("4 blocks", step_blocks),
    ("5 two threads = efficient_attention", efficient_attention),
)


@dataclass
class StepTimes:
    """Seconds per call of each step of ``CPU_STEPS`` at one size: wall clock and CPU (all threads)."""
    n: int
    heads: int
    names: tuple
    seconds: np.ndarray
    cpu: np.ndarray | None = None

    def table(self) -> str:
        cores = self.cpu is not None
        lines = [f"n = {self.n}, {self.heads} heads, d = 64, float32", "",
                 f"{'step':<38}{'ms':>8}{'vs previous':>13}{'vs textbook':>13}" + (f"{'cores busy':>12}" if cores else "")]
        for i, (name, s) in enumerate(zip(self.names, self.seconds)):
            prev = self.seconds[i - 1] / s if i else 1.0
            line = f"{name:<38}{s * 1e3:8.1f}{prev:12.2f}x{self.seconds[0] / s:12.2f}x"
            lines.append(line + (f"{self.cpu[i] / s:12.1f}" if cores else ""))
        return "\n".join(lines)


def time_cpu_steps(n: int = 1024, heads: int = 2, repeats: int = 5) -> StepTimes:
    """Time every step of ``CPU_STEPS``, best of ``repeats``, the steps taking turns: steps 0-4 on one
    core (one BLAS thread), step 5 on its two threads (each with one BLAS thread inside). The CPU
    time of each best call says how many cores it kept busy."""
    q, k, v = random_qkv(n, heads)
    with one_blas_thread():
        seconds, cpu = best_in_turns([lambda fn=fn: fn(q, k, v) for _, fn in CPU_STEPS], repeats=repeats,
                                     with_cpu=True)
    return StepTimes(n, heads, tuple(name for name, _ in CPU_STEPS), seconds, cpu)


def steps_agree(n: int = 300, heads: int = 2, seed: int = 3) -> bool:
    """Every step gives the textbook's output and weights within float32 rounding."""
    q, k, v = random_qkv(n, heads, seed=seed)
    out0, w0 = step_textbook(q, k, v)
    return all(np.allclose(out, out0, rtol=1e-5, atol=1e-6) and np.allclose(w, w0, rtol=1e-5, atol=1e-7)
               for out, w in (fn(q, k, v) for _, fn in CPU_STEPS[1:]))


@dataclass
class HabitTimes:
    """Microseconds for one (rows, n_k) float32 block of scores: each numpy habit of
    ``efficient_attention``'s softmax against the plain way (names (3,), plain (3,), habit (3,))."""
    rows: int
    n_k: int
    names: tuple
    plain: np.ndarray
    habit: np.ndarray

    def table(self) -> str:
        lines = [f"one block of {self.rows} x {self.n_k} float32 scores, one thread, best of many runs", "",
                 f"{'habit':<44}{'plain (us)':>11}{'habit (us)':>12}{'gain':>8}"]
        for name, a, b in zip(self.names, self.plain, self.habit):
            lines.append(f"{name:<44}{a * 1e6:11.0f}{b * 1e6:12.0f}{a / b:7.1f}x")
        return "\n".join(lines)


def numpy_habits(rows: int = 256, n_k: int = 1024, repeats: int = 30) -> HabitTimes:
    """Time the three numpy habits of ``_softmax_base2_inplace`` on one cache-sized block:
    ``np.exp2`` instead of ``np.exp``; ``s -= m`` with numpy's buffer cut to one row; the row
    sums by ``np.einsum`` instead of ``s.sum(-1)``."""
    from ..efficient import _bufsize

    rng = np.random.default_rng(0)
    s = rng.uniform(-20.0, 0.0, (rows, n_k)).astype(np.float32)    # shifted scores: <= 0
    m = rng.standard_normal((rows, 1)).astype(np.float32) * 1e-3  # tiny: repeated s -= m stays in range
    out = np.empty_like(s)

    def subtract_row_buffer():
        old = np.setbufsize(_bufsize(n_k))
        try:
            s.__isub__(m)
        finally:
            np.setbufsize(old)

    pairs = (("2^x: np.exp2 instead of np.exp", lambda: np.exp(s, out=out), lambda: np.exp2(s, out=out)),
             ("s -= m with numpy's buffer cut to one row", lambda: s.__isub__(m), subtract_row_buffer),
             ("row sums: np.einsum instead of s.sum(-1)", lambda: s.sum(axis=-1, keepdims=True),
              lambda: np.einsum("...k->...", s)[..., None]))
    with one_blas_thread():
        seconds = best_in_turns([f for _, a, b in pairs for f in (a, b)], repeats=repeats)
    return HabitTimes(rows, n_k, tuple(name for name, _, _ in pairs), seconds[0::2], seconds[1::2])


# ================================================================ 3. tiled attention: the online softmax

@dataclass
class OnlineTrace:
    """The online softmax of one query, block by block.

    scores (n,), values (n, d_v), block_size; after block b (b = 0 .. n_blocks - 1):
    m[b] the running max, l[b] the running sum, o[b] (d_v,) the running sum of exp(s - m) v,
    alpha[b] the factor exp(m[b-1] - m[b]) that rescaled what came before (block 0: exp(-inf) = 0,
    which multiplies l = 0 and o = 0, so nothing is lost);
    exact (d_v,) = softmax(scores) @ values.
    """
    scores: np.ndarray
    values: np.ndarray
    block_size: int
    m: np.ndarray
    l: np.ndarray
    o: np.ndarray
    alpha: np.ndarray
    exact: np.ndarray

    @property
    def n_blocks(self) -> int:
        return len(self.m)

    def running_output(self, b: int) -> np.ndarray:
        """o / l after block b: the attention output if the keys stopped there."""
        return self.o[b] / self.l[b]

    def summary(self, b: int) -> str:
        """What the running numbers are after block b (0-based)."""
        lo, hi = b * self.block_size, min(len(self.scores), (b + 1) * self.block_size) - 1
        block_max = float(self.scores[lo:hi + 1].max())
        if b == 0:
            change = (f"first block: the max goes from minus infinity to its largest score, {block_max:.2f}; "
                      f"alpha = 0 multiplies l = 0 and o = 0")
        elif self.m[b] > self.m[b - 1]:
            change = (f"block max {block_max:.2f} > old max {self.m[b - 1]:.2f}: l and o are multiplied by "
                      f"exp({self.m[b - 1]:.2f} - {self.m[b]:.2f}) = {self.alpha[b]:.3f}")
        else:
            change = f"block max {block_max:.2f} <= max {self.m[b]:.2f}: nothing to rescale (factor 1)"
        fmt = ", ".join
        return (f"after block {b + 1} of {self.n_blocks} (keys {lo}-{hi}):\n"
                f"  {change}\n"
                f"  running max m = {self.m[b]:.2f}, running sum l = {self.l[b]:.3f}\n"
                f"  running output o / l = [{fmt(f'{x:.3f}' for x in self.running_output(b))}]\n"
                f"  exact output (all {len(self.scores)} keys) = [{fmt(f'{x:.3f}' for x in self.exact)}]")


def online_softmax_trace(scores, values, block_size: int) -> OnlineTrace:
    """Run the online softmax of one query and keep every intermediate value (see OnlineTrace)."""
    scores, values = np.asarray(scores, dtype=float), np.asarray(values, dtype=float)
    check_positive_ints("online_softmax_trace", block_size=block_size)
    if scores.ndim != 1 or values.ndim != 2 or len(values) != len(scores) or len(scores) == 0:
        raise ValueError(f"online_softmax_trace: need scores (n,) and values (n, d_v) with n >= 1, got "
                         f"scores {scores.shape}, values {values.shape}.")
    m, l, o = -np.inf, 0.0, np.zeros(values.shape[1])
    ms, ls, os, alphas = [], [], [], []
    for start in range(0, len(scores), block_size):
        s, v = scores[start:start + block_size], values[start:start + block_size]
        m_new = max(m, float(s.max()))
        alpha = math.exp(m - m_new)                               # block 0: exp(-inf) = 0 (l and o are 0)
        p = np.exp(s - m_new)
        l = alpha * l + p.sum()
        o = alpha * o + p @ v
        m = m_new
        ms.append(m), ls.append(l), os.append(o), alphas.append(alpha)
    exact = softmax(scores) @ values                              # all at once, for comparison
    return OnlineTrace(scores, values, block_size, np.array(ms), np.array(ls), np.array(os), np.array(alphas),
                       exact)


def one_query_example():
    """16 scores of one query in 4 blocks of 4, and 2-D values: the max grows in blocks 2 and 3."""
    scores = np.array([0.8, -0.4, 1.3, 0.1,
                       2.1, 0.3, -1.0, 1.6,
                       0.2, 3.0, -0.5, 2.2,
                       1.1, -0.8, 2.6, 0.4])
    values = np.random.default_rng(13).normal(size=(16, 2)).round(2)
    return scores, values


def online_softmax_explorer(trace: OnlineTrace, block: int = 2):
    """A slider over the blocks read so far, three panels for the three running numbers:
    the scores (blocks read coloured, the running max m dashed); the terms exp(s_j - m) whose sum
    is the running sum l (outlined: the same terms before this block, so a new max visibly shrinks
    them by alpha); the values as points, sized by their weight so far, and the running output o / l."""
    from .. import viz, widgets

    n, b = len(trace.scores), trace.block_size
    blocks = np.arange(n) // b
    old, new, unread = "#3b75af", viz.HIGHLIGHT, "#d9d9d9"

    def setup(fig):
        ax_s, ax_l, ax_v = fig.subplots(1, 3, width_ratios=[1.2, 1.2, 1])
        chart = viz.bars(trace.scores, [str(j) for j in range(n)], ax=ax_s, ylabel="score s_j", fmt="{:.1f}",
                         title="1. Scores; running max m")
        top = trace.scores.max() + 0.9
        for ax in (ax_s, ax_l):
            for x in np.arange(b, n, b) - 0.5:
                viz.static(ax.axvline(x, color="0.75", lw=0.8))
        for j in range(trace.n_blocks):
            viz.static(ax_s.text((j + 0.5) * b - 0.5, top, f"block {j + 1}", ha="center", va="bottom",
                                 color="0.35", fontsize=8))
        ax_s.set_ylim(min(0.0, trace.scores.min()) - 0.6, top + 0.6)
        ax_s.set_xlabel("key j")
        (max_line,) = ax_s.plot([-0.5, n - 0.5], [0, 0], "--", color="black", lw=1.2, label="running max m")
        ax_s.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=8, frameon=False)

        terms = ax_l.bar(range(n), np.zeros(n), width=0.7, color=old, label="exp(s_j - m) now").patches
        before = ax_l.bar(range(n), np.zeros(n), width=0.7, fill=False, edgecolor="black", lw=0.9, ls=":",
                          label="the same terms before this block").patches
        ax_l.set_xlim(-0.6, n - 0.4)
        ax_l.set_ylim(0, 1.32)
        ax_l.set_xticks(range(n), [str(j) for j in range(n)], fontsize=7)
        ax_l.set_xlabel("key j")
        ax_l.set_ylabel("exp(s_j - m)")
        ax_l.set_title("2. Terms of the running sum l")
        l_text = ax_l.text(0.02, 0.97, "", transform=ax_l.transAxes, ha="left", va="top", fontsize=8.5)
        ax_l.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1, fontsize=8, frameon=False)

        v = trace.values
        dots = ax_v.scatter(v[:, 0], v[:, 1], s=np.full(n, 20.0), color="0.7", zorder=2)
        (trail,) = ax_v.plot([], [], ".-", color=new, lw=1, ms=5, zorder=3)
        (star,) = ax_v.plot([], [], "*", color=new, ms=15, mec="black", zorder=4, label="running output o / l")
        viz.static(ax_v.plot(*trace.exact, "X", color="black", ms=9, zorder=5, label="exact output")[0])
        pad = 0.3
        ax_v.set_xlim(v[:, 0].min() - pad, v[:, 0].max() + pad)
        ax_v.set_ylim(v[:, 1].min() - pad, v[:, 1].max() + pad)
        ax_v.set_title("3. Values; running output o / l")
        ax_v.set_xlabel("value[0]  (dot size = weight so far)")
        ax_v.set_ylabel("value[1]")
        ax_v.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1, fontsize=8, frameon=False)
        return chart, max_line, terms, before, l_text, dots, trail, star

    def update(state, block):
        chart, max_line, terms, before, l_text, dots, trail, star = state
        k = block - 1                                                 # 0-based index of the last block read
        colours = np.where(blocks < k, old, np.where(blocks == k, new, unread))
        for patch, colour in zip(chart.patches, colours):
            patch.set_facecolor(colour)
        max_line.set_ydata([trace.m[k]] * 2)
        seen = blocks <= k
        now = np.where(seen, np.exp(trace.scores - trace.m[k]), 0.0)          # the terms of l[k]
        earlier = np.where(blocks < k, np.exp(trace.scores - trace.m[k - 1]), 0.0) if k else np.zeros(n)
        for patch, h, colour in zip(terms, now, colours):
            patch.set_height(h)
            patch.set_facecolor(colour)
        for patch, h in zip(before, earlier):
            patch.set_height(h)
        l_text.set_text(f"l = sum of the bars = {trace.l[k]:.3f}" +
                        (f"\nnew max: old bars x alpha = {trace.alpha[k]:.3f}" if k and trace.alpha[k] < 1 else
                         "\nno new max: old bars unchanged" if k else ""))
        dots.set_sizes(12 + 400 * now / trace.l[k])
        dots.set_color(colours)
        path = np.array([trace.running_output(j) for j in range(k + 1)])
        trail.set_data(path[:, 0], path[:, 1])
        star.set_data([path[-1, 0]], [path[-1, 1]])
        return trace.summary(k)

    return widgets.Interactive(setup, update, figsize=(12.6, 4.4),
                               block=widgets.slider(1, trace.n_blocks, 1, block, "blocks read"))


def causal_fraction(n: int, tile_rows: int | None = None) -> float:
    """The fraction of the n x n scores that causal ``tiled_attention`` computes (numpy path).

    Each block of ``tile_rows`` queries (default: the package's 256) computes its scores against
    the keys up to its last query and skips the rest, so the tiles above the diagonal are never
    made; the diagonal tiles are computed whole and masked inside."""
    from ..efficient import _TILE_QUERIES

    check_positive_ints("causal_fraction", n=n)
    b = _TILE_QUERIES if tile_rows is None else tile_rows
    computed = 0
    for i in range(0, n, b):                      # one block of queries: rows i .. i + rows - 1
        rows = min(b, n - i)
        computed += rows * (i + rows)             # against keys 0 .. i + rows - 1
    return computed / (n * n)


@dataclass
class MemoryTable:
    """Peak bytes (tracemalloc) of the naive and the tiled attention for each n."""
    n: np.ndarray
    heads: int
    naive: np.ndarray
    tiled: np.ndarray

    def table(self) -> str:
        lines = [f"{'n':>6}{'(n, n) weights':>16}{'naive peak':>13}{'tiled peak':>13}{'naive / tiled':>15}"]
        for n, a, b in zip(self.n, self.naive, self.tiled):
            lines.append(f"{n:6d}{mib(self.heads * n * n * 4):>16}{mib(a):>13}{mib(b):>13}{a / b:14.0f}x")
        return "\n".join(lines)


@one_thread                  # peaks count bytes, not time: one thread does not change them
def memory_table(sizes=(256, 512, 1024, 2048), heads: int = 1, d: int = 64, block_size: int = 128) -> MemoryTable:
    """Peak memory of ``scaled_dot_product_attention`` and ``readable_tiled_attention`` (float32)."""
    naive, tiled = [], []
    for n in sizes:
        q, k, v = random_qkv(n, heads, d)
        naive.append(peak_bytes(scaled_dot_product_attention, q, k, v))
        tiled.append(peak_bytes(lambda q, k, v: readable_tiled_attention(q, k, v, block_size=block_size), q, k, v))
    return MemoryTable(np.array(sizes), heads, np.array(naive), np.array(tiled))


# ================================================================ 4. the KV cache

@dataclass
class ToyLayer:
    """One causal self-attention layer: w_q (d_model, heads * d_head), w_k, w_v (d_model, kv_heads * d_head).

    kv_heads < heads: grouped-query attention (each group of heads // kv_heads query heads shares
    one key/value head); kv_heads = 1: multi-query attention.
    """
    w_q: np.ndarray
    w_k: np.ndarray
    w_v: np.ndarray
    heads: int
    kv_heads: int
    d_head: int

    def project(self, x):
        """x (t, d_model) -> q (heads, t, d_head), k and v (kv_heads, t, d_head)."""
        t = x.shape[0]
        q = (x @ self.w_q).reshape(t, self.heads, self.d_head).swapaxes(0, 1)
        k = (x @ self.w_k).reshape(t, self.kv_heads, self.d_head).swapaxes(0, 1)
        v = (x @ self.w_v).reshape(t, self.kv_heads, self.d_head).swapaxes(0, 1)
        return q, k, v


def toy_layer(d_model: int = 64, heads: int = 4, kv_heads: int | None = None, seed: int = 0) -> ToyLayer:
    """A seeded ToyLayer with d_head = d_model // heads (float64)."""
    kv_heads = heads if kv_heads is None else kv_heads
    check_positive_ints("toy_layer", d_model=d_model, heads=heads, kv_heads=kv_heads)
    if d_model % heads or heads % kv_heads:
        raise ValueError(f"toy_layer: heads must divide d_model and kv_heads must divide heads, got "
                         f"d_model={d_model}, heads={heads}, kv_heads={kv_heads}.")
    d_head = d_model // heads
    rng = np.random.default_rng(seed)
    w = [rng.standard_normal((d_model, h * d_head)) / math.sqrt(d_model) for h in (heads, kv_heads, kv_heads)]
    return ToyLayer(*w, heads=heads, kv_heads=kv_heads, d_head=d_head)


def grouped_query_attention(q, k, v, mask=None):
    """Attention where groups of query heads share one key/value head.

    q (heads, n_q, d), k (kv_heads, n_k, d), v (kv_heads, n_k, d_v), heads a multiple of kv_heads
    -> output (heads, n_q, d_v). Query heads g*r ... g*r + r - 1 (r = heads // kv_heads) use key/value
    head g: the group axis is added to k and v with size 1, and broadcasting does the sharing.
    """
    heads, kv_heads = q.shape[0], k.shape[0]
    if heads % kv_heads:
        raise ValueError(f"grouped_query_attention: kv_heads = {kv_heads} must divide heads = {heads}.")
    r = heads // kv_heads
    qg = q.reshape(kv_heads, r, *q.shape[1:])                        # (kv_heads, r, n_q, d)
    out, _ = scaled_dot_product_attention(qg, k[:, None], v[:, None], mask=mask)   # k, v (kv_heads, 1, n_k, d)
    return out.reshape(heads, *out.shape[2:])                        # (heads, n_q, d_v)


def full_causal(layer: ToyLayer, x):
    """The layer on the whole sequence at once: x (n, d_model) -> (n, heads, d_head)."""
    q, k, v = layer.project(x)
    out = grouped_query_attention(q, k, v, mask=causal_mask(len(x)))
    return out.swapaxes(0, 1)


def decode_with_cache(layer: ToyLayer, x):
    """One token at a time with a KV cache: project only the new token, append its k and v,
    attend with its query. x (n, d_model) -> (outputs (n, heads, d_head), cache)."""
    cache = KVCache()
    outputs = []
    for t in range(len(x)):
        q, k, v = layer.project(x[t:t + 1])                 # the new token only: (heads or kv_heads, 1, d_head)
        keys, values = cache.append(k, v)                   # (kv_heads, t + 1, d_head)
        outputs.append(grouped_query_attention(q, keys, values)[:, 0])
    return np.stack(outputs), cache


def decode_recompute(layer: ToyLayer, x):
    """One token at a time without a cache: at step t, run the layer on tokens 0..t again and keep
    the last row. x (n, d_model) -> (n, heads, d_head)."""
    return np.stack([full_causal(layer, x[:t + 1])[-1] for t in range(len(x))])


@dataclass
class DecodeTimes:
    """Seconds to decode n tokens one at a time, with and without the cache."""
    n: np.ndarray
    with_cache: np.ndarray
    recompute: np.ndarray

    @property
    def speedup(self) -> np.ndarray:
        return self.recompute / self.with_cache

    def table(self) -> str:
        lines = [f"{'n':>6}{'with cache (ms)':>17}{'recompute (ms)':>16}{'speed-up':>10}"]
        for n, a, b, s in zip(self.n, self.with_cache, self.recompute, self.speedup):
            lines.append(f"{n:6d}{a * 1e3:17.1f}{b * 1e3:16.1f}{s:9.1f}x")
        return "\n".join(lines)


def time_decoding(sizes=(32, 64, 128, 256), layer: ToyLayer | None = None, repeats: int = 1) -> DecodeTimes:
    """Decode n random tokens with ``decode_with_cache`` and ``decode_recompute`` (one BLAS thread;
    no warm-up call: a decode is itself n calls)."""
    layer = toy_layer() if layer is None else layer
    rng = np.random.default_rng(5)
    cached, recomputed = [], []
    for n in sizes:
        x = rng.standard_normal((n, layer.w_q.shape[0]))
        with one_blas_thread():
            cached.append(best_seconds(decode_with_cache, layer, x, repeats=repeats, warm_up=False))
            recomputed.append(best_seconds(decode_recompute, layer, x, repeats=repeats, warm_up=False))
    return DecodeTimes(np.array(sizes), np.array(cached), np.array(recomputed))


def kv_cache_bytes(layers: int, kv_heads: int, d_head: int, n: int, bytes_per_value: int = 2) -> int:
    """Bytes of a KV cache: 2 (keys and values) * layers * kv_heads * d_head * n * bytes per value."""
    check_positive_ints("kv_cache_bytes", layers=layers, kv_heads=kv_heads, d_head=d_head, n=n,
                        bytes_per_value=bytes_per_value)
    return 2 * layers * kv_heads * d_head * n * bytes_per_value


@dataclass(frozen=True)
class ModelShape:
    """The attention shape of a published model (from its released configuration).

    ``context``: the positions it was trained on; ``window``: a sliding window that caps the
    cache (Mistral's rolling buffer), else None."""
    name: str
    layers: int
    heads: int
    kv_heads: int
    d_head: int
    context: int
    source: str
    window: int | None = None

    @property
    def cached_positions(self) -> int:
        """Positions in the cache once the context is full."""
        return self.context if self.window is None else min(self.context, self.window)


PUBLISHED = (
    ModelShape("GPT-2 small", 12, 12, 12, 64, 1024,
               "huggingface.co/openai-community/gpt2 config.json: n_layer 12, n_head 12, n_embd 768, n_ctx 1024"),
    ModelShape("Llama 2 7B", 32, 32, 32, 128, 4096,
               "params.json released with the weights: n_layers 32, n_heads 32, dim 4096 (no GQA); "
               "context 4096 (Touvron et al. 2023, arXiv:2307.09288, Table 1)"),
    ModelShape("Llama 2 70B", 80, 64, 8, 128, 4096,
               "params.json released with the weights: n_layers 80, n_heads 64, n_kv_heads 8, dim 8192; "
               "context 4096 (Touvron et al. 2023, Table 1)"),
    ModelShape("Mistral 7B", 32, 32, 8, 128, 8192,
               ("Jiang et al. 2023, arXiv:2310.06825, Table 1: dim 4096, n_layers 32, head_dim 128, n_heads 32, "
                "n_kv_heads 8, window_size 4096, context_len 8192"), window=4096),
    ModelShape("Falcon 7B", 32, 71, 1, 64, 2048,
               "huggingface.co/tiiuae/falcon-7b config.json: 32 layers, 71 heads, hidden 4544, multi_query; "
               "sequence length 2048 (its model card)"),
)


def kv_table(bytes_per_value: int = 2, models=PUBLISHED) -> str:
    """The KV cache of each model (batch 1, 2-byte values) by the formula: per token, and once its
    context is full (Mistral's window caps it at 4096 positions)."""
    header = (f"{'model':<13}{'layers':>7}{'heads':>6}{'kv heads':>9}{'d_head':>7}{'per token':>11}"
              f"{'context':>9}{'cache, full':>13}{'if kv heads = heads':>21}")
    lines = [header]
    for m in models:
        per_token = kv_cache_bytes(m.layers, m.kv_heads, m.d_head, 1, bytes_per_value)
        total = kv_cache_bytes(m.layers, m.kv_heads, m.d_head, m.cached_positions, bytes_per_value)
        full = kv_cache_bytes(m.layers, m.heads, m.d_head, m.cached_positions, bytes_per_value)
        context = f"{m.context}" + ("*" if m.window else "")
        lines.append(f"{m.name:<13}{m.layers:7d}{m.heads:6d}{m.kv_heads:9d}{m.d_head:7d}"
                     f"{_size(per_token):>11}{context:>9}{_size(total):>13}{_size(full):>21}")
    return "\n".join(lines)


def _size(nbytes: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes} B"
