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
    if name == "MultiHeadAttention":  # needs torch: imported on first use only
        from .torch_module import MultiHeadAttention

        return MultiHeadAttention
    raise AttributeError(f"module 'attention_course' has no attribute {name!r}")
