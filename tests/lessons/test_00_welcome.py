"""The welcome page's warm-up exercise and quiz."""
import numpy as np
import pytest

import attention_course as ac


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
