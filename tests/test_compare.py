"""pyscale.compare (issue 3): measured vs predicted on simulated trajectories, the fit
helpers against exact inputs, the table and the plot."""
import math
import warnings

import numpy as np
import pytest

import pyscale
from pyscale import Problem, predict
from pyscale.analysis.compare import Comparison, crossing_time, fit_exponential_rate, fit_loglog


@pytest.fixture(scope="module")
def flow_case():
    problem = Problem.power_law(2000, 2.0, seed=0)
    times = np.concatenate([[0.0], np.geomspace(1e-3, 1e6, 1200)])
    traj = pyscale.simulate(problem, "flow", t=times, threads=1)
    return problem, traj, predict(problem)


def test_fit_helpers_recover_exact_inputs():
    x = np.geomspace(1.0, 1e4, 50)
    fit = fit_loglog(x, 3.0 * x ** 0.37, (10.0, 1e3))
    assert fit["slope"] == pytest.approx(0.37, abs=1e-12)
    assert 10.0 <= fit["window"][0] and fit["window"][1] <= 1e3
    t = np.linspace(0.0, 2.0, 41)
    fit = fit_exponential_rate(t, -0.01 * np.exp(2.5 * t), (0.5, 1.5))
    assert fit["rate"] == pytest.approx(2.5, abs=1e-12)
    # crossing of an exponential is exact under log-interpolation
    assert crossing_time(t, 0.01 * np.exp(2.5 * t), 0.05) == pytest.approx(
        math.log(5.0) / 2.5, rel=1e-12)
    assert crossing_time(t, np.zeros_like(t), 1.0) is None
    assert fit_loglog(x[:2], x[:2], (0, 1e9)) is None


def test_compare_on_a_flow_trajectory(flow_case, tmp_path):
    problem, traj, pred = flow_case
    res = pyscale.compare(traj, pred, delta=0.05, eps=0.05, s0=0.1,
                          plot=tmp_path / "cmp.png")
    assert isinstance(res, Comparison) and isinstance(res, dict)
    assert res["states_from"] == "flow (exact state)"
    # T1 as in the issue: within 15%; the measured value is the log-interpolated crossing
    assert abs(res["T1"]["rel_error"]) < 0.15
    assert res["T1"]["interpolated"] <= res["T1"]["measured"]
    assert res["sign"]["agree"]
    # fitted escape rate on log|u| over the last e^2 before T1: within 15% of ρ (this seed's
    # u(0) has the sign opposite to C, so the sub-dominant modes, which decay only at
    # ρ − ρ_2 < ρ − 4 s* λ_2, still bend log|u| in the window: 11% here)
    assert abs(res["escape_rate"]["rel_error"]) < 0.15
    lo, hi = res["escape_rate"]["window"]
    assert 0 <= lo < hi <= res["times"]["T1"]
    # Corollary 1 holds, Phase III within ε, the plateau bound holds
    assert res["T2"]["holds"] and res["T2"]["predicted"] >= res["T2"]["measured"]
    assert res["phase3"]["max_rel_error"] <= 0.05
    for key in ("T1", "escape_rate", "phase3", "tail_exponent", "plateau"):
        assert res[key]["regime"] == "holds", (key, res[key]["regime"])
    assert res["plateau"]["measured"] <= res["plateau"]["predicted"]
    # Volterra: driven by the simulated s it is the exact equation
    assert res["volterra"]["max_abs_error_volterra_measured_theta"] < 1e-3
    # exponents come with their windows
    for key in ("tail_exponent", "phase2b_exponent"):
        assert res[key]["window"][0] < res[key]["window"][1]
        assert res[key]["measured"] > 0
    assert res["tail_exponent"]["predicted"] == 0.5
    table = res.table()
    assert {"quantity", "measured", "predicted", "predicted_over_measured", "window_lo",
            "window_hi"} <= set(table.columns)
    assert len(table) >= 6
    png = (tmp_path / "cmp.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_given_states_equal_the_recomputed_ones(flow_case):
    problem, traj, pred = flow_case
    first = pyscale.compare(traj, pred, s0=0.1)
    ph = traj.phases(0.05, 0.05, 0.1)
    states = {name: pyscale.simulate(problem, "flow", t=[0.0, t], rtol=1e-10).w
              for name, t in (("T1_prime", ph.T1_prime), ("T2", ph.T2))}
    second = pyscale.compare(traj, pred, s0=0.1, states=states)
    assert second["states_from"] == "given"
    assert second["T2"]["predicted"] == first["T2"]["predicted"]
    assert second["phase3"]["max_rel_error"] == first["phase3"]["max_rel_error"]


def test_compare_on_gd_and_problem_shortcut():
    problem = Problem.power_law(600, 2.0, seed=2)
    traj = pyscale.simulate(problem, "gd", lr=1e-2, steps=200_000, record=600)
    res = pyscale.compare(traj, problem)  # a Problem is predicted on the fly
    assert res["states_from"].startswith("flow re-run")
    assert abs(res["T1"]["rel_error"]) < 0.15
    assert res["T2"]["holds"]


def test_compare_without_power_law_asymptotics():
    """a <= 1: the exact predictions are compared, the asymptotic rows are refused (no
    number, the reason), and the rows outside their measured window say so: with a flat
    spectrum s grows as fast as u, so Θ ≠ s* t before T1 (T1 is 4x the prediction at
    d = 500), and the spectrum is nearly learned by T2, where the O(ε) forcing left out of
    the frozen Phase III dynamics dominates. compare itself does not warn."""
    problem = Problem.power_law(500, 0.5, seed=0)
    traj = pyscale.simulate(problem, "flow", t=np.concatenate([[0.0],
                                                              np.geomspace(1e-3, 1e4, 400)]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = pyscale.compare(traj, predict(problem))
    for key in ("tail_exponent", "phase2b_exponent"):
        assert res[key]["predicted"] is None and res[key]["regime"].startswith("refused")
        assert "need a > 1" in res[key]["regime"]
    assert res["plateau"]["predicted"] is None and res["plateau"]["measured"] is not None
    assert res["T1"]["measured"] > 0 and res["T1"]["predicted"] > 0
    assert res["T1"]["regime"].startswith("outside its window: below the saddle")
    assert res["phase3"]["regime"].startswith("outside its window")
    assert res["T2"]["holds"]
    assert np.isfinite(res["phase3"]["max_rel_error"])
    table = res.table()
    assert list(table.columns)[-1] == "regime"
    assert table.set_index("quantity").loc["tail_exponent", "regime"].startswith("refused")


def test_compare_rejects_mismatched_inputs(flow_case):
    _, traj, _ = flow_case
    with pytest.raises(ValueError, match="another problem"):
        pyscale.compare(traj, predict(Problem.power_law(100, 2.0, seed=0)))
    with pytest.raises(TypeError):
        pyscale.compare(traj, "not a prediction")
