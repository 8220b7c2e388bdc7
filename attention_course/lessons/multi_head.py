"""Lesson 08: multi-head attention — the hand-built sentence, the transpose bug, the cost count,
and the head explorer.

1. ``two_relations_example``: a sentence in which "it" needs two things at once, the word just
   before it and the noun it stands for. The same W_Q, W_K used as one head of width 16 must
   split one distribution between the two; cut into two heads of width 8, each head keeps one.
2. ``transpose_demo``: numbers that carry the token they came from (token t, column c -> 10 t + c),
   split into heads the right way and with the transpose skipped.
3. ``head_costs``: parameters and matrix-product FLOPs for several head counts, counted from the
   arrays of a real run (the tests check the count against PyTorch's FlopCounterMode).
4. ``head_explorer``: pick h, a head and a token; see every head's pattern and that head's row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._backend import check_positive_ints
from ..attention import scaled_dot_product_attention
from ..multihead import multi_head_attention, split_heads

# ---------------------------------------------------------------- 1. one token, two relations
TOKENS = ("the", "bird", "sang", "because", "it", "was", "very", "happy")
FEATURES = ("noun", "pronoun", "verb", "conjunction", "determiner", "auxiliary", "adverb", "adjective")
_WORD_FEATURE = {"the": "determiner", "bird": "noun", "sang": "verb", "because": "conjunction",
                 "it": "pronoun", "was": "auxiliary", "very": "adverb", "happy": "adjective"}


@dataclass
class TwoRelations:
    """A hand-built sentence: ``x`` (n, 16) = [position one-hot (8) | word-type one-hot (8)];
    projections ``w_q``, ``w_k``, ``w_v``, ``w_o`` (16, 16). Columns 0-7 of W_Q/W_K implement
    "look at the previous word", columns 8-15 "a pronoun or verb looks for a noun"."""

    tokens: list
    x: np.ndarray
    w_q: np.ndarray
    w_k: np.ndarray
    w_v: np.ndarray
    w_o: np.ndarray

    @property
    def weights_args(self):
        return self.x, self.x, self.x, self.w_q, self.w_k, self.w_v, self.w_o


def two_relations_example(strength: float = 3.5) -> TwoRelations:
    """The sentence "the bird sang because it was very happy", built by hand (not learned).

    Token i's embedding is [e_i | e_type]: where it is (position one-hot, 8 columns) and what
    kind of word it is (8 columns, see ``FEATURES``).

    - Columns 0-7 of W_Q send position i to position i - 1 (token 0 to itself) and W_K keeps the
      position: q . k is large exactly when key j is the word before query i.
    - Columns 8-15: W_Q turns "pronoun" and "verb" into a search for "noun"; W_K marks nouns.
    - W_V = W_O = identity, so the output can be read directly: its first 8 numbers say which
      positions were read, its last 8 which kinds of word.
    ``strength`` multiplies W_Q and W_K (so every score is strength**2 or 0).
    """
    n, d = len(TOKENS), 2 * len(TOKENS)
    x = np.zeros((n, d))
    for i, word in enumerate(TOKENS):
        x[i, i] = 1.0                                              # position one-hot
        x[i, 8 + FEATURES.index(_WORD_FEATURE[word])] = 1.0        # word type one-hot
    w_q, w_k = np.zeros((d, d)), np.zeros((d, d))
    for i in range(n):
        w_q[i, max(i - 1, 0)] = strength                           # position i asks for position i - 1
        w_k[i, i] = strength                                       # position j answers as position j
    noun = 8 + FEATURES.index("noun")
    for asker in ("pronoun", "verb"):
        w_q[8 + FEATURES.index(asker), noun] = strength            # a pronoun or verb looks for a noun
    w_k[noun, noun] = strength                                     # a noun says "noun"
    eye = np.eye(d)
    return TwoRelations(list(TOKENS), x, w_q, w_k, eye.copy(), eye.copy())


@dataclass
class HeadComparison:
    """The same W_Q, W_K, W_V, W_O run as one head of width 16 and as two heads of width 8.

    one_head (1, n, n) and two_heads (2, n, n): weights; output_one, output_two (n, 16).
    two_heads_same_scale (2, n, n): the two heads' weights with the one head's divisor, sqrt(16)
    instead of sqrt(8), to separate what the separate softmaxes do from what the smaller divisor does."""

    tokens: list
    one_head: np.ndarray
    two_heads: np.ndarray
    output_one: np.ndarray
    output_two: np.ndarray
    two_heads_same_scale: np.ndarray

    def row(self, token: str) -> dict:
        """The weights of query ``token``: {"one head": (n,), "head 0": (n,), "head 1": (n,)}."""
        i = self.tokens.index(token)
        return {"one head": self.one_head[0, i], "head 0": self.two_heads[0, i], "head 1": self.two_heads[1, i]}


def compare_one_and_two_heads(example: TwoRelations | None = None) -> HeadComparison:
    """Run the example's projections with ``num_heads=1`` and ``num_heads=2`` (and two heads divided
    by sqrt(16), the one head's divisor, see :class:`HeadComparison`)."""
    ex = two_relations_example() if example is None else example
    out1, w1 = multi_head_attention(*ex.weights_args, num_heads=1)
    out2, w2 = multi_head_attention(*ex.weights_args, num_heads=2)
    q, k, v = (split_heads(ex.x @ w, 2) for w in (ex.w_q, ex.w_k, ex.w_v))       # (2, n, 8) each
    _, same_scale = scaled_dot_product_attention(q, k, v, scale=1 / np.sqrt(ex.x.shape[1]))
    return HeadComparison(list(ex.tokens), w1, w2, out1, out2, same_scale)


def read_output(output_row, tokens=TOKENS, top: int = 2) -> str:
    """What one output row (16,) carries, in words: the positions its first 8 numbers point at
    (the words read by the "previous word" columns) and the kinds of word in its last 8."""
    row = np.asarray(output_row, dtype=float)
    pos, kind = row[:8], row[8:]
    words = ", ".join(f"{tokens[j]!r} {pos[j]:.2f}" for j in np.argsort(-pos, kind="stable")[:top])
    kinds = ", ".join(f"{FEATURES[f]} {kind[f]:.2f}" for f in np.argsort(-kind, kind="stable")[:top])
    return f"position part: {words} | word-type part: {kinds}"


def plot_one_vs_two_heads(comparison: HeadComparison, token: str = "it"):
    """Three heatmaps: the single wide head, head 0 and head 1; the row of ``token`` outlined."""
    from .. import viz

    fig, axes = viz.new_figure(3, width=13.0, height=4.2)
    i = comparison.tokens.index(token)
    panels = [(comparison.one_head[0], "1 head, d_head = 16"),
              (comparison.two_heads[0], "2 heads: head 0, d_head = 8"),
              (comparison.two_heads[1], "2 heads: head 1, d_head = 8")]
    for ax, (w, title) in zip(axes, panels):
        hm = viz.heatmap(w, comparison.tokens, comparison.tokens, ax=ax, title=title, colorbar=ax is axes[-1],
                         colorbar_label="attention weight")
        hm.highlight_row(i)
    return fig


# ---------------------------------------------------------------- 2. the transpose bug
@dataclass
class TransposeDemo:
    """x (n, d_model) with x[t, c] = 10 t + c; ``right`` = split_heads(x, h), ``wrong`` =
    x.reshape(h, n, d_head) (the transpose skipped); both (h, n, d_head). ``token_of(a)`` gives
    the token each number came from (a // 10)."""

    x: np.ndarray
    right: np.ndarray
    wrong: np.ndarray
    num_heads: int

    @staticmethod
    def token_of(a) -> np.ndarray:
        return (np.asarray(a) // 10).astype(int)

    def rows_by_token(self, which: str) -> list:
        """For each head, the token(s) each of its rows came from: [[{0}, {1}, ...], ...]."""
        heads = self.right if which == "right" else self.wrong
        return [[sorted(set(self.token_of(row).tolist())) for row in head] for head in heads]

    def summary(self) -> str:
        lines = []
        for which, label in (("right", "split_heads (reshape, then swap)"), ("wrong", "reshape only")):
            heads = self.rows_by_token(which)
            text = "; ".join(f"head {h}: rows from tokens " + " ".join(
                "+".join(str(t) for t in row) for row in rows) for h, rows in enumerate(heads))
            lines.append(f"{label:<33} {text}")
        return "\n".join(lines)


def transpose_demo(n: int = 4, d_model: int = 6, num_heads: int = 2) -> TransposeDemo:
    """Numbers that remember their token, split into heads right and wrong (see :class:`TransposeDemo`)."""
    check_positive_ints("transpose_demo", n=n, d_model=d_model, num_heads=num_heads)
    if d_model > 10 or d_model % num_heads:
        raise ValueError(f"transpose_demo: need d_model <= 10 (one digit per column) and divisible by num_heads, "
                         f"got d_model={d_model}, num_heads={num_heads}.")
    x = 10 * np.arange(n)[:, None] + np.arange(d_model)[None, :]         # (n, d_model): 10 t + c
    right = split_heads(x, num_heads)                                    # (h, n, d_head)
    wrong = x.reshape(num_heads, n, d_model // num_heads)                # (h, n, d_head): no transpose
    return TransposeDemo(x, right, wrong, num_heads)


TOKEN_COLOURS = ("#8dd3c7", "#fdb462", "#bebada", "#fb8072", "#80b1d3", "#b3de69", "#fccde5", "#d9d9d9")


def _token_grid(ax, values, title, row_labels):
    """Cells coloured by the token each number came from, the number printed in each."""
    from matplotlib.colors import to_rgb

    tokens = TransposeDemo.token_of(values)
    ax.imshow(np.array([[to_rgb(TOKEN_COLOURS[t % len(TOKEN_COLOURS)]) for t in row] for row in tokens]),
              aspect="equal", interpolation="nearest")
    for (r, c), v in np.ndenumerate(values):
        ax.text(c, r, f"{int(v):02d}", ha="center", va="center", fontsize=9).set_in_layout(False)  # inside its cell
    ax.set_xticks(range(values.shape[1]))
    ax.set_yticks(range(values.shape[0]), row_labels)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, fontsize=10)


def plot_transpose_demo(demo: TransposeDemo):
    """x coloured by token; its heads split the right way (top) and with the transpose skipped (bottom)."""
    from .. import viz

    h, n, d_head = demo.right.shape
    fig, _ = viz.new_figure(0, width=3.6 + 2.5 * h, height=1.2 + 0.9 * n)
    grid = fig.add_gridspec(2, h + 1, width_ratios=[demo.x.shape[1]] + [d_head] * h)
    _token_grid(fig.add_subplot(grid[:, 0]), demo.x, f"x ({n}, {demo.x.shape[1]}): 10·token + column",
                [f"token {t}" for t in range(n)])
    for row, (heads, label) in enumerate(((demo.right, "split_heads"), (demo.wrong, "no transpose"))):
        for j in range(h):
            _token_grid(fig.add_subplot(grid[row, j + 1]), heads[j], f"{label}: head {j}",
                        [f"row {r}" for r in range(n)])
    return fig


# ---------------------------------------------------------------- 3. what more heads cost
@dataclass
class HeadCost:
    """One head count: ``d_head``; ``parameters`` (every number in W_Q, W_K, W_V, W_O and their
    biases); ``matmul_flops`` of one forward pass, split in ``matmul_by_step``; ``softmax_entries``,
    the number of attention weights (batch * h * n * n)."""

    num_heads: int
    d_head: int
    parameters: int
    matmul_flops: int
    matmul_by_step: dict
    softmax_entries: int


def count_matmul_flops(x, steps) -> dict:
    """The FLOPs of every matrix product in one ``multi_head_attention`` run, from the arrays it made.

    A product whose output has m numbers, each a sum of k products, costs 2 m k FLOPs (k
    multiplications and k additions, counting a multiply-add as 2, as FLOP counters do):
    projections: each of q, k, v and the output is (..., n, d_model) with k = d_model;
    scores: (..., h, n_q, n_k) numbers, each a dot product of d_head;
    weights @ v: (..., h, n_q, d_head) numbers, each a sum over n_k keys.
    """
    d_in = x.shape[-1]
    return {
        "projections q, k, v": sum(2 * a.size * d_in for a in (steps.q, steps.k, steps.v)),
        "scores q k^T": 2 * steps.weights.size * steps.q_heads.shape[-1],
        "weights @ v": 2 * steps.heads_out.size * steps.weights.shape[-1],
        "output @ W_O": 2 * steps.output.size * steps.merged.shape[-1],
    }


def head_costs(d_model: int = 64, n: int = 16, heads=(1, 2, 4, 8, 16), batch: int = 1, seed: int = 0) -> list:
    """Count parameters and matrix-product FLOPs of multi-head self-attention for each head count.

    One seeded set of W_Q, W_K, W_V, W_O (d_model, d_model) and biases (d_model,) is run through
    ``multi_head_attention`` with ``return_steps=True`` for each h; the FLOPs are counted from
    the arrays of that run (:func:`count_matmul_flops`). Returns a list of :class:`HeadCost`.
    """
    check_positive_ints("head_costs", d_model=d_model, n=n, batch=batch)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, n, d_model))
    ws = [rng.standard_normal((d_model, d_model)) / np.sqrt(d_model) for _ in range(4)]
    bs = [rng.standard_normal(d_model) for _ in range(4)]
    biases = dict(zip(("b_q", "b_k", "b_v", "b_o"), bs))
    parameters = sum(a.size for a in (*ws, *bs))
    out = []
    for h in heads:
        check_positive_ints("head_costs", num_heads=h)
        if d_model % h:
            raise ValueError(f"head_costs: d_model={d_model} is not divisible by num_heads={h}.")
        *_, steps = multi_head_attention(x, x, x, *ws, h, return_steps=True, **biases)
        by_step = count_matmul_flops(x, steps)
        out.append(HeadCost(int(h), d_model // h, int(parameters), int(sum(by_step.values())), by_step,
                            int(steps.weights.size)))
    return out


def cost_table(costs) -> str:
    """:func:`head_costs` as a text table."""
    lines = ["  h  d_head  parameters  matmul FLOPs  (projections + attention)  softmax entries"]
    for c in costs:
        by = c.matmul_by_step
        proj = by["projections q, k, v"] + by["output @ W_O"]
        att = by["scores q k^T"] + by["weights @ v"]
        lines.append(f"{c.num_heads:3d}  {c.d_head:6d}  {c.parameters:10,d}  {c.matmul_flops:12,d}  "
                     f"({proj:,d} + {att:,d}){'':>8}{c.softmax_entries:9,d}")
    return "\n".join(lines)


# ---------------------------------------------------------------- 4. the head explorer
HEAD_CHOICES = (1, 2, 4, 8)


def head_patterns(example: TwoRelations | None = None, heads=HEAD_CHOICES) -> dict:
    """{h: weights (h, n, n)} for the example's projections cut into h heads."""
    ex = two_relations_example() if example is None else example
    return {h: multi_head_attention(*ex.weights_args, num_heads=h)[1] for h in heads}


def head_strip(patterns_h, num_slots: int = max(HEAD_CHOICES), gap: int = 1) -> np.ndarray:
    """Every head's (n, n) pattern side by side in one (n, num_slots * (n + gap) - gap) array:
    head j fills columns j * (n + gap) .. j * (n + gap) + n - 1; gaps and heads that do not exist
    for this h are NaN (drawn blank). One image instead of one axes per head keeps the explorer
    cheap to build and to redraw."""
    h, n, _ = patterns_h.shape
    strip = np.full((n, num_slots * (n + gap) - gap), np.nan)
    for j in range(h):
        strip[:, j * (n + gap):j * (n + gap) + n] = patterns_h[j]
    return strip


def head_explorer(h: int = 2, head: int = 1, token: str = "it", example: TwoRelations | None = None):
    """Pick h (1, 2, 4, 8), a head (0-7; one that does not exist for this h shows head h - 1) and a
    token of the hand-built sentence.

    Top: every head's (n, n) pattern for this h, side by side, the token's row outlined in each
    (heads that do not exist for this h are blank). Bottom: the chosen head's weights, annotated,
    and its links. Returns an ``attention_course.widgets.Interactive`` with controls ``h``,
    ``head``, ``token``.
    """
    import ipywidgets as W
    import matplotlib as mpl
    from matplotlib.patches import Rectangle

    from .. import viz, widgets

    ex = two_relations_example() if example is None else example
    patterns = head_patterns(ex)
    tokens, n, d_model = ex.tokens, len(ex.tokens), ex.x.shape[1]
    h_max, gap = max(HEAD_CHOICES), 1
    left = [j * (n + gap) for j in range(h_max)]                  # first strip column of head j
    blank = np.zeros((n, n))

    def setup(fig):
        outer = fig.add_gridspec(2, 1, height_ratios=[1.0, 2.4])
        bottom = outer[1].subgridspec(1, 2, width_ratios=[2.2, 1.0])
        ax = fig.add_subplot(outer[0])
        cmap = mpl.colormaps[viz.CMAP].with_extremes(bad=(1, 1, 1, 0))                                 # NaN: gaps and unused heads stay blank
        strip = ax.imshow(head_strip(patterns[h]), cmap=cmap, vmin=0, vmax=1, interpolation="nearest",
                          aspect="equal")
        ax.set_xticks([x + (n - 1) / 2 for x in left], [f"head {j}" for j in range(h_max)], fontsize=10)
        ax.xaxis.tick_top()
        ax.set_yticks([])
        ax.tick_params(length=0, pad=2)
        for spine in ax.spines.values():
            spine.set_visible(False)
        rows = [Rectangle((x - 0.5, -0.5), n, 1, fill=False, edgecolor=viz.HIGHLIGHT, linewidth=2,
                          clip_on=False) for x in left]
        frame = Rectangle((-0.5, -0.5), n, n, fill=False, edgecolor=viz.HIGHLIGHT, linewidth=3, clip_on=False)
        for patch in (*rows, frame):
            ax.add_patch(patch)
        unused = ax.text(0, (n - 1) / 2, "", ha="center", va="center", color="0.45", fontsize=9)
        unused.set_in_layout(False)                                # it sits inside the strip
        big = viz.heatmap(blank, tokens, tokens, ax=fig.add_subplot(bottom[0, 0]), title="the chosen head's weights",
                          colorbar_label="attention weight")
        links = viz.token_links(blank + 1.0 / n, tokens, tokens, 0, ax=fig.add_subplot(bottom[0, 1]),
                                title="its links from the chosen token")
        return {"strip": strip, "rows": rows, "frame": frame, "unused": unused, "big": big, "links": links,
                "shown": (None, None, None)}

    def update(state, h, head, token):
        h, i = int(h), int(token)
        w = patterns[h]
        shown = min(int(head), h - 1)
        last_h, last_head, last_i = state["shown"]
        if h != last_h:                                          # only what changed is redrawn
            state["strip"].set_data(head_strip(w))
            unused = state["unused"]
            unused.set_visible(h < h_max)
            if h < h_max:
                unused.set_x((left[h] + left[-1] + n - 1) / 2)
                idle = f"head {h}" if h == h_max - 1 else f"heads {h}–{h_max - 1}"
                unused.set_text(f"{idle}: not used when h = {h}")
        if (h, i) != (last_h, last_i):
            for j, row in enumerate(state["rows"]):
                row.set_visible(j < h)
                row.set_y(i - 0.5)
        if shown != last_head:
            state["frame"].set_x(left[shown] - 0.5)
        if (h, shown) != (last_h, last_head):
            state["big"].update(w[shown])
        if (h, shown, i) != state["shown"]:
            state["big"].highlight_row(i)
            state["links"].update(weights=w[shown], query_index=i)
        state["shown"] = (h, shown, i)
        row = w[shown, i]
        top = np.argsort(-row, kind="stable")[:3]
        note = "" if int(head) < h else f"  (there is no head {int(head)} with h = {h}: showing head {shown})"
        heads = f"{h} heads of" if h > 1 else "1 head of"
        each = " each" if h > 1 else ""
        lines = [f"h = {heads} d_head = {d_model} / {h} = {d_model // h} columns{each}; "
                 f"parameters stay 4 x {d_model} x {d_model} = {4 * d_model * d_model}{note}",
                 f"head {shown}, query {i} {tokens[i]!r}: " + ", ".join(f"{tokens[j]!r} {row[j]:.2f}" for j in top),
                 f"the largest weight of {tokens[i]!r} in each head: "
                 + " ".join(f"{w[j, i].max():.2f}" for j in range(h))]
        return "\n".join(lines)

    if h not in HEAD_CHOICES or not 0 <= head < h or token not in tokens:
        raise ValueError(f"head_explorer: need h in {HEAD_CHOICES}, 0 <= head < h and a token of the sentence, "
                         f"got h={h!r}, head={head!r}, token={token!r}.")
    controls = dict(
        h=W.SelectionSlider(options=list(HEAD_CHOICES), value=h, description="heads h",
                            continuous_update=True, layout=W.Layout(width="420px")),
        head=widgets.slider(0, h_max - 1, 1, head, "head"),      # a head >= h shows head h - 1
        token=W.Dropdown(options=[(f"{j}: {t}", j) for j, t in enumerate(tokens)], value=tokens.index(token),
                         description="token"),
    )
    return widgets.Interactive(setup, update, figsize=(10.5, 5.6), **controls)
