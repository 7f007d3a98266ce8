"""The submission folder format: what a folder must hold (``layout``), reading ``submission.yaml``,
static validation, the import allowlist check, weight files, new-entry scaffolding and the TinyTorch import.

May import: ``grader.core``.
"""
