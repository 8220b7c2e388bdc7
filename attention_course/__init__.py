"""attention_course — the code behind the attention course's lessons.

numpy-only on import; torch is imported only when you touch a torch feature
(``MultiHeadAttention``, ``get_device``) or pass torch tensors.
"""
from .additive import additive_attention, additive_scores
from .attention import masked_softmax, scaled_dot_product_attention
from .device import environment_report, get_device
from .masks import causal_mask, padding_mask
from .multihead import merge_heads, multi_head_attention, split_heads
from .positional import sinusoidal_positional_encoding
from .softmax import softmax

__version__ = "0.1.0"

__all__ = [
    "softmax", "scaled_dot_product_attention", "masked_softmax", "causal_mask", "padding_mask",
    "sinusoidal_positional_encoding", "additive_attention", "additive_scores", "split_heads",
    "merge_heads", "multi_head_attention", "MultiHeadAttention", "get_device", "environment_report",
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
