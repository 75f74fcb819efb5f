"""Measured times of network runs (pyscale.results.network_times): escapes on |U|, the end of
the symmetric plateau, each unit's specialisation and the quadratic network's components,
on records built so that every answer is known, and on a flow."""
import numpy as np
import pytest

import pyscale
from pyscale.results import network_times as nt
from pyscale.results.network import NetworkTrajectory


def _record(t, S, U, s_star=None, readout=None, teacher_readout=None):
    p, k = U.shape[-2:]
    meta = {"S_star": np.eye(k) if s_star is None else s_star,
            "readout": np.full(p, 1.0 / p) if readout is None else readout,
            "teacher_readout": np.full(k, 1.0 / k) if teacher_readout is None
            else teacher_readout, "noise": 0.0}
    return NetworkTrajectory(t=np.asarray(t, float), loss=np.zeros(len(t)), S=S, U=U, w=None,
                             meta=meta)


def _two_units():
    """p = 2, k = 2 on t = 0..5: unit 0 grows along teacher 0 from t = 1, unit 1 along
    teacher 1 from t = 3; the units coincide (student cosine 1) until t = 2."""
    t = np.arange(6.0)
    U = np.zeros((6, 2, 2))
    U[:, 0, 0] = [0.01, 0.2, 0.5, 0.8, 0.9, 0.95]
    U[:, 1, 1] = [0.01, 0.02, 0.05, 0.3, 0.7, 0.92]
    U[:, 0, 1] = U[:, 1, 0] = 0.01
    S = np.zeros((6, 2, 2))
    S[:, 0, 0] = U[:, 0, 0] ** 2 + 1e-4
    S[:, 1, 1] = U[:, 1, 1] ** 2 + 1e-4
    cos01 = np.array([1.0, 1.0, 1.0, 0.5, 0.2, 0.1])
    S[:, 0, 1] = S[:, 1, 0] = cos01 * np.sqrt(S[:, 0, 0] * S[:, 1, 1])
    return _record(t, S, U)


def test_escape_times_are_the_first_records_with_u_at_delta():
    traj = _two_units()
    assert nt.escape_times(traj, 0.1) == [1.0, 3.0]
    assert nt.escape_times(traj, 0.99) == [None, None]


def test_escape_is_relative_to_the_teacher_norm():
    traj = _two_units()
    assert nt.escape_times(traj, 0.15)[0] == 1.0
    traj.meta["S_star"] = np.diag([4.0, 1.0])  # teacher 0 twice as long: |U|/2 >= 0.15
    assert nt.escape_times(traj, 0.15)[0] == 2.0


def test_plateau_end_and_specialisation():
    traj = _two_units()
    np.testing.assert_allclose(nt.mean_student_cosine(traj), [1, 1, 1, 0.5, 0.2, 0.1])
    assert nt.plateau_end(traj, 0.9) == 3.0
    best = nt.best_cosines(traj)
    spec = nt.specialisation_times(traj, 0.9)
    for j, t in enumerate(spec):  # the first record of the final run at or above 0.9
        above = best[:, j] >= 0.9
        first = np.flatnonzero(~above)[-1] + 1
        assert t == traj.t[first] and above[first:].all()
    assert spec[0] < spec[1]


def test_a_plateau_still_on_at_the_end_or_never_reached_has_no_end():
    traj = _two_units()
    assert nt.plateau_end(traj, 0.05) is None  # still above 0.05 at the last record
    single = _record(traj.t, traj.S[:, :1, :1], traj.U[:, :1, :1])
    assert np.isnan(nt.mean_student_cosine(single)).all()
    assert nt.plateau_end(single) is None


def test_a_unit_that_falls_back_is_not_specialised():
    traj = _two_units()
    traj.U[-1, 1, 1] = 0.5  # unit 1 ends below 0.9
    assert nt.specialisation_times(traj, 0.9)[1] is None


def test_component_times_read_the_eigenvalues_against_their_targets():
    traj = _two_units()
    # components of D_a^1/2 S D_a^1/2 against D_a*^1/2 S* D_a*^1/2 = I/2
    comps = traj.components
    target = traj.teacher_components
    times = nt.component_times(traj, 0.5)
    for c, t in enumerate(times):
        hit = np.flatnonzero(comps[:, c] >= 0.5 * target[c])
        assert t == (traj.t[hit[0]] if hit.size else None)
    assert times[0] is not None and times[0] <= (times[1] or np.inf)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, float("nan")])
def test_levels_are_checked(bad):
    traj = _two_units()
    for call in (nt.escape_times, nt.plateau_end, nt.specialisation_times,
                 nt.component_times):
        with pytest.raises(ValueError):
            call(traj, bad)


def test_quadratic_network_flow_escapes_together_and_learns_components_in_order():
    """The flow of the quadratic network (p = 3, k = 2, d = 300): the units escape within a
    factor 2 of each other (one rate), and the components are learned largest first."""
    prob = pyscale.Problem.power_law(300, 2.0, units=3, teacher_units=2, seed=1)
    traj = pyscale.simulate(prob, "flow", t=np.concatenate([[0], np.geomspace(1e-2, 1e4, 200)]))
    escapes = nt.escape_times(traj, 0.1)
    assert all(t is not None for t in escapes)
    assert max(escapes) < 2 * min(escapes)
    times = nt.component_times(traj, 0.5)
    assert times[0] is not None and times[1] is not None and times[0] < times[1]
    assert times[0] >= min(escapes)  # a component is learned after the escape
