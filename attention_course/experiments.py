"""Experiments shared by several lessons: random queries and keys, the spread of their dot
products, how spread out a row of weights is, softmax saturation, and an attention explorer.

    from attention_course import experiments as ex
    q, k, v = ex.random_qkv(n_q=1, n_k=16, d_k=512, batch=(400,))     # N(0, 1) entries, seeded
    scores = ex.random_scores((4, 64, 512), n_trials=400, n_keys=16)  # q . k at each d_k
    raw = ex.saturation(scores.raw, scores.d_k, label="softmax(q . k)")
    scaled = ex.saturation(scores.scaled, scores.d_k, label="softmax(q . k / sqrt(d_k))")
    raw.at(512).max_weight                                            # one setting's numbers
    ex.plot_saturation(raw, scaled)

Lessons 04 and 06 run the same saturation experiment and draw the same plot; 06 and 07 the same
explorer. A lesson module re-exports what its notebook calls (``lesson.saturation``), so a
notebook still imports only its own lesson. The numbers are small matrices: every experiment runs
with one BLAS/OpenMP thread (:func:`one_thread`), which is as fast here and does not fight other
kernels on a shared machine for the cores.
"""
from __future__ import annotations

import contextlib
import functools
import sys
from dataclasses import dataclass

import numpy as np

from ._backend import as_numbers, check_positive_ints
from .softmax import softmax, softmax_jacobian

__all__ = ["one_thread", "single_thread", "random_qkv", "random_scores", "RandomScores", "entropy",
           "effective_choices", "inverse_sum_squares", "softmax_jacobian_norm",
           "saturation", "Saturation", "SaturationPoint", "plot_saturation", "strongest",
           "attention_explorer"]

RED, BLUE, GREEN = "#d62728", "#1f77b4", "#2ca02c"       # unscaled, scaled, a third curve


@contextlib.contextmanager
def single_thread():
    """A block in which numpy's BLAS and, when torch is loaded, torch's pool use one thread.

    threadpoolctl sets the BLAS and OpenMP libraries; torch is set directly as well, because
    torch's MKL (its matrix products) keeps the count ``torch.set_num_threads`` last gave it:
    inside ``threadpool_limits(1)`` alone, MKL still ran 2 threads (lesson 12's training had set
    them), and lesson 12's checker took 10.6-12.4 s instead of 0.4 s next to busy neighbours.
    Everything is put back on exit.
    """
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=1):
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(threads)


def one_thread(fn=None, *, torch: bool = False):
    """Run ``fn`` on one thread (:func:`single_thread`); ``torch=True`` for a function that uses
    torch, so that torch is loaded before the limit is set.

    Small matrix products gain nothing from a second thread; on a shared machine the extra
    threads only spin against the neighbours' (measured: a table took 9.1 s with 2 threads under
    contention, 0.95 s with 1; lesson 11's fits 14.5 s against 0.3 s). The limit is lifted when
    ``fn`` returns.
    """
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if torch:
                import torch as _  # noqa: F401  (loaded first, so single_thread can hold it)
            with single_thread():
                return fn(*args, **kwargs)

        return wrapper

    return decorate if fn is None else decorate(fn)


# ---------------------------------------------------------------- random queries, keys and values
def random_qkv(n_q: int, n_k: int, d_k: int, d_v: int | None = None, *, batch=(), seed: int = 0):
    """Queries, keys and values with independent N(0, 1) entries; returns ``(q, k, v)``.

    Shapes: q (*batch, n_q, d_k), k (*batch, n_k, d_k), v (*batch, n_k, d_v); ``d_v=None``
    means d_v = d_k, ``d_v=0`` draws no values. The first d columns of q and k are again
    N(0, 1) vectors of size d, so one draw at the largest d_k serves every smaller d_k.
    """
    d_v = d_k if d_v is None else d_v
    batch = (batch,) if isinstance(batch, (int, np.integer)) else tuple(batch)
    check_positive_ints("random_qkv", n_q=n_q, n_k=n_k, d_k=d_k, **{f"batch[{i}]": b for i, b in enumerate(batch)})
    if d_v != 0:
        check_positive_ints("random_qkv", d_v=d_v)
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((*batch, n_q, d_k))
    k = rng.standard_normal((*batch, n_k, d_k))
    v = rng.standard_normal((*batch, n_k, d_v))
    return q, k, v


@dataclass(frozen=True)
class RandomScores:
    """Dot products q . k of random N(0, 1) vectors, for several sizes d_k.

    d_k (m,)                     the sizes
    raw (m, n_trials, n_keys)    raw[i]: every trial's query against its own n_keys keys, at d_k[i]
    """

    d_k: np.ndarray
    raw: np.ndarray

    @property
    def scaled(self) -> np.ndarray:
        """raw / sqrt(d_k), same shape (m, n_trials, n_keys)."""
        return self.raw / np.sqrt(self.d_k)[:, None, None]

    def at(self, d_k: int) -> np.ndarray:
        """The raw scores at one ``d_k``: (n_trials, n_keys)."""
        return self.raw[_index_of("RandomScores.at", self.d_k, d_k, "d_k")]


@one_thread
def random_scores(d_ks, n_trials: int, n_keys: int = 1, seed: int = 0) -> RandomScores:
    """Scores of ``n_trials`` random queries, each against ``n_keys`` fresh random keys, at each d_k.

    One draw at the largest d_k; the score at a smaller d_k uses the first d_k coordinates
    (a running sum of the products q_i k_i), so the curves over d_k are smooth and cheap.
    ``n_keys=1`` gives plain pairs (n_trials scores per d_k).
    """
    d_ks = _check_d_ks("random_scores", d_ks)
    check_positive_ints("random_scores", n_trials=n_trials, n_keys=n_keys)
    q, k, _ = random_qkv(1, n_keys, int(d_ks.max()), d_v=0, batch=(n_trials,), seed=seed)
    running = np.cumsum(q * k, axis=-1)              # (n_trials, n_keys, d_max): [..., d-1] = q[:d] . k[:d]
    raw = np.moveaxis(running[..., d_ks - 1], -1, 0)  # (m, n_trials, n_keys)
    return RandomScores(d_k=d_ks, raw=np.ascontiguousarray(raw))


# ---------------------------------------------------------------- how spread out a row of weights is
def entropy(p, axis: int = -1) -> np.ndarray:
    """Shannon entropy H(p) = -sum_i p_i ln p_i, in nats (0 * ln 0 counts as 0).

    Shapes: p (..., n) -> (...). 0 for a one-hot row; ln(n) for a uniform row.
    """
    p = as_numbers("entropy", "p", p)
    if np.any(p < 0):
        raise ValueError("entropy: probabilities must be >= 0.")
    terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(axis=axis)


def effective_choices(p, axis: int = -1) -> np.ndarray:
    """exp(H(p)): "as if choosing evenly among this many items".

    1 for a one-hot row, n for a uniform row over n items. Shapes: (..., n) -> (...).
    """
    return np.exp(entropy(p, axis=axis))


def inverse_sum_squares(p, axis: int = -1) -> np.ndarray:
    """1 / sum_i p_i^2: another count of "how many items share the weight".

    1 for a one-hot row, n for a uniform one, and never more than exp(H(p)) (squaring lets the
    large weights count more). Lesson 05 reads it as "how many training points a query averages".
    Shapes: (..., n) -> (...).
    """
    p = as_numbers("inverse_sum_squares", "p", p)
    return 1.0 / np.sum(p ** 2, axis=axis)


# ---------------------------------------------------------------- saturation
def softmax_jacobian_norm(weights) -> np.ndarray:
    """||J||_F, the size of the softmax Jacobian J = diag(w) - w w^T: (..., n) weights -> (...).

    sqrt(n - 1) / n for uniform weights, 0 for a one-hot row: how much gradient gets through.
    """
    return np.linalg.norm(softmax_jacobian(weights), axis=(-2, -1))


@dataclass(frozen=True)
class SaturationPoint:
    """:class:`Saturation` at one setting ``x``."""

    x: float
    max_weight: float
    grad_norm: float


@dataclass(frozen=True)
class Saturation:
    """How saturated softmax(scores) is at each of m settings (a scale factor c, a size d_k...).

    x          (m,)  the settings
    max_weight (m,)  the largest weight of a row, mean over the trials
    grad_norm  (m,)  ||d weights / d scores||_F, median over the trials
    grad_q25, grad_q75 (m,)  its 25th and 75th percentiles (equal to it for a single trial)
    label      what was put through the softmax, for the legend
    n_trials   rows per setting
    """

    x: np.ndarray
    max_weight: np.ndarray
    grad_norm: np.ndarray
    grad_q25: np.ndarray
    grad_q75: np.ndarray
    label: str = ""
    n_trials: int = 1

    def at(self, x) -> SaturationPoint:
        """The numbers at one setting, e.g. ``sat.at(512).max_weight``."""
        i = _index_of("Saturation.at", self.x, x, "x")
        return SaturationPoint(x=self.x[i].item(), max_weight=float(self.max_weight[i]),
                               grad_norm=float(self.grad_norm[i]))


@one_thread
def saturation(scores, x, label: str = "") -> Saturation:
    """Softmax each row of ``scores`` and measure how one-hot it is and how much gradient passes.

    Shapes: scores (m, n_keys) or (m, n_trials, n_keys), one block per setting x (m,).
    The median (not the mean) summarises the gradient: the few trials where two scores happen
    to tie keep a large gradient and would hide the typical case.
    """
    scores, x = np.asarray(scores, dtype=float), np.asarray(x)
    given = scores.shape
    if scores.ndim == 2:
        scores = scores[:, None, :]                          # one trial per setting
    if scores.ndim != 3 or x.ndim != 1 or scores.shape[0] != x.size or scores.shape[-1] < 2:
        raise ValueError(f"saturation: expected scores (m, n_keys) or (m, n_trials, n_keys) with n_keys >= 2 "
                         f"and x (m,), got scores {given} and x {x.shape}.")
    weights = softmax(scores, axis=-1)                       # (m, n_trials, n_keys)
    norms = softmax_jacobian_norm(weights)                   # (m, n_trials)
    q25, median, q75 = np.percentile(norms, [25, 50, 75], axis=1)
    return Saturation(x=x, max_weight=weights.max(axis=-1).mean(axis=1), grad_norm=median,
                      grad_q25=q25, grad_q75=q75, label=label, n_trials=scores.shape[1])


def plot_saturation(*results: Saturation, xlabel: str = "d_k"):
    """Two panels for one or more :func:`saturation` results over the same kind of setting:
    the largest weight, and the gradient size (log axis, with a 25-75 % band over trials).

    Integer settings (d_k) get one tick each on a base-2 axis; others a plain log axis.
    """
    from . import viz

    if not results:
        raise ValueError("plot_saturation: give at least one Saturation result.")
    fig, (ax_w, ax_g) = viz.new_figure(2, width=9.6, height=3.6)
    floor = 1e-16                                            # a log axis cannot show 0
    for r, color, marker in zip(results, (RED, BLUE, GREEN), ("o-", "s-", "^-")):
        ax_w.plot(r.x, r.max_weight, marker, color=color, ms=4, label=r.label or None)
        if np.any(r.grad_q75 > r.grad_q25):
            ax_g.fill_between(r.x, np.maximum(r.grad_q25, floor), np.maximum(r.grad_q75, floor),
                              color=color, alpha=0.15, linewidth=0)
        ax_g.plot(r.x, np.maximum(r.grad_norm, floor), marker, color=color, ms=4, label=r.label or None)
    lowest = min(float(np.maximum(r.grad_q25, floor).min()) for r in results)
    for ax in (ax_w, ax_g):
        x = np.unique(np.concatenate([r.x for r in results]))
        if np.issubdtype(x.dtype, np.integer):
            ax.set_xscale("log", base=2)
            ax.set_xticks(x, [str(int(d)) for d in x])
            ax.minorticks_off()
        else:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
    if any(r.label for r in results):
        ax_w.legend(fontsize=8, loc="upper left")            # the curves start low on the left...
        ax_g.legend(fontsize=8, loc="lower left")            # ...and high on the right panel
    several = max(r.n_trials for r in results) > 1
    ax_w.set_ylim(0, 1.03)
    ax_w.set_ylabel("largest weight" + (" (mean over trials)" if several else ""))
    ax_w.set_title("Larger scores pile the weight on one key")
    ax_g.set_yscale("log")
    ax_g.set_ylim(max(lowest / 3, floor), 1)
    ax_g.set_ylabel("||d weights / d scores||" + (" (median, 25-75 % band)" if several else ""))
    ax_g.set_title("...and the softmax's gradient fades")
    return fig


# ---------------------------------------------------------------- one query's row, in words
def strongest(row, key_tokens, digits: int = 2) -> str:
    """"strongest: 'animal' (0.81)", or "a tie between 'The', 'the' (0.25 each)" when the top
    weights are equal, or "... just ahead of 'x' (0.379)" when they only print the same."""
    row = np.asarray(row, dtype=float)
    top = float(row.max())
    tied = np.flatnonzero(np.isclose(row, top, rtol=1e-9, atol=1e-12))
    if tied.size > 1:
        names = ", ".join(repr(key_tokens[j]) for j in tied)
        return f"strongest: a tie between {names} ({top:.{digits}f} each)"
    first, second = np.argsort(-row, kind="stable")[:2] if row.size > 1 else (int(np.argmax(row)), None)
    text = f"strongest: {key_tokens[first]!r} ({top:.{digits}f})"
    if second is not None and f"{row[second]:.{digits}f}" == f"{top:.{digits}f}":
        text = (f"strongest: {key_tokens[first]!r} ({top:.{digits + 1}f}), just ahead of "
                f"{key_tokens[second]!r} ({row[second]:.{digits + 1}f})")
    return text


def _row_summary(query_tokens, key_tokens, row, i) -> str:
    width = max(len(t) for t in key_tokens)
    lines = [f"query {i} {query_tokens[i]!r} attends to:"]
    lines += [f"  {t:<{width}}  {w:.2f}  {'█' * int(round(20 * min(max(w, 0.0), 1.0)))}"
              for t, w in zip(key_tokens, row)]
    lines.append(f"{strongest(row, key_tokens)}; the weights sum to {row.sum():.2f}")
    return "\n".join(lines)


# ---------------------------------------------------------------- the attention explorer
def attention_explorer(query_tokens, patterns, *, key_tokens=None, selected=0, title="Attention weights",
                       knob="scores"):
    """Pick a query token: its heatmap row is outlined, its links drawn, its weights printed.

    ``patterns``: one weights array (n_q, n_k), or a dict {name: weights} of several patterns
    of the same shape, chosen with a toggle named ``knob`` (e.g. scaled vs unscaled scores).
    ``key_tokens`` default to the query tokens (self-attention). When two keys tie for the top
    weight the summary says so. Returns a ``widgets.Interactive`` (``.set(query=i)``).
    """
    import ipywidgets as W

    from . import viz, widgets

    patterns = patterns if isinstance(patterns, dict) else {"weights": patterns}
    query_tokens = [str(t) for t in query_tokens]
    key_tokens = query_tokens if key_tokens is None else [str(t) for t in key_tokens]
    patterns = {name: viz._check_matrix("attention_explorer", w) for name, w in patterns.items()}
    for name, w in patterns.items():
        if w.shape != (len(query_tokens), len(key_tokens)):
            raise ValueError(f"attention_explorer: pattern {name!r} has shape {w.shape}, but there are "
                             f"{len(query_tokens)} query tokens and {len(key_tokens)} key tokens.")
    first = next(iter(patterns.values()))
    n_q, n_k = first.shape
    map_w, height = min(1.6 + 0.42 * n_k, 9.0), min(max(3.2, 1.4 + 0.25 * max(n_q, n_k)), 8.0)

    def setup(fig):
        ax_map, ax_links = fig.subplots(1, 2, width_ratios=[map_w, 2.6])
        heatmap = viz.heatmap(first, query_tokens, key_tokens, ax=ax_map, title=title)
        heatmap.colorbar.set_label("attention weight")
        links = viz.token_links(first, query_tokens, key_tokens, selected, ax=ax_links)
        # start and end the lines a little inside x = 0 and x = 1, where the token labels begin,
        # so a thick line's round end never covers a label
        links.X_QUERY, links.X_KEY = 0.08, 0.92
        return heatmap, links.update()

    def update(state, query, **knobs):
        heatmap, links = state
        w = patterns[knobs.get(knob, "weights")]
        heatmap.update(w).highlight_row(query)
        links.update(w, query)
        return _row_summary(query_tokens, key_tokens, w[query], query)

    controls = {"query": W.ToggleButtons(options=[(t, i) for i, t in enumerate(query_tokens)], value=selected,
                                         description="query", style={"button_width": "auto"})}
    if len(patterns) > 1:
        controls[knob] = W.ToggleButtons(options=list(patterns), description=knob, style={"button_width": "auto"})
    return widgets.Interactive(setup, update, figsize=(map_w + 2.6, height), **controls)


# ---------------------------------------------------------------- helpers
def _check_d_ks(func, d_ks):
    d_ks = np.asarray(d_ks)
    if d_ks.ndim != 1 or d_ks.size == 0 or not np.issubdtype(d_ks.dtype, np.integer) or (d_ks < 1).any():
        raise ValueError(f"{func}: d_ks must be a non-empty 1-D list of positive integers, got {d_ks!r}.")
    return d_ks


def _index_of(func, settings, x, name):
    hits = np.flatnonzero(np.isclose(settings, x, rtol=1e-12, atol=0)) if np.ndim(x) == 0 else []
    if len(hits) == 0:
        shown = ", ".join(f"{s:g}" for s in settings[:12]) + (", ..." if len(settings) > 12 else "")
        raise ValueError(f"{func}: {name} = {x!r} was not measured; measured: {shown}.")
    return int(hits[0])
