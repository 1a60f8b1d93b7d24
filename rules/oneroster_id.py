"""OneRoster ``sourcedId`` normalisation.

The sourcedId is an opaque, case-sensitive identifier of the school system
(often a GUID, sometimes a composite like ``stu-1234``). Only surrounding
whitespace is removed; case is kept because OneRoster does not promise case
insensitivity and two ids differing in case are two ids.
"""
from __future__ import annotations

from mdm._typing import Normalised

from rules._opaque import normalise_opaque

__all__ = ["normalise"]


def normalise(raw: str | None, **_: object) -> Normalised:
    """Normalise a sourcedId. Errors: ``oneroster_id.empty``, ``oneroster_id.format`` (non-printable)."""
    return normalise_opaque(raw, "oneroster_id", upper=False)
