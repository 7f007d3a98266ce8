"""Running entries: one grade end to end (``grade``), the student's profile and compare tools, a
standings run's timing rounds (``standings_run``) and the progress lines they print (``progress``).
The only district that combines sandbox, measure, judge and board. The commands behind the CLI, each
returning its exit code: ``folder_commands`` (validate, new: no entry code runs), ``commands`` (grade,
baseline, profile, compare) and ``standings_run.run``.

May import: everything but ``grader.cli``.
"""
