import signal

import numpy as np
import pytest

import pyscale

# A suite started in the background (nohup, `&`, some batch schedulers) inherits SIGINT
# ignored, and so would every command the tests start; the Ctrl-C tests need what a
# terminal gives. A caught signal is reset to its default in the commands they exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def small_problem():
    return pyscale.Problem.power_law(400, 2.0, seed=3)


def flow_reference(problem, times, rtol=1e-11, atol=1e-13):
    """Independent reference for the flow (model page: Gradient flow): SciPy's DOP853 on ẇ =
    −∇L(w)."""
    from scipy.integrate import solve_ivp

    lam, w_star, s_star = problem.eigenvalues, problem.w_star, problem.s_star
    lam_w_star = lam * w_star

    def rhs(_, w):
        lw = lam * w
        return 4.0 * (s_star - 3.0 * (lw @ w)) * lw + 8.0 * (lw @ w_star) * lam_w_star

    sol = solve_ivp(rhs, (0.0, float(times[-1])), problem.w0, method="DOP853", t_eval=times,
                    rtol=rtol, atol=atol)
    assert sol.success, sol.message
    return sol.y.T  # (len(times), d)


def numpy_stats(problem, w):
    """s, u, mse of each row of w, computed plainly (model page: Statistics and loss)."""
    lam, w_star = problem.eigenvalues, problem.w_star
    s = np.einsum("ij,j,ij->i", w, lam, w)
    u = w @ (lam * w_star)
    minus = ((w - w_star) ** 2).sum(axis=1)
    plus = ((w + w_star) ** 2).sum(axis=1)
    return s, u, np.minimum(minus, plus) / problem.d


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
