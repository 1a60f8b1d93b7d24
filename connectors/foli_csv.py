"""Föli travel-card registry CSV ("foli-csv").

Options: ``path`` (required), ``encoding`` (utf-8), ``fallback_encoding``,
``delimiter`` (","). A full export. ``card_number`` is both the source id and a
``transit_card`` identifier whose status follows the card: ``active`` stays
active; ``lost``/``closed`` keep that status with ``valid_to`` = the date of
``updated_at`` (the registry's last change, normally when the card was closed).
``valid_from`` is ``issued_on``. An unknown status makes the card "inactive"
(the raw status stays in the attributes).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from mdm._typing import AddressIn, IdentifierIn, NameIn, SourceRecordIn

from ._csv import CsvRow, SingleCsvConnector
from .base import add_identifier, parse_date, parse_datetime

REQUIRED = ("card_number", "holder_first_names", "holder_last_name", "status")


class FoliCsvConnector(SingleCsvConnector):
    """Travel cards and their holders; one record per card."""

    kind = "foli-csv"
    full_export = True

    required = REQUIRED
    id_column = "card_number"

    @staticmethod
    def identity(row: CsvRow) -> tuple[str, dict[str, Any], datetime | None]:
        return row.get("card_number") or "", dict(row.values), parse_datetime(row.get("updated_at"))

    @staticmethod
    def to_record(row: CsvRow) -> SourceRecordIn:
        get = row.get
        card, raw, updated = FoliCsvConnector.identity(row)
        status_raw = (get("status") or "").lower()
        status = status_raw if status_raw in ("active", "lost", "closed") else "inactive"
        identifiers: list[IdentifierIn] = []
        add_identifier(identifiers, "transit_card", card, status=status,
                       valid_from=parse_date(get("issued_on")),
                       valid_to=updated.date() if updated and status != "active" else None)
        add_identifier(identifiers, "hetu", get("holder_hetu"))
        add_identifier(identifiers, "phone", get("phone"))
        add_identifier(identifiers, "email", get("email"))
        names = []
        if get("holder_first_names") or get("holder_last_name"):
            names.append(NameIn(given=get("holder_first_names"), family=get("holder_last_name")))
        addresses = []
        if get("street_address") or get("postal_code") or get("city"):
            addresses.append(AddressIn(street=get("street_address"), postal_code=get("postal_code"),
                                       city=get("city")))
        attributes: dict[str, Any] = {}
        for column in ("card_type", "customer_group", "issued_on"):
            if get(column):
                attributes[column] = get(column)
        if status_raw:
            attributes["card_status"] = status_raw
        return SourceRecordIn(source_id=card, names=names, birth_date=get("holder_birth_date"),
                              identifiers=identifiers, addresses=addresses, attributes=attributes,
                              updated_at=updated, raw=raw, row_ref=row.ref)
