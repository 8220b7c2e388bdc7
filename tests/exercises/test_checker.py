"""The checker itself: discovery, registry, the matching rule (a mistake is named only when the learner's
function behaves like it), generic problems (errors, shapes, NaN, mutation) and their tips, reports,
lightness. It never raises into the notebook and never writes to stderr."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from attention_course import exercises as ex
from attention_course.exercises import _core

from .._threads import pool_thread_counts, torch_at_two_threads, torch_thread_counts
from ._helpers import assert_flags, assert_names, assert_names_nothing, hints_of, named


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


# ------------------------------------------- unrelated errors name no mistake ----

def _right_then(exercise_name, failure):
    """The exercise's reference, then an unrelated failure: a learner whose maths is right."""
    reference = ex.get(exercise_name).reference

    def learner(*args, **kwargs):
        out = reference(*args, **kwargs)
        failure(out)
        return out
    return learner


def _int_of_a_word(out):
    return int("three")


def _undefined_name(out):
    return undefined_helper(out)  # noqa: F821


def _typo_in_an_attribute(out):
    return np.linalg.nrom(1.0)


@pytest.mark.parametrize("name", ex.names())
@pytest.mark.parametrize("failure, error", [(_int_of_a_word, "ValueError: invalid literal for int()"),
                                            (_undefined_name, "NameError: name 'undefined_helper' is not defined"),
                                            (_typo_in_an_attribute, "AttributeError: module 'numpy.linalg' has no "
                                                                    "attribute 'nrom'")])
def test_an_unrelated_exception_names_no_mistake_and_gets_no_tip(name, failure, error):
    report = assert_names_nothing(name, _right_then(name, failure))
    assert len(report.hints) == 1, report                       # the exception hint, nothing else
    hint = report.hints[0]
    assert hint.startswith(f"Your function raised {error.split(':')[0]} at line ") and error in hint, hint
    assert hint.endswith(".") and "keepdims" not in hint and "A @ B" not in hint and "parameters" not in hint
    assert report.failed_cases == [c.label for c in ex.get(name).get_cases()]


@pytest.mark.parametrize("name", ex.names())
def test_a_learner_that_raises_everywhere_is_told_only_the_error(name):
    def learner(*args, **kwargs):
        raise ValueError("my own check failed")
    report = assert_names_nothing(name, learner)
    assert len(report.hints) == 1 and "ValueError: my own check failed." in report.hints[0], report


# --------------------------------------------------------- the matching rule ----
# A toy exercise (registered for these tests only): row sums of a matrix, with one mistake that
# raises on the non-square cases (x @ w.T-like) and one that returns values.

def _row_sums(x):
    return x @ np.ones(x.shape[1])


def _transposed(x):                     # column sums: fails unless x is square, like x @ w.T
    return np.ones(x.shape[1]) @ x


def _halved(x):
    return x.sum(axis=1) / 2


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    exercise = ex.register(ex.Exercise(
        lesson="00_welcome", name="toy_row_sums", reference=_row_sums,
        cases=[ex.Case((rng.normal(size=shape),), label=f"x {shape}") for shape in [(2, 3), (3, 3), (4, 2), (2, 2)]],
        mistakes=[ex.Mistake("TRANSPOSED", _transposed), ex.Mistake("HALVED", _halved)],
        signature="toy_row_sums(x) -> (n,)"))
    yield exercise
    _core._REGISTRY.pop("toy_row_sums")


def test_a_mistake_that_raises_is_named_for_the_same_failed_product(toy):
    def by_dot(x):                       # np.dot words the error differently from @; the same sizes fail
        return np.dot(np.ones(x.shape[1]), x)
    report = assert_names("toy_row_sums", lambda x: x.T @ np.ones(x.shape[1]), "TRANSPOSED")
    assert report.hints[0] == "TRANSPOSED"
    assert named("toy_row_sums", hints_of("toy_row_sums", by_dot)) == ["TRANSPOSED"]


def test_a_mistake_that_raises_is_not_named_for_another_error_of_the_same_type(toy):
    def learner(x):
        if x.shape[0] != x.shape[1]:
            raise ValueError("matmul: shapes do not fit")     # a ValueError where the mistake raises one
        return x.sum(axis=1)
    assert ex.check("toy_row_sums", learner).failed_cases == ["x (2, 3)", "x (4, 2)"]
    assert_names_nothing("toy_row_sums", learner)


def test_a_mistake_that_raises_is_not_named_when_another_product_fails(toy):
    def learner(x):
        return x @ np.ones(x.shape[1] + 1)                   # fails everywhere, with other sizes
    assert_names_nothing("toy_row_sums", learner)


def test_one_coincidence_names_no_mistake(toy):
    def learner(x):                                          # like HALVED on one case only
        return x.sum(axis=1) / 2 if x.shape == (2, 3) else x.sum(axis=1) * 3
    assert_names_nothing("toy_row_sums", learner)


def test_cases_failing_in_another_way_are_left_out(toy):
    def learner(x):                                          # HALVED, plus a crash on one case
        if x.shape == (4, 2):
            raise KeyError("oops")
        return x.sum(axis=1) / 2
    report = assert_names("toy_row_sums", learner, "HALVED")
    assert any("raised KeyError" in h for h in report.hints)


def test_an_exercise_tip_beats_the_generic_tip_for_the_same_error(toy):
    toy.tips = {r"mismatch": "TOY TIP"}
    report = ex.check("toy_row_sums", lambda x: x @ np.ones(7))
    text = " ".join(report.hints)
    assert "TOY TIP" in text and "A @ B" not in text


# ------------------------------------------------ generic problems and tips ----
# shown on the softmax exercise

def learner_softmax(x, axis=-1):            # correct, written with logsumexp instead of max-division
    m = np.max(x, axis=axis, keepdims=True)
    log_total = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return np.exp(x - log_total)


def test_several_mistakes_are_all_reported():
    def softmax(x, axis=-1):               # wrong axis AND no max-subtraction
        return np.exp(x) / np.exp(x).sum(axis=0, keepdims=True)
    assert_names("softmax", softmax, "No max-subtraction", "Softmax over the wrong axis")


def test_wrong_shape_and_tuple_are_named():
    def row_sums(x, axis=-1):
        return np.exp(x).sum(axis=axis)

    def pair(x, axis=-1):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e, e.sum(axis=axis, keepdims=True)
    report = assert_flags("softmax", row_sums, "Wrong output shape (",
                          "For 'one row [1, 2, 3]': expected (3,), got ().")
    assert named("softmax", report) == []
    report = assert_flags("softmax", pair, "returned a tuple of 2 values; return a single numpy array")
    assert named("softmax", report) == []


def test_nan_is_named_when_no_mistake_explains_it():
    def softmax(x, axis=-1):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        out = e / e.sum(axis=axis, keepdims=True)
        return np.where(x > 500, np.nan, out)
    report = assert_flags("softmax", softmax, "contains NaN or inf where the reference is finite",
                          "'huge scores (about 1000)'")
    assert named("softmax", report) == []


def test_list_and_none_returns():
    def as_list(x, axis=-1):
        return learner_softmax(x, axis).tolist()

    def forgot_return(x, axis=-1):
        learner_softmax(x, axis)
    assert_flags("softmax", as_list, "returned a list; return a numpy array")
    report = assert_flags("softmax", forgot_return, "returned None: did you forget the `return` line? (")
    assert named("softmax", report) == []


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


def test_changing_the_input_in_place_is_named_and_the_hint_is_whole():
    def softmax(x, axis=-1):
        x -= x.max(axis=axis, keepdims=True)
        np.exp(x, out=x)
        x /= x.sum(axis=axis, keepdims=True)
        return x
    report = assert_flags("softmax", softmax, "changed its input x in place")
    (hint,) = [h for h in report.hints if "in place" in h]
    assert hint.startswith("Your function changed its input x in place (e.g. with -= or /=) (14 cases: ")
    assert hint.endswith("e.g. `x = x - ...` rather than `x -= ...`."), hint


def test_an_exception_is_caught_with_message_and_line():
    def softmax(x, axis=-1):
        shifted = x - x.max(axis=axis)
        return np.exp(shifted) / np.exp(shifted).sum(axis=axis, keepdims=True)
    report = assert_flags("softmax", softmax, "raised ValueError at line 2 of softmax: "
                          "`shifted = x - x.max(axis=axis)`", "could not be broadcast")
    assert len([h for h in report.hints if "raised ValueError" in h]) == 1      # grouped across cases
    assert named("softmax", report) == []


def test_the_keepdims_tip_fires_for_a_reduction_without_keepdims():
    def softmax(x, axis=-1):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis)
    report = assert_flags("softmax", softmax, "Shapes (3, 4) and (3,) look like an array and its sum or max over "
                                              "axis 1 (or -1) without keepdims: pass keepdims=True")
    assert named("softmax", report) == []


def test_the_keepdims_tip_stays_quiet_for_other_broadcast_errors():
    def softmax(x, axis=-1):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True) + np.zeros(7)     # shapes that are no reduction of x
    report = assert_flags("softmax", softmax, "could not be broadcast together with shapes (3,) (7,).")
    assert "without keepdims" not in " ".join(report.hints) and named("softmax", report) == []


def test_the_matrix_product_tips_give_the_sizes_and_mention_T_only_on_a_batch():
    def without_T(q, k, v):
        w = learner_softmax(q @ k / np.sqrt(q.shape[-1]))
        return w @ v, w

    def v_T(q, k, v):                              # .T where none belongs: unbatched it fails on the sizes,
        w = learner_softmax(q @ np.swapaxes(k, -2, -1) / np.sqrt(q.shape[-1]))
        return w @ v.T, w                          # batched on the batch axes
    report = ex.check("scaled_dot_product_attention", without_T)
    (hint,) = [h for h in report.hints if "raised ValueError" in h]
    assert "In A @ B the last axis of A must have the size of B's second-to-last axis" in hint
    assert "here A's has 4 and B's 3. Print the shapes of both sides." in hint and ".T" not in hint
    report = ex.check("scaled_dot_product_attention", v_T)
    unbatched = [h for h in report.hints if "For '3 queries, 3 keys, d_k = 4'" in h]
    batched = [h for h in report.hints if "For 'a batch of 2'" in h]
    assert len(unbatched) == len(batched) == 1, report
    assert "here A's has 3 and B's 4" in unbatched[0] and ".T reverses" not in unbatched[0]
    assert "In a batched A @ B the axes before the last two (batch, heads) must be equal, or 1." in batched[0]
    assert ".T reverses ALL the axes of a batched array" in batched[0]
    assert named("scaled_dot_product_attention", report) == []


def test_the_parameters_tip_fires_only_when_the_call_itself_fails():
    report = assert_flags("softmax", lambda x: learner_softmax(x), "got an unexpected keyword argument 'axis'. "
                          "Check your function's parameters against the signature. Expected: softmax(x, axis=-1)")
    assert report.failed_cases == ["axis=0", "axis=1 of a batch"]

    def calls_something_wrongly(x, axis=-1):
        return learner_softmax(x, axis, 3)           # a TypeError inside the learner's code
    report = assert_flags("softmax", calls_something_wrongly, "takes from 1 to 2 positional arguments but 3 were given")
    assert "parameters against the signature" not in " ".join(report.hints)


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


def test_checker_does_not_warn_or_write_to_stderr(capfd):
    import warnings

    def overflowing(x, axis=-1):
        return np.exp(x) / np.exp(x).sum(axis=axis, keepdims=True)

    def noisy(x, axis=-1):
        warnings.warn("a learner's own warning")
        return np.log(x - 1e9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in (overflowing, noisy, lambda x, axis=-1: int("three")):
            assert not ex.check("softmax", fn).passed
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_a_broken_exercise_definition_is_reported_not_raised():
    def reference(x):
        raise RuntimeError("a bug in the course")
    ex.register(ex.Exercise(lesson="00_welcome", name="toy_broken", reference=reference, cases=[ex.Case((1.0,))]))
    try:
        report = ex.check("toy_broken", lambda x: x)
    finally:
        _core._REGISTRY.pop("toy_broken")
    assert report.status == "unknown" and "This is a bug in the course" in report.hints[0]


# --------------------------------------------------------------- lightness ----

def test_exercises_do_not_load_torch_or_widgets():
    code = ("import sys, attention_course as ac; ac.exercises.check('softmax', ac.softmax); "
            "assert 'torch' not in sys.modules and 'ipywidgets' not in sys.modules, sorted(sys.modules); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_values_that_look_equal_are_printed_with_enough_digits_to_differ():
    def softmax_off_by_a_little(x, axis=-1):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return (e / e.sum(axis=axis, keepdims=True) + 3e-6).astype(np.float32)
    text = "\n".join(ex.check("softmax", softmax_off_by_a_little).hints)
    shown = re.search(r"expected ([\d.e-]+), got ([\d.e-]+)", text)
    assert shown and shown.group(1) != shown.group(2), text
    assert "less precise" in text


# ----------------------------------------------------------- shared machines ----

def test_the_learners_code_runs_on_one_thread_and_the_callers_limit_comes_back():
    from threadpoolctl import threadpool_limits

    seen = []

    def softmax(x, axis=-1):
        seen.append(pool_thread_counts())
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
    with threadpool_limits(limits=2):                               # a caller that allows two threads
        assert ex.check("softmax", softmax).passed
        after = pool_thread_counts()
    assert seen and all(counts == {1} for counts in seen)          # every case: one thread in every pool
    assert after == {2}


def test_a_torch_exercise_runs_on_one_torch_thread_even_after_torch_set_num_threads():
    torch = pytest.importorskip("torch")
    from attention_course.exercises import train_steps as reference

    seen = []

    def train_steps(model, optimizer, batches):
        seen.append(torch_thread_counts(torch))
        return reference.train_steps(model, optimizer, batches)
    with torch_at_two_threads(torch):
        assert ex.check("train_steps", train_steps).passed
        assert torch.get_num_threads() == 2
    assert seen and {counts[0] for counts in seen} == {1} and {counts[1] for counts in seen} <= {1, None}
