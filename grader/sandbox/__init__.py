"""Running untrusted submission code: the parent side (``parent``) that starts workers under the
strongest isolation the machine allows (``isolation``), the wire protocol (``protocol``), and the worker
script itself (``worker``, run by path, never imported).

May import: ``grader.core``, ``grader.contract``.
"""
