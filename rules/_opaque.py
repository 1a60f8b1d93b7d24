"""Shared normalisation of opaque identifiers (card numbers, source ids).

Opaque identifiers have no checksum or structure we may rely on; the only safe
normalisation is removing what cannot be part of the identifier (surrounding
whitespace, and for card numbers the separators people type) and, where the
issuing system is case-insensitive, upper-casing. Each identifier module is a
thin wrapper that fixes the type name and these choices.
"""
from __future__ import annotations

from mdm._typing import Normalised

__all__ = ["normalise_opaque"]

# Cached empty results, one per type name (Normalised is frozen).
_EMPTY: dict[str, Normalised] = {}


def _empty(type_name: str) -> Normalised:
    n = _EMPTY.get(type_name)
    if n is None:
        n = _EMPTY[type_name] = Normalised(
            value=None, quality="invalid", error=f"{type_name}.empty"
        )
    return n


def normalise_opaque(
    raw: str | None,
    type_name: str,
    *,
    upper: bool,
    remove: str = "",
    alnum_only: bool = False,
) -> Normalised:
    """Normalise an opaque identifier.

    ``remove``: characters deleted anywhere (e.g. ``" -"`` for card numbers that
    are printed in groups); ``upper``: upper-case (system is case-insensitive);
    ``alnum_only``: after removal only ASCII letters and digits are allowed.

    Error codes: ``<type>.empty``; ``<type>.format`` for characters that cannot
    belong to the identifier (control characters; non-alphanumerics where
    ``alnum_only``).
    """
    if raw is None:
        return _empty(type_name)
    value = str(raw).strip()
    if remove:
        # any whitespace, not just ASCII space, when whitespace is a separator
        if " " in remove:
            value = "".join(value.split())
        for ch in remove:
            if ch != " ":
                value = value.replace(ch, "")
    if upper:
        value = value.upper()
    if not value:
        return _empty(type_name)
    if alnum_only:
        ok = value.isascii() and value.isalnum()
    else:
        ok = value.isprintable()
    if not ok:
        return Normalised(value=value, quality="invalid", error=f"{type_name}.format")
    return Normalised(value=value)
