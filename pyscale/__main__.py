"""``python -m pyscale`` and the ``pyscale`` console script (:func:`run`): the command of
:mod:`pyscale.app.cli`.

Only ``sys`` is imported before the command's own Ctrl-C handling takes over: an interrupt
while the command line module itself loads still ends in one line, status 130.
"""
import sys


def run() -> int:
    """The ``pyscale`` command; its exit status."""
    try:
        from .app.signals import caused_by_ctrl_c  # the standard library only: loads first
    except KeyboardInterrupt:
        return _stopped_while_loading()
    try:
        from .app.cli import main
    except KeyboardInterrupt:
        code = _stopped_while_loading()
    except Exception as err:
        if not caused_by_ctrl_c(err):
            raise  # a real error (a broken install): its traceback says which
        code = _stopped_while_loading()
    else:
        code = main()
    # CPython (3.11) marks the process as killed by Ctrl-C when a KeyboardInterrupt ends any
    # eval of a string (namedtuple builds its classes that way, during imports), even one
    # the command caught, and then exits by SIGINT (status -2) instead of with its own
    # status. The mark is cleared by the next string eval that completes: this one.
    eval("None")
    return code


def _stopped_while_loading() -> int:
    sys.stderr.write("pyscale: interrupted; nothing was saved\n")
    eval("None")  # clears CPython's Ctrl-C mark (see run)
    return 130


if __name__ == "__main__":
    sys.exit(run())
