"""Student number normalisation (school administration systems).

Opaque like a OneRoster sourcedId: strip surrounding whitespace, keep case,
require printable characters.
"""
from __future__ import annotations

from mdm._typing import Normalised

from rules._opaque import normalise_opaque

__all__ = ["normalise"]


def normalise(raw: str | None, **_: object) -> Normalised:
    """Normalise a student number. Errors: ``student_id.empty``, ``student_id.format``."""
    return normalise_opaque(raw, "student_id", upper=False)
