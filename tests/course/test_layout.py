"""The course's layout (COURSE.md §1): one lesson, one module, one quiz, one test file.

For every ``notebooks/NN_stem.ipynb`` there is ``attention_course/lessons/stem.py`` (unless the
lesson is listed in NO_MODULE), ``attention_course/quizzes/NN_stem.json`` and
``tests/lessons/test_NN_stem.py``; a notebook imports only its own lesson module, as ``lesson``;
every exercise a notebook checks belongs to that lesson; lesson modules never import each other.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "attention_course"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LESSON_MODULES = sorted(p for p in (PACKAGE / "lessons").glob("*.py") if p.name != "__init__.py")
# Lessons whose notebook needs no helpers of its own (it calls only the core and the engine).
NO_MODULE: set[str] = set()


def _stem(notebook: Path) -> tuple[str, str]:
    """'04_softmax.ipynb' -> ('04_softmax', 'softmax')."""
    lesson = notebook.stem
    return lesson, lesson.split("_", 1)[1]


def _code(notebook: Path) -> str:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 8


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_has_its_module_quiz_and_tests(notebook):
    lesson, stem = _stem(notebook)
    missing = []
    if lesson not in NO_MODULE and not (PACKAGE / "lessons" / f"{stem}.py").exists():
        missing.append(f"attention_course/lessons/{stem}.py")
    if not (PACKAGE / "quizzes" / f"{lesson}.json").exists():
        missing.append(f"attention_course/quizzes/{lesson}.json")
    if not (ROOT / "tests" / "lessons" / f"test_{lesson}.py").exists():
        missing.append(f"tests/lessons/test_{lesson}.py")
    assert not missing, f"{notebook.name} lacks {', '.join(missing)}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_imports_only_its_own_lesson_module_as_lesson(notebook):
    lesson, stem = _stem(notebook)
    code = _code(notebook)
    imported = set(re.findall(r"attention_course\.lessons(?:\.(\w+)| import (\w+))", code))
    names = {a or b for a, b in imported}
    assert names <= {stem}, f"{notebook.name} imports lesson modules {sorted(names - {stem})}"
    if lesson not in NO_MODULE:
        assert f"from attention_course.lessons import {stem} as lesson" in code


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_checked_exercise_belongs_to_the_lesson(notebook):
    from attention_course import exercises

    lesson, _ = _stem(notebook)
    checked = set(re.findall(r"exercises\.check\(\s*[\"'](\w+)[\"']", _code(notebook)))
    for name in checked:
        assert exercises.get(name).lesson == lesson, (
            f"{notebook.name} checks {name!r}, which belongs to lesson {exercises.get(name).lesson!r}")


def test_every_exercise_names_a_lesson_that_exists():
    from attention_course import exercises

    lessons = {p.stem for p in NOTEBOOKS}
    wrong = {name: exercises.get(name).lesson for name in exercises.names()
             if exercises.get(name).lesson not in lessons}
    assert not wrong, f"exercises whose lesson has no notebook: {wrong}"


@pytest.mark.parametrize("module", LESSON_MODULES, ids=lambda p: p.stem)
def test_lesson_modules_do_not_import_each_other(module):
    tree = ast.parse(module.read_text(encoding="utf-8"))
    others = {p.stem for p in LESSON_MODULES} - {module.stem}
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = (node.module or "")
            if node.level == 1 and (target in others or (not target and {a.name for a in node.names} & others)):
                bad.append(ast.unparse(node))
            if target.startswith("attention_course.lessons") or target == "lessons" and node.level == 2:
                bad.append(ast.unparse(node))
        elif isinstance(node, ast.Import) and any(a.name.startswith("attention_course.lessons") for a in node.names):
            bad.append(ast.unparse(node))
    assert not bad, f"lessons/{module.name} imports another lesson: {bad}"


@pytest.mark.parametrize("module", LESSON_MODULES, ids=lambda p: p.stem)
def test_every_lesson_module_has_a_notebook(module):
    stems = {_stem(n)[1] for n in NOTEBOOKS}
    assert module.stem in stems, f"lessons/{module.name} serves no notebook"
