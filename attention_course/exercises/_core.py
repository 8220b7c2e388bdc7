"""The exercise checker: run a learner's function on many cases, compare with the
reference, and name the mistake.

An exercise is registered once (see the modules next to this one)::

    register(Exercise(
        lesson="04_softmax",                    # the notebook that asks for it
        name="softmax",
        reference=softmax,                      # same signature/return as the learner's fn
        cases=lambda: [Case(args=(x,), label="a row of 3 scores"), ...],
        mistakes=[Mistake(hint="You forgot ...", buggy=softmax_without_max), ...],
        signature="softmax(x, axis=-1) -> array shaped like x",
    ))

Optional: ``output_names=("output", "weights")`` names the parts of a tuple return
(otherwise "value 1", "value 2", ...); ``diagnose(case, value) -> [hints]`` adds
property checks that still work when a learner makes several mistakes at once (see
_attention.py); ``tips={regex: text}`` adds a tip to matching exception messages.
tests/exercises/test_checker.py checks every registered exercise: the reference passes and
each mistake's buggy function is named with its own hint and no other (so the cases
must tell the mistakes apart). Make a buggy function return wrong *values* on some case
where you can: an error is weak evidence (another mistake may fail on the same sizes).

``check(name, fn)`` runs ``fn`` on every case and returns a Report. A catalogued mistake
is named only when the learner's function behaves like its ``buggy`` function on the
cases where that function differs from the reference: the same values where the buggy
function returns values, and the same error where it raises (same type and message, or
the same failed matrix product on the same two sizes: ``@``, np.matmul and np.dot count
as one). Cases where the learner fails in a way neither shows (another exception, another
shape) are left out; of the rest the learner must agree on at least half where the buggy
function returns values, half where it raises, at least one value case if it has any,
and at least two cases in all (see ``_named_mistakes``). An unrelated exception names no
mistake: it gets the generic exception hint (message and line of the learner's code),
with a tip only when the tip is about that error (``_tip``). Other generic problems:
NotImplementedError (a friendly "not done yet"), a wrong type or shape, NaN/inf, changed
inputs, and plain wrong values. Every problem found is reported.
The checker never raises into the notebook.
"""
from __future__ import annotations

import copy
import difflib
import inspect
import re
import traceback
import warnings
from dataclasses import dataclass, field
from html import escape
from typing import Any, Callable

import numpy as np

__all__ = ["Case", "Exercise", "Mistake", "Report", "Solution", "register", "check", "solution", "names", "get"]


# ----------------------------------------------------------------- model ----

@dataclass
class Case:
    """One call ``fn(*args, **kwargs)``; ``label`` names it in hints (e.g. "huge scores").
    ``rtol``/``atol`` override the exercise's tolerance (float32 cases default to looser ones)."""
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    label: str = ""
    rtol: float | None = None
    atol: float | None = None


@dataclass
class Mistake:
    """A known mistake: ``buggy`` is a function with the mistake in it; a learner whose
    outputs match it (where it differs from the reference) is shown ``hint``."""
    hint: str
    buggy: Callable


@dataclass
class Exercise:
    name: str
    reference: Callable
    cases: Any                                   # list[Case] or a callable returning one
    mistakes: list = field(default_factory=list)
    signature: str = ""
    output_names: tuple | None = None            # e.g. ("output", "weights") for a tuple return
    rtol: float = 1e-6
    atol: float = 1e-9
    tips: dict = field(default_factory=dict)     # regex on an exception message -> extra tip
    # Optional property checks that also work when several mistakes are combined:
    # diagnose(case, learner_value) -> list of hints (use the catalogue's hint texts).
    diagnose: Callable | None = None
    # The notebook that asks for it, as its stem: "04_softmax" (tests/course/test_layout.py checks it).
    lesson: str = ""

    def part_names(self) -> tuple | None:
        """Names of the parts of a tuple return: ``output_names``, or ("value 1", ...)
        when the reference returns a tuple and no names were given; None for one array."""
        if self.output_names:
            return tuple(self.output_names)
        _, expected, _ = self._outcomes()
        first = expected[0].value if expected else None
        if isinstance(first, (tuple, list)) and not _numeric_sequence(first):
            return tuple(f"value {i + 1}" for i in range(len(first)))
        return None

    def get_cases(self) -> list[Case]:
        cases = self.cases() if callable(self.cases) else self.cases
        return list(cases)

    # Reference and buggy outcomes depend only on the (deterministic) cases: cache them.
    def _outcomes(self):
        if getattr(self, "_cache", None) is None:
            cases = self.get_cases()
            expected = [_run(self.reference, c) for c in cases]
            for c, o in zip(cases, expected):
                if o.error is not None:
                    raise RuntimeError(f"exercise {self.name!r}: the reference raised on case {c.label!r}: "
                                       f"{type(o.error).__name__}: {o.error}")
            buggy = [[_run(m.buggy, c) for c in cases] for m in self.mistakes]
            self._cache = (cases, expected, buggy)
        return self._cache


_REGISTRY: dict[str, Exercise] = {}
_IMPORT_ERRORS: dict[str, str] = {}     # exercise module -> error text (filled by __init__)


def register(exercise: Exercise) -> Exercise:
    """Add (or replace) an exercise; returns it."""
    if not isinstance(exercise, Exercise):
        raise TypeError(f"register() takes an Exercise, got {type(exercise).__name__}.")
    _REGISTRY[exercise.name] = exercise
    return exercise


def names() -> list[str]:
    """The names ``check`` accepts."""
    return sorted(_REGISTRY)


def get(name: str) -> Exercise:
    """The registered Exercise called ``name`` (ValueError listing the names if unknown)."""
    if name not in _REGISTRY:
        raise ValueError(_unknown_message(name))
    return _REGISTRY[name]


def _unknown_message(name) -> str:
    close = difflib.get_close_matches(str(name), names(), n=1)
    guess = f" Did you mean {close[0]!r}?" if close else ""
    text = f"There is no exercise called {name!r}.{guess} Available: {', '.join(names())}."
    if _IMPORT_ERRORS:
        text += " (Some exercise modules failed to import: " + "; ".join(
            f"{mod}: {err}" for mod, err in sorted(_IMPORT_ERRORS.items())) + ")"
    return text


# ------------------------------------------------------------ one call ----

@dataclass
class _Outcome:
    value: Any = None
    error: Exception | None = None
    where: str = ""                   # "line 3 of softmax: `e = np.exp(x)`"
    line: str = ""                    # that line of the learner's code: "e = np.exp(x)"
    at_call: bool = False             # the call itself failed (the learner's code never ran)
    mutated: tuple = ()               # names of arguments the function changed in place

    @property
    def signature(self):
        return _error_signature(self.error) if self.error is not None else None


def _run(fn, case: Case) -> _Outcome:
    """Call ``fn`` on fresh copies of the case's arguments; never raises (except
    KeyboardInterrupt and the like). numpy warnings are silenced: the checker reports
    overflow as NaN/inf itself."""
    args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
    from ..experiments import single_thread

    try:
        with np.errstate(all="ignore"), warnings.catch_warnings(), single_thread():
            warnings.simplefilter("ignore")
            value = fn(*args, **kwargs)
    except Exception as exc:  # the learner's code may raise anything
        where, line = _where(exc, fn)
        # Only _run's own frame in the traceback: Python refused the call (wrong parameters).
        at_call = len(traceback.extract_tb(exc.__traceback__)) == 1
        return _Outcome(error=exc, where=where, line=line, at_call=at_call)
    mutated = tuple(_arg_names(fn, case, i) for i, (before, after) in
                    enumerate(zip((*case.args, *case.kwargs.values()), (*args, *kwargs.values())))
                    if isinstance(before, np.ndarray) and not _identical(before, after))
    return _Outcome(value=value, mutated=mutated)


def _identical(a, b) -> bool:
    return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def _arg_names(fn, case, i) -> str:
    n_pos = len(case.args)
    if i >= n_pos:
        return list(case.kwargs)[i - n_pos]
    try:
        params = list(inspect.signature(fn).parameters)
        return params[i] if i < len(params) else f"argument {i + 1}"
    except (TypeError, ValueError):
        return f"argument {i + 1}"


def _where(exc, fn) -> tuple[str, str]:
    """Where in the learner's code the exception came from: ('line 3 of softmax: `...`', the line)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return "", ""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == code.co_filename]
    if not frames:
        return "", ""
    f = frames[-1]
    if f.name == code.co_name and f.lineno >= code.co_firstlineno:
        place = f"line {f.lineno - code.co_firstlineno + 1} of {code.co_name}"
    else:
        place = f"line {f.lineno} (in {f.name})"
    line = (f.line or "").strip()
    return (f"{place}: `{line}`" if line else place), line


_MATMUL = re.compile(r"mismatch in its core dimension \d+, with gufunc signature \S+ "
                     r"\(size (\d+) is different from (\d+)\)")
_DOT = re.compile(r"shapes \([\d, ]*\) and \([\d, ]*\) not aligned: (\d+) \(dim \d+\) != (\d+) \(dim \d+\)")


def _matmul_sizes(message: str):
    """(A's last axis, B's second-to-last axis) of a failed numpy A @ B / np.matmul / np.dot, else None."""
    m = _MATMUL.search(message)
    if m:                                  # "(size <B's> is different from <A's>)"
        return int(m.group(2)), int(m.group(1))
    m = _DOT.search(message)
    if m:                                  # "<A's> (dim i) != <B's> (dim j)"
        return int(m.group(1)), int(m.group(2))
    return None


def _error_signature(exc) -> tuple:
    """What identifies an error across two implementations: its type and message, except that
    a failed matrix product is identified by the two inner sizes that did not match, in either
    order: ``@``, np.matmul and np.dot word it differently, and q @ K fails like K.T @ q."""
    message = " ".join(str(exc).split())
    sizes = _matmul_sizes(message)
    if sizes:
        return (type(exc).__name__, "matrix product", *sorted(sizes))
    return (type(exc).__name__, message)


# ---------------------------------------------------------- comparing ----

def _is_tensor(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _as_array(x):
    """A learner value as a numpy array, or None when it is not array-like."""
    if _is_tensor(x):
        x = x.detach().cpu().numpy()
    try:
        a = np.asarray(x)
    except Exception:
        return None
    return a if a.dtype.kind in "biufc" else None      # bool, int, float, complex


def _parts(value, n):
    """Split a tuple return into its parts; None when the structure does not fit."""
    if n is None:
        return None if isinstance(value, (tuple, list)) and not _numeric_sequence(value) else [value]
    if isinstance(value, (tuple, list)) and len(value) == n:
        return list(value)
    return None


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of dtype {x.dtype}"
    return f"a {type(x).__name__}"


def _numeric_sequence(value) -> bool:
    """A list like [0.1, 0.9] (array-like), as opposed to a tuple of arrays."""
    return not any(isinstance(v, np.ndarray) or _is_tensor(v) for v in value) and _as_array(value) is not None


def _tolerance(ex: Exercise, case: Case):
    low = any(isinstance(a, np.ndarray) and a.dtype in (np.float32, np.float16)
              for a in (*case.args, *case.kwargs.values()))
    rtol = case.rtol if case.rtol is not None else (max(ex.rtol, 1e-4) if low else ex.rtol)
    atol = case.atol if case.atol is not None else (max(ex.atol, 1e-6) if low else ex.atol)
    return rtol, atol


def _close(e: np.ndarray, g: np.ndarray, rtol, atol) -> bool:
    """Same shape, non-finite in the same places, finite values close."""
    if e.shape != g.shape:
        return False
    if e.dtype == bool or g.dtype == bool:
        return np.array_equal(e.astype(bool), g.astype(bool)) if e.dtype == g.dtype else False
    fe, fg = np.isfinite(e), np.isfinite(g)
    if not np.array_equal(fe, fg):
        return False
    return bool(np.allclose(e[fe].astype(np.float64), g[fg].astype(np.float64), rtol=rtol, atol=atol))


def _same(a: _Outcome, b: _Outcome, n_parts, rtol, atol) -> bool:
    """Do two outcomes agree (close values, or the same error: see _error_signature)?"""
    if a.error is not None or b.error is not None:
        return a.error is not None and b.error is not None and a.signature == b.signature
    pa, pb = _parts(a.value, n_parts), _parts(b.value, n_parts)
    if pa is None or pb is None or len(pa) != len(pb):
        return False
    for x, y in zip(pa, pb):
        x, y = _as_array(x), _as_array(y)
        if x is None or y is None or not _close(x, y, rtol, atol):
            return False
    return True


def _status(o: _Outcome, n_parts):
    """A coarse fingerprint: the error, or the parts' shapes and whether they are all finite."""
    if o.error is not None:
        return ("error", o.signature)
    parts = _parts(o.value, n_parts)
    if parts is None:
        return ("structure",)
    arrays = [_as_array(p) for p in parts]
    if any(a is None for a in arrays):
        return ("type",)
    return tuple((a.shape, bool(a.dtype != bool and not np.isfinite(a).all())) for a in arrays)


def _fmt_array(a: np.ndarray) -> str:
    if a.dtype == bool:
        return np.array2string(a, separator=", ").replace("\n", "")
    return np.array2string(a.astype(np.float64), precision=4, suppress_small=True, separator=", ").replace("\n", "")


# ------------------------------------------------------------- problems ----

@dataclass
class _Problem:
    kind: str        # error | type | dtype | shape | nonfinite | values | mutated
    key: str         # what identifies the same problem across cases
    text: str        # what went wrong; the cases it happened in are added after it
    example: str = ""  # what it looked like in the first of those cases
    tip: str = ""    # what to do, shown last


def _problems(ex: Exercise, case: Case, expected: _Outcome, got: _Outcome) -> list[_Problem]:
    """Everything wrong with the learner's outcome on one case."""
    out = []
    if got.error is not None:
        err = got.error
        where = f" at {got.where}" if got.where else ""
        message = " ".join(str(err).split())
        kind, tip = _tip(ex, case, got)
        # One hint per (exception type, line, kind of tip): the message often varies with the case's shapes.
        out.append(_Problem("error", f"{type(err).__name__}{where} {kind}", f"Your function raised "
                            f"{type(err).__name__}{where}", f"{type(err).__name__}: {message}" if message
                            else type(err).__name__, tip))
        return out
    for name in got.mutated:
        out.append(_Problem("mutated", name, f"Your function changed its input {name} in place (e.g. with -= or /=)",
                            tip=f"The caller's array must stay as it was: compute a new array instead, e.g. "
                                f"`{name} = {name} - ...` rather than `{name} -= ...`."))
    part_names = ex.part_names()
    n = len(part_names) if part_names else None
    e_parts = _parts(expected.value, n)
    g_parts = _parts(got.value, n)
    if g_parts is None:
        out.append(_Problem("type", "structure", _structure_message(ex, got.value)))
        return out
    labels = part_names or ("",)
    for label, e, g in zip(labels, e_parts, g_parts):
        out.extend(_compare_part(ex, case, label, e, g))
    return out


def _structure_message(ex: Exercise, value) -> str:
    if value is None:
        return "Your function returned None: did you forget the `return` line?"
    kind = type(value).__name__
    part_names = ex.part_names()
    if part_names:
        want = f"a tuple ({', '.join(part_names)})"
        if isinstance(value, (tuple, list)):
            return f"Your function returned a {kind} of {len(value)} values; return {want}."
        return f"Your function returned one {kind}; return {want}."
    if isinstance(value, (tuple, list)):
        return f"Your function returned a {kind} of {len(value)} values; return a single numpy array."
    return f"Your function returned a {kind}; return a numpy array."


def _compare_part(ex, case, label, e, g) -> list[_Problem]:
    out = []
    what = f" {label}" if label else ""
    if g is None:
        return [_Problem("type", f"none{label}", f"Your function returned None{' for' + what if what else ''}: "
                                                  "did you forget the `return` line?")]
    e = np.asarray(e)
    if _is_tensor(g):
        out.append(_Problem("type", f"tensor{label}", f"Your function returned a torch tensor{what}; this exercise "
                                                         "works on numpy arrays, so return a numpy array."))
    elif e.ndim > 0 and not isinstance(g, np.ndarray):
        out.append(_Problem("type", f"type{label}", f"Your function returned a {type(g).__name__}"
                                                       f"{' as' + what if what else ''}; return a "
                                                       "numpy array (np.array(...) or numpy operations)."))
    ga = _as_array(g)
    if ga is None:
        if out:                                   # "return a numpy array" already says it
            return out
        return [_Problem("type", f"nonnumeric{label}", f"Your function's{what} output is not numeric "
                                                        f"(got {_describe(g)}).")]
    if e.dtype == bool and ga.dtype != bool:
        out.append(_Problem("dtype", f"bool{label}", f"Your{what} output has dtype {ga.dtype}; return a bool array "
                                                      "(True/False), e.g. with a comparison or .astype(bool)."))
        ga = ga != 0
    if ga.shape != e.shape:
        out.append(_Problem("shape", f"shape{label}", f"Wrong output shape{' for' + what if what else ''}.",
                            f"expected {e.shape}, got {ga.shape}"))
        return out
    rtol, atol = _tolerance(ex, case)
    if e.dtype != bool and not np.isfinite(ga).all() and np.isfinite(e).all():
        out.append(_Problem("nonfinite", f"nonfinite{label}",
                            f"Your{what} output contains NaN or inf where the reference is finite."))
    elif not _close(e, ga, rtol, atol):
        if e.size <= 12 and _fmt_array(e) != _fmt_array(ga):
            example = f"expected {_fmt_array(e)}, got {_fmt_array(ga)}"
        else:
            diff = np.abs(ga.astype(np.float64) - e.astype(np.float64))
            idx = np.unravel_index(int(np.nanargmax(diff)), e.shape)
            want, got = float(e[idx]), float(ga[idx])
            digits = next((d for d in (4, 8, 12, 17) if f"{want:.{d}g}" != f"{got:.{d}g}"), 17)
            example = (f"the largest difference is {float(diff[idx]):.4g} at index "
                       f"{tuple(int(i) for i in idx)} (expected {want:.{digits}g}, got {got:.{digits}g})")
            if ga.dtype != e.dtype and ga.dtype.kind == e.dtype.kind == "f" and ga.dtype.itemsize < e.dtype.itemsize:
                example += f"; your {ga.dtype} result is less precise than the {e.dtype} inputs need"
        out.append(_Problem("values", f"values{label}",
                            f"Your{what} values differ from the reference.", example))
    return out


def _shapes_in(text: str) -> list[tuple]:
    return [tuple(int(d) for d in re.findall(r"\d+", group)) for group in re.findall(r"\(([\d,\s]*)\)", text)]


def _keepdims_tip(err) -> str:
    """Only when the shapes are an array and the same array reduced over one axis (a sum or
    max without keepdims=True), e.g. (3, 4) and (3,)."""
    m = re.search(r"could not be broadcast together with shapes ((?:\([\d,\s]*\)\s*)+)", str(err))
    if not m:
        return ""
    shapes = _shapes_in(m.group(1))
    for a in shapes:
        for b in shapes:
            for axis in range(len(a)):
                if a[axis] != 1 and a[:axis] + a[axis + 1:] == b:
                    return (f"Shapes {a} and {b} look like an array and its sum or max over axis {axis} "
                            f"(or {axis - len(a)}) without keepdims: pass keepdims=True to that sum or max, so the "
                            "axis stays (with size 1) and the result lines up with the array again.")
    return ""


_DOT_T_NOTE = " .T reverses ALL the axes of a batched array; .swapaxes(-2, -1) swaps only the last two."


def _used_T_on_a_batch(got: _Outcome, case: Case) -> bool:
    """The failing line uses .T and the case has arrays with more than two axes."""
    return bool(re.search(r"\.T\b", got.line)) and any(
        isinstance(a, np.ndarray) and a.ndim > 2 for a in (*case.args, *case.kwargs.values()))


def _matmul_tip(got: _Outcome, case: Case) -> str:
    sizes = _matmul_sizes(" ".join(str(got.error).split()))
    if not sizes:
        return ""
    tip = (f"In A @ B the last axis of A must have the size of B's second-to-last axis, (..., n, m) @ (..., m, p) "
           f"-> (..., n, p); here A's has {sizes[0]} and B's {sizes[1]}. Print the shapes of both sides.")
    return tip + (_DOT_T_NOTE if _used_T_on_a_batch(got, case) else "")


def _batch_tip(got: _Outcome, case: Case) -> str:
    if "remapped shapes" not in str(got.error):
        return ""
    tip = "In a batched A @ B the axes before the last two (batch, heads) must be equal, or 1."
    return tip + (_DOT_T_NOTE if _used_T_on_a_batch(got, case) else "")


def _parameters_tip(got: _Outcome) -> str:
    if got.at_call and isinstance(got.error, TypeError) and re.search(
            r"positional argument|keyword argument|missing \d+ required", str(got.error)):
        return "Check your function's parameters against the signature."
    return ""


def _tip(ex: Exercise, case: Case, got: _Outcome) -> tuple[str, str]:
    """(which tip, the tip) about this error, or ("", ""): the exercise's own tips first (a regex
    on the message), then the generic ones, each of which looks at the error itself (and the
    failing line) before it speaks."""
    message = str(got.error)
    for pattern, tip in ex.tips.items():
        if re.search(pattern, message):
            return pattern, tip.strip()
    for kind, tip in (("keepdims", _keepdims_tip(got.error)), ("matmul", _matmul_tip(got, case)),
                      ("batch", _batch_tip(got, case)), ("parameters", _parameters_tip(got))):
        if tip:
            if kind == "parameters" and ex.signature:
                tip += f" Expected: {ex.signature}."
            return kind, tip
    return "", ""


# --------------------------------------------------------------- report ----

class Report:
    """The result of ``check``: ``.passed`` (bool), ``.hints`` (list of str).

    Also ``.name``, ``.status`` ("passed" | "failed" | "not done" | "unknown"),
    ``.n_cases`` and ``.failed_cases`` (labels). Displays as HTML in a notebook and as
    readable text elsewhere."""

    def __init__(self, name, passed: bool, hints, status: str, n_cases: int = 0, failed_cases=()):
        self.name = name
        self.passed = bool(passed)
        self.hints = list(hints)
        self.status = status
        self.n_cases = n_cases
        self.failed_cases = list(failed_cases)

    @property
    def headline(self) -> str:
        if self.status == "passed":
            return f"✓ {self.name}: correct on all {self.n_cases} test cases. Well done!"
        if self.status == "not done":
            return f"… {self.name}: not done yet."
        if self.status == "failed":
            return f"✗ {self.name}: {len(self.failed_cases)} of {self.n_cases} test cases fail."
        return f"✗ {self.name}: could not check."

    def text(self) -> str:
        return "\n".join([self.headline, *(f"  - {h}" for h in self.hints)])

    __repr__ = text
    __str__ = text

    def _repr_html_(self) -> str:
        colour = {"passed": "#2e7d32", "not done": "#8a6d00"}.get(self.status, "#c62828")
        items = "".join(f"<li>{escape(h, quote=False)}</li>" for h in self.hints)
        body = f'<ul style="margin:4px 0">{items}</ul>' if items else ""
        return (f'<div class="ac-exercise-report" style="border-left:4px solid {colour};padding:4px 10px;'
                f'margin:4px 0"><b style="color:{colour}">{escape(self.headline, quote=False)}</b>{body}</div>')


def _cases_text(labels: list[str], limit: int = 3) -> str:
    shown = ", ".join(f"'{lbl}'" for lbl in labels[:limit])
    more = f" and {len(labels) - limit} more" if len(labels) > limit else ""
    return f"{len(labels)} case{'s' if len(labels) != 1 else ''}: {shown}{more}"


# ---------------------------------------------------------------- check ----

def check(name: str, fn) -> Report:
    """Run ``fn`` on the exercise's cases and report what is wrong. Never raises.

    The cases are small, so they run on one thread (numpy's BLAS and torch's pool): on a shared
    machine a second thread only spins against the neighbours' (measured next to two busy
    processes: lesson 12's check took 10.6-12.4 s in 5 of 10 runs, against 0.4 s)."""
    if name not in _REGISTRY:
        return Report(name, False, [_unknown_message(name)], "unknown")
    ex = _REGISTRY[name]
    if not callable(fn):
        return Report(name, False, [f"check({name!r}, fn) needs your function as fn (the function itself, without "
                                    f"calling it), got a {type(fn).__name__}. Expected: {ex.signature or name}."],
                      "unknown")
    from ..experiments import single_thread

    try:
        with np.errstate(all="ignore"), warnings.catch_warnings(), single_thread():
            warnings.simplefilter("ignore")      # nothing from the checker reaches the notebook's stderr
            return _check(ex, fn)
    except Exception as exc:  # a bug in an exercise definition must not crash the lesson
        return Report(name, False, [f"The checker itself failed ({type(exc).__name__}: {exc}). This is a bug in the "
                                    "course, not in your code; please report it."], "unknown")


def _check(ex: Exercise, fn) -> Report:
    cases, expected, buggy = ex._outcomes()
    got = []
    for case in cases:
        outcome = _run(fn, case)
        if isinstance(outcome.error, NotImplementedError):
            return _not_done(ex, fn)
        got.append(outcome)
    part_names = ex.part_names()
    n = len(part_names) if part_names else None
    tols = [_tolerance(ex, c) for c in cases]
    problems = [_problems(ex, c, e, g) for c, e, g in zip(cases, expected, got)]
    failing = [k for k, p in enumerate(problems) if p]
    if not failing:
        return Report(ex.name, True, [], "passed", len(cases))
    named, explained = _named_mistakes(ex, expected, buggy, got, n, tols)
    for k in failing:
        found = _diagnose(ex, cases[k], got[k])
        named.update(found)
        if found:
            explained.add(k)
    catalogue = [m.hint for m in ex.mistakes]
    hints = [h for h in catalogue if h in named] + sorted(h for h in named if h not in catalogue)
    hints += _generic_hints(cases, problems, explained)
    return Report(ex.name, False, hints, "failed", len(cases), [cases[k].label for k in failing])


def _named_mistakes(ex, expected, buggy, got, n, tols):
    """Hints of the catalogue mistakes the learner's function behaves like, and the cases
    they explain. For each mistake, only the cases where its buggy function differs from
    the reference are evidence:

    - where the buggy function returns values, the learner must return the same values;
    - where it raises, the learner must raise the same error on that case (``_error_signature``);
    - cases where the learner fails in a way neither the reference nor the buggy function
      shows (another error, another shape, NaN) are left out: they may be a second mistake.

    The learner must agree on at least half of the cases that are left where the buggy
    function returns values, on at least half of those where it raises, and on at least two
    cases in all (one when the mistake shows on only one case): one coincidence is no
    evidence. An error is weaker evidence than values (another product in the learner's code
    may fail on the same two sizes), so a mistake that returns values on some case is named
    only if the learner's values agree with it on at least one."""
    hints, explained = set(), set()
    for mistake, bug in zip(ex.mistakes, buggy):
        differs = [k for k in range(len(got)) if not _same(expected[k], bug[k], n, *tols[k])]
        if not differs:
            continue
        counted = [k for k in differs
                   if _status(got[k], n) == _status(expected[k], n) or _status(got[k], n) == _status(bug[k], n)]
        matches = {k for k in counted if _same(bug[k], got[k], n, *tols[k])}
        raises = [k for k in counted if bug[k].error is not None]
        returns = [k for k in counted if bug[k].error is None]
        half_of_each = all(2 * len(matches.intersection(group)) >= len(group) for group in (raises, returns))
        gives_values = any(bug[k].error is None for k in differs)
        agrees_on_values = bool(matches.intersection(returns))
        if len(matches) >= min(2, len(differs)) and half_of_each and (agrees_on_values or not gives_values):
            hints.add(mistake.hint)
            explained.update(matches)
    return hints, explained


def _diagnose(ex: Exercise, case: Case, outcome: _Outcome) -> set:
    """The exercise's property checks on one learner output (never raises)."""
    if ex.diagnose is None or outcome.error is not None:
        return set()
    from ..experiments import single_thread

    try:
        with np.errstate(all="ignore"), warnings.catch_warnings(), single_thread():
            warnings.simplefilter("ignore")
            return set(ex.diagnose(case, outcome.value) or ())
    except Exception:
        return set()


def _sentence(text: str) -> str:
    """``text`` ending as a sentence: a full stop is added unless it ends with ., ?, ! or …"""
    text = text.strip()
    if not text or text.endswith((".", "…", "?", "!")):
        return text
    return text + "."


def _without_full_stop(text: str) -> str:
    """``text`` without one final full stop; an ellipsis ("x = x - ...") is kept whole."""
    text = text.strip()
    return text[:-1] if text.endswith(".") and not text.endswith("..") else text


def _generic_hints(cases, problems, explained) -> list[str]:
    """Group the per-case problems into one hint each, naming the cases. Wrong values and
    NaN already explained by a named mistake are not repeated; an error that a named
    mistake explains in every case it happened keeps its message but not its tip (the
    mistake's hint says what to do)."""
    groups: dict[tuple, list] = {}
    for k, plist in enumerate(problems):
        for p in plist:
            if p.kind in ("values", "nonfinite", "shape") and k in explained:
                continue
            groups.setdefault((p.kind, p.key), []).append((k, p))
    order = ["error", "type", "dtype", "shape", "mutated", "nonfinite", "values"]
    hints = []
    for (kind, _key), items in sorted(groups.items(), key=lambda kv: order.index(kv[0][0])):
        labels = [cases[k].label for k, _ in items]
        first = items[0][1]
        text = f"{_without_full_stop(first.text)} ({_cases_text(labels)})."
        if first.example:
            text += f" For '{labels[0]}': {_sentence(first.example)}"
        if first.tip and not (kind == "error" and all(k in explained for k, _ in items)):
            text += f" {_sentence(first.tip)}"
        hints.append(text)
    return hints


def _not_done(ex: Exercise, fn) -> Report:
    fname = getattr(fn, "__name__", "your function")
    sig = f" It should work as {ex.signature}." if ex.signature else ""
    hint = (f"{fname} still raises NotImplementedError, so there is nothing to check yet. Replace the "
            f"`raise NotImplementedError` line with your code, run that cell, then run this check again.{sig} "
            f"Stuck? ac.exercises.solution({ex.name!r}) shows a reference solution.")
    return Report(ex.name, False, [hint], "not done", len(ex.get_cases()))


# -------------------------------------------------------------- solution ----

class Solution:
    """A reference solution: ``.source`` (str); displays as code."""

    def __init__(self, name: str, source: str, note: str = ""):
        self.name, self.source, self.note = name, source, note

    def __repr__(self) -> str:
        return self.source if not self.note else f"{self.note}\n\n{self.source}".strip()

    __str__ = __repr__

    def _repr_html_(self) -> str:
        head = escape(self.note, quote=False) if self.note else f"Reference solution for <b>{escape(self.name)}</b>:"
        code = ""
        if self.source:
            code = f'<pre style="margin:4px 0"><code>{escape(self.source, quote=False)}</code></pre>'
        return f'<div class="ac-exercise-solution">{head}{code}</div>'


def solution(name: str) -> Solution:
    """The reference solution's source for exercise ``name`` (shown as code in a notebook)."""
    if name not in _REGISTRY:
        return Solution(str(name), "", _unknown_message(name))
    ex = _REGISTRY[name]
    try:
        source = inspect.getsource(ex.reference)
    except (OSError, TypeError):
        source = f"# (source not available for {getattr(ex.reference, '__name__', ex.reference)!r})"
    return Solution(name, inspect.cleandoc(source) if source.startswith(" ") else source.rstrip("\n"))
