"""``python -m indexer``: the indexer's command line."""

from indexer.cli import main

raise SystemExit(main())
