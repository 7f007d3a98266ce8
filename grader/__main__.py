"""``python -m grader`` is the same as the ``tinymlperf`` command."""

import sys

from grader.cli import main

sys.exit(main())
