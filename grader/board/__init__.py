"""The board: score records (``score.json``), the leaderboard, where an entry would place, and the
standings (re-timing the top entries together) with their statistics.

May import: ``grader.report`` and below.
"""
