"""The ``modelmuxer`` command line: ``demo``, ``route`` and ``models``.

``main(argv)`` runs it in-process and returns the exit code (0 on success, 2 on a usage or
ModelMuxer error, reported as one ``error: ...`` line on stderr).
"""

from modelmuxer.cli._app import build_parser, main

__all__ = ["build_parser", "main"]
