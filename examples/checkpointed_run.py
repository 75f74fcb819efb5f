"""A long run that checkpoints every few seconds and resumes exactly after Ctrl-C.

    python examples/checkpointed_run.py run.npz     # press Ctrl-C, run again: it resumes

Equivalent command: ``pyscale simulate --d 20000 --a 2 --t 1e7 --checkpoint run.npz
--checkpoint-every 5``.
"""
import sys

import pyscale
from pyscale.app.checkpoint import run_checkpointed
from pyscale.engines.progress import EngineBar

path = sys.argv[1] if len(sys.argv) > 1 else "run.npz"
problem = pyscale.Problem.power_law(20_000, 2.0, seed=0)
try:
    with EngineBar("flow", 1e7) as bar:
        traj = run_checkpointed(problem, "flow", path, every=5.0, progress=bar, t=1e7,
                                extra={"example": "checkpointed_run"})
except pyscale.Interrupted:
    print(f"stopped; the state is in {path}: run the same command to continue")
    sys.exit(130)
print(traj, traj.phases())
print("reload with pyscale.load:", pyscale.load(path))
