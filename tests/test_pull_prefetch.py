"""A re-pull whose stored sources are read ahead by worker processes (mdm/services/pull_prefetch.py).

It must store exactly what a pull reading everything itself stores; a store
that changed after a worker read it, or a worker that fails, must only make
the pull read that source itself.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from sqlalchemy import select, update

from mdm.config import load_config
from mdm.services import pull_prefetch
from mdm.services.pull import pull, pull_source, raw_hash
from mdm.store import Store
from mdm.store import models as m
from test_reconcile_support import counted_pools, private_demo


@pytest.fixture
def demo(tmp_path) -> Path:
    return private_demo(tmp_path, persons=300, seed=11)


def _edit_day(demo: Path) -> None:
    """A day of changes: an edited phone, a new patron, a patron gone, an edited FHIR name."""
    path = demo / "library" / "patrons.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    fields = list(rows[0])
    rows[3]["smsalertnumber"] = "0401234567"
    gone = rows.pop(7)
    rows.append({**rows[10], "borrowernumber": "990001", "cardnumber": "K990001", "surname": "Uusinen"})
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    assert gone["borrowernumber"]
    ndjson = demo / "health" / "patients.ndjson"
    lines = ndjson.read_text(encoding="utf-8").splitlines()
    lines[2] = re.sub(r'("family"\s*:\s*")', r"\1Uusi", lines[2], count=1)
    ndjson.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _state(store: Store):  # type: ignore[no-untyped-def]
    with store.session() as s:
        records = sorted(s.execute(select(
            m.SourceRecord.source_id, m.SourceRecord.standardised, m.SourceRecord.content_hash,
            m.SourceRecord.raw_hash, m.SourceRecord.raw, m.SourceRecord.deleted_at.is_(None))).all())
        idents = sorted(s.execute(select(m.Identifier.type, m.Identifier.value, m.Identifier.status)).all())
        rels = sorted(s.execute(select(m.SourceRelation.type, m.SourceRelation.subject_source_id,
                                       m.SourceRelation.object_source_id)).all())
        quarantined = sorted(s.execute(select(m.QuarantinedRow.row_ref, m.QuarantinedRow.reason)).all())
    return records, idents, rels, quarantined


def _counts(report):  # type: ignore[no-untyped-def]
    return [(r.source, r.status, r.read, r.new, r.changed, r.unchanged, r.deleted, r.quarantined, r.message)
            for r in report.sources]


def _two_pulls(demo: Path, path: Path, readers: str, monkeypatch):  # type: ignore[no-untyped-def]
    cfg = load_config(demo / "mdm.toml")
    monkeypatch.setenv("MDM_PULL_READERS", "0")
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    assert all(r.status == "ok" for r in pull(store, cfg).sources)
    monkeypatch.setenv("MDM_PULL_READERS", readers)
    return store, pull(store, cfg)


def test_sources_read_ahead_by_workers_store_exactly_what_a_pull_reading_them_itself_does(tmp_path, monkeypatch):
    monkeypatch.setenv("MDM_PULL_PREFETCH_AFTER", "100")  # school (fewer records) stays in process
    pools = counted_pools(monkeypatch, pull_prefetch)
    results = {}
    for name, readers in (("inline", "0"), ("ahead", "2")):
        (tmp_path / name).mkdir()
        demo = private_demo(tmp_path / name, persons=300, seed=11)
        # The first pull reads in process (nothing is stored yet); the day's changes come next.
        store, _ = _two_pulls(demo, tmp_path / f"{name}.sqlite", "0", monkeypatch)
        _edit_day(demo)
        monkeypatch.setenv("MDM_PULL_READERS", readers)
        results[name] = (store, pull(store, load_config(demo / "mdm.toml")))
    assert len(pools) == 1 and pools[0]._max_workers == 2  # only the day's pull of "ahead"
    inline, ahead = results["inline"], results["ahead"]
    assert _counts(ahead[1]) == _counts(inline[1])
    by_source = {r.source: r for r in inline[1].sources}
    assert (by_source["library"].new, by_source["library"].changed, by_source["library"].deleted) == (1, 1, 1)
    assert by_source["health"].changed == 1
    assert _state(ahead[0]) == _state(inline[0])


def test_a_store_changed_after_the_worker_read_is_read_again_in_process(demo, tmp_path, monkeypatch):
    cfg = load_config(demo / "mdm.toml")
    monkeypatch.setenv("MDM_PULL_READERS", "0")
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    store.upgrade()
    pull(store, cfg)
    source = cfg.source("library")
    ahead = _library_read_ahead(store, cfg)
    with store.session() as s:
        system_id = s.scalar(select(m.SourceSystem.id).where(m.SourceSystem.name == "library"))
    assert sum(isinstance(i, pull_prefetch.CheckedStored) for i in ahead.items) == len(ahead.items) > 100
    # Meanwhile the store changes: one record's stored payload is no longer the export's.
    victim = ahead.items[5].source_id
    with store.session() as s:
        s.execute(update(m.SourceRecord).where(m.SourceRecord.source_id == victim,
                                               m.SourceRecord.source_system_id == system_id)
                  .values(raw_hash="0" * 32))
    applied = []
    monkeypatch.setattr(pull_prefetch.StaleRead, "__init__",
                        lambda self, *a: (applied.append(a), Exception.__init__(self, *a))[1])
    result = pull_source(store, cfg, source, prefetched=ahead)
    assert result.status == "ok"
    assert applied == [(victim,)]  # found by the check of the worker's verdict, not by the source's stamp
    # Read again in process: the victim's payload differed from the stored hash, was standardised
    # again, found the same in content, and its hash put right (without the check it would stay wrong).
    assert (result.read, result.unchanged, result.changed) == (len(ahead.items), len(ahead.items), 0)
    with store.session() as s:
        raw, stored_hash = s.execute(select(m.SourceRecord.raw, m.SourceRecord.raw_hash).where(
            m.SourceRecord.source_id == victim, m.SourceRecord.source_system_id == system_id)).one()
    assert stored_hash == raw_hash(raw)


def test_a_source_its_worker_cannot_read_is_read_and_reported_by_the_pull(demo, tmp_path, monkeypatch):
    monkeypatch.setenv("MDM_PULL_PREFETCH_AFTER", "1")
    reports = {}
    for readers in ("0", "2"):
        store, _ = _two_pulls(demo, tmp_path / f"r{readers}.sqlite", "0", monkeypatch)
        (demo / "health" / "patients.ndjson").rename(demo / "health" / "moved.ndjson")
        try:
            monkeypatch.setenv("MDM_PULL_READERS", readers)
            reports[readers] = pull(store, load_config(demo / "mdm.toml"))
        finally:
            (demo / "health" / "moved.ndjson").rename(demo / "health" / "patients.ndjson")
    assert _counts(reports["2"]) == _counts(reports["0"])
    health = {r.source: r for r in reports["2"].sources}["health"]
    assert health.status == "failed" and "not found" in health.message
    assert all(r.status == "ok" for r in reports["2"].sources if r.source != "health")


def test_an_in_memory_store_or_one_core_reads_in_process(monkeypatch):
    monkeypatch.delenv("MDM_PULL_READERS", raising=False)
    monkeypatch.setattr(pull_prefetch.os, "cpu_count", lambda: 1)
    assert pull_prefetch.reader_count() == 0
    monkeypatch.setattr(pull_prefetch.os, "cpu_count", lambda: 8)
    assert pull_prefetch.reader_count() == 4
    store = Store("sqlite://")
    store.upgrade()
    assert pull_prefetch.Prefetcher(store, [{"name": "x"}], Path(".")).pool is None


def _library_read_ahead(store: Store, cfg):  # type: ignore[no-untyped-def]
    """What a worker would send for the library, read here in process (it is a plain function)."""
    with store.session() as s:
        system = s.scalars(select(m.SourceSystem).where(m.SourceSystem.name == "library")).one()
        expect = (system.last_pulled_at, system.watermark)
    ahead = pull_prefetch.read_source(str(store.engine.url), dict(cfg.source("library")), str(cfg.base_dir),
                                      system.id, system.watermark)
    ahead.expect = expect
    return ahead


def test_a_source_pulled_by_someone_else_after_the_worker_read_is_read_again(demo, tmp_path, monkeypatch):
    store, _ = _two_pulls(demo, tmp_path / "s.sqlite", "0", monkeypatch)
    cfg = load_config(demo / "mdm.toml")
    ahead = _library_read_ahead(store, cfg)
    # Meanwhile an `mdm pull` of the library takes a newer export: a patron gone, one renamed.
    path = demo / "library" / "patrons.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    gone, renamed = rows.pop(4), rows[5]
    renamed["surname"] = "Myöhäinen"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert pull_source(store, cfg, cfg.source("library")).status == "ok"
    before = _state(store)
    # The read-ahead of the older export must not be applied over it.
    result = pull_source(store, cfg, cfg.source("library"), prefetched=ahead)
    assert (result.status, result.changed, result.deleted) == ("ok", 0, 0)
    assert _state(store)[0] == before[0]
    with store.session() as s:
        alive = s.scalar(select(m.SourceRecord.deleted_at.is_(None)).where(
            m.SourceRecord.source_id == gone["borrowernumber"]))
    assert alive is False


def test_a_source_with_too_many_changes_is_streamed_in_process(demo, tmp_path, monkeypatch):
    store, _ = _two_pulls(demo, tmp_path / "s.sqlite", "0", monkeypatch)
    cfg = load_config(demo / "mdm.toml")
    _edit_day(demo)
    monkeypatch.setenv("MDM_PULL_PREFETCH_MAX_CHANGED", "1")  # the day has two new or changed patrons
    ahead = _library_read_ahead(store, cfg)
    assert ahead.items is None
    monkeypatch.setenv("MDM_PULL_PREFETCH_MAX_CHANGED", "2")
    assert _library_read_ahead(store, cfg).items is not None


def test_a_read_ahead_that_cannot_start_leaves_the_pull_to_read_everything(demo, tmp_path, monkeypatch):
    store, first = _two_pulls(demo, tmp_path / "s.sqlite", "0", monkeypatch)
    monkeypatch.setenv("MDM_PULL_PREFETCH_AFTER", "not a number")
    monkeypatch.setenv("MDM_PULL_READERS", "2")
    prefetcher = pull_prefetch.Prefetcher(store, load_config(demo / "mdm.toml").sources, demo)
    assert prefetcher.pool is None and not prefetcher.futures
    report = pull(store, load_config(demo / "mdm.toml"))
    assert [(r.status, r.unchanged) for r in report.sources] == [("ok", r.read) for r in first.sources]


def test_a_prefetched_source_pickles_back_item_for_item():
    # Unchanged verdicts travel packed as two lists of strings; everything else as it is, in place.
    import pickle
    from datetime import datetime, timezone

    from connectors.base import StoredRecord
    from mdm._typing import RejectedRow, SourceRecordIn

    at = datetime(2026, 11, 30, tzinfo=timezone.utc)
    items = [
        pull_prefetch.CheckedStored("a", None, None, None, "h1"),
        SourceRecordIn(source_id="new", birth_date="2001-02-03", raw={"x": 1}),
        pull_prefetch.CheckedStored("b", None, None, None, "h2"),
        pull_prefetch.CheckedStored("dup", {"raw": 1}, "f.csv:3", None, "h3"),  # a duplicate keeps its payload
        pull_prefetch.CheckedStored("c", None, "f.csv:9", at, "h4"),
        StoredRecord("s", None, None, at),
        RejectedRow("f.csv:7", "unparseable CSV", "x,y"),
        pull_prefetch.CheckedStored("d", None, None, None, "h5"),
    ]
    for given in (items, [], None):
        pre = pull_prefetch.Prefetched(items=given, new_watermark="w", warnings=["one"], expect=(3, "x"))
        back = pickle.loads(pickle.dumps(pre))
        assert back == pre
        assert [type(i) for i in back.items or []] == [type(i) for i in given or []]
