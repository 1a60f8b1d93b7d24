"""mdm reconcile: a lock against concurrent runs, a failing source, an unchanged re-run, the report files.

Store-level behaviour runs on SQLite and PostgreSQL; the command-line checks
(exit status, messages) run a real ``mdm`` subprocess or click's runner on SQLite.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from mdm.cli import main
from mdm.config import load_config
from mdm.services.reconcile import ReconcileLocked, reconcile, reconcile_lock, write_report_files
from mdm.services.report_html import render_report, summary_lines
from mdm.store import models as m
from test_reconcile_support import (
    cli_env, edit_csv, golden_state, members_by_golden, private_demo, run_cli, seed_model, table_counts,
)

SOURCES = ("library", "school", "health", "transit")


@pytest.fixture
def demo(tmp_path, monkeypatch) -> Path:
    """A private copy of the demo export (a test may edit it) with its own var folder."""
    monkeypatch.setenv("MDM_VAR_DIR", str(tmp_path / "var"))
    return private_demo(tmp_path)


def _count(store, model, *where) -> int:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_rerun_on_unchanged_data_changes_nothing_and_a_failing_source_keeps_its_records(store, demo):
    config = load_config(demo / "mdm.toml")
    seed_model(store)  # trained once per session; training itself is tested in test_reconcile_kill
    first = reconcile(store, config)
    assert first["status"] == "succeeded" and first["golden"]["created"] > 250

    # The report files carry the per-source counts.
    json_path, html_path = write_report_files(first, config.var_dir / "reports")
    data = json.loads(json_path.read_text(encoding="utf-8"))
    by_source = {s["source"]: s for s in data["sources"]}
    assert set(by_source) == set(SOURCES)
    assert all(by_source[s]["status"] == "ok" and by_source[s]["new"] > 0 for s in SOURCES)
    assert sum(s["new"] for s in data["sources"]) == _count(store, m.SourceRecord)
    html = html_path.read_text(encoding="utf-8")
    for s in SOURCES:
        assert f"<td>{s}</td>" in html and f"<td>{by_source[s]['new']}</td>" in html

    # Unchanged data: no history, no change events, the same ids and links.
    counts, state = table_counts(store), golden_state(store)
    again = reconcile(store, config)
    assert again["status"] == "succeeded"
    assert all(v == 0 for v in again["golden"].values()), again["golden"]
    assert all(s["new"] == s["changed"] == s["deleted"] == 0 for s in again["sources"])
    assert table_counts(store) == counts
    assert golden_state(store) == state

    # The health export disappears, and a library patron changes their name.
    health_members = {gid for gid, keys in members_by_golden(store).items() if any(k[0] == "health" for k in keys)}
    (demo / "health" / "patients.ndjson").unlink()

    def rename(rows):  # type: ignore[no-untyped-def]
        # A real rename also moves the row's updated_on, so the new surname is the newest value.
        rows[0]["surname"] = "Uusinimi"
        rows[0]["updated_on"] = "2026-11-30 12:00:00"
        return rows

    edit_csv(demo / "library" / "patrons.csv", rename)
    third = reconcile(store, config)
    by_source = {s["source"]: s for s in third["sources"]}
    assert third["status"] == "partial"
    assert by_source["health"]["status"] == "failed" and "health" in by_source["health"]["message"]
    assert by_source["library"]["status"] == "ok" and by_source["library"]["changed"] == 1
    assert third["golden"]["updated"] >= 1
    # The health records stay current and linked; their golden records stay active.
    with store.session() as s:
        health_id = s.scalar(select(m.SourceSystem.id).where(m.SourceSystem.name == "health"))
        assert s.scalar(select(func.count()).select_from(m.SourceRecord).where(
            m.SourceRecord.source_system_id == health_id, m.SourceRecord.deleted_at.is_not(None))) == 0
        statuses = dict(s.execute(select(m.GoldenRecord.id, m.GoldenRecord.status)
                                  .where(m.GoldenRecord.id.in_(health_members))).all())
    assert set(statuses) == health_members and set(statuses.values()) == {"active"}
    after = golden_state(store)
    assert {k: v for k, v in after["links"].items() if k[0] == "health"} == \
        {k: v for k, v in state["links"].items() if k[0] == "health"}
    assert any(line.startswith("  health: FAILED:") for line in summary_lines(third))
    assert "failed" in render_report(third)


def test_cli_names_the_failing_source_and_exits_1(sqlite_store, demo, monkeypatch):
    monkeypatch.setenv("MDM_DATABASE_URL", sqlite_store.url)
    seed_model(sqlite_store)
    runner = CliRunner()
    config = str(demo / "mdm.toml")
    res = runner.invoke(main, ["reconcile", "--config", config])
    assert res.exit_code == 0, res.output
    (demo / "school" / "users.csv").unlink()
    res = runner.invoke(main, ["reconcile", "--config", config, "--json"])
    assert res.exit_code == 1, res.output
    report = json.loads(res.stdout)
    failed = [s for s in report["sources"] if s["status"] != "ok"]
    assert [s["source"] for s in failed] == ["school"]
    res = runner.invoke(main, ["reconcile", "--config", config])
    assert res.exit_code == 1
    assert "school: FAILED:" in res.output
    # Both report files of the run name the failing source.
    reports = load_config(config).var_dir / "reports"
    run_id = report["run_id"]
    saved = json.loads((reports / f"run-{run_id}.json").read_text(encoding="utf-8"))
    assert {s["source"]: s["status"] for s in saved["sources"]}["school"] == "failed"
    assert "users.csv" in (reports / f"run-{run_id}.html").read_text(encoding="utf-8")


def test_a_second_reconciliation_is_refused_while_one_runs(store, demo, tmp_path):
    """The lock file stops a second run on this host; PostgreSQL's advisory lock one on another host."""
    config = load_config(demo / "mdm.toml")
    # On PostgreSQL the second run uses another var folder: as if on another host.
    other_var = tmp_path / ("var2" if store.dialect == "postgresql" else "var")
    env = cli_env(Path("unused"), other_var)
    env["MDM_DATABASE_URL"] = store.url
    with reconcile_lock(config, store):
        res = run_cli(["reconcile", "--config", str(demo / "mdm.toml")], env)
        with pytest.raises(ReconcileLocked):
            with reconcile_lock(config, store):
                pass  # pragma: no cover
    assert res.returncode != 0
    assert "another reconciliation is running" in res.stderr
    if store.dialect == "postgresql":
        assert "on this database" in res.stderr
    assert _count(store, m.ReconciliationRun) == 0 and _count(store, m.SourceRecord) == 0
    # Released: the next one may run.
    with reconcile_lock(config, store):
        pass


def test_a_steward_ruling_made_during_matching_is_not_undone(store, demo, monkeypatch):
    """Matching reads the steward decisions before the golden update; a merge made in
    between must not be split again by the run's now stale clustering."""
    import mdm.services.reconcile as reconcile_module
    from mdm.services.stewardship import merge_golden

    config = load_config(demo / "mdm.toml")
    seed_model(store)
    reconcile(store, config)
    singles = sorted(g for g, keys in members_by_golden(store).items() if len(keys) == 1)
    survivor, other = singles[:2]
    real, calls = reconcile_module.run_matching, []

    def racing(*args, **kwargs):  # type: ignore[no-untyped-def]
        outcome = real(*args, **kwargs)
        if not calls:  # a steward merges while the first matching pass runs
            with store.session() as s:
                merge_golden(s, survivor, other, "steward1")
        calls.append(outcome)
        return outcome

    monkeypatch.setattr(reconcile_module, "run_matching", racing)
    report = reconcile(store, config)
    members = members_by_golden(store)
    assert other not in members and len(members[survivor]) == 2
    assert report["golden"]["created"] == report["golden"]["split"] == 0, report["golden"]
    assert len(calls) == 2  # matched again, with the steward's must-link
