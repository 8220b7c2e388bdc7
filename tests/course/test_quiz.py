"""Quizzes: every bank file validates and grades as written; bad banks and bad
answers get readable messages; the live widget and the static HTML both work."""
from __future__ import annotations

import json
import subprocess
import sys
from html import escape

import pytest

from attention_course import quiz

BANK_FILES = sorted(quiz.BANK.glob("*.json"))


def _html(text: str) -> str:
    return escape(text, quote=False)


# ------------------------------------------------------------ the bank ----

@pytest.mark.parametrize("path", BANK_FILES, ids=[p.name for p in BANK_FILES])
def test_bank_file_is_valid(path):
    problems = quiz.validate(json.loads(path.read_text(encoding="utf-8")), source=path.name)
    assert problems == [], "\n".join(problems)


def test_validate_bank_covers_every_file():
    assert quiz.validate_bank() == []
    assert "demo" in quiz.lessons()
    assert len(quiz.lessons()) == len(BANK_FILES)


@pytest.mark.parametrize("lesson", quiz.lessons())
def test_every_bank_question_grades_as_written(lesson):
    """Each option's own explanation comes back; right options are graded right."""
    q = quiz.load(lesson)
    assert 1 <= len(q)
    for i, question in enumerate(q.questions):
        if question.kind == "single":
            for j, option in enumerate(question.options):
                fb = q.answer(i, j)
                assert fb.valid and fb.correct is option.correct and fb.explanation == option.explain
        elif question.kind == "multiple":
            right = question.correct_indices
            fb = q.answer(i, right)
            assert fb.correct and all(question.options[j].explain in fb.explanation for j in right)
            for j, option in enumerate(question.options):
                if not option.correct:
                    fb = q.answer(i, sorted({*right, j}))
                    assert not fb.correct and option.explain in fb.explanation
        else:
            assert q.answer(i, question.answer).correct
            assert q.answer(i, question.answer + 0.9 * question.tolerance).correct
            for wrong in question.wrong_answers:
                fb = q.answer(i, wrong.value)
                assert not fb.correct and fb.explanation == wrong.explain
            far = question.answer + 1000 * question.tolerance + 1e6
            fb = q.answer(i, far)
            assert not fb.correct and fb.explanation == question.explain_wrong


# ------------------------------------------------------- the validator ----

def _good():
    return {
        "lesson": "99_test", "title": "Test quiz",
        "questions": [
            {"kind": "single", "prompt": "Pick one",
             "options": [{"text": "right", "correct": True, "explain": "because right"},
                         {"text": "wrong", "correct": False, "explain": "misconception"}]},
            {"kind": "multiple", "prompt": "Pick some",
             "options": [{"text": "a", "correct": True, "explain": "a is in"},
                         {"text": "b", "correct": False, "explain": "b is out"},
                         {"text": "c", "correct": True, "explain": "c is in"}]},
            {"kind": "numeric", "prompt": "A number", "answer": 0.5, "tolerance": 0.01, "explain": "half",
             "wrong_answers": [{"value": 0.25, "explain": "a quarter is the misconception"}],
             "explain_wrong": "try again"},
        ]}


def test_good_quiz_has_no_problems():
    assert quiz.validate(_good(), "99_test.json") == []


@pytest.mark.parametrize("breaks, expected", [
    (lambda d: d["questions"][0]["options"][1].update(correct=True), "exactly one correct option, it has 2"),
    (lambda d: d["questions"][0]["options"][1].update(explain=""), "option 1 (B): needs an 'explain'"),
    (lambda d: d["questions"][1]["options"][0].pop("explain"), "question 1 (Q2) option 0 (A): needs an 'explain'"),
    (lambda d: [o.update(correct=False) for o in d["questions"][1]["options"]], "at least one correct option"),
    (lambda d: d["questions"][2].update(tolerance=0), "'tolerance' must be a number > 0"),
    (lambda d: d["questions"][2].update(tolerance=0.2), "tolerance 0.2 is too loose for the answer 0.5"),
    (lambda d: d["questions"][2]["wrong_answers"][0].update(value=0.505), "overlaps the answer 0.5"),
    (lambda d: d["questions"][2].pop("explain_wrong"), "needs 'explain_wrong'"),
    (lambda d: d["questions"][2].update(answer="0.5"), "'answer' must be a finite number"),
    (lambda d: d["questions"][0].update(kind="truefalse"), "'kind' must be one of"),
    (lambda d: d["questions"][0].update(explanation="typo"), "unknown key 'explanation'"),
    (lambda d: d["questions"][0]["options"][1].update(text="right"), "two options have the same text"),
    (lambda d: d["questions"].pop(), "3 to 5 questions, it has 2"),
    (lambda d: d.update(lesson="98_other"), "name the file 98_other.json"),
    (lambda d: d.pop("title"), "missing 'title'"),
])
def test_validator_names_each_problem(breaks, expected):
    data = _good()
    breaks(data)
    problems = quiz.validate(data, "99_test.json")
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("99_test.json") for p in problems)


def test_integer_answer_may_be_rounded():
    data = _good()
    data["questions"][2].update(answer=3, tolerance=0.5, wrong_answers=[{"value": 2, "tolerance": 0.4, "explain": "x"}])
    assert quiz.validate(data, "99_test.json") == []


def test_validate_bank_reports_files_and_can_raise(tmp_path):
    (tmp_path / "99_test.json").write_text(json.dumps(_good()))
    (tmp_path / "broken.json").write_text("{not json")
    bad = _good()
    bad["lesson"] = "97_bad"
    bad["questions"][0]["options"][0]["correct"] = False
    (tmp_path / "97_bad.json").write_text(json.dumps(bad))
    problems = quiz.validate_bank(tmp_path)
    assert any(p.startswith("broken.json: not valid JSON") for p in problems)
    assert any(p.startswith("97_bad.json question 0 (Q1)") and "exactly one correct" in p for p in problems)
    assert not any(p.startswith("99_test.json") for p in problems)
    with pytest.raises(ValueError, match="97_bad.json question 0"):
        quiz.validate_bank(tmp_path, raise_on_error=True)


def test_load_unknown_lesson_lists_the_bank():
    with pytest.raises(ValueError, match=r"No quiz called 'nope'.*demo"):
        quiz.load("nope")


# -------------------------------------------------- answering from Python ----

@pytest.fixture
def q():
    return quiz._build(_good())


def test_single_choice_right_and_wrong(q):
    right, wrong = q.answer(0, 0), q.answer(0, 1)
    assert right.correct and right.explanation == "because right" and "Correct" in str(right)
    assert not wrong.correct and wrong.explanation == "misconception" and "Not quite" in str(wrong)


def test_multiple_choice_needs_exactly_the_right_set(q):
    assert q.answer(1, [2, 0]).correct
    assert q.answer(1, (0, 2, 2)).correct                       # duplicates don't matter
    partial = q.answer(1, [0])
    assert not partial.correct and "a is in" in partial.explanation and "1 more correct option" in partial.explanation
    mixed = q.answer(1, [0, 1])
    assert not mixed.correct and "b is out" in mixed.explanation and "not selected yet" in mixed.explanation


def test_numeric_answers(q):
    assert q.answer(2, 0.505).correct and q.answer(2, 0.505).explanation == "half"
    assert q.answer(2, 1 / 2).correct
    known = q.answer(2, 0.25)
    assert not known.correct and known.explanation == "a quarter is the misconception"
    other = q.answer(2, 0.9)
    assert not other.correct and other.explanation == "try again"


@pytest.mark.parametrize("i, choice, message", [
    (7, 0, "There is no question 7"),
    (-1, 0, "There is no question -1"),
    ("0", 0, "There is no question '0'"),
    (0, 5, "There is no option 5"),
    (0, "AB", "Give an option's letter or its number counting from 0"),
    (0, True, "Give an option's letter or its number"),
    (0, [0], "one right answer"),
    (0, None, "Pick an option first"),
    (1, "a1", "give a list of option numbers"),
    (1, [], "Select at least one option"),
    (1, [0, 9], "There is no option 9"),
    (2, "half", "wants a number"),
    (2, [0.5], "wants a number"),
    (2, float("nan"), "finite number"),
    (2, None, "Type a number first"),
])
def test_bad_answers_get_a_message_not_a_traceback(q, i, choice, message):
    fb = q.answer(i, choice)
    assert not fb.correct and not fb.valid
    assert message in fb.explanation
    assert "Can't grade" in str(fb) and message in fb.html()


def test_numpy_numbers_are_accepted(q):
    np = pytest.importorskip("numpy")
    assert q.answer(np.int64(0), np.int64(0)).correct
    assert q.answer(2, np.float32(0.5)).correct


def test_parse_number_for_the_text_box():
    assert quiz.parse_number(" 0.25 ") == 0.25
    assert quiz.parse_number("1e-3") == 0.001
    assert quiz.parse_number("0,25") == 0.25
    assert quiz.parse_number("") is None
    assert quiz.parse_number("abc") == "abc"


# ------------------------------------------------------- display bundle ----

def test_show_bundle_carries_widget_html_and_text():
    view = quiz.show("demo")
    bundle = view._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html", quiz.WIDGET_VIEW}
    assert bundle[quiz.WIDGET_VIEW]["model_id"] == view.widget.box.model_id
    again = quiz.show("demo")._repr_mimebundle_()
    assert again["text/html"] == bundle["text/html"] and again["text/plain"] == bundle["text/plain"]
    assert "model_id" not in bundle["text/html"] and "0x" not in bundle["text/plain"]


def test_static_html_has_every_question_option_answer_and_explanation():
    for lesson in quiz.lessons():
        q = quiz.load(lesson)
        html = q.to_html()
        assert html.count("<details>") == len(q) and html.count("</details>") == len(q)
        assert _html(q.title) in html
        for question in q.questions:
            assert _html(question.prompt) in html
            for option in question.options:
                assert _html(option.text) in html and _html(option.explain) in html
            if question.kind == "numeric":
                assert _html(question.explain) in html and _html(question.explain_wrong) in html
                assert all(_html(w.explain) in html for w in question.wrong_answers)


def test_plain_text_lists_questions_and_answers():
    text = repr(quiz.show("demo"))
    q = quiz.load("demo")
    assert all(question.prompt in text for question in q.questions)
    assert "Answers: Q1 A; Q2 A, C; Q3 0.665 (±0.002)" in text


# -------------------------------------------------------- the live widget ----

@pytest.fixture
def live():
    return quiz.show("demo").widget


def test_widget_single_choice_shows_the_chosen_explanation_and_allows_retry(live):
    question = live.questions[0]
    options = quiz.load("demo").questions[0].options
    assert question.feedback.value == ""
    question.button.click()
    assert "Pick an option first" in question.feedback.value
    question.input.value = 1                                  # a wrong option
    question.button.click()
    assert "Not quite" in question.feedback.value and _html(options[1].explain) in question.feedback.value
    question.input.value = 0                                  # retry with the right one
    question.button.click()
    assert "Correct!" in question.feedback.value and _html(options[0].explain) in question.feedback.value
    assert question.last.correct


def test_widget_multiple_choice_uses_the_checkboxes(live):
    question = live.questions[1]
    question.input[0].value = True
    question.button.click()
    assert "Not quite" in question.feedback.value and "1 more correct option" in question.feedback.value
    question.input[2].value = True
    question.button.click()
    assert "Correct!" in question.feedback.value


def test_widget_numeric_parses_the_text_box(live):
    question = live.questions[2]
    demo = quiz.load("demo").questions[2]
    question.input.value = "0.5"
    question.button.click()
    assert _html(demo.wrong_answers[0].explain) in question.feedback.value
    question.input.value = "half"
    question.button.click()
    assert "wants a number" in question.feedback.value and "half" in question.feedback.value
    question.input.value = "0,665"
    question.button.click()
    assert "Correct!" in question.feedback.value and _html(demo.explain) in question.feedback.value


def test_widget_and_python_grade_alike(live):
    q = quiz.load("demo")
    for j in range(3):
        live.questions[0].input.value = j
        assert live.questions[0].check() == q.answer(0, j)


def test_importing_the_package_stays_light():
    code = ("import sys, attention_course as ac; "
            "assert 'ipywidgets' not in sys.modules and 'attention_course.quiz' not in sys.modules; "
            "ac.quiz.load('demo'); assert 'ipywidgets' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_static_html_writes_option_letters_that_match_the_explanations():
    # front ends restyle <ol type="A"> as 1, 2, 3, while the explanations say "A — wrong"
    html = quiz.load("demo").to_html()
    assert '<ol type="A">' not in html
    assert "<li>A. 1</li>" in html and "<b>A — right:</b>" in html


def test_numeric_answers_given_as_text_are_graded_like_the_widget_does():
    bank = quiz.load("04_softmax")
    assert bank.answer(0, "0.659").correct
    assert bank.answer(0, " 0,659 ").correct
    assert not bank.answer(0, "0.71").correct and "published" in bank.answer(0, "0.71").explanation
    assert "number" in str(bank.answer(0, "abc"))


def test_options_can_be_given_by_the_letters_the_static_quiz_prints():
    bank = quiz.load("demo")
    right = bank.questions[0].correct_indices[0]
    letter = "ABCDEFGH"[right]
    assert bank.answer(0, letter).correct and bank.answer(0, letter.lower()).correct
    assert str(bank.answer(0, letter)) == str(bank.answer(0, right))
    assert "There is no option" in str(bank.answer(0, "Z"))
    assert "There is no option 'Z'" in str(bank.answer(0, "Z"))          # the learner's letter, not its number


def test_select_all_questions_take_the_letters_too():
    bank = quiz.load("demo")
    right = bank.questions[1].correct_indices
    letters = "".join("ABCDEFGH"[j] for j in right)
    assert bank.answer(1, letters).correct and bank.answer(1, ", ".join(letters.lower())).correct
    assert str(bank.answer(1, letters)) == str(bank.answer(1, right))
