"""``python -m pyscale``: the same command as the ``pyscale`` console script."""
import sys

from .cli import main

sys.exit(main())
