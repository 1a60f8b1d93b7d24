"""Föli travel-card number normalisation.

The card number is opaque (no public standard, no checksum we may rely on).
People and exports write it in groups (``1234 5678 9012``, ``1234-5678``), so
whitespace and dashes are removed and letters upper-cased; what remains must be
ASCII letters and digits. Cards get lost and replaced: validity lives on the
identifier (status, valid_from/valid_to), not here.
"""
from __future__ import annotations

from mdm._typing import Normalised

from rules._opaque import normalise_opaque

__all__ = ["normalise"]


def normalise(raw: str | None, **_: object) -> Normalised:
    """Normalise a Föli card number. Errors: ``transit_card.empty``, ``transit_card.format``."""
    return normalise_opaque(raw, "transit_card", upper=True, remove=" -", alnum_only=True)
