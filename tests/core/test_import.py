"""`import attention_course` stays light: numpy only until a torch feature is touched."""
import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "matplotlib", "ipywidgets")


def modules_loaded_after(code):
    """Run ``code`` in a fresh interpreter; return which HEAVY modules it imported."""
    probe = f"import json, sys\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_does_not_load_torch_matplotlib_or_ipywidgets():
    assert modules_loaded_after("import attention_course") == []


def test_numpy_lessons_run_without_loading_torch():
    code = """
import numpy as np
import attention_course as ac
x = np.random.default_rng(0).standard_normal((4, 6))
ac.softmax(x)
ac.scaled_dot_product_attention(x, x, x, mask=ac.causal_mask(4))
ac.multi_head_attention(x, x, x, *[np.eye(6)] * 4, 2, mask=ac.padding_mask([3], 4))
ac.additive_attention(x, x, x, np.eye(6), np.eye(6), np.ones(6))
ac.sinusoidal_positional_encoding(4, 6)
"""
    assert modules_loaded_after(code) == []


def test_every_public_name_resolves_and_torch_loads_on_first_use():
    pytest.importorskip("torch")
    code = "import attention_course as ac\nmissing = [n for n in ac.__all__ if getattr(ac, n, None) is None]\n" \
           "assert not missing, missing"
    assert "torch" in modules_loaded_after(code)     # ac.MultiHeadAttention is in __all__
