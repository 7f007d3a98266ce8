"""Measurement: CIFAR-10 loading, the accuracy pass, the paired timing engine and its statistics, time
budgets, size, the machine's description, and the baseline's training recipe.

May import: ``grader.core``, ``grader.contract``, ``grader.sandbox``.
"""
