"""Checked exercises: ``check(name, fn)`` runs your function and names the mistake.

    def softmax(x, axis=-1):
        raise NotImplementedError          # your code here

    ac.exercises.check("softmax", softmax)     # -> Report (.passed, .hints)
    ac.exercises.solution("softmax")           # the reference solution, if you are stuck
    ac.exercises.names()                       # every exercise

Every module in this package (except those starting with "_") is imported
automatically, so a lesson adds an exercise by adding a file that calls
``register(Exercise(...))`` — see ``_core.py``. A module that fails to import does
not break the others; ``check`` mentions it when a name is unknown.
"""
from __future__ import annotations

import importlib
import pkgutil
import traceback

from ._core import _IMPORT_ERRORS, Case, Exercise, Mistake, Report, Solution, check, get, names, register, solution

__all__ = ["Case", "Exercise", "Mistake", "Report", "Solution", "check", "get", "names", "register", "solution"]


def _discover() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{__name__}.{module.name}")
        except Exception as exc:  # one broken lesson file must not take every exercise down
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            _IMPORT_ERRORS[module.name] = f"{type(exc).__name__}: {exc} (line {frame.lineno})"


_discover()
