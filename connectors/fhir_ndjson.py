"""FHIR Bulk Data NDJSON file of Patients ("fhir-ndjson"), one resource per line.

Options: ``path`` (required), ``encoding`` (utf-8), ``fallback_encoding``.
A full export. A line that is not JSON, not a Patient or has no id becomes a
:class:`RejectedRow` ``"<file>:<line>"``. A Patient id occurring on several
lines: the last line wins, the earlier ones are rejected as duplicates.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterator

import orjson

from mdm._typing import RejectedRow, SourceRecordIn

from ._csv import TextFile
from .base import Connector, StoredRecord, WatermarkTracker, memo_records
from .fhir import MalformedResource, check_patient, patient_records


_LONG_DIGITS = re.compile(r"\d{19}")


def _parse(text: str) -> tuple[Any, str | None]:
    """(resource, None) or (None, reason)."""
    try:
        # Every line is parsed twice (a first pass finds the last line of each id): orjson is
        # several times faster. What it refuses (NaN, lone surrogates, invalid JSON) goes to the
        # standard library, which decides and words the error as before; so does a line with a
        # run of 19 or more digits, which orjson would read as a float if it were a huge integer.
        if _LONG_DIGITS.search(text):
            raise orjson.JSONDecodeError("maybe an integer beyond 64 bits", text, 0)
        resource = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            resource = json.loads(text)
        except ValueError as exc:
            return None, f"invalid JSON: {exc}"
    try:
        check_patient(resource)
    except MalformedResource as exc:
        return None, str(exc)
    return resource, None


class FhirNdjsonConnector(Connector):
    """Patients from an NDJSON bulk export."""

    kind = "fhir-ndjson"
    full_export = True
    uses_line_memo = True

    def read(self, watermark: str | None) -> Iterator[SourceRecordIn | StoredRecord | RejectedRow]:
        path = self.path_option()
        text = TextFile(path.name, lambda: path.open("rb"), self.options, self.error, self.warn)

        memo = self.line_memo if self.is_stored is not None else None
        context = memo.context(self.kind, self.options) if memo is not None else b""

        # Digests of the lines the memo knows, with Python's hash of the text: the second pass
        # checks that the line is still the same text (cheaper than a digest) and reuses the digest.
        known_lines: dict[int, tuple[int, bytes]] = {}

        def last_lines(lines: Iterator[tuple[int, str]]) -> dict[str, int]:
            keep: dict[str, int] = {}
            for number, line in lines:
                if line.strip():
                    if memo is not None:
                        # A line read before made a Patient with this id: no need to parse it for that.
                        text = line.rstrip("\r\n")
                        line_key = memo.key(context, text)
                        pid = memo.first_id(line_key)
                        if pid is not None:
                            known_lines[number] = (hash(text), line_key)
                            keep[pid] = number
                            continue
                    resource, reason = _parse(line)
                    if reason is None:
                        keep[resource["id"].strip()] = number  # later lines overwrite: the last wins
            return keep

        keep = text.scan(last_lines)
        tracker = WatermarkTracker(watermark)
        for number, line in text.checked_lines():
            if not line.strip():
                continue
            ref, raw = f"{path.name}:{number}", line.rstrip("\r\n")
            line_key = b""
            if memo is not None:
                known = known_lines.pop(number, None)
                line_key = known[1] if known is not None and known[0] == hash(raw) else memo.key(context, raw)
                hit = memo.unchanged(line_key)
                if hit is not None and keep.get(hit[0][0], number) == number:
                    yield from memo_records(hit, ref, tracker)
                    continue
            resource, reason = _parse(line)
            if reason is not None:
                yield RejectedRow(row_ref=ref, reason=reason, raw=raw)
                continue
            pid = resource["id"].strip()
            if keep.get(pid, number) != number:
                yield RejectedRow(row_ref=ref, reason=f"duplicate source id {pid} (kept row {keep[pid]})",
                                  raw=raw)
                continue
            try:
                records = patient_records(resource, ref, is_stored=self.is_stored)
            except MalformedResource as exc:
                yield RejectedRow(row_ref=ref, reason=str(exc), raw=raw)
                continue
            if memo is not None:
                memo.learn(line_key, [(r.source_id, r.raw, r.updated_at) for r in records])
            tracker.see(records[0].updated_at)
            yield from records
        self.new_watermark = tracker.result()
