"""Self-check quizzes: one JSON bank per lesson in ``attention_course/quizzes/``.

In a notebook (last line of a cell)::

    ac.quiz.show("04_softmax")

shows the live quiz (ipywidgets: pick an answer, press Check, read why, try again)
wherever a kernel runs it (JupyterLab, VS Code, Colab), and a static version
(questions, with answers and explanations behind <details>) on GitHub/nbviewer.

From Python::

    q = ac.quiz.load("04_softmax")
    fb = q.answer(0, 1)        # question index, option index | list of indices | number
    fb.correct, fb.explanation

The widget grades with the same ``Quiz.answer`` code. Bad answers (an index out of
range, a string for a numeric question, ...) return feedback that says what to
give instead; they never raise.

A bank file looks like::

    {"lesson": "04_softmax", "title": "Check yourself: softmax",
     "questions": [
       {"kind": "single", "prompt": "...",
        "options": [{"text": "...", "correct": true, "explain": "why it is right"},
                    {"text": "...", "correct": false, "explain": "the misconception"}]},
       {"kind": "multiple", "prompt": "... (select all that apply)", "options": [...]},
       {"kind": "numeric", "prompt": "...", "answer": 0.659, "tolerance": 0.005,
        "explain": "how to get it",
        "wrong_answers": [{"value": 0.71, "tolerance": 0.005, "explain": "the misconception"}],
        "explain_wrong": "a hint for any other number"}]}

``validate_bank()`` checks every file in the bank and lists each problem with its
file and question.
"""
from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass
from html import escape
from pathlib import Path

BANK = Path(__file__).resolve().parent / "quizzes"
KINDS = ("single", "multiple", "numeric")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# How many questions a quiz has: 3-5 for a lesson, 10-15 for the course's final quiz (lesson 15);
# quizzes named in EXEMPT_FROM_COUNT have any number (demos, tests).
QUESTION_COUNT = {"15_review": (10, 15)}
LESSON_QUESTION_COUNT = (3, 5)
EXEMPT_FROM_COUNT = {"demo"}


# ---------------------------------------------------------------- data ----

@dataclass(frozen=True)
class Option:
    text: str
    correct: bool
    explain: str


@dataclass(frozen=True)
class WrongAnswer:
    value: float
    tolerance: float
    explain: str


@dataclass(frozen=True)
class Question:
    kind: str                     # "single" | "multiple" | "numeric"
    prompt: str
    options: tuple = ()           # tuple[Option] for single/multiple
    answer: float | None = None   # numeric only
    tolerance: float | None = None
    explain: str = ""             # numeric: how to get the answer
    wrong_answers: tuple = ()     # tuple[WrongAnswer]
    explain_wrong: str = ""       # numeric: hint for any other number

    @property
    def correct_indices(self) -> list[int]:
        return [i for i, o in enumerate(self.options) if o.correct]


@dataclass(frozen=True)
class Feedback:
    """The result of one answer: ``.correct`` (bool) and ``.explanation`` (str).

    ``.valid`` is False when the answer could not be graded (e.g. an option that
    does not exist); ``.explanation`` then says what to give instead.
    """
    correct: bool
    explanation: str
    question: int = 0
    valid: bool = True

    @property
    def verdict(self) -> str:
        if not self.valid:
            return "Can't grade that answer:"
        return "Correct!" if self.correct else "Not quite."

    def __str__(self) -> str:
        mark = "✓" if self.correct else ("?" if not self.valid else "✗")
        return f"{mark} {self.verdict} {self.explanation}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self.html()

    def html(self) -> str:
        colour = "#2e7d32" if self.correct else ("#8a6d00" if not self.valid else "#c62828")
        mark = "✓" if self.correct else ("?" if not self.valid else "✗")
        return (f'<div style="border-left:4px solid {colour};padding:2px 8px;margin:4px 0">'
                f'<b style="color:{colour}">{mark} {escape(self.verdict, quote=False)}</b> '
                f'{escape(self.explanation, quote=False)}</div>')


def _invalid(i: int, message: str) -> Feedback:
    return Feedback(correct=False, explanation=message, question=i, valid=False)


# ---------------------------------------------------------------- quiz ----

class Quiz:
    """A lesson's quiz. ``answer(i, choice)`` grades; ``to_html()``/``to_text()`` render."""

    def __init__(self, lesson: str, title: str, questions: list[Question]):
        self.lesson = lesson
        self.title = title
        self.questions = list(questions)

    def __len__(self) -> int:
        return len(self.questions)

    # -- grading (shared by Python callers and the widget) --
    def answer(self, i, choice) -> Feedback:
        """Grade ``choice`` for question index ``i`` (counting from 0).

        single: an option index (int); multiple: a list of option indices;
        numeric: a number. Returns a Feedback; never raises for a bad answer.
        """
        n = len(self.questions)
        if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < n:
            return _invalid(0, f"There is no question {i!r}: this quiz has questions 0 to {n - 1} "
                               f"(counting from 0), e.g. quiz.answer(0, ...).")
        i = int(i)
        q = self.questions[i]
        if q.kind == "numeric":
            return _grade_numeric(i, q, choice)
        if q.kind == "single":
            return _grade_single(i, q, choice)
        return _grade_multiple(i, q, choice)

    # -- static renderings --
    def to_html(self) -> str:
        """Static HTML: every question, its options, and the answers and
        explanations inside collapsible <details> (deterministic)."""
        parts = [f'<div class="ac-quiz"><h3>{escape(self.title, quote=False)}</h3>',
                 '<p><i>Run this cell in Jupyter to answer interactively; '
                 'open "Answer and explanations" to check yourself here.</i></p>']
        for i, q in enumerate(self.questions):
            parts.append(f'<div class="ac-quiz-question"><p><b>Q{i + 1}.</b> {escape(q.prompt, quote=False)}</p>')
            if q.kind == "numeric":
                parts.append("<p>(type a number)</p>")
                parts.append("<details><summary>Answer and explanations</summary><ul>")
                parts.append(f"<li><b>Answer: {_fmt(q.answer)}</b> (within {_fmt(q.tolerance)}). "
                             f"{escape(q.explain, quote=False)}</li>")
                for w in q.wrong_answers:
                    parts.append(f"<li>If you got {_fmt(w.value)}: {escape(w.explain, quote=False)}</li>")
                parts.append(f"<li>Another number: {escape(q.explain_wrong, quote=False)}</li></ul></details>")
            else:
                note = "choose one" if q.kind == "single" else "select all that apply"
                if note not in q.prompt.lower():
                    parts.append(f"<p>({note})</p>")
                # letters written out: notebook front ends restyle <ol type="A"> as 1, 2, 3
                parts.append('<ul style="list-style: none">')
                parts.extend(f"<li>{_letter(j)}. {escape(o.text, quote=False)}</li>" for j, o in enumerate(q.options))
                parts.append("</ul><details><summary>Answer and explanations</summary><ul>")
                for j, o in enumerate(q.options):
                    verdict = "right" if o.correct else "wrong"
                    parts.append(f"<li><b>{_letter(j)} — {verdict}:</b> {escape(o.explain, quote=False)}</li>")
                parts.append("</ul></details>")
            parts.append("</div>")
        parts.append("</div>")
        return "\n".join(parts)

    def to_text(self) -> str:
        """Plain text: questions and options, then the answers at the end."""
        lines = [self.title, ""]
        for i, q in enumerate(self.questions):
            lines.append(f"Q{i + 1}. {q.prompt}")
            if q.kind == "numeric":
                lines.append("    (type a number)")
            for j, o in enumerate(q.options):
                lines.append(f"    {_letter(j)}. {o.text}")
            lines.append("")
        lines.append("Answers: " + "; ".join(f"Q{i + 1} {_answer_text(q)}" for i, q in enumerate(self.questions)))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return self.to_text()

    def widget(self) -> "QuizWidget":
        """A new live ipywidgets quiz for this bank."""
        return QuizWidget(self)


def _letter(j: int) -> str:
    return chr(ord("A") + j)


def _fmt(x) -> str:
    return f"{x:g}"


def _answer_text(q: Question) -> str:
    if q.kind == "numeric":
        return f"{_fmt(q.answer)} (±{_fmt(q.tolerance)})"
    return ", ".join(_letter(j) for j in q.correct_indices)


def _option_index(q: Question, j):
    """An int option index, or an error message."""
    n, given = len(q.options), j
    if isinstance(j, str) and len(j.strip()) == 1 and j.strip().isalpha():
        given = repr(j.strip().upper())
        j = ord(j.strip().upper()) - ord("A")          # the letters the static quiz prints: "B" is option 1
    if isinstance(j, bool) or not isinstance(j, numbers.Integral):
        return (f"Give an option's letter or its number counting from 0 (0 to {n - 1}, i.e. A = 0, B = 1, ...), "
                f"got {j!r}.")
    if not 0 <= j < n:
        return (f"There is no option {given}: this question has options {_letter(0)} to {_letter(n - 1)} "
                f"(0 to {n - 1}).")
    return int(j)


def _grade_single(i: int, q: Question, choice) -> Feedback:
    if choice is None:
        return _invalid(i, "Pick an option first.")
    if isinstance(choice, (list, tuple, set)):
        return _invalid(i, f"This question has one right answer: give one option number, not {choice!r}.")
    j = _option_index(q, choice)
    if isinstance(j, str):
        return _invalid(i, j)
    option = q.options[j]
    return Feedback(correct=option.correct, explanation=option.explain, question=i)


def _grade_multiple(i: int, q: Question, choice) -> Feedback:
    if isinstance(choice, numbers.Integral) and not isinstance(choice, bool):
        choice = [choice]
    if isinstance(choice, str) and choice.replace(",", " ").split() and all(
            len(part) == 1 and part.isalpha() for part in "".join(choice.replace(",", " ").split())):
        choice = list("".join(choice.replace(",", " ").split()))     # "BD", "b, d": the letters the static quiz prints
    if not isinstance(choice, (list, tuple, set, frozenset)):
        return _invalid(i, f"Select all that apply: give a list of option numbers, e.g. [0, 2], got {choice!r}.")
    chosen = []
    for j in choice:
        j = _option_index(q, j)
        if isinstance(j, str):
            return _invalid(i, j)
        if j not in chosen:
            chosen.append(j)
    if not chosen:
        return _invalid(i, "Select at least one option.")
    chosen.sort()
    right = set(q.correct_indices)
    lines = [f"{_letter(j)}: {q.options[j].explain}" for j in chosen]
    missed = len(right - set(chosen))
    correct = set(chosen) == right
    if not correct and missed:
        lines.append(f"{missed} more correct option{'s' if missed > 1 else ''} to find." if not (set(chosen) - right)
                     else f"And {missed} correct option{'s' if missed > 1 else ''} not selected yet.")
    return Feedback(correct=correct, explanation=" ".join(lines), question=i)


def _grade_numeric(i: int, q: Question, choice) -> Feedback:
    choice = parse_number(choice)                 # "0.659", " 0,66 " are numbers too, as in the widget
    if choice is None:
        return _invalid(i, "Type a number first.")
    if isinstance(choice, bool) or not isinstance(choice, numbers.Real):
        return _invalid(i, f"This question wants a number, such as 0.5 or 1e-3; got {choice!r}.")
    value = float(choice)
    if not math.isfinite(value):
        return _invalid(i, f"Give a finite number, got {value}.")
    if abs(value - q.answer) <= q.tolerance:
        return Feedback(correct=True, explanation=q.explain, question=i)
    for w in q.wrong_answers:
        if abs(value - w.value) <= w.tolerance:
            return Feedback(correct=False, explanation=w.explain, question=i)
    return Feedback(correct=False, explanation=q.explain_wrong, question=i)


def parse_number(text):
    """The widget's text box -> float (``0.66``, ``1e-3``, ``0,66``), None when empty,
    or the text itself when it is not a number (the grader then says so)."""
    if not isinstance(text, str):
        return text
    s = text.strip()
    if not s:
        return None
    for candidate in (s, s.replace(",", ".") if s.count(",") == 1 and "." not in s else s):
        try:
            return float(candidate)
        except ValueError:
            pass
    return s


# -------------------------------------------------------------- loading ----

def lessons() -> list[str]:
    """Names of the quizzes in the bank, e.g. ['04_softmax', ...]."""
    return sorted(p.stem for p in BANK.glob("*.json"))


def _path(lesson: str) -> Path:
    if not isinstance(lesson, str) or not (BANK / f"{lesson}.json").is_file():
        available = ", ".join(lessons()) or "(none yet)"
        raise ValueError(f"No quiz called {lesson!r} in {BANK.name}/. Available: {available}.")
    return BANK / f"{lesson}.json"


def load(lesson: str) -> Quiz:
    """The quiz for ``lesson`` (the JSON file's name without .json). Raises ValueError
    naming every problem if the bank file is malformed."""
    path = _path(lesson)
    data = _read(path)
    problems = validate(data, source=path.name)
    if problems:
        raise ValueError(f"quiz {lesson!r} is not valid:\n" + "\n".join(problems))
    return _build(data)


def show(lesson: str) -> "QuizView":
    """Display object for a notebook cell: live widget + static HTML + plain text."""
    return QuizView(load(lesson))


def _read(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        return exc


def _build(data: dict) -> Quiz:
    questions = []
    for q in data["questions"]:
        if q["kind"] == "numeric":
            wrong = tuple(WrongAnswer(float(w["value"]), float(w.get("tolerance", q["tolerance"])), w["explain"])
                          for w in q.get("wrong_answers", []))
            questions.append(Question(kind="numeric", prompt=q["prompt"], answer=float(q["answer"]),
                                      tolerance=float(q["tolerance"]), explain=q["explain"],
                                      wrong_answers=wrong, explain_wrong=q["explain_wrong"]))
        else:
            options = tuple(Option(o["text"], o["correct"], o["explain"]) for o in q["options"])
            questions.append(Question(kind=q["kind"], prompt=q["prompt"], options=options))
    return Quiz(data["lesson"], data["title"], questions)


# ----------------------------------------------------------- validation ----

_TOP_KEYS = {"lesson", "title", "questions"}
_QUESTION_KEYS = {"single": {"kind", "prompt", "options"}, "multiple": {"kind", "prompt", "options"},
                  "numeric": {"kind", "prompt", "answer", "tolerance", "explain", "wrong_answers", "explain_wrong"}}
_OPTION_KEYS = {"text", "correct", "explain"}
_WRONG_KEYS = {"value", "tolerance", "explain"}


def _text(x) -> bool:
    return isinstance(x, str) and bool(x.strip())


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def max_tolerance(answer: float) -> float:
    """The largest tolerance we call sane: 10% of the answer, or 0.5 for a whole-number
    answer (so rounding to the nearest integer is allowed)."""
    limit = 0.1 * abs(answer)
    if float(answer).is_integer():
        limit = max(limit, 0.5)
    return limit


def validate(data, source: str = "<quiz>") -> list[str]:
    """Problems with one quiz (a dict as read from JSON); empty list when it is fine."""
    if isinstance(data, Exception):
        return [f"{source}: not valid JSON: {data}"]
    if not isinstance(data, dict):
        return [f"{source}: the file must hold one JSON object with lesson, title, questions."]
    problems = []
    where = source
    for key in sorted(_TOP_KEYS - data.keys()):
        problems.append(f"{where}: missing {key!r}.")
    for key in sorted(data.keys() - _TOP_KEYS):
        problems.append(f"{where}: unknown key {key!r} (expected {sorted(_TOP_KEYS)}).")
    lesson = data.get("lesson")
    if "lesson" in data and not _text(lesson):
        problems.append(f"{where}: 'lesson' must be a non-empty string.")
    elif _text(lesson) and source.endswith(".json") and Path(source).stem != lesson:
        problems.append(f"{where}: 'lesson' is {lesson!r} but the file is {source}; name the file {lesson}.json.")
    if "title" in data and not _text(data["title"]):
        problems.append(f"{where}: 'title' must be a non-empty string.")
    questions = data.get("questions")
    if "questions" not in data:
        return problems
    if not isinstance(questions, list):
        return problems + [f"{where}: 'questions' must be a list."]
    name = lesson if _text(lesson) else Path(source).stem
    low, high = QUESTION_COUNT.get(name, LESSON_QUESTION_COUNT)
    if name not in EXEMPT_FROM_COUNT and not low <= len(questions) <= high:
        problems.append(f"{where}: this quiz should have {low} to {high} questions, it has {len(questions)}.")
    for i, q in enumerate(questions):
        problems.extend(_validate_question(q, f"{source} question {i} (Q{i + 1})"))
    return problems


def _validate_question(q, where: str) -> list[str]:
    if not isinstance(q, dict):
        return [f"{where}: must be an object with kind, prompt, ..."]
    kind = q.get("kind")
    if kind not in KINDS:
        return [f"{where}: 'kind' must be one of {list(KINDS)}, got {kind!r}."]
    problems = []
    allowed = _QUESTION_KEYS[kind]
    for key in sorted(q.keys() - allowed):
        problems.append(f"{where}: unknown key {key!r} for a {kind} question (allowed: {sorted(allowed)}).")
    if not _text(q.get("prompt")):
        problems.append(f"{where}: needs a non-empty 'prompt'.")
    if kind == "numeric":
        return problems + _validate_numeric(q, where)
    options = q.get("options")
    if not isinstance(options, list) or len(options) < 2:
        return problems + [f"{where}: needs a list of at least 2 'options'."]
    texts = []
    for j, o in enumerate(options):
        at = f"{where} option {j} ({_letter(j)})"
        if not isinstance(o, dict):
            problems.append(f"{at}: must be an object with text, correct, explain.")
            continue
        for key in sorted(o.keys() - _OPTION_KEYS):
            problems.append(f"{at}: unknown key {key!r} (allowed: {sorted(_OPTION_KEYS)}).")
        if not _text(o.get("text")):
            problems.append(f"{at}: needs a non-empty 'text'.")
        else:
            texts.append(o["text"].strip())
        if not isinstance(o.get("correct"), bool):
            problems.append(f"{at}: 'correct' must be true or false.")
        if not _text(o.get("explain")):
            problems.append(f"{at}: needs an 'explain' (why it is right, or the misconception behind it).")
    if len(set(texts)) != len(texts):
        problems.append(f"{where}: two options have the same text.")
    n_correct = sum(1 for o in options if isinstance(o, dict) and o.get("correct") is True)
    if kind == "single" and n_correct != 1:
        problems.append(f"{where}: a single-choice question needs exactly one correct option, it has {n_correct}.")
    if kind == "multiple" and n_correct < 1:
        problems.append(f"{where}: a multiple-choice question needs at least one correct option.")
    return problems


def _validate_numeric(q: dict, where: str) -> list[str]:
    problems = []
    answer, tol = q.get("answer"), q.get("tolerance")
    if not _number(answer):
        problems.append(f"{where}: 'answer' must be a finite number, got {answer!r}.")
    if not _number(tol) or tol <= 0:
        problems.append(f"{where}: 'tolerance' must be a number > 0, got {tol!r}.")
    elif _number(answer) and tol > max_tolerance(answer):
        problems.append(f"{where}: tolerance {tol:g} is too loose for the answer {answer:g} "
                        f"(at most {max_tolerance(answer):g}: 10% of the answer, or 0.5 for a whole number).")
    for key in ("explain", "explain_wrong"):
        if not _text(q.get(key)):
            what = "how to get the answer" if key == "explain" else "a hint for any other wrong number"
            problems.append(f"{where}: needs {key!r} ({what}).")
    wrong = q.get("wrong_answers", [])
    if not isinstance(wrong, list):
        return problems + [f"{where}: 'wrong_answers' must be a list."]
    for j, w in enumerate(wrong):
        at = f"{where} wrong_answers[{j}]"
        if not isinstance(w, dict):
            problems.append(f"{at}: must be an object with value, explain (and optional tolerance).")
            continue
        for key in sorted(w.keys() - _WRONG_KEYS):
            problems.append(f"{at}: unknown key {key!r} (allowed: {sorted(_WRONG_KEYS)}).")
        value, w_tol = w.get("value"), w.get("tolerance", tol)
        if not _number(value):
            problems.append(f"{at}: 'value' must be a finite number, got {value!r}.")
        if not _number(w_tol) or w_tol <= 0:
            problems.append(f"{at}: 'tolerance' must be a number > 0, got {w_tol!r}.")
        if not _text(w.get("explain")):
            problems.append(f"{at}: needs an 'explain' (the misconception behind this number).")
        if _number(value) and _number(answer) and _number(w_tol) and _number(tol) and tol > 0 and w_tol > 0:
            if abs(value - answer) <= tol + w_tol:
                problems.append(f"{at}: the wrong value {value:g} (±{w_tol:g}) overlaps the answer "
                                f"{answer:g} (±{tol:g}); a learner could not tell them apart.")
    return problems


def validate_bank(directory=None, raise_on_error: bool = False) -> list[str]:
    """Validate every ``*.json`` quiz in the bank; return a list of readable problems
    (each naming the file and question). ``raise_on_error=True`` raises ValueError instead."""
    directory = Path(directory) if directory is not None else BANK
    problems = []
    for path in sorted(directory.glob("*.json")):
        problems.extend(validate(_read(path), source=path.name))
    if raise_on_error and problems:
        raise ValueError(f"{len(problems)} problem(s) in the quiz bank:\n" + "\n".join(problems))
    return problems


# --------------------------------------------------------------- widget ----

class QuestionWidget:
    """The widgets of one question: ``.input`` (RadioButtons | list of Checkbox | Text),
    ``.button`` (Check), ``.feedback`` (HTML showing the last Feedback)."""

    def __init__(self, quiz: Quiz, i: int):
        import ipywidgets as w

        self.quiz, self.index = quiz, i
        q = quiz.questions[i]
        self.question = q
        prompt = w.HTML(f"<b>Q{i + 1}.</b> {escape(q.prompt, quote=False)}")
        if q.kind == "single":
            self.input = w.RadioButtons(options=[(f"{_letter(j)}. {o.text}", j) for j, o in enumerate(q.options)],
                                        index=None, layout=w.Layout(width="auto"))
            controls = [self.input]
        elif q.kind == "multiple":
            self.input = [w.Checkbox(value=False, description=f"{_letter(j)}. {o.text}", indent=False,
                                     layout=w.Layout(width="auto")) for j, o in enumerate(q.options)]
            hint = [] if "select all that apply" in q.prompt.lower() else [w.HTML("<i>select all that apply</i>")]
            controls = [*hint, *self.input]
        else:
            self.input = w.Text(placeholder="type a number", layout=w.Layout(width="12em"))
            controls = [self.input]
        self.button = w.Button(description="Check", button_style="primary", layout=w.Layout(width="8em"))
        self.feedback = w.HTML("")
        self.last: Feedback | None = None
        self.button.on_click(lambda _button: self.check())
        self.box = w.VBox([prompt, *controls, self.button, self.feedback],
                          layout=w.Layout(margin="0 0 12px 0"))

    def choice(self):
        """The learner's current answer as ``Quiz.answer`` takes it."""
        if self.question.kind == "single":
            return self.input.value
        if self.question.kind == "multiple":
            return [j for j, box in enumerate(self.input) if box.value]
        return parse_number(self.input.value)

    def check(self) -> Feedback:
        """Grade the current answer and show the feedback (what the Check button does)."""
        self.last = self.quiz.answer(self.index, self.choice())
        self.feedback.value = self.last.html()
        return self.last


class QuizWidget:
    """The live quiz: ``.box`` (an ipywidgets VBox) and ``.questions`` (QuestionWidget each)."""

    def __init__(self, quiz: Quiz):
        import ipywidgets as w

        self.quiz = quiz
        self.questions = [QuestionWidget(quiz, i) for i in range(len(quiz))]
        self.box = w.VBox([w.HTML(f"<h3>{escape(quiz.title, quote=False)}</h3>"), *(q.box for q in self.questions)])

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.box._repr_mimebundle_(include=include, exclude=exclude)


class QuizView:
    """What ``show(lesson)`` returns. Its display bundle carries the live widget
    (``application/vnd.jupyter.widget-view+json``, chosen by JupyterLab, VS Code and
    Colab) and the static ``text/html`` and ``text/plain`` versions (used where no
    kernel runs, and compared by nbval). The widget is built when first needed."""

    def __init__(self, quiz: Quiz):
        self.quiz = quiz
        self._widget = None

    @property
    def widget(self) -> QuizWidget:
        if self._widget is None:
            self._widget = QuizWidget(self.quiz)
        return self._widget

    def answer(self, i, choice) -> Feedback:
        return self.quiz.answer(i, choice)

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = {"text/plain": self.quiz.to_text(), "text/html": self.quiz.to_html()}
        try:
            live = self.widget.box._repr_mimebundle_()
        except Exception:  # no ipywidgets / no comm: the static version still shows
            live = None
        if live and WIDGET_VIEW in live:
            data[WIDGET_VIEW] = live[WIDGET_VIEW]
        return data

    def __repr__(self) -> str:
        return self.quiz.to_text()
