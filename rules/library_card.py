"""Koha library card number (``cardnumber``) normalisation.

Opaque: Koha compares card numbers case-insensitively in practice (barcode
scanners and staff both produce upper case), so the number is stripped and
upper-cased, nothing else. One person may hold an old, forgotten card too.
"""
from __future__ import annotations

from mdm._typing import Normalised

from rules._opaque import normalise_opaque

__all__ = ["normalise"]


def normalise(raw: str | None, **_: object) -> Normalised:
    """Normalise a library card number. Errors: ``library_card.empty``, ``library_card.format``."""
    return normalise_opaque(raw, "library_card", upper=True)
