"""Lesson 09: masks — the experiments, the padded batch, the comparisons with PyTorch, and the
mask editor.

1. Causal: change every token after position i and outputs 0..i stay bit-identical
   (``future_independence``); by autograd, d out_i / d x_j = 0 for j > i (``causal_jacobian``).
2. Padding: a padded batch (``padded_batch``); the mask hides padding KEYS; the query-axis bug.
3. Empty rows: left padding + causal leaves a query with nothing to see (``empty_row_results``
   measures what our code, a naive softmax and PyTorch return there).
4. Before vs after the softmax (``before_vs_after``); -inf vs a large negative number in float32
   and float16 (``fill_experiment``).
5. ``mask_editor``: presets, sliders and a clickable grid; the weights and row sums update.

Every vector here is random (seeded) or built by hand; nothing is learned.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..attention import masked_softmax, scaled_dot_product_attention
from ..masks import causal_mask, padding_mask, sliding_window_mask
from ..multihead import multi_head_attention

PAD = "<pad>"


def random_projections(d_model: int = 8, seed: int = 0, scale: float = 1.5):
    """Four seeded (d_model, d_model) matrices W_Q, W_K, W_V, W_O (entries N(0, scale^2 / d_model))."""
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal((d_model, d_model)) * scale / np.sqrt(d_model) for _ in range(4))


class Vocabulary:
    """One seeded random vector (d_model,) per word, made on first use; the same word, the same vector."""

    def __init__(self, d_model: int = 8, seed: int = 0):
        self.d_model, self.seed, self.table = d_model, seed, {}

    def vector(self, word: str) -> np.ndarray:
        if word not in self.table:
            digest = sum((i + 1) * ord(ch) for i, ch in enumerate(word))
            self.table[word] = np.random.default_rng([self.seed, digest]).standard_normal(self.d_model)
        return self.table[word]

    def embed(self, words) -> np.ndarray:
        """words (n,) -> (n, d_model); a list of sentences (B, n) -> (B, n, d_model)."""
        if words and isinstance(words[0], (list, tuple)):
            return np.stack([self.embed(s) for s in words])
        return np.stack([self.vector(w) for w in words])


# ---------------------------------------------------------------- 1. the future has no influence
@dataclass
class FutureTest:
    """Outputs of the same layer on two sentences that agree up to position ``i``."""

    tokens: list
    changed_tokens: list
    i: int
    output: np.ndarray                # (n, d_model)
    changed_output: np.ndarray        # (n, d_model)

    @property
    def identical(self) -> list:
        """One bool per position: is that output row bit-for-bit the same?"""
        return [bool(np.array_equal(a, b)) for a, b in zip(self.output, self.changed_output)]


def future_independence(tokens=("a", "cat", "sat", "on", "the", "mat"),
                        changed=("a", "cat", "sat", "under", "every", "tree"), num_heads: int = 2,
                        causal: bool = True, seed: int = 0) -> FutureTest:
    """Run one multi-head self-attention layer (random seeded weights) on two sentences that
    share their first words; with ``causal=True`` the causal mask is used."""
    tokens, changed = list(tokens), list(changed)
    if len(tokens) != len(changed):
        raise ValueError(f"future_independence: the sentences need the same length, got {len(tokens)} and {len(changed)}.")
    i = next((j for j, (a, b) in enumerate(zip(tokens, changed)) if a != b), len(tokens)) - 1
    vocab = Vocabulary(8, seed)
    ws = random_projections(8, seed)
    mask = causal_mask(len(tokens)) if causal else None
    outs = [multi_head_attention(x, x, x, *ws, num_heads, mask=mask)[0]
            for x in (vocab.embed(tokens), vocab.embed(changed))]
    return FutureTest(tokens, changed, i, outs[0], outs[1])


def causal_jacobian(n: int = 6, d_model: int = 8, num_heads: int = 2, causal: bool = True, seed: int = 0):
    """||d out_i / d x_j|| for every pair (i, j), by torch autograd through ``multi_head_attention``.

    Returns an (n, n) numpy array: row i = output position, column j = input position; each entry
    is the Frobenius norm of the (d_model, d_model) block of the Jacobian.
    """
    import torch

    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.standard_normal((n, d_model)))
    ws = [torch.tensor(w) for w in random_projections(d_model, seed)]
    mask = causal_mask(n, like=x) if causal else None

    def layer(x):
        return multi_head_attention(x, x, x, *ws, num_heads, mask=mask)[0]

    jac = torch.autograd.functional.jacobian(layer, x)              # (n, d_model, n, d_model)
    return jac.pow(2).sum(dim=(1, 3)).sqrt().numpy()


# ---------------------------------------------------------------- 2. padding
SENTENCES = (("we", "like", "green", "tea"),
             ("a", "cat", "sat", "on", "the", "mat"),
             ("dogs", "bark"))


@dataclass
class PaddedBatch:
    """Sentences padded to one length n: ``tokens`` (B, n) with PAD, ``lengths`` (B,),
    ``x`` (B, n, d_model) embeddings (PAD has a vector too), and the layer's projections ``ws``."""

    tokens: list
    lengths: np.ndarray
    x: np.ndarray
    ws: tuple
    num_heads: int = 2

    def attend(self, mask, x=None):
        """The layer on the batch (or on ``x``): ``(output (B, n, d), weights (B, h, n, n))``."""
        x = self.x if x is None else x
        return multi_head_attention(x, x, x, *self.ws, self.num_heads, mask=mask)


def padded_batch(sentences=SENTENCES, side: str = "right", d_model: int = 8, seed: int = 0) -> PaddedBatch:
    """Pad ``sentences`` with PAD to the longest one, on the right (default) or on the left."""
    if side not in ("right", "left"):
        raise ValueError(f"padded_batch: side must be 'right' or 'left', got {side!r}.")
    n = max(len(s) for s in sentences)
    pads = [[PAD] * (n - len(s)) for s in sentences]
    tokens = [list(s) + p if side == "right" else p + list(s) for s, p in zip(sentences, pads)]
    vocab = Vocabulary(d_model, seed)
    return PaddedBatch(tokens, np.array([len(s) for s in sentences]), vocab.embed(tokens),
                       random_projections(d_model, seed))


def left_padding_mask(lengths, n: int):
    """(B, 1, n) True on the real tokens of a LEFT-padded batch (the last ``lengths[b]`` positions)."""
    lengths = np.asarray(lengths)
    return (np.arange(n)[None, :] >= (n - lengths)[:, None])[:, None, :]


def query_axis_mask(lengths, n: int):
    """The common bug: the padding mask put on the query axis, (B, 1, n, 1) against scores
    (B, h, n_q, n_k): it hides the padded queries' rows, not the padding keys."""
    return padding_mask(lengths, n)[:, 0, :, None][:, None]        # (B, 1, n, 1)


def with_new_padding(batch: PaddedBatch, seed: int = 1) -> np.ndarray:
    """The batch's embeddings with every PAD position replaced by other random numbers."""
    x = batch.x.copy()
    rng = np.random.default_rng(seed)
    for b, length in enumerate(batch.lengths):
        is_pad = [t == PAD for t in batch.tokens[b]]
        x[b, is_pad] = rng.standard_normal((sum(is_pad), x.shape[-1])) * 3.0
    return x


def real_rows_unchanged(batch: PaddedBatch, mask, seed: int = 1) -> bool:
    """Do the real tokens' outputs stay bit-identical when the padding's content changes?"""
    out, _ = batch.attend(mask)
    out_new, _ = batch.attend(mask, with_new_padding(batch, seed))
    real = np.array([[t != PAD for t in row] for row in batch.tokens])
    return bool(np.array_equal(out[real], out_new[real]))


def weight_on_padding(batch: PaddedBatch, weights) -> np.ndarray:
    """(B,) per sentence, the largest share of its weight that a real query (in any head) puts on
    the padding keys together (0 when the padding is hidden)."""
    pad = np.array([[t == PAD for t in row] for row in batch.tokens])             # (B, n)
    real = ~pad
    out = []
    for b in range(len(batch.tokens)):
        w = weights[b][:, real[b]][:, :, pad[b]]                                  # (h, real queries, pad keys)
        out.append(float(w.sum(axis=-1).max()) if w.size else 0.0)
    return np.array(out)


def plot_batch_weights(batch: PaddedBatch, weights, head: int = 0, title: str = "", mask=None):
    """One heatmap per sentence: head ``head``'s weights (n, n), padding labelled."""
    from .. import viz

    n_seq = len(batch.tokens)
    n = len(batch.tokens[0])
    fig, axes = viz.new_figure(n_seq, width=4.1 * n_seq, height=3.7)
    for b, ax in enumerate(np.atleast_1d(axes)):
        viz.heatmap(weights[b, head], batch.tokens[b], batch.tokens[b], ax=ax, colorbar=b == n_seq - 1,
                    colorbar_label="attention weight", title=f"{title}sentence {b} (length {batch.lengths[b]})",
                    xlabel="key", ylabel="query" if b == 0 else "")
    return fig


# ---------------------------------------------------------------- 3. rows with nothing to attend to
def describe_row(values) -> str:
    """'NaN', 'all zeros', 'uniform (1/n each)' or 'finite, not zero' for one row of numbers."""
    v = np.asarray(values.detach().cpu().numpy() if hasattr(values, "detach") else values, dtype=np.float64)
    if np.isnan(v).any():
        return "NaN" if np.isnan(v).all() else "partly NaN"
    if np.all(v == 0):
        return "all zeros"
    if v.ndim == 1 and np.allclose(v, 1.0 / v.size, rtol=1e-3):
        return f"uniform (1/{v.size} each)"
    return "finite, not zero"


def naive_attention(q, k, v, mask):
    """Textbook masked attention with no special case: softmax(where(mask, scores, -inf)) v.
    Returns (output, weights); a row with every key hidden becomes NaN (numpy warnings silenced)."""
    scores = q @ np.swapaxes(k, -2, -1) / np.sqrt(q.shape[-1])
    scores = np.where(mask, scores, -np.inf)
    with np.errstate(invalid="ignore"):
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights = e / e.sum(axis=-1, keepdims=True)
    return weights @ v, weights


def torch_release() -> str:
    """torch's version without the wheel's local tag ("2.13.0", not "2.13.0+cpu"): the kernels that run
    on CPU tensors are the same in the CPU and CUDA wheels of one release."""
    import torch

    return torch.__version__.split("+")[0]


@dataclass
class EmptyRowResult:
    """What one implementation returned for a query row that may attend to no key."""

    who: str
    output: str
    weights: str


def empty_row_results(seed: int = 0) -> list:
    """Left-padded "<pad> <pad> dogs bark" under causal & padding masks: query 0 (a PAD) may see only
    key 0, which is padding, so its row is empty. Measured for: the package, a naive softmax, torch's
    ``F.scaled_dot_product_attention`` and ``nn.MultiheadAttention`` (need_weights=True). Returns a
    list of :class:`EmptyRowResult` describing row 0's output and weights."""
    import torch

    n, d, h = 4, 8, 2
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((3, 1, h, n, d))                               # (B=1, h, n, d)
    mask = (causal_mask(n) & left_padding_mask([2], n))[:, None]                # (1, 1, n, n)
    results = []
    out, w = scaled_dot_product_attention(q, k, v, mask=mask)
    results.append(EmptyRowResult("attention_course (ours)", describe_row(out[0, 0, 0]), describe_row(w[0, 0, 0])))
    out, w = naive_attention(q, k, v, mask)
    results.append(EmptyRowResult("naive softmax(-inf)", describe_row(out[0, 0, 0]), describe_row(w[0, 0, 0])))
    qt, kt, vt, mt = (torch.tensor(a) for a in (q, k, v, mask))
    sdpa = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, attn_mask=mt)
    where = f"torch {torch_release()}, {qt.device.type} tensors,"
    results.append(EmptyRowResult(f"{where} F.scaled_dot_product_attention",
                                  describe_row(sdpa[0, 0, 0]), "(not returned)"))
    torch.manual_seed(seed)
    mha = torch.nn.MultiheadAttention(d, h, batch_first=True, dtype=torch.float64).eval()
    x = torch.tensor(rng.standard_normal((1, n, d)))
    with torch.no_grad():
        o, w = mha(x, x, x, attn_mask=~torch.tensor(causal_mask(n)),
                   key_padding_mask=~torch.tensor(left_padding_mask([2], n)[:, 0]), need_weights=True,
                   average_attn_weights=False)
    results.append(EmptyRowResult(f"{where} nn.MultiheadAttention",
                                  describe_row(o[0, 0]), describe_row(w[0, 0, 0])))
    return results


# ---------------------------------------------------------------- 4. before or after the softmax
@dataclass
class BeforeAfter:
    """One set of scores (n_q, n_k) and mask, masked four ways; every field is (n_q, n_k) weights."""

    mask: np.ndarray
    before: np.ndarray              # the right way: hide the scores, then softmax
    zeroed_after: np.ndarray        # softmax, then weights * mask
    renormalised_after: np.ndarray  # softmax, then * mask, then divide by the row sum

    def row_sums(self) -> dict:
        with np.errstate(invalid="ignore"):
            return {name: getattr(self, name).sum(axis=-1) for name in ("before", "zeroed_after", "renormalised_after")}


def before_vs_after(scores=None, mask=None, seed: int = 0) -> BeforeAfter:
    """Mask the same scores before the softmax, after it by zeroing, and after it by renormalising.
    Default: 4 random query rows against 5 keys, a causal-like mask with row 3 emptied."""
    if scores is None:
        scores = np.random.default_rng(seed).standard_normal((4, 5)) * 1.5
    if mask is None:
        mask = np.tril(np.ones((4, 5), dtype=bool), k=1)
        mask[3] = False                                                    # a row with nothing to attend to
    scores, mask = np.asarray(scores, dtype=float), np.asarray(mask, dtype=bool)
    plain = masked_softmax(scores)
    zeroed = plain * mask
    with np.errstate(invalid="ignore"):
        renormalised = zeroed / zeroed.sum(axis=-1, keepdims=True)         # 0 / 0 on an empty row
    return BeforeAfter(mask, masked_softmax(scores, mask), zeroed, renormalised)


@dataclass
class FillResult:
    """One way of hiding keys: ``dtype``, ``fill``, ``how`` ("masked_fill" or "added"),
    ``hidden_weight`` (largest weight a hidden key gets in a row that sees something, or None on
    error), ``empty_row`` (what a row with every key hidden gets), ``error`` (message, if any)."""

    dtype: str
    fill: str
    how: str
    hidden_weight: float | None
    empty_row: str
    error: str = ""


def fill_experiment(fills=("-inf", "-1e9", "finfo.min")) -> list:
    """Hide keys with -inf, -1e9 or the dtype's most negative number, by ``masked_fill`` and by
    adding, in torch float32 and float16; softmax; report what happened (see :class:`FillResult`).
    For each dtype a last row, how = "ac (ours)", is the package's ``masked_softmax`` on the same
    scores and mask (-inf and its rule for a row with every key hidden)."""
    import torch

    scores = torch.tensor([[2.0, 1.0, 0.5, -1.0, 0.3],
                           [0.3, 0.2, 0.1, 0.0, -0.4]])
    mask = torch.tensor([[True, True, False, False, True],
                         [False, False, False, False, False]])               # row 1 sees nothing
    out = []
    for dtype in (torch.float32, torch.float16):
        for fill in fills:
            value = {"-inf": float("-inf"), "-1e9": -1e9, "finfo.min": float(torch.finfo(dtype).min)}[fill]
            for how in ("masked_fill", "added"):
                name = str(dtype).replace("torch.", "")
                if how == "added" and fill == "-inf":
                    continue                                               # 0 * -inf is NaN: nobody adds -inf
                try:
                    s = scores.to(dtype)
                    if how == "masked_fill":
                        hidden = s.masked_fill(~mask, value)
                    else:
                        hidden = s + (~mask).to(dtype) * torch.tensor(value, dtype=dtype)
                    w = torch.softmax(hidden, dim=-1).double()
                except (RuntimeError, OverflowError) as exc:
                    out.append(FillResult(name, fill, how, None, "-", str(exc).split("\n")[0]))
                    continue
                out.append(FillResult(name, fill, how, float(w[0][~mask[0]].max()), describe_row(w[1])))
        w = masked_softmax(scores.to(dtype), mask).double()                  # ours: -inf and the empty-row rule
        out.append(FillResult(str(dtype).replace("torch.", ""), "-inf", "ac (ours)", float(w[0][~mask[0]].max()),
                              describe_row(w[1])))
    return out


def fill_table(results) -> str:
    """:func:`fill_experiment` as text."""
    lines = [f"{'dtype':<8} {'fill':<10} {'how':<12} {'hidden weight':<14} row with every key hidden"]
    for r in results:
        hidden = "error" if r.hidden_weight is None else f"{r.hidden_weight:.3g}"
        tail = r.error if r.error else r.empty_row
        lines.append(f"{r.dtype:<8} {r.fill:<10} {r.how:<12} {hidden:<14} {tail}")
    return "\n".join(lines)


# ---------------------------------------------------------------- 5. the mask editor
PRESETS = ("none", "causal", "padding", "sliding window")
WHERE = ("before the softmax", "after: zeroed", "after: renormalised")
EDITOR_TOKENS = ("a", "cat", "sat", "on", "the", "mat")


def preset_mask(preset: str, n: int, length: int = 4, width: int = 2) -> np.ndarray:
    """(n, n) bool: "none" (all True), "causal", "padding" (the first ``length`` keys are real),
    or "sliding window" (causal, ``width`` keys: itself and the width - 1 before it)."""
    if preset == "none":
        return np.ones((n, n), dtype=bool)
    if preset == "causal":
        return causal_mask(n)
    if preset == "padding":
        return np.broadcast_to(padding_mask([length], n)[0], (n, n)).copy()
    if preset == "sliding window":
        return sliding_window_mask(n, width)
    raise ValueError(f"preset_mask: preset must be one of {PRESETS}, got {preset!r}.")


def apply_mask(scores, mask, where: str = WHERE[0]) -> np.ndarray:
    """Weights (n_q, n_k) from ``scores`` with ``mask`` applied before the softmax (right), or after
    it by zeroing or by renormalising (the row of an empty mask is then 0 / 0: NaN)."""
    if where == WHERE[0]:
        return masked_softmax(scores, mask)
    zeroed = masked_softmax(scores) * mask
    if where == WHERE[1]:
        return zeroed
    if where == WHERE[2]:
        with np.errstate(invalid="ignore"):
            return zeroed / zeroed.sum(axis=-1, keepdims=True)
    raise ValueError(f"apply_mask: where must be one of {WHERE}, got {where!r}.")


class MaskEditor:
    """A mask you can edit: presets, a length slider (padding), a width slider (sliding window),
    where the mask is applied, and a grid of buttons, one per (query, key) cell, to toggle.

    ``.toggle(i, j)`` does what clicking cell (i, j) does; ``.mask`` is the current mask;
    ``.view`` the ``widgets.Interactive`` drawing mask, weights and row sums; ``.text`` its summary.
    Displays as the live widget (with a kernel) and as the figure and text (without one).
    """

    def __init__(self, preset: str = "causal", length: int = 4, width: int = 2, where: str = WHERE[0],
                 tokens=EDITOR_TOKENS, seed: int = 0):
        import ipywidgets as W

        from .. import widgets

        self.tokens = list(tokens)
        n = self.n = len(self.tokens)
        rng = np.random.default_rng(seed)
        q, k = rng.standard_normal((2, n, 4)) * 1.2
        self.scores = q @ k.T / 2.0                                   # (n, n) scaled scores, fixed
        self.edits: set = set()                                       # cells toggled by hand
        self._last = None
        self.buttons = [[W.Button(description="", tooltip=f"query {i} ({t}) -> key {j} ({self.tokens[j]})",
                                  layout=W.Layout(width="34px", height="28px", padding="0px", margin="1px"))
                         for j in range(n)] for i, t in enumerate(self.tokens)]
        for i in range(n):
            for j in range(n):
                self.buttons[i][j].on_click(lambda _b, i=i, j=j: self._on_click(i, j))
        controls = dict(
            preset=W.Dropdown(options=list(PRESETS), value=preset, description="preset"),
            length=widgets.slider(0, n, 1, length, "padding: real tokens"),
            width=widgets.slider(1, n, 1, width, "sliding window: width"),
            where=W.Dropdown(options=list(WHERE), value=where, description="mask applied",
                             layout=W.Layout(width="320px")),
        )
        self.view = widgets.Interactive(self._setup, self._update, figsize=(10.0, 3.4), **controls)
        label = W.Layout(width="46px", height="28px", margin="1px")
        head = W.HBox([W.Label("", layout=label)] + [W.Label(t, layout=W.Layout(width="34px", margin="1px"))
                                                     for t in self.tokens])
        rows = [W.HBox([W.Label(t, layout=label)] + self.buttons[i]) for i, t in enumerate(self.tokens)]
        grid = W.VBox([W.HTML("<b>Click a cell</b> to hide or show one key for one query "
                              "(rows: queries, columns: keys; ✓ = may attend):"), head, *rows])
        self.widget = W.VBox([W.VBox(list(self.view.controls.values())), grid, self.view.image, self.view.summary])

    # -- what the knobs do
    @property
    def mask(self) -> np.ndarray:
        values = self.view.values
        return self._mask(values["preset"], values["length"], values["width"])

    def _mask(self, preset, length, width) -> np.ndarray:
        base = preset_mask(preset, self.n, int(length), int(width))
        for i, j in self.edits:
            base[i, j] = not base[i, j]
        return base

    @property
    def text(self) -> str:
        return self.view.text

    @property
    def png(self) -> bytes:
        return self.view.png

    def set(self, **values):
        """Set controls (preset, length, width, where), as if moved in the browser; returns self."""
        self.view.set(**values)
        return self

    def toggle(self, i: int, j: int):
        """Hide or show key ``j`` for query ``i`` (what clicking that cell does); returns self."""
        if not (0 <= i < self.n and 0 <= j < self.n):
            raise IndexError(f"MaskEditor.toggle: cell ({i}, {j}) is outside the {self.n} x {self.n} grid.")
        self.edits ^= {(int(i), int(j))}
        self.view.set()
        return self

    def _on_click(self, i, j):
        try:
            self.toggle(i, j)
        except Exception as exc:                                      # never raise into the front end
            self.view.summary.value = f"<pre style='color:#b00020'>Could not update: {exc}</pre>"

    # -- drawing
    def _setup(self, fig):
        from .. import viz

        ax_m, ax_w, ax_s = fig.subplots(1, 3, width_ratios=[1.0, 1.25, 0.9])
        zeros = np.zeros((self.n, self.n))
        state = {
            "mask": viz.heatmap(zeros, self.tokens, self.tokens, ax=ax_m, title="mask (1 = may attend)",
                                colorbar=False, fmt="{:.0f}", cmap="Greys", vmin=0, vmax=1.6),
            "weights": viz.heatmap(zeros, self.tokens, self.tokens, ax=ax_w, title="attention weights",
                                   ylabel="", colorbar_label="attention weight"),
            "sums": viz.bars(np.ones(self.n), self.tokens, ax=ax_s, title="row sums", ylim=(0, 1.25)),
        }
        viz.static(ax_s.axhline(1.0, color="0.5", linestyle="--", linewidth=0.8))
        return state

    def _update(self, state, preset, length, width, where):
        knobs = (preset, int(length), int(width))
        if knobs != self._last:                                       # a new preset: hand edits start over
            self.edits = set()
            self._last = knobs
        mask = self._mask(preset, length, width)
        weights = apply_mask(self.scores, mask, where)
        shown = np.nan_to_num(weights, nan=0.0)
        undefined = np.isnan(weights).any(axis=-1)                    # renormalised empty rows: 0 / 0
        state["mask"].update(mask.astype(float))
        state["weights"].update(shown)
        sums = np.nansum(weights, axis=-1)
        state["sums"].update(sums)
        if undefined.any():                                           # say "NaN", not a made-up 0.00
            self._label_undefined(state, shown, undefined)
        for i in range(self.n):
            for j in range(self.n):
                b = self.buttons[i][j]
                b.description = "✓" if mask[i, j] else "·"
                b.button_style = "success" if mask[i, j] else ""
        empty = [self.tokens[i] for i in range(self.n) if not mask[i].any()]
        nan_rows = [self.tokens[i] for i in range(self.n) if np.isnan(weights[i]).any()]
        lines = [f"{int(mask.sum())} of {mask.size} cells may attend ({preset}"
                 + (f", {len(self.edits)} toggled by hand" if self.edits else "") + f"); mask applied {where}",
                 "row sums: " + " ".join("0/0" if u else f"{s:.2f}" for s, u in zip(sums, undefined))]
        if empty:
            lines.append("rows with nothing to attend to: " + ", ".join(empty)
                         + ("  -> zero weights and a zero output, no 0 / 0" if where == WHERE[0] else ""))
        if nan_rows:
            lines.append("renormalising divides 0 by 0 in the rows of: " + ", ".join(nan_rows)
                         + " (NaN: undefined, drawn dark)")
        if where == WHERE[1] and np.any(sums[[bool(mask[i].any()) for i in range(self.n)]] < 1 - 1e-9):
            lines.append("zeroing after the softmax leaves rows that no longer sum to 1")
        return "\n".join(lines)

    def _label_undefined(self, state, shown, undefined):
        """Print "NaN" in the weights of the rows that are 0 / 0, and "0/0" over their row sums."""
        hm, n = state["weights"], self.n
        grid = np.stack(np.meshgrid(np.arange(n), np.arange(n)), -1).reshape(-1, 2)    # (x = key, y = query)
        nan = np.repeat(undefined, n)
        text = ["NaN" if bad else f"{w:.2f}" for w, bad in zip(shown.ravel(), nan)]
        rgba = hm.image.cmap(hm.image.norm(shown.ravel()))
        colors = np.where(rgba[:, :3] @ np.array([0.2126, 0.7152, 0.0722]) < 0.5, "white", "black")
        hm.annotations.set_items(text, grid, colors)
        bars = state["sums"]
        sums = bars.values
        bars.value_labels.set_items(["0/0" if bad else f"{v:.2f}" for v, bad in zip(sums, undefined)],
                                    np.column_stack([np.arange(n), sums]), ["0.15"] * n)

    # -- display
    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.widget._repr_mimebundle_()
        note = "Static view of the mask editor: run the notebook to pick presets, move the sliders and click cells."
        html = self.view.static_html()
        generic = "Static view: run the notebook to move the sliders."
        if generic in html:
            html = html.replace(generic, note)
        else:                                                         # the engine's wording changed: add ours
            head, end, tail = html.rpartition("</div>")
            html = f'{head}<p style="color:#666;font-size:smaller">{note}</p>{end}{tail}' if end else html + note
        bundle["text/html"] = html
        knobs = ", ".join(f"{name} = {value}" for name, value in self.view.values.items())
        bundle["text/plain"] = f"{knobs}\n{self.text}"
        return bundle

    def __repr__(self):
        return f"<MaskEditor: {self.text.splitlines()[0] if self.text else ''}>"


def mask_editor(preset: str = "causal", length: int = 4, width: int = 2, where: str = WHERE[0]) -> MaskEditor:
    """The lesson's mask editor (see :class:`MaskEditor`)."""
    return MaskEditor(preset=preset, length=length, width=width, where=where)
