"""Shared plain-data types of PAT-MDM.

Every layer (connectors, rules, matching, mdm services, the UI) exchanges these
plain dataclasses; nothing here imports from the rest of the product, so any
package may depend on this module without creating a cycle.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Mapping, Union

RecordKind = Literal["person", "organisation"]
Sex = Literal["male", "female", "other", "unknown"]
Quality = Literal["valid", "invalid", "temporary"]

#: Identifier types known to the product. Matching, the lookup API and the
#: store all use these names.
IDENTIFIER_TYPES = (
    "hetu",
    "kela_card",
    "phone",
    "email",
    "transit_card",
    "library_card",
    "student_id",
    "oneroster_id",
    "ytunnus",
    "association_id",
    "temporary_id",
    "other",
)

#: Relation types between records of one source (lifted later to golden records).
RELATION_TYPES = ("guardian_of", "member_of", "role_in")


# --------------------------------------------------------------------------
# What a connector yields (raw values, as the source wrote them)
# --------------------------------------------------------------------------
@dataclass
class IdentifierIn:
    """One identifier as the source holds it; normalised later by rules/."""

    type: str
    value: str
    status: str = "active"  # active | lost | closed | inactive
    valid_from: date | None = None
    valid_to: date | None = None
    system: str | None = None  # e.g. a FHIR identifier system URI
    use: str | None = None  # e.g. "mobile", "home"


@dataclass
class NameIn:
    given: str | None = None  # all given names as written (may be only the calling name)
    family: str | None = None
    calling: str | None = None  # preferred / calling name, if the source knows it
    use: str = "official"  # official | maiden | old | nickname


@dataclass
class AddressIn:
    street: str | None = None  # the whole street line as written
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None
    use: str = "home"  # home | old | temp


@dataclass
class RelationIn:
    """A relation between two records of the same source.

    ``guardian_source_id`` is guardian of ``ward_source_id``; for ``member_of``
    and ``role_in`` the subject is the member and the object the organisation.
    """

    type: str
    subject_source_id: str
    object_source_id: str
    label: str | None = None  # free text of the source, e.g. "äiti"


@dataclass
class SourceRecordIn:
    source_id: str
    kind: RecordKind = "person"
    names: list[NameIn] = field(default_factory=list)
    birth_date: str | None = None  # raw text; parsed and validated by rules/
    sex: Sex | None = None
    identifiers: list[IdentifierIn] = field(default_factory=list)
    addresses: list[AddressIn] = field(default_factory=list)
    relations: list[RelationIn] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)  # e.g. {"turvakielto", "deceased"}
    attributes: dict[str, Any] = field(default_factory=dict)  # role, category, ...
    updated_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    row_ref: str | None = None  # row number or line in the export, for messages


@dataclass
class RejectedRow:
    """A row a connector could not turn into a record; it goes to quarantine."""

    row_ref: str
    reason: str
    raw: str


ConnectorItem = Union[SourceRecordIn, RejectedRow]


# --------------------------------------------------------------------------
# What rules/ returns
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Normalised:
    """Result of normalising one identifier value.

    ``value`` is the normal form (for an invalid value: the compacted input, kept
    so the record still carries it); ``error`` is a precise, stable error code
    such as ``hetu.checksum``; ``quality`` says whether the value may be used as
    strong evidence.
    """

    value: str | None
    quality: Quality = "valid"
    error: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.value is not None
