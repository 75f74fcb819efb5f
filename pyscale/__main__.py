"""``python -m pyscale``: the same command as the ``pyscale`` console script."""
import sys

from .app.cli import main

sys.exit(main())
