import signal

import pytest

# the flow's SciPy/NumPy references, imported by the tests from here
from reference_flow import flow_reference, numpy_stats  # noqa: F401

import pyscale

# A suite started in the background (nohup, `&`, some batch schedulers) inherits SIGINT
# ignored, and so would every command the tests start; the Ctrl-C tests need what a
# terminal gives. A caught signal is reset to its default in the commands they exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def small_problem():
    return pyscale.Problem.power_law(400, 2.0, seed=3)


# ---------------------------------------------------------------------------- the suite
def pytest_addoption(parser):
    parser.addini("min_tests", "the fewest tests a run of the whole suite may collect "
                  "(fewer: the run fails, so that 'no tests ran' cannot pass)", default="0")


def pytest_sessionfinish(session, exitstatus):
    """A run of the whole suite (no paths, no -k/-m selection) that collects fewer than
    ``min_tests`` tests fails: a broken collection or install cannot pass as green."""
    config = session.config
    whole = not config.option.file_or_dir and not config.option.keyword and \
        not config.option.markexpr
    least = int(config.getini("min_tests"))
    if whole and session.testscollected < least:
        print(f"\nerror: the suite collected {session.testscollected} tests, fewer than "
              f"min_tests = {least} (pyproject.toml): something is broken")
        session.exitstatus = 1
