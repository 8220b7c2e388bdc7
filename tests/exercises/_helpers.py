"""Shared by the exercise tests: run the checker and look at what it says."""
from __future__ import annotations

from attention_course import exercises as ex


def hints_of(name, fn):
    report = ex.check(name, fn)
    assert isinstance(report, ex.Report)
    return report


def assert_flags(name, fn, *fragments):
    """The learner fails and every fragment is somewhere in the hints."""
    report = hints_of(name, fn)
    assert not report.passed, report
    text = "\n".join(report.hints)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in:\n{report}"
    return report


def named(name, report) -> list[str]:
    """The catalogue mistakes the report names (their hints, in catalogue order)."""
    return [m.hint for m in ex.get(name).mistakes if m.hint in report.hints]


def assert_names(name, fn, *fragments):
    """The report names exactly one catalogue mistake per fragment, each containing its fragment,
    and no other catalogue mistake."""
    report = hints_of(name, fn)
    assert not report.passed, report
    hints = named(name, report)
    for fragment in fragments:
        assert any(fragment in h for h in hints), f"{fragment!r} is not a named mistake in:\n{report}"
    others = [h for h in hints if not any(fragment in h for fragment in fragments)]
    assert not others and len(hints) == len(fragments), f"more mistakes named than {fragments}:\n{report}"
    return report


def assert_names_nothing(name, fn):
    """The learner fails, and no catalogue mistake is named."""
    report = hints_of(name, fn)
    assert not report.passed, report
    assert named(name, report) == [], report
    return report
