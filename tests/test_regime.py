"""Regimes of validity (pyscale.theory.regime, pyscale.theory.validity; docs: Theory and its
regimes): the mechanism, every law of Prediction stating its regime, and both sides of the
measured windows against simulation — the Phase III laws (frozen and SGD) and the escape
law. Fixed seeds; tolerances are the windows' stated accuracies."""
import pickle
import warnings

import numpy as np
import pytest

import pyscale
from pyscale.theory import LAWS, Condition, Regime, RegimeError, RegimeWarning, validity

NOISE = 0.05


# ---------------------------------------------------------------------------- mechanism
def _regime(*holds_kind):
    conds = tuple(Condition(f"c{i}", f"x{i} <= 1", h, f"x{i} = 2", f"reason {i}", kind=k)
                  for i, (h, k) in enumerate(holds_kind))
    return Regime("some law", conds, "within 1 %")


def test_statuses_and_enforcement():
    ok = _regime((True, "window"), (True, "required"))
    assert ok.holds and ok.status == "holds" and ok.reason == "" and ok.enforce() is ok
    unknown = _regime((True, "window"), (None, "window"))
    assert unknown.holds is None and unknown.status == "unknown"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unknown.enforce()
    window = _regime((False, "window"), (True, "required"))
    assert window.status == "outside its window" and not window.refused
    assert window.summary() == "outside its window: c0: reason 0."
    with pytest.warns(RegimeWarning, match="some law is outside its measured window: c0: "
                                           "reason 0. Measured: within 1 %") as rec:
        window.enforce()
    assert rec[0].filename == __file__          # attributed to the caller outside pyscale
    refused = _regime((False, "window"), (False, "required"))
    assert refused.refused and refused.status == "refused"
    with pytest.raises(RegimeError, match="some law does not apply here: c1: reason 1") as err:
        refused.enforce()
    assert isinstance(err.value, ValueError) and err.value.regime is refused
    again = pickle.loads(pickle.dumps(err.value))
    assert str(again) == str(err.value) and again.regime == refused
    data = refused.to_dict()
    assert data["status"] == "refused" and data["conditions"][1]["kind"] == "required"
    text = str(refused)
    assert "[FAILS] c1: x1 <= 1 (x1 = 2) — reason 1" in text and "accuracy: within 1 %" in text
    with pytest.raises(ValueError, match="kind must be one of"):
        Condition("c", "x", True, kind="soft")


def _w_at_t2(problem):
    times = np.concatenate([[0.0], np.geomspace(1e-3, 1e5, 2000)])
    t2 = pyscale.simulate(problem, "flow", t=times).phases().T2
    return pyscale.simulate(problem, "flow", t=[0.0, t2], rtol=1e-10).w


def test_every_law_states_its_regime():
    p = pyscale.Problem.power_law(1000, 2.0, seed=0, noise=NOISE)
    pred = pyscale.predict(p)
    w2 = _w_at_t2(p)
    inputs = {"t2_bound": {"state_at_T1prime": w2, "s0": 0.1},
              "tail_mse": {"w_at_T2": w2}, "tail_profile": {"w_at_T2": w2},
              "sgd_floor": {"lr": 0.005}, "sgd_tail_mse": {"w_at_T2": w2, "lr": 0.005}}
    for law in LAWS:
        reg = pred.regime(law, **inputs.get(law, {}))
        assert isinstance(reg, Regime) and reg.law
        assert reg.holds is (law != "isotropic"), (law, str(reg))
    with pytest.raises(ValueError, match="unknown law 'tail'"):
        pred.regime("tail")
    with pytest.raises(TypeError, match=r"regime\('tail_mse'\) needs w_at_T2="):
        pred.regime("tail_mse")


def test_power_law_laws_refuse_below_a_1():
    pred = pyscale.predict(pyscale.Problem.power_law(50, 0.8, seed=0))
    assert pred.regime("tail_exponent").refused
    for call in (lambda: pred.tail_exponent, lambda: pred.tail_asymptotics(1.0),
                 lambda: pred.plateau_bound(0.05)):
        with pytest.raises(RegimeError, match="need a > 1"):
            call()


def test_sgd_floor_refuses_at_an_unstable_step_and_warns_above_its_window():
    p = pyscale.Problem.power_law(30, 2.0, seed=1, noise=NOISE)
    bound = pyscale.theory.max_stable_lr(p)
    fl = pyscale.theory.sgd_floor(p, 1.01 * bound)
    assert fl.regime.refused and not fl.stable and fl.floor == np.inf
    with pytest.warns(RegimeWarning, match="closure accuracy"):
        fl = pyscale.theory.sgd_floor(p, 0.8 * bound)
    assert np.isfinite(fl.floor) and fl.regime.status == "outside its window"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pyscale.theory.sgd_floor(p, 0.5 * bound).regime.holds
    with pytest.raises(RegimeError, match="largest stable step"):
        pyscale.theory.sgd_tail_mse(p, 1.0, p.w_star, 1.01 * bound)


# ---------------------------------------------------------------------------- windows
def test_frozen_phase3_on_both_sides_of_its_window():
    """d = 100 from the flow's state at T2, against the flow itself down to 1 % of MSE(T2):
    a = 2 (kappa = 0.07, inside) within 3 %; a = 1 (kappa = 0.26: no plateau) warns, and
    misses by more than 20 %."""
    for a, inside in ((2.0, True), (1.0, False)):
        p = pyscale.Problem.power_law(100, a, seed=0, noise=NOISE)
        w2 = _w_at_t2(p)
        pred = pyscale.predict(p)
        kappa = validity.phase3_coupling(p, w2)[0]
        tau = np.concatenate([[0.0], np.geomspace(0.1, 3000.0, 60)])
        flow = pyscale.simulate(p.with_w0(w2), "flow", t=tau, rtol=1e-10).mse
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            law = pred.tail_mse(tau, w2)
        keep = flow >= 1e-2 * flow[0]
        miss = np.max(np.abs(law / flow - 1)[keep])
        assert (kappa <= validity.PHASE3_KAPPA) == inside
        assert any(issubclass(w.category, RegimeWarning) for w in rec) == (not inside)
        assert miss <= 0.03 if inside else miss > 0.2


@pytest.mark.parametrize("a,inside", [(2.0, True), (1.0, False)])
def test_sgd_phase3_on_both_sides_of_its_window(a, inside):
    """d = 60, lr = 0.01, 64 seeds from the flow's state at T2 to t = 300: a = 2 (kappa =
    0.08) within 3 % of the ensemble mean; a = 1 (kappa = 0.25) warns, and the law misses
    by more than 10 % (beyond 2 standard errors)."""
    p = pyscale.Problem.power_law(60, a, seed=0, noise=NOISE)
    w2 = _w_at_t2(p)
    steps = 30_000
    rec = np.unique(np.concatenate([[0], np.geomspace(1, steps, 40).astype(np.int64)]))
    ens = pyscale.simulate_many(p.with_w0(w2), seeds=64, lr=0.01, steps=steps, record=rec,
                                threads=1)
    mean, se = ens.mean("mse"), ens.std("mse") / 8.0
    reg = pyscale.predict(p).regime("sgd_tail_mse", w_at_T2=w2, lr=0.01)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        law = pyscale.predict(p).sgd_tail_mse(ens.t, w2, 0.01)
    assert reg.holds is inside
    assert any(issubclass(w.category, RegimeWarning) for w in caught) == (not inside)
    beyond = np.max(np.maximum(np.abs(law - mean) - 2 * se, 0.0) / mean)
    assert beyond <= 0.03 if inside else beyond > 0.1


@pytest.mark.parametrize("d,a,failing,ratio", [
    (1000, 2.0, None, (0.98, 1.05)),                         # inside: 1.5 % off
    (500, 2.0, "exponential mode dominant", (1.15, 1.4)),    # the continuum still matters
    (500, 0.5, "below the saddle up to T1", (2.0, 10.0))])   # s(T1) = 3.4 s*
def test_escape_law_on_both_sides_of_its_window(d, a, failing, ratio):
    """T1(0.05) of the flow over the escape law's: inside within 5 %; outside the law
    warns, names the failing condition, and is off by what that condition says."""
    p = pyscale.Problem.power_law(d, a, seed=0)
    pred = pyscale.predict(p)
    times = np.concatenate([[0.0], np.geomspace(1e-3, 1e4, 3000)])
    measured = pyscale.simulate(p, "flow", t=times).phases().T1
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        predicted = pred.escape_time(0.05)
    reg = pred.regime("escape_time")
    assert reg.holds is (failing is None)
    assert (failing is None and not reg.failed) or failing in [c.name for c in reg.failed]
    assert any(issubclass(w.category, RegimeWarning) for w in rec) == (failing is not None)
    assert ratio[0] <= measured / predicted <= ratio[1]
