"""Running entries: one grade end to end (``grade``), the student's profile and compare tools, and a
standings run's timing rounds. The only district that combines sandbox, measure, judge and board.

May import: everything but ``grader.cli``.
"""
