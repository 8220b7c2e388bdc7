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
    (lambda v: np.full(v.shape[1], v.mean()), "every number"),
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
