"""Where to compute: CUDA when a GPU is present, else the CPU (imports torch lazily)."""
from __future__ import annotations

import platform
import sys


def get_device():
    """``torch.device('cuda')`` when a CUDA GPU is available, else ``torch.device('cpu')``."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def environment_report() -> dict:
    """Versions of Python and the course's main libraries, and the device found."""
    import importlib.metadata as md

    report = {"python": platform.python_version()}
    for name in ("attention_course", "numpy", "torch", "matplotlib", "ipywidgets"):
        try:
            report[name] = md.version(name)
        except md.PackageNotFoundError:
            report[name] = "not installed"
    try:
        import torch

        report["device"] = str(get_device())
        if torch.cuda.is_available():
            report["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:  # torch missing: the numpy lessons still work
        report["device"] = "cpu (torch not installed)"
    report["platform"] = sys.platform
    return report
