"""attention_course — the code behind the attention course's lessons.

Three layers, imports pointing down only:
1. the core API, here at the top level, one module per topic (vectors, softmax, attention,
   multihead, masks, positional, additive, torch_module, efficient, pretrained, device);
2. ``attention_course.lessons.<stem>``: one module per notebook ``NN_<stem>.ipynb``;
3. the engine: ``viz``, ``widgets``, ``quiz``, ``exercises``, and ``experiments`` (experiments
   and hand-made data that several lessons share, so lessons never import each other).

numpy-only on import; torch is imported only when you touch a torch feature
(``MultiHeadAttention``, ``get_device``) or pass torch tensors.
"""
from .additive import additive_attention, additive_scores
from .attention import (cross_attention, masked_softmax, project_qkv, scaled_dot_product_attention,
                        self_attention)
from .device import environment_report, get_device
from .efficient import KVCache, efficient_attention, tiled_attention
from .masks import causal_mask, padding_mask, sliding_window_mask
from .multihead import merge_heads, multi_head_attention, split_heads
from .positional import apply_rope, sinusoidal_positional_encoding
from .softmax import softmax, softmax_jacobian
from .vectors import cosine_similarity, dot, norm

__version__ = "0.1.0"

__all__ = [
    "dot", "norm", "cosine_similarity", "softmax", "softmax_jacobian", "scaled_dot_product_attention", "masked_softmax",
    "project_qkv", "self_attention", "cross_attention", "causal_mask", "padding_mask", "sliding_window_mask",
    "sinusoidal_positional_encoding", "apply_rope", "additive_attention", "additive_scores", "split_heads",
    "merge_heads", "multi_head_attention", "MultiHeadAttention", "efficient_attention", "tiled_attention",
    "KVCache", "get_device", "environment_report",
]


def __getattr__(name):
    """Lazy attributes: ``ac.MultiHeadAttention`` (imports torch) and submodules such as
    ``ac.quiz``, ``ac.exercises``, ``ac.viz``, ``ac.widgets`` (import matplotlib/ipywidgets)."""
    if name == "MultiHeadAttention":
        from .torch_module import MultiHeadAttention

        return MultiHeadAttention
    if not name.startswith("_"):
        import importlib

        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module 'attention_course' has no attribute {name!r}")
