"""Digests: SHA-256 of named fields in one canonical encoding.

One function, :func:`digest`, gives every identity of the package — a problem's
(:meth:`pyscale.Problem.identity`), a run's (``meta["run_id"]``: the problem's identity, the
method and the options that shape the dynamics) — and the digest of a result file (its
members, header included). The encoding is canonical and typed: mappings by sorted key,
sequences in order, arrays by dtype, shape and bytes (C order), scalars as JSON (so
``2`` and ``2.0`` differ, and the validators' types decide); two values have the same
digest exactly when they encode the same.

Extending an identity means adding a named field to the mapping that is hashed (e.g. a
problem's link function): a field absent from older identities changes every digest that
includes it, which is the point — results of a different definition never match.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

import numpy as np

__all__ = ["digest", "DIGEST_LENGTH"]

#: Hex digits of a digest (SHA-256).
DIGEST_LENGTH = 64


def digest(fields: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of ``fields``: a mapping of names to arrays, numbers, strings, None,
    booleans, and nested mappings and sequences of them."""
    h = hashlib.sha256()
    _feed(h, dict(fields))
    return h.hexdigest()


def _feed(h: Any, value: Any) -> None:
    if isinstance(value, Mapping):
        h.update(b"{")
        for key in sorted(value, key=str):
            h.update(json.dumps(str(key)).encode() + b":")
            _feed(h, value[key])
        h.update(b"}")
    elif isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        if arr.dtype.hasobject:
            raise TypeError("digest: object arrays have no canonical bytes")
        h.update(f"<array {arr.dtype.str} {arr.shape}>".encode())
        h.update(arr.tobytes())
    elif isinstance(value, (list, tuple)):
        h.update(b"[")
        for item in value:
            _feed(h, item)
            h.update(b",")
        h.update(b"]")
    elif isinstance(value, np.generic):
        _feed(h, value.item())
    elif value is None or isinstance(value, (bool, int, float, str)):
        # bool before int (True is an int); floats by repr, NaN and infinities included
        h.update(json.dumps(value, allow_nan=True).encode())
    else:
        raise TypeError(f"digest: cannot encode a {type(value).__name__}")
