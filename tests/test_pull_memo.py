"""The line memo: a re-read skips parsing lines that made stored records last time, and yields what a parse would.

A connector read with a memo must give, item by item, what the same read gives
with ``is_stored`` alone: the same records, rejected rows, duplicates, source
ids, update times and watermark - whatever changed in the export (a line, the
header, a demographics row of a OneRoster user) or in the store (a record no
longer stored as the line made it). A pull with a memo stores exactly what a
pull without one stores.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors import StoredRecord, make_connector
from connectors.line_memo import LineMemo
from mdm._typing import RejectedRow, SourceRecordIn
from mdm.config import load_config
from mdm.services.pull import pull, raw_hash
from mdm.store import Store
from mdm.store import models as m
from test_pull_prefetch import _state
from test_reconcile_support import private_demo


@pytest.fixture
def demo(tmp_path) -> Path:
    return private_demo(tmp_path, persons=300, seed=11)


def _rewrite_csv(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    fields, rows = edit(list(rows[0]), rows)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def _edit_export(demo: Path, source: str) -> None:
    """A day of use: edited rows, a duplicate, a malformed row."""
    if source in ("library", "transit"):
        rel, col = ("library/patrons.csv", "surname") if source == "library" else ("transit/cards.csv", "phone")

        def edit(fields, rows):  # type: ignore[no-untyped-def]
            rows[3][col] = "Muutettu" if col == "surname" else "040 123 4567"
            return fields, rows + [dict(rows[5])]  # a duplicate id: the last row wins

        _rewrite_csv(demo / rel, edit)
        with open(demo / rel, "a", encoding="utf-8") as fh:
            fh.write("this,row,is,short\n")
    elif source == "school":
        # The users file as it was; one student's demographics row changed.
        def edit(fields, rows):  # type: ignore[no-untyped-def]
            rows[0]["birthDate"] = "2015-01-01"
            return fields, rows

        _rewrite_csv(demo / "school" / "demographics.csv", edit)
    else:
        path = demo / "health" / "patients.ndjson"
        lines = path.read_text(encoding="utf-8").splitlines()
        patient = json.loads(lines[3])
        patient["name"][0]["family"] = "Muutettu"
        lines[3] = json.dumps(patient, ensure_ascii=False)
        path.write_text("\n".join(lines + [lines[6], "{not json"]) + "\n", encoding="utf-8")


def _read(config, source: str, hashes: dict[str, str], memo: LineMemo | None):  # type: ignore[no-untyped-def]
    connector = make_connector(source, config.source(source), config.base_dir)
    connector.is_stored = lambda sid, raw: hashes.get(sid) == raw_hash(raw)
    if memo is not None:
        connector.line_memo = memo
        connector.is_stored = memo.is_stored
    items = list(connector.read(None))
    return items, connector.new_watermark


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if isinstance(x, StoredRecord):
            assert isinstance(y, StoredRecord), (x, y)
            assert (x.source_id, x.updated_at) == (y.source_id, y.updated_at)
        else:
            assert x == y


@pytest.mark.parametrize("source", ["library", "school", "health", "transit"])
def test_a_read_with_the_memo_yields_what_a_parse_yields(demo, tmp_path, source):
    config = load_config(demo / "mdm.toml")
    first, _ = _read(config, source, {}, None)
    hashes = {i.source_id: raw_hash(i.raw) for i in first if isinstance(i, SourceRecordIn)}
    # The first read with a memo learns every line (everything stored).
    memo = LineMemo({}, hashes.get, raw_hash)
    learnt, _ = _read(config, source, hashes, memo)
    assert all(isinstance(i, (StoredRecord, RejectedRow)) for i in learnt) and memo.hits == 0
    path = LineMemo.path(tmp_path / "var", source)
    memo.save(path)

    _edit_export(demo, source)
    # The store as the next night finds it: one record not stored any more, one stored otherwise.
    stored = dict(hashes)
    gone, other = sorted(stored)[10], sorted(stored)[20]
    del stored[gone]
    stored[other] = "0" * 32
    expected, expected_watermark = _read(config, source, stored, None)
    again = LineMemo(LineMemo.load(path), stored.get, raw_hash)
    got, watermark = _read(config, source, stored, again)

    _same(expected, got)
    assert watermark == expected_watermark
    assert again.hits > len(hashes) // 2  # most lines were not parsed
    new = {i.source_id for i in got if isinstance(i, SourceRecordIn)}
    assert {gone, other} <= new
    if source == "school":
        changed = [i for i in got if isinstance(i, SourceRecordIn) and i.source_id not in (gone, other)]
        assert len(changed) == 1 and changed[0].birth_date == "2015-01-01"


def test_a_new_header_misses_every_line(demo, tmp_path):
    config = load_config(demo / "mdm.toml")
    first, _ = _read(config, "library", {}, None)
    hashes = {i.source_id: raw_hash(i.raw) for i in first if isinstance(i, SourceRecordIn)}
    memo = LineMemo({}, hashes.get, raw_hash)
    _read(config, "library", hashes, memo)
    path = LineMemo.path(tmp_path / "var", "library")
    memo.save(path)

    def swap(fields, rows):  # type: ignore[no-untyped-def]
        # Two columns change names but not places: every data line stays byte for byte.
        fields = [{"email": "phone", "phone": "email"}.get(f, f) for f in fields]
        return fields, [{{"email": "phone", "phone": "email"}.get(k, k): v for k, v in r.items()} for r in rows]

    _rewrite_csv(demo / "library" / "patrons.csv", swap)
    expected, _ = _read(config, "library", hashes, None)
    again = LineMemo(LineMemo.load(path), hashes.get, raw_hash)
    got, _ = _read(config, "library", hashes, again)
    assert again.hits == 0
    _same(expected, got)
    # Rows with an e-mail or phone now carry another payload; the memo did not hide that.
    assert sum(isinstance(i, SourceRecordIn) for i in got) > len(got) // 2


def test_a_damaged_or_foreign_memo_file_is_only_a_slower_read(tmp_path, caplog):
    path = tmp_path / "memo"
    memo = LineMemo({}, {}.get, raw_hash)
    memo.learn(b"k" * 16, [("a", {"x": 1}, None), ("b", {"y": 2}, None)])
    memo.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert LineMemo.load(path) == {b"k" * 16: (("a", raw_hash({"x": 1}), None), ("b", raw_hash({"y": 2}), None))}
    whole = path.read_bytes()
    for damaged in (b"not a memo", whole[:-3], whole[:-3] + b"xyz", b"other-format\n" + whole[15:]):
        path.write_bytes(damaged)
        assert LineMemo.load(path) == {}
    assert "ignoring the pull memo" in caplog.text
    assert LineMemo.load(tmp_path / "missing") == {}


@pytest.mark.parametrize("readers", ["0", "2"])
def test_a_pull_with_the_memo_stores_what_a_pull_without_it_stores(demo, tmp_path, monkeypatch, readers):
    """Two stores pulled the same twice over; the second pull of one finds no memo file."""
    monkeypatch.setenv("MDM_PULL_READERS", readers)
    monkeypatch.setenv("MDM_PULL_PREFETCH_AFTER", "10")  # read ahead with workers when readers > 0
    config = load_config(demo / "mdm.toml")
    stores = {}
    for name in ("memo", "plain"):
        config.var_dir = tmp_path / f"var-{name}"
        store = stores[name] = Store(f"sqlite:///{tmp_path / name}.sqlite")
        store.upgrade()
        pull(store, config)
    memos = list((tmp_path / "var-memo" / "pull_memo").glob("*.memo"))
    assert len(memos) == len(config.sources)
    for source in ("library", "school", "health", "transit"):
        _edit_export(demo, source)
    for path in (tmp_path / "var-plain" / "pull_memo").glob("*.memo"):
        path.unlink()
    reports = {}
    for name, store in stores.items():
        config.var_dir = tmp_path / f"var-{name}"
        reports[name] = {(r.source, r.status, r.read, r.new, r.changed, r.unchanged, r.deleted, r.quarantined)
                         for r in pull(store, config).sources}
    assert reports["memo"] == reports["plain"]
    assert all(r[1] == "ok" for r in reports["memo"])
    assert any(r[4] for r in reports["memo"])  # something did change
    memo_state = _state(stores["memo"])
    assert memo_state == _state(stores["plain"])
    assert memo_state[3]  # rows were quarantined (the same ones)
    watermarks = []
    for store in stores.values():
        with store.session() as s:
            watermarks.append(sorted(s.execute(select(m.SourceSystem.name, m.SourceSystem.watermark)).all()))
    assert watermarks[0] == watermarks[1]


def test_only_file_connectors_read_with_a_memo(demo, tmp_path):
    """A connector that reads no lines gets no memo (nor a memo's is_stored, which keeps hashes for it)."""
    config = load_config(demo / "mdm.toml")
    for source in ("library", "school", "health", "transit"):
        connector = make_connector(source, config.source(source), config.base_dir)
        memo = connector.attach_line_memo(tmp_path, {}.get, raw_hash)
        assert memo is not None and connector.line_memo is memo and connector.is_stored == memo.is_stored
        assert memo.file == LineMemo.path(tmp_path, source)
    api = make_connector("koha", {"connector": "koha-api", "url": "http://127.0.0.1:9/api/v1"}, config.base_dir)
    assert api.attach_line_memo(tmp_path, {}.get, raw_hash) is None
    assert api.line_memo is None and api.is_stored is None
