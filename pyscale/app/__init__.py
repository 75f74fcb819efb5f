"""The front door: files (:mod:`~pyscale.app.io`), checkpointed runs
(:mod:`~pyscale.app.checkpoint`), sweeps (:mod:`~pyscale.app.sweep`), the paper's figures
(:mod:`~pyscale.app.figures`), configuration files (:mod:`~pyscale.app.config`) and the
``pyscale`` command (:mod:`~pyscale.app.cli`). Heavy optional dependencies (matplotlib,
pandas, dask) are imported where they are used, never by ``import pyscale``."""
