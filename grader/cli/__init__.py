"""The ``tinymlperf`` command: parses flags, builds the collaborators, calls the library, returns an exit code.

``main`` assembles the parser; ``student``, ``workflow`` and ``organizer`` hold the commands of each
audience; ``common`` the flags and factories they share. No policy lives here: argparse stays in
this district, and the library never imports it.

May import: every district.
"""
