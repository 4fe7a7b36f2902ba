"""`manage.py model_check --jobs N`: the parent adds up its jobs' summaries, read back from their last lines."""

from __future__ import annotations

from sandbox.management.commands.model_check import SUMMARY, SUMMARY_PATTERN


def test_a_jobs_summary_line_is_read_back_with_its_counts() -> None:
    line = SUMMARY.format(sequences=5000, steps=12, violations=3, seconds=3600.4)
    found = SUMMARY_PATTERN.match(line)
    assert found is not None
    assert (int(found["sequences"]), int(found["violations"])) == (5000, 3)


def test_a_progress_line_is_not_taken_for_a_summary() -> None:
    assert SUMMARY_PATTERN.match("  … 50 sequences, 0 violation(s), 70 s") is None
