"""Turn a connector record into the standardised form stored and matched on.

The output is plain JSON (str/int/bool/None, lists, dicts; dates as ISO
strings) so the store can put it in a JSON column as is and matching never has
to re-normalise. This runs for about a million records per night: the
per-record work is a handful of dict builds and cached helper calls; nothing
compiles a regex or builds a table per call.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Iterable

from mdm._typing import IdentifierIn, Normalised, SourceRecordIn

from rules.addresses import standardise_address
from rules.dates import parse_birth_date
from rules.hetu import is_strong
from rules.identifiers import (
    TEMPORARY_SYSTEM_PREFIX,
    normalise_identifier,
    normalise_temporary_id,
)
from rules.names import standardise_name

__all__ = ["HETU_EVIDENCE_TYPES", "standardise_record"]

#: Identifier types whose value *is* a HETU (a Kela card carries its holder's HETU).
HETU_EVIDENCE_TYPES = frozenset({"hetu", "kela_card"})

# Source spellings of sex -> the product's values. Koha uses M/F, Finnish
# hand-made files mies/nainen (M/N), OneRoster "unspecified", registry 1/2.
_SEX: dict[str, str | None] = {
    "male": "male", "m": "male", "mies": "male", "1": "male",
    "female": "female", "f": "female", "nainen": "female", "n": "female", "2": "female",
    "other": "other", "o": "other", "muu": "other",
    "unknown": None, "unspecified": None, "u": None, "": None,
}


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def _json_safe(value: Any) -> Any:
    """Recursively make ``attributes`` JSON-serialisable (dates -> ISO, sets -> sorted lists)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((_json_safe(v) for v in value), key=str)
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return str(value)


def _normalise(ident: IdentifierIn, today: date | None) -> Normalised:
    system = ident.system
    if ident.type == "hetu" and system and system.startswith(TEMPORARY_SYSTEM_PREFIX):
        # A connector that labelled a temporary-system id as "hetu": the system
        # wins, it must never become an authoritative key.
        return normalise_temporary_id(ident.value, today=today)
    try:
        return normalise_identifier(ident.type, ident.value, today=today)
    except ValueError:
        # One bad connector mapping must not stop the nightly run: keep the
        # value, flag it, let the steward see it.
        value = str(ident.value).strip() if ident.value is not None else ""
        return Normalised(
            value=value or None, quality="invalid", error="identifier.unknown_type"
        )


def _identifiers(
    idents: Iterable[IdentifierIn], today: date | None
) -> tuple[list[dict[str, Any]], list[Normalised]]:
    """Standardised identifier dicts (deduplicated) and the strong HETU evidence."""
    out: list[dict[str, Any]] = []
    strong: list[Normalised] = []
    seen: set[tuple[str, str]] = set()
    for ident in idents:
        n = _normalise(ident, today)
        if n.value is None:
            continue  # empty: nothing to keep, nothing to match
        key = (ident.type, n.value)
        if key in seen:
            continue  # identical (type, value): the first occurrence wins
        seen.add(key)
        if ident.type in HETU_EVIDENCE_TYPES and is_strong(n):
            strong.append(n)
        out.append(
            {
                "type": ident.type,
                "value": n.value,
                "raw": _iso(ident.value),
                "quality": n.quality,
                "error": n.error,
                "status": ident.status,
                "valid_from": _iso(ident.valid_from),
                "valid_to": _iso(ident.valid_to),
                "system": ident.system,
                "use": ident.use,
                "details": dict(n.details),
            }
        )
    return out, strong


def standardise_record(rec: SourceRecordIn, *, today: date | None = None) -> dict[str, Any]:
    """Standardise one connector record (see module docstring for the shape).

    Keys: ``kind``, ``names``, ``birth_date`` (ISO or None),
    ``birth_date_error`` (``date.*`` code or None), ``birth_date_source``
    (``"source"``, ``"hetu"`` or None), ``sex``, ``sex_source`` (likewise),
    ``identifiers``, ``addresses``, ``flags`` (sorted), ``warnings`` (sorted
    data-quality findings across fields: ``hetu.conflict`` - two different
    valid HETUs; ``birth_date.hetu_mismatch``; ``sex.hetu_mismatch``),
    ``attributes`` and ``updated_at`` (ISO or None).

    A valid non-temporary HETU (or Kela card) fills a missing birth date and
    sex. Temporary HETUs never do: their date part may be a placeholder.
    ``today`` fixes the reference date of the future-date checks (tests).
    """
    warnings: set[str] = set()

    names = []
    for n in rec.names:
        sn = standardise_name(n.given, n.family, n.calling, n.use)
        if sn["given"] or sn["family"] or sn["calling"]:
            names.append(sn)

    identifiers, strong = _identifiers(rec.identifiers, today)
    # HETU evidence agreeing on one person (several sources may give the same
    # code, once as hetu and once as kela_card).
    hetu_values = {n.value for n in strong}
    hetu_info: Normalised | None = strong[0] if len(hetu_values) == 1 else None
    if len(hetu_values) > 1:
        warnings.add("hetu.conflict")

    # --- birth date -----------------------------------------------------------
    birth_date: str | None = None
    birth_date_error: str | None = None
    birth_date_source: str | None = None
    if rec.birth_date is not None and str(rec.birth_date).strip():
        bd = parse_birth_date(rec.birth_date, today=today)
        if bd.error is None:
            birth_date, birth_date_source = bd.value, "source"
        else:
            birth_date_error = bd.error
    if hetu_info is not None:
        hetu_birth = hetu_info.details["birth_date"]
        if birth_date is None:
            birth_date, birth_date_source = hetu_birth, "hetu"
        elif birth_date != hetu_birth:
            warnings.add("birth_date.hetu_mismatch")

    # --- sex -------------------------------------------------------------------
    sex = _SEX.get(str(rec.sex).strip().lower()) if rec.sex is not None else None
    sex_source: str | None = "source" if sex is not None else None
    if hetu_info is not None:
        hetu_sex = hetu_info.details["sex"]
        if sex is None:
            sex, sex_source = hetu_sex, "hetu"
        elif sex != hetu_sex and sex != "other":
            warnings.add("sex.hetu_mismatch")

    addresses = []
    for a in rec.addresses:
        if a.street or a.postal_code or a.city:
            addresses.append(
                standardise_address(a.street, a.postal_code, a.city, a.country, a.use)
            )

    return {
        "kind": rec.kind,
        "names": names,
        "birth_date": birth_date,
        "birth_date_error": birth_date_error,
        "birth_date_source": birth_date_source,
        "sex": sex,
        "sex_source": sex_source,
        "identifiers": identifiers,
        "addresses": addresses,
        "flags": sorted(rec.flags),
        "warnings": sorted(warnings),
        "attributes": _json_safe(rec.attributes) if rec.attributes else {},
        "updated_at": _iso(rec.updated_at),
    }
