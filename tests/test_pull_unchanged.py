"""The nightly re-pull: what it does not redo for unchanged records, and that the store still says the same.

A first pull of a big source standardises on a worker process, storing exactly
what it would have stored standardising in process.

A re-pull of a full export recognises stored payloads without mapping or
standardising them again (``Connector.is_stored``), does not rewrite
``last_seen`` on every record (``last_seen_of`` says it instead) and leaves
relations whose other end never arrives alone.
"""
from __future__ import annotations

import csv
import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors import StoredRecord, make_connector
from connectors._csv import CsvFile
from connectors.base import ConnectorError
from mdm._typing import RejectedRow, SourceRecordIn
from mdm.config import load_config
from mdm.services import record_digest
from mdm.services.pull import last_seen_of, pull, raw_hash, seen_whole_at
from mdm.store import models as m
from test_reconcile_support import counted_pools, private_demo

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def demo(tmp_path) -> Path:
    return private_demo(tmp_path, persons=300, seed=11)


@pytest.fixture
def clock(monkeypatch):
    """The time pulls stamp, moved on by the test."""
    now = [T0]
    monkeypatch.setattr(m, "utcnow", lambda: now[0])
    return now


def _edit_csv(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    fields = list(rows[0])
    rows = edit(rows)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def _seen(store, source_id: str) -> datetime:  # type: ignore[no-untyped-def]
    """When the record was last seen, as a reader asks it."""
    with store.session() as s:
        rec = s.scalars(select(m.SourceRecord).where(m.SourceRecord.source_id == source_id)).one()
        system = s.get(m.SourceSystem, rec.source_system_id)
        return last_seen_of(rec.last_seen, rec.deleted_at, seen_whole_at(system))


def _same_time(a: datetime, b: datetime) -> bool:
    # SQLite gives naive UTC back, PostgreSQL aware.
    return a.replace(tzinfo=None) == b.astimezone(timezone.utc).replace(tzinfo=None)


def test_last_seen_follows_the_pulls_of_a_full_export(store, demo, clock):
    config = load_config(demo / "mdm.toml")
    path = demo / "transit" / "cards.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    kept, changed, gone = rows[0]["card_number"], rows[1]["card_number"], rows[2]["card_number"]
    pull(store, config, only="transit")
    assert _same_time(_seen(store, kept), T0)

    clock[0] = T0 + timedelta(days=1)
    assert pull(store, config, only="transit").sources[0].unchanged == len(rows)
    assert _same_time(_seen(store, kept), clock[0])

    clock[0] = T0 + timedelta(days=2)

    def edit(rows):  # type: ignore[no-untyped-def]
        rows[1]["phone"] = "0401234567"
        return [r for r in rows if r["card_number"] != gone]
    _edit_csv(path, edit)
    res = pull(store, config, only="transit").sources[0]
    assert (res.changed, res.deleted) == (1, 1)
    assert _same_time(_seen(store, kept), clock[0])
    assert _same_time(_seen(store, changed), clock[0])
    # A record gone from the export was last seen in the pull before.
    assert _same_time(_seen(store, gone), T0 + timedelta(days=1))
    with store.session() as s:
        old = s.scalars(select(m.SourceRecordVersion)).one()
        # The superseded version was last confirmed by the pull before.
        assert _same_time(old.valid_from, T0 + timedelta(days=1))
        assert _same_time(old.valid_to, clock[0])

    clock[0] = T0 + timedelta(days=3)
    pull(store, config, only="transit")
    assert _same_time(_seen(store, gone), T0 + timedelta(days=1))
    assert _same_time(_seen(store, kept), clock[0])


def test_an_unchanged_re_pull_does_not_rewrite_every_record(store, demo, clock):
    config = load_config(demo / "mdm.toml")
    pull(store, config, only="library")
    with store.session() as s:
        before = s.execute(select(m.SourceRecord.id, m.SourceRecord.last_seen, m.SourceRecord.changed_run_id)
                           .order_by(m.SourceRecord.id)).all()
    clock[0] = T0 + timedelta(days=1)
    report = pull(store, config, only="library")
    assert report.sources[0].unchanged == len(before)
    with store.session() as s:
        after = s.execute(select(m.SourceRecord.id, m.SourceRecord.last_seen, m.SourceRecord.changed_run_id)
                          .order_by(m.SourceRecord.id)).all()
        system = s.scalars(select(m.SourceSystem)).one()
        assert _same_time(system.last_pulled_at, clock[0])
    assert after == before


def test_switching_to_an_incremental_connector_writes_last_seen_down(store, demo, clock):
    config = load_config(demo / "mdm.toml")
    pull(store, config, only="library")
    clock[0] = T0 + timedelta(days=1)
    pull(store, config, only="library")
    with open(demo / "library" / "patrons.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    first, other = rows[0]["borrowernumber"], rows[5]["borrowernumber"]
    # The same export, now read as a delta file holding one row.
    _edit_csv(demo / "library" / "patrons.csv", lambda rows: rows[:1])
    toml = (demo / "mdm.toml").read_text(encoding="utf-8")
    toml = toml.replace('connector = "koha-csv"', 'connector = "mapped-csv"\nfull_export = false\n'
                        'mapping = { source_id = "borrowernumber", family = "surname" }')
    (demo / "mdm.toml").write_text(toml, encoding="utf-8")
    clock[0] = T0 + timedelta(days=2)
    res = pull(store, load_config(demo / "mdm.toml"), only="library").sources[0]
    assert res.status == "ok" and res.deleted == 0
    assert _same_time(_seen(store, first), T0 + timedelta(days=1))  # raw unchanged: not written again
    assert _same_time(_seen(store, other), T0 + timedelta(days=1))  # not in the delta: seen before
    with store.session() as s:
        rec = s.scalars(select(m.SourceRecord).where(m.SourceRecord.source_id == other)).one()
        system = s.scalars(select(m.SourceSystem)).one()
        assert seen_whole_at(system) is None
        assert _same_time(rec.last_seen, T0 + timedelta(days=1))


def test_relations_to_records_that_never_arrive_stay_open_and_close_when_they_do(store, demo, clock):
    config = load_config(demo / "mdm.toml")
    path = demo / "library" / "patrons.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    ward = rows[3]["borrowernumber"]

    def dangling(rows):  # type: ignore[no-untyped-def]
        rows[3]["guarantor_id"] = "guarantor-to-come"
        return rows
    _edit_csv(path, dangling)
    pull(store, config, only="library")
    pull(store, config, only="library")

    def open_relation(s):  # type: ignore[no-untyped-def]
        return s.scalars(select(m.SourceRelation).where(
            m.SourceRelation.subject_source_id == "guarantor-to-come")).one()
    with store.session() as s:
        rel = open_relation(s)
        assert rel.subject_record_id is None and rel.object_record_id is not None

    def arrives(rows):  # type: ignore[no-untyped-def]
        return rows + [dict(rows[0], borrowernumber="guarantor-to-come", cardnumber="", guarantor_id="")]
    _edit_csv(path, arrives)
    assert pull(store, config, only="library").sources[0].new == 1
    with store.session() as s:
        rel = open_relation(s)
        guarantor = s.scalars(select(m.SourceRecord.id).where(
            m.SourceRecord.source_id == "guarantor-to-come")).one()
        warded = s.scalars(select(m.SourceRecord.id).where(m.SourceRecord.source_id == ward)).one()
        assert (rel.subject_record_id, rel.object_record_id) == (guarantor, warded)


@pytest.mark.parametrize("source", ["library", "school", "health", "transit"])
def test_stored_records_are_recognised_without_changing_what_a_read_gives(demo, source):
    """With ``is_stored`` a connector yields the same ids, rows, payloads and watermark."""
    config = load_config(demo / "mdm.toml")
    options = config.source(source)
    # Some trouble for the reader: a malformed row and a duplicate.
    if source == "library":
        with open(demo / "library" / "patrons.csv", "a", encoding="utf-8") as fh:
            fh.write("this,row,is,short\n")
    if source == "health":
        path = demo / "health" / "patients.ndjson"
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text("\n".join(lines + [lines[2], "{not json"]) + "\n", encoding="utf-8")

    plain = make_connector(source, options, config.base_dir)
    items = list(plain.read(None))
    records = {i.source_id: i for i in items if isinstance(i, SourceRecordIn)}
    stored = {sid for n, sid in enumerate(sorted(records)) if n % 3}  # two in three are stored
    hashes = {sid: raw_hash(records[sid].raw) for sid in stored}

    asked: list[str] = []

    def is_stored(source_id: str, raw) -> bool:  # type: ignore[no-untyped-def]
        asked.append(source_id)
        return hashes.get(source_id) == raw_hash(raw)

    fast = make_connector(source, options, config.base_dir)
    fast.is_stored = is_stored
    again = list(fast.read(None))
    assert len(again) == len(items)
    assert fast.new_watermark == plain.new_watermark
    assert set(asked) == set(records)
    for a, b in zip(items, again):
        if isinstance(a, RejectedRow):
            assert a == b
        elif a.source_id in stored:
            assert isinstance(b, StoredRecord)
            assert (b.source_id, b.raw, b.row_ref) == (a.source_id, a.raw, a.row_ref)
            assert b.updated_at == a.updated_at
        else:
            assert b == a


def test_changed_and_new_records_of_a_re_pull_are_exactly_those_of_the_export(store, demo, clock):
    config = load_config(demo / "mdm.toml")
    pull(store, config)
    path = demo / "health" / "patients.ndjson"
    lines = path.read_text(encoding="utf-8").splitlines()
    patient = json.loads(lines[0])
    patient["name"][0]["family"] = "Uusinimi"
    lines[0] = json.dumps(patient, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    clock[0] = T0 + timedelta(days=1)
    report = pull(store, config)
    by = {r.source: r for r in report.sources}
    assert (by["health"].changed, by["health"].new) == (1, 0)
    assert all(by[s].changed == by[s].new == by[s].deleted == 0 for s in ("library", "school", "transit"))
    with store.session() as s:
        run = s.scalars(select(m.ReconciliationRun).order_by(m.ReconciliationRun.id.desc())).first()
        changed = s.scalars(select(m.SourceRecord.source_id)
                            .where(m.SourceRecord.changed_run_id == run.id)).all()
    assert changed == [patient["id"]]


@pytest.mark.parametrize("line", [
    "a,b,c\n", "a,b,c\r\n", "a,b,c", " a , b ,c \n", ",,\n", "\n", "\r\n", "a,b\r", "a\rb,c\n", "a,b,c\r\r\n",
    "a\x00,b,c\n", 'a,"b,x",c\n', "a;b;c\n", "ä,ö,å\n", "a,b,c,d\n",
])
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_quote_free_lines_split_as_the_csv_module_does(line, delimiter):
    f = CsvFile("f.csv", lambda: None, {"delimiter": delimiter},  # type: ignore[arg-type,return-value]
                required=(), id_column=None, make_error=ConnectorError, warn=lambda _m: None)
    line = line.replace(",", delimiter) if delimiter != "," else line
    split = f._split(line) if '"' not in line else None
    if split is not None:
        assert (split, None) == f._parse([line])


def test_raw_hash_is_the_stored_one():
    """The stored raw hashes were made with json.dumps; the faster encoder gives the same text."""
    for raw in ({"b": "1", "a": "ä"}, {"x": [1, 2.5, None, True], "n": {"z": "\"\n", "y": float("nan")}},
                {"when": datetime(2026, 1, 1)}, [], "text", 3):
        text = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
        assert record_digest._raw_text(raw) == text
        assert raw_hash(raw) == hashlib.md5(text.encode("utf-8")).hexdigest()


def _stored(store):  # type: ignore[no-untyped-def]
    with store.session() as s:
        records = sorted(s.execute(select(
            m.SourceRecord.source_id, m.SourceRecord.standardised, m.SourceRecord.content_hash,
            m.SourceRecord.raw_hash, m.SourceRecord.raw)).all())
        idents = sorted(s.execute(select(m.Identifier.type, m.Identifier.value, m.Identifier.status)).all())
        rels = sorted(s.execute(select(m.SourceRelation.type, m.SourceRelation.subject_source_id,
                                       m.SourceRelation.object_source_id)).all())
    return records, idents, rels


def test_standardising_on_a_worker_process_stores_exactly_what_in_process_does(demo, tmp_path, monkeypatch):
    from mdm.store import Store

    cfg = load_config(demo / "mdm.toml")
    pools = counted_pools(monkeypatch, record_digest)
    stores = []
    for name, workers in (("inline", "0"), ("worker", "1")):
        monkeypatch.setenv("MDM_PULL_WORKERS", workers)
        monkeypatch.setenv("MDM_PULL_POOL_AFTER", "25")  # the rest of each source goes to the worker
        store = Store(f"sqlite:///{tmp_path / name}.sqlite")
        store.upgrade()
        report = pull(store, cfg)
        assert all(r.status == "ok" for r in report.sources)
        stores.append(store)
    assert len(pools) == len(cfg.sources)  # one per source, only in the "worker" pull
    inline, worker = (_stored(s) for s in stores)
    assert len(inline[0]) > 300 and inline[1] and inline[2]
    assert worker == inline

