"""OneRoster 1.1 CSV bundle ("oneroster-csv"): ``users.csv`` joined with ``demographics.csv``.

Options: ``path`` (a folder or a ``.zip`` holding the bundle, required),
``encoding``, ``fallback_encoding``, ``delimiter`` (as for every CSV source).
A full export: users missing from the bundle, or with ``status = tobedeleted``,
count as deleted (the latter are simply not yielded). ``demographics.csv`` is
optional (a warning when absent); a user without a demographics row just has no
birth date or sex. The files may sit in a sub-folder of the zip.
"""
from __future__ import annotations

import re
import zipfile
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from mdm._typing import IdentifierIn, NameIn, RejectedRow, RelationIn, SourceRecordIn

from ._csv import CsvFile, CsvRow
from .base import (Connector, StoredRecord, WatermarkTracker, add_identifier, map_sex, memo_records,
                   parse_datetime, utc_key)

USERS_REQUIRED = ("sourcedId", "role", "givenName", "familyName")
DEMOGRAPHICS_REQUIRED = ("sourcedId",)
_USER_ID_RE = re.compile(r"\{\s*([^:{}]+?)\s*:\s*([^{}]*?)\s*\}")


def parse_user_ids(text: str | None) -> list[tuple[str, str]]:
    """``{TYPE:value},{TYPE2:value}`` -> [(TYPE, value), ...]."""
    return [(t, v) for t, v in _USER_ID_RE.findall(text or "") if v]


def split_ids(text: str | None) -> list[str]:
    """Comma-separated sourcedIds, each possibly quoted or padded."""
    return [p.strip().strip("'\"").strip() for p in (text or "").split(",") if p.strip().strip("'\"").strip()]


class OneRosterCsvConnector(Connector):
    """Students, parents/guardians/relatives (and other roles) of a OneRoster bundle."""

    kind = "oneroster-csv"
    full_export = True
    uses_line_memo = True

    def _openers(self) -> tuple[str, dict[str, Callable[[], IO[bytes]]]]:
        """(display prefix, {lower-case file name: opener}) for a folder or a zip."""
        path = self.path_option()
        if path.is_dir():
            return str(path.name), {p.name.lower(): (lambda p=p: p.open("rb")) for p in path.iterdir()
                                    if p.is_file()}
        if not zipfile.is_zipfile(path):
            raise self.error(f"{path} is neither a folder nor a zip file")
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
        openers: dict[str, Callable[[], IO[bytes]]] = {}
        for name in sorted(names, key=lambda n: n.count("/")):  # the shallowest copy wins
            openers.setdefault(Path(name).name.lower(), self._zip_opener(path, name))
        return path.name, openers

    @staticmethod
    def _zip_opener(path: Path, member: str) -> Callable[[], IO[bytes]]:
        def open_member() -> IO[bytes]:
            zf = zipfile.ZipFile(path)
            fh = zf.open(member)
            close = fh.close
            def close_both() -> None:  # the member and the archive are closed together
                close()
                zf.close()
            fh.close = close_both  # type: ignore[method-assign]
            return fh
        return open_member

    def _csv(self, prefix: str, openers: dict[str, Callable[[], IO[bytes]]], name: str,
             required: tuple[str, ...]) -> CsvFile | None:
        opener = openers.get(name)
        if opener is None:
            return None
        return CsvFile(f"{prefix}/{name}", opener, self.options, required=required, id_column="sourcedId",
                       make_error=self.error, warn=self.warn)

    def read(self, watermark: str | None) -> Iterator[SourceRecordIn | StoredRecord | RejectedRow]:
        prefix, openers = self._openers()
        users = self._csv(prefix, openers, "users.csv", USERS_REQUIRED)
        if users is None:
            raise self.error(f"{prefix} has no users.csv")
        demographics: dict[str, CsvRow] = {}
        demo_file = self._csv(prefix, openers, "demographics.csv", DEMOGRAPHICS_REQUIRED)
        if demo_file is None:
            self.warn(f"{prefix} has no demographics.csv; users get no birth date or sex")
        else:
            # Why in memory: users and demographics are not in the same order; one
            # small row per student is affordable, the users file still streams.
            for item in demo_file.rows():
                if isinstance(item, RejectedRow):
                    yield item
                else:
                    demographics[item.get("sourcedId") or ""] = item
        tracker = WatermarkTracker(watermark)
        memo = self.line_memo if self.is_stored is not None else None
        context = b""
        for item in users.rows():
            if isinstance(item, RejectedRow):
                yield item
                continue
            if (item.get("status") or "").lower() == "tobedeleted":
                continue  # not present any more: the full-export diff deletes it
            demo = demographics.get(item.get("sourcedId") or "")
            line_key = b""
            if memo is not None:
                if not context:
                    context = memo.context(self.kind, self.options, users.header,
                                           demo_file.header if demo_file is not None else [])
                # A user's record is made of its row and its demographics row.
                line_key = memo.key(context, f"{item.raw}\x1e{demo.raw if demo is not None else ''}")
                hit = memo.unchanged(line_key)
                if hit is not None:
                    yield from memo_records(hit, item.ref, tracker)
                    continue
            if self.is_stored is not None:
                sourced_id, raw, updated = self.identity(item, demo)
                if self.is_stored(sourced_id, raw):
                    if memo is not None:
                        memo.learn(line_key, [(sourced_id, raw, updated)])
                    tracker.see(updated)
                    yield StoredRecord(sourced_id, raw, item.ref, updated)
                    continue
            record = self.to_record(item, demo)
            if memo is not None:
                memo.learn(line_key, [(record.source_id, record.raw, record.updated_at)])
            tracker.see(record.updated_at)
            yield record
        self.new_watermark = tracker.result()

    @staticmethod
    def identity(row: CsvRow, demo: CsvRow | None) -> tuple[str, dict[str, Any], datetime | None]:
        """(source id, raw, updated at) of the record ``to_record`` makes."""
        updated = parse_datetime(row.get("dateLastModified"))
        raw: dict[str, Any] = dict(row.values)
        if demo is not None:
            raw["demographics"] = dict(demo.values)
            demo_updated = parse_datetime(demo.get("dateLastModified"))
            newer = updated is None or (demo_updated is not None and utc_key(demo_updated) > utc_key(updated))
            if demo_updated and newer:
                updated = demo_updated
        return row.get("sourcedId") or "", raw, updated

    @staticmethod
    def to_record(row: CsvRow, demo: CsvRow | None) -> SourceRecordIn:
        get = row.get
        sourced_id, raw, updated = OneRosterCsvConnector.identity(row, demo)
        role = (get("role") or "").lower() or None
        identifiers: list[IdentifierIn] = []
        add_identifier(identifiers, "oneroster_id", sourced_id)
        local_type = "student_id" if role == "student" else "other"
        for id_type, value in parse_user_ids(get("userIds")):
            if id_type.upper() == "HETU":
                add_identifier(identifiers, "hetu", value)
            else:
                add_identifier(identifiers, local_type, value, system=id_type)
        add_identifier(identifiers, local_type, get("identifier"), system="identifier")
        add_identifier(identifiers, "email", get("email"))
        add_identifier(identifiers, "phone", get("sms"), use="mobile")
        add_identifier(identifiers, "phone", get("phone"))
        given = " ".join(p for p in (get("givenName"), get("middleName")) if p) or None
        names = [NameIn(given=given, family=get("familyName"))] if given or get("familyName") else []
        relations: list[RelationIn] = []
        agents = list(dict.fromkeys(split_ids(get("agentSourcedIds"))))
        attributes: dict[str, Any] = {"role": role} if role else {}
        if role == "student":
            relations = [RelationIn("guardian_of", agent, sourced_id) for agent in agents]
        elif agents:
            # On a parent's row agentSourcedIds lists the children (OneRoster agents go both
            # ways). Only the student's row states the relation, so each pair is stated once
            # per source (the store keeps one row per pair); the reverse list is kept here.
            attributes["agent_ids"] = agents
        for column, key in (("username", "username"), ("enabledUser", "enabled_user"), ("grades", "grades")):
            if get(column):
                attributes[key] = get(column)
        if get("orgSourcedIds"):
            attributes["org_ids"] = split_ids(get("orgSourcedIds"))
        birth_date = sex = None
        if demo is not None:
            birth_date, sex = demo.get("birthDate"), map_sex(demo.get("sex"))
        return SourceRecordIn(source_id=sourced_id, names=names, birth_date=birth_date, sex=sex,
                              identifiers=identifiers, relations=relations, attributes=attributes,
                              updated_at=updated, raw=raw, row_ref=row.ref)
