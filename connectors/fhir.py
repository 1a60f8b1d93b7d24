"""FHIR R4 Patient parsing shared by fhir-ndjson, fhir-bundle and fhir-api.

One Patient gives one :class:`SourceRecordIn` plus one record per guardian
contact (``contact[].relationship`` code GUARD/PRN/MTH/FTH): the guardian gets
the id ``{patient id}#contact-{index}`` (index in ``contact[]``, 0-based, so it
is stable while the Patient's contact list is), names and telecom only, and a
``guardian_of`` relation to the patient.
"""
from __future__ import annotations

from datetime import date
from typing import Any, Callable

from mdm._typing import AddressIn, IdentifierIn, NameIn, RelationIn, SourceRecordIn

from .base import StoredRecord, add_identifier, clean, map_sex, parse_date, parse_datetime

HETU_SYSTEM = "urn:oid:1.2.246.21"
TEMPORARY_PREFIX = "urn:oid:1.2.246.10."
GUARDIAN_CODES = {"GUARD", "PRN", "MTH", "FTH"}
_NAME_USES = {"official": "official", "usual": "official", "maiden": "maiden", "old": "old",
              "nickname": "nickname"}


class MalformedResource(ValueError):
    """The JSON is not a usable Patient (the reason is the message)."""


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedResource(f"{what} is not a list but {type(value).__name__}")
    return value


def _ended(period: Any, today: date) -> bool:
    end = parse_date(period.get("end")) if isinstance(period, dict) else None
    return end is not None and end < today


def _names(resource: dict[str, Any], today: date) -> list[NameIn]:
    names = []
    for name in _list(resource.get("name"), "name"):
        given = " ".join(str(g).strip() for g in _list(name.get("given"), "name.given") if clean(g)) or None
        family = clean(name.get("family"))
        if not given and not family:
            continue
        use = _NAME_USES.get(str(name.get("use") or "official"), "official")
        if use == "official" and _ended(name.get("period"), today):
            use = "old"
        names.append(NameIn(given=given, family=family, use=use))
    return names


def _telecom(items: Any, identifiers: list[IdentifierIn]) -> None:
    for item in _list(items, "telecom"):
        system, value, use = item.get("system"), item.get("value"), clean(item.get("use"))
        if system in ("phone", "sms"):
            add_identifier(identifiers, "phone", value, use="mobile" if system == "sms" else use)
        elif system == "email":
            add_identifier(identifiers, "email", value, use=use)


def _identifiers(resource: dict[str, Any], identifiers: list[IdentifierIn]) -> None:
    for ident in _list(resource.get("identifier"), "identifier"):
        system = clean(ident.get("system")) or ""
        if system == HETU_SYSTEM:
            id_type = "hetu"
        elif system.startswith(TEMPORARY_PREFIX):
            id_type = "temporary_id"
        else:
            id_type = "other"
        period = ident.get("period") if isinstance(ident.get("period"), dict) else {}
        add_identifier(identifiers, id_type, ident.get("value"), system=system or None,
                       use=clean(ident.get("use")), valid_from=parse_date(period.get("start")),
                       valid_to=parse_date(period.get("end")),
                       status="inactive" if ident.get("use") == "old" else "active")


def _addresses(resource: dict[str, Any], today: date) -> list[AddressIn]:
    addresses = []
    for addr in _list(resource.get("address"), "address"):
        lines = _list(addr.get("line"), "address.line")
        street = " ".join(str(line).strip() for line in lines if clean(line)) or None
        postal, city = clean(addr.get("postalCode")), clean(addr.get("city"))
        if not (street or postal or city):
            continue
        use = {"old": "old", "temp": "temp"}.get(str(addr.get("use")), "home")
        if _ended(addr.get("period"), today):
            use = "old"
        addresses.append(AddressIn(street=street, postal_code=postal, city=city,
                                   country=clean(addr.get("country")), use=use))
    return addresses


def _codes(concepts: Any) -> list[str]:
    """All coding codes of a CodeableConcept list (or of a Coding list, for meta.security)."""
    codes = []
    for concept in _list(concepts, "coding"):
        if not isinstance(concept, dict):
            continue
        codings = concept.get("coding") if "coding" in concept else [concept]
        codes += [str(c["code"]) for c in _list(codings, "coding") if isinstance(c, dict) and c.get("code")]
    return codes


def check_patient(resource: Any) -> str:
    """The Patient id, or MalformedResource saying why this is not a usable Patient."""
    if not isinstance(resource, dict):
        raise MalformedResource(f"expected a JSON object, got {type(resource).__name__}")
    if resource.get("resourceType") != "Patient":
        raise MalformedResource(f"not a Patient (resourceType {resource.get('resourceType')!r})")
    pid = clean(resource.get("id"))
    if pid is None:
        raise MalformedResource("Patient without id")
    return pid


IsStored = Callable[[str, Any], bool]


def patient_records(resource: Any, row_ref: str, today: date | None = None,
                    is_stored: IsStored | None = None) -> list[SourceRecordIn | StoredRecord]:
    """The patient's record followed by its guardian-contact records.

    With ``is_stored`` (see :class:`~connectors.base.Connector`), a record whose
    payload the store holds is a :class:`StoredRecord` (a Patient stored as it is
    was a well-formed one when it was stored, so it is not mapped again).
    """
    pid = check_patient(resource)
    today = today or date.today()
    try:
        if is_stored is not None and is_stored(pid, resource):
            meta = resource.get("meta") or {}
            updated = parse_datetime(meta.get("lastUpdated"))
            stored: list[SourceRecordIn | StoredRecord] = [StoredRecord(pid, resource, row_ref, updated)]
            return stored + _contact_records(resource, pid, row_ref, today, updated, is_stored)[0]
        return _patient_records(resource, pid, row_ref, today, is_stored)
    except (AttributeError, TypeError, MalformedResource) as exc:  # e.g. a string where a list belongs
        raise MalformedResource(f"malformed Patient {pid}: {exc}") from None


def _contact_records(resource: dict[str, Any], pid: str, row_ref: str, today: date, updated: Any,
                     is_stored: IsStored | None,
                     ) -> tuple[list[SourceRecordIn | StoredRecord], list[RelationIn]]:
    """The guardian-contact records of a Patient and the relations stating them."""
    records: list[SourceRecordIn | StoredRecord] = []
    relations: list[RelationIn] = []
    for index, contact in enumerate(_list(resource.get("contact"), "contact")):
        codes = [c.upper() for c in _codes(contact.get("relationship"))]
        code = next((c for c in codes if c in GUARDIAN_CODES), None)
        if code is None:
            continue
        cid = f"{pid}#contact-{index}"
        relations.append(RelationIn("guardian_of", subject_source_id=cid, object_source_id=pid, label=code))
        ref = f"{row_ref} contact[{index}]"
        if is_stored is not None and is_stored(cid, contact):
            records.append(StoredRecord(cid, contact, ref, updated))
            continue
        name = contact.get("name")
        names = _names({"name": [name]}, today) if isinstance(name, dict) else []
        contact_ids: list[IdentifierIn] = []
        _telecom(contact.get("telecom"), contact_ids)
        records.append(SourceRecordIn(
            source_id=cid, names=names, identifiers=contact_ids,
            attributes={"role": "guardian", "derived_from": pid}, updated_at=updated,
            raw=contact, row_ref=ref))
    return records, relations


def _patient_records(resource: dict[str, Any], pid: str, row_ref: str, today: date,
                     is_stored: IsStored | None = None) -> list[SourceRecordIn | StoredRecord]:
    identifiers: list[IdentifierIn] = []
    _identifiers(resource, identifiers)
    _telecom(resource.get("telecom"), identifiers)
    meta = resource.get("meta") or {}
    flags: set[str] = set()
    if "TURVAKIELTO" in {c.upper() for c in _codes(meta.get("security"))}:
        flags.add("turvakielto")
    attributes: dict[str, Any] = {}
    if resource.get("deceasedBoolean") is True or clean(resource.get("deceasedDateTime")):
        flags.add("deceased")
        if clean(resource.get("deceasedDateTime")):
            attributes["deceased_at"] = clean(resource.get("deceasedDateTime"))
    if resource.get("active") is False:
        attributes["active"] = False
    links = [{"type": link.get("type"), "other": (link.get("other") or {}).get("reference")}
             for link in _list(resource.get("link"), "link")]
    if links:
        attributes["links"] = links
    patient = SourceRecordIn(
        source_id=pid, names=_names(resource, today), birth_date=clean(resource.get("birthDate")),
        sex=map_sex(resource.get("gender")), identifiers=identifiers,
        addresses=_addresses(resource, today), flags=flags, attributes=attributes,
        updated_at=parse_datetime(meta.get("lastUpdated")), raw=resource, row_ref=row_ref)
    contacts, relations = _contact_records(resource, pid, row_ref, today, patient.updated_at, is_stored)
    patient.relations.extend(relations)
    return [patient, *contacts]
