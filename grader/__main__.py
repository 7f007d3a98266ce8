"""``python -m grader`` is the same as the ``tinymlperf`` command."""

import sys

from grader.cli.main import main

sys.exit(main())
