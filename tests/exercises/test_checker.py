"""The checker itself: discovery, registry, generic problems (errors, shapes, NaN, mutation), reports,
lightness. It names each mistake from learner-style code, passes correct code however it is written,
reports every problem and never raises into the notebook."""
from __future__ import annotations

import numpy as np
import pytest

from attention_course import exercises as ex

from ._helpers import assert_flags, hints_of  # noqa: F401


import subprocess
import sys

from attention_course.exercises import _core  # noqa: F401

# ----------------------------------------------------------- the registry ----

def test_every_exercise_module_is_discovered_and_imports():
    import pkgutil

    modules = {m.name for m in pkgutil.iter_modules(ex.__path__) if not m.name.startswith("_")}
    loaded = {name.rsplit(".", 1)[-1] for name in sys.modules if name.startswith("attention_course.exercises.")}
    assert modules <= loaded
    assert _core._IMPORT_ERRORS == {}
    assert {"softmax", "scaled_dot_product_attention", "masked_attention", "causal_mask",
            "sinusoidal_positional_encoding", "split_heads"} <= set(ex.names())


@pytest.mark.parametrize("name", ex.names())
def test_reference_passes_and_every_catalogue_mistake_is_named(name):
    exercise = ex.get(name)
    assert exercise.get_cases(), "an exercise needs cases"
    report = ex.check(name, exercise.reference)
    assert report.passed and report.hints == [] and report.status == "passed", report
    for mistake in exercise.mistakes:
        report = ex.check(name, mistake.buggy)
        assert not report.passed and mistake.hint in report.hints, (mistake.hint, report)
        others = [m.hint for m in exercise.mistakes if m is not mistake and m.hint in report.hints]
        assert others == [], (f"exercise {name!r}: the buggy function of {mistake.hint!r} is also named as "
                              f"{others}: on the cases they give the same outputs. Add a case that tells them "
                              "apart, or merge the two mistakes.")


@pytest.mark.parametrize("name", ex.names())
def test_solution_shows_the_reference_source(name):
    sol = ex.solution(name)
    assert sol.source.startswith("def ") and "return" in sol.source
    assert sol.source in repr(sol) and "<pre" in sol._repr_html_()


def test_unknown_names_list_the_exercises():
    report = ex.check("sofmax", np.exp)
    assert not report.passed and report.status == "unknown"
    assert "Did you mean 'softmax'?" in report.hints[0] and "split_heads" in report.hints[0]
    assert "Did you mean 'softmax'?" in repr(ex.solution("sofmax"))
    with pytest.raises(ValueError, match="Available"):
        ex.get("nope")


def test_not_a_function():
    report = ex.check("softmax", np.array([1.0, 2.0]))
    assert not report.passed and "needs your function" in report.hints[0]



# the generic problems, shown on the softmax exercise

def learner_softmax(x, axis=-1):            # correct, written with logsumexp instead of max-division
    m = np.max(x, axis=axis, keepdims=True)
    log_total = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return np.exp(x - log_total)


def learner_softmax_float64(x, axis=-1):    # correct; upcasts float32 (allowed)
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - np.amax(x, axis, keepdims=True))
    return e / np.sum(e, axis, keepdims=True)



def test_several_mistakes_are_all_reported():
    def softmax(x, axis=-1):               # wrong axis AND no max-subtraction
        return np.exp(x) / np.exp(x).sum(axis=0, keepdims=True)
    assert_flags("softmax", softmax, "No max-subtraction", "Softmax over the wrong axis")


def test_wrong_shape_and_tuple_are_named():
    def row_sums(x, axis=-1):
        return np.exp(x).sum(axis=axis)

    def pair(x, axis=-1):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e, e.sum(axis=axis, keepdims=True)
    report = assert_flags("softmax", row_sums, "Wrong output shape", "expected (3,), got ()")
    assert "'one row [1, 2, 3]'" in report.hints[-1] or any("'one row [1, 2, 3]'" in h for h in report.hints)
    assert_flags("softmax", pair, "returned a tuple of 2 values; return a single numpy array")


def test_nan_is_named_when_no_mistake_explains_it():
    def softmax(x, axis=-1):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        out = e / e.sum(axis=axis, keepdims=True)
        return np.where(x > 500, np.nan, out)
    assert_flags("softmax", softmax, "contains NaN or inf where the reference is finite", "'huge scores (about 1000)'")


def test_list_and_none_returns():
    def as_list(x, axis=-1):
        return learner_softmax(x, axis).tolist()

    def forgot_return(x, axis=-1):
        learner_softmax(x, axis)
    assert_flags("softmax", as_list, "returned a list; return a numpy array")
    assert_flags("softmax", forgot_return, "returned None: did you forget the `return` line?")


@pytest.mark.parametrize("value, fragment", [
    ("hello", "returned a str; return a numpy array"),
    ({"a": 1}, "returned a dict; return a numpy array"),
    (np.array(["a", "b"]), "output is not numeric (got an array of dtype <U1)"),
    (3.0, "expected (3,), got ()"),
])
def test_odd_return_values_are_reported_not_raised(value, fragment):
    assert_flags("softmax", lambda x, axis=-1: value, fragment)
    report = ex.check("scaled_dot_product_attention", lambda q, k, v: (value, value))
    assert not report.passed and report.status == "failed"


def test_changing_the_input_in_place_is_named():
    def softmax(x, axis=-1):
        x -= x.max(axis=axis, keepdims=True)
        np.exp(x, out=x)
        x /= x.sum(axis=axis, keepdims=True)
        return x
    assert_flags("softmax", softmax, "changed its input x in place")


def test_exceptions_are_caught_with_message_and_line():
    def softmax(x, axis=-1):
        shifted = x - x.max(axis=axis)
        return np.exp(shifted) / np.exp(shifted).sum(axis=axis, keepdims=True)
    report = assert_flags("softmax", softmax, "raised ValueError at line 2 of softmax: "
                          "`shifted = x - x.max(axis=axis)`", "could not be broadcast", "keepdims=True")
    assert len([h for h in report.hints if "raised ValueError" in h]) == 1      # grouped across cases


def test_any_exception_type_is_caught():
    def softmax(x, axis=-1):
        return {}["missing"]
    report = assert_flags("softmax", softmax, "raised KeyError at line 2 of softmax")
    assert "'missing'" in report.hints[0]


def test_not_implemented_stub_gets_a_friendly_report():
    def softmax(x, axis=-1):
        # your code here
        raise NotImplementedError
    report = ex.check("softmax", softmax)
    assert not report.passed and report.status == "not done"
    assert "not done yet" in repr(report)
    assert "still raises NotImplementedError" in report.hints[0]
    assert "ac.exercises.solution('softmax')" in report.hints[0]
    assert "not done yet" in report._repr_html_() and "Traceback" not in repr(report)


def test_report_html_escapes_and_lists_every_hint():
    def softmax(x, axis=-1):
        raise ValueError("<b>boom</b> & more")
    report = ex.check("softmax", softmax)
    html = report._repr_html_()
    assert "&lt;b&gt;boom&lt;/b&gt; &amp; more" in html and "<b>boom" not in html
    assert html.count("<li>") == len(report.hints) >= 1


def test_checker_does_not_warn():
    import warnings

    def softmax(x, axis=-1):
        return np.exp(x) / np.exp(x).sum(axis=axis, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not ex.check("softmax", softmax).passed



# --------------------------------------------------------------- lightness ----

def test_exercises_do_not_load_torch_or_widgets():
    code = ("import sys, attention_course as ac; ac.exercises.check('softmax', ac.softmax); "
            "assert 'torch' not in sys.modules and 'ipywidgets' not in sys.modules, sorted(sys.modules); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_an_exercise_tip_beats_the_generic_tip_for_the_same_error():
    report = ex.check("query_scores", lambda q, K: q @ K)
    text = " ".join(report.hints)
    assert "use K @ q" in text
    assert "k.swapaxes" not in text
