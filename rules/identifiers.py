"""Registry of identifier normalisers, keyed by the identifier type names of
``mdm._typing.IDENTIFIER_TYPES``.

Connectors, the lookup API and matching all go through
:func:`normalise_identifier`, so one identifier type is normalised one way
everywhere (a lookup value must meet the stored value).
"""
from __future__ import annotations

from typing import Callable

from mdm._typing import IDENTIFIER_TYPES, Normalised

from rules import (
    association_id,
    email,
    hetu,
    kela_card,
    library_card,
    oneroster_id,
    phone,
    student_id,
    transit_card,
    ytunnus,
)
from rules._opaque import normalise_opaque

__all__ = ["NORMALISERS", "normalise_identifier", "normalise_temporary_id", "normalise_other"]

#: Prefix of FHIR identifier systems for temporary ids (source-formats.md).
TEMPORARY_SYSTEM_PREFIX = "urn:oid:1.2.246.10."

_TEMPORARY_EMPTY = Normalised(value=None, quality="invalid", error="temporary_id.empty")


def normalise_temporary_id(raw: str | None, **kw: object) -> Normalised:
    """Normalise a temporary id (FHIR systems under ``urn:oid:1.2.246.10.``).

    The value is HETU-shaped and checked as a HETU with temporaries allowed
    (``hetu.*`` error codes). A well-formed one is ``quality="temporary"``
    whatever its individual number: the *system* says it is temporary, so it is
    never an authoritative key. A malformed one stays ``"invalid"``.
    """
    kw.pop("allow_temporary", None)
    n = hetu.normalise(raw, allow_temporary=True, **kw)  # type: ignore[arg-type]
    if n.error == "hetu.empty":
        return _TEMPORARY_EMPTY
    if n.error is not None:
        return n
    return Normalised(
        value=n.value, quality="temporary", details={**n.details, "temporary": True}
    )


def normalise_other(raw: str | None, **_: object) -> Normalised:
    """Any other identifier: opaque, stripped, case kept."""
    return normalise_opaque(raw, "other", upper=False)


#: identifier type name -> normalise function ``(raw, **kw) -> Normalised``
NORMALISERS: dict[str, Callable[..., Normalised]] = {
    "hetu": hetu.normalise,
    "kela_card": kela_card.normalise,
    "phone": phone.normalise,
    "email": email.normalise,
    "transit_card": transit_card.normalise,
    "library_card": library_card.normalise,
    "student_id": student_id.normalise,
    "oneroster_id": oneroster_id.normalise,
    "ytunnus": ytunnus.normalise,
    "association_id": association_id.normalise,
    "temporary_id": normalise_temporary_id,
    "other": normalise_other,
}
# Fail at import, not at 3 a.m., if the type list and the registry drift apart.
if set(NORMALISERS) != set(IDENTIFIER_TYPES):  # pragma: no cover
    raise RuntimeError(f"NORMALISERS out of sync: {set(NORMALISERS) ^ set(IDENTIFIER_TYPES)}")


def normalise_identifier(type: str, value: str | None, **kw: object) -> Normalised:
    """Normalise ``value`` as an identifier of ``type``.

    Raises ``ValueError`` for a type not in ``IDENTIFIER_TYPES``.
    """
    try:
        fn = NORMALISERS[type]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown identifier type {type!r}; expected one of {', '.join(IDENTIFIER_TYPES)}"
        ) from None
    return fn(value, **kw)
