"""Foundations every district may import: the error types, a problem's file:line location, JSON Schema
validation (``grader/schemas/`` is the one source of truth for every file the grader reads or writes),
YAML with source positions, ``competition.yaml`` as typed values, Markdown escaping, and the one atomic file
writer (``files``).

May import: nothing else in ``grader``.
"""
