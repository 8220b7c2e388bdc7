"""Exercises: the checker names each mistake from learner-style code (written here,
independently of the catalogue), passes correct code however it is written, reports
every problem, and never raises into the notebook."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from attention_course import exercises as ex
from attention_course.exercises import _core


def hints_of(name, fn):
    report = ex.check(name, fn)
    assert isinstance(report, ex.Report)
    return report


def assert_flags(name, fn, *fragments):
    report = hints_of(name, fn)
    assert not report.passed, report
    text = "\n".join(report.hints)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in:\n{report}"
    return report


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


# ---------------------------------------------------------------- softmax ----

def learner_softmax(x, axis=-1):            # correct, written with logsumexp instead of max-division
    m = np.max(x, axis=axis, keepdims=True)
    log_total = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return np.exp(x - log_total)


def learner_softmax_float64(x, axis=-1):    # correct; upcasts float32 (allowed)
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - np.amax(x, axis, keepdims=True))
    return e / np.sum(e, axis, keepdims=True)


@pytest.mark.parametrize("fn", [learner_softmax, learner_softmax_float64])
def test_softmax_correct_learner_passes(fn):
    report = ex.check("softmax", fn)
    assert report.passed, report
    assert "correct on all" in repr(report) and "✓" in report._repr_html_()


def test_softmax_no_max_subtraction():
    def softmax(x, axis=-1):
        exps = np.exp(x)
        return exps / np.sum(exps, axis=axis, keepdims=True)
    assert_flags("softmax", softmax, "No max-subtraction")


def test_softmax_wrong_axis():
    def softmax(x, axis=-1):
        z = x - x.max(axis=0)
        return np.exp(z) / np.exp(z).sum(axis=0)
    assert_flags("softmax", softmax, "Softmax over the wrong axis")


def test_softmax_not_normalised():
    def softmax(x, axis=-1):
        return np.exp(x - np.max(x, axis=axis, keepdims=True))
    assert_flags("softmax", softmax, "Not normalised")


def test_softmax_global_max_and_whole_array():
    def global_max(x, axis=-1):
        e = np.exp(x - np.max(x))
        return e / e.sum(axis=axis, keepdims=True)

    def whole(x, axis=-1):
        e = np.exp(x - np.max(x))
        return e / np.sum(e)
    assert_flags("softmax", global_max, "maximum of the whole array")
    assert_flags("softmax", whole, "normalised over the whole array")


def test_softmax_ignoring_axis():
    def softmax(x, axis=-1):
        return learner_softmax(x)
    report = assert_flags("softmax", softmax, "ignores its axis argument")
    assert set(report.failed_cases) == {"axis=0", "axis=1 of a batch"}


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


# ----------------------------------------------------- scaled dot-product ----

def learner_attention(q, k, v, mask=None):       # correct, written with einsum and explicit shapes
    d_k = q.shape[-1]
    scores = np.einsum("...qd,...kd->...qk", q, k) / d_k ** 0.5
    if mask is not None:
        scores = np.where(mask, scores, -1e30)
    scores = scores - scores.max(-1, keepdims=True)
    w = np.exp(scores)
    w = w / w.sum(-1, keepdims=True)
    return np.einsum("...qk,...kd->...qd", w, v), w


def _attn(q, k, v, scale, mask=None, axis=-1, stable=True, normalise=True):
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) * scale
    if mask is not None:
        scores = np.where(mask, scores, -1e9)      # the mask done right, the rest as the parameters say
    if stable:
        scores = scores - scores.max(axis=axis, keepdims=True)
    w = np.exp(scores)
    if normalise:
        w = w / w.sum(axis=axis, keepdims=True)
    return w @ v, w


@pytest.mark.parametrize("name", ["scaled_dot_product_attention", "masked_attention"])
def test_attention_correct_learner_passes(name):
    assert ex.check(name, learner_attention).passed
    assert ex.check(name, lambda q, k, v, mask=None: _attn(q, k, v, q.shape[-1] ** -0.5, mask)).passed


def test_attention_package_function_passes():
    import attention_course as ac
    assert ex.check("scaled_dot_product_attention", ac.scaled_dot_product_attention).passed
    assert ex.check("masked_attention", ac.scaled_dot_product_attention).passed


@pytest.mark.parametrize("name", ["scaled_dot_product_attention", "masked_attention"])
@pytest.mark.parametrize("buggy, hint", [
    (lambda q, k, v, mask=None: _attn(q, k, v, 1.0, mask), "Missing the 1/√d_k scaling"),
    (lambda q, k, v, mask=None: _attn(q, k, v, 1 / q.shape[-1], mask), "divided the scores by d_k instead of √d_k"),
    (lambda q, k, v, mask=None: _attn(q, k, v, q.shape[-1] ** -0.5, mask, axis=-2), "Softmax over the query axis"),
    (lambda q, k, v, mask=None: _attn(q, k, v, q.shape[-1] ** -0.5, mask, stable=False), "No max-subtraction"),
    (lambda q, k, v, mask=None: _attn(q, k, v, q.shape[-1] ** -0.5, mask, normalise=False), "Not normalised"),
    (lambda q, k, v, mask=None: _attn(q, k, v, q.shape[-1] ** -0.5, mask)[::-1], "You returned (weights, output)"),
])
def test_attention_mistakes(name, buggy, hint):
    assert_flags(name, buggy, hint)


def test_attention_k_T_on_a_batch():
    def attention(q, k, v):
        w = learner_softmax(q @ k.T / np.sqrt(q.shape[-1]))
        return w @ v, w
    assert_flags("scaled_dot_product_attention", attention, "k.T reverses ALL axes", "raised ValueError")


def test_attention_single_output_is_a_type_problem():
    def attention(q, k, v):
        return learner_attention(q, k, v)[0]
    assert_flags("scaled_dot_product_attention", attention, "returned one ndarray; return a tuple (output, weights)")


def test_mask_applied_after_softmax():
    def attention(q, k, v, mask=None):
        out, w = learner_attention(q, k, v)
        if mask is not None:
            w = w * mask
        return w @ v, w
    assert_flags("masked_attention", attention, "Mask applied after the softmax")


def test_hidden_scores_set_to_zero():
    def attention(q, k, v, mask=None):
        scores = q @ np.swapaxes(k, -2, -1) / np.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores * mask
        w = learner_softmax(scores)
        return w @ v, w
    assert_flags("masked_attention", attention, "Hidden scores set to 0 instead of -inf")


def test_mask_inverted():
    def attention(q, k, v, mask=None):
        scores = q @ np.swapaxes(k, -2, -1) / np.sqrt(q.shape[-1])
        if mask is not None:
            scores = np.where(~np.asarray(mask), scores, -np.inf)
        w = learner_softmax(scores)
        return w @ v, w
    assert_flags("masked_attention", attention, "Mask inverted")


def test_mask_after_softmax_and_missing_scale_together():
    def attention(q, k, v, mask=None):
        scores = q @ np.swapaxes(k, -2, -1)
        w = learner_softmax(scores)
        if mask is not None:
            w = np.where(mask, w, 0.0)
        return w @ v, w
    assert_flags("masked_attention", attention, "Mask applied after the softmax", "Missing the 1/√d_k scaling")


def test_mask_none_not_handled():
    def attention(q, k, v, mask=None):
        scores = np.where(mask, q @ np.swapaxes(k, -2, -1) / np.sqrt(q.shape[-1]), -np.inf)
        w = learner_softmax(scores)
        return w @ v, w
    report = assert_flags("masked_attention", attention, "'no mask (mask=None)'")
    assert report.failed_cases == ["no mask (mask=None)"]


# ------------------------------------------------------------ causal mask ----

def test_causal_mask_correct_learners_pass():
    def by_comparison(n):
        i = np.arange(n)
        return i[:, None] >= i[None, :]

    def by_loops(n):
        m = np.zeros((n, n), dtype=bool)
        for query in range(n):
            for key in range(query + 1):
                m[query, key] = True
        return m
    assert ex.check("causal_mask", by_comparison).passed
    assert ex.check("causal_mask", by_loops).passed


def test_causal_mask_wrong_triangle():
    def causal_mask(n):
        i = np.arange(n)
        return i[None, :] >= i[:, None]            # key >= query: the future
    assert_flags("causal_mask", causal_mask, "Wrong triangle", "future")


def test_causal_mask_diagonal_hidden():
    def causal_mask(n):
        i = np.arange(n)
        return i[None, :] < i[:, None]
    assert_flags("causal_mask", causal_mask, "The diagonal is hidden")


def test_causal_mask_float_is_a_dtype_problem():
    def causal_mask(n):
        return np.tril(np.ones((n, n)))
    report = assert_flags("causal_mask", causal_mask, "dtype float64; return a bool array")
    assert len(report.hints) == 1                  # the values are right: nothing else to say


# ---------------------------------------------------- positional encoding ----

def learner_pe(n_positions, d_model):              # correct, written with loops
    pe = np.zeros((n_positions, d_model))
    for pos in range(n_positions):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            pe[pos, 2 * i] = np.sin(angle)
            pe[pos, 2 * i + 1] = np.cos(angle)
    return pe


def test_positional_encoding_correct_learner_passes():
    assert ex.check("sinusoidal_positional_encoding", learner_pe).passed


def test_positional_encoding_sin_cos_swapped():
    def pe(n_positions, d_model):
        out = learner_pe(n_positions, d_model)
        return out[:, [j + 1 if j % 2 == 0 else j - 1 for j in range(d_model)]]
    assert_flags("sinusoidal_positional_encoding", pe, "sin and cos are swapped")


def test_positional_encoding_wrong_exponent():
    def pe(n_positions, d_model):
        out = np.zeros((n_positions, d_model))
        for pos in range(n_positions):
            for i in range(d_model // 2):
                angle = pos / 10000 ** (i / d_model)
                out[pos, 2 * i], out[pos, 2 * i + 1] = np.sin(angle), np.cos(angle)
        return out
    assert_flags("sinusoidal_positional_encoding", pe, "Wrong exponent: you used i / d_model")


def test_positional_encoding_column_exponent():
    def pe(n_positions, d_model):
        pos = np.arange(n_positions)[:, None]
        j = np.arange(d_model)
        angle = pos / 10000 ** (j / d_model)
        return np.where(j % 2 == 0, np.sin(angle), np.cos(angle))
    assert_flags("sinusoidal_positional_encoding", pe, "Wrong exponent for the cos columns")


def test_positional_encoding_wrong_shape():
    def pe(n_positions, d_model):
        return learner_pe(n_positions, d_model).T
    assert_flags("sinusoidal_positional_encoding", pe, "Wrong output shape", "expected (4, 6), got (6, 4)")


# ------------------------------------------------------------- split heads ----

def test_split_heads_correct_learners_pass():
    def by_stacking(x, num_heads):
        d_head = x.shape[-1] // num_heads
        return np.stack([x[..., h * d_head:(h + 1) * d_head] for h in range(num_heads)], axis=-3)
    assert ex.check("split_heads", by_stacking).passed


def test_split_heads_without_transpose():
    def split_heads(x, num_heads):
        *batch, n, d_model = x.shape
        return np.reshape(x, (*batch, num_heads, n, d_model // num_heads))
    report = assert_flags("split_heads", split_heads, "Heads reshaped without the transpose")
    assert "Wrong output shape" not in "\n".join(report.hints)


def test_split_heads_forgot_the_swap():
    def split_heads(x, num_heads):
        return x.reshape(x.shape[:-1] + (num_heads, -1))
    report = assert_flags("split_heads", split_heads, "you stopped at (..., n, h, d_head)",
                          "Wrong output shape (6 cases")
    assert "Heads reshaped without the transpose" not in "\n".join(report.hints)


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
