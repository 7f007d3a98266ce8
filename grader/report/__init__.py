"""Rendering one grade for people: ``report.md`` and the terminal summary. Pure ``render(data) -> str``.

May import: ``grader.core``, ``grader.judge`` and below.
"""
