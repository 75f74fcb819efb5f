"""``python -m pyscale`` and the ``pyscale`` console script (:func:`run`): the command of
:mod:`pyscale.app.cli`.

Only ``sys`` is imported before the command's own Ctrl-C handling takes over: an interrupt
while the command line module itself loads still ends in one line, status 130.
"""
import sys


def run() -> int:
    """The ``pyscale`` command; its exit status."""
    try:
        from .app.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("pyscale: interrupted; nothing was saved\n")
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(run())
