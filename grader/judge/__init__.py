"""Judging measured numbers: the competition's metrics (speedup, compression, efficiency) and the rules
that turn a measurement into pass/fail checks.

May import: ``grader.core``, ``grader.contract``, ``grader.measure``.
"""
