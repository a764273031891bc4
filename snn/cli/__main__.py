"""``python -m snn.cli`` runs the ``snn`` command."""

from snn.cli import main

raise SystemExit(main())
