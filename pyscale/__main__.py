"""``python -m pyscale`` and the ``pyscale`` console script (:func:`run`): the command of
:mod:`pyscale.app.cli`.

Only ``sys`` and the built-in ``_signal`` are imported before the command's own Ctrl-C
handling takes over (under ``python -m``, Ctrl-C is held until it does): an interrupt while
the command line module itself loads still ends in one line, status 130.
"""
import _signal  # built in (already loaded): holding Ctrl-C costs no import
import sys


def _hold_ctrl_c(hold: bool) -> None:
    """Hold (block) or release SIGINT, where the platform has signal masks."""
    if hasattr(_signal, "pthread_sigmask"):
        _signal.pthread_sigmask(_signal.SIG_BLOCK if hold else _signal.SIG_UNBLOCK,
                                {_signal.SIGINT})


if __name__ == "__main__":
    # python -m pyscale: a Ctrl-C between here and run()'s guard is held by the kernel and
    # delivered inside the guard, rather than ending the command as a traceback at run()'s
    # entry. (Only when run as the command: a held SIGINT is inherited by child processes.)
    _hold_ctrl_c(True)


def run() -> int:
    """The ``pyscale`` command; its exit status."""
    try:
        _hold_ctrl_c(False)  # a Ctrl-C held since start-up lands here
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
