"""``python -m modelmuxer.cli``: the same as the ``modelmuxer`` console script."""

from modelmuxer.cli._app import main

raise SystemExit(main())
