"""The ``tinymlperf`` command: parses flags, calls the library, returns an exit code. No logic lives here.

May import: every district.
"""
