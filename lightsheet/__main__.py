"""Allow ``python -m lightsheet``."""

from lightsheet.cli.entry import main

raise SystemExit(main())
