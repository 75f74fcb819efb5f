"""The compressed network flow against the full flow at d = 10^6 (networks page: Compression):
the grouping's error and the saving, for the erf committee and the quadratic network, p = 3
student and k = 2 teacher units, a = 2, seed 1, at δ = 0.04 and 0.01.

``track_max_error`` is the largest error in S and U over the record times (the full flow at
rtol 1e-9 as the reference), ``track_loss_error`` the largest relative error of the loss,
``track_stored_rows`` the compressed problem's rows (of 10^6). The full flow dominates the cost
(minutes per link): ``python -m benchmarks.bench_network_compression`` prints the table the
networks page quotes.
"""
import numpy as np

import pyscale

D = 1_000_000
DELTAS = [0.04, 0.01]
#: link -> record times (the quadratic network's flow takes more steps: a shorter horizon)
TIMES = {"erf": [0.0, 1.0, 10.0, 100.0], "square": [0.0, 1.0, 5.0, 20.0]}
_RUNS: dict = {}


def _problem(link):
    return pyscale.Problem.power_law(D, 2.0, units=3, teacher_units=2, seed=1, link=link)


def errors(link, delta):
    """(max |ΔS|, |ΔU|; max relative loss error; stored rows) of the compressed flow."""
    if link not in _RUNS:
        full = _problem(link)
        _RUNS[link] = (full, pyscale.simulate(full, "flow", t=TIMES[link]))
    full, ref = _RUNS[link]
    comp = full.compress(delta)
    tr = pyscale.simulate(comp, "flow", t=TIMES[link])
    err = max(np.abs(tr.S - ref.S).max(), np.abs(tr.U - ref.U).max())
    return err, np.abs(tr.loss / ref.loss - 1.0).max(), comp.n_coords


class NetworkCompressionError:
    params = (["erf", "square"], DELTAS)
    param_names = ["link", "delta"]
    timeout = 3600
    number = 1
    repeat = 1

    def setup_cache(self):
        # asv runs each track in a process of its own: the full flows (minutes each) are
        # run once here, for every track and parameter, not once per track.
        return {(link, delta): errors(link, delta) for link in TIMES for delta in DELTAS}

    def track_max_error(self, runs, link, delta):
        return runs[link, delta][0]
    track_max_error.unit = "max |dS|, |dU|"

    def track_loss_error(self, runs, link, delta):
        return runs[link, delta][1]
    track_loss_error.unit = "relative"

    def track_stored_rows(self, runs, link, delta):
        return runs[link, delta][2]
    track_stored_rows.unit = "rows"


def main():
    print(f"d = {D}, p = 3, k = 2, a = 2, seed 1; compressed flow against the full flow")
    print(f"{'link':8s} {'delta':>6s} {'rows':>6s} {'max|dS|,|dU|':>13s} {'loss rel':>9s}")
    for link in TIMES:
        for delta in DELTAS:
            err, loss, rows = errors(link, delta)
            print(f"{link:8s} {delta:6.2f} {rows:6d} {err:13.2e} {loss:9.2e}", flush=True)


if __name__ == "__main__":
    main()
