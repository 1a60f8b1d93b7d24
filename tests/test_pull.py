"""mdm pull: versions, deletions, refusals and quarantine, on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from mdm.cli import main
from mdm.config import load_config
from mdm.demo_data import generate
from mdm.services.pull import pull
from mdm.store import models as m


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate(out, persons=400, seed=7)
    return out


@pytest.fixture
def demo(tmp_path, demo_dir) -> Path:
    """A private copy of the demo export that a test may edit."""
    out = tmp_path / "demo"
    shutil.copytree(demo_dir, out)
    return out


def _count(store, model, *where):
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _truth_count(demo: Path, source: str) -> int:
    with open(demo / "truth.csv", encoding="utf-8") as fh:
        return sum(1 for row in csv.DictReader(fh) if row["source"] == source)


def _rewrite_csv(path: Path, keep) -> None:  # type: ignore[no-untyped-def]
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([rows[0]] + [r for i, r in enumerate(rows[1:]) if keep(i, r)])


def test_demo_pull_loads_everything_and_second_pull_changes_nothing(store, demo):
    config = load_config(demo / "mdm.toml")
    report = pull(store, config)
    assert not report.failed, [r.message for r in report.failed]
    by = {r.source: r for r in report.sources}
    for source in ("library", "school", "transit"):
        assert by[source].new == _truth_count(demo, source)
    # FHIR contacts become extra guardian records of their own.
    assert by["health"].new >= _truth_count(demo, "health")
    records = _count(store, m.SourceRecord)
    identifiers = _count(store, m.Identifier)
    assert records == sum(r.new for r in report.sources)
    assert _count(store, m.SourceRelation, m.SourceRelation.object_record_id.is_not(None)) > 0

    again = pull(store, config)
    assert all(r.new == r.changed == r.deleted == 0 for r in again.sources)
    assert sum(r.unchanged for r in again.sources) == records
    assert _count(store, m.SourceRecordVersion) == 0
    assert _count(store, m.Identifier) == identifiers


def test_changed_record_keeps_its_old_version(store, demo):
    config = load_config(demo / "mdm.toml")
    pull(store, config, only="library")
    path = demo / "library" / "patrons.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    target = rows[0]["borrowernumber"]
    rows[0]["surname"] = "Uusinimi"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    res = pull(store, config, only="library").sources[0]
    assert (res.changed, res.new, res.deleted) == (1, 0, 0)
    with store.session() as s:
        rec = s.scalars(select(m.SourceRecord).where(m.SourceRecord.source_id == target)).one()
        assert rec.version == 2
        assert rec.standardised["names"][0]["family"] == "Uusinimi"
        old = s.scalars(select(m.SourceRecordVersion)).one()
        assert old.source_record_id == rec.id and old.version == 1
        assert old.standardised["names"][0]["family"] != "Uusinimi"


def test_disappeared_records_are_marked_deleted_not_removed(store, demo):
    config = load_config(demo / "mdm.toml")
    pull(store, config, only="transit")
    total = _count(store, m.SourceRecord)
    _rewrite_csv(demo / "transit" / "cards.csv", lambda i, r: i % 10 != 0)  # drop 10 %
    res = pull(store, config, only="transit").sources[0]
    assert res.status == "ok" and res.deleted > 0
    assert _count(store, m.SourceRecord) == total
    assert _count(store, m.SourceRecord, m.SourceRecord.deleted_at.is_not(None)) == res.deleted


def test_emptied_export_is_refused_and_changes_nothing(store, demo):
    config = load_config(demo / "mdm.toml")
    pull(store, config)
    before = _count(store, m.SourceRecord, m.SourceRecord.deleted_at.is_(None))
    _rewrite_csv(demo / "library" / "patrons.csv", lambda i, r: False)
    report = pull(store, config)
    by = {r.source: r for r in report.sources}
    assert by["library"].status == "refused" and "empty" in by["library"].message
    assert all(by[s].status == "ok" for s in ("school", "health", "transit"))
    assert _count(store, m.SourceRecord, m.SourceRecord.deleted_at.is_(None)) == before


def test_export_deleting_too_much_is_refused(store, demo):
    config = load_config(demo / "mdm.toml")
    pull(store, config, only="library")
    _rewrite_csv(demo / "library" / "patrons.csv", lambda i, r: i % 2 == 0)  # half of it gone
    res = pull(store, config, only="library").sources[0]
    assert res.status == "refused" and "more than the allowed 20%" in res.message
    assert _count(store, m.SourceRecord, m.SourceRecord.deleted_at.is_not(None)) == 0


def test_malformed_rows_are_quarantined_and_the_rest_loads(store, demo):
    config = load_config(demo / "mdm.toml")
    path = demo / "library" / "patrons.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(3, "this,row,is,short\n")
    path.write_text("".join(lines), encoding="utf-8")
    res = pull(store, config, only="library").sources[0]
    assert res.status == "ok" and res.quarantined >= 1
    assert res.new == _truth_count(demo, "library")
    with store.session() as s:
        q = s.scalars(select(m.QuarantinedRow)).first()
        assert "patrons.csv:4" in q.row_ref and q.raw.startswith("this,row")


def test_failing_source_does_not_stop_the_others(store, demo):
    config = load_config(demo / "mdm.toml")
    (demo / "health" / "patients.ndjson").unlink()
    report = pull(store, config)
    by = {r.source: r for r in report.sources}
    assert by["health"].status == "failed"
    assert by["library"].status == "ok" and by["library"].new > 0


def test_cli_pull_reports_and_exits_nonzero_on_refusal(sqlite_store, demo, monkeypatch):
    monkeypatch.setenv("MDM_DATABASE_URL", sqlite_store.url)
    runner = CliRunner()
    res = runner.invoke(main, ["pull", "--config", str(demo / "mdm.toml")])
    assert res.exit_code == 0, res.output
    assert "library:" in res.output and "new" in res.output
    _rewrite_csv(demo / "school" / "users.csv", lambda i, r: False)
    res = runner.invoke(main, ["pull", "--config", str(demo / "mdm.toml"), "--source", "school"])
    assert res.exit_code == 1 and "REFUSED" in res.output
