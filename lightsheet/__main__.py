"""Allow ``python -m lightsheet``."""

from lightsheet.cli.main import main

raise SystemExit(main())
