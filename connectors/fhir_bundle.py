"""A FHIR searchset Bundle JSON file of Patients ("fhir-bundle").

Options: ``path`` (required), ``encoding`` (utf-8). A full export. Entries that
are not Patients or have no id are rejected as ``"<file>:entry[i]"``; a Patient
id occurring twice: the later entry wins, the earlier is rejected.
The file is loaded whole (a Bundle is one JSON document).
"""
from __future__ import annotations

import json
from typing import Any, Iterator

from mdm._typing import RejectedRow, SourceRecordIn

from ._csv import MOJIBAKE_RE
from .base import Connector, StoredRecord, WatermarkTracker
from .fhir import MalformedResource, check_patient, patient_records


def bundle_entries(bundle: Any) -> list[tuple[int, Any]]:
    """(entry index, resource) of a Bundle's matches (resource None where an entry has none).

    Entries a searchset marks as ``include`` or ``outcome`` (an OperationOutcome
    about the search) are not persons and are skipped.
    """
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise MalformedResource("not a FHIR Bundle")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise MalformedResource("Bundle.entry is not a list")
    result = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            result.append((index, None))
        elif (search := entry.get("search")) is None or not isinstance(search, dict) \
                or search.get("mode", "match") == "match":
            result.append((index, entry.get("resource")))
    return result


class FhirBundleConnector(Connector):
    """Patients from a searchset Bundle file."""

    kind = "fhir-bundle"
    full_export = True

    def _load(self) -> tuple[str, Any]:
        path = self.path_option()
        encoding = str(self.options.get("encoding") or "utf-8")
        data = path.read_bytes()
        try:
            utf8 = encoding.lower().replace("_", "-") in ("utf-8", "utf8")
            text = data.decode("utf-8-sig" if utf8 else encoding)  # a BOM is tolerated
        except UnicodeDecodeError as exc:
            raise self.error(f"{path.name} is not valid {encoding} at byte {exc.start}; "
                             f"set encoding = \"latin-1\" for this source") from None
        except LookupError:
            raise self.error(f"unknown encoding {encoding!r}") from None
        hit = MOJIBAKE_RE.search(text)
        if hit:
            raise self.error(f"{path.name} contains {hit.group()!r}, UTF-8 text decoded as {encoding} "
                             f"(mojibake); set encoding = \"utf-8\"")
        try:
            return path.name, json.loads(text)
        except ValueError as exc:
            raise self.error(f"{path.name} is not valid JSON: {exc}") from None

    def read(self, watermark: str | None) -> Iterator[SourceRecordIn | StoredRecord | RejectedRow]:
        name, bundle = self._load()
        try:
            resources = bundle_entries(bundle)
        except MalformedResource as exc:
            raise self.error(f"{name}: {exc}") from None
        keep: dict[str, int] = {}
        for index, resource in resources:
            try:
                keep[check_patient(resource)] = index
            except MalformedResource:
                pass
        tracker = WatermarkTracker(watermark)
        for index, resource in resources:
            ref = f"{name}:entry[{index}]"
            raw = json.dumps(resource, ensure_ascii=False)
            try:
                pid = check_patient(resource)
                if keep[pid] != index:
                    reason = f"duplicate source id {pid} (kept entry {keep[pid]})"
                    yield RejectedRow(row_ref=ref, reason=reason, raw=raw)
                    continue
                records = patient_records(resource, ref, is_stored=self.is_stored)
            except MalformedResource as exc:
                yield RejectedRow(row_ref=ref, reason=str(exc), raw=raw)
                continue
            tracker.see(records[0].updated_at)
            yield from records
        self.new_watermark = tracker.result()
