"""Whether results belong together: every result carries the identity of its problem
(``meta["problem_id"]``, :meth:`pyscale.Problem.identity`) and of its run
(``meta["run_id"]``: the problem, the method and the options that shape the dynamics);
whatever combines two results — a comparison with a prediction, a resumed run, a
checkpoint, a sweep's parts — checks them here, so that a result is never silently taken
for another's."""
from __future__ import annotations

from typing import Any, Mapping

__all__ = ["check_same_problem"]


def check_same_problem(meta: Mapping[str, Any], problem: Any, what: str) -> None:
    """Refuse (ValueError) a result whose ``meta`` is not of ``problem``: another problem
    (another link pair named as such), or a result that carries no identity (a file of an
    earlier format)."""
    stored = meta.get("problem_id")
    if stored is None:
        raise ValueError(f"{what} carries no problem identity (a file of an earlier format, "
                         f"loaded with legacy=True): it cannot be shown to belong to this "
                         f"problem")
    if stored != problem.identity():
        theirs, ours = str(meta.get("link", "square")), problem.link.identity
        if theirs != ours:
            raise ValueError(f"{what} is a run of link pair {theirs!r}, this problem's is "
                             f"{ours!r}: results of different links do not belong together")
        raise ValueError(f"{what} is a run of another problem (identity {stored[:12]}…, "
                         f"this problem's {problem.identity()[:12]}…); give the problem it "
                         f"was run on")
