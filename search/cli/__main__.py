"""``python -m search.cli`` runs the ``snn-search`` command."""

from search.cli import main

raise SystemExit(main())
