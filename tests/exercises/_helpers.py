"""Shared by the exercise tests: run the checker and look for a hint."""
from __future__ import annotations

from attention_course import exercises as ex

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

