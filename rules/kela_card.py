"""Kela card normalisation: the card is HETU evidence, not an identifier of its own.

The photo-less Kela card carries the holder's HETU (printed and as a barcode);
there is no separate card number worth keying on. The value is therefore
normalised exactly as a HETU (same normal form, same ``hetu.*`` error codes, so
matching can compare it with HETUs directly) and marked
``details["evidence_for"] == "hetu"``. Only the empty case uses the card's own
type name (``kela_card.empty``) so the record shows which field was empty.
"""
from __future__ import annotations

from mdm._typing import Normalised

from rules import hetu as _hetu

__all__ = ["normalise"]

_EMPTY = Normalised(value=None, quality="invalid", error="kela_card.empty")


def normalise(raw: str | None, **kw: object) -> Normalised:
    """Normalise the HETU on a Kela card; see :func:`rules.hetu.normalise`."""
    n = _hetu.normalise(raw, **kw)  # type: ignore[arg-type]
    if n.error == "hetu.empty":
        return _EMPTY
    return Normalised(
        value=n.value,
        quality=n.quality,
        error=n.error,
        details={**n.details, "evidence_for": "hetu"},
    )
