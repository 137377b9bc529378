"""``python -m unlearn_core.cli``."""

from .main import main

raise SystemExit(main())
