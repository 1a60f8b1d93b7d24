"""Any CSV mapped to canonical fields by configuration ("mapped-csv").

Options: ``path`` (required), ``encoding``, ``fallback_encoding``, ``delimiter``,
and ``mapping``, a table from canonical fields to column names::

    mapping = { source_id = "rec_id", given = "given_name", family = "surname",
                birth_date = "date_of_birth", sex = "gender",
                street = ["street_number", "address_1"], street_extra = "address_2",
                postal_code = "postcode", city = "suburb",
                identifiers = { other = "soc_sec_id", phone = ["phone1", "phone2"] },
                attributes = ["state"],        # or { region = "state" }
                updated_at = "modified" }

A list of columns is joined with spaces (``street_extra`` is appended to the
street after ", "); under ``identifiers`` a list instead gives one identifier
per column. Every mapped column must exist in the header. Further options:
``birth_date_format`` (strptime, e.g. ``"%Y%m%d"``: parseable dates become ISO
``YYYY-MM-DD``, anything else is passed through raw for rules/ to flag),
``updated_at_format`` likewise, ``sex_values`` (source value -> male/female/
other/unknown, before the built-in codes) and ``full_export`` (default true).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from mdm._typing import IDENTIFIER_TYPES, AddressIn, IdentifierIn, NameIn, SourceRecordIn

from ._csv import CsvRow, SingleCsvConnector
from .base import add_identifier, map_sex, parse_datetime

_FIELDS = {"source_id", "given", "family", "calling", "birth_date", "sex", "street", "street_extra",
           "postal_code", "city", "country", "identifiers", "attributes", "updated_at"}
Columns = list[str]


class MappedCsvConnector(SingleCsvConnector):
    """A CSV whose columns are mapped to canonical fields in the configuration."""

    kind = "mapped-csv"
    full_export = True
    full_export_option = True

    def __init__(self, source_name: str, options: Mapping[str, Any], base_dir: Any) -> None:
        super().__init__(source_name, options, base_dir)
        # Why an instance attribute: some mapped sources are delta files, not full exports.
        self.full_export = bool(self.options.get("full_export", True))  # type: ignore[misc]
        mapping = self.options.get("mapping")
        if not isinstance(mapping, Mapping) or not mapping.get("source_id"):
            raise self.error("option 'mapping' must be a table with at least source_id = \"<column>\"")
        unknown = sorted(set(mapping) - _FIELDS)
        if unknown:
            raise self.error(f"unknown mapping field(s) {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(_FIELDS))})")
        self.fields: dict[str, Columns] = {k: self._columns(k, v) for k, v in mapping.items()
                                           if k not in ("identifiers", "attributes")}
        if len(self.fields["source_id"]) != 1:
            raise self.error("mapping.source_id must name exactly one column")
        self.identifiers: dict[str, Columns] = {}
        for id_type, cols in (mapping.get("identifiers") or {}).items():
            if id_type not in IDENTIFIER_TYPES:
                raise self.error(f"mapping.identifiers: unknown identifier type {id_type!r} "
                                 f"(known: {', '.join(IDENTIFIER_TYPES)})")
            self.identifiers[id_type] = self._columns(f"identifiers.{id_type}", cols)
        attrs = mapping.get("attributes")
        self.attributes: dict[str, Columns] = {}
        if not attrs:
            pass
        elif isinstance(attrs, Mapping):
            self.attributes = {name: self._columns(f"attributes.{name}", c) for name, c in attrs.items()}
        else:
            self.attributes = {c: [c] for c in self._columns("attributes", attrs)}

    def _columns(self, key: str, value: Any) -> Columns:
        if isinstance(value, str) and value:
            return [value]
        if isinstance(value, list) and value and all(isinstance(c, str) and c for c in value):
            return list(value)
        raise self.error(f"mapping.{key} must be a column name or a list of column names, not {value!r}")

    def _required(self) -> list[str]:
        cols = [c for cols in self.fields.values() for c in cols]
        cols += [c for cols in self.identifiers.values() for c in cols]
        cols += [c for cols in self.attributes.values() for c in cols]
        return list(dict.fromkeys(cols))

    def csv_required(self) -> list[str]:
        return self._required()

    def csv_id_column(self) -> str:
        return self.fields["source_id"][0]

    def _value(self, row: CsvRow, field: str) -> str | None:
        parts = [row.get(c) for c in self.fields.get(field, [])]
        return " ".join(p for p in parts if p) or None

    @staticmethod
    def _reformat(value: str | None, fmt: Any) -> str | None:
        """An ISO date for a value matching ``fmt``; otherwise the value unchanged (rules/ flag it)."""
        if value is None or not fmt:
            return value
        try:
            return datetime.strptime(value, str(fmt)).date().isoformat()
        except ValueError:
            return value

    def identity(self, row: CsvRow) -> tuple[str, dict[str, Any], datetime | None]:
        updated_raw = self._value(row, "updated_at")
        fmt = self.options.get("updated_at_format")
        updated: datetime | None
        if fmt and updated_raw:
            try:
                updated = datetime.strptime(updated_raw, str(fmt))
            except ValueError:
                updated = None
        else:
            updated = parse_datetime(updated_raw)
        return row.get(self.fields["source_id"][0]) or "", dict(row.values), updated

    def to_record(self, row: CsvRow) -> SourceRecordIn:
        value = lambda field: self._value(row, field)  # noqa: E731 - short local accessor
        names = []
        if value("given") or value("family"):
            names.append(NameIn(given=value("given"), family=value("family"), calling=value("calling")))
        street, extra = value("street"), value("street_extra")
        street = ", ".join(p for p in (street, extra) if p) or None
        addresses = []
        if street or value("postal_code") or value("city"):
            addresses.append(AddressIn(street=street, postal_code=value("postal_code"), city=value("city"),
                                       country=value("country")))
        identifiers: list[IdentifierIn] = []
        for id_type, cols in self.identifiers.items():
            for col in cols:
                add_identifier(identifiers, id_type, row.get(col))
        attributes: dict[str, Any] = {}
        for name, cols in self.attributes.items():
            joined = " ".join(p for p in (row.get(c) for c in cols) if p)
            if joined:
                attributes[name] = joined
        source_id, raw, updated = self.identity(row)
        return SourceRecordIn(
            source_id=source_id,
            names=names,
            birth_date=self._reformat(value("birth_date"), self.options.get("birth_date_format")),
            sex=map_sex(value("sex"), self.options.get("sex_values")),
            identifiers=identifiers, addresses=addresses, attributes=attributes,
            updated_at=updated, raw=raw, row_ref=row.ref)
