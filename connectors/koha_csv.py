"""Koha patron CSV export ("koha-csv"), Koha database column names.

Options: ``path`` (required), ``encoding`` (utf-8), ``fallback_encoding``,
``delimiter`` (","). A full export: patrons missing from the file count as
deleted, so every row is yielded whatever the watermark; ``new_watermark`` is
the largest ``updated_on`` for information.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from mdm._typing import AddressIn, IdentifierIn, NameIn, RelationIn, SourceRecordIn

from ._csv import CsvRow, SingleCsvConnector
from .base import add_identifier, clean, map_sex, parse_datetime

REQUIRED = ("borrowernumber", "surname", "firstname")


def parse_patron_attributes(text: str | None) -> list[tuple[str, str]]:
    """Split Koha's ``CODE:value,CODE2:value``; a piece without ``:`` continues the previous value.

    Why the continuation rule: attribute values may themselves contain commas.
    """
    pairs: list[tuple[str, str]] = []
    for piece in (text or "").split(","):
        code, sep, value = piece.partition(":")
        if sep and code.strip() and " " not in code.strip():
            pairs.append((code.strip().upper(), value.strip()))
        elif pairs:
            pairs[-1] = (pairs[-1][0], f"{pairs[-1][1]},{piece}".strip())
    return pairs


def split_attributes(pairs: list[tuple[str, str]], identifiers: list[IdentifierIn]) -> dict[str, Any]:
    """HETU attributes become hetu identifiers; the rest a code -> value (or list) mapping."""
    other: dict[str, Any] = {}
    for code, value in pairs:
        if code == "HETU":
            add_identifier(identifiers, "hetu", value)
        elif value:
            if code in other:  # repeatable attribute
                prev = other[code]
                other[code] = (prev if isinstance(prev, list) else [prev]) + [value]
            else:
                other[code] = value
    return other


class KohaCsvConnector(SingleCsvConnector):
    """Koha patrons from the patron CSV; ``borrowernumber`` is the source id."""

    kind = "koha-csv"
    full_export = True

    required = REQUIRED
    id_column = "borrowernumber"

    @staticmethod
    def identity(row: CsvRow) -> tuple[str, dict[str, Any], datetime | None]:
        return row.get("borrowernumber") or "", dict(row.values), parse_datetime(row.get("updated_on"))

    @staticmethod
    def to_record(row: CsvRow) -> SourceRecordIn:
        get = row.get
        borrower, raw, updated = KohaCsvConnector.identity(row)
        identifiers: list[IdentifierIn] = []
        add_identifier(identifiers, "library_card", get("cardnumber"))
        add_identifier(identifiers, "email", get("email"))
        # smsalertnumber is the mobile number in practice; listed first so a phone
        # column holding the same number does not hide the "mobile" use.
        add_identifier(identifiers, "phone", get("smsalertnumber"), use="mobile")
        add_identifier(identifiers, "phone", get("phone"))
        attributes: dict[str, Any] = {}
        extra = split_attributes(parse_patron_attributes(get("patron_attributes")), identifiers)
        if extra:
            attributes["patron_attributes"] = extra
        for column, key in (("categorycode", "category"), ("branchcode", "branch"),
                            ("dateenrolled", "date_enrolled")):
            if get(column):
                attributes[key] = get(column)
        addresses = []
        if get("address") or get("zipcode") or get("city"):
            addresses.append(AddressIn(street=get("address"), postal_code=get("zipcode"), city=get("city")))
        relations = []
        guarantor = get("guarantor_id")
        if guarantor:
            relations.append(RelationIn("guardian_of", subject_source_id=guarantor,
                                        object_source_id=borrower, label=get("guarantor_relationship")))
        names = []
        if get("firstname") or get("surname"):
            names.append(NameIn(given=get("firstname"), family=get("surname")))
        return SourceRecordIn(
            source_id=borrower,
            names=names,
            birth_date=clean(get("dateofbirth")),
            sex=map_sex(get("sex")),
            identifiers=identifiers,
            addresses=addresses,
            relations=relations,
            attributes=attributes,
            updated_at=updated,
            raw=raw,
            row_ref=row.ref,
        )
