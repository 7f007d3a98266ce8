"""Judging measured numbers: the competition's metrics (speedup, compression, efficiency), the rules
that turn a measurement into pass/fail checks, and the typed grade result (result.json) that holds both.

May import: ``grader.core``, ``grader.contract``, ``grader.measure``.
"""
