"""Lesson 14: a real pretrained transformer (all-MiniLM-L6-v2) run by the course's own code.

The model itself is the core module ``attention_course.pretrained`` (``load_minilm()``). This
module holds what the lesson does with it: the published similarity values it reproduces, the
first layer taken apart with every shape, measurements that find heads with a recognisable
pattern (previous token, next token, "it" -> "animal", [CLS]), what each key really adds to a
head's output (weight x length of its transformed value), the head explorer and the
sentence-similarity widget.

Layers and heads are counted from 0, as the arrays index them: layer 0..5, head 0..11.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..masks import padding_mask
from ..multihead import multi_head_attention
from ..pretrained import MiniLM, embed, encoder_layer, layer_norm

# ---------------------------------------------------------------- sentences

# Eight everyday sentences; the head measurements average over all of them.
CORPUS = (
    "The animal didn't cross the street because it was too tired.",
    "A man is playing a guitar on the stage.",
    "She poured the coffee into a small blue cup.",
    "The weather is lovely today.",
    "Attention lets every word look at every other word.",
    "The children were watching a film about whales.",
    "He drove to the stadium after work.",
    "My grandmother grows tomatoes in her garden.",
)
TIRED = "The animal didn't cross the street because it was too tired."
WIDE = "The animal didn't cross the street because it was too wide."
SPECIAL = ("[CLS]", "[SEP]")
PUNCTUATION = (".", ",", "'", "!", "?")


# ---------------------------------------------------------------- published values, reproduced

@dataclass(frozen=True)
class Published:
    """Cosine similarities printed (to 4 decimals) in the sentence-transformers documentation."""
    source: str                      # the page's address
    rows: tuple                      # sentences encoded as one list
    cols: tuple                      # ... and as the other (the same list for a square table)
    values: dict                     # (i, j) -> the published similarity of rows[i] and cols[j]


PUBLISHED = (
    Published(
        source="https://sbert.net/docs/sentence_transformer/usage/usage.html",
        rows=("The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."),
        cols=("The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."),
        values={(0, 1): 0.6660, (0, 2): 0.1046, (1, 2): 0.1411}),
    Published(
        source="https://sbert.net/docs/sentence_transformer/usage/semantic_textual_similarity.html",
        rows=("The new movie is awesome", "The cat sits outside", "A man is playing guitar"),
        cols=("The dog plays in the garden", "The new movie is so great", "A woman watches TV"),
        values={(0, 0): 0.0543, (0, 1): 0.8939, (0, 2): -0.0502,
                (1, 0): 0.2838, (1, 1): -0.0029, (1, 2): 0.1310,
                (2, 0): 0.2277, (2, 1): -0.0136, (2, 2): -0.0327}),
)


@dataclass(frozen=True)
class Reproduced:
    row: str
    col: str
    published: float
    ours: float

    @property
    def matches(self) -> bool:
        """Equal once rounded to the 4 decimals that were published."""
        return f"{self.ours:.4f}" == f"{self.published:.4f}"


def reproduce(model: MiniLM, example: Published) -> list:
    """Our cosine similarities for a published example, one :class:`Reproduced` per published value.

    Each list is encoded in one batch, as the documentation's code does.
    """
    a, b = model.encode(list(example.rows)), model.encode(list(example.cols))
    sims = a @ b.T                                           # unit vectors: dot product = cosine
    return [Reproduced(example.rows[i], example.cols[j], p, float(sims[i, j]))
            for (i, j), p in example.values.items()]


def reproduction_table(results) -> str:
    """One line per value: published, ours rounded to the same 4 decimals, and whether they agree.

    Only 4 decimals of ours are printed: beyond them float32 sums differ (by about 1e-7) from one
    CPU's BLAS to another's, and a printed 6th decimal could change.
    """
    width = max(len(r.row) for r in results) + 2
    lines = [f"{'sentence':<{width}}{'other sentence':<{width + 2}}published    ours   same to 4 decimals"]
    lines += [f"{r.row:<{width}}{r.col:<{width + 2}}{r.published:9.4f} {r.ours:8.4f}   {r.matches}"
              for r in results]
    return "\n".join(lines)


# ---------------------------------------------------------------- the weights and one layer

def weight_table(model: MiniLM) -> str:
    """The model's weights by name with their shapes (one layer shown; the other five are alike)."""
    e, p = model.embeddings, model.layers[0]
    rows = [("token embeddings E_token", e.token), ("position embeddings E_position", e.position),
            ("token-type embeddings E_type", e.token_type), ("embedding LayerNorm gain, bias", e.ln_gain),
            ("layer 0: W_Q, W_K, W_V", p.w_q), ("layer 0: b_Q, b_K, b_V", p.b_q), ("layer 0: W_O", p.w_o),
            ("layer 0: LayerNorm 1 gain, bias", p.ln1_gain), ("layer 0: feed-forward W_1", p.w_1),
            ("layer 0: b_1", p.b_1), ("layer 0: feed-forward W_2", p.w_2), ("layer 0: LayerNorm 2 gain, bias", p.ln2_gain)]
    width = max(len(r[0]) for r in rows)
    lines = [f"{name:<{width}}  {str(a.shape):<13} {a.dtype}" for name, a in rows]
    lines.append(f"{'(layers 1-5: the same as layer 0)':<{width}}")
    lines.append(f"{'parameters in all':<{width}}  {model.num_parameters:,}")
    return "\n".join(lines)


@dataclass(frozen=True)
class FirstLayer:
    """The first encoder layer on one sentence, every intermediate kept (batch of 1, axis 0 dropped)."""
    tokens: list
    ids: np.ndarray              # (n,)
    x0: np.ndarray               # (n, d_model)       LayerNorm(token + position + type embeddings)
    attention: object            # MultiHeadSteps:    q, k, v, heads, weights, merged, output
    after_attention: np.ndarray  # (n, d_model)       LayerNorm(x0 + attention output)
    ff_hidden: np.ndarray        # (n, d_ff)          GELU(x W_1 + b_1)
    x1: np.ndarray               # (n, d_model)       LayerNorm(after_attention + feed-forward)

    def table(self) -> str:
        rows = [("token ids", self.ids.shape), ("x0 = LayerNorm(E_token[ids] + E_position + E_type)", self.x0.shape),
                ("q = x0 W_Q + b_Q   (k, v alike)", self.attention.q.shape),
                ("split into 12 heads", self.attention.q_heads.shape),
                ("weights = softmax(q_h k_h^T / sqrt(32))", self.attention.weights.shape),
                ("heads_out = weights v_h", self.attention.heads_out.shape),
                ("merged (heads side by side)", self.attention.merged.shape),
                ("attention output = merged W_O + b_O", self.attention.output.shape),
                ("x = LayerNorm(x0 + attention output)", self.after_attention.shape),
                ("h = GELU(x W_1 + b_1)", self.ff_hidden.shape),
                ("x1 = LayerNorm(x + h W_2 + b_2)", self.x1.shape)]
        width = max(len(r[0]) for r in rows)
        return "\n".join(f"{name:<{width}}  {shape}" for name, shape in rows)


def first_layer(model: MiniLM, text: str) -> FirstLayer:
    """Run the embeddings and layer 0 on ``text`` step by step (the same maths as ``encoder_layer``)."""
    from ..pretrained import gelu

    batch = model.batch([text])
    c, p = model.config, model.layers[0]
    x0 = embed(batch.ids, model.embeddings, c.eps)                                   # (1, n, d)
    _, _, steps = multi_head_attention(x0, x0, x0, p.w_q, p.w_k, p.w_v, p.w_o, c.num_heads,
                                       b_q=p.b_q, b_k=p.b_k, b_v=p.b_v, b_o=p.b_o, return_steps=True)
    x = layer_norm(x0 + steps.output, p.ln1_gain, p.ln1_bias, c.eps)                 # (1, n, d)
    h = gelu(x @ p.w_1 + p.b_1)                                                      # (1, n, d_ff)
    x1 = layer_norm(x + h @ p.w_2 + p.b_2, p.ln2_gain, p.ln2_bias, c.eps)            # (1, n, d)
    drop = {name: getattr(steps, name)[0] for name in
            ("q", "k", "v", "q_heads", "k_heads", "v_heads", "weights", "heads_out", "merged", "output")}
    steps = type(steps)(num_heads=steps.num_heads, **drop)
    return FirstLayer(batch.tokens[0], batch.ids[0], x0[0], steps, x[0], h[0], x1[0])


def first_layer_agrees(model: MiniLM, text: str) -> float:
    """Largest difference between :func:`first_layer` and ``encoder_layer`` (they are the same maths)."""
    steps = first_layer(model, text)
    x1, _ = encoder_layer(steps.x0[None], model.layers[0], model.config.num_heads, eps=model.config.eps)
    return float(np.abs(x1[0] - steps.x1).max())


def batch_independence(model: MiniLM, text: str = "Hi there.", other: str = TIRED) -> float:
    """Largest difference between ``text``'s embedding computed alone and in a padded batch with a
    longer ``other`` text (the padding mask should make them equal up to float rounding)."""
    alone = model.encode([text])
    padded = model.encode([text, other])[:1]
    return float(np.abs(alone - padded).max())


def forward_time(model: MiniLM, text: str, repeats: int = 15) -> float:
    """Median wall-clock time of one forward pass on ``text``, in milliseconds (tokenising excluded)."""
    import time

    batch = model.batch([text])
    model.forward(batch)                                     # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.forward(batch)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


# ---------------------------------------------------------------- heads found by measurement

@dataclass(frozen=True)
class HeadScores:
    """Per head, averaged over the real tokens of every sentence measured: arrays (layers, heads).

    previous: weight a token gives to the token just before it (tokens 1..n-1)
    next:     weight a token gives to the token just after it (tokens 0..n-2)
    cls, sep: weight a token gives to [CLS] / to [SEP]
    itself:   weight a token gives to itself
    """
    previous: np.ndarray
    next: np.ndarray
    cls: np.ndarray
    sep: np.ndarray
    itself: np.ndarray
    n_sentences: int

    def best(self, name: str):
        """``(layer, head, score)`` of the head with the highest score ``name``."""
        scores = getattr(self, name)
        layer, head = np.unravel_index(int(np.argmax(scores)), scores.shape)
        return int(layer), int(head), float(scores[layer, head])


def head_scores(model: MiniLM, texts=CORPUS) -> HeadScores:
    """Measure every head on ``texts`` (one padded batch); padding is left out of every average."""
    out = model.forward(list(texts))
    sums = {name: 0.0 for name in ("previous", "next", "cls", "sep", "itself")}
    for w, n in zip(out.weights, out.batch.lengths):        # w (layers, heads, n_pad, n_pad)
        w = w[..., :n, :n]                                   # real queries and keys only
        i = np.arange(n)
        sums["previous"] = sums["previous"] + w[..., i[1:], i[:-1]].mean(axis=-1)
        sums["next"] = sums["next"] + w[..., i[:-1], i[1:]].mean(axis=-1)
        sums["cls"] = sums["cls"] + w[..., :, 0].mean(axis=-1)
        sums["sep"] = sums["sep"] + w[..., :, n - 1].mean(axis=-1)
        sums["itself"] = sums["itself"] + w[..., i, i].mean(axis=-1)
    count = len(out.batch.lengths)
    return HeadScores(**{k: v / count for k, v in sums.items()}, n_sentences=count)


@dataclass(frozen=True)
class ItHead:
    """Where one head sends "it" in the two sentences (weights from the query "it")."""
    layer: int
    head: int
    tired_animal: float          # "...because it was too tired.": it -> animal
    tired_street: float          #                                  it -> street
    wide_animal: float           # "...because it was too wide.":  it -> animal
    wide_street: float           #                                  it -> street
    tired_cls: float             # it -> [CLS] in each sentence (where most of the weight goes)
    wide_cls: float
    others_animal: float         # tired sentence: mean weight every *other* token gives to "animal"
    others_pick_animal: int      # ... and for how many of them "animal" is the key with the most weight
    n_others: int                # the number of other tokens (all but "it")
    top_word: str                # the word (not [CLS]/[SEP]/punctuation) "it" weighs most, tired


def it_heads(model: MiniLM, tired: str = TIRED, wide: str = WIDE) -> list:
    """Every head's :class:`ItHead`, sorted by it -> animal in the "tired" sentence (largest first)."""
    (tokens, w_t), (tokens_w, w_w) = model.attention(tired), model.attention(wide)
    it, animal, street = (tokens.index(t) for t in ("it", "animal", "street"))
    it_w, animal_w, street_w = (tokens_w.index(t) for t in ("it", "animal", "street"))
    words = [j for j, t in enumerate(tokens) if t not in SPECIAL + PUNCTUATION]
    others = [i for i in range(len(tokens)) if i != it]
    rows = []
    for layer in range(w_t.shape[0]):
        for head in range(w_t.shape[1]):
            row, wide_row = w_t[layer, head, it], w_w[layer, head, it_w]
            picks = int(np.sum(w_t[layer, head, others].argmax(axis=-1) == animal))
            rows.append(ItHead(layer, head, float(row[animal]), float(row[street]),
                               float(wide_row[animal_w]), float(wide_row[street_w]), float(row[0]), float(wide_row[0]),
                               float(w_t[layer, head, others, animal].mean()), picks, len(others),
                               tokens[max(words, key=lambda j: row[j])]))
    return sorted(rows, key=lambda r: -r.tired_animal)


def it_table(rows) -> str:
    """Where "it" sends its weight (animal, street, [CLS]) in both sentences, and the control."""
    lines = ["             weight from 'it' to:                               other tokens -> animal",
             "layer head | tired: animal street [CLS] | wide: animal street [CLS] |  mean   top key for"]
    lines += [f"{r.layer:5d} {r.head:4d} | {r.tired_animal:13.2f} {r.tired_street:6.2f} {r.tired_cls:5.2f} | "
              f"{r.wide_animal:12.2f} {r.wide_street:6.2f} {r.wide_cls:5.2f} | {r.others_animal:5.2f}   "
              f"{r.others_pick_animal:2d} of {r.n_others}" for r in rows]
    return "\n".join(lines)


def flipping_heads(rows, min_weight: float = 0.1) -> list:
    """Heads whose "it" prefers animal over street in the tired sentence and street over animal in the
    wide one, with at least ``min_weight`` on street in the wide sentence (``min_weight=0``: every
    head that switches, however small its weights)."""
    return [r for r in rows if r.tired_animal > r.tired_street and r.wide_street > r.wide_animal
            and r.wide_street >= min_weight]


@dataclass(frozen=True)
class WeightShares:
    """Per layer (averaged over heads, real query tokens and sentences): the share of the weight
    that goes to [CLS], to [SEP], to punctuation, and to the words. Arrays (layers,), summing to 1."""
    cls: np.ndarray
    sep: np.ndarray
    punctuation: np.ndarray
    words: np.ndarray


def weight_shares(model: MiniLM, texts=CORPUS) -> WeightShares:
    out = model.forward(list(texts))
    shares = np.zeros((4, model.config.num_layers))
    for w, n, tokens in zip(out.weights, out.batch.lengths, out.batch.tokens):
        w = w[..., :n, :n].mean(axis=(1, 2))                 # (layers, n): mean over heads and queries
        punct = [j for j, t in enumerate(tokens) if t in PUNCTUATION]
        shares[0] += w[:, 0]
        shares[1] += w[:, n - 1]
        shares[2] += w[:, punct].sum(axis=-1)
    shares /= len(out.batch.lengths)
    shares[3] = 1.0 - shares[:3].sum(axis=0)
    return WeightShares(*shares)


# ---------------------------------------------------------------- what a key really adds

def carried_vectors(steps, w_o):
    """What each key adds to the output through each head: f[..., h, j, :] = v_j^h W_O^h.

    ``steps``: a ``MultiHeadSteps`` (``multi_head_attention(..., return_steps=True)``); ``w_o``
    (d_model, d_model). W_O^h is the block of d_head rows of W_O that head h's output meets after
    the merge, so the attention output is exactly sum_h sum_j weights[h, i, j] f[h, j] + b_O.
    Returns (..., h, n_k, d_model).
    """
    h, d_head = steps.v_heads.shape[-3], steps.v_heads.shape[-1]
    w_o_heads = w_o.reshape(h, d_head, w_o.shape[-1])         # (h, d_head, d_model)
    return steps.v_heads @ w_o_heads                          # (..., h, n_k, d_head) @ (h, d_head, d_model)


def decomposition_gap(model: MiniLM, text: str = TIRED, layer: int = 3) -> float:
    """Largest difference between a layer's attention output and sum_h sum_j weight * f + b_O (float32)."""
    x = embed(model.batch([text]).ids, model.embeddings, model.config.eps)   # (1, n, d)
    for p in model.layers[:layer]:
        x, _ = encoder_layer(x, p, model.config.num_heads, eps=model.config.eps)
    p = model.layers[layer]
    output, weights, steps = multi_head_attention(x, x, x, p.w_q, p.w_k, p.w_v, p.w_o, model.config.num_heads,
                                                  b_q=p.b_q, b_k=p.b_k, b_v=p.b_v, b_o=p.b_o, return_steps=True)
    f = carried_vectors(steps, p.w_o)                                        # (1, h, n, d)
    rebuilt = np.einsum("bhij,bhjd->bid", weights, f) + p.b_o                # (1, n, d)
    return float(np.abs(rebuilt - output).max())


@dataclass(frozen=True)
class Carried:
    """Per layer, averaged over heads, real query tokens and sentences; arrays (layers,).

    cls_weight:   the share of the attention weight that goes to [CLS]
    cls_added:    [CLS]'s share of what the heads add, measured by length: for query i in head h,
                  |w_i0 f_0| / sum_j |w_ij f_j| (a norm-based analysis, as in Kobayashi et al., 2020)
    cls_length:   mean length |f_j| = |v_j^h W_O^h| of what [CLS] would add at weight 1
    other_length: the same for the other real tokens
    """
    cls_weight: np.ndarray
    cls_added: np.ndarray
    cls_length: np.ndarray
    other_length: np.ndarray


def carried(model: MiniLM, texts=CORPUS) -> Carried:
    """Weight share vs share of what is added, for [CLS], layer by layer (one padded batch)."""
    batch, c = model.batch(list(texts)), model.config
    mask = padding_mask(batch.lengths, batch.ids.shape[1])                   # (b, 1, n)
    x = embed(batch.ids, model.embeddings, c.eps)                            # (b, n, d)
    result = np.zeros((4, c.num_layers))
    for layer, p in enumerate(model.layers):
        _, w, steps = multi_head_attention(x, x, x, p.w_q, p.w_k, p.w_v, p.w_o, c.num_heads, mask=mask,
                                           b_q=p.b_q, b_k=p.b_k, b_v=p.b_v, b_o=p.b_o, return_steps=True)
        length = np.linalg.norm(carried_vectors(steps, p.w_o), axis=-1)     # (b, h, n_k): |f_j|
        added = w * length[:, :, None, :]                                    # (b, h, n_q, n_k): |w_ij f_j|
        for i, n in enumerate(batch.lengths):
            a = added[i, :, :n, :n]                                          # real queries and keys
            result[:, layer] += (w[i, :, :n, 0].mean(), (a[..., 0] / a.sum(axis=-1)).mean(),
                                 length[i, :, 0].mean(), length[i, :, 1:n].mean())
        x, _ = encoder_layer(x, p, c.num_heads, mask, c.eps)                 # on to the next layer
    return Carried(*(result / len(batch.lengths)))


# ---------------------------------------------------------------- figures

def plot_architecture():
    """The encoder as a column of boxes, each with the shape of what comes out of it."""
    from .. import viz
    from matplotlib.patches import FancyBboxPatch

    fig, ax = viz.new_figure(width=7.4, height=5.0)
    ax.set_axis_off()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10.4)
    boxes = [
        (9.4, "text  ->  WordPiece tokens  ->  ids", "n ids", "#eeeeee"),
        (8.2, "E_token[ids] + E_position + E_type,  LayerNorm", "(n, 384)", "#dbe9f6"),
        (6.6, "multi-head attention (12 heads of 32) + padding mask", "(n, 384)", "#fde0c5"),
        (5.6, "add the input (residual), LayerNorm", "(n, 384)", "#fde0c5"),
        (4.6, "feed-forward: GELU(x W_1 + b_1) W_2 + b_2", "(n, 1536) -> (n, 384)", "#fde0c5"),
        (3.6, "add the input (residual), LayerNorm", "(n, 384)", "#fde0c5"),
        (2.0, "mean over the real tokens (not the padding)", "(384,)", "#d9f0d3"),
        (0.9, "scale to length 1 (divide by its norm)  ->  sentence embedding", "(384,), length 1", "#d9f0d3"),
    ]
    for y, label, shape, color in boxes:
        ax.add_patch(FancyBboxPatch((0.4, y - 0.36), 6.4, 0.72, boxstyle="round,pad=0.02,rounding_size=0.15",
                                    facecolor=color, edgecolor="0.5", linewidth=0.8))
        ax.text(3.6, y, label, ha="center", va="center", fontsize=8.5)
        ax.text(7.25, y, shape, ha="left", va="center", fontsize=8.5, color="0.25", family="monospace")
    ax.add_patch(FancyBboxPatch((0.15, 3.05), 6.85, 4.1, boxstyle="round,pad=0.02,rounding_size=0.2",
                                facecolor="none", edgecolor="#d62728", linewidth=1.4, linestyle="--"))
    ax.text(0.3, 7.35, "x 6 layers, each with its own weights", color="#d62728", fontsize=8.5, ha="left")
    for y0, y1 in ((9.04, 8.56), (7.84, 6.96), (6.24, 5.96), (5.24, 4.96), (4.24, 3.96), (3.24, 2.36), (1.64, 1.26)):
        ax.annotate("", xy=(3.6, y1), xytext=(3.6, y0), arrowprops=dict(arrowstyle="->", color="0.4"))
    ax.set_title("all-MiniLM-L6-v2: what happens to a sentence")
    return fig


def plot_gallery(model: MiniLM, scores: HeadScores, it_rows, text: str = TIRED):
    """Four heads on ``text`` as heatmaps: previous token, next token, it -> animal, and the caution."""
    from .. import viz

    tokens, w = model.attention(text)
    prev, nxt = scores.best("previous"), scores.best("next")
    specific = min((r for r in it_rows if r.top_word == "animal"), key=lambda r: r.others_animal - r.tired_animal)
    caution = max((r for r in it_rows if r.top_word == "animal"), key=lambda r: r.others_animal)
    panels = [(prev[0], prev[1], f"previous token ({prev[2]:.2f})"), (nxt[0], nxt[1], f"next token ({nxt[2]:.2f})"),
              (specific.layer, specific.head, f'"it" -> animal {specific.tired_animal:.2f}'),
              (caution.layer, caution.head, f'others -> animal {caution.others_animal:.2f} (mean)')]
    fig, axes = viz.new_figure(2, width=10.6, height=9.2, nrows=2)
    for ax, (layer, head, what) in zip(axes.ravel(), panels):
        hm = viz.heatmap(w[layer, head], tokens, tokens, ax=ax, annotate=False, colorbar=False,
                         title=f"layer {layer}, head {head}: {what}", xlabel="key", ylabel="query")
    bar = fig.colorbar(hm.image, ax=axes.ravel().tolist(), shrink=0.5, pad=0.02)   # one scale, 0 to 1, for all four
    bar.outline.set_visible(False)
    bar.set_label("attention weight")
    return fig


def plot_weight_shares(shares: WeightShares):
    """Stacked bars per layer: how much of the attention goes to [CLS], [SEP], punctuation, words."""
    from .. import viz

    fig, ax = viz.new_figure(width=6.4, height=3.6)
    layers = np.arange(len(shares.cls))
    bottom = np.zeros(len(layers))
    for values, label, color in ((shares.cls, "[CLS]", "#d62728"), (shares.sep, "[SEP]", "#ff9896"),
                                 (shares.punctuation, "punctuation", "#aec7e8"), (shares.words, "words", "#1f77b4")):
        ax.bar(layers, values, bottom=bottom, color=color, label=label, width=0.7)
        bottom = bottom + values
    for x, v in zip(layers, shares.cls):
        ax.text(x, v / 2, f"{v:.2f}", ha="center", va="center", color="white", fontsize=8)
    ax.set_xticks(layers, [str(i) for i in layers])
    ax.set_xlabel("layer")
    ax.set_ylabel("share of the attention weight")
    ax.set_ylim(0, 1)
    ax.set_title("Where the weight goes, layer by layer")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def plot_carried(c: Carried):
    """Two bars per layer: [CLS]'s share of the attention weight, and of what the heads add."""
    from .. import viz

    fig, ax = viz.new_figure(width=6.4, height=3.4)
    layers = np.arange(len(c.cls_weight))
    for offset, values, label, color in ((-0.18, c.cls_weight, "share of the attention weight", "#d62728"),
                                         (0.18, c.cls_added, "share of what the heads add (by length)", "#7f7f7f")):
        ax.bar(layers + offset, values, width=0.36, color=color, label=label)
        for x, v in zip(layers + offset, values):
            ax.text(x, v + 0.015, f"{v:.2f}", ha="center", va="bottom", fontsize=7.5)
    ax.set_xticks(layers, [str(i) for i in layers])
    ax.set_xlabel("layer")
    ax.set_ylabel("[CLS]'s share")
    ax.set_ylim(0, 1.0)
    ax.set_title("[CLS]: much weight, little added")
    ax.legend(fontsize=8, loc="upper right")
    return fig


# ---------------------------------------------------------------- the head explorer

MAX_EXPLORER_TOKENS = 40


class HeadExplorer:
    """Type a sentence, pick a layer and a head, click a token: where does that head send it?

    Built around ``widgets.AttentionExplorer`` (heatmap + links + token buttons). ``.set(text=...,
    layer=..., head=..., query=...)`` does from Python what the controls do; ``.text`` is the
    printed summary; ``.weights`` (layers, heads, n, n) the current sentence's attention.
    """

    def __init__(self, model: MiniLM, text: str = TIRED, layer: int = 0, head: int = 0, query="it"):
        import ipywidgets as W

        from .. import widgets

        self.model = model
        c = model.config
        self.sentence = W.Text(value=text, description="sentence", continuous_update=False,
                               style={"description_width": "initial"}, layout=W.Layout(width="640px"))
        self.layer = widgets.slider(0, c.num_layers - 1, 1, layer, "layer")
        self.head = widgets.slider(0, c.num_heads - 1, 1, head, "head")
        self.message = W.HTML()
        self.holder = W.VBox()
        self.explorer = None
        self._holding = False
        self._load(text, query)
        self.sentence.observe(self._on_text, names="value")
        self.layer.observe(self._on_head, names="value")
        self.head.observe(self._on_head, names="value")
        self.widget = W.VBox([self.sentence, W.HBox([self.layer, self.head], layout=W.Layout(flex_flow="row wrap")),
                              self.message, self.holder])

    # ---- what the controls do
    def set(self, text=None, layer=None, head=None, query=None):
        """Change the sentence, layer, head and/or selected query (an index or a token); returns self."""
        c = self.model.config
        for name, value, top in (("layer", layer, c.num_layers - 1), ("head", head, c.num_heads - 1)):
            if value is not None and not (isinstance(value, (int, np.integer)) and 0 <= value <= top):
                raise ValueError(f"HeadExplorer.set: {name} must be an int from 0 to {top}, got {value!r}.")
        if query is not None and (text is None or text == self.tokens_text):
            self._query_index(query, self.tokens, strict=True)       # check before changing anything
        self._holding = True
        try:
            if layer is not None:
                self.layer.value = layer
            if head is not None:
                self.head.value = head
            if text is not None and text != self.tokens_text:
                self._load(text, query, strict=True)
                self.sentence.value = text
        finally:
            self._holding = False
        if query is not None:
            self.explorer.select(self._query_index(query, self.tokens, strict=True))
        self._show_head()
        return self

    def _load(self, text, query=None, strict=False):
        tokens, weights = self.model.attention(text)
        if len(tokens) > MAX_EXPLORER_TOKENS:
            raise ValueError(f"HeadExplorer: that text has {len(tokens)} tokens; the explorer shows at most "
                             f"{MAX_EXPLORER_TOKENS}. Type a shorter sentence.")
        from .. import widgets

        old = None if self.explorer is None else self.explorer.selected
        selected = (self._query_index(query, tokens, strict) if query is not None
                    else min(old or 0, len(tokens) - 1))
        self.tokens, self.weights, self.tokens_text = tokens, weights, text
        self.explorer = widgets.AttentionExplorer(tokens, weights[self.layer.value, self.head.value],
                                                  title=" ", selected=selected)
        # The heatmap's title says which head is shown. As an animated text it is redrawn with the
        # heatmap alone, so moving a slider does not redraw the whole figure.
        self.label = self.explorer.heatmap.ax.text(0.5, 1.01, self._title(), transform=self.explorer.heatmap.ax.transAxes,
                                                   ha="center", va="bottom", fontsize=11, fontweight="bold",
                                                   animated=True)
        self.explorer.select(selected)
        self.holder.children = [self.explorer.widget]
        self.message.value = ""

    @staticmethod
    def _query_index(query, tokens, strict=False):
        """The index of ``query`` (a token or an index); with ``strict``, a ValueError if there is none."""
        if isinstance(query, str):
            if query in tokens:
                return tokens.index(query)
            if strict:
                raise ValueError(f"HeadExplorer: no token {query!r} in this sentence; its tokens are {tokens}.")
            return 0
        if strict and not (isinstance(query, (int, np.integer)) and -len(tokens) <= query < len(tokens)):
            raise ValueError(f"HeadExplorer: query must be a token or an index from 0 to {len(tokens) - 1}, "
                             f"got {query!r}.")
        return int(query) + (len(tokens) if query < 0 else 0)

    def _title(self):
        return f"layer {self.layer.value}, head {self.head.value}"

    def _show_head(self):
        self.label.set_text(self._title())
        self.explorer.update(self.weights[self.layer.value, self.head.value])

    def _on_text(self, change):
        if self._holding:
            return
        try:
            self._load(change["new"])
        except Exception as exc:                        # never raise into the front end
            self.message.value = f'<span style="color:#b00020">{type(exc).__name__}: {exc}</span>'

    def _on_head(self, _change):
        if self._holding:
            return
        try:
            self._show_head()
        except Exception as exc:
            self.message.value = f'<span style="color:#b00020">{type(exc).__name__}: {exc}</span>'

    # ---- display
    @property
    def text(self) -> str:
        return f"{self._title()}\n{self.explorer.text}"

    @property
    def png(self) -> bytes:
        return self.explorer.png

    def _repr_mimebundle_(self, include=None, exclude=None):
        import html

        bundle = self.widget._repr_mimebundle_()
        header = (f"<p><b>sentence:</b> {html.escape(self.tokens_text)}<br><b>{self._title()}</b> "
                  "(run the notebook to type a sentence and pick the layer, head and token)</p>")
        bundle["text/html"] = header + self.explorer.static_html()
        bundle["text/plain"] = f"sentence: {self.tokens_text}\n{self.text}"
        return bundle

    def __repr__(self):
        return f"<HeadExplorer: {self._title()}, {len(self.tokens)} tokens>"


# ---------------------------------------------------------------- sentence similarity

SIMILARITY_SENTENCES = (
    "A man is playing a guitar.",
    "Someone is making music on a guitar.",
    "The weather is lovely today.",
    "It's so sunny outside!",
)


def similarity_explorer(model: MiniLM, sentences=SIMILARITY_SENTENCES):
    """Four editable sentences and the heatmap of their cosine similarities (``widgets.Interactive``)."""
    import ipywidgets as W

    from .. import viz, widgets

    if len(sentences) != 4:
        raise ValueError(f"similarity_explorer: give exactly 4 sentences, got {len(sentences)}.")
    labels = ["S1", "S2", "S3", "S4"]
    cache = {}                  # text -> its embedding: an edit re-encodes only the sentence that changed

    def embedding(text):
        # Each text on its own: a batch would pad the short ones to the longest (one long paragraph
        # made every update slow), and a text's embedding does not depend on its batch anyway.
        if text not in cache:
            if len(cache) > 64:
                cache.clear()
            cache[text] = model.encode([text])[0]
        return cache[text]

    def setup(fig):
        ax = fig.add_subplot()
        return viz.heatmap(np.eye(4), labels, labels, ax=ax, vmin=-1, vmax=1, cmap="RdBu_r", fmt="{:.3f}",
                           title="cosine similarity of the sentence embeddings", xlabel="", ylabel="",
                           colorbar_label="cosine similarity")

    def update(hm, s1, s2, s3, s4):
        e = np.stack([embedding(t) for t in (s1, s2, s3, s4)])   # (4, 384), each of length 1
        sims = e @ e.T                                       # (4, 4): cosine similarities
        hm.update(sims)
        off = sims - 2 * np.eye(4)                           # ignore each sentence with itself
        i, j = np.unravel_index(int(np.argmax(off)), off.shape)
        pairs = "  ".join(f"S{a + 1}-S{b + 1} {sims[a, b]:.3f}" for a in range(4) for b in range(a + 1, 4))
        return f"{pairs}\nmost similar pair: S{i + 1} and S{j + 1} ({sims[i, j]:.3f})"

    def text_box(value, name):
        return W.Text(value=value, description=name, continuous_update=False,
                      style={"description_width": "initial"}, layout=W.Layout(width="520px"))

    return widgets.Interactive(setup, update, figsize=(5.2, 3.9),
                               **{f"s{k + 1}": text_box(t, f"S{k + 1}") for k, t in enumerate(sentences)})
