"""The names of the submission format: where entries live and what files an entry folder holds.

Every module that names one of these files imports it from here.
"""

SUBMISSIONS = "submissions"  # the folder of entries, one ``submissions/<slug>/`` each
SUBMISSION_FILE = "submission.yaml"  # the entry's metadata
MODEL_FILE = "model.py"  # the entry's model code: ``load(folder)`` and ``predict(state, images)``
RECIPE_FILE = "build.py"  # a Closed entry's recipe: builds the weights from the baseline's
WEIGHTS_FILE = "weights.npz"  # the weights a recipe writes (and the baseline ships)
RECORD_FILE = "score.json"  # the leaderboard bot's record of a merged entry, written after the merge
