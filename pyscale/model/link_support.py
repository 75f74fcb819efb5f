"""Which parts of pyscale serve which link pairs (links page: Engines).

Every engine runs any link pair. A few parts are still derived or written for phase
retrieval (σ = τ = z²) alone; each refuses another pair here, in one sentence, before it
computes anything — one table, one message, so that extending a part to every link means
deleting its entry.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

__all__ = ["SQUARE_ONLY", "require_square", "supports", "pair_identity"]

#: part -> what it is, for the parts that serve the square pair only.
SQUARE_ONLY = {
    "compare": "the comparison of an ensemble with the theory (pyscale.compare)",
}


def pair_identity(link: Any = None, meta: Optional[Mapping[str, Any]] = None) -> str:
    """The identity of a link pair given as a LinkPair (or anything with ``identity``), or
    read off a run's ``meta`` (``meta["link"]``; runs without it are the square's)."""
    if link is not None:
        return str(getattr(link, "identity", link))
    return str((meta or {}).get("link", "square"))


def supports(part: str, link: Any = None, meta: Optional[Mapping[str, Any]] = None) -> bool:
    """Whether ``part`` serves the pair (``link``, or the one a run's ``meta`` names): every
    part but those of :data:`SQUARE_ONLY`, which serve the square alone."""
    return part not in SQUARE_ONLY or pair_identity(link, meta) == "square"


def require_square(part: str, link: Any = None, meta: Optional[Mapping[str, Any]] = None
                   ) -> None:
    """Refuse ``part`` (a key of :data:`SQUARE_ONLY`) unless the pair — ``link`` or the one
    a run's ``meta`` names — is the square."""
    identity = pair_identity(link, meta)
    if not supports(part, identity):
        raise ValueError(f"{SQUARE_ONLY[part]}: derived for phase retrieval (link 'square') "
                         f"only, not yet for link pair {identity!r} (its runs, records, dense "
                         f"output and events are available)")
