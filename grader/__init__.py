"""TinyMLPerf Grader: honest scores for TinyMLPerf competition entries."""

__version__ = "0.3.0"
